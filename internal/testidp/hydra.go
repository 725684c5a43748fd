package testidp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The one account of the Hydra login app (hydraapps.go). Hydra has no users of its own: the
// login app checks these credentials and tells Hydra the subject.
const (
	HydraUser     = "carol@example.com"
	HydraPassword = "password"
	HydraSubject  = "carol-5e1d"
	HydraName     = "Carol"
)

// hydraStartTimeout bounds the wait for Hydra's two listeners. With DSN=memory Hydra migrates
// an in-memory SQLite database first, which takes a second or two; a minute means wedged.
const hydraStartTimeout = 60 * time.Second

// HydraOptions configures a Hydra instance: token lifetimes for every client, and the claims
// the consent app grants into ID tokens.
type HydraOptions struct {
	AccessTokenTTL time.Duration // default 1h; JWT access tokens carry it as exp
	IDTokenTTL     time.Duration // default 1h
	// IDTokenClaims are put into every ID token by the consent app (the session.id_token of its
	// accept call); nil means email (HydraUser), email_verified true, name (HydraName) and
	// groups ["devs", "admins"].
	IDTokenClaims map[string]any
}

// Hydra is a running Ory Hydra v2 with in-memory storage, JWT access tokens and the login,
// consent and logout apps the test process serves. Unlike Dex and oidc-provider it has no
// static clients: a test registers its own (CreateClient), and it can rotate the signing keys
// while running (RotateKeys).
type Hydra struct {
	// Issuer is http://127.0.0.1:<port>/ with the trailing "/" Hydra writes in discovery and in
	// tokens' iss: a relying party must be configured with exactly this string.
	Issuer string
	// Addr is the public listener's host:port: the address of the "cluster" the plugin calls.
	Addr string
	// AdminURL is http://127.0.0.1:<port> of the admin API (clients, keys, login, consent and
	// logout requests); nothing but the test process should reach it.
	AdminURL string

	appsHost string // host:port of the login, consent and logout apps
}

// StartHydra starts Hydra on free loopback ports with a fresh in-memory store, and its apps on
// an httptest server, waits until both listeners answer, and stops everything when the test
// ends; Hydra's log is printed if the test fails. A missing binary fails the test; in -short
// mode the test is skipped instead unless HYDRA_BIN names a binary (see startForTest).
func StartHydra(t testing.TB, opt HydraOptions) *Hydra {
	t.Helper()
	var h *Hydra
	startForTest(t, "Hydra", "HYDRA_BIN", func(logTo io.Writer) (stop func() error, err error) {
		h, stop, err = launchHydra(opt, logTo)
		return stop, err
	})
	return h
}

// launchHydra builds the binary if need be, starts the apps, then Hydra pointed at them.
func launchHydra(opt HydraOptions, logTo io.Writer) (*Hydra, func() error, error) {
	bin, err := installedBinary("HYDRA_BIN", "install-hydra.sh")
	if err != nil {
		return nil, nil, fmt.Errorf("obtaining the Hydra binary: %w", err)
	}
	secret, err := randomHex(32)
	if err != nil {
		return nil, nil, err
	}
	apps := &hydraApps{claims: opt.IDTokenClaims}
	if apps.claims == nil {
		apps.claims = map[string]any{"email": HydraUser, "email_verified": true, "name": HydraName, "groups": []string{"devs", "admins"}}
	}
	appServer := httptest.NewServer(apps.handler())
	var h *Hydra
	var proc *process
	err = onFreePorts(2, func(addrs []string) (err error) {
		h = &Hydra{Issuer: "http://" + addrs[0] + "/", Addr: addrs[0], AdminURL: "http://" + addrs[1],
			appsHost: strings.TrimPrefix(appServer.URL, "http://")}
		apps.admin = h.AdminURL
		cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
		// Hydra reads every configuration key from an environment variable of that name, so it
		// gets these only: a variable left in a developer's shell (LOG_FORMAT, SERVE_PUBLIC_TLS_
		// ENABLED, ...) cannot change what the test configured.
		cmd.Env = hydraEnv(addrs[0], addrs[1], h.Issuer, appServer.URL, secret, opt)
		proc, err = startProcess("hydra", cmd, logTo, hydraStartTimeout,
			h.Issuer+".well-known/openid-configuration", h.AdminURL+"/health/ready")
		return err
	})
	if err != nil {
		appServer.Close()
		return nil, nil, err
	}
	var once sync.Once
	stop := func() error {
		once.Do(func() {
			proc.stop()
			appServer.Close()
		})
		return nil
	}
	return h, stop, nil
}

// hydraEnv configures Hydra through its environment (every configuration key has a variable,
// dots as underscores), so no file is needed: both listeners on loopback, the issuer, the
// apps' URLs and the lifetimes.
func hydraEnv(publicAddr, adminAddr, issuer, appsURL, secret string, opt HydraOptions) []string {
	_, publicPort, _ := strings.Cut(publicAddr, ":")
	_, adminPort, _ := strings.Cut(adminAddr, ":")
	env := []string{
		"DSN=memory",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + publicPort,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + adminPort,
		"URLS_SELF_ISSUER=" + issuer,
		"URLS_LOGIN=" + appsURL + "/login",
		"URLS_CONSENT=" + appsURL + "/consent",
		"URLS_LOGOUT=" + appsURL + "/logout",
		"URLS_ERROR=" + appsURL + "/error",
		"URLS_POST_LOGOUT_REDIRECT=" + appsURL + "/logged-out",
		"SECRETS_SYSTEM=" + secret,
		// Access tokens as JWTs signed by Hydra's keys, so the plugin's bearer path can verify
		// them locally; the default is opaque tokens that need introspection.
		"STRATEGIES_ACCESS_TOKEN=jwt",
		"LOG_LEVEL=debug",
		// Error descriptions in answers and logs name the cause: this Hydra holds test data only.
		"LOG_LEAK_SENSITIVE_VALUES=true",
		"OAUTH2_EXPOSE_INTERNAL_ERRORS=true",
		"SQA_OPT_OUT=true",
	}
	if opt.AccessTokenTTL > 0 {
		env = append(env, "TTL_ACCESS_TOKEN="+opt.AccessTokenTTL.String())
	}
	if opt.IDTokenTTL > 0 {
		env = append(env, "TTL_ID_TOKEN="+opt.IDTokenTTL.String())
	}
	return env
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// hydraHTTP carries the test process's own calls to Hydra (admin API, token endpoint): no
// proxy from the environment, and a bound on each call so a wedged Hydra fails the test.
var hydraHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// adminCall sends in (JSON, unless nil) to the admin API at base+path and decodes the answer
// into out (unless nil). Any status but 200, 201 or 204 is an error quoting Hydra's answer.
func adminCall(base, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("hydra admin %s %s: encoding the request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hydraHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: reading the answer: %w", method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
	default:
		return fmt.Errorf("hydra admin %s %s: %s: %s", method, path, resp.Status, tail(answer))
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("hydra admin %s %s: decoding %s: %w", method, path, tail(answer), err)
		}
	}
	return nil
}
