package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// Kubeflow's machine clients send Kubernetes service-account tokens (`kubectl create token`),
// which Istio's RequestAuthentication m2m-token-issuer verifies with the API server's keys,
// re-served by cluster-jwks-proxy. The test plays that issuer with a key of its own.
const (
	saIssuer  = "https://kubernetes.default.svc.cluster.local"
	saJWKSURI = "http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks"
	saCluster = "outbound|80||cluster-jwks-proxy.istio-system.svc.cluster.local" // Istio's name, the plugin's default
	saSubject = "system:serviceaccount:kubeflow-user-example-com:default-editor"
	saKeyID   = "sa-signing-key"
)

// serviceAccountIssuer signs service-account tokens and serves its JWKS as cluster-jwks-proxy.
type serviceAccountIssuer struct {
	key, forger jwk.Key // the issuer's signing key; another key under the same kid
	addr        string  // the JWKS server, the address of saCluster
}

func startServiceAccountIssuer(t *testing.T) *serviceAccountIssuer {
	t.Helper()
	s := &serviceAccountIssuer{key: signingKey(t), forger: signingKey(t)}
	public, err := s.key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(public); err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/openid/v1/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	s.addr = strings.TrimPrefix(srv.URL, "http://")
	return s
}

func signingKey(t *testing.T) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: saKeyID, jwk.AlgorithmKey: jwa.RS256, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// config is the bearer_issuers entry of Kubeflow's service-account issuer: any audience (a
// service-account token carries the API server's), kubeflow-userid from sub.
func (s *serviceAccountIssuer) config() string {
	return `{"issuer":"` + saIssuer + `","jwks_uri":"` + saJWKSURI + `","claims_to_headers":{"kubeflow-userid":"sub"}}`
}

// token is a service-account token as the API server issues it, signed with key, valid for an
// hour from issued.
func (s *serviceAccountIssuer) token(t *testing.T, key jwk.Key, iss string, issued time.Time) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer(iss).Subject(saSubject).Audience([]string{saIssuer}).
		IssuedAt(issued).NotBefore(issued).Expiration(issued.Add(time.Hour)).
		Claim("kubernetes.io", map[string]any{"namespace": "kubeflow-user-example-com", "serviceaccount": map[string]any{"name": "default-editor"}}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// m2mRequest is a machine client's API call with its token, which also claims to be alice.
func m2mRequest(g *gateway, token string) (uint32, types.Action) {
	return g.Request(wasmhost.APIGet("/apis/v2beta1/pipelines", [2]string{"authorization", "Bearer " + token},
		[2]string{"kubeflow-userid", testidp.DexUser}, [2]string{"kubeflow-groups", "admins"}))
}

// serviceAccountsVerified: with bearer_issuers, the service account's token goes upstream with
// its sub as kubeflow-userid; forged ones (another key under the issuer's kid, another
// issuer, expired) get 401. now is the plugin's clock.
func serviceAccountsVerified(t *testing.T, g *gateway, sa *serviceAccountIssuer, now time.Time) {
	good := sa.token(t, sa.key, saIssuer, now.Add(-time.Minute))
	id, action := m2mRequest(g, good)
	if action != types.ActionContinue {
		t.Fatalf("the service account's token must be accepted: %v %+v (logs %q)", action, g.Reply(id), wasmhost.CopyLogs(g.GetInfoLogs()))
	}
	up := g.Upstream(id)
	if got := up["kubeflow-userid"]; len(got) != 1 || got[0] != saSubject {
		t.Errorf("kubeflow-userid %q, want only %s", got, saSubject)
	}
	if got := up["authorization"]; len(got) != 1 || got[0] != "Bearer "+good {
		t.Errorf("the verified token must go upstream as sent, got %q", got)
	}
	if up["kubeflow-groups"] != nil {
		t.Errorf("the client's kubeflow-groups reached the app: %q", up["kubeflow-groups"])
	}
	for name, forged := range map[string]string{
		"another key":    sa.token(t, sa.forger, saIssuer, now.Add(-time.Minute)),
		"another issuer": sa.token(t, sa.key, "https://kubernetes.attacker.example", now.Add(-time.Minute)),
		"expired":        sa.token(t, sa.key, saIssuer, now.Add(-2*time.Hour)),
	} {
		id, _ := m2mRequest(g, forged)
		if r := g.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("%s: want 401, got %+v", name, r)
		}
	}
}

// With bearer_passthrough, tokens go upstream untouched for Istio's RequestAuthentication
// (dex-jwt, m2m-token-issuer) and require-jwt to judge: the plugin sets no identity header,
// so a forged token passes as well, and what the client claimed is gone. Two Authorization
// headers never pass. Natively and in both modules.
func TestKubeflowBearerPassthrough(t *testing.T) {
	dex := startKubeflowDex(t, 0)
	sa := startServiceAccountIssuer(t)
	dexToken, err := dex.PasswordGrant(testidp.DexUser, testidp.DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range runModes() {
		t.Run(m.name, func(t *testing.T) {
			g := startKubeflow(t, m.vm(t), dex, `,"bearer_passthrough":true`, nil)
			for name, token := range map[string]string{
				"service account":       sa.token(t, sa.key, saIssuer, m.now().Add(-time.Minute)),
				"forged":                sa.token(t, sa.forger, saIssuer, m.now().Add(-time.Minute)),
				"Dex token of a script": dexToken,
			} {
				id, action := m2mRequest(g, token)
				up := g.Upstream(id)
				if action != types.ActionContinue {
					t.Errorf("%s: want it passed through, got %v %+v", name, action, g.Reply(id))
					continue
				}
				if got := up["authorization"]; len(got) != 1 || got[0] != "Bearer "+token {
					t.Errorf("%s: Authorization %q, want the token untouched", name, got)
				}
				if up["kubeflow-userid"] != nil || up["kubeflow-groups"] != nil {
					t.Errorf("%s: identity headers reached the app: %q %q", name, up["kubeflow-userid"], up["kubeflow-groups"])
				}
			}
			id, _ := g.Request(wasmhost.APIGet("/apis/v2beta1/pipelines", [2]string{"authorization", "Bearer " + dexToken}, [2]string{"authorization", "Bearer other"}))
			if r := g.Reply(id); r == nil || r.Status != 401 {
				t.Errorf("two Authorization headers: want 401, got %+v", r)
			}
		})
	}
}
