package oidc

import (
	"crypto/subtle"
	"encoding/binary"
)

// LoginState is what the state cookie carries between the redirect to the identity provider
// and the callback: the secrets the callback must check or present, and where the browser
// goes afterwards. It lives only in the sealed cookie, so the plugin keeps no server-side
// state and any Envoy can complete a login another one started.
type LoginState struct {
	State        string // compared with the callback's state (CSRF defence, RFC 6749 §10.12)
	Nonce        string // compared with the ID token's nonce (replay defence)
	CodeVerifier string // PKCE verifier sent with the code (RFC 7636)
	ReturnTo     string // relative path to return to; checked again before use
}

// MarshalBinary encodes the state as a format byte followed by each field as a uvarint
// length and its bytes.
func (s *LoginState) MarshalBinary() ([]byte, error) {
	w := fieldWriter{b: make([]byte, 0, 1+len(s.State)+len(s.Nonce)+len(s.CodeVerifier)+len(s.ReturnTo)+4*binary.MaxVarintLen64)}
	w.b = append(w.b, loginStateFormat)
	w.string(s.State)
	w.string(s.Nonce)
	w.string(s.CodeVerifier)
	w.string(s.ReturnTo)
	return w.b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced. It refuses unknown format bytes,
// lengths past the end, non-minimal varints and trailing bytes, and leaves s unchanged on
// error.
func (s *LoginState) UnmarshalBinary(data []byte) error {
	r := fieldReader{what: "login state"}
	if !r.format(data, loginStateFormat) {
		return r.err
	}
	var out LoginState
	out.State = r.string("state")
	out.Nonce = r.string("nonce")
	out.CodeVerifier = r.string("code_verifier")
	out.ReturnTo = r.string("return_to")
	if err := r.finish(); err != nil {
		return err
	}
	*s = out
	return nil
}

// EqualSecret compares two secrets (such as the callback's state and the sealed one) in time
// that does not depend on where they differ, so response timing cannot be used to guess a
// secret byte by byte. An empty secret is never equal to anything: a missing value on both
// sides must not pass as a match.
func EqualSecret(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
