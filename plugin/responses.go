package plugin

import (
	"html"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// A local response ends the request in the plugin: Envoy sends it downstream and the
// upstream never sees the request.
func (h *httpContext) respond(status uint32, headers [][2]string, body string) types.Action {
	headers = append(headers, [2]string{"cache-control", "no-store"})
	if err := proxywasm.SendHttpResponse(status, headers, []byte(body), -1); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot send the %d response: %v", status, err)
	}
	return types.ActionPause
}

// internalError logs what failed and answers 500: something the plugin cannot do (a host
// call refused) must stop the request, never let it continue half-processed.
func (h *httpContext) internalError(what string, err error) types.Action {
	proxywasm.LogErrorf("oidc-wasm: %s: %v", what, err)
	return h.respond(500, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "internal error\n")
}

// page answers with a small self-contained HTML page. Nothing on it comes from the request
// unescaped, and it never redirects: an error page must not become a loop.
func (h *httpContext) page(status uint32, title, message string, extra [][2]string) types.Action {
	body := "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(message) +
		"</p><p><a href=\"/\">Start again</a></p></body></html>\n"
	headers := append([][2]string{{"content-type", "text/html; charset=utf-8"}}, extra...)
	return h.respond(status, headers, body)
}

// unauthorized is the answer to an API or XHR request without a session: a 401 a client can
// act on, never a login page it cannot render.
func (h *httpContext) unauthorized() types.Action {
	h.p.metrics.count(metricUnauthorized)
	return h.respond(401, [][2]string{
		{"www-authenticate", `Bearer realm="oidc-wasm"`},
		{"content-type", "text/plain; charset=utf-8"},
	}, "authentication required\n")
}

// unavailable is the answer when the IdP's metadata cannot be loaded: fail closed.
func (h *httpContext) unavailable() types.Action {
	h.p.metrics.count(metricUnavailable)
	return h.respond(503, [][2]string{
		{"content-type", "text/plain; charset=utf-8"},
		{"retry-after", "5"},
	}, "authentication temporarily unavailable: the identity provider cannot be reached\n")
}
