package plugin

import (
	"net/url"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// logout ends the session: every plugin cookie the browser holds is cleared, then the
// browser goes to the IdP's end_session_endpoint (so the IdP forgets the user too, with
// id_token_hint when the session kept the ID token) or, when the IdP has none, to the local
// page. An `rd` parameter chooses where to land afterwards, only if it passes the redirect
// checks (a path of this site, or an allowed host).
//
// Logout never waits for the IdP: if its metadata is not loaded, the logout is local only.
// A logout another site triggered (a link or image on a page elsewhere: Sec-Fetch-Site
// cross-site or same-site) is local only too: a forged link may end the session here, which
// the user can undo by signing in, but must not end the user's session at the IdP, and with it
// every other application's.
func (h *httpContext) logout(rawPath string) types.Action {
	cfg := h.rp.cfg
	target := cfg.LogoutRedirect
	if _, query, ok := strings.Cut(rawPath, "?"); ok {
		if values, err := url.ParseQuery(query); err == nil && len(values["rd"]) == 1 {
			if safe, ok := cfg.safeRedirect(values.Get("rd")); ok {
				target = safe
			}
		}
	}
	headers := append(h.clearSessionCookies(nil), h.clearStateCookies()...)
	location := target
	if !crossSite(h.headers) {
		if u, ok := h.idpLogout(target); ok {
			location = u
		}
	}
	h.rp.metrics.count(metricLogout)
	return h.respond(302, append(headers, [2]string{"location", location}), "")
}

// idpLogout is where the browser goes to end the IdP's session too, then land on target:
// logout_url filled in, or the end-session request of RP-Initiated Logout (with the
// session's ID token as id_token_hint). ok is false when there is none (no end-session
// endpoint, metadata not loaded, a template naming what is missing): a local logout.
func (h *httpContext) idpLogout(target string) (string, bool) {
	cfg := h.rp.cfg
	endpoint, idToken := "", ""
	if d := h.rp.idp.discovery; d != nil {
		endpoint = h.absoluteURL(d.EndSessionEndpoint)
	}
	if sess := h.session(h.rp.env.now()); sess != nil {
		idToken = sess.IDToken
	}
	if tmpl := cfg.LogoutURL; tmpl != "" {
		if strings.Contains(tmpl, "{end_session_endpoint}") && endpoint == "" || strings.Contains(tmpl, "{id_token}") && idToken == "" {
			return "", false
		}
		return h.absoluteURL(strings.NewReplacer("{end_session_endpoint}", endpoint, "{id_token}", url.QueryEscape(idToken),
			"{client_id}", url.QueryEscape(cfg.ClientID), "{post_logout_redirect_uri}", url.QueryEscape(h.absoluteURL(target))).Replace(tmpl)), true
	}
	if endpoint == "" {
		return "", false
	}
	u, err := oidc.EndSessionURL(endpoint, idToken, cfg.ClientID, h.absoluteURL(target))
	if err != nil {
		proxywasm.LogWarnf("oidc-wasm: logout is local only: %v", err)
		return "", false
	}
	return u, true
}

func (h *httpContext) hasCookie(name string) bool {
	for _, c := range h.cookies {
		if c.Name == name {
			return true
		}
	}
	return false
}

// crossSite reports whether the browser says another site caused the request. Browsers send
// Sec-Fetch-Site on every request; "same-origin" (the app's own link) and "none" (typed,
// bookmarked) are the user's own doing. A client that sends none (an old browser, a script)
// is taken at its word.
func crossSite(h requestHeaders) bool {
	switch h.get("sec-fetch-site") {
	case "cross-site", "same-site":
		return true
	}
	return false
}
