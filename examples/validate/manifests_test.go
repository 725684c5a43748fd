package validate

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// manifestRoots are every Kubernetes manifest the project ships as a file to apply or patch
// with. examples/kubeflow is a kustomize component: its objects are checked in the output of
// the kustomizations that use it (exampleDocs).
var manifestRoots = []string{
	repoPath("wasmplugin.yaml"),
	repoPath("examples", "istio"),
	repoPath("examples", "kubeflow", "secret"),
}

// exampleDocs are the documents of manifestRoots and the output of every deployment set's
// kustomization.
func exampleDocs(t *testing.T) []Manifest {
	t.Helper()
	docs, err := LoadManifests(manifestRoots...)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range deploymentSets {
		if set.build == "" {
			continue
		}
		built, err := BuildKustomization(set.build)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, built...)
	}
	return docs
}

// isPatch tells a strategic-merge patch (a partial object for kubectl patch) from a manifest.
func isPatch(m Manifest) bool { return strings.HasSuffix(m.File, "-patch.yaml") }

// checkManifest validates one document the way its reader would: Istio kinds against the CRD
// (schema, unknown fields, CEL) and istiod's types, built-in kinds by strict decoding, and a
// WasmPlugin's configuration by the plugin itself. Any other kind is an error, so a new kind
// in the examples cannot slip through unchecked.
func checkManifest(crds *CRDs, m Manifest) error {
	gvk := m.GVK()
	switch {
	case crds.Knows(gvk):
		if errs := crds.Validate(m); len(errs) > 0 {
			return fmt.Errorf("%s: %w", m, errs.ToAggregate())
		}
		if _, err := DecodeIstioSpec(m); err != nil {
			return err
		}
		if gvk.Kind == "WasmPlugin" {
			_, err := parseWasmPlugin(m)
			return err
		}
		return nil
	case IsCoreKind(gvk):
		if _, errs := DecodeCore(m, isPatch(m)); len(errs) > 0 {
			return fmt.Errorf("%s: %w", m, errs.ToAggregate())
		}
		return nil
	default:
		return fmt.Errorf("%s: kind %s is neither an Istio CRD nor a built-in kind this test decodes", m, gvk)
	}
}

// parseWasmPlugin runs the plugin's own ParseConfig on a WasmPlugin's pluginConfig, with the
// environment its VM would see (stand-ins for the HOST variables).
func parseWasmPlugin(m Manifest) ([]*plugin.Config, error) {
	cfg, env, err := WasmPluginConfig(m)
	if err != nil {
		return nil, err
	}
	c, err := plugin.ParseConfig(cfg, StandInGetenv(cfg, env))
	if err != nil {
		return nil, fmt.Errorf("%s: the plugin would refuse its configuration: %w", m, err)
	}
	return c, nil
}

func TestManifests(t *testing.T) {
	crds := istioCRDs(t)
	docs := exampleDocs(t)
	kinds := map[string]int{}
	for _, m := range docs {
		kinds[m.GVK().Kind]++
		t.Run(fmt.Sprintf("%s#%d %s %s", strings.TrimPrefix(m.File, repoRoot+"/"), m.Index, m.GVK().Kind, m.Name()), func(t *testing.T) {
			if err := checkManifest(crds, m); err != nil {
				t.Error(err)
			}
		})
	}
	// The examples must keep covering what docs/istio.md and docs/kubeflow.md promise.
	for _, k := range []string{"WasmPlugin", "ServiceEntry", "DestinationRule", "AuthorizationPolicy", "RequestAuthentication",
		"PeerAuthentication", "Gateway", "VirtualService", "Deployment", "Service", "Secret", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the examples", k)
		}
	}
}

// TestSecretPlaceholdersFailClosed keeps the example Secrets safe to apply by mistake: the
// plugin must refuse their placeholder cookie secrets (every key cookie-secret, whatever the
// Secret's name), so a forgotten placeholder stops the plugin (and, failing closed, the
// traffic) instead of sealing sessions with a public key.
func TestSecretPlaceholdersFailClosed(t *testing.T) {
	docs, err := LoadManifests(manifestRoots...)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range docs {
		if m.GVK().Kind != "Secret" {
			continue
		}
		obj, errs := DecodeCore(m, false)
		if len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		cookie, ok := obj.(*corev1.Secret).StringData["cookie-secret"]
		if !ok {
			continue
		}
		cfg := fmt.Sprintf(`{"issuer":"https://idp.example.com","client_id":"c","client_secret":"s","cookie_secret":%q}`, cookie)
		if _, err := plugin.ParseConfig([]byte(cfg), func(string) (string, bool) { return "", false }); err == nil {
			t.Errorf("%s: the plugin accepts the placeholder cookie secret %q", m, cookie)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d Secrets with a cookie-secret among the examples, want at least 3 (secret/, kubeflow/secret/, multi-provider/secret/)", n)
	}
}
