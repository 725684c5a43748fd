package plugin

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// refreshUserinfo renews, with userinfo on, the claims only the userinfo endpoint provides
// (groups, often) when a session's tokens are refreshed. Without it they would be lost (a
// refreshed ID token replaces the session's claims) or kept stale (a group removed at the IdP
// would stay until the next login). With a refreshed ID token its signed claims win, as at
// login; without one, the answer replaces the session's older claims. If the call fails the
// previous claims are kept: the refresh itself succeeded, and the rotated refresh token it
// brought must reach the browser.
func (rp *relyingParty) refreshUserinfo(key [refreshKeySize]byte, f *refreshFlight, out refreshOutcome) {
	next := out.sess
	keep := func(why string, args ...any) {
		proxywasm.LogWarnf("oidc-wasm: refresh: userinfo "+why+"; keeping the session's previous claims", args...)
		if out.freshClaims {
			if kept, err := oidc.KeepClaims(next.Claims, f.old.Claims); err == nil {
				next.Claims = kept
			}
		}
		rp.finishRefresh(key, refreshOutcome{sess: next})
	}
	endpoint := rp.idp.discovery.UserinfoEndpoint
	if endpoint == "" || next.AccessToken == "" {
		keep("not available (no userinfo_endpoint or no access token)")
		return
	}
	sub, _ := oidc.ClaimValue(next.Claims, "sub", ",")
	merge := oidc.RefreshUserinfo
	if out.freshClaims {
		merge = oidc.MergeUserinfo
	}
	f.since = rp.idp.ticks
	err := rp.idp.dispatch(oidc.UserinfoRequest(endpoint, next.AccessToken), func(a answer) {
		if rp.refreshing[key] != f {
			return
		}
		if a.err != nil {
			keep("endpoint: %v", a.err)
			return
		}
		merged, err := merge(next.Claims, sub, a.status, a.body)
		if err != nil {
			keep("answer: %v", err)
			return
		}
		next.Claims = merged
		rp.finishRefresh(key, refreshOutcome{sess: next})
	})
	if err != nil {
		keep("not sent: %v", err)
	}
}
