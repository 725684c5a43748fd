package plugin

// Identity-header spoofing: no client-sent form of a managed identity header, no client's
// Authorization next to a session and none of the plugin's cookies reaches upstream; where
// the plugin sets a header it replaces, never appends (oauth2-proxy CVE-2025-64484, Kubeflow
// #6702, Envoy CVE-2021-32777). SECURITY.md, G2 and "Identity-header spoofing"; an email
// the IdP has not verified is in threats_identity_test.go.

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// spoofVariants are the forms a client can give a managed header: case, '_' for '-',
// duplicates, control characters in the value.
func spoofVariants(name string) [][2]string {
	title := strings.Map(func(r rune) rune { return r }, name)
	parts := strings.Split(title, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	title = strings.Join(parts, "-")
	under := strings.ReplaceAll(name, "-", "_")
	mixed := strings.Replace(strings.ToUpper(name), "-", "_", 1)
	return [][2]string{
		{name, "admin"}, {name, "root"}, {strings.ToUpper(name), "admin"}, {title, "admin"},
		{under, "admin"}, {strings.ToUpper(under), "admin"}, {strings.ReplaceAll(title, "-", "_"), "admin"}, {mixed, "admin"},
		{name, "admin\r\nx-injected: 1"}, {name, ""},
	}
}

// Identity-header spoofing (oauth2-proxy CVE-2025-64484, Kubeflow #6702): every managed
// header, in every variant, is gone from the request on every path the flow can take, and
// where the plugin sets it, it holds exactly the IdP-asserted value once (replace, never
// append); a header without a claim stays absent.
func TestThreatIdentityHeaderSpoofing(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(skipConfig+`,"bearer_audiences":["app"],"claims_to_headers":{"x-auth-request-email":"email","kubeflow-userid":{"claim":"email","prefix":"p:"},"x-auth-request-groups":"groups","x-team":"team"}`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		managed := map[string]string{"x-auth-request-email": "alice@example.com", "kubeflow-userid": "p:alice@example.com", "x-auth-request-groups": "dev,ops", "x-team": ""}
		var spoof [][2]string
		for name := range managed {
			spoof = append(spoof, spoofVariants(name)...)
		}
		valid := idp.idToken("", map[string]any{"nonce": nil})
		scenarios := []struct {
			name     string
			headers  [][2]string
			identity bool // the plugin verified someone: set headers expected
			pass     bool
		}{
			{"CVE-2025-64484 skip path", wasmhost.APIGet("/pub/x"), false, true},
			{"CVE-2025-64484 raw path not skipped", wasmhost.APIGet("/pub/../admin"), false, false},
			{"CVE-2025-64484 no session (401)", wasmhost.APIGet("/api"), false, false},
			{"CVE-2025-64484 no session (login)", wasmhost.BrowserGet("/page"), false, false},
			{"CVE-2025-64484 tampered session", wasmhost.APIGet("/api", [2]string{"cookie", session + "x"}), false, false},
			{"CVE-2025-64484 forged bearer", wasmhost.APIGet("/api", [2]string{"authorization", "Bearer forged"}), false, false},
			{"CVE-2025-64484 callback failure", wasmhost.BrowserGet("/oauth2/callback?code=c&state=s"), false, false},
			{"CVE-2025-64484 logout", wasmhost.BrowserGet("/oauth2/logout"), false, false},
			{"Kubeflow #6702 valid session", wasmhost.APIGet("/api", [2]string{"cookie", session}), true, true},
			{"Kubeflow #6702 valid bearer", wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + valid}), true, true},
		}
		for _, s := range scenarios {
			headers := append(append([][2]string{}, s.headers...), spoof...)
			id, action := h.Request(headers)
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != s.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", s.name, passed, s.pass, h.Reply(id))
			}
			up := h.Upstream(id)
			for name, values := range up {
				want, ok := managed[canonicalHeader(name)]
				if !ok {
					continue
				}
				if !s.identity || want == "" || name != canonicalHeader(name) || len(values) != 1 || values[0] != want {
					t.Errorf("%s: %s=%q reached upstream", s.name, name, values)
				}
			}
			if s.identity {
				for name, want := range managed {
					if want != "" && len(up[name]) != 1 {
						t.Errorf("%s: %s not set", s.name, name)
					}
				}
			}
		}

		// A claim the IdP asserts with a control character is unsafe as a header value: the
		// header is absent, never split into two.
		idp.claims["email"] = "alice@example.com\r\nx-admin: 1"
		crlf := idp.login(h, "/")
		id, action := h.Request(append(wasmhost.APIGet("/api", [2]string{"cookie", crlf}), spoof...))
		if action != types.ActionContinue {
			t.Fatalf("CRLF claim: session must continue, got %+v", h.Reply(id))
		}
		for name, v := range h.Upstream(id) {
			if c := canonicalHeader(name); c == "x-auth-request-email" || c == "kubeflow-userid" || c == "x-admin" || c == "x-team" {
				t.Errorf("CRLF claim: %s=%q reached upstream", name, v)
			}
		}
	})
}

