package oidc_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// redirectTestAllowed is the allow-list of the redirect tests and of FuzzSafeRedirect.
var redirectTestAllowed = []string{"app.example.com", "api.example.com:8443", ".corp.example", "https://secure.example.net", "[::1]:9000"}

// redirectProblem returns why an accepted redirect target is unsafe, or "": resolved the way
// a browser resolves a Location header against https://site.example/, it must stay on
// site.example or, when allowed is not empty, reach a host of redirectTestAllowed (whose
// rules are written out again below, independently of the code under test), and it must
// hold no control character or backslash.
func redirectProblem(target string, allowed []string) string {
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Sprintf("byte %#x at %d", c, i)
		}
	}
	base, _ := url.Parse("https://site.example/")
	ref, err := url.Parse(target)
	if err != nil {
		return "net/url cannot parse it: " + err.Error()
	}
	u := base.ResolveReference(ref)
	if u.Host == "site.example" && u.Scheme == "https" && u.User == nil {
		if !strings.HasPrefix(target, "/") {
			return "relative target resolved on site but is not a path"
		}
		return ""
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "scheme " + u.Scheme
	}
	if u.User != nil {
		return "user info"
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	ok := false
	switch {
	case host == "app.example.com" && port == map[string]string{"https": "443", "http": "80"}[u.Scheme]:
		ok = true
	case host == "api.example.com" && port == "8443":
		ok = true
	case (host == "corp.example" || strings.HasSuffix(host, ".corp.example")) && port == map[string]string{"https": "443", "http": "80"}[u.Scheme]:
		ok = true
	case host == "secure.example.net" && u.Scheme == "https" && port == "443":
		ok = true
	case host == "::1" && port == "9000":
		ok = true
	}
	if !ok || len(allowed) == 0 {
		return fmt.Sprintf("reaches %s://%s:%s", u.Scheme, host, port)
	}
	return ""
}

// evilReturnPaths are the open-redirect payloads every return path check must refuse
// (oauth2-proxy CVE-2020-5233, CVE-2020-11053, CVE-2020-4037 and relatives).
var evilReturnPaths = []string{
	"", "/\\evil.com", "\\\\evil.com", "\\/evil.com", "//evil.com", "///evil.com", "/%09/evil.com",
	"/\t/evil.com", "/\r/", "/\n/", "/ /evil.com", "/./\\evil.com", "/./../../\\evil.com",
	"/%2F/evil.com", "/%2f/evil.com", "/%5Cevil.com", "/%5cevil.com", "https://evil.com",
	"http://evil.com", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
	"evil.com", "//evil.com/%2F..", "/%252F/evil.com", "/%252f/evil.com", "/%255Cevil.com",
	"/%25252F/evil.com", "/%2525252525252F/evil.com", "/.%2F/evil.com", "/%2E/evil.com",
	"/%2e%2e/evil.com", "/a/../evil.com", "/a/./b", "/..", "/.", "/%0a/evil.com",
	"/%0D/evil.com", "/%00/evil.com", "/%20/evil.com", "/%20%2F/evil.com", "/%09%2F%2Fevil.com",
	"/\x00", "/\x7f", "/a\x00b", "/a b", "/café", "/%C0%AF/evil.com", "/%E0%80%AF",
	"/%", "/%2", "/%zz", "/%%32%46/evil.com", "/\"onmouseover=x", "/<script>", "/`x`",
	"/" + strings.Repeat("a", 2048), "?x=1", "#frag", "a/b", " /a", "/a ",
	"/%5C%5Cevil.com", "/%2F%2Fevil.com", "/\\/evil.com", "/%7F", "/%1F",
}

func TestSafeReturnPathRefuses(t *testing.T) {
	for _, raw := range evilReturnPaths {
		if got, ok := oidc.SafeReturnPath(raw); ok || got != "" {
			t.Errorf("SafeReturnPath(%q) = %q, %v; want refusal", raw, got, ok)
		}
		if got, ok := oidc.SafeRedirect(raw, redirectTestAllowed); ok {
			t.Errorf("SafeRedirect(%q) = %q; want refusal", raw, got)
		}
	}
}

