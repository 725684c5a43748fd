package oidc_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func sessionEqual(a, b oidc.Session) bool {
	return bytes.Equal(a.Claims, b.Claims) && a.IDToken == b.IDToken && a.AccessToken == b.AccessToken &&
		a.RefreshToken == b.RefreshToken && a.IssuedAt.Equal(b.IssuedAt) && a.TokenExpiry.Equal(b.TokenExpiry)
}

func TestSessionRoundTrip(t *testing.T) {
	cases := []oidc.Session{
		{Claims: []byte(`{}`)},
		{Claims: []byte(` { "sub" : "x" } `)},
		{
			Claims:       []byte(`{"sub":"248289761001","email":"j@example.com","groups":["a","b"],"n":1.5}`),
			IDToken:      "eyJ.eyJ.sig",
			AccessToken:  strings.Repeat("a", 2000),
			RefreshToken: "r",
			IssuedAt:     time.Unix(1_700_000_000, 0),
			TokenExpiry:  time.Unix(1_700_003_600, 0),
		},
		{Claims: []byte(`{"a":{"b":[1,{"c":null}]}}`), IssuedAt: time.Unix(-5, 0), TokenExpiry: time.Unix(math.MaxInt32*4, 0)},
	}
	for i, in := range cases {
		b, err := in.MarshalBinary()
		if err != nil {
			t.Fatalf("case %d: Marshal: %v", i, err)
		}
		var out oidc.Session
		if err := out.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: Unmarshal: %v", i, err)
		}
		if !sessionEqual(in, out) {
			t.Fatalf("case %d: got %+v, want %+v", i, out, in)
		}
	}
}

func TestSessionZeroTimes(t *testing.T) {
	b, err := (&oidc.Session{Claims: []byte(`{}`)}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out oidc.Session
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !out.IssuedAt.IsZero() || !out.TokenExpiry.IsZero() {
		t.Fatalf("zero times did not round-trip: %v %v", out.IssuedAt, out.TokenExpiry)
	}
}

func TestSessionTruncatesSubSeconds(t *testing.T) {
	in := oidc.Session{Claims: []byte(`{}`), IssuedAt: time.Unix(100, 999_999_999)}
	b, _ := in.MarshalBinary()
	var out oidc.Session
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !out.IssuedAt.Equal(time.Unix(100, 0)) || out.IssuedAt.Location() != time.UTC {
		t.Fatalf("IssuedAt %v", out.IssuedAt)
	}
}

func TestSessionEncoding(t *testing.T) {
	in := oidc.Session{Claims: []byte(`{}`), IDToken: "i", IssuedAt: time.Unix(1, 0), TokenExpiry: time.Unix(-1, 0)}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x22, 2, '{', '}', 0, 1, 'i', 0, 0, 0, 0, 2, 1}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding % x, want % x", b, want)
	}
}

// A JWS is stored as its three decoded parts, and claims that are the ID token's payload
// verbatim are not stored twice: a default session (ID, access and refresh token kept) is a
// third smaller than in the first layout.
func TestSessionEncodingJWS(t *testing.T) {
	claims := []byte(`{"sub":"u"}`)
	idToken := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
	in := oidc.Session{Claims: claims, IDToken: idToken, RefreshToken: "r", IssuedAt: time.Unix(0, 0), TokenExpiry: time.Unix(0, 0)}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x22, 0} // no claims: they are the ID token's payload
	want = append(append(want, 1, 15), `{"alg":"RS256"}`...)
	want = append(append(want, 11), claims...)
	want = append(want, 3, 's', 'i', 'g', 0, 0, 0, 1, 'r', 0, 0)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n% x, want\n% x", b, want)
	}
	var out oidc.Session
	if err := out.UnmarshalBinary(b); err != nil || !sessionEqual(in, out) {
		t.Fatalf("got %+v, %v", out, err)
	}

	// Claims that differ from the payload (userinfo added to them) are stored.
	in.Claims = []byte(`{"sub":"u","groups":["a"]}`)
	b, _ = in.MarshalBinary()
	if err := out.UnmarshalBinary(b); err != nil || !sessionEqual(in, out) {
		t.Fatalf("got %+v, %v", out, err)
	}

	// Anything but a canonical JWS compact token is kept as it is.
	for _, token := range []string{"a.b", "a.b.c.d.e", "e30.e30.c2ln=", "e30.e30.c2lo", "e30.e3\n0.c2ln", "e30..", ".e30.", "opaque-token"} {
		in := oidc.Session{Claims: []byte(`{}`), AccessToken: token}
		b, _ := in.MarshalBinary()
		var out oidc.Session
		if err := out.UnmarshalBinary(b); err != nil || !sessionEqual(in, out) {
			t.Errorf("%q: got %+v, %v", token, out, err)
		}
	}
}

