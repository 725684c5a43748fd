package plugin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// sealTestSession seals a session the way the plugin does, with the test cookie key.
func sealTestSession(t *testing.T, sess *oidc.Session, until time.Time) string {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(testCookieKey)
	sealer, err := oidc.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sess.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal(rand.Reader, testPurposeSession, until, plain)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func testClaims(sub string) []byte {
	b, _ := json.Marshal(map[string]any{"sub": sub, "email": sub + "@example.com", "email_verified": true})
	return b
}

// loginWith runs a login whose token endpoint answers with answer (built from the nonce).
func loginWith(t *testing.T, h *wasmhost.Host, answer func(nonce string) string) (*wasmhost.Reply, string) {
	t.Helper()
	q, state := startLogin(t, h)
	id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state}))
	h.Answer(h.OnePending(id), 200, answer(q.Get("nonce")))
	r := h.Reply(id)
	if r == nil || r.Status != 302 {
		t.Fatalf("login: want 302, got %+v", r)
	}
	return r, "__Host-oidc_session=" + wasmhost.CookieValue(r.SetCookies()["__Host-oidc_session"])
}

// loginDueForRefresh logs in with a refresh token and an ID token that expired 30 s ago:
// inside the verifier's leeway, so the login succeeds and the very next request is due for a
// refresh.
func loginDueForRefresh(t *testing.T, h *wasmhost.Host, idp *fakeIdP, m mode, refreshToken string) string {
	t.Helper()
	_, session := loginWith(t, h, func(nonce string) string {
		b, _ := json.Marshal(map[string]any{"access_token": "at-1", "token_type": "Bearer", "refresh_token": refreshToken,
			"id_token": idp.idToken(nonce, map[string]any{"exp": m.now().Add(-30 * time.Second).Unix()})})
		return string(b)
	})
	return session
}

// A session whose tokens have expired is refreshed once, before the request is served, and
// the renewed session is set on the response (issue 3, refresh).
func TestRefreshRenewsSessionOnce(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := loginDueForRefresh(t, h, idp, m, "rt-1")

		first, a1 := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
		second, a2 := h.Request(wasmhost.BrowserGet("/page", [2]string{"cookie", session}))
		if a1 != types.ActionPause || a2 != types.ActionPause {
			t.Fatalf("requests must wait for the refresh, got %v %v", a1, a2)
		}
		h.Tick()
		calls := h.Pending(wasmhost.PluginContextID)
		if len(calls) != 1 {
			t.Fatalf("want exactly one refresh for two requests, got %d", len(calls))
		}
		form, _ := url.ParseQuery(calls[0].Body)
		if calls[0].URL() != testIssuer+"/token" || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-1" {
			t.Fatalf("refresh call: %+v", calls[0])
		}
		// As Dex and Keycloak do, the refreshed ID token repeats the login's nonce (Core §12.2).
		h.Answer(calls[0], 200, `{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2","id_token":"`+
			idp.idToken("the-login-nonce", map[string]any{"email": "alice@new.example.com"})+`"}`)
		for _, id := range []uint32{first, second} {
			if h.GetCurrentHttpStreamAction(id) != types.ActionContinue || h.Reply(id) != nil {
				t.Fatalf("request %d must continue after the refresh, got %+v", id, h.Reply(id))
			}
			if got := h.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@new.example.com" {
				t.Errorf("identity after refresh = %q, want the refreshed claims", got)
			}
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			renewed := ""
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session=") {
					renewed = wasmhost.CookieValue(kv[1])
				}
			}
			if renewed == "" {
				t.Fatalf("request %d: the renewed session cookie is not on the response", id)
			}
			next, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + renewed}))
			if action != types.ActionContinue || h.HasPending(next) {
				t.Errorf("the renewed session must be valid without another refresh")
			}
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.refresh_succeeded"); n != 1 {
			t.Errorf("refresh_succeeded = %d", n)
		}
	})
}

// A refresh the IdP refuses ends the session (browser: login again; API: 401); an IdP that
// cannot be reached gives 503, and the session stays for a retry.
func TestRefreshFailures(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := loginDueForRefresh(t, h, idp, m, "rt-x")
		cases := []struct {
			name           string
			status         int
			body           string
			browser, api   uint32
			identityChange bool
		}{
			{"IdP down", 0, "", 503, 503, false},
			{"other subject", 200, `{"access_token":"a","token_type":"Bearer","id_token":"` + idp.idToken("", map[string]any{"sub": "mallory"}) + `"}`, 302, 401, false},
			{"invalid_grant", 400, `{"error":"invalid_grant"}`, 302, 401, false},
		}
		for _, c := range cases {
			browser, _ := h.Request(wasmhost.BrowserGet("/page", [2]string{"cookie", session}))
			api, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
			h.TickUntilPending(wasmhost.PluginContextID, 3)
			h.Answer(h.OnePending(wasmhost.PluginContextID), c.status, c.body)
			for _, r := range []struct {
				id   uint32
				want uint32
			}{{browser, c.browser}, {api, c.api}} {
				got := h.Reply(r.id)
				if got == nil || got.Status != r.want {
					t.Errorf("%s: want %d, got %+v", c.name, r.want, got)
				} else if r.want == 302 && !strings.HasPrefix(got.Header("location"), testIssuer) {
					t.Errorf("%s: want a login redirect, got %q", c.name, got.Header("location"))
				}
			}
		}
	})
}

