package validate

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// deploymentSet is what one install applies together. Everything a WasmPlugin relies on must
// be in it, or be listed as provided by the platform.
type deploymentSet struct {
	name  string
	paths []string
	// clustersProvided are Envoy clusters that exist without anything of the set, because
	// the platform installs the Service (Kubeflow's Dex).
	clustersProvided []string
}

var deploymentSets = []deploymentSet{
	{name: "external IdP", paths: []string{
		repoPath("wasmplugin.yaml"), repoPath("examples", "istio", "base"), repoPath("examples", "istio", "secret"),
		repoPath("examples", "istio", "gateway-env"), repoPath("examples", "istio", "external-idp"),
	}},
	{name: "Dex in the mesh", paths: []string{
		repoPath("examples", "istio", "base"), repoPath("examples", "istio", "secret"),
		repoPath("examples", "istio", "gateway-env"), repoPath("examples", "istio", "dex-in-mesh"),
	}},
	{name: "Kubeflow", paths: []string{
		repoPath("examples", "kubeflow"), repoPath("examples", "istio", "gateway-env"),
	}, clustersProvided: []string{"outbound|5556||dex.auth.svc.cluster.local"}},
}

// TestDeploymentWiring checks what no schema can: that the pieces of an install fit.
func TestDeploymentWiring(t *testing.T) {
	for _, set := range deploymentSets {
		t.Run(set.name, func(t *testing.T) {
			docs, err := LoadManifests(set.paths...)
			if err != nil {
				t.Fatal(err)
			}
			w, err := collectWiring(docs)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.plugins) != 1 {
				t.Fatalf("%d WasmPlugins, want 1", len(w.plugins))
			}
			for _, err := range w.check(set.clustersProvided) {
				t.Error(err)
			}
		})
	}
}

// wiring is what TestDeploymentWiring reads from a set of manifests.
type wiring struct {
	plugins      []wasmPlugin
	gatewayEnv   map[string]string // env var -> secret/key, from the gateway Deployment (patch)
	secretKeys   map[string]bool   // "namespace/name/key"
	clusters     map[string]bool   // Envoy clusters Istio creates for the set's Services and ServiceEntries
	tlsOrigin    map[string]bool   // hosts with a DestinationRule doing SIMPLE TLS with SNI
	gatewayHosts map[string]bool   // hosts served by the set's Gateways
	routes       []string          // path prefixes the set's VirtualServices route
	secretRefs   []string          // "deployment: namespace/secret/key" for every secretKeyRef
	destinations []string          // "host:port" of every VirtualService route destination
}

type wasmPlugin struct {
	m    Manifest
	cfgs []*plugin.Config // one per provider
	env  VMEnv
}

func collectWiring(docs []Manifest) (*wiring, error) {
	w := &wiring{gatewayEnv: map[string]string{}, secretKeys: map[string]bool{}, clusters: map[string]bool{},
		tlsOrigin: map[string]bool{}, gatewayHosts: map[string]bool{}}
	for _, m := range docs {
		switch m.GVK().Kind {
		case "WasmPlugin":
			cfgs, err := parseWasmPlugin(m)
			if err != nil {
				return nil, err
			}
			_, env, err := WasmPluginConfig(m)
			if err != nil {
				return nil, err
			}
			w.plugins = append(w.plugins, wasmPlugin{m: m, cfgs: cfgs, env: env})
		case "Deployment", "Secret", "Service":
			obj, errs := DecodeCore(m, isPatch(m))
			if len(errs) > 0 {
				return nil, fmt.Errorf("%s: %w", m, errs.ToAggregate())
			}
			w.addCore(m, obj)
		case "ServiceEntry", "DestinationRule", "Gateway", "VirtualService":
			if err := w.addIstio(m); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *wiring) addCore(m Manifest, obj any) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		for k, v := range EnvFromSecrets(o) {
			if o.Namespace == "istio-system" && o.Name == "istio-ingressgateway" {
				w.gatewayEnv[k] = o.Namespace + "/" + v
			}
			w.secretRefs = append(w.secretRefs, o.Namespace+"/"+v)
		}
	case *corev1.Secret:
		for _, k := range SecretKeys(o) {
			w.secretKeys[o.Namespace+"/"+k] = true
		}
	case *corev1.Service:
		for _, p := range o.Spec.Ports {
			w.clusters[fmt.Sprintf("outbound|%d||%s.%s.svc.cluster.local", p.Port, o.Name, o.Namespace)] = true
		}
	}
}

