package plugin

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// randomRequest builds hostile header sets: odd paths, garbage and oversized cookies,
// spoofed identity headers in every variant, duplicate and control-character values.
func randomRequest(r *rand.Rand, validSession string) [][2]string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	junk := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	path := pick("/", "/app", "/public", "/public/../admin", "/oauth2/callback", "/oauth2/callback?code=x&state=y",
		"/oauth2/callback?error=access_denied", "/oauth2/callback?code=%ZZ&state=", "//evil.com", "/%2e%2e/", "/healthz?x=/public",
		"/"+junk(r.IntN(40)), "/"+strings.Repeat("a", 9000), "")
	h := [][2]string{
		{":method", pick("GET", "HEAD", "POST", "DELETE", "", junk(3))},
		{":path", path},
		{":authority", pick("app.example.com", "", "evil.com\r\nx: y", junk(8))},
		{":scheme", pick("https", "http", "")},
		{"accept", pick("text/html", "application/json", "*/*", "")},
	}
	for i := r.IntN(6); i > 0; i-- {
		h = append(h, [2]string{"cookie", pick(
			"__Host-oidc_session="+junk(r.IntN(200)),
			"__Host-oidc_session="+validSession[:r.IntN(len(validSession)+1)],
			"__Host-oidc_session_0="+junk(50)+"; __Host-oidc_session_1="+junk(50),
			"__Host-oidc_session_state="+junk(100),
			"a=b; __Host-oidc_session; =; ;;",
			strings.Repeat("x=y; ", 300),
			junk(r.IntN(300)),
		)})
	}
	for i := r.IntN(4); i > 0; i-- {
		h = append(h, [2]string{pick("x-auth-request-email", "X_Auth_Request_Email", "X-AUTH-REQUEST-USER", "x_auth_request_user"), pick("admin", junk(10))})
	}
	return h
}

// No input panics (or, in wasm mode, traps) the VM; without a valid session nothing but a
// skip path continues, and no client-sent identity header ever reaches upstream.
func TestRandomRequestsNeverPanicOrPass(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		valid := wasmhost.CookieValue(idp.login(h, "/"))
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 300; i++ {
			headers := randomRequest(r, valid)
			id, action := h.Request(headers)
			for _, c := range h.Pending(id) {
				h.Answer(c, 200, `{"error":"invalid_grant"}`)
			}
			if action != types.ActionContinue {
				continue
			}
			var path requestPath
			for _, kv := range headers {
				if kv[0] == ":path" {
					path = parsePath(kv[1])
				}
			}
			up := h.Upstream(id)
			skip := path.plain && (path.raw == "/healthz" || path.raw == "/public" || strings.HasPrefix(path.raw, "/public/"))
			email := up["x-auth-request-email"]
			if !skip && (len(email) != 1 || email[0] != "alice@example.com") {
				t.Fatalf("request %d passed without a valid session: %q -> %v", i, headers, up)
			}
			for _, c := range up["cookie"] {
				if strings.Contains(c, "__Host-oidc_session") {
					t.Fatalf("request %d: the plugin's cookie reached upstream: %q", i, c)
				}
			}
			for name, v := range up {
				c := canonicalHeader(name)
				if (c == "x-auth-request-email" || c == "x-auth-request-user") && (skip || name != c || len(v) != 1 || v[0] == "admin") {
					t.Fatalf("request %d: client-sent %s=%q reached upstream", i, name, v)
				}
			}
		}
	})
}
