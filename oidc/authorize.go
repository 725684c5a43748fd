package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// authSecretBytes is the entropy of state, nonce and PKCE verifier: 256 bits each, which
// base64url-encodes to 43 characters, the minimum verifier length RFC 7636 §4.1 allows.
const authSecretBytes = 32

// authParams are the query parameters NewAuthRequest sets. The endpoint's own query may not
// set any of them: the request must carry each exactly once, with our values.
var authParams = [...]string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method",
}

// OwnsAuthParam reports whether an extra authorization parameter would take a decision that
// is not the caller's to make: one NewAuthRequest sets, or one that changes how the answer
// comes back or where the request's parameters come from (response_mode, request,
// request_uri), which the code flow here depends on.
func OwnsAuthParam(name string) bool {
	for _, p := range authParams {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	switch strings.ToLower(name) {
	case "response_mode", "request", "request_uri":
		return true
	}
	return false
}

// AuthRequest is one authorization-code login: the secrets to keep in the sealed state
// cookie and the URL to send the browser to.
type AuthRequest struct {
	State, Nonce, CodeVerifier string // each from 32 random bytes, base64url without padding
	URL                        string // the full authorization URL to redirect the browser to
}

// NewAuthRequest builds an authorization-code request (OpenID Connect Core §3.1.2.1) with a
// fresh state (CSRF defence), nonce (ID token replay defence) and PKCE S256 challenge (code
// interception defence, RFC 7636). random must be a cryptographic source such as
// crypto/rand.Reader.
//
// The endpoint's own query parameters are kept as they are (RFC 6749 §3.1); an endpoint that
// sets one of the parameters added here, or has a fragment, is refused. Scopes are joined
// with spaces, duplicates dropped, and "openid" is put first when missing, since without it
// the provider does not speak OpenID Connect and returns no ID token. A scope that is empty
// or has characters RFC 6749 §3.3 forbids (spaces, quotes, backslash, controls) is an error.
//
// extra are further parameters an IdP needs (Google's access_type and hd, Auth0's audience,
// Entra's domain_hint, a login_hint), added after the others, in order; one that OwnsAuthParam
// refuses, or with an empty name, is an error.
func NewAuthRequest(random io.Reader, authorizationEndpoint, clientID, redirectURI string, scopes []string, extra [][2]string) (*AuthRequest, error) {
	u, err := url.Parse(authorizationEndpoint)
	if err != nil {
		return nil, fmt.Errorf("oidc: authorization endpoint: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("oidc: authorization endpoint %q is not an absolute http(s) URL without user info or fragment", authorizationEndpoint)
	}
	own, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("oidc: authorization endpoint query: %w", err)
	}
	for _, p := range authParams {
		if _, set := own[p]; set {
			return nil, fmt.Errorf("oidc: authorization endpoint query already sets %q", p)
		}
	}
	if clientID == "" {
		return nil, errors.New("oidc: authorization request: empty client_id")
	}
	if redirectURI == "" {
		return nil, errors.New("oidc: authorization request: empty redirect_uri")
	}
	scope, err := joinScopes(scopes)
	if err != nil {
		return nil, fmt.Errorf("oidc: authorization request: %w", err)
	}
	for _, kv := range extra {
		if kv[0] == "" || OwnsAuthParam(kv[0]) {
			return nil, fmt.Errorf("oidc: authorization request: parameter %q is not an extra one", kv[0])
		}
	}

	var secrets [3]string
	for i := range secrets {
		if secrets[i], err = randomToken(random); err != nil {
			return nil, fmt.Errorf("oidc: authorization request: %w", err)
		}
	}
	ar := &AuthRequest{State: secrets[0], Nonce: secrets[1], CodeVerifier: secrets[2]}

	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", clientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", scope)
	q.Set("state", ar.State)
	q.Set("nonce", ar.Nonce)
	q.Set("code_challenge", CodeChallengeS256(ar.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	query := q.Encode()
	for _, kv := range extra {
		query += "&" + url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1])
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + query
	} else {
		u.RawQuery = query
	}
	ar.URL = u.String()
	return ar, nil
}

// CodeChallengeS256 derives the PKCE code_challenge from a verifier: base64url (no padding)
// of its SHA-256 (RFC 7636 §4.2). Only S256 is offered: "plain" would hand the verifier to
// anyone who sees the authorization URL.
func CodeChallengeS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomToken reads 32 bytes from random and encodes them base64url without padding.
func randomToken(random io.Reader) (string, error) {
	var b [authSecretBytes]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// joinScopes renders the scope parameter: "openid" first when absent, duplicates dropped,
// each scope checked against RFC 6749 §3.3 (scope-token = 1*NQCHAR).
func joinScopes(scopes []string) (string, error) {
	out := make([]string, 0, len(scopes)+1)
	seen := make(map[string]bool, len(scopes)+1)
	hasOpenID := false
	for _, s := range scopes {
		if s == "openid" {
			hasOpenID = true
		}
	}
	if !hasOpenID {
		out = append(out, "openid")
		seen["openid"] = true
	}
	for _, s := range scopes {
		if !isScopeToken(s) {
			return "", fmt.Errorf("invalid scope %q", s)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return strings.Join(out, " "), nil
}

// isScopeToken reports whether s is 1*NQCHAR: printable ASCII except space, DQUOTE and
// backslash.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
