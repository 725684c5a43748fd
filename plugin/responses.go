package plugin

import (
	"html"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// A local response ends the request in the plugin: Envoy sends it downstream and the
// upstream never sees the request. Cookies the request already earned (a session refreshed
// or renewed, then refused by the rules) go with it: a rotated refresh token that never
// reached the browser would be redeemed twice.
func (h *httpContext) respond(status uint32, headers [][2]string, body string) types.Action {
	h.replied = true
	headers = append(headers, h.responseCookies...)
	headers = append(headers, [2]string{"cache-control", "no-store"})
	if err := proxywasm.SendHttpResponse(status, headers, []byte(body), -1); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot send the %d response: %v", status, err)
	}
	return types.ActionPause
}

// resumeIf lets a paused request go on when a flow step that ran later, from another
// context's callback (an IdP answer, the end of a refresh, metadata that loaded), ended in
// Continue: in a callback, Continue must become an explicit ResumeHttpRequest. A step that
// answered locally needs nothing more.
func resumeIf(a types.Action) {
	if a != types.ActionContinue {
		return
	}
	if err := proxywasm.ResumeHttpRequest(); err != nil {
		proxywasm.LogErrorf("oidc-wasm: cannot resume request: %v", err)
	}
}

// internalError logs what failed and answers 500: something the plugin cannot do (a host
// call refused) must stop the request, never let it continue half-processed.
func (h *httpContext) internalError(what string, err error) types.Action {
	proxywasm.LogErrorf("oidc-wasm: %s: %v", what, err)
	return h.respond(500, [][2]string{{"content-type", "text/plain; charset=utf-8"}}, "internal error\n")
}

// page answers with a small, styled, self-contained HTML page (no external assets, so it
// renders even when nothing else of the site does). Nothing on it comes from the request
// unescaped, and it never redirects: an error page must not become a loop. Besides "Start
// again" it may offer one more link (signOut, a path of this site; "" for none).
func (h *httpContext) page(status uint32, title, message, signOut string, extra [][2]string) types.Action {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString(`</title><style>body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1f2933;` +
		`display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}` +
		`main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem 2.5rem;max-width:32rem;margin:1rem}` +
		`h1{font-size:1.4rem;margin:0 0 .75rem}a{color:#1d4ed8}small{color:#6b7280}</style></head><body><main><h1>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString(`</h1><p>`)
	b.WriteString(html.EscapeString(message))
	b.WriteString(`</p><p><a href="/">Start again</a>`)
	if signOut != "" {
		b.WriteString(` · <a href="` + html.EscapeString(signOut) + `">Sign out</a>`)
	}
	b.WriteString(`</p>`)
	if id := h.requestID(); id != "" {
		b.WriteString(`<p><small>Request ID: ` + id + `</small></p>`)
	}
	b.WriteString("</main></body></html>\n")
	headers := append([][2]string{{"content-type", "text/html; charset=utf-8"}}, extra...)
	return h.respond(status, headers, b.String())
}

// moveOn ends a login whose session cookies are SameSite=Strict on a page that sends the
// browser on to target itself. A redirect would not do: the navigation started at the IdP,
// another site, so the browser would leave the Strict cookies it just received off the
// redirected request, and the app would see no session and start a login again. A page of
// this site that moves on is a navigation from this site, which carries them.
func (h *httpContext) moveOn(target string, headers [][2]string) types.Action {
	to := html.EscapeString(target)
	body := `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta http-equiv="refresh" content="0;url=` + to + `"><title>Signed in</title></head>` +
		`<body><p>Signed in. <a href="` + to + `">Continue</a></p></body></html>` + "\n"
	return h.respond(200, append(headers, [2]string{"content-type", "text/html; charset=utf-8"}), body)
}

// requestID is Envoy's x-request-id, for matching a user's report with the gateway's logs;
// anything but a plain token is not shown.
func (h *httpContext) requestID() string {
	id := h.headers.get("x-request-id")
	if len(id) == 0 || len(id) > 64 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return id
}

// apiError answers a client that is not a browser page load: JSON when it accepts JSON
// (the error code and the request id), plain text otherwise.
func (h *httpContext) apiError(status uint32, code, message string, headers [][2]string) types.Action {
	if strings.Contains(strings.ToLower(h.headers.get("accept")), "json") {
		body := `{"error":"` + code + `","message":"` + message + `"`
		if id := h.requestID(); id != "" {
			body += `,"request_id":"` + id + `"`
		}
		return h.respond(status, append(headers, [2]string{"content-type", "application/json"}), body+"}\n")
	}
	return h.respond(status, append(headers, [2]string{"content-type", "text/plain; charset=utf-8"}), message+"\n")
}

// unauthorized is the answer to an API or XHR request without a session: a 401 a client can
// act on, never a login page it cannot render.
func (h *httpContext) unauthorized() types.Action {
	h.rp.metrics.count(metricUnauthorized)
	return h.apiError(401, "unauthorized", "authentication required", [][2]string{{"www-authenticate", `Bearer realm="oidc-wasm"`}})
}

// unavailable is the answer when the IdP's metadata cannot be loaded: fail closed.
func (h *httpContext) unavailable() types.Action {
	h.rp.metrics.count(metricUnavailable)
	if isBrowserNavigation(h.headers) {
		return h.page(503, "Sign-in unavailable", "The identity provider cannot be reached right now. Please try again in a moment.", "", [][2]string{{"retry-after", "5"}})
	}
	return h.apiError(503, "unavailable", "authentication temporarily unavailable: the identity provider cannot be reached", [][2]string{{"retry-after", "5"}})
}

// noProvider answers a request for a host (or path) no provider serves: fail closed, since
// nothing says who may enter.
func (h *httpContext) noProvider() types.Action {
	h.plugin.metrics.count(metricNoProvider)
	proxywasm.LogDebugf("oidc-wasm: no provider serves host %q, path %q: answering 403", h.headers.get(":authority"), h.path.raw)
	if isBrowserNavigation(h.headers) {
		return h.page(403, "Sign-in not configured", "No sign-in is configured for this site.", "", nil)
	}
	return h.apiError(403, "no_provider", "no identity provider is configured for this host", nil)
}
