package e2e

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/plugin"
)

const (
	// hydraAPI is the access-token audience API clients ask Hydra for, and the plugin's
	// bearer_audiences: Hydra's JWT access tokens carry as aud what the client requested.
	hydraAPI = "https://api.example.com"
	// afterLogout is the post_logout_redirect_uri the plugin sends (logout_redirect "/" made
	// absolute), registered for the client at Hydra.
	afterLogout = "https://app.example.com/"
	// pastKeyRefetchLimit ticks of 250 ms lie beyond the plugin's limit of one JWKS refetch per
	// 15 s (60 ticks).
	pastKeyRefetchLimit = 70
	// hydraConfig maps the claims Hydra's consent app grants into the ID token to headers, and
	// accepts Hydra's access tokens for hydraAPI as bearer tokens.
	hydraConfig = `,"scopes":["openid","email","profile"],"bearer_audiences":["` + hydraAPI + `"],` +
		`"claims_to_headers":{"x-auth-request-email":"email","x-auth-request-user":"sub","x-auth-request-groups":"groups"}`
)

// startHydra runs Hydra with the plugin's client registered, allowed to ask for hydraAPI.
func startHydra(t *testing.T, opt testidp.HydraOptions) (*testidp.Hydra, testidp.HydraClient) {
	t.Helper()
	hydra := testidp.StartHydra(t, opt)
	client := testidp.HydraClient{ID: clientID, Secret: clientSecret, RedirectURIs: []string{callbackURL},
		PostLogoutRedirectURIs: []string{afterLogout}, Audience: []string{hydraAPI}}
	if err := hydra.CreateClient(client); err != nil {
		t.Fatal(err)
	}
	return hydra, client
}

// hydraLogin is the user's part of gateway.login at Hydra; the browser it was given is kept in
// *used (unless nil) for a later logout, which needs Hydra's session cookie.
func hydraLogin(hydra *testidp.Hydra, used **testidp.Browser) func(*testidp.Browser, string) (string, error) {
	return func(b *testidp.Browser, authURL string) (string, error) {
		if used != nil {
			*used = b
		}
		return hydra.Login(b, authURL, testidp.HydraUser, testidp.HydraPassword)
	}
}

// The plugin against Ory Hydra (issue 14), linked natively and in both compiled modules: a
// browser login through Hydra and the test's login and consent apps puts Hydra's user and the
// granted claims into the identity headers; Hydra's JWT access tokens pass the bearer path for
// the configured audience only; after Hydra's signing keys rotate the session goes on and new
// tokens are accepted after one JWKS refetch; RP-initiated logout ends the session at Hydra
// through its logout app.
//
// Bearer access tokens are checked natively only: Hydra sets nbf, which a module, seeing the
// wasm host's clock of 2022, reads as "not valid yet". ID tokens carry no nbf, so logins work
// in every mode.
func TestHydra(t *testing.T) {
	hydra, client := startHydra(t, testidp.HydraOptions{})
	type mode struct {
		name string
		vm   func(t *testing.T) types.VMContext
	}
	modes := []mode{{"native", func(*testing.T) types.VMContext { return plugin.NewVMContext() }}}
	for _, m := range wasmhost.Modules {
		modes = append(modes, mode{m.Name, func(t *testing.T) types.VMContext { return wasmhost.LoadModule(t, "../"+m.Path) }})
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			native := m.name == "native"
			g := startGateway(t, m.vm(t), idp{hydra.Issuer, hydra.Addr}, hydraConfig)
			session := g.login("/reports?q=1", hydraLogin(hydra, nil))
			checkHydraIdentity(t, g, session)
			var oldToken string
			if native {
				oldToken = checkHydraBearer(t, g, hydra, client)
			}

			if _, err := hydra.RotateKeys(); err != nil {
				t.Fatal(err)
			}
			if _, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session})); action != types.ActionContinue {
				t.Errorf("a session must survive Hydra's key rotation")
			}
			for range pastKeyRefetchLimit {
				g.Tick()
			}
			if native {
				checkBearerAfterRotation(t, g, hydra, client, oldToken)
			}
			var browser *testidp.Browser
			fresh := g.login("/after-rotation", hydraLogin(hydra, &browser))
			if n, _ := g.GetCounterMetric("oidc_wasm.idp_jwks_fetched"); n != 2 {
				t.Errorf("JWKS fetched %d times, want twice: at start and once after the rotation", n)
			}
			// The session from before the rotation would do for the plugin, but its ID token,
			// the id_token_hint, is signed by a key Hydra deleted: Hydra refuses such a hint.
			checkHydraLogout(t, g, hydra, browser, fresh)
		})
	}
}

