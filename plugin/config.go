package plugin

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Config is the validated plugin configuration (the JSON in Envoy's plugin configuration or
// the WasmPlugin's pluginConfig). Every field has passed validation; nothing downstream
// re-checks it.
type Config struct {
	// Where the provider applies (see providers.go). A configuration without "providers"
	// is one provider with no name, for every host and path.
	Name       string
	Hosts      []string // exact host names, "*.<domain>" or "*", lower-case, without port
	PathPrefix string   // "" for every path

	Issuer       string
	Cluster      string
	ClientID     string
	ClientSecret string
	CookieSecret []byte
	CookieName   string
	CookieSecure bool
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
	BearerAcceptLoginTokens bool   // accept ID tokens of interactive logins (with a nonce) as bearer tokens
	ForwardToken            string // "", "id_token" or "access_token"

	// Userinfo: merge the userinfo endpoint's claims into the session at login.
	Userinfo bool

	// Headers carrying the session's raw tokens upstream ("" for none).
	IDTokenHeader     string
	AccessTokenHeader string

	// Authorization rules, first match by path prefix; with AuthorizationCaseInsensitive a
	// prefix also covers every letter-case spelling of its paths.
	Authorization                []AuthzRule
	AuthorizationCaseInsensitive bool
	GroupsClaim                  string

	// EmailTrust says when the email claim names the user, for email conditions and for
	// headers mapped from it.
	EmailTrust oidc.EmailTrust

	// Logout.
	LogoutPath           string
	LogoutRedirect       string // local page after logout when the IdP has no end_session_endpoint
	AllowedRedirectHosts []string
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
	for _, name := range []string{c.IDTokenHeader, c.AccessTokenHeader} {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
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

// configKeys lists every key the plugin accepts; anything else is refused so that a typo
// (say "skip_path") never silently turns into an open door. The README's reference is
// checked against this list by a test.
var configKeys = []string{
	"issuer", "cluster", "client_id", "client_secret", "client_secret_env",
	"cookie_secret", "cookie_secret_env", "cookie_name", "cookie_secure",
	"redirect_path", "scopes", "skip_paths", "claims_to_headers", "timeout_ms",
	"session_max_age", "session_idle_timeout", "session_tokens",
	"bearer_tokens", "bearer_audiences", "bearer_accept_login_tokens", "forward_token",
	"logout_path", "logout_redirect", "allowed_redirect_hosts", "userinfo",
	"authorization", "authorization_case_insensitive", "assume_email_verified", "groups_claim", "id_token_header", "access_token_header",
}

// Defaults for optional keys.
const (
	defaultRedirectPath = "/oauth2/callback"
	// defaultCookieName is the session cookie over HTTPS. The __Host- prefix makes browsers
	// refuse the cookie unless it is Secure, Path=/ and host-only, so a sibling subdomain
	// cannot plant one (cookie tossing). Plain-HTTP sites cannot use it and keep
	// legacyCookieName, the name of earlier releases.
	defaultCookieName = "__Host-oidc_session"
	legacyCookieName  = "_oidc_session"
	defaultTimeoutMS  = 5000
	maxTimeoutMS      = 60000
	defaultLogoutPath = "/oauth2/logout"
	defaultMaxAgeS    = 24 * 3600
	maxSessionAgeS    = 365 * 24 * 3600
)

var (
	defaultScopes          = []string{"openid", "profile", "email"}
	defaultClaimsToHeaders = []HeaderClaim{
		{Header: "x-auth-request-email", Claim: "email"},
		{Header: "x-auth-request-user", Claim: "sub"},
	}
)

// ParseConfig validates the configuration and returns one Config per identity provider, in
// the order the configuration lists them. A configuration without "providers" is a single
// provider for every host. getenv reads the VM's environment (os.LookupEnv in the plugin),
// used for the *_env keys that keep secrets out of the configuration.
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
	if root.Get("providers").Exists() {
		return parseProviders(root, getenv)
	}
	if err := checkKnownKeys(root, "", configKeys); err != nil {
		return nil, err
	}
	c, err := parseProvider(root, getenv)
	if err != nil {
		return nil, err
	}
	c.Hosts = []string{anyHost}
	return []*Config{c}, nil
}

// parseProvider validates the settings of one provider: the whole configuration, or one
// entry of "providers" merged over the top-level defaults.
func parseProvider(root gjson.Result, getenv func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	var err error
	if c.Issuer, err = requiredString(root, "issuer"); err != nil {
		return nil, err
	}
	issuerURL, err := parseIssuer(c.Issuer)
	if err != nil {
		return nil, err
	}
	if c.Cluster, err = optionalString(root, "cluster", istioClusterName(issuerURL)); err != nil {
		return nil, err
	}
	if c.Cluster == "" {
		return nil, configErr("cluster", "must not be empty")
	}
	if c.ClientID, err = requiredString(root, "client_id"); err != nil {
		return nil, err
	}
	if c.ClientSecret, err = secret(root, "client_secret", getenv); err != nil {
		return nil, err
	}
	if c.CookieSecret, err = cookieSecret(root, getenv); err != nil {
		return nil, err
	}
	if c.CookieSecure, err = optionalBool(root, "cookie_secure", true); err != nil {
		return nil, err
	}
	if err := c.parseCookieName(root); err != nil {
		return nil, err
	}
	if c.RedirectPath, err = optionalString(root, "redirect_path", defaultRedirectPath); err != nil {
		return nil, err
	}
	if _, err := configPath("redirect_path", c.RedirectPath); err != nil {
		return nil, err
	}
	if c.Scopes, err = scopes(root); err != nil {
		return nil, err
	}
	if c.SkipPaths, err = parsePathRules(root.Get("skip_paths"), "skip_paths"); err != nil {
		return nil, err
	}
	if c.ClaimsToHeaders, err = claimsToHeaders(root); err != nil {
		return nil, err
	}
	timeout, err := optionalInt(root, "timeout_ms", defaultTimeoutMS)
	if err != nil {
		return nil, err
	}
	if timeout < 1 || timeout > maxTimeoutMS {
		return nil, configErr("timeout_ms", "%d is out of range 1..%d", timeout, maxTimeoutMS)
	}
	c.Timeout = time.Duration(timeout) * time.Millisecond
	if err := c.parseSessionKeys(root); err != nil {
		return nil, err
	}
	if err := c.parseBearerKeys(root); err != nil {
		return nil, err
	}
	if err := c.parseLogoutKeys(root); err != nil {
		return nil, err
	}
	if c.Userinfo, err = optionalBool(root, "userinfo", false); err != nil {
		return nil, err
	}
	if c.GroupsClaim, err = optionalString(root, "groups_claim", "groups"); err != nil {
		return nil, err
	}
	if c.GroupsClaim == "" {
		return nil, configErr("groups_claim", "must not be empty")
	}
	if c.EmailTrust.AssumeVerified, err = optionalBool(root, "assume_email_verified", false); err != nil {
		return nil, err
	}
	if c.Authorization, err = parseAuthorization(root, c.GroupsClaim, c.EmailTrust); err != nil {
		return nil, err
	}
	if c.AuthorizationCaseInsensitive, err = optionalBool(root, "authorization_case_insensitive", false); err != nil {
		return nil, err
	}
	if err := c.parseTokenHeaders(root); err != nil {
		return nil, err
	}
	return c, nil
}

// parseCookieName reads cookie_name, or picks the default for cookie_secure; a name with a
// __Host- or __Secure- prefix (any case: browsers compare it so) needs cookie_secure, or
// browsers would drop every cookie and no login could complete.
func (c *Config) parseCookieName(root gjson.Result) error {
	def := legacyCookieName
	if c.CookieSecure {
		def = defaultCookieName
	}
	var err error
	if c.CookieName, err = optionalString(root, "cookie_name", def); err != nil {
		return err
	}
	c.LegacyCookieName = c.CookieName
	if c.CookieName == defaultCookieName {
		c.LegacyCookieName = legacyCookieName
	}
	if !isCookieName(c.CookieName) {
		return configErr("cookie_name", "%q is not a valid cookie name (letters, digits, '_' and '-' only)", c.CookieName)
	}
	lower := strings.ToLower(c.CookieName)
	if (strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-")) && !c.CookieSecure {
		return configErr("cookie_name", "%q: browsers only keep __Host- and __Secure- cookies with Secure; set cookie_secure to true or choose another name", c.CookieName)
	}
	return nil
}

func (c *Config) parseSessionKeys(root gjson.Result) error {
	maxAge, err := optionalInt(root, "session_max_age", defaultMaxAgeS)
	if err != nil {
		return err
	}
	if maxAge < 60 || maxAge > maxSessionAgeS {
		return configErr("session_max_age", "%d seconds is out of range 60..%d", maxAge, maxSessionAgeS)
	}
	idle, err := optionalInt(root, "session_idle_timeout", 0)
	if err != nil {
		return err
	}
	if idle != 0 && (idle < 60 || idle > maxAge) {
		return configErr("session_idle_timeout", "%d seconds must be 0 (off) or 60..session_max_age (%d)", idle, maxAge)
	}
	c.SessionMaxAge = time.Duration(maxAge) * time.Second
	c.SessionIdleTimeout = time.Duration(idle) * time.Second
	c.SessionTokens, err = optionalBool(root, "session_tokens", true)
	return err
}

func (c *Config) parseBearerKeys(root gjson.Result) error {
	var err error
	if c.BearerTokens, err = optionalBool(root, "bearer_tokens", true); err != nil {
		return err
	}
	if c.BearerAudiences, err = stringList(root, "bearer_audiences"); err != nil {
		return err
	}
	if !root.Get("bearer_audiences").Exists() {
		// Built here, not passed to stringList as a default it would return: TinyGo 0.42
		// placed such a slice literal on the stack, and it was gone after the call.
		c.BearerAudiences = []string{c.ClientID}
	}
	if len(c.BearerAudiences) == 0 {
		return configErr("bearer_audiences", "must list at least one audience (or set bearer_tokens to false)")
	}
	if c.BearerAcceptLoginTokens, err = optionalBool(root, "bearer_accept_login_tokens", false); err != nil {
		return err
	}
	if c.ForwardToken, err = optionalString(root, "forward_token", ""); err != nil {
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

func (c *Config) parseLogoutKeys(root gjson.Result) error {
	var err error
	if c.LogoutPath, err = optionalString(root, "logout_path", defaultLogoutPath); err != nil {
		return err
	}
	if _, err := configPath("logout_path", c.LogoutPath); err != nil {
		return err
	}
	if c.LogoutPath == c.RedirectPath {
		return configErr("logout_path", "%q must differ from redirect_path", c.LogoutPath)
	}
	if c.AllowedRedirectHosts, err = stringList(root, "allowed_redirect_hosts"); err != nil {
		return err
	}
	if c.LogoutRedirect, err = optionalString(root, "logout_redirect", "/"); err != nil {
		return err
	}
	if _, ok := oidc.SafeRedirect(c.LogoutRedirect, c.AllowedRedirectHosts); !ok {
		return configErr("logout_redirect", "%q must be a path of this site or a URL on one of allowed_redirect_hosts", c.LogoutRedirect)
	}
	return nil
}

// parseTokenHeaders reads id_token_header and access_token_header: headers that carry the
// session's raw tokens upstream, for apps that read the token themselves.
func (c *Config) parseTokenHeaders(root gjson.Result) error {
	taken := map[string]bool{}
	for _, hc := range c.ClaimsToHeaders {
		taken[canonicalHeader(hc.Header)] = true
	}
	for _, th := range []struct {
		key string
		dst *string
	}{{"id_token_header", &c.IDTokenHeader}, {"access_token_header", &c.AccessTokenHeader}} {
		name, err := optionalString(root, th.key, "")
		if err != nil || name == "" {
			if err == nil && root.Get(th.key).Exists() {
				err = configErr(th.key, "must not be empty (leave it out for no header)")
			}
			if err != nil {
				return err
			}
			continue
		}
		name = strings.ToLower(name)
		switch {
		case !isHeaderName(name) || headersNotMappable[name]:
			return configErr(th.key, "%q cannot carry a token", name)
		case taken[canonicalHeader(name)]:
			return configErr(th.key, "header %q is already used", name)
		case !c.SessionTokens:
			return configErr(th.key, "needs session_tokens: the session must keep the token")
		}
		taken[canonicalHeader(name)] = true
		*th.dst = name
	}
	return nil
}

// stringList reads an array of non-empty strings; nil when the key is absent.
func stringList(root gjson.Result, key string) ([]string, error) {
	v := root.Get(key)
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, configErr(key, "must be an array of strings")
	}
	out := []string{}
	for i, item := range v.Array() {
		if item.Type != gjson.String || strings.TrimSpace(item.Str) == "" {
			return nil, configErr(fmt.Sprintf("%s[%d]", key, i), "must be a non-empty string")
		}
		out = append(out, item.Str)
	}
	return out, nil
}

func isAbsolutePath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "?#\\ \t\r\n")
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

func parseIssuer(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, configErr("issuer", "%q must be an absolute http(s) URL without query or fragment", issuer)
	}
	return u, nil
}

// istioClusterName is the cluster Istio creates for a ServiceEntry or Service on the issuer's
// host and port: "outbound|<port>||<host>".
func istioClusterName(issuer *url.URL) string {
	port := issuer.Port()
	if port == "" {
		port = "443"
		if issuer.Scheme == "http" {
			port = "80"
		}
	}
	return "outbound|" + port + "||" + issuer.Hostname()
}

func requiredString(root gjson.Result, key string) (string, error) {
	v := root.Get(key)
	if !v.Exists() {
		return "", configErr(key, "required")
	}
	if v.Type != gjson.String {
		return "", configErr(key, "must be a string")
	}
	if v.Str == "" {
		return "", configErr(key, "must not be empty")
	}
	return v.Str, nil
}

func optionalString(root gjson.Result, key, def string) (string, error) {
	v := root.Get(key)
	if !v.Exists() {
		return def, nil
	}
	if v.Type != gjson.String {
		return "", configErr(key, "must be a string")
	}
	return v.Str, nil
}

func optionalBool(root gjson.Result, key string, def bool) (bool, error) {
	v := root.Get(key)
	if !v.Exists() {
		return def, nil
	}
	if v.Type != gjson.True && v.Type != gjson.False {
		return false, configErr(key, "must be true or false")
	}
	return v.Bool(), nil
}

func optionalInt(root gjson.Result, key string, def int) (int, error) {
	v := root.Get(key)
	if !v.Exists() {
		return def, nil
	}
	n, err := strconv.Atoi(v.Raw)
	if v.Type != gjson.Number || err != nil {
		return 0, configErr(key, "must be a whole number")
	}
	return n, nil
}

// secret reads key or key+"_env" (exactly one of them): inline for quick starts, from the
// VM's environment (Istio: vmConfig.env fed by a Kubernetes Secret) for real deployments.
func secret(root gjson.Result, key string, getenv func(string) (string, bool)) (string, error) {
	envKey := key + "_env"
	inline, fromEnv := root.Get(key), root.Get(envKey)
	switch {
	case inline.Exists() && fromEnv.Exists():
		return "", configErr(key, "set either %s or %s, not both", key, envKey)
	case inline.Exists():
		return requiredString(root, key)
	case fromEnv.Exists():
		name, err := requiredString(root, envKey)
		if err != nil {
			return "", err
		}
		v, ok := getenv(name)
		if !ok || v == "" {
			return "", configErr(envKey, "environment variable %q is not set or empty in the Wasm VM (Istio: vmConfig.env; Envoy: vm_config.environment_variables)", name)
		}
		return v, nil
	default:
		return "", configErr(key, "required (or %s naming an environment variable)", envKey)
	}
}

func cookieSecret(root gjson.Result, getenv func(string) (string, bool)) ([]byte, error) {
	s, err := secret(root, "cookie_secret", getenv)
	if err != nil {
		return nil, err
	}
	key := "cookie_secret"
	if root.Get("cookie_secret_env").Exists() {
		key = "cookie_secret_env"
	}
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, configErr(key, "must decode to exactly 32 bytes, got %d (generate one with: openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, configErr(key, "not valid base64 (generate one with: openssl rand -base64 32)")
}

func scopes(root gjson.Result) ([]string, error) {
	v := root.Get("scopes")
	if !v.Exists() {
		return append([]string(nil), defaultScopes...), nil
	}
	if !v.IsArray() {
		return nil, configErr("scopes", "must be an array of strings")
	}
	var out []string
	for i, s := range v.Array() {
		if s.Type != gjson.String || s.Str == "" || strings.ContainsAny(s.Str, " \t\r\n\"\\") {
			return nil, configErr(fmt.Sprintf("scopes[%d]", i), "must be a non-empty string without spaces or quotes")
		}
		out = append(out, s.Str)
	}
	return out, nil
}

// headersNotMappable are headers a claim must never be written to: routing and framing
// headers, and the credentials and cookies the plugin itself manages.
var headersNotMappable = map[string]bool{
	"host": true, "cookie": true, "authorization": true, "content-length": true,
	"transfer-encoding": true, "connection": true, "te": true, "upgrade": true,
	"proxy-authorization": true, "set-cookie": true, "x-forwarded-for": true,
}

func claimsToHeaders(root gjson.Result) ([]HeaderClaim, error) {
	v := root.Get("claims_to_headers")
	if !v.Exists() {
		return append([]HeaderClaim(nil), defaultClaimsToHeaders...), nil
	}
	if !v.IsObject() {
		return nil, configErr("claims_to_headers", "must be an object mapping header name to claim path")
	}
	var out []HeaderClaim
	seen := map[string]bool{}
	var err error
	v.ForEach(func(k, path gjson.Result) bool {
		key := "claims_to_headers." + k.String()
		name := strings.ToLower(k.String())
		switch {
		case !isHeaderName(name):
			err = configErr(key, "%q is not a valid HTTP header name", k.String())
		case headersNotMappable[name]:
			err = configErr(key, "header %q cannot carry a claim", name)
		case seen[canonicalHeader(name)]:
			err = configErr(key, "header listed twice (names are compared case-insensitively, '_' equal to '-')")
		}
		if err != nil {
			return false
		}
		var hc HeaderClaim
		if hc, err = headerClaim(key, path); err != nil {
			return false
		}
		hc.Header = name
		seen[canonicalHeader(name)] = true
		out = append(out, hc)
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Header < out[j].Header })
	return out, nil
}

// headerClaim reads one claims_to_headers value: a claim path, or an object with "claim"
// and optionally "prefix", "separator" and "transform" ([{"match": regex, "replace": text}]).
func headerClaim(key string, v gjson.Result) (HeaderClaim, error) {
	hc := HeaderClaim{Separator: ","}
	if v.Type == gjson.String && v.Str != "" {
		hc.Claim = v.Str
		return hc, nil
	}
	if !v.IsObject() {
		return HeaderClaim{}, configErr(key, `must be a claim path or {"claim": path, "prefix": …, "separator": …, "transform": […]}`)
	}
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		field := key + "." + k.String()
		switch k.String() {
		case "transform":
			hc.Transforms, err = parseTransforms(val, field)
		case "claim", "prefix", "separator":
			if val.Type != gjson.String || strings.ContainsAny(val.Str, "\r\n\x00") || (k.String() != "prefix" && val.Str == "") {
				err = configErr(field, "must be a non-empty string without control characters")
			}
			switch k.String() {
			case "claim":
				hc.Claim = val.Str
			case "prefix":
				hc.Prefix = val.Str
			default:
				hc.Separator = val.Str
			}
		default:
			err = configErr(field, `unknown key (use "claim", "prefix", "separator", "transform")`)
		}
		return err == nil
	})
	if err == nil && hc.Claim == "" {
		err = configErr(key+".claim", "required")
	}
	return hc, err
}

func parseTransforms(v gjson.Result, key string) ([]Transform, error) {
	if !v.IsArray() {
		return nil, configErr(key, `must be an array of {"match": regex, "replace": text}`)
	}
	var out []Transform
	for i, item := range v.Array() {
		k := fmt.Sprintf("%s[%d]", key, i)
		match, replace := item.Get("match"), item.Get("replace")
		n := 0
		item.ForEach(func(_, _ gjson.Result) bool { n++; return true })
		if !item.IsObject() || n != 2 || match.Type != gjson.String || replace.Type != gjson.String ||
			strings.ContainsAny(replace.Str, "\r\n\x00") {
			return nil, configErr(k, `must be {"match": regex, "replace": text} (no control characters)`)
		}
		re, err := regexp.Compile(match.Str)
		if err != nil {
			return nil, configErr(k+".match", "invalid regular expression: %v", err)
		}
		out = append(out, Transform{Match: re, Replace: replace.Str})
	}
	return out, nil
}

// isHeaderName reports whether s is an RFC 9110 token, which is what Envoy accepts as a
// header name.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isCookieName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
