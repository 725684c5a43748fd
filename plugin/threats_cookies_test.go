package plugin

// Cookie tossing (second security review, item 4): a sibling subdomain can set a cookie for
// the whole domain, and an app behind the gateway can set any cookie for its host. Neither
// may plant a session or a login state, and neither may make the browser loop through logins.
// SECURITY.md, G11.

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// sealLegacySession seals a session as releases before __Host- names did.
func sealLegacySession(t *testing.T, sess *oidc.Session, until time.Time) string {
	t.Helper()
	plain, err := sess.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := testSealer(t).Seal(rand.Reader, testPurposeLegacySession, until, plain)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// identityOf is the user a request reached the upstream as ("" when it did not).
func identityOf(h *wasmhost.Host, id uint32, action types.Action) string {
	if action != types.ActionContinue {
		return ""
	}
	if up := h.Upstream(id)["x-auth-request-user"]; len(up) == 1 {
		return up[0]
	}
	return ""
}

func TestThreatCookieTossing(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		now := m.now()
		session := func(sub string, issued time.Time) string {
			return sealTestSession(t, &oidc.Session{Claims: testClaims(sub), IssuedAt: issued, TokenExpiry: now.Add(time.Hour)}, now.Add(time.Hour))
		}
		victim, attacker := session("victim", now), session("mallory", now.Add(-time.Hour))
		junk := strings.Repeat("A", 100)

		// Default names carry __Host-: Secure, Path=/, no Domain, so no sibling can set them.
		id, _ := h.Request(wasmhost.BrowserGet("/"))
		sc := stateSetCookie(h.Reply(id))
		if !strings.Contains(sc, "; Secure") || !strings.Contains(sc, "Path=/;") || strings.Contains(sc, "Domain") {
			t.Errorf("state cookie %q: want a valid __Host- cookie", sc)
		}

		// A planted value next to the browser's own, in any order and layout, never costs
		// the session; a planted session of the attacker never beats the user's newer login.
		for name, cookies := range map[string][]string{
			"junk before":                     {"__Host-oidc_session=" + junk, "__Host-oidc_session=" + victim},
			"junk after":                      {"__Host-oidc_session=" + victim, "__Host-oidc_session=" + junk},
			"junk chunks next to a single":    {"__Host-oidc_session_0=" + strings.Repeat("A", oidc.MaxCookieValue), "__Host-oidc_session_1=x", "__Host-oidc_session=" + victim},
			"attacker's older session before": {"__Host-oidc_session=" + attacker, "__Host-oidc_session=" + victim},
			"attacker's older session after":  {"__Host-oidc_session=" + victim, "__Host-oidc_session=" + attacker},
			"attacker's session as legacy":    {"_oidc_session=" + attacker, "__Host-oidc_session=" + victim},
		} {
			id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", strings.Join(cookies, "; ")}))
			if got := identityOf(h, id, action); got != "victim" {
				t.Errorf("%s: reached the upstream as %q (%+v), want the victim's own session", name, got, h.Reply(id))
			}
		}

		// A value is bound to the cookie name it was sealed for: a current session planted
		// under the legacy name (which a sibling can set) does not open, and neither does a
		// legacy one under the new name.
		for name, cookie := range map[string]string{
			"current session as legacy": "_oidc_session=" + victim,
			"legacy session as current": "__Host-oidc_session=" + sealLegacySession(t, &oidc.Session{Claims: testClaims("victim"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}, now.Add(time.Hour)),
		} {
			id, _ := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", cookie}))
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("%s: want 401, got %+v", name, r)
			}
		}

		// A session of the previous release (legacy name and purpose) still opens, and is moved
		// to the new name on the response: nobody is logged out by the upgrade.
		legacy := sealLegacySession(t, &oidc.Session{Claims: testClaims("victim"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}, now.Add(time.Hour))
		id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", "_oidc_session=" + legacy}))
		if got := identityOf(h, id, action); got != "victim" {
			t.Fatalf("a legacy session must still open, got %q %+v", got, h.Reply(id))
		}
		h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		moved := map[string]string{}
		for _, kv := range h.GetCurrentResponseHeaders(id) {
			if kv[0] == "set-cookie" {
				name, _, _ := strings.Cut(kv[1], "=")
				moved[name] = kv[1]
			}
		}
		if !strings.Contains(moved["_oidc_session"], "Max-Age=0") || wasmhost.CookieValue(moved["__Host-oidc_session"]) == "" {
			t.Fatalf("a legacy session must move to the new name: %v", moved)
		}
		id, action = h.Request(wasmhost.APIGet("/app", [2]string{"cookie", "__Host-oidc_session=" + wasmhost.CookieValue(moved["__Host-oidc_session"])}))
		if got := identityOf(h, id, action); got != "victim" {
			t.Errorf("the moved session must open, got %q", got)
		}

		// A planted state cookie next to the browser's own does not break the login, and a
		// planted cookie the login cannot clear does not send it round again.
		id, _ = h.Request(wasmhost.BrowserGet("/page", [2]string{"cookie", "__Host-oidc_session=" + junk}))
		start := h.Reply(id)
		q := wasmhost.Query(t, start.Header("location"))
		state := stateCookie(start)
		stateName, _, _ := strings.Cut(state, "=")
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
			[2]string{"cookie", stateName + "=" + junk + "; " + state + "; __Host-oidc_session=" + junk}))
		h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		done := h.Reply(id)
		if done == nil || done.Status != 302 {
			t.Fatalf("a login next to a planted state cookie must complete, got %+v", done)
		}
		fresh := wasmhost.CookieValue(done.SetCookies()["__Host-oidc_session"])
		id, action = h.Request(wasmhost.BrowserGet("/page", [2]string{"cookie", "__Host-oidc_session=" + junk + "; __Host-oidc_session=" + fresh}))
		if got := identityOf(h, id, action); got != "user-1" {
			t.Errorf("after the login, the planted cookie must not send the browser to the IdP again: %+v", h.Reply(id))
		}
	})
}

