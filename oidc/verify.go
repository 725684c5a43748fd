package oidc

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Verifier checks JWTs minted by one OpenID Provider: ID tokens from the login flow
// ([Verifier.VerifyIDToken]) and bearer access tokens ([Verifier.Verify]). Verification only
// reads the Verifier; after a JWKS refresh the host swaps in the new KeySet between requests.
type Verifier struct {
	Issuer    string        // the iss every token must carry, compared byte for byte
	ClientID  string        // this relying party's client_id: the ID-token audience, and azp
	Audiences []string      // audiences [Verifier.Verify] accepts; VerifyIDToken uses ClientID
	Keys      *KeySet       // the provider's keys, from [ParseJWKS]
	Skew      time.Duration // leeway for exp and nbf against clock drift; negative counts as 0

	// AcceptLoginTokens lets [Verifier.Verify] accept tokens minted in an interactive login,
	// which carry a nonce claim: ID tokens, including those of this relying party's own
	// sessions. Off, such a token that reached an app (forwarded, or read from a session)
	// cannot be replayed as an API credential. Tokens of scripts and API clients (password,
	// client-credentials, device and token-exchange grants, Kubernetes tokens) carry no nonce.
	AcceptLoginTokens bool

	// AnyAudience lets [Verifier.Verify] accept a token whatever its aud and azp: for an issuer
	// whose tokens are not minted for this gateway, such as a Kubernetes API server's
	// service-account tokens (aud: the API server). The issuer and its keys are then all that
	// binds a token to its purpose; use it only for issuers that mint tokens for no one else.
	AnyAudience bool

	// AudienceClaims are the claims [Verifier.Verify] reads a bearer token's audience from,
	// the first present: nil means aud alone. AWS Cognito's access tokens carry client_id and
	// no aud; azp rules apply to aud only.
	AudienceClaims []string

	// MoreIssuers are accepted besides Issuer, for every token: the issuers of the tenants a
	// multi-tenant relying party allows (Entra ID; see ExpandIssuers). AccessTokenIssuers are
	// accepted besides them by [Verifier.Verify] only: Entra ID's v1 access tokens carry
	// https://sts.windows.net/<tenant>/ though its ID tokens carry the v2 issuer.
	MoreIssuers, AccessTokenIssuers []string
}

// Token is a verified JWT.
type Token struct {
	Raw      string    // the token as given
	Claims   []byte    // the JWT payload JSON, verbatim: a validated object without duplicate members
	Subject  string    // sub, never empty
	Issuer   string    // iss, equal to Verifier.Issuer
	Expiry   time.Time // exp, in UTC
	IssuedAt time.Time // iat in UTC; zero when absent. Informational, see Verify.
	Nonce    string    // the nonce of an ID token; "" for tokens checked by Verify
	KeyID    string    // kid of the key that verified the signature; "" if that key has none
}

const (
	// maxTokenSize bounds the raw token. Real ID and access tokens are 1-4 KiB; the bound caps
	// what an attacker can make the plugin decode and parse per request.
	maxTokenSize = 16 << 10

	// maxKidlessTries bounds the keys tried for a token without kid. Providers that omit kid
	// publish one key, two around a rotation; trying every key of a large set would let anyone
	// buy many signature verifications with one request.
	maxKidlessTries = 4

	// maxNumericDate is 9999-12-31T23:59:59Z; larger exp, nbf or iat values are refused rather
	// than converted with float-to-integer overflow.
	maxNumericDate = 253402300799
)

// base64URL is the only base64 the JOSE compact serialization allows: URL alphabet, no padding,
// and (Strict) zero trailing bits, so that each token has a single encoding. It is read-only.
var base64URL = base64.RawURLEncoding.Strict()

// rules is what distinguishes an ID-token check from a bearer-token check.
type rules struct {
	idToken   bool
	nonce     string   // expected nonce, ID tokens only
	refreshed bool     // an ID token from a refresh: its nonce, if any, is not checked
	audiences []string // accepted audiences
}

