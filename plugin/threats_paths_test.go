package plugin

// Path spellings (second security review, item 1): a path decision made on a spelling the
// upstream does not see. Tomcat, Jetty and Spring cut ";params" from every segment; Go's
// ServeMux, Express and Flask decode percent-escapes; Express and ASP.NET ignore letter case.
// Whatever the spelling, a request must never be let through where the path the upstream
// serves would be refused. SECURITY.md, G10.

import (
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// spellingCases are spellings of /admin/users that the common upstreams serve as
// /admin/users (or /admin), for a user the /admin rule refuses.
var spellingCases = []struct{ name, path string }{
	{"plain", "/admin/users"},
	{"Tomcat ;jsessionid", "/admin;jsessionid=x/users"},
	{"Tomcat empty ;", "/admin;/users"},
	{"Tomcat ; on every segment", "/admin;a=b/users;c"},
	{"Tomcat ; at the end", "/admin;x"},
	{"Go decodes %61", "/%61dmin/users"},
	{"Go decodes upper-case %41? no: %6D", "/ad%6Din/users"},
	{"Go decodes lower-case hex %6d", "/ad%6din/users"},
	{"both ; and escape", "/%61dmin;x/users"},
	{"escaped ; is refused", "/admin%3Bx/users"},
	{"escaped ; lower-case", "/admin%3bx/users"},
}

// An authorization rule on /admin decides every spelling of /admin: the user without the
// group gets 403 (or 400 for a path no rule may decide), never the upstream.
func TestThreatPathSpellingAuthorization(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"authorization":[{"path_prefix":"/admin","allow":[{"group":"admins"}]}]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		user := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}
		admin := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil, "groups": []string{"admins"}})}
		for _, c := range spellingCases {
			id, action := h.Request(wasmhost.APIGet(c.path, user))
			if r := h.Reply(id); action == types.ActionContinue || r == nil || (r.Status != 403 && r.Status != 400) {
				t.Errorf("%s: %q reached the upstream for a user the /admin rule refuses (%+v)", c.name, c.path, r)
			}
		}
		// The group still opens every spelling that is not refused outright.
		for _, p := range []string{"/admin/users", "/admin;jsessionid=x/users", "/%61dmin/users"} {
			if id, action := h.Request(wasmhost.APIGet(p, admin)); action != types.ActionContinue {
				t.Errorf("%q refused for an admin: %+v", p, h.Reply(id))
			}
		}
		// Other paths stay open to every authenticated user, parameters or not.
		for _, p := range []string{"/app;jsessionid=x/page", "/administrators", "/%61pp"} {
			if id, action := h.Request(wasmhost.APIGet(p, user)); action != types.ActionContinue {
				t.Errorf("%q refused: %+v", p, h.Reply(id))
			}
		}
	})
}

// Letter case: Envoy's routes and the default matching are case-sensitive, so /ADMIN is not
// /admin; with authorization_case_insensitive, a rule also covers every case spelling, for
// upstreams (Express, ASP.NET, IIS) that ignore case.
func TestThreatPathSpellingLetterCase(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		rules := `"authorization":[{"path_prefix":"/admin","allow":[{"group":"admins"}]}]`
		for _, insensitive := range []bool{false, true} {
			extra := rules
			if insensitive {
				extra += `,"authorization_case_insensitive":true`
			}
			h := wasmhost.MustStart(t, vm, testConfig(extra))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)
			user := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}
			for _, p := range []string{"/ADMIN/users", "/Admin", "/aDmIn;x/users", "/%41dmin"} {
				id, action := h.Request(wasmhost.APIGet(p, user))
				if got := action == types.ActionContinue; got == insensitive {
					t.Errorf("case-insensitive=%v: %q passed=%v (%+v)", insensitive, p, got, h.Reply(id))
				}
			}
		}
	})
}

// Skip rules never open a path that carries ";" or an escape an upstream decodes into another
// name: "/admin/users;.js" is not a script, whatever the static-asset regex says.
func TestThreatPathSpellingSkipRules(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(`"skip_paths":[{"regex":".*\\.(js|css)"},{"prefix":"/public"},{"exact":"/healthz"}]`))
		newFakeIdP(t, m).serveMetadata(h)
		for _, p := range []string{
			"/admin/users;.js", "/admin;.css", "/admin/users;x=.js", "/admin/x.js;", "/public;x", "/public;/../admin",
			"/healthz;", "/healthz;x", "/public/%61", "/%70ublic/x", "/admin/users%3B.js", "/admin/x.j%73",
			"/admin/x%2Ejs", "/admin%3F.js", "/admin%23.js", "/admin%3f/x.js",
		} {
			id, action := h.Request(wasmhost.APIGet(p))
			if r := h.Reply(id); action == types.ActionContinue || r == nil || (r.Status != 401 && r.Status != 400) {
				t.Errorf("%q skipped authentication (%+v)", p, r)
			}
		}
		for _, p := range []string{"/static/app.js", "/public/x", "/public/my%20file.css", "/healthz", "/static/a:b.css"} {
			if id, action := h.Request(wasmhost.APIGet(p)); action != types.ActionContinue {
				t.Errorf("%q: skip rule no longer applies: %+v", p, h.Reply(id))
			}
		}
	})
}

// A provider chosen by path prefix is chosen for every spelling of its paths, or the request
// is refused: "/admin;x/users" is never served by the host's other provider.
func TestThreatPathSpellingProviders(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, `{"client_secret":"s","cookie_secret":"`+testCookieKey+`","providers":[`+
			`{"name":"site","hosts":["app.example.com"],"issuer":"`+testIssuer+`","client_id":"`+testClientID+`"},`+
			`{"name":"admin","hosts":["app.example.com"],"path_prefix":"/admin","issuer":"`+issuerB+`","client_id":"`+testClientID+`"}]}`)
		idp, other := newFakeIdP(t, m), newFakeIdP(t, m)
		other.issuer = issuerB
		serveAll(t, h, idp, other)
		site := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}
		for _, c := range spellingCases {
			if c.name == "plain" {
				continue
			}
			id, action := h.Request(wasmhost.APIGet(c.path, site))
			if r := h.Reply(id); action == types.ActionContinue || r == nil || (r.Status != 400 && r.Status != 401) {
				t.Errorf("%s: %q was served by the site provider (%+v)", c.name, c.path, r)
			}
		}
		for _, p := range []string{"/app", "/app;jsessionid=x", "/administrators"} {
			if id, action := h.Request(wasmhost.APIGet(p, site)); action != types.ActionContinue {
				t.Errorf("%q: want the site provider to accept its token, got %+v", p, h.Reply(id))
			}
		}
	})
}
