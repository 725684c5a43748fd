// Package wasmhost drives a Proxy-Wasm plugin in the SDK's host emulator for tests: it
// starts the plugin, sends requests, lists and answers dispatched calls, and copies local
// responses out. The same calls work for a plugin linked natively and for a compiled module
// run by proxytest.NewWasmVMContext. Test-only: nothing shipped imports it.
package wasmhost

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// PluginContextID is the id the emulator gives the plugin (root) context; the plugin's own
// dispatched calls (discovery, JWKS) belong to it.
const PluginContextID = proxytest.PluginContextID

// WasmEpoch is the wall clock a module sees in the SDK's wasm host (wazero's fake clock,
// which advances 1 ms per read). Tokens for wasm-mode tests are dated from it.
var WasmEpoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

// Module is a compiled plugin the tests run against.
type Module struct{ Name, Path string }

// Modules are the two release builds, relative to the repository root.
var Modules = []Module{{"tinygo", "build/plugin.wasm"}, {"go", "build/plugin-go.wasm"}}

var moduleBytes = map[string][]byte{}

// ReadModule reads a compiled module. A missing module skips the test, unless
// OIDC_WASM_REQUIRE_WASM is set (as `make test` does): then it fails, so CI can never pass
// without having run the wasm-mode tests.
func ReadModule(t testing.TB, path string) []byte {
	t.Helper()
	wasm, ok := moduleBytes[path]
	if !ok {
		var err error
		if wasm, err = os.ReadFile(path); err != nil {
			if os.Getenv("OIDC_WASM_REQUIRE_WASM") != "" {
				t.Fatalf("wasm module missing (run make build build-go): %v", err)
			}
			t.Skipf("wasm module not built (make build build-go): %v", err)
		}
		moduleBytes[path] = wasm
	}
	return wasm
}

// LoadModule instantiates a compiled module read with ReadModule.
func LoadModule(t testing.TB, path string) types.VMContext {
	t.Helper()
	wasm := ReadModule(t, path)
	vm, err := proxytest.NewWasmVMContext(wasm)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	t.Cleanup(func() { _ = vm.Close() })
	return vm
}

// Host wraps the SDK's emulator. The emulator is process-global: tests using it must not
// run in parallel.
type Host struct {
	proxytest.HostEmulator
	t       testing.TB
	handled map[uint32]int // callouts already handed out, per context
}

// resetActive releases the emulator started last. The SDK allows one emulator per process
// and holds a lock until it is reset, so a test that starts a second plugin (another
// configuration) must release the first.
var resetActive func()

// Start starts the VM and the plugin with config, returning the plugin's start status. A
// host started before in the same test is released.
func Start(t testing.TB, vm types.VMContext, config string) (*Host, types.OnPluginStartStatus) {
	t.Helper()
	if resetActive != nil {
		resetActive()
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(config))
	emu, reset := proxytest.NewHostEmulator(opt)
	resetActive = sync.OnceFunc(reset)
	t.Cleanup(resetActive)
	h := &Host{HostEmulator: emu, t: t, handled: map[uint32]int{}}
	if st := h.StartVM(); st != types.OnVMStartStatusOK {
		t.Fatalf("StartVM: %v", st)
	}
	return h, h.StartPlugin()
}

// MustStart starts a plugin whose configuration must be accepted.
func MustStart(t testing.TB, vm types.VMContext, config string) *Host {
	t.Helper()
	h, st := Start(t, vm, config)
	if st != types.OnPluginStartStatusOK {
		t.Fatalf("plugin did not start: %v (critical logs: %q)", st, CopyLogs(h.GetCriticalLogs()))
	}
	return h
}

// CopyLogs copies log lines at once: in wasm mode they point into guest memory.
func CopyLogs(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Clone(l)
	}
	return out
}

// Callout is a dispatched call as the test sees it.
type Callout struct {
	ID      uint32
	Cluster string
	Pairs   [][2]string       // headers as sent, in order
	Headers map[string]string // the same, by name
	Body    string
}

// URL is the call's target as https://<:authority><:path>.
func (c Callout) URL() string { return "https://" + c.Headers[":authority"] + c.Headers[":path"] }

// HasPending reports whether a context has calls not yet handed out.
func (h *Host) HasPending(contextID uint32) bool {
	return len(h.GetCalloutAttributesFromContext(contextID)) > h.handled[contextID]
}

// TickUntilPending ticks, at most max times, until a context has a call not handed out yet,
// and reports whether it has one: the plugin dispatches IdP calls from its tick.
func (h *Host) TickUntilPending(contextID uint32, max int) bool {
	for i := 0; i < max && !h.HasPending(contextID); i++ {
		h.Tick()
	}
	return h.HasPending(contextID)
}

// Pending returns the calls of a context not handed out before, and marks them handed out.
func (h *Host) Pending(contextID uint32) []Callout {
	all := h.GetCalloutAttributesFromContext(contextID)
	var out []Callout
	for _, a := range all[h.handled[contextID]:] {
		c := Callout{ID: a.CalloutID, Cluster: a.Upstream, Headers: map[string]string{}, Body: string(a.Body)}
		for _, kv := range a.Headers {
			c.Pairs = append(c.Pairs, [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])})
			c.Headers[kv[0]] = kv[1]
		}
		out = append(out, c)
	}
	h.handled[contextID] = len(all)
	return out
}

