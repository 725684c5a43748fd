package plugin

import "github.com/oidc-wasm/oidc-wasm/oidc"

// identity is what one credential's verified claims mean to a provider: the identity headers
// to set and which authorization rules admit the user. It is worked out once, when the
// session cookie is opened or the bearer token verified, and cached with the credential, so
// a request with a credential seen before parses no JSON at all: what is left is the host
// calls that set the headers.
type identity struct {
	headers [][2]string // claims_to_headers that have a value, in configuration order
	allowed []bool      // allowed[i]: Authorization[i] admits these claims
	// subject is what a signed assertion says of the user (assertion_key), and assertions
	// the last ones signed, by audience: the one part of an identity that changes after
	// identify, as requests sign them (assertion.go).
	subject    oidc.Assertion
	assertions [assertionsPerIdentity]signedAssertion
}

// identify works out the identity of verified claims. A claim that is absent, an object, or
// unsafe as a header value leaves its header out (absent upstream: it was stripped already),
// and so does the email claim unless the IdP vouches for it (EmailTrust): an address anyone
// could have typed is no identity.
func (c *Config) identify(claims []byte) *identity {
	id := &identity{allowed: make([]bool, len(c.Authorization)), subject: c.assertionSubject(claims)}
	for i, r := range c.Authorization {
		for _, cond := range r.Allow {
			if cond.Allows(claims) {
				id.allowed[i] = true
				break
			}
		}
	}
	parsed, ok := oidc.ParseClaims(claims)
	if !ok {
		return id
	}
	_, emailVerified := c.EmailTrust.VerifiedEmail(claims)
	for _, hc := range c.ClaimsToHeaders {
		if hc.Claim == emailClaim && !emailVerified {
			continue
		}
		if v, ok := headerValue(hc, parsed); ok {
			id.headers = append(id.headers, [2]string{hc.Header, v})
		}
	}
	return id
}

// emailClaim is the claim whose value is only an identity once verified.
const emailClaim = "email"
