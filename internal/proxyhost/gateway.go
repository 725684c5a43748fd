package proxyhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Gateway is the HTTP front end Envoy would be: it runs each request through a worker VM's
// filter callbacks and proxies what the plugin lets through to the upstream, running the
// response back through the plugin (its Set-Cookie headers). A connection stays on one worker
// for its life, as Envoy assigns a connection to one worker thread; connections are spread
// over the workers in turn.
//
// With no Host it is the same proxy without any filter (the baseline of the benchmarks); with
// ExtAuthz it asks an HTTP authorization service about each request instead, as Envoy's
// ext_authz filter does (see extauthz.go).
type Gateway struct {
	Host     *Host
	Upstream *url.URL
	ExtAuthz *ExtAuthz
	// HoldLimit bounds how long a request may be held by the plugin (default 15 s): the
	// plugin's own timeouts end a hold sooner; this only catches a plugin that never answers.
	HoldLimit time.Duration
	// Log, when set, receives one line per request and every proxy error.
	Log func(format string, args ...any)

	proxy *httputil.ReverseProxy
	once  sync.Once
	next  atomic.Uint64
}

type ctxKey int

const (
	workerKey ctxKey = iota
	streamKey
)

// Server returns an http.Server for the gateway, with each connection bound to a worker.
func (g *Gateway) Server() *http.Server {
	g.init()
	return &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, workerKey, g.next.Add(1)-1)
		},
	}
}

func (g *Gateway) init() { g.once.Do(g.setUp) }