// checkHydraIdentity: the upstream sees Hydra's subject and the consent app's claims, and
// not a header the client sent under a managed name.
func checkHydraIdentity(t *testing.T, g *gateway, session string) {
	t.Helper()
	id, action := g.Request(wasmhost.BrowserGet("/reports", [2]string{"cookie", session}, [2]string{"x-auth-request-user", "mallory"}))
	if action != types.ActionContinue {
		t.Fatalf("authenticated request must continue, got %v %+v", action, g.Reply(id))
	}
	up := g.Upstream(id)
	for header, want := range map[string]string{
		"x-auth-request-email":  testidp.HydraUser,
		"x-auth-request-user":   testidp.HydraSubject,
		"x-auth-request-groups": "devs,admins",
	} {
		if got := up[header]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
}

// checkHydraBearer: a JWT access token Hydra issued for hydraAPI is accepted, as its user; one
// tampered with, or issued without that audience, gets 401. It returns the accepted token.
func checkHydraBearer(t *testing.T, g *gateway, hydra *testidp.Hydra, client testidp.HydraClient) string {
	t.Helper()
	forAPI, err := hydra.Tokens(testidp.NewBrowser(), client, hydraAPI)
	if err != nil {
		t.Fatal(err)
	}
	noAudience, err := hydra.Tokens(testidp.NewBrowser(), client)
	if err != nil {
		t.Fatal(err)
	}
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + forAPI.AccessToken}))
	if action != types.ActionContinue {
		t.Fatalf("Hydra's access token for %s refused: %+v (%q)", hydraAPI, g.Reply(id), wasmhost.CopyLogs(g.GetInfoLogs()))
	}
	if got := g.Upstream(id)["x-auth-request-user"]; len(got) != 1 || got[0] != testidp.HydraSubject {
		t.Errorf("x-auth-request-user from the access token = %q", got)
	}
	tampered := forAPI.AccessToken[:len(forAPI.AccessToken)-6] + "AAAAAA"
	for name, token := range map[string]string{"tampered": tampered, "without the audience": noAudience.AccessToken} {
		id, _ := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + token}))
		if r := g.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("access token %s: want 401, got %+v", name, r)
		}
	}
	return forAPI.AccessToken
}

// checkBearerAfterRotation: an access token signed by Hydra's new key makes the request wait
// for one JWKS refetch and is then accepted; the token of the deleted key, accepted (and
// cached) before, is refused once the plugin has the new keys.
func checkBearerAfterRotation(t *testing.T, g *gateway, hydra *testidp.Hydra, client testidp.HydraClient, oldToken string) {
	t.Helper()
	fresh, err := hydra.Tokens(testidp.NewBrowser(), client, hydraAPI)
	if err != nil {
		t.Fatal(err)
	}
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + fresh.AccessToken}))
	if action != types.ActionPause {
		t.Fatalf("a token signed by an unknown key must wait for a JWKS refetch, got %v %+v", action, g.Reply(id))
	}
	g.Tick()
	if g.carry(wasmhost.PluginContextID) != 1 || g.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatalf("after the refetch the new key's token must be accepted: %+v", g.Reply(id))
	}
	id, _ = g.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + oldToken}))
	if r := g.Reply(id); r == nil || r.Status != 401 {
		t.Errorf("a token of the deleted key must be refused, got %+v", r)
	}
}

