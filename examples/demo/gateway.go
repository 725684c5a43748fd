package main

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
	"time"
)

// holdLimit bounds how long a request may wait for the plugin (held while the IdP's metadata
// loads, or for the token endpoint); the plugin's own timeouts end it sooner.
const holdLimit = 15 * time.Second

// gateway is the embedded stand-in for Envoy: an HTTP server that runs each request through
// the plugin and, when the plugin lets it continue, proxies it to the app with the headers as
// the plugin left them.
type gateway struct {
	plugin *pluginHost
	proxy  *httputil.ReverseProxy
	logf   func(format string, args ...any)
}

// stream is one request's state between the plugin and the proxy.
type stream struct {
	id       uint32
	headers  [][2]string // request headers after the plugin, pseudo-headers included
	upstream int         // the app's status, for the log line
}

type streamKey struct{}

func newGateway(plugin *pluginHost, app *url.URL, logf func(string, ...any)) *gateway {
	g := &gateway{plugin: plugin, logf: logf}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { rewrite(pr, app) },
		ModifyResponse: g.responseHeaders,
		Transport:      &http.Transport{Proxy: nil, DisableCompression: true},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.logf("%s %s: upstream: %v", r.Method, r.URL.RequestURI(), err)
			http.Error(w, "the upstream app cannot be reached", http.StatusBadGateway)
		},
	}
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target, ok := normalizePath(r)
	if !ok {
		http.Error(w, "escaped slashes are not accepted in paths", http.StatusBadRequest)
		return
	}
	headers := requestHeaders(r, target)
	s := &stream{}
	endOfStream := r.ContentLength == 0 && len(r.TransferEncoding) == 0
	err := g.plugin.call(func() {
		s.id = g.plugin.emu.InitializeHttpContext()
		g.plugin.emu.CallOnRequestHeaders(s.id, headers, endOfStream)
	})
	if s.id != 0 {
		// Ends the stream in the plugin however the request ends, as Envoy does.
		defer func() {
			if err := g.plugin.call(func() { g.plugin.emu.CompleteHttpContext(s.id) }); err != nil {
				g.logf("completing stream %d: %v", s.id, err)
			}
		}()
	}
	if err == nil {
		err = g.plugin.settle(s.id, time.Now().Add(holdLimit))
	}
	var reply *localReply
	if err == nil {
		err = g.plugin.call(func() {
			if reply = g.plugin.sentReply(s.id); reply == nil {
				s.headers = clonePairs(g.plugin.emu.GetCurrentRequestHeaders(s.id))
			}
		})
	}
	switch {
	case errors.Is(err, errHeldTooLong):
		g.logf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
		http.Error(w, "authentication timed out", http.StatusServiceUnavailable)
	case err != nil:
		g.logf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
		http.Error(w, "the authentication plugin failed", http.StatusInternalServerError)
	case reply != nil:
		writeReply(w, reply)
		g.logf("%s %s: %d from the plugin%s", r.Method, r.URL.RequestURI(), reply.status, describe(reply))
	default:
		g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), streamKey{}, s)))
		g.logf("%s %s: %d from the app", r.Method, r.URL.RequestURI(), s.upstream)
	}
}

// normalizePath does to the request path what examples/envoy/envoy.yaml has Envoy do
// (normalize_path, merge_slashes), so skip rules see the same path behind either gateway: dot
// segments resolved, repeated slashes merged. Escaped slashes are refused (Envoy would
// unescape them and redirect).
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

// requestHeaders is the request as Envoy's connection manager hands it to the filter:
// pseudo-headers first, then the headers with lower-case names, each value its own pair, plus
// what Envoy adds at the edge (use_remote_address): x-forwarded-for with the peer,
// x-forwarded-proto and a fresh x-request-id.
func requestHeaders(r *http.Request, target string) [][2]string {
	out := [][2]string{{":method", r.Method}, {":path", target}, {":authority", r.Host}, {":scheme", "http"}}
	h := r.Header.Clone()
	if peer, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			peer = strings.Join(prior, ", ") + ", " + peer
		}
		h.Set("X-Forwarded-For", peer)
	}
	h.Set("X-Forwarded-Proto", "http")
	h.Set("X-Request-Id", requestID())
	return append(out, headerPairs(h)...)
}

