package validate

import (
	"os"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"sigs.k8s.io/yaml"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestEnvoyExamples checks both Envoy bootstraps, and pins the values the local demo relies
// on (Dex on :5556 with this client, the app on :8081): another engineer's demo runs these
// files as they are.
func TestEnvoyExamples(t *testing.T) {
	tests := []struct {
		file   string
		module string
	}{
		{"envoy.yaml", "build/plugin.wasm"},
		{"envoy-go.yaml", "build/plugin-go.wasm"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := CheckEnvoyBootstrap(readFile(t, repoPath("examples", "envoy", tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if p.Module != tt.module {
				t.Errorf("module %q, want %q", p.Module, tt.module)
			}
			if _, err := os.Stat(repoPath(p.Module)); err != nil && os.Getenv("OIDC_WASM_REQUIRE_WASM") != "" {
				t.Errorf("the module the bootstrap loads is missing: %v", err)
			}
			if got := p.HCM.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); got != corev3.HttpProtocolOptions_REJECT_REQUEST {
				t.Errorf("headers_with_underscores_action %v, want REJECT_REQUEST", got)
			}
			if !p.HCM.GetUseRemoteAddress().GetValue() {
				t.Error("use_remote_address is off: the edge would trust a client's X-Forwarded-For")
			}
			if p.HCM.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT {
				t.Errorf("path_with_escaped_slashes_action %v", p.HCM.GetPathWithEscapedSlashesAction())
			}
			if len(p.Providers) != 1 {
				t.Fatalf("%d providers, the demo has one", len(p.Providers))
			}
			c := p.Providers[0]
			contract := []struct{ what, got, want string }{
				{"issuer", c.Issuer, "http://127.0.0.1:5556/dex"},
				{"cluster", c.Cluster, "dex"},
				{"client_id", c.ClientID, "oidc-wasm-demo"},
				{"client_secret", c.ClientSecret, "demo-secret"},
				{"cookie secret", string(c.CookieSecrets[0]), "demo-cookie-secret-only-for-demo"},
				{"redirect_path", c.RedirectPath, "/oauth2/callback"},
			}
			for _, k := range contract {
				if k.got != k.want {
					t.Errorf("%s = %q, the demo expects %q", k.what, k.got, k.want)
				}
			}
			if c.CookieSecure {
				t.Error("cookie_secure is on: browsers drop Secure cookies on http://127.0.0.1:8080")
			}
			if len(c.SkipPaths) != 1 || !c.SkipPaths[0].Match("/healthz") || c.SkipPaths[0].Match("/") {
				t.Errorf("skip_paths %+v, want /healthz only", c.SkipPaths)
			}
		})
	}
}

// TestEnvoyVariantsDifferOnlyInModule keeps envoy-go.yaml from drifting: comments aside, it
// is envoy.yaml with the other module.
func TestEnvoyVariantsDifferOnlyInModule(t *testing.T) {
	var tinygo, gobuild any
	if err := yaml.Unmarshal(readFile(t, repoPath("examples", "envoy", "envoy.yaml")), &tinygo); err != nil {
		t.Fatal(err)
	}
	goYAML := strings.Replace(string(readFile(t, repoPath("examples", "envoy", "envoy-go.yaml"))),
		"filename: build/plugin-go.wasm", "filename: build/plugin.wasm", 1)
	if err := yaml.Unmarshal([]byte(goYAML), &gobuild); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tinygo, gobuild) {
		t.Error("envoy-go.yaml differs from envoy.yaml in more than the module path")
	}
}

// TestCheckEnvoyBootstrapCatches proves the check above can fail: each case breaks
// envoy.yaml in one way a hand edit could.
func TestCheckEnvoyBootstrapCatches(t *testing.T) {
	good := string(readFile(t, repoPath("examples", "envoy", "envoy.yaml")))
	tests := []struct {
		name, old, new, wantErr string
	}{
		{"misspelt field", "merge_slashes: true", "merge_slash: true", "unknown field"},
		{"route to a missing cluster", "route: { cluster: app }", "route: { cluster: ap }", `undefined cluster "ap"`},
		{"plugin cluster missing", `"cluster": "dex"`, `"cluster": "idp"`, `cluster "idp" is not defined`},
		{"fails open", "fail_open: false", "fail_open: true", "fails open"},
		{"unknown plugin key", `"cookie_secure": false`, `"cookie_secure": false, "skip_path": []`, `"skip_path": unknown key`},
		{"short cookie secret", "ZGVtby1jb29raWUtc2VjcmV0LW9ubHktZm9yLWRlbW8=", "c2hvcnQ=", "exactly 32 bytes"},
		{"other runtime", "envoy.wasm.runtime.v8", "envoy.wasm.runtime.null", "runtime"},
		{"no path normalization", "normalize_path: true", "normalize_path: false", "normalize_path"},
		{"escaped slashes kept", "UNESCAPE_AND_REDIRECT", "KEEP_UNCHANGED", "path_with_escaped_slashes_action"},
		{"bad enum", "REJECT_REQUEST", "REJECT", "invalid value"},
		{"API rule broken", "port_value: 8080", "port_value: 80800", "PortValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("envoy.yaml no longer contains %q; update the case", tt.old)
			}
			_, err := CheckEnvoyBootstrap([]byte(strings.Replace(good, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
