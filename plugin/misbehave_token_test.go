package plugin

// The IdP's token endpoint misbehaves (issue 5): a broken answer during a login fails that
// login with a page, never a session, and a flood of refreshes due at once is bounded per VM.
// SECURITY.md, G7, G8 and "Failure of the identity provider"; the helpers and the
// discovery and JWKS failures are in misbehave_test.go.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The token endpoint misbehaves during a login: each answer fails the login with a page
// (never a redirect, never a session), a log line and a metric; the VM keeps serving and the
// next login with a good answer succeeds.
func TestMisbehaveTokenEndpoint(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		_, foreign := testKeys(t)
		cases := []struct {
			name   string
			answer func(nonce string) idpAnswer
			status uint32
			metric string
		}{
			{"down / slow beyond timeout_ms", func(string) idpAnswer { return idpAnswer{0, ""} }, 503, metricLoginFailedTokenEndpoint},
			{"500", func(string) idpAnswer { return idpAnswer{500, "oops"} }, 502, metricLoginFailedTokenEndpoint},
			{"502 HTML (a proxy in front of the IdP)", func(string) idpAnswer { return idpAnswer{502, "<html>bad gateway</html>"} }, 503, metricLoginFailedTokenEndpoint},
			{"503 (Envoy: connection failed, no healthy host)", func(string) idpAnswer { return idpAnswer{503, "no healthy upstream"} }, 503, metricLoginFailedTokenEndpoint},
			{"504 (Envoy: the call timed out)", func(string) idpAnswer { return idpAnswer{504, "upstream request timeout"} }, 503, metricLoginFailedTokenEndpoint},
			{"garbage", func(string) idpAnswer { return idpAnswer{200, "<html>"} }, 502, metricLoginFailedTokenEndpoint},
			{"truncated JSON", func(n string) idpAnswer { a := tokenAnswer(idp.idToken(n, nil)); return idpAnswer{200, a[:len(a)/2]} }, 502, metricLoginFailedTokenEndpoint},
			{"over 1 MiB", func(string) idpAnswer { return idpAnswer{200, `{"x":"` + strings.Repeat("x", 1<<20) + `"}`} }, 503, metricLoginFailedTokenEndpoint},
			{"no id_token", func(string) idpAnswer { return idpAnswer{200, `{"access_token":"a","token_type":"Bearer"}`} }, 502, metricLoginFailedIdToken},
			{"ID token for another audience", func(n string) idpAnswer {
				return idpAnswer{200, tokenAnswer(idp.idToken(n, map[string]any{"aud": "other-app"}))}
			}, 401, metricLoginFailedIdToken},
			{"ID token for another nonce", func(string) idpAnswer { return idpAnswer{200, tokenAnswer(idp.idToken("other-nonce", nil))} }, 401, metricLoginFailedIdToken},
			{"ID token without nonce", func(string) idpAnswer {
				return idpAnswer{200, tokenAnswer(idp.idToken("", map[string]any{"nonce": nil}))}
			}, 401, metricLoginFailedIdToken},
			{"ID token of another issuer", func(n string) idpAnswer {
				return idpAnswer{200, tokenAnswer(idp.idToken(n, map[string]any{"iss": "https://evil.example.com"}))}
			}, 401, metricLoginFailedIdToken},
			{"ID token unsigned", func(n string) idpAnswer { return idpAnswer{200, tokenAnswer(unsignedToken(n))} }, 401, metricLoginFailedIdToken},
			{"ID token expired", func(n string) idpAnswer {
				return idpAnswer{200, tokenAnswer(idp.idToken(n, map[string]any{"exp": m.now().Add(-time.Hour).Unix()}))}
			}, 401, metricLoginFailedIdToken},
			{"ID token signed by an unknown key (refetch rate-limited)", func(n string) idpAnswer {
				signer := idp.signer
				idp.signer = foreign
				defer func() { idp.signer = signer }()
				return idpAnswer{200, tokenAnswer(idp.idToken(n, nil))}
			}, 401, metricLoginFailedIdToken},
		}
		for _, c := range cases {
			before, _ := h.GetCounterMetric(c.metric)
			logsBefore := len(lastLog(h))
			q, state := startLogin(t, h)
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+q.Get("state"), [2]string{"cookie", state}))
			a := c.answer(q.Get("nonce"))
			h.Answer(h.OnePending(id), a.status, a.body)
			r := h.Reply(id)
			if r == nil || r.Status != c.status || r.Header("location") != "" || h.GetCurrentHttpStreamAction(id) == types.ActionContinue {
				t.Errorf("%s: want a %d page, got %+v", c.name, c.status, r)
			} else if _, ok := r.SetCookies()["__Host-oidc_session"]; ok {
				t.Errorf("%s: a failed login must not set a session", c.name)
			}
			if n, _ := h.GetCounterMetric(c.metric); n != before+1 {
				t.Errorf("%s: %s = %d, want %d", c.name, c.metric, n, before+1)
			}
			if len(lastLog(h)) == logsBefore {
				t.Errorf("%s: no log line says why", c.name)
			}
		}
		if n, _ := h.GetCounterMetric(metricLoginSucceeded); n != 0 {
			t.Errorf("login_succeeded = %d after only failures", n)
		}
		idp.login(h, "/")
	})
}

