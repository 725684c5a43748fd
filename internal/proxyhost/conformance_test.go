package proxyhost

import (
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// The same scenarios run through the SDK's emulator (proxytest, as the plugin's own tests
// use it) and through this host, with the same compiled module, each against its own FakeIdP
// (the emulator's dated from its fixed 2022 clock). What the plugin decides must agree:
// continue or reply, the status, where a redirect goes, which cookies are set or cleared, the
// identity headers and cookies the upstream gets. (The plugin rewrites response headers as a
// whole, so the emulator's joining of a repeated Set-Cookie, DIFFERENCES.md, does not show.)
func TestConformanceWithEmulator(t *testing.T) {
	m := wasmhost.Modules[0]
	for _, suite := range []struct {
		name string
		ttl  time.Duration
		run  func(t *testing.T, d driver) []observation
	}{
		{"sessions and tokens", time.Hour, basicScenarios},
		{"refresh", -30 * time.Second, refreshScenario},
	} {
		t.Run(suite.name, func(t *testing.T) {
			host := suite.run(t, newHostDriver(t, m, suite.ttl))
			emu := suite.run(t, newEmuDriver(t, m, suite.ttl))
			if len(host) != len(emu) {
				t.Fatalf("%d observations from the host, %d from the emulator", len(host), len(emu))
			}
			for i := range host {
				h, e := host[i], emu[i]
				if !reflect.DeepEqual(h, e) {
					t.Errorf("%s:\n host:     %+v\n emulator: %+v", h.step, h, e)
				}
			}
		})
	}
}

// observation is what a request's walk shows, without the values that are random per run.
type observation struct {
	step       string
	reply      int // 0: let through
	location   string
	setCookies []string // "name set" or "name cleared", in order
	upstream   map[string]string
}

// driver runs one request through a host; upstream is the upstream's response headers after
// ":status" for a request let through.
type driver interface {
	do(step string, headers [][2]string, upstream ...[2]string) observation
	authorize(authURL string) string // the IdP's redirect back (a relative URL)
	token(aud, sub string) string
	lastReply() Outcome // the local reply of the last request
}

// observe normalizes a request phase (and, for a request let through, the response phase).
func observe(step string, request Outcome, response [][2]string) observation {
	o := observation{step: step, upstream: map[string]string{}}
	headers := response
	if request.Action == Reply {
		o.reply, headers = request.Status(), request.Headers
	} else {
		for _, name := range []string{"x-auth-request-user", "x-auth-request-email", "cookie"} {
			o.upstream[name] = strings.Join(values(request.Headers, name), " | ")
		}
		// The tokens differ between the runs; how many reach upstream does not.
		o.upstream["authorization"] = strings.Repeat("Bearer … ", len(values(request.Headers, "authorization")))
	}
	if loc := Header(headers, "location"); loc != "" {
		u, _ := url.Parse(loc)
		keys := []string{}
		for k := range u.Query() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o.location = u.Path + "?" + strings.Join(keys, ",")
	}
	for _, v := range values(headers, "set-cookie") {
		name, rest, _ := strings.Cut(v, "=")
		if base, _, ok := strings.Cut(name, "_state_"); ok {
			name = base + "_state_…" // each login's state cookie has a random name
		}
		state := "set"
		if strings.HasPrefix(rest, ";") || strings.Contains(strings.ToLower(rest), "max-age=0") {
			state = "cleared"
		}
		o.setCookies = append(o.setCookies, name+" "+state)
	}
	return o
}

func values(pairs [][2]string, name string) []string {
	var out []string
	for _, kv := range pairs {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

func basicScenarios(t *testing.T, d driver) []observation {
	out := []observation{
		d.do("skip path, forged identity header", wasmhost.BrowserGet("/healthz", [2]string{"x-auth-request-email", "mallory@evil.example"})),
		d.do("API call without a session", wasmhost.APIGet("/api")),
	}
	start, session := login(t, d)
	return append(out, start[0], start[1],
		d.do("session", wasmhost.BrowserGet("/reports?x=1", [2]string{"cookie", session + "; theme=dark"}, [2]string{"x-auth-request-user", "admin"})),
		d.do("bearer token", wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + d.token(testClientID, "robot")})),
		d.do("forged bearer token", wasmhost.APIGet("/api", [2]string{"authorization", "Bearer eyJhbGciOiJub25lIn0.e30."})),
		d.do("logout", wasmhost.BrowserGet("/oauth2/logout", [2]string{"cookie", session})),
	)
}

// login observes a page load without a session and the callback after the IdP, and returns
// the session's Cookie header value.
func login(t *testing.T, d driver) ([2]observation, string) {
	var obs [2]observation
	obs[0] = d.do("page load without a session", wasmhost.BrowserGet("/reports?x=1"))
	redirect := d.lastReply()
	back := d.authorize(Header(redirect.Headers, "location"))
	state := StateCookie(redirect.Headers, sessionCookieName)
	obs[1] = d.do("callback", wasmhost.BrowserGet(back, [2]string{"cookie", state}))
	session := sessionCookie(d.lastReply().Headers)
	if session == "" {
		t.Fatalf("no session after the callback: %+v", obs[1])
	}
	return obs, session
}

func refreshScenario(t *testing.T, d driver) []observation {
	_, session := login(t, d)
	return []observation{d.do("refreshed session, upstream sets a cookie too", wasmhost.BrowserGet("/page", [2]string{"cookie", session}), [2]string{"set-cookie", "app=1"})}
}

// hostDriver runs requests through this host.
type hostDriver struct {
	r    *rig
	last Outcome
}

func newHostDriver(t *testing.T, m wasmhost.Module, ttl time.Duration) *hostDriver {
	return &hostDriver{r: newRig(t, m, 1, testidp.FakeIdPOptions{IDTokenTTL: ttl}, "")}
}

func (d *hostDriver) do(step string, headers [][2]string, upstream ...[2]string) observation {
	ex := d.r.do(0, headers, upstream...)
	d.last = ex.request
	return observe(step, ex.request, ex.response.Headers)
}

func (d *hostDriver) lastReply() Outcome { return d.last }

func (d *hostDriver) authorize(authURL string) string { return relative(d.r.t, d.r.idp, authURL) }

func (d *hostDriver) token(aud, sub string) string { return mustToken(d.r.t, d.r.idp, aud, sub) }

func relative(t testing.TB, idp *testidp.FakeIdP, authURL string) string {
	t.Helper()
	back, err := idp.Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	return u.RequestURI()
}

func mustToken(t testing.TB, idp *testidp.FakeIdP, aud, sub string) string {
	t.Helper()
	tok, err := idp.Token(aud, sub, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
