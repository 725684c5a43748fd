package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

const (
	testAssertionHeader = "x-oidc-wasm-assertion"
	testJWKSPath        = "/.well-known/oidc-wasm/jwks.json"
)

// testAssertionKey is the PEM of an assertion key ("EdDSA" or "ES256") from a constant seed.
func testAssertionKey(t testing.TB, alg string, seed byte) string {
	t.Helper()
	key, err := testidp.AssertionKeyPEM(alg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// assertionConfig is threatConfig with assertion keys, the first of which signs.
func assertionConfig(keys []string, extra string) string {
	list, _ := json.Marshal(keys)
	if extra != "" {
		extra = "," + extra
	}
	return threatConfig(`"assertion_key":` + string(list) + extra)
}

// servedJWKS reads the assertion keys as an app would fetch them from the gateway.
func servedJWKS(t *testing.T, h *wasmhost.Host, path string) jwk.Set {
	t.Helper()
	id, _ := h.Request(wasmhost.APIGet(path))
	r := h.Reply(id)
	if r == nil || r.Status != 200 || r.Header("content-type") != "application/json" || r.Header("cache-control") != "public, max-age=300" {
		t.Fatalf("GET %s: %+v", path, r)
	}
	set, err := jwk.Parse([]byte(r.Body))
	if err != nil {
		t.Fatalf("served JWKS %s: %v", r.Body, err)
	}
	return set
}

// upstreamAssertion is the one assertion header a request took upstream, "" for none.
func upstreamAssertion(t *testing.T, h *wasmhost.Host, id uint32) string {
	t.Helper()
	var found []string
	for name, values := range h.Upstream(id) {
		if canonicalHeader(name) == testAssertionHeader {
			if name != testAssertionHeader {
				t.Errorf("assertion header under the client's spelling %q", name)
			}
			found = append(found, values...)
		}
	}
	if len(found) > 1 {
		t.Errorf("%d assertion headers upstream", len(found))
	}
	return strings.Join(found, ",")
}

// verifyAssertion checks an assertion with jwx as an app would (signature by a key of set,
// iss, aud, exp at the plugin's time) and returns its claims.
func verifyAssertion(t *testing.T, token string, set jwk.Set, m mode, iss, aud string) map[string]any {
	t.Helper()
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(m.now)),
		jwt.WithIssuer(iss), jwt.WithAudience(aud), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("the assertion does not verify against the served JWKS: %v", err)
	}
	claims, err := tok.AsMap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

func withAuthority(headers [][2]string, authority string) [][2]string {
	for i, kv := range headers {
		if kv[0] == ":authority" {
			headers[i][1] = authority
		}
	}
	return headers
}

// An authenticated request carries a signed assertion of its user that an app verifies with
// jwx against the JWKS the gateway serves: issuer, audience (the host, without port),
// subject, verified email, groups, and a lifetime of assertion_ttl. A session's requests
// reuse it; a bearer token gets its own. Both key types.
func TestSignedAssertion(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		for _, alg := range []string{"EdDSA", "ES256"} {
			h := wasmhost.MustStart(t, vm, assertionConfig([]string{testAssertionKey(t, alg, 1)}, `"assertion_ttl":120,"skip_paths":[{"prefix":"/.well-known"}]`))
			idp := newFakeIdP(t, m)
			idp.serveMetadata(h)
			set := servedJWKS(t, h, testJWKSPath)
			session := idp.login(h, "/")

			id, action := h.Request(withAuthority(wasmhost.APIGet("/api/x", [2]string{"cookie", session}), "App.Example.com.:8443"))
			token := upstreamAssertion(t, h, id)
			if action != types.ActionContinue || token == "" {
				t.Fatalf("%s: session request: action %v, assertion %q, reply %+v", alg, action, token, h.Reply(id))
			}
			claims := verifyAssertion(t, token, set, m, "oidc-wasm", "app.example.com")
			iat, exp := claims["iat"].(time.Time), claims["exp"].(time.Time)
			if claims["sub"] != "user-1" || claims["email"] != "alice@example.com" || claims["idp"] != testIssuer ||
				strings.Join(stringsOf(claims["groups"]), ",") != "dev,ops" || exp.Sub(iat) != 120*time.Second {
				t.Errorf("%s: claims %v", alg, claims)
			}
			id, _ = h.Request(wasmhost.APIGet("/other", [2]string{"cookie", session}))
			if again := upstreamAssertion(t, h, id); again != token {
				t.Errorf("%s: the session's second request got another assertion", alg)
			}
			if n, _ := h.GetCounterMetric("oidc_wasm.assertion_signed"); n != 1 {
				t.Errorf("%s: %d assertions signed for two requests of one session, want 1", alg, n)
			}

			bearer := idp.idToken("", map[string]any{"nonce": nil, "sub": "robot", "email_verified": false})
			id, action = h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + bearer}))
			token = upstreamAssertion(t, h, id)
			if action != types.ActionContinue || token == "" {
				t.Fatalf("%s: bearer request: action %v, assertion %q", alg, action, token)
			}
			claims = verifyAssertion(t, token, set, m, "oidc-wasm", "app.example.com")
			if _, hasEmail := claims["email"]; claims["sub"] != "robot" || hasEmail {
				t.Errorf("%s: bearer claims %v (an unverified email must not be asserted)", alg, claims)
			}

			for method, status := range map[string]uint32{"HEAD": 200, "POST": 405} {
				id, _ := h.Request(append(wasmhost.APIGet(testJWKSPath), [2]string{":method", method})[1:])
				if r := h.Reply(id); r == nil || r.Status != status {
					t.Errorf("%s %s: %+v, want %d", method, testJWKSPath, r, status)
				}
			}
		}
	})
}

