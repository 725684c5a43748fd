package proxyhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// callAnswer is what proxy_on_http_call_response delivers: the response's headers (":status"
// first) and body, or nothing at all for a call that failed after its response began.
type callAnswer struct {
	headers headerMap
	body    []byte
}

// hostHTTPCall dispatches an HTTP call to a cluster, as Envoy's Context::httpCall does
// (source/extensions/common/wasm/context.cc): an unknown cluster, or headers without
// ":method", ":path" or ":authority", is BadArgument and nothing is sent; otherwise the call
// gets a token, unique among the root context's calls in flight, and its answer is delivered
// later on this VM's loop to the root context, whichever context dispatched it
// (proxy_http_call acts on the root context, proxy-wasm-cpp-host src/exports.cc).
func hostHTTPCall(vm *VM, p []uint64) status {
	cluster, ok := vm.read(p[0], p[1])
	if !ok {
		return statusInvalidMemoryAccess
	}
	rawHeaders, ok := vm.read(p[2], p[3])
	if !ok {
		return statusInvalidMemoryAccess
	}
	rawBody, ok := vm.read(p[4], p[5])
	if !ok {
		return statusInvalidMemoryAccess
	}
	if _, ok := vm.read(p[6], p[7]); !ok {
		return statusInvalidMemoryAccess
	}
	timeout := time.Duration(uint32(p[8])) * time.Millisecond
	headers, err := unmarshalPairs(rawHeaders)
	if err != nil {
		return statusBadArgument
	}
	addr, known := vm.host.cfg.Clusters[string(cluster)]
	if !known {
		vm.host.logf(vm.index, LogWarn, "proxy_http_call to unknown cluster %q: BadArgument", cluster)
		return statusBadArgument
	}
	if Header(headers, ":method") == "" || Header(headers, ":path") == "" || Header(headers, ":authority") == "" {
		return statusBadArgument
	}
	if !vm.mem.WriteUint32Le(uint32(p[9]), 0) {
		return statusInvalidMemoryAccess
	}
	token := vm.nextToken
	for token == 0 || vm.inflight[token] {
		token++
	}
	vm.nextToken = token + 1
	vm.inflight[token] = true
	vm.mem.WriteUint32Le(uint32(p[9]), token)
	body := append([]byte(nil), rawBody...)
	go func() {
		answer := vm.host.calls.do(addr, headers, body, timeout)
		vm.post(func() { vm.deliver(token, answer) })
	}()
	return statusOK
}

// deliver runs proxy_on_http_call_response for a finished call, on the root context.
func (vm *VM) deliver(token uint32, answer callAnswer) {
	delete(vm.inflight, token)
	vm.answer = &answer
	defer func() { vm.answer = nil }()
	vm.invoke(vm.guest.onHTTPCallResponse, vm.rootID,
		uint64(vm.rootID), uint64(token), uint64(len(answer.headers.pairs)), uint64(len(answer.body)), 0)
}

// Envoy's own answers to a dispatched call that got no response. Envoy's async client runs
// the router, whose local replies reach the caller as ordinary responses
// (source/common/http/async_client_impl.cc; source/common/router/router.cc, onUpstreamTimeout
// and onUpstreamReset): a timeout is a 504, a connection that fails before response headers a
// 503. Only a reset after the response began is a failure without headers
// (Context::onHttpCallFailure).
const (
	timeoutBody = "upstream request timeout"
	resetBody   = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)

// callClient performs dispatched calls over HTTP/1.1 with keep-alive, like a cluster's
// connection pool. It never follows redirects.
type callClient struct {
	transport *http.Transport
}

func newCallClient() *callClient {
	return &callClient{transport: &http.Transport{
		Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
	}}
}

func (c *callClient) close() { c.transport.CloseIdleConnections() }

func (c *callClient) do(addr string, headers [][2]string, body []byte, timeout time.Duration) callAnswer {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := buildCall(ctx, addr, headers, body)
	if err != nil {
		return localAnswer(503, resetBody)
	}
	resp, err := c.transport.RoundTrip(req)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return localAnswer(504, timeoutBody)
	case err != nil:
		return localAnswer(503, resetBody)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return callAnswer{}
	}
	return callAnswer{headers: responsePairs(resp), body: data}
}

// buildCall turns the plugin's headers into a request to the cluster's address:
// ":authority" becomes Host, the other pseudo-headers the request line.
func buildCall(ctx context.Context, addr string, headers [][2]string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, Header(headers, ":method"), "http://"+addr+Header(headers, ":path"), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the call: %w", err)
	}
	req.Host = Header(headers, ":authority")
	for _, kv := range headers {
		if !strings.HasPrefix(kv[0], ":") && !strings.EqualFold(kv[0], "host") {
			req.Header.Add(kv[0], kv[1])
		}
	}
	return req, nil
}

// responsePairs lists a response's headers as Envoy hands them over: ":status" first, then
// every value as its own entry, names lower-cased (in a fixed order; Go's map has none).
func responsePairs(resp *http.Response) headerMap {
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	m := headerMap{pairs: [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}}
	for _, name := range names {
		for _, v := range resp.Header[name] {
			m.add(name, v)
		}
	}
	if resp.ContentLength >= 0 && !m.has("content-length") {
		m.add("content-length", strconv.FormatInt(resp.ContentLength, 10))
	}
	return m
}

func localAnswer(code int, body string) callAnswer {
	return callAnswer{
		headers: headerMap{pairs: [][2]string{
			{":status", strconv.Itoa(code)}, {"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"},
		}},
		body: []byte(body),
	}
}
