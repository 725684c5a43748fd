package plugin

import (
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
	{name: "client_id", def: "required", doc: "OAuth client id registered at the IdP.", read: func(c *Config, v view) (err error) {
		c.ClientID, err = readRequired(v, "client_id")
		return err
	}},
	{name: "client_secret", def: "one of `client_secret` / `client_secret_env`", doc: "Client secret, inline.", read: func(c *Config, v view) (err error) {
		c.ClientSecret, err = readSecret(v, "client_secret", v.getenv)
		return err
	}},
	{name: "client_secret_env", def: "see `client_secret`", doc: "Name of the VM environment variable holding the client secret (Istio: `vmConfig.env`)."},
	{name: "cookie_secret", def: "one of `cookie_secret` / `cookie_secret_env`", doc: "Base64 of 32 random bytes (`openssl rand -base64 32`): the key of every sealed cookie.", read: func(c *Config, v view) (err error) {
		c.CookieSecret, err = readCookieSecret(v, v.getenv)
		return err
	}},
	{name: "cookie_secret_env", def: "see `cookie_secret`", doc: "Name of the VM environment variable holding the cookie secret."},
	{name: "cookie_secure", def: "`true`", doc: "Set `Secure` on cookies. Only turn off for plain-HTTP local testing.", read: func(c *Config, v view) (err error) {
		c.CookieSecure, err = readBool(v, "cookie_secure", true)
		return err
	}},
	{name: "cookie_name", def: "`__Host-oidc_session` (`_oidc_session` with `cookie_secure: false`); in a `providers` entry `__Host-oidc_session_<name>`", doc: "Name of the session cookie; chunks are `<name>_0`, `<name>_1`, ..., the login state `<name>_state`. Each provider of `providers` needs its own. The default's `__Host-` prefix makes browsers refuse the cookie unless it is `Secure`, `Path=/` and set by this very host, so a sibling subdomain cannot plant one (cookie tossing); a `__Host-` or `__Secure-` name needs `cookie_secure`. See [Upgrading](upgrading.md) for sessions under the old default name.", read: readCookieName},
	{name: "redirect_path", def: "`/oauth2/callback`", doc: "Callback path; the redirect URI is `<scheme>://<authority><redirect_path>` of the request and must be registered at the IdP.", read: func(c *Config, v view) (err error) {
		if c.RedirectPath, err = readString(v, "redirect_path", c.PathPrefix+defaultRedirectPath); err == nil {
			_, err = configPath("redirect_path", c.RedirectPath)
		}
		return err
	}},
	{name: "scopes", def: "`[\"openid\",\"profile\",\"email\"]`", doc: "Requested scopes; `openid` is always sent first.", read: func(c *Config, v view) (err error) {
		c.Scopes, err = readScopes(v)
		return err
	}},
	{name: "skip_paths", def: "`[]`", doc: "List of `{\"exact\":…}`, `{\"prefix\":…}` or `{\"regex\":…}` matched on the path without query. A prefix without trailing `/` matches whole segments (`/public` covers `/public/x`, not `/publicity`); a regex must match the whole path. Only a plain path is ever skipped: in normal form, without `;` and without an escape of a letter, digit, `-`, `_`, `~`, `?` or `#` (`/admin/users;.js` is no script). Exact paths and prefixes are written in canonical form (no `;`, printable ASCII unescaped, upper-case hex).", read: func(c *Config, v view) (err error) {
		c.SkipPaths, err = parsePathRules(v.Get("skip_paths"), "skip_paths")
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
	{name: "allowed_redirect_hosts", def: "`[]`", doc: "Hosts an absolute `rd` or `logout_redirect` may point to: `app.example.com`, `app.example.com:8443`, `.example.com` (subdomains), optionally with a scheme.", read: func(c *Config, v view) (err error) {
		c.AllowedRedirectHosts, err = readStrings(v, "allowed_redirect_hosts")
		return err
	}},
	{name: "logout_redirect", def: "`/`", doc: "Where to land after logout: a path of this site or a URL on `allowed_redirect_hosts`.", read: func(c *Config, v view) (err error) {
		if c.LogoutRedirect, err = readString(v, "logout_redirect", "/"); err != nil {
			return err
		}
		if _, ok := oidc.SafeRedirect(c.LogoutRedirect, c.AllowedRedirectHosts); !ok {
			return configErr("logout_redirect", "%q must be a path of this site or a URL on one of allowed_redirect_hosts", c.LogoutRedirect)
		}
		return nil
	}},
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
	{name: "assume_email_verified", def: "`false`", doc: "Trust the IdP's `email` as verified when the IdP sends no `email_verified` claim at all, for email conditions and for headers mapped from `email`. Only for IdPs that vouch for every address they assert and never send the claim: **Entra ID** is one (its work-account addresses are managed by the tenant). An explicit `email_verified: false` still means unverified. Leave it off for IdPs that allow self-registration.", read: func(c *Config, v view) (err error) {
		c.EmailTrust.AssumeVerified, err = readBool(v, "assume_email_verified", false)
		return err
	}},
	{name: "authorization", def: "none", doc: "Who may enter, by path: a list of `{\"path_prefix\": \"/admin\", \"allow\": [conditions]}` (no `path_prefix`: every path). The first rule whose prefix matches decides; a user passes when one condition holds; with no matching rule every authenticated user passes. A path is decided as every common upstream may read it (escapes decoded, `;params` cut) and must be admitted under each reading: `/admin;x/users` and `/%61dmin` fall under `/admin`. Conditions: `{\"email_domain\": \"example.com\"}` and `{\"email\": \"a@example.com\"}` (the email must be verified, `email_verified: true`, and parse strictly: `a@evil.com@example.com` is no one), `{\"group\": \"admins\"}` (in `groups_claim`), `{\"claim\": \"realm_access.roles\", \"contains\": \"admin\"}`, `{\"claim\": \"tenant\", \"equals\": \"t1\"}`. Denied: 403 page (browser) or `{\"error\":\"access_denied\"}`.", read: func(c *Config, v view) (err error) {
		c.Authorization, err = parseAuthorization(v.Get("authorization"), c.GroupsClaim, c.EmailTrust)
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
	{name: "providers", where: topOnly, def: "none", doc: "Several IdPs on one gateway: a list of provider objects, each with `name`, `hosts`, optionally `path_prefix`, and any key of this table (issuer, client, secrets, cookie, scopes, rules, headers, ...), which overrides the same key at the top level; top-level keys are defaults for every entry. See [Several providers on one gateway](#several-providers-on-one-gateway). Without it, the configuration is one provider for every host."},
	{name: "name", where: entryOnly, def: "required in an entry", doc: "Inside a `providers` entry: its unique name, 1 to 32 of `a-z`, `0-9`, `-`. Named in logs, and bound into everything the provider seals.", read: readProviderName},
	{name: "hosts", where: entryOnly, def: "required in an entry", doc: "Inside a `providers` entry: hosts it serves, `app.example.com`, `*.example.com` (subdomains at any depth, not `example.com` itself) or `*`; the port is ignored. The most specific match wins: exact, then the longest wildcard, then `*`.", read: func(c *Config, v view) (err error) {
		c.Hosts, err = hostPatterns(v.Get("hosts"))
		return err
	}},
	{name: "path_prefix", where: entryOnly, def: "none", doc: "Inside a `providers` entry: serve only paths under this prefix (whole segments, case-sensitive like Envoy's routes) on its hosts; longer prefixes win. `redirect_path` and `logout_path` default to `<path_prefix>/oauth2/callback` and `<path_prefix>/oauth2/logout` and must stay under it. Once any entry has one, a path not in normal form (`/a/../b`), or one that upstreams read under different providers (`/admin;x/users`, `/%61dmin` next to a `/admin` provider), is refused with 400.", read: readPathPrefix},
}

// readCookieName reads cookie_name, or picks the default for cookie_secure (each provider's
// ends in its name: "__Host-oidc_session_grafana"); a name with a __Host- or __Secure-
// prefix (any case: browsers compare it so) needs cookie_secure, or browsers would drop every
// cookie and no login could complete.
func readCookieName(c *Config, v view) error {
	def, legacy := legacyCookieName, legacyCookieName
	if c.CookieSecure {
		def = defaultCookieName
	}
	if c.Name != "" {
		def, legacy = def+"_"+c.Name, legacy+"_"+c.Name
	}
	var err error
	if c.CookieName, err = readString(v, "cookie_name", def); err != nil {
		return err
	}
	c.LegacyCookieName = c.CookieName
	if !v.Get("cookie_name").Exists() {
		c.LegacyCookieName = legacy
	}
	if !isSafeCookieName(c.CookieName) {
		return configErr("cookie_name", "%q is not a valid cookie name (letters, digits, '_' and '-' only)", c.CookieName)
	}
	lower := strings.ToLower(c.CookieName)
	if (strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-")) && !c.CookieSecure {
		return configErr("cookie_name", "%q: browsers only keep __Host- and __Secure- cookies with Secure; set cookie_secure to true or choose another name", c.CookieName)
	}
	return nil
}

func readBearerAudiences(c *Config, v view) (err error) {
	if c.BearerAudiences, err = readStrings(v, "bearer_audiences"); err != nil {
		return err
	}
	if !v.Get("bearer_audiences").Exists() {
		// Built here, not passed to stringList as a default it would return: TinyGo 0.42
		// placed such a slice literal on the stack, and it was gone after the call.
		c.BearerAudiences = []string{c.ClientID}
	}
	if len(c.BearerAudiences) == 0 {
		return configErr("bearer_audiences", "must list at least one audience (or set bearer_tokens to false)")
	}
	return nil
}

func readForwardToken(c *Config, v view) (err error) {
	if c.ForwardToken, err = readString(v, "forward_token", ""); err != nil {
		return err
	}
	switch c.ForwardToken {
	case "", forwardIDToken, forwardAccessToken:
	default:
		return configErr("forward_token", "%q must be %q or %q (or absent)", c.ForwardToken, forwardIDToken, forwardAccessToken)
	}
	if c.ForwardToken != "" && !c.SessionTokens {
		return configErr("forward_token", "needs session_tokens: the session must keep the token it forwards")
	}
	return nil
}

// readTokenHeader reads id_token_header or access_token_header: a header that carries the
// session's raw token upstream, for apps that read the token themselves. It must be free:
// not a claims_to_headers header, not the other token header.
func readTokenHeader(c *Config, v view, key string) (string, error) {
	name, err := readString(v, key, "")
	switch {
	case err != nil:
		return "", err
	case name == "" && v.Get(key).Exists():
		return "", configErr(key, "must not be empty (leave it out for no header)")
	case name == "":
		return "", nil
	}
	name = strings.ToLower(name)
	taken := map[string]bool{canonicalHeader(c.IDTokenHeader): c.IDTokenHeader != ""}
	for _, hc := range c.ClaimsToHeaders {
		taken[canonicalHeader(hc.Header)] = true
	}
	switch {
	case !isHeaderName(name) || headersNotMappable[name]:
		return "", configErr(key, "%q cannot carry a token", name)
	case taken[canonicalHeader(name)]:
		return "", configErr(key, "header %q is already used", name)
	case !c.SessionTokens:
		return "", configErr(key, "needs session_tokens: the session must keep the token")
	}
	return name, nil
}
