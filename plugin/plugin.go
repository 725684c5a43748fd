// Package plugin is the Envoy side of oidc-wasm: the Proxy-Wasm contexts, configuration,
// the per-request state machine, dispatched calls to the IdP, headers and metrics. Every
// protocol decision is made by package oidc; this package moves bytes between Envoy and it.
package plugin

import (
	"crypto/rand"
	"io"
	"os"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// NewVMContext is what package main registers with proxywasm.SetVMContext: the host's clock
// and crypto/rand (in a module, WASI's clock_time_get and random_get).
func NewVMContext() types.VMContext {
	return newVMContext(env{now: time.Now, random: rand.Reader})
}

// newVMContext makes a VM context that reads time and randomness from e, as package oidc
// takes them as arguments: tests move time forward instead of dating sealed data back.
func newVMContext(e env) types.VMContext { return &vmContext{env: e} }

// env is what the plugin reads from outside besides Envoy's calls: the time and
// randomness.
type env struct {
	now    func() time.Time
	random io.Reader
}

type vmContext struct {
	types.DefaultVMContext
	env env
}

func (v *vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{env: v.env}
}

// pluginContext is one plugin instance: its providers, the router that picks one per
// request, and what all of them share.
type pluginContext struct {
	types.DefaultPluginContext
	env            env
	relyingParties []*relyingParty
	router         router
	managed        map[string]bool // canonical names of the headers any relying party owns
	metrics        *metrics
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
		rp, err := newRelyingParty(cfg, p.metrics, p.env)
		if err != nil {
			proxywasm.LogCriticalf("oidc-wasm: invalid configuration, plugin not started: %v", &ConfigError{Key: "cookie_secret", Problem: err.Error()})
			return types.OnPluginStartStatusFailed
		}
		p.relyingParties = append(p.relyingParties, rp)
		for _, name := range cfg.managedHeaders() {
			p.managed[canonicalHeader(name)] = true
		}
	}
	p.router = newRouter(p.relyingParties)
	createRefreshSlots()
	if err := proxywasm.SetTickPeriodMilliSeconds(tickPeriodMS); err != nil {
		proxywasm.LogCriticalf("oidc-wasm: cannot set the tick period: %v", err)
		return types.OnPluginStartStatusFailed
	}
	for _, rp := range p.relyingParties {
		proxywasm.LogInfof("oidc-wasm: started %sfor issuer %s through cluster %q", rp.describe(), rp.cfg.Issuer, rp.cfg.Cluster)
		if rp.cfg.BearerPassthrough {
			proxywasm.LogWarnf("oidc-wasm: %sbearer_passthrough is on: requests with a bearer token reach the upstream unverified; "+
				"the mesh must verify every such token (RequestAuthentication) and deny requests without a verified principal (AuthorizationPolicy)", rp.describe())
		}
	}
	return types.OnPluginStartStatusOK
}

// OnTick drives every relying party's I/O with the IdP (see idp.go).
func (p *pluginContext) OnTick() {
	for _, rp := range p.relyingParties {
		rp.tick()
	}
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{id: contextID, plugin: p}
}
