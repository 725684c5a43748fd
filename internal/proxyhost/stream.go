package proxyhost

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Action is how a filter phase ended for the front end.
type Action uint8

const (
	// Continue: the request (or response) goes on, with Outcome.Headers as the plugin left them.
	Continue Action = iota
	// Reply: the plugin (or the host, for a failed VM) answered itself: Outcome.Headers
	// (":status" first) and Outcome.Body are the response.
	Reply
)

// Outcome is the end of one filter phase.
type Outcome struct {
	Action  Action
	Headers [][2]string
	Body    []byte
}

// Status is the ":status" of a reply's headers, or 0.
func (o Outcome) Status() int {
	n, _ := strconv.Atoi(Header(o.Headers, ":status"))
	return n
}

// Header returns the first value of a header in pairs, or "".
func Header(pairs [][2]string, name string) string {
	for _, kv := range pairs {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// SetCookies maps each cookie that Set-Cookie headers among pairs set to its value ("" for
// one they clear).
func SetCookies(pairs [][2]string) map[string]string {
	out := map[string]string{}
	for _, kv := range pairs {
		if kv[0] == "set-cookie" {
			name, rest, _ := strings.Cut(kv[1], "=")
			value, _, _ := strings.Cut(rest, ";")
			out[name] = value
		}
	}
	return out
}

// StateCookie is the login state cookie that Set-Cookie headers among pairs set for the
// session cookie named base (each login has its own, "<base>_state_<id>"), as a Cookie header
// pair "name=value", or "".
func StateCookie(pairs [][2]string, base string) string {
	for name, value := range SetCookies(pairs) {
		if strings.HasPrefix(name, base+"_state_") && value != "" {
			return name + "=" + value
		}
	}
	return ""
}

// failedOutcome is what a request held by a failed or stopped VM gets: Envoy's failStream
// answers 503 with no body.
func failedOutcome() Outcome {
	return Outcome{Action: Reply, Headers: [][2]string{{":status", "503"}}}
}

// ErrStopped is returned for a request sent to a VM that has stopped.
var ErrStopped = errors.New("proxyhost: the worker has stopped")

// Stream is one HTTP request's walk through a VM's filter callbacks, as Envoy's HTTP
// connection manager drives a Wasm filter: request headers, then (when the request went
// upstream) response headers, then the end of the stream. Body and trailer callbacks are not
// delivered: bodies flow past the plugin, which acts on headers only.
type Stream struct {
	s *stream
}

// phase is where a stream stands.
type phase uint8

const (
	phaseRequest  phase = iota // in or paused after proxy_on_request_headers
	phaseUpstream              // the request went on; response headers not seen yet
	phaseResponse              // in or paused after proxy_on_response_headers
	phaseDone                  // answered or ended
)

// stream is the VM's side of a Stream; only the VM's loop touches it.
type stream struct {
	vm        *VM
	id        uint32
	phase     phase
	req, resp headerMap
	reqOpen   bool         // the plugin may read and change the request headers
	respOpen  bool         // the same for the response headers
	reply     *Outcome     // a local reply asked for, applied after the callback
	replyBody []byte       // the body of a local reply whose headers are in the response phase
	ended     bool         // proxy_on_log, proxy_on_done and proxy_on_delete have run
	settled   chan Outcome // one outcome per phase; never blocks the VM
}

// Request starts a stream on the VM with the request's headers (lower-case names,
// pseudo-headers first) and waits until the plugin lets the request continue or answers it.
// The caller must End the stream however it ends. A ctx done first abandons the wait, not the
// stream: End it.
func (vm *VM) Request(ctx context.Context, headers [][2]string, endOfStream bool) (*Stream, Outcome, error) {
	s := &stream{vm: vm, settled: make(chan Outcome, 1)}
	vm.started.Add(1)
	if !vm.post(func() { s.begin(headers, endOfStream) }) {
		return nil, Outcome{}, ErrStopped
	}
	o, err := s.wait(ctx)
	return &Stream{s: s}, o, err
}

// Response runs the response headers (":status" first) through the plugin and waits for the
// outcome: Continue with the headers as the plugin left them (its Set-Cookie headers added),
// or a Reply that replaces the upstream's response.
func (st *Stream) Response(ctx context.Context, headers [][2]string, endOfStream bool) (Outcome, error) {
	s := st.s
	if !s.vm.post(func() { s.responseHeaders(headers, endOfStream) }) {
		return Outcome{}, ErrStopped
	}
	return s.wait(ctx)
}

// End ends the stream in the plugin, as Envoy does once a response is complete or the client
// is gone: proxy_on_log, proxy_on_done, proxy_on_delete. It does not wait.
func (st *Stream) End() {
	s := st.s
	s.vm.post(s.end)
}

func (s *stream) wait(ctx context.Context) (Outcome, error) {
	select {
	case o := <-s.settled:
		return o, nil
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	case <-s.vm.exited:
		return failedOutcome(), nil
	}
}

// settle hands the phase's outcome to the front end.
func (s *stream) settle(o Outcome) {
	select {
	case s.settled <- o:
	default: // the front end gave up waiting on an earlier phase and never read it
	}
}

func (s *stream) begin(headers [][2]string, endOfStream bool) {
	vm := s.vm
	if vm.failed != nil {
		s.phase = phaseDone
		s.settle(failedOutcome())
		return
	}
	s.id = vm.allocID()
	vm.streams[s.id] = s
	s.req = headerMap{pairs: slices.Clone(headers)} // the plugin's changes must not reach the caller's slice
	s.reqOpen = true
	vm.invoke(vm.guest.onContextCreate, s.id, uint64(s.id), uint64(vm.rootID))
	r, ok := vm.invoke(vm.guest.onRequestHeaders, s.id, uint64(s.id), uint64(len(headers)), wasmBool(endOfStream))
	switch {
	case !ok && vm.failed != nil, s.phase != phaseRequest:
		// Failed (already answered by fail) or answered by a local reply, which stops the
		// stream whatever the callback returned (Envoy's stopNextIteration).
	case r == 0:
		s.continueRequest()
	}
}

// continueRequest closes the request headers to the plugin (Envoy drops its pointer to them
// once the stream continues, context.cc continueStream) and lets the request go on.
func (s *stream) continueRequest() {
	s.reqOpen = false
	s.phase = phaseUpstream
	s.settle(Outcome{Action: Continue, Headers: s.req.pairs})
}

func (s *stream) responseHeaders(headers [][2]string, endOfStream bool) {
	vm := s.vm
	if s.ended || s.phase != phaseUpstream || vm.failed != nil {
		s.settle(failedOutcome())
		return
	}
	s.phase = phaseResponse
	s.resp = headerMap{pairs: slices.Clone(headers)}
	s.respOpen = true
	r, ok := vm.invoke(vm.guest.onResponseHeaders, s.id, uint64(s.id), uint64(len(headers)), wasmBool(endOfStream))
	if ok && r == 0 && s.phase == phaseResponse {
		s.continueResponse()
	}
}

func (s *stream) continueResponse() {
	s.respOpen = false
	s.phase = phaseDone
	if s.replyBody != nil {
		s.settle(Outcome{Action: Reply, Headers: s.resp.pairs, Body: s.replyBody})
		return
	}
	s.settle(Outcome{Action: Continue, Headers: s.resp.pairs})
}

// apply carries out a deferred action.
func (s *stream) apply(kind actionKind) {
	if s.ended {
		return
	}
	switch kind {
	case actionContinueRequest:
		if s.phase == phaseRequest && s.reply == nil {
			s.continueRequest()
		}
	case actionContinueResponse:
		if s.phase == phaseResponse {
			s.continueResponse()
		}
	case actionLocalReply:
		s.sendReply()
	}
}

// sendReply sends the local reply the plugin asked for. Before the response started, Envoy
// sends it through the filter chain, so the plugin's own response-headers callback sees it
// (source/common/http/filter_manager.cc, sendLocalReplyViaFilterChain, encodeHeaders from the
// first encoder filter); once upstream headers exist it goes directly to the client
// (sendDirectLocalReply). A reply after the response is complete is ignored.
func (s *stream) sendReply() {
	reply := s.reply
	s.reply = nil
	switch s.phase {
	case phaseRequest, phaseUpstream:
		s.reqOpen = false
		s.phase = phaseResponse
		s.resp = headerMap{pairs: reply.Headers}
		s.respOpen = true
		s.replyBody = reply.Body
		if s.replyBody == nil {
			s.replyBody = []byte{}
		}
		vm := s.vm
		r, ok := vm.invoke(vm.guest.onResponseHeaders, s.id, uint64(s.id), uint64(len(reply.Headers)), wasmBool(len(reply.Body) == 0))
		if ok && r == 0 && s.phase == phaseResponse {
			s.continueResponse()
		}
	case phaseResponse:
		s.respOpen = false
		s.phase = phaseDone
		s.settle(*reply)
	}
}

// end runs the end of the stream in Envoy's order: access logging (proxy_on_log) before the
// filters are destroyed (proxy_on_done, then proxy_on_delete whatever on_done returned), as
// ConnectionManagerImpl::doDeferredStreamDestroy and Context::onDestroy do.
func (s *stream) end() {
	vm := s.vm
	if s.ended || s.id == 0 {
		return
	}
	s.ended = true
	s.phase = phaseDone
	vm.invoke(vm.guest.onLog, s.id, uint64(s.id))
	vm.invoke(vm.guest.onDone, s.id, uint64(s.id))
	vm.invoke(vm.guest.onDelete, s.id, uint64(s.id))
	delete(vm.streams, s.id)
	vm.deleted.Add(1)
}

func wasmBool(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
