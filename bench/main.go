// Command bench measures oidc-wasm per request in the SDK's wasm host (both compiled
// modules), its memory over a long mix of requests, and oauth2-proxy's /oauth2/auth over
// loopback in the same run, and writes BENCHMARKS.md. Run it with `make bench`.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero/api"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	issuer    = "https://idp.example.com"
	clientID  = "app"
	cookieKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	settings  = `"issuer":"` + issuer + `","client_id":"` + clientID + `","client_secret":"s3cret","cookie_secret":"` + cookieKey +
		`","skip_paths":[{"exact":"/healthz"}],"bearer_audiences":["api"]`
	config = `{` + settings + `}`
	// claimsOnly keeps no token in the session cookie: the smallest sessions.
	claimsOnly = `{` + settings + `,"session_tokens":false}`
)

var (
	flagRounds  = flag.Int("rounds", 7, "repeated runs per figure (the median is reported)")
	flagMem     = flag.Int("mem", 1_000_000, "requests of the memory run (checkpoints at each power of ten)")
	flagO2P     = flag.String("oauth2-proxy", "", "oauth2-proxy binary; empty skips the comparison")
	flagOut     = flag.String("out", "", "also write the report to this file")
	flagRoot    = flag.String("root", "..", "repository root (where build/*.wasm are)")
	flagOnly    = flag.String("only", "", "measure only the modules of these comma-separated names")
	flagModules = flag.String("modules", "", "comma-separated name=path overrides of the modules, e.g. before=/tmp/plugin.wasm")
	flagProfile = flag.String("cpuprofile", "", "write a CPU profile of the scenario named by -profile to this file")
	flagProfScn = flag.String("profile", "valid session, repeated", "the scenario -cpuprofile runs 100000 more times under the profiler")
)

// tb lets the test host wrapper run outside `go test`: failures panic, cleanups run on close.
type tb struct {
	testing.TB
	cleanups []func()
}

func (*tb) Helper()                   {}
func (*tb) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (*tb) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (*tb) Skipf(f string, a ...any)  { panic(fmt.Sprintf(f, a...)) }
func (*tb) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *tb) Cleanup(f func())        { t.cleanups = append(t.cleanups, f) }
func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// idp mints tokens natively, dated from the wasm host's clock.
type idp struct {
	rsa, ec jwk.Key
	jwks    string
}

func newIdP() *idp {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	i := &idp{}
	set := jwk.NewSet()
	for kid, raw := range map[string]any{"rsa": rk, "ec": ek} {
		k, err := jwk.FromRaw(raw)
		check(err)
		_ = k.Set(jwk.KeyIDKey, kid)
		pub, err := k.PublicKey()
		check(err)
		_ = set.AddKey(pub)
		if kid == "rsa" {
			i.rsa = k
		} else {
			i.ec = k
		}
	}
	b, _ := json.Marshal(set)
	i.jwks = string(b)
	return i
}

func (i *idp) token(alg jwa.SignatureAlgorithm, aud, nonce, sub string) string {
	now := wasmhost.WasmEpoch
	claims := map[string]any{"iss": issuer, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(72 * time.Hour).Unix(),
		"email": sub + "@example.com", "email_verified": true, "name": "Alice Example", "groups": []string{"dev", "ops"}}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	key := i.rsa
	if alg == jwa.ES256 {
		key = i.ec
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key))
	check(err)
	return string(signed)
}

func (i *idp) discovery() string {
	b, _ := json.Marshal(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
		"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys", "response_types_supported": []string{"code"}})
	return string(b)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// bench is one compiled module started in the host with the metadata loaded.
type bench struct {
	t   *tb
	vm  proxytest.WasmVMContext
	h   *wasmhost.Host
	idp *idp
	n   int
	mod api.Module   // the guest module instance
	del api.Function // its proxy_on_delete
}

func start(path string, i *idp, cfg string) (*bench, time.Duration) {
	t := &tb{}
	wasm, err := os.ReadFile(path)
	check(err)
	t0 := time.Now()
	vm, err := proxytest.NewWasmVMContext(wasm)
	check(err)
	h := wasmhost.MustStart(t, vm, cfg)
	took := time.Since(t0)
	t.Cleanup(func() { _ = vm.Close() })
	h.Tick()
	h.Answer(h.OnePending(wasmhost.PluginContextID), 200, i.discovery())
	h.Answer(h.OnePending(wasmhost.PluginContextID), 200, i.jwks)
	b := &bench{t: t, vm: vm, h: h, idp: i}
	b.mod = b.guest()
	b.del = b.mod.ExportedFunction("proxy_on_delete")
	return b, took
}

