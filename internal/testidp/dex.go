// Package testidp runs real identity providers (Dex, node oidc-provider, Ory Hydra) and plays
// the parts the tests cannot get from them: the user's browser (Browser), Hydra's login,
// consent and logout apps, and Envoy's HTTP client for DispatchHttpCall (Forward). The
// end-to-end tests use it through StartDex, StartOIDCProvider and StartHydra; the local demo
// (examples/demo) through LaunchDex and Forward. The plugin module never imports it.
package testidp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The static user every Dex instance knows. The hash is a bcrypt of DexPassword; it is written
// out because the tests may use only the standard library, which has no bcrypt.
const (
	DexUser         = "alice@example.com"
	DexPassword     = "password"
	DexUserID       = "08a8684b-db88-4b73-90a9-3cd1661f5466"
	DexUsername     = "alice"
	DexPasswordHash = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
)

// StaticUser is an extra password-database user. Tests that need a second identity (another
// email, another subject) add one; an empty Hash means the password is DexPassword.
type StaticUser struct {
	Email, Username, UserID string
	Hash                    string // bcrypt hash of the user's password
}

// DexOptions configures the one static client a test's plugin plays, the token lifetime and
// where Dex listens.
type DexOptions struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
	IDTokenTTL             time.Duration // default 10m
	ExtraUsers             []StaticUser
	// Addr fixes Dex's listener (host:port). Empty picks a free loopback port, which is what
	// tests want; the demo fixes it because its issuer and redirect URI are written in
	// examples/envoy/envoy.yaml.
	Addr string
	// Issuer, if set, is the issuer Dex puts in tokens and discovery instead of
	// http://<Addr>/dex: a name clients do not connect to, as Kubeflow's in-cluster
	// http://dex.auth.svc.cluster.local:5556/dex. Dex still listens on Addr, serving the
	// issuer's path.
	Issuer string
	// MockConnector adds Dex's mockCallback connector (id "mock"): an authorization request
	// with connector_id=mock logs in its one user, kilgore@kilgore.trout, without a form, and
	// unlike the static users it has groups (["authors"]).
	MockConnector bool
}

// Dex's mockCallback user.
const (
	DexMockUser  = "kilgore@kilgore.trout"
	DexMockGroup = "authors"
)

// Dex is a running Dex instance.
type Dex struct {
	// Issuer is exactly what Dex puts in tokens and discovery: DexOptions.Issuer, or else
	// http://<Addr>/dex.
	Issuer string
	// URL is where Dex answers: http://<Addr> and the issuer's path. It equals Issuer unless
	// DexOptions.Issuer names another host.
	URL string
	// Addr is the listener's host:port: the address of the "cluster" the plugin calls.
	Addr         string
	ClientID     string
	ClientSecret string

	exited chan struct{}
}

// Exited is closed when the Dex process ends, stopped or on its own: a long-running user such
// as the demo stops when its identity provider dies instead of answering 503 forever.
func (d *Dex) Exited() <-chan struct{} { return d.exited }

// StartDex starts Dex with a fresh in-memory store on a free loopback port, waits until it
// serves discovery, and stops it when the test ends; Dex's log is printed if the test fails. A
// missing binary fails the test; in -short mode the test is skipped instead unless DEX_BIN
// names a binary (see startForTest).
func StartDex(t testing.TB, opt DexOptions) *Dex {
	t.Helper()
	var d *Dex
	startForTest(t, "Dex", "DEX_BIN", func(logTo io.Writer) (stop func() error, err error) {
		d, stop, err = LaunchDex(opt, logTo)
		return stop, err
	})
	return d
}

// RepoRoot walks up from the working directory (a package directory under `go test`, the
// repository root under `go run`) to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// PasswordGrant mints an ID token for a user without a browser, through Dex's resource-owner
// password grant, so bearer-token tests need not drive the login form. Scopes default to
// "openid email profile".
func (d *Dex) PasswordGrant(user, pass string, scopes ...string) (idToken string, err error) {
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "profile"}
	}
	form := url.Values{
		"grant_type": {"password"},
		"username":   {user},
		"password":   {pass},
		"scope":      {strings.Join(scopes, " ")},
	}
	req, err := http.NewRequest(http.MethodPost, d.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("password grant: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 section 2.3.1: the credentials are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(d.ClientID), url.QueryEscape(d.ClientSecret))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("password grant: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("password grant: reading the response: %w", err)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("password grant for %q: %s: %s", user, resp.Status, snippet(body))
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		return "", fmt.Errorf("password grant for %q: no id_token in %s", user, snippet(body))
	}
	return tok.IDToken, nil
}
