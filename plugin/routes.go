package plugin

import (
	"sort"
	"strings"
)

// route is one (host pattern, path prefix) of a provider.
type route struct {
	host   string // exact name, "*.<domain>" or "*"
	prefix string // "" for every path
	to     *relyingParty
}

// router picks the relying party of a request. Routes are tried most specific first, as Envoy
// picks virtual hosts: an exact host before a wildcard, a longer wildcard before a shorter
// one, "*" last; within one host, a longer path prefix before a shorter one. The order of
// the configuration never matters, so adding a provider cannot silently take another's
// requests.
type router struct {
	routes     []route
	hasPrefix  bool // some relying party is chosen by path: every reading of the path must agree
	singleHost bool // one relying party for every host and path: nothing to choose
}

func newRouter(providers []*relyingParty) router {
	var r router
	for _, p := range providers {
		for _, h := range p.cfg.Hosts {
			r.routes = append(r.routes, route{host: h, prefix: p.cfg.PathPrefix, to: p})
		}
		r.hasPrefix = r.hasPrefix || p.cfg.PathPrefix != ""
	}
	sort.SliceStable(r.routes, func(i, j int) bool { return r.routes[i].moreSpecific(r.routes[j]) })
	r.singleHost = len(r.routes) == 1 && r.routes[0].host == anyHost && r.routes[0].prefix == ""
	return r
}

func (a route) moreSpecific(b route) bool {
	if ka, kb := hostKind(a.host), hostKind(b.host); ka != kb {
		return ka > kb
	}
	if len(a.host) != len(b.host) {
		return len(a.host) > len(b.host)
	}
	return len(a.prefix) > len(b.prefix)
}

// hostKind ranks host patterns: exact 2, wildcard 1, any 0.
func hostKind(h string) int {
	switch {
	case h == anyHost:
		return 0
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 2
}

// match returns the relying party for a request's :authority and path, nil when none serves it.
// ok is false when the path decides and is ambiguous: not in normal form, or read by some
// upstream under another relying party's prefix than by others ("/admin;x/users" is "/admin/users"
// to Tomcat). No relying party may take such a request.
func (r *router) match(authority string, p requestPath) (rp *relyingParty, ok bool) {
	if r.singleHost {
		return r.routes[0].to, true
	}
	host := hostName(authority)
	if !r.hasPrefix {
		return r.matchReading(host, ""), true
	}
	if !p.normal {
		return nil, false
	}
	rp = r.matchReading(host, p.readings[0])
	for _, reading := range p.readings[1:] {
		if r.matchReading(host, reading) != rp {
			return nil, false
		}
	}
	return rp, true
}

// matchReading returns the relying party of the most specific route for host and one reading of
// the path.
func (r *router) matchReading(host, path string) *relyingParty {
	for _, rt := range r.routes {
		if rt.matchesHost(host) && (rt.prefix == "" || underPrefix(path, rt.prefix, false)) {
			return rt.to
		}
	}
	return nil
}

func (rt route) matchesHost(host string) bool {
	switch hostKind(rt.host) {
	case 0:
		return true
	case 1:
		return len(host) > len(rt.host)-1 && strings.HasSuffix(host, rt.host[1:])
	}
	return host == rt.host
}

// hostName is the lower-case host of an :authority, without port and trailing dot.
func hostName(authority string) string {
	h := strings.ToLower(authority)
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[:end+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
