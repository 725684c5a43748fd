package plugin

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// kubeflowDex is Dex as Kubeflow runs it: tokens carry the in-cluster issuer, browsers reach
// Dex through the gateway's own host at /dex, and the client is registered with the relative
// redirect URI /oauth2/callback (issue 13).
const kubeflowDex = `"authorization_endpoint":"/dex/auth","token_endpoint":"` + testIssuer + `/token",` +
	`"jwks_uri":"` + testIssuer + `/keys","redirect_uri":"/oauth2/callback"`

// With every endpoint configured, discovery is never fetched; the browser goes to the
// authorization endpoint on its own host, the redirect URI is sent as configured to both the
// IdP's login and its token endpoint, and the ID token must still carry the issuer.
func TestConfiguredEndpointsWithoutDiscovery(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(kubeflowDex))
		idp := newFakeIdP(t, m)
		h.Tick()
		keys := h.OnePending(wasmhost.PluginContextID)
		if keys.URL() != testIssuer+"/keys" {
			t.Fatalf("first call %s: want the configured JWKS, no discovery", keys.URL())
		}
		h.Answer(keys, 200, idp.jwks())

		id, _ := h.Request(wasmhost.BrowserGet("/pipeline/"))
		start := h.Reply(id)
		loc, err := url.Parse(start.Header("location"))
		if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != "https://app.example.com/dex/auth" || loc.Query().Get("redirect_uri") != "/oauth2/callback" {
			t.Fatalf("login redirect %q: want https://app.example.com/dex/auth with redirect_uri /oauth2/callback", start.Header("location"))
		}
		q := loc.Query()
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", stateCookie(start)}))
		exchange := h.OnePending(id)
		form, _ := url.ParseQuery(exchange.Body)
		if exchange.URL() != testIssuer+"/token" || form.Get("redirect_uri") != "/oauth2/callback" {
			t.Fatalf("code exchange %s with redirect_uri %q", exchange.URL(), form.Get("redirect_uri"))
		}
		h.Answer(exchange, 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"iss": "https://elsewhere.example.com"})))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("an ID token of another issuer must be refused, got %+v", r)
		}
		if h.HasPending(wasmhost.PluginContextID) {
			t.Error("discovery must never be fetched")
		}
	})
}

// Endpoints configured next to discovery replace the document's; the others stay.
func TestConfiguredEndpointsOverrideDiscovery(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"token_endpoint":"http://dex.auth.svc.cluster.local:5556/dex/token","end_session_endpoint":"/dex/logout"`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		id, _ := h.Request(wasmhost.BrowserGet("/"))
		start := h.Reply(id)
		if !strings.HasPrefix(start.Header("location"), testIssuer+"/authorize?") {
			t.Fatalf("the discovered authorization endpoint must stay: %q", start.Header("location"))
		}
		q := wasmhost.Query(t, start.Header("location"))
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", stateCookie(start)}))
		exchange := h.OnePending(id)
		if exchange.URL() != "https://dex.auth.svc.cluster.local:5556/dex/token" || exchange.Headers[":authority"] != "dex.auth.svc.cluster.local:5556" {
			t.Fatalf("code exchange to %s, want the configured token endpoint", exchange.URL())
		}
		h.Answer(exchange, 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		session := "__Host-oidc_session=" + wasmhost.CookieValue(h.Reply(id).SetCookies()["__Host-oidc_session"])
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session}))
		if loc := h.Reply(id).Header("location"); !strings.HasPrefix(loc, "https://app.example.com/dex/logout?") {
			t.Errorf("logout to %q: want the configured end-session endpoint on the request's host", loc)
		}
	})
}

// login_path starts a login for any client, returning to a safe rd; api_paths always answer
// 401 and page_paths send any GET to the login (Kubeflow's scripted logins).
func TestLoginPathAndPathKinds(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"api_paths":[{"prefix":"/api"},{"regex":"/ml_metadata.*"}],"page_paths":[{"prefix":"/"}]`))
		newFakeIdP(t, m).serveMetadata(h)
		script := func(method, path string) [][2]string {
			return [][2]string{{":method", method}, {":path", path}, {":authority", "app.example.com"}, {":scheme", "https"}, {"accept", "*/*"}}
		}
		for _, c := range []struct {
			name    string
			headers [][2]string
			status  uint32
			back    string // the sealed return path, for a login
		}{
			{"login path, script", script("GET", "/oauth2/start?rd=/pipeline/"), 302, "/pipeline/"},
			{"login path, POST", script("POST", "/oauth2/start?rd=/x"), 302, "/x"},
			{"login path, unsafe rd", script("GET", "/oauth2/start?rd=//evil.com"), 302, "/"},
			{"login path, no rd", script("GET", "/oauth2/start"), 302, "/"},
			{"page path, script", script("GET", "/pipeline/?ns=a"), 302, "/pipeline/?ns=a"},
			{"page path, POST", script("POST", "/pipeline/"), 401, ""},
			{"api path, browser", wasmhost.BrowserGet("/api/v1/runs"), 401, ""},
			{"api regex, script", script("GET", "/ml_metadata.MetadataStoreService/x"), 401, ""},
		} {
			id, _ := h.Request(c.headers)
			r := h.Reply(id)
			if r == nil || r.Status != c.status {
				t.Errorf("%s: want %d, got %+v", c.name, c.status, r)
				continue
			}
			if c.status == 302 {
				if st := openLoginState(t, m, stateValue(r)); st.ReturnTo != c.back {
					t.Errorf("%s: returns to %q, want %q", c.name, st.ReturnTo, c.back)
				}
			}
		}
	})
}

func TestEndpointConfigErrors(t *testing.T) {
	cases := []struct{ config, key string }{
		{`"authorization_endpoint":"dex/auth"`, "authorization_endpoint"},
		{`"authorization_endpoint":"ftp://idp/auth"`, "authorization_endpoint"},
		{`"token_endpoint":"/dex/token"`, "token_endpoint"},
		{`"jwks_uri":"https://idp/keys#x"`, "jwks_uri"},
		{`"end_session_endpoint":7`, "end_session_endpoint"},
		{`"redirect_uri":"/elsewhere"`, "redirect_uri"},
		{`"redirect_uri":"https://app.example.com/oauth2/callback?x=1"`, "redirect_uri"},
		{`"redirect_uri":"https://user@app.example.com/oauth2/callback"`, "redirect_uri"},
		{`"login_path":"/oauth2/callback"`, "login_path"},
		{`"login_path":"start"`, "login_path"},
		{`"api_paths":[{"prefix":"api"}]`, "api_paths[0].prefix"},
		{`"page_paths":{"prefix":"/"}`, "page_paths"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(testConfig(c.config)), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
	for _, ok := range []string{`"redirect_uri":"https://app.example.com/oauth2/callback"`, `"redirect_uri":"/oauth2/callback"`, kubeflowDex} {
		if _, err := ParseConfig([]byte(testConfig(ok)), noEnv); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
