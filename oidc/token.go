package oidc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

const (
	// tokenMaxBody caps the token endpoint answer parsed. Real answers are a few KiB; the
	// cap keeps a misbehaving endpoint from making the plugin parse megabytes.
	tokenMaxBody = 1 << 20
	// tokenMaxExpiresIn bounds expires_in (ten years): larger values are nonsense that
	// could overflow time arithmetic in the caller.
	tokenMaxExpiresIn = 10 * 365 * 24 * 3600
)

// ErrBadTokenResponse is wrapped by every ParseTokenResponse failure other than a
// *TokenError. Its messages give the status and what was wrong, never the body, which may
// hold tokens.
var ErrBadTokenResponse = errors.New("oidc: unusable token endpoint response")

// CodeExchangeRequest builds the token request that trades an authorization code for tokens
// (RFC 6749 §4.1.3 with the PKCE code_verifier of RFC 7636 §4.5). See tokenRequest for how
// the client authenticates.
func CodeExchangeRequest(tokenEndpoint, clientID, clientSecret, code, redirectURI, codeVerifier string) Request {
	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	form.Set("redirect_uri", redirectURI)
	form.Set("code_verifier", codeVerifier)
	form.Set("client_id", clientID)
	return tokenRequest(tokenEndpoint, clientID, clientSecret, form)
}

// RefreshRequest builds the token request that uses a refresh token (RFC 6749 §6). scopes
// may be empty, which keeps the scopes originally granted; otherwise they are joined with
// spaces and must not exceed the original grant.
func RefreshRequest(tokenEndpoint, clientID, clientSecret, refreshToken string, scopes []string) Request {
	form := url.Values{}
	form.Set("grant_type", "refresh_token")
	form.Set("refresh_token", refreshToken)
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	form.Set("client_id", clientID)
	return tokenRequest(tokenEndpoint, clientID, clientSecret, form)
}

// tokenRequest is a form POST to the token endpoint. A confidential client authenticates
// with HTTP Basic, which every provider must support (RFC 6749 §2.3.1), with id and secret
// form-urlencoded before base64 as that section requires: a secret holding ":" or non-ASCII
// characters is otherwise misread. client_id is also in the body, which public clients
// (empty secret) need and confidential ones may send.
func tokenRequest(endpoint, clientID, clientSecret string, form url.Values) Request {
	header := [][2]string{
		{"content-type", "application/x-www-form-urlencoded"},
		{"accept", "application/json"},
	}
	if clientSecret != "" {
		header = append(header, [2]string{"authorization", tokenBasicAuth(clientID, clientSecret)})
	}
	return Request{Method: "POST", URL: endpoint, Header: header, Body: []byte(form.Encode())}
}

// tokenBasicAuth renders the Authorization header value for client authentication by HTTP Basic
// as RFC 6749 §2.3.1 specifies it: id and secret each form-urlencoded, then joined by ":"
// and base64-encoded.
func tokenBasicAuth(clientID, clientSecret string) string {
	creds := url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds))
}

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1, OpenID Connect Core
// §3.1.3.3).
type TokenResponse struct {
	IDToken, AccessToken, RefreshToken, TokenType, Scope string
	ExpiresIn                                            int64 // seconds; 0 when absent
}

// TokenError is an OAuth error answer from the token endpoint (RFC 6749 §5.2), such as
// invalid_grant for a used or expired code. Code and Description are sanitised as in
// CallbackError.
type TokenError struct {
	Status            int
	Code, Description string
}

