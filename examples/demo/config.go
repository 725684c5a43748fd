package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// envoyConfigPath is the Envoy bootstrap of the same demo, relative to the repository root.
const envoyConfigPath = "examples/envoy/envoy.yaml"

// defaultPluginConfig is the plugin configuration of examples/envoy/envoy.yaml, for a checkout
// without it; TestDefaultsMatchEnvoyConfig keeps the two equal. cookie_secure is off because
// the demo is plain HTTP; the cookie secret is public, so it protects nothing but this demo.
// The authorization rule shows the 403 page: /admin needs the group "admins", which Dex's
// static users (alice) do not have; every other path admits anyone logged in. cookie_domain
// shows single sign-on across subdomains: the hosts under demo.localhost, which browsers
// resolve to this machine, share one session.
const defaultPluginConfig = `{
  "issuer": "http://127.0.0.1:5556/dex",
  "cluster": "dex",
  "client_id": "oidc-wasm-demo",
  "client_secret": "demo-secret",
  "cookie_secret": "ZGVtby1jb29raWUtc2VjcmV0LW9ubHktZm9yLWRlbW8=",
  "cookie_secure": false,
  "cookie_domain": "demo.localhost",
  "skip_paths": [{"prefix": "/healthz"}],
  "authorization": [{"path_prefix": "/admin", "allow": [{"group": "admins"}]}]
}`

// demoConfig is the plugin configuration and what the demo derives from it to set up Dex and
// the embedded host.
type demoConfig struct {
	raw          string // handed to the plugin as it is
	source       string // where raw came from, for the log
	issuer       string
	dexAddr      string // Dex listens where the issuer points
	cluster      string
	clientID     string
	clientSecret string
	redirectPath string
	timeout      time.Duration
	cookieSecure bool // shown in the banner: Secure cookies and plain HTTP do not mix
	// siblings are the hosts of the single sign-on demo: two hosts under the first
	// cookie_domain, each with its redirect URI registered at Dex; none without one.
	siblings []string
}

// loadConfig reads the plugin configuration from envoyConfigPath under root, so both gateways
// run the very same configuration, or takes the embedded defaults when that file is absent.
func loadConfig(root string) (*demoConfig, error) {
	raw, source := defaultPluginConfig, "embedded defaults"
	data, err := os.ReadFile(filepath.Join(root, envoyConfigPath))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", envoyConfigPath, err)
	default:
		if raw, err = pluginConfigFromEnvoy(data); err != nil {
			return nil, fmt.Errorf("%s: %w", envoyConfigPath, err)
		}
		source = envoyConfigPath
	}
	c, err := parseDemoConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("plugin configuration from %s: %w", source, err)
	}
	c.source = source
	return c, nil
}

func parseDemoConfig(raw string) (*demoConfig, error) {
	var v struct {
		Issuer       string `json:"issuer"`
		Cluster      string `json:"cluster"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RedirectPath string `json:"redirect_path"`
		TimeoutMS    int    `json:"timeout_ms"`
		CookieSecure *bool  `json:"cookie_secure"`
		CookieDomain any    `json:"cookie_domain"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("not the JSON object the plugin expects: %w", err)
	}
	u, err := url.Parse(v.Issuer)
	if err != nil || u.Scheme != "http" || u.Path != "/dex" {
		return nil, fmt.Errorf("issuer %q: the demo runs Dex at http://<host>:<port>/dex", v.Issuer)
	}
	if host, _, err := net.SplitHostPort(u.Host); err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("issuer %q: the demo runs Dex on a loopback address with a port", v.Issuer)
	}
	if v.Cluster == "" || v.ClientID == "" || v.ClientSecret == "" {
		return nil, errors.New("the demo needs cluster, client_id and client_secret set inline")
	}
	c := &demoConfig{
		raw: raw, issuer: v.Issuer, dexAddr: u.Host, cluster: v.Cluster,
		clientID: v.ClientID, clientSecret: v.ClientSecret,
		redirectPath: v.RedirectPath, timeout: time.Duration(v.TimeoutMS) * time.Millisecond,
		cookieSecure: v.CookieSecure == nil || *v.CookieSecure,
	}
	if c.redirectPath == "" {
		c.redirectPath = "/oauth2/callback"
	}
	domain, _ := v.CookieDomain.(string)
	if list, ok := v.CookieDomain.([]any); ok && len(list) > 0 {
		domain, _ = list[0].(string)
	}
	if domain = strings.TrimPrefix(domain, "."); domain != "" {
		c.siblings = []string{"app." + domain, "grafana." + domain}
	}
	if c.timeout == 0 {
		c.timeout = 5 * time.Second
	}
	return c, nil
}

// redirectURIs are the callbacks registered at Dex: the gateway's address, localhost and the
// single sign-on hosts, all on the gateway's port.
func (c *demoConfig) redirectURIs() []string {
	hosts := append([]string{"127.0.0.1", "localhost"}, c.siblings...)
	var out []string
	for _, h := range hosts {
		out = append(out, "http://"+h+":"+gatewayPort+c.redirectPath)
	}
	return out
}

// pluginConfigFromEnvoy finds the plugin configuration in an Envoy bootstrap: the first
// `value:` scalar that is a JSON object with an "issuer" (the StringValue of the wasm
// filter's configuration). It reads the YAML forms such a value takes (block scalar, quoted,
// plain) without a YAML library, which the module does not otherwise need.
func pluginConfigFromEnvoy(yaml []byte) (string, error) {
	lines := strings.Split(strings.ReplaceAll(string(yaml), "\r\n", "\n"), "\n")
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		rest, ok := strings.CutPrefix(trimmed, "value:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		var candidate string
		switch {
		case strings.HasPrefix(rest, "|") || strings.HasPrefix(rest, ">"):
			candidate = blockScalar(lines[i+1:], len(line)-len(trimmed))
		case strings.HasPrefix(rest, "'"):
			candidate = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(rest, "'"), "'"), "''", "'")
		case strings.HasPrefix(rest, `"`):
			if err := json.Unmarshal([]byte(rest), &candidate); err != nil {
				continue
			}
		default:
			candidate = rest
		}
		var probe map[string]any
		if json.Unmarshal([]byte(candidate), &probe) == nil && probe["issuer"] != nil {
			return strings.TrimSpace(candidate), nil
		}
	}
	return "", errors.New(`no plugin configuration found (a "value:" holding a JSON object with "issuer")`)
}

// blockScalar collects the lines of a YAML block scalar: those indented deeper than its key,
// and blank lines among them.
func blockScalar(lines []string, keyIndent int) string {
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) <= keyIndent {
			break
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
