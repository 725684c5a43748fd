package plugin

import (
	"errors"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// CORS preflights carry no cookies: with allow_preflight they reach the app, which answers
// them, without identity headers; other OPTIONS requests still need a credential. A skip rule
// with methods skips only those (issue 15).
func TestPreflightAndMethodSkipRules(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(`"allow_preflight":true,"skip_paths":[{"prefix":"/feed","methods":["GET","HEAD"]}]`))
		newFakeIdP(t, m).serveMetadata(h)
		req := func(method, path string, extra ...[2]string) [][2]string {
			return append([][2]string{{":method", method}, {":path", path}, {":authority", "app.example.com"}, {":scheme", "https"},
				{"x-auth-request-user", "forged"}}, extra...)
		}
		origin := [2]string{"origin", "https://spa.example.com"}
		acrm := [2]string{"access-control-request-method", "POST"}
		for _, c := range []struct {
			name    string
			headers [][2]string
			pass    bool
		}{
			{"preflight", req("OPTIONS", "/api/x", origin, acrm), true},
			{"OPTIONS without Origin", req("OPTIONS", "/api/x", acrm), false},
			{"OPTIONS without Access-Control-Request-Method", req("OPTIONS", "/api/x", origin), false},
			{"POST with preflight headers", req("POST", "/api/x", origin, acrm), false},
			{"GET on a GET-only skip rule", req("GET", "/feed/rss"), true},
			{"HEAD on it", req("HEAD", "/feed"), true},
			{"POST on it", req("POST", "/feed/rss"), false},
		} {
			id, action := h.Request(c.headers)
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != c.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", c.name, passed, c.pass, h.Reply(id))
			}
			if _, forged := h.Upstream(id)["x-auth-request-user"]; c.pass && forged {
				t.Errorf("%s: a client-sent identity header reached the upstream", c.name)
			}
		}
	})
	for _, c := range []struct{ config, key string }{
		{`"skip_paths":[{"prefix":"/a","methods":[]}]`, "skip_paths[0].methods"},
		{`"skip_paths":[{"prefix":"/a","methods":["get"]}]`, "skip_paths[0].methods[0]"},
		{`"skip_paths":[{"methods":["GET"]}]`, "skip_paths[0]"},
		{`"allow_preflight":"yes"`, "allow_preflight"},
	} {
		_, err := ParseConfig([]byte(threatConfig(c.config)), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
}
