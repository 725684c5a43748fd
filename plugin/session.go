package plugin

import (
	"errors"
	"fmt"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// A session ends at the first of: session_max_age after login (checked against IssuedAt
// inside the sealed cookie, so a shortened setting applies to existing sessions), the idle
// timeout (the sealed expiry, renewed while the user is active), and, when there is no
// refresh token, the expiry of the tokens. Cookie Max-Age follows the same instant, but the
// sealed data is what is enforced: a browser that keeps a cookie longer gains nothing.

// openSession is a session cookie that opened.
type openSession struct {
	*oidc.Session
	sealedUntil time.Time
	id          *identity // what the session's claims mean here; nil until first needed
	legacy      bool      // read from the legacy cookie name: to be sealed again under the new one
}

// cachedSession is what the session cache keeps of an opened cookie. Requests share it: an
// openSession points into it, and nothing writes through that pointer (a refresh works on a
// copy).
type cachedSession struct {
	sess   oidc.Session
	id     *identity
	legacy bool
}

// session returns the request's session, or nil when it carries none that is valid.
//
// A browser may send several values for the session cookie: a copy planted by a sibling
// subdomain (cookie tossing) next to its own, which this host's clearing Set-Cookie cannot
// remove. Refusing them all would loop through logins forever, so each is opened and only
// those that open count: a planted value this relying party did not seal is ignored. If several
// open (an attacker planted a session of their own), the one sealed under the current name
// wins over the legacy name, then the most recent login: a user who signs in again always
// gets their own session back. __Host- names, the default, stop the planting itself.
//
// Values that fail to open for any reason (tampered, expired, sealed with another key or for
// another cookie) count as no session at all. Sessions under the legacy cookie name are read
// with the purpose they were sealed for then.
func (h *httpContext) session(now time.Time) *openSession {
	cfg := h.rp.cfg
	for _, legacy := range [...]bool{false, true} {
		name := cfg.CookieName
		if legacy {
			name = cfg.LegacyCookieName
		}
		var best *openSession
		for _, sealed := range oidc.CookieCandidates(h.cookies, name) {
			if s := h.openSession(sealed, now, legacy); s != nil && (best == nil || s.IssuedAt.After(best.IssuedAt)) {
				best = s
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

// openSession opens one sealed session value, from the cache when it was opened before.
func (h *httpContext) openSession(sealed string, now time.Time, legacy bool) *openSession {
	cfg := h.rp.cfg
	c, until, cached := h.rp.sessions.get(sealed, now)
	if cached && c.legacy != legacy {
		return nil // the same bytes under the other name: sealed for one purpose only
	}
	if !cached {
		purpose := h.rp.purposeSession
		if legacy {
			purpose = h.rp.purposeLegacySession
		}
		c = &cachedSession{legacy: legacy}
		plain, expiry, err := h.rp.sealer.OpenExpiry(purpose, sealed, now)
		if err != nil {
			h.rp.metrics.count(metricSessionInvalid)
			return nil
		}
		if err := c.sess.UnmarshalBinary(plain); err != nil {
			h.rp.metrics.count(metricSessionInvalid)
			return nil
		}
		until = expiry
	}
	// The checks below run on cached sessions too: the cache only saves the AEAD open and
	// the work on the claims.
	if !now.Before(c.sess.IssuedAt.Add(cfg.SessionMaxAge)) {
		h.rp.metrics.count(metricSessionInvalid)
		return nil
	}
	if !cached {
		c.id = cfg.identify(c.sess.Claims)
		h.rp.sessions.put(sealed, c, until)
	}
	if !now.Before(c.sess.TokenExpiry) && c.sess.RefreshToken == "" {
		return nil
	}
	return &openSession{Session: &c.sess, sealedUntil: until, id: c.id, legacy: legacy}
}

// forwardMargin is how long before their expiry forwarded tokens are refreshed: the upstream
// (Istio's RequestAuthentication, an app) must never receive an expired one, and a request
// can take a while to get there.
const forwardMargin = 30 * time.Second

// needsRefresh reports whether the session's tokens must be renewed before the request goes
// on: they have expired, or a token is forwarded upstream and expires within forwardMargin.
// session() only returns a session with expired tokens when it holds a refresh token; one
// without a refresh token is used until its tokens expire, and then ends.
func (s *openSession) needsRefresh(cfg *Config, now time.Time) bool {
	if cfg.forwardsTokens() && s.RefreshToken != "" {
		now = now.Add(forwardMargin)
	}
	return !now.Before(s.TokenExpiry)
}

var errSessionTooLarge = errors.New("the session does not fit in the cookies a browser keeps")

// sealSession seals sess into Set-Cookie headers, and deletes chunks of an older, larger
// session the browser still holds.
func (h *httpContext) sealSession(sess *oidc.Session, now time.Time) ([][2]string, error) {
	cfg := h.rp.cfg
	until := sess.IssuedAt.Add(cfg.SessionMaxAge)
	if cfg.SessionIdleTimeout > 0 && now.Add(cfg.SessionIdleTimeout).Before(until) {
		until = now.Add(cfg.SessionIdleTimeout)
	}
	if sess.RefreshToken == "" && sess.TokenExpiry.Before(until) {
		until = sess.TokenExpiry
	}
	plain, err := sess.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encoding the session: %w", err)
	}
	sealed, err := h.rp.sealer.Seal(h.rp.env.random, h.rp.purposeSession, until, plain)
	if err != nil {
		return nil, fmt.Errorf("sealing the session: %w", err)
	}
	chunks := oidc.SplitCookie(cfg.CookieName, sealed)
	if chunks == nil {
		return nil, fmt.Errorf("%w (%d bytes sealed): set session_tokens to false", errSessionTooLarge, len(sealed))
	}
	maxAge := int(until.Sub(now) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	var headers [][2]string
	keep := map[string]bool{}
	for _, c := range chunks {
		keep[c[0]] = true
		headers = append(headers, [2]string{"set-cookie", h.cookie(c[0], c[1], maxAge)})
	}
	return append(headers, h.clearSessionCookies(keep)...), nil
}

// continueWithSession lets a request with a valid session through: identity headers from
// its claims, the token to forward (if configured) as the only Authorization header, the
// plugin's cookies removed, and the session sealed again on the response when half of the
// idle timeout has passed or when it came under the legacy cookie name (which the new
// cookies then clear).
func (h *httpContext) continueWithSession(sess *openSession, now time.Time) types.Action {
	cfg := h.rp.cfg
	if err := removeAll("authorization", len(h.headers.values("authorization"))); err != nil {
		return h.internalError("cannot remove the client's Authorization header", err)
	}
	if token := forwardedToken(cfg, sess.Session); token != "" {
		if err := proxywasm.AddHttpRequestHeader("authorization", h.lend("Bearer "+token)); err != nil {
			return h.internalError("cannot set the forwarded token", err)
		}
	}
	if err := h.injectTokens(sess.IDToken, sess.AccessToken); err != nil {
		return h.internalError("cannot set the token headers", err)
	}
	idleRenewal := cfg.SessionIdleTimeout > 0 && sess.sealedUntil.Sub(now) < cfg.SessionIdleTimeout/2 &&
		sess.sealedUntil.Before(sess.IssuedAt.Add(cfg.SessionMaxAge))
	if idleRenewal || sess.legacy {
		cookies, err := h.sealSession(sess.Session, now)
		if err != nil {
			return h.internalError("cannot renew the session", err)
		}
		h.responseCookies = append(h.responseCookies, cookies...)
	}
	h.rp.metrics.count(metricSessionValid)
	h.credentialEnd = sess.end(cfg, now)
	if sess.id == nil {
		sess.id = cfg.identify(sess.Claims)
	}
	return h.continueUpstream(sess.id)
}

func forwardedToken(cfg *Config, sess *oidc.Session) string {
	switch cfg.ForwardToken {
	case forwardIDToken:
		return sess.IDToken
	case forwardAccessToken:
		return sess.AccessToken
	}
	return ""
}
