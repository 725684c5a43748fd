package oidc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func TestParseCallback(t *testing.T) {
	cases := []struct {
		query       string
		code, state string
	}{
		{"code=abc&state=xyz", "abc", "xyz"},
		{"state=xyz&code=abc", "abc", "xyz"},
		{"code=a%2Fb%3D&state=s+t", "a/b=", "s t"},
		{"code=abc&state=xyz&session_state=q&iss=https%3A%2F%2Fidp&scope=openid", "abc", "xyz"},
		{"code=" + strings.Repeat("c", 2048) + "&state=" + strings.Repeat("s", 2048), strings.Repeat("c", 2048), strings.Repeat("s", 2048)},
	}
	for _, tc := range cases {
		cb, err := oidc.ParseCallback(tc.query)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		if cb.Code != tc.code || cb.State != tc.state {
			t.Fatalf("%q: got %+v", tc.query, cb)
		}
	}
}

func TestParseCallbackRejects(t *testing.T) {
	long := strings.Repeat("x", 2049)
	cases := map[string]string{
		"empty":                "",
		"missing code":         "state=s",
		"missing state":        "code=c",
		"empty code":           "code=&state=s",
		"empty state":          "code=c&state=",
		"repeated code":        "code=c&code=d&state=s",
		"repeated same code":   "code=c&code=c&state=s",
		"repeated state":       "code=c&state=s&state=t",
		"long code":            "code=" + long + "&state=s",
		"long state":           "code=c&state=" + long,
		"long query":           "code=c&state=s&pad=" + strings.Repeat("p", 8192),
		"bad escape":           "code=%zz&state=s",
		"bad escape elsewhere": "code=c&state=s&x=%",
		"semicolon":            "code=c;state=s",
		"newline in code":      "code=a%0Ab&state=s",
		"NUL in state":         "code=c&state=a%00",
		"non-ASCII code":       "code=%C3%A9&state=s",
		"DEL in state":         "code=c&state=%7F",
		"code name only":       "code&state=s",
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			cb, err := oidc.ParseCallback(q)
			if !errors.Is(err, oidc.ErrBadCallback) || cb != nil {
				t.Fatalf("got %+v, %v; want ErrBadCallback", cb, err)
			}
			var ce *oidc.CallbackError
			if errors.As(err, &ce) {
				t.Fatalf("a malformed callback became a CallbackError")
			}
		})
	}
}

func TestParseCallbackError(t *testing.T) {
	cases := []struct {
		query      string
		code, desc string
	}{
		{"error=access_denied&state=s", "access_denied", ""},
		{"error=access_denied&error_description=User+declined&state=s", "access_denied", "User declined"},
		{"error=server_error&code=c&state=s", "server_error", ""},
		{"error=a&error=b", "a", ""},
		{"error=", "", ""},
		{"error=%3Cscript%3E%0D%0AX%22%5C&error_description=line1%0Aline2%C3%A9", "<script>??X??", "line1?line2??"},
		{"error=" + strings.Repeat("e", 300) + "&error_description=" + strings.Repeat("d", 1000), strings.Repeat("e", 128), strings.Repeat("d", 512)},
	}
	for _, tc := range cases {
		cb, err := oidc.ParseCallback(tc.query)
		var ce *oidc.CallbackError
		if !errors.As(err, &ce) || cb != nil {
			t.Fatalf("%q: got %+v, %v; want *CallbackError", tc.query, cb, err)
		}
		if ce.Code != tc.code || ce.Description != tc.desc {
			t.Fatalf("%q: got %+v, want code %q desc %q", tc.query, ce, tc.code, tc.desc)
		}
		if errors.Is(err, oidc.ErrBadCallback) {
			t.Fatalf("%q: a CallbackError also matches ErrBadCallback", tc.query)
		}
	}
}

func TestCallbackErrorMessage(t *testing.T) {
	if got, want := (&oidc.CallbackError{Code: "access_denied"}).Error(), "oidc: identity provider returned error access_denied"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (&oidc.CallbackError{Code: "x", Description: "why"}).Error(), "oidc: identity provider returned error x: why"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
