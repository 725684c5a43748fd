package proxyhost

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// VM is one instance of the module: what Envoy runs on one worker thread. Only its own
// goroutine (loop) calls into it; everything else posts tasks to it, so the plugin sees one
// callback at a time per VM, and the VMs run in parallel.
type VM struct {
	host  *Host
	index int
	mod   api.Module
	mem   api.Memory
	ctx   context.Context // carries the VM to the host functions (vmFrom)
	guest guestABI

	stack  [8]uint64 // parameters and result of the callback being run
	astack [1]uint64 // proxy_on_memory_allocate, called from inside host functions

	rootID    uint32
	nextID    uint32
	streams   map[uint32]*stream
	current   uint32   // the context the running callback was called for
	effective uint32   // proxy_set_effective_context, until the callback returns (0: none)
	after     []action // Envoy's after-VM-call actions (see runAfter)
	draining  bool
	failed    error // a trap: the VM serves no more (Envoy's failed VM)

	pluginConfigVisible bool        // only during proxy_on_configure, as in Envoy
	answer              *callAnswer // the dispatched call being delivered, if any
	nextToken           uint32
	inflight            map[uint32]bool // tokens of calls not answered yet

	metricIDs  map[uint32]*metric
	nextMetric uint32

	tasks  chan func()
	ticker *time.Ticker
	tickC  <-chan time.Time
	quit   chan struct{}
	exited chan struct{}

	busy     atomic.Int64 // nanoseconds spent inside the module's callbacks
	hostTime atomic.Int64 // of which inside host functions (Config.Profile)
	// perCallback is the busy time by callback name (Config.Profile), read with Callbacks.
	perCallback map[string]time.Duration
	started     atomic.Int64 // streams started
	deleted     atomic.Int64 // streams ended with proxy_on_delete
	ticks       atomic.Int64
}

// guestABI is the module's side of the ABI; a callback the module does not export is nil and
// never called.
type guestABI struct {
	onContextCreate, onVMStart, onConfigure, onDone, onLog, onDelete, onTick api.Function
	onRequestHeaders, onResponseHeaders, onHTTPCallResponse, alloc           api.Function
}

type vmKey struct{}

// vmFrom returns the VM a host function was called from.
func vmFrom(ctx context.Context) *VM { return ctx.Value(vmKey{}).(*VM) }

func newVM(h *Host, index int, mod api.Module) *VM {
	vm := &VM{
		host: h, index: index, mod: mod, mem: mod.Memory(),
		streams: map[uint32]*stream{}, inflight: map[uint32]bool{}, metricIDs: map[uint32]*metric{}, perCallback: map[string]time.Duration{},
		nextID: 1, nextToken: 1,
		tasks: make(chan func(), 4096), quit: make(chan struct{}), exited: make(chan struct{}),
	}
	vm.ctx = context.WithValue(context.Background(), vmKey{}, vm)
	f := mod.ExportedFunction
	vm.guest = guestABI{
		onContextCreate: f("proxy_on_context_create"), onVMStart: f("proxy_on_vm_start"),
		onConfigure: f("proxy_on_configure"), onDone: f("proxy_on_done"), onLog: f("proxy_on_log"),
		onDelete: f("proxy_on_delete"), onTick: f("proxy_on_tick"),
		onRequestHeaders: f("proxy_on_request_headers"), onResponseHeaders: f("proxy_on_response_headers"),
		onHTTPCallResponse: f("proxy_on_http_call_response"), alloc: f("proxy_on_memory_allocate"),
	}
	if vm.guest.alloc == nil {
		// The specification's deprecated allocator, used only without proxy_on_memory_allocate.
		vm.guest.alloc = f("malloc")
	}
	return vm
}

