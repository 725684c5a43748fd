package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// Kubeflow as it is installed today (issue 13; kubeflow/manifests v1.9.1 to 26.03, components
// common/dex and common/oauth2-proxy): Dex's tokens carry its in-cluster issuer, which no browser uses; browsers reach Dex through
// the gateway's own host at /dex/ (a VirtualService), and its client has only the relative
// redirect URI /oauth2/callback. The plugin takes oauth2-proxy's place with oauth2-proxy's
// settings, and Istio's RequestAuthentication dex-jwt behind it must accept what it forwards.
const (
	kfIssuer  = "http://dex.auth.svc.cluster.local:5556/dex"
	kfCluster = "outbound|5556||dex.auth.svc.cluster.local" // Istio's name, the plugin's default
	kfHost    = "app.example.com"
	kfLogin   = "https://" + kfHost + "/dex/auth?" // where browsers are sent to log in
	kfSession = "__Host-oidc_session"
	// forwardMargin is how long before its expiry the plugin renews a forwarded token.
	forwardMargin = 30 * time.Second
)

// kfConfig is oauth2-proxy's configuration in Kubeflow (base/oauth2_proxy.cfg) in the
// plugin's terms, plus extra keys: discovery skipped (login_url /dex/auth, in-cluster token
// and keys URLs), the relative redirect URI, /dex/ never intercepted, api_routes answered 401,
// the Dex ID token forwarded for dex-jwt, and the dashboard's sign-out link. page_paths sends
// the other GETs of scripts (Accept: */*) to the login, where oauth2-proxy showed a 403
// sign-in page; offline_access lets the plugin renew the forwarded token before it expires.
func kfConfig(extra string) string {
	return `{"issuer":"` + kfIssuer + `","client_id":"` + clientID + `","client_secret":"` + clientSecret +
		`","cookie_secret":"` + cookieKey + `","authorization_endpoint":"/dex/auth","token_endpoint":"` + kfIssuer +
		`/token","jwks_uri":"` + kfIssuer + `/keys","redirect_uri":"/oauth2/callback",` +
		`"scopes":["openid","profile","email","groups","offline_access"],"skip_paths":[{"prefix":"/dex"}],` +
		`"api_paths":[{"prefix":"/api"},{"prefix":"/apis"},{"regex":"/ml_metadata.*"}],"page_paths":[{"prefix":"/"}],` +
		`"claims_to_headers":{"kubeflow-userid":"email","kubeflow-groups":"groups"},"forward_token":"id_token",` +
		`"logout_path":"/oauth2/sign_out"` + extra + `}`
}

// startKubeflowDex runs Dex as Kubeflow's common/dex configures it.
func startKubeflowDex(t *testing.T, idTokenTTL time.Duration) *testidp.Dex {
	return testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{"/oauth2/callback"}, Issuer: kfIssuer, IDTokenTTL: idTokenTTL})
}

// startKubeflow starts the plugin with kfConfig(extra) in front of dex, plus the other
// clusters it calls.
func startKubeflow(t *testing.T, vm types.VMContext, dex *testidp.Dex, extra string, more map[string]idp) *gateway {
	t.Helper()
	clusters := map[string]idp{kfCluster: {dex.Issuer, dex.Addr}}
	for name, to := range more {
		clusters[name] = to
	}
	g := &gateway{t: t, clusters: clusters, issuer: kfLogin, Host: wasmhost.MustStart(t, vm, kfConfig(extra))}
	g.loadMetadata()
	return g
}

// runMode is one way the plugin runs: linked natively, or as a compiled module, which reads
// the SDK wasm host's fake clock (wasmhost.WasmEpoch, 2022) while Dex dates its tokens today.
// Tokens the tests mint are dated from now().
type runMode struct {
	name string
	vm   func(t *testing.T) types.VMContext
	now  func() time.Time
}

func runModes() []runMode {
	modes := []runMode{{"native", func(*testing.T) types.VMContext { return plugin.NewVMContext() }, time.Now}}
	for _, m := range wasmhost.Modules {
		modes = append(modes, runMode{m.Name, func(t *testing.T) types.VMContext { return wasmhost.LoadModule(t, "../"+m.Path) },
			func() time.Time { return wasmhost.WasmEpoch }})
	}
	return modes
}

// kfBrowserLogin logs alice in at Dex through the gateway's /dex/, after checking that the
// plugin sent the browser there with Kubeflow's relative redirect URI.
func kfBrowserLogin(t *testing.T, dex *testidp.Dex) func(b *testidp.Browser, authURL string) (string, error) {
	return func(b *testidp.Browser, authURL string) (string, error) {
		q := wasmhost.Query(t, authURL)
		if q.Get("redirect_uri") != "/oauth2/callback" || q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" {
			t.Errorf("authorization request %s: want redirect_uri /oauth2/callback, client %s, PKCE S256", authURL, clientID)
		}
		return b.ThroughGateway(kfHost, "/dex/", dex.Addr).LoginAtDex(authURL, testidp.DexUser, testidp.DexPassword)
	}
}

