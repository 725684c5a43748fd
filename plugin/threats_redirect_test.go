package plugin

// Open redirect: after a login and after a logout the browser goes to a path of this site or
// to an allow-listed host, whatever a published payload (oauth2-proxy CVE-2020-5233,
// CVE-2020-11053, CVE-2020-4037, CVE-2021-21291) puts in the path, the state or rd.
// SECURITY.md, G3 and "Open redirect".

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// openLoginState opens a state cookie the plugin set, as only the key holder can.
func openLoginState(t *testing.T, m mode, sealed string) oidc.LoginState {
	t.Helper()
	plain, err := testSealer(t).Open(testPurposeState, sealed, m.now())
	if err != nil {
		t.Fatalf("state cookie does not open: %v", err)
	}
	var st oidc.LoginState
	if err := st.UnmarshalBinary(plain); err != nil {
		t.Fatal(err)
	}
	return st
}

// staysOnSite is how a browser (WHATWG URL parser) reads a Location: tab, CR and LF are
// dropped, leading C0 controls and spaces trimmed, '\' is '/'. The target must be a path of
// this site, also after up to four rounds of percent-decoding by a proxy or app behind.
func staysOnSite(loc string) bool {
	browser := func(s string) string {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\t', '\r', '\n':
				return -1
			case '\\':
				return '/'
			}
			return r
		}, s)
		return strings.TrimLeft(s, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	}
	s := browser(loc)
	for i := 0; i < 5; i++ {
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			return true
		}
		s = browser(d)
	}
	return true
}

