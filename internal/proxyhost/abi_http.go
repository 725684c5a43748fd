package proxyhost

// The map types of the header map functions (proxy_map_type_t).
const (
	mapRequestHeaders          = 0
	mapResponseHeaders         = 2
	mapHTTPCallResponseHeaders = 6
	mapMax                     = 7
)

// headerMapFor returns the map a header call names, or nil when the context has none now:
// the request headers only until the request continues, the response headers only in the
// response phase, a dispatched call's headers only while its answer is delivered (read-only),
// and no trailers, metadata or gRPC maps (Envoy's Context::getMap and getConstMap).
func (vm *VM) headerMapFor(kind uint64, write bool) *headerMap {
	_, s := vm.active()
	switch {
	case kind == mapRequestHeaders && s != nil && s.reqOpen:
		return &s.req
	case kind == mapResponseHeaders && s != nil && s.respOpen:
		return &s.resp
	case kind == mapHTTPCallResponseHeaders && !write && vm.answer != nil:
		return &vm.answer.headers
	}
	return nil
}

// hostGetHeaderMapPairs serializes a map into a buffer the module allocates. A map the
// context does not have reads as empty, as in Envoy.
func hostGetHeaderMapPairs(vm *VM, p []uint64) status {
	if p[0] > mapMax {
		return statusBadArgument
	}
	m := vm.headerMapFor(p[0], false)
	if m == nil || len(m.pairs) == 0 {
		return vm.copyOutBytes(nil, p[1], p[2])
	}
	pairs := m.pairs
	return vm.copyOut(pairsSize(pairs), func(dst []byte) { marshalPairs(dst, pairs) }, p[1], p[2])
}

// hostSetHeaderMapPairs replaces a whole map with the pairs given, as Envoy's
// Context::setHeaderMapPairs does: every key the map holds is removed, then each pair added.
func hostSetHeaderMapPairs(vm *VM, p []uint64) status {
	if p[0] > mapMax {
		return statusBadArgument
	}
	raw, ok := vm.read(p[1], p[2])
	if !ok {
		return statusInvalidMemoryAccess
	}
	pairs, err := unmarshalPairs(raw)
	if err != nil {
		return statusBadArgument
	}
	m := vm.headerMapFor(p[0], true)
	if m == nil {
		return statusBadArgument
	}
	clear(m.pairs)
	m.pairs = m.pairs[:0]
	for _, kv := range pairs {
		m.add(kv[0], kv[1])
	}
	return statusOK
}

// mutableMap resolves the map of a mutating call and reads its key; Envoy answers
// BadArgument for a map the context does not have.
func (vm *VM) mutableMap(kind, keyPtr, keySize uint64) (*headerMap, string, status) {
	if kind > mapMax {
		return nil, "", statusBadArgument
	}
	key, ok := vm.read(keyPtr, keySize)
	if !ok {
		return nil, "", statusInvalidMemoryAccess
	}
	m := vm.headerMapFor(kind, true)
	if m == nil {
		return nil, "", statusBadArgument
	}
	return m, string(key), statusOK
}

func hostAddHeaderMapValue(vm *VM, p []uint64) status { return vm.setHeader(p, (*headerMap).add) }

func hostReplaceHeaderMapValue(vm *VM, p []uint64) status {
	return vm.setHeader(p, (*headerMap).replace)
}

// setHeader runs a call that writes a value under a key (add or replace).
func (vm *VM) setHeader(p []uint64, set func(m *headerMap, key, value string)) status {
	m, key, st := vm.mutableMap(p[0], p[1], p[2])
	if st != statusOK {
		return st
	}
	value, ok := vm.read(p[3], p[4])
	if !ok {
		return statusInvalidMemoryAccess
	}
	set(m, key, string(value))
	return statusOK
}

func hostRemoveHeaderMapValue(vm *VM, p []uint64) status {
	m, key, st := vm.mutableMap(p[0], p[1], p[2])
	if st != statusOK {
		return st
	}
	m.remove(key)
	return statusOK
}

// The stream types of proxy_continue_stream.
const (
	streamRequest  = 0
	streamResponse = 1
	streamMax      = 3
)

// hostContinueStream resumes a paused stream once the callback returns. As in Envoy
// (context.cc, continueStream) the request headers are closed to the plugin at once, and a
// continue from the root context, which has no stream, does nothing.
func hostContinueStream(vm *VM, p []uint64) status {
	kind := p[0]
	if kind > streamMax {
		return statusBadArgument
	}
	_, s := vm.active()
	if s == nil {
		return statusOK
	}
	switch kind {
	case streamRequest:
		s.reqOpen = false
		vm.after = append(vm.after, action{actionContinueRequest, s})
	case streamResponse:
		vm.after = append(vm.after, action{actionContinueResponse, s})
	default:
		return statusBadArgument
	}
	return statusOK
}

// hostSendLocalResponse records a local reply for the active stream, sent once the callback
// returns (see stream.sendReply). A reply from the root context, which has no stream, does
// nothing, as in Envoy.
func hostSendLocalResponse(vm *VM, p []uint64) status {
	code := uint32(p[0])
	if _, ok := vm.read(p[1], p[2]); !ok {
		return statusInvalidMemoryAccess
	}
	rawBody, ok := vm.read(p[3], p[4])
	if !ok {
		return statusInvalidMemoryAccess
	}
	rawHeaders, ok := vm.read(p[5], p[6])
	if !ok {
		return statusInvalidMemoryAccess
	}
	extra, err := unmarshalPairs(rawHeaders)
	if err != nil {
		return statusInvalidMemoryAccess
	}
	_, s := vm.active()
	if s == nil || s.ended || s.phase == phaseDone {
		return statusOK
	}
	body := append([]byte(nil), rawBody...)
	pending := s.reply != nil
	s.reply = &Outcome{Action: Reply, Headers: localReplyHeaders(code, extra, body), Body: body}
	if !pending {
		vm.after = append(vm.after, action{actionLocalReply, s})
	}
	return statusOK
}
