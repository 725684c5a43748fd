package plugin

import (
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The readers of the signed identity assertion's keys (assertion.go): its signing keys, the
// header, the claims the gateway adds, and where the public keys are served.

// AssertionConfig is a provider's signed identity assertion; Keys is empty when it has none.
type AssertionConfig struct {
	Keys     []*oidc.AssertionKey // the first signs; every one is published
	JWKS     []byte               // the JWK Set served at JWKSPath, built once from Keys
	Header   string               // lower-case
	Issuer   string
	TTL      time.Duration
	JWKSPath string
}

// Defaults and bounds of the assertion keys.
const (
	defaultAssertionHeader   = "x-oidc-wasm-assertion"
	defaultAssertionIssuer   = "oidc-wasm"
	defaultAssertionJWKSPath = "/.well-known/oidc-wasm/jwks.json"
	defaultAssertionTTLS     = 300
	// The lifetime's floor keeps an assertion usable across the clock skew verifiers allow
	// (Istio's jwt_authn: 60 s); its ceiling bounds how long one outlives a logout.
	minAssertionTTLS = 60
	maxAssertionTTLS = 3600
	// maxAssertionKeys bounds the rotation list, every key of which the JWKS publishes.
	maxAssertionKeys = 4
)

// readAssertionKeys reads assertion_key or assertion_key_env: one PEM private key, or a list,
// the first of which signs. Left out, the provider signs nothing.
func readAssertionKeys(c *Config, v view) error {
	if !v.Get("assertion_key").Exists() && !v.Get("assertion_key_env").Exists() {
		return nil
	}
	keys, err := readSecrets(v, "assertion_key", maxAssertionKeys, "keys, the one that signs first", v.getenv)
	if err != nil {
		return err
	}
	seen := map[string]string{}
	for _, s := range keys {
		k, err := oidc.ParseAssertionKey([]byte(s.value))
		if err != nil {
			return configErr(s.at, "%v", err)
		}
		if first, ok := seen[k.KID()]; ok {
			return configErr(s.at, "the same key as %s", first)
		}
		seen[k.KID()] = s.at
		c.Assertion.Keys = append(c.Assertion.Keys, k)
	}
	c.Assertion.JWKS = oidc.AssertionJWKS(c.Assertion.Keys)
	return nil
}

// assertionSetting reports whether an assertion key other than the keys themselves is to be
// read: they only mean something with a key, and one written without is refused rather than
// ignored, so a forgotten assertion_key_env cannot pass for a working setup.
func assertionSetting(c *Config, v view, key string) (bool, error) {
	if len(c.Assertion.Keys) > 0 {
		return true, nil
	}
	if v.Get(key).Exists() {
		return false, configErr(key, "needs assertion_key or assertion_key_env")
	}
	return false, nil
}

// readAssertionHeader reads assertion_header: a header name free of every other use, since
// the plugin strips it from every request and sets it itself.
func readAssertionHeader(c *Config, v view) error {
	if on, err := assertionSetting(c, v, "assertion_header"); !on {
		return err
	}
	name, err := readString(v, "assertion_header", defaultAssertionHeader)
	if err != nil {
		return err
	}
	name = strings.ToLower(name)
	if !isHeaderName(name) || headersNotMappable[name] {
		return configErr("assertion_header", "%q cannot carry the assertion", name)
	}
	for _, taken := range c.managedHeaders() {
		if canonicalHeader(taken) == canonicalHeader(name) {
			return configErr("assertion_header", "header %q is already used", name)
		}
	}
	c.Assertion.Header = name
	return nil
}

// readAssertionIssuer reads assertion_issuer, the iss of every assertion: the gateway's name
// as apps and Istio's jwtRules know it.
func readAssertionIssuer(c *Config, v view) error {
	if on, err := assertionSetting(c, v, "assertion_issuer"); !on {
		return err
	}
	def := defaultAssertionIssuer
	if c.Name != "" {
		def += "/" + c.Name
	}
	iss, err := readString(v, "assertion_issuer", def)
	if err == nil && (iss == "" || len(iss) > 256 || strings.ContainsFunc(iss, isControl)) {
		err = configErr("assertion_issuer", "must be 1 to 256 characters without control characters")
	}
	c.Assertion.Issuer = iss
	return err
}

func readAssertionTTL(c *Config, v view) error {
	if on, err := assertionSetting(c, v, "assertion_ttl"); !on {
		return err
	}
	s, err := readIntIn(v, "assertion_ttl", defaultAssertionTTLS, minAssertionTTLS, maxAssertionTTLS, " seconds")
	c.Assertion.TTL = time.Duration(s) * time.Second
	return err
}

// readAssertionJWKSPath reads assertion_jwks_path, which the plugin answers itself before
// any other path decision: it must be none of the plugin's other paths.
func readAssertionJWKSPath(c *Config, v view) (err error) {
	if on, err := assertionSetting(c, v, "assertion_jwks_path"); !on {
		return err
	}
	if c.Assertion.JWKSPath, err = readString(v, "assertion_jwks_path", c.PathPrefix+defaultAssertionJWKSPath); err != nil {
		return err
	}
	if _, err := configPath("assertion_jwks_path", c.Assertion.JWKSPath); err != nil {
		return err
	}
	switch c.Assertion.JWKSPath {
	case c.RedirectPath, c.LogoutPath, c.LoginPath:
		return configErr("assertion_jwks_path", "%q must differ from redirect_path, logout_path and login_path", c.Assertion.JWKSPath)
	}
	return nil
}