// openRedirectPayloads are the published payloads and generated variants of them:
// separators, encodings (single, double, triple, either case), control characters.
func openRedirectPayloads() map[string]string {
	out := map[string]string{
		"CVE-2020-5233 /\\evil.com":             `/\evil.com`,
		"CVE-2020-5233 \\\\evil.com":            `\\evil.com`,
		"CVE-2020-5233 //evil.com":              "//evil.com",
		"CVE-2020-11053 /%09/evil.com":          "/%09/evil.com",
		"CVE-2020-11053 /<tab>/evil.com":        "/\t/evil.com",
		"CVE-2020-11053 /<cr>/evil.com":         "/\r/evil.com",
		"CVE-2020-11053 /<lf>/evil.com":         "/\n/evil.com",
		"CVE-2020-11053 / /evil.com":            "/ /evil.com",
		"CVE-2020-4037 /./\\evil.com":           `/./\evil.com`,
		"CVE-2020-4037 /./../../\\evil.com":     `/./../../\evil.com`,
		"CVE-2020-4037 ///evil.com":             "///evil.com",
		"CVE-2020-4037 /\\/evil.com":            `/\/evil.com`,
		"CVE-2020-4037 /.//evil.com":            "/.//evil.com",
		"CVE-2020-4037 /%2e%2e//evil.com":       "/%2e%2e//evil.com",
		"CVE-2020-4037 /..%2f%2fevil.com":       "/..%2f%2fevil.com",
		"CVE-2020-5233 absolute https://evil":   "https://evil.com/",
		"CVE-2020-5233 scheme-relative http:ev": "http:evil.com",
		"CVE-2020-5233 no slash evil.com":       "evil.com",
		"CVE-2020-5233 javascript:":             "javascript:alert(1)",
	}
	seps := []string{"/", `\`, "%2f", "%2F", "%5c", "%5C", "%252f", "%255C", "%25252F", "\t", "%09", "%0a", "%0D", "%00", "\x00", "\x0b", "\x7f", " ", "%20"}
	for _, sep := range seps {
		out[fmt.Sprintf("CVE-2020-11053 variant /%q evil.com", sep)] = "/" + sep + "evil.com"
		out[fmt.Sprintf("CVE-2020-11053 variant /%q/evil.com", sep)] = "/" + sep + "/evil.com"
	}
	return out
}

// Open redirect after login (oauth2-proxy CVE-2020-5233, CVE-2020-11053, CVE-2020-4037):
// whatever path a login starts from, the browser returns to a path of this site: the
// payloads come back as "/", legitimate paths as they were.
func TestThreatOpenRedirectAfterLogin(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		check := func(name, path, want string) {
			t.Helper()
			id, _ := h.Request(wasmhost.BrowserGet(path))
			start := h.Reply(id)
			if start == nil || start.Status != 302 || !strings.HasPrefix(start.Header("location"), testIssuer+"/authorize") {
				t.Errorf("%s: want a login redirect, got %+v", name, start)
				return
			}
			st := openLoginState(t, m, stateValue(start))
			if st.ReturnTo != want {
				t.Errorf("%s: sealed return path %q, want %q", name, st.ReturnTo, want)
			}
			done := finishLogin(t, h, idp, start, "")
			if loc := done.Header("location"); loc != want || !staysOnSite(loc) {
				t.Errorf("%s: after login Location %q, want %q", name, loc, want)
			}
		}
		for name, p := range openRedirectPayloads() {
			check(name, p, "/")
		}
		for _, p := range []string{"/app/page?x=1", "/a/b%20c", "/search?q=https://evil.com", "/@evil.com"} {
			check("control "+p, p, p)
		}
	})
}

// Never redirect to anything read back from state unless it is bound to the browser by the
// AEAD: a state cookie under another key is refused, and even a genuinely sealed state whose
// return path is hostile (an older release, a bug) is checked again before use.
func TestThreatStateReturnPathBound(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		seal := func(s *oidc.Sealer, returnTo string) string {
			plain, _ := (&oidc.LoginState{State: "s-1", Nonce: "n-1", CodeVerifier: strings.Repeat("v", 43), ReturnTo: returnTo}).MarshalBinary()
			sealed, err := s.Seal(rand.Reader, testPurposeState, m.now().Add(5*time.Minute), plain)
			if err != nil {
				t.Fatal(err)
			}
			return sealed
		}
		for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com", "/%2F/evil.com"} {
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state=s-1", [2]string{"cookie", "__Host-oidc_session_state=" + seal(testSealer(t), evil)}))
			h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken("n-1", nil)))
			if r := h.Reply(id); r == nil || r.Status != 302 || r.Header("location") != "/" {
				t.Errorf("sealed return path %q: want 302 to /, got %+v", evil, r)
			}
		}
		other, _ := oidc.NewSealer([]byte(strings.Repeat("k", 32)))
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state=s-1", [2]string{"cookie", "__Host-oidc_session_state=" + seal(other, "/x")}))
		if r := h.Reply(id); r == nil || r.Status != 400 || h.HasPending(id) {
			t.Errorf("state sealed under another key: want 400 and no token call, got %+v", r)
		}
	})
}

// Open redirect at logout through rd (CVE-2020-5233 class, CVE-2021-21291): a path of this
// site, or a URL on allowed_redirect_hosts with label-boundary matching, exact port and,
// when the entry says so, exact scheme. Everything else lands on logout_redirect ("/").
func TestThreatLogoutRedirect(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(`"allowed_redirect_hosts":[".example.com","app.other.com:8443","https://strict.example.org"]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		allowed := map[string]string{
			"subdomain":                "https://app.example.com/x?y=1",
			"apex of .example.com":     "https://example.com/",
			"http default port":        "http://app.example.com/",
			"host case":                "https://APP.Example.COM/",
			"explicit port":            "https://app.other.com:8443/home",
			"scheme entry":             "https://strict.example.org/",
			"explicit default port":    "https://app.example.com:443/",
			"fragment dropped":         "https://app.example.com/#frag",
			"relative path":            "/bye",
			"relative path with query": "/bye?x=https://evil.com",
		}
		refused := map[string]string{
			"CVE-2021-21291 evilexample.com":                 "https://evilexample.com/",
			"CVE-2021-21291 example.com.evil.corp":           "https://example.com.evil.corp/",
			"CVE-2021-21291 app.example.com.evil.corp":       "https://app.example.com.evil.corp/",
			"CVE-2021-21291 port must match (8443)":          "https://app.example.com:8443/",
			"CVE-2021-21291 port must match (default)":       "https://app.other.com/",
			"CVE-2021-21291 port must match (other)":         "https://app.other.com:9443/",
			"CVE-2021-21291 scheme must match":               "http://strict.example.org/",
			"CVE-2021-21291 userinfo @":                      "https://app.example.com@evil.com/",
			"CVE-2021-21291 userinfo before allowed":         "https://evil.com@app.example.com/",
			"CVE-2021-21291 backslash @":                     `https://evil.com\@app.example.com/`,
			"CVE-2021-21291 encoded slash in host":           "https://app.example.com%2F@evil.com/",
			"CVE-2021-21291 fragment host":                   "https://evil.com#.example.com",
			"CVE-2021-21291 query host":                      "https://evil.com?.example.com",
			"CVE-2021-21291 trailing dot look-alike":         "https://example.com./",
			"CVE-2021-21291 ftp scheme":                      "ftp://app.example.com/",
			"CVE-2021-21291 javascript":                      "javascript://app.example.com/%0aalert(1)",
			"CVE-2021-21291 data":                            "data:text/html,<script>alert(1)</script>",
			"CVE-2021-21291 protocol relative allowed host":  "//app.example.com/",
			"CVE-2021-21291 tab in scheme":                   "ht\ttps://evil.com/",
			"CVE-2021-21291 leading space":                   " https://evil.com/",
			"CVE-2021-21291 unicode dot":                     "https://evil。com/",
			"CVE-2021-21291 IDN look-alike":                  "https://аpp.example.com.evil.com/",
			"CVE-2021-21291 IPv4":                            "https://127.0.0.1/",
			"CVE-2021-21291 empty host":                      "https:///evil.com",
			"CVE-2021-21291 three slashes":                   "https:/\\evil.com",
			"CVE-2021-21291 null byte":                       "https://app.example.com\x00.evil.com/",
			"CVE-2021-21291 over-long host label separators": "https://app..example.com/",
		}
		for name, p := range openRedirectPayloads() {
			refused[name] = p
		}
		logout := func(query string) *wasmhost.Reply {
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/logout?" + query))
			return h.Reply(id)
		}
		for name, rd := range allowed {
			want, _, _ := strings.Cut(rd, "#")
			if r := logout("rd=" + url.QueryEscape(rd)); r == nil || r.Status != 302 || r.Header("location") != want {
				t.Errorf("%s: rd=%q: want Location %q, got %+v", name, rd, want, r)
			}
		}
		for name, rd := range refused {
			if r := logout("rd=" + url.QueryEscape(rd)); r == nil || r.Status != 302 || r.Header("location") != "/" {
				t.Errorf("%s: rd=%q: want Location /, got %+v", name, rd, r)
			}
			// Sent unescaped or escaped twice, the value the plugin sees differs; wherever it
			// lands, it is this site or an allowed host.
			for _, q := range []string{rd, url.QueryEscape(url.QueryEscape(rd))} {
				if r := logout("rd=" + q); r == nil || r.Status != 302 || !logoutTargetAllowed(r.Header("location")) {
					t.Errorf("%s: rd=%q: Location %+v leaves the allowed hosts", name, q, r)
				}
			}
		}
		// Duplicated or smuggled rd parameters are ambiguous: the default wins.
		for _, q := range []string{"rd=/ok&rd=https://evil.com/", "rd=https://evil.com/&rd=/ok", "rd=/ok;rd=https://evil.com/", "RD=https://evil.com/", "rd%3Dhttps://evil.com/"} {
			if r := logout(q); r == nil || r.Header("location") != "/" {
				t.Errorf("CVE-2021-21291 %q: want Location /, got %+v", q, r)
			}
		}

		// With an end_session_endpoint the target travels as post_logout_redirect_uri: the
		// same checks, made absolute on this site.
		idp.endSession = testIssuer + "/logout"
		h = wasmhost.MustStart(t, vm, threatConfig(`"allowed_redirect_hosts":[".example.com"]`))
		idp.serveMetadata(h)
		for rd, want := range map[string]string{
			"//evil.com": "https://app.example.com/", "https://evilexample.com/": "https://app.example.com/",
			"/bye": "https://app.example.com/bye", "https://www.example.com/": "https://www.example.com/",
		} {
			r := logout("rd=" + url.QueryEscape(rd))
			if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), testIssuer+"/logout?") {
				t.Errorf("rd=%q: want the end_session_endpoint, got %+v", rd, r)
				continue
			}
			if got := wasmhost.Query(t, r.Header("location")).Get("post_logout_redirect_uri"); got != want {
				t.Errorf("rd=%q: post_logout_redirect_uri %q, want %q", rd, got, want)
			}
		}
	})
}

// logoutTargetAllowed is TestThreatLogoutRedirect's allow-list, checked independently of
// the plugin: a path of this site, or http(s) to a host of .example.com on the default
// port, app.other.com:8443, or https://strict.example.org.
func logoutTargetAllowed(loc string) bool {
	if strings.HasPrefix(loc, "/") {
		return staysOnSite(loc)
	}
	u, err := url.Parse(loc)
	if err != nil || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") || strings.ContainsAny(loc, "\\\t\r\n ") {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	defaultPort := port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80")
	switch {
	case (host == "example.com" || strings.HasSuffix(host, ".example.com")) && defaultPort:
		return true
	case host == "app.other.com" && port == "8443":
		return true
	case host == "strict.example.org" && u.Scheme == "https" && defaultPort:
		return true
	}
	return false
}
