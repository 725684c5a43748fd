package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// deploymentSet is what one install applies together. Everything a WasmPlugin relies on must
// be in it, or be listed as provided by the platform.
type deploymentSet struct {
	name  string
	paths []string
	// build is a kustomization whose output is part of the set (Kubeflow's, with
	// examples/kubeflow as a component), or "".
	build string
	// clustersProvided are Envoy clusters that exist without anything of the set, because
	// the platform installs the Service (Kubeflow's Dex, the apps behind the gateway).
	clustersProvided []string
	// istio are the releases of istio.io/api the set must install on ("" is go.mod's):
	// its objects are validated against each one's CRDs (TestIstioReleases).
	istio []string
}

// Istio releases the examples target: every release from the first with failStrategy
// FAIL_RELOAD; Kubeflow's own (1.11 ships 1.28, 26.03 ships 1.29; 1.10 ships 1.24).
var (
	currentIstio  = []string{"v1.27.0", ""}
	kubeflowIstio = []string{"v1.28.0", "v1.29.0"}
)

var deploymentSets = []deploymentSet{
	{name: "external IdP", paths: []string{
		repoPath("wasmplugin.yaml"), repoPath("examples", "istio", "base"), repoPath("examples", "istio", "secret"),
		repoPath("examples", "istio", "gateway-env"), repoPath("examples", "istio", "external-idp"),
	}, istio: currentIstio},
	{name: "Dex in the mesh", paths: []string{
		repoPath("examples", "istio", "base"), repoPath("examples", "istio", "secret"),
		repoPath("examples", "istio", "gateway-env"), repoPath("examples", "istio", "dex-in-mesh"),
	}, istio: currentIstio},
	// examples/kubeflow on Kubeflow's own objects: service-account tokens passed through to
	// the mesh (the default), verified by the plugin (m2m-verified/), and on Kubeflow 1.10's
	// Istio (fail-close/).
	{name: "Kubeflow", paths: []string{repoPath("examples", "kubeflow", "secret")},
		build: kubeflowBuild("example-oidc-wasm"), istio: kubeflowIstio},
	{name: "Kubeflow, service accounts verified", paths: []string{repoPath("examples", "kubeflow", "secret")},
		build: kubeflowBuild("example-kind-verified"), istio: kubeflowIstio},
	{name: "Kubeflow 1.10", paths: []string{repoPath("examples", "kubeflow", "secret")},
		build: kubeflowBuild("example-oidc-wasm-fail-close"), istio: []string{"v1.24.3"}},
	// One WasmPlugin, two providers: Google (a ServiceEntry of the set) for Grafana, Dex (the
	// platform's) for Kubeflow; the apps themselves are installed apart.
	{name: "Several providers", paths: []string{
		repoPath("examples", "istio", "multi-provider"),
	}, clustersProvided: []string{
		"outbound|5556||dex.auth.svc.cluster.local",
		"outbound|80||grafana.monitoring.svc.cluster.local",
		"outbound|80||centraldashboard.kubeflow.svc.cluster.local",
	}, istio: currentIstio},
}

var setDocs sync.Map // set name -> func() ([]Manifest, error), each read once

// docs are the set's manifests and, if it has one, its kustomization's output, read once per
// test binary. Callers must not modify them.
func (s deploymentSet) docs() ([]Manifest, error) {
	read, _ := setDocs.LoadOrStore(s.name, sync.OnceValues(func() ([]Manifest, error) {
		docs, err := LoadManifests(s.paths...)
		if err != nil || s.build == "" {
			return docs, err
		}
		built, err := BuildKustomization(s.build)
		return append(docs, built...), err
	}))
	return read.(func() ([]Manifest, error))()
}

