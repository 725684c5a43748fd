package plugin

// Refresh coordination across worker VMs (second security review, item 5). IdPs that rotate
// refresh tokens and detect reuse revoke the whole token family when one token is redeemed
// twice, so Envoy's worker VMs must never both redeem one. The SDK's host runs one VM; the
// test plays the other VMs through the shared data they would write. SECURITY.md, G12.

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// otherVM writes an entry into its token's slot as another worker VM would, keeping the
// entries of other tokens.
func otherVM(t *testing.T, e refreshEntry) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		slot := readRefreshSlot(e.key, time.Unix(0, 0))
		if slot.put(e) {
			return
		}
	}
	t.Fatalf("cannot write the slot of %x", e.key[:4])
}

// sealShared seals a renewed session as another VM publishes it for key.
func sealShared(t *testing.T, key [32]byte, sess *oidc.Session, m mode) string {
	t.Helper()
	p := &relyingParty{sealer: testSealer(t), purposeSession: testPurposeSession, env: env{now: m.now, random: rand.Reader}}
	body, err := p.sealShared(key, sess, m.now())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// collidingToken returns a refresh token whose hash picks the same slot as token's.
func collidingToken(token string) string {
	want := refreshSlotKey(sha256.Sum256([]byte(token)))
	for i := 0; ; i++ {
		if other := fmt.Sprintf("%s-other-%d", token, i); refreshSlotKey(sha256.Sum256([]byte(other))) == want {
			return other
		}
	}
}

func TestThreatRefreshAcrossWorkerVMs(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		now := m.now()
		expired := func(rt string) [2]string {
			s := &oidc.Session{Claims: testClaims("u-" + rt), RefreshToken: rt, IssuedAt: now, TokenExpiry: now.Add(-time.Minute)}
			return [2]string{"cookie", "__Host-oidc_session=" + sealTestSession(t, s, now.Add(time.Hour))}
		}
		// redeemed collects every refresh token this VM sends to the IdP, answering each.
		redeemed := map[string]int{}
		tick := func() {
			h.Tick()
			for _, c := range h.Pending(wasmhost.PluginContextID) {
				form, _ := url.ParseQuery(c.Body)
				rt := form.Get("refresh_token")
				redeemed[rt]++
				h.Answer(c, 200, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"`+rt+`-next"}`)
			}
		}

		// Another VM is refreshing A. This VM refreshes B, whose slot is A's: A's entry
		// survives, so this VM still waits for A instead of redeeming it a second time.
		a := "rt-a"
		b := collidingToken(a)
		keyA := sha256.Sum256([]byte(a))
		otherVM(t, refreshEntry{key: keyA, marker: refreshPending, deadline: now.Add(time.Minute).UnixMilli()})
		idA, _ := h.Request(wasmhost.APIGet("/a", expired(a)))
		idB, _ := h.Request(wasmhost.APIGet("/b", expired(b)))
		for i := 0; i < 5; i++ {
			tick()
		}
		if redeemed[a] != 0 || redeemed[b] != 1 {
			t.Fatalf("redeemed %v: want B once and A never (another VM holds it)", redeemed)
		}
		if h.GetCurrentHttpStreamAction(idB) != types.ActionContinue {
			t.Errorf("B's request must continue after its refresh: %+v", h.Reply(idB))
		}
		slot := readRefreshSlot(keyA, now)
		if e := slot.find(keyA); e == nil || e.marker != refreshPending {
			t.Fatalf("A's pending entry was lost: %+v", slot.entries)
		}
		if e := slot.find(sha256.Sum256([]byte(b))); e == nil || e.marker != refreshDone {
			t.Errorf("B's result must be published next to A's entry: %+v", slot.entries)
		}
		// The other VM's result for A is adopted; A is still never redeemed here.
		renewed := &oidc.Session{Claims: testClaims("u-" + a), RefreshToken: a + "-next", IssuedAt: now, TokenExpiry: now.Add(time.Hour)}
		otherVM(t, refreshEntry{key: keyA, marker: refreshDone, deadline: now.Add(time.Minute).UnixMilli(), body: sealShared(t, keyA, renewed, m)})
		tick()
		if redeemed[a] != 0 || h.GetCurrentHttpStreamAction(idA) != types.ActionContinue {
			t.Fatalf("A must be adopted from the other VM: redeemed %v, %+v", redeemed, h.Reply(idA))
		}

		// A result published under one token's entry does not open as another's: the
		// token's hash is in the result's additional data, so C is refreshed, not adopted
		// from a result sealed for D.
		c, d := "rt-c", "rt-d"
		keyC := sha256.Sum256([]byte(c))
		forD := &oidc.Session{Claims: testClaims("u-" + d), RefreshToken: d + "-next", IssuedAt: now, TokenExpiry: now.Add(time.Hour)}
		otherVM(t, refreshEntry{key: keyC, marker: refreshDone, deadline: now.Add(time.Minute).UnixMilli(), body: sealShared(t, sha256.Sum256([]byte(d)), forD, m)})
		idC, _ := h.Request(wasmhost.APIGet("/c", expired(c)))
		tick()
		if redeemed[c] != 1 || h.GetCurrentHttpStreamAction(idC) != types.ActionContinue {
			t.Fatalf("C must be refreshed, not adopted from D's result: redeemed %v", redeemed)
		}
		if got := h.Upstream(idC)["x-auth-request-user"]; len(got) != 1 || got[0] != "u-"+c {
			t.Errorf("C's request reached the upstream as %v", got)
		}

		// A pending entry of a VM that died expires: after its deadline this VM refreshes.
		e := "rt-e"
		otherVM(t, refreshEntry{key: sha256.Sum256([]byte(e)), marker: refreshPending, deadline: now.UnixMilli() - 1})
		idE, _ := h.Request(wasmhost.APIGet("/e", expired(e)))
		tick()
		if redeemed[e] != 1 || h.GetCurrentHttpStreamAction(idE) != types.ActionContinue {
			t.Errorf("an expired claim of another VM must not block the refresh: redeemed %v", redeemed)
		}
	})
}

// A claim is never written with CAS 0: Envoy writes such a value unconditionally, so two
// VMs that both read a slot missing would both claim the token, and both redeem it
// (internal/proxyhost's storm test found one token in 200 redeemed twice that way). Every
// slot exists once a VM has started, and a claim on a slot that does not exist only creates
// it, empty.
func TestThreatRefreshClaimNeverUnconditional(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		wasmhost.MustStart(t, vm, testConfig(""))
		for i := 0; i < refreshSlots; i++ {
			if _, cas, err := proxywasm.GetSharedData(refreshSlotName(i)); err != nil || cas == 0 {
				t.Fatalf("slot %d after start: cas %d, %v; want it created", i, cas, err)
			}
		}
		missing := refreshSlot{name: refreshSlotPrefix + "missing-" + m.name}
		if missing.put(refreshEntry{key: [32]byte{7}, marker: refreshPending, deadline: m.now().Add(time.Minute).UnixMilli()}) {
			t.Fatal("a claim on a slot that did not exist was written")
		}
		value, cas, err := proxywasm.GetSharedData(missing.name)
		if err != nil || cas == 0 || len(value) != 0 {
			t.Errorf("the missing slot: %q, cas %d, %v; want it created empty", value, cas, err)
		}
	})
}

// decodeRefreshSlot refuses anything encodeRefreshSlot could not have written, and never
// panics.
func FuzzDecodeRefreshSlot(f *testing.F) {
	f.Add(encodeRefreshSlot([]refreshEntry{{marker: refreshPending, deadline: 5}, {key: [32]byte{1}, marker: refreshDone, body: "x"}}))
	f.Add([]byte{})
	f.Add([]byte("pending:abc:"))
	f.Fuzz(func(t *testing.T, v []byte) {
		entries, ok := decodeRefreshSlot(v)
		if !ok {
			return
		}
		if len(entries) > refreshSlotEntries || string(encodeRefreshSlot(entries)) != string(v) {
			t.Fatalf("decoded %d entries that do not encode back", len(entries))
		}
	})
}
