package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// Hosts and paths: which provider serves a host, and how the IdP's login pages are reached
// when the gateway serves them.

// checkHosts matches the hosts of the set's Gateways with the plugin's providers, both ways: a
// host no provider serves gets 403 for every request (the plugin fails closed), and a
// provider host no Gateway serves is a provider nobody reaches (a typo, most likely). A set
// without a Gateway (the platform's, as Kubeflow's) is not checked.
func (w *wiring) checkHosts(p wasmPlugin) []error {
	var errs []error
	for h := range w.gatewayHosts {
		if h == "*" || strings.HasPrefix(h, "*.") {
			continue
		}
		if servingProvider(p.cfgs, h, "") == nil {
			errs = append(errs, fmt.Errorf("%s: the Gateway host %s has no provider: every request to it would get 403", p.m, h))
		}
	}
	if len(w.gatewayHosts) == 0 {
		return errs
	}
	for _, cfg := range p.cfgs {
		for _, pattern := range cfg.Hosts {
			found := false
			for h := range w.gatewayHosts {
				found = found || hostMatches(pattern, h) || hostMatches(h, pattern)
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: provider %q serves %s, which no Gateway of the set serves", p.m, cfg.Name, pattern))
			}
		}
	}
	return errs
}

// checkLoginPage checks that an IdP served through the gateway itself is reachable without a
// session: its login pages are routed on its host, and skipped by whichever provider serves
// that host (not necessarily this one). The IdP is behind the gateway when the authorization
// endpoint is a path on the request's own host (Kubeflow's /dex/auth), when a Gateway of the
// set serves the issuer's host, or when the platform provides its cluster under another name
// than the issuer's (Dex's Service, with the issuer on the public host).
func (w *wiring) checkLoginPage(p wasmPlugin, cfg *plugin.Config, issuer *url.URL, name string, provided bool) []error {
	_, clusterHost, _ := strings.Cut(cfg.Cluster, "||")
	login, hosts, mustRoute := issuer.Path+"/auth", []string{issuer.Hostname()}, w.gatewayHosts[issuer.Hostname()]
	switch {
	case strings.HasPrefix(cfg.Endpoints.AuthorizationEndpoint, "/"):
		login, hosts, mustRoute = cfg.Endpoints.AuthorizationEndpoint, cfg.Hosts, true
		if len(hosts) == 0 {
			hosts = []string{"*"} // a configuration without providers serves every host
		}
	case !mustRoute && !(provided && clusterHost != issuer.Hostname()):
		return nil
	}
	var errs []error
	for _, host := range hosts {
		switch serving := servingProvider(p.cfgs, host, login); {
		case serving == nil:
			errs = append(errs, fmt.Errorf("%s: the IdP's login page %s%s is served by no provider: nobody could log in", name, host, login))
		case !matchAny(serving.SkipPaths, login):
			errs = append(errs, fmt.Errorf("%s: the IdP's login page %s%s is not in skip_paths of the provider serving it: nobody could log in", name, host, login))
		}
		if mustRoute && !routed(w.routes, host, login) {
			errs = append(errs, fmt.Errorf("%s: no VirtualService on the gateway routes %s%s", name, host, login))
		}
	}
	return errs
}

// servingProvider is the provider of the plugin that takes a request for host and path, as
// plugin/routes.go chooses it: an exact host before a wildcard, a longer wildcard before a
// shorter one, "*" last, then the longest path prefix. path "" ignores path prefixes.
func servingProvider(cfgs []*plugin.Config, host, path string) *plugin.Config {
	var best *plugin.Config
	var bestRank [3]int
	for _, cfg := range cfgs {
		if path != "" && cfg.PathPrefix != "" && !(plugin.PathRule{Prefix: cfg.PathPrefix}).Match(path) {
			continue
		}
		for _, pattern := range cfg.Hosts {
			if !hostMatches(pattern, host) {
				continue
			}
			kind := 2
			switch {
			case pattern == "*":
				kind = 0
			case strings.HasPrefix(pattern, "*."):
				kind = 1
			}
			if rank := [3]int{kind, len(pattern), len(cfg.PathPrefix)}; best == nil || slices.Compare(rank[:], bestRank[:]) > 0 {
				best, bestRank = cfg, rank
			}
		}
	}
	return best
}

// hostMatches tells whether a host pattern ("app.example.com", "*.example.com" or "*", as in
// a provider's hosts or a VirtualService's) covers a host name.
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return len(host) > len(pattern)-1 && strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}

func matchAny(rules []plugin.PathRule, path string) bool {
	for _, r := range rules {
		if r.Match(path) {
			return true
		}
	}
	return false
}

// routed tells whether a VirtualService routes path on host by a prefix of its own, not by
// the catch-all "/" that goes to the app.
func routed(routes []vsRoute, host, path string) bool {
	for _, r := range routes {
		if r.prefix == "" || r.prefix == "/" || !strings.HasPrefix(path, r.prefix) {
			continue
		}
		for _, h := range r.hosts {
			if hostMatches(h, host) {
				return true
			}
		}
	}
	return false
}
