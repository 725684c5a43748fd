package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// kubeflow-groups from a real Dex groups claim, natively and in both modules. Dex's static
// users (TestKubeflow's alice) cannot have groups; its mockCallback connector's user has
// ["authors"]. The plugin's kubeflow-groups must be what dex-jwt writes from the forwarded
// token, and a client's own copy must never reach the app.
func TestKubeflowGroups(t *testing.T) {
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{"/oauth2/callback"}, Issuer: kfIssuer, MockConnector: true})
	istio := newDexJWT(t, dex)
	for _, m := range runModes() {
		t.Run(m.name, func(t *testing.T) {
			g := startKubeflow(t, m.vm(t), dex, `,"authorization_params":{"connector_id":"mock"}`, nil)
			session := g.login("/", viaMockConnector(t, dex))
			id, action := g.Request(wasmhost.BrowserGet("/pipeline/", [2]string{"cookie", session},
				[2]string{"kubeflow-groups", "admins"}))
			if action != types.ActionContinue {
				t.Fatalf("a request with the session must go upstream: %v %+v", action, g.Reply(id))
			}
			up := g.Upstream(id)
			auth := up["authorization"]
			if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
				t.Fatalf("upstream Authorization %q: want the session's Dex ID token, alone", auth)
			}
			tok := istio.verify(t, strings.TrimPrefix(auth[0], "Bearer "), time.Now())
			email, _ := tok.Get("email")
			groups, hasGroups := tok.Get("groups")
			want := groupsHeader(groups, hasGroups)
			if email != testidp.DexMockUser || want != testidp.DexMockGroup {
				t.Fatalf("Dex's token: email %v, groups %v; want %s in %s", email, groups, testidp.DexMockUser, testidp.DexMockGroup)
			}
			if got := up["kubeflow-userid"]; len(got) != 1 || got[0] != testidp.DexMockUser {
				t.Errorf("the plugin's kubeflow-userid %q, want only %s", got, testidp.DexMockUser)
			}
			if got := up["kubeflow-groups"]; len(got) != 1 || got[0] != want {
				t.Errorf("the plugin's kubeflow-groups %q, dex-jwt's would be %q (and the client's admins never)", got, want)
			}
		})
	}
}

// viaMockConnector logs in at Dex's mockCallback connector through the gateway's /dex/. The
// connector sends the browser to Dex's callback under Dex's issuer, the in-cluster name no
// browser reaches; a real connector's redirectURI is the gateway's public URL, so the walk
// goes on at https://<kfHost>/dex/callback from there.
func viaMockConnector(t *testing.T, dex *testidp.Dex) func(b *testidp.Browser, authURL string) (string, error) {
	return func(b *testidp.Browser, authURL string) (string, error) {
		if q := wasmhost.Query(t, authURL); q.Get("connector_id") != "mock" {
			t.Errorf("authorization request %s: want connector_id=mock", authURL)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		next, err := url.Parse(authURL)
		for hop := 0; err == nil && hop < 5; hop++ {
			if strings.HasSuffix(next.Path, "/dex/callback") {
				next.Scheme, next.Host = "https", kfHost
				return b.ThroughGateway(kfHost, "/dex/", dex.Addr).LoginAtDex(next.String(), "", "")
			}
			direct := *next
			direct.Scheme, direct.Host = "http", dex.Addr
			var resp *http.Response
			if resp, err = client.Get(direct.String()); err != nil {
				break
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
				return "", fmt.Errorf("Dex answered %s with %d, want a redirect", direct.String(), resp.StatusCode)
			}
			next, err = next.Parse(resp.Header.Get("Location"))
		}
		return "", fmt.Errorf("no redirect to Dex's callback from %s: %v", authURL, err)
	}
}
