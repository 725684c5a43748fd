package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// startGateway runs the plugin with config against a real IdP reached as cluster "idp".
// vm is a compiled module, or the plugin linked natively: refresh needs the native run,
// since a module sees the test host's fake clock (2022) while real tokens are dated today.
func startGateway(t *testing.T, vm types.VMContext, provider idp, config string) *gateway {
	t.Helper()
	g := &gateway{t: t, clusters: map[string]idp{"idp": provider}, issuer: provider.issuer,
		Host: wasmhost.MustStart(t, vm, `{"issuer":"`+provider.issuer+`","cluster":"idp","client_id":"`+clientID+
			`","client_secret":"`+clientSecret+`","cookie_secret":"`+cookieKey+`"`+config+`}`)}
	g.loadMetadata()
	return g
}

// API clients with a token from the IdP (Dex's password grant) are authenticated without a
// session, in both compiled modules; a tampered token gets 401.
func TestBearerTokenFromDex(t *testing.T) {
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{callbackURL}})
	token, err := dex.PasswordGrant(testidp.DexUser, testidp.DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range wasmhost.Modules {
		t.Run(module.Name, func(t *testing.T) {
			g := startGateway(t, wasmhost.LoadModule(t, "../"+module.Path), idp{dex.Issuer, dex.Addr}, "")
			id, action := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + token}))
			if action != types.ActionContinue {
				t.Fatalf("Dex's token refused: %q", wasmhost.CopyLogs(g.GetInfoLogs()))
			}
			if got := g.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != testidp.DexUser {
				t.Errorf("x-auth-request-email = %q", got)
			}
			tampered := token[:len(token)-6] + "AAAAAA"
			id, _ = g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + tampered}))
			if r := g.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("tampered token: want 401, got %+v", r)
			}
		})
	}
}

// A session whose tokens expire is refreshed at Dex with its refresh token (offline_access),
// and the renewed session works without another refresh.
func TestRefreshThroughDex(t *testing.T) {
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{callbackURL}, IDTokenTTL: 2 * time.Second})
	g := startGateway(t, plugin.NewVMContext(), idp{dex.Issuer, dex.Addr}, `,"scopes":["openid","email","profile","offline_access"]`)
	session := g.login("/", dexLogin)
	time.Sleep(2500 * time.Millisecond)
	renewed := g.refreshed(session)
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", renewed}))
	if action != types.ActionContinue || g.HasPending(wasmhost.PluginContextID) {
		t.Fatalf("the renewed session must be valid: %+v", g.Reply(id))
	}
	if got := g.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != testidp.DexUser {
		t.Errorf("identity after refresh = %q", got)
	}
}

// Against node oidc-provider, which rotates refresh tokens and revokes the whole grant when
// an old one is reused: a refresh happens once, a request still carrying the old cookie adopts
// its result instead of refreshing again, RP-initiated logout ends the session at the IdP,
// and a restart with new signing keys forces no user out (a session cookie stays valid; a
// token signed by the new key is accepted after one JWKS refetch).
func TestRotationAndLogoutWithOIDCProvider(t *testing.T) {
	opt := testidp.OIDCProviderOptions{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{callbackURL},
		PostLogoutRedirectURIs: []string{"https://app.example.com/"}, IDTokenTTL: 2 * time.Second, AccessTokenTTL: 2 * time.Second}
	op := testidp.StartOIDCProvider(t, opt)
	g := startGateway(t, plugin.NewVMContext(), idp{op.Issuer, op.Addr}, `,"scopes":["openid","email","profile","offline_access"],"claims_to_headers":{"x-auth-request-email":"email","x-groups":"groups"}`)
	session := g.login("/", opLogin)
	time.Sleep(2500 * time.Millisecond)
	renewed := g.refreshed(session)

	// The old cookie (old refresh token) comes again, as from a tab that had not seen the
	// new cookie yet: the result is adopted, the IdP is not asked (it would revoke the grant).
	id, _ := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
	g.Tick()
	if g.HasPending(wasmhost.PluginContextID) || g.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatalf("a second refresh with the rotated token must not reach the IdP: %+v", g.Reply(id))
	}

	// Logout: cookies cleared, then the IdP's end_session_endpoint with id_token_hint.
	id, _ = g.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", renewed}))
	r := g.Reply(id)
	if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), op.Issuer+"/session/end") {
		t.Fatalf("logout: want a redirect to the IdP's end_session_endpoint, got %+v", r)
	}
	if q := wasmhost.Query(t, r.Header("location")); q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != "https://app.example.com/" {
		t.Errorf("end-session request lacks id_token_hint or post_logout_redirect_uri: %s", r.Header("location"))
	}
	back, err := testidp.NewBrowser().LogoutAtOIDCProvider(r.Header("location"))
	if err != nil || back != "https://app.example.com/" {
		t.Errorf("the IdP must confirm the logout and send the browser back: %q %v", back, err)
	}

	// Key rotation: the IdP restarts with a new key (tokens now live a minute, so no check
	// below races a restart that takes seconds); a new login with a token signed by the new
	// key succeeds after one JWKS refetch. It restarts with a new key once more: that session
	// goes on.
	opt.Addr, opt.IDTokenTTL, opt.AccessTokenTTL = op.Addr, time.Minute, time.Minute
	rotate := func() {
		op.Stop()
		op = testidp.StartOIDCProvider(t, opt) // same address, new signing key
		for i := 0; i < 70; i++ {
			g.Tick()
		}
	}
	rotate()
	session = g.login("/after-rotation", opLogin)
	rotate()
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
	if action != types.ActionContinue {
		t.Fatalf("a session must survive the IdP's key rotation: %+v", g.Reply(id))
	}
	g.login("/after-second-rotation", opLogin)
}

