package plugin

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

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
			h.TickUntilPending(wasmhost.PluginContextID, maxBackoffTicks)
			held, _ = h.Request(wasmhost.BrowserGet("/page"))
			h.Answer(h.OnePending(wasmhost.PluginContextID), b.status, b.body)
			if r := h.Reply(held); r == nil || r.Status != 503 {
				t.Fatalf("discovery answer %d %q: want 503, got %+v", b.status, b.body, r)
			}
		}

		h.TickUntilPending(wasmhost.PluginContextID, maxBackoffTicks)
		held, _ = h.Request(wasmhost.BrowserGet("/page"))
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.discovery())
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, `{"keys":[]}`)
		if r := h.Reply(held); r == nil || r.Status != 503 {
			t.Fatalf("empty JWKS: want 503, got %+v", r)
		}
		h.TickUntilPending(wasmhost.PluginContextID, maxBackoffTicks)
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
		h.TickUntilPending(wasmhost.PluginContextID, maxBackoffTicks)
		if c := h.OnePending(wasmhost.PluginContextID); !strings.HasSuffix(c.Headers[":path"], "openid-configuration") {
			t.Fatalf("want a fresh discovery fetch, got %+v", c)
		}
	})
}

// A refused dispatch (Envoy's "bad argument" for an unknown cluster) is logged with advice.
func TestDispatchProblemNamesCluster(t *testing.T) {
	msg := dispatchProblem("outbound|443||idp", types.ErrorStatusBadArgument).Error()
	for _, want := range []string{`"outbound|443||idp"`, "bad argument", "ServiceEntry", ":authority"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// Discovery and the JWKS are fetched again every refresh interval: a key the IdP adds is
// known before any token uses it, and a failed refresh keeps the metadata in use.
func TestMetadataRefreshedPeriodically(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		tickUntilCall := func() wasmhost.Callout {
			t.Helper()
			h.TickUntilPending(wasmhost.PluginContextID, metadataRefreshTicks+1)
			return h.OnePending(wasmhost.PluginContextID)
		}
		h.Answer(tickUntilCall(), 500, "down for maintenance")
		id, _ := h.Request(wasmhost.BrowserGet("/"))
		if r := h.Reply(id); r == nil || r.Status != 302 {
			t.Fatalf("a failed refresh must keep the metadata in use, got %+v", r)
		}
		_, rotated := testKeys(t)
		idp.keys = append(idp.keys, rotated)
		h.Answer(tickUntilCall(), 200, idp.discovery())
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.jwks())
		idp.signer = rotated
		id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}))
		if action != types.ActionContinue || h.HasPending(wasmhost.PluginContextID) {
			t.Fatalf("a key published before use must verify without a refetch, got %+v", h.Reply(id))
		}
	})
}

// A VM adopts the metadata another worker VM fetched instead of fetching it again, and
// publishes what it fetches itself.
func TestMetadataSharedBetweenVMs(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		key := sharedMetadataPrefix + "outbound|443||idp.example.com/" + testIssuer
		setShared(key, encodeSharedMetadata(m.now().Unix(), []byte(idp.discovery()), []byte(idp.jwks())))
		h.Tick()
		if h.HasPending(wasmhost.PluginContextID) {
			t.Fatalf("metadata another VM published must be adopted, not fetched")
		}
		id, _ := h.Request(wasmhost.BrowserGet("/"))
		if r := h.Reply(id); r == nil || r.Status != 302 {
			t.Fatalf("want a login redirect with adopted metadata, got %+v", r)
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.idp_metadata_shared"); n != 1 {
			t.Errorf("idp_metadata_shared = %d", n)
		}

		// Stale shared metadata is not adopted; what this VM fetches is published.
		h = wasmhost.MustStart(t, vm, testConfig(""))
		setShared(key, encodeSharedMetadata(m.now().Add(-time.Hour).Unix(), []byte(idp.discovery()), []byte(idp.jwks())))
		idp.serveMetadata(h)
		value, _, err := proxywasm.GetSharedData(key)
		at, disc, jwks, ok := decodeSharedMetadata(value)
		if err != nil || !ok || at < m.now().Add(-time.Minute).Unix() || string(disc) != idp.discovery() || string(jwks) != idp.jwks() {
			t.Errorf("fetched metadata not published: %v %v %d", err, ok, at)
		}
	})
}
