package plugin

import (
	"net/url"
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
	// maxPathBytes bounds the :path the plugin parses; Envoy's own limit is usually lower.
	maxPathBytes = 8192
)

// httpContext is one request's walk through the flow (OnHttpRequestHeaders):
//
//	strip managed headers -> bad :path? 400 -> provider by host and path (ambiguous: 400,
//	none: 403) -> assertion keys? -> skip path or CORS preflight? -> callback? -> logout? -> login path? ->
//	valid session (refresh if due)? -> bearer token (verified, or passed through)? -> login
//	redirect or 401
//
// A verified session or token then passes the authorization rules (else 403) on its way
// upstream. Every branch ends in exactly one of: continue upstream (with identity headers only
// when a session or token was verified), or a local response. The README's "How it works"
// follows these steps.
type httpContext struct {
	types.DefaultHttpContext
	id              uint32
	plugin          *pluginContext
	rp              *relyingParty // the request's relying party, chosen from its host and path
	headers         requestHeaders
	cookies         []oidc.Cookie
	path            requestPath // :path as every path decision reads it
	cookieHeaders   int         // how many Cookie headers the client sent
	responseCookies [][2]string // Set-Cookie headers for the upstream's response
	lent            []string    // header values handed to the host, kept alive (see lend)
	identity        *identity   // the identity whose header values were handed to the host
	credentialEnd   time.Time   // when the verified session or token stops vouching (assertion.go)
	replied         bool        // the plugin answered with a local response
	loginCookie     string      // at the callback: the state cookie of the login it completes
	done            bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return h.internalError("cannot read request headers", err)
	}
	h.headers = headers
	if err := stripManagedHeaders(h.headers, h.plugin.managed); err != nil {
		return h.internalError("cannot remove client-sent identity headers", err)
	}
	rawPath := h.headers.get(":path")
	if rawPath == "" || len(rawPath) > maxPathBytes {
		return h.respond(400, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "bad request path\n")
	}
	h.path = parsePath(rawPath)
	rp, ok := h.plugin.router.match(h.headers.get(":authority"), h.path)
	if !ok {
		// Which relying party a path like "/grafana/../kubeflow" or "/admin;x/users" belongs to
		// depends on who reads it; no relying party may decide it.
		return h.respond(400, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "bad request path\n")
	}
	if h.rp = rp; h.rp == nil {
		return h.noProvider()
	}
	cookieHeaders := h.headers.values("cookie")
	h.cookies, h.cookieHeaders = oidc.ParseCookies(cookieHeaders), len(cookieHeaders)
	cfg := h.rp.cfg
	switch {
	case cfg.Assertion.JWKSPath != "" && h.path.raw == cfg.Assertion.JWKSPath:
		return h.serveAssertionKeys()
	case skips(cfg.SkipPaths, h.path, h.headers.get(":method")):
		h.rp.metrics.count(metricRequestsSkipped)
		return h.continueUpstream(nil)
	case cfg.AllowPreflight && isPreflight(h.headers):
		h.rp.metrics.count(metricPreflightPassed)
		return h.continueUpstream(nil)
	case h.path.raw == cfg.RedirectPath:
		return h.callback(rawPath)
	case h.path.raw == cfg.LogoutPath:
		return h.logout(rawPath)
	case h.path.raw == cfg.LoginPath:
		returnTo := "/"
		if _, query, ok := strings.Cut(rawPath, "?"); ok {
			if values, err := url.ParseQuery(query); err == nil && len(values["rd"]) == 1 {
				returnTo = values.Get("rd")
			}
		}
		return h.whenReady(func() types.Action { return h.login(returnTo) })
	}
	now := h.rp.env.now()
	if sess := h.session(now); sess != nil {
		if sess.needsRefresh(h.rp.cfg, now) {
			return h.whenReady(func() types.Action { return h.refresh(sess) })
		}
		return h.continueWithSession(sess, now)
	}
	if token, ok := h.bearerToken(); ok {
		if cfg.BearerPassthrough {
			return h.passThrough(token)
		}
		return h.bearer(token)
	}
	return h.unauthenticated()
}

