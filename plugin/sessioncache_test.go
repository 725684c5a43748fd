package plugin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The cache (of sessions and of bearer tokens) never holds more than its bounds, drops the
// oldest first, and never serves an entry at or past its expiry.
func TestFIFOCacheBoundedAndExpiring(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newFIFOCache[int](8)
	credential := func(i int) string { return fmt.Sprintf("credential-%040d", i) }
	for i := 0; i < 20; i++ {
		c.put(credential(i), i, now.Add(time.Minute))
		if c.len() > 8 || len(c.order) > 8 {
			t.Fatalf("after %d puts the cache holds %d entries, order %d", i+1, c.len(), len(c.order))
		}
	}
	for i := 0; i < 12; i++ {
		if _, _, ok := c.get(credential(i), now); ok {
			t.Errorf("entry %d must have been evicted", i)
		}
	}
	for i := 12; i < 20; i++ {
		if v, until, ok := c.get(credential(i), now); !ok || v != i || !until.Equal(now.Add(time.Minute)) {
			t.Errorf("entry %d: got %v %v %v", i, v, until, ok)
		}
	}
	if _, _, ok := c.get(credential(19), now.Add(time.Minute)); ok {
		t.Error("an entry must not be served at its expiry")
	}
	c.put(credential(19), 19, now.Add(time.Minute)) // a repeated put does not take a second slot
	if c.len() != 8 || len(c.order) != 8 || c.bytes != 8*len(credential(0)) {
		t.Errorf("repeated put changed the size: %d entries, order %d, %d bytes", c.len(), len(c.order), c.bytes)
	}
}

// However many entries it may hold, a cache holds at most maxCachedBytes of credentials, and
// refuses one larger than that.
func TestFIFOCacheByteBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newFIFOCache[int](1024)
	big := func(i int) string {
		return fmt.Sprintf("%08d", i) + strings.Repeat("x", 30_000) + fmt.Sprintf("%08d", i)
	}
	for i := 0; i < 200; i++ {
		c.put(big(i), i, now.Add(time.Minute))
		if c.bytes > maxCachedBytes {
			t.Fatalf("after %d puts the cache holds %d bytes", i+1, c.bytes)
		}
	}
	if want := maxCachedBytes / len(big(0)); c.len() != want {
		t.Errorf("the cache holds %d entries of %d bytes, want %d", c.len(), len(big(0)), want)
	}
	if _, _, ok := c.get(big(199), now); !ok {
		t.Error("the newest entry must be cached")
	}
	c.put(strings.Repeat("y", maxCachedBytes+1), 0, now.Add(time.Minute))
	if _, _, ok := c.get(strings.Repeat("y", maxCachedBytes+1), now); ok {
		t.Error("a credential larger than the byte bound must not be cached")
	}
}

// A hit needs the whole credential: one that shares the map key (its first and last 16
// bytes) but differs anywhere in between misses, and does not disturb the stored entry.
func TestFIFOCacheComparesWholeCredential(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newFIFOCache[string](8)
	stored := "0123456789abcdef" + strings.Repeat("m", 100) + "fedcba9876543210"
	c.put(stored, "stored", now.Add(time.Minute))
	for i := 16; i < len(stored)-16; i++ {
		b := []byte(stored)
		b[i] ^= 0x20
		if credentialKey(string(b)) != credentialKey(stored) {
			t.Fatalf("byte %d: the test wants a credential with the same key", i)
		}
		if v, _, ok := c.get(string(b), now); ok {
			t.Fatalf("byte %d changed: the cache served %q", i, v)
		}
	}
	for _, other := range []string{stored[:len(stored)-1], stored + "0", "", "0123456789abcdef"} {
		if _, _, ok := c.get(other, now); ok {
			t.Errorf("%q must miss", other)
		}
	}
	if v, _, ok := c.get(strings.Clone(stored), now); !ok || v != "stored" {
		t.Errorf("the stored credential must still hit, got %q %v", v, ok)
	}
}

