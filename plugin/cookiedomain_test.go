package plugin

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const domainCookie = "__Secure-oidc_session"

// domainLogin starts a login with GET target on host and completes it with the callback on
// callbackHost, returning the login's start and the callback's reply.
func domainLogin(t *testing.T, h *wasmhost.Host, idp *fakeIdP, host, target, callbackHost string) (start, done *wasmhost.Reply) {
	t.Helper()
	id, _ := h.Request(onHost(host, wasmhost.BrowserGet(target)))
	start = h.Reply(id)
	if start == nil || start.Status != 302 {
		t.Fatalf("login on %s: want 302, got %+v", host, start)
	}
	q := wasmhost.Query(t, start.Header("location"))
	cb, _ := h.Request(onHost(callbackHost, wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", start.StateCookie(domainCookie)})))
	if !h.HasPending(cb) {
		t.Fatalf("callback on %s: no token call, got %+v", callbackHost, h.Reply(cb))
	}
	h.Answer(h.OnePending(cb), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
	return start, h.Reply(cb)
}

// sessionOf is the session a callback set, as a Cookie header, and its Set-Cookie values.
func sessionOf(r *wasmhost.Reply) (string, []string) {
	var pairs, sets []string
	for name, sc := range r.SetCookies() {
		if strings.HasPrefix(name, domainCookie) && !strings.HasPrefix(name, domainCookie+"_state") && wasmhost.CookieValue(sc) != "" {
			pairs, sets = append(pairs, name+"="+wasmhost.CookieValue(sc)), append(sets, sc)
		}
	}
	return strings.Join(pairs, "; "), sets
}

// With cookie_domain one login serves every host under the domain: the cookies carry the
// Domain (the longest configured that matches), a host under none gets host-only cookies,
// and a logout clears both the domain cookies and any host-only ones of the same name.
func TestSingleSignOnAcrossSubdomains(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"cookie_domain":["Example.com",".apps.example.com"]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)

		start, done := domainLogin(t, h, idp, "grafana.example.com", "/d/1", "grafana.example.com")
		if sc := stateSetCookieOf(start); !strings.Contains(sc, "; Domain=example.com") || !strings.Contains(sc, "SameSite=Lax") {
			t.Errorf("state cookie: want Domain=example.com, SameSite=Lax, got %q", sc)
		}
		if done.Status != 302 || done.Header("location") != "/d/1" {
			t.Fatalf("callback: want 302 to /d/1, got %+v", done)
		}
		session, sets := sessionOf(done)
		for _, sc := range sets {
			if !strings.Contains(sc, "; Domain=example.com") || !strings.Contains(sc, "; Secure") {
				t.Errorf("session cookie: want Domain=example.com and Secure, got %q", sc)
			}
		}
		id, action := h.Request(onHost("kiali.example.com", wasmhost.BrowserGet("/graph", [2]string{"cookie", session})))
		if action != types.ActionContinue || h.Reply(id) != nil {
			t.Fatalf("a sibling subdomain must accept the session, got %+v", h.Reply(id))
		}

		// The longest domain that matches wins; a host under none gets host-only cookies.
		for host, want := range map[string]string{"ml.apps.example.com": "; Domain=apps.example.com", "example.com": "; Domain=example.com", "example.org": ""} {
			id, _ := h.Request(onHost(host, wasmhost.BrowserGet("/")))
			sc := stateSetCookieOf(h.Reply(id))
			if got := sc[strings.Index(sc, ";"):]; want == "" && strings.Contains(got, "Domain=") || want != "" && !strings.Contains(got, want+";") {
				t.Errorf("%s: want domain %q, got %q", host, want, sc)
			}
		}

		id, _ = h.Request(onHost("kiali.example.com", wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session})))
		r := h.Reply(id)
		var hostOnly, domain int
		for _, kv := range r.Headers {
			if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], domainCookie+"=;") {
				if strings.Contains(kv[1], "; Domain=example.com") {
					domain++
				} else {
					hostOnly++
				}
			}
		}
		if hostOnly != 1 || domain != 1 {
			t.Errorf("logout must clear the session cookie with and without Domain, got %v", r.Headers)
		}
	})
}

