// Package e2e runs the compiled plugin against real identity providers (Dex, node
// oidc-provider, Ory Hydra): the module runs in the SDK's wasm host, every call it dispatches
// is carried to the IdP over HTTP, and a scripted browser logs in on the IdP's own form (for
// Hydra, the login app the test serves).
package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	clientID     = "wasm-oidc"
	clientSecret = "wasm-secret"
	cookieKey    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	callbackURL  = "https://app.example.com/oauth2/callback"
)

// gateway is the plugin wired to real IdPs.
type gateway struct {
	t        *testing.T
	clusters map[string]idp // the IdP behind each cluster the plugin is configured with
	issuer   string         // the issuer login expects to be sent to
	// seen, if set, is shown every call carried to an IdP with the IdP's answer body, for
	// tests that follow tokens the plugin holds (a refresh token's rotation).
	seen func(c wasmhost.Callout, answer []byte)
	*wasmhost.Host
}

// idp is what the gateway needs of a real provider.
type idp struct {
	issuer, addr string
}

func newGateway(t *testing.T, module wasmhost.Module, dex *testidp.Dex) *gateway {
	vm := wasmhost.LoadModule(t, "../"+module.Path)
	config := `{"issuer":"` + dex.Issuer + `","cluster":"dex","client_id":"` + clientID + `","client_secret":"` + clientSecret +
		`","cookie_secret":"` + cookieKey + `","scopes":["openid","email","profile"],` +
		`"claims_to_headers":{"x-auth-request-email":"email","x-auth-request-user":"sub","x-auth-request-name":"name"}}`
	return &gateway{t: t, clusters: map[string]idp{"dex": {dex.Issuer, dex.Addr}}, issuer: dex.Issuer, Host: wasmhost.MustStart(t, vm, config)}
}

// carry forwards every pending call of a context to the IdP, as Envoy would through the
// cluster, and the calls their answers start.
func (g *gateway) carry(contextID uint32) int {
	return g.AnswerEach(contextID, func(c wasmhost.Callout) {
		to, ok := g.clusters[c.Cluster]
		if !ok {
			g.t.Fatalf("call to unexpected cluster %q", c.Cluster)
		}
		headers, body, err := testidp.Forward(to.addr, c.Pairs, []byte(c.Body), 5*time.Second)
		if err != nil {
			g.t.Logf("forward failed (delivered as Envoy's failed call): %v", err)
		}
		if g.seen != nil {
			g.seen(c, body)
		}
		g.AnswerRaw(c, headers, body)
	})
}

// loadMetadata ticks until discovery and JWKS have come from every IdP.
func (g *gateway) loadMetadata() {
	g.Tick()
	g.carry(wasmhost.PluginContextID)
	if n, _ := g.GetCounterMetric("oidc_wasm.idp_jwks_fetched"); n != uint64(len(g.clusters)) {
		g.t.Fatalf("JWKS not loaded from every IdP (errors: %q)", wasmhost.CopyLogs(g.GetErrorLogs()))
	}
}

// login runs a browser login through the IdP's form and returns the session Cookie header.
func (g *gateway) login(path string, atIdP func(b *testidp.Browser, authURL string) (string, error)) string {
	g.t.Helper()
	return g.loginAt("app.example.com", path, g.issuer, "__Host-oidc_session", atIdP)
}