// sameCredential is ==, for every length around its eight-byte steps and a difference at
// every position.
func TestSameCredential(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("a", n)
		if !sameCredential(a, strings.Clone(a)) {
			t.Errorf("length %d: equal strings reported different", n)
		}
		if sameCredential(a, a+"a") || sameCredential(a+"a", a) {
			t.Errorf("length %d: different lengths reported equal", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] = 'b'
			if sameCredential(a, string(b)) {
				t.Errorf("length %d: a difference at %d was missed", n, i)
			}
		}
	}
}

// A repeated cookie is served from the cache with the same outcome as the first time
// (identity, idle renewal from the sealed expiry); a tampered copy of a cached cookie, or
// the same cookie shown to a plugin with another key, is never served from it; and a cached
// session ends at its sealed expiry.
func TestSessionCache(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(`"session_idle_timeout":600`))
		newFakeIdP(t, m).serveMetadata(h)
		now := m.now()
		sess := &oidc.Session{Claims: testClaims("cache"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}
		sealed := sealTestSession(t, sess, now.Add(100*time.Second))
		for i := 0; i < 3; i++ {
			id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealed}))
			if action != types.ActionContinue {
				t.Fatalf("request %d: valid session refused: %+v", i, h.Reply(id))
			}
			if got := h.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != "cache@example.com" {
				t.Errorf("request %d: identity %q", i, got)
			}
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			renewed := false
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				renewed = renewed || (kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session="))
			}
			if !renewed {
				t.Errorf("request %d: the idle renewal must be decided from the sealed expiry, cached or not", i)
			}
			h.CompleteHttpContext(id)
		}

		before, _ := h.GetCounterMetric("oidc_wasm.session_invalid")
		for _, pos := range []int{0, len(sealed) / 2, len(sealed) - 1} {
			b := []byte(sealed)
			if b[pos] == 'A' {
				b[pos] = 'B'
			} else {
				b[pos] = 'A'
			}
			id, _ := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + string(b)}))
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("tampered cookie (byte %d) must be refused, got %+v", pos, r)
			}
		}
		if after, _ := h.GetCounterMetric("oidc_wasm.session_invalid"); after != before+3 {
			t.Errorf("session_invalid %d -> %d: each tampered cookie must go through the AEAD open", before, after)
		}

		// Same VM, another plugin instance with another key: the cached session is not its.
		other := strings.Replace(testConfig(""), testCookieKey, "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=", 1)
		h = wasmhost.MustStart(t, vm, other)
		newFakeIdP(t, m).serveMetadata(h)
		id, _ := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealed}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("a session cached by another plugin instance must not be served, got %+v", r)
		}

		// Expiry: a cached session is refused once its sealed expiry passes. The wasm host's
		// clock advances 1 ms per read, the native one in real time.
		h = wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		now = m.now()
		if m.wasm {
			// The module's clock has moved on since the epoch: ask it where it is.
			now = wasmNow(t, h)
		}
		short := sealTestSession(t, &oidc.Session{Claims: testClaims("short"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}, now.Add(2*time.Second))
		served, refused := 0, false
		for i := 0; i < 20000 && !refused; i++ {
			id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + short}))
			if action == types.ActionContinue {
				served++
			} else if r := h.Reply(id); r != nil && r.Status == 401 {
				refused = true
			}
			h.CompleteHttpContext(id)
			if !m.wasm {
				time.Sleep(time.Millisecond)
			}
		}
		if served == 0 || !refused {
			t.Fatalf("a cached session must be served until its sealed expiry, then refused: served %d, refused %v", served, refused)
		}
	})
}

// wasmNow approximates the module's clock (the wasm host's fake clock, which has moved on
// from WasmEpoch by 1 ms per read): the first of doubling sealed expiries it accepts.
func wasmNow(t *testing.T, h *wasmhost.Host) time.Time {
	t.Helper()
	for s := 1; s < 3600; s *= 2 {
		at := wasmhost.WasmEpoch.Add(time.Duration(s) * time.Second)
		sess := &oidc.Session{Claims: testClaims("probe"), IssuedAt: wasmhost.WasmEpoch, TokenExpiry: at.Add(time.Hour)}
		id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, sess, at)}))
		h.CompleteHttpContext(id)
		if action == types.ActionContinue {
			return at.Add(-time.Duration(s) * time.Second / 2)
		}
	}
	t.Fatal("the module's clock is more than an hour past the epoch")
	return time.Time{}
}
