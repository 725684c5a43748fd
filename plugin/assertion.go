package plugin

import (
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Signed identity for apps (assertion_key): every request that leaves with a verified
// identity carries a short-lived JWT of it, signed by the gateway (oidc.AssertionKey), and the
// public keys are served at assertion_jwks_path. An app then verifies where the identity came
// from rather than trusting a header because only the gateway can reach it.
//
// Signing costs a millisecond or more inside a module, so an assertion is kept with the
// identity it asserts (identity.assertions), that is with the session cookie or bearer token
// in the per-VM caches, one per audience for the last few audiences, and signed again once
// half of its lifetime has passed: apps always get one with at least half of it left, and
// a user's requests to one host cost one signature per half lifetime. The caches' bounds
// bound these too: an identity keeps at most assertionsPerIdentity of them, each no larger
// than the claims of the credential it came from plus a fixed overhead.

// assertionsPerIdentity is how many audiences an identity keeps an assertion for: a session
// shared across subdomains (cookie_domain), or a bearer token, used with a few apps at once
// costs no signature per request. A host beyond them takes the place of the one due soonest.
const assertionsPerIdentity = 4

// signedAssertion is an assertion signed for one audience.
type signedAssertion struct {
	audience string
	token    string
	renewAt  time.Time // half its lifetime: from then on a request gets a fresh one
}

// jwksMaxAge is how long verifiers may cache the JWKS: short, so a key added for rotation
// reaches them soon.
const jwksMaxAge = "public, max-age=300"

// serveAssertionKeys answers assertion_jwks_path with the JWK Set of the assertion keys.
// Anyone may read public keys; the response carries no cookie and is meant to be cached.
func (h *httpContext) serveAssertionKeys() types.Action {
	if m := h.headers.get(":method"); m != "GET" && m != "HEAD" {
		return h.respond(405, [][2]string{{"allow", "GET, HEAD"}, {"content-type", "text/plain; charset=utf-8"}}, "method not allowed\n")
	}
	h.replied = true
	headers := [][2]string{{"content-type", "application/json"}, {"cache-control", jwksMaxAge}}
	if err := proxywasm.SendHttpResponse(200, headers, h.rp.cfg.Assertion.JWKS, -1); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot send the assertion keys: %v", err)
	}
	return types.ActionPause
}

// injectAssertion sets assertion_header for a request leaving with identity id, replacing
// whatever is there (the client's copy is gone already). When no assertion can be signed the
// header stays absent: an app that requires it refuses the request, which fails closed.
func (h *httpContext) injectAssertion(id *identity) error {
	cfg := &h.rp.cfg.Assertion
	if len(cfg.Keys) == 0 {
		return nil
	}
	token := h.assertionFor(id)
	if token == "" {
		h.rp.metrics.count(metricAssertionOmitted)
		return nil
	}
	return proxywasm.ReplaceHttpRequestHeader(cfg.Header, h.lend(token))
}

// assertionFor returns id's assertion for the request's host: the one id keeps while less
// than half of its lifetime has passed, else a fresh one, which id then keeps in place of the
// one for this host or, failing that, the one due soonest. "" when none can be signed.
func (h *httpContext) assertionFor(id *identity) string {
	authority := h.headers.get(":authority")
	if !isAuthority(authority) {
		return ""
	}
	// The host without port: a site's audience must not depend on whether a client wrote the
	// default port, and Envoy routes on the host.
	audience := hostName(authority)
	now := h.rp.env.now()
	slot := &id.assertions[0]
	for i := range id.assertions {
		s := &id.assertions[i]
		if s.audience == audience {
			if now.Before(s.renewAt) {
				return s.token
			}
			slot = s
			break
		}
		if s.renewAt.Before(slot.renewAt) {
			slot = s
		}
	}
	cfg := &h.rp.cfg.Assertion
	a := id.subject
	a.Issuer, a.Audience = cfg.Issuer, audience
	a.IssuedAt = time.Unix(now.Unix(), 0)
	a.Expiry = a.IssuedAt.Add(cfg.TTL)
	if end := time.Unix(h.credentialEnd.Unix(), 0); end.Before(a.Expiry) {
		a.Expiry = end // never beyond the session or token it asserts
	}
	token, err := cfg.Keys[0].Sign(a)
	if err != nil {
		proxywasm.LogInfof("oidc-wasm: %sno assertion for host %q: %v", h.rp.describe(), audience, err)
		return ""
	}
	h.rp.metrics.count(metricAssertionSigned)
	*slot = signedAssertion{audience: audience, token: token, renewAt: a.IssuedAt.Add(a.Expiry.Sub(a.IssuedAt) / 2)}
	return token
}

// end is when a session stops vouching for its user, as far as this cookie value knows: its
// sealed expiry, its absolute lifetime, its tokens' expiry (a refresh must vouch again), and
// the idle timeout from now.
func (s *openSession) end(cfg *Config, now time.Time) time.Time {
	end := s.sealedUntil
	for _, t := range []time.Time{s.IssuedAt.Add(cfg.SessionMaxAge), s.TokenExpiry} {
		if t.Before(end) {
			end = t
		}
	}
	if idle := now.Add(cfg.SessionIdleTimeout); cfg.SessionIdleTimeout > 0 && idle.Before(end) {
		end = idle
	}
	return end
}

// assertionSubject is what an assertion of these claims says of the user; the zero value
// when the provider signs none.
func (c *Config) assertionSubject(claims []byte) oidc.Assertion {
	if len(c.Assertion.Keys) == 0 {
		return oidc.Assertion{}
	}
	return oidc.AssertionClaims(claims, c.GroupsClaim, c.EmailTrust)
}
