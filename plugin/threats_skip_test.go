package plugin

// Path confusion against skip rules: a request skips authentication only when its :path, in
// normal form and before '?' or '#', matches a rule; never by a query or fragment that looks
// like a skipped path, a raw path the gateway left un-normalized, a case variant, or a header
// that names another path or a trusted client. SECURITY.md, G1 and "Path confusion against
// skip rules"; spellings an upstream reads as the same path are in threats_paths_test.go.

import (
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// skipConfig has one rule of each kind.
const skipConfig = `"skip_paths":[{"prefix":"/pub"},{"exact":"/healthz"},{"regex":"/static/[a-z]+\\.css"}]`

// Path confusion against skip rules (oauth2-proxy CVE-2025-54576, CVE-2026-41059; Envoy
// CVE-2019-9901, CVE-2021-29492, CVE-2021-32779): rules see the path before '?' or '#' only,
// case-sensitively, and only a path in normal form can be skipped, so a raw path the gateway
// failed to normalize needs authentication instead of slipping past a rule.
func TestThreatSkipPathConfusion(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(skipConfig))
		newFakeIdP(t, m).serveMetadata(h)
		cases := []struct {
			name string
			path string
			skip bool
		}{
			{"control prefix", "/pub", true}, {"control prefix segment", "/pub/x.css", true},
			{"control exact", "/healthz", true}, {"control regex", "/static/app.css", true},
			{"control query ignored", "/healthz?x=1", true}, {"control fragment ignored", "/pub#top", true},
			{"control encoded space", "/pub/my%20file", true},
			{"CVE-2025-54576 query", "/private?x=/pub", false},
			{"CVE-2025-54576 bare query", "/private?/pub", false},
			{"CVE-2025-54576 encoded ?", "/private%3F/pub", false},
			{"CVE-2026-41059 %23", "/admin%23/pub", false},
			{"CVE-2026-41059 #", "/admin#/pub", false},
			{"CVE-2026-41059 %2523", "/admin%2523/pub", false},
			{"CVE-2021-29492 //admin", "//admin", false},
			{"CVE-2021-29492 //pub", "//pub", false},
			{"CVE-2021-29492 /pub//x", "/pub//x", false},
			{"CVE-2019-9901 /pub/../admin", "/pub/../admin", false},
			{"CVE-2019-9901 /pub/./../admin", "/pub/./../admin", false},
			{"CVE-2019-9901 /pub/..", "/pub/..", false},
			{"CVE-2019-9901 /pub/.", "/pub/.", false},
			{"CVE-2019-9901 /pub//../admin", "/pub//../admin", false},
			{"CVE-2019-9901 /pub/..;/admin", "/pub/..;/admin", false},
			{"CVE-2019-9901 /pub/..%3B/admin", "/pub/..%3B/admin", false},
			{"CVE-2021-29492 /pub%2F..%2Fadmin", "/pub%2F..%2Fadmin", false},
			{"CVE-2021-29492 /pub/..%2Fadmin", "/pub/..%2Fadmin", false},
			{"CVE-2021-29492 /pub/..%2fadmin", "/pub/..%2fadmin", false},
			{"CVE-2021-29492 /pub/%2e%2e/admin", "/pub/%2e%2e/admin", false},
			{"CVE-2021-29492 /pub/%2E%2E/admin", "/pub/%2E%2E/admin", false},
			{"CVE-2021-29492 /pub/.%2e/admin", "/pub/.%2e/admin", false},
			{"CVE-2021-29492 double /pub/%252e%252e/admin", "/pub/%252e%252e/admin", false},
			{"CVE-2021-29492 /pub%5C..%5Cadmin", "/pub%5C..%5Cadmin", false},
			{"CVE-2021-29492 /pub/%5C../admin", "/pub/%5C../admin", false},
			{"CVE-2021-29492 backslash", `/pub\..\admin`, false},
			{"CVE-2021-29492 /pub/%00/x", "/pub/%00/x", false},
			{"CVE-2021-29492 raw NUL", "/pub/\x00/../admin", false},
			{"CVE-2021-29492 raw tab", "/pub/\t/x", false},
			{"CVE-2021-29492 bad escape", "/pub/%zz", false},
			{"CVE-2021-29492 non-ASCII", "/pub/\xc0\xae\xc0\xae/admin", false},
			{"CVE-2021-32779 /PUB", "/PUB", false},
			{"CVE-2021-32779 /Pub/x", "/Pub/x", false},
			{"CVE-2021-32779 /HEALTHZ", "/HEALTHZ", false},
			{"CVE-2021-32779 %70ub", "/%70ub", false},
			{"segment /publicity", "/publicity", false},
			{"segment /pubx", "/pubx", false},
			{"exact /healthz/", "/healthz/", false},
			{"exact /healthz/x", "/healthz/x", false},
			{"regex anchored /admin/static/a.css", "/admin/static/a.css", false},
			{"regex anchored /static/a.css/../../admin", "/static/a.css/../../admin", false},
			{"regex /static/../admin.css", "/static/../admin.css", false},
			{"normalized form /admin", "/admin", false},
		}
		for _, c := range cases {
			for _, headers := range [][][2]string{wasmhost.APIGet(c.path), wasmhost.BrowserGet(c.path)} {
				id, action := h.Request(headers)
				r := h.Reply(id)
				if skipped := action == types.ActionContinue && r == nil; skipped != c.skip {
					t.Errorf("%s: %q skipped=%v, want %v (%+v)", c.name, c.path, skipped, c.skip, r)
				}
				if !c.skip && (r == nil || (r.Status != 401 && r.Status != 302 && r.Status != 400)) {
					t.Errorf("%s: %q: want 401, 302 or 400, got %+v", c.name, c.path, r)
				}
			}
		}
	})
}