// checkHydraLogout: the plugin's logout path clears the session cookie and sends the browser
// to Hydra's end_session_endpoint with id_token_hint and post_logout_redirect_uri; Hydra shows
// its logout app, the user confirms, and Hydra sends the browser back and forgets the user.
// browser is the one that logged in, holding Hydra's session cookie.
func checkHydraLogout(t *testing.T, g *gateway, hydra *testidp.Hydra, browser *testidp.Browser, session string) {
	t.Helper()
	// While Hydra remembers the user its login app asks nothing: a wrong password passes.
	if _, err := hydra.Login(browser, authorizationURL(t, g), testidp.HydraUser, "wrong"); err != nil {
		t.Fatalf("before logout Hydra must remember the user: %v", err)
	}
	id, _ := g.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session}))
	r := g.Reply(id)
	if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), hydra.Issuer+"oauth2/sessions/logout?") {
		t.Fatalf("logout: want a redirect to Hydra's end_session_endpoint, got %+v", r)
	}
	if cleared, ok := r.SetCookies()["__Host-oidc_session"]; !ok || wasmhost.CookieValue(cleared) != "" {
		t.Errorf("logout must clear the session cookie, Set-Cookie: %q", cleared)
	}
	q := wasmhost.Query(t, r.Header("location"))
	if q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != afterLogout || q.Get("client_id") != clientID {
		t.Errorf("end-session request: %s", r.Header("location"))
	}
	back, err := hydra.Logout(browser, r.Header("location"))
	if err != nil || back != afterLogout {
		t.Fatalf("Hydra must confirm the logout and send the browser to %s: %q %v", afterLogout, back, err)
	}
	if _, err := hydra.Login(browser, authorizationURL(t, g), testidp.HydraUser, "wrong"); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("after logout Hydra must ask for the password again, got %v", err)
	}
}

// authorizationURL is where the plugin sends a browser without a session.
func authorizationURL(t *testing.T, g *gateway) string {
	t.Helper()
	id, _ := g.Request(wasmhost.BrowserGet("/"))
	r := g.Reply(id)
	if r == nil || r.Status != 302 {
		t.Fatalf("want a redirect to the IdP, got %+v", r)
	}
	return r.Header("location")
}

// Refresh against Hydra, which rotates refresh tokens: when the session's 2-second tokens have
// expired the plugin redeems its refresh token, and the next time the rotated one. When the
// first one comes to Hydra again, Hydra refuses it and revokes the grant, so the plugin's next
// refresh is refused and its session ends. Natively only, like the other refresh tests: a
// module's clock does not advance with real time.
func TestHydraRefreshRotation(t *testing.T) {
	hydra, client := startHydra(t, testidp.HydraOptions{AccessTokenTTL: 2 * time.Second, IDTokenTTL: 2 * time.Second})
	g := startGateway(t, plugin.NewVMContext(), idp{hydra.Issuer, hydra.Addr},
		`,"scopes":["openid","email","profile","offline_access"]`)
	// The refresh tokens the plugin sent to Hydra's token endpoint, and those it got, in order.
	var sent, got []string
	g.seen = func(c wasmhost.Callout, answer []byte) {
		if !strings.HasSuffix(c.Headers[":path"], "/oauth2/token") {
			return
		}
		if form, err := url.ParseQuery(c.Body); err == nil && form.Get("refresh_token") != "" {
			sent = append(sent, form.Get("refresh_token"))
		}
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(answer, &tok) == nil && tok.RefreshToken != "" {
			got = append(got, tok.RefreshToken)
		}
	}
	session := g.login("/", hydraLogin(hydra, nil))
	for range 2 {
		time.Sleep(2500 * time.Millisecond) // past the tokens' lifetime
		session = g.refreshed(session)
	}
	if len(got) != 3 || len(sent) != 2 || sent[0] != got[0] || sent[1] != got[1] || got[0] == got[1] || got[1] == got[2] {
		t.Fatalf("want each refresh to send the token the last answer rotated to: sent %d %v, got %d %v", len(sent), sent, len(got), got)
	}

	var refused *testidp.HydraTokenError
	if _, err := hydra.Refresh(client, got[0]); !errors.As(err, &refused) {
		t.Fatalf("Hydra must refuse a reused refresh token, got %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	id, action := g.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
	g.Tick()
	if action != types.ActionPause || g.carry(wasmhost.PluginContextID) != 1 {
		t.Fatalf("an expired session must be refreshed at Hydra, got %v", action)
	}
	if r := g.Reply(id); r == nil || r.Status != 401 {
		t.Errorf("after Hydra revoked the grant the refresh must fail and the API client get 401, got %+v", r)
	}
}