// VerifyIDToken checks an ID token from the token endpoint (OpenID Connect Core §3.1.3.7):
// everything [Verifier.Verify] checks, with ClientID as the only accepted audience (Audiences is
// not consulted), azp equal to ClientID when present, and the nonce claim equal to nonce, the
// value this login sent in its authorization request. An empty nonce is refused: a relying
// party that forgot its nonce would otherwise accept a replayed ID token. A typ of at+jwt is
// refused: that marks an access token (RFC 9068 §2.1), which must not pass as a login.
//
// at_hash and c_hash are not checked: in the code flow the ID token comes from the token
// endpoint over TLS together with the access token, where Core §3.1.3.8 makes them optional.
func (v *Verifier) VerifyIDToken(raw, nonce string, now time.Time) (*Token, error) {
	if v == nil {
		return nil, invalidf("nil Verifier")
	}
	if nonce == "" {
		return nil, invalidf("no expected nonce given")
	}
	return v.verify(raw, now, rules{idToken: true, nonce: nonce, audiences: []string{v.ClientID}})
}

// VerifyRefreshedIDToken checks an ID token the token endpoint returned for a refresh
// (Core §12.2): the rules of [Verifier.VerifyIDToken] except the nonce, which such a token
// carries from the original login or not at all. It arrives over TLS in the answer to this
// relying party's own refresh token, so it is no replay; the caller must check that its sub is
// the session's.
func (v *Verifier) VerifyRefreshedIDToken(raw string, now time.Time) (*Token, error) {
	if v == nil {
		return nil, invalidf("nil Verifier")
	}
	return v.verify(raw, now, rules{idToken: true, refreshed: true, audiences: []string{v.ClientID}})
}

// Verify checks a JWT presented as a bearer (access) token, in this order:
//
//   - shape: compact JWS (three base64url segments; a five-segment JWE is refused), at most
//     16 KiB, canonical base64url, JSON header and payload nested at most 32 levels, without
//     duplicate member names;
//   - header: alg must be one of RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA. This
//     is decided from the header alone, before any key is looked up: "none" and the HMAC family
//     are never accepted, so a token "signed" with HS256 using the provider's public RSA key as
//     the secret cannot be verified with it, whatever key the kid points at. typ, if present,
//     must be JWT or at+jwt (optionally with application/ prefix, any case); crit, b64 and cty
//     are refused, as no extension or nested token is supported. jku, jwk, x5u and x5c are
//     ignored: keys only ever come from the KeySet, never from the token;
//   - key: the kid picks the key; a kid not in the set yields [ErrUnknownKey]. Without kid,
//     up to four keys fitting the alg are tried, and none fitting yields ErrUnknownKey too.
//     The key must fit the alg (RSA for RS and PS; EC on P-256, P-384, P-521 for ES256,
//     ES384, ES512; Ed25519 for EdDSA) and, if it declares an alg, declare this one;
//   - signature, then claims: iss equal to Issuer; aud a string or non-empty array of strings,
//     one of which is accepted; azp required when aud has several entries, and when present
//     equal to ClientID or, for Verify, to one of Audiences (a resource server may be called by
//     another client of the same audience); sub a non-empty string; exp a number with
//     now < exp+Skew; nbf, if present, a number with now >= nbf-Skew; iat, if present, a number.
//
// A token with a nonce claim, of any value or type, was minted in an interactive login (an ID
// token) and is refused unless AcceptLoginTokens is set, or the token is marked an access
// token: typ at+jwt in the header, or Keycloak's payload claim typ "Bearer".
//
// A future iat is accepted and only recorded: hosts with a wrong clock (test hosts run on a
// fixed date) would otherwise refuse every fresh token, and exp already bounds the token's life.
// Any of these claims with the wrong JSON type (exp as a string, aud as a number, ...) is refused;
// other claims are left to the caller, in Token.Claims.
func (v *Verifier) Verify(raw string, now time.Time) (*Token, error) {
	if v == nil {
		return nil, invalidf("nil Verifier")
	}
	return v.verify(raw, now, rules{audiences: v.Audiences})
}