// start runs the module's start functions as the specification orders them (_initialize,
// then main(0, 0) when both are exported; otherwise _start), then creates the plugin's root
// context and starts the plugin the way proxy-wasm-cpp-host's ContextBase::onStart and
// onConfigure do: proxy_on_context_create(root, 0), proxy_on_vm_start, proxy_on_configure.
func (vm *VM) start() error {
	if init := vm.mod.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(vm.ctx); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
		if main := vm.mod.ExportedFunction("main"); main != nil && len(main.Definition().ParamTypes()) == 2 {
			if _, err := main.Call(vm.ctx, 0, 0); err != nil {
				return fmt.Errorf("main: %w", err)
			}
		}
	} else if start := vm.mod.ExportedFunction("_start"); start != nil {
		if _, err := start.Call(vm.ctx); err != nil {
			return fmt.Errorf("_start: %w", err)
		}
	}
	vm.rootID = vm.allocID()
	vm.invoke(vm.guest.onContextCreate, vm.rootID, uint64(vm.rootID), 0)
	if r, ok := vm.invoke(vm.guest.onVMStart, vm.rootID, uint64(vm.rootID), uint64(len(vm.host.cfg.VMConfig))); vm.failed == nil && ok && r == 0 {
		return fmt.Errorf("proxy_on_vm_start refused the VM configuration")
	}
	vm.pluginConfigVisible = true
	r, ok := vm.invoke(vm.guest.onConfigure, vm.rootID, uint64(vm.rootID), uint64(len(vm.host.cfg.PluginConfig)))
	vm.pluginConfigVisible = false
	switch {
	case vm.failed != nil:
		return fmt.Errorf("starting the plugin: %w", vm.failed)
	case ok && r == 0:
		return fmt.Errorf("proxy_on_configure refused the plugin configuration (see the plugin's log)")
	}
	return nil
}

// allocID returns the next context id: one counter per VM for the root and stream contexts,
// never reusing a live one (proxy-wasm-cpp-host's WasmBase::allocContextId).
func (vm *VM) allocID() uint32 {
	for {
		id := vm.nextID
		vm.nextID++
		if _, live := vm.streams[id]; id != 0 && id != vm.rootID && !live {
			return id
		}
	}
}

// invoke runs one callback of the module for context id and returns its result (0 when it
// has none). The effective context starts unset for every callback (proxy-wasm-cpp-host's
// SaveRestoreContext). After the callback returns, the actions it asked for run (runAfter).
// A trap fails the VM, as in Envoy: it serves no more requests.
func (vm *VM) invoke(fn api.Function, id uint32, params ...uint64) (uint64, bool) {
	if fn == nil || vm.failed != nil {
		return 0, false
	}
	stack := vm.stack[:max(len(params), 1)]
	copy(stack, params)
	prevCurrent, prevEffective := vm.current, vm.effective
	vm.current, vm.effective = id, 0
	t0 := time.Now()
	err := fn.CallWithStack(vm.ctx, stack)
	took := time.Since(t0)
	vm.busy.Add(int64(took))
	if vm.host.cfg.Profile {
		vm.perCallback[fn.Definition().ExportNames()[0]] += took
	}
	vm.current, vm.effective = prevCurrent, prevEffective
	if err != nil {
		vm.fail(fmt.Errorf("%s(context %d): %w", fn.Definition().Name(), id, err))
		return 0, false
	}
	result := stack[0]
	vm.runAfter()
	return result, true
}

// fail marks the VM failed after a trap and answers every request it holds with 503, as
// Envoy does for a failed VM with fail_open off (proxy-wasm-cpp-host's CHECK_FAIL_HTTP and
// Envoy's Context::failStream).
func (vm *VM) fail(err error) {
	if vm.failed != nil {
		return
	}
	vm.failed = err
	vm.host.logf(vm.index, LogCritical, "VM failed, it serves no more requests: %v", err)
	if vm.ticker != nil {
		vm.ticker.Stop()
		vm.tickC = nil
	}
	for _, s := range vm.streams {
		s.settle(failedOutcome())
	}
}

// action is an after-VM-call action: Envoy defers what a callback asks of a stream
// (continueDecoding, sendLocalReply) until the callback has returned
// (source/extensions/common/wasm/context.cc, addAfterVmCallAction).
type action struct {
	kind actionKind
	s    *stream
}

type actionKind uint8

const (
	actionContinueRequest actionKind = iota
	actionContinueResponse
	actionLocalReply
)

// runAfter applies the deferred actions, including those that their own callbacks add (a
// local reply runs the response-headers callback). Nested invocations leave the draining to
// the outermost one.
func (vm *VM) runAfter() {
	if vm.draining || len(vm.after) == 0 {
		return
	}
	vm.draining = true
	for i := 0; i < len(vm.after); i++ {
		a := vm.after[i]
		vm.after[i] = action{}
		a.s.apply(a.kind)
	}
	vm.after = vm.after[:0]
	vm.draining = false
}