func TestSafeReturnPathAccepts(t *testing.T) {
	cases := map[string]string{
		"/":                             "/",
		"/app?x=1&y=2":                  "/app?x=1&y=2",
		"/a/b":                          "/a/b",
		"/a/b/":                         "/a/b/",
		"/a/b#frag":                     "/a/b",
		"/a/b?x=1#frag/with//slashes":   "/a/b?x=1",
		"/#":                            "/",
		"/?":                            "/?",
		"/a//b":                         "/a//b",
		"/a%2Fb":                        "/a%2Fb",
		"/my%20file.pdf":                "/my%20file.pdf",
		"/caf%C3%A9":                    "/caf%C3%A9",
		"/100%25":                       "/100%25",
		"/%25zz":                        "/%25zz",
		"/x?next=//evil.com":            "/x?next=//evil.com",
		"/x?next=https://evil.com":      "/x?next=https://evil.com",
		"/x?q=%0A%5C":                   "/x?q=%0A%5C",
		"/a:b":                          "/a:b",
		"/@evil.com":                    "/@evil.com",
		"/.well-known/x":                "/.well-known/x",
		"/...":                          "/...",
		"/a;b=c,d!$&'()*+~":             "/a;b=c,d!$&'()*+~",
		"/" + strings.Repeat("a", 2047): "/" + strings.Repeat("a", 2047),
	}
	for raw, want := range cases {
		got, ok := oidc.SafeReturnPath(raw)
		if !ok || got != want {
			t.Errorf("SafeReturnPath(%q) = %q, %v; want %q", raw, got, ok, want)
		}
		if p := redirectProblem(got, nil); p != "" {
			t.Errorf("SafeReturnPath(%q) = %q: %s", raw, got, p)
		}
	}
}

// redirectEncodings returns every spelling of c this matrix tries: raw, and percent-encoded
// in upper and lower case once, twice, three and five times.
func redirectEncodings(c byte) []string {
	out := []string{string(c)}
	for _, e := range []string{fmt.Sprintf("%%%02X", c), fmt.Sprintf("%%%02x", c)} {
		for i := 1; i <= 5; i++ {
			if i != 4 {
				out = append(out, e)
			}
			e = "%25" + e[1:]
		}
	}
	return out
}

// TestOpenRedirectMatrix generates payloads from separators, encodings and whitespace at
// every position, and checks that each is refused or, where accepted, provably stays on
// the site.
func TestOpenRedirectMatrix(t *testing.T) {
	var payloads []string
	for _, a := range []byte{'/', '\\'} {
		for _, b := range []byte{'/', '\\'} {
			for _, ea := range redirectEncodings(a) {
				for _, eb := range redirectEncodings(b) {
					payloads = append(payloads, "/"+ea+eb+"evil.com", "/"+ea+"evil.com", ea+eb+"evil.com")
					if b == '/' {
						payloads = append(payloads, "/"+eb+"evil.com/"+ea)
					}
				}
			}
		}
	}
	for _, c := range []byte{'\t', '\n', '\r', 0, ' ', '\v', '\f', 0x7f, 0x1b} {
		base := "//evil.com"
		for i := 0; i <= len(base); i++ {
			for _, e := range redirectEncodings(c) {
				payloads = append(payloads, base[:i]+e+base[i:], "/"+e+base[1:], "/"+e+"/evil.com")
			}
		}
	}
	for _, dots := range []string{".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%252e"} {
		for _, sep := range redirectEncodings('\\') {
			payloads = append(payloads, "/"+dots+"/"+sep+"evil.com", "/"+dots+sep+"evil.com")
		}
		payloads = append(payloads, "/"+dots+"//evil.com")
	}
	for _, scheme := range []string{"https:", "http:", "HTTPS:", "javascript:", "data:", "vbscript:", "file:"} {
		for _, rest := range []string{"//evil.com", "evil.com", "/evil.com", "\\\\evil.com", "alert(1)"} {
			payloads = append(payloads, scheme+rest)
		}
	}

	refusedAll := 0
	for _, raw := range payloads {
		got, ok := oidc.SafeReturnPath(raw)
		if ok {
			if p := redirectProblem(got, nil); p != "" {
				t.Errorf("SafeReturnPath(%q) = %q: %s", raw, got, p)
			}
			if strings.Contains(raw, "evil.com") && startsOffSite(got) {
				t.Errorf("SafeReturnPath(%q) = %q decodes to another site", raw, got)
			}
			continue
		}
		refusedAll++
		got, ok = oidc.SafeRedirect(raw, redirectTestAllowed)
		if ok {
			if p := redirectProblem(got, redirectTestAllowed); p != "" {
				t.Errorf("SafeRedirect(%q) = %q: %s", raw, got, p)
			}
		}
	}
	if refusedAll < len(payloads)*9/10 {
		t.Errorf("only %d of %d payloads refused: the generator has drifted", refusedAll, len(payloads))
	}
}

