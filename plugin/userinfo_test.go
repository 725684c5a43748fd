package plugin

import (
	"net/url"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// With userinfo on, the userinfo endpoint's claims join the session at login; an answer
// about another subject, or none, fails the login (issue 3, userinfo).
func TestUserinfoMergedAtLogin(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"userinfo":true,"claims_to_headers":{"x-team":"team","x-auth-request-email":"email"}`))
		idp := newFakeIdP(t, m)
		idp.userinfo = testIssuer + "/userinfo"
		idp.serveMetadata(h)
		login := func(status int, body string) *wasmhost.Reply {
			t.Helper()
			q, state := startLogin(t, h)
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")),
				[2]string{"cookie", "__Host-oidc_session_state=" + state}))
			h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
			info := h.OnePending(id)
			if info.URL() != testIssuer+"/userinfo" || info.Headers["authorization"] != "Bearer at-1" {
				t.Fatalf("userinfo call: %+v", info)
			}
			h.Answer(info, status, body)
			return h.Reply(id)
		}
		r := login(200, `{"sub":"user-1","team":"blue","email":"forged@evil.com"}`)
		if r == nil || r.Status != 302 {
			t.Fatalf("login with userinfo: want 302, got %+v", r)
		}
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + wasmhost.CookieValue(r.SetCookies()["__Host-oidc_session"])}))
		up := h.Upstream(id)
		if got := up["x-team"]; len(got) != 1 || got[0] != "blue" {
			t.Errorf("x-team = %q, want the userinfo claim", got)
		}
		if got := up["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("x-auth-request-email = %q: the ID token's claim must win", got)
		}
		for _, bad := range []struct {
			status int
			body   string
			want   uint32
		}{{200, `{"sub":"mallory","team":"admins"}`, 502}, {0, "", 503}, {401, `{"error":"invalid_token"}`, 502}} {
			if r := login(bad.status, bad.body); r == nil || r.Status != bad.want || r.SetCookies()["__Host-oidc_session"] != "" {
				t.Errorf("userinfo %d %s: want %d without a session, got %+v", bad.status, bad.body, bad.want, r)
			}
		}
	})
}
