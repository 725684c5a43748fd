package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

const (
	// callbackMaxQuery and callbackMaxValue bound what ParseCallback reads. Codes and states
	// are short opaque strings; nothing legitimate comes near these limits.
	callbackMaxQuery = 8 << 10
	callbackMaxValue = 2 << 10
	// oauthMaxErrorCode and oauthMaxErrorDescription cap what an identity provider's (or
	// anyone's: the callback URL is public) error text may put into logs and pages.
	oauthMaxErrorCode        = 128
	oauthMaxErrorDescription = 512
)

// ErrBadCallback is wrapped by every ParseCallback failure other than a *CallbackError.
var ErrBadCallback = errors.New("oidc: malformed callback")

// Callback is what the identity provider sent back on a successful authorization.
type Callback struct{ Code, State string }

// CallbackError is what the identity provider said in an error= callback
// (RFC 6749 §4.1.2.1), for example access_denied when the user declined. Code and
// Description are sanitised: only printable ASCII without DQUOTE or backslash (the RFC's
// NQSCHAR), other bytes replaced by "?", and capped at 128 and 512 bytes, because anyone
// can send a browser to the callback URL with text of their choosing.
type CallbackError struct{ Code, Description string }

func (e *CallbackError) Error() string {
	if e.Description == "" {
		return "oidc: identity provider returned error " + e.Code
	}
	return "oidc: identity provider returned error " + e.Code + ": " + e.Description
}

// ParseCallback reads the query string of the redirect back from the identity provider. An
// error parameter yields a *CallbackError (even if a code is present too: the provider said
// no). Otherwise code and state must each appear exactly once, non-empty, at most 2 KiB of
// printable ASCII; the whole query may be at most 8 KiB and must be well-formed
// (url.ParseQuery). Any failure wraps ErrBadCallback. Other parameters are ignored.
func ParseCallback(rawQuery string) (*Callback, error) {
	if len(rawQuery) > callbackMaxQuery {
		return nil, fmt.Errorf("%w: query of %d bytes exceeds %d", ErrBadCallback, len(rawQuery), callbackMaxQuery)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCallback, err)
	}
	if codes, ok := q["error"]; ok {
		desc := ""
		if d := q["error_description"]; len(d) > 0 {
			desc = d[0]
		}
		return nil, &CallbackError{
			Code:        oauthErrorText(codes[0], oauthMaxErrorCode),
			Description: oauthErrorText(desc, oauthMaxErrorDescription),
		}
	}
	code, err := callbackParam(q, "code")
	if err != nil {
		return nil, err
	}
	state, err := callbackParam(q, "state")
	if err != nil {
		return nil, err
	}
	return &Callback{Code: code, State: state}, nil
}

// callbackParam returns the single value of a required callback parameter. A repeated
// parameter is refused rather than resolved: which copy a component picks is exactly where
// parameter-pollution attacks live.
func callbackParam(q url.Values, name string) (string, error) {
	vs := q[name]
	switch {
	case len(vs) == 0:
		return "", fmt.Errorf("%w: missing %s", ErrBadCallback, name)
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %s given %d times", ErrBadCallback, name, len(vs))
	}
	v := vs[0]
	switch {
	case v == "":
		return "", fmt.Errorf("%w: empty %s", ErrBadCallback, name)
	case len(v) > callbackMaxValue:
		return "", fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrBadCallback, name, len(v), callbackMaxValue)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: %s has a byte outside printable ASCII", ErrBadCallback, name)
		}
	}
	return v, nil
}

// oauthErrorText makes an OAuth error or error_description safe to log and show: bytes
// outside the RFC 6749 NQSCHAR set (printable ASCII without DQUOTE and backslash) become
// "?", and the text is cut to limit bytes.
func oauthErrorText(s string, limit int) string {
	if len(s) > limit {
		s = s[:limit]
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}