// Another worker VM's refresh of the same token is adopted rather than repeated, and a
// refresh another VM has claimed is waited for (shared data with CAS).
func TestRefreshSharedBetweenVMs(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		old := &oidc.Session{Claims: testClaims("user-1"), RefreshToken: "rt-shared", IssuedAt: m.now(), TokenExpiry: m.now().Add(-time.Minute)}
		cookie := "__Host-oidc_session=" + sealTestSession(t, old, m.now().Add(time.Hour))
		hash := sha256.Sum256([]byte("rt-shared"))

		// Another VM has claimed the refresh: wait, do not call the IdP.
		otherVM(t, refreshEntry{key: hash, marker: refreshPending, deadline: m.now().Add(time.Minute).UnixMilli()})
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", cookie}))
		for i := 0; i < 5; i++ {
			h.Tick()
		}
		if h.HasPending(wasmhost.PluginContextID) || h.Reply(id) != nil {
			t.Fatalf("a refresh claimed by another VM must be waited for")
		}
		// The other VM publishes its result: adopted at the next tick.
		renewed := &oidc.Session{Claims: testClaims("user-1"), RefreshToken: "rt-next", IssuedAt: m.now(), TokenExpiry: m.now().Add(time.Hour)}
		otherVM(t, refreshEntry{key: hash, marker: refreshDone, deadline: m.now().Add(time.Minute).UnixMilli(), body: sealShared(t, hash, renewed, m)})
		h.Tick()
		if h.HasPending(wasmhost.PluginContextID) || h.GetCurrentHttpStreamAction(id) != types.ActionContinue {
			t.Fatalf("the shared result must be adopted without a call, got %+v", h.Reply(id))
		}
		if got := h.Upstream(id)["x-auth-request-user"]; len(got) != 1 || got[0] != "user-1" {
			t.Errorf("identity = %q", got)
		}
	})
}