// loginAt logs in on host through issuer, with the provider's cookie name.
func (g *gateway) loginAt(host, path, issuer, cookie string, atIdP func(b *testidp.Browser, authURL string) (string, error)) string {
	g.t.Helper()
	id, _ := g.Request(onHost(host, wasmhost.BrowserGet(path)))
	r := g.Reply(id)
	if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), issuer) {
		g.t.Fatalf("want a redirect to %s, got %+v", issuer, r)
	}
	state := r.StateCookie(cookie)
	cb, err := atIdP(testidp.NewBrowser(), r.Header("location"))
	if err != nil {
		g.t.Fatalf("login at the IdP: %v", err)
	}
	id, action := g.Request(onHost(host, wasmhost.BrowserGet(callbackFor(g.t, cb, host), [2]string{"cookie", state})))
	if action != types.ActionPause || g.carry(id) != 1 {
		g.t.Fatalf("callback must exchange the code at the IdP's token endpoint")
	}
	// A token signed with a key the plugin does not know yet waits for a JWKS refetch.
	for i := 0; i < 4 && g.Reply(id) == nil; i++ {
		g.Tick()
		g.carry(wasmhost.PluginContextID)
	}
	done := g.Reply(id)
	if done == nil || done.Status != 302 || done.Header("location") != path {
		g.t.Fatalf("callback: want 302 to %s, got %+v (warnings: %q)", path, done, wasmhost.CopyLogs(g.GetWarnLogs()))
	}
	return cookie + "=" + wasmhost.CookieValue(done.SetCookies()[cookie])
}

// onHost moves a request built by wasmhost to another host.
func onHost(host string, headers [][2]string) [][2]string {
	for i := range headers {
		if headers[i][0] == ":authority" {
			headers[i][1] = host
		}
	}
	return headers
}

// A real login through Dex, with the compiled module: the upstream then sees Dex's user, and
// the classic attacks fail (issue 2's end-to-end test).
func TestLoginThroughDex(t *testing.T) {
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{callbackURL}})
	for _, module := range wasmhost.Modules {
		t.Run(module.Name, func(t *testing.T) {
			g := newGateway(t, module, dex)
			g.loadMetadata()
			session := g.login("/notebooks?ns=alice", dexLogin)

			id, action := g.Request(wasmhost.BrowserGet("/notebooks",
				[2]string{"cookie", "lang=en; " + session},
				[2]string{"X_Auth_Request_Email", "mallory@evil.example"},
			))
			if action != types.ActionContinue {
				t.Fatalf("authenticated request must continue, got %v %+v", action, g.Reply(id))
			}
			up := g.Upstream(id)
			if got := up["x-auth-request-email"]; len(got) != 1 || got[0] != testidp.DexUser {
				t.Errorf("x-auth-request-email = %q, want Dex's user %q", got, testidp.DexUser)
			}
			if got := up["x-auth-request-name"]; len(got) != 1 || got[0] != testidp.DexUsername {
				t.Errorf("x-auth-request-name = %q", got)
			}
			if got := up["x-auth-request-user"]; len(got) != 1 || got[0] == "" {
				t.Errorf("x-auth-request-user = %q", got)
			}
			for name := range up {
				if name == "x_auth_request_email" {
					t.Errorf("spoofed X_Auth_Request_Email reached upstream")
				}
			}
			if got := up["cookie"]; len(got) != 1 || got[0] != "lang=en" {
				t.Errorf("upstream cookie = %q, want only lang=en", got)
			}

			// A tampered session cookie is no session: back to Dex.
			tampered := []byte(session)
			tampered[len(tampered)-10] ^= 0x01
			id, _ = g.Request(wasmhost.BrowserGet("/notebooks", [2]string{"cookie", string(tampered)}))
			if r := g.Reply(id); r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), dex.Issuer) {
				t.Errorf("tampered session: want redirect to Dex, got %+v", r)
			}

			// A callback with a state that is not this browser's: 4xx, no exchange.
			id, _ = g.Request(wasmhost.BrowserGet("/oauth2/callback?code=x&state=forged"))
			start, _ := g.Request(wasmhost.BrowserGet("/"))
			wrong, _ := g.Request(wasmhost.BrowserGet("/oauth2/callback?code=x&state=forged", [2]string{"cookie", g.Reply(start).StateCookie("__Host-oidc_session")}))
			for _, cid := range []uint32{id, wrong} {
				if r := g.Reply(cid); r == nil || r.Status < 400 || r.Status > 499 || g.HasPending(cid) {
					t.Errorf("wrong state: want 4xx without a token call, got %+v", r)
				}
			}
		})
	}
}
