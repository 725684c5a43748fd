package plugin

import "strings"

// The readers of the cookie keys: names, and the attributes browsers enforce on them.

// readCookieName reads cookie_name, or picks the default for cookie_secure (each provider's
// ends in its name: "__Host-oidc_session_grafana"); a name with a __Host- or __Secure-
// prefix (any case: browsers compare it so) needs cookie_secure, or browsers would drop every
// cookie and no login could complete.
func readCookieName(c *Config, v view) error {
	def, legacy := legacyCookieName, legacyCookieName
	if c.CookieSecure {
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
	return nil
}
