package plugin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// configKey is one configuration key: its name, where it may be written, its default and
// meaning as the configuration reference states them, and how a provider reads it. The
// table configKeys is the single definition of the configuration: the parser, the
// inheritance of top-level keys by providers, the unknown-key check and the generated
// reference (docs, checked by TestConfigReferenceIsGenerated) all come from it. Adding a key
// is one entry here and one test.
type configKey struct {
	name  string
	where placement
	def   string // the default, as the reference states it ("required", "none", a value)
	doc   string // the meaning, one Markdown paragraph for the reference
	// read sets the key's fields of c from v, or returns a ConfigError naming the key. A
	// provider reads its entry-only keys first (its name and path prefix give defaults), then
	// the others in table order, so a key may rely on the ones above it. nil for a key
	// another key's read handles (client_secret_env) or ParseConfig does (providers).
	read func(c *Config, v view) error
}

// placement says where a key may be written.
type placement int

const (
	anywhere  placement = iota // top level (a default for every provider) or a providers entry
	topOnly                    // top level only
	entryOnly                  // inside a providers entry only
	topLevel                   // for keysAt: every key the top level accepts
)

// keysAt lists the names the top level (topLevel) or an entry (entryOnly) accepts.
func keysAt(where placement) []string {
	var out []string
	for _, k := range configKeys {
		if k.where == anywhere || (where == topLevel) == (k.where == topOnly) {
			out = append(out, k.name)
		}
	}
	return out
}

