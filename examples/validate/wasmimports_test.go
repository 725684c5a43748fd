package validate

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// envoyDoc is the document with the wasm-imports and wasm-builds tables.
const envoyDoc = "docs/envoy.md"

// documentedImports reads envoyDoc's import table: every host function a build may import,
// with the Envoy minor version that first provides it.
func documentedImports(t *testing.T, doc string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, row := range markedTableRows(t, doc, "wasm-imports") {
		module := firstCode(row[0])
		since, ok := envoyMinor(row[2])
		if module == "" || !ok {
			t.Fatalf("%s import row %q: want `module` | `functions` | <Envoy version>", envoyDoc, row)
		}
		for _, fn := range codeSpans.FindAllStringSubmatch(row[1], -1) {
			out[module+"."+fn[1]] = since
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: empty wasm-imports table", envoyDoc)
	}
	return out
}

// documentedBuilds reads envoyDoc's table of builds and the Envoy version each needs.
func documentedBuilds(t *testing.T, doc string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, row := range markedTableRows(t, doc, "wasm-builds") {
		since, ok := envoyMinor(row[1])
		if firstCode(row[0]) == "" || !ok {
			t.Fatalf("%s build row %q: want `path` | <Envoy version> | ...", envoyDoc, row)
		}
		out[firstCode(row[0])] = since
	}
	return out
}

var (
	codeSpans    = regexp.MustCompile("`([^`]+)`")
	envoyVersion = regexp.MustCompile(`^\s*1\.(\d+)\b`)
)

func firstCode(s string) string {
	if m := codeSpans.FindStringSubmatch(s); m != nil {
		return strings.Fields(m[1])[0]
	}
	return ""
}

// envoyMinor reads "1.33 (...)" as 33.
func envoyMinor(s string) (int, bool) {
	m := envoyVersion.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// markedTableRows returns the cells of the data rows of the table between
// <!-- name:start --> and <!-- name:end -->.
func markedTableRows(t *testing.T, doc, name string) [][]string {
	t.Helper()
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s block", envoyDoc, start, end)
	}
	var rows [][]string
	for _, line := range strings.Split(doc[i+len(start):j], "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		if len(cells) < 3 || !strings.Contains(cells[0], "`") { // the header row
			continue
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestWasmImportsAreDocumented reads what each built module imports and checks it against
// envoyDoc: every import is listed, and the Envoy version it gives for the build is the newest
// that any of its imports needs. A new SDK or toolchain that pulls in another host
// function fails here, before a gateway refuses to load the module.
func TestWasmImportsAreDocumented(t *testing.T) {
	doc := string(readFile(t, repoPath(envoyDoc)))
	imports := documentedImports(t, doc)
	builds := documentedBuilds(t, doc)
	for _, build := range []string{"build/plugin.wasm", "build/plugin-go.wasm"} {
		t.Run(build, func(t *testing.T) {
			documentedMin, ok := builds[build]
			if !ok {
				t.Fatalf("%s: the build table has no row for %s", envoyDoc, build)
			}
			path := repoPath(build)
			if _, err := os.Stat(path); err != nil {
				if os.Getenv("OIDC_WASM_REQUIRE_WASM") != "" {
					t.Fatalf("%s is missing (make build build-go): %v", build, err)
				}
				t.Skipf("%s not built (make build build-go; OIDC_WASM_REQUIRE_WASM=1 makes this a failure)", build)
			}
			m, err := ReadWasmModule(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.ABIVersions) != 1 || m.ABIVersions[0] != "proxy_abi_version_0_2_0" {
				t.Errorf("ABI exports %v; %s documents proxy_abi_version_0_2_0", m.ABIVersions, envoyDoc)
			}
			needs := 0
			for _, imp := range m.Imports {
				since, ok := imports[imp]
				if !ok {
					t.Errorf("imports %s, which the table of %s does not list: find the first Envoy that provides it", imp, envoyDoc)
					continue
				}
				needs = max(needs, since)
			}
			if needs != documentedMin {
				t.Errorf("%s says %s needs Envoy 1.%d; its imports need 1.%d", envoyDoc, build, documentedMin, needs)
			}
		})
	}
}

// TestReadWasmModule checks the reader on a module written by hand, so the test above cannot
// pass by reading nothing.
func TestReadWasmModule(t *testing.T) {
	// (module (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
	//         (func (export "proxy_abi_version_0_2_0")))
	module := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x0b\x02\x60\x03\x7f\x7f\x7f\x01\x7f\x60\x00\x00" + // types: (i32 i32 i32)->i32, ()->()
		"\x02\x11\x01\x03env\x09proxy_log\x00\x00" + // import env.proxy_log, type 0
		"\x03\x02\x01\x01" + // one function of type 1
		"\x07\x1b\x01\x17proxy_abi_version_0_2_0\x00\x01" + // export it (function index 1)
		"\x0a\x04\x01\x02\x00\x0b") // its body: end
	path := t.TempDir() + "/m.wasm"
	if err := os.WriteFile(path, module, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadWasmModule(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Imports) != 1 || m.Imports[0] != "env.proxy_log" {
		t.Errorf("imports %v, want [env.proxy_log]", m.Imports)
	}
	if len(m.ABIVersions) != 1 || m.ABIVersions[0] != "proxy_abi_version_0_2_0" {
		t.Errorf("ABI exports %v", m.ABIVersions)
	}
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00\x02"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadWasmModule(path); err == nil {
		t.Error("a truncated module was read without error")
	}
}
