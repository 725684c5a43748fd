package validate

import (
	"errors"
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/oidc-wasm/oidc-wasm/plugin"

	// Types the examples name in typed_config; protojson resolves them by registration.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
)

// Names Envoy gives the pieces the plugin sits in.
const (
	hcmFilterName    = "envoy.filters.network.http_connection_manager"
	routerFilterType = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	wasmFilterType   = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
	v8Runtime        = "envoy.wasm.runtime.v8"
)

// EnvoyPlugin is how one Envoy bootstrap loads oidc-wasm.
type EnvoyPlugin struct {
	Module    string           // vm_config.code.local.filename
	Providers []*plugin.Config // the configuration, as the plugin parsed it
	// HCM is the connection manager the plugin filter runs in, for checks of its settings.
	HCM *hcmv3.HttpConnectionManager
}

// CheckEnvoyBootstrap decodes an Envoy bootstrap (YAML) strictly into Envoy's own API types,
// so unknown fields, wrong types and the API's validation rules fail here as they would when
// Envoy starts, then checks how it wires the plugin: exactly one Wasm filter, on the V8
// runtime, failing closed, before the router, with a configuration plugin.ParseConfig
// accepts, and every cluster that a route or the plugin names defined.
func CheckEnvoyBootstrap(data []byte) (*EnvoyPlugin, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		return nil, fmt.Errorf("not a valid Envoy bootstrap: %w", err)
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("the bootstrap breaks a rule of Envoy's API, so Envoy would refuse it: %w", err)
	}
	clusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
	}

	var found []*EnvoyPlugin
	var errs []error
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				p, err := checkHCM(l, f, clusters)
				if err != nil {
					errs = append(errs, err)
				}
				found = append(found, p...)
			}
		}
	}
	if len(found) != 1 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("want exactly one oidc-wasm filter, found %d", len(found)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return found[0], nil
}

func checkHCM(l *listenerv3.Listener, f *listenerv3.Filter, clusters map[string]bool) ([]*EnvoyPlugin, error) {
	if f.GetName() != hcmFilterName {
		return nil, nil
	}
	var hcm hcmv3.HttpConnectionManager
	if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
	}
	var errs []error
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if c := r.GetRoute().GetCluster(); c != "" && !clusters[c] {
				errs = append(errs, fmt.Errorf("listener %s: route %q sends to undefined cluster %q", l.GetName(), r.GetMatch().String(), c))
			}
		}
	}
	// The plugin's skip rules see the path Envoy hands over (docs/envoy.md, "What the plugin
	// relies on from Envoy").
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() {
		errs = append(errs, fmt.Errorf("listener %s: normalize_path and merge_slashes must be on", l.GetName()))
	}
	switch hcm.GetPathWithEscapedSlashesAction() {
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT, hcmv3.HttpConnectionManager_REJECT_REQUEST:
	default:
		errs = append(errs, fmt.Errorf("listener %s: path_with_escaped_slashes_action must be UNESCAPE_AND_REDIRECT or REJECT_REQUEST", l.GetName()))
	}

	var plugins []*EnvoyPlugin
	filters := hcm.GetHttpFilters()
	for i, hf := range filters {
		if hf.GetTypedConfig().GetTypeUrl() != wasmFilterType {
			continue
		}
		p, err := checkWasmFilter(hf.GetTypedConfig(), clusters)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s, filter %s: %w", l.GetName(), hf.GetName(), err))
			continue
		}
		if i == len(filters)-1 || filters[len(filters)-1].GetTypedConfig().GetTypeUrl() != routerFilterType {
			errs = append(errs, fmt.Errorf("listener %s: the router must be the last filter, after the plugin", l.GetName()))
		}
		p.HCM = &hcm
		plugins = append(plugins, p)
	}
	return plugins, errors.Join(errs...)
}

func checkWasmFilter(typed *anypb.Any, clusters map[string]bool) (*EnvoyPlugin, error) {
	var w wasmfilterv3.Wasm
	if err := typed.UnmarshalTo(&w); err != nil {
		return nil, err
	}
	pc := w.GetConfig()
	vm := pc.GetVmConfig()
	if vm.GetRuntime() != v8Runtime {
		return nil, fmt.Errorf("runtime %q, want %s", vm.GetRuntime(), v8Runtime)
	}
	//lint:ignore SA1019 fail_open is deprecated in favour of failure_policy, and still honoured by every Envoy.
	if pc.GetFailOpen() || pc.GetFailurePolicy() == wasmv3.FailurePolicy_FAIL_OPEN {
		return nil, errors.New("fails open: a plugin that cannot load would let every request through")
	}
	module := vm.GetCode().GetLocal().GetFilename()
	if module == "" {
		return nil, errors.New("vm_config.code must be a local filename")
	}
	var sv wrapperspb.StringValue
	if err := pc.GetConfiguration().UnmarshalTo(&sv); err != nil {
		return nil, fmt.Errorf("configuration must be a google.protobuf.StringValue holding JSON: %w", err)
	}
	envVars := vm.GetEnvironmentVariables()
	env := VMEnv{Inline: envVars.GetKeyValues(), Host: envVars.GetHostEnvKeys()}
	cfgs, err := plugin.ParseConfig([]byte(sv.GetValue()), StandInGetenv([]byte(sv.GetValue()), env))
	if err != nil {
		return nil, fmt.Errorf("the plugin would refuse its configuration: %w", err)
	}
	for _, cfg := range cfgs {
		if !clusters[cfg.Cluster] {
			return nil, fmt.Errorf("the plugin's cluster %q is not defined (Envoy answers DispatchHttpCall with \"bad argument\")", cfg.Cluster)
		}
	}
	return &EnvoyPlugin{Module: module, Providers: cfgs}, nil
}