func (v *Verifier) verify(raw string, now time.Time, r rules) (*Token, error) {
	if err := v.checkConfig(r); err != nil {
		return nil, err
	}
	jws, err := splitCompact(raw)
	if err != nil {
		return nil, err
	}
	h, err := checkHeader(jws.header, r.idToken)
	if err != nil {
		return nil, err
	}
	key, err := v.Keys.verifySignature(h.alg, h.kid, jws.signed, jws.sig)
	if err != nil {
		return nil, err
	}
	payload, err := base64URL.DecodeString(jws.payload)
	if err != nil {
		return nil, invalidf("payload is not canonical base64url")
	}
	claims, err := parseObject(payload)
	if err != nil {
		return nil, invalidf("payload: %v", err)
	}
	if !r.idToken && !v.AcceptLoginTokens && !h.accessToken && isLoginToken(claims) {
		return nil, invalidf("a nonce marks a token of an interactive login (an ID token), not accepted as a bearer token")
	}
	tok, err := v.checkClaims(claims, now, r)
	if err != nil {
		return nil, err
	}
	tok.Raw, tok.Claims, tok.KeyID = raw, payload, key.kid
	return tok, nil
}

// checkConfig refuses to judge tokens with a Verifier that would accept too much: without an
// issuer, keys or audience no token can be properly bound to this relying party.
func (v *Verifier) checkConfig(r rules) error {
	switch {
	case v.Issuer == "":
		return invalidf("verifier has no issuer")
	case v.Keys.Len() == 0:
		return invalidf("verifier has no keys")
	case r.idToken && v.ClientID == "":
		return invalidf("verifier has no client ID")
	case !r.idToken && v.AnyAudience:
		return nil
	}
	for _, a := range r.audiences {
		if a != "" {
			return nil
		}
	}
	return invalidf("verifier accepts no audience")
}

// isLoginToken reports whether verified claims come from an interactive login: they carry a
// nonce (of any value or type), and the IdP did not mark them an access token in the payload.
// Keycloak before 24 copied the login's nonce into access tokens, which it marks with the
// claim typ "Bearer" (its ID tokens say "ID").
func isLoginToken(c map[string]gjson.Result) bool {
	if _, ok := c["nonce"]; !ok {
		return false
	}
	typ, ok := c["typ"]
	return !ok || typ.Type != gjson.String || typ.Str != "Bearer"
}

// checkClaims applies the claim rules of Verify (and the nonce rule of VerifyIDToken). Time is
// checked last so that ErrTokenExpired is only ever returned for an otherwise valid token.
func (v *Verifier) checkClaims(c map[string]gjson.Result, now time.Time, r rules) (*Token, error) {
	iss, err := requiredString(c, "iss")
	if err != nil {
		return nil, invalidf("%v", err)
	}
	if !v.acceptsIssuer(iss, r) {
		return nil, invalidf("issuer %s not accepted", quoted(iss))
	}
	if r.idToken || !v.AnyAudience {
		if err := v.checkAudience(c, r); err != nil {
			return nil, err
		}
	}
	sub, err := requiredString(c, "sub")
	if err != nil {
		return nil, invalidf("%v", err)
	}
	if sub == "" {
		return nil, invalidf("sub is empty")
	}
	tok := &Token{Subject: sub, Issuer: iss}
	if r.idToken && !r.refreshed {
		nonce, err := requiredString(c, "nonce")
		if err != nil {
			return nil, invalidf("%v", err)
		}
		if subtle.ConstantTimeCompare([]byte(nonce), []byte(r.nonce)) != 1 {
			return nil, invalidf("nonce does not match")
		}
		tok.Nonce = nonce
	}

	exp, present, err := numericDate(c, "exp")
	if err != nil {
		return nil, invalidf("%v", err)
	}
	if !present {
		return nil, invalidf("exp is missing")
	}
	nbf, hasNBF, err := numericDate(c, "nbf")
	if err != nil {
		return nil, invalidf("%v", err)
	}
	iat, _, err := numericDate(c, "iat")
	if err != nil {
		return nil, invalidf("%v", err)
	}
	skew := max(v.Skew, 0)
	if hasNBF && now.Before(nbf.Add(-skew)) {
		return nil, invalidf("not valid before %s", nbf.Format(time.RFC3339))
	}
	if !now.Before(exp.Add(skew)) {
		return nil, fmt.Errorf("%w: expired at %s", ErrTokenExpired, exp.Format(time.RFC3339))
	}
	tok.Expiry, tok.IssuedAt = exp, iat
	return tok, nil
}

