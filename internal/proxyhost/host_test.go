package proxyhost

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A login whose redirect, callback and later requests land on different workers works in
// both modules: every worker loads the IdP's metadata (one fetches, the others may adopt it
// from shared data), sessions open anywhere, the identity headers are set, a client's forged
// copy and the plugin's cookie never reach upstream. The FakeIdP dates tokens from the real
// clock, which the module must see too.
func TestLoginAcrossWorkers(t *testing.T) {
	for _, m := range wasmhost.Modules {
		t.Run(m.Name, func(t *testing.T) {
			r := newRig(t, m, 2, testidp.FakeIdPOptions{}, "")
			cookie := r.login(0, 1)
			for worker := 0; worker < 2; worker++ {
				ex := r.do(worker, wasmhost.BrowserGet("/page?x=1", [2]string{"cookie", cookie + "; theme=dark"}, [2]string{"x-auth-request-email", "mallory@evil.example"}))
				if ex.request.Action != Continue {
					t.Fatalf("worker %d: want the request let through, got %d %s", worker, ex.request.Status(), ex.request.Body)
				}
				up := ex.request.Headers
				if email := Header(up, "x-auth-request-email"); !strings.HasSuffix(email, "@example.com") || strings.Contains(email, "mallory") {
					t.Errorf("worker %d: x-auth-request-email upstream = %q", worker, email)
				}
				if c := Header(up, "cookie"); c != "theme=dark" {
					t.Errorf("worker %d: cookie upstream = %q, want only the app's own", worker, c)
				}
			}
			if got := r.host.Counter("oidc_wasm.session_valid"); got != 2 {
				t.Errorf("session_valid = %d, want 2 (one per worker, summed process-wide)", got)
			}
		})
	}
}

