package plugin

import (
	"errors"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// bearerToken returns the token of the request's "Authorization: Bearer" header, for API
// clients (CLIs, CI jobs, service accounts) that have no session. present is false when
// there is no bearer credential at all. Several Authorization headers are ambiguous (which
// one would the upstream read?): they are reported as an empty, hence invalid, token.
func (h *httpContext) bearerToken() (token string, present bool) {
	if !h.rp.cfg.BearerTokens && !h.rp.cfg.BearerPassthrough {
		return "", false
	}
	values := h.headers.values("authorization")
	if len(values) > 1 {
		return "", true
	}
	if len(values) == 0 {
		return "", false
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// bearer authenticates a request by its bearer JWT, with the keys of the issuer it names
// (keysFor): the IdP's or a bearer issuer's, loaded first when they are not yet.
func (h *httpContext) bearer(token string) types.Action {
	keys, cfg := h.rp.keysFor(token)
	return h.whenLoaded(keys, func() types.Action { return h.verifyBearer(token, keys, cfg, false) })
}

// verifyBearer checks a bearer JWT: signature by the issuer's keys, issuer, expiry, one of its
// audiences (bearer_audiences for the IdP), and no nonce (an interactive login's ID token,
// such as the one a session forwards to apps, is no API credential) unless
// bearer_accept_login_tokens. A token seen before is served from the per-VM cache until it
// expires; signature checks cost about a millisecond in a TinyGo module.
func (h *httpContext) verifyBearer(token string, keys *idpState, cfg *Config, refetched bool) types.Action {
	now := h.rp.env.now()
	if id, expiry, ok := h.rp.tokens.get(token, now); ok {
		return h.continueWithBearer(id, expiry)
	}
	tok, err := keys.verifier.Verify(token, now)
	if errors.Is(err, oidc.ErrUnknownKey) && !refetched && keys.requestKeyRefresh() {
		retry := func() types.Action { return h.verifyBearer(token, keys, cfg, true) }
		if keys.held.hold(h.id, h.resumeWith(retry)) {
			return types.ActionPause
		}
	}
	if err != nil {
		proxywasm.LogInfof("oidc-wasm: bearer token rejected: %v", err)
		description := "the access token is invalid"
		if errors.Is(err, oidc.ErrTokenExpired) {
			description = "the access token expired"
		}
		return h.invalidBearer(description)
	}
	id := cfg.identify(tok.Claims)
	h.rp.tokens.put(token, id, tok.Expiry)
	return h.continueWithBearer(id, tok.Expiry)
}

// passThrough lets a request with one bearer token through unverified, for the mesh to judge
// (bearer_passthrough): the managed headers the client sent are gone already, no identity
// header is set, and the token stays as sent. Several Authorization headers never pass: which
// one the mesh and the app would read is not defined.
func (h *httpContext) passThrough(token string) types.Action {
	if token == "" {
		return h.invalidBearer("the access token is invalid")
	}
	h.rp.metrics.count(metricBearerPassedThrough)
	return h.continueUpstream(nil)
}

// continueWithBearer lets a request with a verified bearer token, valid until expiry, through.
// Its one Authorization header is the token just verified, so it stays for the upstream.
func (h *httpContext) continueWithBearer(id *identity, expiry time.Time) types.Action {
	h.rp.metrics.count(metricBearerAccepted)
	h.credentialEnd = expiry
	return h.continueUpstream(id)
}

// invalidBearer answers 401 to a request whose bearer token is refused (RFC 6750 §3).
func (h *httpContext) invalidBearer(description string) types.Action {
	h.rp.metrics.count(metricBearerRejected)
	return h.respond(401, [][2]string{
		{"www-authenticate", `Bearer realm="oidc-wasm", error="invalid_token", error_description="` + description + `"`},
		{"content-type", "text/plain; charset=utf-8"},
	}, description+"\n")
}

// maxCachedTokens bounds the verified-token cache of one relying party in one VM.
const maxCachedTokens = 1024
