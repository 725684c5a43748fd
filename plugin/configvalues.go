package plugin

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// The readers of configuration values: each names its key in every error.

// getter is where a value is read from: a view (a provider's keys, inherited or its own) or
// a JSON object such as an entry of "providers".
type getter interface{ Get(key string) gjson.Result }

// Defaults for optional keys.
const (
	defaultRedirectPath = "/oauth2/callback"
	// defaultCookieName is the session cookie over HTTPS. The __Host- prefix makes browsers
	// refuse the cookie unless it is Secure, Path=/ and host-only, so a sibling subdomain
	// cannot plant one (cookie tossing). Plain-HTTP sites cannot use it and keep
	// legacyCookieName, the name of earlier releases.
	defaultCookieName = "__Host-oidc_session"
	// defaultDomainCookieName is the session cookie shared with subdomains (cookie_domain):
	// __Host- forbids a Domain, __Secure- still requires Secure.
	defaultDomainCookieName = "__Secure-oidc_session"
	legacyCookieName        = "_oidc_session"
	defaultTimeoutMS        = 5000
	maxTimeoutMS            = 60000
	defaultLogoutPath       = "/oauth2/logout"
	defaultLoginPath        = "/oauth2/start"
	defaultMaxAgeS          = 24 * 3600
	maxSessionAgeS          = 365 * 24 * 3600
)

var (
	defaultScopes          = []string{"openid", "profile", "email"}
	defaultClaimsToHeaders = []HeaderClaim{
		{Header: "x-auth-request-email", Claim: "email"},
		{Header: "x-auth-request-user", Claim: "sub"},
	}
)

// stringList reads an array of non-empty strings; nil when the key is absent.
func readStrings(root getter, key string) ([]string, error) {
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

func readRequired(root getter, key string) (string, error) {
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

func readString(root getter, key, def string) (string, error) {
	v := root.Get(key)
	if !v.Exists() {
		return def, nil
	}
	if v.Type != gjson.String {
		return "", configErr(key, "must be a string")
	}
	return v.Str, nil
}

func readBool(root getter, key string, def bool) (bool, error) {
	v := root.Get(key)
	if !v.Exists() {
		return def, nil
	}
	if v.Type != gjson.True && v.Type != gjson.False {
		return false, configErr(key, "must be true or false")
	}
	return v.Bool(), nil
}

func readInt(root getter, key string, def int) (int, error) {
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

// readIntIn reads a whole number in min..max; unit (" seconds") words the error.
func readIntIn(root getter, key string, def, min, max int, unit string) (int, error) {
	n, err := readInt(root, key, def)
	if err == nil && (n < min || n > max) {
		err = configErr(key, "%d%s is out of range %d..%d", n, unit, min, max)
	}
	return n, err
}

// readSecret reads key or key+"_env" (exactly one of them): inline for quick starts, from the
// VM's environment (Istio: vmConfig.env fed by a Kubernetes Secret) for real deployments.
func readSecret(root getter, key string, getenv func(string) (string, bool)) (string, error) {
	envKey := key + "_env"
	inline, fromEnv := root.Get(key), root.Get(envKey)
	switch {
	case inline.Exists() && fromEnv.Exists():
		return "", configErr(key, "set either %s or %s, not both", key, envKey)
	case inline.Exists():
		return readRequired(root, key)
	case fromEnv.Exists():
		name, err := readRequired(root, envKey)
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

// readCookieSecrets reads cookie_secret or cookie_secret_env: one secret, or a list of them
// (a list of environment variable names for cookie_secret_env). The first seals, every one
// opens, so a secret is rotated without logging anyone out: put the new one first, keep the
// old one until the sessions it sealed have ended (session_max_age), then drop it.
func readCookieSecrets(root getter, getenv func(string) (string, bool)) ([][]byte, error) {
	secrets, err := readSecrets(root, "cookie_secret", maxCookieSecrets, "secrets, the one that seals first", getenv)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range secrets {
		b, err := decodeCookieSecret(s.at, s.value)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// secret is one value read by readSecrets, with the key it was written at (for errors).
type secret struct{ at, value string }

// readSecrets reads key or key+"_env" (exactly one of them, see readSecret): one secret, or
// a list of 1 to max (a list of environment variable names for key+"_env"), for keys that
// rotate: the first is the one in use, the others are still honoured. what names the items
// in the error for a list of the wrong length.
func readSecrets(root getter, key string, max int, what string, getenv func(string) (string, bool)) ([]secret, error) {
	envKey := key + "_env"
	at := key
	if root.Get(envKey).Exists() && !root.Get(key).Exists() {
		at = envKey
	}
	list := root.Get(at)
	if !list.IsArray() {
		s, err := readSecret(root, key, getenv)
		if err != nil {
			return nil, err
		}
		return []secret{{at, s}}, nil
	}
	if root.Get(key).Exists() && root.Get(envKey).Exists() {
		return nil, configErr(key, "set either %s or %s, not both", key, envKey)
	}
	items := list.Array()
	if len(items) == 0 || len(items) > max {
		return nil, configErr(at, "must list 1 to %d %s", max, what)
	}
	var out []secret
	for i, item := range items {
		s := secret{at: fmt.Sprintf("%s[%d]", at, i), value: item.Str}
		if item.Type != gjson.String || item.Str == "" {
			return nil, configErr(s.at, "must be a non-empty string")
		}
		if at == envKey {
			v, ok := getenv(item.Str)
			if !ok || v == "" {
				return nil, configErr(s.at, "environment variable %q is not set or empty in the Wasm VM (Istio: vmConfig.env; Envoy: vm_config.environment_variables)", item.Str)
			}
			s.value = v
		}
		out = append(out, s)
	}
	return out, nil
}

// maxCookieSecrets bounds the secrets a cookie is tried with: each costs an AEAD open of a
// value that fails.
const maxCookieSecrets = 4

func decodeCookieSecret(key, s string) ([]byte, error) {
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

func readScopes(root getter) ([]string, error) {
	if !root.Get("scopes").Exists() {
		return append([]string(nil), defaultScopes...), nil
	}
	return readScopeList(root, "scopes")
}

// readScopeList reads a list of scopes (RFC 6749 §3.3 tokens).
func readScopeList(root getter, key string) ([]string, error) {
	v := root.Get(key)
	if !v.IsArray() {
		return nil, configErr(key, "must be an array of strings")
	}
	var out []string
	for i, s := range v.Array() {
		if s.Type != gjson.String || s.Str == "" || strings.ContainsAny(s.Str, " \t\r\n\"\\") {
			return nil, configErr(fmt.Sprintf("%s[%d]", key, i), "must be a non-empty string without spaces or quotes")
		}
		out = append(out, s.Str)
	}
	return out, nil
}

func isSafeCookieName(s string) bool {
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
