// Package proxyhost runs a compiled Proxy-Wasm module the way Envoy does, without Envoy: one
// compiled module, one VM instance per worker, each driven by its own goroutine as an event
// loop, the host functions of ABI 0.2.1 with Envoy's semantics, WASI with the real clocks and
// crypto/rand, shared data with compare-and-swap across the VMs, metrics, ticks, and
// dispatched HTTP calls to clusters named host:port. gateway.go puts an HTTP front end on it.
//
// It exists because no Envoy can be installed where this project is built and tested, and the
// SDK's emulator (proxytest) was written to unit-test plugins: one VM, a fixed 2022 clock,
// deterministic randomness, host calls through reflection. The demo, the load test and the
// benchmark run the module here. It is internal: nothing shipped in the module imports it.
//
// Written from the Proxy-Wasm ABI 0.2.1 specification (proxy-wasm/spec,
// abi-versions/v0.2.1/README.md), proxy-wasm-cpp-host (src/exports.cc, src/context.cc,
// src/shared_data.cc), which Envoy embeds, and Envoy's own side of it
// (source/extensions/common/wasm/context.cc). Where Envoy and the specification differ, this
// host does what Envoy does; each such place names the Envoy source it follows. DIFFERENCES.md
// in this directory lists where Envoy and the SDK's emulator differ.
package proxyhost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Config is what Envoy's wasm filter configuration and bootstrap give a plugin.
type Config struct {
	Wasm         []byte            // the compiled module
	PluginConfig []byte            // the filter's configuration (Envoy: configuration)
	VMConfig     []byte            // the VM's configuration (Envoy: vm_config.configuration)
	Env          map[string]string // VM environment variables (Envoy: vm_config.environment_variables)
	Workers      int               // VM instances, one per worker thread (Envoy: --concurrency); default 1
	// Clusters maps each cluster name the plugin may call to the host:port it stands for,
	// reached over plain HTTP/1.1. A call to any other name fails with BadArgument, as in
	// Envoy.
	Clusters map[string]string
	// Log receives the plugin's log lines at or above LogLevel, with the worker's index.
	// Nil discards them.
	Log      func(worker int, level LogLevel, msg string)
	LogLevel LogLevel
	// Stdout receives what the module writes to its standard output and error through WASI
	// (Envoy logs it); nil discards it.
	Stdout io.Writer
	// Profile also times the host functions (Stats.Host), to split a VM's busy time between
	// the host and the module's own code; it costs two clock reads per host call.
	Profile bool
}

// LogLevel is a Proxy-Wasm log level (proxy_log_level_t).
type LogLevel uint32

// The log levels of proxy_log.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

func (l LogLevel) String() string {
	names := [...]string{"trace", "debug", "info", "warn", "error", "critical"}
	if int(l) < len(names) {
		return names[l]
	}
	return fmt.Sprintf("level-%d", uint32(l))
}

// compiled keeps machine code across the hosts of one process: compiling the standard-Go
// module takes seconds, and tests and benchmarks start many hosts from the same module.
var compiled = wazero.NewCompilationCache()

// Host is one Envoy process's worth of a plugin: the compiled module, its VMs, and what they
// share (shared data, metrics, clusters).
type Host struct {
	cfg      Config
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	vms      []*VM
	shared   sharedData
	metrics  metricRegistry
	calls    *callClient
}

// New compiles the module once and starts Workers VMs from it, each with the plugin started
// (proxy_on_vm_start, then proxy_on_configure) and its event loop running. A plugin that
// refuses its configuration in any VM is an error, as it keeps Envoy from serving.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	h := &Host{cfg: cfg, calls: newCallClient()}
	h.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(false).WithCompilationCache(compiled))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		h.runtime.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := exportABI(ctx, h.runtime); err != nil {
		h.runtime.Close(ctx)
		return nil, fmt.Errorf("instantiating the Proxy-Wasm host functions: %w", err)
	}
	compiled, err := h.runtime.CompileModule(ctx, cfg.Wasm)
	if err != nil {
		h.runtime.Close(ctx)
		return nil, fmt.Errorf("compiling the module: %w", err)
	}
	h.compiled = compiled
	for i := 0; i < cfg.Workers; i++ {
		vm, err := h.startVM(ctx, i)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		h.vms = append(h.vms, vm)
	}
	return h, nil
}

// startVM instantiates the module for one worker, runs its start functions and starts the
// plugin in it, then its event loop.
func (h *Host) startVM(ctx context.Context, index int) (*VM, error) {
	out := h.cfg.Stdout
	if out == nil {
		out = io.Discard
	}
	mc := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("worker-%d", index)).
		WithStartFunctions(). // called below, in the order the specification gives
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(out).WithStderr(out)
	keys := make([]string, 0, len(h.cfg.Env))
	for k := range h.cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mc = mc.WithEnv(k, h.cfg.Env[k])
	}
	mod, err := h.runtime.InstantiateModule(ctx, h.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiating the module: %w", err)
	}
	vm := newVM(h, index, mod)
	if err := vm.start(); err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	go vm.loop()
	return vm, nil
}

// Workers returns the VMs, one per worker.
func (h *Host) Workers() []*VM { return h.vms }

// Close ends every VM as Envoy does at shutdown (proxy_on_done, then proxy_on_delete, for the
// plugin's root context), stops their loops and releases the runtime. Requests still held by
// a VM are answered as failed.
func (h *Host) Close() error {
	for _, vm := range h.vms {
		vm.stop()
	}
	h.calls.close()
	return h.runtime.Close(context.Background())
}

// Counter returns the value of a metric summed over the VMs: Envoy keeps one stat per name
// for the whole process, whichever worker defines and increments it.
func (h *Host) Counter(name string) uint64 { return h.metrics.value(name) }

// sharedData is the key-value store every VM of one vm_id shares (proxy_get_shared_data,
// proxy_set_shared_data), with proxy-wasm-cpp-host's semantics (src/shared_data.cc): one CAS
// counter for the whole store, never 0; a set with CAS 0 is unconditional, with another CAS
// it must match the value's current one.
type sharedData struct {
	mu      sync.Mutex
	values  map[string]sharedValue
	lastCAS uint32
}

type sharedValue struct {
	data []byte
	cas  uint32
}

var errCASMismatch = errors.New("cas mismatch")

func (s *sharedData) get(key string) ([]byte, uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v.data, v.cas, ok
}

func (s *sharedData) set(key string, value []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]sharedValue{}
	}
	if cur, ok := s.values[key]; ok && cas != 0 && cas != cur.cas {
		return errCASMismatch
	}
	s.lastCAS++
	if s.lastCAS == 0 {
		s.lastCAS++
	}
	s.values[key] = sharedValue{data: append([]byte(nil), value...), cas: s.lastCAS}
	return nil
}

// metricRegistry holds the process-wide stats. Metric ids are per VM (each VM defines its own
// and gets its own ids, as in Envoy's Wasm::nextCounterMetricId); they point at the shared
// stat of the name.
type metricRegistry struct {
	mu     sync.Mutex
	byName map[string]*metric
}

type metric struct {
	kind  metricKind
	value atomic.Int64
}

type metricKind uint32

// The metric types of proxy_define_metric.
const (
	metricCounter metricKind = iota
	metricGauge
	metricHistogram
)

func (r *metricRegistry) define(kind metricKind, name string) *metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byName == nil {
		r.byName = map[string]*metric{}
	}
	m, ok := r.byName[name]
	if !ok {
		m = &metric{kind: kind}
		r.byName[name] = m
	}
	return m
}

func (r *metricRegistry) value(name string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		return uint64(m.value.Load())
	}
	return 0
}
