package plugin

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// canonicalHeader folds the variants a client can use to smuggle a header past a filter that
// compares names literally: Envoy keeps "X_Auth_Request_Email" distinct from
// "x-auth-request-email", and an upstream framework may treat them as the same
// (oauth2-proxy CVE-2025-64484, Kubeflow #6702).
func canonicalHeader(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// requestHeaders is a snapshot of the incoming headers, read once per request.
type requestHeaders [][2]string

func (h requestHeaders) get(name string) string {
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

func (h requestHeaders) values(name string) []string {
	var out []string
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

// stripManagedHeaders removes from the request every header the plugin owns, in every case
// and '_'/'-' variant the client sent, before anything else happens: a managed header the
// user has no claim for must arrive absent, never as the client wrote it.
//
// It removes once per occurrence, not once per name: Envoy removes every value of a name at
// once (the extra calls are no-ops), while a host that removes one value per call still ends
// with none. Duplicates are how header smuggling starts.
func stripManagedHeaders(h requestHeaders, managed map[string]bool) error {
	for _, kv := range h {
		if managed[canonicalHeader(kv[0])] {
			if err := removeAll(kv[0], 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAll removes a request header that occurs n times.
func removeAll(name string, n int) error {
	for ; n > 0; n-- {
		if err := proxywasm.RemoveHttpRequestHeader(name); err != nil {
			return err
		}
	}
	return nil
}

// injectIdentity sets the identity headers, replacing whatever is there. The values stay
// referenced by id until the stream ends (see lend).
func (h *httpContext) injectIdentity(id *identity) error {
	h.identity = id
	for _, kv := range id.headers {
		if err := proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// headerValue is the value a mapping gives a header: the claim (arrays joined), transformed,
// prefixed. A result that is no longer safe in a header (a transform made it empty of meaning
// is fine, control characters or excessive length are not) leaves the header absent.
func headerValue(hc HeaderClaim, claims oidc.Claims) (string, bool) {
	v, ok := claims.Value(hc.Claim, hc.Separator)
	if !ok {
		return "", false
	}
	for _, t := range hc.Transforms {
		if t.Match.MatchString(v) {
			v = t.Match.ReplaceAllString(v, t.Replace)
		}
	}
	v = hc.Prefix + v
	if len(v) > maxHeaderValue || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	return v, true
}

// maxHeaderValue bounds an identity header; a claim larger than this is a misconfiguration.
const maxHeaderValue = 8 << 10

// injectTokens sets the configured raw-token headers from the session.
func (h *httpContext) injectTokens(idToken, accessToken string) error {
	for _, th := range []struct{ header, value string }{
		{h.rp.cfg.IDTokenHeader, idToken}, {h.rp.cfg.AccessTokenHeader, accessToken},
	} {
		if th.header == "" || th.value == "" {
			continue
		}
		if err := proxywasm.ReplaceHttpRequestHeader(th.header, h.lend(th.value)); err != nil {
			return err
		}
	}
	return nil
}

// lend keeps a value handed to the host referenced until the stream ends. Envoy copies
// header values at once; a host that borrows guest memory instead (the SDK's wasm test host
// does) must not see the garbage collector reuse it under the request.
func (h *httpContext) lend(v string) string {
	h.lent = append(h.lent, v)
	return v
}

// ownsCookie reports whether a cookie belongs to this relying party: the session cookie, its
// chunks ("name_0", "name_1", ...), and the login state cookie, under the current and the
// legacy name.
func (c *Config) ownsCookie(name string) bool {
	return ownedBy(name, c.CookieName, false) || ownedBy(name, c.LegacyCookieName, false)
}

// ownsCookieAnyCase is ownsCookie with ASCII case ignored: what an upstream must not set,
// since browsers treat the __Host- prefix without regard to case.
func (c *Config) ownsCookieAnyCase(name string) bool {
	return ownedBy(name, c.CookieName, true) || ownedBy(name, c.LegacyCookieName, true)
}

// ownedBy reports whether name is base, a chunk of it or its state cookie.
func ownedBy(name, base string, fold bool) bool {
	if len(name) <= len(base) {
		return name == base || fold && oidc.EqualFoldASCII(name, base)
	}
	if head := name[:len(base)]; head != base && !(fold && oidc.EqualFoldASCII(head, base)) || name[len(base)] != '_' {
		return false
	}
	rest := name[len(base)+1:]
	if rest == "state" || fold && oidc.EqualFoldASCII(rest, "state") {
		return true
	}
	if id, ok := strings.CutPrefix(strings.ToLower(rest), "state_"); ok && len(id) == stateIDSize && (fold || strings.HasPrefix(rest, "state_")) {
		return oidc.IsBase64URL(id)
	}
	if rest == "" || len(rest) > 2 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// ownsCookie reports whether a cookie belongs to any relying party of the plugin.
func (p *pluginContext) ownsCookie(name string) bool {
	for _, rp := range p.relyingParties {
		if rp.cfg.ownsCookie(name) {
			return true
		}
	}
	return false
}

// ownsCookieAnyCase reports whether a cookie, in any letter case, belongs to any relying party.
func (p *pluginContext) ownsCookieAnyCase(name string) bool {
	for _, rp := range p.relyingParties {
		if rp.cfg.ownsCookieAnyCase(name) {
			return true
		}
	}
	return false
}

// stripPluginCookies removes the plugin's cookies from the Cookie header sent upstream, so an
// app never sees (or logs) a sealed session: not its own relying party's, and not another's that
// the browser also sends (two providers on one host by path), which the app could replay.
// The n Cookie headers the client sent are replaced by one holding the other cookies, or by
// none.
func (h *httpContext) stripPluginCookies(n int) error {
	if n == 0 {
		return nil
	}
	if err := removeAll("cookie", n); err != nil {
		return err
	}
	rest := oidc.StripCookies(h.cookies, h.plugin.ownsCookie)
	if rest == "" {
		return nil
	}
	return proxywasm.AddHttpRequestHeader("cookie", h.lend(rest))
}

// isBrowserNavigation decides between a login redirect and a 401: only a top-level page load
// is worth sending to the IdP. Fetch/XHR calls and API clients get a 401 they can act on
// instead of an HTML login page they cannot render.
func isBrowserNavigation(h requestHeaders) bool {
	method := h.get(":method")
	if method != "GET" && method != "HEAD" {
		return false
	}
	if mode := h.get("sec-fetch-mode"); mode != "" && mode != "navigate" {
		return false
	}
	if strings.EqualFold(h.get("x-requested-with"), "XMLHttpRequest") {
		return false
	}
	return strings.Contains(strings.ToLower(h.get("accept")), "text/html")
}
