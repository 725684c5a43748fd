package plugin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// API clients authenticate with a bearer JWT; anything short of a valid token for this
// issuer and an accepted audience gets 401 invalid_token, never a redirect (issue 3).
func TestBearerTokens(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"bearer_audiences":["api","app"]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		bearer := func(token string) [2]string { return [2]string{"authorization", "Bearer " + token} }
		valid := idp.idToken("", map[string]any{"aud": "api", "nonce": nil})

		for i := 0; i < 2; i++ { // the second time from the cache
			id, action := h.Request(wasmhost.BrowserGet("/api", bearer(valid), [2]string{"x_auth_request_email", "mallory@evil.com"}))
			if action != types.ActionContinue {
				t.Fatalf("valid bearer token refused: %+v", h.Reply(id))
			}
			up := h.Upstream(id)
			if got := up["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
				t.Errorf("x-auth-request-email = %q", got)
			}
			if got := up["authorization"]; len(got) != 1 || got[0] != "Bearer "+valid {
				t.Errorf("the verified token must reach upstream alone, got %d values", len(got))
			}
			if _, ok := up["x_auth_request_email"]; ok {
				t.Errorf("spoofed header reached upstream")
			}
		}

		invalid := map[string][][2]string{
			"other audience":   {bearer(idp.idToken("", map[string]any{"aud": "other"}))},
			"other issuer":     {bearer(idp.idToken("", map[string]any{"aud": "api", "iss": "https://evil.example.com"}))},
			"expired":          {bearer(idp.idToken("", map[string]any{"aud": "api", "exp": m.now().Add(-time.Hour).Unix()}))},
			"alg none":         {bearer(unsignedToken(""))},
			"garbage":          {bearer("not.a.jwt")},
			"empty":            {bearer("")},
			"two headers":      {bearer(valid), bearer(valid)},
			"tampered payload": {bearer(tamperPayload(valid))},
		}
		for name, headers := range invalid {
			id, action := h.Request(wasmhost.BrowserGet("/api", headers...))
			r := h.Reply(id)
			if action != types.ActionPause || r == nil || r.Status != 401 || !strings.Contains(r.Header("www-authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: want 401 invalid_token, got %+v", name, r)
			}
		}
		id, _ := h.Request(wasmhost.APIGet("/api", bearer(idp.idToken("", map[string]any{"aud": "api", "exp": m.now().Add(-time.Hour).Unix()}))))
		if r := h.Reply(id); r == nil || !strings.Contains(r.Header("www-authenticate"), "expired") {
			t.Errorf("an expired token must say so, got %+v", r)
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.bearer_rejected"); n != uint64(len(invalid))+1 {
			t.Errorf("bearer_rejected = %d", n)
		}

		// Default bearer_audiences: the client id. (A regression test too: TinyGo once
		// lost this default slice after configuration.)
		h = wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		forClient := idp.idToken("", map[string]any{"nonce": nil})
		for i := 0; i < 2; i++ {
			id, action := h.Request(wasmhost.APIGet("/api", bearer(forClient)))
			if action != types.ActionContinue {
				t.Fatalf("default audiences: a token for the client id must be accepted, got %+v", h.Reply(id))
			}
		}

		// Disabled: a bearer token is no credential at all.
		h = wasmhost.MustStart(t, vm, testConfig(`"bearer_tokens":false`))
		newFakeIdP(t, m).serveMetadata(h)
		id, _ = h.Request(wasmhost.APIGet("/api", bearer(valid)))
		if r := h.Reply(id); r == nil || r.Status != 401 || strings.Contains(r.Header("www-authenticate"), "invalid_token") {
			t.Errorf("bearer_tokens false: want a plain 401, got %+v", r)
		}
	})
}

func tamperPayload(token string) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[1])
	p[len(p)/2] ^= 1
	return parts[0] + "." + string(p) + "." + parts[2]
}

// The token cache is bounded and honours expiry.
func TestTokenCache(t *testing.T) {
	c := newFIFOCache[*identity](maxCachedTokens)
	now := time.Unix(1_700_000_000, 0)
	key := func(i int) string { return fmt.Sprintf("header.payload-%d.signature-%d", i, i) }
	for i := 0; i < maxCachedTokens+10; i++ {
		c.put(key(i), &identity{}, now.Add(time.Hour))
	}
	if c.len() != maxCachedTokens {
		t.Errorf("cache holds %d entries, want %d", c.len(), maxCachedTokens)
	}
	if _, _, ok := c.get(key(0), now); ok {
		t.Errorf("the oldest entry must have been evicted")
	}
	if _, _, ok := c.get(key(maxCachedTokens+9), now); !ok {
		t.Errorf("the newest entry must be cached")
	}
	if _, _, ok := c.get(key(maxCachedTokens+9), now.Add(time.Hour)); ok {
		t.Errorf("an expired token must not be served from the cache")
	}
}
