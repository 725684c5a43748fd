package main

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// hostTarget is one compiled module in the project's Proxy-Wasm host, one worker, its IdP
// reached over loopback HTTP. Its figures are in-VM time per request: the time the VM spends
// in the module's callbacks (host functions included), without the front end's hand-offs.
type hostTarget struct {
	host *proxyhost.Host
	vm   *proxyhost.VM
	idp  *idp
	n    int
}

var (
	serveOnce           sync.Once
	hostIssuer, idpAddr string
)

func startHostTarget(path string, i *idp, extra string, profile bool, workers int) (*hostTarget, time.Duration) {
	serveOnce.Do(func() { hostIssuer, idpAddr = i.serve() })
	wasm, err := os.ReadFile(path)
	check(err)
	t0 := time.Now()
	h, err := proxyhost.New(context.Background(), proxyhost.Config{
		Wasm: wasm, PluginConfig: []byte(pluginConfig(hostIssuer, `"cluster":"idp",`+extra)),
		Clusters: map[string]string{"idp": idpAddr}, Profile: profile, Workers: workers,
		Log: func(_ int, level proxyhost.LogLevel, msg string) {
			if level >= proxyhost.LogWarn {
				log.Printf("plugin: %s: %s", level, msg)
			}
		},
	})
	check(err)
	took := time.Since(t0)
	for deadline := time.Now().Add(10 * time.Second); h.Counter("oidc_wasm.idp_jwks_fetched") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			log.Fatal("the plugin did not load the bench IdP's keys")
		}
	}
	return &hostTarget{host: h, vm: h.Workers()[0], idp: i}, took
}

func (b *hostTarget) request(headers [][2]string) (proxyhost.Outcome, bool) {
	ctx := context.Background()
	st, o, err := b.vm.Request(ctx, headers, true)
	check(err)
	defer st.End()
	if o.Action != proxyhost.Continue {
		return o, false
	}
	_, err = st.Response(ctx, [][2]string{{":status", "200"}, {"content-length", "2"}}, false)
	check(err)
	return o, true
}

func (b *hostTarget) do(headers [][2]string) bool {
	_, ok := b.request(headers)
	return ok
}

func (b *hostTarget) upstream(headers [][2]string, name string) string {
	o, ok := b.request(headers)
	if !ok {
		return ""
	}
	return proxyhost.Header(o.Headers, name)
}

// barrier returns once the VM has run every task posted before, stream ends included.
func (b *hostTarget) barrier() {
	_, err := b.vm.MemoryBytes()
	check(err)
}

func (b *hostTarget) login() (string, time.Duration) {
	o, _ := b.request(wasmhost.BrowserGet("/page"))
	loc, err := url.Parse(proxyhost.Header(o.Headers, "location"))
	if o.Status() != 302 || err != nil {
		log.Fatalf("login: want a redirect, got %d", o.Status())
	}
	q := loc.Query()
	b.n++
	code := randomHex(8)
	b.idp.expect(code, b.idp.tokenAnswer(hostIssuer, time.Now(), q.Get("nonce"), fmt.Sprintf("user-%d", b.n)))
	state := proxyhost.StateCookie(o.Headers, sessionCookieName)
	b.barrier()
	before := b.vm.Stats().Busy
	done, _ := b.request(wasmhost.BrowserGet("/oauth2/callback?code="+code+"&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state}))
	b.barrier()
	took := b.vm.Stats().Busy - before
	if done.Status() != 302 {
		log.Fatalf("callback: want 302, got %d %s", done.Status(), done.Body)
	}
	var parts []string
	for name, v := range proxyhost.SetCookies(done.Headers) {
		if strings.HasPrefix(name, sessionCookieName) && !strings.HasPrefix(name, sessionCookieName+"_state") && v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; "), took
}

func (b *hostTarget) cost(n int, run func(k int), offset int) time.Duration {
	b.barrier()
	before := b.vm.Stats().Busy
	for k := 0; k < n; k++ {
		run(offset + k)
	}
	b.barrier()
	return (b.vm.Stats().Busy - before) / time.Duration(n)
}

func (b *hostTarget) bearer(alg jwa.SignatureAlgorithm, sub string) string {
	return b.idp.token(hostIssuer, time.Now(), alg, "api", "", sub)
}

func (b *hostTarget) memory() uint32 {
	size, err := b.vm.MemoryBytes()
	check(err)
	return size
}

func (b *hostTarget) close() { _ = b.host.Close() }
