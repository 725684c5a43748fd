package plugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// A forwarded token never reaches the upstream expired (issue 13: Istio's
// RequestAuthentication behind the gateway refuses expired tokens, and require-jwt then
// denies the request). With a refresh token the session is refreshed ahead of the token's
// expiry; a refresh without a new ID token cannot outlive the forwarded one; without a refresh
// token the session ends with the token.
func TestForwardedTokenNeverExpires(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, c := range []struct {
			name       string
			forward    bool
			refresh    string        // the refresh token the session holds ("": none)
			idLeft     time.Duration // the ID token's remaining life
			answerID   bool          // the refresh answer carries a new ID token
			wantCall   bool          // a refresh call is made
			wantPassed bool
		}{
			{"forwarded, about to expire: refreshed ahead", true, "rt", 20 * time.Second, true, true, true},
			{"forwarded, no new ID token, the old one about to expire: session ends", true, "rt", 20 * time.Second, false, true, false},
			{"forwarded, no refresh token: used until it expires", true, "", 20 * time.Second, false, false, true},
			{"not forwarded: no refresh ahead", false, "rt", 20 * time.Second, false, false, true},
		} {
			extra := ""
			if c.forward {
				extra = `"forward_token":"id_token"`
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)
			now := m.now()
			exp := now.Add(c.idLeft).Unix()
			idToken := idp.idToken("n", map[string]any{"exp": exp})
			claims, _ := json.Marshal(map[string]any{"sub": "user-1", "email": "alice@example.com", "email_verified": true, "exp": exp})
			sess := &oidc.Session{Claims: claims, IDToken: idToken, AccessToken: "at", RefreshToken: c.refresh, IssuedAt: now, TokenExpiry: time.Unix(exp, 0)}
			id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, sess, now.Add(time.Hour))}))
			h.Tick()
			calls := h.Pending(wasmhost.PluginContextID)
			if (len(calls) == 1) != c.wantCall {
				t.Fatalf("%s: %d refresh calls, want call=%v", c.name, len(calls), c.wantCall)
			}
			var renewed string
			if c.wantCall {
				answer := map[string]any{"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-2"}
				if c.answerID {
					renewed = idp.idToken("n", nil)
					answer["id_token"] = renewed
				}
				body, _ := json.Marshal(answer)
				h.Answer(calls[0], 200, string(body))
			}
			passed := h.GetCurrentHttpStreamAction(id) == types.ActionContinue && h.Reply(id) == nil
			if passed != c.wantPassed {
				t.Errorf("%s: passed=%v, want %v (%+v)", c.name, passed, c.wantPassed, h.Reply(id))
				continue
			}
			if !passed || !c.forward {
				continue
			}
			want := idToken
			if renewed != "" {
				want = renewed
			}
			if got := h.Upstream(id)["authorization"]; len(got) != 1 || strings.TrimPrefix(got[0], "Bearer ") != want {
				t.Errorf("%s: forwarded %v, want the session's current ID token", c.name, got)
			}
		}
	})
}

// bearer_passthrough lets one bearer token through untouched for the mesh to judge: no
// verification, no identity headers, client-sent managed headers still removed, several
// Authorization headers refused; a session still wins; a warning at start (issue 13).
func TestBearerPassthrough(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"bearer_passthrough":true,"forward_token":"id_token",`+
			`"claims_to_headers":{"kubeflow-userid":"email","x-auth-request-user":"sub"}`))
		if logs := strings.Join(wasmhost.CopyLogs(h.GetWarnLogs()), "\n"); !strings.Contains(logs, "bearer_passthrough is on") {
			t.Errorf("want a warning at start, got %q", logs)
		}
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		for _, token := range []string{"eyJub3QiOiJ2ZXJpZmllZCJ9.e30.sig", idp.idToken("", nil)} {
			id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + token},
				[2]string{"kubeflow-userid", "admin"}, [2]string{"Kubeflow_Userid", "admin"}))
			up := h.Upstream(id)
			if action != types.ActionContinue || len(up["authorization"]) != 1 || up["authorization"][0] != "Bearer "+token {
				t.Fatalf("the token must pass untouched: %v %+v", up["authorization"], h.Reply(id))
			}
			for name := range up {
				if c := canonicalHeader(name); c == "kubeflow-userid" || c == "x-auth-request-user" {
					t.Errorf("%s reached the upstream on a passed-through request", name)
				}
			}
		}
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer a"}, [2]string{"authorization", "Bearer b"}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("two Authorization headers must not pass: %+v", r)
		}
		session := idp.login(h, "/")
		id, _ = h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}, [2]string{"authorization", "Bearer forged"}))
		if got := h.Upstream(id)["authorization"]; len(got) != 1 || got[0] == "Bearer forged" {
			t.Errorf("with a session the session's token is forwarded, not the client's: %v", got)
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.bearer_passed_through"); n != 2 {
			t.Errorf("bearer_passed_through = %d, want 2", n)
		}
	})
	_, err := ParseConfig([]byte(testConfig(`"bearer_passthrough":true,"authorization":[{"allow":[{"group":"a"}]}]`)), noEnv)
	if ce := (*ConfigError)(nil); !errors.As(err, &ce) || ce.Key != "bearer_passthrough" {
		t.Errorf("passthrough with authorization rules: want an error for bearer_passthrough, got %v", err)
	}
}