// The hosts under a cookie domain share the session, so a login or logout may send the
// browser to them (https on the default port, with cookie_secure), and nowhere else that
// allowed_redirect_hosts does not name. A callback on one host (redirect_uri) brings the
// browser back to the host it started on.
func TestCookieDomainRedirects(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"cookie_domain":"example.com","redirect_uri":"https://login.example.com/oauth2/callback"`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)

		start, done := domainLogin(t, h, idp, "grafana.example.com", "/d/1?x=2", "login.example.com")
		if got := wasmhost.Query(t, start.Header("location")).Get("redirect_uri"); got != "https://login.example.com/oauth2/callback" {
			t.Errorf("redirect_uri sent: %q", got)
		}
		if done.Status != 302 || done.Header("location") != "https://grafana.example.com/d/1?x=2" {
			t.Fatalf("a callback on the login host must send the browser back to the host it started on, got %+v", done)
		}
		session, _ := sessionOf(done)

		for rd, want := range map[string]string{
			"https://kiali.example.com/graph":    "https://kiali.example.com/graph",
			"https://EXAMPLE.com/":               "https://EXAMPLE.com/",
			"http://kiali.example.com/graph":     "/",
			"https://kiali.example.com:8443/":    "/",
			"https://example.com.evil.org/":      "/",
			"https://evilexample.com/":           "/",
			"//kiali.example.com/":               "/",
			"https://kiali.example.com%2f@evil/": "/",
		} {
			// Logout: the rd is where the browser lands (the IdP has no end_session_endpoint).
			id, _ := h.Request(onHost("grafana.example.com", wasmhost.BrowserGet("/oauth2/logout?rd="+url.QueryEscape(rd), [2]string{"cookie", session})))
			if got := h.Reply(id).Header("location"); got != want {
				t.Errorf("logout rd %q: want %q, got %q", rd, want, got)
			}
			// Login start: the rd is where the login comes back to.
			start, done := domainLogin(t, h, idp, "grafana.example.com", "/oauth2/start?rd="+url.QueryEscape(rd), "login.example.com")
			if want == "/" {
				want = "https://grafana.example.com/"
			}
			if got := done.Header("location"); got != want {
				t.Errorf("login rd %q: want %q, got %q (start %q)", rd, want, got, start.Header("location"))
			}
		}
	})
}

// cookie_samesite sets the session cookies' SameSite; the state cookie stays Lax (it must
// come back on the IdP's redirect) unless None. With Strict a login ends on a page that moves
// on from this site, since the IdP's redirect would not carry the new cookies.
func TestCookieSameSite(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, c := range []struct{ value, session, state string }{
			{"", "Lax", "Lax"},
			{`"lax"`, "Lax", "Lax"},
			{`"Strict"`, "Strict", "Lax"},
			{`"none"`, "None", "None"},
		} {
			extra := `"cookie_domain":"example.com"`
			if c.value != "" {
				extra += `,"cookie_samesite":` + c.value
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)
			start, done := domainLogin(t, h, idp, "app.example.com", `/a?b=1&c=2`, "app.example.com")
			if sc := stateSetCookieOf(start); !strings.Contains(sc, "; SameSite="+c.state) {
				t.Errorf("%s: state cookie %q, want SameSite=%s", c.value, sc, c.state)
			}
			_, sets := sessionOf(done)
			for _, sc := range sets {
				if !strings.HasSuffix(sc, "; SameSite="+c.session) && !strings.Contains(sc, "; SameSite="+c.session+";") {
					t.Errorf("%s: session cookie %q, want SameSite=%s", c.value, sc, c.session)
				}
			}
			if c.session != "Strict" {
				if done.Status != 302 {
					t.Errorf("%s: want a redirect after login, got %+v", c.value, done)
				}
				continue
			}
			const to = `/a?b=1&amp;c=2`
			if done.Status != 200 || done.Header("location") != "" || !strings.Contains(done.Body, `<meta http-equiv="refresh" content="0;url=`+to+`">`) || len(sets) == 0 {
				t.Errorf("strict: want a page that moves on to the escaped target, with the session, got %+v", done)
			}
		}
	})
}

// stateSetCookieOf is the Set-Cookie of the state cookie a login start set under domainCookie.
func stateSetCookieOf(r *wasmhost.Reply) string {
	for name, sc := range r.SetCookies() {
		if strings.HasPrefix(name, domainCookie+"_state_") && wasmhost.CookieValue(sc) != "" {
			return sc
		}
	}
	return ""
}

func TestCookieDomainConfig(t *testing.T) {
	base := `"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"`
	for _, c := range []struct{ config, key string }{
		{`"cookie_domain":"com"`, "cookie_domain"},
		{`"cookie_domain":"127.0.0.1"`, "cookie_domain"},
		{`"cookie_domain":"[::1]"`, "cookie_domain"},
		{`"cookie_domain":"ex ample.com"`, "cookie_domain"},
		{`"cookie_domain":"-a.example.com"`, "cookie_domain"},
		{`"cookie_domain":""`, "cookie_domain"},
		{`"cookie_domain":7`, "cookie_domain"},
		{`"cookie_domain":["example.com",".Example.com"]`, "cookie_domain"},
		{`"cookie_domain":"example.com","cookie_name":"__Host-s"`, "cookie_name"},
		{`"cookie_domain":"example.com","cookie_name":"__HOST-s"`, "cookie_name"},
		{`"cookie_samesite":"none","cookie_secure":false`, "cookie_samesite"},
		{`"cookie_samesite":"relaxed"`, "cookie_samesite"},
		{`"cookie_samesite":true`, "cookie_samesite"},
	} {
		_, err := ParseConfig([]byte(`{`+base+`,`+c.config+`}`), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}

	for _, c := range []struct{ config, name string }{
		{`"cookie_domain":".Example.COM"`, domainCookie},
		{`"cookie_domain":"example.com","cookie_secure":false`, "_oidc_session"},
		{`"cookie_domain":"example.com","cookie_name":"__Secure-s"`, "__Secure-s"},
		{`"cookie_domain":"example.com","providers":[{"name":"graf","hosts":["grafana.example.com"]}]`, domainCookie + "_graf"},
	} {
		cfgs, err := ParseConfig([]byte(`{`+base+`,`+c.config+`}`), noEnv)
		if err != nil || cfgs[0].CookieName != c.name || cfgs[0].CookieDomains[0] != "example.com" {
			t.Errorf("%s: want cookie %q for domain example.com, got %+v, %v", c.config, c.name, cfgs, err)
		}
	}
}