func (h *httpContext) OnHttpStreamDone() {
	h.done = true
	if h.rp != nil {
		h.rp.forget(h.id)
		h.rp.abandonRefresh(h)
	}
}

// unauthenticated answers a request without a valid session or token: a login redirect
// when it wants one (wantsLogin), else 401.
func (h *httpContext) unauthenticated() types.Action {
	if !h.wantsLogin() {
		return h.unauthorized()
	}
	return h.whenReady(func() types.Action { return h.login(h.headers.get(":path")) })
}

// isPreflight reports whether a request is a CORS preflight: OPTIONS with Origin and
// Access-Control-Request-Method. A browser sends it without cookies or credentials, so it
// can never authenticate; what it reaches is the app's CORS answer, not its data.
func isPreflight(h requestHeaders) bool {
	return h.get(":method") == "OPTIONS" && h.get("origin") != "" && h.get("access-control-request-method") != ""
}

// wantsLogin decides between a login redirect and a 401: never on api_paths; for GET and
// HEAD on page_paths (scripts that log in by following redirects); elsewhere for a
// browser's page load only (isBrowserNavigation).
func (h *httpContext) wantsLogin() bool {
	cfg := h.rp.cfg
	switch method := h.headers.get(":method"); {
	case matches(cfg.APIPaths, h.path):
		return false
	case (method == "GET" || method == "HEAD") && matches(cfg.PagePaths, h.path):
		return true
	}
	return isBrowserNavigation(h.headers)
}

// continueUpstream lets the request through. id is nil on skip paths: then no identity
// header is set, and the ones the client sent are already gone.
func (h *httpContext) continueUpstream(id *identity) types.Action {
	if id != nil {
		if !h.rp.cfg.authorize(h.path, id) {
			return h.forbidden()
		}
		if err := h.injectIdentity(id); err != nil {
			return h.internalError("cannot set identity headers", err)
		}
		if err := h.injectAssertion(id); err != nil {
			return h.internalError("cannot set the signed assertion", err)
		}
	}
	if err := h.stripPluginCookies(h.cookieHeaders); err != nil {
		return h.internalError("cannot clean the cookie header", err)
	}
	return types.ActionContinue
}

// whenReady runs next now if the IdP's metadata is loaded; otherwise it holds the request
// until the next fetch settles, or answers 503 when the IdP is known to be down.
func (h *httpContext) whenReady(next func() types.Action) types.Action {
	return h.whenLoaded(&h.rp.idp, next)
}

// whenLoaded is whenReady for the metadata of one key source: the IdP's, or a bearer
// issuer's.
func (h *httpContext) whenLoaded(s *idpState, next func() types.Action) types.Action {
	if s.ready() {
		return next()
	}
	if s.backingOff() || !s.held.hold(h.id, h.resumeWith(next)) {
		return h.unavailable()
	}
	return types.ActionPause
}

// resumeWith adapts a flow step to run later, once the metadata it waits for has loaded
// (held.go): 503 if it could not be.
func (h *httpContext) resumeWith(next func() types.Action) func(ok bool) {
	return func(ok bool) {
		h.resume(func() types.Action {
			if !ok {
				return h.unavailable()
			}
			return next()
		})
	}
}

// resume runs a flow step of this request from another context's callback (the plugin's
// tick, a dispatched call's answer) and resumes the request unless the step paused it again.
// The SDK leaves the context that entered the VM active, not this request's: its replies and
// its resume would act on no stream, so this request's context is made effective first. A
// request that has ended is left alone.
func (h *httpContext) resume(step func() types.Action) {
	if h.done {
		return
	}
	if err := proxywasm.SetEffectiveContext(h.id); err != nil {
		proxywasm.LogWarnf("oidc-wasm: request %d is gone: %v", h.id, err)
		return
	}
	resumeIf(step())
}

