// Package loadtest is the load test of issue 16: the compiled module on the project's
// Proxy-Wasm host (internal/proxyhost), one or two replicas of worker VMs, against node
// oidc-provider with refresh-token rotation and reuse detection. Thousands of sessions,
// concurrent clients over loopback, a refresh storm (a cohort of sessions whose tokens all
// expired, each hit twice at once), the IdP killed and restarted mid-run, its signing key
// rotated mid-run. Run reports what the targets ask: requests served, every status, refresh
// tokens redeemed more than once, sessions lost, requests let through without a credential,
// each VM's memory at start and end. `make load` runs the full size; TestShortLoad a small one.
package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
)

// Options sizes a run.
type Options struct {
	Wasm     []byte
	Replicas int  // gateways behind the front, each its own host (1 or more)
	Affinity bool // the front keeps each session on one replica (else round robin per request)
	Workers  int  // VMs per replica
	Sessions int
	Requests int
	Clients  int // concurrent client connections
	Storm    int // sessions of the refresh storm, held back until their tokens expired
	TokenTTL time.Duration
	Outage   time.Duration // how long the IdP stays killed (0: never killed)
	Rotate   bool          // rotate the IdP's signing key three quarters into the run
	Dir      string        // the IdP's store and logs
	Log      func(format string, args ...any)
}

// cookieSecret is shared by the replicas, as every replica of a gateway must share it.
const cookieSecret = "bG9hZC10ZXN0LWNvb2tpZS1zZWNyZXQtMzItYnl0ZXM="

func pluginConfig(issuer string) string {
	return `{"issuer":"` + issuer + `","cluster":"idp","client_id":"` + clientID + `","client_secret":"` + clientSecret +
		`","cookie_secret":"` + cookieSecret + `","cookie_secure":false,"scopes":["openid","email","profile","offline_access"],` +
		`"skip_paths":[{"exact":"/healthz"}]}`
}

// replica is one gateway: a host of Workers VMs and its front end.
type replica struct {
	host  *proxyhost.Host
	addr  string
	close func()
}

// Run runs the load and reports it. An error means the run could not be carried out (an IdP
// that would not start, a login that failed); what the run found is in the Report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	started := time.Now()
	idp, err := startIdP(opt.Dir, opt.TokenTTL)
	if err != nil {
		return nil, fmt.Errorf("starting oidc-provider: %w", err)
	}
	defer idp.stop()
	upstream := &app{}
	upAddr, stopUp, err := serve(upstream)
	if err != nil {
		return nil, err
	}
	defer stopUp()
	counts := newRedemptions(opt.Replicas)
	var replicas []*replica
	defer func() {
		for _, r := range replicas {
			r.close()
		}
	}()
	for k := 0; k < opt.Replicas; k++ {
		r, err := startReplica(ctx, opt, idp, k, counts, upAddr)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", k, err)
		}
		replicas = append(replicas, r)
	}
	var gateways []string
	for _, r := range replicas {
		gateways = append(gateways, r.addr)
	}
	logf("logging %d sessions in at oidc-provider", opt.Sessions)
	sessions, err := loginAll(gateways, opt.Sessions, 8)
	if err != nil {
		return nil, fmt.Errorf("logins: %w", err)
	}
	loggedIn := time.Now()
	for k := 0; k < opt.Storm && k < len(sessions); k++ {
		sessions[k].storm = true
	}
	rep := &Report{Options: opt, LoginTime: loggedIn.Sub(started)}
	rep.memory(replicas, afterLogins)
	t := newTraffic(gateways, sessions, opt.Affinity)
	events := schedule(t, opt, idp, loggedIn, logf)
	underway := make(chan struct{})
	go func() {
		defer close(underway)
		for t.sent.Load() < int64(opt.Requests/4) {
			time.Sleep(5 * time.Millisecond)
		}
		rep.memory(replicas, underWay)
	}()
	logf("%d requests from %d clients", opt.Requests, opt.Clients)
	t0 := time.Now()
	t.run(opt.Clients, int64(opt.Requests), &events.over)
	rep.TrafficTime = time.Since(t0)
	if err := events.err; err != nil {
		return nil, err
	}
	<-underway
	rep.memory(replicas, atEnd)
	rep.collect(t, upstream, counts, replicas)
	return rep, nil
}

func startReplica(ctx context.Context, opt Options, idp *idp, k int, counts *redemptions, upAddr string) (*replica, error) {
	cluster, stopCounter, err := serveCounter(&counter{replica: k, idp: idp, r: counts})
	if err != nil {
		return nil, err
	}
	host, err := proxyhost.New(ctx, proxyhost.Config{
		Wasm: opt.Wasm, PluginConfig: []byte(pluginConfig(idp.provider().Issuer)), Workers: opt.Workers,
		Clusters: map[string]string{"idp": cluster},
	})
	if err != nil {
		stopCounter()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = host.Close()
		stopCounter()
		return nil, err
	}
	srv := (&proxyhost.Gateway{Host: host, Upstream: &url.URL{Scheme: "http", Host: upAddr}}).Server()
	go func() { _ = srv.Serve(l) }()
	return &replica{host: host, addr: l.Addr().String(), close: func() { _ = srv.Close(); _ = host.Close(); stopCounter() }}, nil
}

func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}

// events are the storm, the outage and the key rotation, one after the other, each started
// once the run's requests pass a third, a half and three quarters of the total and the one
// before is over (the storm also waits until its sessions' tokens have all expired). The
// traffic goes on until all are over.
type events struct {
	over atomic.Bool
	err  error // set before over
}

func schedule(t *traffic, opt Options, idp *idp, loggedIn time.Time, logf func(string, ...any)) *events {
	e := &events{}
	at := func(fraction float64) {
		for t.sent.Load() < int64(fraction*float64(opt.Requests)) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// restart brings the IdP back (after a kill, or with a new key); 503s in the next five
	// seconds still count as the outage's (refreshes the plugin queued while it was down).
	restart := func(start func() error) error {
		t.down.Store(true)
		err := start()
		t.downUntil.Store(time.Now().Add(5 * time.Second).UnixNano())
		t.down.Store(false)
		return err
	}
	go func() {
		defer e.over.Store(true)
		if opt.Storm > 0 {
			at(1.0 / 3)
			// The storm's sessions logged in first: all their tokens have expired by then.
			time.Sleep(time.Until(loggedIn.Add(opt.TokenTTL + time.Second)))
			logf("refresh storm: %d sessions, two requests each at once", opt.Storm)
			t.storm()
		}
		if opt.Outage > 0 {
			at(0.5)
			logf("killing the IdP for %v", opt.Outage)
			if e.err = restart(func() error { idp.kill(); time.Sleep(opt.Outage); return idp.restart() }); e.err != nil {
				e.err = fmt.Errorf("restarting the IdP: %w", e.err)
				return
			}
		}
		if opt.Rotate {
			at(0.75)
			logf("rotating the IdP's signing key")
			if e.err = restart(idp.rotate); e.err != nil {
				e.err = fmt.Errorf("rotating the IdP's key: %w", e.err)
			}
		}
	}()
	return e
}
