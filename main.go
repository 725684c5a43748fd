// Command oidc-wasm is the Proxy-Wasm module: it only registers the plugin's contexts. Build
// it with `make build` (TinyGo) or `make build-go` (Go's wasip1 port); see docs/envoy.md.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

func init() {
	proxywasm.SetVMContext(plugin.NewVMContext())
}

// main is never called by Envoy; the contexts registered in init are the entry points.
func main() {}
