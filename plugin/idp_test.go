package plugin

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// A request that arrives before discovery and JWKS are loaded is held, then resumed when
// they are; metadata is fetched through the configured cluster (behaviour 7).
func TestRequestHeldUntilMetadataLoads(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"cluster":"idp-cluster"`))
		if h.GetTickPeriod() == 0 {
			t.Fatal("the plugin must tick to fetch metadata")
		}
		idp := newFakeIdP(t, m)
		browser, action := h.Request(wasmhost.BrowserGet("/page"))
		if action != types.ActionPause || h.Reply(browser) != nil {
			t.Fatalf("browser request must be held, got %v", action)
		}
		// An API request without a session needs no metadata: 401 at once.
		api, _ := h.Request(wasmhost.APIGet("/api"))
		if r := h.Reply(api); r == nil || r.Status != 401 {
			t.Fatalf("API request: want 401 at once, got %+v", r)
		}
		h.Tick()
		d := h.OnePending(wasmhost.PluginContextID)
		if d.Cluster != "idp-cluster" {
			t.Errorf("discovery went to cluster %q", d.Cluster)
		}
		h.Answer(d, 200, idp.discovery())
		if r := h.Reply(browser); r != nil {
			t.Fatalf("still waiting for the JWKS, got %+v", r)
		}
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.jwks())
		if r := h.Reply(browser); r == nil || r.Status != 302 {
			t.Fatalf("held request: want 302 once metadata loaded, got %+v", r)
		}
	})
}

// When the IdP cannot be reached, held requests get 503, new ones get 503 at once during
// the backoff, nothing passes, and service recovers by itself (behaviour 7).
func TestIdPDownFailsClosedAndRecovers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		held, _ := h.Request(wasmhost.BrowserGet("/page"))
		h.Tick()
		h.Answer(h.OnePending(wasmhost.PluginContextID), 0, "") // Envoy: timeout or connection refused
		if r := h.Reply(held); r == nil || r.Status != 503 {
			t.Fatalf("held request: want 503, got %+v", r)
		}
		id, action := h.Request(wasmhost.BrowserGet("/page"))
		if r := h.Reply(id); action != types.ActionPause || r == nil || r.Status != 503 {
			t.Fatalf("during backoff: want 503 at once, got %v %+v", action, r)
		}
		if len(wasmhost.CopyLogs(h.GetErrorLogs())) == 0 {
			t.Errorf("a failed fetch must be logged")
		}

		bad := []struct {
			status int
			body   string
		}{
			{500, "oops"}, {200, "{garbage"}, {200, `{"issuer":"https://other.example.com","authorization_endpoint":"https://idp.example.com/a","token_endpoint":"https://idp.example.com/t","jwks_uri":"https://idp.example.com/k"}`},
		}
		for _, b := range bad {
			for i := 0; i < maxBackoffTicks && !h.HasPending(wasmhost.PluginContextID); i++ {
				h.Tick()
			}
			held, _ = h.Request(wasmhost.BrowserGet("/page"))
			h.Answer(h.OnePending(wasmhost.PluginContextID), b.status, b.body)
			if r := h.Reply(held); r == nil || r.Status != 503 {
				t.Fatalf("discovery answer %d %q: want 503, got %+v", b.status, b.body, r)
			}
		}

		for i := 0; i < maxBackoffTicks && !h.HasPending(wasmhost.PluginContextID); i++ {
			h.Tick()
		}
		held, _ = h.Request(wasmhost.BrowserGet("/page"))
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.discovery())
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, `{"keys":[]}`)
		if r := h.Reply(held); r == nil || r.Status != 503 {
			t.Fatalf("empty JWKS: want 503, got %+v", r)
		}
		for i := 0; i < maxBackoffTicks && !h.HasPending(wasmhost.PluginContextID); i++ {
			h.Tick()
		}
		held, _ = h.Request(wasmhost.BrowserGet("/page"))
		k := h.OnePending(wasmhost.PluginContextID)
		if k.URL() != testIssuer+"/keys" {
			t.Fatalf("discovery is kept; the retry must fetch the JWKS, got %+v", k)
		}
		h.Answer(k, 200, idp.jwks())
		if r := h.Reply(held); r == nil || r.Status != 302 {
			t.Fatalf("after recovery: want 302, got %+v", r)
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.unavailable"); n < 5 {
			t.Errorf("unavailable = %d", n)
		}
	})
}

// A callout whose answer never comes is abandoned by the watchdog; held requests get 503.
func TestLostCalloutIsAbandoned(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"timeout_ms":500`))
		held, _ := h.Request(wasmhost.BrowserGet("/page"))
		h.Tick()
		lost := h.OnePending(wasmhost.PluginContextID)
		for i := 0; i < 10 && h.Reply(held) == nil; i++ {
			h.Tick()
		}
		if r := h.Reply(held); r == nil || r.Status != 503 {
			t.Fatalf("want 503 after the watchdog, got %+v", r)
		}
		// The late answer is ignored; the next attempt starts afresh.
		h.Answer(lost, 200, newFakeIdP(t, m).discovery())
		for i := 0; i < maxBackoffTicks && !h.HasPending(wasmhost.PluginContextID); i++ {
			h.Tick()
		}
		if c := h.OnePending(wasmhost.PluginContextID); !strings.HasSuffix(c.Headers[":path"], "openid-configuration") {
			t.Fatalf("want a fresh discovery fetch, got %+v", c)
		}
	})
}

// A refused dispatch (Envoy's "bad argument" for an unknown cluster) is logged with advice.
func TestDispatchProblemNamesCluster(t *testing.T) {
	msg := dispatchProblem("outbound|443||idp", types.ErrorStatusBadArgument)
	for _, want := range []string{`"outbound|443||idp"`, "bad argument", "ServiceEntry", ":authority"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
