package plugin

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	issuerA = "https://idp-a.example.net"
	issuerB = "https://idp-b.example.net"
)

// providersConfig serves grafana.example.com with IdP A, every other *.example.com with IdP
// B, and grafana.example.com/admin with IdP B under another client. The secrets are
// top-level defaults every provider inherits.
func providersConfig() string {
	return `{"client_secret":"` + testSecret + `","cookie_secret":"` + testCookieKey + `","providers":[
		{"name":"grafana","hosts":["grafana.example.com"],"issuer":"` + issuerA + `","client_id":"` + testClientID + `"},
		{"name":"kubeflow","hosts":["*.example.com"],"issuer":"` + issuerB + `","client_id":"` + testClientID + `",
		 "claims_to_headers":{"kubeflow-userid":{"claim":"email","prefix":"b:"}}},
		{"name":"admin","hosts":["grafana.example.com"],"path_prefix":"/admin","issuer":"` + issuerB + `","client_id":"` + testClientID + `",
		 "authorization":[{"allow":[{"group":"ops"}]}]}]}`
}

func TestProvidersConfig(t *testing.T) {
	cfgs, err := ParseConfig([]byte(providersConfig()), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 3 {
		t.Fatalf("%d providers", len(cfgs))
	}
	g, k, a := cfgs[0], cfgs[1], cfgs[2]
	if g.Name != "grafana" || g.CookieName != "__Host-oidc_session_grafana" || g.RedirectPath != "/oauth2/callback" ||
		g.ClientSecret != testSecret || len(g.CookieSecrets[0]) != 32 || g.Cluster != "outbound|443||idp-a.example.net" {
		t.Errorf("grafana: %+v", g)
	}
	if k.Hosts[0] != "*.example.com" || k.ClaimsToHeaders[0].Header != "kubeflow-userid" || len(k.ClaimsToHeaders) != 1 {
		t.Errorf("kubeflow: %+v", k)
	}
	if a.PathPrefix != "/admin" || a.RedirectPath != "/admin/oauth2/callback" || a.LogoutPath != "/admin/oauth2/logout" || len(a.Authorization) != 1 {
		t.Errorf("admin: %+v", a)
	}
	// An entry's own key wins over the top-level default.
	c := `{"cookie_secret":"` + testCookieKey + `","client_secret":"top","scopes":["openid"],"providers":[` +
		`{"name":"x","hosts":["*"],"issuer":"` + issuerA + `","client_id":"c","client_secret":"own"}]}`
	cfgs, err = ParseConfig([]byte(c), noEnv)
	if err != nil || cfgs[0].ClientSecret != "own" || strings.Join(cfgs[0].Scopes, " ") != "openid" {
		t.Fatalf("override: %v %+v", err, cfgs)
	}
}

// Errors inside providers name the entry and the key; an error in an inherited top-level key
// names that key and the entry that inherited it.
func TestProvidersConfigErrors(t *testing.T) {
	top := `"cookie_secret":"` + testCookieKey + `","client_secret":"s"`
	entry := func(extra string) string {
		return `{"name":"a","hosts":["a.example.com"],"issuer":"` + issuerA + `","client_id":"c"` + extra + `}`
	}
	other := `{"name":"b","hosts":["b.example.com"],"issuer":"` + issuerB + `","client_id":"c"}`
	cases := []struct{ config, key, problem string }{
		{`{` + top + `,"providers":{}}`, "providers", "array"},
		{`{` + top + `,"providers":[]}`, "providers", "array"},
		{`{` + top + `,"providers":["a"]}`, "providers[0]", "object"},
		{`{` + top + `,"name":"a","providers":[` + entry("") + `]}`, "name", "unknown key"},
		{`{` + top + `,"hosts":["a"]}`, "hosts", "unknown key"},
		{`{` + top + `,"providers":[` + entry(`,"skip_path":[]`) + `]}`, "providers[0].skip_path", "unknown key"},
		{`{` + top + `,"providers":[{"hosts":["a.example.com"],"issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].name", "required"},
		{`{` + top + `,"providers":[` + strings.Replace(entry(""), `"a"`, `"A b"`, 1) + `]}`, "providers[0].name", "lower-case"},
		{`{` + top + `,"providers":[{"name":"a","issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].hosts", "required"},
		{`{` + top + `,"providers":[{"name":"a","hosts":[],"issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].hosts", "non-empty"},
		{`{` + top + `,"providers":[{"name":"a","hosts":["a.example.com:8443"],"issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].hosts[0]", "without port"},
		{`{` + top + `,"providers":[{"name":"a","hosts":["a.*.com"],"issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].hosts[0]", "host name"},
		{`{` + top + `,"providers":[{"name":"a","hosts":["a.example.com","A.example.com"],"issuer":"` + issuerA + `","client_id":"c"}]}`, "providers[0].hosts[1]", "twice"},
		{`{` + top + `,"providers":[` + entry(`,"path_prefix":"/x/../y"`) + `]}`, "providers[0].path_prefix", "normal form"},
		{`{` + top + `,"providers":[` + entry(`,"path_prefix":"/x/"`) + `]}`, "providers[0].path_prefix", "must not end with '/'"},
		{`{` + top + `,"providers":[` + entry(`,"path_prefix":"/x;y"`) + `]}`, "providers[0].path_prefix", "';'"},
		{`{` + top + `,"providers":[` + entry(`,"path_prefix":"/%61dmin"`) + `]}`, "providers[0].path_prefix", `write it as "/admin"`},
		{`{` + top + `,"providers":[` + entry(`,"path_prefix":"/x","redirect_path":"/cb"`) + `]}`, "providers[0].redirect_path", "under the provider's path_prefix"},
		{`{` + top + `,"redirect_path":"/cb","providers":[` + entry(`,"path_prefix":"/x"`) + `]}`, "providers[0].redirect_path", "under"},
		{`{` + top + `,"providers":[` + strings.Replace(entry(""), `"client_id":"c"`, `"client_id":""`, 1) + `]}`, "providers[0].client_id", "empty"},
		{`{` + top + `,"providers":[` + entry(`,"client_id":"d"`) + `]}`, "providers[0].client_id", "twice"},
		{`{` + top + `,"client_secret":"t","providers":[` + entry("") + `]}`, "client_secret", "twice"},
		{`{"cookie_secret":"` + testCookieKey + `","providers":[` + entry("") + `]}`, "providers[0].client_secret", "required"},
		{`{` + top + `,"timeout_ms":0,"providers":[` + entry("") + `]}`, "timeout_ms", "inherited by providers[0]"},
		{`{` + top + `,"providers":[` + entry("") + `,` + strings.Replace(other, `"b"`, `"a"`, 1) + `]}`, "providers[1].name", "already"},
		{`{` + top + `,"providers":[` + entry("") + `,` + strings.Replace(other, "b.example.com", "a.example.com", 1) + `]}`, "providers[1].hosts[0]", "already served"},
		{`{` + top + `,"cookie_name":"shared","providers":[` + entry("") + `,` + other + `]}`, "providers[1].cookie_name", "overlaps"},
		{`{` + top + `,"providers":[` + entry(`,"cookie_name":"s"`) + `,` + strings.Replace(other, `"c"}`, `"c","cookie_name":"s_1"}`, 1) + `]}`, "providers[1].cookie_name", "overlaps"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.config), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Problem, c.problem) {
			t.Errorf("%s:\n  want key %q (%s), got %v", c.config, c.key, c.problem, err)
		}
	}
}

// The most specific route wins whatever the order of the configuration; the port and case
// of the host do not matter; a wildcard does not cover its apex.
func TestRouterPicksTheMostSpecificProvider(t *testing.T) {
	named := func(name, prefix string, hosts ...string) *relyingParty {
		return &relyingParty{cfg: &Config{Name: name, Hosts: hosts, PathPrefix: prefix}}
	}
	r := newRouter([]*relyingParty{
		named("any", "", "*"),
		named("wild", "", "*.example.com"),
		named("deep", "", "*.apps.example.com"),
		named("exact", "", "grafana.example.com"),
		named("exact-admin", "/admin", "grafana.example.com"),
		named("exact-admin-deep", "/admin/deep", "grafana.example.com"),
	})
	cases := []struct{ authority, path, want string }{
		{"grafana.example.com", "/", "exact"},
		{"GRAFANA.example.com:8443", "/x", "exact"},
		{"grafana.example.com.", "/x", "exact"},
		{"grafana.example.com", "/admin", "exact-admin"},
		{"grafana.example.com", "/admin/x", "exact-admin"},
		{"grafana.example.com", "/administrator", "exact"},
		{"grafana.example.com", "/admin/deep/x", "exact-admin-deep"},
		{"kf.example.com", "/admin", "wild"},
		{"a.b.example.com", "/", "wild"},
		{"x.apps.example.com", "/", "deep"},
		{"example.com", "/", "any"},
		{"evil-example.com", "/", "any"},
		{"[::1]:8080", "/", "any"},
	}
	for _, c := range cases {
		got, ok := r.match(c.authority, parsePath(c.path))
		if !ok || got == nil || got.cfg.Name != c.want {
			t.Errorf("%s%s: want %s, got %+v", c.authority, c.path, c.want, got)
		}
	}
	only := newRouter([]*relyingParty{named("grafana", "", "grafana.example.com"), named("wild", "", "*.example.com")})
	for _, authority := range []string{"example.com", "grafana.example.com.evil.net", "", "xexample.com"} {
		if got, _ := only.match(authority, parsePath("/")); got != nil {
			t.Errorf("%q: want no provider, got %s", authority, got.cfg.Name)
		}
	}
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

// serveAll answers every metadata fetch of several IdPs.
func serveAll(t *testing.T, h *wasmhost.Host, idps ...*fakeIdP) {
	t.Helper()
	h.Tick()
	h.AnswerEach(wasmhost.PluginContextID, func(c wasmhost.Callout) {
		var idp *fakeIdP
		for _, f := range idps {
			if strings.HasPrefix(c.URL(), f.issuer+"/") {
				idp = f
			}
		}
		switch {
		case idp == nil:
			t.Fatalf("callout to no known IdP: %s", c.URL())
		case strings.HasSuffix(c.URL(), "/.well-known/openid-configuration"):
			h.Answer(c, 200, idp.discovery())
		case strings.HasSuffix(c.URL(), "/keys"):
			h.Answer(c, 200, idp.jwks())
		default:
			t.Fatalf("unexpected metadata callout %s", c.URL())
		}
	})
}

// providerLogin logs a browser in at host+path through idp and returns the session cookie
// ("name=value") and the state cookie of the login it started.
func providerLogin(t *testing.T, h *wasmhost.Host, idp *fakeIdP, host, path, cookie, callback string) string {
	t.Helper()
	id, _ := h.Request(onHost(host, wasmhost.BrowserGet(path)))
	r := h.Reply(id)
	if r == nil || r.Status != 302 || !strings.HasPrefix(r.Header("location"), idp.issuer+"/authorize?") {
		t.Fatalf("%s%s: want a redirect to %s, got %+v", host, path, idp.issuer, r)
	}
	q := wasmhost.Query(t, r.Header("location"))
	if q.Get("redirect_uri") != "https://"+host+callback {
		t.Fatalf("redirect_uri %q, want https://%s%s", q.Get("redirect_uri"), host, callback)
	}
	state := r.StateCookie(cookie)
	if state == "" {
		t.Fatalf("no %s_state_<login> cookie: %+v", cookie, r.Headers)
	}
	cb, _ := h.Request(onHost(host, wasmhost.BrowserGet(callback+"?code=c&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state})))
	tok := h.OnePending(cb)
	if !strings.HasPrefix(tok.URL(), idp.issuer+"/token") {
		t.Fatalf("code sent to %s, want %s", tok.URL(), idp.issuer)
	}
	h.Answer(tok, 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
	done := h.Reply(cb)
	if done == nil || done.Status != 302 {
		t.Fatalf("callback at %s: want 302, got %+v", host, done)
	}
	return cookie + "=" + wasmhost.CookieValue(done.SetCookies()[cookie])
}

// One plugin serves three providers; each request goes to its own IdP, and a session or a
// login state of one provider is worth nothing at another, even under the same cookie secret.
func TestProvidersOnOneGateway(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, providersConfig())
		a, b := newFakeIdP(t, m), newFakeIdP(t, m)
		a.issuer, b.issuer = issuerA, issuerB
		a.claims["email"] = "alice@a.example"
		serveAll(t, h, a, b)

		grafana := providerLogin(t, h, a, "grafana.example.com", "/d/1", "__Host-oidc_session_grafana", "/oauth2/callback")
		kubeflow := providerLogin(t, h, b, "kf.example.com", "/", "__Host-oidc_session_kubeflow", "/oauth2/callback")
		admin := providerLogin(t, h, b, "grafana.example.com", "/admin/users", "__Host-oidc_session_admin", "/admin/oauth2/callback")

		// Each session works where it was issued, with its provider's headers.
		id, action := h.Request(onHost("grafana.example.com", wasmhost.APIGet("/d/1", [2]string{"cookie", grafana + "; " + admin + "; theme=dark"})))
		up := h.Upstream(id)
		if action != types.ActionContinue || up["x-auth-request-email"][0] != "alice@a.example" || up["kubeflow-userid"] != nil {
			t.Fatalf("grafana session: action %v, upstream %v", action, up)
		}
		// Both providers' cookies are removed: the app behind one provider never holds
		// another's session.
		if got := strings.Join(up["cookie"], ";"); got != "theme=dark" {
			t.Errorf("upstream cookie %q, want only theme=dark", got)
		}
		id, action = h.Request(onHost("kf.example.com", wasmhost.APIGet("/", [2]string{"cookie", kubeflow})))
		if up := h.Upstream(id); action != types.ActionContinue || up["kubeflow-userid"][0] != "b:alice@example.com" {
			t.Fatalf("kubeflow session: action %v, upstream %v", action, up)
		}
		id, action = h.Request(onHost("grafana.example.com", wasmhost.APIGet("/admin/users", [2]string{"cookie", admin})))
		if action != types.ActionContinue {
			t.Fatalf("admin session refused: %+v", h.Reply(id))
		}

		// Sessions moved to another provider's cookie name, on its host or path, do not open.
		value := func(c string) string { _, v, _ := strings.Cut(c, "="); return v }
		for _, tossed := range []struct{ host, path, cookie string }{
			{"kf.example.com", "/", "__Host-oidc_session_kubeflow=" + value(grafana)},
			{"grafana.example.com", "/admin/users", "__Host-oidc_session_admin=" + value(grafana)},
			{"grafana.example.com", "/admin/users", "__Host-oidc_session_admin=" + value(kubeflow)},
			{"grafana.example.com", "/", "__Host-oidc_session_grafana=" + value(admin)},
			{"grafana.example.com", "/admin/users", grafana},
		} {
			id, _ := h.Request(onHost(tossed.host, wasmhost.APIGet(tossed.path, [2]string{"cookie", tossed.cookie})))
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("%s%s with %.40s...: want 401, got %+v", tossed.host, tossed.path, tossed.cookie, r)
			}
		}

		// A login state started at one provider does not complete at another.
		id, _ = h.Request(onHost("grafana.example.com", wasmhost.BrowserGet("/")))
		r := h.Reply(id)
		state := wasmhost.CookieValue(r.SetCookies()["__Host-oidc_session_grafana_state"])
		q := wasmhost.Query(t, r.Header("location"))
		id, _ = h.Request(onHost("kf.example.com", wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")),
			[2]string{"cookie", "__Host-oidc_session_kubeflow_state=" + state})))
		if r := h.Reply(id); r == nil || r.Status != 400 || h.HasPending(id) {
			t.Errorf("state of grafana at kubeflow's callback: want 400 and no token call, got %+v", r)
		}

		// A bearer token of IdP B is not one of IdP A's.
		id, _ = h.Request(onHost("grafana.example.com", wasmhost.APIGet("/d/1", [2]string{"authorization", "Bearer " + b.idToken("", nil)})))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("IdP B's token at grafana: want 401, got %+v", r)
		}

		// No provider: fail closed. A path whose provider depends on normalization: refused.
		id, _ = h.Request(onHost("example.com", wasmhost.BrowserGet("/")))
		if r := h.Reply(id); r == nil || r.Status != 403 || !strings.Contains(r.Body, "No sign-in is configured") {
			t.Errorf("host without provider: want the 403 page, got %+v", r)
		}
		id, _ = h.Request(onHost("example.com", wasmhost.APIGet("/")))
		if r := h.Reply(id); r == nil || r.Status != 403 || !strings.Contains(r.Body, `"error":"no_provider"`) {
			t.Errorf("host without provider: want 403 JSON, got %+v", r)
		}
		for _, p := range []string{"/x/../admin/users", "/admin/..%2fx", "//admin/users"} {
			id, _ = h.Request(onHost("grafana.example.com", wasmhost.APIGet(p, [2]string{"cookie", admin})))
			if r := h.Reply(id); r == nil || r.Status != 400 {
				t.Errorf("%s: want 400, got %+v", p, r)
			}
		}
	})
}
