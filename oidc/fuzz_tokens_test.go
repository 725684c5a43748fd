package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/tidwall/gjson"
)

// The fuzz targets use fixed keys, derived from constant seeds rather than checked in as private
// keys, so that the tokens in testdata/fuzz stay valid from run to run: the fuzzer then mutates
// genuine tokens, not only garbage.
const (
	fuzzIssuer = "https://idp.example.com"
	fuzzClient = "client-1"
	fuzzNonce  = "fuzz-nonce"

	// fuzzPayload is the claim set of the checked-in genuine tokens: valid at fuzzNow, exp in 2100.
	fuzzPayload = `{"iss":"https://idp.example.com","aud":"client-1","sub":"user-1","exp":4102444800,"iat":1640995200,"nonce":"fuzz-nonce"}`
)

var fuzzNow = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

type fuzzKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

var fuzzKeysOnce = sync.OnceValues(func() (*fuzzKeys, error) {
	seed := sha256.Sum256([]byte("oidc-wasm fuzz keys: public test material, not a secret"))
	rsaKey, err := fuzzRSAKey(seed)
	if err != nil {
		return nil, err
	}
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		return nil, err
	}
	return &fuzzKeys{rsa: rsaKey, ec: ec, ed: ed25519.NewKeyFromSeed(seed[:])}, nil
})

// fuzzRSAKey derives a 2048-bit RSA key from seed. crypto/rsa ignores caller-supplied randomness
// since Go 1.26, so the primes are searched here, from a seeded ChaCha8 stream.
func fuzzRSAKey(seed [32]byte) (*rsa.PrivateKey, error) {
	rng := mrand.NewChaCha8(seed)
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func() *big.Int {
		buf := make([]byte, 128)
		for {
			_, _ = rng.Read(buf)
			buf[0] |= 0xc0 // two top bits: the product of two such primes has exactly 2048 bits
			buf[127] |= 1
			p := new(big.Int).SetBytes(buf)
			pm1 := new(big.Int).Sub(p, one)
			if p.ProbablyPrime(20) && new(big.Int).GCD(nil, nil, e, pm1).Cmp(one) == 0 {
				return p
			}
		}
	}
	p, q := prime(), prime()
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
		D:         new(big.Int).ModInverse(e, phi),
		Primes:    []*big.Int{p, q},
	}
	key.Precompute()
	return key, key.Validate()
}

func fuzzTestKeys(tb testing.TB) *fuzzKeys {
	tb.Helper()
	k, err := fuzzKeysOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fuzzJWKS is the fixed keys' JWKS: kids "fz-rsa", "fz-ec" and "fz-ed".
func fuzzJWKS(tb testing.TB) []byte {
	k := fuzzTestKeys(tb)
	return verifyJWKS(tb,
		verifyJWK(tb, &k.rsa.PublicKey, "fz-rsa", ""),
		verifyJWK(tb, &k.ec.PublicKey, "fz-ec", "ES256"),
		verifyJWK(tb, k.ed.Public(), "fz-ed", ""),
	)
}

func fuzzVerifier(tb testing.TB) *Verifier {
	ks, err := ParseJWKS(200, fuzzJWKS(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return &Verifier{Issuer: fuzzIssuer, ClientID: fuzzClient, Audiences: []string{"api", fuzzClient}, Keys: ks, Skew: time.Minute}
}

// fuzzGenuineTokens are tokens signed with the fixed keys. The first two are deterministic
// (RS256 and EdDSA over literal JSON) and are also in testdata/fuzz/FuzzVerify; the others are
// signed by jwx with fresh randomness on each run.
func fuzzGenuineTokens(tb testing.TB) []string {
	k := fuzzTestKeys(tb)
	ed := func(signed []byte) []byte { return ed25519.Sign(k.ed, signed) }
	bearer := verifyClaims(map[string]any{"iss": fuzzIssuer, "aud": []string{"api", "x"}, "azp": fuzzClient, "nonce": verifyDrop, "exp": 4102444800})
	return []string{
		verifyCraft(`{"alg":"RS256","kid":"fz-rsa","typ":"JWT"}`, fuzzPayload, verifyRS256(tb, k.rsa)),
		verifyCraft(`{"alg":"EdDSA","kid":"fz-ed"}`, fuzzPayload, ed),
		verifyCraft(`{"alg":"RS512"}`, fuzzPayload, fuzzSignRS512(tb, k.rsa)),
		verifySign(tb, jwa.ES256, k.ec, map[string]any{"kid": "fz-ec"}, verifyClaims(map[string]any{"iss": fuzzIssuer, "aud": fuzzClient, "nonce": fuzzNonce, "exp": 4102444800})),
		verifySign(tb, jwa.PS384, k.rsa, map[string]any{"kid": "fz-rsa", "typ": "at+jwt"}, bearer),
	}
}

func fuzzSignRS512(tb testing.TB, priv *rsa.PrivateKey) func([]byte) []byte {
	return func(signed []byte) []byte {
		h := crypto.SHA512.New()
		h.Write(signed)
		sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA512, h.Sum(nil))
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
}

// fuzzSigningInput is header.payload of a compact token.
func fuzzSigningInput(raw string) string {
	return raw[:max(strings.LastIndexByte(raw, '.'), 0)]
}

// FuzzVerify feeds arbitrary strings to both verification entry points. Beyond not panicking,
// a token may only be accepted if its signing input is that of a genuine token: the fuzzer has
// no private key, so anything else accepted would be a forgery.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	genuine := make(map[string]bool)
	for _, raw := range fuzzGenuineTokens(f) {
		_, errID := v.VerifyIDToken(raw, fuzzNonce, fuzzNow)
		if _, err := v.Verify(raw, fuzzNow); err != nil && errID != nil {
			f.Fatalf("genuine token refused: %v; as ID token: %v", err, errID)
		}
		genuine[fuzzSigningInput(raw)] = true
		f.Add(raw)
		parts := strings.Split(raw, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(raw + "." + parts[2])
	}
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fuzzPayload)) + ".")
	f.Add(verifyCraft(`{"alg":"HS256","kid":"fz-rsa"}`, fuzzPayload, verifyHS256([]byte("secret"))))
	f.Add("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn")
	f.Add("")
	f.Add("..")

	f.Fuzz(func(t *testing.T, raw string) {
		for _, idToken := range []bool{false, true} {
			tok, err := fuzzVerify(v, raw, idToken)
			if err != nil {
				fuzzCheckError(t, raw, tok, err)
				continue
			}
			if !genuine[fuzzSigningInput(raw)] {
				t.Fatalf("accepted a token that was never signed: %q", raw)
			}
			if tok == nil || tok.Raw != raw || tok.Subject == "" || tok.Issuer != fuzzIssuer || !gjson.ValidBytes(tok.Claims) {
				t.Fatalf("inconsistent token %+v", tok)
			}
			if idToken && tok.Nonce != fuzzNonce {
				t.Fatalf("ID token with nonce %q", tok.Nonce)
			}
		}
	})
}

