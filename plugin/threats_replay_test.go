package plugin

// Token replay (second security review, item 3): the ID token of a browser session is
// forwarded to apps (forward_token, id_token_header) and kept in the browser's session; a
// hostile app that receives it must not be able to use it as an API credential against every
// other app of the provider. Tokens minted in an interactive login carry a nonce (this
// plugin's logins always send one); tokens of scripts and API clients do not. SECURITY.md, G4.

import (
	"crypto"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

func TestThreatSessionIDTokenReplayedAsBearer(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, accept := range []bool{false, true} {
			extra := `"forward_token":"id_token","bearer_audiences":["` + testClientID + `","api"]`
			if accept {
				extra += `,"bearer_accept_login_tokens":true`
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)

			// The ID token a session forwards upstream, as a hostile app receives it.
			session := idp.login(h, "/")
			id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", session}))
			forwarded := h.Upstream(id)["authorization"]
			if action != types.ActionContinue || len(forwarded) != 1 {
				t.Fatalf("the session must pass with its ID token forwarded: %+v %v", h.Reply(id), forwarded)
			}

			var priv rsa.PrivateKey
			a, _ := testKeys(t)
			if err := a.private.Raw(&priv); err != nil {
				t.Fatal(err)
			}
			now := m.now()
			claims := func(extra map[string]any) map[string]any {
				c := map[string]any{"iss": testIssuer, "aud": testClientID, "sub": "user-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
				for k, v := range extra {
					c[k] = v
				}
				return c
			}
			rs256 := rsaSigner(t, &priv, crypto.SHA256, false)
			header := map[string]any{"alg": "RS256", "kid": "key-a", "typ": "JWT"}
			atJWT := map[string]any{"alg": "RS256", "kid": "key-a", "typ": "at+jwt"}
			cases := []struct {
				name       string
				token      string
				loginToken bool // minted in an interactive login: refused unless accepted
			}{
				{"the session's forwarded ID token", forwarded[0][len("Bearer "):], true},
				{"any ID token with a nonce", rawJWT(header, claims(map[string]any{"nonce": "n"}), rs256), true},
				{"an empty nonce is still a nonce", rawJWT(header, claims(map[string]any{"nonce": ""}), rs256), true},
				{"a nonce of another type", rawJWT(header, claims(map[string]any{"nonce": 42}), rs256), true},
				{"password-grant ID token (no nonce)", rawJWT(header, claims(nil), rs256), false},
				{"RFC 9068 access token (typ at+jwt), even with a nonce", rawJWT(atJWT, claims(map[string]any{"nonce": "n"}), rs256), false},
				{"Keycloak access token (typ Bearer claim), even with a nonce", rawJWT(header, claims(map[string]any{"nonce": "n", "typ": "Bearer"}), rs256), false},
				{"token for bearer_audiences", rawJWT(header, claims(map[string]any{"aud": "api"}), rs256), false},
			}
			for _, c := range cases {
				id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + c.token}))
				want := !c.loginToken || accept
				if got := action == types.ActionContinue; got != want {
					t.Errorf("accept=%v, %s: passed=%v, want %v (%+v)", accept, c.name, got, want, h.Reply(id))
				}
				if r := h.Reply(id); !want && (r == nil || r.Status != 401) {
					t.Errorf("accept=%v, %s: want 401, got %+v", accept, c.name, r)
				}
			}
		}
	})
}
