package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
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
	claims, err := parseObject(idClaims)
	if err != nil {
		return nil, fmt.Errorf("oidc: ID token claims: %w", err)
	}
	merged := make(map[string]json.RawMessage, len(claims)+len(info))
	for k, v := range info {
		merged[k] = json.RawMessage(v.Raw)
	}
	for k, v := range claims {
		merged[k] = json.RawMessage(v.Raw)
	}
	out, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("oidc: merging userinfo: %w", err)
	}
	return out, nil
}
