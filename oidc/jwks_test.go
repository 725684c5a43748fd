package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// jwksB64 is base64url without padding, as JWKs spell binary members.
func jwksB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksRSA is an RSA JWK with the given modulus and exponent, plus extra members (a JSON
// fragment starting with a comma, or "").
func jwksRSA(n *big.Int, e int, extra string) json.RawMessage {
	eb := big.NewInt(int64(e)).Bytes()
	return json.RawMessage(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":%q%s}`, jwksB64(n.Bytes()), jwksB64(eb), extra))
}

// jwksEC is an EC JWK with raw coordinates.
func jwksEC(crv string, x, y []byte, extra string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"kty":"EC","crv":%q,"x":%q,"y":%q%s}`, crv, jwksB64(x), jwksB64(y), extra))
}

// jwksModulus is an odd number of exactly bits bits: not a real modulus, but all ParseJWKS
// can check without factoring.
func jwksModulus(bits int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return n.SetBit(n, 0, 1)
}

func TestParseJWKS(t *testing.T) {
	k := verifyTestKeys(t)
	rsaPub := &k.rsa.PublicKey
	n, e := rsaPub.N, rsaPub.E
	ec := &k.ec256.PublicKey
	ecPoint, err := ec.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	ecX, ecY := ecPoint[1:33], ecPoint[33:]
	good := verifyJWK(t, rsaPub, "good", "")
	privRSA, err := jwk.FromRaw(k.rsa)
	if err != nil {
		t.Fatal(err)
	}
	privRSAJSON, err := json.Marshal(privRSA)
	if err != nil {
		t.Fatal(err)
	}
	privEd, err := jwk.FromRaw(k.ed)
	if err != nil {
		t.Fatal(err)
	}
	privEdJSON, err := json.Marshal(privEd)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(entries ...json.RawMessage) []byte { return verifyJWKS(t, entries...) }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }

	cases := []struct {
		name   string
		status int // 0 means 200
		body   []byte
		want   int    // usable keys; 0 means an error is expected
		msg    string // substring of the error, or of the skip reason in an all-skipped set
	}{
		{name: "all key types from jwx", body: keys(
			verifyJWK(t, rsaPub, "rsa", "RS256"),
			verifyJWK(t, &k.rsa2.PublicKey, "ps", "PS512"),
			verifyJWK(t, ec, "ec256", "ES256"),
			verifyJWK(t, &k.ec384.PublicKey, "ec384", ""),
			verifyJWK(t, &k.ec521.PublicKey, "ec521", "ES512"),
			verifyJWK(t, k.ed.Public(), "ed", "EdDSA"),
		), want: 6},
		{name: "use sig and key_ops verify", body: keys(jwksRSA(n, e, `,"use":"sig","key_ops":["verify"]`)), want: 1},
		{name: "no kid, no alg, no use", body: keys(jwksRSA(n, e, "")), want: 1},
		{name: "unknown members ignored", body: keys(jwksRSA(n, e, `,"x5t":"abc","ext":true,"nested":{"a":[1]}`)), want: 1},
		{name: "exponent 3", body: keys(jwksRSA(n, 3, "")), want: 1},
		{name: "modulus with a leading zero octet", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, jwksB64(append([]byte{0}, n.Bytes()...))))), want: 1},
		{name: "8192-bit modulus", body: keys(jwksRSA(jwksModulus(8192), e, "")), want: 1},

		// Documents.
		{name: "status 404", status: 404, body: keys(good), msg: "HTTP status 404"},
		{name: "status 500", status: 500, body: []byte(`{}`), msg: "HTTP status 500"},
		{name: "status 204", status: 204, body: keys(good), msg: "HTTP status 204"},
		{name: "empty body", body: nil, msg: "invalid JSON"},
		{name: "garbage", body: []byte("<html>oops</html>"), msg: "invalid JSON"},
		{name: "truncated", body: keys(good)[:40], msg: "invalid JSON"},
		{name: "trailing garbage", body: append(keys(good), '}'), msg: "invalid JSON"},
		{name: "array document", body: []byte(`[` + string(good) + `]`), msg: "not a JSON object"},
		{name: "keys missing", body: []byte(`{"key":[]}`), msg: "keys is missing"},
		{name: "keys not an array", body: []byte(`{"keys":{"0":` + string(good) + `}}`), msg: "keys is not an array"},
		{name: "keys empty", body: []byte(`{"keys":[]}`), msg: "keys is empty"},
		{name: "keys duplicated", body: []byte(`{"keys":[` + string(good) + `],"keys":[]}`), msg: `member "keys" occurs more than once`},
		{name: "too many keys", body: keys(jwksRepeat(good, maxJWKSKeys+1)...), msg: "101 keys exceed the limit of 100"},
		{name: "too deep", body: []byte(`{"keys":[` + string(good) + `],"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`), msg: "nested deeper"},
		{name: "1 MiB modulus", body: keys(good, jwksRSA(new(big.Int).Lsh(big.NewInt(1), 8<<20), e, "")), msg: "exceeds the limit"},
		{name: "entry not an object", body: []byte(`{"keys":["RSA"]}`), msg: "not a JSON object"},

		// Key types.
		{name: "oct key", body: keys(raw(`{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"}`)), msg: `kty "oct" not supported`},
		{name: "oct key next to a good one", body: keys(raw(`{"kty":"oct","k":"c2VjcmV0","kid":"h"}`), good), want: 1},
		{name: "kty missing", body: keys(raw(`{"n":"AQAB","e":"AQAB"}`)), msg: "kty is missing"},
		{name: "kty lower case", body: keys(raw(strings.Replace(string(good), `"RSA"`, `"rsa"`, 1))), msg: `kty "rsa" not supported`},
		{name: "kty not a string", body: keys(raw(`{"kty":1}`)), msg: "kty is not a string"},

		// RSA parameters.
		{name: "1024-bit modulus", body: keys(jwksRSA(small.N, small.E, "")), msg: "RSA modulus of 1024 bits"},
		{name: "2047-bit modulus", body: keys(jwksRSA(jwksModulus(2047), e, "")), msg: "RSA modulus of 2047 bits"},
		{name: "16384-bit modulus", body: keys(jwksRSA(jwksModulus(16384), e, "")), msg: "longer than 8192 bits"},
		{name: "8200-bit modulus", body: keys(jwksRSA(jwksModulus(8200), e, "")), msg: "RSA modulus of 8200 bits"},
		{name: "even modulus", body: keys(jwksRSA(new(big.Int).Lsh(big.NewInt(1), 2047), e, "")), msg: "modulus is even"},
		{name: "exponent 1", body: keys(jwksRSA(n, 1, "")), msg: "exponent out of range"},
		{name: "exponent even", body: keys(jwksRSA(n, 65536, "")), msg: "exponent out of range"},
		{name: "exponent 2^31+1", body: keys(jwksRSA(n, 1<<31+1, "")), msg: "exponent out of range"},
		{name: "exponent of 5 bytes", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAAAAE"}`, jwksB64(n.Bytes())))), msg: "exponent out of range"},
		{name: "exponent empty", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":""}`, jwksB64(n.Bytes())))), msg: "exponent out of range"},
		{name: "n missing", body: keys(raw(`{"kty":"RSA","e":"AQAB"}`)), msg: "n is missing"},
		{name: "n padded", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, base64.URLEncoding.EncodeToString(n.Bytes())))), msg: "n: not base64url"},
		{name: "n standard alphabet", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, base64.RawStdEncoding.EncodeToString(n.Bytes())))), msg: "not base64url"},
		{name: "n with escaped newline", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":"%s\n%s","e":"AQAB"}`, jwksB64(n.Bytes())[:10], jwksB64(n.Bytes())[10:]))), msg: "n: not base64url"},
		{name: "n not canonical", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":"AQAB"}`, verifyNonCanonical(jwksB64(n.Bytes()))))), msg: "n: not canonical base64url"},
		{name: "e a number", body: keys(raw(fmt.Sprintf(`{"kty":"RSA","n":%q,"e":65537}`, jwksB64(n.Bytes())))), msg: "e is not a string"},

		// EC parameters.
		{name: "point not on curve", body: keys(jwksEC("P-256", ecX, append(ecY[:31:31], ecY[31]^1), "")), msg: "EC point not on P-256"},
		{name: "point of another curve", body: keys(jwksEC("P-384", ecX, ecY, "")), msg: "x is 32 bytes, want 48 for P-384"},
		{name: "short coordinate", body: keys(jwksEC("P-256", ecX[1:], ecY, "")), msg: "x is 31 bytes, want 32"},
		{name: "zero point", body: keys(jwksEC("P-256", make([]byte, 32), make([]byte, 32), "")), msg: "EC point not on P-256"},
		{name: "secp256k1", body: keys(jwksEC("secp256k1", ecX, ecY, "")), msg: `EC crv "secp256k1" not supported`},
		{name: "crv missing", body: keys(raw(fmt.Sprintf(`{"kty":"EC","x":%q,"y":%q}`, jwksB64(ecX), jwksB64(ecY)))), msg: "crv is missing"},
		{name: "y missing", body: keys(raw(fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q}`, jwksB64(ecX)))), msg: "y is missing"},

		// OKP parameters.
		{name: "X25519", body: keys(raw(`{"kty":"OKP","crv":"X25519","x":"` + jwksB64(make([]byte, 32)) + `"}`)), msg: `OKP crv "X25519" not supported`},
		{name: "Ed448", body: keys(raw(`{"kty":"OKP","crv":"Ed448","x":"` + jwksB64(make([]byte, 57)) + `"}`)), msg: `OKP crv "Ed448" not supported`},
		{name: "Ed25519 short", body: keys(raw(`{"kty":"OKP","crv":"Ed25519","x":"` + jwksB64(make([]byte, 31)) + `"}`)), msg: "x is 31 bytes, want 32"},

		// Usage and private parts.
		{name: "use enc", body: keys(jwksRSA(n, e, `,"use":"enc","kid":"e"`)), msg: `use "enc" is not sig`},
		{name: "use enc next to a good key", body: keys(jwksRSA(n, e, `,"use":"enc","kid":"e"`), good), want: 1},
		{name: "use not a string", body: keys(jwksRSA(n, e, `,"use":["sig"]`)), msg: "use is not a string"},
		{name: "key_ops without verify", body: keys(jwksRSA(n, e, `,"key_ops":["encrypt","wrapKey"]`)), msg: `key_ops lacks "verify"`},
		{name: "key_ops not an array", body: keys(jwksRSA(n, e, `,"key_ops":"verify"`)), msg: "key_ops is not an array"},
		{name: "key_ops with a number", body: keys(jwksRSA(n, e, `,"key_ops":["verify",1]`)), msg: "key_ops holds a non-string"},
		{name: "RSA private key", body: keys(privRSAJSON), msg: `has private member "d"`},
		{name: "RSA private key next to a good one", body: keys(privRSAJSON, good), want: 1},
		{name: "Ed25519 private key", body: keys(privEdJSON), msg: `has private member "d"`},
		{name: "EC key with d", body: keys(jwksEC("P-256", ecX, ecY, `,"d":"AAAA"`)), msg: `has private member "d"`},
		{name: "RSA key with only p", body: keys(jwksRSA(n, e, `,"p":"AAAA"`)), msg: `has private member "p"`},

		// Declared algorithms.
		{name: "alg RSA-OAEP", body: keys(jwksRSA(n, e, `,"alg":"RSA-OAEP"`)), msg: `alg "RSA-OAEP" is not an accepted signature algorithm`},
		{name: "alg HS256 on RSA", body: keys(jwksRSA(n, e, `,"alg":"HS256"`)), msg: `alg "HS256" is not an accepted`},
		{name: "alg none", body: keys(jwksRSA(n, e, `,"alg":"none"`)), msg: `alg "none" is not an accepted`},
		{name: "alg ES256 on RSA", body: keys(jwksRSA(n, e, `,"alg":"ES256"`)), msg: `alg "ES256" does not fit the key`},
		{name: "alg ES384 on P-256", body: keys(jwksEC("P-256", ecX, ecY, `,"alg":"ES384"`)), msg: `alg "ES384" does not fit the key`},
		{name: "alg not a string", body: keys(jwksRSA(n, e, `,"alg":256`)), msg: "alg is not a string"},
		{name: "kid not a string", body: keys(jwksRSA(n, e, `,"kid":1`)), msg: "kid is not a string"},
		{name: "member duplicated in a key", body: keys(raw(strings.Replace(string(jwksRSA(n, e, "")), `"kty":"RSA"`, `"kty":"RSA","kty":"oct"`, 1))), msg: `member "kty" occurs more than once`},

		// Duplicate kids.
		{name: "same key twice", body: keys(verifyJWK(t, rsaPub, "a", ""), verifyJWK(t, rsaPub, "a", "")), want: 1},
		{name: "different keys, one kid", body: keys(verifyJWK(t, rsaPub, "a", ""), verifyJWK(t, &otherEC.PublicKey, "a", "")), msg: `kid "a": several different keys`},
		{name: "same key, different alg", body: keys(verifyJWK(t, rsaPub, "a", "RS256"), verifyJWK(t, rsaPub, "a", "PS256")), msg: "several different keys"},
		{name: "different keys, one kid, and a good key", body: keys(verifyJWK(t, rsaPub, "a", ""), good, verifyJWK(t, &otherEC.PublicKey, "a", "")), want: 1},
		{name: "an unusable key shares the kid", body: keys(jwksRSA(n, e, `,"kid":"a","use":"enc"`), verifyJWK(t, &otherEC.PublicKey, "a", "")), want: 1},
		{name: "several keys without kid", body: keys(jwksRSA(n, e, ""), jwksEC("P-256", ecX, ecY, "")), want: 2},
		{name: "skip reasons are summarized", body: keys(jwksRepeat(raw(`{"kty":"oct"}`), 5)...), msg: "and 2 more"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status := c.status
			if status == 0 {
				status = 200
			}
			ks, err := ParseJWKS(status, c.body)
			if c.want == 0 {
				if err == nil {
					t.Fatalf("accepted %d keys", ks.Len())
				}
				t.Log(err)
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("error %q does not mention %q", err, c.msg)
				}
				if len(err.Error()) > 1024 {
					t.Errorf("error of %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ks.Len() != c.want {
				t.Errorf("Len() = %d, want %d", ks.Len(), c.want)
			}
		})
	}
}

// TestParseJWKSDuplicateKidUnknown: a token naming an ambiguous kid is treated as naming no key.
func TestParseJWKSDuplicateKidUnknown(t *testing.T) {
	k := verifyTestKeys(t)
	ks, err := ParseJWKS(200, verifyJWKS(t,
		verifyJWK(t, &k.rsa.PublicKey, "a", ""),
		verifyJWK(t, &k.rsa2.PublicKey, "a", ""),
		verifyJWK(t, &k.ec256.PublicKey, "b", ""),
	))
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Issuer: verifyIssuer, ClientID: verifyClient, Keys: ks}
	for _, priv := range []*rsa.PrivateKey{k.rsa, k.rsa2} {
		raw := verifySign(t, jwa.RS256, priv, map[string]any{"kid": "a"}, verifyClaims(nil))
		_, err := v.VerifyIDToken(raw, verifyNonce, verifyNow)
		verifyCheckErr(t, raw, err, ErrUnknownKey, `kid "a"`)
	}
}

func TestJWKSRequest(t *testing.T) {
	r := JWKSRequest(&Discovery{JWKSURI: "https://idp.example.com/keys"})
	if r.Method != "GET" || r.URL != "https://idp.example.com/keys" || len(r.Header) != 1 || r.Header[0] != [2]string{"accept", "application/json"} || r.Body != nil {
		t.Errorf("JWKSRequest = %+v", r)
	}
	if r := JWKSRequest(nil); r.URL != "" {
		t.Errorf("JWKSRequest(nil) = %+v", r)
	}
	var nilSet *KeySet
	if nilSet.Len() != 0 {
		t.Error("nil KeySet has keys")
	}
}

// jwksRepeat is n copies of one entry.
func jwksRepeat(entry json.RawMessage, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = entry
	}
	return out
}