// Sessions end at session_max_age whatever the cookie says, and an idle timeout is renewed
// on the response once half of it has passed.
func TestSessionLifetimes(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"session_max_age":3600,"session_idle_timeout":600`))
		newFakeIdP(t, m).serveMetadata(h)
		now := m.now()
		tooOld := &oidc.Session{Claims: testClaims("u"), IssuedAt: now.Add(-2 * time.Hour), TokenExpiry: now.Add(time.Hour)}
		id, _ := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, tooOld, now.Add(time.Hour))}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("a session past session_max_age must be refused, got %+v", r)
		}

		fresh := &oidc.Session{Claims: testClaims("u"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}
		id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, fresh, now.Add(100*time.Second))}))
		if action != types.ActionContinue {
			t.Fatalf("valid session refused: %+v", h.Reply(id))
		}
		h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		renewal := ""
		for _, kv := range h.GetCurrentResponseHeaders(id) {
			if kv[0] == "set-cookie" {
				renewal = kv[1]
			}
		}
		if !strings.HasPrefix(renewal, "__Host-oidc_session=") || !strings.Contains(renewal, "Max-Age=") {
			t.Fatalf("an idle session near its end must be renewed on the response, got %q", renewal)
		}
		if maxAge := renewal[strings.Index(renewal, "Max-Age=")+8:]; !strings.HasPrefix(maxAge, "599") && !strings.HasPrefix(maxAge, "600") {
			t.Errorf("renewed Max-Age %q, want the idle timeout", maxAge)
		}

		id, _ = h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, fresh, now.Add(590*time.Second))}))
		h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		for _, kv := range h.GetCurrentResponseHeaders(id) {
			if kv[0] == "set-cookie" {
				t.Errorf("a recently renewed session must not be sealed again: %q", kv[1])
			}
		}
	})
}

// With a session, the client's Authorization header never reaches upstream; with
// forward_token, the session's token does, alone.
func TestAuthorizationHeaderWithSession(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, forward := range []string{"", "id_token", "access_token"} {
			extra := ""
			if forward != "" {
				extra = `"forward_token":"` + forward + `"`
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)
			idToken := ""
			_, session := loginWith(t, h, func(nonce string) string {
				idToken = idp.idToken(nonce, nil)
				return tokenAnswer(idToken)
			})
			id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session},
				[2]string{"authorization", "Bearer forged"}, [2]string{"Authorization", "Basic YWRtaW46YWRtaW4="}))
			got := h.Upstream(id)["authorization"]
			want := map[string]string{"": "", "id_token": "Bearer " + idToken, "access_token": "Bearer at-1"}[forward]
			if (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
				t.Errorf("forward_token %q: upstream authorization = %.60q, want %.60q", forward, got, want)
			}
		}
	})
}

// Logout clears every plugin cookie, goes to the IdP's end_session_endpoint when it has one
// (with id_token_hint), else to the local page; rd only when it passes the redirect checks.
func TestLogout(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"allowed_redirect_hosts":["docs.example.com"]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		cases := map[string]string{
			"/oauth2/logout":                              "/",
			"/oauth2/logout?rd=/bye":                      "/bye",
			"/oauth2/logout?rd=//evil.com":                "/",
			"/oauth2/logout?rd=/%5Cevil.com":              "/",
			"/oauth2/logout?rd=https://evil.com/":         "/",
			"/oauth2/logout?rd=https://docs.example.com/": "https://docs.example.com/",
		}
		for path, want := range cases {
			id, _ := h.Request(wasmhost.BrowserGet(path, [2]string{"cookie", session + "; __Host-oidc_session_1=x; __Host-oidc_session_state=s; keep=1"}))
			r := h.Reply(id)
			if r == nil || r.Status != 302 || r.Header("location") != want {
				t.Errorf("%s: want 302 to %q, got %+v", path, want, r)
				continue
			}
			cookies := r.SetCookies()
			for _, name := range []string{"__Host-oidc_session", "__Host-oidc_session_1", "__Host-oidc_session_state"} {
				if !strings.Contains(cookies[name], "Max-Age=0") {
					t.Errorf("%s: %s not cleared: %q", path, name, cookies[name])
				}
			}
			if _, ok := cookies["keep"]; ok {
				t.Errorf("logout must not touch other cookies")
			}
		}
	})
}

// With an end_session_endpoint, logout is RP-initiated at the IdP.
func TestLogoutAtIdP(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.endSession = testIssuer + "/session/end"
		idp.serveMetadata(h)
		idToken := ""
		_, session := loginWith(t, h, func(nonce string) string {
			idToken = idp.idToken(nonce, nil)
			return tokenAnswer(idToken)
		})
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/logout?rd=/bye", [2]string{"cookie", session}))
		r := h.Reply(id)
		if r == nil || r.Status != 302 {
			t.Fatalf("want 302, got %+v", r)
		}
		loc, _ := url.Parse(r.Header("location"))
		q := loc.Query()
		if loc.Scheme+"://"+loc.Host+loc.Path != testIssuer+"/session/end" || q.Get("id_token_hint") != idToken ||
			q.Get("client_id") != testClientID || q.Get("post_logout_redirect_uri") != "https://app.example.com/bye" {
			t.Errorf("end-session redirect %s (warnings %q)", r.Header("location"), wasmhost.CopyLogs(h.GetWarnLogs()))
		}
	})
}

// testClock is a clock a test moves forward.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// A session over time, with the clock moved forward rather than the session dated back:
// renewed on the response once half the idle timeout has passed, ended by inactivity, and
// ended at session_max_age however active. Natively only: a compiled module reads the host's
// clock.
func TestSessionOverTime(t *testing.T) {
	clock := &testClock{t: time.Now()}
	h := wasmhost.MustStart(t, newVMContext(env{now: clock.now, random: rand.Reader}), testConfig(`"session_max_age":3600,"session_idle_timeout":600`))
	idp := newFakeIdP(t, mode{name: "native", clock: clock.now})
	idp.serveMetadata(h)
	session := idp.login(h, "/")
	request := func(cookie string) (passed bool, renewed string) {
		t.Helper()
		id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", cookie}))
		if action != types.ActionContinue {
			return false, ""
		}
		h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		for _, kv := range h.GetCurrentResponseHeaders(id) {
			if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session=") {
				renewed = "__Host-oidc_session=" + wasmhost.CookieValue(kv[1])
			}
		}
		return true, renewed
	}
	steps := []struct {
		after       time.Duration
		pass, renew bool
	}{
		{4 * time.Minute, true, false},   // within the first half of the idle timeout
		{2 * time.Minute, true, true},    // past half of it: renewed
		{9 * time.Minute, true, true},    // the renewed cookie carries on
		{11 * time.Minute, false, false}, // idle for longer than the timeout
	}
	for i, s := range steps {
		clock.t = clock.t.Add(s.after)
		passed, renewed := request(session)
		if passed != s.pass || (renewed != "") != s.renew {
			t.Fatalf("step %d (+%v): passed=%v renewed=%v, want %v %v", i, s.after, passed, renewed != "", s.pass, s.renew)
		}
		if renewed != "" {
			session = renewed
		}
	}
	// However active, a session ends at session_max_age (3600 s after login).
	session = idp.login(h, "/")
	for elapsed := time.Duration(0); elapsed < 70*time.Minute; elapsed += 5 * time.Minute {
		clock.t = clock.t.Add(5 * time.Minute)
		passed, renewed := request(session)
		if want := elapsed+5*time.Minute < time.Hour; passed != want {
			t.Fatalf("%v after login: passed=%v, want %v", elapsed+5*time.Minute, passed, want)
		}
		if renewed != "" {
			session = renewed
		}
	}
}
