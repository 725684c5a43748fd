package plugin

import (
	"net/url"
	"strings"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// safeRedirect checks a redirect target taken from a request or a login state (oidc's
// SafeRedirect): a path of this site, a URL on allowed_redirect_hosts, or, with
// cookie_domain, a URL on a host under it. Those hosts share the session already, so sending
// the browser there after a login or logout takes it nowhere its session does not go.
func (c *Config) safeRedirect(raw string) (string, bool) {
	return oidc.SafeRedirect(raw, c.redirectHosts)
}

// cookieDomainHosts are the allowed_redirect_hosts entries cookie_domain implies: every host
// under each domain, on the scheme's default port, https only with cookie_secure.
func cookieDomainHosts(c *Config) []string {
	var out []string
	for _, d := range c.CookieDomains {
		if c.CookieSecure {
			out = append(out, "https://."+d)
		} else {
			out = append(out, "."+d)
		}
	}
	return out
}

// returnTarget is where a login started by this request comes back to: returnTo when it
// passes the redirect checks, else "/". When redirect_uri names a callback on another host
// (one callback host for a cookie domain), a path becomes an absolute URL of this host, so
// the browser comes back here rather than to the callback's host; the callback checks it
// again.
func (h *httpContext) returnTarget(returnTo string) string {
	target, ok := h.rp.cfg.safeRedirect(returnTo)
	if !ok {
		target = "/"
	}
	if !strings.HasPrefix(target, "/") || !h.callbackElsewhere() {
		return target
	}
	if base, ok := h.siteURL(); ok {
		return base + target
	}
	return target
}

// callbackElsewhere reports whether redirect_uri sends the IdP's answer to another host.
func (h *httpContext) callbackElsewhere() bool {
	uri := h.rp.cfg.RedirectURI
	if uri == "" || strings.HasPrefix(uri, "/") {
		return false
	}
	u, err := url.Parse(uri)
	return err == nil && !strings.EqualFold(u.Host, h.headers.get(":authority"))
}
