package plugin

import (
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// startLogin begins a login and returns the authorization query and the sealed state cookie.
func startLogin(t *testing.T, h *wasmhost.Host) (url.Values, string) {
	t.Helper()
	id, _ := h.Request(wasmhost.BrowserGet("/start"))
	r := h.Reply(id)
	if r == nil || r.Status != 302 {
		t.Fatalf("want login redirect, got %+v", r)
	}
	return wasmhost.Query(t, r.Header("location")), stateCookie(r)
}

// stateSetCookie is the Set-Cookie of the state cookie a login start set (named for its
// login: "__Host-oidc_session_state_<id>"), or "".
func stateSetCookie(r *wasmhost.Reply) string {
	for name, sc := range r.SetCookies() {
		if strings.HasPrefix(name, "__Host-oidc_session_state_") && wasmhost.CookieValue(sc) != "" {
			return sc
		}
	}
	return ""
}

// stateCookie is that cookie as a browser sends it back: "name=value".
func stateCookie(r *wasmhost.Reply) string { return r.StateCookie("__Host-oidc_session") }

// clearedStateCookies are the state cookies a reply clears.
func clearedStateCookies(r *wasmhost.Reply) []string {
	var out []string
	for name, sc := range r.SetCookies() {
		if strings.HasPrefix(name, "__Host-oidc_session_state") && strings.Contains(sc, "Max-Age=0") {
			out = append(out, name)
		}
	}
	return out
}

// stateValue is that cookie's value.
func stateValue(r *wasmhost.Reply) string { return wasmhost.CookieValue(stateSetCookie(r)) }

// Callback failures end on a 4xx (or 502/503 when the IdP fails) page that clears the state
// cookie and never redirects (behaviour 5).
func TestCallbackFailures(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)

		expectPage := func(name string, id uint32, status uint32) {
			t.Helper()
			r := h.Reply(id)
			if r == nil || r.Status != status {
				t.Errorf("%s: want %d, got %+v", name, status, r)
				return
			}
			if r.Header("location") != "" {
				t.Errorf("%s: an error page must not redirect", name)
			}
			// The "access denied" answer names no state, so no login's cookie can be cleared.
			if cleared := clearedStateCookies(r); r.Status != 403 && len(cleared) != 1 {
				t.Errorf("%s: want the login's state cookie cleared, got %q", name, cleared)
			}
			if !strings.Contains(r.Body, "Login failed") {
				t.Errorf("%s: body %q", name, r.Body)
			}
			if (status == 503) != (r.Header("retry-after") != "") {
				t.Errorf("%s: a 503, and only a 503, says when to retry: %+v", name, r.Headers)
			}
		}
		callback := func(query, stateCookie string) uint32 {
			headers := wasmhost.BrowserGet("/oauth2/callback?" + query)
			if stateCookie != "" {
				headers = append(headers, [2]string{"cookie", stateCookie})
			}
			id, _ := h.Request(headers)
			return id
		}

		q, state := startLogin(t, h)
		expectPage("idp error", callback("error=server_error&error_description=boom&state="+q.Get("state"), state), 400)
		expectPage("access denied", callback("error=access_denied", state), 403)
		expectPage("no code", callback("state="+q.Get("state"), state), 400)
		expectPage("wrong state", callback("code=c&state=forged", state), 400)
		expectPage("no state cookie", callback("code=c&state="+q.Get("state"), ""), 400)
		expectPage("garbage state cookie", callback("code=c&state="+q.Get("state"), "garbage"), 400)

		// A state cookie from another login does not match this state.
		q2, _ := startLogin(t, h)
		expectPage("state of another login", callback("code=c&state="+q2.Get("state"), state), 400)

		exchange := func(name string, status int, body string, want uint32) {
			t.Helper()
			id := callback("code=c&state="+url.QueryEscape(q.Get("state")), state)
			h.Answer(h.OnePending(id), status, body)
			expectPage(name, id, want)
		}
		exchange("invalid_grant", 400, `{"error":"invalid_grant","error_description":"code used"}`, 400)
		exchange("token endpoint down", 0, "", 503)
		exchange("token endpoint 500", 500, "oops", 502)
		exchange("garbage answer", 200, "{not json", 502)
		exchange("deeply nested answer", 200, strings.Repeat(`{"a":[`, 3000), 502)
		exchange("no id_token", 200, `{"access_token":"a","token_type":"Bearer"}`, 502)
		exchange("wrong nonce", 200, tokenAnswer(idp.idToken("other-nonce", nil)), 401)
		exchange("wrong audience", 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"aud": "someone-else"})), 401)
		exchange("wrong issuer", 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"iss": "https://evil.example.com"})), 401)
		exchange("expired", 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"exp": m.now().Unix() - 3600})), 401)
		exchange("oversized ID token", 200, tokenAnswer(idp.idToken(q.Get("nonce"), map[string]any{"blob": strings.Repeat("x", 40000)})), 401)
		exchange("alg none", 200, tokenAnswer(unsignedToken(q.Get("nonce"))), 401)

		if n, _ := h.GetCounterMetric("oidc_wasm.login_succeeded"); n != 0 {
			t.Errorf("login_succeeded = %d after only failures", n)
		}
	})
}

// unsignedToken is an alg=none token with otherwise valid-looking claims.
func unsignedToken(nonce string) string {
	enc := func(s string) string { return strings.TrimRight(b64url(s), "=") }
	return enc(`{"alg":"none"}`) + "." + enc(`{"iss":"`+testIssuer+`","aud":"`+testClientID+`","sub":"x","exp":9999999999,"nonce":"`+nonce+`"}`) + "."
}

// An ID token signed with a key the JWKS does not have yet triggers one JWKS refetch; the
// login then completes (IdP key rotation).
func TestUnknownKeyRefetchesJWKS(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		for i := 0; i < keyRefreshTicks; i++ {
			h.Tick()
		}
		_, rotated := testKeys(t)
		idp.signer = rotated
		q, state := startLogin(t, h)
		id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state="+url.QueryEscape(q.Get("state")),
			[2]string{"cookie", state}))
		h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
		if r := h.Reply(id); r != nil {
			t.Fatalf("request must wait for the JWKS refetch, got %+v", r)
		}
		idp.keys = append(idp.keys, rotated)
		h.Tick()
		k := h.OnePending(wasmhost.PluginContextID)
		if k.URL() != testIssuer+"/keys" {
			t.Fatalf("want a JWKS refetch, got %+v", k)
		}
		h.Answer(k, 200, idp.jwks())
		if r := h.Reply(id); r == nil || r.Status != 302 || r.Header("location") != "/start" {
			t.Fatalf("after the refetch the login must complete, got %+v", r)
		}
	})
}
