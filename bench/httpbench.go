package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
)

// The like-for-like comparison: one front end (proxyhost.Gateway, two workers) and one
// upstream in this process, a loopback load generator, four arrangements measured in turn.
const (
	arrNone    = "no authentication"
	arrSkip    = "plugin, skip path"
	arrPlugin  = "plugin, valid session"
	arrExtAuth = "ext_authz to oauth2-proxy"
)

var concurrencies = []int{1, 8, 64}

type httpRow struct {
	arrangement string
	conc        int
	loadResult
}

// gateway serves g on a loopback port and returns its address.
func serveGateway(g *proxyhost.Gateway) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	srv := g.Server()
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String()
}

// httpBench measures every arrangement at every concurrency, rounds times each, in turn, and
// keeps each cell's median by throughput.
func httpBench(path string, i *idp, o2p *oauth2Proxy, rounds int, d time.Duration) []httpRow {
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() {
		_ = http.Serve(upstream, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok\n"))
		}))
	}()
	up := &url.URL{Scheme: "http", Host: upstream.Addr().String()}
	b, _ := startHostTarget(path, i, "", false, 2)
	defer b.close()
	cookie, _ := b.login()

	type arrangement struct {
		name, addr string
		req        []byte
		want       int
	}
	plugin := serveGateway(&proxyhost.Gateway{Host: b.host, Upstream: up})
	arrs := []arrangement{
		{arrNone, serveGateway(&proxyhost.Gateway{Upstream: up}), nil, 200},
		{arrSkip, plugin, rawGet("app.example.com", "/healthz", "Accept: text/html", "Cookie: "+cookie), 200},
		{arrPlugin, plugin, rawGet("app.example.com", "/page", "Accept: text/html", "Cookie: "+cookie), 200},
	}
	arrs[0].req = rawGet("app.example.com", "/page", "Accept: text/html", "Cookie: "+cookie)
	if o2p != nil {
		ext := serveGateway(&proxyhost.Gateway{Upstream: up, ExtAuthz: &proxyhost.ExtAuthz{URL: o2p.base + "/oauth2/auth"}})
		arrs = append(arrs, arrangement{arrExtAuth, ext, rawGet("app.example.com", "/page", "Accept: text/html", "Cookie: "+o2p.cookie), 200})
	}
	samples := map[string][]loadResult{}
	for r := 0; r < rounds; r++ {
		for _, c := range concurrencies {
			for _, a := range arrs {
				res, err := runLoad(a.addr, a.req, c, d/4, d, a.want)
				if err != nil {
					log.Fatalf("%s at concurrency %d: %v", a.name, c, err)
				}
				if res.failures > 0 {
					log.Fatalf("%s at concurrency %d: %d of %d answers were not %d", a.name, c, res.failures, res.requests, a.want)
				}
				key := fmt.Sprintf("%s|%d", a.name, c)
				samples[key] = append(samples[key], res)
			}
		}
	}
	var rows []httpRow
	for _, c := range concurrencies {
		for _, a := range arrs {
			s := samples[fmt.Sprintf("%s|%d", a.name, c)]
			sort.Slice(s, func(x, y int) bool { return s[x].throughput < s[y].throughput })
			rows = append(rows, httpRow{arrangement: a.name, conc: c, loadResult: s[len(s)/2]})
		}
	}
	return rows
}

func findRow(rows []httpRow, arrangement string, conc int) (httpRow, bool) {
	for _, r := range rows {
		if r.arrangement == arrangement && r.conc == conc {
			return r, true
		}
	}
	return httpRow{}, false
}
