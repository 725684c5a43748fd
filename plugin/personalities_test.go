package plugin

// IdP personalities (issue 14): the fake IdP shaped as Google, Entra ID, Auth0, Keycloak and
// Cognito document their discovery documents, tokens and logout, one quirk per case, with the
// configuration docs/identity-providers.md gives for each. Each case fails without the
// handling it names.

import (
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// signedBy mints a JWT with the fake IdP's signing key, header and claims as given.
func (f *fakeIdP) signedBy(header, claims map[string]any) string {
	var key rsa.PrivateKey
	if err := f.signer.private.Raw(&key); err != nil {
		f.t.Fatal(err)
	}
	header["alg"], header["kid"] = "RS256", f.signer.kid
	return rawJWT(header, claims, rsaSigner(f.t, &key, crypto.SHA256, false))
}

// login runs a whole login, the token endpoint answering with the given answer built from
// the nonce, and returns the start redirect's query and the session cookie.
func personalityLogin(t *testing.T, h *wasmhost.Host, answer func(nonce string) map[string]any) (url.Values, string) {
	t.Helper()
	q, state := startLogin(t, h)
	id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", state}))
	body, _ := json.Marshal(answer(q.Get("nonce")))
	h.Answer(h.OnePending(id), 200, string(body))
	r := h.Reply(id)
	if r == nil || r.Status != 302 {
		t.Fatalf("login: want 302, got %+v", r)
	}
	return q, "__Host-oidc_session=" + wasmhost.CookieValue(r.SetCookies()["__Host-oidc_session"])
}

// Google: a refresh token only with access_type=offline and prompt=consent (the
// offline_access scope is refused); hd names the Workspace domain; no end_session_endpoint,
// so logout is local.
func TestPersonalityGoogle(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization_params":{"access_type":"offline","prompt":"consent","hd":"example.com"},`+
			`"authorization":[{"allow":[{"claim":"hd","equals":"example.com"}]}]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		for _, hd := range []string{"example.com", "other.example"} {
			q, session := personalityLogin(t, h, func(nonce string) map[string]any {
				return map[string]any{"access_token": "ya29.x", "token_type": "Bearer", "expires_in": 3599, "refresh_token": "1//0g",
					"id_token": idp.idToken(nonce, map[string]any{"hd": hd})}
			})
			if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("hd") != "example.com" || strings.Contains(q.Get("scope"), "offline_access") {
				t.Errorf("authorization request %v: want access_type, prompt and hd, and no offline_access", q)
			}
			id, action := h.Request(wasmhost.BrowserGet("/app", [2]string{"cookie", session}))
			if (action == types.ActionContinue) != (hd == "example.com") {
				t.Errorf("hd %s: passed=%v (%+v)", hd, action == types.ActionContinue, h.Reply(id))
			}
			id, _ = h.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session}))
			if loc := h.Reply(id).Header("location"); loc != "/" {
				t.Errorf("Google has no end_session_endpoint: want a local logout to /, got %q", loc)
			}
		}
	})
}

// Entra ID: no email_verified (xms_edov instead, when configured as an optional claim); a
// refresh without scope=openid returns no ID token.
func TestPersonalityEntra(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"email_verified_claim":"xms_edov","refresh_scopes":["openid","profile","email","offline_access"],`+
			`"authorization":[{"allow":[{"email_domain":"contoso.com"}]}]`))
		idp := newFakeIdP(t, m)
		delete(idp.claims, "email_verified")
		idp.claims["email"], idp.claims["xms_edov"] = "alice@contoso.com", true
		idp.serveMetadata(h)
		_, session := personalityLogin(t, h, func(nonce string) map[string]any {
			return map[string]any{"access_token": "eyJ0", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "0.A",
				"id_token": idp.idToken(nonce, map[string]any{"exp": m.now().Add(-30 * time.Second).Unix()})}
		})
		id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", session}))
		if action != types.ActionPause {
			t.Fatalf("the session's tokens have expired: want a refresh, got %+v", h.Reply(id))
		}
		h.Tick()
		refresh := h.OnePending(wasmhost.PluginContextID)
		form, _ := url.ParseQuery(refresh.Body)
		answer := map[string]any{"access_token": "eyJ1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "0.B"}
		if strings.Contains(" "+form.Get("scope")+" ", " openid ") {
			answer["id_token"] = idp.idToken("", map[string]any{"email": "alice.new@contoso.com"})
		}
		body, _ := json.Marshal(answer)
		h.Answer(refresh, 200, string(body))
		if got := h.Upstream(id)["x-auth-request-email"]; h.GetCurrentHttpStreamAction(id) != types.ActionContinue || len(got) != 1 || got[0] != "alice.new@contoso.com" {
			t.Errorf("want the refreshed ID token's verified email upstream (refresh scope %q), got %v %+v", form.Get("scope"), got, h.Reply(id))
		}
	})
}