// AnswerEach hands answer every call of a context not handed out yet, and every call those
// answers start, until none is left; it returns how many. The SDK's emulator numbers a new
// call with the count of calls outstanding, so a call started while another is answered can
// take the number of one still outstanding (Envoy's ids are unique), and that call's answer
// would go to the wrong callback. Answering one call at a time, highest number first, keeps
// the outstanding numbers contiguous, so no number is taken twice as long as each answer
// starts at most one call, which holds for the plugin's metadata fetches.
func (h *Host) AnswerEach(contextID uint32, answer func(Callout)) int {
	var outstanding []Callout
	n := 0
	for {
		outstanding = append(outstanding, h.Pending(contextID)...)
		if len(outstanding) == 0 {
			return n
		}
		last := 0
		for i, c := range outstanding {
			if c.ID > outstanding[last].ID {
				last = i
			}
		}
		c := outstanding[last]
		outstanding = append(outstanding[:last], outstanding[last+1:]...)
		answer(c)
		n++
	}
}

// OnePending asserts exactly one new call on a context and returns it.
func (h *Host) OnePending(contextID uint32) Callout {
	h.t.Helper()
	cs := h.Pending(contextID)
	if len(cs) != 1 {
		h.t.Fatalf("context %d: want 1 pending callout, got %d: %+v", contextID, len(cs), cs)
	}
	return cs[0]
}

// Answer delivers a JSON answer to a call; status 0 simulates Envoy's failed call (timeout,
// refused connection): no headers, no body.
func (h *Host) Answer(c Callout, status int, body string) {
	var headers [][2]string
	if status != 0 {
		headers = [][2]string{{":status", strconv.Itoa(status)}, {"content-type", "application/json"}}
	}
	h.AnswerRaw(c, headers, []byte(body))
}

// AnswerRaw delivers an answer with the given headers (":status" included) and body.
func (h *Host) AnswerRaw(c Callout, headers [][2]string, body []byte) {
	h.CallOnHttpCallResponse(c.ID, headers, nil, body)
}

// Reply is a local response copied out of the emulator.
type Reply struct {
	Status  uint32
	Headers [][2]string
	Body    string
}

// Header returns the first value of a response header.
func (r *Reply) Header(name string) string {
	for _, kv := range r.Headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// SetCookies maps cookie name to its whole Set-Cookie value.
func (r *Reply) SetCookies() map[string]string {
	out := map[string]string{}
	for _, kv := range r.Headers {
		if kv[0] == "set-cookie" {
			name, _, _ := strings.Cut(kv[1], "=")
			out[name] = kv[1]
		}
	}
	return out
}

// StateCookie is the login state cookie the reply sets for the relying party whose session
// cookie is named base, as a Cookie header pair ("name=value"), or "" when it sets none.
func (r *Reply) StateCookie(base string) string {
	for name, sc := range r.SetCookies() {
		if strings.HasPrefix(name, base+"_state_") && CookieValue(sc) != "" {
			return name + "=" + CookieValue(sc)
		}
	}
	return ""
}

// CookieValue is the value a Set-Cookie gives its cookie.
func CookieValue(setCookie string) string {
	_, rest, _ := strings.Cut(setCookie, "=")
	v, _, _ := strings.Cut(rest, ";")
	return v
}

// Reply returns the local response a stream got, or nil.
func (h *Host) Reply(contextID uint32) *Reply {
	r := h.GetSentLocalResponse(contextID)
	if r == nil {
		return nil
	}
	out := &Reply{Status: r.StatusCode, Body: string(r.Data)}
	for _, kv := range r.Headers {
		out.Headers = append(out.Headers, [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])})
	}
	return out
}

// Request runs OnHttpRequestHeaders for a new stream.
func (h *Host) Request(headers [][2]string) (uint32, types.Action) {
	id := h.InitializeHttpContext()
	return id, h.CallOnRequestHeaders(id, headers, true)
}

// Upstream returns the request headers as they would leave for the upstream.
func (h *Host) Upstream(contextID uint32) map[string][]string {
	out := map[string][]string{}
	for _, kv := range h.GetCurrentRequestHeaders(contextID) {
		out[kv[0]] = append(out[kv[0]], kv[1])
	}
	return out
}

// BrowserGet is a top-level page load of path on app.example.com.
func BrowserGet(path string, extra ...[2]string) [][2]string {
	return append([][2]string{
		{":method", "GET"}, {":path", path}, {":authority", "app.example.com"}, {":scheme", "https"},
		{"accept", "text/html,application/xhtml+xml"},
	}, extra...)
}

// APIGet is a request from an API client.
func APIGet(path string, extra ...[2]string) [][2]string {
	return append([][2]string{
		{":method", "GET"}, {":path", path}, {":authority", "app.example.com"}, {":scheme", "https"},
		{"accept", "application/json"},
	}, extra...)
}

// Query parses the query of an absolute or relative URL.
func Query(t testing.TB, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("bad URL %q: %v", rawURL, err)
	}
	return u.Query()
}
