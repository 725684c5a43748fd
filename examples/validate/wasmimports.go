package validate

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
)

// WasmModule is what a compiled module asks of its host and announces to it.
type WasmModule struct {
	// Imports are the host functions the module links against, as "module.name", sorted
	// and without duplicates. Envoy refuses to load a module importing one it lacks.
	Imports []string
	// ABIVersions are the proxy_abi_version_* exports, by which Envoy picks the Proxy-Wasm
	// ABI it speaks to the module.
	ABIVersions []string
}

// ReadWasmModule decodes a module's import and export sections with wazero's compiler front
// end (the interpreter configuration: nothing is run or compiled to machine code).
func ReadWasmModule(path string) (*WasmModule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer compiled.Close(ctx)

	seen := map[string]bool{}
	m := &WasmModule{}
	for _, f := range compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		if key := module + "." + name; !seen[key] {
			seen[key] = true
			m.Imports = append(m.Imports, key)
		}
	}
	if n := len(compiled.ImportedMemories()); n > 0 {
		return nil, fmt.Errorf("%s: imports %d memories; Envoy gives a module none", path, n)
	}
	for name := range compiled.ExportedFunctions() {
		if strings.HasPrefix(name, "proxy_abi_version_") {
			m.ABIVersions = append(m.ABIVersions, name)
		}
	}
	sort.Strings(m.Imports)
	sort.Strings(m.ABIVersions)
	return m, nil
}