// startsOffSite reports whether any percent-decoding (up to 5 rounds) of s starts with two
// slashes or backslashes: what a decoding hop would turn into another site.
func startsOffSite(s string) bool {
	for i := 0; i < 6; i++ {
		if len(s) >= 2 && (s[0] == '/' || s[0] == '\\') && (s[1] == '/' || s[1] == '\\') {
			return true
		}
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			return false
		}
		s = d
	}
	return false
}

func TestSafeRedirectAbsolute(t *testing.T) {
	cases := []struct {
		raw  string
		want string // "" means refused
	}{
		{"https://app.example.com/", "https://app.example.com/"},
		{"https://app.example.com", "https://app.example.com"},
		{"https://app.example.com/a?b=c#frag", "https://app.example.com/a?b=c"},
		{"http://app.example.com/x", "http://app.example.com/x"},
		{"https://app.example.com:443/x", "https://app.example.com:443/x"},
		{"http://app.example.com:80/x", "http://app.example.com:80/x"},
		{"HTTPS://APP.Example.COM/x", "HTTPS://APP.Example.COM/x"},
		{"https://app.example.com?x=1", "https://app.example.com?x=1"},
		{"https://app.example.com:8443/x", ""},
		{"http://app.example.com:443/x", ""},
		{"https://api.example.com:8443/x", "https://api.example.com:8443/x"},
		{"https://api.example.com/x", ""},
		{"https://api.example.com:443/x", ""},
		{"https://corp.example/x", "https://corp.example/x"},
		{"https://a.corp.example/x", "https://a.corp.example/x"},
		{"https://a.b.corp.example/x", "https://a.b.corp.example/x"},
		{"https://evilcorp.example/x", ""},
		{"https://corp.example.evil.com/x", ""},
		{"https://a.corp.example:8443/x", ""},
		{"https://secure.example.net/", "https://secure.example.net/"},
		{"http://secure.example.net/", ""},
		{"https://[::1]:9000/x", "https://[::1]:9000/x"},
		{"https://[::1]/x", ""},
		{"https://[::1%25eth0]:9000/x", ""},
		{"https://evil.com/", ""},
		{"https://evilexample.com/", ""},
		{"https://app.example.com.evil.corp/", ""},
		{"https://example.com/", ""},
		{"https://app.example.com@evil.com/", ""},
		{"https://evil.com@app.example.com/", ""},
		{"https://evil.com:pw@app.example.com/", ""},
		{"https://app.example.com:443@evil.com/", ""},
		{"https://evil.com\\@app.example.com/", ""},
		{"https://evil.com\\.app.example.com/", ""},
		{"https://evil.com%2F.app.example.com/", ""},
		{"https://evil.com%2Eapp.example.com/", ""},
		{"https://evil.com%23.app.example.com/", ""},
		{"https://evil.com#.app.example.com/", ""},
		{"https://evil.com?.app.example.com/", ""},
		{"https://evil.com/.app.example.com/", ""},
		{"https://app.example.com./", ""},
		{"https://.app.example.com/", ""},
		{"https://app..example.com/", ""},
		{"https://app_x.corp.example/", ""},
		{"https://app.example.com:/", ""},
		{"https://app.example.com:+443/", ""},
		{"https://app.example.com:0443/", ""},
		{"https://app.example.com:99999/", ""},
		{"https://app.example.com:443:443/", ""},
		{"https:app.example.com/", ""},
		{"https:/app.example.com/", ""},
		{"https:///app.example.com/", ""},
		{"https:\\\\app.example.com/", ""},
		{"ftp://app.example.com/", ""},
		{"javascript://app.example.com/%0aalert(1)", ""},
		{"https://app.example.com/\t", ""},
		{"https://app.exa\tmple.com/", ""},
		{"https://app.example.com/ x", ""},
		{"https://app.example.com/\r\nSet-Cookie:x", ""},
		{"https://xn--80ak6aa92e.com/", ""},
		{"https://аpp.example.com/", ""},
		{" https://app.example.com/", ""},
		{"https://app.example.com/" + strings.Repeat("a", 2048), ""},
		{"/local?x=1", "/local?x=1"},
		{"//app.example.com/", ""},
	}
	for _, tc := range cases {
		got, ok := oidc.SafeRedirect(tc.raw, redirectTestAllowed)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("SafeRedirect(%q) = %q, %v; want %q", tc.raw, got, ok, tc.want)
			continue
		}
		if ok {
			if p := redirectProblem(got, redirectTestAllowed); p != "" {
				t.Errorf("SafeRedirect(%q) = %q: %s", tc.raw, got, p)
			}
		}
	}
}