// loop is the worker's event loop: tasks posted by the front end and by finished dispatched
// calls, and the plugin's ticks.
func (vm *VM) loop() {
	defer close(vm.exited)
	for {
		select {
		case task := <-vm.tasks:
			task()
		case <-vm.tickC:
			vm.ticks.Add(1)
			vm.invoke(vm.guest.onTick, vm.rootID, uint64(vm.rootID))
		case <-vm.quit:
			vm.shutdown()
			return
		}
	}
}

// post hands a task to the VM's loop; it reports false when the VM has stopped.
func (vm *VM) post(task func()) bool {
	select {
	case <-vm.quit:
		return false
	default:
	}
	select {
	case vm.tasks <- task:
		return true
	case <-vm.quit:
		return false
	}
}

// setTickPeriod starts, changes or (0) stops the VM's ticker.
func (vm *VM) setTickPeriod(ms uint32) {
	if vm.ticker != nil {
		vm.ticker.Stop()
		vm.ticker, vm.tickC = nil, nil
	}
	if ms > 0 && vm.failed == nil {
		vm.ticker = time.NewTicker(time.Duration(ms) * time.Millisecond)
		vm.tickC = vm.ticker.C
	}
}

// stop ends the VM (see shutdown) and waits for its loop to exit.
func (vm *VM) stop() {
	select {
	case <-vm.quit:
	default:
		close(vm.quit)
	}
	<-vm.exited
}

// shutdown ends what is left: every stream as Envoy ends a stream whose connection closes,
// then the root context as at Envoy's shutdown (proxy_on_done, then proxy_on_delete,
// WasmBase::startShutdown). Tasks still queued are dropped; their requests see a failure.
func (vm *VM) shutdown() {
	for _, s := range vm.streams {
		s.settle(failedOutcome())
		s.end()
	}
	if r, ok := vm.invoke(vm.guest.onDone, vm.rootID, uint64(vm.rootID)); !ok || r != 0 {
		vm.invoke(vm.guest.onDelete, vm.rootID, uint64(vm.rootID))
	}
	if vm.ticker != nil {
		vm.ticker.Stop()
	}
	_ = vm.mod.Close(context.Background())
}

// Index is the worker's number, from 0.
func (vm *VM) Index() int { return vm.index }

// Stats are a VM's counts so far.
type Stats struct {
	Busy    time.Duration // inside the module's callbacks
	Host    time.Duration // of which inside host functions, with Config.Profile
	Started int64         // streams started
	Deleted int64         // streams ended with proxy_on_delete
	Ticks   int64         // proxy_on_tick calls
}

// Stats returns the VM's counts so far.
func (vm *VM) Stats() Stats {
	return Stats{Busy: time.Duration(vm.busy.Load()), Host: time.Duration(vm.hostTime.Load()), Started: vm.started.Load(), Deleted: vm.deleted.Load(), Ticks: vm.ticks.Load()}
}

// Callbacks returns, with Config.Profile, the time spent in each of the module's callbacks so
// far, by export name, read on the VM's own loop.
func (vm *VM) Callbacks() (map[string]time.Duration, error) {
	out := make(chan map[string]time.Duration, 1)
	if !vm.post(func() { out <- maps.Clone(vm.perCallback) }) {
		return nil, fmt.Errorf("worker %d has stopped", vm.index)
	}
	return <-out, nil
}

// MemoryBytes is the size of the VM's linear memory, read on its own loop.
func (vm *VM) MemoryBytes() (uint32, error) {
	size := make(chan uint32, 1)
	if !vm.post(func() { size <- vm.mem.Size() }) {
		return 0, fmt.Errorf("worker %d has stopped", vm.index)
	}
	return <-size, nil
}

func (h *Host) logf(worker int, level LogLevel, format string, args ...any) {
	if h.cfg.Log != nil && level >= h.cfg.LogLevel {
		h.cfg.Log(worker, level, "host: "+fmt.Sprintf(format, args...))
	}
}
