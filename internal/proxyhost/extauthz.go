package proxyhost

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ExtAuthz is Envoy's HTTP ext_authz filter as Istio's CUSTOM action configures it
// (meshConfig extensionProviders envoyExtAuthzHttp; Kubeflow points it at oauth2-proxy): each
// request is checked by a GET to URL carrying RequestHeaders; a 2xx answer lets it through
// with UpstreamHeaders copied from the answer, anything else is sent to the client with
// DownstreamHeaders and the answer's body. It is here so the benchmark can compare the plugin
// with that arrangement on the same front end and upstream.
type ExtAuthz struct {
	URL               string
	RequestHeaders    []string // lower-case names; default cookie, authorization
	UpstreamHeaders   []string // default authorization and x-auth-request-{user,email,groups}
	DownstreamHeaders []string // default content-type, set-cookie
	Timeout           time.Duration

	client *http.Client
	once   sync.Once
}

func (a *ExtAuthz) init() { a.once.Do(a.setUp) }

func (a *ExtAuthz) setUp() {
	if a.RequestHeaders == nil {
		a.RequestHeaders = []string{"cookie", "authorization"}
	}
	if a.UpstreamHeaders == nil {
		a.UpstreamHeaders = []string{"authorization", "x-auth-request-user", "x-auth-request-email", "x-auth-request-groups"}
	}
	if a.DownstreamHeaders == nil {
		a.DownstreamHeaders = []string{"content-type", "set-cookie"}
	}
	if a.Timeout == 0 {
		a.Timeout = 5 * time.Second
	}
	a.client = &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
		Timeout:       a.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (a *ExtAuthz) serve(g *Gateway, w http.ResponseWriter, r *http.Request, headers [][2]string) {
	a.init()
	check, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.URL, nil)
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	for _, kv := range headers {
		if slices.Contains(a.RequestHeaders, kv[0]) {
			check.Header.Add(kv[0], kv[1])
		}
	}
	check.Header.Set("X-Forwarded-Uri", Header(headers, ":path"))
	resp, err := a.client.Do(check)
	if err != nil {
		// Envoy's ext_authz denies with 403 when the service cannot be reached
		// (failure_mode_allow off).
		g.logf("%s %s: ext_authz: %v", r.Method, r.URL.RequestURI(), err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		for _, name := range a.DownstreamHeaders {
			for _, v := range resp.Header.Values(name) {
				w.Header().Add(name, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	for _, name := range a.UpstreamHeaders {
		if values := resp.Header.Values(name); len(values) > 0 {
			headers = dropHeader(headers, name)
			for _, v := range values {
				headers = append(headers, [2]string{name, v})
			}
		}
	}
	g.forward(w, r, &streamState{headers: headers})
}

func dropHeader(pairs [][2]string, name string) [][2]string {
	out := pairs[:0]
	for _, kv := range pairs {
		if !strings.EqualFold(kv[0], name) {
			out = append(out, kv)
		}
	}
	return out
}
