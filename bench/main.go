// Command bench measures oidc-wasm and writes BENCHMARKS.md (make bench): per request in the
// project's Proxy-Wasm host (in-VM time, both compiled modules), the same in the SDK's
// emulator as a second column, the memory of one VM over a long mix of requests, and the
// like-for-like HTTP comparison: one front end and upstream with no authentication, with the
// plugin, and with ext_authz to oauth2-proxy, at concurrency 1, 8 and 64.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

var (
	flagRounds   = flag.Int("rounds", 7, "repeated runs per figure (the median is reported)")
	flagMem      = flag.Int("mem", 1_000_000, "requests of the memory run (checkpoints at each power of ten); 0 skips it")
	flagO2P      = flag.String("oauth2-proxy", "", "oauth2-proxy binary; empty skips the comparisons with it")
	flagOut      = flag.String("out", "", "also write the report to this file (its load section is kept)")
	flagRoot     = flag.String("root", "..", "repository root (where build/*.wasm are)")
	flagOnly     = flag.String("only", "", "measure only the modules of these comma-separated names")
	flagModules  = flag.String("modules", "", "comma-separated name=path overrides of the modules, e.g. before=/tmp/plugin.wasm")
	flagEmulator = flag.Bool("emulator", true, "also measure in the SDK's emulator (the second column)")
	flagHTTP     = flag.Duration("http", 3*time.Second, "measured time of each HTTP run; 0 skips the HTTP comparison")
	flagHTTPRuns = flag.Int("http-rounds", 3, "rounds of the HTTP comparison")
	flagProfile  = flag.String("cpuprofile", "", "write a CPU profile of the scenario named by -profile to this file")
	flagProfScn  = flag.String("profile", "valid session, repeated", "the scenario -cpuprofile runs 100000 more times under the profiler")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetOutput(quietHost{os.Stderr})
	i := newIdP()
	var modules []wasmhost.Module
	for _, m := range wasmhost.Modules {
		modules = append(modules, wasmhost.Module{Name: m.Name, Path: *flagRoot + "/" + m.Path})
	}
	if *flagModules != "" {
		for _, kv := range strings.Split(*flagModules, ",") {
			name, path, _ := strings.Cut(kv, "=")
			modules = append(modules, wasmhost.Module{Name: name, Path: path})
		}
	}
	hostStart := func(path string, i *idp, extra string) (target, time.Duration) {
		return startHostTarget(path, i, extra, false, 1)
	}
	rep := report{}
	for _, m := range modules {
		if *flagOnly != "" && !slices.Contains(strings.Split(*flagOnly, ","), m.Name) {
			continue
		}
		log.Printf("bench: %s (%s) in the project's host", m.Name, m.Path)
		rep.host = append(rep.host, moduleBench(m.Name, m.Path, i, hostStart, *flagMem))
		rep.split = append(rep.split, hostSplit(m.Name, m.Path, i))
		if *flagEmulator {
			log.Printf("bench: %s in the SDK's emulator", m.Name)
			rep.emulator = append(rep.emulator, moduleBench(m.Name, m.Path, i, startEmulator, 0))
		}
	}
	var o2p *oauth2Proxy
	if *flagO2P != "" {
		log.Printf("bench: oauth2-proxy behind Dex")
		var err error
		if o2p, err = startOAuth2Proxy(*flagO2P); err != nil {
			log.Fatalf("bench: oauth2-proxy: %v", err)
		}
		defer o2p.stop()
		if rep.peer, err = o2p.perRequest(*flagRounds); err != nil {
			log.Fatalf("bench: oauth2-proxy /oauth2/auth: %v", err)
		}
	}
	if *flagHTTP > 0 && len(rep.host) > 0 {
		log.Printf("bench: HTTP comparison (%s per run, %d rounds)", *flagHTTP, *flagHTTPRuns)
		rep.http = httpBench(modules[0].Path, i, o2p, *flagHTTPRuns, *flagHTTP)
	}
	out := rep.render()
	fmt.Print(out)
	if *flagOut != "" {
		old, _ := os.ReadFile(*flagOut)
		check(os.WriteFile(*flagOut, []byte(out+loadSection(string(old))), 0o644))
	}
}

// hostSplit splits the in-VM time of two requests between the host's functions and the
// module's own code, with the host's profiling on.
func hostSplit(name, path string, i *idp) split {
	b, _ := startHostTarget(path, i, "", true, 1)
	defer b.close()
	cookie, _ := b.login()
	s := split{module: name, callbacks: [2]map[string]time.Duration{{}, {}}}
	for i, req := range []struct {
		into    *[2]time.Duration
		headers [][2]string
	}{
		{&s.skip, wasmhost.BrowserGet("/healthz")},
		{&s.session, wasmhost.BrowserGet("/page", [2]string{"cookie", cookie})},
	} {
		if !b.do(req.headers) {
			log.Fatalf("split: %s was not let through", req.headers[1][1])
		}
		b.cost(2000, func(int) { b.do(req.headers) }, 0)
		b.barrier()
		before, beforeCB := b.vm.Stats(), callbacks(b)
		const n = 20000
		for k := 0; k < n; k++ {
			b.do(req.headers)
		}
		b.barrier()
		after, afterCB := b.vm.Stats(), callbacks(b)
		*req.into = [2]time.Duration{(after.Busy - before.Busy) / n, (after.Host - before.Host) / n}
		for name, d := range afterCB {
			if per := (d - beforeCB[name]) / n; per > 0 {
				s.callbacks[i][name] = per
			}
		}
	}
	return s
}

func callbacks(b *hostTarget) map[string]time.Duration {
	m, err := b.vm.Callbacks()
	check(err)
	return m
}

// split is in-VM time per request, the part of it inside host functions, and the time per
// request in each of the module's callbacks (skip path, then valid session).
type split struct {
	module        string
	skip, session [2]time.Duration
	callbacks     [2]map[string]time.Duration
}

// quietHost drops the SDK emulator's per-call log lines (it logs every callout and every
// plugin log line through package log), keeping the bench's own progress and errors.
type quietHost struct{ w io.Writer }

func (q quietHost) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("[http callout")) || bytes.HasPrefix(p, []byte("proxy_")) {
		return len(p), nil
	}
	return q.w.Write(p)
}
