package validate

import (
	"errors"
	"strings"
	"testing"
)

// validWasmPlugin is a correct WasmPlugin; each case below breaks one thing in it.
const validWasmPlugin = `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: oidc-wasm
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  url: oci://registry.example.com/oidc-wasm:v1
  phase: AUTHN
  failStrategy: FAIL_CLOSE
  vmConfig:
    env:
    - name: OIDC_CLIENT_SECRET
      valueFrom: HOST
    - name: OIDC_COOKIE_SECRET
      valueFrom: HOST
  pluginConfig:
    issuer: https://accounts.example.com
    client_id: gateway
    client_secret_env: OIDC_CLIENT_SECRET
    cookie_secret_env: OIDC_COOKIE_SECRET
`

const validDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: demo
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: app:v1
`

// TestValidatorCatchesBadManifests proves that checkManifest, which passes every example, is
// not a check that passes anything: the valid base documents pass, and each single breakage
// is reported for the reason given, by the layer that should catch it (CEL rule, schema,
// unknown field, istiod's types, strict decoding, the plugin's ParseConfig).
func TestValidatorCatchesBadManifests(t *testing.T) {
	crds := istioCRDs(t)
	tests := []struct {
		name, base, old, new string
		wantErr              string // "" for the unbroken base
	}{
		{"valid WasmPlugin", validWasmPlugin, "", "", ""},
		{"valid Deployment", validDeployment, "", "", ""},

		// CEL rules of the CRD (x-kubernetes-validations).
		{"selector and targetRefs", validWasmPlugin, "  selector:\n", "  targetRefs:\n  - {kind: Gateway, group: gateway.networking.k8s.io, name: gw}\n  selector:\n",
			"only one of targetRefs or selector can be set"},
		{"ftp url", validWasmPlugin, "url: oci://", "url: ftp://", "url must have schema one of"},
		{"HOST env with a value", validWasmPlugin, "      valueFrom: HOST\n  pluginConfig", "      valueFrom: HOST\n      value: x\n  pluginConfig",
			"value may only be set when valueFrom is INLINE"},
		{"wildcard label", validWasmPlugin, "istio: ingressgateway", "istio: '*'", "wildcard not allowed"},
		// OpenAPI schema.
		{"fail strategy misspelt", validWasmPlugin, "FAIL_CLOSE", "FAIL_CLOSED", "Unsupported value"},
		{"phase as a number", validWasmPlugin, "phase: AUTHN", "phase: 1", "must be of type string"},
		{"sha256 not hex", validWasmPlugin, "  phase:", "  sha256: not-a-digest\n  phase:", "should match"},
		// List-type uniqueness.
		{"env listed twice", validWasmPlugin, "    - name: OIDC_COOKIE_SECRET", "    - name: OIDC_CLIENT_SECRET", "Duplicate value"},
		// Fields the API server would drop silently.
		{"unknown field", validWasmPlugin, "failStrategy:", "failstrategy:", "unknown field"},
		// Metadata.
		{"no namespace", validWasmPlugin, "  namespace: istio-system\n", "", "examples name their namespace"},
		{"bad name", validWasmPlugin, "name: oidc-wasm", "name: OIDC_Wasm", "metadata.name"},
		// The plugin's own configuration check.
		{"unknown plugin key", validWasmPlugin, "    client_id: gateway", "    client_id: gateway\n    skip_path: []", `"skip_path": unknown key`},
		{"env not declared", validWasmPlugin, "cookie_secret_env: OIDC_COOKIE_SECRET", "cookie_secret_env: COOKIE", `"COOKIE" is not set`},
		{"inline short cookie secret", validWasmPlugin, "cookie_secret_env: OIDC_COOKIE_SECRET", "cookie_secret: c2hvcnQ=", "exactly 32 bytes"},
		// Built-in kinds.
		{"Deployment unknown field", validDeployment, "        image: app:v1", "        image: app:v1\n        imagePullPolice: Always", "unknown field"},
		{"Deployment selects nothing", validDeployment, "labels: {app: app}", "labels: {app: other}", "not selected by spec.selector"},
		{"proxy config misspelt", validDeployment, "      labels: {app: app}\n    spec:", "      labels: {app: app}\n      annotations:\n        proxy.istio.io/config: '{proxyStatMatcher: {inclusionPrefixes: [wasmcustom]}}'\n    spec:", "unknown field"},
		{"unsupported kind", validDeployment, "kind: Deployment", "kind: Kustomization", "neither an Istio CRD nor a built-in kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.base, tt.old) {
				t.Fatalf("the base no longer contains %q", tt.old)
			}
			doc := strings.Replace(tt.base, tt.old, tt.new, 1)
			docs, err := ParseManifests(tt.name+".yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			err = checkManifest(crds, docs[0])
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("valid document refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestWiringCatchesMismatches proves TestDeploymentWiring can fail: an install whose pieces
// do not fit is reported. The cases on "Several providers" break one provider or one host
// and expect the error to name it, so every provider is checked, not only the first. The
// cases on Kubeflow break the mesh bearer_passthrough relies on, one piece at a time.
func TestWiringCatchesMismatches(t *testing.T) {
	tests := []struct {
		set, name, kind, old, new string // JSON of the first document of that kind containing old is edited
		wantErr                   string
	}{
		{"external IdP", "env var the gateway lacks", "Deployment", `"name":"OIDC_COOKIE_SECRET"`, `"name":"OTHER"`, "is not in the gateway Deployment's environment"},
		{"external IdP", "secret key nobody has", "Secret", `"cookie-secret"`, `"cookie_secret"`, "which no Secret of the set has"},
		{"external IdP", "cluster nobody creates", "ServiceEntry", `"number":443`, `"number":8443`, "matches no Service or ServiceEntry"},
		{"external IdP", "no TLS origination", "DestinationRule", `"mode":"SIMPLE"`, `"mode":"DISABLE"`, "no DestinationRule originates TLS"},
		{"external IdP", "route to a port the Service lacks", "VirtualService", `"number":8000`, `"number":80`, "routes to httpbin.demo.svc.cluster.local:80"},

		{"Several providers", "second provider's cluster", "WasmPlugin", `"outbound|5556||dex.auth.svc.cluster.local"`, `"outbound|5557||dex.auth.svc.cluster.local"`,
			`provider "kubeflow": cluster "outbound|5557||dex.auth.svc.cluster.local" matches no Service`},
		{"Several providers", "second provider's client secret not in the gateway", "Deployment", `"name":"DEX_CLIENT_SECRET"`, `"name":"DEX_SECRET"`,
			"vmConfig.env DEX_CLIENT_SECRET (HOST) is not in the gateway Deployment's environment"},
		{"Several providers", "second provider's secret key missing", "Secret", `"dex-client-secret"`, `"dex_client_secret"`,
			"oidc-wasm-providers/dex-client-secret, which no Secret of the set has"},
		{"Several providers", "second provider's login page not skipped", "WasmPlugin", `{"prefix":"/dex"}`, `{"prefix":"/dexter"}`,
			`provider "kubeflow": the IdP's login page kubeflow.example.com/dex/auth is not in skip_paths`},
		{"Several providers", "Dex routed on the other host", "VirtualService", `"hosts":["kubeflow.example.com"],"http":[{"match":[{"uri":{"prefix":"/dex/"}}]`,
			`"hosts":["grafana.example.com"],"http":[{"match":[{"uri":{"prefix":"/dex/"}}]`, "no VirtualService on the gateway routes kubeflow.example.com/dex/auth"},
		{"Several providers", "first provider without TLS origination", "DestinationRule", `"exportTo":["."],"host":"accounts.google.com","trafficPolicy":{"tls":{"mode":"SIMPLE"}}`,
			`"exportTo":["."],"host":"accounts.google.com","trafficPolicy":{"tls":{"mode":"SIMPLE","insecureSkipVerify":true}}`, "no DestinationRule originates TLS"},
		{"Several providers", "provider host misspelt", "WasmPlugin", `["grafana.example.com"]`, `["grafana.exmaple.com"]`,
			"the Gateway host grafana.example.com has no provider"},
		{"Several providers", "provider host no Gateway serves", "WasmPlugin", `["grafana.example.com"]`, `["grafana.example.com","metrics.example.com"]`,
			`provider "grafana" serves metrics.example.com, which no Gateway of the set serves`},

		// bearer_passthrough without the mesh that must judge what it lets through.
		{"Kubeflow", "passthrough without require-jwt", "AuthorizationPolicy", `"name":"istio-ingressgateway-require-jwt"`, dropDocument,
			"no DENY AuthorizationPolicy on the gateway denies requests without a request principal"},
		{"Kubeflow", "passthrough without dex-jwt", "RequestAuthentication", `"name":"dex-jwt"`, dropDocument,
			"bearer_passthrough, and no RequestAuthentication on the gateway verifies tokens of http://dex.auth.svc.cluster.local:5556/dex"},
		{"Kubeflow", "require-jwt only for some clients", "AuthorizationPolicy", `"notRequestPrincipals":["*"]`, `"notRequestPrincipals":["*"],"ipBlocks":["10.0.0.0/8"]`,
			"no DENY AuthorizationPolicy on the gateway"},
		{"Kubeflow", "require-jwt allowing", "AuthorizationPolicy", `"action":"DENY"`, `"action":"ALLOW"`, "no DENY AuthorizationPolicy on the gateway"},
		{"Kubeflow", "require-jwt on another workload", "AuthorizationPolicy", `"selector":{"matchLabels":{"app":"istio-ingressgateway"}}`,
			`"selector":{"matchLabels":{"app":"cluster-local-gateway"}}`, "no DENY AuthorizationPolicy on the gateway"},
		{"Kubeflow", "require-jwt exempting the apps", "AuthorizationPolicy", `"/oauth2/*"`, `"/oauth2/*","/pipeline/*"`,
			"lets /pipeline/* through without a principal"},
		{"Kubeflow", "dex-jwt for another issuer", "RequestAuthentication", `"issuer":"http://dex.auth.svc.cluster.local:5556/dex"`, `"issuer":"https://kubeflow.example.com/dex"`,
			"no RequestAuthentication on the gateway verifies tokens of http://dex.auth.svc.cluster.local:5556/dex"},
		{"Kubeflow", "dex-jwt reading another header", "RequestAuthentication", `"name":"Authorization","prefix":"Bearer "`, `"name":"X-Dex-Token"`,
			"no RequestAuthentication on the gateway verifies tokens of"},
		// A mesh that requires a token, and tokens it does not know.
		{"Kubeflow", "session token not forwarded", "WasmPlugin", `"forward_token":"id_token",`, ``, "forward_token is not set"},
		{"Kubeflow, service accounts verified", "verified issuer the mesh denies", "RequestAuthentication", `"issuer":"https://kubernetes.default.svc"`,
			`"issuer":"https://kubernetes.default.svc:443"`, "the plugin verifies tokens of https://kubernetes.default.svc (bearer_issuers), but no RequestAuthentication on the gateway does"},
		{"Kubeflow, service accounts verified", "verified issuer's keys unreachable", "Service", `"name":"cluster-jwks-proxy","namespace":"istio-system"`,
			dropDocument, `the cluster "outbound|80||cluster-jwks-proxy.istio-system.svc.cluster.local" of bearer issuer`},
		// Dex's login pages on the gateway's own host (authorization_endpoint /dex/auth).
		{"Kubeflow", "Dex's login page not skipped", "WasmPlugin", `"skip_paths":[{"prefix":"/dex"}]`, `"skip_paths":[{"prefix":"/dex/token"}]`,
			"the IdP's login page */dex/auth is not in skip_paths"},
		{"Kubeflow", "Dex's login page not routed", "VirtualService", `{"prefix":"/dex/"}`, `{"prefix":"/dex/keys"}`,
			"no VirtualService on the gateway routes */dex/auth"},
	}
	for _, tt := range tests {
		t.Run(tt.set+"/"+tt.name, func(t *testing.T) {
			set := findSet(t, tt.set)
			docs, err := set.docs()
			if err != nil {
				t.Fatal(err)
			}
			var broken []Manifest
			edited := false
			for _, m := range docs {
				if m.GVK().Kind == tt.kind && !edited && strings.Contains(string(m.Raw), tt.old) {
					edited = true
					if tt.new == dropDocument {
						continue
					}
					parsed, err := ParseManifests(m.File, []byte(strings.Replace(string(m.Raw), tt.old, tt.new, 1)))
					if err != nil || len(parsed) != 1 {
						t.Fatalf("reparsing %s: %v", m, err)
					}
					m = parsed[0]
				}
				broken = append(broken, m)
			}
			if !edited {
				t.Fatalf("no %s contains %s; update the case", tt.kind, tt.old)
			}
			w, err := collectWiring(broken)
			if err != nil {
				t.Fatal(err)
			}
			errs := w.check(set.clustersProvided)
			if len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", errs, tt.wantErr)
			}
		})
	}
}

// dropDocument as the replacement leaves the document out of the set.
const dropDocument = "\x00drop"

func findSet(t *testing.T, name string) deploymentSet {
	t.Helper()
	for _, s := range deploymentSets {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no deployment set %q", name)
	return deploymentSet{}
}
