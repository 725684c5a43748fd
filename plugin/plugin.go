// Package plugin is the Envoy side of oidc-wasm: the Proxy-Wasm contexts, configuration,
// the per-request state machine, dispatched calls to the IdP, headers and metrics. Every
// protocol decision is made by package oidc; this package moves bytes between Envoy and it.
package plugin

import (
	"os"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// NewVMContext is what package main registers with proxywasm.SetVMContext.
func NewVMContext() types.VMContext { return &vmContext{} }

type vmContext struct {
	types.DefaultVMContext
}

func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{
		id:         contextID,
		waiting:    map[uint32]*waiter{},
		tokens:     newFIFOCache[[]byte](maxCachedTokens),
		sessions:   newFIFOCache[oidc.Session](maxCachedSessions),
		refreshing: map[[32]byte]*refreshFlight{},
	}
}

// pluginContext holds what every request of one plugin instance shares: the configuration,
// the cookie keys, the IdP's metadata and keys, and the requests waiting for them.
type pluginContext struct {
	types.DefaultPluginContext
	id      uint32
	cfg     *Config
	sealer  *oidc.Sealer
	managed map[string]bool // canonical names of the headers the plugin owns
	metrics *metrics
	idp     idpState
	waiting map[uint32]*waiter // held requests by http context id, resumed when metadata arrives
	order   []uint32           // waiting ids in arrival order, so they resume first come first served

	tokens     *fifoCache[[]byte]          // claims of verified bearer tokens
	sessions   *fifoCache[oidc.Session]    // opened session cookies (see sessioncache.go)
	refreshing map[[32]byte]*refreshFlight // session refreshes by refresh-token hash
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCriticalf("oidc-wasm: cannot read the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := ParseConfig(data, os.LookupEnv)
	if err != nil {
		proxywasm.LogCriticalf("oidc-wasm: invalid configuration, plugin not started: %v", err)
		return types.OnPluginStartStatusFailed
	}
	sealer, err := oidc.NewSealer(cfg.CookieSecret)
	if err != nil {
		proxywasm.LogCriticalf("oidc-wasm: invalid configuration, plugin not started: %v", &ConfigError{Key: "cookie_secret", Problem: err.Error()})
		return types.OnPluginStartStatusFailed
	}
	p.cfg, p.sealer = cfg, sealer
	p.managed = map[string]bool{}
	for _, hc := range cfg.ClaimsToHeaders {
		p.managed[canonicalHeader(hc.Header)] = true
	}
	for _, name := range []string{cfg.IDTokenHeader, cfg.AccessTokenHeader} {
		if name != "" {
			p.managed[canonicalHeader(name)] = true
		}
	}
	p.metrics = newMetrics()
	if err := proxywasm.SetTickPeriodMilliSeconds(tickPeriodMS); err != nil {
		proxywasm.LogCriticalf("oidc-wasm: cannot set the tick period: %v", err)
		return types.OnPluginStartStatusFailed
	}
	proxywasm.LogInfof("oidc-wasm: started for issuer %s through cluster %q", cfg.Issuer, cfg.Cluster)
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{id: contextID, p: p}
}

// waiter is a request held until the IdP's metadata is loaded (or has failed to load).
type waiter struct {
	resume func(ok bool)
}

// maxWaiting bounds the requests held while metadata loads; beyond it requests get 503 at
// once instead of piling up in memory while the IdP is slow.
const maxWaiting = 1024

// hold parks a request until the next metadata fetch settles. It reports false when the
// queue is full; the caller then answers 503.
func (p *pluginContext) hold(id uint32, resume func(ok bool)) bool {
	if _, ok := p.waiting[id]; ok {
		p.waiting[id] = &waiter{resume: resume}
		return true
	}
	if len(p.waiting) >= maxWaiting {
		return false
	}
	p.waiting[id] = &waiter{resume: resume}
	p.order = append(p.order, id)
	return true
}

// forget drops a held request whose stream has ended.
func (p *pluginContext) forget(id uint32) { delete(p.waiting, id) }

// releaseWaiting resumes every held request, in arrival order, each in its own context.
func (p *pluginContext) releaseWaiting(ok bool) {
	order := p.order
	p.order = nil
	for _, id := range order {
		w, held := p.waiting[id]
		if !held {
			continue
		}
		delete(p.waiting, id)
		if err := proxywasm.SetEffectiveContext(id); err != nil {
			proxywasm.LogWarnf("oidc-wasm: held request %d is gone: %v", id, err)
			continue
		}
		w.resume(ok)
	}
}
