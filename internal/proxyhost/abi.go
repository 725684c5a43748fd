package proxyhost

import (
	"context"
	"math"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// status is proxy_status_t (proxy-wasm-cpp-host's WasmResult).
type status uint32

const (
	statusOK                  status = 0
	statusNotFound            status = 1
	statusBadArgument         status = 2
	statusInvalidMemoryAccess status = 6
	statusCasMismatch         status = 8
	statusInternalFailure     status = 10
	statusUnimplemented       status = 12
)

// hostFunc is one function of the "env" module. Its parameters are i32 except the one at
// i64At (-1: none); every function returns a status.
type hostFunc struct {
	name   string
	params int
	i64At  int
	fn     func(vm *VM, p []uint64) status
}

// abi is every host function of Proxy-Wasm ABI 0.2.1 (abi-versions/v0.2.1/README.md), so any
// module written for it links. Those the plugin imports (the README's table) behave as in
// Envoy; the others answer Unimplemented.
var abi = []hostFunc{
	{"proxy_log", 3, -1, hostLog},
	{"proxy_set_tick_period_milliseconds", 1, -1, hostSetTickPeriod},
	{"proxy_set_effective_context", 1, -1, hostSetEffectiveContext},
	{"proxy_get_buffer_bytes", 5, -1, hostGetBufferBytes},
	{"proxy_get_header_map_pairs", 3, -1, hostGetHeaderMapPairs},
	{"proxy_set_header_map_pairs", 3, -1, hostSetHeaderMapPairs},
	{"proxy_add_header_map_value", 5, -1, hostAddHeaderMapValue},
	{"proxy_replace_header_map_value", 5, -1, hostReplaceHeaderMapValue},
	{"proxy_remove_header_map_value", 3, -1, hostRemoveHeaderMapValue},
	{"proxy_continue_stream", 1, -1, hostContinueStream},
	{"proxy_send_local_response", 8, -1, hostSendLocalResponse},
	{"proxy_http_call", 10, -1, hostHTTPCall},
	{"proxy_get_shared_data", 5, -1, hostGetSharedData},
	{"proxy_set_shared_data", 5, -1, hostSetSharedData},
	{"proxy_define_metric", 4, -1, hostDefineMetric},
	{"proxy_increment_metric", 2, 1, hostIncrementMetric},

	{"proxy_done", 0, -1, unimplemented},
	{"proxy_get_log_level", 1, -1, unimplemented},
	{"proxy_get_current_time_nanoseconds", 1, -1, unimplemented},
	{"proxy_set_buffer_bytes", 5, -1, unimplemented},
	{"proxy_get_buffer_status", 3, -1, unimplemented},
	{"proxy_get_header_map_size", 2, -1, unimplemented},
	{"proxy_get_header_map_value", 5, -1, unimplemented},
	{"proxy_close_stream", 1, -1, unimplemented},
	{"proxy_get_status", 3, -1, unimplemented},
	{"proxy_grpc_call", 12, -1, unimplemented},
	{"proxy_grpc_stream", 9, -1, unimplemented},
	{"proxy_grpc_send", 4, -1, unimplemented},
	{"proxy_grpc_cancel", 1, -1, unimplemented},
	{"proxy_grpc_close", 1, -1, unimplemented},
	{"proxy_register_shared_queue", 3, -1, unimplemented},
	{"proxy_resolve_shared_queue", 5, -1, unimplemented},
	{"proxy_enqueue_shared_queue", 3, -1, unimplemented},
	{"proxy_dequeue_shared_queue", 3, -1, unimplemented},
	{"proxy_record_metric", 2, 1, unimplemented},
	{"proxy_get_metric", 2, -1, unimplemented},
	{"proxy_get_property", 4, -1, unimplemented},
	{"proxy_set_property", 4, -1, unimplemented},
	{"proxy_call_foreign_function", 6, -1, unimplemented},
}

func unimplemented(*VM, []uint64) status { return statusUnimplemented }

// exportABI instantiates the "env" host module. Functions are Go module functions on the raw
// stack: the SDK's emulator goes through reflection for each call, which alone cost more than
// the plugin's work on a simple request.
func exportABI(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("env")
	for _, f := range abi {
		params := make([]api.ValueType, f.params)
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		if f.i64At >= 0 {
			params[f.i64At] = api.ValueTypeI64
		}
		fn, n, i64At := f.fn, f.params, f.i64At
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
				// The upper half of an i32 on wazero's stack is undefined.
				for i := 0; i < n; i++ {
					if i != i64At {
						stack[i] = uint64(uint32(stack[i]))
					}
				}
				vm := vmFrom(ctx)
				if !vm.host.cfg.Profile {
					stack[0] = uint64(fn(vm, stack))
					return
				}
				t0 := time.Now()
				stack[0] = uint64(fn(vm, stack))
				vm.hostTime.Add(int64(time.Since(t0)))
			}), params, []api.ValueType{api.ValueTypeI32}).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// active returns the context host calls act on: the effective context when one is set, else