// do runs one request to its end (as Envoy does: headers, then the stream is done).
func (b *bench) do(headers [][2]string) (uint32, types.Action) {
	id, action := b.h.Request(headers)
	b.complete(id)
	return id, action
}

// complete ends a stream as Envoy does: proxy_on_log, then proxy_on_delete. proxytest's wasm
// wrapper forwards the first but never the second, so the guest SDK would keep every http
// context in its map (about 4 KB a request: 384 MiB after 10^5 requests); the bench calls
// the guest's proxy_on_delete itself.
func (b *bench) complete(id uint32) {
	b.h.CompleteHttpContext(id)
	if _, err := b.del.Call(context.Background(), uint64(id)); err != nil {
		log.Fatalf("proxy_on_delete(%d): %v", id, err)
	}
}

// login runs the redirect and the callback, answering the token call at once from memory.
// It returns the session cookie and the time of the callback alone (request + token answer).
func (b *bench) login() (string, time.Duration) {
	id, _ := b.h.Request(wasmhost.BrowserGet("/page"))
	r := b.h.Reply(id)
	if r == nil || r.Status != 302 {
		log.Fatalf("login: want 302, got %+v", r)
	}
	b.complete(id)
	state := r.StateCookie("__Host-oidc_session")
	u, _ := url.Parse(r.Header("location"))
	q := u.Query()
	b.n++
	idt := b.idp.token(jwa.RS256, clientID, q.Get("nonce"), fmt.Sprintf("user-%d", b.n))
	at := b.idp.token(jwa.RS256, "api", "", fmt.Sprintf("user-%d", b.n))
	answer, _ := json.Marshal(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 72 * 3600,
		"refresh_token": fmt.Sprintf("rt-%040d", b.n), "id_token": idt})
	t0 := time.Now()
	cb, _ := b.h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state}))
	b.h.Answer(b.h.OnePending(cb), 200, string(answer))
	took := time.Since(t0)
	done := b.h.Reply(cb)
	b.complete(cb)
	if done == nil || done.Status != 302 {
		log.Fatalf("callback: want 302, got %+v", done)
	}
	var parts []string
	for name, sc := range done.SetCookies() {
		if strings.HasPrefix(name, "__Host-oidc_session") && !strings.HasPrefix(name, "__Host-oidc_session_state") && wasmhost.CookieValue(sc) != "" {
			parts = append(parts, name+"="+wasmhost.CookieValue(sc))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; "), took
}

// memory reads the guest's linear memory size (api.Memory.Size).
func (b *bench) memory() uint32 { return b.mod.Memory().Size() }

// guest finds the guest module instance. proxytest hides its wazero runtime, so this reaches
// through reflection into it (wazero's store lists its module instances) and takes the one
// module instance with a memory (WASI and the host ABI have none).
func (b *bench) guest() api.Module {
	rt := reflect.ValueOf(b.vm).Elem().FieldByName("runtime").Elem().Elem() // wazero.runtime
	store := rt.FieldByName("store").Elem()
	for m := store.FieldByName("moduleList"); !m.IsNil(); m = m.Elem().FieldByName("next") {
		mod := reflect.NewAt(m.Type(), unsafe.Pointer(m.UnsafeAddr())).Elem().Interface().(api.Module)
		if mod.Memory() != nil {
			return mod
		}
	}
	log.Fatal("no module instance with a memory")
	return nil
}

func median(xs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

type scenario struct {
	name string
	n    int
	run  func(i int) // one request; i counts from 0 over all rounds
}

type result struct {
	module      string
	figs        map[string]time.Duration
	order       []string
	size        int64
	load        time.Duration
	mem         []memPoint
	memDur      time.Duration
	cookie      int // bytes of the session's Cookie header value
	smallCookie int // the same, session_tokens: false
}

type memPoint struct {
	requests int
	bytes    uint32
}

func moduleBench(name, path string, i *idp) result {
	res := result{module: name, figs: map[string]time.Duration{}}
	st, err := os.Stat(path)
	check(err)
	res.size = st.Size()
	var loads []time.Duration
	for r := 0; r < 3; r++ {
		b, took := start(path, i, config)
		loads = append(loads, took)
		b.t.close()
	}
	res.load = median(loads)

	b, _ := start(path, i, config)
	defer b.t.close()
	rounds := *flagRounds
	// Distinct sessions for first sight (each from a real callback), tokens for first sight.
	// 200 first sights a run: a run of 40 was shorter than the guest's interval between garbage
	// collections, so its figure depended on whether one fell inside it.
	const nFirstSession, nFirstRS, nFirstES = 200, 20, 10
	var callbacks []time.Duration
	sessions := make([]string, nFirstSession*rounds+1)
	for k := range sessions {
		var took time.Duration
		sessions[k], took = b.login()
		callbacks = append(callbacks, took)
	}
	rsTokens := make([]string, nFirstRS*rounds+1)
	for k := range rsTokens {
		rsTokens[k] = i.token(jwa.RS256, "api", "", fmt.Sprintf("api-%d", k))
	}
	esTokens := make([]string, nFirstES*rounds+1)
	for k := range esTokens {
		esTokens[k] = i.token(jwa.ES256, "api", "", fmt.Sprintf("api-es-%d", k))
	}
	expect := func(want types.Action, h [][2]string) {
		if id, a := b.do(h); a != want {
			log.Fatalf("%s: %v, want %v (reply %+v)", name, a, want, b.h.Reply(id))
		}
	}
	repeated := sessions[len(sessions)-1]
	res.cookie = len(repeated)
	expect(types.ActionContinue, wasmhost.BrowserGet("/page", [2]string{"cookie", repeated}))
	bearer := func(tok string) [][2]string {
		return wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + tok})
	}
	expect(types.ActionContinue, bearer(rsTokens[len(rsTokens)-1]))
	expect(types.ActionContinue, bearer(esTokens[len(esTokens)-1]))

	scenarios := []scenario{
		{"skip path (host floor)", 2000, func(int) { expect(types.ActionContinue, wasmhost.BrowserGet("/healthz")) }},
		{"skip path with the session cookie", 2000, func(int) {
			expect(types.ActionContinue, wasmhost.BrowserGet("/healthz", [2]string{"cookie", repeated}))
		}},
		{"valid session, repeated", 2000, func(int) { expect(types.ActionContinue, wasmhost.BrowserGet("/page", [2]string{"cookie", repeated})) }},
		{"valid session, first sight", nFirstSession, func(k int) {
			expect(types.ActionContinue, wasmhost.BrowserGet("/page", [2]string{"cookie", sessions[k]}))
		}},
		{"bearer RS256, cached", 2000, func(int) { expect(types.ActionContinue, bearer(rsTokens[len(rsTokens)-1])) }},
		{"bearer ES256, cached", 2000, func(int) { expect(types.ActionContinue, bearer(esTokens[len(esTokens)-1])) }},
		{"bearer RS256, first sight", nFirstRS, func(k int) { expect(types.ActionContinue, bearer(rsTokens[k])) }},
		{"bearer ES256, first sight", nFirstES, func(k int) { expect(types.ActionContinue, bearer(esTokens[k])) }},
		{"no session: redirect to IdP", 1000, func(int) { expect(types.ActionPause, wasmhost.BrowserGet("/page")) }},
	}
	measure(&res, scenarios, rounds)
	res.figs["callback (token answered from memory)"] = median(callbacks)
	res.order = append(res.order, "callback (token answered from memory)")

	// The smallest sessions: claims only (session_tokens: false), in a VM of their own.
	b.t.close()
	b, _ = start(path, i, claimsOnly)
	small := make([]string, nFirstSession*rounds+1)
	for k := range small {
		small[k], _ = b.login()
	}
	res.smallCookie = len(small[0])
	measure(&res, []scenario{
		{"valid session, repeated, `session_tokens: false`", 2000, func(int) {
			expect(types.ActionContinue, wasmhost.BrowserGet("/page", [2]string{"cookie", small[len(small)-1]}))
		}},
		{"valid session, first sight, `session_tokens: false`", nFirstSession, func(k int) {
			expect(types.ActionContinue, wasmhost.BrowserGet("/page", [2]string{"cookie", small[k]}))
		}},
	}, rounds)

	// Memory: one fresh VM, a realistic mix, the guest's linear memory at each power of ten.
	b.t.close()
	b, _ = start(path, i, config)
	defer b.t.close()
	pool := make([]string, 64)
	for k := range pool {
		pool[k], _ = b.login()
	}
	invalid := strings.Replace(pool[0], "__Host-oidc_session=", "__Host-oidc_session=AAAA", 1)
	t0 := time.Now()
	next := 1000
	for k := 1; k <= *flagMem; k++ {
		switch k % 20 {
		case 0, 1:
			b.do(wasmhost.BrowserGet("/healthz"))
		case 2:
			b.do(wasmhost.BrowserGet("/page")) // redirect
		case 3:
			b.do(wasmhost.APIGet("/api", [2]string{"cookie", invalid}))
		case 4, 5:
			b.do(bearer(rsTokens[k%len(rsTokens)]))
		case 6:
			b.do(bearer(esTokens[k%len(esTokens)]))
		default:
			b.do(wasmhost.BrowserGet("/page", [2]string{"cookie", pool[k%len(pool)]}))
		}
		if k == next || k == *flagMem {
			res.mem = append(res.mem, memPoint{k, b.memory()})
			next *= 10
		}
	}
	res.memDur = time.Since(t0)
	return res
}