// requestID is a random UUID (version 4), the form of Envoy's x-request-id.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// headerPairs flattens a header map in a stable order (Go's maps have none).
func headerPairs(h http.Header) [][2]string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	var out [][2]string
	for _, name := range names {
		for _, v := range h[name] {
			out = append(out, [2]string{strings.ToLower(name), v})
		}
	}
	return out
}

// hopByHop are headers about one connection; a proxy never forwards them.
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true, "host": true,
}

// toHeader rebuilds a header map from pairs, dropping pseudo-headers and per-connection ones.
func toHeader(pairs [][2]string) http.Header {
	h := http.Header{}
	for _, kv := range pairs {
		if strings.HasPrefix(kv[0], ":") || hopByHop[kv[0]] {
			continue
		}
		h.Add(kv[0], kv[1])
	}
	return h
}

// rewrite sends the request on with exactly the headers the plugin left (its identity headers
// added, client-sent copies and its own cookies removed).
func rewrite(pr *httputil.ProxyRequest, app *url.URL) {
	s := pr.In.Context().Value(streamKey{}).(*stream)
	target, err := url.ParseRequestURI(headerValue(s.headers, ":path"))
	if err != nil {
		target = pr.In.URL
	}
	pr.Out.URL = &url.URL{Scheme: app.Scheme, Host: app.Host, Path: target.Path, RawPath: target.RawPath, RawQuery: target.RawQuery}
	pr.Out.Host = headerValue(s.headers, ":authority")
	pr.Out.Header = toHeader(s.headers)
}

// responseHeaders runs the plugin's response phase on the app's answer, so the headers the
// plugin adds there (a renewed session's Set-Cookie) reach the browser. One limit of the SDK's
// emulator shows here: it appends a value added under a name already present to the existing
// value instead of adding a header line, so a response phase that adds two Set-Cookie headers
// yields one broken header. Envoy adds separate lines.
func (g *gateway) responseHeaders(resp *http.Response) error {
	s := resp.Request.Context().Value(streamKey{}).(*stream)
	s.upstream = resp.StatusCode
	headers := append([][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, headerPairs(resp.Header)...)
	err := g.plugin.call(func() { g.plugin.emu.CallOnResponseHeaders(s.id, headers, resp.ContentLength == 0) })
	if err == nil {
		err = g.plugin.settle(s.id, time.Now().Add(holdLimit))
	}
	var reply *localReply
	var after [][2]string
	if err == nil {
		err = g.plugin.call(func() {
			if reply = g.plugin.sentReply(s.id); reply == nil {
				after = clonePairs(g.plugin.emu.GetCurrentResponseHeaders(s.id))
			}
		})
	}
	if err != nil {
		return fmt.Errorf("response phase: %w", err)
	}
	if reply != nil {
		resp.Body.Close()
		resp.StatusCode, resp.Header = reply.status, toHeader(reply.headers)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(reply.body)), int64(len(reply.body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(reply.body)))
		return nil
	}
	if status, err := strconv.Atoi(headerValue(after, ":status")); err == nil {
		resp.StatusCode = status
	}
	length := resp.Header.Values("Content-Length")
	resp.Header = toHeader(after)
	resp.Header["Content-Length"] = length
	return nil
}

// writeReply sends a local response. Envoy frames it itself, so a length the plugin gave is
// not trusted; every Set-Cookie goes out as its own header line.
func writeReply(w http.ResponseWriter, reply *localReply) {
	h := w.Header()
	for name, values := range toHeader(reply.headers) {
		h[name] = values
	}
	w.WriteHeader(reply.status)
	_, _ = w.Write(reply.body)
}

// describe says in the log what a local reply did.
func describe(reply *localReply) string {
	var parts []string
	if loc := headerValue(reply.headers, "location"); loc != "" {
		if len(loc) > 60 {
			loc = loc[:60] + "..."
		}
		parts = append(parts, "redirect to "+loc)
	}
	for _, kv := range reply.headers {
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
