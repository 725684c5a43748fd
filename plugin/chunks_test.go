package plugin

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// An ID token with 300 groups makes a session larger than one cookie: it is split into
// chunks under 4 KiB each, reassembled on the way in, and logout clears every chunk
// (issue 3, large tokens).
func TestLargeSessionIsChunked(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"claims_to_headers":{"x-groups":"groups","x-auth-request-email":"email"}`))
		idp := newFakeIdP(t, m)
		groups := make([]string, 300)
		for i := range groups {
			groups[i] = fmt.Sprintf("team-%03d-readers", i)
		}
		idp.claims["groups"] = groups
		idp.serveMetadata(h)

		q, state := startLogin(t, h)
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")),
			[2]string{"cookie", state + "; __Host-oidc_session_9=stale"}))
		h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		r := h.Reply(id)
		if r == nil || r.Status != 302 {
			t.Fatalf("login with a large token: want 302, got %+v", r)
		}
		var chunks []string
		for _, kv := range r.Headers {
			if kv[0] != "set-cookie" {
				continue
			}
			if len(kv[1]) >= 4096 {
				t.Errorf("a Set-Cookie of %d bytes exceeds what browsers keep", len(kv[1]))
			}
			name, value := strings.SplitN(kv[1], "=", 2)[0], wasmhost.CookieValue(kv[1])
			if strings.HasPrefix(name, "__Host-oidc_session_") && name != "__Host-oidc_session_state" && value != "" {
				chunks = append(chunks, name+"="+value)
			}
		}
		if len(chunks) < 2 {
			t.Fatalf("want a chunked session, got %d cookies", len(chunks))
		}
		if !strings.Contains(r.SetCookies()["__Host-oidc_session_9"], "Max-Age=0") {
			t.Errorf("a stale chunk the browser held must be cleared")
		}
		sort.Strings(chunks)
		session := strings.Join(chunks, "; ")
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
		if action != types.ActionContinue {
			t.Fatalf("chunked session refused: %+v", h.Reply(id))
		}
		if got := h.Upstream(id)["x-groups"]; len(got) != 1 || !strings.HasPrefix(got[0], "team-000-readers,team-001-readers") || strings.Count(got[0], ",") != 299 {
			t.Errorf("x-groups has %d bytes, want all 300 groups", len(strings.Join(got, "")))
		}
		// A missing chunk is no session.
		id, _ = h.Request(wasmhost.APIGet("/api", [2]string{"cookie", strings.Join(chunks[1:], "; ")}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("a session missing a chunk must be refused, got %+v", r)
		}
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session}))
		cleared := h.Reply(id).SetCookies()
		for _, c := range chunks {
			name := strings.SplitN(c, "=", 2)[0]
			if !strings.Contains(cleared[name], "Max-Age=0") {
				t.Errorf("logout left chunk %s", name)
			}
		}
	})
}
