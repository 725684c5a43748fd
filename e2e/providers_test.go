package e2e

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// One plugin, two real IdPs at once: Dex for dex-app.example.com, node oidc-provider for
// op-app.example.com. Each host logs in at its own IdP with its own client, each session
// works only where it was issued, and each IdP's bearer tokens only at its own host.
func TestTwoProvidersOnOneGateway(t *testing.T) {
	const (
		dexHost = "dex-app.example.com"
		opHost  = "op-app.example.com"
	)
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{"https://" + dexHost + "/oauth2/callback"}})
	op := testidp.StartOIDCProvider(t, testidp.OIDCProviderOptions{ClientID: "op-client", ClientSecret: "op-secret",
		RedirectURIs: []string{"https://" + opHost + "/oauth2/callback"}})
	config := `{"cookie_secret":"` + cookieKey + `","scopes":["openid","email","profile"],"providers":[
		{"name":"dex","hosts":["` + dexHost + `"],"issuer":"` + dex.Issuer + `","cluster":"dex","client_id":"` + clientID + `","client_secret":"` + clientSecret + `"},
		{"name":"op","hosts":["` + opHost + `"],"issuer":"` + op.Issuer + `","cluster":"op","client_id":"op-client","client_secret":"op-secret",
		 "claims_to_headers":{"x-auth-request-email":"email","x-op-user":"sub"}}]}`
	dexToken, err := dex.PasswordGrant(testidp.DexUser, testidp.DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range wasmhost.Modules {
		t.Run(module.Name, func(t *testing.T) {
			g := &gateway{t: t, clusters: map[string]idp{"dex": {dex.Issuer, dex.Addr}, "op": {op.Issuer, op.Addr}},
				Host: wasmhost.MustStart(t, wasmhost.LoadModule(t, "../"+module.Path), config)}
			g.loadMetadata()
			dexSession := g.loginAt(dexHost, "/dex-page", dex.Issuer, "__Host-oidc_session_dex", dexLogin)
			opSession := g.loginAt(opHost, "/op-page", op.Issuer, "__Host-oidc_session_op", opLogin)

			// Each session at home, with its provider's headers; the browser sends both
			// cookies when the hosts share a parent domain cookie jar, and neither reaches
			// an app.
			id, action := g.Request(onHost(dexHost, wasmhost.APIGet("/", [2]string{"cookie", dexSession + "; " + opSession})))
			up := g.Upstream(id)
			if action != types.ActionContinue || strings.Join(up["x-auth-request-email"], ",") != testidp.DexUser || up["x-op-user"] != nil || up["cookie"] != nil {
				t.Fatalf("Dex session at %s: action %v, upstream %v", dexHost, action, up)
			}
			id, action = g.Request(onHost(opHost, wasmhost.APIGet("/", [2]string{"cookie", opSession})))
			if up := g.Upstream(id); action != types.ActionContinue || len(up["x-op-user"]) != 1 || up["x-op-user"][0] != testidp.OIDCProviderSubject {
				t.Fatalf("oidc-provider session at %s: action %v, upstream %v", opHost, action, up)
			}

			// A session carried to the other host, under the other provider's cookie name.
			_, dexValue, _ := strings.Cut(dexSession, "=")
			id, _ = g.Request(onHost(opHost, wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session_op=" + dexValue})))
			if r := g.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("Dex's session at %s: want 401, got %+v", opHost, r)
			}

			// Dex's bearer token: good at its own host, nothing at the other.
			id, action = g.Request(onHost(dexHost, wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + dexToken})))
			if action != types.ActionContinue {
				t.Errorf("Dex's token at %s refused: %+v", dexHost, g.Reply(id))
			}
			id, _ = g.Request(onHost(opHost, wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + dexToken})))
			if r := g.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("Dex's token at %s: want 401, got %+v", opHost, r)
			}
		})
	}
}