// The Kubeflow installation end to end, natively and in both modules: a browser login
// through /dex/auth on the gateway's host whose requests then carry the Dex ID token that
// dex-jwt accepts, the scripted login of KFPClientManager, service-account tokens verified by
// the plugin (bearer_issuers), and the dashboard's sign-out link.
func TestKubeflow(t *testing.T) {
	dex := startKubeflowDex(t, 0)
	istio := newDexJWT(t, dex)
	sa := startServiceAccountIssuer(t)
	for _, m := range runModes() {
		t.Run(m.name, func(t *testing.T) {
			g := startKubeflow(t, m.vm(t), dex, `,"bearer_issuers":[`+sa.config()+`]`, map[string]idp{saCluster: {saIssuer, sa.addr}})
			var session string
			t.Run("browser login", func(t *testing.T) {
				session = g.login("/jupyter/?ns=kubeflow-user-example-com", kfBrowserLogin(t, dex))
				id, action := g.Request(wasmhost.BrowserGet("/jupyter/", [2]string{"cookie", session},
					[2]string{"kubeflow-userid", "mallory@example.com"}, [2]string{"authorization", "Bearer forged"}))
				if action != types.ActionContinue {
					t.Fatalf("a request with the session must go upstream: %v %+v", action, g.Reply(id))
				}
				istio.admits(t, g.Upstream(id), time.Now())
			})
			t.Run("scripted login", func(t *testing.T) { kfScriptedLogins(t, g, dex, istio) })
			t.Run("service accounts verified", func(t *testing.T) { serviceAccountsVerified(t, g, sa, m.now()) })
			t.Run("sign out", func(t *testing.T) {
				if session == "" {
					t.Skip("no session: the browser login failed")
				}
				signOut(t, g, session)
			})
		})
	}
}

// signOut follows the dashboard's LOGOUT_URL, a plain GET of /oauth2/sign_out from its own
// page or typed: the session cookie is cleared and, since Dex has no end_session_endpoint,
// the logout is local, to logout_redirect ("/").
func signOut(t *testing.T, g *gateway, session string) {
	for _, site := range []string{"same-origin", "none"} {
		id, _ := g.Request(wasmhost.BrowserGet("/oauth2/sign_out", [2]string{"cookie", session}, [2]string{"sec-fetch-site", site}))
		r := g.Reply(id)
		if r == nil || r.Status != 302 || r.Header("location") != "/" {
			t.Errorf("sign-out (Sec-Fetch-Site %s): want 302 to /, got %+v", site, r)
			continue
		}
		cleared, err := http.ParseSetCookie(r.SetCookies()[kfSession])
		if err != nil || cleared.Value != "" || cleared.MaxAge >= 0 {
			t.Errorf("sign-out (Sec-Fetch-Site %s) must clear %s: %q %v", site, kfSession, r.SetCookies()[kfSession], err)
		}
	}
}

// The forwarded Dex ID token is never expired: with short-lived ID tokens and a refresh token
// (offline_access), a request within forwardMargin of the token's expiry renews it first and
// carries the new one. Natively only: a module's clock is in 2022, where Dex's tokens are
// far from expiry.
func TestKubeflowForwardedTokenRenewedAhead(t *testing.T) {
	dex := startKubeflowDex(t, forwardMargin+time.Second)
	istio := newDexJWT(t, dex)
	g := startKubeflow(t, plugin.NewVMContext(), dex, "", nil)
	var issued []string // the ID tokens Dex's token endpoint gave the plugin, in order
	g.seen = func(c wasmhost.Callout, answer []byte) {
		var tok struct {
			IDToken string `json:"id_token"`
		}
		if strings.HasSuffix(c.Headers[":path"], "/token") && json.Unmarshal(answer, &tok) == nil && tok.IDToken != "" {
			issued = append(issued, tok.IDToken)
		}
	}
	session := g.login("/", kfBrowserLogin(t, dex))
	if len(issued) != 1 {
		t.Fatalf("want the login's ID token, got %d", len(issued))
	}
	first := istio.verify(t, issued[0], time.Now())
	// From here on the token expires within forwardMargin, yet it is still valid.
	time.Sleep(time.Until(first.Expiration().Add(-forwardMargin)) + 100*time.Millisecond)

	id, action := g.Request(wasmhost.BrowserGet("/jupyter/", [2]string{"cookie", session}))
	if action != types.ActionPause {
		t.Fatalf("a token about to expire must be renewed before it is forwarded, got %v %+v", action, g.Reply(id))
	}
	g.Tick()
	if g.carry(wasmhost.PluginContextID) != 1 || g.GetCurrentHttpStreamAction(id) != types.ActionContinue || len(issued) != 2 {
		t.Fatalf("want one refresh at Dex, then the request upstream: %+v (logs: %q)", g.Reply(id), wasmhost.CopyLogs(g.GetWarnLogs()))
	}
	up := g.Upstream(id)
	if got := up["authorization"]; len(got) != 1 || got[0] != "Bearer "+issued[1] {
		t.Fatalf("upstream Authorization %q: want the renewed ID token", got)
	}
	renewed := istio.admits(t, up, time.Now())
	if renewed == nil || !renewed.Expiration().After(first.Expiration()) {
		t.Errorf("the renewed token must outlive the first")
	}
}

