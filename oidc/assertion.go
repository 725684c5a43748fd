package oidc

// Signed identity assertions: a short-lived JWT the gateway signs for the apps behind it,
// so an app verifies who the user is against the gateway's public keys (AssertionJWKS)
// instead of trusting a header because the network policy says only the gateway can reach
// it. Pomerium's X-Pomerium-Jwt-Assertion does the same job.

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Assertion is what an assertion says: who (Subject, as IdentityProvider knows them, with
// the Email and Groups the gateway trusts), to whom (Audience), by whom (Issuer) and for how
// long.
type Assertion struct {
	Issuer   string // "iss": the gateway
	Audience string // "aud": the host the request is for
	Subject  string // "sub"
	// IdentityProvider ("idp") is the issuer of the credential the subject proved itself
	// with: the IdP, or another issuer of bearer tokens. A sub is only unique within it.
	IdentityProvider string
	Email            string   // "email", left out when ""
	Groups           []string // "groups", left out when empty
	IssuedAt         time.Time
	Expiry           time.Time // whole seconds after IssuedAt, at least one
}

// MaxAssertionSize bounds a signed assertion: one whose claims (groups, mostly) would make it
// larger is not signed. Envoy's default limit for all request headers together is 60 KiB.
const MaxAssertionSize = 16 << 10

// AssertionClaims reads what an assertion says of a user from verified claims: sub, the
// iss of the credential, the email only when trust admits it (the rule of headers mapped
// from email), and the groups as a group condition sees them at groupsClaim: the string
// elements of an array, or a string alone.
func AssertionClaims(claims []byte, groupsClaim string, trust EmailTrust) Assertion {
	var a Assertion
	if sub := gjson.GetBytes(claims, "sub"); sub.Type == gjson.String {
		a.Subject = sub.Str
	}
	if iss := gjson.GetBytes(claims, "iss"); iss.Type == gjson.String {
		a.IdentityProvider = iss.Str
	}
	a.Email, _ = trust.VerifiedEmail(claims)
	switch groups := gjson.GetBytes(claims, groupsClaim); {
	case groups.Type == gjson.String:
		a.Groups = []string{groups.Str}
	case groups.IsArray():
		groups.ForEach(func(_, g gjson.Result) bool {
			if g.Type == gjson.String {
				a.Groups = append(a.Groups, g.Str)
			}
			return true
		})
	}
	return a
}

// assertionPayload is the JSON of an assertion's claims, in this order.
type assertionPayload struct {
	Iss    string   `json:"iss"`
	Aud    string   `json:"aud"`
	Sub    string   `json:"sub"`
	IdP    string   `json:"idp,omitempty"`
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Iat    int64    `json:"iat"`
	Exp    int64    `json:"exp"`
}

// Sign signs a as a compact JWS (RFC 7515) with the key's algorithm: EdDSA (RFC 8037) or
// ES256 with the signature as r||s (RFC 7518 §3.4). ES256 signatures are deterministic (RFC
// 6979): signing needs no randomness, so a host whose random source fails still signs.
// It refuses an assertion without issuer, audience or subject, one that expires less than a
// second after it is issued, and one larger than MaxAssertionSize.
func (k *AssertionKey) Sign(a Assertion) (string, error) {
	iat, exp := a.IssuedAt.Unix(), a.Expiry.Unix()
	switch {
	case a.Issuer == "" || a.Audience == "" || a.Subject == "":
		return "", errors.New("oidc: assertion: issuer, audience and subject are required")
	case exp <= iat:
		return "", errors.New("oidc: assertion: expires within a second of being issued")
	}
	payload, err := json.Marshal(assertionPayload{Iss: a.Issuer, Aud: a.Audience, Sub: a.Subject, IdP: a.IdentityProvider,
		Email: a.Email, Groups: a.Groups, Iat: iat, Exp: exp})
	if err != nil {
		return "", fmt.Errorf("oidc: assertion: %w", err)
	}
	size := len(k.header) + 2 + base64URL.EncodedLen(len(payload)) + base64URL.EncodedLen(k.signatureSize())
	if size > MaxAssertionSize {
		return "", fmt.Errorf("oidc: assertion of %d bytes exceeds the limit of %d", size, MaxAssertionSize)
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(k.header)
	b.WriteByte('.')
	b.WriteString(base64URL.EncodeToString(payload))
	sig, err := k.sign([]byte(b.String()))
	if err != nil {
		return "", fmt.Errorf("oidc: assertion: %w", err)
	}
	b.WriteByte('.')
	b.WriteString(base64URL.EncodeToString(sig))
	return b.String(), nil
}

func (k *AssertionKey) signatureSize() int {
	if k.ed != nil {
		return ed25519.SignatureSize
	}
	return 64
}

// sign signs a JWS signing input.
func (k *AssertionKey) sign(input []byte) ([]byte, error) {
	if k.ed != nil {
		return ed25519.Sign(k.ed, input), nil
	}
	digest := sha256.Sum256(input)
	der, err := k.ec.Sign(nil, digest[:], crypto.SHA256) // nil: deterministic, RFC 6979
	if err != nil {
		return nil, err
	}
	// ASN.1 SEQUENCE { r INTEGER, s INTEGER } to r||s, each 32 bytes.
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	r, s := new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return nil, errors.New("ECDSA signature is malformed")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// AssertionJWKS is the JWK Set (RFC 7517 §5) of the keys' public halves, in order, each with
// its kid, alg and use: what an app or Istio's RequestAuthentication verifies assertions with.
func AssertionJWKS(keys []*AssertionKey) []byte {
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.jwk)
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}
