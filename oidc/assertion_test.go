package oidc_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The assertion keys of the tests come from constant seeds, so the fuzz corpus stays valid.
func assertionEd25519() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func assertionP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), append([]byte{0}, bytes.Repeat([]byte{9}, 31)...))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8DER(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// oneAsymmetricKey encodes a PKCS#8 / RFC 5958 key by hand, for the shapes x509 never writes.
func oneAsymmetricKey(version int64, oid asn1.ObjectIdentifier, params func(*cryptobyte.Builder), private, public []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(version)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			if params != nil {
				params(b)
			}
		})
		b.AddASN1OctetString(private)
		if public != nil {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddUint8(0)
				b.AddBytes(public)
			})
		}
	})
	return b.BytesOrPanic()
}

// ecPrivateKey encodes an RFC 5915 ECPrivateKey with an optional inner public key.
func ecPrivateKey(scalar, public []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1OctetString(scalar)
		if public != nil {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1BitString(public)
			})
		}
	})
	return b.BytesOrPanic()
}

var (
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
)

func namedCurve(oid asn1.ObjectIdentifier) func(*cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) }
}

func octets(b []byte) []byte {
	var c cryptobyte.Builder
	c.AddASN1OctetString(b)
	return c.BytesOrPanic()
}

// ParseAssertionKey reads PKCS#8 Ed25519 and P-256 keys as openssl and Go write them, and
// refuses everything else with an error saying what to do.
func TestParseAssertionKey(t *testing.T) {
	ed := assertionEd25519()
	ec := assertionP256(t)
	ecPoint, _ := ec.PublicKey.Bytes()
	otherEd := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	scalar, _ := ec.Bytes()
	cases := []struct {
		name, pem, alg, err string
	}{
		{"Ed25519 (openssl genpkey -algorithm ed25519)", string(pemBlock("PRIVATE KEY", pkcs8DER(t, ed))), "EdDSA", ""},
		{"P-256 (openssl genpkey -algorithm EC)", string(pemBlock("PRIVATE KEY", pkcs8DER(t, ec))), "ES256", ""},
		{"P-256 without the inner public key, scalar without its leading zero", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(0, oidEC, namedCurve(oidP256), ecPrivateKey(scalar[1:], nil), nil))), "ES256", ""},
		{"Ed25519, version 2 with its public key", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(1, oidEd25519, nil, octets(ed.Seed()), ed.Public().(ed25519.PublicKey)))), "EdDSA", ""},
		{"text before the block", "a key\n" + string(pemBlock("PRIVATE KEY", pkcs8DER(t, ed))), "EdDSA", ""},

		{"not PEM", "MC4CAQAwBQYDK2VwBCIEI", "", "not PEM"},
		{"two keys", string(pemBlock("PRIVATE KEY", pkcs8DER(t, ed))) + string(pemBlock("PRIVATE KEY", pkcs8DER(t, ec))), "", "exactly one key"},
		{"SEC 1 EC key", string(pemBlock("EC PRIVATE KEY", sec1)), "", "openssl pkcs8 -topk8 -nocrypt"},
		{"RSA PKCS#1", string(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))), "", "RSA keys are not accepted"},
		{"RSA PKCS#8", string(pemBlock("PRIVATE KEY", pkcs8DER(t, rsaKey))), "", "1.2.840.113549.1.1.1 is not accepted"},
		{"P-384", string(pemBlock("PRIVATE KEY", pkcs8DER(t, p384))), "", "use P-256"},
		{"encrypted", string(pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2})), "", "encrypted"},
		{"public key", string(pemBlock("PUBLIC KEY", []byte{1, 2})), "", `type "PUBLIC KEY"`},
		{"truncated", string(pemBlock("PRIVATE KEY", pkcs8DER(t, ed)[:20])), "", "not a PKCS#8"},
		{"trailing DER", string(pemBlock("PRIVATE KEY", append(pkcs8DER(t, ed), 0))), "", "not a PKCS#8"},
		{"Ed25519 with parameters", string(pemBlock("PRIVATE KEY", oneAsymmetricKey(0, oidEd25519, namedCurve(oidP256), octets(ed.Seed()), nil))), "", "malformed"},
		{"Ed25519 seed of 31 bytes", string(pemBlock("PRIVATE KEY", oneAsymmetricKey(0, oidEd25519, nil, octets(ed.Seed()[1:]), nil))), "", "malformed"},
		{"Ed25519 with another key's public half", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(1, oidEd25519, nil, octets(ed.Seed()), otherEd.Public().(ed25519.PublicKey)))), "", "does not belong"},
		{"version 1 with a public key", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(0, oidEd25519, nil, octets(ed.Seed()), ed.Public().(ed25519.PublicKey)))), "", "not a PKCS#8"},
		{"P-256 with a wrong inner public key", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(0, oidEC, namedCurve(oidP256), ecPrivateKey(scalar, append([]byte{4}, make([]byte, 64)...)), nil))), "", "does not belong"},
		{"P-256 with a wrong outer public key", string(pemBlock("PRIVATE KEY",
			oneAsymmetricKey(1, oidEC, namedCurve(oidP256), ecPrivateKey(scalar, nil), ecPoint[:64]))), "", "does not belong"},
		{"P-256 scalar zero", string(pemBlock("PRIVATE KEY", oneAsymmetricKey(0, oidEC, namedCurve(oidP256), ecPrivateKey(make([]byte, 32), nil), nil))), "", "not a valid P-256 scalar"},
		{"EC without a curve", string(pemBlock("PRIVATE KEY", oneAsymmetricKey(0, oidEC, nil, ecPrivateKey(scalar, nil), nil))), "", "named curve"},
		{"too long", strings.Repeat("x", 5000), "", "too long"},
	}
	for _, c := range cases {
		k, err := oidc.ParseAssertionKey([]byte(c.pem))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && k.Alg() != c.alg:
			t.Errorf("%s: alg %s, want %s", c.name, k.Alg(), c.alg)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

// An assertion verifies with an independent implementation (jwx) against the published
// JWKS, carries the claims it was given, and names its key by the RFC 7638 thumbprint.
func TestAssertionVerifiesWithJWX(t *testing.T) {
	now := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	a := oidc.Assertion{Issuer: "oidc-wasm", Audience: "app.example.com", Subject: "user-1", IdentityProvider: "https://idp.example.com",
		Email: "alice@example.com", Groups: []string{"dev", "ops"}, IssuedAt: now, Expiry: now.Add(5 * time.Minute)}
	for _, raw := range []any{assertionEd25519(), assertionP256(t)} {
		k, err := oidc.ParseAssertionKey(pemBlock("PRIVATE KEY", pkcs8DER(t, raw)))
		if err != nil {
			t.Fatal(err)
		}
		other, _ := oidc.ParseAssertionKey(pemBlock("PRIVATE KEY", pkcs8DER(t, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)))))
		set, err := jwk.Parse(oidc.AssertionJWKS([]*oidc.AssertionKey{other, k}))
		if err != nil {
			t.Fatal(err)
		}
		signed, err := k.Sign(a)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Parse([]byte(signed), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now.Add(time.Minute) })),
			jwt.WithIssuer("oidc-wasm"), jwt.WithAudience("app.example.com"), jwt.WithValidate(true))
		if err != nil {
			t.Fatalf("%s: jwx refuses the assertion: %v", k.Alg(), err)
		}
		claims, _ := json.Marshal(tok)
		want := `{"aud":["app.example.com"],"email":"alice@example.com","exp":1640995500,"groups":["dev","ops"],"iat":1640995200,"idp":"https://idp.example.com","iss":"oidc-wasm","sub":"user-1"}`
		if string(claims) != want {
			t.Errorf("%s: claims %s, want %s", k.Alg(), claims, want)
		}
		pub, _ := set.LookupKeyID(k.KID())
		thumb, _ := pub.Thumbprint(crypto.SHA256)
		if got := base64.RawURLEncoding.EncodeToString(thumb); got != k.KID() || pub.Algorithm().String() != k.Alg() || pub.KeyUsage() != "sig" {
			t.Errorf("%s: JWKS entry kid %s thumbprint %s alg %s use %s", k.Alg(), k.KID(), got, pub.Algorithm(), pub.KeyUsage())
		}
		if _, err := jwt.Parse([]byte(signed), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now.Add(5 * time.Minute) })),
			jwt.WithValidate(true)); err == nil {
			t.Errorf("%s: an expired assertion verified", k.Alg())
		}
		// The key parser's own JWKS reader takes the set too (a gateway in front of another).
		if ks, err := oidc.ParseJWKS(200, oidc.AssertionJWKS([]*oidc.AssertionKey{k})); err != nil || ks.Len() != 1 {
			t.Errorf("%s: ParseJWKS: %v", k.Alg(), err)
		}
	}
}

