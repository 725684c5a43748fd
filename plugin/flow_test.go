package plugin

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A browser without a session is sent to the IdP with a complete code-flow request and a
// sealed state cookie (behaviour 3).
func TestLoginRedirect(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)

		id, action := h.Request(wasmhost.BrowserGet("/app/page?x=1"))
		r := h.Reply(id)
		if action != types.ActionPause || r == nil || r.Status != 302 {
			t.Fatalf("want 302, got action %v reply %+v", action, r)
		}
		loc, err := url.Parse(r.Header("location"))
		if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != testIssuer+"/authorize" {
			t.Fatalf("location %q is not the authorization endpoint", r.Header("location"))
		}
		q := loc.Query()
		want := map[string]string{
			"response_type": "code", "client_id": testClientID, "redirect_uri": "https://app.example.com/oauth2/callback",
			"code_challenge_method": "S256", "tenant": "t1",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, q.Get(k), v)
			}
		}
		if scopes := strings.Fields(q.Get("scope")); len(scopes) != 3 || scopes[0] != "openid" {
			t.Errorf("scope = %q", q.Get("scope"))
		}
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if len(q.Get(k)) < 43 || len(q[k]) != 1 {
				t.Errorf("%s = %q: want one value of at least 256 bits", k, q[k])
			}
		}
		sc := stateSetCookie(r)
		for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"} {
			if !strings.Contains(sc, attr) {
				t.Errorf("state cookie %q lacks %s", sc, attr)
			}
		}
		if strings.Contains(sc, "Expires") || strings.Contains(sc, q.Get("state")) {
			t.Errorf("state cookie must be sealed and use Max-Age only: %q", sc)
		}
		if r.Header("cache-control") != "no-store" {
			t.Errorf("redirect must not be cached")
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.login_started"); n != 1 {
			t.Errorf("login_started = %d", n)
		}
	})
}

// API and XHR requests without a session get 401, never a redirect (behaviour 4).
func TestUnauthenticatedAPIGets401(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		cases := map[string][][2]string{
			"json accept": wasmhost.APIGet("/api/items"),
			"POST":        {{":method", "POST"}, {":path", "/form"}, {":authority", "app.example.com"}, {"accept", "text/html"}},
			"fetch":       wasmhost.BrowserGet("/x", [2]string{"sec-fetch-mode", "cors"}),
			"xhr":         wasmhost.BrowserGet("/x", [2]string{"x-requested-with", "XMLHttpRequest"}),
			"no accept":   {{":method", "GET"}, {":path", "/x"}, {":authority", "app.example.com"}},
		}
		for name, headers := range cases {
			id, action := h.Request(headers)
			r := h.Reply(id)
			if action != types.ActionPause || r == nil || r.Status != 401 || !strings.HasPrefix(r.Header("www-authenticate"), "Bearer") {
				t.Errorf("%s: want 401 with WWW-Authenticate: Bearer, got %+v", name, r)
			}
		}
	})
}

