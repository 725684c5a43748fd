package plugin

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// OnHttpResponseHeaders works on the upstream's response: Set-Cookie headers for the plugin's
// own cookie names are dropped, then the cookies the request earned on its way in (a
// refreshed or renewed session) are added, and a response that carries them is made
// uncacheable by shared caches. A response the plugin answered itself is left as it is.
//
// The header map is read once and, when anything changes, set once as a whole: Envoy's
// proxy_get_header_map_value returns only the first of several values, and
// proxy_set_header_map_pairs replaces every entry (source/extensions/common/wasm/context.cc,
// Context::getHeaderMapValue and Context::setHeaderMapPairs), which is what repeated
// Set-Cookie headers need.
func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.replied {
		return types.ActionContinue
	}
	headers, err := proxywasm.GetHttpResponseHeaders()
	if err != nil {
		return h.internalError("cannot read the upstream's response headers", err)
	}
	out, changed := h.dropPluginSetCookies(headers)
	if len(h.responseCookies) > 0 {
		out, changed = withSessionCookies(out, h.responseCookies), true
	}
	if !changed {
		return types.ActionContinue
	}
	if err := proxywasm.ReplaceHttpResponseHeaders(out); err != nil {
		return h.internalError("cannot rewrite the upstream's response headers", err)
	}
	return types.ActionContinue
}

// dropPluginSetCookies removes every Set-Cookie of the upstream's response whose name the
// plugin owns (any provider's session, chunks, login state, current or legacy name, in any
// letter case). An app behind the gateway must not plant a session or a login state in the
// browser: that is cookie tossing from inside, and a cookie the plugin did not set with its
// own attributes could not even be cleared. Every other header stays, in order.
func (h *httpContext) dropPluginSetCookies(headers [][2]string) ([][2]string, bool) {
	out := headers[:0:0]
	for _, kv := range headers {
		if strings.EqualFold(kv[0], "set-cookie") {
			if name := setCookieName(kv[1]); h.plugin.ownsCookieAnyCase(name) {
				proxywasm.LogWarnf("oidc-wasm: the upstream set the plugin's cookie %q; dropped", name)
				h.plugin.metrics.count(metricUpstreamCookieDropped)
				continue
			}
		}
		out = append(out, kv)
	}
	return out, len(out) != len(headers)
}

// withSessionCookies adds the plugin's Set-Cookie headers to a response and makes it
// "Cache-Control: private, no-store", without the CDN-targeted cache headers (RFC 9213
// CDN-Cache-Control, Surrogate-Control) that would override it: a shared cache must never
// store one user's session and serve it to another, whatever the app said about the page.
func withSessionCookies(headers, cookies [][2]string) [][2]string {
	out := headers[:0:0]
	for _, kv := range headers {
		switch strings.ToLower(kv[0]) {
		case "cache-control", "cdn-cache-control", "surrogate-control":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, [2]string{"cache-control", "private, no-store"})
	return append(out, cookies...)
}

// setCookieName is the cookie name a browser reads from a Set-Cookie value (RFC 6265 §5.2):
// up to the first '=', whitespace trimmed; a value without '=' is a cookie with that value
// and an empty name, which browsers send back as the bare value, read here as a name too.
func setCookieName(v string) string {
	pair, _, _ := strings.Cut(v, ";")
	name, _, _ := strings.Cut(pair, "=")
	return strings.Trim(name, " \t")
}