func stringsOf(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// Rotation: with a new key listed first, assertions are signed with it, the JWKS publishes
// both, and assertions signed before the change still verify against it until they expire.
func TestAssertionKeyRotation(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		oldKey, newKey := testAssertionKey(t, "EdDSA", 1), testAssertionKey(t, "ES256", 2)
		h := wasmhost.MustStart(t, vm, assertionConfig([]string{oldKey}, ""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
		before := upstreamAssertion(t, h, id)

		h = wasmhost.MustStart(t, vm, assertionConfig([]string{newKey, oldKey}, ""))
		idp.serveMetadata(h)
		set := servedJWKS(t, h, testJWKSPath)
		if set.Len() != 2 {
			t.Fatalf("JWKS of %d keys, want both", set.Len())
		}
		id, _ = h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
		after := upstreamAssertion(t, h, id)
		verifyAssertion(t, before, set, m, "oidc-wasm", "app.example.com")
		verifyAssertion(t, after, set, m, "oidc-wasm", "app.example.com")
		newKID, _ := set.Key(0)
		if kidOf(t, after) != newKID.KeyID() || kidOf(t, before) == newKID.KeyID() {
			t.Errorf("after rotation signed by %s, want the first key %s", kidOf(t, after), newKID.KeyID())
		}
	})
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		t.Fatalf("assertion is no JWS of one signature: %v", err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// Every assertion key is checked at start, and every error names the key at fault.
func TestAssertionConfigErrors(t *testing.T) {
	ed := testAssertionKey(t, "EdDSA", 1)
	var many []string
	for seed := byte(1); seed <= maxAssertionKeys+1; seed++ {
		many = append(many, testAssertionKey(t, "EdDSA", seed))
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384PEM, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	one := []string{ed}
	prefixed := func(path string) string {
		return `{"issuer":"` + testIssuer + `","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `","providers":[` +
			`{"name":"grafana","hosts":["*"],"path_prefix":"/grafana","assertion_key":` + string(mustJSON(ed)) + `,"assertion_jwks_path":"` + path + `"}]}`
	}
	cases := []struct{ config, key string }{
		{assertionConfig([]string{"not a key"}, ""), "assertion_key[0]"},
		{threatConfig(`"assertion_key":` + string(p384PEM)), "assertion_key"},
		{assertionConfig([]string{ed, ed}, ""), "assertion_key[1]"},
		{assertionConfig(many, ""), "assertion_key"},
		{assertionConfig([]string{}, ""), "assertion_key"},
		{threatConfig(`"assertion_key":7`), "assertion_key"},
		{threatConfig(`"assertion_key":"x","assertion_key_env":"K"`), "assertion_key"},
		{threatConfig(`"assertion_key_env":"MISSING"`), "assertion_key_env"},
		{threatConfig(`"assertion_key_env":["MISSING"]`), "assertion_key_env[0]"},
		{threatConfig(`"assertion_header":"x-a"`), "assertion_header"},
		{threatConfig(`"assertion_ttl":300`), "assertion_ttl"},
		{assertionConfig(one, `"assertion_header":"cookie"`), "assertion_header"},
		{assertionConfig(one, `"assertion_header":"a b"`), "assertion_header"},
		{assertionConfig(one, `"assertion_header":"X_Auth_Request_Email"`), "assertion_header"},
		{assertionConfig(one, `"id_token_header":"x-id","assertion_header":"x-id"`), "assertion_header"},
		{assertionConfig(one, `"assertion_issuer":""`), "assertion_issuer"},
		{assertionConfig(one, `"assertion_issuer":"a\nb"`), "assertion_issuer"},
		{assertionConfig(one, `"assertion_ttl":59`), "assertion_ttl"},
		{assertionConfig(one, `"assertion_ttl":3601`), "assertion_ttl"},
		{assertionConfig(one, `"assertion_jwks_path":"/oauth2/callback"`), "assertion_jwks_path"},
		{assertionConfig(one, `"assertion_jwks_path":"/oauth2/start"`), "assertion_jwks_path"},
		{assertionConfig(one, `"assertion_jwks_path":"jwks.json"`), "assertion_jwks_path"},
		{prefixed("/jwks.json"), "providers[0].assertion_jwks_path"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.config), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%.200s: want an error for key %q, got %v", c.config, c.key, err)
		}
	}
	if _, err := ParseConfig([]byte(prefixed("/grafana/keys")), noEnv); err != nil {
		t.Errorf("a JWKS path under the prefix: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Keys from the VM's environment (one, or a list whose first signs), and the defaults a
// providers entry gets from its name and path prefix. Natively: a module sees no environment.
func TestAssertionConfigFromEnvironment(t *testing.T) {
	env := map[string]string{"NEW": testAssertionKey(t, "ES256", 2), "OLD": testAssertionKey(t, "EdDSA", 1)}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c := parseOne(t, threatConfig(`"assertion_key_env":["NEW","OLD"]`), getenv)
	if a := c.Assertion; len(a.Keys) != 2 || a.Keys[0].Alg() != "ES256" || a.Header != testAssertionHeader || a.Issuer != "oidc-wasm" ||
		a.TTL != 300*time.Second || a.JWKSPath != testJWKSPath || !strings.Contains(string(a.JWKS), a.Keys[1].KID()) {
		t.Errorf("from a list of variables: %+v", a)
	}
	if c := parseOne(t, threatConfig(`"assertion_key_env":"OLD"`), getenv); len(c.Assertion.Keys) != 1 || c.Assertion.Keys[0].Alg() != "EdDSA" {
		t.Errorf("from one variable: %+v", c.Assertion)
	}
	if c := parseOne(t, threatConfig(""), getenv); len(c.Assertion.Keys) != 0 || c.Assertion.Header != "" || len(c.managedHeaders()) != 2 {
		t.Errorf("without a key no assertion and no extra managed header: %+v", c.Assertion)
	}
	cfgs, err := ParseConfig([]byte(`{"issuer":"`+testIssuer+`","client_id":"a","client_secret":"s","cookie_secret":"`+testCookieKey+
		`","assertion_key_env":"OLD","providers":[{"name":"grafana","hosts":["*"],"path_prefix":"/grafana"}]}`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfgs[0].Assertion; a.Issuer != "oidc-wasm/grafana" || a.JWKSPath != "/grafana"+testJWKSPath {
		t.Errorf("providers entry defaults: issuer %q, JWKS path %q", a.Issuer, a.JWKSPath)
	}
}

// A key the plugin cannot sign with fails plugin start with a critical log naming the key.
func TestAssertionKeyFailsPluginStart(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		sec1 := strings.ReplaceAll(testAssertionKey(t, "EdDSA", 1), "PRIVATE KEY", "EC PRIVATE KEY")
		h, st := wasmhost.Start(t, vm, assertionConfig([]string{testAssertionKey(t, "EdDSA", 2), sec1}, ""))
		if st != types.OnPluginStartStatusFailed {
			t.Fatalf("want failed start, got %v", st)
		}
		logs := strings.Join(wasmhost.CopyLogs(h.GetCriticalLogs()), "\n")
		if !strings.Contains(logs, `"assertion_key[1]"`) || !strings.Contains(logs, "openssl pkcs8") {
			t.Errorf("critical log must name the key and the remedy: %q", logs)
		}
	})
}