// The whole login: callback, token exchange with PKCE and Basic auth, ID token verified,
// session cookie, then a request with identity headers (behaviours 5 and 6).
func TestCallbackAndSession(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)

		id, _ := h.Request(wasmhost.BrowserGet("/app/page?x=1"))
		start := h.Reply(id)
		q := wasmhost.Query(t, start.Header("location"))
		state := stateCookie(start)

		cbID, action := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
			[2]string{"cookie", "other=1; " + state}))
		if action != types.ActionPause {
			t.Fatalf("callback must wait for the token endpoint, got %v", action)
		}
		tok := h.OnePending(cbID)
		if tok.URL() != testIssuer+"/token" || tok.Headers[":method"] != "POST" || tok.Cluster != "outbound|443||idp.example.com" {
			t.Fatalf("token callout: %+v", tok)
		}
		form, err := url.ParseQuery(tok.Body)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
			t.Errorf("code_verifier does not match the challenge")
		}
		if form.Get("grant_type") != "authorization_code" || form.Get("code") != "c0de" || form.Get("redirect_uri") != "https://app.example.com/oauth2/callback" {
			t.Errorf("token form: %v", form)
		}
		wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+url.QueryEscape(testSecret)))
		if tok.Headers["authorization"] != wantAuth {
			t.Errorf("authorization = %q, want %q", tok.Headers["authorization"], wantAuth)
		}
		h.Answer(tok, 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		done := h.Reply(cbID)
		if done == nil || done.Status != 302 || done.Header("location") != "/app/page?x=1" {
			t.Fatalf("want 302 back to /app/page?x=1, got %+v", done)
		}
		cookies := done.SetCookies()
		if cleared := clearedStateCookies(done); len(cleared) != 1 {
			t.Errorf("the login's state cookie must be cleared, got %q", cleared)
		}
		sess := cookies["__Host-oidc_session"]
		for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="} {
			if !strings.Contains(sess, attr) {
				t.Errorf("session cookie %q lacks %s", sess, attr)
			}
		}
		if maxAge := sess[strings.Index(sess, "Max-Age=")+8:]; strings.HasPrefix(maxAge, "0") || strings.HasPrefix(maxAge, "-") {
			t.Errorf("session Max-Age %q", maxAge)
		}

		// A later request with the session: identity headers set, spoofed ones gone, the
		// plugin's cookies removed from what the upstream sees.
		appID, action := h.Request(wasmhost.BrowserGet("/app/data",
			[2]string{"cookie", "theme=dark; __Host-oidc_session=" + wasmhost.CookieValue(sess)},
			[2]string{"X_Auth_Request_Email", "mallory@evil.com"},
			[2]string{"x-auth-request-user", "admin"},
		))
		if action != types.ActionContinue || h.Reply(appID) != nil {
			t.Fatalf("valid session must continue, got %v %+v", action, h.Reply(appID))
		}
		up := h.Upstream(appID)
		if got := up["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("x-auth-request-email = %q", got)
		}
		if got := up["x-auth-request-user"]; len(got) != 1 || got[0] != "user-1" {
			t.Errorf("x-auth-request-user = %q", got)
		}
		if _, ok := up["x_auth_request_email"]; ok {
			t.Errorf("spoofed X_Auth_Request_Email reached upstream")
		}
		if got := up["cookie"]; len(got) != 1 || got[0] != "theme=dark" {
			t.Errorf("upstream cookie = %q, want only theme=dark", got)
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.login_succeeded"); n != 1 {
			t.Errorf("login_succeeded = %d", n)
		}
	})
}

