package proxyhost

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// emuDriver runs requests through the SDK's emulator with the compiled module, carrying its
// dispatched calls to a FakeIdP whose tokens are dated from the emulator's clock.
type emuDriver struct {
	t    *testing.T
	h    *wasmhost.Host
	idp  *testidp.FakeIdP
	last Outcome
}

func newEmuDriver(t *testing.T, m wasmhost.Module, ttl time.Duration) *emuDriver {
	t.Helper()
	// The module's clock in the emulator starts at WasmEpoch and advances 1 ms per read.
	start := time.Now()
	clock := func() time.Time { return wasmhost.WasmEpoch.Add(time.Since(start)) }
	idp, err := testidp.StartFakeIdP(testidp.FakeIdPOptions{ClientID: testClientID, ClientSecret: testSecret, Clock: clock, IDTokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	d := &emuDriver{t: t, idp: idp}
	d.h = wasmhost.MustStart(t, wasmhost.LoadModule(t, "../../"+m.Path), pluginConfig(idp.Issuer, ""))
	d.pump(wasmhost.PluginContextID, 10)
	return d
}

// pump ticks until the context's dispatched calls are all answered from the FakeIdP, at most
// ticks times.
func (d *emuDriver) pump(id uint32, ticks int) {
	d.h.TickUntilPending(id, ticks)
	for _, ctx := range []uint32{id, wasmhost.PluginContextID} {
		d.h.AnswerEach(ctx, func(c wasmhost.Callout) {
			headers, body, err := testidp.Forward(d.idp.Addr, c.Pairs, []byte(c.Body), 5*time.Second)
			if err != nil {
				d.t.Fatalf("carrying %s: %v", c.URL(), err)
			}
			d.h.AnswerRaw(c, headers, body)
		})
	}
}

func (d *emuDriver) do(step string, headers [][2]string, upstream ...[2]string) observation {
	id, _ := d.h.Request(headers)
	for i := 0; i < 20 && d.h.Reply(id) == nil && d.h.GetCurrentHttpStreamAction(id) != types.ActionContinue; i++ {
		d.pump(id, 1)
		d.pump(wasmhost.PluginContextID, 1)
	}
	defer d.h.CompleteHttpContext(id)
	if r := d.h.Reply(id); r != nil {
		d.last = Outcome{Action: Reply, Headers: append([][2]string{{":status", strconv.Itoa(int(r.Status))}}, r.Headers...), Body: []byte(r.Body)}
		return observe(step, d.last, nil)
	}
	if d.h.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		d.t.Fatalf("%s: the emulator neither answered nor continued the request", step)
	}
	d.last = Outcome{Action: Continue, Headers: clonePairs(d.h.GetCurrentRequestHeaders(id))}
	d.h.CallOnResponseHeaders(id, append([][2]string{{":status", "200"}}, upstream...), false)
	return observe(step, d.last, clonePairs(d.h.GetCurrentResponseHeaders(id)))
}

func (d *emuDriver) lastReply() Outcome { return d.last }

func (d *emuDriver) authorize(authURL string) string { return relative(d.t, d.idp, authURL) }

func (d *emuDriver) token(aud, sub string) string { return mustToken(d.t, d.idp, aud, sub) }

// clonePairs copies header pairs out of the module's memory, which the emulator lends.
func clonePairs(in [][2]string) [][2]string {
	out := make([][2]string, len(in))
	for i, kv := range in {
		out[i] = [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])}
	}
	return out
}
