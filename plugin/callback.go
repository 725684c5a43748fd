package plugin

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// idTokenSkew is the clock leeway for exp and nbf: Envoy hosts and IdPs drift apart.
const idTokenSkew = time.Minute

// callback completes a login: the IdP sent the browser back with a code and the state. The
// state must match the sealed state cookie this browser got when the login started; then the
// code is exchanged with the PKCE verifier, the ID token verified (signature, issuer,
// audience, expiry, nonce), and a fresh session cookie issued. Any failure ends on an error
// page that clears the state cookie and never redirects, so it cannot loop.
func (h *httpContext) callback(rawPath string) types.Action {
	query := ""
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		query = rawPath[i+1:]
	}
	if values, err := url.ParseQuery(query); err == nil && len(values["state"]) == 1 {
		h.loginCookie = h.rp.cfg.loginStateCookie(values.Get("state")) // cleared however the callback ends
	}
	cb, err := oidc.ParseCallback(query)
	var idpErr *oidc.CallbackError
	switch {
	case errors.As(err, &idpErr):
		h.rp.metrics.count(metricLoginFailedIdpError)
		proxywasm.LogWarnf("oidc-wasm: the identity provider refused the login: %v", idpErr)
		status := uint32(400)
		if idpErr.Code == "access_denied" {
			status = 403
		}
		return h.loginFailed(status, "The identity provider did not complete the login ("+idpErr.Code+").")
	case err != nil:
		h.rp.metrics.count(metricLoginFailedBadCallback)
		return h.loginFailed(400, "The login callback is malformed.")
	}
	state, cookie, ok := h.loginState(cb.State)
	if ok {
		h.loginCookie = cookie
	}
	if !ok {
		h.rp.metrics.count(metricLoginFailedBadState)
		return h.loginFailed(400, "The login state is missing, expired or does not match. Logins time out after 10 minutes.")
	}
	redirectURI, ok := h.redirectURI()
	if !ok {
		return h.loginFailed(400, "The request's host is not valid.")
	}
	return h.whenReady(func() types.Action { return h.exchange(cb.Code, redirectURI, state) })
}

// exchange trades the code for tokens at the token endpoint, then verifies the ID token.
func (h *httpContext) exchange(code, redirectURI string, state *oidc.LoginState) types.Action {
	cfg := h.rp.cfg
	req := oidc.CodeExchangeRequest(h.rp.idp.discovery.TokenEndpoint, cfg.ClientID, cfg.ClientSecret, code, redirectURI, state.CodeVerifier)
	err := h.dispatch(req, func(a answer) types.Action { return h.onTokens(a, state) })
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: token request not sent: %v", err)
		h.rp.metrics.count(metricLoginFailedTokenEndpoint)
		return h.loginFailed(503, "The identity provider cannot be reached.")
	}
	return types.ActionPause
}

func (h *httpContext) onTokens(a answer, state *oidc.LoginState) types.Action {
	if a.err != nil {
		proxywasm.LogErrorf("oidc-wasm: token endpoint: %v", a.err)
		h.rp.metrics.count(metricLoginFailedTokenEndpoint)
		return h.loginFailed(503, "The identity provider cannot be reached.")
	}
	tokens, err := oidc.ParseTokenResponse(a.status, a.body)
	var tokenErr *oidc.TokenError
	switch {
	case errors.As(err, &tokenErr):
		proxywasm.LogWarnf("oidc-wasm: the token endpoint refused the code: %v", tokenErr)
		h.rp.metrics.count(metricLoginFailedTokenEndpoint)
		return h.loginFailed(400, "The identity provider refused the login code ("+tokenErr.Code+"). Codes are single-use and short-lived.")
	case err != nil:
		proxywasm.LogErrorf("oidc-wasm: unusable token endpoint answer: %v", err)
		h.rp.metrics.count(metricLoginFailedTokenEndpoint)
		return h.loginFailed(502, "The identity provider's answer was not usable.")
	case tokens.IDToken == "":
		proxywasm.LogErrorf("oidc-wasm: the token endpoint answered without an id_token (is the openid scope requested?)")
		h.rp.metrics.count(metricLoginFailedIdToken)
		return h.loginFailed(502, "The identity provider did not return an ID token.")
	}
	return h.verifyIDToken(tokens, state, false)
}

// verifyIDToken checks the ID token. A key id the JWKS does not know may mean the IdP has
// rotated its keys: the request waits for one (rate-limited) JWKS refetch and tries again.
func (h *httpContext) verifyIDToken(tokens *oidc.TokenResponse, state *oidc.LoginState, refetched bool) types.Action {
	tok, err := h.rp.idp.verifier.VerifyIDToken(tokens.IDToken, state.Nonce, h.rp.env.now())
	if errors.Is(err, oidc.ErrUnknownKey) && !refetched && h.rp.idp.requestKeyRefresh() {
		retry := func() types.Action { return h.verifyIDToken(tokens, state, true) }
		if h.rp.idp.held.hold(h.id, h.resumeWith(retry)) {
			return types.ActionPause
		}
	}
	if err != nil {
		proxywasm.LogWarnf("oidc-wasm: ID token rejected: %v", err)
		h.rp.metrics.count(metricLoginFailedIdToken)
		return h.loginFailed(401, "The identity provider's ID token could not be verified.")
	}
	if h.rp.cfg.Userinfo {
		return h.fetchUserinfo(tok, tokens, state)
	}
	return h.resolveGroups(tok, tokens, state)
}