// An app behind the gateway cannot set the plugin's cookies: its Set-Cookie headers for any
// name the plugin owns (session, chunks, state, current and legacy names, every provider, any
// case) are dropped from the response, counted, and the other cookies kept in order; the
// plugin's own renewal still arrives.
func TestThreatUpstreamSetsPluginCookie(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"session_idle_timeout":600`))
		newFakeIdP(t, m).serveMetadata(h)
		now := m.now()
		sess := sealTestSession(t, &oidc.Session{Claims: testClaims("u"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}, now.Add(100*time.Second))
		for _, withSession := range []bool{true, false} {
			var id uint32
			if withSession {
				id, _ = h.Request(wasmhost.APIGet("/app", [2]string{"cookie", "__Host-oidc_session=" + sess}))
			} else {
				id, _ = h.Request(wasmhost.APIGet("/public/x"))
			}
			planted := []string{
				"__Host-oidc_session=evil; Path=/; Secure", "_oidc_session=evil; Domain=example.com",
				"__HOST-OIDC_SESSION_0=x", "__Host-oidc_session_state=x", " _oidc_session =x", "_oidc_session_1",
				"_oidc_session_STATE=x",
			}
			kept := []string{"theme=dark; Path=/", "_oidc_session_1x=other-app", "my_oidc_session=other-app"}
			response := [][2]string{{":status", "200"}}
			for i := range planted {
				response = append(response, [2]string{"set-cookie", planted[i]})
				if i < len(kept) {
					response = append(response, [2]string{"set-cookie", kept[i]})
				}
			}
			h.CallOnResponseHeaders(id, response, false)
			var got []string
			renewal := ""
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				switch {
				case kv[0] != "set-cookie":
				case strings.HasPrefix(kv[1], "__Host-oidc_session=") && !strings.Contains(kv[1], "evil"):
					renewal = kv[1] // the plugin's own
				default:
					got = append(got, kv[1])
				}
			}
			if strings.Join(got, "|") != strings.Join(kept, "|") {
				t.Errorf("session=%v: Set-Cookie after the plugin %q, want %q", withSession, got, kept)
			}
			if withSession != (renewal != "") {
				t.Errorf("session=%v: the plugin's own renewal %q", withSession, renewal)
			}
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.upstream_cookie_dropped"); n != 14 {
			t.Errorf("upstream_cookie_dropped = %d, want 14", n)
		}
	})
}

// A renewed or refreshed session's Set-Cookie rides on an upstream response; a shared cache
// (CDN, corporate proxy) must never store that response and hand one user's session to
// another (second security review, item 6). The response becomes private, no-store, without
// CDN-targeted overrides; responses without the plugin's cookies keep what the app said.
func TestThreatSharedCacheNeverStoresSession(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"session_idle_timeout":600`))
		newFakeIdP(t, m).serveMetadata(h)
		now := m.now()
		sess := &oidc.Session{Claims: testClaims("u"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}
		appSays := [][2]string{{":status", "200"}, {"Cache-Control", "public, max-age=3600, s-maxage=3600"},
			{"cdn-cache-control", "max-age=600"}, {"Surrogate-Control", "max-age=60"}, {"content-type", "text/html"}}
		for _, c := range []struct {
			name    string
			until   time.Duration // sealed expiry of the cookie sent: near the idle end renews
			renewed bool
		}{{"renewed", 100 * time.Second, true}, {"not renewed", 590 * time.Second, false}} {
			id, _ := h.Request(wasmhost.APIGet("/page", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, sess, now.Add(c.until))}))
			h.CallOnResponseHeaders(id, appSays, false)
			got := map[string][]string{}
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				got[strings.ToLower(kv[0])] = append(got[strings.ToLower(kv[0])], kv[1])
			}
			if (got["set-cookie"] != nil) != c.renewed {
				t.Fatalf("%s: Set-Cookie %q", c.name, got["set-cookie"])
			}
			if c.renewed && (strings.Join(got["cache-control"], "|") != "private, no-store" || got["cdn-cache-control"] != nil || got["surrogate-control"] != nil) {
				t.Errorf("%s: a response with a session cookie must not be cacheable by shared caches: %v", c.name, got)
			}
			if !c.renewed && (strings.Join(got["cache-control"], "|") != "public, max-age=3600, s-maxage=3600" || got["cdn-cache-control"] == nil) {
				t.Errorf("%s: the app's caching must stay as it said: %v", c.name, got)
			}
			if got["content-type"] == nil || got[":status"] == nil {
				t.Errorf("%s: other headers lost: %v", c.name, got)
			}
		}
	})
}

