package main

import (
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	// sessionCookieName is the plugin's default session cookie (cookie_secure on).
	sessionCookieName = "__Host-oidc_session"
	clientID          = "app"
	cookieKey         = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	// claimsOnly keeps no token in the session cookie: the smallest sessions.
	claimsOnly = `"session_tokens":false,`
)

// pluginConfig is the benchmarks' plugin configuration for an issuer; extra is spliced in as
// JSON members, each followed by a comma.
func pluginConfig(issuer, extra string) string {
	return `{` + extra + `"issuer":"` + issuer + `","client_id":"` + clientID + `","client_secret":"s3cret","cookie_secret":"` + cookieKey +
		`","skip_paths":[{"exact":"/healthz"}],"bearer_audiences":["api"]}`
}

// target is a compiled module started in a host with the IdP's metadata loaded.
type target interface {
	// do runs one request to its end (request headers, the response for a request let
	// through, the end of the stream) and reports whether the plugin let it through.
	do(headers [][2]string) bool
	// upstream runs one request like do and returns the value of a header the plugin let
	// through upstream, or "" (also when the request was not let through).
	upstream(headers [][2]string, name string) string
	// login runs a redirect and a callback; it returns the session's Cookie header and the
	// callback's cost.
	login() (string, time.Duration)
	// cost runs run(offset+k) for k < n and returns the cost per run as the target counts it.
	cost(n int, run func(k int), offset int) time.Duration
	bearer(alg jwa.SignatureAlgorithm, sub string) string
	memory() uint32
	close()
}

type starter func(path string, i *idp, extra string) (target, time.Duration)

// firstSights is the number of sessions seen for the first time in each round. 200 a round: a
// run of 40 was shorter than the guest's interval between garbage collections, so its figure
// depended on whether one fell inside it.
const firstSights = 200

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

func median(xs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func bearerGet(tok string) [][2]string {
	return wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + tok})
}

