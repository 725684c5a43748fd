package oidc_test

import (
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func TestClaimValue(t *testing.T) {
	claims := []byte(`{
		"sub": "248289761001",
		"email": "jane@example.com",
		"email_verified": true,
		"admin": false,
		"age": 42,
		"ratio": 1.5e3,
		"neg": -0.25,
		"groups": ["dev", "ops"],
		"one": ["only"],
		"empty": [],
		"mixed": ["a", 1, true],
		"nested_array": ["a", ["b"]],
		"object_array": [{"a": 1}],
		"null_array": ["a", null],
		"realm_access": {"roles": ["r1", "r2"], "level": {"n": 3}},
		"name": "Zoë Ñ 日本",
		"nil": null,
		"obj": {"a": 1},
		"crlf": "a\r\nX-Injected: 1",
		"lf": "a\nb",
		"nul": "a\u0000b",
		"tab": "a\tb",
		"del": "a\u007fb",
		"c1": "a\u0085b",
		"esc_ok": "\u00e9",
		"comma": ["a,b", "c"],
		"semi": "x;y",
		"dotted.key": "dk",
		"empty_string": ""
	}`)
	cases := []struct {
		path, sep string
		want      string
		ok        bool
	}{
		{"sub", ",", "248289761001", true},
		{"email", ",", "jane@example.com", true},
		{"email_verified", ",", "true", true},
		{"admin", ",", "false", true},
		{"age", ",", "42", true},
		{"ratio", ",", "1.5e3", true},
		{"neg", ",", "-0.25", true},
		{"groups", ",", "dev,ops", true},
		{"groups", " ", "dev ops", true},
		{"groups", "", "devops", true},
		{"one", ",", "only", true},
		{"empty", ",", "", true},
		{"mixed", ";", "a;1;true", true},
		{"nested_array", ",", "", false},
		{"object_array", ",", "", false},
		{"null_array", ",", "", false},
		{"realm_access.roles", ",", "r1,r2", true},
		{"realm_access.level.n", ",", "3", true},
		{"realm_access", ",", "", false},
		{"realm_access.missing", ",", "", false},
		{"groups.0", ",", "dev", true},
		{"groups.#", ",", "2", true},
		{"name", ",", "Zoë Ñ 日本", true},
		{"esc_ok", ",", "é", true},
		{"nil", ",", "", false},
		{"obj", ",", "", false},
		{"missing", ",", "", false},
		{"", ",", "", false},
		{"crlf", ",", "", false},
		{"lf", ",", "", false},
		{"nul", ",", "", false},
		{"tab", ",", "", false},
		{"del", ",", "", false},
		{"c1", ",", "", false},
		{"groups", "\r\n", "", false},
		{"comma", ",", "", false},
		{"comma", ";", "a,b;c", true},
		{"semi", ",", "x;y", true},
		{`dotted\.key`, ",", "dk", true},
		{"empty_string", ",", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.path+"/"+tc.sep, func(t *testing.T) {
			got, ok := oidc.ClaimValue(claims, tc.path, tc.sep)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestClaimValueRejectsInput(t *testing.T) {
	for _, claims := range []string{"", "null", `["a"]`, `"sub"`, `{"sub":"x"`, `{"sub":"x"} trailing`, "{\"sub\":\"\xff\"}x"} {
		if v, ok := oidc.ClaimValue([]byte(claims), "sub", ","); ok {
			t.Errorf("claims %q: got %q, want refusal", claims, v)
		}
	}
	if v, ok := oidc.ClaimValue([]byte("{\"sub\":\"a\xffb\"}"), "sub", ","); ok {
		t.Errorf("invalid UTF-8 accepted: %q", v)
	}
}

func TestClaimValueLengthCap(t *testing.T) {
	long := strings.Repeat("x", 8<<10)
	if v, ok := oidc.ClaimValue([]byte(`{"a":"`+long+`"}`), "a", ","); !ok || v != long {
		t.Fatalf("8 KiB refused")
	}
	if _, ok := oidc.ClaimValue([]byte(`{"a":"`+long+`x"}`), "a", ","); ok {
		t.Fatalf("over 8 KiB accepted")
	}
	items := make([]string, 3000)
	for i := range items {
		items[i] = `"abc"`
	}
	if _, ok := oidc.ClaimValue([]byte(`{"a":[`+strings.Join(items, ",")+`]}`), "a", ","); ok {
		t.Fatalf("joined array over 8 KiB accepted")
	}
}

// One parse serves many reads; a refused or zero Claims yields nothing.
func TestParseClaimsOnceReadMany(t *testing.T) {
	c, ok := oidc.ParseClaims([]byte(`{"sub":"u1","groups":["a","b"]}`))
	if !ok {
		t.Fatal("valid claims refused")
	}
	if v, ok := c.Value("sub", ","); !ok || v != "u1" {
		t.Errorf("sub = %q %v", v, ok)
	}
	if v, ok := c.Value("groups", ";"); !ok || v != "a;b" {
		t.Errorf("groups = %q %v", v, ok)
	}
	for _, bad := range []string{`["u1"]`, `{"sub":`, strings.Repeat("[", 100)} {
		if c, ok := oidc.ParseClaims([]byte(bad)); ok {
			t.Errorf("ParseClaims(%.20q) accepted", bad)
		} else if _, ok := c.Value("sub", ","); ok {
			t.Errorf("a refused Claims yielded a value")
		}
	}
	if _, ok := (oidc.Claims{}).Value("sub", ","); ok {
		t.Error("the zero Claims yielded a value")
	}
}
