package plugin

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	k8sIssuer = "https://kubernetes.default.svc.cluster.local"
	k8sJWKS   = "http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks"
	saSubject = "system:serviceaccount:kubeflow-user-example-com:default-editor"
)

// Service-account tokens of the cluster's own issuer, verified in-process (bearer_issuers,
// issue 13): its keys are fetched through its own cluster, its tokens set its own headers, and
// a token that names it but is forged, expired or for another audience is refused. The IdP's
// tokens keep working beside it.
func TestBearerIssuers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, audiences := range []string{"", `,"audiences":["kubeflow"]`} {
			h := wasmhost.MustStart(t, vm, testConfig(`"claims_to_headers":{"kubeflow-userid":"email"},"bearer_issuers":[{"issuer":"`+k8sIssuer+
				`","jwks_uri":"`+k8sJWKS+`","claims_to_headers":{"kubeflow-userid":"sub"}`+audiences+`}]`))
			idp := newFakeIdP(t, m)
			a, b := testKeys(t)
			h.Tick()
			h.AnswerEach(wasmhost.PluginContextID, func(c wasmhost.Callout) {
				switch {
				case c.URL() == "https://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks":
					if c.Cluster != "outbound|80||cluster-jwks-proxy.istio-system.svc.cluster.local" {
						t.Errorf("the issuer's keys must come through its own cluster, not %q", c.Cluster)
					}
					h.Answer(c, 200, jwksOf(publicJWK(t, b, "sa-key")))
				case strings.HasSuffix(c.URL(), "/.well-known/openid-configuration"):
					h.Answer(c, 200, idp.discovery())
				default:
					h.Answer(c, 200, idp.jwks())
				}
			})
			var saKey, idpKey rsa.PrivateKey
			if err := b.private.Raw(&saKey); err != nil {
				t.Fatal(err)
			}
			if err := a.private.Raw(&idpKey); err != nil {
				t.Fatal(err)
			}
			now := m.now()
			sa := func(over map[string]any, key *rsa.PrivateKey, kid string) string {
				c := map[string]any{"iss": k8sIssuer, "aud": []string{"https://kubernetes.default.svc.cluster.local"}, "sub": saSubject,
					"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
				for k, v := range over {
					c[k] = v
				}
				return rawJWT(map[string]any{"alg": "RS256", "kid": kid}, c, rsaSigner(t, key, crypto.SHA256, false))
			}
			anyAudience := audiences == ""
			cases := []struct {
				name  string
				token string
				user  string // "" : refused
			}{
				{"service-account token", sa(nil, &saKey, "sa-key"), map[bool]string{true: saSubject}[anyAudience]},
				{"service-account token for the configured audience", sa(map[string]any{"aud": "kubeflow"}, &saKey, "sa-key"), saSubject},
				{"signed by the IdP's key", sa(nil, &idpKey, "sa-key"), ""},
				{"expired", sa(map[string]any{"exp": now.Add(-time.Hour).Unix()}, &saKey, "sa-key"), ""},
				{"issuer spelled otherwise", sa(map[string]any{"iss": k8sIssuer + "/"}, &saKey, "sa-key"), ""},
				{"the IdP's own token", idp.idToken("", nil), "alice@example.com"},
			}
			for _, c := range cases {
				id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + c.token}, [2]string{"kubeflow-userid", "admin"}))
				got := h.Upstream(id)["kubeflow-userid"]
				if c.user == "" {
					if r := h.Reply(id); action == types.ActionContinue || r == nil || r.Status != 401 {
						t.Errorf("audiences %q, %s: want 401, got %+v", audiences, c.name, r)
					}
					continue
				}
				if action != types.ActionContinue || len(got) != 1 || got[0] != c.user {
					t.Errorf("audiences %q, %s: upstream kubeflow-userid %v (%+v), want %q", audiences, c.name, got, h.Reply(id), c.user)
				}
			}
		}
	})
}

func TestBearerIssuersConfigErrors(t *testing.T) {
	entry := func(extra string) string {
		return `"bearer_issuers":[{"issuer":"` + k8sIssuer + `","jwks_uri":"` + k8sJWKS + `"` + extra + `}]`
	}
	cases := []struct{ config, key string }{
		{`"bearer_issuers":{}`, "bearer_issuers"},
		{`"bearer_issuers":[{"jwks_uri":"` + k8sJWKS + `"}]`, "bearer_issuers[0].issuer"},
		{`"bearer_issuers":[{"issuer":"` + k8sIssuer + `"}]`, "bearer_issuers[0].jwks_uri"},
		{entry(`,"audiences":[]`), "bearer_issuers[0].audiences"},
		{entry(`,"audience":["a"]`), "bearer_issuers[0].audience"},
		{entry(`,"claims_to_headers":{"cookie":"sub"}`), "bearer_issuers[0].claims_to_headers.cookie"},
		{`"bearer_issuers":[{"issuer":"` + testIssuer + `","jwks_uri":"` + k8sJWKS + `"}]`, "bearer_issuers[0].issuer"},
		{`"bearer_issuers":[{"issuer":"` + k8sIssuer + `","jwks_uri":"/keys"}]`, "bearer_issuers[0].jwks_uri"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(testConfig(c.config)), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
	cfgs, err := ParseConfig([]byte(testConfig(entry(""))), noEnv)
	if err != nil || len(cfgs[0].BearerIssuers) != 1 || cfgs[0].BearerIssuers[0].Cluster != "outbound|80||cluster-jwks-proxy.istio-system.svc.cluster.local" ||
		cfgs[0].BearerIssuers[0].ClaimsToHeaders[0].Header != "x-auth-request-user" {
		t.Errorf("defaults: %v %+v", err, cfgs)
	}
}
