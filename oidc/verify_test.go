package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	verifyIssuer = "https://idp.example.com"
	verifyClient = "client-1"
	verifyNonce  = "n-0S6_WzA2Mj"
)

// verifyNow is the verification time of the tests: the fake clock of the wasm test host.
var verifyNow = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

// verifyKeys are the signing keys of the verification tests, generated once per test binary.
type verifyKeys struct {
	rsa, rsa2, attackerRSA *rsa.PrivateKey
	ec256, ec384, ec521    *ecdsa.PrivateKey
	attackerEC             *ecdsa.PrivateKey
	ed                     ed25519.PrivateKey
}

var verifyKeysOnce = sync.OnceValues(func() (*verifyKeys, error) {
	var k verifyKeys
	var err error
	for _, r := range []**rsa.PrivateKey{&k.rsa, &k.rsa2, &k.attackerRSA} {
		if *r, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	for _, e := range []struct {
		dst   **ecdsa.PrivateKey
		curve elliptic.Curve
	}{{&k.ec256, elliptic.P256()}, {&k.ec384, elliptic.P384()}, {&k.ec521, elliptic.P521()}, {&k.attackerEC, elliptic.P256()}} {
		if *e.dst, err = ecdsa.GenerateKey(e.curve, rand.Reader); err != nil {
			return nil, err
		}
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	return &k, nil
})

func verifyTestKeys(t testing.TB) *verifyKeys {
	t.Helper()
	k, err := verifyKeysOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifyJWK is one JWKS entry, serialized by jwx from a public key.
func verifyJWK(t testing.TB, pub any, kid, alg string) json.RawMessage {
	t.Helper()
	key, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
	}
	if alg != "" {
		if err := key.Set(jwk.AlgorithmKey, alg); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyJWKS assembles a JWKS document.
func verifyJWKS(t testing.TB, keys ...json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyKeySet is the provider's key set in the tests: kids "rsa" (RSA, no alg), "rsa-rs256"
// (RSA, alg RS256), "ec256", "ec384", "ec521" and "ed".
func verifyKeySet(t testing.TB) *KeySet {
	t.Helper()
	k := verifyTestKeys(t)
	doc := verifyJWKS(t,
		verifyJWK(t, &k.rsa.PublicKey, "rsa", ""),
		verifyJWK(t, &k.rsa2.PublicKey, "rsa-rs256", "RS256"),
		verifyJWK(t, &k.ec256.PublicKey, "ec256", ""),
		verifyJWK(t, &k.ec384.PublicKey, "ec384", "ES384"),
		verifyJWK(t, &k.ec521.PublicKey, "ec521", ""),
		verifyJWK(t, k.ed.Public(), "ed", "EdDSA"),
	)
	ks, err := ParseJWKS(200, doc)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func verifyVerifier(t testing.TB) *Verifier {
	t.Helper()
	return &Verifier{
		Issuer:    verifyIssuer,
		ClientID:  verifyClient,
		Audiences: []string{"api", verifyClient},
		Keys:      verifyKeySet(t),
		Skew:      60 * time.Second,
	}
}

// verifyDrop marks a claim to remove from verifyClaims.
const verifyDrop = "\x00drop"

// verifyClaims is a valid ID-token claim set, changed by overrides (verifyDrop removes one).
func verifyClaims(overrides map[string]any) map[string]any {
	c := map[string]any{
		"iss":   verifyIssuer,
		"aud":   verifyClient,
		"sub":   "user-42",
		"exp":   verifyNow.Add(time.Hour).Unix(),
		"iat":   verifyNow.Unix(),
		"nonce": verifyNonce,
	}
	for k, v := range overrides {
		if v == verifyDrop {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// verifySign signs claims with jwx, with protected header members hdr besides alg.
func verifySign(t testing.TB, alg jwa.SignatureAlgorithm, priv any, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	for name, v := range hdr {
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// verifyCraft builds a token from a literal header and payload, for what jwx would refuse or
// normalize (duplicate members, odd headers, ...). sign gets the signing input.
func verifyCraft(header, payload string, sign func(signed []byte) []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signed + "." + enc.EncodeToString(sign([]byte(signed)))
}

// verifyRS256 signs like RS256 with the stdlib, for verifyCraft.
func verifyRS256(t testing.TB, priv *rsa.PrivateKey) func([]byte) []byte {
	return func(signed []byte) []byte {
		sum := sha256.Sum256(signed)
		sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// verifyHS256 is HMAC-SHA256 with the given secret, the algorithm-confusion attack.
func verifyHS256(secret []byte) func([]byte) []byte {
	return func(signed []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(signed)
		return m.Sum(nil)
	}
}

// verifyPayload is the JSON of verifyClaims(overrides).
func verifyPayload(t testing.TB, overrides map[string]any) string {
	t.Helper()
	b, err := json.Marshal(verifyClaims(overrides))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// verifyCheckErr asserts that err matches want (nil: success) and no other sentinel, that its
// message contains msg, and that it does not repeat the token's signature.
func verifyCheckErr(t *testing.T, raw string, err, want error, msg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted, want %v", want)
	}
	t.Log(err)
	for _, s := range []error{ErrTokenInvalid, ErrTokenExpired, ErrUnknownKey} {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
		}
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not mention %q", err, msg)
	}
	if i := strings.LastIndexByte(raw, '.'); i >= 0 && len(raw)-i > 16 && strings.Contains(err.Error(), raw[i+1:]) {
		t.Errorf("error %q repeats the signature", err)
	}
}

func TestVerifyAlgorithms(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	cases := []struct {
		alg  jwa.SignatureAlgorithm
		priv any
		kid  string
	}{
		{jwa.RS256, k.rsa, "rsa"},
		{jwa.RS384, k.rsa, "rsa"},
		{jwa.RS512, k.rsa, "rsa"},
		{jwa.PS256, k.rsa, "rsa"},
		{jwa.PS384, k.rsa, "rsa"},
		{jwa.PS512, k.rsa, "rsa"},
		{jwa.RS256, k.rsa2, "rsa-rs256"},
		{jwa.ES256, k.ec256, "ec256"},
		{jwa.ES384, k.ec384, "ec384"},
		{jwa.ES512, k.ec521, "ec521"},
		{jwa.EdDSA, k.ed, "ed"},
	}
	for _, c := range cases {
		t.Run(c.alg.String()+"/"+c.kid, func(t *testing.T) {
			raw := verifySign(t, c.alg, c.priv, map[string]any{"kid": c.kid, "typ": "JWT"}, verifyClaims(nil))
			tok, err := v.VerifyIDToken(raw, verifyNonce, verifyNow)
			if err != nil {
				t.Fatal(err)
			}
			if tok.KeyID != c.kid || tok.Subject != "user-42" || tok.Issuer != verifyIssuer || tok.Nonce != verifyNonce || tok.Raw != raw {
				t.Errorf("token = %+v", tok)
			}
			if !tok.Expiry.Equal(verifyNow.Add(time.Hour)) || !tok.IssuedAt.Equal(verifyNow) {
				t.Errorf("times: exp %v iat %v", tok.Expiry, tok.IssuedAt)
			}
			var claims map[string]any
			if err := json.Unmarshal(tok.Claims, &claims); err != nil || claims["sub"] != "user-42" {
				t.Errorf("claims %s: %v", tok.Claims, err)
			}

			// Without kid, the keys that fit the alg are tried.
			raw = verifySign(t, c.alg, c.priv, nil, verifyClaims(nil))
			if tok, err = v.VerifyIDToken(raw, verifyNonce, verifyNow); err != nil {
				t.Fatal(err)
			}
			if tok.KeyID != c.kid {
				t.Errorf("kid-less token verified by %q, want %q", tok.KeyID, c.kid)
			}
		})
	}
}

func TestVerifyRules(t *testing.T) {
	k := verifyTestKeys(t)
	rsaPKIX, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPKIX})
	rsaPKCS1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	rsaJWK := verifyJWK(t, &k.rsa.PublicKey, "rsa", "")
	kidRSA := map[string]any{"kid": "rsa"}
	sign := func(claims map[string]any) string { return verifySign(t, jwa.RS256, k.rsa, kidRSA, claims) }
	valid := sign(verifyClaims(nil))
	validParts := strings.Split(valid, ".")
	header := `{"alg":"RS256","kid":"rsa"}`
	payload := verifyPayload(t, nil)
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	enc := base64.RawURLEncoding.EncodeToString

	cases := []struct {
		name  string
		raw   string
		nonce string // "" uses verifyNonce
		want  error
		msg   string
	}{
		{name: "valid", raw: valid},

		// Shape.
		{name: "empty", raw: "", want: ErrTokenInvalid, msg: "empty token"},
		{name: "truncated", raw: valid[:len(valid)-10], want: ErrTokenInvalid, msg: "signature"},
		{name: "two segments", raw: validParts[0] + "." + validParts[1], want: ErrTokenInvalid, msg: "2 segments"},
		{name: "extra segment", raw: valid + ".e30", want: ErrTokenInvalid, msg: "4 segments"},
		{name: "JWE", raw: "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn", want: ErrTokenInvalid, msg: "JWE"},
		{name: "too large", raw: sign(verifyClaims(map[string]any{"pad": strings.Repeat("x", 16<<10)})), want: ErrTokenInvalid, msg: "exceeds the limit"},
		{name: "padding", raw: valid + "==", want: ErrTokenInvalid, msg: "outside base64url"},
		{name: "newline", raw: validParts[0] + ".\n" + validParts[1] + "." + validParts[2], want: ErrTokenInvalid, msg: "outside base64url"},
		{name: "standard base64 alphabet", raw: validParts[0] + "." + validParts[1] + "+/." + validParts[2], want: ErrTokenInvalid, msg: "outside base64url"},
		{name: "space", raw: " " + valid, want: ErrTokenInvalid, msg: "outside base64url"},
		{name: "non-canonical signature", raw: verifyNonCanonical(valid), want: ErrTokenInvalid, msg: "signature is not canonical base64url"},
		{name: "header not JSON", raw: enc([]byte("alg:RS256")) + "." + validParts[1] + "." + validParts[2], want: ErrTokenInvalid, msg: "header: invalid JSON"},
		{name: "header array", raw: verifyCraft(`["RS256"]`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "not a JSON object"},
		{name: "header nested too deep", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","x":`+deep+`}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "nested deeper"},

		// Algorithm, decided before any key is looked up.
		{name: "alg none unsigned", raw: enc([]byte(`{"alg":"none"}`)) + "." + validParts[1] + ".", want: ErrTokenInvalid, msg: `alg "none" not allowed`},
		{name: "alg none with signature", raw: enc([]byte(`{"alg":"none","kid":"rsa"}`)) + "." + validParts[1] + "." + validParts[2], want: ErrTokenInvalid, msg: `alg "none" not allowed`},
		{name: "alg None", raw: verifyCraft(`{"alg":"None","kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `alg "None" not allowed`},
		{name: "HS256 keyed with RSA public PEM", raw: verifyCraft(`{"alg":"HS256","kid":"rsa","typ":"JWT"}`, payload, verifyHS256(rsaPEM)), want: ErrTokenInvalid, msg: `alg "HS256" not allowed`},
		{name: "HS256 keyed with RSA PKCS1 PEM", raw: verifyCraft(`{"alg":"HS256","typ":"JWT"}`, payload, verifyHS256(rsaPKCS1PEM)), want: ErrTokenInvalid, msg: `alg "HS256" not allowed`},
		{name: "HS256 keyed with RSA public DER", raw: verifyCraft(`{"alg":"HS256","kid":"rsa"}`, payload, verifyHS256(rsaPKIX)), want: ErrTokenInvalid, msg: `alg "HS256" not allowed`},
		{name: "HS256 keyed with RSA JWK JSON", raw: verifyCraft(`{"alg":"HS256","kid":"rsa"}`, payload, verifyHS256(rsaJWK)), want: ErrTokenInvalid, msg: `alg "HS256" not allowed`},
		{name: "HS512", raw: verifyCraft(`{"alg":"HS512","kid":"unknown"}`, payload, verifyHS256(nil)), want: ErrTokenInvalid, msg: `alg "HS512" not allowed`},
		{name: "alg lower case", raw: verifyCraft(`{"alg":"rs256","kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `alg "rs256" not allowed`},
		{name: "alg missing", raw: verifyCraft(`{"kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "alg is missing"},
		{name: "alg not a string", raw: verifyCraft(`{"alg":["RS256"],"kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "alg is not a string"},
		{name: "alg duplicated", raw: verifyCraft(`{"alg":"RS256","alg":"none","kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "occurs more than once"},
		{name: "alg duplicated via escape", raw: verifyCraft(`{"alg":"RS256","\u0061lg":"HS256","kid":"rsa"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "occurs more than once"},

		// Other header members.
		{name: "typ JWT", raw: verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa", "typ": "JWT"}, verifyClaims(nil))},
		{name: "typ application/jwt", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","typ":"application/JWT"}`, payload, verifyRS256(t, k.rsa))},
		{name: "typ at+jwt for an ID token", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","typ":"at+jwt"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `typ "at+jwt" not accepted`},
		{name: "typ absurd", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","typ":"text/html"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `typ "text/html" not accepted`},
		{name: "typ not a string", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","typ":1}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "typ is not a string"},
		{name: "crit", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","crit":["exp"],"exp":1}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `"crit" not supported`},
		{name: "b64 false", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","b64":false}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `"b64" not supported`},
		{name: "nested JWT", raw: verifyCraft(`{"alg":"RS256","kid":"rsa","cty":"JWT"}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `"cty" not supported`},
		{name: "kid empty", raw: verifyCraft(`{"alg":"RS256","kid":""}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "kid is empty"},
		{name: "kid not a string", raw: verifyCraft(`{"alg":"RS256","kid":7}`, payload, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "kid is not a string"},

		// Keys.
		{name: "kid not in set", raw: verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rotated"}, verifyClaims(nil)), want: ErrUnknownKey, msg: `kid "rotated"`},
		{name: "kid with control characters", raw: verifyCraft(`{"alg":"RS256","kid":"a\nb"}`, payload, verifyRS256(t, k.rsa)), want: ErrUnknownKey, msg: `kid "a\nb"`},
		{name: "ES256 with kid of an RSA key", raw: verifySign(t, jwa.ES256, k.ec256, kidRSA, verifyClaims(nil)), want: ErrTokenInvalid, msg: `key "rsa" cannot verify ES256`},
		{name: "RS256 with kid of an EC key", raw: verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "ec256"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: `key "ec256" cannot verify RS256`},
		{name: "ES384 with kid of a P-256 key", raw: verifySign(t, jwa.ES384, k.ec384, map[string]any{"kid": "ec256"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: `key "ec256" cannot verify ES384`},
		{name: "EdDSA with kid of an EC key", raw: verifySign(t, jwa.EdDSA, k.ed, map[string]any{"kid": "ec521"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: `cannot verify EdDSA`},
		{name: "PS256 with key declaring RS256", raw: verifySign(t, jwa.PS256, k.rsa2, map[string]any{"kid": "rsa-rs256"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: `key "rsa-rs256" cannot verify PS256`},
		{name: "signed by another key, kid of ours", raw: verifySign(t, jwa.RS256, k.attackerRSA, kidRSA, verifyClaims(nil)), want: ErrTokenInvalid, msg: "signature does not verify"},
		{name: "signed by another key, no kid", raw: verifySign(t, jwa.RS256, k.attackerRSA, nil, verifyClaims(nil)), want: ErrTokenInvalid, msg: "signature does not verify with any key"},
		{name: "embedded jwk header", raw: verifySign(t, jwa.ES256, k.attackerEC, map[string]any{"jwk": verifyJWKKey(t, &k.attackerEC.PublicKey)}, verifyClaims(nil)), want: ErrTokenInvalid, msg: "signature does not verify"},
		{name: "jku header", raw: verifySign(t, jwa.ES256, k.attackerEC, map[string]any{"jku": "https://attacker.example/jwks"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: "signature does not verify"},

		// Signature.
		{name: "tampered payload", raw: validParts[0] + "." + enc([]byte(verifyPayload(t, map[string]any{"sub": "admin"}))) + "." + validParts[2], want: ErrTokenInvalid, msg: "signature does not verify"},
		{name: "tampered signature", raw: validParts[0] + "." + validParts[1] + "." + verifyFlip(validParts[2]), want: ErrTokenInvalid, msg: "signature does not verify"},
		{name: "signature missing", raw: validParts[0] + "." + validParts[1] + ".", want: ErrTokenInvalid, msg: "signature missing"},
		{name: "signature of another token", raw: validParts[0] + "." + enc([]byte(payload)) + "." + strings.Split(sign(verifyClaims(map[string]any{"sub": "x"})), ".")[2], want: ErrTokenInvalid, msg: "signature does not verify"},

		// Payload.
		{name: "payload not JSON", raw: verifyCraft(header, `{"iss":`, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "payload: invalid JSON"},
		{name: "payload array", raw: verifyCraft(header, `[1]`, verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "payload: not a JSON object"},
		{name: "payload nested too deep", raw: sign(verifyClaims(map[string]any{"x": json.RawMessage(deep)})), want: ErrTokenInvalid, msg: "nested deeper"},
		{name: "claim duplicated", raw: verifyCraft(header, strings.Replace(payload, `"sub":"user-42"`, `"sub":"user-42","sub":"admin"`, 1), verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: `"sub" occurs more than once`},

		// Issuer.
		{name: "other issuer", raw: sign(verifyClaims(map[string]any{"iss": "https://evil.example.com"})), want: ErrTokenInvalid, msg: `issuer "https://evil.example.com" not accepted`},
		{name: "issuer with trailing slash", raw: sign(verifyClaims(map[string]any{"iss": verifyIssuer + "/"})), want: ErrTokenInvalid, msg: "issuer"},
		{name: "issuer missing", raw: sign(verifyClaims(map[string]any{"iss": verifyDrop})), want: ErrTokenInvalid, msg: "iss is missing"},
		{name: "issuer not a string", raw: sign(verifyClaims(map[string]any{"iss": []string{verifyIssuer}})), want: ErrTokenInvalid, msg: "iss is not a string"},

		// Audience and azp.
		{name: "other audience", raw: sign(verifyClaims(map[string]any{"aud": "x"})), want: ErrTokenInvalid, msg: `audience "x" not accepted`},
		{name: "audience of another API", raw: sign(verifyClaims(map[string]any{"aud": "api"})), want: ErrTokenInvalid, msg: `audience "api" not accepted`},
		{name: "audience array", raw: sign(verifyClaims(map[string]any{"aud": []string{verifyClient}}))},
		{name: "audience array with others and azp", raw: sign(verifyClaims(map[string]any{"aud": []string{"x", verifyClient}, "azp": verifyClient}))},
		{name: "several audiences without azp", raw: sign(verifyClaims(map[string]any{"aud": []string{"x", verifyClient}})), want: ErrTokenInvalid, msg: "azp is missing although aud has 2 entries"},
		{name: "azp mismatch with several audiences", raw: sign(verifyClaims(map[string]any{"aud": []string{"x", verifyClient}, "azp": "x"})), want: ErrTokenInvalid, msg: `azp "x" not accepted`},
		{name: "azp mismatch with one audience", raw: sign(verifyClaims(map[string]any{"azp": "other-client"})), want: ErrTokenInvalid, msg: `azp "other-client" not accepted`},
		{name: "azp matches", raw: sign(verifyClaims(map[string]any{"azp": verifyClient}))},
		{name: "azp not a string", raw: sign(verifyClaims(map[string]any{"azp": 1})), want: ErrTokenInvalid, msg: "azp is not a string"},
		{name: "audience missing", raw: sign(verifyClaims(map[string]any{"aud": verifyDrop})), want: ErrTokenInvalid, msg: "aud is missing"},
		{name: "audience number", raw: sign(verifyClaims(map[string]any{"aud": 1})), want: ErrTokenInvalid, msg: "aud is not a string or an array"},
		{name: "audience empty array", raw: sign(verifyClaims(map[string]any{"aud": []string{}})), want: ErrTokenInvalid, msg: "aud is empty"},
		{name: "audience array with a number", raw: sign(verifyClaims(map[string]any{"aud": []any{verifyClient, 1}, "azp": verifyClient})), want: ErrTokenInvalid, msg: "aud holds a non-string"},
		{name: "audience empty string", raw: sign(verifyClaims(map[string]any{"aud": ""})), want: ErrTokenInvalid, msg: `audience "" not accepted`},

		// Subject and nonce.
		{name: "sub missing", raw: sign(verifyClaims(map[string]any{"sub": verifyDrop})), want: ErrTokenInvalid, msg: "sub is missing"},
		{name: "sub empty", raw: sign(verifyClaims(map[string]any{"sub": ""})), want: ErrTokenInvalid, msg: "sub is empty"},
		{name: "sub number", raw: sign(verifyClaims(map[string]any{"sub": 42})), want: ErrTokenInvalid, msg: "sub is not a string"},
		{name: "wrong nonce", raw: valid, nonce: "another-login", want: ErrTokenInvalid, msg: "nonce does not match"},
		{name: "nonce prefix", raw: valid, nonce: verifyNonce[:4], want: ErrTokenInvalid, msg: "nonce does not match"},
		{name: "nonce missing", raw: sign(verifyClaims(map[string]any{"nonce": verifyDrop})), want: ErrTokenInvalid, msg: "nonce is missing"},
		{name: "nonce not a string", raw: sign(verifyClaims(map[string]any{"nonce": []string{verifyNonce}})), want: ErrTokenInvalid, msg: "nonce is not a string"},

		// Time.
		{name: "expired", raw: sign(verifyClaims(map[string]any{"exp": verifyNow.Add(-time.Hour).Unix()})), want: ErrTokenExpired, msg: "expired at 2021-12-31T23:00:00Z"},
		{name: "expired at now+skew", raw: sign(verifyClaims(map[string]any{"exp": verifyNow.Add(-time.Minute).Unix()})), want: ErrTokenExpired, msg: "expired"},
		{name: "expired within skew", raw: sign(verifyClaims(map[string]any{"exp": verifyNow.Add(-59 * time.Second).Unix()}))},
		{name: "expired and other issuer", raw: sign(verifyClaims(map[string]any{"exp": 1, "iss": "x"})), want: ErrTokenInvalid, msg: "issuer"},
		{name: "exp fractional", raw: sign(verifyClaims(map[string]any{"exp": float64(verifyNow.Unix()) + 0.5}))},
		{name: "exp missing", raw: sign(verifyClaims(map[string]any{"exp": verifyDrop})), want: ErrTokenInvalid, msg: "exp is missing"},
		{name: "exp string", raw: sign(verifyClaims(map[string]any{"exp": "2100000000"})), want: ErrTokenInvalid, msg: "exp is not a number"},
		{name: "exp null", raw: sign(verifyClaims(map[string]any{"exp": nil})), want: ErrTokenInvalid, msg: "exp is not a number"},
		{name: "exp negative", raw: sign(verifyClaims(map[string]any{"exp": -1})), want: ErrTokenInvalid, msg: "exp is out of range"},
		{name: "exp huge", raw: verifyCraft(header, strings.Replace(payload, `"exp":`, `"exp":1e999,"x":`, 1), verifyRS256(t, k.rsa)), want: ErrTokenInvalid, msg: "exp is out of range"},
		{name: "exp past year 9999", raw: sign(verifyClaims(map[string]any{"exp": int64(1) << 53})), want: ErrTokenInvalid, msg: "exp is out of range"},
		{name: "not yet valid", raw: sign(verifyClaims(map[string]any{"nbf": verifyNow.Add(2 * time.Minute).Unix()})), want: ErrTokenInvalid, msg: "not valid before 2022-01-01T00:02:00Z"},
		{name: "not yet valid within skew", raw: sign(verifyClaims(map[string]any{"nbf": verifyNow.Add(time.Minute).Unix()}))},
		{name: "nbf string", raw: sign(verifyClaims(map[string]any{"nbf": "0"})), want: ErrTokenInvalid, msg: "nbf is not a number"},
		{name: "iat in the future", raw: sign(verifyClaims(map[string]any{"iat": verifyNow.AddDate(4, 0, 0).Unix(), "exp": verifyNow.AddDate(4, 0, 0).Add(time.Hour).Unix()}))},
		{name: "iat missing", raw: sign(verifyClaims(map[string]any{"iat": verifyDrop}))},
		{name: "iat string", raw: sign(verifyClaims(map[string]any{"iat": "now"})), want: ErrTokenInvalid, msg: "iat is not a number"},
	}
	v := verifyVerifier(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nonce := c.nonce
			if nonce == "" {
				nonce = verifyNonce
			}
			tok, err := v.VerifyIDToken(c.raw, nonce, verifyNow)
			verifyCheckErr(t, c.raw, err, c.want, c.msg)
			if err == nil && (tok == nil || tok.Raw != c.raw) {
				t.Errorf("token = %+v", tok)
			}
			if err != nil && tok != nil {
				t.Errorf("token returned with error: %+v", tok)
			}
		})
	}
}

func TestVerifyBearer(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	v.Audiences = []string{"api", "api2"}
	sign := func(hdr, claims map[string]any) string {
		if hdr == nil {
			hdr = map[string]any{"kid": "ec256", "typ": "at+jwt"}
		}
		return verifySign(t, jwa.ES256, k.ec256, hdr, claims)
	}
	// with is an access token's claims: audience "api", no nonce, changed by overrides.
	with := func(overrides map[string]any) map[string]any {
		c := verifyClaims(map[string]any{"aud": "api", "nonce": verifyDrop, "scope": "read"})
		for name, val := range overrides {
			if val == verifyDrop {
				delete(c, name)
				continue
			}
			c[name] = val
		}
		return c
	}
	cases := []struct {
		name string
		raw  string
		want error
		msg  string
	}{
		{name: "valid at+jwt", raw: sign(nil, with(nil))},
		{name: "valid application/at+jwt", raw: sign(map[string]any{"kid": "ec256", "typ": "application/AT+JWT"}, with(nil))},
		{name: "valid without typ", raw: sign(map[string]any{"kid": "ec256"}, with(nil))},
		{name: "second accepted audience", raw: sign(nil, with(map[string]any{"aud": "api2"}))},
		{name: "several audiences, azp is an accepted audience", raw: sign(nil, with(map[string]any{"aud": []string{"api", "api2"}, "azp": "api2"}))},
		{name: "several audiences, azp is the client", raw: sign(nil, with(map[string]any{"aud": []string{"api", "x"}, "azp": verifyClient}))},
		{name: "several audiences without azp", raw: sign(nil, with(map[string]any{"aud": []string{"api", "api2"}})), want: ErrTokenInvalid, msg: "azp is missing"},
		{name: "azp another client", raw: sign(nil, with(map[string]any{"azp": "spa"})), want: ErrTokenInvalid, msg: `azp "spa" not accepted`},
		{name: "client audience not accepted", raw: sign(nil, with(map[string]any{"aud": verifyClient})), want: ErrTokenInvalid, msg: "audience"},
		{name: "at+jwt with a nonce is an access token", raw: sign(nil, with(map[string]any{"nonce": 5}))},
		{name: "nonce marks a login token", raw: sign(map[string]any{"kid": "ec256", "typ": "JWT"}, with(map[string]any{"nonce": "n"})), want: ErrTokenInvalid, msg: "interactive login"},
		{name: "nonce without typ", raw: sign(map[string]any{"kid": "ec256"}, with(map[string]any{"nonce": ""})), want: ErrTokenInvalid, msg: "interactive login"},
		{name: "nonce null is a nonce", raw: sign(map[string]any{"kid": "ec256"}, with(map[string]any{"nonce": nil})), want: ErrTokenInvalid, msg: "interactive login"},
		{name: "nonce in a Keycloak access token (typ Bearer)", raw: sign(map[string]any{"kid": "ec256"}, with(map[string]any{"nonce": "n", "typ": "Bearer"}))},
		{name: "nonce with typ ID", raw: sign(map[string]any{"kid": "ec256"}, with(map[string]any{"nonce": "n", "typ": "ID"})), want: ErrTokenInvalid, msg: "interactive login"},
		{name: "sub required", raw: sign(nil, with(map[string]any{"sub": verifyDrop})), want: ErrTokenInvalid, msg: "sub is missing"},
		{name: "expired", raw: sign(nil, with(map[string]any{"exp": 1})), want: ErrTokenExpired, msg: "expired"},
		{name: "unknown key", raw: sign(map[string]any{"kid": "next"}, with(nil)), want: ErrUnknownKey, msg: `kid "next"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := v.Verify(c.raw, verifyNow)
			verifyCheckErr(t, c.raw, err, c.want, c.msg)
			if err == nil && (tok.Nonce != "" || tok.KeyID != "ec256") {
				t.Errorf("token = %+v", tok)
			}
		})
	}
	// AcceptLoginTokens lets ID tokens pass as bearer tokens again.
	accepting := *v
	accepting.AcceptLoginTokens = true
	if _, err := accepting.Verify(sign(map[string]any{"kid": "ec256"}, with(map[string]any{"nonce": "n"})), verifyNow); err != nil {
		t.Errorf("AcceptLoginTokens: %v", err)
	}
}

// A refreshed ID token follows the ID-token rules, with or without the login's nonce.
func TestVerifyRefreshedIDToken(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	sign := func(hdr, claims map[string]any) string { return verifySign(t, jwa.RS256, k.rsa, hdr, claims) }
	kid := map[string]any{"kid": "rsa"}
	cases := []struct {
		name string
		raw  string
		want error
		msg  string
	}{
		{name: "with the login's nonce", raw: sign(kid, verifyClaims(nil))},
		{name: "without a nonce", raw: sign(kid, verifyClaims(map[string]any{"nonce": verifyDrop}))},
		{name: "for another audience", raw: sign(kid, verifyClaims(map[string]any{"aud": "api"})), want: ErrTokenInvalid, msg: "audience"},
		{name: "an access token", raw: sign(map[string]any{"kid": "rsa", "typ": "at+jwt"}, verifyClaims(nil)), want: ErrTokenInvalid, msg: "typ"},
		{name: "another issuer", raw: sign(kid, verifyClaims(map[string]any{"iss": "https://evil"})), want: ErrTokenInvalid, msg: "issuer"},
		{name: "expired", raw: sign(kid, verifyClaims(map[string]any{"exp": 1})), want: ErrTokenExpired, msg: "expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyRefreshedIDToken(c.raw, verifyNow)
			verifyCheckErr(t, c.raw, err, c.want, c.msg)
		})
	}
}

func TestVerifyKidless(t *testing.T) {
	k := verifyTestKeys(t)
	claims := verifyClaims(nil)

	// Only RSA keys: a kid-less ES256 token names no key there.
	rsaOnly, err := ParseJWKS(200, verifyJWKS(t, verifyJWK(t, &k.rsa.PublicKey, "", "")))
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: rsaOnly}
	_, err = v.VerifyIDToken(verifySign(t, jwa.ES256, k.ec256, nil, claims), verifyNonce, verifyNow)
	verifyCheckErr(t, "", err, ErrUnknownKey, "no key fits ES256")
	tok, err := v.VerifyIDToken(verifySign(t, jwa.RS256, k.rsa, nil, claims), verifyNonce, verifyNow)
	if err != nil || tok.KeyID != "" {
		t.Fatalf("kid-less key: %+v, %v", tok, err)
	}
	// A kid the set cannot resolve: keys without kid only serve tokens without kid.
	_, err = v.VerifyIDToken(verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, claims), verifyNonce, verifyNow)
	verifyCheckErr(t, "", err, ErrUnknownKey, `kid "rsa"`)

	// The right key comes after more than maxKidlessTries others: not tried.
	var many []json.RawMessage
	for range maxKidlessTries {
		many = append(many, verifyJWK(t, &k.attackerRSA.PublicKey, "", ""))
	}
	many = append(many, verifyJWK(t, &k.rsa.PublicKey, "", ""))
	v.Keys, err = ParseJWKS(200, verifyJWKS(t, many...))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyIDToken(verifySign(t, jwa.RS256, k.rsa, nil, claims), verifyNonce, verifyNow)
	verifyCheckErr(t, "", err, ErrTokenInvalid, "signature does not verify with any key")
	// ... but one within the bound is found.
	v.Keys, err = ParseJWKS(200, verifyJWKS(t, many[maxKidlessTries-1:]...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = v.VerifyIDToken(verifySign(t, jwa.RS256, k.rsa, nil, claims), verifyNonce, verifyNow); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyConfig(t *testing.T) {
	k := verifyTestKeys(t)
	raw := verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, verifyClaims(map[string]any{"aud": []string{verifyClient, ""}, "azp": verifyClient}))
	good := verifyVerifier(t)
	cases := []struct {
		name    string
		v       *Verifier
		nonce   string
		msg     string
		verify  bool // call Verify rather than VerifyIDToken
		success bool
	}{
		{name: "good", v: good, success: true},
		{name: "nil verifier", v: nil, msg: "nil Verifier"},
		{name: "nil verifier bearer", v: nil, msg: "nil Verifier", verify: true},
		{name: "no issuer", v: &Verifier{ClientID: verifyClient, Keys: good.Keys}, msg: "no issuer"},
		{name: "no keys", v: &Verifier{Issuer: verifyIssuer, ClientID: verifyClient}, msg: "no keys"},
		{name: "empty key set", v: &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: &KeySet{}}, msg: "no keys"},
		{name: "no client ID", v: &Verifier{Issuer: verifyIssuer, Keys: good.Keys, Audiences: []string{verifyClient}}, msg: "no client ID"},
		{name: "no audience for bearer", v: &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: good.Keys}, msg: "accepts no audience", verify: true},
		{name: "only the empty audience", v: &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: good.Keys, Audiences: []string{""}}, msg: "accepts no audience", verify: true},
		{name: "ID token ignores Audiences", v: &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: good.Keys, Audiences: []string{"api"}}, success: true},
		{name: "no expected nonce", v: good, nonce: "-", msg: "no expected nonce"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nonce := verifyNonce
			if c.nonce == "-" {
				nonce = ""
			}
			var err error
			if c.verify {
				_, err = c.v.Verify(raw, verifyNow)
			} else {
				_, err = c.v.VerifyIDToken(raw, nonce, verifyNow)
			}
			if c.success {
				verifyCheckErr(t, raw, err, nil, "")
				return
			}
			verifyCheckErr(t, raw, err, ErrTokenInvalid, c.msg)
		})
	}
}

// TestVerifyNegativeSkew: a negative skew must not shorten tokens below their exp.
func TestVerifyNegativeSkew(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	v.Skew = -time.Hour
	raw := verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, verifyClaims(map[string]any{"exp": verifyNow.Add(time.Second).Unix()}))
	if _, err := v.VerifyIDToken(raw, verifyNonce, verifyNow); err != nil {
		t.Fatal(err)
	}
}

func TestQuoted(t *testing.T) {
	if got := quoted("a\nb"); got != `"a\nb"` {
		t.Errorf("quoted = %s", got)
	}
	long := strings.Repeat("x", maxQuoted+10)
	if got := quoted(long); got != `"`+long[:maxQuoted]+`"...` {
		t.Errorf("quoted = %s", got)
	}
}

// verifyJWKKey is a public key as jwx's jwk.Key, for the jwk header of a token.
func verifyJWKKey(t testing.TB, pub any) jwk.Key {
	t.Helper()
	key, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// verifyFlip changes the first character of a base64url segment.
func verifyFlip(seg string) string {
	c := byte('A')
	if seg[0] == 'A' {
		c = 'B'
	}
	return string(c) + seg[1:]
}

// verifyNonCanonical sets a padding bit in the last character of a base64url segment whose
// last group encodes one byte (as a 256-byte RSA signature's does): same bytes, other spelling.
func verifyNonCanonical(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i|1])
}

func benchmarkVerify(b *testing.B, alg jwa.SignatureAlgorithm, priv any, kid string) {
	v := verifyVerifier(b)
	raw := verifySign(b, alg, priv, map[string]any{"kid": kid}, verifyClaims(nil))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.VerifyIDToken(raw, verifyNonce, verifyNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	benchmarkVerify(b, jwa.RS256, verifyTestKeys(b).rsa, "rsa")
}

func BenchmarkVerifyES256(b *testing.B) {
	benchmarkVerify(b, jwa.ES256, verifyTestKeys(b).ec256, "ec256")
}

// AnyAudience accepts bearer tokens whatever their aud and azp, and only bearer tokens: ID
// tokens are still bound to the client.
func TestVerifyAnyAudience(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	v.Audiences, v.AnyAudience = nil, true
	sign := func(claims map[string]any) string {
		return verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, claims)
	}
	for name, raw := range map[string]string{
		"API server audience": sign(verifyClaims(map[string]any{"aud": []string{"https://kubernetes.default.svc"}, "nonce": verifyDrop})),
		"several, no azp":     sign(verifyClaims(map[string]any{"aud": []string{"a", "b"}, "nonce": verifyDrop})),
	} {
		if _, err := v.Verify(raw, verifyNow); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := v.Verify(sign(verifyClaims(map[string]any{"iss": "https://other", "nonce": verifyDrop})), verifyNow); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("another issuer must still be refused: %v", err)
	}
	if _, err := v.VerifyIDToken(sign(verifyClaims(map[string]any{"aud": "someone-else"})), verifyNonce, verifyNow); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("an ID token for another client must still be refused: %v", err)
	}
}

func TestUnverifiedIssuer(t *testing.T) {
	k := verifyTestKeys(t)
	raw := verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, verifyClaims(nil))
	if got := UnverifiedIssuer(raw); got != verifyIssuer {
		t.Errorf("UnverifiedIssuer = %q, want %q", got, verifyIssuer)
	}
	for _, bad := range []string{"", "a.b", "x.e30.y", raw[:10], "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":7}`)) + ".c"} {
		if got := UnverifiedIssuer(bad); got != "" {
			t.Errorf("UnverifiedIssuer(%q) = %q", bad, got)
		}
	}
}

// AudienceClaims reads a bearer token's audience from another claim when aud is absent (AWS
// Cognito's access tokens: client_id); aud still wins when present, and ID tokens always use
// aud.
func TestVerifyAudienceClaims(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	v.Audiences, v.AudienceClaims = []string{"cognito-app"}, []string{"aud", "client_id"}
	sign := func(claims map[string]any) string {
		return verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, claims)
	}
	cases := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"client_id instead of aud", map[string]any{"aud": verifyDrop, "client_id": "cognito-app", "nonce": verifyDrop}, true},
		{"client_id of another app", map[string]any{"aud": verifyDrop, "client_id": "other", "nonce": verifyDrop}, false},
		{"client_id not a string", map[string]any{"aud": verifyDrop, "client_id": []string{"cognito-app"}, "nonce": verifyDrop}, false},
		{"aud wins when present", map[string]any{"aud": "other", "client_id": "cognito-app", "nonce": verifyDrop}, false},
		{"neither", map[string]any{"aud": verifyDrop, "nonce": verifyDrop}, false},
	}
	for _, c := range cases {
		if _, err := v.Verify(sign(verifyClaims(c.claims)), verifyNow); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// MoreIssuers are accepted for every token, AccessTokenIssuers for bearer tokens only.
func TestVerifyMoreIssuers(t *testing.T) {
	k := verifyTestKeys(t)
	v := verifyVerifier(t)
	v.MoreIssuers, v.AccessTokenIssuers = []string{"https://tenant-a/v2.0"}, []string{"https://sts/tenant-a/"}
	sign := func(claims map[string]any) string {
		return verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, claims)
	}
	bearer := func(iss string) error {
		_, err := v.Verify(sign(verifyClaims(map[string]any{"iss": iss, "aud": "api", "nonce": verifyDrop})), verifyNow)
		return err
	}
	idToken := func(iss string) error {
		_, err := v.VerifyIDToken(sign(verifyClaims(map[string]any{"iss": iss})), verifyNonce, verifyNow)
		return err
	}
	v.Audiences = []string{"api"}
	if bearer("https://tenant-a/v2.0") != nil || bearer("https://sts/tenant-a/") != nil || idToken("https://tenant-a/v2.0") != nil {
		t.Error("a listed issuer was refused")
	}
	if idToken("https://sts/tenant-a/") == nil || bearer("https://tenant-b/v2.0") == nil || idToken("https://tenant-b/v2.0") == nil {
		t.Error("an issuer outside the lists was accepted")
	}
}

// Google's ID tokens may carry its issuer without the scheme; only Google's, only that
// spelling.
func TestVerifyGoogleIssuerWithoutScheme(t *testing.T) {
	k := verifyTestKeys(t)
	for _, c := range []struct {
		issuer, iss string
		ok          bool
	}{
		{"https://accounts.google.com", "https://accounts.google.com", true},
		{"https://accounts.google.com", "accounts.google.com", true},
		{"https://accounts.google.com", "http://accounts.google.com", false},
		{"https://accounts.google.com", "accounts.google.com/", false},
		{"https://accounts.google.com", "ACCOUNTS.google.com", false},
		{"https://accounts.google.com/", "accounts.google.com", false},
		{verifyIssuer, strings.TrimPrefix(verifyIssuer, "https://"), false},
	} {
		v := verifyVerifier(t)
		v.Issuer = c.issuer
		raw := verifySign(t, jwa.RS256, k.rsa, map[string]any{"kid": "rsa"}, verifyClaims(map[string]any{"iss": c.iss}))
		if _, err := v.VerifyIDToken(raw, verifyNonce, verifyNow); (err == nil) != c.ok {
			t.Errorf("issuer %q, iss %q: err %v, want ok=%v", c.issuer, c.iss, err, c.ok)
		}
	}
}