// moduleBench measures one module in one host: every scenario, then the smallest sessions,
// then (when memRequests > 0) the linear memory over a long mix of requests.
func moduleBench(name, path string, i *idp, start starter, memRequests int) result {
	res := result{module: name, figs: map[string]time.Duration{}}
	st, err := os.Stat(path)
	check(err)
	res.size = st.Size()
	var loads []time.Duration
	for r := 0; r < 3; r++ {
		b, took := start(path, i, "")
		loads = append(loads, took)
		b.close()
	}
	res.load = median(loads)

	b, _ := start(path, i, "")
	rounds := *flagRounds
	const nFirstSession, nFirstRS, nFirstES = firstSights, 20, 10
	var callbacks []time.Duration
	sessions := make([]string, nFirstSession*rounds+1)
	for k := range sessions {
		var took time.Duration
		sessions[k], took = b.login()
		callbacks = append(callbacks, took)
	}
	rsTokens := make([]string, nFirstRS*rounds+1)
	for k := range rsTokens {
		rsTokens[k] = b.bearer(jwa.RS256, fmt.Sprintf("api-%d", k))
	}
	esTokens := make([]string, nFirstES*rounds+1)
	for k := range esTokens {
		esTokens[k] = b.bearer(jwa.ES256, fmt.Sprintf("api-es-%d", k))
	}
	expect := func(want bool, h [][2]string) {
		if b.do(h) != want {
			log.Fatalf("%s: %s %s: let through = %v, want %v", name, h[0][1], h[1][1], !want, want)
		}
	}
	repeated := sessions[len(sessions)-1]
	res.cookie = len(repeated)
	expect(true, wasmhost.BrowserGet("/page", [2]string{"cookie", repeated}))
	expect(true, bearerGet(rsTokens[len(rsTokens)-1]))
	expect(true, bearerGet(esTokens[len(esTokens)-1]))

	measure(b, &res, []scenario{
		{"skip path (host floor)", 2000, func(int) { expect(true, wasmhost.BrowserGet("/healthz")) }},
		{"skip path with the session cookie", 2000, func(int) { expect(true, wasmhost.BrowserGet("/healthz", [2]string{"cookie", repeated})) }},
		{"valid session, repeated", 2000, func(int) { expect(true, wasmhost.BrowserGet("/page", [2]string{"cookie", repeated})) }},
		{"valid session, first sight", nFirstSession, func(k int) { expect(true, wasmhost.BrowserGet("/page", [2]string{"cookie", sessions[k]})) }},
		{"bearer RS256, cached", 2000, func(int) { expect(true, bearerGet(rsTokens[len(rsTokens)-1])) }},
		{"bearer ES256, cached", 2000, func(int) { expect(true, bearerGet(esTokens[len(esTokens)-1])) }},
		{"bearer RS256, first sight", nFirstRS, func(k int) { expect(true, bearerGet(rsTokens[k])) }},
		{"bearer ES256, first sight", nFirstES, func(k int) { expect(true, bearerGet(esTokens[k])) }},
		{"no session: redirect to IdP", 1000, func(int) { expect(false, wasmhost.BrowserGet("/page")) }},
	}, rounds)
	res.figs["callback (token answered at once)"] = median(callbacks)
	res.order = append(res.order, "callback (token answered at once)")
	b.close()

	// The smallest sessions: claims only (session_tokens: false), in a VM of their own.
	b, _ = start(path, i, claimsOnly)
	small := make([]string, nFirstSession*rounds+1)
	for k := range small {
		small[k], _ = b.login()
	}
	res.smallCookie = len(small[0])
	measure(b, &res, []scenario{
		{"valid session, repeated, `session_tokens: false`", 2000, func(int) {
			expect(true, wasmhost.BrowserGet("/page", [2]string{"cookie", small[len(small)-1]}))
		}},
		{"valid session, first sight, `session_tokens: false`", nFirstSession, func(k int) {
			expect(true, wasmhost.BrowserGet("/page", [2]string{"cookie", small[k]}))
		}},
	}, rounds)
	b.close()
	for _, alg := range []string{"EdDSA", "ES256"} {
		assertionBench(&res, path, i, start, alg, rounds)
	}
	if memRequests > 0 {
		b, _ = start(path, i, "")
		res.mem, res.memDur = memoryRun(b, rsTokens, esTokens, memRequests)
		b.close()
	}
	return res
}

// measure runs each scenario rounds times, in turn, and records the median per request.
func measure(b target, res *result, scenarios []scenario, rounds int) {
	samples := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for _, s := range scenarios {
			samples[s.name] = append(samples[s.name], b.cost(s.n, s.run, r*s.n))
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

// memoryRun sends a realistic mix to one fresh VM and reads its linear memory at each power
// of ten.
func memoryRun(b target, rsTokens, esTokens []string, n int) ([]memPoint, time.Duration) {
	pool := make([]string, 64)
	for k := range pool {
		pool[k], _ = b.login()
	}
	invalid := strings.Replace(pool[0], sessionCookieName+"=", sessionCookieName+"=AAAA", 1)
	var mem []memPoint
	t0 := time.Now()
	next := 1000
	for k := 1; k <= n; k++ {
		switch k % 20 {
		case 0, 1:
			b.do(wasmhost.BrowserGet("/healthz"))
		case 2:
			b.do(wasmhost.BrowserGet("/page")) // redirect
		case 3:
			b.do(wasmhost.APIGet("/api", [2]string{"cookie", invalid}))
		case 4, 5:
			b.do(bearerGet(rsTokens[k%len(rsTokens)]))
		case 6:
			b.do(bearerGet(esTokens[k%len(esTokens)]))
		default:
			b.do(wasmhost.BrowserGet("/page", [2]string{"cookie", pool[k%len(pool)]}))
		}
		if k == next || k == n {
			mem = append(mem, memPoint{k, b.memory()})
			next *= 10
		}
	}
	return mem, time.Since(t0)
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
