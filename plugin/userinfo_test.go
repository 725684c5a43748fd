package plugin

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
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
				[2]string{"cookie", state}))
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

// With userinfo on, what only userinfo provides (groups here) is renewed at every refresh
// instead of lost: the refresh calls userinfo again with the new access token (second
// security review, item 6). A refreshed ID token's signed claims win over the answer; without
// one the answer replaces the session's older claims, so a group removed at the IdP goes; if
// the call fails, the previous claims are kept and the rotated refresh token still lands.
func TestThreatUserinfoClaimsSurviveRefresh(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"userinfo":true,"authorization":[{"path_prefix":"/admin","allow":[{"group":"admins"}]}]`))
		idp := newFakeIdP(t, m)
		idp.userinfo = testIssuer + "/userinfo"
		delete(idp.claims, "groups") // groups come from userinfo only
		idp.serveMetadata(h)
		now := m.now()
		claims, _ := json.Marshal(map[string]any{"sub": "user-1", "email": "alice@example.com", "email_verified": true, "groups": []string{"admins"}})
		cases := []struct {
			name        string
			newIDToken  bool
			infoStatus  int
			infoBody    string
			wantAllowed bool
		}{
			{"refreshed ID token, userinfo still says admins", true, 200, `{"sub":"user-1","groups":["admins"]}`, true},
			{"refreshed ID token, userinfo down: previous groups kept", true, 0, "", true},
			{"refreshed ID token, userinfo about someone else: kept", true, 200, `{"sub":"mallory","groups":["admins"]}`, true},
			{"refreshed ID token, admins removed at the IdP", true, 200, `{"sub":"user-1","groups":[]}`, false},
			{"no ID token, groups changed at the IdP", false, 200, `{"sub":"user-1","groups":["ops"]}`, false},
			{"no ID token, userinfo down: previous groups kept", false, 500, `{}`, true},
		}
		for i, c := range cases {
			rt := fmt.Sprintf("rt-%d", i)
			sess := &oidc.Session{Claims: claims, RefreshToken: rt, AccessToken: "at-old", IssuedAt: now, TokenExpiry: now.Add(-time.Minute)}
			id, _ := h.Request(wasmhost.APIGet("/admin/x", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, sess, now.Add(time.Hour))}))
			h.Tick()
			refresh := h.OnePending(wasmhost.PluginContextID)
			answer := map[string]any{"access_token": "at-new", "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt + "-next"}
			if c.newIDToken {
				answer["id_token"] = idp.idToken("", nil)
			}
			body, _ := json.Marshal(answer)
			h.Answer(refresh, 200, string(body))
			info := h.Pending(wasmhost.PluginContextID)
			if len(info) != 1 || info[0].URL() != testIssuer+"/userinfo" || info[0].Headers["authorization"] != "Bearer at-new" {
				t.Fatalf("%s: want one userinfo call with the new access token, got %+v", c.name, info)
			}
			h.Answer(info[0], c.infoStatus, c.infoBody)
			allowed := h.GetCurrentHttpStreamAction(id) == types.ActionContinue && h.Reply(id) == nil
			if allowed != c.wantAllowed {
				t.Errorf("%s: allowed=%v, want %v (%+v)", c.name, allowed, c.wantAllowed, h.Reply(id))
			}
			// The rotated refresh token reaches the browser, on the upstream's response or on
			// the 403.
			var headers [][2]string
			if r := h.Reply(id); r != nil {
				headers = r.Headers
			} else {
				h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
				headers = h.GetCurrentResponseHeaders(id)
			}
			renewed := ""
			for _, kv := range headers {
				if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session=") {
					renewed = wasmhost.CookieValue(kv[1])
				}
			}
			if renewed == "" {
				t.Errorf("%s: the rotated refresh token must reach the browser", c.name)
			}
		}
	})
}
