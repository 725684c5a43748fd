package oidc

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

// maxUserinfoBytes bounds the userinfo answer; group-heavy directories produce tens of KiB.
const maxUserinfoBytes = 256 << 10

// ErrUserinfo is wrapped by every MergeUserinfo failure.
var ErrUserinfo = errors.New("oidc: unusable userinfo answer")

// UserinfoRequest asks the userinfo endpoint (OpenID Connect Core §5.3) for the claims of
// the user the access token belongs to. Some IdPs only put claims such as groups there.
func UserinfoRequest(endpoint, accessToken string) Request {
	return Request{
		Method: "GET",
		URL:    endpoint,
		Header: [][2]string{{"authorization", "Bearer " + accessToken}, {"accept", "application/json"}},
	}
}

// MergeUserinfo adds the userinfo answer's claims to the verified ID token's claims. The
// answer's sub must equal the ID token's (Core §5.3.2: otherwise the answer is about
// someone else and must not be used). Claims the ID token already has keep the ID token's
// value: those are signed, the userinfo answer is not. Only JSON answers are accepted
// (signed or encrypted userinfo JWTs are not).
func MergeUserinfo(idClaims []byte, subject string, status int, body []byte) ([]byte, error) {
	info, err := parseUserinfo(subject, status, body)
	if err != nil {
		return nil, err
	}
	claims, err := parseObject(idClaims)
	if err != nil {
		return nil, fmt.Errorf("oidc: ID token claims: %w", err)
	}
	return overlay(claims, info)
}

// RefreshUserinfo renews a session's claims with a userinfo answer fetched at a refresh that
// returned no new ID token: the answer's claims replace the session's, which are older (a
// group removed at the IdP is removed here too). The same sub rule applies.
func RefreshUserinfo(sessionClaims []byte, subject string, status int, body []byte) ([]byte, error) {
	info, err := parseUserinfo(subject, status, body)
	if err != nil {
		return nil, err
	}
	claims, err := parseObject(sessionClaims)
	if err != nil {
		return nil, fmt.Errorf("oidc: session claims: %w", err)
	}
	return overlay(info, claims)
}

// KeepClaims adds to fresh claims (a refreshed ID token's) every claim of previous ones (the
// session's) that fresh lacks: what only userinfo provided survives a refresh whose userinfo
// call failed.
func KeepClaims(fresh, previous []byte) ([]byte, error) {
	top, err := parseObject(fresh)
	if err != nil {
		return nil, fmt.Errorf("oidc: fresh claims: %w", err)
	}
	bottom, err := parseObject(previous)
	if err != nil {
		return nil, fmt.Errorf("oidc: previous claims: %w", err)
	}
	return overlay(top, bottom)
}

// parseUserinfo checks a userinfo answer and returns its claims.
func parseUserinfo(subject string, status int, body []byte) (map[string]gjson.Result, error) {
	if status != 200 {
		return nil, fmt.Errorf("%w: status %d", ErrUserinfo, status)
	}
	if len(body) > maxUserinfoBytes {
		return nil, fmt.Errorf("%w: %d bytes exceed %d", ErrUserinfo, len(body), maxUserinfoBytes)
	}
	info, err := parseObject(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUserinfo, err)
	}
	sub, ok := info["sub"]
	if !ok || sub.Str != subject || subject == "" {
		return nil, fmt.Errorf("%w: sub does not match the ID token's", ErrUserinfo)
	}
	return info, nil
}

// overlay is one JSON object of top's members and those of bottom that top lacks.
func overlay(top, bottom map[string]gjson.Result) ([]byte, error) {
	merged := make(map[string]json.RawMessage, len(top)+len(bottom))
	for k, v := range bottom {
		merged[k] = json.RawMessage(v.Raw)
	}
	for k, v := range top {
		merged[k] = json.RawMessage(v.Raw)
	}
	out, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("oidc: merging claims: %w", err)
	}
	return out, nil
}