// checkAudience applies the aud and azp rules (Core §3.1.3.7 steps 3 to 5).
func (v *Verifier) checkAudience(c map[string]gjson.Result, r rules) error {
	name := "aud"
	if !r.idToken {
		for _, n := range v.AudienceClaims {
			if _, ok := c[n]; ok {
				name = n
				break
			}
		}
	}
	aud, ok := c[name]
	if !ok {
		return invalidf("aud is missing")
	}
	if name != "aud" {
		if aud.Type != gjson.String || !anyAccepted([]string{aud.Str}, r.audiences) {
			return invalidf("%s %s not accepted", name, quoted(aud.Raw))
		}
		return nil
	}
	var auds []string
	switch {
	case aud.Type == gjson.String:
		auds = []string{aud.Str}
	case aud.IsArray():
		for _, a := range aud.Array() {
			if a.Type != gjson.String {
				return invalidf("aud holds a non-string")
			}
			auds = append(auds, a.Str)
		}
		if len(auds) == 0 {
			return invalidf("aud is empty")
		}
	default:
		return invalidf("aud is not a string or an array")
	}
	if !anyAccepted(auds, r.audiences) {
		return invalidf("audience %s not accepted", quoted(strings.Join(auds, " ")))
	}

	azp, present, err := optionalString(c, "azp")
	if err != nil {
		return invalidf("%v", err)
	}
	if !present {
		if len(auds) > 1 {
			return invalidf("azp is missing although aud has %d entries", len(auds))
		}
		return nil
	}
	if azp != "" && (azp == v.ClientID || !r.idToken && anyAccepted([]string{azp}, r.audiences)) {
		return nil
	}
	return invalidf("azp %s not accepted", quoted(azp))
}

// anyAccepted reports whether some entry of got is a non-empty member of accepted.
func anyAccepted(got, accepted []string) bool {
	for _, g := range got {
		if g == "" {
			continue
		}
		for _, a := range accepted {
			if g == a {
				return true
			}
		}
	}
	return false
}

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly with a
// fraction). Non-numbers and values outside 0..maxNumericDate are errors.
func numericDate(c map[string]gjson.Result, name string) (t time.Time, present bool, err error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	if v.Type != gjson.Number {
		return time.Time{}, false, fmt.Errorf("%s is not a number", name)
	}
	f := v.Num
	if !(f >= 0 && f <= maxNumericDate) {
		return time.Time{}, false, fmt.Errorf("%s is out of range", name)
	}
	sec := int64(f)
	nsec := int64((f - float64(sec)) * 1e9)
	return time.Unix(sec, nsec).UTC(), true, nil
}

// Google documents that its ID tokens carry "https://accounts.google.com" or, as older ones
// did, "accounts.google.com" in iss. That one spelling of that one issuer is accepted besides
// the configured one (as coreos/go-oidc does); every other issuer is compared byte for byte.
const (
	googleIssuer         = "https://accounts.google.com"
	googleIssuerNoScheme = "accounts.google.com"
)

// acceptsIssuer reports whether a token's iss is one this verifier accepts: Issuer,
// MoreIssuers, Google's issuer without its scheme, and for bearer tokens AccessTokenIssuers.
func (v *Verifier) acceptsIssuer(iss string, r rules) bool {
	switch {
	case iss == v.Issuer, slices.Contains(v.MoreIssuers, iss):
		return true
	case v.Issuer == googleIssuer && iss == googleIssuerNoScheme:
		return true
	}
	return !r.idToken && slices.Contains(v.AccessTokenIssuers, iss)
}