// Auth0: JWT access tokens only for an audience requested at login; such a token has aud
// [API, userinfo] and azp the client.
func TestPersonalityAuth0(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization_params":{"audience":"https://api.example.com"},"bearer_audiences":["https://api.example.com"]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		q, _ := startLogin(t, h)
		if q.Get("audience") != "https://api.example.com" {
			t.Errorf("want audience in the authorization request: %v", q)
		}
		now := m.now()
		access := idp.signedBy(map[string]any{"typ": "at+jwt"}, map[string]any{"iss": testIssuer, "sub": "auth0|1", "azp": testClientID,
			"aud": []string{"https://api.example.com", testIssuer + "/userinfo"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "openid"})
		if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + access})); action != types.ActionContinue {
			t.Errorf("Auth0 access token refused: %+v", h.Reply(id))
		}
	})
}

// Keycloak: access tokens with aud "account", azp the client, payload typ Bearer and (before
// 24) the login's nonce; roles under realm_access.roles and resource_access.<client>.roles;
// logout needs id_token_hint or Keycloak shows a confirmation page.
func TestPersonalityKeycloak(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"bearer_audiences":["account"],`+
			`"claims_to_headers":{"x-roles":"realm_access.roles","x-app-roles":"resource_access.app.roles"},`+
			`"authorization":[{"path_prefix":"/admin","allow":[{"claim":"realm_access.roles","contains":"admin"}]}]`))
		idp := newFakeIdP(t, m)
		idp.endSession = testIssuer + "/protocol/openid-connect/logout"
		idp.serveMetadata(h)
		now := m.now()
		access := func(roles []string) string {
			return idp.signedBy(map[string]any{"typ": "JWT"}, map[string]any{"iss": testIssuer, "sub": "kc-1", "aud": "account", "azp": testClientID,
				"typ": "Bearer", "nonce": "login-nonce", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
				"realm_access": map[string]any{"roles": roles}, "resource_access": map[string]any{"app": map[string]any{"roles": []string{"viewer"}}}})
		}
		id, action := h.Request(wasmhost.APIGet("/admin/x", [2]string{"authorization", "Bearer " + access([]string{"admin", "user"})}))
		if up := h.Upstream(id); action != types.ActionContinue || strings.Join(up["x-roles"], "") != "admin,user" || strings.Join(up["x-app-roles"], "") != "viewer" {
			t.Errorf("Keycloak access token with the admin role: %+v %v", h.Reply(id), up)
		}
		if id, action := h.Request(wasmhost.APIGet("/admin/x", [2]string{"authorization", "Bearer " + access([]string{"user"})})); action == types.ActionContinue {
			t.Errorf("without the admin role /admin must be refused: %+v", h.Reply(id))
		}
		session := idp.login(h, "/")
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session}))
		if q := wasmhost.Query(t, h.Reply(id).Header("location")); q.Get("id_token_hint") == "" {
			t.Errorf("Keycloak's logout needs id_token_hint: %v", q)
		}
	})
}

// Cognito: logout at its own /logout with client_id and logout_uri, and access tokens with
// client_id instead of aud.
func TestPersonalityCognito(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		const domain = "https://example.auth.eu-west-1.amazoncognito.com"
		// The token endpoint is on the user pool's domain, which the IdP's cluster (for
		// discovery and keys on cognito-idp.<region>.amazonaws.com) cannot reach.
		h := wasmhost.MustStart(t, vm, testConfig(`"bearer_audience_claims":["aud","client_id"],`+
			`"token_endpoint":"`+domain+`/oauth2/token",`+
			`"endpoint_clusters":{"Example.auth.eu-west-1.amazoncognito.com":"cognito-domain"},`+
			`"logout_url":"`+domain+`/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}"`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		start, _ := h.Request(wasmhost.BrowserGet("/"))
		q := wasmhost.Query(t, h.Reply(start).Header("location"))
		cb, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", stateCookie(h.Reply(start))}))
		if call := h.OnePending(cb); call.Cluster != "cognito-domain" || call.URL() != domain+"/oauth2/token" {
			t.Errorf("token call to %s through cluster %q, want the user pool's domain through cognito-domain", call.URL(), call.Cluster)
		}
		now := m.now()
		access := idp.signedBy(map[string]any{}, map[string]any{"iss": testIssuer, "sub": "c-1", "client_id": testClientID, "token_use": "access",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "openid"})
		if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + access})); action != types.ActionContinue {
			t.Errorf("Cognito access token refused: %+v", h.Reply(id))
		}
		session := idp.login(h, "/")
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/logout?rd=/bye", [2]string{"cookie", session}))
		loc := h.Reply(id).Header("location")
		u, err := url.Parse(loc)
		if err != nil || u.Scheme+"://"+u.Host+u.Path != domain+"/logout" || u.Query().Get("client_id") != testClientID || u.Query().Get("logout_uri") != "https://app.example.com/bye" {
			t.Errorf("Cognito logout to %q", loc)
		}
	})
}

func TestIdPKeysConfigErrors(t *testing.T) {
	cases := []struct{ config, key string }{
		{`"authorization_params":{"state":"x"}`, "authorization_params.state"},
		{`"authorization_params":{"Redirect_URI":"x"}`, "authorization_params.Redirect_URI"},
		{`"authorization_params":{"response_mode":"form_post"}`, "authorization_params.response_mode"},
		{`"authorization_params":{"hd":7}`, "authorization_params.hd"},
		{`"authorization_params":{"hd":"a\nb"}`, "authorization_params.hd"},
		{`"authorization_params":["hd"]`, "authorization_params"},
		{`"authorization_params_from_request":["nonce"]`, "authorization_params_from_request[0]"},
		{`"refresh_scopes":["openid","a b"]`, "refresh_scopes[1]"},
		{`"email_verified_claim":""`, "email_verified_claim"},
		{`"bearer_audience_claims":[]`, "bearer_audience_claims"},
		{`"logout_url":"logout?x={client_id}"`, "logout_url"},
		{`"logout_url":"https://idp/logout?x={unknown}"`, "logout_url"},
		{`"endpoint_clusters":["c"]`, "endpoint_clusters"},
		{`"endpoint_clusters":{"a.example.com:443":"c"}`, "endpoint_clusters.a.example.com:443"},
		{`"endpoint_clusters":{"*.example.com":"c"}`, "endpoint_clusters.*.example.com"},
		{`"endpoint_clusters":{"a.example.com":""}`, "endpoint_clusters.a.example.com"},
		{`"endpoint_clusters":{"a.example.com":"c","A.example.com":"d"}`, "endpoint_clusters.A.example.com"},
		{`"tenants":[]`, "tenants"},
		{`"tenants":["a/b"]`, "tenants[0]"},
		{`"bearer_accepted_issuers":["https://sts.windows.net/{tenantid}/"]`, "bearer_accepted_issuers[0]"},
		{`"bearer_accepted_issuers":["sts.windows.net"]`, "bearer_accepted_issuers[0]"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(testConfig(c.config)), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
	for _, ok := range []string{`"logout_url":"{end_session_endpoint}?id_token_hint={id_token}"`, `"logout_url":"/signed-out"`,
		`"authorization_params_from_request":["login_hint","domain_hint"]`} {
		if _, err := ParseConfig([]byte(testConfig(ok)), noEnv); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// authorization_params_from_request copies named parameters of the request that starts a
// login into the authorization request, once each, and drops what is too long or has
// control characters.
func TestAuthorizationParamsFromRequest(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization_params":{"domain_hint":"contoso.com"},"authorization_params_from_request":["login_hint"]`))
		newFakeIdP(t, m).serveMetadata(h)
		for path, want := range map[string]string{
			"/oauth2/start?rd=/x&login_hint=alice%40contoso.com": "alice@contoso.com",
			"/page?login_hint=bob%40contoso.com":                 "bob@contoso.com",
			"/page?login_hint=a&login_hint=b":                    "",
			"/page?login_hint=a%0Db":                             "",
			"/page?login_hint=" + strings.Repeat("a", 513):       "",
		} {
			id, _ := h.Request(wasmhost.BrowserGet(path))
			q := wasmhost.Query(t, h.Reply(id).Header("location"))
			if q.Get("login_hint") != want || len(q["login_hint"]) > 1 || q.Get("domain_hint") != "contoso.com" {
				t.Errorf("%s: login_hint %q domain_hint %q, want %q", path, q["login_hint"], q.Get("domain_hint"), want)
			}
		}
	})
}