// A logout another site triggers (second security review, item 6) ends the session here
// only: cookies cleared, the browser sent to the local page, never to the IdP's
// end_session_endpoint with the user's id_token_hint, which would end the IdP session and
// with it every other application's. The user's own logout still reaches the IdP.
func TestThreatCrossSiteLogoutIsLocal(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.endSession = testIssuer + "/logout"
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		for site, atIdP := range map[string]bool{"cross-site": false, "same-site": false, "same-origin": true, "none": true, "": true} {
			headers := wasmhost.BrowserGet("/oauth2/logout?rd=/bye", [2]string{"cookie", session})
			if site != "" {
				headers = append(headers, [2]string{"sec-fetch-site", site})
			}
			id, _ := h.Request(headers)
			r := h.Reply(id)
			if r == nil || r.Status != 302 || !strings.Contains(r.SetCookies()["__Host-oidc_session"], "Max-Age=0") {
				t.Fatalf("Sec-Fetch-Site %q: want the session cleared and a redirect, got %+v", site, r)
			}
			loc := r.Header("location")
			if got := strings.HasPrefix(loc, testIssuer+"/logout"); got != atIdP {
				t.Errorf("Sec-Fetch-Site %q: went to the IdP=%v, want %v (%s)", site, got, atIdP, loc)
			}
			if !atIdP && loc != "/bye" {
				t.Errorf("Sec-Fetch-Site %q: local logout to %q, want /bye", site, loc)
			}
		}
	})
}