// Decisions are made on :path (and the session) only, never on X-Forwarded-Uri,
// X-Original-URI, X-Forwarded-Host, User-Agent or a client IP (CVE-2026-40575,
// CVE-2026-34457, a trusted-IP bypass post-mortem): sending them changes nothing.
func TestThreatDecisionIgnoresForwardedHeaders(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(skipConfig))
		newFakeIdP(t, m).serveMetadata(h)
		noise := map[string][][2]string{
			"CVE-2026-40575 X-Forwarded-Uri":       {{"x-forwarded-uri", "/pub/x"}},
			"CVE-2026-40575 X-Original-URI":        {{"x-original-uri", "/pub/x"}},
			"CVE-2026-40575 X-Original-URL":        {{"x-original-url", "/healthz"}},
			"CVE-2026-40575 X-Rewrite-URL":         {{"x-rewrite-url", "/healthz"}},
			"CVE-2026-40575 X-Envoy-Original-Path": {{"x-envoy-original-path", "/pub"}},
			"CVE-2026-40575 X-Forwarded-Prefix":    {{"x-forwarded-prefix", "/pub"}},
			"CVE-2026-34457 X-Forwarded-Host":      {{"x-forwarded-host", "localhost"}, {"x-forwarded-proto", "http"}, {"x-forwarded-port", "80"}},
			"CVE-2026-34457 User-Agent probe":      {{"user-agent", "kube-probe/1.30"}},
			"CVE-2026-34457 User-Agent GoogleHC":   {{"user-agent", "GoogleHC/1.0"}},
			"trusted-IP X-Forwarded-For":           {{"x-forwarded-for", "127.0.0.1"}, {"x-real-ip", "127.0.0.1"}, {"true-client-ip", "10.0.0.1"}},
			"trusted-IP Forwarded":                 {{"forwarded", "for=127.0.0.1;host=localhost;proto=http"}},
			"trusted-IP X-Envoy-External-Address":  {{"x-envoy-external-address", "127.0.0.1"}, {"x-envoy-internal", "true"}},
		}
		type outcome struct {
			action      types.Action
			status      uint32
			redirectURI string
		}
		run := func(headers [][2]string) outcome {
			id, action := h.Request(headers)
			o := outcome{action: action}
			if r := h.Reply(id); r != nil {
				o.status = r.Status
				if loc := r.Header("location"); loc != "" {
					o.redirectURI = wasmhost.Query(t, loc).Get("redirect_uri")
				}
			}
			return o
		}
		for _, p := range []string{"/admin", "/pub/x", "/healthz", "/pub/../admin", "/oauth2/callback?code=c&state=s"} {
			for kind, base := range map[string]func(string, ...[2]string) [][2]string{"api": wasmhost.APIGet, "browser": wasmhost.BrowserGet} {
				want := run(base(p))
				for name, extra := range noise {
					if got := run(base(p, extra...)); got != want {
						t.Errorf("%s: %s %s: outcome %+v, want %+v as without the header", name, kind, p, got, want)
					}
				}
			}
		}
	})
}
