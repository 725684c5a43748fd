package oidc

// The compact JWS serialization (RFC 7515 §7.1) as verification reads it: the token's shape,
// its JOSE header, the algorithms allowed and the signature check against a key of the set.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/tidwall/gjson"
)

// UnverifiedIssuer reads the iss claim of a compact JWS without verifying anything, or ""
// when there is none. It is only for choosing which issuer's verifier to ask: what it returns
// must never be trusted or shown as an identity.
func UnverifiedIssuer(raw string) string {
	jws, err := splitCompact(raw)
	if err != nil {
		return ""
	}
	payload, err := base64URL.DecodeString(jws.payload)
	if err != nil || !ValidJSON(payload) {
		return ""
	}
	if iss := gjson.GetBytes(payload, "iss"); iss.Type == gjson.String {
		return iss.Str
	}
	return ""
}

// compactJWS is a token split into its parts.
type compactJWS struct {
	header  []byte // decoded JOSE header
	signed  []byte // the signing input: header.payload, as encoded
	payload string // still encoded: it is only decoded once the signature holds
	sig     []byte // decoded signature
}

// splitCompact checks the token's shape and splits it.
func splitCompact(raw string) (compactJWS, error) {
	if raw == "" {
		return compactJWS{}, invalidf("empty token")
	}
	if len(raw) > maxTokenSize {
		return compactJWS{}, invalidf("token of %d bytes exceeds the limit of %d", len(raw), maxTokenSize)
	}
	dots := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '.':
			dots++
		case !isBase64URL(c):
			return compactJWS{}, invalidf("not a compact JWS: character outside base64url at offset %d", i)
		}
	}
	switch dots {
	case 2:
	case 4:
		return compactJWS{}, invalidf("encrypted token (JWE) not accepted")
	default:
		return compactJWS{}, invalidf("not a compact JWS: %d segments, want 3", dots+1)
	}
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	header, err := base64URL.DecodeString(raw[:first])
	if err != nil {
		return compactJWS{}, invalidf("header is not canonical base64url")
	}
	sig, err := base64URL.DecodeString(raw[last+1:])
	if err != nil {
		return compactJWS{}, invalidf("signature is not canonical base64url")
	}
	return compactJWS{header: header, signed: []byte(raw[:last]), payload: raw[first+1 : last], sig: sig}, nil
}

// isBase64URL reports whether c belongs to the base64url alphabet. Checking it up front matters:
// Go's decoder silently skips CR and LF, which would give one token several spellings.
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// IsBase64URL reports whether s uses only the unpadded base64url alphabet (RFC 4648,
// section 5): the alphabet of JWS members, of what Seal emits, and of the plugin's login
// state cookie ids.
func IsBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return false
		}
	}
	return true
}

