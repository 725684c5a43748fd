package testidp

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ThroughGateway makes the browser reach the URLs of host under prefix (say
// https://app.example.com and "/dex/") at addr over plain HTTP, the way an ingress gateway
// serves an identity provider on the application's own host: Kubeflow's VirtualService sends
// /dex/ to Dex's Service. The browser still sees, and keeps cookies for, the gateway's URLs.
// The rest of host is the application: a walk that starts at a routed URL ends at the first
// redirect to one of its other paths (Kubeflow's relative redirect URI, /oauth2/callback,
// which Dex's redirect leaves on the gateway's host).
func (b *Browser) ThroughGateway(host, prefix, addr string) *Browser {
	b.routes.add(host, prefix, addr)
	return b
}

// gatewayRoutes is the browser's transport: requests on a routed host and path go to the
// route's address, every other request goes out as it is.
type gatewayRoutes struct {
	next   http.RoundTripper
	routes []gatewayRoute
}

type gatewayRoute struct{ host, prefix, addr string }

func (g *gatewayRoutes) add(host, prefix, addr string) {
	g.routes = append(g.routes, gatewayRoute{host, prefix, addr})
}

// route finds the route of a URL: on is whether its host is routed at all, r the route of
// its path if it has one.
func (g *gatewayRoutes) route(u *url.URL) (r gatewayRoute, on, ok bool) {
	for _, r := range g.routes {
		if r.host != u.Host {
			continue
		}
		on = true
		if strings.HasPrefix(u.Path, r.prefix) {
			return r, true, true
		}
	}
	return gatewayRoute{}, on, false
}

// atProvider reports whether u is still the identity provider's: a routed path, or, on a host
// that has no route, one of the provider's hosts.
func (g *gatewayRoutes) atProvider(hosts []string, u *url.URL) bool {
	if _, on, ok := g.route(u); on {
		return ok
	}
	return slices.Contains(hosts, u.Host)
}

// RoundTrip sends a routed request to its route's address, with the gateway's host as Host,
// as the gateway forwards it.
func (g *gatewayRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	if r, _, ok := g.route(req.URL); ok {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = "http", r.addr, r.host
	}
	return g.next.RoundTrip(req)
}
