package proxyhost

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	// sessionCookieName is the plugin's default session cookie with cookie_secure on.
	sessionCookieName = "__Host-oidc_session"
	testClientID      = "app"
	testSecret        = "s3cret"
	testCookieKey     = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// pluginConfig is a configuration for a FakeIdP behind cluster "idp"; extra is spliced in as
// JSON members.
func pluginConfig(issuer, extra string) string {
	c := `{"issuer":"` + issuer + `","cluster":"idp","client_id":"` + testClientID + `","client_secret":"` + testSecret +
		`","cookie_secret":"` + testCookieKey + `","skip_paths":[{"exact":"/healthz"}],"scopes":["openid","email","offline_access"]`
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

// module reads a compiled module from the repository root (see wasmhost.ReadModule).
func module(t testing.TB, m wasmhost.Module) []byte {
	t.Helper()
	return wasmhost.ReadModule(t, "../../"+m.Path)
}

// rig is a Host running a compiled module against a FakeIdP.
type rig struct {
	t    testing.TB
	idp  *testidp.FakeIdP
	host *Host
	logs *logLines
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(worker int, level LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s worker %d %s: %s", time.Now().Format("15:04:05.000"), worker, level, msg))
}

func (l *logLines) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// newRig starts a FakeIdP and a Host with workers VMs whose plugin calls it through "idp".
func newRig(t testing.TB, m wasmhost.Module, workers int, opt testidp.FakeIdPOptions, extra string) *rig {
	t.Helper()
	wasm := module(t, m)
	opt.ClientID, opt.ClientSecret = testClientID, testSecret
	idp, err := testidp.StartFakeIdP(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	logs := &logLines{}
	h, err := New(context.Background(), Config{
		Wasm: wasm, PluginConfig: []byte(pluginConfig(idp.Issuer, extra)), Workers: workers,
		Clusters: map[string]string{"idp": idp.Addr}, Log: logs.add, LogLevel: LogDebug,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			logs.mu.Lock()
			defer logs.mu.Unlock()
			t.Logf("the plugin's log:\n%s", strings.Join(logs.lines, "\n"))
		}
	})
	r := &rig{t: t, idp: idp, host: h, logs: logs}
	r.waitForMetadata()
	return r
}

// waitForMetadata waits until every worker has the IdP's metadata, fetched or adopted from
// shared data.
func (r *rig) waitForMetadata() {
	r.t.Helper()
	loaded := func() uint64 {
		return r.host.Counter("oidc_wasm.idp_jwks_fetched") + r.host.Counter("oidc_wasm.idp_metadata_shared")
	}
	for deadline := time.Now().Add(10 * time.Second); loaded() < uint64(len(r.host.Workers())); {
		if time.Now().After(deadline) {
			r.t.Fatalf("the workers did not load the IdP's metadata: %d of %d", loaded(), len(r.host.Workers()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exchange is one request's full walk: the request phase, and for a request let through the
// response phase with upstream's answer (status 200 unless given).
type exchange struct {
	request  Outcome // what the plugin did with the request
	response Outcome // the response phase, for a request let through
}

// do runs one request on a worker, as the gateway does, and ends the stream.
func (r *rig) do(worker int, headers [][2]string, upstream ...[2]string) exchange {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, o, err := r.host.Workers()[worker].Request(ctx, headers, true)
	if err != nil {
		r.t.Fatalf("request: %v", err)
	}
	defer st.End()
	ex := exchange{request: o}
	if o.Action == Continue {
		resp := append([][2]string{{":status", "200"}}, upstream...)
		if ex.response, err = st.Response(ctx, resp, false); err != nil {
			r.t.Fatalf("response: %v", err)
		}
	}
	return ex
}

// login logs a new user in: the redirect on one worker, the IdP, the callback on another. It
// returns the session's Cookie header value.
func (r *rig) login(first, second int) string {
	r.t.Helper()
	ex := r.do(first, wasmhost.BrowserGet("/start"))
	loc := Header(ex.request.Headers, "location")
	if ex.request.Status() != 302 || !strings.HasPrefix(loc, r.idp.Issuer) {
		r.t.Fatalf("want a redirect to the IdP, got %+v", ex.request)
	}
	back, err := r.idp.Authorize(loc)
	if err != nil {
		r.t.Fatal(err)
	}
	u, _ := url.Parse(back)
	state := StateCookie(ex.request.Headers, sessionCookieName)
	cb := r.do(second, wasmhost.BrowserGet(u.RequestURI(), [2]string{"cookie", state}))
	if cb.request.Status() != 302 {
		r.t.Fatalf("callback: want 302, got %d %s", cb.request.Status(), cb.request.Body)
	}
	return sessionCookie(cb.request.Headers)
}

// sessionCookie is the Cookie header a browser sends after these Set-Cookie headers.
func sessionCookie(headers [][2]string) string {
	var parts []string
	for name, v := range SetCookies(headers) {
		if strings.HasPrefix(name, sessionCookieName) && !strings.HasPrefix(name, sessionCookieName+"_state") && v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	return strings.Join(parts, "; ")
}