// The module sees real randomness: two hosts started alike send different state, nonce and
// PKCE challenge (the SDK's emulator sends the same ones on every run).
func TestRandomnessDiffersBetweenRuns(t *testing.T) {
	m := wasmhost.Modules[0]
	seen := map[string]bool{}
	for run := 0; run < 2; run++ {
		r := newRig(t, m, 1, testidp.FakeIdPOptions{}, "")
		loc, err := url.Parse(Header(r.do(0, wasmhost.BrowserGet("/")).request.Headers, "location"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"state", "nonce", "code_challenge"} {
			v := loc.Query().Get(p)
			if v == "" || seen[v] {
				t.Errorf("run %d: %s %q is empty or repeats an earlier run's", run, p, v)
			}
			seen[v] = true
		}
	}
}

// Envoy answers a dispatch to a cluster it does not have with BadArgument: nothing is sent,
// the plugin logs the status and fails closed (503).
func TestUnknownClusterIsBadArgument(t *testing.T) {
	wasm := module(t, wasmhost.Modules[0])
	logs := &logLines{}
	h, err := New(context.Background(), Config{
		Wasm: wasm, PluginConfig: []byte(pluginConfig("http://127.0.0.1:1", "")), Clusters: map[string]string{"other": "127.0.0.1:1"},
		Log: logs.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for deadline := time.Now().Add(5 * time.Second); h.Counter("oidc_wasm.idp_fetch_failed") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the plugin never tried to fetch its metadata")
		}
	}
	if !logs.contains("bad argument") {
		t.Errorf("the plugin's log does not show BadArgument: %q", logs.lines)
	}
	st, o, err := h.Workers()[0].Request(context.Background(), wasmhost.BrowserGet("/"), true)
	if err != nil {
		t.Fatal(err)
	}
	st.End()
	if o.Status() != 503 {
		t.Errorf("a request while the IdP cannot be called: got %d, want 503", o.Status())
	}
}

// Each worker has its own ticker (the plugin asks for 250 ms), and every stream ends with
// proxy_on_delete, whichever way it ended.
func TestTicksAndStreamEndsPerWorker(t *testing.T) {
	r := newRig(t, wasmhost.Modules[0], 2, testidp.FakeIdPOptions{}, "")
	requests := [][][2]string{wasmhost.BrowserGet("/healthz"), wasmhost.BrowserGet("/page"), wasmhost.APIGet("/api"), wasmhost.APIGet("/api", [2]string{"authorization", "Bearer not-a-jwt"})}
	for i := 0; i < 40; i++ {
		r.do(i%2, requests[i%len(requests)])
	}
	time.Sleep(700 * time.Millisecond)
	for _, vm := range r.host.Workers() {
		s := vm.Stats()
		for deadline := time.Now().Add(2 * time.Second); s.Deleted != s.Started && time.Now().Before(deadline); s = vm.Stats() {
			time.Sleep(5 * time.Millisecond) // End does not wait for the VM
		}
		if s.Started != 20 || s.Deleted != s.Started {
			t.Errorf("worker %d: %d streams started, %d deleted; want 20 and 20", vm.Index(), s.Started, s.Deleted)
		}
		if s.Ticks < 2 {
			t.Errorf("worker %d ticked %d times in over 700 ms", vm.Index(), s.Ticks)
		}
	}
}

// A session whose tokens have expired is refreshed once, its renewed cookie set on the
// upstream's response (each Set-Cookie an entry of its own), and the request let through.
func TestRefreshSetsCookieOnResponse(t *testing.T) {
	r := newRig(t, wasmhost.Modules[0], 1, testidp.FakeIdPOptions{IDTokenTTL: -30 * time.Second}, "")
	cookie := r.login(0, 0)
	ex := r.do(0, wasmhost.BrowserGet("/page", [2]string{"cookie", cookie}), [2]string{"set-cookie", "app=1"})
	if ex.request.Action != Continue {
		t.Fatalf("want the request let through after the refresh, got %d %s", ex.request.Status(), ex.request.Body)
	}
	sets := SetCookies(ex.response.Headers)
	if sets["app"] != "1" || sets[sessionCookieName] == "" {
		t.Errorf("response Set-Cookie entries = %v, want the app's and the renewed session's", ex.response.Headers)
	}
	if got := r.host.Counter("oidc_wasm.refresh_succeeded"); got != 1 {
		t.Errorf("refresh_succeeded = %d", got)
	}
	for token, n := range r.idp.Redemptions() {
		if n != 1 {
			t.Errorf("refresh token %s… redeemed %d times", token[:8], n)
		}
	}
}

// Shared data is one store for every VM, with compare-and-swap: concurrent writers that
// read, add one and write back with the CAS they read never lose an update.
func TestSharedDataCompareAndSwap(t *testing.T) {
	var s sharedData
	if err := s.set("n", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				v, cas, _ := s.get("n")
				n := 0
				fmt.Sscan(string(v), &n)
				if s.set("n", []byte(fmt.Sprint(n+1)), cas) == nil {
					i++
				}
			}
		}()
	}
	wg.Wait()
	if v, _, _ := s.get("n"); string(v) != fmt.Sprint(writers*each) {
		t.Errorf("after %d CAS increments the value is %s", writers*each, v)
	}
	for _, tc := range []struct {
		name string
		cas  uint32
		want error
	}{
		{"CAS 0 writes unconditionally", 0, nil},
		{"a stale CAS is refused", 1, errCASMismatch},
	} {
		if err := s.set("n", []byte("x"), tc.cas); err != tc.want {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
}

// The host works on its own copy of the headers a request or response brings: what the plugin
// removes or adds must not reach the caller's slice, which a caller may send again (the
// plugin removes its cookie from the request on its way upstream).
func TestRequestHeadersAreCopied(t *testing.T) {
	r := newRig(t, wasmhost.Modules[0], 1, testidp.FakeIdPOptions{}, "")
	headers := wasmhost.BrowserGet("/page", [2]string{"cookie", r.login(0, 0)})
	sent := slices.Clone(headers)
	for i := 0; i < 2; i++ {
		if ex := r.do(0, headers); ex.request.Action != Continue {
			t.Fatalf("request %d with the same headers: got %d, want it let through", i, ex.request.Status())
		}
	}
	if !reflect.DeepEqual(headers, sent) {
		t.Errorf("the caller's headers changed: %v", headers)
	}
}
