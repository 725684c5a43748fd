package plugin

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// Several identity providers on one gateway: "providers" lists them, each selected by the
// request's host (exact, "*.<domain>" or "*") and optionally a path prefix, each with its
// own issuer, client, cookie, scopes, rules and headers. Keys at the top level are defaults
// every entry inherits unless it sets them itself, so a shared cookie secret or cluster is
// written once.
//
// A session of one provider is never accepted by another: each has its own cookie names
// (checked here for overlaps, chunks included), and everything it seals is bound to it
// through the AEAD's additional data (sealPurpose), so a cookie copied from one site to
// another, even under the same cookie secret, does not open.

const (
	// anyHost is the host pattern that matches every host.
	anyHost = "*"
	// maxProviders bounds the list; every provider holds its own metadata, keys and caches.
	maxProviders = 32
	maxNameLen   = 32
)

// parseProviders validates a configuration with "providers": each entry read through its
// view (its own keys, then the top level's), then the providers against each other.
func parseProviders(root gjson.Result, getenv func(string) (string, bool)) ([]*Config, error) {
	list := root.Get("providers")
	if !list.IsArray() || len(list.Array()) == 0 || len(list.Array()) > maxProviders {
		return nil, configErr("providers", "must be an array of 1 to %d provider objects", maxProviders)
	}
	var out []*Config
	for i, entry := range list.Array() {
		key := fmt.Sprintf("providers[%d]", i)
		if !entry.IsObject() {
			return nil, configErr(key, "must be an object")
		}
		if err := checkKnownKeys(entry, key+".", keysAt(entryOnly)); err != nil {
			return nil, err
		}
		c, err := readProvider(view{root: root, entry: entry, at: key, getenv: getenv})
		if err != nil {
			return nil, err
		}
		if c.PathPrefix != "" {
			for _, p := range []struct{ key, path string }{{"redirect_path", c.RedirectPath}, {"logout_path", c.LogoutPath}, {"login_path", c.LoginPath},
				{"assertion_jwks_path", c.Assertion.JWKSPath}} {
				if p.path != "" && !underPrefix(p.path, c.PathPrefix, false) {
					return nil, configErr(key+"."+p.key, "%q must be under the provider's path_prefix %q, or requests to it would reach another provider", p.path, c.PathPrefix)
				}
			}
		}
		if err := checkAgainstEarlier(c, out, key); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// readProviderName reads the name of a providers entry: named in logs, bound into
// everything the provider seals, and the suffix of its default cookie names.
func readProviderName(c *Config, v view) (err error) {
	if c.Name, err = readRequired(v, "name"); err == nil && !isProviderName(c.Name) {
		err = configErr("name", "%q must be 1 to %d lower-case letters, digits or '-'", c.Name, maxNameLen)
	}
	return err
}

// readPathPrefix reads the path_prefix of a providers entry, in canonical form.
func readPathPrefix(c *Config, v view) (err error) {
	if c.PathPrefix, err = readString(v, "path_prefix", ""); err != nil || !v.Get("path_prefix").Exists() {
		return err
	}
	if _, err = configPath("path_prefix", c.PathPrefix); err == nil && (c.PathPrefix == "/" || strings.HasSuffix(c.PathPrefix, "/")) {
		err = configErr("path_prefix", "%q must not end with '/' (and \"/\" is no prefix: leave path_prefix out)", c.PathPrefix)
	}
	return err
}

// checkAgainstEarlier refuses a provider that could take another's requests or cookies: the
// same host and path prefix (which one would serve them?), or cookie names that overlap,
// chunks and login state included.
func checkAgainstEarlier(c *Config, earlier []*Config, key string) error {
	for _, e := range earlier {
		if c.Name == e.Name {
			return configErr(key+".name", "%q is already the name of another provider", c.Name)
		}
		if e.ownsCookie(c.CookieName) || c.ownsCookie(e.CookieName) || e.ownsCookie(c.LegacyCookieName) || c.ownsCookie(e.LegacyCookieName) {
			return configErr(key+".cookie_name", "%q overlaps provider %q's cookies (%q, its chunks and state): each provider needs its own", c.CookieName, e.Name, e.CookieName)
		}
		if c.PathPrefix != e.PathPrefix {
			continue
		}
		for i, h := range c.Hosts {
			for _, eh := range e.Hosts {
				if h == eh {
					return configErr(fmt.Sprintf("%s.hosts[%d]", key, i), "%q with path_prefix %q is already served by provider %q", h, c.PathPrefix, e.Name)
				}
			}
		}
	}
	return nil
}

// hostPatterns reads "hosts": exact names, "*.<domain>" (any subdomain, at any depth, not
// the domain itself, as Envoy's virtual hosts), or "*". Matching ignores the port.
func hostPatterns(v gjson.Result) ([]string, error) {
	if !v.Exists() {
		return nil, configErr("hosts", `required: the hosts this provider serves ("app.example.com", "*.example.com" or "*")`)
	}
	if !v.IsArray() || len(v.Array()) == 0 {
		return nil, configErr("hosts", "must be a non-empty array of host names")
	}
	var out []string
	for i, item := range v.Array() {
		h := strings.ToLower(item.Str)
		if item.Type != gjson.String || !isHostPattern(h) {
			return nil, configErr(fmt.Sprintf("hosts[%d]", i), `%s must be a host name without port ("app.example.com"), "*.example.com" or "*"`, item.Raw)
		}
		for _, seen := range out {
			if seen == h {
				return nil, configErr(fmt.Sprintf("hosts[%d]", i), "%q is listed twice", h)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

func isHostPattern(h string) bool {
	if h == anyHost {
		return true
	}
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

func isProviderName(s string) bool {
	return s != "" && len(s) <= maxNameLen && s[0] != '-' && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}
