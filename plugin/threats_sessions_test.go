package plugin

// Sessions and logins: a sealed cookie that was changed, sealed for another purpose or key,
// or has expired does not open, and every failure looks the same (Envoy CVE-2026-47775,
// CVE-2023-35941); state is single-use and stale cookies never loop (Envoy #38919, #39210;
// oauth2-proxy #2606); every login issues a fresh session; cookies carry safe attributes;
// randomness comes from crypto/rand. SECURITY.md, G5, G6 and "Tokens, sessions, crypto";
// planted cookies are in threats_cookies_test.go.

import (
	"crypto/rand"
	"fmt"
	"go/parser"
	"go/token"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Sealed cookies (Envoy CVE-2026-47775, CVE-2023-35941): a session cookie tampered at any
// position class, truncated, extended, re-encoded, sealed for another purpose or under
// another key, or expired, fails, and every failure looks the same to the client.
func TestThreatSealedCookieTampering(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		good := wasmhost.CookieValue(idp.login(h, "/"))
		flip := func(i int) string {
			b := []byte(good)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		// base64url of 1 version byte, 24 nonce bytes, then the ciphertext (8-byte expiry,
		// payload) and the 16-byte tag.
		bad := map[string]string{
			"CVE-2026-47775 version byte":           flip(0),
			"CVE-2026-47775 nonce start":            flip(2),
			"CVE-2026-47775 nonce end":              flip(32),
			"CVE-2023-35941 sealed expiry":          flip(36),
			"CVE-2026-47775 payload":                flip(len(good) / 2),
			"CVE-2026-47775 tag":                    flip(len(good) - 3),
			"CVE-2026-47775 last char":              flip(len(good) - 1),
			"CVE-2026-47775 truncated by one":       good[:len(good)-1],
			"CVE-2026-47775 truncated to the nonce": good[:34],
			"CVE-2026-47775 extended":               good + "A",
			"CVE-2026-47775 padded":                 good + "==",
			"CVE-2026-47775 standard base64":        strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
			"CVE-2026-47775 quoted":                 `"` + good + `"`,
			"CVE-2026-47775 percent-encoded":        "%" + fmt.Sprintf("%02X", good[0]) + good[1:],
			"CVE-2026-47775 case swapped":           swapCase(good, 10),
			"CVE-2026-47775 doubled":                good + good,
			"CVE-2026-47775 empty":                  "",
			"CVE-2026-47775 huge":                   strings.Repeat("A", 70000),
			"CVE-2023-35941 expired":                sealTestSession(t, &oidc.Session{Claims: testClaims("alice"), IssuedAt: m.now(), TokenExpiry: m.now().Add(time.Hour)}, m.now().Add(-time.Second)),
		}
		stateID, _ := h.Request(wasmhost.BrowserGet("/"))
		bad["CVE-2023-35941 purpose swap: state cookie as session"] = wasmhost.CookieValue(h.Reply(stateID).SetCookies()["__Host-oidc_session_state"])
		otherKey, _ := oidc.NewSealer([]byte(strings.Repeat("k", 32)))
		plain, _ := (&oidc.Session{Claims: testClaims("alice"), IssuedAt: m.now(), TokenExpiry: m.now().Add(time.Hour)}).MarshalBinary()
		bad["CVE-2026-47775 other key"], _ = otherKey.Seal(rand.Reader, testPurposeSession, m.now().Add(time.Hour), plain)

		var first *wasmhost.Reply
		for name, v := range bad {
			id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + v}))
			r := h.Reply(id)
			if action == types.ActionContinue || r == nil || r.Status != 401 {
				t.Errorf("%s: want 401, got %+v", name, r)
				continue
			}
			if first == nil {
				first = r
			} else if fmt.Sprint(r) != fmt.Sprint(first) {
				t.Errorf("%s: failure differs from the others (an oracle): %+v vs %+v", name, r, first)
			}
			id, _ = h.Request(wasmhost.BrowserGet("/page", [2]string{"cookie", "__Host-oidc_session=" + v}))
			// (A value beyond what ParseCookies reads is not seen, so not cleared either.)
			if r := h.Reply(id); r == nil || r.Status != 302 || (v != "" && len(v) < 60000 && !strings.Contains(r.SetCookies()["__Host-oidc_session"], "Max-Age=0")) {
				t.Errorf("%s: browser: want a login redirect clearing the cookie, got %+v", name, r)
			}
		}

		// The reverse purpose swap: a session cookie as the login state.
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state=x", [2]string{"cookie", "__Host-oidc_session_state=" + good}))
		if r := h.Reply(id); r == nil || r.Status != 400 || h.HasPending(id) {
			t.Errorf("CVE-2023-35941 session cookie as state: want 400, got %+v", r)
		}
	})
}

