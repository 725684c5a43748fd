package testidp

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// kubeflowIssuer is the issuer of Kubeflow's Dex: its in-cluster name, which no browser uses.
const kubeflowIssuer = "http://dex.auth.svc.cluster.local:5556/dex"

// Dex as Kubeflow configures it: tokens and discovery carry the in-cluster issuer while Dex
// listens elsewhere, the client has only the relative redirect URI /oauth2/callback, and the
// browser reaches Dex through the gateway's host at /dex/. The login leaves Dex for the
// gateway's /oauth2/callback; an absolute redirect URI is refused.
func TestDexThroughGateway(t *testing.T) {
	dex := StartDex(t, DexOptions{ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURIs: []string{"/oauth2/callback"}, Issuer: kubeflowIssuer})
	if dex.Issuer != kubeflowIssuer || dex.URL != "http://"+dex.Addr+"/dex" {
		t.Fatalf("Issuer %q, URL %q: want the configured issuer, reached at http://%s/dex", dex.Issuer, dex.URL, dex.Addr)
	}
	_, body := forwardOK(t, dex, [][2]string{
		{":method", "GET"}, {":path", "/dex/.well-known/openid-configuration"}, {":authority", "dex.auth.svc.cluster.local:5556"},
	}, nil)
	var disc struct {
		Issuer string `json:"issuer"`
		JWKS   string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &disc); err != nil || disc.Issuer != kubeflowIssuer || disc.JWKS != kubeflowIssuer+"/keys" {
		t.Fatalf("discovery %s: want the in-cluster issuer and its keys", body)
	}

	authURL := func(redirectURI string) string {
		return "https://app.example.com/dex/auth?" + url.Values{
			"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {redirectURI},
			"scope": {"openid email"}, "state": {"st"},
		}.Encode()
	}
	cb, err := NewBrowser().ThroughGateway("app.example.com", "/dex/", dex.Addr).LoginAtDex(authURL("/oauth2/callback"), DexUser, DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cb)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://app.example.com/oauth2/callback" || u.Query().Get("code") == "" || u.Query().Get("state") != "st" {
		t.Fatalf("the login left Dex for %q, want the gateway's /oauth2/callback with a code", cb)
	}
	_, err = NewBrowser().ThroughGateway("app.example.com", "/dex/", dex.Addr).LoginAtDex(authURL("https://app.example.com/oauth2/callback"), DexUser, DexPassword)
	if err == nil || !strings.Contains(err.Error(), "Unregistered redirect_uri") {
		t.Errorf("an absolute redirect URI must be refused by this Dex, got %v", err)
	}

	token, err := dex.PasswordGrant(DexUser, DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	if claims := jwtClaims(t, token); claims["iss"] != kubeflowIssuer {
		t.Errorf("token issuer %v, want %s", claims["iss"], kubeflowIssuer)
	}
}
