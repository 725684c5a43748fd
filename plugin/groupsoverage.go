package plugin

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// maxGraphPages bounds the Graph pages one login reads: 999 groups each.
const maxGraphPages = 10

// resolveGroups completes a login whose ID token carries Entra ID's groups overage instead of
// groups (oidc.GroupsOverage): with groups_overage_cluster, the user's groups are read from
// Microsoft Graph with the login's access token, page by page (at most maxGraphPages), before
// the session starts; a failure fails the login, which would otherwise start with part of the
// identity. Without it the session starts without groups, every group condition fails, and a
// warning names the setting.
func (h *httpContext) resolveGroups(tok *oidc.Token, tokens *oidc.TokenResponse, state *oidc.LoginState) types.Action {
	cfg := h.rp.cfg
	if !oidc.GroupsOverage(tok.Claims) {
		return h.startSession(tok, tokens, state)
	}
	if cfg.GroupsOverageCluster == "" {
		proxywasm.LogWarnf("oidc-wasm: the ID token of %q carries a groups overage: the user has no groups here; "+
			"set groups_overage_cluster to read them from Microsoft Graph", tok.Subject)
		return h.startSession(tok, tokens, state)
	}
	if tokens.AccessToken == "" {
		return h.groupsFailed("the token endpoint gave no access token")
	}
	return h.graphPage(tok, tokens, state, oidc.GraphGroupsURL, nil, 1)
}

// graphPage reads one page of the user's groups, then the next, or starts the session.
func (h *httpContext) graphPage(tok *oidc.Token, tokens *oidc.TokenResponse, state *oidc.LoginState, pageURL string, groups []string, page int) types.Action {
	cfg := h.rp.cfg
	err := dispatchTo(cfg.GroupsOverageCluster, cfg.Timeout, oidc.GraphGroupsRequest(pageURL, tokens.AccessToken), h.inContext(func(a answer) types.Action {
		if a.err != nil {
			return h.groupsFailed(a.err.Error())
		}
		ids, next, err := oidc.ParseGraphGroups(a.status, a.body)
		switch {
		case err != nil:
			return h.groupsFailed(err.Error())
		case next != "" && page >= maxGraphPages:
			return h.groupsFailed("more than the pages a login reads")
		case next != "":
			return h.graphPage(tok, tokens, state, next, append(groups, ids...), page+1)
		}
		claims, err := oidc.WithGroups(tok.Claims, append(groups, ids...))
		if err != nil {
			return h.groupsFailed(err.Error())
		}
		withGroups := *tok
		withGroups.Claims = claims
		return h.startSession(&withGroups, tokens, state)
	}))
	if err != nil {
		return h.groupsFailed(err.Error())
	}
	return types.ActionPause
}

// groupsFailed ends a login whose groups could not be read.
func (h *httpContext) groupsFailed(why string) types.Action {
	proxywasm.LogErrorf("oidc-wasm: groups overage: cannot read the user's groups from Microsoft Graph: %s", why)
	h.rp.metrics.count(metricLoginFailedGroups)
	return h.loginFailed(502, "The identity provider's group memberships are not available.")
}