// FuzzVerifySigned signs arbitrary header and payload bytes with the fixed Ed25519 key, so that
// header and claim parsing are fuzzed past the signature check, which FuzzVerify rarely passes.
// Whatever it accepts must satisfy the claim rules.
func FuzzVerifySigned(f *testing.F) {
	v := fuzzVerifier(f)
	k := fuzzTestKeys(f)
	f.Add([]byte(`{"alg":"EdDSA","kid":"fz-ed"}`), []byte(fuzzPayload))
	f.Add([]byte(`{"alg":"EdDSA","typ":"at+jwt"}`), []byte(`{"iss":"https://idp.example.com","aud":["api","x"],"azp":"client-1","sub":"s","exp":4102444800.5,"nbf":1640995200}`))
	f.Add([]byte(`{"alg":"EdDSA","kid":"fz-ed","crit":["b64"],"b64":false}`), []byte(`{"iss":1,"aud":null,"exp":"soon"}`))
	f.Add([]byte(`{"alg":"none"}`), []byte(`{"iss":"https://idp.example.com","iss":"x"}`))
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		enc := base64.RawURLEncoding.EncodeToString
		signed := enc(header) + "." + enc(payload)
		raw := signed + "." + enc(ed25519.Sign(k.ed, []byte(signed)))
		for _, idToken := range []bool{false, true} {
			tok, err := fuzzVerify(v, raw, idToken)
			if err != nil {
				fuzzCheckError(t, raw, tok, err)
				continue
			}
			// Judge with another parser: what was accepted must read the same with encoding/json.
			var h, c map[string]any
			if json.Unmarshal(header, &h) != nil || h["alg"] != "EdDSA" || tok.KeyID != "fz-ed" {
				t.Fatalf("header %q accepted", header)
			}
			if json.Unmarshal(tok.Claims, &c) != nil || string(tok.Claims) != string(payload) {
				t.Fatalf("claims %q accepted", tok.Claims)
			}
			if c["iss"] != fuzzIssuer || tok.Issuer != fuzzIssuer || tok.Subject == "" ||
				utf8.ValidString(tok.Subject) && c["sub"] != tok.Subject {
				t.Fatalf("iss/sub of %q accepted as %+v", payload, tok)
			}
			if !fuzzNow.Before(tok.Expiry.Add(v.Skew)) {
				t.Fatalf("expired token accepted: %+v", tok)
			}
			if idToken && (tok.Nonce != fuzzNonce || c["nonce"] != fuzzNonce) {
				t.Fatalf("nonce of %q accepted", payload)
			}
		}
	})
}

// fuzzCheckError asserts the error contract: no token, exactly one sentinel, a bounded message
// that does not repeat the token.
func fuzzCheckError(t *testing.T, raw string, tok *Token, err error) {
	t.Helper()
	if tok != nil {
		t.Fatalf("token %+v returned with error %v", tok, err)
	}
	n := 0
	for _, s := range []error{ErrTokenInvalid, ErrTokenExpired, ErrUnknownKey} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q matches %d sentinels", err, n)
	}
	msg := err.Error()
	if len(msg) > 300 {
		t.Fatalf("error message of %d bytes", len(msg))
	}
	if len(raw) >= 40 && strings.Contains(msg, raw) {
		t.Fatalf("error %q repeats the token", msg)
	}
}