// the one the callback was called for; s is nil for the root context.
func (vm *VM) active() (uint32, *stream) {
	id := vm.effective
	if id == 0 {
		id = vm.current
	}
	return id, vm.streams[id]
}

// read returns a view of guest memory; it is valid until the module runs again (a guest
// allocation may move it).
func (vm *VM) read(ptr, size uint64) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return vm.mem.Read(uint32(ptr), uint32(size))
}

// copyOut hands data to the module: a buffer allocated by the module itself
// (proxy_on_memory_allocate), its address and size written at ptrPtr and sizePtr. Empty data
// is address 0, size 0, as in proxy-wasm-cpp-host.
func (vm *VM) copyOut(size int, fill func([]byte), ptrPtr, sizePtr uint64) status {
	var ptr uint32
	if size > 0 {
		if vm.guest.alloc == nil || size > math.MaxInt32 {
			return statusInvalidMemoryAccess
		}
		vm.astack[0] = uint64(size)
		t0 := time.Now()
		err := vm.guest.alloc.CallWithStack(vm.ctx, vm.astack[:])
		if vm.host.cfg.Profile {
			// The module's allocator (and the garbage collection it may run) is the module's
			// time, not the host's.
			vm.hostTime.Add(-int64(time.Since(t0)))
		}
		if err != nil || vm.astack[0] == 0 {
			return statusInvalidMemoryAccess
		}
		ptr = uint32(vm.astack[0])
		buf, ok := vm.mem.Read(ptr, uint32(size))
		if !ok {
			return statusInvalidMemoryAccess
		}
		fill(buf)
	}
	if !vm.mem.WriteUint32Le(uint32(ptrPtr), ptr) || !vm.mem.WriteUint32Le(uint32(sizePtr), uint32(size)) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func (vm *VM) copyOutBytes(data []byte, ptrPtr, sizePtr uint64) status {
	return vm.copyOut(len(data), func(dst []byte) { copy(dst, data) }, ptrPtr, sizePtr)
}

func hostLog(vm *VM, p []uint64) status {
	level := LogLevel(p[0])
	msg, ok := vm.read(p[1], p[2])
	if !ok {
		return statusInvalidMemoryAccess
	}
	if level > LogCritical {
		return statusBadArgument
	}
	if cfg := &vm.host.cfg; cfg.Log != nil && level >= cfg.LogLevel {
		cfg.Log(vm.index, level, string(msg))
	}
	return statusOK
}

// hostSetTickPeriod sets the ticker of the VM's root context, from whichever context it is
// called (Envoy's Context::setTickPeriod uses the root context's id).
func hostSetTickPeriod(vm *VM, p []uint64) status {
	vm.setTickPeriod(uint32(p[0]))
	return statusOK
}

func hostSetEffectiveContext(vm *VM, p []uint64) status {
	id := uint32(p[0])
	if s, ok := vm.streams[id]; id != vm.rootID && (!ok || s.ended) {
		return statusBadArgument
	}
	vm.effective = id
	return statusOK
}

// The buffer types of proxy_get_buffer_bytes.
const (
	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
	bufferMax                  = 8
)

// hostGetBufferBytes serves the configurations and a dispatched call's response body. The
// plugin configuration is there only during proxy_on_configure and the response body only
// during proxy_on_http_call_response, as in Envoy (context.cc, getBuffer); request and
// response bodies are not delivered to the plugin and read as empty.
func hostGetBufferBytes(vm *VM, p []uint64) status {
	kind, start, length := p[0], p[1], p[2]
	if kind > bufferMax {
		return statusBadArgument
	}
	var buf []byte
	switch kind {
	case bufferVMConfiguration:
		buf = vm.host.cfg.VMConfig
	case bufferPluginConfiguration:
		if !vm.pluginConfigVisible {
			return statusNotFound
		}
		buf = vm.host.cfg.PluginConfig
	case bufferHTTPCallResponseBody:
		if vm.answer == nil {
			return statusNotFound
		}
		buf = vm.answer.body
	}
	if start > start+length {
		return statusBadArgument
	}
	if start > uint64(len(buf)) {
		start = uint64(len(buf))
	}
	end := min(start+length, uint64(len(buf)))
	return vm.copyOutBytes(buf[start:end], p[3], p[4])
}
