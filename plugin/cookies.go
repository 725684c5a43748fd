package plugin

import (
	"strings"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The attributes of the plugin's cookies. Every cookie has Path=/ and, with cookie_secure,
// Secure. It is host-only unless cookie_domain covers the request's host: then it carries
// that Domain and every host under it shares the session (single sign-on across
// subdomains). The session cookies carry cookie_samesite; a login's state cookie is Lax
// unless that is None, since the IdP's redirect to the callback is a navigation from another
// site, which a Strict cookie would miss.

// cookie renders a Set-Cookie value with the plugin's attributes for this request's host.
func (h *httpContext) cookie(name, value string, maxAge int) string {
	return h.cookieWithDomain(name, value, maxAge, h.cookieDomain())
}

func (h *httpContext) cookieWithDomain(name, value string, maxAge int, domain string) string {
	cfg := h.rp.cfg
	sameSite := cfg.SameSite
	if sameSite != "None" && cfg.isStateCookie(name) {
		sameSite = "Lax"
	}
	return oidc.FormatCookie(name, value, maxAge, oidc.CookieOptions{Path: "/", Domain: domain, Secure: cfg.CookieSecure, SameSite: sameSite})
}

// cookieDomain is the longest of cookie_domain that the request's host is or ends in; ""
// for host-only cookies.
func (h *httpContext) cookieDomain() string {
	host, best := hostName(h.headers.get(":authority")), ""
	for _, d := range h.rp.cfg.CookieDomains {
		if (host == d || strings.HasSuffix(host, "."+d)) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// clearCookies are Set-Cookie headers deleting the named cookies. Under a cookie domain each
// is deleted host-only too: a browser keeps a host-only cookie and a domain cookie of the
// same name apart, and one set before cookie_domain was configured must not outlive a logout.
func (h *httpContext) clearCookies(names ...string) [][2]string {
	var out [][2]string
	domain := h.cookieDomain()
	for _, name := range names {
		if domain != "" {
			out = append(out, [2]string{"set-cookie", h.cookieWithDomain(name, "", 0, "")})
		}
		out = append(out, [2]string{"set-cookie", h.cookieWithDomain(name, "", 0, domain)})
	}
	return out
}

// clearSessionCookies deletes every session cookie (and chunk) the browser sent that is not
// in keep: a stale or tampered session must not linger and cause a loop.
func (h *httpContext) clearSessionCookies(keep map[string]bool) [][2]string {
	var names []string
	seen := map[string]bool{}
	for _, c := range h.cookies {
		if h.rp.cfg.isStateCookie(c.Name) || !h.rp.cfg.ownsCookie(c.Name) || keep[c.Name] || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		names = append(names, c.Name)
	}
	return h.clearCookies(names...)
}