// Entra ID multi-tenant: discovery at .../organizations/v2.0 names the issuer template
// https://login.microsoftonline.com/{tenantid}/v2.0; only tokens of the allowed tenants pass,
// and v1 access tokens carry https://sts.windows.net/{tenantid}/.
func TestPersonalityEntraMultiTenant(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		const organizations = "https://login.microsoftonline.com/organizations/v2.0"
		allowed, other := "72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
		h := wasmhost.MustStart(t, vm, `{"issuer":"`+organizations+`","client_id":"`+testClientID+`","client_secret":"s","cookie_secret":"`+testCookieKey+
			`","tenants":["`+allowed+`"],"bearer_accepted_issuers":["https://sts.windows.net/{tenantid}/"],"bearer_audiences":["api://app"],"assume_email_verified":true}`)
		idp := newFakeIdP(t, m)
		idp.issuer = organizations
		h.Tick()
		doc := strings.Replace(idp.discovery(), `"issuer":"`+organizations+`"`, `"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0"`, 1)
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, doc)
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.jwks())
		v2 := func(tenant string) string { return "https://login.microsoftonline.com/" + tenant + "/v2.0" }
		for tenant, ok := range map[string]bool{allowed: true, other: false} {
			q, state := startLogin(t, h)
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", state}))
			h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"iss": v2(tenant), "tid": tenant})))
			if r := h.Reply(id); (r != nil && r.Status == 302) != ok {
				t.Errorf("login from tenant %s: %+v, want success=%v", tenant, r, ok)
			}
		}
		now := m.now()
		for name, c := range map[string]struct {
			iss string
			ok  bool
		}{
			"v2 access token of the tenant": {v2(allowed), true},
			"v1 access token of the tenant": {"https://sts.windows.net/" + allowed + "/", true},
			"v1 access token of another":    {"https://sts.windows.net/" + other + "/", false},
			"the template itself":           {"https://login.microsoftonline.com/{tenantid}/v2.0", false},
		} {
			token := idp.signedBy(map[string]any{}, map[string]any{"iss": c.iss, "sub": "s", "aud": "api://app", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
			if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + token})); (action == types.ActionContinue) != c.ok {
				t.Errorf("%s: passed=%v, want %v (%+v)", name, action == types.ActionContinue, c.ok, h.Reply(id))
			}
		}
	})
}

