package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// tickPeriod is the period Envoy would tick the plugin at (the plugin asks for 250 ms; the
// emulator records the request but never ticks by itself).
const tickPeriod = 250 * time.Millisecond

// errHeldTooLong ends a request the plugin neither answered nor let through in time.
var errHeldTooLong = errors.New("the plugin held the request too long")

// pluginHost runs the compiled module in the SDK's Proxy-Wasm host emulator and plays
// Envoy's part around it: ticks, and carrying every dispatched call to its cluster over HTTP.
// The emulator is one process-global state that is not safe for concurrent use, so every
// call into it goes through call, under mu: requests take turns, like a one-worker Envoy.
type pluginHost struct {
	mu       sync.Mutex
	emu      proxytest.HostEmulator
	vm       proxytest.WasmVMContext
	reset    func()
	clusters map[string]string // cluster name -> host:port
	timeout  time.Duration     // of each dispatched call, as Envoy would enforce it
	handed   map[uint32]int    // per context: dispatched calls already carried
	logf     func(format string, args ...any)
	stopTick chan struct{}
	tickDone chan struct{}
}

// startPlugin instantiates the module and starts the plugin with config. The emulator prints
// the plugin's log through the standard logger (see pluginLog). It is process-global: one
// pluginHost per process.
func startPlugin(wasm []byte, config string, clusters map[string]string, timeout time.Duration, logf func(string, ...any)) (*pluginHost, error) {
	vm, err := proxytest.NewWasmVMContext(wasm)
	if err != nil {
		return nil, fmt.Errorf("loading the module: %w", err)
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(config))
	emu, reset := proxytest.NewHostEmulator(opt)
	h := &pluginHost{emu: emu, vm: vm, reset: reset, clusters: clusters, timeout: timeout, handed: map[uint32]int{}, logf: logf}
	var vmStatus types.OnVMStartStatus
	var pluginStatus types.OnPluginStartStatus
	err = h.call(func() {
		if vmStatus = emu.StartVM(); vmStatus == types.OnVMStartStatusOK {
			pluginStatus = emu.StartPlugin()
		}
	})
	switch {
	case err != nil:
		// The trap says it all.
	case vmStatus != types.OnVMStartStatusOK:
		err = errors.New("the VM did not start")
	case pluginStatus != types.OnPluginStartStatusOK:
		err = errors.New("the plugin refused its configuration (its critical log line above says why)")
	}
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// call runs f with the emulator to itself. A trap in the module panics inside the emulator;
// it becomes an error for this request instead of ending the demo.
func (h *pluginHost) call(f func()) (err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the plugin trapped: %v", r)
		}
	}()
	f()
	return nil
}

// loadMetadata ticks until the plugin has Dex's discovery document and keys, so the first
// browser request is not held while they load.
func (h *pluginHost) loadMetadata(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var loaded uint64
		err := h.call(func() {
			h.emu.Tick()
			h.pump(proxytest.PluginContextID)
			loaded, _ = h.emu.GetCounterMetric("oidc_wasm.idp_jwks_fetched")
		})
		switch {
		case err != nil:
			return err
		case loaded > 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("the plugin did not load the identity provider's keys within %v (its log above says why)", limit)
		}
		time.Sleep(tickPeriod)
	}
}

// startTicker ticks the plugin like Envoy does and carries the calls it dispatches on a tick
// (discovery and JWKS fetches and refetches).
func (h *pluginHost) startTicker() {
	h.stopTick, h.tickDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.tickDone)
		t := time.NewTicker(tickPeriod)
		defer t.Stop()
		for {
			select {
			case <-h.stopTick:
				return
			case <-t.C:
				if err := h.call(func() { h.emu.Tick(); h.pump(proxytest.PluginContextID) }); err != nil {
					h.logf("tick: %v", err)
				}
			}
		}
	}()
}