func (w *wiring) addIstio(m Manifest) error {
	spec, err := DecodeIstioSpec(m)
	if err != nil {
		return err
	}
	switch s := spec.(type) {
	case *networkingv1alpha3.ServiceEntry:
		for _, h := range s.GetHosts() {
			for _, p := range s.GetPorts() {
				w.clusters[fmt.Sprintf("outbound|%d||%s", p.GetNumber(), h)] = true
			}
		}
	case *networkingv1alpha3.DestinationRule:
		if tls := s.GetTrafficPolicy().GetTls(); tls.GetMode() == networkingv1alpha3.ClientTLSSettings_SIMPLE && tls.GetSni() == s.GetHost() {
			w.tlsOrigin[s.GetHost()] = true
		}
	case *networkingv1alpha3.Gateway:
		for _, server := range s.GetServers() {
			for _, h := range server.GetHosts() {
				w.gatewayHosts[h] = true
			}
		}
	case *networkingv1alpha3.VirtualService:
		for _, r := range s.GetHttp() {
			for _, match := range r.GetMatch() {
				w.routes = append(w.routes, match.GetUri().GetPrefix())
			}
			for _, d := range r.GetRoute() {
				w.destinations = append(w.destinations, fmt.Sprintf("%s:%d", d.GetDestination().GetHost(), d.GetDestination().GetPort().GetNumber()))
			}
		}
	}
	return nil
}

func (w *wiring) check(clustersProvided []string) []error {
	var errs []error
	for _, ref := range w.secretRefs {
		if !w.secretKeys[ref] {
			errs = append(errs, fmt.Errorf("a Deployment reads Secret key %s, which no Secret of the set has", ref))
		}
	}
	for _, d := range w.destinations {
		host, port, _ := strings.Cut(d, ":")
		if !w.clusters["outbound|"+port+"||"+host] {
			errs = append(errs, fmt.Errorf("a VirtualService routes to %s, which no Service or ServiceEntry of the set serves", d))
		}
	}
	for _, p := range w.plugins {
		// Every HOST variable comes from the gateway's environment, fed by a Secret of the set.
		for _, name := range p.env.Host {
			ref, ok := w.gatewayEnv[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: vmConfig.env %s (HOST) is not in the gateway Deployment's environment", p.m, name))
			case !w.secretKeys[ref]:
				errs = append(errs, fmt.Errorf("%s: gateway env %s reads Secret key %s, which no Secret of the set has", p.m, name, ref))
			}
		}
		for _, cfg := range p.cfgs {
			errs = append(errs, w.checkProvider(p.m, cfg, clustersProvided)...)
		}
	}
	return errs
}

// checkProvider checks one provider of a WasmPlugin against the set: its IdP's cluster, TLS
// origination and, for an IdP behind the gateway, a login page reachable without a session.
func (w *wiring) checkProvider(m Manifest, cfg *plugin.Config, clustersProvided []string) []error {
	var errs []error
	provided := w.clusters[cfg.Cluster]
	for _, c := range clustersProvided {
		provided = provided || c == cfg.Cluster
	}
	if !provided {
		errs = append(errs, fmt.Errorf("%s: cluster %q matches no Service or ServiceEntry port of the set", m, cfg.Cluster))
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return append(errs, err)
	}
	// An https IdP reached through a ServiceEntry needs TLS origination by SNI.
	if issuer.Scheme == "https" && w.clusters[cfg.Cluster] && strings.HasSuffix(cfg.Cluster, "||"+issuer.Hostname()) && !w.tlsOrigin[issuer.Hostname()] {
		errs = append(errs, fmt.Errorf("%s: no DestinationRule originates TLS (SIMPLE, sni) to %s", m, issuer.Hostname()))
	}
	// An IdP served through the gateway itself must be reachable without a session: its
	// login pages are routed, and skipped by the plugin.
	if w.gatewayHosts[issuer.Hostname()] || len(clustersProvided) > 0 {
		login := issuer.Path + "/auth"
		if !matchAny(cfg.SkipPaths, login) {
			errs = append(errs, fmt.Errorf("%s: the IdP's login page %s is not in skip_paths: nobody could log in", m, login))
		}
		if len(clustersProvided) == 0 && !routed(w.routes, login) {
			errs = append(errs, fmt.Errorf("%s: no VirtualService on the gateway routes %s", m, login))
		}
	}
	return errs
}

func matchAny(rules []plugin.PathRule, path string) bool {
	for _, r := range rules {
		if r.Match(path) {
			return true
		}
	}
	return false
}

func routed(prefixes []string, path string) bool {
	for _, p := range prefixes {
		if p != "/" && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