// fetchUserinfo merges the userinfo endpoint's claims (groups often live only there) into
// the verified ID token's before the session starts. A login that was asked for userinfo
// and cannot get it fails, rather than starting a session with part of the identity.
func (h *httpContext) fetchUserinfo(tok *oidc.Token, tokens *oidc.TokenResponse, state *oidc.LoginState) types.Action {
	endpoint := h.rp.idp.discovery.UserinfoEndpoint
	if endpoint == "" || tokens.AccessToken == "" {
		proxywasm.LogErrorf("oidc-wasm: userinfo is on, but the IdP publishes no userinfo_endpoint or gave no access token")
		h.rp.metrics.count(metricLoginFailedUserinfo)
		return h.loginFailed(502, "The identity provider's user information is not available.")
	}
	err := h.dispatch(oidc.UserinfoRequest(endpoint, tokens.AccessToken), func(a answer) types.Action {
		return h.onUserinfo(a, tok, tokens, state)
	})
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: userinfo request not sent: %v", err)
		h.rp.metrics.count(metricLoginFailedUserinfo)
		return h.loginFailed(503, "The identity provider cannot be reached.")
	}
	return types.ActionPause
}

func (h *httpContext) onUserinfo(a answer, tok *oidc.Token, tokens *oidc.TokenResponse, state *oidc.LoginState) types.Action {
	if a.err != nil {
		proxywasm.LogErrorf("oidc-wasm: userinfo endpoint: %v", a.err)
		h.rp.metrics.count(metricLoginFailedUserinfo)
		return h.loginFailed(503, "The identity provider cannot be reached.")
	}
	merged, err := oidc.MergeUserinfo(tok.Claims, tok.Subject, a.status, a.body)
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: %v", err)
		h.rp.metrics.count(metricLoginFailedUserinfo)
		return h.loginFailed(502, "The identity provider's user information was not usable.")
	}
	withInfo := *tok
	withInfo.Claims = merged
	return h.resolveGroups(&withInfo, tokens, state)
}

// startSession issues a fresh session cookie (never one the browser brought: no session
// fixation), clears the state cookie, and sends the browser back where it started.
func (h *httpContext) startSession(tok *oidc.Token, tokens *oidc.TokenResponse, state *oidc.LoginState) types.Action {
	now := h.rp.env.now()
	sess := h.rp.newSession(tok, tokens, now)
	sess.IssuedAt = now
	cookies, err := h.sealSession(sess, now)
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot create the session of subject %q: %v", tok.Subject, err)
		h.rp.metrics.count(metricLoginFailedIdToken)
		return h.loginFailed(502, "The session could not be created: the identity provider's tokens are too large.")
	}
	returnTo, ok := h.rp.cfg.safeRedirect(state.ReturnTo)
	if !ok {
		returnTo = "/"
	}
	cookies = append(cookies, h.clearLoginCookie()...)
	h.rp.metrics.count(metricLoginSucceeded)
	proxywasm.LogInfof("oidc-wasm: login of subject %q", tok.Subject)
	if h.rp.cfg.SameSite == "Strict" {
		return h.moveOn(returnTo, cookies)
	}
	return h.respond(302, append([][2]string{{"location", returnTo}}, cookies...), "")
}

// clearLoginCookie clears the state cookie of the login this callback completes or fails:
// the one that opened, else the one named for its state, and the previous release's single
// state cookie when the browser sent it. Other tabs' logins keep theirs.
func (h *httpContext) clearLoginCookie() [][2]string {
	names := []string{h.loginCookie}
	if legacy := h.rp.cfg.StateCookieName(); h.hasCookie(legacy) && h.loginCookie != legacy {
		names = append(names, legacy)
	}
	if h.loginCookie == "" {
		names = names[1:]
	}
	return h.clearCookies(names...)
}

// newSession builds the session for a verified ID token and the token endpoint's answer.
// The tokens expire with the ID token, or earlier with the access token.
func (rp *relyingParty) newSession(tok *oidc.Token, tokens *oidc.TokenResponse, now time.Time) *oidc.Session {
	sess := &oidc.Session{Claims: tok.Claims, TokenExpiry: tok.Expiry}
	if tokens.ExpiresIn > 0 {
		if at := now.Add(time.Duration(tokens.ExpiresIn) * time.Second); at.Before(sess.TokenExpiry) {
			sess.TokenExpiry = at
		}
	}
	if rp.cfg.SessionTokens {
		sess.IDToken, sess.AccessToken, sess.RefreshToken = tok.Raw, tokens.AccessToken, tokens.RefreshToken
	}
	return sess
}

// loginFailed ends a callback on an error page that clears the login's state cookie. A 503
// (the IdP unreachable) says when to retry, like the plugin's other 503.
func (h *httpContext) loginFailed(status uint32, message string) types.Action {
	headers := h.clearLoginCookie()
	if status == 503 {
		headers = append(headers, [2]string{"retry-after", "5"})
		message += " Please try again in a moment."
	}
	return h.page(status, "Login failed", message, "", headers)
}
