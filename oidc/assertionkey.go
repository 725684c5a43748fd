package oidc

// The private keys the gateway signs identity assertions with (assertion.go): PEM-armoured
// PKCS#8, as `openssl genpkey -algorithm ed25519` and `openssl genpkey -algorithm EC -pkeyopt
// ec_paramgen_curve:P-256` write them, and nothing else.
//
// The parser reads PKCS#8 itself with cryptobyte rather than through crypto/x509: the module
// would otherwise link x509's certificate machinery for two key types, and a parser this
// small is one a fuzz target covers whole (FuzzParseAssertionKey).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// AssertionKey is a private key identity assertions are signed with, and its public half as
// a JWK. It is immutable once ParseAssertionKey returns it.
type AssertionKey struct {
	alg    string // "EdDSA" or "ES256"
	kid    string // the RFC 7638 thumbprint of the public key
	ed     ed25519.PrivateKey
	ec     *ecdsa.PrivateKey
	jwk    string // the public JWK, kid, alg and use included
	header string // the encoded JOSE header of every assertion this key signs
}

// Alg is the JWS algorithm the key signs with: "EdDSA" (Ed25519) or "ES256" (P-256).
func (k *AssertionKey) Alg() string { return k.alg }

// KID is the key's id: the RFC 7638 SHA-256 thumbprint of its public JWK, base64url. It
// depends on the key alone, so every gateway replica given the same key names it alike.
func (k *AssertionKey) KID() string { return k.kid }

// Object identifiers of the keys accepted (RFC 8410 §3, RFC 5480 §2.1.1 and §2.1.1.1).
var (
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidECPublic  = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidCurveP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
)

// maxAssertionKeyPEM bounds the text parsed: a PKCS#8 Ed25519 or P-256 key is under 300
// bytes of PEM, and the configuration is read before anything checks its size.
const maxAssertionKeyPEM = 4 << 10

// ParseAssertionKey reads one PEM "PRIVATE KEY" block (PKCS#8, RFC 5208 / RFC 5958) holding
// an Ed25519 or a P-256 key. Everything else is refused with an error that says what to do:
// RSA keys (large signatures and slow signing inside a Wasm module), other curves, SEC 1
// "EC PRIVATE KEY" blocks (convert them with `openssl pkcs8 -topk8 -nocrypt`), encrypted
// keys, public keys, and any text after the block.
func ParseAssertionKey(pemText []byte) (*AssertionKey, error) {
	if len(pemText) > maxAssertionKeyPEM {
		return nil, fmt.Errorf("%d bytes is too long for an Ed25519 or P-256 private key", len(pemText))
	}
	block, rest := pem.Decode(pemText)
	switch {
	case block == nil:
		return nil, errors.New("not PEM: want -----BEGIN PRIVATE KEY----- (openssl genpkey -algorithm ed25519)")
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, errors.New("text after the PEM block: give exactly one key")
	case block.Type == "EC PRIVATE KEY":
		return nil, errors.New("an EC PRIVATE KEY (SEC 1) block: convert it to PKCS#8 with openssl pkcs8 -topk8 -nocrypt")
	case block.Type == "RSA PRIVATE KEY":
		return nil, errors.New("RSA keys are not accepted: use Ed25519 (openssl genpkey -algorithm ed25519) or P-256")
	case block.Type == "ENCRYPTED PRIVATE KEY" || len(block.Headers) != 0:
		return nil, errors.New("an encrypted key: give it unencrypted (openssl pkcs8 -topk8 -nocrypt), from a secret")
	case block.Type != "PRIVATE KEY":
		return nil, fmt.Errorf("a PEM block of type %q, want PRIVATE KEY", block.Type)
	}
	return parsePKCS8(block.Bytes)
}

// parsePKCS8 reads a OneAsymmetricKey (RFC 5958 §2): version, algorithm, the private key,
// optional attributes, and (version 2) the public key, which must then match.
func parsePKCS8(der []byte) (*AssertionKey, error) {
	in := cryptobyte.String(der)
	var info, algID cryptobyte.String
	var version int
	var oid asn1.ObjectIdentifier
	var private []byte
	if !in.ReadASN1(&info, cbasn1.SEQUENCE) || !in.Empty() ||
		!info.ReadASN1Integer(&version) || (version != 0 && version != 1) ||
		!info.ReadASN1(&algID, cbasn1.SEQUENCE) || !algID.ReadASN1ObjectIdentifier(&oid) ||
		!info.ReadASN1Bytes(&private, cbasn1.OCTET_STRING) {
		return nil, errors.New("not a PKCS#8 private key")
	}
	info.SkipOptionalASN1(cbasn1.Tag(0).ContextSpecific().Constructed()) // attributes
	var public cryptobyte.String
	var hasPublic bool
	if !info.ReadOptionalASN1(&public, &hasPublic, cbasn1.Tag(1).ContextSpecific()) || !info.Empty() || (hasPublic && version != 1) {
		return nil, errors.New("not a PKCS#8 private key")
	}
	if hasPublic {
		// A BIT STRING's contents with the tag implicit: the count of unused bits first.
		if len(public) == 0 || public[0] != 0 {
			return nil, errors.New("PKCS#8 public key is malformed")
		}
		public = public[1:]
	}
	var k *AssertionKey
	var err error
	switch {
	case oid.Equal(oidEd25519):
		k, err = parseEd25519(algID, private, public)
	case oid.Equal(oidECPublic):
		k, err = parseP256(algID, private, public)
	default:
		return nil, fmt.Errorf("key algorithm %s is not accepted: use Ed25519 (openssl genpkey -algorithm ed25519) or P-256", oid)
	}
	if err != nil {
		return nil, err
	}
	k.finish()
	return k, nil
}

