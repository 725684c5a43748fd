package plugin

import (
	"encoding/json"
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