// Sessions sealed by an earlier version of the plugin, in the first layout, still open.
func TestSessionUnmarshalFirstLayout(t *testing.T) {
	v1 := []byte{0x21, 2, '{', '}', 1, 'i', 0, 1, 'r', 2, 1}
	var out oidc.Session
	if err := out.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	want := oidc.Session{Claims: []byte(`{}`), IDToken: "i", RefreshToken: "r", IssuedAt: time.Unix(1, 0), TokenExpiry: time.Unix(-1, 0)}
	if !sessionEqual(out, want) {
		t.Fatalf("got %+v, want %+v", out, want)
	}
}

func TestSessionMarshalRejectsBadClaims(t *testing.T) {
	for _, claims := range []string{"", "null", "[]", `"x"`, "1", "{", `{"a":}`, "{} {}", `{"a":1}x`} {
		if _, err := (&oidc.Session{Claims: []byte(claims)}).MarshalBinary(); err == nil {
			t.Errorf("claims %q accepted", claims)
		}
	}
}

func TestSessionUnmarshalRejects(t *testing.T) {
	valid, _ := (&oidc.Session{Claims: []byte(`{}`), IDToken: "i"}).MarshalBinary()
	state, _ := (&oidc.LoginState{State: "s"}).MarshalBinary()
	withClaims := func(c string) []byte {
		return append(append([]byte{0x21, byte(len(c))}, c...), 0, 0, 0, 0, 0)
	}
	cases := map[string][]byte{
		"nil":                   nil,
		"empty":                 {},
		"format only":           {0x21},
		"unknown format":        append([]byte{0x23}, valid[1:]...),
		"login state":           state,
		"trailing byte":         append(bytes.Clone(valid), 0),
		"truncated":             valid[:len(valid)-1],
		"length past end":       {0x21, 50, '{', '}'},
		"huge length":           {0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overflowing varint":    {0x21, 2, '{', '}', 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
		"non-minimal varint":    {0x21, 0x82, 0x00, '{', '}', 0, 0, 0, 0, 0},
		"non-minimal time":      {0x21, 2, '{', '}', 0, 0, 0, 0x80, 0x00, 0},
		"claims empty":          withClaims(""),
		"claims array":          withClaims("[]"),
		"claims string":         withClaims(`"x"`),
		"claims null":           withClaims("null"),
		"claims invalid":        withClaims(`{"a"}`),
		"claims two values":     withClaims(`{}{}`),
		"claims trailing junk":  withClaims(`{}x`),
		"no token kind":         {0x22, 2, '{', '}'},
		"unknown token kind":    {0x22, 2, '{', '}', 2, 0, 0, 0, 0, 0, 0, 0},
		"JWS part past end":     {0x22, 2, '{', '}', 1, 2, '{', '}', 9, '{', '}'},
		"JWS stored raw":        append(append([]byte{0x22, 2, '{', '}', 0, 12}, "e30.e30.c2ln"...), 0, 0, 0, 0, 0, 0),
		"claims repeat payload": {0x22, 2, '{', '}', 1, 2, '{', '}', 2, '{', '}', 1, 's', 0, 0, 0, 0, 0, 0},
		"no claims, no JWS":     {0x22, 0, 0, 1, 'i', 0, 0, 0, 0, 0, 0},
		"payload not an object": {0x22, 0, 1, 2, '{', '}', 2, '[', ']', 1, 's', 0, 0, 0, 0, 0, 0},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			s := oidc.Session{IDToken: "keep"}
			if err := s.UnmarshalBinary(b); !errors.Is(err, oidc.ErrBadEncoding) {
				t.Fatalf("err %v, want ErrBadEncoding", err)
			}
			if s.IDToken != "keep" || s.Claims != nil {
				t.Fatalf("receiver modified on error: %+v", s)
			}
		})
	}
}

// TestSessionUnmarshalCopies checks that the decoded claims do not alias the input buffer,
// which the caller may reuse.
func TestSessionUnmarshalCopies(t *testing.T) {
	b, _ := (&oidc.Session{Claims: []byte(`{"a":1}`)}).MarshalBinary()
	var s oidc.Session
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if string(s.Claims) != `{"a":1}` {
		t.Fatalf("claims alias the input: %q", s.Claims)
	}
}
