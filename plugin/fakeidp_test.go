package plugin

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	testIssuer    = "https://idp.example.com"
	testClientID  = "app"
	testSecret    = "s3cr3t:&="
	testCookieKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
)

// testConfig is a valid configuration for the fake IdP; extra is spliced in as JSON members.
func testConfig(extra string) string {
	c := `{"issuer":"` + testIssuer + `","client_id":"` + testClientID + `","client_secret":"` + testSecret +
		`","cookie_secret":"` + testCookieKey + `","skip_paths":[{"prefix":"/public"},{"exact":"/healthz"}]`
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

// signingKey is an RSA key with its JWK id; generating RSA keys is slow, so tests share two.
type signingKey struct {
	kid     string
	private jwk.Key
	public  jwk.Key
}

var (
	keysOnce  sync.Once
	keyA      *signingKey
	keyB      *signingKey
	keysError error
)

func testKeys(t *testing.T) (*signingKey, *signingKey) {
	t.Helper()
	keysOnce.Do(func() {
		keyA, keysError = newSigningKey("key-a")
		if keysError == nil {
			keyB, keysError = newSigningKey("key-b")
		}
	})
	if keysError != nil {
		t.Fatal(keysError)
	}
	return keyA, keyB
}

func newSigningKey(kid string) (*signingKey, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	_ = priv.Set(jwk.KeyIDKey, kid)
	_ = priv.Set(jwk.AlgorithmKey, jwa.RS256)
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, private: priv, public: pub}, nil
}

// fakeIdP answers the plugin's callouts like an OpenID provider would.
type fakeIdP struct {
	t      *testing.T
	m      mode
	issuer string // testIssuer unless a test runs several IdPs
	signer *signingKey
	keys   []*signingKey // published in the JWKS
	claims map[string]any

	endSession string // end_session_endpoint, when the IdP has one
	userinfo   string // userinfo_endpoint, when the IdP has one
}

func newFakeIdP(t *testing.T, m mode) *fakeIdP {
	a, _ := testKeys(t)
	return &fakeIdP{t: t, m: m, issuer: testIssuer, signer: a, keys: []*signingKey{a}, claims: map[string]any{
		"sub": "user-1", "email": "alice@example.com", "email_verified": true, "groups": []string{"dev", "ops"},
	}}
}

func (f *fakeIdP) discovery() string {
	doc := map[string]any{
		"issuer":                   f.issuer,
		"authorization_endpoint":   f.issuer + "/authorize?tenant=t1",
		"token_endpoint":           f.issuer + "/token",
		"jwks_uri":                 f.issuer + "/keys",
		"response_types_supported": []string{"code"},
	}
	if f.endSession != "" {
		doc["end_session_endpoint"] = f.endSession
	}
	if f.userinfo != "" {
		doc["userinfo_endpoint"] = f.userinfo
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func (f *fakeIdP) jwks() string {
	set := jwk.NewSet()
	for _, k := range f.keys {
		_ = set.AddKey(k.public)
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// idToken mints an ID token dated on the plugin's clock; override replaces or adds claims
// (a nil value deletes one). Without a nonce it is what an IdP mints for a script or API
// client (password or client-credentials grant): no nonce claim at all.
func (f *fakeIdP) idToken(nonce string, override map[string]any) string {
	now := f.m.now()
	claims := map[string]any{
		"iss": f.issuer, "aud": testClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	for k, v := range f.claims {
		claims[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, _ := json.Marshal(claims)
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, f.signer.private))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(signed)
}

// tokenAnswer is the token endpoint's JSON for an ID token.
func tokenAnswer(idToken string) string {
	b, _ := json.Marshal(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	return string(b)
}

// serveMetadata runs the first tick and answers discovery and JWKS.
func (f *fakeIdP) serveMetadata(h *wasmhost.Host) {
	f.t.Helper()
	h.Tick()
	d := h.OnePending(wasmhost.PluginContextID)
	if d.Headers[":path"] != "/.well-known/openid-configuration" || d.Headers[":authority"] != "idp.example.com" || d.Headers[":method"] != "GET" {
		f.t.Fatalf("unexpected discovery callout: %+v", d)
	}
	h.Answer(d, 200, f.discovery())
	k := h.OnePending(wasmhost.PluginContextID)
	if k.URL() != testIssuer+"/keys" {
		f.t.Fatalf("unexpected JWKS callout: %+v", k)
	}
	h.Answer(k, 200, f.jwks())
}

// login drives a browser through the whole flow and returns the session cookie header
// value ("name=value; ..." for every chunk).
func (f *fakeIdP) login(h *wasmhost.Host, path string) string {
	f.t.Helper()
	id, action := h.Request(wasmhost.BrowserGet(path))
	r := h.Reply(id)
	if action != types.ActionPause || r == nil || r.Status != 302 {
		f.t.Fatalf("want 302 to the IdP, got action %v reply %+v", action, r)
	}
	state := stateCookie(r)
	q := wasmhost.Query(f.t, r.Header("location"))
	cbID, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")),
		[2]string{"cookie", state}))
	tok := h.OnePending(cbID)
	h.Answer(tok, 200, tokenAnswer(f.idToken(q.Get("nonce"), nil)))
	done := h.Reply(cbID)
	if done == nil || done.Status != 302 {
		f.t.Fatalf("callback: want 302, got %+v", done)
	}
	var parts []string
	for name, sc := range done.SetCookies() {
		if strings.HasPrefix(name, "__Host-oidc_session") && !strings.HasPrefix(name, "__Host-oidc_session_state") && wasmhost.CookieValue(sc) != "" {
			parts = append(parts, name+"="+wasmhost.CookieValue(sc))
		}
	}
	if len(parts) == 0 {
		f.t.Fatalf("callback set no session cookie: %+v", done.Headers)
	}
	return strings.Join(parts, "; ")
}
