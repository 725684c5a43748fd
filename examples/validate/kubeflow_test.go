package validate

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// objectKey names an object as "Kind namespace/name".
func objectKey(m Manifest) string { return m.GVK().Kind + " " + m.Namespace() + "/" + m.Name() }

// kubeflowChange is what examples/kubeflow did to a Kubeflow install: the objects of before
// it removed, the objects it added, and those it changed.
type kubeflowChange struct {
	removed, added, changed []string
	before, after           map[string]Manifest
}

func diffBuilds(before, after []Manifest) kubeflowChange {
	c := kubeflowChange{before: map[string]Manifest{}, after: map[string]Manifest{}}
	for _, m := range before {
		c.before[objectKey(m)] = m
	}
	for _, m := range after {
		k := objectKey(m)
		c.after[k] = m
		switch b, ok := c.before[k]; {
		case !ok:
			c.added = append(c.added, k)
		case !bytes.Equal(b.Raw, m.Raw):
			c.changed = append(c.changed, k)
		}
	}
	for k := range c.before {
		if _, ok := c.after[k]; !ok {
			c.removed = append(c.removed, k)
		}
	}
	for _, l := range [][]string{c.removed, c.added, c.changed} {
		slices.Sort(l)
	}
	return c
}

// oauth2ProxyObjects are what removing oauth2-proxy means, in before: its namespace with
// everything in it, and the CUSTOM AuthorizationPolicy that sends the gateway's requests to
// it. (Its extensionProviders entry is a change to the mesh config, checked apart.)
func oauth2ProxyObjects(before map[string]Manifest) []string {
	var out []string
	for k, m := range before {
		if m.Namespace() == "oauth2-proxy" || k == "Namespace /oauth2-proxy" || k == "AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestKubeflowComponent pins what examples/kubeflow does to Kubeflow's objects (the copy of
// kubeflow/manifests in testdata): it removes oauth2-proxy exactly, adds the WasmPlugin,
// changes the gateway (its environment) and the mesh config (Kubeflow's base one, without
// oauth2-proxy's entry), and leaves every other object as it was: dex-jwt, require-jwt,
// m2m-token-issuer and Dex included. On a running cluster `kubectl apply` deletes nothing, so
// docs/kubeflow.md must name every object the component removes.
func TestKubeflowComponent(t *testing.T) {
	guide, err := os.ReadFile(repoPath("docs", "kubeflow.md"))
	if err != nil {
		t.Fatal(err)
	}
	baseMesh := meshOf(t, kubeflowBuild("common/istio/istio-install/base/patches/istio-configmap-disable-tracing.yaml"))
	tests := []struct {
		before, after string
		kept          []string // objects that must stay, by name, as docs/kubeflow.md says
	}{
		{"example", "example-oidc-wasm", []string{
			"RequestAuthentication istio-system/dex-jwt", "AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt",
		}},
		{"example-kind", "example-kind-verified", []string{
			"RequestAuthentication istio-system/dex-jwt", "AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt",
			"RequestAuthentication istio-system/m2m-token-issuer", "Deployment istio-system/cluster-jwks-proxy",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			c := kubeflowComponentChange(t, tt.before, tt.after)
			for _, err := range c.check(tt.kept, baseMesh, string(guide)) {
				t.Error(err)
			}
		})
	}
}

func kubeflowComponentChange(t *testing.T, before, after string) kubeflowChange {
	t.Helper()
	b, err := BuildKustomization(kubeflowBuild(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := BuildKustomization(kubeflowBuild(after))
	if err != nil {
		t.Fatal(err)
	}
	return diffBuilds(b, a)
}

func (c kubeflowChange) check(kept []string, baseMesh proto.Message, guide string) []error {
	var errs []error
	want := oauth2ProxyObjects(c.before)
	for _, k := range []string{"Deployment oauth2-proxy/oauth2-proxy", "Service oauth2-proxy/oauth2-proxy"} {
		if !slices.Contains(want, k) {
			errs = append(errs, fmt.Errorf("the Kubeflow objects have no %s: the test would prove nothing", k))
		}
	}
	if missing, extra := setDifference(want, c.removed), setDifference(c.removed, want); len(missing)+len(extra) > 0 {
		errs = append(errs, fmt.Errorf("oauth2-proxy's objects %v stay, and %v, which are not oauth2-proxy's, are removed", missing, extra))
	}
	if want := []string{"WasmPlugin istio-system/oidc-wasm"}; !slices.Equal(c.added, want) {
		errs = append(errs, fmt.Errorf("added %v, want %v", c.added, want))
	}
	if want := []string{"ConfigMap istio-system/istio", "Deployment istio-system/istio-ingressgateway"}; !slices.Equal(c.changed, want) {
		errs = append(errs, fmt.Errorf("changed %v, want only %v", c.changed, want))
	}
	for _, k := range kept {
		if _, ok := c.after[k]; !ok {
			errs = append(errs, fmt.Errorf("%s is gone: it must stay", k))
		}
	}
	if mesh, ok := c.after["ConfigMap istio-system/istio"]; ok {
		if got, err := meshOfManifest(mesh); err != nil || !proto.Equal(got, baseMesh) {
			errs = append(errs, fmt.Errorf("mesh config %v (%v), want Kubeflow's base one, without oauth2-proxy's extensionProviders entry: %v", got, err, baseMesh))
		}
	}
	missing := map[string][]string{} // command -> the objects it deletes
	for _, k := range c.removed {
		if cmd := deleteCommand(c.before[k]); !strings.Contains(guide, cmd) {
			missing[cmd] = append(missing[cmd], k)
		}
	}
	for cmd, objects := range missing {
		errs = append(errs, fmt.Errorf("docs/kubeflow.md does not say %q, which a running cluster needs to lose %v", cmd, objects))
	}
	if !strings.Contains(guide, "extensionProviders") {
		errs = append(errs, fmt.Errorf("docs/kubeflow.md does not say to remove the extensionProviders entry"))
	}
	return errs
}

// setDifference lists what of a is not in b.
func setDifference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// deleteCommand is how docs/kubeflow.md deletes m on a running cluster: its namespace when it
// is oauth2-proxy's, else by kind and name.
func deleteCommand(m Manifest) string {
	switch {
	case m.Namespace() == "oauth2-proxy" || m.GVK().Kind == "Namespace":
		return "kubectl delete namespace oauth2-proxy"
	case m.Namespace() != "":
		return fmt.Sprintf("kubectl -n %s delete %s %s", m.Namespace(), strings.ToLower(m.GVK().Kind), m.Name())
	}
	return fmt.Sprintf("kubectl delete %s %s", strings.ToLower(m.GVK().Kind), m.Name())
}

func meshOf(t *testing.T, path string) proto.Message {
	t.Helper()
	docs, err := LoadManifests(path)
	if err != nil || len(docs) != 1 {
		t.Fatalf("%s: %d documents, %v", path, len(docs), err)
	}
	mesh, err := meshOfManifest(docs[0])
	if err != nil {
		t.Fatal(err)
	}
	return mesh
}

func meshOfManifest(m Manifest) (proto.Message, error) {
	data, _ := m.Object["data"].(map[string]any)
	value, _ := data["mesh"].(string)
	return DecodeMeshConfig(value)
}
