package testidp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// forwardTransport carries every forwarded call. Like Envoy's async client it uses no proxy,
// does not ask for compression (so bodies arrive as the server sent them) and follows no
// redirects.
var forwardTransport = &http.Transport{Proxy: nil, DisableCompression: true}

var forwardClient = &http.Client{
	Transport:     forwardTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Forward performs the call a plugin hands to DispatchHttpCall — pseudo-headers ":method",
// ":path", ":authority", ":scheme", ordinary headers and body — against a real server at
// clusterAddr (host:port, or a URL of which only scheme and host count), the way Envoy sends it to the
// cluster: the connection goes to the cluster's address and ":authority" becomes the Host header.
// It returns the response as Proxy-Wasm presents it: ":status" first, then the headers with
// lower-cased names (sorted; repeated values as separate pairs), and the body. A transport error
// or timeout returns (nil, nil, err); the caller then simulates Envoy's failed callout, a
// response with no headers and no body.
func Forward(clusterAddr string, headers [][2]string, body []byte, timeout time.Duration) ([][2]string, []byte, error) {
	scheme, host := "http", clusterAddr
	if strings.Contains(clusterAddr, "://") {
		u, err := url.Parse(clusterAddr)
		if err != nil || u.Host == "" {
			return nil, nil, fmt.Errorf("forward: bad cluster address %q", clusterAddr)
		}
		scheme, host = u.Scheme, u.Host
	}
	var method, path, authority string
	for _, h := range headers {
		switch strings.ToLower(h[0]) {
		case ":method":
			method = h[1]
		case ":path":
			path = h[1]
		case ":authority":
			authority = h[1]
		}
	}
	if method == "" || path == "" || !strings.HasPrefix(path, "/") {
		return nil, nil, fmt.Errorf("forward to %s: need :method and an absolute :path, got %q %q", clusterAddr, method, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+host+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("forward %s %s to %s: %w", method, path, clusterAddr, err)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	// Go would otherwise add its own User-Agent, which Envoy does not.
	req.Header["User-Agent"] = []string{""}
	for _, h := range headers {
		name := strings.ToLower(h[0])
		switch {
		case strings.HasPrefix(name, ":"):
		case name == "content-length":
			// Set from the body: a wrong value would be a bug Envoy does not forward either.
		case name == "host":
			authority = h[1]
		default:
			req.Header.Add(name, h[1])
		}
	}
	req.Host = authority
	resp, err := forwardClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("forward %s %s to %s: %w", method, path, clusterAddr, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("forward %s %s to %s: reading the response: %w", method, path, clusterAddr, err)
	}
	return responseHeaders(resp), respBody, nil
}

func responseHeaders(resp *http.Response) [][2]string {
	out := [][2]string{{":status", fmt.Sprint(resp.StatusCode)}}
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range resp.Header[name] {
			out = append(out, [2]string{strings.ToLower(name), v})
		}
	}
	// Go moves Content-Length out of the header map when it is the only framing; Envoy passes it.
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" {
		out = append(out, [2]string{"content-length", fmt.Sprint(resp.ContentLength)})
	}
	return out
}