// parseEd25519 reads the CurvePrivateKey of RFC 8410 §7: an OCTET STRING of the 32-byte
// seed, with no algorithm parameters.
func parseEd25519(params cryptobyte.String, private, public []byte) (*AssertionKey, error) {
	in := cryptobyte.String(private)
	var seed []byte
	if !params.Empty() || !in.ReadASN1Bytes(&seed, cbasn1.OCTET_STRING) || !in.Empty() || len(seed) != ed25519.SeedSize {
		return nil, errors.New("Ed25519 private key is malformed")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if public != nil && !bytes.Equal(public, priv.Public().(ed25519.PublicKey)) {
		return nil, errors.New("Ed25519 public key does not belong to the private key")
	}
	return &AssertionKey{alg: "EdDSA", ed: priv}, nil
}

// parseP256 reads an ECPrivateKey (RFC 5915 §3) on the curve the algorithm names, which
// must be P-256; curve parameters and a public key inside it, when present, must agree.
func parseP256(params cryptobyte.String, private, public []byte) (*AssertionKey, error) {
	var curve asn1.ObjectIdentifier
	if !params.ReadASN1ObjectIdentifier(&curve) || !params.Empty() {
		return nil, errors.New("EC key without a named curve")
	}
	if !curve.Equal(oidCurveP256) {
		return nil, fmt.Errorf("EC curve %s is not accepted: use P-256 (prime256v1)", curve)
	}
	in := cryptobyte.String(private)
	var ecKey cryptobyte.String
	var version int
	var scalar []byte
	if !in.ReadASN1(&ecKey, cbasn1.SEQUENCE) || !in.Empty() || !ecKey.ReadASN1Integer(&version) || version != 1 ||
		!ecKey.ReadASN1Bytes(&scalar, cbasn1.OCTET_STRING) || len(scalar) == 0 || len(scalar) > 32 {
		return nil, errors.New("EC private key is malformed")
	}
	var inner cryptobyte.String
	var hasInner bool
	if !ecKey.ReadOptionalASN1(&inner, &hasInner, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, errors.New("EC private key is malformed")
	}
	if hasInner && (!inner.ReadASN1ObjectIdentifier(&curve) || !inner.Empty() || !curve.Equal(oidCurveP256)) {
		return nil, errors.New("EC private key names another curve than its algorithm")
	}
	var innerPublic cryptobyte.String
	var hasInnerPublic bool
	if !ecKey.ReadOptionalASN1(&innerPublic, &hasInnerPublic, cbasn1.Tag(1).ContextSpecific().Constructed()) || !ecKey.Empty() {
		return nil, errors.New("EC private key is malformed")
	}
	// Some encoders drop leading zero bytes of the scalar; the raw form is fixed-length.
	raw := make([]byte, 32)
	copy(raw[32-len(scalar):], scalar)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, errors.New("EC private key is not a valid P-256 scalar")
	}
	point, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("EC public key: %w", err)
	}
	if hasInnerPublic {
		var bits asn1.BitString
		if !innerPublic.ReadASN1BitString(&bits) || !innerPublic.Empty() || !bytes.Equal(bits.RightAlign(), point) {
			return nil, errors.New("EC public key does not belong to the private key")
		}
	}
	if public != nil && !bytes.Equal(public, point) {
		return nil, errors.New("EC public key does not belong to the private key")
	}
	return &AssertionKey{alg: "ES256", ec: priv}, nil
}

// finish derives what every signature and the JWKS reuse: the thumbprint, the public JWK and
// the encoded JOSE header.
func (k *AssertionKey) finish() {
	// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
	var required string
	if k.ed != nil {
		x := base64URL.EncodeToString(k.ed.Public().(ed25519.PublicKey))
		required = `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`
	} else {
		point, _ := k.ec.PublicKey.Bytes() // checked by parseP256
		x, y := base64URL.EncodeToString(point[1:33]), base64URL.EncodeToString(point[33:])
		required = `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	}
	sum := sha256.Sum256([]byte(required))
	k.kid = base64URL.EncodeToString(sum[:])
	// Every value is base64url or a fixed name: nothing needs JSON escaping.
	k.jwk = required[:len(required)-1] + `,"kid":"` + k.kid + `","alg":"` + k.alg + `","use":"sig"}`
	k.header = base64URL.EncodeToString([]byte(`{"alg":"` + k.alg + `","kid":"` + k.kid + `","typ":"JWT"}`))
}