// Entra ID groups overage: the ID token of a user in many groups carries _claim_names and
// _claim_sources instead of groups. With groups_overage_cluster the groups are read from
// Microsoft Graph at login, page by page, with the access token; without it the user has no
// groups; a next page elsewhere than Graph fails the login.
func TestPersonalityEntraGroupsOverage(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		const graph = "outbound|443||graph.microsoft.com"
		rule := `"authorization":[{"allow":[{"group":"g-admins"}]}]`
		for _, c := range []struct {
			name    string
			config  string
			pages   []string // Graph's answers, in order
			allowed bool
			failed  bool
		}{
			{"read from Graph over two pages", `,"groups_overage_cluster":"` + graph + `"`, []string{
				`{"value":[{"id":"g-dev"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.group?$skiptoken=p2"}`,
				`{"value":[{"id":"g-admins"}]}`}, true, false},
			{"not configured: no groups", "", nil, false, false},
			{"next page elsewhere", `,"groups_overage_cluster":"` + graph + `"`, []string{
				`{"value":[{"id":"g-admins"}],"@odata.nextLink":"https://evil.example/steal"}`}, false, true},
			{"Graph refuses", `,"groups_overage_cluster":"` + graph + `"`, []string{`{"error":{"code":"Authorization_RequestDenied"}}`}, false, true},
		} {
			h := wasmhost.MustStart(t, vm, testConfig(rule+c.config))
			idp := newFakeIdP(t, m)
			delete(idp.claims, "groups")
			idp.claims["_claim_names"] = map[string]any{"groups": "src1"}
			idp.claims["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}}
			idp.serveMetadata(h)
			q, state := startLogin(t, h)
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", state}))
			h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
			for i, page := range c.pages {
				call := h.OnePending(id)
				if call.Cluster != graph || call.Headers["authorization"] != "Bearer at-1" || !strings.HasPrefix(call.URL(), "https://graph.microsoft.com/v1.0/me/transitiveMemberOf/") {
					t.Fatalf("%s: Graph call %d: %+v", c.name, i, call)
				}
				status := 200
				if strings.Contains(page, `"error"`) {
					status = 403
				}
				h.Answer(call, status, page)
			}
			r := h.Reply(id)
			if c.failed {
				if r == nil || r.Status != 502 || r.SetCookies()["__Host-oidc_session"] != "" {
					t.Errorf("%s: want the login to fail with 502, got %+v", c.name, r)
				}
				continue
			}
			if r == nil || r.Status != 302 {
				t.Fatalf("%s: login: %+v", c.name, r)
			}
			session := "__Host-oidc_session=" + wasmhost.CookieValue(r.SetCookies()["__Host-oidc_session"])
			if id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", session})); (action == types.ActionContinue) != c.allowed {
				t.Errorf("%s: allowed=%v, want %v (%+v)", c.name, action == types.ActionContinue, c.allowed, h.Reply(id))
			}
		}
	})
}

// A refresh whose ID token carries the overage again keeps the groups read at login; one with
// groups takes those.
func TestKeepOverageGroups(t *testing.T) {
	previous := []byte(`{"sub":"u","groups":["g-admins"]}`)
	overage := []byte(`{"sub":"u","_claim_names":{"groups":"s"},"_claim_sources":{"s":{"endpoint":"x"}}}`)
	if got := keepOverageGroups(overage, previous); !strings.Contains(string(got), `"groups":["g-admins"]`) || strings.Contains(string(got), "_claim_names") {
		t.Errorf("overage again: %s", got)
	}
	fresh := []byte(`{"sub":"u","groups":["g-dev"]}`)
	if got := keepOverageGroups(fresh, previous); string(got) != string(fresh) {
		t.Errorf("fresh groups: %s", got)
	}
}
