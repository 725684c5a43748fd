// Package testidp runs a real Dex identity provider for end-to-end tests and plays the parts the
// tests cannot get from Dex: the user's browser (Browser) and Envoy's HTTP client for
// DispatchHttpCall (Forward). Nothing shipped imports it.
package testidp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// dexStartTimeout bounds the wait for Dex's discovery document; a cold start takes well under a
// second, so reaching it means Dex is wedged rather than slow.
const dexStartTimeout = 60 * time.Second

// StaticUser is an extra password-database user. Tests that need a second identity (another
// email, another subject) add one; an empty Hash means the password is DexPassword.
type StaticUser struct {
	Email, Username, UserID string
	Hash                    string // bcrypt hash of the user's password
}

// DexOptions configures the one static client a test's plugin plays, and the token lifetime.
type DexOptions struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
	IDTokenTTL             time.Duration // default 10m
	ExtraUsers             []StaticUser
}

// Dex is a running Dex instance owned by one test.
type Dex struct {
	// Issuer is http://127.0.0.1:<port>/dex, exactly as Dex puts it in tokens and discovery.
	Issuer string
	// Addr is the web listener's host:port: the address of the "cluster" the plugin calls.
	Addr         string
	ClientID     string
	ClientSecret string
}

// StartDex starts Dex with a fresh in-memory store on free loopback ports, waits until it serves
// discovery, and stops it when the test ends. A missing binary fails the test: the end-to-end
// tests are the point of this package, so a silent skip would hide a broken setup. In -short
// mode the test is skipped instead unless DEX_BIN names a binary, since getting Dex may mean a
// build of several minutes.
func StartDex(t testing.TB, opt DexOptions) *Dex {
	t.Helper()
	if testing.Short() && os.Getenv("DEX_BIN") == "" {
		t.Skip("needs the Dex binary: skipped in -short mode unless DEX_BIN is set")
	}
	bin, err := dexBinary()
	if err != nil {
		t.Fatalf("obtaining the Dex binary: %v", err)
	}
	if opt.IDTokenTTL == 0 {
		opt.IDTokenTTL = 10 * time.Minute
	}
	dir := t.TempDir()
	// A free port found by listening and closing can be taken again before Dex binds it, so a
	// start that dies with "address already in use" is retried on new ports.
	for attempt := 1; ; attempt++ {
		d, err := startDexOnce(t, bin, dir, opt, attempt)
		if err == nil {
			return d
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("starting Dex: %v", err)
		}
	}
}

var errPortTaken = errors.New("a port was taken before Dex bound it")

func startDexOnce(t testing.TB, bin, dir string, opt DexOptions, attempt int) (*Dex, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	d := &Dex{
		Addr:         fmt.Sprintf("127.0.0.1:%d", ports[0]),
		ClientID:     opt.ClientID,
		ClientSecret: opt.ClientSecret,
	}
	d.Issuer = "http://" + d.Addr + "/dex"
	cfgPath := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", attempt))
	cfg := dexConfig(d.Issuer, d.Addr, ports[1], ports[2], opt)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("writing Dex config: %w", err)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("dex-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating Dex log: %w", err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Dex expands $VARS in parts of its config; bcrypt hashes are full of '$'.
	cmd.Env = append(os.Environ(), "DEX_EXPAND_ENV=false")
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); logFile.Close(); close(exited) }()

	err = waitReady(d.Issuer+"/.well-known/openid-configuration", exited)
	if err != nil {
		stopDex(cmd, exited)
		logText, _ := os.ReadFile(logPath)
		if bytes.Contains(logText, []byte("address already in use")) {
			return nil, fmt.Errorf("%w: %s", errPortTaken, tail(logText))
		}
		if isClosed(exited) {
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		}
		return nil, fmt.Errorf("%w; Dex log:\n%s", err, tail(logText))
	}
	t.Cleanup(func() {
		stopDex(cmd, exited)
		if t.Failed() {
			logText, _ := os.ReadFile(logPath)
			t.Logf("Dex log (%s):\n%s", logPath, logText)
		}
	})
	return d, nil
}