// swapCase swaps the case of the letters among the first n bytes of s. (Upper-casing them
// instead left a sealed value unchanged about once in a hundred runs, when its random start
// held no lower-case letter; a sealed value starts with the letter of its version byte.)
func swapCase(s string, n int) string {
	b := []byte(s)
	for i := 0; i < n && i < len(b); i++ {
		if c := b[i] | 0x20; 'a' <= c && c <= 'z' {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

// State (Envoy #38919, #39210; oauth2-proxy #2606): missing, wrong, ambiguous or replayed
// state is refused and the state cookie cleared; a replayed callback whose state cookie the
// attacker kept reaches the IdP only to have the single-use code refused.
func TestThreatStateReplay(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		q, state := startLogin(t, h)
		stateName, stateValue, _ := strings.Cut(state, "=")
		cb := "/oauth2/callback?code=c0de&state=" + url.QueryEscape(q.Get("state"))
		id, _ := h.Request(wasmhost.BrowserGet(cb, [2]string{"cookie", state}))
		h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		done := h.Reply(id)
		if done == nil || done.Status != 302 || !strings.Contains(done.SetCookies()[stateName], "Max-Age=0") {
			t.Fatalf("login: want 302 clearing the state cookie, got %+v", done)
		}
		expect := func(name string, id uint32) {
			t.Helper()
			r := h.Reply(id)
			// A callback naming one state clears that login's cookie; one naming none or
			// several cannot say which login it is, and leaves other tabs' logins alone.
			named := strings.Count(name, "state parameter") == 0 || strings.Contains(name, "different case") || strings.Contains(name, "prefix")
			if r == nil || r.Status != 400 || r.Header("location") != "" || named && len(clearedStateCookies(r)) == 0 {
				t.Errorf("%s: want 400 clearing the state cookie, got %+v", name, r)
			}
			if _, ok := r.SetCookies()["__Host-oidc_session"]; ok {
				t.Errorf("%s: a failed callback must not set a session", name)
			}
		}
		// The browser no longer has the state cookie: replay is refused without a call.
		id, _ = h.Request(wasmhost.BrowserGet(cb))
		if h.HasPending(id) {
			t.Errorf("replay without the state cookie must not reach the IdP")
		}
		expect("Envoy #38919 replay after the cookie was cleared", id)
		// An attacker who kept the cookie: the code is single-use at the IdP.
		id, _ = h.Request(wasmhost.BrowserGet(cb, [2]string{"cookie", state}))
		h.Answer(h.OnePending(id), 400, `{"error":"invalid_grant","error_description":"code already used"}`)
		expect("Envoy #38919 replay with a kept state cookie", id)
		for name, headers := range map[string][][2]string{
			"Envoy #39210 missing state parameter":       wasmhost.BrowserGet("/oauth2/callback?code=c", [2]string{"cookie", state}),
			"Envoy #39210 empty state parameter":         wasmhost.BrowserGet("/oauth2/callback?code=c&state=", [2]string{"cookie", state}),
			"Envoy #39210 repeated state parameter":      wasmhost.BrowserGet(cb+"&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", state}),
			"Envoy #39210 state with a different case":   wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(strings.ToUpper(q.Get("state"))), [2]string{"cookie", state}),
			"Envoy #39210 state prefix":                  wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")[:20]), [2]string{"cookie", state}),
			"Envoy #39210 only a planted state cookie":   wasmhost.BrowserGet(cb, [2]string{"cookie", stateName + "=x" + stateValue}),
			"oauth2-proxy #2606 state cookie in a chunk": wasmhost.BrowserGet(cb, [2]string{"cookie", "__Host-oidc_session_0=" + stateValue}),
		} {
			id, _ := h.Request(headers)
			if h.HasPending(id) {
				t.Errorf("%s: must not reach the IdP", name)
			}
			expect(name, id)
		}
	})
}