// TestDeploymentWiring checks what no schema can: that the pieces of an install fit.
func TestDeploymentWiring(t *testing.T) {
	for _, set := range deploymentSets {
		t.Run(set.name, func(t *testing.T) {
			docs, err := set.docs()
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
	tlsOrigin    map[string]bool   // hosts with a DestinationRule originating TLS with SNI (see addIstio)
	gatewayHosts map[string]bool   // hosts served by the set's Gateways
	routes       []vsRoute         // what the set's VirtualServices route, by host and path prefix
	secretRefs   []string          // "deployment: namespace/secret/key" for every secretKeyRef
	destinations []string          // "host:port" of every VirtualService route destination
	// The gateway's pod labels, when the set has its whole Deployment, and what Istio
	// authenticates there (wiring_mesh_test.go).
	gatewayLabels map[string]string
	requestAuthns []requestAuthn
	denials       []principalDenial
}

// vsRoute is one path prefix a VirtualService routes, with the hosts it routes it for.
type vsRoute struct {
	hosts  []string
	prefix string
}

type wasmPlugin struct {
	m        Manifest
	cfgs     []*plugin.Config // one per provider
	env      VMEnv
	selector map[string]string // the workload labels it selects
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
			spec, err := DecodeIstioSpec(m)
			if err != nil {
				return nil, err
			}
			selector := spec.(*extensionsv1alpha1.WasmPlugin).GetSelector().GetMatchLabels()
			w.plugins = append(w.plugins, wasmPlugin{m: m, cfgs: cfgs, env: env, selector: selector})
		case "Deployment", "Secret", "Service":
			obj, errs := DecodeCore(m, isPatch(m))
			if len(errs) > 0 {
				return nil, fmt.Errorf("%s: %w", m, errs.ToAggregate())
			}
			w.addCore(m, obj)
		case "ServiceEntry", "DestinationRule", "Gateway", "VirtualService", "RequestAuthentication", "AuthorizationPolicy":
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
		gateway := o.Namespace == "istio-system" && o.Name == "istio-ingressgateway"
		for k, v := range EnvFromSecrets(o) {
			if gateway {
				w.gatewayEnv[k] = o.Namespace + "/" + v
			}
			w.secretRefs = append(w.secretRefs, o.Namespace+"/"+v)
		}
		if gateway && !isPatch(m) {
			w.gatewayLabels = o.Spec.Template.Labels
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
		// SIMPLE TLS with a certificate check, presenting the host's name: a fixed sni equal
		// to it, or none, where Istio (>= 1.21, or ENABLE_AUTO_SNI) sets Envoy's auto SNI and
		// checks the certificate against each request's :authority, which IdPs whose
		// endpoints span several hosts (Google) need.
		tls := s.GetTrafficPolicy().GetTls()
		if tls.GetMode() == networkingv1alpha3.ClientTLSSettings_SIMPLE && !tls.GetInsecureSkipVerify().GetValue() &&
			(tls.GetSni() == s.GetHost() || tls.GetSni() == "") {
			w.tlsOrigin[s.GetHost()] = true
		}
	case *networkingv1alpha3.Gateway:
		for _, server := range s.GetServers() {
			for _, h := range server.GetHosts() {
				// "namespace/host" limits which VirtualServices bind; the host is the same.
				if _, host, ok := strings.Cut(h, "/"); ok {
					h = host
				}
				w.gatewayHosts[h] = true
			}
		}
	case *securityv1beta1.RequestAuthentication:
		w.addRequestAuthn(m, s)
	case *securityv1beta1.AuthorizationPolicy:
		w.addAuthorizationPolicy(m, s)
	case *networkingv1alpha3.VirtualService:
		for _, r := range s.GetHttp() {
			for _, match := range r.GetMatch() {
				w.routes = append(w.routes, vsRoute{hosts: s.GetHosts(), prefix: match.GetUri().GetPrefix()})
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
		if c := "outbound|" + port + "||" + host; !w.clusters[c] && !slices.Contains(clustersProvided, c) {
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
		errs = append(errs, w.checkHosts(p)...)
		for _, cfg := range p.cfgs {
			errs = append(errs, w.checkProvider(p, cfg, clustersProvided)...)
		}
	}
	return errs
}

// checkProvider checks one provider of a WasmPlugin against the set: its IdP's cluster, TLS
// origination and, for an IdP behind the gateway, a login page reachable without a session.
func (w *wiring) checkProvider(p wasmPlugin, cfg *plugin.Config, clustersProvided []string) []error {
	var errs []error
	name := p.m.String()
	if cfg.Name != "" {
		name += " provider " + strconv.Quote(cfg.Name)
	}
	provided := slices.Contains(clustersProvided, cfg.Cluster)
	if !w.clusters[cfg.Cluster] && !provided {
		errs = append(errs, fmt.Errorf("%s: cluster %q matches no Service or ServiceEntry port of the set", name, cfg.Cluster))
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return append(errs, err)
	}
	// An https IdP reached through a ServiceEntry needs TLS origination by SNI.
	if issuer.Scheme == "https" && w.clusters[cfg.Cluster] && strings.HasSuffix(cfg.Cluster, "||"+issuer.Hostname()) && !w.tlsOrigin[issuer.Hostname()] {
		errs = append(errs, fmt.Errorf("%s: no DestinationRule originates TLS (SIMPLE, sni or auto SNI, certificate checked) to %s", name, issuer.Hostname()))
	}
	for _, bi := range cfg.BearerIssuers {
		if !w.clusters[bi.Cluster] && !slices.Contains(clustersProvided, bi.Cluster) {
			errs = append(errs, fmt.Errorf("%s: the cluster %q of bearer issuer %s matches no Service or ServiceEntry port of the set", name, bi.Cluster, bi.Issuer))
		}
	}
	errs = append(errs, w.checkLoginPage(p, cfg, issuer, name, provided)...)
	return append(errs, w.checkMesh(p, cfg, name)...)
}
