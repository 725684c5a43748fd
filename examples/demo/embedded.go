package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
)

// metadataLimit bounds the wait for Dex's discovery document and keys before the gateway opens.
const metadataLimit = 15 * time.Second

// startEmbedded runs the compiled module in the project's own Proxy-Wasm host
// (internal/proxyhost: Envoy's semantics, one VM per worker, the real clock and randomness)
// behind an HTTP listener that proxies to the app.
func startEmbedded(ctx context.Context, con *console, step func(string, ...any), cfg *demoConfig, wasmPath string, verbose bool, failed chan<- error, cleanup *[]func()) error {
	step("loading %s into the embedded Proxy-Wasm host (set ENVOY_PATH or install func-e to use Envoy)", wasmPath)
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("reading the plugin (build it with make build): %w", err)
	}
	host, err := startHost(ctx, wasm, cfg, verbose, pluginLog(con.logger("plugin")))
	if err != nil {
		return err
	}
	*cleanup = append(*cleanup, func() { _ = host.Close() })
	step("plugin started on %d workers; loading Dex's discovery document and keys through cluster %q", len(host.Workers()), cfg.cluster)
	if err := waitForKeys(host, metadataLimit); err != nil {
		return err
	}
	gw := &proxyhost.Gateway{Host: host, Upstream: &url.URL{Scheme: "http", Host: appAddr}, Log: con.logger("gateway")}
	step("starting the gateway at http://%s/", gatewayAddr)
	return serve(gatewayAddr, gw.Server(), con, failed, cleanup)
}

// startHost starts the plugin with the demo's configuration, one VM per core as Envoy's
// default concurrency has it, and the demo's one cluster: Dex.
func startHost(ctx context.Context, wasm []byte, cfg *demoConfig, verbose bool, log func(int, proxyhost.LogLevel, string)) (*proxyhost.Host, error) {
	level := proxyhost.LogInfo
	if verbose {
		level = proxyhost.LogTrace
	}
	host, err := proxyhost.New(ctx, proxyhost.Config{
		Wasm: wasm, PluginConfig: []byte(cfg.raw), Workers: runtime.NumCPU(),
		Clusters: map[string]string{cfg.cluster: cfg.dexAddr}, Log: log, LogLevel: level,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the plugin: %w", err)
	}
	return host, nil
}

// waitForKeys waits until the plugin has loaded the IdP's keys, so the first browser request
// is not held while they load.
func waitForKeys(host *proxyhost.Host, limit time.Duration) error {
	for deadline := time.Now().Add(limit); host.Counter("oidc_wasm.idp_jwks_fetched") == 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("the plugin did not load the identity provider's keys within %v (its log above says why)", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
