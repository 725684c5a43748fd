package oidc_test

import (
	"fmt"
	"reflect"
	"slices"
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

func TestCookieValues(t *testing.T) {
	cases := []struct {
		name    string
		cookies []oidc.Cookie
		want    []string
	}{
		{"absent", []oidc.Cookie{{"x", "1"}}, nil},
		{"nil", nil, nil},
		{"present", []oidc.Cookie{{"x", "1"}, {"s", "v"}}, []string{"v"}},
		{"empty value present", []oidc.Cookie{{"s", ""}}, []string{""}},
		{"equal duplicates are one", []oidc.Cookie{{"s", "v"}, {"x", "1"}, {"s", "v"}}, []string{"v"}},
		{"different duplicates, in order", []oidc.Cookie{{"s", "w"}, {"s", "v"}, {"s", "w"}}, []string{"w", "v"}},
		{"case differs is another name", []oidc.Cookie{{"S", "w"}, {"s", "v"}}, []string{"v"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := oidc.CookieValues(tc.cookies, "s"); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
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
		// The whole value comes first; when its chunks are all full, their shorter runs are
		// layouts too, which the caller's AEAD open refuses.
		if got := oidc.CookieCandidates(cookies, "sess"); len(got) == 0 || got[0] != value {
			t.Fatalf("len %d: CookieCandidates = %d values, the first not the value", n, len(got))
		}
	}
}

func TestSplitCookieTooLarge(t *testing.T) {
	if got := oidc.SplitCookie("sess", strings.Repeat("v", 8*oidc.MaxCookieValue+1)); got != nil {
		t.Fatalf("%d chunks for a value over the cap, want nil", len(got))
	}
}

func TestCookieCandidates(t *testing.T) {
	full := strings.Repeat("a", oidc.MaxCookieValue)
	other := strings.Repeat("b", oidc.MaxCookieValue)
	c := func(kv ...string) []oidc.Cookie {
		var out []oidc.Cookie
		for i := 0; i < len(kv); i += 2 {
			out = append(out, oidc.Cookie{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	cases := []struct {
		name    string
		cookies []oidc.Cookie
		want    []string
	}{
		{"absent", c("other", "1"), nil},
		{"nil", nil, nil},
		{"missing chunk 0", c("s_1", "b"), nil},
		{"only chunk 0", c("s_0", full), nil},
		{"only a short chunk 0", c("s_0", "a"), nil},
		{"gap", c("s_0", full, "s_2", "b"), nil},
		{"short middle chunk: only the run before it", c("s_0", full, "s_1", "short", "s_2", "b"), []string{full + "short"}},
		{"long chunk", c("s_0", full+"x", "s_1", "b"), nil},
		{"empty last chunk", c("s_0", full, "s_1", ""), nil},
		{"oversized last chunk", c("s_0", full, "s_1", full+"x"), nil},
		{"huge index is no chunk", c("s_0", full, "s_1", "b", "s_99999999999999999999999", "c"), []string{full + "b"}},
		{"a stray later chunk", c("s_0", full, "s_1", "b", "s_5", "c"), []string{full + "b"}},
		{"a planted third chunk", c("s_0", full, "s_1", "b", "s_2", "c"), []string{full + "b"}},
		{"plain and chunks: both", c("s", "v", "s_0", full, "s_1", "b"), []string{"v", full + "b"}},
		{"planted plain values: all, in order", c("s", "planted", "s", "v", "s", "planted"), []string{"planted", "v"}},
		{"planted chunk: every combination", c("s_0", full, "s_1", "b", "s_1", "c"), []string{full + "b", full + "c"}},
		{"planted chunk 0", c("s_0", full, "s_0", other, "s_1", "b"), []string{full + "b", other + "b"}},
		{"equal duplicates are one", c("s_0", full, "s_1", "b", "s_0", full), []string{full + "b"}},
		{"empty plain value", c("s", ""), []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := oidc.CookieCandidates(tc.cookies, "s"); !slices.Equal(got, tc.want) {
				t.Fatalf("got %d candidates %.40q, want %d", len(got), got, len(tc.want))
			}
		})
	}
	for _, v := range oidc.CookieCandidates(nineChunks(full), "s") {
		if len(v) > 8*oidc.MaxCookieValue {
			t.Fatalf("a candidate of %d bytes: more than eight chunks", len(v))
		}
	}
	// Chunk combinations are bounded: eight chunks with three values each would be 6561.
	var many []oidc.Cookie
	for i := 0; i < 8; i++ {
		for _, v := range []string{full, other, strings.Repeat("c", oidc.MaxCookieValue)} {
			many = append(many, oidc.Cookie{Name: fmt.Sprintf("s_%d", i), Value: v})
		}
	}
	if got := oidc.CookieCandidates(many, "s"); len(got) == 0 || len(got) > 16 {
		t.Fatalf("%d candidates from a flood of chunks, want 1 to 16", len(got))
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
