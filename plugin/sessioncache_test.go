package plugin

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The cache (of sessions and of bearer tokens) never holds more than its bound, drops the
// oldest first, and never serves an entry at or past its expiry.
func TestFIFOCacheBoundedAndExpiring(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newFIFOCache[int](8)
	key := func(i int) [32]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	for i := 0; i < 20; i++ {
		c.put(key(i), i, now.Add(time.Minute))
		if c.len() > 8 || len(c.ring) > 8 {
			t.Fatalf("after %d puts the cache holds %d entries, ring %d", i+1, c.len(), len(c.ring))
		}
	}
	for i := 0; i < 12; i++ {
		if _, _, ok := c.get(key(i), now); ok {
			t.Errorf("entry %d must have been evicted", i)
		}
	}
	for i := 12; i < 20; i++ {
		if v, until, ok := c.get(key(i), now); !ok || v != i || !until.Equal(now.Add(time.Minute)) {
			t.Errorf("entry %d: got %v %v %v", i, v, until, ok)
		}
	}
	if _, _, ok := c.get(key(19), now.Add(time.Minute)); ok {
		t.Error("an entry must not be served at its expiry")
	}
	c.put(key(19), 19, now.Add(time.Minute)) // a repeated put does not take a second slot
	if c.len() != 8 || len(c.ring) != 8 {
		t.Errorf("repeated put changed the size: %d entries, ring %d", c.len(), len(c.ring))
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
			id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "_oidc_session=" + sealed}))
			if action != types.ActionContinue {
				t.Fatalf("request %d: valid session refused: %+v", i, h.Reply(id))
			}
			if got := h.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != "cache@example.com" {
				t.Errorf("request %d: identity %q", i, got)
			}
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			renewed := false
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				renewed = renewed || (kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "_oidc_session="))
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
			id, _ := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "_oidc_session=" + string(b)}))
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
		id, _ := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "_oidc_session=" + sealed}))
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
			id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "_oidc_session=" + short}))
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
		id, action := h.Request(wasmhost.APIGet("/", [2]string{"cookie", "_oidc_session=" + sealTestSession(t, sess, at)}))
		h.CompleteHttpContext(id)
		if action == types.ActionContinue {
			return at.Add(-time.Duration(s) * time.Second / 2)
		}
	}
	t.Fatal("the module's clock is more than an hour past the epoch")
	return time.Time{}
}