func TestSafeRedirectEntries(t *testing.T) {
	cases := []struct {
		entries []string
		raw     string
		ok      bool
	}{
		{nil, "https://app.example.com/", false},
		{nil, "/ok", true},
		{[]string{"APP.EXAMPLE.COM"}, "https://app.example.com/", true},
		{[]string{"http://app.example.com"}, "https://app.example.com/", false},
		{[]string{"http://app.example.com"}, "http://app.example.com/", true},
		{[]string{"https://app.example.com:8443"}, "https://app.example.com:8443/", true},
		{[]string{".example.com"}, "https://evilexample.com/", false},
		{[]string{".example.com"}, "https://example.com.evil.corp/", false},
		{[]string{".example.com"}, "https://x.example.com/", true},
		{[]string{".example.com:8443"}, "https://x.example.com:8443/", true},
		{[]string{".example.com:8443"}, "https://x.example.com/", false},
		{[]string{"example.com"}, "https://x.example.com/", false},
		{[]string{"*.example.com"}, "https://x.example.com/", false},
		{[]string{""}, "https://x.example.com/", false},
		{[]string{"."}, "https://x.example.com/", false},
		{[]string{".com"}, "https://example.com/", true},
		{[]string{"app.example.com/path"}, "https://app.example.com/", false},
		{[]string{"app.example.com:0"}, "https://app.example.com:0/", false},
		{[]string{"user@app.example.com"}, "https://app.example.com/", false},
		{[]string{"[::1]"}, "https://[::1]/", true},
		{[]string{".[::1]"}, "https://x.[::1]/", false},
		{[]string{"127.0.0.1:8080"}, "http://127.0.0.1:8080/", true},
	}
	for _, tc := range cases {
		if _, ok := oidc.SafeRedirect(tc.raw, tc.entries); ok != tc.ok {
			t.Errorf("SafeRedirect(%q, %q) ok=%v, want %v", tc.raw, tc.entries, ok, tc.ok)
		}
	}
}