// Refreshes are bounded per VM: a flood of distinct sessions due for a refresh (10k expired
// sessions would otherwise mean 10k token calls at the next tick) is queued up to
// maxRefreshFlights and gets 503 beyond; the IdP sees at most maxRefreshCalls calls at once,
// oldest first; service resumes once the flights settle.
func TestMisbehaveRefreshFlightsBounded(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		seal := func(i int) string {
			return "__Host-oidc_session=" + sealTestSession(t, &oidc.Session{Claims: testClaims("u" + strconv.Itoa(i)), RefreshToken: "rt-" + strconv.Itoa(i),
				IssuedAt: m.now(), TokenExpiry: m.now().Add(-time.Minute)}, m.now().Add(time.Hour))
		}
		extra := 100
		var held []uint32
		refused := 0
		why := ""
		for i := 0; i < maxRefreshFlights+extra; i++ {
			id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", seal(i)}))
			switch r := h.Reply(id); {
			case action == types.ActionPause && r == nil:
				held = append(held, id)
			case r != nil && r.Status == 503:
				if refused == 0 {
					// Read at once: in wasm mode a log line points into guest memory, which
					// the next requests reuse.
					why = lastLog(h)
				}
				refused++
			default:
				t.Fatalf("request %d: want held or 503, got %v %+v", i, action, r)
			}
		}
		if len(held) != maxRefreshFlights || refused != extra {
			t.Fatalf("held %d, refused %d; want %d and %d", len(held), refused, maxRefreshFlights, extra)
		}
		// The IdP gets at most maxRefreshCalls token calls at once, the oldest flights first;
		// the others wait for the next ticks.
		answered := 0
		for tick := 0; answered < maxRefreshFlights; tick++ {
			if tick > maxRefreshFlights/maxRefreshCalls+2 {
				t.Fatalf("%d of %d refreshes called after %d ticks", answered, maxRefreshFlights, tick)
			}
			h.Tick()
			calls := h.Pending(wasmhost.PluginContextID)
			if len(calls) == 0 || len(calls) > maxRefreshCalls {
				t.Fatalf("tick %d: %d refresh calls in flight, want 1 to %d", tick, len(calls), maxRefreshCalls)
			}
			for _, c := range calls {
				if want := "rt-" + strconv.Itoa(answered); !strings.Contains(c.Body, "refresh_token="+want+"&") && !strings.HasSuffix(c.Body, "refresh_token="+want) {
					t.Fatalf("call %d redeems %q, want %s: first come, first served", answered, c.Body, want)
				}
				h.Answer(c, 400, `{"error":"invalid_grant"}`)
				answered++
			}
		}
		for _, id := range held {
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Fatalf("refused refresh: want 401, got %+v", r)
			}
		}
		if !strings.Contains(why, "refreshes") {
			t.Errorf("the log must say why requests were refused: %q", why)
		}
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", seal(99999)}))
		if action != types.ActionPause || h.Reply(id) != nil {
			t.Errorf("after the flights settled a refresh must be accepted again, got %+v", h.Reply(id))
		}
	})
}

// A refresh whose requests all ended before its turn is dropped, not called: the renewed
// session would reach no browser, whose next request would present the old refresh token
// again, which IdPs with reuse detection punish by revoking the session.
func TestRefreshOfEndedRequestsIsNotCalled(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		cookie := "__Host-oidc_session=" + sealTestSession(t, &oidc.Session{Claims: testClaims("u"), RefreshToken: "rt-gone",
			IssuedAt: m.now(), TokenExpiry: m.now().Add(-time.Minute)}, m.now().Add(time.Hour))
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", cookie}))
		if action != types.ActionPause || h.Reply(id) != nil {
			t.Fatalf("want the request held for its refresh, got %v %+v", action, h.Reply(id))
		}
		h.CompleteHttpContext(id)
		h.Tick()
		if calls := h.Pending(wasmhost.PluginContextID); len(calls) != 0 {
			t.Errorf("the refresh of an ended request was called: %+v", calls)
		}
	})
}