// siteURL is "<scheme>://<authority>" of the site the browser is on, as Envoy saw the
// request. The IdP only accepts redirect URIs registered for the client, so a forged Host
// cannot divert a code or a logout elsewhere.
func (h *httpContext) siteURL() (string, bool) {
	scheme := h.headers.get(":scheme")
	if scheme != "http" {
		scheme = "https"
	}
	authority := h.headers.get(":authority")
	if !isAuthority(authority) {
		return "", false
	}
	return scheme + "://" + authority, true
}

// redirectURI is the callback URL of the site the browser is on, or redirect_uri as
// configured.
func (h *httpContext) redirectURI() (string, bool) {
	base, ok := h.siteURL()
	if uri := h.rp.cfg.RedirectURI; uri != "" {
		return uri, ok
	}
	return base + h.rp.cfg.RedirectPath, ok
}

// absoluteURL turns a path of this site into an absolute URL, for the IdP (a relative
// authorization endpoint, a post_logout_redirect_uri); absolute ones are returned as they are.
func (h *httpContext) absoluteURL(target string) string {
	if !strings.HasPrefix(target, "/") {
		return target
	}
	base, ok := h.siteURL()
	if !ok {
		return ""
	}
	return base + target
}

// login sends the browser to the IdP with a fresh state, nonce and PKCE verifier, sealed
// into the login's state cookie together with where to come back to (returnTarget).
func (h *httpContext) login(returnTo string) types.Action {
	cfg := h.rp.cfg
	redirectURI, ok := h.redirectURI()
	if !ok {
		return h.respond(400, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "bad host header\n")
	}
	ar, err := oidc.NewAuthRequest(h.rp.env.random, h.absoluteURL(h.rp.idp.discovery.AuthorizationEndpoint), cfg.ClientID, redirectURI, cfg.Scopes, h.authParams())
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot build the authorization request: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	state := oidc.LoginState{State: ar.State, Nonce: ar.Nonce, CodeVerifier: ar.CodeVerifier, ReturnTo: h.returnTarget(returnTo)}
	plain, err := state.MarshalBinary()
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot encode the login state: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	sealed, err := h.rp.sealer.Seal(h.rp.env.random, h.rp.purposeState, h.rp.env.now().Add(loginStateTTL), plain)
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot seal the login state: %v", err)
		return h.respond(500, nil, "internal error\n")
	}
	headers := [][2]string{{"location", ar.URL}}
	headers = append(headers, h.clearSessionCookies(nil)...)
	headers = append(headers, h.dropOldLogins(h.rp.env.now())...)
	headers = append(headers, [2]string{"set-cookie", h.cookie(cfg.loginStateCookie(ar.State), sealed, int(loginStateTTL/time.Second))})
	h.rp.metrics.count(metricLoginStarted)
	return h.respond(302, headers, "")
}

// authParams are the extra authorization request parameters: authorization_params, then
// those of authorization_params_from_request the request's query carries, once each, short
// and without control characters.
func (h *httpContext) authParams() [][2]string {
	cfg := h.rp.cfg
	out := cfg.AuthParams
	if len(cfg.AuthParamsFromRequest) == 0 {
		return out
	}
	_, query, _ := strings.Cut(h.headers.get(":path"), "?")
	values, err := url.ParseQuery(query)
	if err != nil {
		return out
	}
	out = append([][2]string(nil), out...)
	for _, name := range cfg.AuthParamsFromRequest {
		if v := values[name]; len(v) == 1 && len(v[0]) <= maxForwardedParam && !strings.ContainsFunc(v[0], isControl) {
			out = append(out, [2]string{name, v[0]})
		}
	}
	return out
}

// maxForwardedParam bounds a parameter copied from a request into the authorization request.
const maxForwardedParam = 512

// isAuthority accepts host[:port] as Envoy normalizes it: letters, digits, '.', '-', ':' and
// IPv6 brackets. Anything else has no business in a redirect URI.
func isAuthority(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	return strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") == ""
}
