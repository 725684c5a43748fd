package proxyhost

import "errors"

// hostGetSharedData reads a value of the store every VM shares, with its CAS.
func hostGetSharedData(vm *VM, p []uint64) status {
	key, ok := vm.read(p[0], p[1])
	if !ok {
		return statusInvalidMemoryAccess
	}
	value, cas, found := vm.host.shared.get(string(key))
	if !found {
		return statusNotFound
	}
	if st := vm.copyOutBytes(value, p[2], p[3]); st != statusOK {
		return st
	}
	if !vm.mem.WriteUint32Le(uint32(p[4]), cas) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// hostSetSharedData writes a value: unconditionally with CAS 0, otherwise only if the CAS is
// still the value's (proxy-wasm-cpp-host's SharedData::set).
func hostSetSharedData(vm *VM, p []uint64) status {
	key, ok := vm.read(p[0], p[1])
	if !ok {
		return statusInvalidMemoryAccess
	}
	value, ok := vm.read(p[2], p[3])
	if !ok {
		return statusInvalidMemoryAccess
	}
	if err := vm.host.shared.set(string(key), value, uint32(p[4])); errors.Is(err, errCASMismatch) {
		return statusCasMismatch
	}
	return statusOK
}

// metricTypeMask selects the type bits of a metric id: Envoy numbers each VM's metrics with
// the type in the low two bits (source/extensions/common/wasm/wasm.h, kMetricTypeMask).
const metricTypeMask = 0x3

func hostDefineMetric(vm *VM, p []uint64) status {
	kind := metricKind(p[0])
	if kind > metricHistogram {
		return statusBadArgument
	}
	name, ok := vm.read(p[1], p[2])
	if !ok {
		return statusInvalidMemoryAccess
	}
	vm.nextMetric++
	id := vm.nextMetric<<2 | uint32(kind)
	vm.metricIDs[id] = vm.host.metrics.define(kind, string(name))
	if !vm.mem.WriteUint32Le(uint32(p[3]), id) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// hostIncrementMetric adds to a counter (by a positive amount only) or a gauge; a histogram
// takes no increments (Envoy's Context::incrementMetric).
func hostIncrementMetric(vm *VM, p []uint64) status {
	id, delta := uint32(p[0]), int64(p[1])
	kind := metricKind(id & metricTypeMask)
	if kind > metricGauge {
		return statusBadArgument
	}
	m, ok := vm.metricIDs[id]
	if !ok {
		return statusNotFound
	}
	if kind == metricCounter && delta <= 0 {
		return statusBadArgument
	}
	m.value.Add(delta)
	return statusOK
}