// dexJWT is Istio's RequestAuthentication dex-jwt in Kubeflow: issuer the in-cluster name,
// keys found through that issuer's discovery (as istiod does), the token from
// Authorization: Bearer, kubeflow-userid from email and kubeflow-groups from groups.
type dexJWT struct {
	keys jwk.Set
}

func newDexJWT(t *testing.T, dex *testidp.Dex) *dexJWT {
	t.Helper()
	var disc struct {
		Issuer string `json:"issuer"`
		JWKS   string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(istiodGet(t, dex, kfIssuer+"/.well-known/openid-configuration"), &disc); err != nil || disc.Issuer != kfIssuer {
		t.Fatalf("Dex's discovery names issuer %q (%v), want %s", disc.Issuer, err, kfIssuer)
	}
	keys, err := jwk.Parse(istiodGet(t, dex, disc.JWKS))
	if err != nil {
		t.Fatalf("Dex's JWKS: %v", err)
	}
	return &dexJWT{keys: keys}
}

// verify checks a token as dex-jwt does, at the time at.
func (v *dexJWT) verify(t *testing.T, token string, at time.Time) jwt.Token {
	t.Helper()
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(v.keys), jwt.WithIssuer(kfIssuer), jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return at })))
	if err != nil {
		t.Fatalf("dex-jwt refuses the token at %v: %v", at, err)
	}
	return tok
}

// admits checks the headers of a request that left the gateway: one Authorization header
// with a Dex ID token valid at the time at, the headers dex-jwt would write from it are
// alice's, and the plugin's own identity headers say the same. It returns the token.
func (v *dexJWT) admits(t *testing.T, upstream map[string][]string, at time.Time) jwt.Token {
	t.Helper()
	auth := upstream["authorization"]
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
		t.Errorf("upstream Authorization %q: want the session's Dex ID token, alone", auth)
		return nil
	}
	tok := v.verify(t, strings.TrimPrefix(auth[0], "Bearer "), at)
	email, _ := tok.Get("email")
	groups, hasGroups := tok.Get("groups")
	if email != testidp.DexUser {
		t.Errorf("dex-jwt would set kubeflow-userid %v, want %s", email, testidp.DexUser)
	}
	if got := upstream["kubeflow-userid"]; len(got) != 1 || got[0] != testidp.DexUser {
		t.Errorf("the plugin's kubeflow-userid %q, want only %s", got, testidp.DexUser)
	}
	// Dex's static users have no groups (its password database cannot hold any), so neither
	// dex-jwt nor the plugin sets kubeflow-groups; a client's own is gone. TestKubeflowGroups
	// logs in a user with groups.
	if want := groupsHeader(groups, hasGroups); strings.Join(upstream["kubeflow-groups"], ",") != want {
		t.Errorf("the plugin's kubeflow-groups %q, dex-jwt's would be %q", upstream["kubeflow-groups"], want)
	}
	if upstream["cookie"] != nil {
		t.Errorf("the session cookie reached the app: %q", upstream["cookie"])
	}
	return tok
}

// groupsHeader is the kubeflow-groups value dex-jwt writes from a groups claim: the list
// joined with commas, or nothing.
func groupsHeader(groups any, ok bool) string {
	if !ok {
		return ""
	}
	list, _ := groups.([]any)
	out := make([]string, len(list))
	for i, g := range list {
		out[i] = fmt.Sprint(g)
	}
	return strings.Join(out, ",")
}

// istiodGet fetches a URL of Dex's in-cluster name as istiod does, from Dex's address.
func istiodGet(t *testing.T, dex *testidp.Dex, rawURL string) []byte {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || !strings.HasPrefix(rawURL, kfIssuer+"/") {
		t.Fatalf("%q is not a URL under Dex's in-cluster issuer", rawURL)
	}
	headers, body, err := testidp.Forward(dex.Addr, [][2]string{{":method", "GET"}, {":path", u.RequestURI()}, {":authority", u.Host}}, nil, 10*time.Second)
	if err != nil || headers[0][1] != "200" {
		t.Fatalf("GET %s: %v %v", rawURL, headers, err)
	}
	return body
}