// Sign refuses assertions that would say nothing or nothing for long, and ones too large
// for a header.
func TestAssertionSignRefuses(t *testing.T) {
	k, err := oidc.ParseAssertionKey(pemBlock("PRIVATE KEY", pkcs8DER(t, assertionEd25519())))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	ok := oidc.Assertion{Issuer: "gw", Audience: "app", Subject: "u", IssuedAt: now, Expiry: now.Add(time.Minute)}
	if _, err := k.Sign(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*oidc.Assertion){
		"no subject":           func(a *oidc.Assertion) { a.Subject = "" },
		"no audience":          func(a *oidc.Assertion) { a.Audience = "" },
		"no issuer":            func(a *oidc.Assertion) { a.Issuer = "" },
		"expires at once":      func(a *oidc.Assertion) { a.Expiry = now.Add(999 * time.Millisecond) },
		"expired":              func(a *oidc.Assertion) { a.Expiry = now.Add(-time.Second) },
		"groups beyond 16 KiB": func(a *oidc.Assertion) { a.Groups = strings.Split(strings.Repeat("a-group-name,", 1200), ",") },
	} {
		a := ok
		change(&a)
		if s, err := k.Sign(a); err == nil {
			t.Errorf("%s: signed %d bytes", name, len(s))
		}
	}
}