func dexLogin(b *testidp.Browser, authURL string) (string, error) {
	return b.LoginAtDex(authURL, testidp.DexUser, testidp.DexPassword)
}

func opLogin(b *testidp.Browser, authURL string) (string, error) {
	return b.LoginAtOIDCProvider(authURL, testidp.OIDCProviderUser, "any-password")
}

// refreshed sends a request with an expired session, carries the refresh to the IdP at the
// next tick, and returns the renewed session cookie from the response.
func (g *gateway) refreshed(session string) string {
	g.t.Helper()
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
	if action != types.ActionPause {
		g.t.Fatalf("an expired session must wait for a refresh, got %v %+v", action, g.Reply(id))
	}
	g.Tick()
	if g.carry(wasmhost.PluginContextID) != 1 {
		g.t.Fatalf("want one refresh call to the IdP")
	}
	if g.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		g.t.Fatalf("refresh failed: %+v (logs: %q %q)", g.Reply(id), wasmhost.CopyLogs(g.GetInfoLogs()), wasmhost.CopyLogs(g.GetErrorLogs()))
	}
	g.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	for _, kv := range g.GetCurrentResponseHeaders(id) {
		if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session=") {
			return "__Host-oidc_session=" + wasmhost.CookieValue(kv[1])
		}
	}
	g.t.Fatal("no renewed session cookie on the response")
	return ""
}

// callbackFor returns the callback path and query from the URL the IdP sent the browser to,
// which must be host's callback.
func callbackFor(t *testing.T, cb, host string) string {
	u, err := url.Parse(cb)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://"+host+"/oauth2/callback" {
		t.Fatalf("the IdP sent the browser to %q, want the callback", cb)
	}
	return u.RequestURI()
}

// Dex's signing keys rotate (it restarts with a fresh in-memory store, hence new keys) while
// a session and a bearer token are in use: the session goes on, a token signed by the new key
// is accepted after one JWKS refetch, and only tokens signed by the withdrawn key, which the
// rotation itself invalidated, are refused.
func TestDexKeyRotation(t *testing.T) {
	opt := testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{callbackURL}}
	dex, stop, err := testidp.LaunchDex(opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	oldToken, err := dex.PasswordGrant(testidp.DexUser, testidp.DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range wasmhost.Modules {
		t.Run(module.Name, func(t *testing.T) {
			g := startGateway(t, wasmhost.LoadModule(t, "../"+module.Path), idp{dex.Issuer, dex.Addr}, "")
			session := g.login("/", dexLogin)
			if _, action := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + oldToken})); action != types.ActionContinue {
				t.Fatal("a token of the current key must be accepted")
			}

			if err := stop(); err != nil {
				t.Fatal(err)
			}
			opt.Addr = dex.Addr
			if dex, stop, err = testidp.LaunchDex(opt, nil); err != nil {
				t.Fatal(err)
			}
			newToken, err := dex.PasswordGrant(testidp.DexUser, testidp.DexPassword)
			if err != nil {
				t.Fatal(err)
			}

			if _, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session})); action != types.ActionContinue {
				t.Errorf("a session must survive the IdP's key rotation")
			}
			for i := 0; i < 70; i++ {
				g.Tick() // past the refetch rate limit
			}
			id, action := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + newToken}))
			if action != types.ActionPause {
				t.Fatalf("a token signed by an unknown key must wait for a JWKS refetch, got %v %+v", action, g.Reply(id))
			}
			g.Tick()
			if g.carry(wasmhost.PluginContextID) != 1 || g.GetCurrentHttpStreamAction(id) != types.ActionContinue {
				t.Fatalf("after the refetch the new key's token must be accepted: %+v", g.Reply(id))
			}
			if got := g.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != testidp.DexUser {
				t.Errorf("identity = %q", got)
			}
			id, _ = g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + oldToken}))
			if r := g.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("a token of the withdrawn key must be refused after the cache flush, got %+v", r)
			}
			oldToken = newToken // the next module starts from the current key
		})
	}
}
