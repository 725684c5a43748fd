package oidc

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

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
	// sessionFormatV1 is the first session layout, still read so that sessions sealed by an
	// earlier version of the plugin stay valid; sessions are written as sessionFormat.
	sessionFormatV1 byte = 0x21
	sessionFormat   byte = 0x22
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

// MarshalBinary encodes the session compactly, so that the cookie a browser sends with every
// request stays small (its size is paid in every request, and its AEAD open on first sight):
// a format byte; the claims as a uvarint length and its bytes, or a length of zero when they
// are the ID token's payload verbatim (as they are unless userinfo added to them); each token
// as fieldWriter.token writes it, which stores the three base64url parts of a JWS compact
// token decoded (a quarter smaller); the times as varint unix seconds (sub-second precision is
// dropped). Claims must be a JSON object, since that is what UnmarshalBinary demands.
func (s *Session) MarshalBinary() ([]byte, error) {
	if !isJSONObjectBytes(s.Claims) {
		return nil, errors.New("oidc: session: claims are not a JSON object")
	}
	w := fieldWriter{b: make([]byte, 0, 1+len(s.Claims)+len(s.IDToken)+len(s.AccessToken)+len(s.RefreshToken)+16*binary.MaxVarintLen64)}
	w.b = append(w.b, sessionFormat)
	idToken, compact := jwsParts(s.IDToken)
	if compact && bytes.Equal(idToken[1], s.Claims) {
		w.bytes(nil)
	} else {
		w.bytes(s.Claims)
	}
	w.token(s.IDToken)
	w.token(s.AccessToken)
	w.token(s.RefreshToken)
	w.time(s.IssuedAt)
	w.time(s.TokenExpiry)
	return w.b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced, and the first session layout. It
// refuses unknown format bytes, lengths past the end, non-minimal varints, trailing bytes,
// any other encoding of a session than the one MarshalBinary writes, and claims that are not
// a JSON object, and leaves s unchanged on error.
func (s *Session) UnmarshalBinary(data []byte) error {
	if len(data) > 0 && data[0] == sessionFormatV1 {
		return s.unmarshalV1(data)
	}
	r := fieldReader{what: "session"}
	if !r.format(data, sessionFormat) {
		return r.err
	}
	var out Session
	claims := r.bytes("claims")
	idToken, idParts, fromIDToken := r.token("id_token")
	out.IDToken = idToken
	out.AccessToken, _, _ = r.token("access_token")
	out.RefreshToken, _, _ = r.token("refresh_token")
	out.IssuedAt = r.time("issued_at")
	out.TokenExpiry = r.time("token_expiry")
	if err := r.finish(); err != nil {
		return err
	}
	switch {
	case len(claims) == 0 && !fromIDToken:
		return fmt.Errorf("%w: session: no claims and no ID token to take them from", ErrBadEncoding)
	case len(claims) == 0:
		claims = idParts[1]
	case fromIDToken && bytes.Equal(claims, idParts[1]):
		return fmt.Errorf("%w: session: claims repeat the ID token's payload", ErrBadEncoding)
	}
	out.Claims = append([]byte(nil), claims...)
	if !isJSONObjectBytes(out.Claims) {
		return fmt.Errorf("%w: session: claims are not a JSON object", ErrBadEncoding)
	}
	*s = out
	return nil
}

// unmarshalV1 decodes the first session layout: the claims and each token as a uvarint
// length and its bytes, then the times.
func (s *Session) unmarshalV1(data []byte) error {
	r := fieldReader{what: "session"}
	if !r.format(data, sessionFormatV1) {
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

// jwsParts splits a JWS compact token into its three parts, base64url-decoded, when
// encoding them again gives back exactly the token, so that it can be stored decoded and
// restored byte for byte: each part in the base64url alphabet (no padding, no CR or LF,
// which Go's decoder would skip) and canonical (no stray bits in its last character). ok is
// false for anything else: opaque tokens, JWE, any other spelling.
func jwsParts(token string) (parts [3][]byte, ok bool) {
	rest := token
	for i := range parts {
		part := rest
		if i < 2 {
			var found bool
			if part, rest, found = strings.Cut(rest, "."); !found {
				return parts, false
			}
		}
		raw, err := decodeBase64URL(part)
		if err != nil {
			return parts, false
		}
		parts[i] = raw
	}
	return parts, true
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

// token writes a token as a kind byte, then either (kind tokenRaw) the token as a string
// field, or (kind tokenJWS) the three decoded parts of a JWS compact token (see jwsParts)
// as bytes fields.
func (w *fieldWriter) token(token string) {
	if parts, ok := jwsParts(token); ok {
		w.b = append(w.b, tokenJWS)
		for _, p := range parts {
			w.bytes(p)
		}
		return
	}
	w.b = append(w.b, tokenRaw)
	w.string(token)
}

// The kinds of a token field.
const (
	tokenRaw byte = 0
	tokenJWS byte = 1
)

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

// token reads what fieldWriter.token wrote; for a JWS it also returns the decoded parts, and
// jws true. A token stored raw that could have been stored as a JWS is refused: one encoding
// per session.
func (r *fieldReader) token(field string) (token string, parts [3][]byte, jws bool) {
	if r.err != nil {
		return "", parts, false
	}
	if len(r.b) == 0 {
		r.fail(field, "truncated")
		return "", parts, false
	}
	kind := r.b[0]
	r.b = r.b[1:]
	switch kind {
	case tokenRaw:
		token = r.string(field)
		if _, ok := jwsParts(token); ok {
			r.fail(field, "a JWS stored raw")
			return "", parts, false
		}
		return token, parts, false
	case tokenJWS:
		n := 2
		for i := range parts {
			parts[i] = r.bytes(field)
			n += base64.RawURLEncoding.EncodedLen(len(parts[i]))
		}
		if r.err != nil {
			return "", [3][]byte{}, false
		}
		b := make([]byte, 0, n)
		for i, p := range parts {
			if i > 0 {
				b = append(b, '.')
			}
			b = base64.RawURLEncoding.AppendEncode(b, p)
		}
		// b is never written again: the token can be a view of it rather than a copy.
		return unsafe.String(unsafe.SliceData(b), len(b)), parts, true
	default:
		r.fail(field, fmt.Sprintf("unknown token kind 0x%02x", kind))
		return "", parts, false
	}
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