func (e *TokenError) Error() string {
	msg := "oidc: token endpoint answered status " + strconv.Itoa(e.Status) + " with error " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ParseTokenResponse interprets the token endpoint's answer.
//
// Status 200 with a JSON object holding a non-empty string access_token is a success; the
// other fields must be strings when present, expires_in a non-negative integer (a JSON
// number, or a string of digits as some providers send), and token_type "Bearer" in any
// case when present: any other type (DPoP, MAC) needs proof the plugin cannot give. Whether
// an id_token is required is the caller's decision (a refresh may omit it).
//
// A 4xx, or a 200 without access_token, whose body is a JSON object with a string "error"
// is a *TokenError. Everything else wraps ErrBadTokenResponse with the status and what was
// wrong; no error message ever includes the body or a token.
func ParseTokenResponse(status int, body []byte) (*TokenResponse, error) {
	if len(body) > tokenMaxBody {
		return nil, fmt.Errorf("%w: status %d, body of %d bytes exceeds %d", ErrBadTokenResponse, status, len(body), tokenMaxBody)
	}
	var obj gjson.Result
	isObject := ValidJSON(body)
	if isObject {
		obj = gjson.ParseBytes(body)
		isObject = obj.IsObject()
	}
	if status != 200 {
		if status >= 400 && status < 500 && isObject {
			if te := tokenErrorFrom(status, obj); te != nil {
				return nil, te
			}
		}
		return nil, fmt.Errorf("%w: status %d", ErrBadTokenResponse, status)
	}
	if !isObject {
		return nil, fmt.Errorf("%w: status 200 but the body is not a JSON object", ErrBadTokenResponse)
	}
	if !obj.Get("access_token").Exists() {
		if te := tokenErrorFrom(status, obj); te != nil {
			return nil, te
		}
	}
	var tr TokenResponse
	fields := []struct {
		name     string
		dst      *string
		required bool
	}{
		{"access_token", &tr.AccessToken, true},
		{"id_token", &tr.IDToken, false},
		{"refresh_token", &tr.RefreshToken, false},
		{"token_type", &tr.TokenType, false},
		{"scope", &tr.Scope, false},
	}
	for _, f := range fields {
		v := obj.Get(f.name)
		switch {
		case !v.Exists() && f.required:
			return nil, fmt.Errorf("%w: status 200 without %s", ErrBadTokenResponse, f.name)
		case !v.Exists():
		case v.Type != gjson.String:
			return nil, fmt.Errorf("%w: %s is not a string", ErrBadTokenResponse, f.name)
		case v.Str == "" && f.required:
			return nil, fmt.Errorf("%w: empty %s", ErrBadTokenResponse, f.name)
		default:
			*f.dst = v.Str
		}
	}
	if obj.Get("token_type").Exists() && !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, fmt.Errorf("%w: token_type %q is not Bearer", ErrBadTokenResponse, oauthErrorText(tr.TokenType, 32))
	}
	exp, err := parseExpiresIn(obj.Get("expires_in"))
	if err != nil {
		return nil, err
	}
	tr.ExpiresIn = exp
	return &tr, nil
}

// tokenErrorFrom returns the OAuth error in obj, or nil when it has no string "error".
func tokenErrorFrom(status int, obj gjson.Result) *TokenError {
	code := obj.Get("error")
	if code.Type != gjson.String || code.Str == "" {
		return nil
	}
	desc := obj.Get("error_description")
	te := &TokenError{Status: status, Code: oauthErrorText(code.Str, oauthMaxErrorCode)}
	if desc.Type == gjson.String {
		te.Description = oauthErrorText(desc.Str, oauthMaxErrorDescription)
	}
	return te
}

// parseExpiresIn reads expires_in: absent is 0; otherwise an integer from 0 to ten years,
// as a JSON number or a decimal string.
func parseExpiresIn(v gjson.Result) (int64, error) {
	var text string
	switch v.Type {
	case gjson.Null:
		if !v.Exists() {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: expires_in is null", ErrBadTokenResponse)
	case gjson.Number:
		text = v.Raw
	case gjson.String:
		text = v.Str
	default:
		return 0, fmt.Errorf("%w: expires_in is not a number", ErrBadTokenResponse)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > tokenMaxExpiresIn {
		return 0, fmt.Errorf("%w: expires_in %q is not an integer from 0 to %d", ErrBadTokenResponse, oauthErrorText(text, 32), int64(tokenMaxExpiresIn))
	}
	return n, nil
}
