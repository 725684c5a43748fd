package plugin

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

const (
	// loginStateTTL is how long a browser may spend at the IdP before the state cookie
	// expires and the login must start again.
	loginStateTTL = 10 * time.Minute
	// maxSessionLifetime caps a session even when the IdP issues longer-lived ID tokens.
	maxSessionLifetime = 24 * time.Hour
	// maxPathBytes bounds the :path the plugin parses; Envoy's own limit is usually lower.
	maxPathBytes = 8192
)

// httpContext is one request's walk through the flow:
//
//	strip managed headers -> skip path? -> callback? -> valid session? -> login redirect or 401
//
// Every branch ends in exactly one of: continue upstream (with identity headers only when a
// session was verified), or a local response.
type httpContext struct {
	types.DefaultHttpContext
	id      uint32
	p       *pluginContext
	headers requestHeaders
	cookies []oidc.Cookie
	lent    []string // header values handed to the host, kept alive (see lend)
	done    bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot read request headers: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	h.headers = headers
	if err := stripManagedHeaders(h.headers, h.p.managed); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot remove client-sent identity headers: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	rawPath := h.headers.get(":path")
	if rawPath == "" || len(rawPath) > maxPathBytes {
		return h.respond(400, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "bad request path\n")
	}
	cookieHeaders := h.headers.values("cookie")
	h.cookies = oidc.ParseCookies(cookieHeaders)
	cfg := h.p.cfg
	path := requestPath(rawPath)
	if matchAny(cfg.SkipPaths, path) {
		h.p.metrics.count(metricRequestsSkipped)
		return h.continueUpstream(nil, len(cookieHeaders))
	}
	if path == cfg.RedirectPath {
		return h.callback(rawPath)
	}
	if sess := h.session(); sess != nil {
		h.p.metrics.count(metricSessionValid)
		return h.continueUpstream(sess.Claims, len(cookieHeaders))
	}
	if !isBrowserNavigation(h.headers) {
		return h.unauthorized()
	}
	return h.whenReady(h.login)
}

func (h *httpContext) OnHttpStreamDone() {
	h.done = true
	h.p.forget(h.id)
}

// continueUpstream lets the request through. claims is nil on skip paths: then no identity
// header is set, and the ones the client sent are already gone.
func (h *httpContext) continueUpstream(claims []byte, cookieHeaders int) types.Action {
	if claims != nil {
		if err := h.injectIdentity(claims); err != nil {
			proxywasm.LogErrorf("oidc-wasm: cannot set identity headers: %v", err)
			return h.respond(500, nil, "internal error\n")
		}
	}
	if err := h.stripPluginCookies(cookieHeaders); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot clean the cookie header: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	return types.ActionContinue
}

// whenReady runs next now if the IdP's metadata is loaded; otherwise it holds the request
// until the next fetch settles, or answers 503 when the IdP is known to be down.
func (h *httpContext) whenReady(next func() types.Action) types.Action {
	s := &h.p.idp
	if s.ready() {
		return next()
	}
	if s.backingOff() || !h.p.hold(h.id, h.resumeWith(next)) {
		return h.unavailable()
	}
	return types.ActionPause
}

// resumeWith adapts a flow step to run later, from another context's callback: the step's
// Continue must become an explicit ResumeHttpRequest.
func (h *httpContext) resumeWith(next func() types.Action) func(ok bool) {
	return func(ok bool) {
		if h.done {
			return
		}
		if !ok {
			h.unavailable()
			return
		}
		if next() == types.ActionContinue {
			if err := proxywasm.ResumeHttpRequest(); err != nil {
				proxywasm.LogErrorf("oidc-wasm: cannot resume request: %v", err)
			}
		}
	}
}

// session returns the verified session the request carries, or nil. A cookie that fails to
// open for any reason (tampered, expired, sealed with another key, ambiguous duplicates) is
// treated as no session at all.
func (h *httpContext) session() *oidc.Session {
	cfg := h.p.cfg
	sealed, ok := oidc.JoinCookie(h.cookies, cfg.CookieName)
	if !ok {
		return nil
	}
	plain, err := h.p.sealer.Open(oidc.PurposeSession, sealed, time.Now())
	if err != nil {
		h.p.metrics.count(metricSessionInvalid)
		return nil
	}
	var sess oidc.Session
	if err := sess.UnmarshalBinary(plain); err != nil {
		h.p.metrics.count(metricSessionInvalid)
		return nil
	}
	return &sess
}

// redirectURI is the callback URL of the site the browser is on. The IdP only accepts it if
// it is registered for the client, so a forged Host cannot divert the code elsewhere.
func (h *httpContext) redirectURI() (string, bool) {
	scheme := h.headers.get(":scheme")
	if scheme != "http" {
		scheme = "https"
	}
	authority := h.headers.get(":authority")
	if !isAuthority(authority) {
		return "", false
	}
	return scheme + "://" + authority + h.p.cfg.RedirectPath, true
}

// login sends the browser to the IdP with a fresh state, nonce and PKCE verifier, sealed
// into the state cookie together with where to come back to.
func (h *httpContext) login() types.Action {
	cfg := h.p.cfg
	redirectURI, ok := h.redirectURI()
	if !ok {
		return h.respond(400, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "bad host header\n")
	}
	ar, err := oidc.NewAuthRequest(rand.Reader, h.p.idp.provider.AuthorizationEndpoint, cfg.ClientID, redirectURI, cfg.Scopes)
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot build the authorization request: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	returnTo, ok := oidc.SafeReturnPath(h.headers.get(":path"))
	if !ok {
		returnTo = "/"
	}
	state := oidc.LoginState{State: ar.State, Nonce: ar.Nonce, CodeVerifier: ar.CodeVerifier, ReturnTo: returnTo}
	plain, err := state.MarshalBinary()
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot encode the login state: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	sealed, err := h.p.sealer.Seal(rand.Reader, oidc.PurposeState, time.Now().Add(loginStateTTL), plain)
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot seal the login state: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	headers := [][2]string{{"location", ar.URL}}
	headers = append(headers, h.clearSessionCookies(nil)...)
	headers = append(headers, [2]string{"set-cookie", h.cookie(cfg.StateCookieName(), sealed, int(loginStateTTL/time.Second))})
	h.p.metrics.count(metricLoginStarted)
	return h.respond(302, headers, "")
}

// cookie renders a Set-Cookie value with the plugin's attributes.
func (h *httpContext) cookie(name, value string, maxAge int) string {
	return oidc.FormatCookie(name, value, maxAge, oidc.CookieOptions{Path: "/", Secure: h.p.cfg.CookieSecure, SameSite: "Lax"})
}

// clearSessionCookies deletes every session cookie (and chunk) the browser sent that is not
// in keep: a stale or tampered session must not linger and cause a loop.
func (h *httpContext) clearSessionCookies(keep map[string]bool) [][2]string {
	var out [][2]string
	seen := map[string]bool{}
	for _, c := range h.cookies {
		if c.Name == h.p.cfg.StateCookieName() || !isPluginCookie(h.p.cfg, c.Name) || keep[c.Name] || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		out = append(out, [2]string{"set-cookie", h.cookie(c.Name, "", 0)})
	}
	return out
}

// isAuthority accepts host[:port] as Envoy normalizes it: letters, digits, '.', '-', ':' and
// IPv6 brackets. Anything else has no business in a redirect URI.
func isAuthority(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	return strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") == ""
}
