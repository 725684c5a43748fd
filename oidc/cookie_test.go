package oidc_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func TestParseCookies(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		want    []oidc.Cookie
	}{
		{"none", nil, nil},
		{"empty header", []string{""}, nil},
		{"one", []string{"a=b"}, []oidc.Cookie{{"a", "b"}}},
		{"two", []string{"a=b; c=d"}, []oidc.Cookie{{"a", "b"}, {"c", "d"}}},
		{"no space after semicolon", []string{"a=b;c=d"}, []oidc.Cookie{{"a", "b"}, {"c", "d"}}},
		{"extra whitespace", []string{"  a = b ;\t c=d\t;  "}, []oidc.Cookie{{"a", "b"}, {"c", "d"}}},
		{"empty value", []string{"a=; b="}, []oidc.Cookie{{"a", ""}, {"b", ""}}},
		{"value with equals", []string{"a=b=c==; d=e"}, []oidc.Cookie{{"a", "b=c=="}, {"d", "e"}}},
		{"quoted value kept as sent", []string{`a="b c"; d=""`}, []oidc.Cookie{{"a", `"b c"`}, {"d", `""`}}},
		{"duplicates kept in order", []string{"s=1; t=x; s=2; s=1"}, []oidc.Cookie{{"s", "1"}, {"t", "x"}, {"s", "2"}, {"s", "1"}}},
		{"several headers", []string{"a=1", "b=2; c=3"}, []oidc.Cookie{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
		{"no equals skipped", []string{"flag; a=1; ; =; =x"}, []oidc.Cookie{{"a", "1"}}},
		{"bad names skipped", []string{"a b=1; a,b=2; a\"b=3; (x)=4; ok=5; a/b=6; a@b=7"}, []oidc.Cookie{{"ok", "5"}}},
		{"token punctuation allowed", []string{"a!#$%&'*+-.^_`|~z=1"}, []oidc.Cookie{{"a!#$%&'*+-.^_`|~z", "1"}}},
		{"control characters skipped", []string{"a=x\x00y; b=x\ry; c=x\ny; d=\x7f; e=ok"}, []oidc.Cookie{{"e", "ok"}}},
		{"tabs: trimmed around, refused inside", []string{"a=\tx\t; b=x\ty; c\t=1; \td=2; e\x01=3"}, []oidc.Cookie{{"a", "x"}, {"c", "1"}, {"d", "2"}}},
		{"space inside value kept", []string{"a=b c; d=e,f"}, []oidc.Cookie{{"a", "b c"}, {"d", "e,f"}}},
		{"non-ASCII value kept", []string{"a=é"}, []oidc.Cookie{{"a", "é"}}},
		{"name case kept", []string{"Session=1; session=2"}, []oidc.Cookie{{"Session", "1"}, {"session", "2"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := oidc.ParseCookies(tc.headers); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseCookiesBounds(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "c%d=v; ", i)
	}
	got := oidc.ParseCookies([]string{b.String()})
	if len(got) != 200 {
		t.Fatalf("%d cookies parsed, want the cap of 200", len(got))
	}
	if got[199].Name != "c199" {
		t.Fatalf("last kept cookie %q, want c199 (order kept)", got[199].Name)
	}

	// Past 64 KiB nothing more is read, and the pair that straddles the limit is dropped
	// whole rather than truncated.
	big := "a=" + strings.Repeat("x", 40000)
	got = oidc.ParseCookies([]string{big, "b=" + strings.Repeat("y", 40000), "c=1"})
	if len(got) != 1 || got[0].Name != "a" || len(got[0].Value) != 40000 {
		t.Fatalf("got %d cookies, want only the first whole one", len(got))
	}
	got = oidc.ParseCookies([]string{strings.Repeat("z", 70000) + "=1"})
	if len(got) != 0 {
		t.Fatalf("an over-long pair was kept")
	}
}

func TestCookieValue(t *testing.T) {
	cases := []struct {
		name                string
		cookies             []oidc.Cookie
		want                string
		wantOK, wantAmbigus bool
	}{
		{"absent", []oidc.Cookie{{"x", "1"}}, "", false, false},
		{"nil", nil, "", false, false},
		{"present", []oidc.Cookie{{"x", "1"}, {"s", "v"}}, "v", true, false},
		{"empty value present", []oidc.Cookie{{"s", ""}}, "", true, false},
		{"equal duplicates", []oidc.Cookie{{"s", "v"}, {"x", "1"}, {"s", "v"}}, "v", true, false},
		{"different duplicates", []oidc.Cookie{{"s", "v"}, {"s", "w"}}, "", false, true},
		{"different duplicate later", []oidc.Cookie{{"s", "v"}, {"s", "v"}, {"s", "w"}}, "", false, true},
		{"empty and non-empty", []oidc.Cookie{{"s", ""}, {"s", "v"}}, "", false, true},
		{"case differs is another name", []oidc.Cookie{{"S", "w"}, {"s", "v"}}, "v", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok, amb := oidc.CookieValue(tc.cookies, "s")
			if v != tc.want || ok != tc.wantOK || amb != tc.wantAmbigus {
				t.Fatalf("got (%q, %v, %v), want (%q, %v, %v)", v, ok, amb, tc.want, tc.wantOK, tc.wantAmbigus)
			}
		})
	}
}

func TestSplitJoinRoundTrip(t *testing.T) {
	const m = oidc.MaxCookieValue
	for _, n := range []int{0, 1, m - 1, m, m + 1, 2*m - 1, 2 * m, 2*m + 1, 5*m + 17, 8*m - 1, 8 * m} {
		value := strings.Repeat("v", n)
		chunks := oidc.SplitCookie("sess", value)
		wantChunks := 1
		if n > m {
			wantChunks = (n + m - 1) / m
		}
		if len(chunks) != wantChunks {
			t.Fatalf("len %d: %d chunks, want %d", n, len(chunks), wantChunks)
		}
		var cookies []oidc.Cookie
		for i, c := range chunks {
			if len(c[1]) > m {
				t.Fatalf("len %d: chunk %d has %d bytes", n, i, len(c[1]))
			}
			wantName := "sess"
			if wantChunks > 1 {
				wantName = fmt.Sprintf("sess_%d", i)
			}
			if c[0] != wantName {
				t.Fatalf("len %d: chunk %d named %q, want %q", n, i, c[0], wantName)
			}
			cookies = append(cookies, oidc.Cookie{Name: c[0], Value: c[1]})
		}
		// Unrelated cookies around, and in reverse order, change nothing.
		cookies = append([]oidc.Cookie{{"other", "1"}, {"sess_state", "x"}, {"sess_01", "y"}}, cookies...)
		for i, j := 0, len(cookies)-1; i < j; i, j = i+1, j-1 {
			cookies[i], cookies[j] = cookies[j], cookies[i]
		}
		got, ok := oidc.JoinCookie(cookies, "sess")
		if !ok || got != value {
			t.Fatalf("len %d: JoinCookie = %d bytes, %v", n, len(got), ok)
		}
	}
}

func TestSplitCookieTooLarge(t *testing.T) {
	if got := oidc.SplitCookie("sess", strings.Repeat("v", 8*oidc.MaxCookieValue+1)); got != nil {
		t.Fatalf("%d chunks for a value over the cap, want nil", len(got))
	}
}

func TestJoinCookieRejects(t *testing.T) {
	full := strings.Repeat("a", oidc.MaxCookieValue)
	c := func(kv ...string) []oidc.Cookie {
		var out []oidc.Cookie
		for i := 0; i < len(kv); i += 2 {
			out = append(out, oidc.Cookie{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	cases := map[string][]oidc.Cookie{
		"absent":                     c("other", "1"),
		"nil":                        nil,
		"missing chunk 0":            c("s_1", "b"),
		"gap":                        c("s_0", full, "s_2", "b"),
		"only chunk 0":               c("s_0", full),
		"only a short chunk 0":       c("s_0", "a"),
		"chunk 8":                    c("s_0", full, "s_1", "b", "s_8", "c"),
		"chunk 99":                   c("s_0", full, "s_1", "b", "s_99", "c"),
		"huge index":                 c("s_0", full, "s_1", "b", "s_99999999999999999999999", "c"),
		"nine chunks":                nineChunks(full),
		"short middle chunk":         c("s_0", full, "s_1", "short", "s_2", "b"),
		"long chunk":                 c("s_0", full+"x", "s_1", "b"),
		"empty last chunk":           c("s_0", full, "s_1", ""),
		"oversized last chunk":       c("s_0", full, "s_1", full+"x"),
		"plain and chunks":           c("s", "v", "s_0", full, "s_1", "b"),
		"ambiguous plain":            c("s", "v", "s", "w"),
		"ambiguous chunk":            c("s_0", full, "s_1", "b", "s_1", "c"),
		"ambiguous chunk 0":          c("s_0", full, "s_0", strings.Repeat("b", oidc.MaxCookieValue), "s_1", "b"),
		"plain ambiguous and chunks": c("s", "v", "s", "w", "s_0", full, "s_1", "b"),
	}
	for name, cookies := range cases {
		t.Run(name, func(t *testing.T) {
			if v, ok := oidc.JoinCookie(cookies, "s"); ok || v != "" {
				t.Fatalf("JoinCookie accepted: %d bytes", len(v))
			}
		})
	}
	// Equal duplicates are harmless, for plain and chunked values alike.
	if v, ok := oidc.JoinCookie(c("s", "v", "s", "v"), "s"); !ok || v != "v" {
		t.Fatalf("equal plain duplicates: %q %v", v, ok)
	}
	if v, ok := oidc.JoinCookie(c("s_0", full, "s_1", "b", "s_0", full), "s"); !ok || v != full+"b" {
		t.Fatalf("equal chunk duplicates: %v", ok)
	}
	if v, ok := oidc.JoinCookie(c("s", ""), "s"); !ok || v != "" {
		t.Fatalf("empty plain value: %q %v", v, ok)
	}
}

func nineChunks(full string) []oidc.Cookie {
	var out []oidc.Cookie
	for i := 0; i < 9; i++ {
		out = append(out, oidc.Cookie{Name: fmt.Sprintf("s_%d", i), Value: full})
	}
	return out
}

func TestFormatCookie(t *testing.T) {
	cases := []struct {
		name   string
		cname  string
		value  string
		maxAge int
		opt    oidc.CookieOptions
		want   string
	}{
		{"defaults", "s", "v", 3600, oidc.CookieOptions{}, "s=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"},
		{"secure", "s", "v", 60, oidc.CookieOptions{Path: "/", Secure: true, SameSite: "Lax"}, "s=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax"},
		{"delete", "s", "", 0, oidc.CookieOptions{Secure: true}, "s=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"},
		{"negative is delete", "s", "", -5, oidc.CookieOptions{}, "s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"},
		{"domain and path", "s", "v", 1, oidc.CookieOptions{Path: "/app", Domain: "example.com", Secure: true}, "s=v; Path=/app; Domain=example.com; Max-Age=1; HttpOnly; Secure; SameSite=Lax"},
		{"strict", "s", "v", 1, oidc.CookieOptions{SameSite: "strict", Secure: true}, "s=v; Path=/; Max-Age=1; HttpOnly; Secure; SameSite=Strict"},
		{"none forces secure", "s", "v", 1, oidc.CookieOptions{SameSite: "None"}, "s=v; Path=/; Max-Age=1; HttpOnly; Secure; SameSite=None"},
		{"unknown samesite is lax", "s", "v", 1, oidc.CookieOptions{SameSite: "bogus"}, "s=v; Path=/; Max-Age=1; HttpOnly; SameSite=Lax"},
		{"base64url value", "s", "AZaz09-_", 1, oidc.CookieOptions{}, "s=AZaz09-_; Path=/; Max-Age=1; HttpOnly; SameSite=Lax"},
		{"injection in value", "s", "v; Domain=evil.com", 1, oidc.CookieOptions{}, ""},
		{"CRLF in value", "s", "v\r\nSet-Cookie: x=y", 1, oidc.CookieOptions{}, ""},
		{"comma in value", "s", "a,b", 1, oidc.CookieOptions{}, ""},
		{"quote in value", "s", `"v"`, 1, oidc.CookieOptions{}, ""},
		{"space in value", "s", "a b", 1, oidc.CookieOptions{}, ""},
		{"bad name", "s=x", "v", 1, oidc.CookieOptions{}, ""},
		{"empty name", "", "v", 1, oidc.CookieOptions{}, ""},
		{"injection in path", "s", "v", 1, oidc.CookieOptions{Path: "/; Domain=evil.com"}, ""},
		{"injection in domain", "s", "v", 1, oidc.CookieOptions{Domain: "a.com; Secure"}, ""},
		{"newline in domain", "s", "v", 1, oidc.CookieOptions{Domain: "a.com\n"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := oidc.FormatCookie(tc.cname, tc.value, tc.maxAge, tc.opt)
			if got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, "Expires") {
				t.Fatal("Expires written")
			}
		})
	}
}

func TestFormatCookieFitsBrowserLimit(t *testing.T) {
	value := strings.Repeat("v", oidc.MaxCookieValue)
	got := oidc.FormatCookie("oidc_session_7", value, 1<<30, oidc.CookieOptions{Path: "/", Domain: "app.example.com", Secure: true, SameSite: "Strict"})
	if len(got) >= 4000 {
		t.Fatalf("Set-Cookie of %d bytes", len(got))
	}
}

func TestStripCookies(t *testing.T) {
	cookies := oidc.ParseCookies([]string{`app=1; sess=secret; sess_0=a; other="q v"; sess_1=b`, "x=; sess=again"})
	drop := func(name string) bool { return strings.HasPrefix(name, "sess") }
	if got, want := oidc.StripCookies(cookies, drop), `app=1; other="q v"; x=`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := oidc.StripCookies(cookies, func(string) bool { return true }); got != "" {
		t.Fatalf("all dropped: got %q", got)
	}
	if got := oidc.StripCookies(nil, drop); got != "" {
		t.Fatalf("nil: got %q", got)
	}
	if got, want := oidc.StripCookies(cookies, func(string) bool { return false }), `app=1; sess=secret; sess_0=a; other="q v"; sess_1=b; x=; sess=again`; got != want {
		t.Fatalf("none dropped: got %q, want %q", got, want)
	}
}
