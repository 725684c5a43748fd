package plugin

import (
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// The readers of the cookie keys: names, and the attributes browsers enforce on them.

// readCookieName reads cookie_name, or picks the default for cookie_secure and cookie_domain
// (each provider's ends in its name: "__Host-oidc_session_grafana"). A name with a __Host-
// or __Secure- prefix (any case: browsers compare it so) needs cookie_secure, and a __Host-
// name cannot carry a Domain: browsers would drop every cookie and no login could complete.
func readCookieName(c *Config, v view) error {
	def, legacy := legacyCookieName, legacyCookieName
	switch {
	case c.CookieSecure && len(c.CookieDomains) > 0:
		def = defaultDomainCookieName
	case c.CookieSecure:
		def = defaultCookieName
	}
	if c.Name != "" {
		def, legacy = def+"_"+c.Name, legacy+"_"+c.Name
	}
	var err error
	if c.CookieName, err = readString(v, "cookie_name", def); err != nil {
		return err
	}
	c.LegacyCookieName = c.CookieName
	if !v.Get("cookie_name").Exists() {
		c.LegacyCookieName = legacy
	}
	if !isSafeCookieName(c.CookieName) {
		return configErr("cookie_name", "%q is not a valid cookie name (letters, digits, '_' and '-' only)", c.CookieName)
	}
	lower := strings.ToLower(c.CookieName)
	if (strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-")) && !c.CookieSecure {
		return configErr("cookie_name", "%q: browsers only keep __Host- and __Secure- cookies with Secure; set cookie_secure to true or choose another name", c.CookieName)
	}
	if strings.HasPrefix(lower, "__host-") && len(c.CookieDomains) > 0 {
		return configErr("cookie_name", "%q: browsers refuse a Domain on __Host- cookies; with cookie_domain choose a __Secure- name", c.CookieName)
	}
	return nil
}

// readCookieDomain reads cookie_domain: one domain or a list, stored lowercase without a
// leading dot. A domain needs two labels or more and no IP address: browsers refuse a Domain
// that is a top-level domain, so every cookie would be dropped and no login could complete.
// Public suffixes (co.uk, appspot.com) cannot be told apart here; browsers refuse those too,
// and the reference says so.
func readCookieDomain(c *Config, v view) error {
	raw := v.Get("cookie_domain")
	var domains []string
	switch {
	case !raw.Exists():
		return nil
	case raw.Type == gjson.String:
		domains = []string{raw.Str}
	default:
		list, err := readStrings(v, "cookie_domain")
		if err != nil {
			return configErr("cookie_domain", "must be a domain or an array of domains")
		}
		domains = list
	}
	for _, d := range domains {
		norm := strings.TrimPrefix(strings.ToLower(d), ".")
		if !isCookieDomain(norm) {
			return configErr("cookie_domain", "%q is not a domain name of two or more labels (browsers refuse a top-level domain or an IP address as a cookie's Domain)", d)
		}
		if slices.Contains(c.CookieDomains, norm) {
			return configErr("cookie_domain", "%q is listed twice", d)
		}
		c.CookieDomains = append(c.CookieDomains, norm)
	}
	return nil
}

// isCookieDomain accepts a lowercase DNS name of two or more labels whose last label is not
// numeric (so no IPv4 address).
func isCookieDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

// readSameSite reads cookie_samesite. None needs Secure: browsers drop a SameSite=None
// cookie without it.
func readSameSite(c *Config, v view) error {
	s, err := readString(v, "cookie_samesite", "lax")
	if err != nil {
		return err
	}
	switch strings.ToLower(s) {
	case "lax":
		c.SameSite = "Lax"
	case "strict":
		c.SameSite = "Strict"
	case "none":
		if !c.CookieSecure {
			return configErr("cookie_samesite", "none needs cookie_secure: browsers drop SameSite=None cookies without Secure")
		}
		c.SameSite = "None"
	default:
		return configErr("cookie_samesite", "%q must be lax, strict or none", s)
	}
	return nil
}