var configKeys = []configKey{
	{name: "issuer", def: "required", doc: "OIDC issuer URL; discovery at `<issuer>/.well-known/openid-configuration`. The discovered `issuer` must match exactly.", read: func(c *Config, v view) (err error) {
		if c.Issuer, err = readRequired(v, "issuer"); err == nil {
			_, err = parseIssuer(c.Issuer)
		}
		return err
	}},
	{name: "cluster", def: "Istio's name for the issuer host: `outbound\\|<port>\\|\\|<host>`", doc: "Envoy cluster through which the IdP is reached (discovery, JWKS, token endpoint). Every call keeps its endpoint's own host as `:authority`, so when an IdP serves them from other hosts (Google: `oauth2.googleapis.com`, `www.googleapis.com`) the cluster must not pin one TLS SNI: on Istio, a `DestinationRule` without `sni` (auto SNI, as in `examples/istio/multi-provider/google.yaml`).", read: func(c *Config, v view) (err error) {
		issuer, _ := parseIssuer(c.Issuer)
		if c.Cluster, err = readString(v, "cluster", istioClusterName(issuer)); err == nil && c.Cluster == "" {
			err = configErr("cluster", "must not be empty")
		}
		return err
	}},
	{name: "endpoint_clusters", def: "none", doc: "Clusters for IdP endpoints on hosts that `cluster` cannot reach: an object of host name to Envoy cluster. A call the plugin makes (discovery, JWKS, token, userinfo) to a listed host goes through its cluster, every other call through `cluster`. Amazon Cognito needs it: its discovery and keys are on `cognito-idp.<region>.amazonaws.com`, its token and userinfo endpoints on the user pool's domain (`<domain>.auth.<region>.amazoncognito.com`).", read: readEndpointClusters},
	{name: "tenants", def: "none", doc: "For a multi-tenant issuer (Entra ID's `https://login.microsoftonline.com/organizations/v2.0`, whose discovery document names the template `https://login.microsoftonline.com/{tenantid}/v2.0`): the tenant IDs whose users may log in. Tokens must carry the issuer of one of them; without `tenants` such a template is refused at discovery.", read: func(c *Config, v view) (err error) {
		if c.Tenants, err = readStrings(v, "tenants"); err != nil {
			return err
		}
		for i, t := range c.Tenants {
			if !isTenantID(t) {
				return configErr(fmt.Sprintf("tenants[%d]", i), "%q must be a tenant ID (letters, digits, '-' and '.')", t)
			}
		}
		if c.Tenants != nil && len(c.Tenants) == 0 {
			return configErr("tenants", "must list at least one tenant (leave it out for a single-tenant issuer)")
		}
		return nil
	}},
	{name: "authorization_endpoint", def: "from discovery", doc: "Where browsers are sent to log in, instead of the discovery document's: an absolute URL, or a path on the request's own host (Kubeflow: `/dex/auth`, Dex served by the gateway). With `token_endpoint` and `jwks_uri` also set, discovery is not fetched at all. The ID token's `iss` must still equal `issuer`.", read: func(c *Config, v view) (err error) {
		c.Endpoints.AuthorizationEndpoint, err = readEndpoint(v, "authorization_endpoint", true)
		return err
	}},
	{name: "token_endpoint", def: "from discovery", doc: "The token endpoint, called through `cluster`, instead of the discovery document's: an absolute URL (Kubeflow: `http://dex.auth.svc.cluster.local:5556/dex/token`).", read: func(c *Config, v view) (err error) {
		c.Endpoints.TokenEndpoint, err = readEndpoint(v, "token_endpoint", false)
		return err
	}},
	{name: "jwks_uri", def: "from discovery", doc: "The IdP's signing keys, called through `cluster`, instead of the discovery document's: an absolute URL.", read: func(c *Config, v view) (err error) {
		c.Endpoints.JWKSURI, err = readEndpoint(v, "jwks_uri", false)
		return err
	}},
	{name: "userinfo_endpoint", def: "from discovery", doc: "The userinfo endpoint (see `userinfo`), called through `cluster`, instead of the discovery document's: an absolute URL.", read: func(c *Config, v view) (err error) {
		c.Endpoints.UserinfoEndpoint, err = readEndpoint(v, "userinfo_endpoint", false)
		return err
	}},
	{name: "end_session_endpoint", def: "from discovery", doc: "Where a logout sends the browser to end the IdP's session, instead of the discovery document's: an absolute URL or a path on the request's own host.", read: func(c *Config, v view) (err error) {
		c.Endpoints.EndSessionEndpoint, err = readEndpoint(v, "end_session_endpoint", true)
		return err
	}},
	{name: "client_id", def: "required", doc: "OAuth client id registered at the IdP.", read: func(c *Config, v view) (err error) {
		c.ClientID, err = readRequired(v, "client_id")
		return err
	}},
	{name: "client_secret", def: "one of `client_secret` / `client_secret_env`", doc: "Client secret, inline.", read: func(c *Config, v view) (err error) {
		c.ClientSecret, err = readSecret(v, "client_secret", v.getenv)
		return err
	}},
	{name: "client_secret_env", def: "see `client_secret`", doc: "Name of the VM environment variable holding the client secret (Istio: `vmConfig.env`)."},
	{name: "cookie_secret", def: "one of `cookie_secret` / `cookie_secret_env`", doc: "Base64 of 32 random bytes (`openssl rand -base64 32`): the key of every sealed cookie. A list rotates it without logging anyone out: the first seals, every one (at most 4) opens; put the new one first and drop the old one after `session_max_age`.", read: func(c *Config, v view) (err error) {
		c.CookieSecrets, err = readCookieSecrets(v, v.getenv)
		return err
	}},
	{name: "cookie_secret_env", def: "see `cookie_secret`", doc: "Name of the VM environment variable holding the cookie secret, or a list of names, the secret that seals first (rotation, as `cookie_secret`)."},
	{name: "cookie_secure", def: "`true`", doc: "Set `Secure` on cookies. Only turn off for plain-HTTP local testing.", read: func(c *Config, v view) (err error) {
		c.CookieSecure, err = readBool(v, "cookie_secure", true)
		return err
	}},
	{name: "cookie_domain", def: "none (host-only cookies)", doc: "Single sign-on across subdomains: a domain (`example.com`) or a list. The cookies of a request whose host is that domain or under it carry `Domain=<domain>` (the longest that matches), so one login serves `grafana.example.com` and `kiali.example.com`; a host under none gets host-only cookies. The default `cookie_name` becomes `__Secure-oidc_session`, since browsers refuse a `Domain` on `__Host-` cookies. Hosts under it (`https` only with `cookie_secure`, on the scheme's default port) are redirect targets after login and logout as if on `allowed_redirect_hosts`. The trade-off: every host under the domain receives the session cookie and can set one, so use it only for a domain whose every host you trust, never a public suffix (browsers refuse those). Each host's redirect URI must be registered at the IdP, or `redirect_uri` names one callback host under the domain. See [Single sign-on across subdomains](configuration.md#single-sign-on-across-subdomains).", read: readCookieDomain},
	{name: "cookie_samesite", def: "`lax`", doc: "`SameSite` of the session cookies: `lax` (sent when the user follows a link from another site), `strict` (never sent from another site: such a visit goes through the IdP again, silently while the IdP's session lives, and a login ends on a page that moves to the app from this site, since the IdP's redirect would not carry the cookie), or `none` (sent in frames and requests from other sites, for apps embedded elsewhere; needs `cookie_secure`, and leaves CSRF defence to the app). A login's state cookie stays `Lax` unless `none`: it must come back on the IdP's redirect.", read: readSameSite},
	{name: "cookie_name", def: "`__Host-oidc_session` (`__Secure-oidc_session` with `cookie_domain`, `_oidc_session` with `cookie_secure: false`); in a `providers` entry the same with `_<name>` appended", doc: "Name of the session cookie; chunks are `<name>_0`, `<name>_1`, ..., the state of each login in progress `<name>_state_<id>`. Each provider of `providers` needs its own. The default's `__Host-` prefix makes browsers refuse the cookie unless it is `Secure`, `Path=/` and set by this very host, so a sibling subdomain cannot plant one (cookie tossing); a `__Host-` or `__Secure-` name needs `cookie_secure`. See [Upgrading](upgrading.md) for sessions under the old default name.", read: readCookieName},
	{name: "redirect_path", def: "`/oauth2/callback`", doc: "Callback path; the redirect URI is `<scheme>://<authority><redirect_path>` of the request and must be registered at the IdP.", read: func(c *Config, v view) (err error) {
		if c.RedirectPath, err = readString(v, "redirect_path", c.PathPrefix+defaultRedirectPath); err == nil {
			_, err = configPath("redirect_path", c.RedirectPath)
		}
		return err
	}},
	{name: "redirect_uri", def: "`<scheme>://<authority><redirect_path>` of the request", doc: "The redirect URI sent to the IdP exactly as configured: a path (`/oauth2/callback`, for IdPs with a relative redirect URI registered, as Kubeflow's Dex), or an absolute URL (one callback host for every host under `cookie_domain`). Its path must be `redirect_path`; the callback is still bound to the browser that started the login by its state cookie, so a callback host other than the one a login starts on works only under `cookie_domain`, and the browser then comes back to the host it started on. Behind a proxy that terminates TLS, make Envoy trust its `x-forwarded-proto` rather than configure this: see [The external URL](envoy.md#the-external-url).", read: readRedirectURI},
	{name: "scopes", def: "`[\"openid\",\"profile\",\"email\"]`", doc: "Requested scopes; `openid` is always sent first.", read: func(c *Config, v view) (err error) {
		c.Scopes, err = readScopes(v)
		return err
	}},
	{name: "authorization_params", def: "none", doc: "Extra parameters of the authorization request, an object of name to value: Google's `{\"access_type\":\"offline\",\"prompt\":\"consent\",\"hd\":\"example.com\"}`, Auth0's `audience`, Entra ID's `domain_hint`. Parameters the plugin owns (`state`, `nonce`, `redirect_uri`, `code_challenge`, `scope`, `response_mode`, `request`, ...) are refused at start.", read: readAuthParams},
	{name: "authorization_params_from_request", def: "none", doc: "Names of authorization request parameters copied from the query of the request that starts a login (a page load, or `login_path`), such as `[\"login_hint\"]`: `/oauth2/start?login_hint=alice@example.com`. Values over 512 bytes or with control characters are dropped; owned parameters are refused at start.", read: func(c *Config, v view) (err error) {
		if c.AuthParamsFromRequest, err = readStrings(v, "authorization_params_from_request"); err != nil {
			return err
		}
		for i, name := range c.AuthParamsFromRequest {
			if oidc.OwnsAuthParam(name) {
				return configErr(fmt.Sprintf("authorization_params_from_request[%d]", i), "%q is set by the plugin itself", name)
			}
		}
		return nil
	}},
	{name: "refresh_scopes", def: "none (the login's scopes)", doc: "Scopes sent with a refresh. Entra ID returns no new ID token on a refresh without `openid`: `[\"openid\",\"profile\",\"email\",\"offline_access\"]`. Left out, no `scope` is sent and the IdP keeps the login's.", read: func(c *Config, v view) (err error) {
		if !v.Get("refresh_scopes").Exists() {
			return nil
		}
		c.RefreshScopes, err = readScopeList(v, "refresh_scopes")
		return err
	}},
	{name: "skip_paths", def: "`[]`", doc: "List of `{\"exact\":…}`, `{\"prefix\":…}` or `{\"regex\":…}` matched on the path without query. A prefix without trailing `/` matches whole segments (`/public` covers `/public/x`, not `/publicity`); a regex must match the whole path. A rule with `\"methods\": [\"GET\",\"HEAD\"]` skips only those methods. Only a plain path is ever skipped: in normal form, without `;` and without an escape of a letter, digit, `-`, `_`, `~`, `?` or `#` (`/admin/users;.js` is no script). Exact paths and prefixes are written in canonical form (no `;`, printable ASCII unescaped, upper-case hex).", read: func(c *Config, v view) (err error) {
		c.SkipPaths, err = parsePathRules(v.Get("skip_paths"), "skip_paths")
		return err
	}},
	{name: "allow_preflight", def: "`false`", doc: "Let CORS preflights through without authentication: `OPTIONS` requests with `Origin` and `Access-Control-Request-Method`. Browsers send preflights without cookies, so a cross-origin app otherwise gets a 401 on every preflight. The app answers them (CORS headers only); no identity header is set, and client-sent ones are removed as always. For other methods on chosen paths, give a skip rule `methods`.", read: func(c *Config, v view) (err error) {
		c.AllowPreflight, err = readBool(v, "allow_preflight", false)
		return err
	}},
	{name: "api_paths", def: "`[]`", doc: "Path rules as in `skip_paths` where a request without a session or token always gets 401, never a login redirect, whatever it accepts (oauth2-proxy's `api_routes`; Kubeflow: `/api/`, `/apis/`, `/ml_metadata`).", read: func(c *Config, v view) (err error) {
		c.APIPaths, err = parsePathRules(v.Get("api_paths"), "api_paths")
		return err
	}},
	{name: "page_paths", def: "`[]`", doc: "Path rules as in `skip_paths` where a GET or HEAD request without a session is sent to the login whatever it accepts, for scripts that log in by following redirects with `Accept: */*` (Kubeflow's `KFPClientManager`). `api_paths` win over these; elsewhere only a browser's page load is redirected and other requests get 401.", read: func(c *Config, v view) (err error) {
		c.PagePaths, err = parsePathRules(v.Get("page_paths"), "page_paths")
		return err
	}},
	{name: "claims_to_headers", def: "`{\"x-auth-request-user\":\"sub\",\"x-auth-request-email\":\"email\"}`", doc: "Map of header name to claim path ([gjson syntax](https://github.com/tidwall/gjson/blob/master/SYNTAX.md)), or to `{\"claim\": path, \"prefix\": text, \"separator\": text, \"transform\": [{\"match\": regex, \"replace\": text}]}`: arrays joined with `separator` (default `,`), then each matching transform applied in order (Kubeflow's `USERID_TRANSFORMERS`), then `prefix` prepended (Kubeflow's `USERID_PREFIX`). A value with control characters or over 8 KiB leaves the header absent. A header mapped from the `email` claim is set only when the email is verified (`email_verified: true`; see `assume_email_verified`). These headers are always removed from incoming requests.", read: func(c *Config, v view) (err error) {
		c.ClaimsToHeaders, err = claimsToHeaders(v)
		return err
	}},
	{name: "timeout_ms", def: "`5000`", doc: "Timeout of every call to the IdP, 1 to 60000.", read: func(c *Config, v view) error {
		ms, err := readIntIn(v, "timeout_ms", defaultTimeoutMS, 1, maxTimeoutMS, "")
		c.Timeout = time.Duration(ms) * time.Millisecond
		return err
	}},
	{name: "session_max_age", def: "`86400`", doc: "Absolute session lifetime in seconds from login (60 to one year), enforced by data inside the sealed cookie; refreshing does not extend it.", read: func(c *Config, v view) error {
		s, err := readIntIn(v, "session_max_age", defaultMaxAgeS, 60, maxSessionAgeS, " seconds")
		c.SessionMaxAge = time.Duration(s) * time.Second
		return err
	}},
	{name: "session_idle_timeout", def: "`0`", doc: "Seconds of inactivity after which a session ends (0: off); renewed on the response once half of it has passed.", read: func(c *Config, v view) error {
		s, err := readInt(v, "session_idle_timeout", 0)
		if maxAge := int(c.SessionMaxAge / time.Second); err == nil && s != 0 && (s < 60 || s > maxAge) {
			err = configErr("session_idle_timeout", "%d seconds must be 0 (off) or 60..session_max_age (%d)", s, maxAge)
		}
		c.SessionIdleTimeout = time.Duration(s) * time.Second
		return err
	}},
	{name: "session_tokens", def: "`true`", doc: "Keep the ID, access and refresh tokens in the session (needed for refresh, `id_token_hint` at logout and `forward_token`). `false` keeps only the claims, for IdPs with huge tokens.", read: func(c *Config, v view) (err error) {
		c.SessionTokens, err = readBool(v, "session_tokens", true)
		return err
	}},
	{name: "bearer_tokens", def: "`true`", doc: "Accept `Authorization: Bearer <JWT>` from API clients without a session.", read: func(c *Config, v view) (err error) {
		c.BearerTokens, err = readBool(v, "bearer_tokens", true)
		return err
	}},
	{name: "bearer_audiences", def: "`[<client_id>]`", doc: "Audiences a bearer JWT may carry (one must match).", read: readBearerAudiences},
	{name: "bearer_accept_login_tokens", def: "`false`", doc: "Also accept, as bearer tokens, tokens minted in an interactive login: those with a `nonce` claim, that is ID tokens, including the ones this plugin's sessions forward to apps. Off, an app that received a session's ID token cannot replay it against the other apps; tokens of scripts and API clients (password, client-credentials, device, token-exchange grants, Kubernetes tokens) carry no nonce and are unaffected, and so are access tokens marked `typ: at+jwt` (RFC 9068) or, Keycloak's, with the claim `typ: Bearer`.", read: func(c *Config, v view) (err error) {
		c.BearerAcceptLoginTokens, err = readBool(v, "bearer_accept_login_tokens", false)
		return err
	}},
	{name: "bearer_audience_claims", def: "`[\"aud\"]`", doc: "Claims a bearer token's audience is read from, the first present: AWS Cognito's access tokens carry `client_id` and no `aud`: `[\"aud\",\"client_id\"]`. The value must be one of `bearer_audiences`.", read: func(c *Config, v view) (err error) {
		c.BearerAudienceClaims, err = readStrings(v, "bearer_audience_claims")
		if err == nil && c.BearerAudienceClaims != nil && len(c.BearerAudienceClaims) == 0 {
			err = configErr("bearer_audience_claims", "must name at least one claim (leave it out for aud)")
		}
		return err
	}},
	{name: "bearer_accepted_issuers", def: "none", doc: "Issuers bearer tokens signed with the IdP's keys may carry besides `issuer`, `{tenantid}` expanded with `tenants`: Entra ID's v1 access tokens carry `https://sts.windows.net/{tenantid}/` while its ID tokens carry the v2 issuer. ID tokens never get these.", read: func(c *Config, v view) (err error) {
		if c.BearerAcceptedIssuers, err = readStrings(v, "bearer_accepted_issuers"); err != nil {
			return err
		}
		for i, iss := range c.BearerAcceptedIssuers {
			key := fmt.Sprintf("bearer_accepted_issuers[%d]", i)
			if strings.Contains(iss, oidc.TenantPlaceholder) && len(c.Tenants) == 0 {
				return configErr(key, "%q names %s: list the allowed tenants in tenants", iss, oidc.TenantPlaceholder)
			}
			if _, err := parseIssuer(strings.ReplaceAll(iss, oidc.TenantPlaceholder, "t")); err != nil {
				return configErr(key, "%q must be an absolute http(s) URL without query or fragment", iss)
			}
		}
		return nil
	}},
	{name: "bearer_passthrough", def: "`false`", doc: "Let a request without a session that carries one `Authorization: Bearer` token through **unverified**, token untouched and no identity header set (client-sent managed headers are still removed), for the mesh to judge: Kubeflow's `RequestAuthentication` `dex-jwt` and `m2m-token-issuer` with the `AuthorizationPolicy` `require-jwt`. This is an open door unless the mesh verifies every such token and denies requests without a verified principal; the plugin logs a warning at start. The alternative is `bearer_issuers`: tokens verified here. Cannot be combined with `authorization` rules, which such requests would skip.", read: func(c *Config, v view) (err error) {
		c.BearerPassthrough, err = readBool(v, "bearer_passthrough", false)
		return err
	}},
	{name: "bearer_issuers", def: "none", doc: "Extra issuers of bearer tokens, verified here: a list of `{\"issuer\": …, \"jwks_uri\": …, \"cluster\": …, \"audiences\": […], \"claims_to_headers\": {…}}`. A token is judged by the issuer its `iss` names: signature by that issuer's keys (fetched from `jwks_uri` through `cluster`, default Istio's name for its host; refreshed and refetched on an unknown `kid` like the IdP's), `exp`/`nbf`, and one of `audiences`, or any audience when left out (Kubernetes service-account tokens carry the API server's). Its `claims_to_headers` (default `{\"x-auth-request-user\":\"sub\"}`) set the identity headers, which are stripped from every request like the others; `authorization` rules apply to its tokens too. Kubeflow: the cluster's service-account issuer with `jwks_uri` `http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks` and `{\"kubeflow-userid\":\"sub\"}`. The alternative to `bearer_passthrough`.", read: readBearerIssuers},
	{name: "forward_token", def: "none", doc: "Send the session's `id_token` or `access_token` upstream as `Authorization: Bearer` (for Istio `RequestAuthentication` behind the gateway). Otherwise a client's `Authorization` header only reaches upstream when it is the bearer token just verified. Every app behind the provider then holds a live token of the user: see SECURITY.md, \"Known limits\".", read: readForwardToken},
	{name: "logout_path", def: "`/oauth2/logout`", doc: "Logout endpoint: clears every plugin cookie, then redirects to the IdP's `end_session_endpoint` (with `id_token_hint`, `client_id`, `post_logout_redirect_uri`) or, when there is none, to `logout_redirect`. A logout another site triggered (`Sec-Fetch-Site: cross-site` or `same-site`) is local only: it never ends the user's session at the IdP. An `rd` query parameter chooses the landing page if it passes the redirect checks.", read: func(c *Config, v view) (err error) {
		if c.LogoutPath, err = readString(v, "logout_path", c.PathPrefix+defaultLogoutPath); err != nil {
			return err
		}
		if _, err := configPath("logout_path", c.LogoutPath); err != nil {
			return err
		}
		if c.LogoutPath == c.RedirectPath {
			return configErr("logout_path", "%q must differ from redirect_path", c.LogoutPath)
		}
		return nil
	}},
	{name: "login_path", def: "`/oauth2/start`", doc: "Starts a login for any client, whatever it accepts, and returns to its `rd` query parameter when that passes the redirect checks: a path of this site, or a URL on `allowed_redirect_hosts` or under `cookie_domain` (oauth2-proxy's `/oauth2/start`, which scripted logins such as Kubeflow's `KFPClientManager` call). In a `providers` entry with `path_prefix` it defaults to `<path_prefix>/oauth2/start`.", read: func(c *Config, v view) (err error) {
		if c.LoginPath, err = readString(v, "login_path", c.PathPrefix+defaultLoginPath); err != nil {
			return err
		}
		if _, err := configPath("login_path", c.LoginPath); err != nil {
			return err
		}
		if c.LoginPath == c.RedirectPath || c.LoginPath == c.LogoutPath {
			return configErr("login_path", "%q must differ from redirect_path and logout_path", c.LoginPath)
		}
		return nil
	}},
	{name: "allowed_redirect_hosts", def: "`[]`", doc: "Hosts an absolute `rd` (of `login_path` and `logout_path`) or `logout_redirect` may point to, besides the hosts under `cookie_domain`: `app.example.com`, `app.example.com:8443`, `.example.com` (subdomains), optionally with a scheme.", read: func(c *Config, v view) (err error) {
		c.AllowedRedirectHosts, err = readStrings(v, "allowed_redirect_hosts")
		c.redirectHosts = append(slices.Clone(c.AllowedRedirectHosts), cookieDomainHosts(c)...)
		return err
	}},
	{name: "logout_redirect", def: "`/`", doc: "Where to land after logout: a path of this site or a URL on `allowed_redirect_hosts`.", read: func(c *Config, v view) (err error) {
		if c.LogoutRedirect, err = readString(v, "logout_redirect", "/"); err != nil {
			return err
		}
		if _, ok := c.safeRedirect(c.LogoutRedirect); !ok {
			return configErr("logout_redirect", "%q must be a path of this site or a URL on one of allowed_redirect_hosts (or under cookie_domain)", c.LogoutRedirect)
		}
		return nil
	}},
	{name: "logout_url", def: "the end-session request of OpenID Connect RP-Initiated Logout", doc: "Where a logout sends the browser, for IdPs whose logout is not the standard end-session request: a URL or path with placeholders `{end_session_endpoint}`, `{id_token}`, `{client_id}`, `{post_logout_redirect_uri}`, each filled URL-escaped (the endpoint as it is). Cognito: `https://<domain>.auth.<region>.amazoncognito.com/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}`. A template naming `{end_session_endpoint}` or `{id_token}` falls back to a local logout when there is none.", read: readLogoutURL},
	{name: "userinfo", def: "`false`", doc: "At login, fetch the IdP's userinfo endpoint with the access token and add its claims (groups often live only there) to the session; the ID token's own claims win. The login fails if the answer is unusable or for another `sub`. At every refresh it is fetched again with the new access token, so a group removed at the IdP goes with the next refresh (if that call fails, the previous claims are kept).", read: func(c *Config, v view) (err error) {
		c.Userinfo, err = readBool(v, "userinfo", false)
		return err
	}},
	{name: "groups_claim", def: "`groups`", doc: "Claim path of the user's groups for `group` conditions.", read: func(c *Config, v view) (err error) {
		if c.GroupsClaim, err = readString(v, "groups_claim", "groups"); err == nil && c.GroupsClaim == "" {
			err = configErr("groups_claim", "must not be empty")
		}
		return err
	}},
	{name: "groups_overage_cluster", def: "none (overage users get no groups)", doc: "Entra ID sends no `groups` claim for a user in more than 200 groups, a groups overage (`_claim_names`, `_claim_sources`) instead. With this Envoy cluster to `graph.microsoft.com` (Istio: `outbound|443||graph.microsoft.com`), the plugin reads the user's group IDs from Microsoft Graph at login with the access token (delegated permission `GroupMember.Read.All`), at most 10 pages of 999; if that fails the login fails. Without it such a user has no groups, and group conditions refuse them (a warning says so). At a refresh whose ID token again carries the overage, the groups read at login are kept.", read: func(c *Config, v view) (err error) {
		if c.GroupsOverageCluster, err = readString(v, "groups_overage_cluster", ""); err == nil && v.Get("groups_overage_cluster").Exists() && c.GroupsOverageCluster == "" {
			err = configErr("groups_overage_cluster", "must not be empty (leave it out to read no groups)")
		}
		return err
	}},
	{name: "assume_email_verified", def: "`false`", doc: "Trust the IdP's `email` as verified when the IdP sends no `email_verified` claim at all, for email conditions and for headers mapped from `email`. Only for IdPs that vouch for every address they assert and never send the claim: **Entra ID** is one (its work-account addresses are managed by the tenant). An explicit `email_verified: false` still means unverified. Leave it off for IdPs that allow self-registration.", read: func(c *Config, v view) (err error) {
		c.EmailTrust.AssumeVerified, err = readBool(v, "assume_email_verified", false)
		return err
	}},
	{name: "email_verified_claim", def: "`email_verified`", doc: "The claim that must be `true` for the email to count as verified, for IdPs that say it under another name (Entra ID: `xms_edov`, with the optional claim configured in the app registration). Applies to email conditions and headers mapped from `email`.", read: func(c *Config, v view) (err error) {
		if c.EmailTrust.VerifiedClaim, err = readString(v, "email_verified_claim", "email_verified"); err == nil && c.EmailTrust.VerifiedClaim == "" {
			err = configErr("email_verified_claim", "must not be empty")
		}
		return err
	}},
	{name: "authorization", def: "none", doc: "Who may enter, by path: a list of `{\"path_prefix\": \"/admin\", \"allow\": [conditions]}` (no `path_prefix`: every path). The first rule whose prefix matches decides; a user passes when one condition holds; with no matching rule every authenticated user passes. A path is decided as every common upstream may read it (escapes decoded, `;params` cut) and must be admitted under each reading: `/admin;x/users` and `/%61dmin` fall under `/admin`. Conditions: `{\"email_domain\": \"example.com\"}` and `{\"email\": \"a@example.com\"}` (the email must be verified, `email_verified: true`, and parse strictly: `a@evil.com@example.com` is no one), `{\"group\": \"admins\"}` (in `groups_claim`), `{\"claim\": \"realm_access.roles\", \"contains\": \"admin\"}`, `{\"claim\": \"tenant\", \"equals\": \"t1\"}`. Denied: 403 page (browser) or `{\"error\":\"access_denied\"}`.", read: func(c *Config, v view) (err error) {
		if c.Authorization, err = parseAuthorization(v.Get("authorization"), c.GroupsClaim, c.EmailTrust); err == nil && c.BearerPassthrough && len(c.Authorization) > 0 {
			err = configErr("bearer_passthrough", "cannot be combined with authorization rules: requests it lets through carry no identity the plugin verified")
		}
		return err
	}},
	{name: "authorization_case_insensitive", def: "`false`", doc: "Match `authorization` path prefixes regardless of ASCII letter case as well, so `/ADMIN` falls under `/admin`. Turn it on when an app behind the gateway ignores case in its routes (Express and ASP.NET by default, IIS); Envoy's routes and skip rules stay case-sensitive.", read: func(c *Config, v view) (err error) {
		c.AuthorizationCaseInsensitive, err = readBool(v, "authorization_case_insensitive", false)
		return err
	}},
	{name: "id_token_header", def: "none", doc: "Header that carries the session's raw ID token upstream (needs `session_tokens`); stripped from client requests like every managed header.", read: func(c *Config, v view) (err error) {
		c.IDTokenHeader, err = readTokenHeader(c, v, "id_token_header")
		return err
	}},
	{name: "access_token_header", def: "none", doc: "Header that carries the session's raw access token upstream (needs `session_tokens`).", read: func(c *Config, v view) (err error) {
		c.AccessTokenHeader, err = readTokenHeader(c, v, "access_token_header")
		return err
	}},
	{name: "assertion_key", def: "none (no assertion)", doc: "Sign, for every authenticated request, a short-lived JWT of who the user is and set it as `assertion_header`, so an app (or an Istio `RequestAuthentication` behind the gateway) verifies that the identity came from the gateway instead of trusting a header: see [Signed identity for apps](signed-identity.md). The PEM of an unencrypted PKCS#8 private key, Ed25519 (`openssl genpkey -algorithm ed25519`, signs EdDSA, the cheaper) or P-256 (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`, signs ES256); other keys are refused at start. A list rotates it: the first signs, every one (at most 4) is published at `assertion_jwks_path`. Prefer `assertion_key_env`.", read: readAssertionKeys},
	{name: "assertion_key_env", def: "see `assertion_key`", doc: "Name of the VM environment variable holding the assertion key's PEM, or a list of names, the key that signs first (rotation, as `assertion_key`)."},
	{name: "assertion_header", def: "`x-oidc-wasm-assertion`", doc: "Header that carries the signed assertion upstream (with `assertion_key`): set on requests with a verified session or bearer token that the `authorization` rules admit, never on skip paths, preflights or `bearer_passthrough`; always removed from client requests like every managed header. The JWT's claims: `iss` (`assertion_issuer`), `aud` (the request's host, lower-case, without port), `sub`, `idp` (the issuer that authenticated the user), `email` (only when verified, as for `claims_to_headers`), `groups` (from `groups_claim`), `iat`, `exp`. Left out when the credential has no `sub` or the JWT would exceed 16 KiB (`oidc_wasm.assertion_omitted`).", read: readAssertionHeader},
	{name: "assertion_issuer", def: "`oidc-wasm`; in a `providers` entry `oidc-wasm/<name>`", doc: "The `iss` of every assertion (with `assertion_key`): the name verifiers know the gateway by (Istio: `jwtRules[].issuer`).", read: readAssertionIssuer},
	{name: "assertion_ttl", def: "`300`", doc: "Lifetime of an assertion in seconds (with `assertion_key`), 60 to 3600, and never beyond the session's or bearer token's own end. Each VM reuses an assertion for its session (or token) and host until half of its lifetime has passed, so an app sees assertions with at least half of it left; it is also how long one outlives a logout.", read: readAssertionTTL},
	{name: "assertion_jwks_path", def: "`/.well-known/oidc-wasm/jwks.json`; in a `providers` entry with `path_prefix` `<path_prefix>/.well-known/oidc-wasm/jwks.json`", doc: "Path where the plugin itself answers `GET` and `HEAD` with the JWK Set of the assertion keys (with `assertion_key`; `application/json`, cacheable for 5 minutes), on every host of the provider and before any other decision, without authentication. Must differ from `redirect_path`, `logout_path` and `login_path`.", read: readAssertionJWKSPath},
	{name: "providers", where: topOnly, def: "none", doc: "Several IdPs on one gateway: a list of provider objects, each with `name`, `hosts`, optionally `path_prefix`, and any key of this table (issuer, client, secrets, cookie, scopes, rules, headers, ...), which overrides the same key at the top level; top-level keys are defaults for every entry. See [Several providers on one gateway](#several-providers-on-one-gateway). Without it, the configuration is one provider for every host."},
	{name: "name", where: entryOnly, def: "required in an entry", doc: "Inside a `providers` entry: its unique name, 1 to 32 of `a-z`, `0-9`, `-`. Named in logs, and bound into everything the provider seals.", read: readProviderName},
	{name: "hosts", where: entryOnly, def: "required in an entry", doc: "Inside a `providers` entry: hosts it serves, `app.example.com`, `*.example.com` (subdomains at any depth, not `example.com` itself) or `*`; the port is ignored. The most specific match wins: exact, then the longest wildcard, then `*`.", read: func(c *Config, v view) (err error) {
		c.Hosts, err = hostPatterns(v.Get("hosts"))
		return err
	}},
	{name: "path_prefix", where: entryOnly, def: "none", doc: "Inside a `providers` entry: serve only paths under this prefix (whole segments, case-sensitive like Envoy's routes) on its hosts; longer prefixes win. `redirect_path` and `logout_path` default to `<path_prefix>/oauth2/callback` and `<path_prefix>/oauth2/logout` and must stay under it. Once any entry has one, a path not in normal form (`/a/../b`), or one that upstreams read under different providers (`/admin;x/users`, `/%61dmin` next to a `/admin` provider), is refused with 400.", read: readPathPrefix},
}
