package oidc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDiscoveryRequest(t *testing.T) {
	cases := map[string]string{
		"https://idp.example.com":               "https://idp.example.com/.well-known/openid-configuration",
		"https://idp.example.com/":              "https://idp.example.com/.well-known/openid-configuration",
		"https://idp.example.com/realms/main":   "https://idp.example.com/realms/main/.well-known/openid-configuration",
		"https://idp.example.com/realms/main/":  "https://idp.example.com/realms/main/.well-known/openid-configuration",
		"http://127.0.0.1:5556/dex":             "http://127.0.0.1:5556/dex/.well-known/openid-configuration",
		"https://login.example.com/tenant/v2.0": "https://login.example.com/tenant/v2.0/.well-known/openid-configuration",
	}
	for issuer, want := range cases {
		r := DiscoveryRequest(issuer)
		if r.Method != "GET" || r.URL != want || len(r.Header) != 1 || r.Header[0] != [2]string{"accept", "application/json"} || r.Body != nil {
			t.Errorf("DiscoveryRequest(%q) = %+v, want URL %s", issuer, r, want)
		}
		if _, _, _, err := r.Target(); err != nil {
			t.Errorf("Target(%q): %v", r.URL, err)
		}
	}
}

// providerDoc is a discovery document for issuer with members changed by overrides (nil deletes).
func providerDoc(t *testing.T, issuer string, overrides map[string]any) []byte {
	t.Helper()
	doc := map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/auth",
		"token_endpoint":                        issuer + "/token",
		"jwks_uri":                              issuer + "/keys",
		"userinfo_endpoint":                     issuer + "/userinfo",
		"end_session_endpoint":                  issuer + "/logout",
		"response_types_supported":              []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	for k, v := range overrides {
		if v == nil {
			delete(doc, k)
			continue
		}
		doc[k] = v
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDiscovery(t *testing.T) {
	const iss = "https://idp.example.com"
	full := &Discovery{
		Issuer:                iss,
		AuthorizationEndpoint: iss + "/auth",
		TokenEndpoint:         iss + "/token",
		JWKSURI:               iss + "/keys",
		UserinfoEndpoint:      iss + "/userinfo",
		EndSessionEndpoint:    iss + "/logout",
	}
	cases := []struct {
		name   string
		issuer string // "" means iss
		status int    // 0 means 200
		body   []byte
		want   *Discovery // nil: an error containing msg
		msg    string
	}{
		{name: "full", body: providerDoc(t, iss, nil), want: full},
		{name: "minimal", body: providerDoc(t, iss, map[string]any{"userinfo_endpoint": nil, "end_session_endpoint": nil}),
			want: &Discovery{Issuer: iss, AuthorizationEndpoint: iss + "/auth", TokenEndpoint: iss + "/token", JWKSURI: iss + "/keys"}},
		{name: "endpoints on other hosts and ports", body: providerDoc(t, iss, map[string]any{"jwks_uri": "https://keys.example.net:8443/k?v=1"}),
			want: &Discovery{Issuer: iss, AuthorizationEndpoint: iss + "/auth", TokenEndpoint: iss + "/token", JWKSURI: "https://keys.example.net:8443/k?v=1", UserinfoEndpoint: iss + "/userinfo", EndSessionEndpoint: iss + "/logout"}},
		{name: "http issuer for local development", issuer: "http://127.0.0.1:5556/dex", body: providerDoc(t, "http://127.0.0.1:5556/dex", nil),
			want: &Discovery{Issuer: "http://127.0.0.1:5556/dex", AuthorizationEndpoint: "http://127.0.0.1:5556/dex/auth", TokenEndpoint: "http://127.0.0.1:5556/dex/token", JWKSURI: "http://127.0.0.1:5556/dex/keys", UserinfoEndpoint: "http://127.0.0.1:5556/dex/userinfo", EndSessionEndpoint: "http://127.0.0.1:5556/dex/logout"}},
		{name: "escaped slashes", body: []byte(`{"issuer":"https:\/\/idp.example.com","authorization_endpoint":"https:\/\/idp.example.com\/auth","token_endpoint":"https://idp.example.com/token","jwks_uri":"https://idp.example.com/keys"}`),
			want: &Discovery{Issuer: iss, AuthorizationEndpoint: iss + "/auth", TokenEndpoint: iss + "/token", JWKSURI: iss + "/keys"}},

		// Issuer.
		{name: "other issuer", body: providerDoc(t, "https://evil.example.com", nil), msg: `issuer "https://evil.example.com" does not match`},
		{name: "document issuer with trailing slash", body: providerDoc(t, iss+"/", nil), msg: "does not match"},
		{name: "configured issuer with trailing slash", issuer: iss + "/", body: providerDoc(t, iss, nil), msg: "does not match"},
		{name: "issuer differs in case", body: providerDoc(t, "https://IDP.example.com", nil), msg: "does not match"},
		{name: "issuer with a prefix", body: providerDoc(t, iss+".evil.com", nil), msg: "does not match"},
		{name: "issuer missing", body: providerDoc(t, iss, map[string]any{"issuer": nil}), msg: "issuer is missing"},
		{name: "issuer not a string", body: providerDoc(t, iss, map[string]any{"issuer": []string{iss}}), msg: "issuer is not a string"},
		{name: "issuer duplicated", body: []byte(`{"issuer":"https://evil.example.com","issuer":"https://idp.example.com"}`), msg: `member "issuer" occurs more than once`},
		{name: "configured issuer empty", issuer: "-", body: providerDoc(t, "", nil), msg: "configured issuer: empty URL"},
		{name: "configured issuer relative", issuer: "idp.example.com", body: providerDoc(t, "idp.example.com", nil), msg: "configured issuer: URL \"idp.example.com\" is not absolute"},
		{name: "configured issuer with query", issuer: iss + "?tenant=1", body: providerDoc(t, iss+"?tenant=1", nil), msg: "must not have a query"},
		{name: "configured issuer with fragment", issuer: iss + "#x", body: providerDoc(t, iss+"#x", nil), msg: "has a fragment"},

		// Documents.
		{name: "status 404", status: 404, body: providerDoc(t, iss, nil), msg: "HTTP status 404, want 200"},
		{name: "status 302", status: 302, body: nil, msg: "HTTP status 302"},
		{name: "garbage", body: []byte("<html>"), msg: "invalid JSON"},
		{name: "empty", body: nil, msg: "invalid JSON"},
		{name: "truncated", body: providerDoc(t, iss, nil)[:50], msg: "invalid JSON"},
		{name: "array", body: []byte(`[]`), msg: "not a JSON object"},
		{name: "string", body: []byte(`"https://idp.example.com"`), msg: "not a JSON object"},
		{name: "too large", body: providerDoc(t, iss, map[string]any{"x": strings.Repeat("a", maxDocumentSize)}), msg: "exceeds the limit of 262144"},
		{name: "too deep", body: providerDoc(t, iss, map[string]any{"x": json.RawMessage(strings.Repeat("[", 100) + strings.Repeat("]", 100))}), msg: "nested deeper than 32"},

		// Endpoints.
		{name: "authorization_endpoint missing", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": nil}), msg: "authorization_endpoint is missing"},
		{name: "token_endpoint missing", body: providerDoc(t, iss, map[string]any{"token_endpoint": nil}), msg: "token_endpoint is missing"},
		{name: "jwks_uri missing", body: providerDoc(t, iss, map[string]any{"jwks_uri": nil}), msg: "jwks_uri is missing"},
		{name: "jwks_uri not a string", body: providerDoc(t, iss, map[string]any{"jwks_uri": 1}), msg: "jwks_uri is not a string"},
		{name: "jwks_uri empty", body: providerDoc(t, iss, map[string]any{"jwks_uri": ""}), msg: "jwks_uri: empty URL"},
		{name: "jwks_uri relative", body: providerDoc(t, iss, map[string]any{"jwks_uri": "/keys"}), msg: "jwks_uri: URL \"/keys\" is not absolute"},
		{name: "jwks_uri scheme-relative", body: providerDoc(t, iss, map[string]any{"jwks_uri": "//keys.example.com/k"}), msg: "is not absolute"},
		{name: "token_endpoint over http", body: providerDoc(t, iss, map[string]any{"token_endpoint": "http://idp.example.com/token"}), msg: "token_endpoint: URL \"http://idp.example.com/token\" is not https like the issuer"},
		{name: "token_endpoint javascript", issuer: "http://idp", body: providerDoc(t, "http://idp", map[string]any{"token_endpoint": "javascript:alert(1)"}), msg: "is not http or https"},
		{name: "token_endpoint file", issuer: "http://idp", body: providerDoc(t, "http://idp", map[string]any{"token_endpoint": "file:///etc/passwd"}), msg: "is not http or https"},
		{name: "authorization_endpoint with user info", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": "https://user:pw@idp.example.com/auth"}), msg: "has user info"},
		{name: "authorization_endpoint with fragment", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": iss + "/auth#x"}), msg: "has a fragment"},
		{name: "authorization_endpoint with empty fragment", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": iss + "/auth#"}), msg: "has a fragment"},
		{name: "authorization_endpoint without host", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": "https:///auth"}), msg: "has no host"},
		{name: "authorization_endpoint port only", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": "https://:443/auth"}), msg: "has no host"},
		{name: "authorization_endpoint opaque", body: providerDoc(t, iss, map[string]any{"authorization_endpoint": "https:idp.example.com/auth"}), msg: "has no host"},
		{name: "token_endpoint with a space", body: providerDoc(t, iss, map[string]any{"token_endpoint": iss + "/to ken"}), msg: "whitespace or a control character"},
		{name: "token_endpoint with a newline", body: providerDoc(t, iss, map[string]any{"token_endpoint": iss + "/token\r\nX-Evil: 1"}), msg: "whitespace or a control character"},
		{name: "token_endpoint unparsable", body: providerDoc(t, iss, map[string]any{"token_endpoint": "https://idp.example.com:port/token"}), msg: "does not parse"},
		{name: "userinfo_endpoint invalid", body: providerDoc(t, iss, map[string]any{"userinfo_endpoint": "ftp://idp.example.com/u"}), msg: "userinfo_endpoint"},
		{name: "end_session_endpoint null", body: providerDoc(t, iss, map[string]any{"end_session_endpoint": json.RawMessage("null")}), msg: "end_session_endpoint is not a string"},
		{name: "end_session_endpoint over http", body: providerDoc(t, iss, map[string]any{"end_session_endpoint": "http://idp.example.com/logout"}), msg: "end_session_endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			issuer, status := c.issuer, c.status
			switch issuer {
			case "":
				issuer = iss
			case "-":
				issuer = ""
			}
			if status == 0 {
				status = 200
			}
			p, err := ParseDiscovery(issuer, status, c.body)
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				t.Log(err)
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("error %q does not mention %q", err, c.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *p != *c.want {
				t.Errorf("provider = %+v\nwant       %+v", p, c.want)
			}
		})
	}
}

func TestDiscoveryOverride(t *testing.T) {
	d := Discovery{Issuer: "https://idp", AuthorizationEndpoint: "https://idp/auth", TokenEndpoint: "https://idp/token", JWKSURI: "https://idp/keys", EndSessionEndpoint: "https://idp/logout"}
	got := d.Override(Discovery{Issuer: "https://other", AuthorizationEndpoint: "/dex/auth", TokenEndpoint: "http://dex.auth:5556/dex/token"})
	want := Discovery{Issuer: "https://idp", AuthorizationEndpoint: "/dex/auth", TokenEndpoint: "http://dex.auth:5556/dex/token", JWKSURI: "https://idp/keys", EndSessionEndpoint: "https://idp/logout"}
	if got != want {
		t.Errorf("Override = %+v, want %+v", got, want)
	}
	if d.Override(Discovery{}) != d {
		t.Error("an empty override changed the document")
	}
}

// A multi-tenant endpoint's document names an issuer template on its own origin; nothing else
// passes, and ParseDiscovery never accepts a template.
func TestParseTenantDiscovery(t *testing.T) {
	const base = "https://login.microsoftonline.com/organizations/v2.0"
	doc := func(iss string) []byte {
		return []byte(`{"issuer":"` + iss + `","authorization_endpoint":"https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",` +
			`"token_endpoint":"https://login.microsoftonline.com/organizations/oauth2/v2.0/token","jwks_uri":"https://login.microsoftonline.com/organizations/discovery/v2.0/keys"}`)
	}
	d, err := ParseTenantDiscovery(base, 200, doc("https://login.microsoftonline.com/{tenantid}/v2.0"))
	if err != nil || d.Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Fatalf("template: %v %+v", err, d)
	}
	if _, err := ParseDiscovery(base, 200, doc("https://login.microsoftonline.com/{tenantid}/v2.0")); err == nil {
		t.Error("ParseDiscovery accepted a template")
	}
	for _, bad := range []string{"https://evil.example/{tenantid}/v2.0", "http://login.microsoftonline.com/{tenantid}/v2.0",
		"https://login.microsoftonline.com/{tenantid}/{tenantid}", "https://login.microsoftonline.com/other/v2.0"} {
		if _, err := ParseTenantDiscovery(base, 200, doc(bad)); err == nil {
			t.Errorf("issuer %q accepted", bad)
		}
	}
	got := ExpandIssuers([]string{"https://login.microsoftonline.com/{tenantid}/v2.0", "https://fixed/"}, []string{"t1", "t2"})
	if strings.Join(got, " ") != "https://login.microsoftonline.com/t1/v2.0 https://login.microsoftonline.com/t2/v2.0 https://fixed/" {
		t.Errorf("ExpandIssuers = %q", got)
	}
}
