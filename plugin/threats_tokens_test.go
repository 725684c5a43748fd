package plugin

// Bearer forgery: a bearer token passes only when it is valid, and every forgery, algorithm
// confusion, header injection or claim failure is refused for the reason named (Envoy
// CVE-2022-29226, CVE-2018-0114); unknown kids cannot flood the IdP with JWKS fetches.
// SECURITY.md, G4, G8 and "Tokens, sessions, crypto"; a session's ID token replayed as a
// bearer token is in threats_replay_test.go.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"hash"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// Bearer tokens through the plugin (Envoy CVE-2022-29226: "a token is present" is not
// authentication). Every forgery, confusion and claim failure gets 401 invalid_token; the
// controls with the same keys pass, so the refusals are for the reason named.
func TestThreatBearerTokenForgery(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		a, b := testKeys(t)
		var priv rsa.PrivateKey
		if err := a.private.Raw(&priv); err != nil {
			t.Fatal(err)
		}
		var privB rsa.PrivateKey
		if err := b.private.Raw(&privB); err != nil {
			t.Fatal(err)
		}
		ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ecPub, _ := jwk.FromRaw(&ecPriv.PublicKey)
		_ = ecPub.Set(jwk.KeyIDKey, "ec-1")
		_ = ecPub.Set(jwk.AlgorithmKey, jwa.ES256)
		idp.keys = append(idp.keys, &signingKey{kid: "ec-1", public: ecPub})
		idp.serveMetadata(h)

		now := m.now()
		claims := func(over map[string]any) map[string]any {
			c := map[string]any{"iss": testIssuer, "aud": testClientID, "sub": "user-1", "email": "alice@example.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			for k, v := range over {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			return c
		}
		rs256 := rsaSigner(t, &priv, crypto.SHA256, false)
		hdr := func(alg, kid string) map[string]any {
			m := map[string]any{"alg": alg, "typ": "JWT"}
			if kid != "" {
				m["kid"] = kid
			}
			return m
		}
		pkix, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		pkcs1 := x509.MarshalPKCS1PublicKey(&priv.PublicKey)
		pubJWK, _ := json.Marshal(a.public)
		secrets := map[string][]byte{
			"PKIX PEM":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
			"PKCS1 PEM": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
			"PKIX DER":  pkix, "modulus": priv.N.Bytes(), "JWK JSON": pubJWK, "empty": {},
		}
		attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
		attackerJWK, _ := jwk.FromRaw(&attacker.PublicKey)
		valid := rawJWT(hdr("RS256", "key-a"), claims(nil), rs256)
		validParts := strings.Split(valid, ".")
		other := rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"sub": "mallory"}), rs256)

		forged := map[string]string{
			"CVE-2022-29226 signature stripped":            validParts[0] + "." + validParts[1] + ".",
			"CVE-2022-29226 signature of another token":    validParts[0] + "." + validParts[1] + "." + strings.Split(other, ".")[2],
			"CVE-2022-29226 payload tampered":              tamperPayload(valid),
			"CVE-2022-29226 garbage":                       "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
			"CVE-2022-29226 two segments":                  validParts[0] + "." + validParts[1],
			"CVE-2022-29226 JWE-shaped":                    valid + ".x.y",
			"CVE-2022-29226 unknown kid":                   rawJWT(hdr("RS256", "key-zzz"), claims(nil), rs256),
			"CVE-2022-29226 kid path traversal":            rawJWT(hdr("RS256", "../../../../dev/null"), claims(nil), hmacSigner(sha256.New, nil)),
			"CVE-2022-29226 key not in JWKS (key-b)":       rawJWT(hdr("RS256", "key-b"), claims(nil), rsaSigner(t, &privB, crypto.SHA256, false)),
			"CVE-2022-29226 kidless, foreign key":          rawJWT(hdr("RS256", ""), claims(nil), rsaSigner(t, attacker, crypto.SHA256, false)),
			"CVE-2018-0114 embedded jwk header":            rawJWT(map[string]any{"alg": "RS256", "kid": "key-a", "jwk": attackerJWK}, claims(nil), rsaSigner(t, attacker, crypto.SHA256, false)),
			"CVE-2018-0114 jku header":                     rawJWT(map[string]any{"alg": "RS256", "jku": "https://evil.com/keys"}, claims(nil), rsaSigner(t, attacker, crypto.SHA256, false)),
			"wrong key type: RS256 naming the EC key":      rawJWT(hdr("RS256", "ec-1"), claims(nil), rs256),
			"wrong key type: ES256 naming the RSA key":     rawJWT(hdr("ES256", "key-a"), claims(nil), es256Signer(t, ecPriv)),
			"alg confusion: PS256 header, RS256 signature": rawJWT(hdr("PS256", "key-a"), claims(nil), rs256),
			"crit header": rawJWT(map[string]any{"alg": "RS256", "kid": "key-a", "crit": []string{"exp"}}, claims(nil), rs256),
			"typ at+jwt is fine, typ JOSE+JSON is not": rawJWT(map[string]any{"alg": "RS256", "kid": "key-a", "typ": "JOSE+JSON"}, claims(nil), rs256),
			"other issuer":                        rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"iss": "https://evil.example.com"}), rs256),
			"issuer with trailing slash":          rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"iss": testIssuer + "/"}), rs256),
			"issuer in other case":                rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"iss": strings.ToUpper(testIssuer)}), rs256),
			"no issuer":                           rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"iss": nil}), rs256),
			"other audience":                      rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": "other"}), rs256),
			"audience array without us":           rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": []string{"x", "y"}}), rs256),
			"no audience":                         rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": nil}), rs256),
			"azp mismatch with several audiences": rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": []string{testClientID, "other"}, "azp": "other"}), rs256),
			"several audiences without azp":       rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": []string{testClientID, "other"}}), rs256),
			"expired":                             rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"exp": now.Add(-2 * idTokenSkew).Unix()}), rs256),
			"no exp":                              rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"exp": nil}), rs256),
			"exp as string":                       rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}), rs256),
			"nbf in the future":                   rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), rs256),
		}
		for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
			forged["CVE-2022-29226 alg "+alg] = rawJWT(map[string]any{"alg": alg}, claims(nil), nil)
			forged["CVE-2022-29226 alg "+alg+" with a signature"] = rawJWT(map[string]any{"alg": alg, "kid": "key-a"}, claims(nil), rs256)
		}
		for name, secret := range secrets {
			for alg, hf := range map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New} {
				forged["alg confusion: "+alg+" keyed with the RSA public key ("+name+")"] = rawJWT(hdr(alg, "key-a"), claims(nil), hmacSigner(hf, secret))
				forged["alg confusion: "+alg+" kidless ("+name+")"] = rawJWT(hdr(alg, ""), claims(nil), hmacSigner(hf, secret))
			}
		}
		rejected0, _ := h.GetCounterMetric("oidc_wasm.bearer_rejected")
		for name, tok := range forged {
			id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + tok}))
			r := h.Reply(id)
			if action == types.ActionContinue || r == nil || r.Status != 401 || !strings.Contains(r.Header("www-authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: want 401 invalid_token, got %v %+v", name, action, r)
			}
			if h.HasPending(wasmhost.PluginContextID) {
				t.Errorf("%s: a forged token must not cause an IdP call", name)
				h.Pending(wasmhost.PluginContextID)
			}
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.bearer_rejected"); n-rejected0 != uint64(len(forged)) {
			t.Errorf("bearer_rejected grew by %d, want %d", n-rejected0, len(forged))
		}
		controls := map[string]string{
			"RS256 key-a":            valid,
			"ES256 ec-1":             rawJWT(hdr("ES256", "ec-1"), claims(nil), es256Signer(t, ecPriv)),
			"kidless RS256":          rawJWT(hdr("RS256", ""), claims(nil), rs256),
			"azp with several auds":  rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"aud": []string{testClientID, "other"}, "azp": testClientID}), rs256),
			"expired inside leeway":  rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"exp": now.Add(-idTokenSkew / 2).Unix()}), rs256),
			"nbf just inside leeway": rawJWT(hdr("RS256", "key-a"), claims(map[string]any{"nbf": now.Add(idTokenSkew / 2).Unix()}), rs256),
		}
		for name, tok := range controls {
			id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + tok}))
			if action != types.ActionContinue {
				t.Errorf("control %s: want continue, got %+v", name, h.Reply(id))
			}
		}
	})
}

// Unknown kids cost the IdP at most one JWKS fetch per interval (rate-limited,
// single-flight), not one per request.
func TestThreatUnknownKidFloodOneRefetch(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		_, b := testKeys(t)
		idp.signer = b // key-b: not in the JWKS
		for i := 0; i < keyRefreshTicks; i++ {
			h.Tick()
		}
		var ids []uint32
		for i := 0; i < 50; i++ {
			id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"jti": strconv.Itoa(i)})}))
			ids = append(ids, id)
		}
		h.Tick()
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.jwks()) // still without key-b
		for _, id := range ids {
			if r := h.Reply(id); r == nil || r.Status != 401 {
				t.Fatalf("token with an unknown kid: want 401 after the refetch, got %+v", r)
			}
		}
		// Within the interval, more unknown kids are refused at once, without a fetch.
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", nil)}))
		h.Tick()
		if r := h.Reply(id); r == nil || r.Status != 401 || h.HasPending(wasmhost.PluginContextID) {
			t.Fatalf("rate limit: want 401 and no fetch, got %+v", r)
		}
	})
}
