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

func (*vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{}
}

// pluginContext is one plugin instance: its providers, the router that picks one per
// request, and what all of them share.
type pluginContext struct {
	types.DefaultPluginContext
	providers []*provider
	router    router
	managed   map[string]bool // canonical names of the headers any provider owns
	metrics   *metrics
}

// provider is one identity provider's configuration and everything the plugin keeps for it:
// the IdP's metadata and keys, the requests waiting for them, its caches and its refresh
// flights. Each request is bound to exactly one provider (routes.go) before anything else
// is decided.
type provider struct {
	cfg            *Config
	sealer         *oidc.Sealer
	purposeSession string // sealed-data purposes bound to this provider and cookie (sealPurpose)
	purposeState   string
	// purposeLegacySession opens sessions of the legacy cookie name (Config.LegacyCookieName).
	purposeLegacySession string
	metrics              *metrics
	idp                  idpState
	waiting              map[uint32]*waiter // held requests by http context id, resumed when metadata arrives
	order                []uint32           // waiting ids in arrival order, so they resume first come first served

	tokens     *fifoCache[*identity]       // identities of verified bearer tokens
	sessions   *fifoCache[*cachedSession]  // opened session cookies (see sessioncache.go)
	refreshing map[[32]byte]*refreshFlight // session refreshes by refresh-token hash
}

func newProvider(cfg *Config, m *metrics) (*provider, error) {
	sealer, err := oidc.NewSealer(cfg.CookieSecret)
	if err != nil {
		return nil, err
	}
	return &provider{
		cfg:                  cfg,
		sealer:               sealer,
		purposeSession:       sealPurpose(oidc.PurposeSession, cfg, cfg.CookieName),
		purposeState:         sealPurpose(oidc.PurposeState, cfg, cfg.StateCookieName()),
		purposeLegacySession: sealPurpose(oidc.PurposeSession, cfg, ""),
		metrics:              m,
		waiting:              map[uint32]*waiter{},
		tokens:               newFIFOCache[*identity](maxCachedTokens),
		sessions:             newFIFOCache[*cachedSession](maxCachedSessions),
		refreshing:           map[[32]byte]*refreshFlight{},
	}, nil
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCriticalf("oidc-wasm: cannot read the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfgs, err := ParseConfig(data, os.LookupEnv)
	if err != nil {
		proxywasm.LogCriticalf("oidc-wasm: invalid configuration, plugin not started: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.metrics = newMetrics()
	p.managed = map[string]bool{}
	for _, cfg := range cfgs {
		pv, err := newProvider(cfg, p.metrics)
		if err != nil {
			proxywasm.LogCriticalf("oidc-wasm: invalid configuration, plugin not started: %v", &ConfigError{Key: "cookie_secret", Problem: err.Error()})
			return types.OnPluginStartStatusFailed
		}
		p.providers = append(p.providers, pv)
		for _, name := range cfg.managedHeaders() {
			p.managed[canonicalHeader(name)] = true
		}
	}
	p.router = newRouter(p.providers)
	if err := proxywasm.SetTickPeriodMilliSeconds(tickPeriodMS); err != nil {
		proxywasm.LogCriticalf("oidc-wasm: cannot set the tick period: %v", err)
		return types.OnPluginStartStatusFailed
	}
	for _, pv := range p.providers {
		proxywasm.LogInfof("oidc-wasm: started %sfor issuer %s through cluster %q", pv.describe(), pv.cfg.Issuer, pv.cfg.Cluster)
	}
	return types.OnPluginStartStatusOK
}

// describe names a provider in log lines ("" for a configuration without providers).
func (p *provider) describe() string {
	if p.cfg.Name == "" {
		return ""
	}
	return "provider " + p.cfg.Name + " "
}

// OnTick drives every provider's I/O with the IdP (see idp.go).
func (p *pluginContext) OnTick() {
	for _, pv := range p.providers {
		pv.tick()
	}
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{id: contextID, plugin: p}
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
func (p *provider) hold(id uint32, resume func(ok bool)) bool {
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
func (p *provider) forget(id uint32) { delete(p.waiting, id) }

// releaseWaiting resumes every held request, in arrival order, each in its own context.
func (p *provider) releaseWaiting(ok bool) {
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
