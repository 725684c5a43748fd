package plugin

import (
	"crypto/rand"
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
}

// cachedSession is what the session cache keeps of an opened cookie. Requests share it: an
// openSession points into it, and nothing writes through that pointer (a refresh works on a
// copy).
type cachedSession struct {
	sess oidc.Session
	id   *identity
}

// session returns the request's session, or nil when it carries none that is valid.
// A cookie that fails to open for any reason (tampered, expired, sealed with another key,
// ambiguous duplicates) counts as no session at all.
func (h *httpContext) session(now time.Time) *openSession {
	cfg := h.p.cfg
	sealed, ok := oidc.JoinCookie(h.cookies, cfg.CookieName)
	if !ok {
		return nil
	}
	c, until, cached := h.p.sessions.get(sealed, now)
	if !cached {
		c = &cachedSession{}
		plain, expiry, err := h.p.sealer.OpenExpiry(h.p.purposeSession, sealed, now)
		if err != nil {
			h.p.metrics.count(metricSessionInvalid)
			return nil
		}
		if err := c.sess.UnmarshalBinary(plain); err != nil {
			h.p.metrics.count(metricSessionInvalid)
			return nil
		}
		until = expiry
	}
	// The checks below run on cached sessions too: the cache only saves the AEAD open and
	// the work on the claims.
	if !now.Before(c.sess.IssuedAt.Add(cfg.SessionMaxAge)) {
		h.p.metrics.count(metricSessionInvalid)
		return nil
	}
	if !cached {
		c.id = cfg.identify(c.sess.Claims)
		h.p.sessions.put(sealed, c, until)
	}
	if !now.Before(c.sess.TokenExpiry) && c.sess.RefreshToken == "" {
		return nil
	}
	return &openSession{Session: &c.sess, sealedUntil: until, id: c.id}
}

// needsRefresh reports whether the session's tokens have expired; session() only returns
// such a session when it holds a refresh token.
func (s *openSession) needsRefresh(now time.Time) bool { return !now.Before(s.TokenExpiry) }

var errSessionTooLarge = errors.New("the session does not fit in the cookies a browser keeps")

// sealSession seals sess into Set-Cookie headers, and deletes chunks of an older, larger
// session the browser still holds.
func (h *httpContext) sealSession(sess *oidc.Session, now time.Time) ([][2]string, error) {
	cfg := h.p.cfg
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
	sealed, err := h.p.sealer.Seal(rand.Reader, h.p.purposeSession, until, plain)
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
// plugin's cookies removed, and the idle timeout renewed when half of it has passed.
func (h *httpContext) continueWithSession(sess *openSession, now time.Time) types.Action {
	cfg := h.p.cfg
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
	if cfg.SessionIdleTimeout > 0 && sess.sealedUntil.Sub(now) < cfg.SessionIdleTimeout/2 &&
		sess.sealedUntil.Before(sess.IssuedAt.Add(cfg.SessionMaxAge)) {
		cookies, err := h.sealSession(sess.Session, now)
		if err != nil {
			return h.internalError("cannot renew the session", err)
		}
		h.responseCookies = append(h.responseCookies, cookies...)
	}
	h.p.metrics.count(metricSessionValid)
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

// OnHttpResponseHeaders adds the cookies a request earned on its way in (a refreshed or
// renewed session) to the upstream's response.
func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	for _, kv := range h.responseCookies {
		if err := proxywasm.AddHttpResponseHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("oidc-wasm: cannot add %s to the response: %v", kv[0], err)
		}
	}
	return types.ActionContinue
}
