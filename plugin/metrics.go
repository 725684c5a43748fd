package plugin

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

// The counters the plugin defines; Envoy shows them as wasmcustom.<name>. Full names are
// constants, not built at run time: a name must not live in memory the guest's GC reuses
// (the SDK's wasm test host keeps the pointer it is given).
const (
	metricRequestsSkipped          = "oidc_wasm.requests_skipped"            // skip path: passed without authentication
	metricSessionValid             = "oidc_wasm.session_valid"               // a valid session cookie: passed with identity headers
	metricSessionInvalid           = "oidc_wasm.session_invalid"             // a session cookie that failed to open (tampered, expired, other key)
	metricLoginStarted             = "oidc_wasm.login_started"               // browser sent to the IdP
	metricLoginSucceeded           = "oidc_wasm.login_succeeded"             // callback completed, session cookie issued
	metricLoginFailedIdpError      = "oidc_wasm.login_failed_idp_error"      // the IdP redirected back with error=
	metricLoginFailedBadCallback   = "oidc_wasm.login_failed_bad_callback"   // callback without code/state, or malformed
	metricLoginFailedBadState      = "oidc_wasm.login_failed_bad_state"      // state cookie missing, invalid, expired or not matching
	metricLoginFailedTokenEndpoint = "oidc_wasm.login_failed_token_endpoint" // the token endpoint refused the code or could not be reached
	metricLoginFailedIdToken       = "oidc_wasm.login_failed_id_token"       // the ID token failed verification
	metricUnauthorized             = "oidc_wasm.unauthorized"                // 401 to a non-browser request without session
	metricUnavailable              = "oidc_wasm.unavailable"                 // 503: the IdP's metadata could not be loaded
	metricIdpDiscoveryFetched      = "oidc_wasm.idp_discovery_fetched"       // discovery document loaded
	metricIdpJwksFetched           = "oidc_wasm.idp_jwks_fetched"            // signing keys loaded
	metricIdpFetchFailed           = "oidc_wasm.idp_fetch_failed"            // a discovery or JWKS fetch failed
	metricBearerAccepted           = "oidc_wasm.bearer_accepted"             // a request authenticated by a bearer JWT (verified or cached)
	metricBearerRejected           = "oidc_wasm.bearer_rejected"             // 401: a bearer token failed verification
	metricRefreshSucceeded         = "oidc_wasm.refresh_succeeded"           // a session's tokens renewed with its refresh token
	metricRefreshFailed            = "oidc_wasm.refresh_failed"              // a refresh refused by the IdP (session ended) or not answered
	metricLogout                   = "oidc_wasm.logout"                      // logout requests
	metricIdpMetadataShared        = "oidc_wasm.idp_metadata_shared"         // metadata adopted from another worker VM instead of fetched
	metricLoginFailedUserinfo      = "oidc_wasm.login_failed_userinfo"       // userinfo on, and the userinfo endpoint failed or answered for another subject
	metricAccessDenied             = "oidc_wasm.access_denied"               // 403: authenticated, but no authorization rule admits the user
	metricNoProvider               = "oidc_wasm.no_provider"                 // 403: no provider serves the request's host and path
	metricUpstreamCookieDropped    = "oidc_wasm.upstream_cookie_dropped"     // an upstream response set one of the plugin's cookies: removed
	metricBearerPassedThrough      = "oidc_wasm.bearer_passed_through"       // bearer_passthrough: a bearer token let through unverified for the mesh to judge
	metricLoginFailedGroups        = "oidc_wasm.login_failed_groups"         // groups_overage_cluster on, and Microsoft Graph did not give the user's groups
	metricPreflightPassed          = "oidc_wasm.preflight_passed"            // allow_preflight: a CORS preflight let through without authentication
	metricAssertionSigned          = "oidc_wasm.assertion_signed"            // assertion_key: an assertion signed (not reused from the cache)
	metricAssertionOmitted         = "oidc_wasm.assertion_omitted"           // assertion_key: a request left without assertion (no sub, too large, no host)
)

// metricNames lists every counter, so the list in docs/configuration.md is checked against it.
var metricNames = []string{
	metricRequestsSkipped,
	metricSessionValid,
	metricSessionInvalid,
	metricLoginStarted,
	metricLoginSucceeded,
	metricLoginFailedIdpError,
	metricLoginFailedBadCallback,
	metricLoginFailedBadState,
	metricLoginFailedTokenEndpoint,
	metricLoginFailedIdToken,
	metricUnauthorized,
	metricUnavailable,
	metricIdpDiscoveryFetched,
	metricIdpJwksFetched,
	metricIdpFetchFailed,
	metricBearerAccepted,
	metricBearerRejected,
	metricRefreshSucceeded,
	metricRefreshFailed,
	metricLogout,
	metricIdpMetadataShared,
	metricLoginFailedUserinfo,
	metricAccessDenied,
	metricNoProvider,
	metricUpstreamCookieDropped,
	metricBearerPassedThrough,
	metricLoginFailedGroups,
	metricPreflightPassed,
	metricAssertionSigned,
	metricAssertionOmitted,
}

type metrics struct {
	counters map[string]proxywasm.MetricCounter
}

func newMetrics() *metrics {
	m := &metrics{counters: make(map[string]proxywasm.MetricCounter, len(metricNames))}
	for _, name := range metricNames {
		m.counters[name] = proxywasm.DefineCounterMetric(name)
	}
	return m
}

// count increments a counter. Every name is one of the constants above; one missing from
// metricNames is ignored rather than allowed to touch another counter.
func (m *metrics) count(name string) {
	if c, ok := m.counters[name]; ok {
		c.Increment(1)
	}
}