func (g *Gateway) setUp() {
	if g.HoldLimit == 0 {
		g.HoldLimit = 15 * time.Second
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		ModifyResponse: g.responsePhase,
		Transport:      &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.logf("%s %s: upstream: %v", r.Method, r.URL.RequestURI(), err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// worker picks the VM of the request's connection.
func (g *Gateway) worker(r *http.Request) *VM {
	n, _ := r.Context().Value(workerKey).(uint64)
	vms := g.Host.Workers()
	return vms[n%uint64(len(vms))]
}

// streamState is what the proxy's hooks need of the request's stream.
type streamState struct {
	stream   *Stream
	headers  [][2]string // request headers as the plugin left them
	status   int         // the response sent, for the log
	response [][2]string
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.init()
	target, ok := normalizePath(r)
	if !ok {
		http.Error(w, "escaped slashes are not accepted in paths", http.StatusBadRequest)
		return
	}
	headers := edgeHeaders(r, target)
	switch {
	case g.Host == nil && g.ExtAuthz == nil:
		g.forward(w, r, &streamState{headers: headers})
	case g.ExtAuthz != nil:
		g.ExtAuthz.serve(g, w, r, headers)
	default:
		g.filter(w, r, headers)
	}
}

// filter runs the request phase through the worker's VM, then answers or proxies.
func (g *Gateway) filter(w http.ResponseWriter, r *http.Request, headers [][2]string) {
	ctx, cancel := context.WithTimeout(r.Context(), g.HoldLimit)
	defer cancel()
	endOfStream := r.ContentLength == 0 && len(r.TransferEncoding) == 0
	st, o, err := g.worker(r).Request(ctx, headers, endOfStream)
	if st != nil {
		defer st.End()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		g.logf("%s %s: held longer than %v", r.Method, r.URL.RequestURI(), g.HoldLimit)
		w.WriteHeader(http.StatusServiceUnavailable)
	case err != nil:
		g.logf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
		w.WriteHeader(http.StatusServiceUnavailable)
	case o.Action == Reply:
		writeReply(w, o)
		if g.Log != nil {
			g.Log("%s %s: %d from the plugin%s", r.Method, r.URL.RequestURI(), o.Status(), describe(o.Headers))
		}
	default:
		s := &streamState{stream: st, headers: o.Headers}
		g.forward(w, r, s)
		if g.Log != nil {
			g.Log("%s %s: %d from the upstream%s", r.Method, r.URL.RequestURI(), s.status, describe(s.response))
		}
	}
}

// describe says in the log what a response does with the plugin's cookies and where it
// redirects.
func describe(headers [][2]string) string {
	var parts []string
	if loc := Header(headers, "location"); loc != "" {
		if len(loc) > 60 {
			loc = loc[:60] + "..."
		}
		parts = append(parts, "redirect to "+loc)
	}
	for _, kv := range headers {
		if kv[0] == "set-cookie" {
			name, rest, _ := strings.Cut(kv[1], "=")
			if strings.HasPrefix(rest, ";") || strings.Contains(strings.ToLower(rest), "max-age=0") {
				parts = append(parts, "clears "+name)
			} else {
				parts = append(parts, "sets "+name)
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, s *streamState) {
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), streamKey, s)))
}

// rewrite sends the request upstream with exactly the headers the plugin left.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	s := pr.In.Context().Value(streamKey).(*streamState)
	target, err := url.ParseRequestURI(Header(s.headers, ":path"))
	if err != nil {
		target = pr.In.URL
	}
	pr.Out.URL = &url.URL{Scheme: g.Upstream.Scheme, Host: g.Upstream.Host, Path: target.Path, RawPath: target.RawPath, RawQuery: target.RawQuery}
	pr.Out.Host = Header(s.headers, ":authority")
	pr.Out.Header = ToHeader(s.headers)
}

// responsePhase runs the upstream's response headers through the plugin.
func (g *Gateway) responsePhase(resp *http.Response) error {
	s := resp.Request.Context().Value(streamKey).(*streamState)
	if s.stream == nil {
		s.status = resp.StatusCode
		return nil
	}
	headers := append([][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, HeaderPairs(resp.Header)...)
	ctx, cancel := context.WithTimeout(resp.Request.Context(), g.HoldLimit)
	defer cancel()
	o, err := s.stream.Response(ctx, headers, resp.ContentLength == 0)
	if err != nil {
		return fmt.Errorf("response phase: %w", err)
	}
	s.status, s.response = o.Status(), o.Headers
	if o.Action == Reply {
		resp.Body.Close()
		resp.StatusCode, resp.Header = o.Status(), ToHeader(o.Headers)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(o.Body)), int64(len(o.Body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(o.Body)))
		return nil
	}
	if status, err := strconv.Atoi(Header(o.Headers, ":status")); err == nil {
		resp.StatusCode = status
	}
	length := resp.Header.Values("Content-Length")
	resp.Header = ToHeader(o.Headers)
	if len(length) > 0 {
		resp.Header["Content-Length"] = length
	}
	return nil
}

func (g *Gateway) logf(format string, args ...any) {
	if g.Log != nil {
		g.Log(format, args...)
	}
}

// writeReply sends a local reply; every Set-Cookie goes out as its own header line.
func writeReply(w http.ResponseWriter, o Outcome) {
	h := w.Header()
	for name, values := range ToHeader(o.Headers) {
		h[name] = values
	}
	w.WriteHeader(o.Status())
	_, _ = w.Write(o.Body)
}

// normalizePath does to the request path what Envoy does with normalize_path and
// merge_slashes on (examples/envoy/envoy.yaml turns both on): dot segments resolved,
// repeated slashes merged. A path with escaped slashes is refused, as with
// path_with_escaped_slashes_action REJECT_REQUEST.
func normalizePath(r *http.Request) (string, bool) {
	raw := r.RequestURI
	if !strings.HasPrefix(raw, "/") {
		raw = r.URL.RequestURI()
	}
	p, query, hasQuery := strings.Cut(raw, "?")
	if lower := strings.ToLower(p); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if hasQuery {
		clean += "?" + query
	}
	return clean, true
}

// edgeHeaders is the request as Envoy's connection manager hands it to its filters:
// pseudo-headers first, then the headers with lower-case names, each value its own pair, plus
// what Envoy adds at the edge (use_remote_address): x-forwarded-for with the peer,
// x-forwarded-proto and a fresh x-request-id.
func edgeHeaders(r *http.Request, target string) [][2]string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	out := make([][2]string, 0, len(r.Header)+7)
	out = append(out, [2]string{":method", r.Method}, [2]string{":path", target}, [2]string{":authority", r.Host}, [2]string{":scheme", scheme})
	xff := ""
	if peer, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		xff = peer
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + peer
		}
	}
	for _, kv := range HeaderPairs(r.Header) {
		switch kv[0] {
		case "x-forwarded-for", "x-forwarded-proto", "x-request-id":
			continue
		}
		out = append(out, kv)
	}
	if xff != "" {
		out = append(out, [2]string{"x-forwarded-for", xff})
	}
	return append(out, [2]string{"x-forwarded-proto", scheme}, [2]string{"x-request-id", requestID()})
}

// requestID is a random UUID (version 4), the form of Envoy's x-request-id.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// HeaderPairs flattens a header map with lower-case names in a stable order (Go's maps have
// none).
func HeaderPairs(h http.Header) [][2]string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([][2]string, 0, len(h))
	for _, name := range names {
		lower := strings.ToLower(name)
		for _, v := range h[name] {
			out = append(out, [2]string{lower, v})
		}
	}
	return out
}

// hopByHop are headers about one connection; a proxy never forwards them.
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true, "host": true,
}

// ToHeader rebuilds a header map from pairs, dropping pseudo-headers and per-connection ones.
func ToHeader(pairs [][2]string) http.Header {
	h := make(http.Header, len(pairs))
	for _, kv := range pairs {
		if strings.HasPrefix(kv[0], ":") || hopByHop[kv[0]] {
			continue
		}
		h[http.CanonicalHeaderKey(kv[0])] = append(h[http.CanonicalHeaderKey(kv[0])], kv[1])
	}
	return h
}