// Replace, never append (CVE-2025-64484 class; Envoy CVE-2021-32777 for duplicates): a
// client's Authorization next to a session never reaches upstream (or is replaced by the
// forwarded token), duplicate Cookie and Authorization headers have one defined meaning,
// and the plugin's own cookies never reach upstream.
func TestThreatReplaceNeverAppend(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		other := idp.login(h, "/")
		cases := []struct {
			name    string
			headers [][2]string
			pass    bool
			cookie  []string // the upstream Cookie header(s)
		}{
			{"CVE-2025-64484 Authorization: Bearer forged next to a session",
				[][2]string{{"cookie", session}, {"authorization", "Bearer forged"}}, true, nil},
			{"CVE-2025-64484 Authorization: Basic next to a session",
				[][2]string{{"cookie", session}, {"Authorization", "Basic YWRtaW46YWRtaW4="}}, true, nil},
			{"CVE-2021-32777 two Authorization headers next to a session",
				[][2]string{{"cookie", session}, {"authorization", "Bearer a"}, {"AUTHORIZATION", "Bearer b"}}, true, nil},
			{"CVE-2021-32777 session in the second Cookie header",
				[][2]string{{"cookie", "theme=dark"}, {"cookie", session}}, true, []string{"theme=dark"}},
			{"CVE-2021-32777 the same session twice",
				[][2]string{{"cookie", session}, {"cookie", "a=1; " + session}}, true, []string{"a=1"}},
			{"CVE-2021-32777 two different sessions (cookie tossing): one that opens, no loop",
				[][2]string{{"cookie", session}, {"cookie", other}}, true, nil},
			{"CVE-2021-32777 two different sessions in one header: one that opens, no loop",
				[][2]string{{"cookie", session + "; " + other}}, true, nil},
			{"plugin cookies removed, others kept in order",
				[][2]string{{"cookie", "a=1; " + session + "; b=\"2\""}, {"cookie", "__Host-oidc_session_state=x; c=3"}}, true, []string{"a=1; b=\"2\"; c=3"}},
		}
		for _, c := range cases {
			id, action := h.Request(wasmhost.APIGet("/api", c.headers...))
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != c.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", c.name, passed, c.pass, h.Reply(id))
				continue
			}
			if !c.pass {
				continue
			}
			up := h.Upstream(id)
			for name := range up {
				if canonicalHeader(name) == "authorization" {
					t.Errorf("%s: a client's %s reached upstream next to the session", c.name, name)
				}
			}
			if got := up["cookie"]; strings.Join(got, "|") != strings.Join(c.cookie, "|") {
				t.Errorf("%s: upstream cookie %q, want %q", c.name, got, c.cookie)
			}
			if got := up["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
				t.Errorf("%s: x-auth-request-email = %q", c.name, got)
			}
		}

		// forward_token: the session's token replaces the client's, once.
		h = wasmhost.MustStart(t, vm, threatConfig(`"forward_token":"id_token"`))
		idp.serveMetadata(h)
		session = idp.login(h, "/")
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}, [2]string{"authorization", "Bearer forged"}, [2]string{"Authorization", "Bearer forged2"}))
		if action != types.ActionContinue {
			t.Fatalf("forward_token: want continue, got %+v", h.Reply(id))
		}
		got := h.Upstream(id)["authorization"]
		if len(got) != 1 || !strings.HasPrefix(got[0], "Bearer ey") {
			t.Errorf("CVE-2025-64484 forward_token: upstream Authorization %q, want exactly the session's ID token", got)
		}
		if _, ok := h.Upstream(id)["Authorization"]; ok {
			t.Errorf("forward_token: the client's Authorization reached upstream")
		}
	})
}