// measure runs each scenario rounds times, in turn, and records the median per request.
func measure(res *result, scenarios []scenario, rounds int) {
	samples := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for _, s := range scenarios {
			runtime.GC()
			t0 := time.Now()
			for k := 0; k < s.n; k++ {
				s.run(r*s.n + k)
			}
			samples[s.name] = append(samples[s.name], time.Since(t0)/time.Duration(s.n))
		}
	}
	for _, s := range scenarios {
		res.figs[s.name] = median(samples[s.name])
		res.order = append(res.order, s.name)
		if *flagProfile != "" && s.name == *flagProfScn {
			profile(s)
		}
	}
}

// profile runs a scenario 100000 times under Go's CPU profiler. The host's side shows by
// function; the guest's compiled code shows as one block (runtime._ExternalCode).
func profile(s scenario) {
	f, err := os.Create(*flagProfile)
	check(err)
	defer f.Close()
	check(pprof.StartCPUProfile(f))
	for k := 0; k < 100000; k++ {
		s.run(k % s.n)
	}
	pprof.StopCPUProfile()
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetOutput(quietHost{os.Stderr})
	i := newIdP()
	modules := []wasmhost.Module{}
	for _, m := range wasmhost.Modules {
		modules = append(modules, wasmhost.Module{Name: m.Name, Path: *flagRoot + "/" + m.Path})
	}
	if *flagModules != "" {
		for _, kv := range strings.Split(*flagModules, ",") {
			name, path, _ := strings.Cut(kv, "=")
			modules = append(modules, wasmhost.Module{Name: name, Path: path})
		}
	}
	var results []result
	for _, m := range modules {
		if *flagOnly != "" && !slices.Contains(strings.Split(*flagOnly, ","), m.Name) {
			continue
		}
		log.Printf("bench: %s (%s)", m.Name, m.Path)
		results = append(results, moduleBench(m.Name, m.Path, i))
	}
	var o2p *peerResult
	if *flagO2P != "" {
		log.Printf("bench: oauth2-proxy /oauth2/auth over loopback")
		var err error
		if o2p, err = oauth2ProxyBench(*flagO2P, *flagRounds); err != nil {
			log.Printf("bench: oauth2-proxy comparison failed: %v", err)
		}
	}
	report := render(results, o2p)
	fmt.Print(report)
	if *flagOut != "" {
		check(os.WriteFile(*flagOut, []byte(report), 0o644))
	}
}

// quietHost drops the host emulator's per-call log lines (it logs every callout and every
// plugin log line through package log), keeping the bench's own progress and errors.
type quietHost struct{ w io.Writer }

func (q quietHost) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("[http callout")) || bytes.HasPrefix(p, []byte("proxy_")) {
		return len(p), nil
	}
	return q.w.Write(p)
}
