package plugin

// Resource bounds: what a client can grow per VM is capped (requests held while metadata
// loads, the path parsed, the cookies read), and what lies past a cap is refused or ignored,
// never passed on. SECURITY.md, G8 and "Resource bounds", whose table also names the tests
// of the bounds proved next to their features (refresh flights, caches, JWKS refetches).

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// Resource bounds: requests held while metadata loads are capped (beyond: 503 at once), the
// path the plugin parses is capped (beyond: 400), and a Cookie header beyond what
// oidc.ParseCookies reads (200 cookies, 64 KiB) hides the cookies past the limit: they are
// neither used nor forwarded, so a plugin cookie never reaches upstream that way.
func TestThreatResourceBounds(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		var held []uint32
		for i := 0; i < maxWaiting; i++ {
			id, action := h.Request(wasmhost.BrowserGet("/page"))
			if action != types.ActionPause || h.Reply(id) != nil {
				t.Fatalf("request %d must be held, got %+v", i, h.Reply(id))
			}
			held = append(held, id)
		}
		id, _ := h.Request(wasmhost.BrowserGet("/page"))
		if r := h.Reply(id); r == nil || r.Status != 503 {
			t.Fatalf("request beyond maxWaiting: want 503 at once, got %+v", r)
		}
		idp.serveMetadata(h)
		for _, id := range held {
			if r := h.Reply(id); r == nil || r.Status != 302 {
				t.Fatalf("held request: want 302 once metadata loaded, got %+v", r)
			}
		}

		// :path
		id, _ = h.Request(wasmhost.APIGet("/" + strings.Repeat("a", maxPathBytes)))
		if r := h.Reply(id); r == nil || r.Status != 400 {
			t.Errorf("path over %d bytes: want 400, got %+v", maxPathBytes, r)
		}
		id, _ = h.Request(wasmhost.APIGet("/" + strings.Repeat("a", maxPathBytes-1)))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("path of %d bytes: want 401, got %+v", maxPathBytes, r)
		}

		// Cookie headers
		session := idp.login(h, "/")
		many := strings.Repeat("x=y; ", 250)
		big := "big=" + strings.Repeat("v", 70<<10)
		for name, c := range map[string]struct {
			headers [][2]string
			pass    bool
		}{
			"session after 250 cookies":      {[][2]string{{"cookie", many + session}}, false},
			"session after 70 KiB":           {[][2]string{{"cookie", big}, {"cookie", session}}, false},
			"session before 250 cookies":     {[][2]string{{"cookie", session + "; " + many}}, true},
			"session before 70 KiB":          {[][2]string{{"cookie", session}, {"cookie", big}}, true},
			"1000 Cookie headers":            {append([][2]string{{"cookie", session}}, repeatHeader("cookie", "a=b", 1000)...), true},
			"1000 Authorization headers":     {append([][2]string{{"cookie", session}}, repeatHeader("authorization", "Bearer x", 1000)...), true},
			"1 MiB bearer token, no session": {[][2]string{{"authorization", "Bearer " + strings.Repeat("a", 1<<20)}}, false},
		} {
			id, action := h.Request(wasmhost.APIGet("/api", c.headers...))
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != c.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", name, passed, c.pass, h.Reply(id))
			}
			if !c.pass {
				continue
			}
			up := h.Upstream(id)
			for _, v := range up["cookie"] {
				if strings.Contains(v, "__Host-oidc_session") {
					t.Errorf("%s: a plugin cookie reached upstream", name)
				}
			}
			if len(up["authorization"]) != 0 {
				t.Errorf("%s: a client's Authorization reached upstream next to the session", name)
			}
		}
	})
}

func repeatHeader(name, value string, n int) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{name, value}
	}
	return out
}
