package plugin

import (
	"net/url"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The readers of the keys that describe the IdP's side of the protocol: endpoints, the
// redirect and logout URLs, extra authorization parameters, tenants.

// readEndpoint reads an endpoint URL: absolute http(s) without fragment, or, for an endpoint
// the browser is sent to (relative), also an absolute path on the request's own host.
func readEndpoint(v view, key string, relative bool) (string, error) {
	s, err := readString(v, key, "")
	if err != nil || !v.Get(key).Exists() {
		return s, err
	}
	if relative && isAbsolutePath(s) {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n") {
		what := "an absolute http(s) URL"
		if relative {
			what += " or a path starting with '/'"
		}
		return "", configErr(key, "%q must be %s, without fragment", s, what)
	}
	return s, nil
}

// readRedirectURI reads redirect_uri: a path or an absolute URL whose path is redirect_path.
func readRedirectURI(c *Config, v view) (err error) {
	if c.RedirectURI, err = readString(v, "redirect_uri", ""); err != nil || !v.Get("redirect_uri").Exists() {
		return err
	}
	path := c.RedirectURI
	if !strings.HasPrefix(path, "/") {
		u, err := url.Parse(c.RedirectURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !isAuthority(u.Host) {
			return configErr("redirect_uri", "%q must be a path or an absolute http(s) URL without query or fragment", c.RedirectURI)
		}
		path = u.EscapedPath()
	}
	if path != c.RedirectPath {
		return configErr("redirect_uri", "%q: its path must be redirect_path %q, where the plugin receives the callback", c.RedirectURI, c.RedirectPath)
	}
	return nil
}

// readAuthParams reads authorization_params: an object of parameter name to value, in order.
func readAuthParams(c *Config, v view) error {
	obj := v.Get("authorization_params")
	if !obj.Exists() {
		return nil
	}
	if !obj.IsObject() {
		return configErr("authorization_params", "must be an object of parameter name to value")
	}
	var err error
	obj.ForEach(func(k, val gjson.Result) bool {
		key := "authorization_params." + k.String()
		switch {
		case k.String() == "" || oidc.OwnsAuthParam(k.String()):
			err = configErr(key, "is set by the plugin itself")
		case val.Type != gjson.String || strings.ContainsFunc(val.Str, isControl):
			err = configErr(key, "must be a string without control characters")
		}
		c.AuthParams = append(c.AuthParams, [2]string{k.String(), val.Str})
		return err == nil
	})
	return err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// logoutPlaceholders are what logout_url may name.
var logoutPlaceholders = []string{"{end_session_endpoint}", "{id_token}", "{client_id}", "{post_logout_redirect_uri}"}

// readLogoutURL reads logout_url: with every placeholder filled, an absolute http(s) URL or
// a path.
func readLogoutURL(c *Config, v view) (err error) {
	if c.LogoutURL, err = readString(v, "logout_url", ""); err != nil || !v.Get("logout_url").Exists() {
		return err
	}
	probe := c.LogoutURL
	for _, p := range logoutPlaceholders {
		probe = strings.ReplaceAll(probe, p, "x")
	}
	if strings.HasPrefix(c.LogoutURL, "{end_session_endpoint}") {
		probe = "https://idp.example" + strings.TrimPrefix(probe, "x")
	}
	u, perr := url.Parse(probe)
	if perr != nil || strings.ContainsAny(probe, "{} \t\r\n") || !isAbsolutePath(u.Path) && u.Path != "" || !strings.HasPrefix(probe, "/") && (u.Scheme != "https" && u.Scheme != "http" || u.Host == "") {
		return configErr("logout_url", "%q must be an absolute http(s) URL or a path once its placeholders (%s) are filled", c.LogoutURL, strings.Join(logoutPlaceholders, ", "))
	}
	return nil
}

// isTenantID accepts what Entra ID puts in an issuer for a tenant: a GUID, or a domain.
func isTenantID(s string) bool {
	return s != "" && len(s) <= 253 && strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

// readEndpointClusters reads endpoint_clusters: exact host names (as in an endpoint URL,
// without port) to non-empty cluster names.
func readEndpointClusters(c *Config, v view) error {
	obj := v.Get("endpoint_clusters")
	if !obj.Exists() {
		return nil
	}
	if !obj.IsObject() {
		return configErr("endpoint_clusters", "must be an object of host name to cluster")
	}
	c.EndpointClusters = map[string]string{}
	var err error
	obj.ForEach(func(k, val gjson.Result) bool {
		key := "endpoint_clusters." + k.String()
		host := strings.ToLower(k.String())
		switch {
		case !isHostPattern(host) || strings.Contains(host, "*"):
			err = configErr(key, "must be a host name without port or wildcard")
		case c.EndpointClusters[host] != "":
			err = configErr(key, "is listed twice")
		case val.Type != gjson.String || val.Str == "":
			err = configErr(key, "must be a cluster name")
		}
		c.EndpointClusters[host] = val.Str
		return err == nil
	})
	return err
}
