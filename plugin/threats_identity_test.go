package plugin

// Identity trust (second security review, item 2): a header the app trusts as the user's
// identity must carry only what the IdP vouches for. An IdP that lets anyone register any
// address without proving it must not make them ceo@example.com to the app. SECURITY.md, G2.

import (
	"encoding/json"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A header mapped from the email claim (directly, prefixed or transformed, as Kubeflow's
// kubeflow-userid) is set only when email_verified is the JSON value true; with
// assume_email_verified the IdP's address counts as verified (IdPs that never send the
// claim, such as Entra ID). Sessions and bearer tokens alike; other headers are unaffected.
func TestThreatUnverifiedEmailNeverIdentity(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		headers := `"claims_to_headers":{"x-auth-request-email":"email","x-auth-request-user":"sub",` +
			`"kubeflow-userid":{"claim":"email","prefix":"accounts.google.com:","transform":[{"match":"@.*","replace":""}]}}`
		cases := []struct {
			name     string
			verified any // the email_verified claim; nil: absent
			assume   bool
			want     bool
		}{
			{"verified", true, false, true},
			{"email_verified false", false, false, false},
			{"email_verified absent", nil, false, false},
			{"email_verified as string", "true", false, false},
			{"email_verified as number", 1, false, false},
			{"email_verified as array", []any{true}, false, false},
			{"assumed, absent", nil, true, true},
			{"assumed, but the IdP says false", false, true, false},
		}
		for _, c := range cases {
			extra := headers
			if c.assume {
				extra += `,"assume_email_verified":true`
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.claims["email"] = "ceo@example.com"
			idp.claims["email_verified"] = c.verified
			if c.verified == nil {
				delete(idp.claims, "email_verified")
			}
			idp.serveMetadata(h)
			session := idp.login(h, "/")
			bearer := "Bearer " + idp.idToken("", map[string]any{"nonce": nil})
			for _, credential := range [][2]string{{"cookie", session}, {"authorization", bearer}} {
				id, action := h.Request(wasmhost.APIGet("/app", credential,
					[2]string{"x-auth-request-email", "forged@example.com"}, [2]string{"kubeflow-userid", "admin"}))
				if action != types.ActionContinue {
					t.Fatalf("%s (%s): the request must pass, got %+v", c.name, credential[0], h.Reply(id))
				}
				up := h.Upstream(id)
				email, userid, sub := up["x-auth-request-email"], up["kubeflow-userid"], up["x-auth-request-user"]
				if c.want && (len(email) != 1 || email[0] != "ceo@example.com" || len(userid) != 1 || userid[0] != "accounts.google.com:ceo") {
					t.Errorf("%s (%s): want the verified email upstream, got %v %v", c.name, credential[0], email, userid)
				}
				if !c.want && (email != nil || userid != nil) {
					t.Errorf("%s (%s): an unverified email reached upstream as identity: %v %v", c.name, credential[0], email, userid)
				}
				if len(sub) != 1 || sub[0] != "user-1" {
					t.Errorf("%s (%s): x-auth-request-user = %v, want the subject", c.name, credential[0], sub)
				}
			}
		}
	})
}

// Email conditions compare with ASCII case folding after strict parsing (second security
// review, item 6): Unicode folding would make an address with the Kelvin sign (U+212A) or the
// long s (U+017F), which an attacker can register at an IdP, equal to an allowed one.
func TestThreatEmailUnicodeFolding(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization":[{"allow":[{"email":"kelly@example.com"},{"email_domain":"kelvin.example"}]}]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		for email, allow := range map[string]bool{
			"kelly@example.com": true, "KELLY@Example.COM": true, "x@KELVIN.example": true,
			"\u212Aelly@example.com": false, "kelly@example.com\u212A": false, "x@\u212Aelvin.example": false,
			"\u017Fam@kelvin.example": false,
		} {
			var decoded string
			if err := json.Unmarshal([]byte(`"`+email+`"`), &decoded); err != nil {
				t.Fatal(err)
			}
			token := idp.idToken("", map[string]any{"email": decoded, "email_verified": true})
			id, action := h.Request(wasmhost.APIGet("/app", [2]string{"authorization", "Bearer " + token}))
			if (action == types.ActionContinue) != allow {
				t.Errorf("%s: allowed=%v, want %v (%+v)", email, action == types.ActionContinue, allow, h.Reply(id))
			}
		}
	})
}
