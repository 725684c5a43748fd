package oidc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/gjson"
)

// ErrBadEncoding is wrapped by every UnmarshalBinary failure. Sealed cookies are authentic,
// so this normally means a value written by an incompatible version of the plugin.
var ErrBadEncoding = errors.New("oidc: malformed encoding")

// Format bytes: the high nibble names the type, the low nibble its version. Distinct bytes
// mean a LoginState can never decode as a Session even if purposes were mixed up, and a
// future layout can be told from this one.
const (
	loginStateFormat byte = 0x11
	sessionFormat    byte = 0x21
)

// Session is what the session cookie carries once a login has completed.
type Session struct {
	Claims       []byte    // JSON object: the ID token's claims (the plugin may pass a subset)
	IDToken      string    // optional, for logout id_token_hint
	AccessToken  string    // optional
	RefreshToken string    // optional
	IssuedAt     time.Time // when the session was created (absolute lifetime)
	TokenExpiry  time.Time // when the tokens expire (refresh point)
}

// MarshalBinary encodes the session compactly: a format byte, then each field as a uvarint
// length and its bytes, and the times as varint unix seconds (sub-second precision is
// dropped). Claims must be a JSON object, since that is what UnmarshalBinary demands.
func (s *Session) MarshalBinary() ([]byte, error) {
	if !isJSONObjectBytes(s.Claims) {
		return nil, errors.New("oidc: session: claims are not a JSON object")
	}
	w := fieldWriter{b: make([]byte, 0, 1+len(s.Claims)+len(s.IDToken)+len(s.AccessToken)+len(s.RefreshToken)+6*binary.MaxVarintLen64)}
	w.b = append(w.b, sessionFormat)
	w.bytes(s.Claims)
	w.string(s.IDToken)
	w.string(s.AccessToken)
	w.string(s.RefreshToken)
	w.time(s.IssuedAt)
	w.time(s.TokenExpiry)
	return w.b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced. It refuses unknown format bytes,
// lengths past the end, non-minimal varints, trailing bytes and claims that are not a JSON
// object, and leaves s unchanged on error.
func (s *Session) UnmarshalBinary(data []byte) error {
	r := fieldReader{what: "session"}
	if !r.format(data, sessionFormat) {
		return r.err
	}
	var out Session
	out.Claims = append([]byte(nil), r.bytes("claims")...)
	out.IDToken = r.string("id_token")
	out.AccessToken = r.string("access_token")
	out.RefreshToken = r.string("refresh_token")
	out.IssuedAt = r.time("issued_at")
	out.TokenExpiry = r.time("token_expiry")
	if err := r.finish(); err != nil {
		return err
	}
	if !isJSONObjectBytes(out.Claims) {
		return fmt.Errorf("%w: session: claims are not a JSON object", ErrBadEncoding)
	}
	*s = out
	return nil
}

// isJSONObjectBytes reports whether b is one valid JSON value and that value is an object.
func isJSONObjectBytes(b []byte) bool {
	return ValidJSON(b) && gjson.ParseBytes(b).IsObject()
}

// fieldWriter appends length-prefixed fields. Length prefixes (rather than separators) keep
// the encoding unambiguous whatever bytes the fields contain.
type fieldWriter struct{ b []byte }

func (w *fieldWriter) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *fieldWriter) string(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *fieldWriter) time(t time.Time) {
	w.b = binary.AppendVarint(w.b, t.Unix())
}

// fieldReader reads what fieldWriter wrote. The first failure sticks: later reads return
// zero values, and finish reports it, so decoders read straight through without checks.
type fieldReader struct {
	what string
	b    []byte
	err  error
}

func (r *fieldReader) fail(field, problem string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s: %s", ErrBadEncoding, r.what, field, problem)
	}
	r.b = nil
}

// format checks the leading format byte and positions the reader after it.
func (r *fieldReader) format(data []byte, want byte) bool {
	switch {
	case len(data) == 0:
		r.fail("format", "empty")
	case data[0] != want:
		r.fail("format", fmt.Sprintf("unknown format byte 0x%02x", data[0]))
	default:
		r.b = data[1:]
		return true
	}
	return false
}

// uvarint reads one minimally encoded uvarint. Refusing padded encodings (a trailing 0x00
// continuation) keeps one encoding per value.
func (r *fieldReader) uvarint(field string) (uint64, bool) {
	if r.err != nil {
		return 0, false
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(field, "truncated or overlong varint")
		return 0, false
	}
	if n > 1 && r.b[n-1] == 0 {
		r.fail(field, "non-minimal varint")
		return 0, false
	}
	r.b = r.b[n:]
	return v, true
}

func (r *fieldReader) bytes(field string) []byte {
	n, ok := r.uvarint(field)
	if !ok {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(field, "length past the end")
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *fieldReader) string(field string) string {
	return string(r.bytes(field))
}

// time reads varint unix seconds (zig-zag encoded, as binary.AppendVarint writes them).
func (r *fieldReader) time(field string) time.Time {
	u, ok := r.uvarint(field)
	if !ok {
		return time.Time{}
	}
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return time.Unix(v, 0).UTC()
}

// finish reports the first failure, or trailing bytes after the last field.
func (r *fieldReader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("end", fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}