// AssertionClaims applies the email rule of identity headers and reads groups as group
// conditions do.
func TestAssertionClaims(t *testing.T) {
	cases := []struct {
		claims string
		trust  oidc.EmailTrust
		email  string
		groups []string
	}{
		{`{"sub":"u","email":"a@example.com","email_verified":true,"groups":["dev",7,"ops"]}`, oidc.EmailTrust{}, "a@example.com", []string{"dev", "ops"}},
		{`{"sub":"u","email":"a@example.com","groups":"admins"}`, oidc.EmailTrust{}, "", []string{"admins"}},
		{`{"sub":"u","email":"a@example.com"}`, oidc.EmailTrust{AssumeVerified: true}, "a@example.com", nil},
		{`{"sub":"u","email":"a@example.com","email_verified":false}`, oidc.EmailTrust{AssumeVerified: true}, "", nil},
		{`{"sub":"u","email":"a@example.com","xms_edov":true,"groups":{"a":1}}`, oidc.EmailTrust{VerifiedClaim: "xms_edov"}, "a@example.com", nil},
	}
	for _, c := range cases {
		a := oidc.AssertionClaims([]byte(c.claims), "groups", c.trust)
		if a.Subject != "u" || a.Email != c.email || strings.Join(a.Groups, ",") != strings.Join(c.groups, ",") {
			t.Errorf("%s: %+v", c.claims, a)
		}
	}
	a := oidc.AssertionClaims([]byte(`{"sub":"u","iss":"https://k8s","realm":{"roles":["r"]}}`), "realm.roles", oidc.EmailTrust{})
	if a.IdentityProvider != "https://k8s" || strings.Join(a.Groups, ",") != "r" {
		t.Errorf("nested groups claim: %+v", a)
	}
}

// FuzzParseAssertionKey: any text either fails or yields a key whose assertions the
// package's own JWKS parser and verifier accept. Each input is also tried as the DER inside
// a PRIVATE KEY block, so mutations reach the PKCS#8 reader rather than the PEM armour.
func FuzzParseAssertionKey(f *testing.F) {
	for _, raw := range []any{assertionEd25519(), assertionP256(f)} {
		der := pkcs8DER(f, raw)
		f.Add(der)
		f.Add(pemBlock("PRIVATE KEY", der))
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, text := range [][]byte{in, pemBlock("PRIVATE KEY", in)} {
			k, err := oidc.ParseAssertionKey(text)
			if err != nil {
				if k != nil {
					t.Fatalf("key with error %v", err)
				}
				continue
			}
			ks, err := oidc.ParseJWKS(200, oidc.AssertionJWKS([]*oidc.AssertionKey{k}))
			if err != nil {
				t.Fatalf("own JWKS refused: %v", err)
			}
			signed, err := k.Sign(oidc.Assertion{Issuer: "gw", Audience: "app", Subject: "u", IssuedAt: now, Expiry: now.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			v := oidc.Verifier{Issuer: "gw", Audiences: []string{"app"}, Keys: ks}
			if _, err := v.Verify(signed, now); err != nil {
				t.Fatalf("own assertion refused: %v", err)
			}
		}
	})
}

func BenchmarkSignAssertionEdDSA(b *testing.B) {
	benchmarkSignAssertion(b, assertionEd25519())
}

func BenchmarkSignAssertionES256(b *testing.B) {
	benchmarkSignAssertion(b, assertionP256(b))
}

func benchmarkSignAssertion(b *testing.B, raw any) {
	k, err := oidc.ParseAssertionKey(pemBlock("PRIVATE KEY", pkcs8DER(b, raw)))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	a := oidc.Assertion{Issuer: "oidc-wasm", Audience: "app.example.com", Subject: "user-1", IdentityProvider: "https://idp.example.com",
		Email: "alice@example.com", Groups: []string{"dev", "ops"}, IssuedAt: now, Expiry: now.Add(5 * time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(a); err != nil {
			b.Fatal(err)
		}
	}
}