// Stale cookies never loop (Envoy #38919, #39210; oauth2-proxy #2606): a browser with a
// stale session (and stale chunks) and a stale state cookie gets one login redirect that
// clears them, the login completes, and the next request passes without another redirect.
func TestThreatNoRedirectLoopWithStaleCookies(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		other, _ := oidc.NewSealer([]byte(strings.Repeat("o", 32)))
		stale, _ := other.Seal(rand.Reader, testPurposeState, m.now().Add(time.Minute), []byte("x"))
		expired := sealTestSession(t, &oidc.Session{Claims: testClaims("alice"), IssuedAt: m.now(), TokenExpiry: m.now().Add(time.Hour)}, m.now().Add(-time.Minute))
		jar := "__Host-oidc_session=" + expired + "; __Host-oidc_session_0=" + strings.Repeat("a", 10) + "; __Host-oidc_session_1=b; __Host-oidc_session_state=" + stale + "; theme=dark"
		id, _ := h.Request(wasmhost.BrowserGet("/app", [2]string{"cookie", jar}))
		start := h.Reply(id)
		if start == nil || start.Status != 302 || !strings.HasPrefix(start.Header("location"), testIssuer) {
			t.Fatalf("want one login redirect, got %+v", start)
		}
		sc := start.SetCookies()
		for _, name := range []string{"__Host-oidc_session", "__Host-oidc_session_0", "__Host-oidc_session_1"} {
			if !strings.Contains(sc[name], "Max-Age=0") {
				t.Errorf("stale %s not cleared: %q", name, sc[name])
			}
		}
		if !strings.Contains(sc["__Host-oidc_session_state"], "Max-Age=0") || stateValue(start) == "" {
			t.Fatalf("the stale state cookie must be cleared and a new one set: %v", sc)
		}
		done := finishLogin(t, h, idp, start, "theme=dark")
		if done.Header("location") != "/app" {
			t.Errorf("after login: Location %q, want /app", done.Header("location"))
		}
		session := "__Host-oidc_session=" + wasmhost.CookieValue(done.SetCookies()["__Host-oidc_session"])
		id, action := h.Request(wasmhost.BrowserGet("/app", [2]string{"cookie", session + "; theme=dark"}))
		if action != types.ActionContinue || h.Reply(id) != nil {
			t.Fatalf("the request after the login must pass, got %+v", h.Reply(id))
		}
		// A failed callback never redirects, so a bad state cannot loop either.
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state=s", [2]string{"cookie", jar}))
		if r := h.Reply(id); r == nil || r.Header("location") != "" {
			t.Errorf("failed callback must not redirect, got %+v", r)
		}
	})
}

// Session fixation: the callback always issues a new session cookie; a session the browser
// brought (an attacker's, planted by cookie tossing) is never kept, and the new one carries
// the identity the IdP just asserted.
func TestThreatSessionFixation(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		idp.claims["email"], idp.claims["sub"] = "mallory@example.com", "mallory"
		planted := wasmhost.CookieValue(idp.login(h, "/"))
		idp.claims["email"], idp.claims["sub"] = "alice@example.com", "user-1"

		id, _ := h.Request(wasmhost.BrowserGet("/start"))
		start := h.Reply(id)
		done := finishLogin(t, h, idp, start, "__Host-oidc_session="+planted+"; __Host-oidc_session_0="+planted[:10]+"; __Host-oidc_session_1=x")
		fresh := wasmhost.CookieValue(done.SetCookies()["__Host-oidc_session"])
		if fresh == "" || fresh == planted {
			t.Fatalf("the callback must issue a new session value, got %q", fresh)
		}
		for _, name := range []string{"__Host-oidc_session_0", "__Host-oidc_session_1"} {
			if !strings.Contains(done.SetCookies()[name], "Max-Age=0") {
				t.Errorf("planted %s not cleared", name)
			}
		}
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + fresh}))
		if action != types.ActionContinue {
			t.Fatalf("the new session must pass, got %+v", h.Reply(id))
		}
		if got := h.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("new session identity %q, want alice", got)
		}
	})
}

// Cookies: HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age, never Expires, and each
// Set-Cookie its own header, on every response that sets one.
func TestThreatCookieAttributes(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		stale := "__Host-oidc_session=x; __Host-oidc_session_0=y; __Host-oidc_session_1=z"
		id, _ := h.Request(wasmhost.BrowserGet("/", [2]string{"cookie", stale}))
		start := h.Reply(id)
		done := finishLogin(t, h, idp, start, stale)
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", stale + "; __Host-oidc_session_state=s"}))
		logout := h.Reply(id)
		for _, r := range []*wasmhost.Reply{start, done, logout} {
			n := 0
			for _, kv := range r.Headers {
				if kv[0] != "set-cookie" {
					continue
				}
				n++
				for _, attr := range []string{"; HttpOnly", "; Secure", "; SameSite=Lax", "; Path=/", "; Max-Age="} {
					if !strings.Contains(kv[1], attr) {
						t.Errorf("Set-Cookie %q lacks %s", kv[1], attr)
					}
				}
				if strings.Contains(kv[1], "Expires") || strings.Count(kv[1], "=") != 4 || strings.Contains(kv[1], ",") {
					t.Errorf("Set-Cookie %q: one cookie per header, Max-Age only", kv[1])
				}
			}
			if n < 2 {
				t.Errorf("want several Set-Cookie headers, got %d in %+v", n, r.Headers)
			}
		}
	})
}

// Randomness comes from crypto/rand only: no shipped file of plugin/ or oidc/ imports
// math/rand.
func TestThreatRandomnessFromCryptoRand(t *testing.T) {
	for _, dir := range []string{".", "../oidc"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "math/rand") {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}
