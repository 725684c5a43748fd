package oidc_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func TestLoginStateRoundTrip(t *testing.T) {
	cases := []oidc.LoginState{
		{},
		{State: "s", Nonce: "n", CodeVerifier: "v", ReturnTo: "/"},
		{State: strings.Repeat("a", 43), Nonce: strings.Repeat("b", 43), CodeVerifier: strings.Repeat("c", 43), ReturnTo: "/app?x=1&y=2"},
		{State: "\x00\xff;=", Nonce: "", CodeVerifier: strings.Repeat("x", 300), ReturnTo: strings.Repeat("/p", 1000)},
	}
	for _, in := range cases {
		b, err := in.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: Marshal: %v", in, err)
		}
		var out oidc.LoginState
		if err := out.UnmarshalBinary(b); err != nil {
			t.Fatalf("%+v: Unmarshal: %v", in, err)
		}
		if out != in {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
	}
}

func TestLoginStateEncoding(t *testing.T) {
	in := oidc.LoginState{State: "ab", Nonce: "c", CodeVerifier: "", ReturnTo: "/"}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x11, 2, 'a', 'b', 1, 'c', 0, 1, '/'}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding % x, want % x", b, want)
	}
}

func TestLoginStateRejects(t *testing.T) {
	valid, _ := (&oidc.LoginState{State: "ab", Nonce: "c", CodeVerifier: "d", ReturnTo: "/"}).MarshalBinary()
	session, _ := (&oidc.Session{Claims: []byte(`{}`)}).MarshalBinary()
	cases := map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"format only":         {0x11},
		"unknown format":      append([]byte{0x12}, valid[1:]...),
		"session format":      session,
		"trailing byte":       append(bytes.Clone(valid), 0),
		"length past end":     {0x11, 5, 'a'},
		"huge length":         {0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overlong varint":     {0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"non-minimal varint":  {0x11, 0x80, 0x00, 0, 0, 0},
		"truncated varint":    {0x11, 0x80},
		"missing last field":  valid[:len(valid)-2],
		"three fields only":   {0x11, 0, 0, 0},
		"five fields":         {0x11, 0, 0, 0, 0, 0},
		"last field too long": append(bytes.Clone(valid[:len(valid)-2]), 2, '/'),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			s := oidc.LoginState{State: "keep"}
			err := s.UnmarshalBinary(b)
			if !errors.Is(err, oidc.ErrBadEncoding) {
				t.Fatalf("err %v, want ErrBadEncoding", err)
			}
			if s.State != "keep" {
				t.Fatalf("receiver modified on error: %+v", s)
			}
		})
	}
}

func TestEqualSecret(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"", "", false},
		{"", "a", false},
		{"a", "", false},
		{strings.Repeat("x", 43), strings.Repeat("x", 43), true},
	}
	for _, tc := range cases {
		if got := oidc.EqualSecret(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualSecret(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