// decodeBase64URL decodes a base64url member of a JWK (RFC 7518 §6: no padding).
func decodeBase64URL(s string) ([]byte, error) {
	if !IsBase64URL(s) {
		return nil, errors.New("not base64url")
	}
	b, err := base64URL.DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

// joseHeader is what verification takes from a token's JOSE header.
type joseHeader struct {
	alg         algorithm
	kid         string // "" when absent
	accessToken bool   // typ at+jwt: an access token by RFC 9068
}

// checkHeader validates the JOSE header. The alg is checked first and against a fixed
// allow-list; see Verify for why.
func checkHeader(header []byte, idToken bool) (joseHeader, error) {
	h, err := parseObject(header)
	if err != nil {
		return joseHeader{}, invalidf("header: %v", err)
	}
	name, err := requiredString(h, "alg")
	if err != nil {
		return joseHeader{}, invalidf("header: %v", err)
	}
	alg, ok := lookupAlgorithm(name)
	if !ok {
		return joseHeader{}, invalidf("alg %s not allowed", quoted(name))
	}
	typ, present, err := optionalString(h, "typ")
	if err != nil {
		return joseHeader{}, invalidf("header: %v", err)
	}
	if present && !typAccepted(typ, idToken) {
		return joseHeader{}, invalidf("typ %s not accepted", quoted(typ))
	}
	for _, name := range [...]string{"crit", "b64", "cty"} {
		if _, ok := h[name]; ok {
			return joseHeader{}, invalidf("header parameter %q not supported", name)
		}
	}
	kid, present, err := optionalString(h, "kid")
	if err != nil {
		return joseHeader{}, invalidf("header: %v", err)
	}
	if present && kid == "" {
		return joseHeader{}, invalidf("header: kid is empty")
	}
	return joseHeader{alg: alg, kid: kid, accessToken: present && mediaType(typ) == "at+jwt"}, nil
}

// mediaType is a typ value as compared: lower case, without "application/".
func mediaType(typ string) string {
	return strings.TrimPrefix(strings.ToLower(typ), "application/")
}

// typAccepted implements the typ rule (RFC 7515 §4.1.9: media type, "application/" optional,
// compared case-insensitively). at+jwt marks an access token (RFC 9068 §2.1), never an ID token.
func typAccepted(typ string, idToken bool) bool {
	switch mediaType(typ) {
	case "jwt":
		return true
	case "at+jwt":
		return !idToken
	}
	return false
}

// verifySignature finds the key for a token and checks the signature over signed with it,
// returning the key that verified.
func (k *KeySet) verifySignature(alg algorithm, kid string, signed, sig []byte) (*verificationKey, error) {
	if len(sig) == 0 {
		return nil, invalidf("signature missing")
	}
	if kid != "" {
		for i := range k.keys {
			key := &k.keys[i]
			if key.kid != kid {
				continue
			}
			if !key.fits(alg) {
				return nil, invalidf("key %s cannot verify %s", quoted(kid), alg.name)
			}
			if !key.verify(alg, signed, sig) {
				return nil, invalidf("signature does not verify with key %s", quoted(kid))
			}
			return key, nil
		}
		return nil, fmt.Errorf("%w: kid %s not in the key set", ErrUnknownKey, quoted(kid))
	}
	tried := 0
	for i := range k.keys {
		key := &k.keys[i]
		if !key.fits(alg) {
			continue
		}
		if key.verify(alg, signed, sig) {
			return key, nil
		}
		if tried++; tried == maxKidlessTries {
			break
		}
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: token has no kid and no key fits %s", ErrUnknownKey, alg.name)
	}
	return nil, invalidf("signature does not verify with any key fitting %s", alg.name)
}

// scheme is a family of JWS signature algorithms sharing one key type and verification routine.
type scheme int

const (
	schemeRSAPKCS1 scheme = iota + 1 // RS*: RSASSA-PKCS1-v1_5
	schemeRSAPSS                     // PS*: RSASSA-PSS
	schemeECDSA                      // ES*
	schemeEdDSA                      // EdDSA, Ed25519 only (RFC 8037)
)

// algorithm is an accepted JWS alg (RFC 7518 §3.1, RFC 8037 §3.1).
type algorithm struct {
	name   string
	scheme scheme
	hash   crypto.Hash    // unused by EdDSA, which hashes internally
	curve  elliptic.Curve // ECDSA only: the one curve the alg is defined on
}

// lookupAlgorithm is the alg allow-list. Everything else is refused, notably "none" and the
// HMAC family: this package only ever holds public keys, and accepting HS* would turn a public
// key into a shared secret anyone can sign with.
func lookupAlgorithm(name string) (algorithm, bool) {
	switch name {
	case "RS256":
		return algorithm{name, schemeRSAPKCS1, crypto.SHA256, nil}, true
	case "RS384":
		return algorithm{name, schemeRSAPKCS1, crypto.SHA384, nil}, true
	case "RS512":
		return algorithm{name, schemeRSAPKCS1, crypto.SHA512, nil}, true
	case "PS256":
		return algorithm{name, schemeRSAPSS, crypto.SHA256, nil}, true
	case "PS384":
		return algorithm{name, schemeRSAPSS, crypto.SHA384, nil}, true
	case "PS512":
		return algorithm{name, schemeRSAPSS, crypto.SHA512, nil}, true
	case "ES256":
		return algorithm{name, schemeECDSA, crypto.SHA256, elliptic.P256()}, true
	case "ES384":
		return algorithm{name, schemeECDSA, crypto.SHA384, elliptic.P384()}, true
	case "ES512":
		return algorithm{name, schemeECDSA, crypto.SHA512, elliptic.P521()}, true
	case "EdDSA":
		return algorithm{name, schemeEdDSA, 0, nil}, true
	}
	return algorithm{}, false
}

// fits reports whether the key may verify alg: the key type (and curve) must be the one alg is
// defined for, and a key that declares an alg may only be used with that alg.
func (k *verificationKey) fits(alg algorithm) bool {
	if k.alg != "" && k.alg != alg.name {
		return false
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		return alg.scheme == schemeRSAPKCS1 || alg.scheme == schemeRSAPSS
	case *ecdsa.PublicKey:
		return alg.scheme == schemeECDSA && pub.Curve == alg.curve
	case ed25519.PublicKey:
		return alg.scheme == schemeEdDSA
	}
	return false
}

// verify checks a JWS signature over signed. It re-checks fits itself, so that no caller can
// verify with a key of the wrong type by forgetting to.
func (k *verificationKey) verify(alg algorithm, signed, sig []byte) bool {
	if !k.fits(alg) {
		return false
	}
	if ed, ok := k.pub.(ed25519.PublicKey); ok {
		return ed25519.Verify(ed, signed, sig)
	}
	d := digest(alg.hash, signed)
	if d == nil {
		return false
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		if alg.scheme == schemeRSAPSS {
			// RFC 7518 §3.5 has signers use a salt as long as the hash; the salt length is not
			// security-relevant, so any length is accepted, as other JOSE libraries do.
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}
			return rsa.VerifyPSS(pub, alg.hash, d, sig, opts) == nil
		}
		return rsa.VerifyPKCS1v15(pub, alg.hash, d, sig) == nil
	case *ecdsa.PublicKey:
		// JWS carries R||S, each zero-padded to the curve size (RFC 7518 §3.4), not ASN.1.
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, d, r, s)
	}
	return false
}

// digest hashes msg with one of the three SHA-2 functions the accepted algorithms use, and
// returns nil for any other hash. Callers must treat nil as failure: an ECDSA check of an empty
// digest is forgeable by anyone.
func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		sum := sha512.Sum384(msg)
		return sum[:]
	case crypto.SHA512:
		sum := sha512.Sum512(msg)
		return sum[:]
	case crypto.SHA256:
		sum := sha256.Sum256(msg)
		return sum[:]
	}
	return nil
}