// TestFuzzCorpusGenuine keeps the checked-in genuine tokens in step with the fixed keys: if the
// key derivation changed, they would silently turn into garbage seeds.
func TestFuzzCorpusGenuine(t *testing.T) {
	tokens := fuzzGenuineTokens(t)
	for i, name := range []string{"genuine_rs256", "genuine_eddsa"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a one-string corpus file", name)
		}
		raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if raw != tokens[i] {
			t.Errorf("%s is not the token fuzzGenuineTokens signs", name)
		}
	}
}

// FuzzParseJWKS: any document either fails or yields a bounded, non-empty KeySet whose keys can
// be used for verification without panicking.
func FuzzParseJWKS(f *testing.F) {
	f.Add(fuzzJWKS(f))
	k := fuzzTestKeys(f)
	f.Add(verifyJWKS(f, jwksRSA(k.rsa.N, 3, `,"use":"enc"`), verifyJWK(f, &k.ec.PublicKey, "a", ""), verifyJWK(f, &k.ec.PublicKey, "a", "")))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA","d":"AA"},{"kty":"oct","k":"AA"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[[[[[]]]]]}`))
	tokens := fuzzGenuineTokens(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ks, err := ParseJWKS(200, body)
		if err != nil {
			if ks != nil {
				t.Fatalf("KeySet with error %v", err)
			}
			return
		}
		if n := ks.Len(); n < 1 || n > maxJWKSKeys {
			t.Fatalf("KeySet of %d keys", n)
		}
		v := &Verifier{Issuer: fuzzIssuer, ClientID: fuzzClient, Keys: ks}
		for _, raw := range tokens {
			if _, err := v.VerifyIDToken(raw, fuzzNonce, fuzzNow); err != nil {
				fuzzCheckError(t, raw, nil, err)
			}
		}
	})
}

// FuzzParseDiscovery: any document either fails or yields a provider for exactly the configured
// issuer, with endpoints that pass the URL rules.
func FuzzParseDiscovery(f *testing.F) {
	f.Add(fuzzIssuer, []byte(`{"issuer":"https://idp.example.com","authorization_endpoint":"https://idp.example.com/auth","token_endpoint":"https://idp.example.com/token","jwks_uri":"https://idp.example.com/keys","userinfo_endpoint":"https://idp.example.com/userinfo","end_session_endpoint":"https://idp.example.com/logout"}`))
	f.Add("http://localhost:5556/dex", []byte(`{"issuer":"http://localhost:5556/dex","authorization_endpoint":"http://localhost:5556/dex/auth","token_endpoint":"http://localhost:5556/dex/token","jwks_uri":"http://localhost:5556/dex/keys"}`))
	f.Add(fuzzIssuer+"/", []byte(`{"issuer":"https://idp.example.com"}`))
	f.Add(fuzzIssuer, []byte(`{"issuer":"https:\/\/idp.example.com","issuer":"x"}`))
	f.Add("", []byte(`[]`))
	f.Fuzz(func(t *testing.T, issuer string, body []byte) {
		_, _, _, _ = DiscoveryRequest(issuer).Target()
		p, err := ParseDiscovery(issuer, 200, body)
		if err != nil {
			if p != nil {
				t.Fatalf("provider with error %v", err)
			}
			return
		}
		if p.Issuer != issuer {
			t.Fatalf("issuer %q, configured %q", p.Issuer, issuer)
		}
		httpsOnly := strings.HasPrefix(strings.ToLower(issuer), "https:")
		endpoints := []struct {
			raw      string
			optional bool
		}{{p.AuthorizationEndpoint, false}, {p.TokenEndpoint, false}, {p.JWKSURI, false}, {p.UserinfoEndpoint, true}, {p.EndSessionEndpoint, true}}
		for _, e := range endpoints {
			if e.raw == "" && e.optional {
				continue
			}
			u, err := url.Parse(e.raw)
			if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(e.raw, "# \t\r\n") ||
				u.Scheme != "https" && (httpsOnly || u.Scheme != "http") {
				t.Fatalf("endpoint %q accepted (issuer %q)", e.raw, issuer)
			}
		}
		if _, _, _, err := JWKSRequest(p).Target(); err != nil {
			t.Fatalf("jwks_uri %q: %v", p.JWKSURI, err)
		}
	})
}

// fuzzVerify runs the entry point a fuzz iteration exercises: ID token or bearer token.
func fuzzVerify(v *Verifier, raw string, idToken bool) (*Token, error) {
	if idToken {
		return v.VerifyIDToken(raw, fuzzNonce, fuzzNow)
	}
	return v.Verify(raw, fuzzNow)
}
