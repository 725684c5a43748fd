package main

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero/api"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// emulatorIssuer is the issuer of the emulator's plugin; its calls are answered from memory.
const emulatorIssuer = "https://idp.example.com"

// tb lets the test host wrapper run outside `go test`: failures panic, cleanups run on close.
type tb struct {
	testing.TB
	cleanups []func()
}

func (*tb) Helper()                   {}
func (*tb) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (*tb) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (*tb) Skipf(f string, a ...any)  { panic(fmt.Sprintf(f, a...)) }
func (*tb) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *tb) Cleanup(f func())        { t.cleanups = append(t.cleanups, f) }
func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// emuTarget is one compiled module started in the SDK's emulator with the metadata loaded.
// Its figures are wall time per request, the emulator's own work included.
type emuTarget struct {
	t   *tb
	vm  proxytest.WasmVMContext
	h   *wasmhost.Host
	idp *idp
	n   int
	mod api.Module   // the guest module instance
	del api.Function // its proxy_on_delete
}

func startEmulator(path string, i *idp, extra string) (target, time.Duration) {
	t := &tb{}
	wasm, err := os.ReadFile(path)
	check(err)
	t0 := time.Now()
	vm, err := proxytest.NewWasmVMContext(wasm)
	check(err)
	h := wasmhost.MustStart(t, vm, pluginConfig(emulatorIssuer, extra))
	took := time.Since(t0)
	t.Cleanup(func() { _ = vm.Close() })
	h.Tick()
	h.Answer(h.OnePending(wasmhost.PluginContextID), 200, i.discovery(emulatorIssuer))
	h.Answer(h.OnePending(wasmhost.PluginContextID), 200, i.jwks)
	b := &emuTarget{t: t, vm: vm, h: h, idp: i}
	b.mod = b.guest()
	b.del = b.mod.ExportedFunction("proxy_on_delete")
	return b, took
}

func (b *emuTarget) do(headers [][2]string) bool {
	id, action := b.h.Request(headers)
	b.complete(id)
	return action == types.ActionContinue
}

func (b *emuTarget) upstream(headers [][2]string, name string) string {
	id, action := b.h.Request(headers)
	defer b.complete(id)
	if action != types.ActionContinue || len(b.h.Upstream(id)[name]) != 1 {
		return ""
	}
	return b.h.Upstream(id)[name][0]
}

// complete ends a stream as Envoy does: proxy_on_log, then proxy_on_delete. proxytest's wasm
// wrapper forwards the first but never the second, so the guest SDK would keep every http
// context in its map (about 4 KB a request: 384 MiB after 10^5 requests); the bench calls
// the guest's proxy_on_delete itself.
func (b *emuTarget) complete(id uint32) {
	b.h.CompleteHttpContext(id)
	if _, err := b.del.Call(context.Background(), uint64(id)); err != nil {
		log.Fatalf("proxy_on_delete(%d): %v", id, err)
	}
}

// login runs the redirect and the callback, answering the token call at once from memory.
// It returns the session cookie and the time of the callback alone (request + token answer).
func (b *emuTarget) login() (string, time.Duration) {
	id, _ := b.h.Request(wasmhost.BrowserGet("/page"))
	r := b.h.Reply(id)
	if r == nil || r.Status != 302 {
		log.Fatalf("login: want 302, got %+v", r)
	}
	b.complete(id)
	state := r.StateCookie(sessionCookieName)
	u, _ := url.Parse(r.Header("location"))
	q := u.Query()
	b.n++
	answer := b.idp.tokenAnswer(emulatorIssuer, wasmhost.WasmEpoch, q.Get("nonce"), fmt.Sprintf("user-%d", b.n))
	t0 := time.Now()
	cb, _ := b.h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state}))
	b.h.Answer(b.h.OnePending(cb), 200, string(answer))
	took := time.Since(t0)
	done := b.h.Reply(cb)
	b.complete(cb)
	if done == nil || done.Status != 302 {
		log.Fatalf("callback: want 302, got %+v", done)
	}
	var parts []string
	for name, sc := range done.SetCookies() {
		if strings.HasPrefix(name, sessionCookieName) && !strings.HasPrefix(name, sessionCookieName+"_state") && wasmhost.CookieValue(sc) != "" {
			parts = append(parts, name+"="+wasmhost.CookieValue(sc))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; "), took
}

func (b *emuTarget) cost(n int, run func(k int), offset int) time.Duration {
	runtime.GC()
	t0 := time.Now()
	for k := 0; k < n; k++ {
		run(offset + k)
	}
	return time.Since(t0) / time.Duration(n)
}

func (b *emuTarget) bearer(alg jwa.SignatureAlgorithm, sub string) string {
	return b.idp.token(emulatorIssuer, wasmhost.WasmEpoch, alg, "api", "", sub)
}

// memory reads the guest's linear memory size (api.Memory.Size).
func (b *emuTarget) memory() uint32 { return b.mod.Memory().Size() }

func (b *emuTarget) close() { b.t.close() }

// guest finds the guest module instance. proxytest hides its wazero runtime, so this reaches
// through reflection into it (wazero's store lists its module instances) and takes the one
// module instance with a memory (WASI and the host ABI have none).
func (b *emuTarget) guest() api.Module {
	rt := reflect.ValueOf(b.vm).Elem().FieldByName("runtime").Elem().Elem() // wazero.runtime
	store := rt.FieldByName("store").Elem()
	for m := store.FieldByName("moduleList"); !m.IsNil(); m = m.Elem().FieldByName("next") {
		mod := reflect.NewAt(m.Type(), unsafe.Pointer(m.UnsafeAddr())).Elem().Interface().(api.Module)
		if mod.Memory() != nil {
			return mod
		}
	}
	log.Fatal("no module instance with a memory")
	return nil
}
