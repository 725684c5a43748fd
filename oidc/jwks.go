package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/tidwall/gjson"
)

// KeySet is the set of signature keys an IdP publishes (its JWKS), reduced to the keys this
// package can use: RSA of 2048 to 8192 bits, ECDSA on P-256, P-384 or P-521, and Ed25519,
// public and meant for signatures. It is immutable once [ParseJWKS] returns it, so one KeySet
// may be shared by every request until the host replaces it with a fresh one.
type KeySet struct {
	keys []verificationKey
}

// verificationKey is one usable public key of a KeySet.
type verificationKey struct {
	kid string           // the JWK's kid, "" when it has none
	alg string           // the JWK's alg, "" when it declares none (any fitting alg is allowed)
	pub crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

const (
	// maxJWKSKeys bounds the keys array. Providers publish a handful of keys; the bound keeps
	// the parse and the kid lookup of every request cheap whatever the endpoint serves.
	maxJWKSKeys = 100

	minRSABits = 2048 // 1024-bit moduli are within reach of well-funded attackers
	maxRSABits = 8192 // larger ones only make every verification slow

	// maxRSAModulusB64 is the longest base64url n accepted, checked before decoding: 8192 bits
	// plus one tolerated leading zero octet.
	maxRSAModulusB64 = (maxRSABits/8 + 1 + 2) / 3 * 4
)

// JWKSRequest is the request for the provider's JWK Set. p must come from [ParseDiscovery]; a
// nil p yields a request with an empty URL, which no host can dispatch.
func JWKSRequest(p *Discovery) Request {
	r := Request{Method: "GET", Header: [][2]string{{"accept", "application/json"}}}
	if p != nil {
		r.URL = p.JWKSURI
	}
	return r
}

// ParseJWKS checks the answer to [JWKSRequest] and returns the usable keys it holds.
//
// Keys that cannot be used are skipped rather than failing the whole set, so that one exotic
// key (an encryption key, an Ed448 key, ...) does not lock every user out: keys of an unknown
// kty or crv, keys whose use is not "sig" or whose key_ops lack "verify", keys with malformed
// or out-of-range parameters, keys declaring an alg this package refuses or that does not fit
// their type, and keys that include private parts.
//
// Duplicate kids: when several usable keys share a kid and are the same key (same material,
// same alg), one is kept. When they differ, none is kept: a token naming that kid is ambiguous,
// and picking one would let the order of the document decide which key a token is checked
// with. Such a token then fails with [ErrUnknownKey].
//
// An empty set, or one left without any usable key, is an error.
func ParseJWKS(status int, body []byte) (*KeySet, error) {
	doc, err := parseResponse(status, body)
	if err != nil {
		return nil, fmt.Errorf("oidc: jwks: %w", err)
	}
	keys, ok := doc["keys"]
	switch {
	case !ok:
		return nil, errors.New("oidc: jwks: keys is missing")
	case !keys.IsArray():
		return nil, errors.New("oidc: jwks: keys is not an array")
	}
	entries := keys.Array()
	switch {
	case len(entries) == 0:
		return nil, errors.New("oidc: jwks: keys is empty")
	case len(entries) > maxJWKSKeys:
		return nil, fmt.Errorf("oidc: jwks: %d keys exceed the limit of %d", len(entries), maxJWKSKeys)
	}

	var usable []verificationKey
	var skipped []string
	for i, entry := range entries {
		k, err := parseJWK(entry)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		usable = append(usable, k)
	}
	usable, ambiguous := dropAmbiguousKIDs(usable)
	skipped = append(skipped, ambiguous...)
	if len(usable) == 0 {
		return nil, fmt.Errorf("oidc: jwks: no usable signature key (%s)", summarize(skipped))
	}
	return &KeySet{keys: usable}, nil
}

// Len is the number of usable keys; 0 for a nil KeySet.
func (k *KeySet) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// summarize joins the first few reasons keys were skipped, for an error message of bounded size.
func summarize(reasons []string) string {
	const shown = 3
	if len(reasons) > shown {
		return strings.Join(reasons[:shown], "; ") + fmt.Sprintf("; and %d more", len(reasons)-shown)
	}
	return strings.Join(reasons, "; ")
}

// dropAmbiguousKIDs applies the duplicate-kid rule of ParseJWKS, keeping the order of the rest.
// It returns the keys kept and a reason for each kid dropped. Keys without a kid are all kept:
// they are only ever tried for tokens without a kid.
func dropAmbiguousKIDs(keys []verificationKey) (kept []verificationKey, dropped []string) {
	conflict := make(map[string]bool) // kid -> its keys differ
	first := make(map[string]int)     // kid -> index of its first key
	for i, k := range keys {
		if k.kid == "" {
			continue
		}
		j, seen := first[k.kid]
		if !seen {
			first[k.kid] = i
			continue
		}
		if !sameKey(keys[j], k) {
			conflict[k.kid] = true
		}
	}
	for i, k := range keys {
		switch {
		case k.kid == "":
			kept = append(kept, k)
		case conflict[k.kid]:
			if first[k.kid] == i {
				dropped = append(dropped, fmt.Sprintf("kid %s: several different keys", quoted(k.kid)))
			}
		case first[k.kid] == i:
			kept = append(kept, k)
		}
	}
	return kept, dropped
}

// sameKey reports whether two keys are interchangeable: same material and same alg restriction.
func sameKey(a, b verificationKey) bool {
	eq, ok := a.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && a.alg == b.alg && eq.Equal(b.pub)
}

// parseJWK turns one member of a JWKS's keys array into a usable key, or says why it is not one.
func parseJWK(entry gjson.Result) (verificationKey, error) {
	m, err := objectMembers(entry)
	if err != nil {
		return verificationKey{}, err
	}
	kty, err := requiredString(m, "kty")
	if err != nil {
		return verificationKey{}, err
	}
	if err := checkSignatureUse(m); err != nil {
		return verificationKey{}, err
	}
	// Members that carry private key material (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). A JWKS is
	// public: a key published with them is compromised, so it is not used.
	for _, name := range [...]string{"d", "p", "q", "dp", "dq", "qi", "oth"} {
		if _, ok := m[name]; ok {
			return verificationKey{}, fmt.Errorf("has private member %q", name)
		}
	}
	kid, _, err := optionalString(m, "kid")
	if err != nil {
		return verificationKey{}, err
	}
	alg, hasAlg, err := optionalString(m, "alg")
	if err != nil {
		return verificationKey{}, err
	}

	k := verificationKey{kid: kid, alg: alg}
	switch kty {
	case "RSA":
		k.pub, err = parseRSAKey(m)
	case "EC":
		k.pub, err = parseECKey(m)
	case "OKP":
		k.pub, err = parseOKPKey(m)
	default:
		err = fmt.Errorf("kty %s not supported", quoted(kty))
	}
	if err != nil {
		return verificationKey{}, err
	}
	if hasAlg {
		a, ok := lookupAlgorithm(alg)
		if !ok {
			return verificationKey{}, fmt.Errorf("alg %s is not an accepted signature algorithm", quoted(alg))
		}
		if !k.fits(a) {
			return verificationKey{}, fmt.Errorf("alg %s does not fit the key", quoted(alg))
		}
	}
	return k, nil
}

// checkSignatureUse refuses keys that say they are not for verifying signatures (RFC 7517
// §4.2-4.3): use other than "sig", or key_ops without "verify".
func checkSignatureUse(m map[string]gjson.Result) error {
	use, present, err := optionalString(m, "use")
	if err != nil {
		return err
	}
	if present && use != "sig" {
		return fmt.Errorf("use %s is not sig", quoted(use))
	}
	ops, present := m["key_ops"]
	if !present {
		return nil
	}
	if !ops.IsArray() {
		return errors.New("key_ops is not an array")
	}
	verify := false
	for _, op := range ops.Array() {
		if op.Type != gjson.String {
			return errors.New("key_ops holds a non-string")
		}
		verify = verify || op.Str == "verify"
	}
	if !verify {
		return errors.New(`key_ops lacks "verify"`)
	}
	return nil
}

// parseRSAKey reads n and e. The modulus must be odd and of minRSABits..maxRSABits bits; the
// exponent odd and in 3..2^31-1, which every real key satisfies and which keeps verification
// cost bounded.
func parseRSAKey(m map[string]gjson.Result) (*rsa.PublicKey, error) {
	nB64, err := requiredString(m, "n")
	if err != nil {
		return nil, err
	}
	eB64, err := requiredString(m, "e")
	if err != nil {
		return nil, err
	}
	if len(nB64) > maxRSAModulusB64 {
		return nil, fmt.Errorf("RSA modulus longer than %d bits", maxRSABits)
	}
	nBytes, err := decodeBase64URL(nB64)
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	eBytes, err := decodeBase64URL(eB64)
	if err != nil {
		return nil, fmt.Errorf("e: %w", err)
	}
	n := new(big.Int).SetBytes(nBytes)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA modulus is even")
	}
	if len(eBytes) == 0 || len(eBytes) > 4 {
		return nil, errors.New("RSA exponent out of range")
	}
	e := 0
	for _, b := range eBytes {
		e = e<<8 | int(b)
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, errors.New("RSA exponent out of range")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// parseECKey reads crv, x and y. The coordinates must be full-size (RFC 7518 §6.2.1.2) and
// the point on the curve: ecdsa.ParseUncompressedPublicKey refuses anything else, which rules
// out invalid-curve keys.
func parseECKey(m map[string]gjson.Result) (*ecdsa.PublicKey, error) {
	crv, err := requiredString(m, "crv")
	if err != nil {
		return nil, err
	}
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("EC crv %s not supported", quoted(crv))
	}
	size := (curve.Params().BitSize + 7) / 8
	point := make([]byte, 1, 1+2*size)
	point[0] = 4 // uncompressed (SEC 1 §2.3.3)
	for _, name := range []string{"x", "y"} {
		s, err := requiredString(m, name)
		if err != nil {
			return nil, err
		}
		c, err := decodeBase64URL(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(c) != size {
			return nil, fmt.Errorf("%s is %d bytes, want %d for %s", name, len(c), size, crv)
		}
		point = append(point, c...)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC point not on %s", crv)
	}
	return pub, nil
}

// parseOKPKey reads an Ed25519 key (RFC 8037 §2); other OKP curves are signature-less (X25519,
// X448) or not supported (Ed448).
func parseOKPKey(m map[string]gjson.Result) (ed25519.PublicKey, error) {
	crv, err := requiredString(m, "crv")
	if err != nil {
		return nil, err
	}
	if crv != "Ed25519" {
		return nil, fmt.Errorf("OKP crv %s not supported", quoted(crv))
	}
	s, err := requiredString(m, "x")
	if err != nil {
		return nil, err
	}
	x, err := decodeBase64URL(s)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}