// waitReady polls discovery because Dex has no readiness signal on its own listeners; telemetry's
// /healthz says nothing about the web listener the tests use.
func waitReady(discoveryURL string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(dexStartTimeout)
	var last string
	for time.Now().Before(deadline) {
		if isClosed(exited) {
			return fmt.Errorf("dex exited before serving %s", discoveryURL)
		}
		resp, err := client.Get(discoveryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("dex did not serve %s within %v (last: %s)", discoveryURL, dexStartTimeout, last)
}

// stopDex asks politely first so Dex can close its listeners, then kills it.
func stopDex(cmd *exec.Cmd, exited <-chan struct{}) {
	if isClosed(exited) {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tail keeps error messages readable when Dex logged a lot before dying.
func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		return "..." + string(b[len(b)-max:])
	}
	return string(b)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		// Closed only after all are chosen, so the n ports differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// q quotes a string for YAML: a JSON string is a valid YAML double-quoted scalar, and
// encoding/json escapes everything YAML could misread.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func dexConfig(issuer, webAddr string, grpcPort, telemetryPort int, opt DexOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\n", q(issuer))
	b.WriteString("storage:\n  type: memory\n")
	fmt.Fprintf(&b, "web:\n  http: %s\n", q(webAddr))
	fmt.Fprintf(&b, "grpc:\n  addr: %s\n", q(fmt.Sprintf("127.0.0.1:%d", grpcPort)))
	fmt.Fprintf(&b, "telemetry:\n  http: %s\n", q(fmt.Sprintf("127.0.0.1:%d", telemetryPort)))
	b.WriteString("logger:\n  level: \"debug\"\n")
	b.WriteString("oauth2:\n  skipApprovalScreen: true\n  responseTypes: [\"code\"]\n")
	b.WriteString("  passwordConnector: \"local\"\n")
	fmt.Fprintf(&b, "expiry:\n  idTokens: %s\n", q(opt.IDTokenTTL.String()))
	b.WriteString("staticClients:\n")
	fmt.Fprintf(&b, "- id: %s\n  secret: %s\n  name: %s\n  redirectURIs:\n",
		q(opt.ClientID), q(opt.ClientSecret), q(opt.ClientID))
	for _, u := range opt.RedirectURIs {
		fmt.Fprintf(&b, "  - %s\n", q(u))
	}
	b.WriteString("enablePasswordDB: true\nstaticPasswords:\n")
	users := append([]StaticUser{{Email: DexUser, Username: DexUsername, UserID: DexUserID}}, opt.ExtraUsers...)
	for _, u := range users {
		if u.Hash == "" {
			u.Hash = DexPasswordHash
		}
		fmt.Fprintf(&b, "- email: %s\n  hash: %s\n  username: %s\n  userID: %s\n",
			q(u.Email), q(u.Hash), q(u.Username), q(u.UserID))
	}
	return b.String()
}

var dexBin struct {
	once sync.Once
	path string
	err  error
}

// dexBinary resolves the binary once per test process: install-dex.sh may build for minutes,
// and a failed build would fail the same way for every test.
func dexBinary() (string, error) {
	dexBin.once.Do(func() {
		if p := os.Getenv("DEX_BIN"); p != "" {
			dexBin.path = p
			return
		}
		root, err := repoRoot()
		if err != nil {
			dexBin.err = err
			return
		}
		script := filepath.Join(root, "build", "install-dex.sh")
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			dexBin.err = fmt.Errorf("bash %s: %w\n%s", script, err, tail(stderr.Bytes()))
			return
		}
		dexBin.path = strings.TrimSpace(string(out))
		if dexBin.path == "" {
			dexBin.err = fmt.Errorf("bash %s printed no path\n%s", script, tail(stderr.Bytes()))
		}
	})
	return dexBin.path, dexBin.err
}

// repoRoot walks up from the working directory (a package directory under `go test`) to go.mod.
func repoRoot() (string, error) {
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
	req, err := http.NewRequest(http.MethodPost, d.Issuer+"/token", strings.NewReader(form.Encode()))
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