// Every managed header is removed whatever happens next: on skip paths, on 401s, and when
// the user has no value for it (behaviours 1 and 2).
func TestManagedHeadersAlwaysStripped(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"claims_to_headers":{"kubeflow-userid":{"claim":"email","prefix":"oidc:"},"x-groups":"groups","x-team":"team",`+
			`"x-user":{"claim":"email","transform":[{"match":"^([^@]+)@example\\.com$","replace":"$1"},{"match":"nomatch","replace":"x"}]},`+
			`"x-groups-semi":{"claim":"groups","separator":";"}},"id_token_header":"x-id-token"`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		spoof := [][2]string{{"kubeflow_userid", "admin"}, {"Kubeflow-Userid", "admin"}, {"X-GROUPS", "admins"}, {"x_team", "root"}, {"X_ID_Token", "forged"}}

		id, action := h.Request(append(wasmhost.APIGet("/public/logo.png"), spoof...))
		if action != types.ActionContinue {
			t.Fatalf("skip path must continue, got %v", action)
		}
		for name := range h.Upstream(id) {
			if canonicalHeader(name) == "kubeflow-userid" || canonicalHeader(name) == "x-groups" || canonicalHeader(name) == "x-team" {
				t.Errorf("skip path: spoofed %s reached upstream", name)
			}
		}

		session := idp.login(h, "/")
		id, action = h.Request(append(wasmhost.APIGet("/api", [2]string{"cookie", session}), spoof...))
		if action != types.ActionContinue {
			t.Fatalf("session must continue, got %v", action)
		}
		up := h.Upstream(id)
		if got := up["kubeflow-userid"]; len(got) != 1 || got[0] != "oidc:alice@example.com" {
			t.Errorf("kubeflow-userid = %q", got)
		}
		if got := up["x-groups"]; len(got) != 1 || got[0] != "dev,ops" {
			t.Errorf("x-groups = %q, want dev,ops", got)
		}
		if got := up["x-groups-semi"]; len(got) != 1 || got[0] != "dev;ops" {
			t.Errorf("x-groups-semi = %q, want dev;ops", got)
		}
		if got := up["x-user"]; len(got) != 1 || got[0] != "alice" {
			t.Errorf("x-user = %q, want the transformed alice", got)
		}
		if got := up["x-id-token"]; len(got) != 1 || strings.Count(got[0], ".") != 2 || up["x_id_token"] != nil {
			t.Errorf("x-id-token = %q (spoofed x_id_token %q), want only the session's ID token", got, up["x_id_token"])
		}
		for name, v := range up {
			if canonicalHeader(name) == "x-team" || name == "kubeflow_userid" || name == "x_team" {
				t.Errorf("%s: %q reached upstream; a header without a claim must be absent", name, v)
			}
		}
	})
}

// Skip paths match the path only, never the query, with whole-segment prefixes.
func TestSkipPathsMatchPathOnly(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		cases := []struct {
			path string
			skip bool
		}{
			{"/public", true}, {"/public/a.css", true}, {"/healthz", true}, {"/healthz?verbose=1", true},
			{"/publicity", false}, {"/private?x=/public", false}, {"/healthz/x", false},
			{"/admin%23/public", false}, {"/admin#/public", false}, {"/PUBLIC", false},
		}
		for _, c := range cases {
			id, action := h.Request(wasmhost.APIGet(c.path))
			if skipped := action == types.ActionContinue && h.Reply(id) == nil; skipped != c.skip {
				t.Errorf("%s: skipped=%v, want %v", c.path, skipped, c.skip)
			}
		}
	})
}

// A tampered, foreign or garbage session cookie is no session: browsers go to login (and
// the bad cookie is cleared so it cannot cause a loop), API clients get 401.
func TestInvalidSessionCookies(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		good := wasmhost.CookieValue(idp.login(h, "/"))
		flipped := []byte(good)
		flipped[len(flipped)/2] ^= 1
		bad := []string{string(flipped), good[:len(good)-4], "", "x", strings.Repeat("A", 5000), good + good}
		for i, v := range bad {
			id, _ := h.Request(wasmhost.BrowserGet("/", [2]string{"cookie", "__Host-oidc_session=" + v}))
			r := h.Reply(id)
			if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), testIssuer) {
				t.Errorf("case %d: want login redirect, got %+v", i, r)
				continue
			}
			if v != "" && !strings.Contains(r.SetCookies()["__Host-oidc_session"], "Max-Age=0") {
				t.Errorf("case %d: stale session cookie not cleared", i)
			}
			id, _ = h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + v}))
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("case %d: API want 401, got %+v", i, r)
			}
		}
		// A tampered copy next to the session (cookie tossing) is ignored, in either order: the
		// value that opens is the session, so nothing loops.
		for _, pair := range [][2]string{{good, string(flipped)}, {string(flipped), good}} {
			id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + pair[0]}, [2]string{"cookie", "__Host-oidc_session=" + pair[1]}))
			if action != types.ActionContinue {
				t.Errorf("a session next to a tampered copy: want it to pass, got %+v", h.Reply(id))
			}
		}
		// A state cookie is not a session, even though the same key sealed it.
		id, _ := h.Request(wasmhost.BrowserGet("/"))
		state := stateValue(h.Reply(id))
		id, _ = h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + state}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("state cookie replayed as session: want 401, got %+v", r)
		}
	})
}
