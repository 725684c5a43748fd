package plugin

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Config is the validated plugin configuration (the JSON in Envoy's plugin configuration or
// the WasmPlugin's pluginConfig). Every field has passed validation; nothing downstream
// re-checks it.
type Config struct {
	// Where the provider applies (see configproviders.go). A configuration without "providers"
	// is one provider with no name, for every host and path.
	Name       string
	Hosts      []string // exact host names, "*.<domain>" or "*", lower-case, without port
	PathPrefix string   // "" for every path

	Issuer  string
	Cluster string
	// EndpointClusters reach IdP endpoints on hosts Cluster cannot reach: host name
	// (lower-case, without port) to Envoy cluster.
	EndpointClusters map[string]string
	// Tenants allow-lists the tenants of a multi-tenant issuer (Entra ID): its discovery
	// document names a {tenantid} template, and tokens must carry one of these tenants'
	// issuers. BearerAcceptedIssuers are further issuers bearer tokens signed with the IdP's
	// keys may carry (Entra ID's v1 issuer), {tenantid} expanded with Tenants.
	Tenants               []string
	BearerAcceptedIssuers []string
	// Endpoints are the IdP's endpoints where the configuration overrides its discovery
	// document (empty fields: discovery's). With the authorization, token and JWKS endpoints
	// all set, discovery is not fetched. The authorization and end-session endpoints may be
	// paths, on the request's own host.
	Endpoints oidc.Discovery
	// RedirectURI is sent to the IdP as configured (a path, or an absolute URL); "" sends
	// <scheme>://<authority><RedirectPath> of the request.
	RedirectURI string
	// LoginPath starts a login for any client, returning to its rd parameter.
	LoginPath string
	// AuthParams are extra authorization request parameters (authorization_params), and
	// AuthParamsFromRequest the names copied from the query of the request that starts a
	// login (login_hint).
	AuthParams            [][2]string
	AuthParamsFromRequest []string
	// RefreshScopes are sent with a refresh (refresh_scopes); nil sends none.
	RefreshScopes []string
	// LogoutURL replaces the end-session request (logout_url), a template.
	LogoutURL string
	// APIPaths answer 401 to requests without a credential, never a login redirect;
	// PagePaths send GET and HEAD requests without one to the login whatever they accept.
	APIPaths, PagePaths []PathRule
	// AllowPreflight lets CORS preflights through without authentication.
	AllowPreflight bool

	ClientID      string
	ClientSecret  string
	CookieSecrets [][]byte // the first seals, every one opens
	CookieName    string
	CookieSecure  bool
	// CookieDomains share the cookies with subdomains: the longest one the request's host
	// is or ends in becomes their Domain (lowercase, no leading dot); none, host-only.
	CookieDomains []string
	// SameSite is the session cookies' SameSite: "Lax", "Strict" or "None". A login's state
	// cookie is Lax unless this is None, since it must come back on the IdP's cross-site
	// redirect to the callback.
	SameSite string
	// LegacyCookieName is the session cookie name releases before __Host- names used (see
	// defaultCookieName); sessions under it, sealed before the name was bound into sealed
	// data, are still read for one release and moved to CookieName, so nobody is logged out
	// by the upgrade. It is CookieName when the name did not change.
	LegacyCookieName string
	RedirectPath     string
	Scopes           []string
	SkipPaths        []PathRule
	ClaimsToHeaders  []HeaderClaim
	Timeout          time.Duration

	// Sessions over time.
	SessionMaxAge      time.Duration // absolute lifetime from login
	SessionIdleTimeout time.Duration // 0: no idle limit
	SessionTokens      bool          // keep ID, access and refresh tokens in the session

	// API clients.
	BearerTokens            bool
	BearerAudiences         []string
	BearerAcceptLoginTokens bool     // accept ID tokens of interactive logins (with a nonce) as bearer tokens
	BearerPassthrough       bool     // let bearer tokens through unverified, for the mesh to judge
	BearerAudienceClaims    []string // claims a bearer token's audience is read from, the first present
	BearerIssuers           []BearerIssuer
	ForwardToken            string // "", "id_token" or "access_token"

	// Userinfo: merge the userinfo endpoint's claims into the session at login.
	Userinfo bool

	// Headers carrying the session's raw tokens upstream ("" for none).
	IDTokenHeader     string
	AccessTokenHeader string
	// Assertion is the signed identity assertion set for apps (configassertion.go).
	Assertion AssertionConfig

	// Authorization rules, first match by path prefix; with AuthorizationCaseInsensitive a
	// prefix also covers every letter-case spelling of its paths.
	Authorization                []AuthzRule
	AuthorizationCaseInsensitive bool
	GroupsClaim                  string
	// GroupsOverageCluster reaches Microsoft Graph, to read the groups of a user whose Entra
	// ID token carries a groups overage; "" reads none.
	GroupsOverageCluster string

	// EmailTrust says when the email claim names the user, for email conditions and for
	// headers mapped from it.
	EmailTrust oidc.EmailTrust

	// Logout.
	LogoutPath           string
	LogoutRedirect       string // local page after logout when the IdP has no end_session_endpoint
	AllowedRedirectHosts []string
	// redirectHosts are AllowedRedirectHosts and the hosts under CookieDomains (see
	// safeRedirect).
	redirectHosts []string
}

// Values of forward_token.
const (
	forwardIDToken     = "id_token"
	forwardAccessToken = "access_token"
)

// HeaderClaim maps one upstream request header to a claim path (gjson syntax). Arrays are
// joined with Separator; Transforms rewrite the value in order (Kubeflow's
// USERID_TRANSFORMERS); Prefix is prepended last (Kubeflow's USERID_PREFIX).
type HeaderClaim struct {
	Header     string // lower-case
	Claim      string
	Prefix     string
	Separator  string
	Transforms []Transform
}

// Transform replaces what Match matches with Replace (regexp.ReplaceAllString syntax).
type Transform struct {
	Match   *regexp.Regexp
	Replace string
}

// managedHeaders are the request headers this provider sets: always removed from what a
// client sends, so only the plugin can have written them.
func (c *Config) managedHeaders() []string {
	var out []string
	for _, hc := range c.ClaimsToHeaders {
		out = append(out, hc.Header)
	}
	for _, bi := range c.BearerIssuers {
		for _, hc := range bi.ClaimsToHeaders {
			out = append(out, hc.Header)
		}
	}
	for _, name := range []string{c.IDTokenHeader, c.AccessTokenHeader, c.Assertion.Header} {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

// discoveryConfigured reports whether the configuration names every endpoint the plugin
// needs, so the discovery document is not fetched.
func (c *Config) discoveryConfigured() bool {
	e := c.Endpoints
	return e.AuthorizationEndpoint != "" && e.TokenEndpoint != "" && e.JWKSURI != ""
}

// forwardsTokens reports whether the session's tokens go upstream (forward_token,
// id_token_header, access_token_header), where they must never arrive expired.
func (c *Config) forwardsTokens() bool {
	return c.ForwardToken != "" || c.IDTokenHeader != "" || c.AccessTokenHeader != ""
}

// forwardsIDToken reports whether the session's ID token goes upstream.
func (c *Config) forwardsIDToken() bool {
	return c.ForwardToken == forwardIDToken || c.IDTokenHeader != ""
}

// StateCookieName is the cookie holding a login in progress; derived so that two plugins
// with different cookie names never read each other's state.
func (c *Config) StateCookieName() string { return c.CookieName + "_state" }

// ConfigError names the configuration key at fault, so an operator reading Envoy's log at
// plugin start knows exactly what to fix.
type ConfigError struct {
	Key     string
	Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("configuration key %q: %s", e.Key, e.Problem)
}

func configErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// ParseConfig validates the configuration and returns one Config per identity provider, in
// the order the configuration lists them. A configuration without "providers" is a single
// provider for every host. getenv reads the VM's environment (os.LookupEnv in the plugin),
// used for the *_env keys that keep secrets out of the configuration.
//
// Every key is one entry of configKeys (configkeys.go): where it may appear, its default, its
// documentation and how it is read. Each provider reads every key through a view: its own
// entry's value, else the top level's, so top-level keys are defaults every entry inherits.
func ParseConfig(data []byte, getenv func(string) (string, bool)) ([]*Config, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, configErr("(root)", "configuration is empty; at least issuer, client_id, a client secret and a cookie secret are required")
	}
	if !oidc.ValidJSON(data) {
		return nil, configErr("(root)", "not valid JSON (or nested too deeply)")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, configErr("(root)", "must be a JSON object")
	}
	if err := checkKnownKeys(root, "", keysAt(topLevel)); err != nil {
		return nil, err
	}
	if !root.Get("providers").Exists() {
		c, err := readProvider(view{root: root, getenv: getenv})
		if err != nil {
			return nil, err
		}
		c.Hosts = []string{anyHost}
		return []*Config{c}, nil
	}
	return parseProviders(root, getenv)
}

// view is the configuration as one provider sees it: the keys of its entry of "providers"
// (none without "providers"), then those of the top level.
type view struct {
	root, entry gjson.Result
	at          string // "providers[1]" for an entry, "" for a configuration without providers
	getenv      func(string) (string, bool)
}

// Get returns the value of a key as the provider sees it. Keys were checked against the
// table before, so each is a plain name, safe as a gjson path, and the top level holds no
// entry-only key.
func (v view) Get(key string) gjson.Result {
	if e := v.entry.Get(key); e.Exists() {
		return e
	}
	return v.root.Get(key)
}

// readProvider reads every key of the table into one provider's Config: the entry-only keys
// first, then the others in table order.
func readProvider(v view) (*Config, error) {
	c := &Config{}
	for _, entryKeys := range [...]bool{true, false} {
		for _, k := range configKeys {
			if k.read == nil || k.where == topOnly || (k.where == entryOnly) != entryKeys || entryKeys && v.at == "" {
				continue
			}
			if err := k.read(c, v); err != nil {
				return nil, v.locate(err)
			}
		}
	}
	return c, nil
}

// locate makes an error of an entry name the key where its value was written: inside the
// entry ("providers[1].client_id"), or at the top level when the entry inherited it.
func (v view) locate(err error) error {
	var ce *ConfigError
	if v.at == "" || !errors.As(err, &ce) {
		return err
	}
	top := strings.FieldsFunc(ce.Key, func(r rune) bool { return r == '.' || r == '[' })[0]
	if v.entry.Get(top).Exists() || !v.root.Get(top).Exists() {
		return &ConfigError{Key: v.at + "." + ce.Key, Problem: ce.Problem}
	}
	return &ConfigError{Key: ce.Key, Problem: ce.Problem + " (inherited by " + v.at + ")"}
}

// checkKnownKeys refuses any key of obj not in known, and any key given twice (parsers
// disagree on which one counts); prefix locates obj in the configuration ("" for the top
// level, "providers[1]." for an entry).
func checkKnownKeys(obj gjson.Result, prefix string, known []string) error {
	var err error
	seen := map[string]bool{}
	obj.ForEach(func(k, _ gjson.Result) bool {
		switch {
		case !slices.Contains(known, k.String()):
			err = configErr(prefix+k.String(), "unknown key (accepted keys: %s)", strings.Join(known, ", "))
		case seen[k.String()]:
			err = configErr(prefix+k.String(), "given twice")
		}
		seen[k.String()] = true
		return err == nil
	})
	return err
}
