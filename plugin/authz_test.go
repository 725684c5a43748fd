package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// Authorization rules admit users by verified email domain, email, group or claim, per path
// prefix; others get 403 (page or JSON) naming nothing secret, for sessions and bearer
// tokens alike (issue 7).
func TestAuthorizationRules(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization":[
			{"path_prefix":"/admin","allow":[{"group":"admins"}]},
			{"path_prefix":"/finance","allow":[{"claim":"dept","equals":"finance"},{"email":"cfo@example.com"}]},
			{"allow":[{"email_domain":"example.com"},{"claim":"roles","contains":"partner"}]}]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		bearer := func(override map[string]any) [2]string {
			override["nonce"] = nil
			return [2]string{"authorization", "Bearer " + idp.idToken("", override)}
		}
		cases := []struct {
			name   string
			path   string
			claims map[string]any
			allow  bool
		}{
			{"domain member", "/app", map[string]any{}, true},
			{"unverified email", "/app", map[string]any{"email_verified": false}, false},
			{"other domain", "/app", map[string]any{"email": "bob@partner.org"}, false},
			{"double @ (CVE-2026-40574)", "/app", map[string]any{"email": "mallory@evil.com@example.com"}, false},
			{"partner by claim", "/app", map[string]any{"email": "bob@partner.org", "roles": []string{"partner"}}, true},
			{"admin path without group", "/admin/users", map[string]any{}, false},
			{"admin path with group", "/admin/users", map[string]any{"groups": []string{"admins"}}, true},
			{"admin prefix is whole segments", "/administrators", map[string]any{}, true},
			{"query cannot pick the rule", "/admin?x=/app", map[string]any{}, false},
			{"dot segments cannot escape a rule", "/x/../admin", map[string]any{}, false},
			{"double slash cannot escape a rule", "//admin", map[string]any{}, false},
			{"escaped slash cannot escape a rule", "/x%2F..%2Fadmin", map[string]any{}, false},
			{"finance by claim", "/finance", map[string]any{"dept": "finance"}, true},
			{"finance by email", "/finance/q3", map[string]any{"email": "cfo@example.com"}, true},
			{"finance denied", "/finance", map[string]any{"dept": "sales"}, false},
		}
		for _, c := range cases {
			id, action := h.Request(wasmhost.APIGet(c.path, bearer(c.claims)))
			r := h.Reply(id)
			if c.allow != (action == types.ActionContinue) {
				t.Errorf("%s: allowed=%v, want %v (%+v)", c.name, action == types.ActionContinue, c.allow, r)
				continue
			}
			if !c.allow && (r == nil || r.Status != 403 || !strings.HasPrefix(r.Body, `{"error":"access_denied"`)) {
				t.Errorf("%s: want a 403 JSON answer, got %+v", c.name, r)
			}
		}
		// A browser session gets a page, and no identity header reaches upstream.
		session := idp.login(h, "/")
		id, _ := h.Request(wasmhost.BrowserGet("/admin", [2]string{"cookie", session}))
		if r := h.Reply(id); r == nil || r.Status != 403 || !strings.Contains(r.Body, "Access denied") || strings.Contains(r.Body, "admins") ||
			!strings.Contains(r.Body, `<a href="/oauth2/logout">Sign out</a>`) {
			t.Errorf("browser: want a 403 page naming nothing secret, got %+v", r)
		}
		if _, ok := h.Upstream(id)["x-auth-request-email"]; ok {
			t.Errorf("a denied request must carry no identity header")
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.access_denied"); n != 10 {
			t.Errorf("access_denied = %d, want 10", n)
		}
	})
}

func TestAuthorizationConfigErrors(t *testing.T) {
	base := `"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"`
	cases := []struct{ config, key string }{
		{`"authorization":{"allow":[]}`, "authorization"},
		{`"authorization":[{"path_prefix":"/a"}]`, "authorization[0].allow"},
		{`"authorization":[{"allow":[]}]`, "authorization[0].allow"},
		{`"authorization":[{"allow":[{"group":"a"}],"deny":[]}]`, "authorization[0].deny"},
		{`"authorization":[{"path_prefix":"admin","allow":[{"group":"a"}]}]`, "authorization[0].path_prefix"},
		{`"authorization":[{"path_prefix":"/admin;x","allow":[{"group":"a"}]}]`, "authorization[0].path_prefix"},
		{`"authorization":[{"path_prefix":"/%61dmin","allow":[{"group":"a"}]}]`, "authorization[0].path_prefix"},
		{`"authorization":[{"path_prefix":"/a/../admin","allow":[{"group":"a"}]}]`, "authorization[0].path_prefix"},
		{`"authorization":[{"allow":[{"group":"a"},{"group":"a","email":"b@c.d"}]}]`, "authorization[0].allow[1]"},
		{`"authorization":[{"allow":[{"claim":"x"}]}]`, "authorization[0].allow[0]"},
		{`"authorization":[{"allow":[{"email_domain":""}]}]`, "authorization[0].allow[0]"},
		{`"authorization":[{"allow":[{"role":"x"}]}]`, "authorization[0].allow[0]"},
		{`"groups_claim":""`, "groups_claim"},
		{`"authorization":[{"allow":[{"email":"\u212Aelly@example.com"}]}]`, "authorization[0].allow[0].email"},
		{`"authorization":[{"allow":[{"email":"a@evil.com@example.com"}]}]`, "authorization[0].allow[0].email"},
		{`"authorization":[{"allow":[{"email_domain":"example"}]}]`, "authorization[0].allow[0].email_domain"},
		{`"authorization":[{"allow":[{"email_domain":"\u212Aelvin.example"}]}]`, "authorization[0].allow[0].email_domain"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(`{`+base+`,`+c.config+`}`), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
}