// close stops the ticker and releases the module.
func (h *pluginHost) close() {
	if h.stopTick != nil {
		close(h.stopTick)
		<-h.tickDone
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reset()
	_ = h.vm.Close()
}

// pump carries every dispatched call of the given contexts to its cluster and delivers the
// answer, until none is left: an answer may make the plugin dispatch the next call (the JWKS
// after discovery). Calls are answered as soon as they are made and never left waiting: the
// emulator numbers a new call by how many are outstanding, and would reuse a number if
// several calls stayed out.
func (h *pluginHost) pump(contexts ...uint32) {
	for carried := true; carried; {
		carried = false
		for _, id := range contexts {
			all := h.emu.GetCalloutAttributesFromContext(id)
			fresh := all[h.handed[id]:]
			h.handed[id] = len(all)
			for _, c := range fresh {
				h.carry(c)
				carried = true
			}
		}
	}
}

// carry performs one dispatched call the way Envoy's async client would and delivers the
// answer; a call that fails (unknown cluster, refused, timed out) is delivered as Envoy
// delivers a failed call: no headers, no body.
func (h *pluginHost) carry(c proxytest.HttpCalloutAttribute) {
	headers := clonePairs(c.Headers)
	method, path := headerValue(headers, ":method"), headerValue(headers, ":path")
	addr, ok := h.clusters[c.Upstream]
	if !ok {
		h.logf("dispatch to unknown cluster %q (the demo knows %s): delivered as a failed call", c.Upstream, clusterNames(h.clusters))
		h.emu.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil)
		return
	}
	start := time.Now()
	respHeaders, body, err := testidp.Forward(addr, headers, c.Body, h.timeout)
	if err != nil {
		h.logf("  -> %s %s %s: failed: %v", c.Upstream, method, path, err)
	} else {
		h.logf("  -> %s %s %s: %s (%d ms)", c.Upstream, method, path, headerValue(respHeaders, ":status"), time.Since(start).Milliseconds())
	}
	h.emu.CallOnHttpCallResponse(c.CalloutID, respHeaders, nil, body)
}

// settle waits until the plugin has answered a stream or let it continue. The plugin pauses
// a stream while its own dispatched calls are out (carried here at once) or while it waits for
// the IdP's metadata, which only a tick fetches: between checks the lock is released so the
// ticker and other requests can run.
func (h *pluginHost) settle(id uint32, deadline time.Time) error {
	for {
		var settled bool
		err := h.call(func() {
			h.pump(id, proxytest.PluginContextID)
			settled = h.emu.GetSentLocalResponse(id) != nil || h.emu.GetCurrentHttpStreamAction(id) == types.ActionContinue
		})
		switch {
		case err != nil:
			return err
		case settled:
			return nil
		case time.Now().After(deadline):
			return errHeldTooLong
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// localReply is a response the plugin sent itself, copied out of guest memory.
type localReply struct {
	status  int
	headers [][2]string
	body    []byte
}

// sentReply copies the stream's local response, or returns nil. The emulator's slices point
// into the module's memory, which the next call into the module may reuse: copy at once.
func (h *pluginHost) sentReply(id uint32) *localReply {
	r := h.emu.GetSentLocalResponse(id)
	if r == nil {
		return nil
	}
	return &localReply{status: int(r.StatusCode), headers: clonePairs(r.Headers), body: append([]byte(nil), r.Data...)}
}

// clonePairs copies header pairs out of guest memory.
func clonePairs(in [][2]string) [][2]string {
	out := make([][2]string, len(in))
	for i, kv := range in {
		out[i] = [2]string{strings.Clone(kv[0]), strings.Clone(kv[1])}
	}
	return out
}

// headerValue returns the first value of a header (pseudo-headers such as ":path" included).
func headerValue(headers [][2]string, name string) string {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func clusterNames(clusters map[string]string) string {
	var names []string
	for name := range clusters {
		names = append(names, fmt.Sprintf("%q", name))
	}
	return strings.Join(names, ", ")
}
