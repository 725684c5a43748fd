package plugin

import (
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// mode says how a test body runs: natively (the plugin package linked into the test) or as
// a compiled module; it gives the plugin's notion of "now".
type mode struct {
	name  string
	wasm  bool
	clock func() time.Time // a test's own clock (newVMContext), natively
}

func (m mode) now() time.Time {
	switch {
	case m.clock != nil:
		return m.clock()
	case m.wasm:
		return wasmhost.WasmEpoch
	}
	return time.Now()
}

// vmTest runs body once natively and once per compiled module (TinyGo and Go). The SDK's
// host emulator is process-global: these tests must not run in parallel.
func vmTest(t *testing.T, body func(t *testing.T, vm types.VMContext, m mode)) {
	t.Helper()
	t.Run("native", func(t *testing.T) { body(t, NewVMContext(), mode{name: "native"}) })
	for _, mod := range wasmhost.Modules {
		t.Run("wasm-"+mod.Name, func(t *testing.T) {
			vm := wasmhost.LoadModule(t, "../"+mod.Path)
			body(t, vm, mode{name: "wasm-" + mod.Name, wasm: true})
		})
	}
}
