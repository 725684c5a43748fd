package testidp

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The one account of the oidc-provider test server (oidcprovider/server.mjs). Its login form takes
// the email or the subject, with any non-empty password. Its groups claim is ["devs", "admins"].
const (
	OIDCProviderUser    = "bob@example.com"
	OIDCProviderSubject = "user-42"
	OIDCProviderName    = "Bob"
)

// oidcProviderVersion is the npm package pinned in oidcprovider/package.json; it names the cache
// directory so an upgrade never reuses an old install.
const oidcProviderVersion = "9.13.3"

const (
	// oidcProviderStartTimeout bounds the wait for discovery. Node starts the server in well under
	// a second; 30 s leaves room for a loaded CI machine, not for a wedged process.
	oidcProviderStartTimeout = 30 * time.Second
	// oidcProviderInstallTimeout bounds `npm ci`, about 20 s on a cold npm cache.
	oidcProviderInstallTimeout = 5 * time.Minute
)

// The Node side is embedded so the harness works from any package's test directory (e2e/ as well
// as this one) and the install is keyed by exactly the lock file the binary was built with.
//
//go:embed oidcprovider/server.mjs oidcprovider/package.json oidcprovider/package-lock.json
var oidcProviderFiles embed.FS

// OIDCProviderOptions configures the one client of an oidc-provider instance and its lifetimes.
// Lifetimes are whole seconds on the wire; a fraction is rounded up.
type OIDCProviderOptions struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	IDTokenTTL             time.Duration // default 1h
	AccessTokenTTL         time.Duration // default 1h
	RefreshTokenTTL        time.Duration // default 24h

	// JWKS is a private JWK Set (JSON) to sign with. Nil means a fresh RSA key at every start, so
	// that restarting on the same Addr rotates the signing key.
	JWKS []byte
	// Addr is the 127.0.0.1:<port> to listen on; empty means a free port. Give it a stopped
	// provider's Addr to restart it under the same issuer, which is how a test rotates keys.
	// Everything the old process held (sessions, codes, refresh tokens) is gone after a restart,
	// unless Store keeps it.
	Addr string
	// Store is a file in which the provider keeps its grants, tokens and sessions, every change
	// appended as it happens and replayed at start: a provider restarted (or killed and
	// restarted) with the same Store still honours every refresh token it issued. Empty keeps
	// them in memory only.
	Store string
}

// OIDCProvider is a running node oidc-provider instance owned by one test. Unlike Dex it has an
// end_session_endpoint and rotates refresh tokens, with reuse detection.
type OIDCProvider struct {
	// Issuer is http://127.0.0.1:<port>, with no path: discovery is at
	// Issuer+"/.well-known/openid-configuration", the token endpoint at Issuer+"/token".
	Issuer string
	// Addr is the listener's host:port: the address of the "cluster" the plugin calls.
	Addr         string
	ClientID     string
	ClientSecret string
	// LogPath is the provider's log (every request, every error it reports).
	LogPath string

	proc *oidcProviderProcess
}

// oidcProviderProcess is the node process behind an OIDCProvider.
type oidcProviderProcess struct {
	process
	// stdin is the write end of node's stdin pipe, never written: see startOIDCProviderOnce.
	stdin    io.Closer
	stopOnce sync.Once
}

// StartOIDCProvider installs oidc-provider (once per cache directory), starts it on a free loopback
// port (or opt.Addr), waits until it serves discovery, and stops it when the test ends, printing
// its log if the test failed. A missing node or npm fails the test, as a silent skip would hide a
// broken setup; in -short mode the test is skipped instead.
func StartOIDCProvider(t testing.TB, opt OIDCProviderOptions) *OIDCProvider {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		if testing.Short() {
			t.Skipf("needs Node.js and npm for oidc-provider: skipped in -short mode: %v", err)
		}
		t.Fatalf("oidc-provider needs Node.js and npm on PATH: %v", err)
	}
	if opt.Addr != "" {
		if host, _, err := net.SplitHostPort(opt.Addr); err != nil || host != "127.0.0.1" {
			t.Fatalf("OIDCProviderOptions.Addr = %q, want 127.0.0.1:<port>", opt.Addr)
		}
		// Whatever holds the port would answer the readiness check in place of the new process,
		// typically a provider the test forgot to Stop before restarting it.
		l, err := net.Listen("tcp", opt.Addr)
		if err != nil {
			t.Fatalf("OIDCProviderOptions.Addr %s is not free (Stop the provider there first?): %v", opt.Addr, err)
		}
		l.Close()
	}
	if opt.JWKS != nil && !json.Valid(opt.JWKS) {
		t.Fatalf("OIDCProviderOptions.JWKS is not JSON: %.100q", opt.JWKS)
	}
	installDir, err := oidcProviderInstall(npm)
	if err != nil {
		t.Fatalf("installing oidc-provider: %v", err)
	}
	dir := t.TempDir()
	if err := prepareOIDCProviderDir(dir, installDir); err != nil {
		t.Fatalf("preparing oidc-provider: %v", err)
	}
	// A free port found by listening and closing can be taken again before node binds it, so a
	// start that dies with EADDRINUSE is retried on a new port (unless the port was asked for).
	for attempt := 1; ; attempt++ {
		addr := opt.Addr
		if addr == "" {
			var err error
			if addr, err = freeAddr(); err != nil {
				t.Fatalf("starting oidc-provider: %v", err)
			}
		}
		p, logPath, err := startOIDCProviderOnce(node, dir, addr, opt, attempt)
		if err == nil {
			t.Cleanup(func() {
				p.proc.stop()
				if t.Failed() {
					logText, _ := os.ReadFile(logPath)
					t.Logf("oidc-provider log (%s):\n%s", logPath, logText)
				}
			})
			return p
		}
		if !errors.Is(err, errOIDCProviderPortTaken) || opt.Addr != "" || attempt == 3 {
			t.Fatalf("starting oidc-provider on %s: %v", addr, err)
		}
	}
}

var errOIDCProviderPortTaken = errors.New("the port was taken before oidc-provider bound it")

// startOIDCProviderOnce starts node in dir and waits for discovery; it returns the provider
// and the path of its log.
func startOIDCProviderOnce(node, dir, addr string, opt OIDCProviderOptions, attempt int) (*OIDCProvider, string, error) {
	_, port, _ := net.SplitHostPort(addr)
	p := &OIDCProvider{Issuer: "http://" + addr, Addr: addr, ClientID: opt.ClientID, ClientSecret: opt.ClientSecret}
	cfg, err := oidcProviderConfig(opt)
	if err != nil {
		return nil, "", err
	}
	// Each attempt and restart gets its own files, so a failed test's log shows every run.
	name := fmt.Sprintf("%d-%s", attempt, port)
	cfgPath := filepath.Join(dir, "config-"+name+".json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, "", fmt.Errorf("writing the configuration: %w", err)
	}
	logPath := filepath.Join(dir, "oidc-provider-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, "", fmt.Errorf("creating the log: %w", err)
	}
	cmd := exec.Command(node, "server.mjs", "--port="+port, "--config="+cfgPath, "--exit-on-stdin-close")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Never written to: the pipe only closes when this process dies, which ends the server even
	// if no cleanup ran (a `go test` timeout), portably, unlike Linux's Pdeathsig.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("creating node's stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("running %s: %w", node, err)
	}
	proc := &oidcProviderProcess{process: process{cmd: cmd, exited: make(chan struct{})}, stdin: stdin}
	go func() { proc.waitErr = cmd.Wait(); logFile.Close(); close(proc.exited) }()
	p.proc = proc

	if err := waitReady("oidc-provider", p.Issuer+"/.well-known/openid-configuration", proc.exited, oidcProviderStartTimeout); err != nil {
		proc.stop()
		logText, _ := os.ReadFile(logPath)
		if strings.Contains(string(logText), "EADDRINUSE") {
			return nil, "", fmt.Errorf("%w: %s", errOIDCProviderPortTaken, tail(logText))
		}
		if isClosed(proc.exited) {
			err = fmt.Errorf("%w (exit: %v)", err, proc.waitErr)
		}
		return nil, "", fmt.Errorf("%w; log:\n%s", err, tail(logText))
	}
	return p, logPath, nil
}

// Stop ends the provider before the test does, for a restart on the same Addr. It is safe to call
// more than once; the test's cleanup calls it too.
func (p *OIDCProvider) Stop() {
	p.proc.stop()
}

// Kill ends the provider at once (SIGKILL), as a crash would: nothing is flushed or closed
// politely.
func (p *OIDCProvider) Kill() {
	p.proc.stopOnce.Do(func() {
		if !isClosed(p.proc.exited) {
			_ = p.proc.cmd.Process.Kill()
			<-p.proc.exited
		}
	})
}

// stop ends node once (see process.stop), so the port is free at once for a restart.
func (proc *oidcProviderProcess) stop() {
	proc.stopOnce.Do(proc.process.stop)
}

// oidcProviderConfig is the JSON server.mjs reads: see the comment at the top of that file.
func oidcProviderConfig(opt OIDCProviderOptions) ([]byte, error) {
	type client struct {
		ClientID               string   `json:"client_id"`
		ClientSecret           string   `json:"client_secret"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	}
	cfg := struct {
		Client client           `json:"client"`
		TTL    map[string]int64 `json:"ttl"`
		JWKS   json.RawMessage  `json:"jwks,omitempty"`
		Store  string           `json:"store,omitempty"`
	}{
		Client: client{opt.ClientID, opt.ClientSecret, opt.RedirectURIs, opt.PostLogoutRedirectURIs},
		TTL:    map[string]int64{},
		JWKS:   opt.JWKS,
		Store:  opt.Store,
	}
	if cfg.Client.PostLogoutRedirectURIs == nil {
		cfg.Client.PostLogoutRedirectURIs = []string{}
	}
	for name, d := range map[string]time.Duration{
		"IdToken": opt.IDTokenTTL, "AccessToken": opt.AccessTokenTTL, "RefreshToken": opt.RefreshTokenTTL,
	} {
		if d < 0 {
			return nil, fmt.Errorf("the %s lifetime %v is negative", name, d)
		}
		if d > 0 {
			cfg.TTL[name] = int64((d + time.Second - 1) / time.Second)
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	return b, nil
}

var oidcProviderInstalled struct {
	once sync.Once
	dir  string
	err  error
}

// oidcProviderInstall returns a directory holding node_modules for the lock file, running `npm ci`
// once per cache directory: the tests of several packages (run in parallel by `go test ./...`)
// then share one install, and a changed lock file gets a new one.
func oidcProviderInstall(npm string) (string, error) {
	oidcProviderInstalled.once.Do(func() {
		oidcProviderInstalled.dir, oidcProviderInstalled.err = installOIDCProvider(npm)
	})
	return oidcProviderInstalled.dir, oidcProviderInstalled.err
}

func installOIDCProvider(npm string) (string, error) {
	pkg, err := oidcProviderFiles.ReadFile("oidcprovider/package.json")
	if err != nil {
		return "", fmt.Errorf("reading the embedded package.json: %w", err)
	}
	lock, err := oidcProviderFiles.ReadFile("oidcprovider/package-lock.json")
	if err != nil {
		return "", fmt.Errorf("reading the embedded package-lock.json: %w", err)
	}
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	root, err := oidcWasmCacheDir()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(root, "oidc-provider-"+oidcProviderVersion+"-"+hex.EncodeToString(sum[:6]))
	// dest appears only by the rename below, so its existence means a finished install.
	if _, err := os.Stat(filepath.Join(dest, "node_modules", "oidc-provider", "package.json")); err == nil {
		return dest, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating the cache directory: %w", err)
	}
	work, err := os.MkdirTemp(root, ".oidc-provider-install-")
	if err != nil {
		return "", fmt.Errorf("creating an install directory: %w", err)
	}
	defer os.RemoveAll(work) // a no-op once renamed
	for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", name, err)
		}
	}
	fmt.Fprintf(os.Stderr, "[testidp] installing oidc-provider %s into %s with npm ci (once; seconds to a minute, depending on the registry)\n", oidcProviderVersion, dest)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), oidcProviderInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = work
	// npm's progress goes to the test's stderr, where `go test` shows it as it comes.
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %w", work, err)
	}
	if err := os.Rename(work, dest); err != nil {
		// Another test process finished the same install first: use it.
		if _, statErr := os.Stat(filepath.Join(dest, "node_modules", "oidc-provider", "package.json")); statErr == nil {
			return dest, nil
		}
		return "", fmt.Errorf("moving the install into place: %w", err)
	}
	fmt.Fprintf(os.Stderr, "[testidp] installed oidc-provider %s in %v\n", oidcProviderVersion, time.Since(started).Round(100*time.Millisecond))
	return dest, nil
}

// oidcWasmCacheDir is the cache the Makefile and build/install-*.sh share: $OIDC_WASM_CACHE, else
// $XDG_CACHE_HOME/oidc-wasm, else ~/.cache/oidc-wasm.
func oidcWasmCacheDir() (string, error) {
	if dir := os.Getenv("OIDC_WASM_CACHE"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "oidc-wasm"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory (set OIDC_WASM_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "oidc-wasm"), nil
}

// prepareOIDCProviderDir lays out a run directory: server.mjs next to a node_modules link into
// the cache. Node resolves an ES module's imports from the script's own directory and, unlike
// require, ignores NODE_PATH, so the script has to sit beside node_modules.
func prepareOIDCProviderDir(dir, installDir string) error {
	script, err := oidcProviderFiles.ReadFile("oidcprovider/server.mjs")
	if err != nil {
		return fmt.Errorf("reading the embedded server.mjs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.mjs"), script, 0o644); err != nil {
		return fmt.Errorf("writing server.mjs: %w", err)
	}
	if err := os.Symlink(filepath.Join(installDir, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		return fmt.Errorf("linking node_modules: %w", err)
	}
	return nil
}

// LoginAtOIDCProvider plays the user at oidc-provider from the authorization URL the plugin put
// in Location: it follows the provider's redirects, fills the login form (fields "login" and
// "password"), submits the consent form, and returns the first redirect URL that leaves the
// provider's host:port without requesting it. That URL is the callback, carrying code, state and
// iss, or error and error_description when the provider refused the request (PKCE missing, say).
// Rejected credentials (the login form shown again) are an error quoting the page.
func (b *Browser) LoginAtOIDCProvider(authURL, user, password string) (callbackURL string, err error) {
	return b.login("login at oidc-provider", authURL, nil, user, password, func(p *page) (string, *url.URL, url.Values, error) {
		if consent := oidcProviderConsentForm(p.forms); consent != nil {
			return consent.submit(p.url)
		}
		return "", nil, nil, fmt.Errorf("%s %s showed neither a login nor a consent form: %s", p.method, p.url, snippet(p.body))
	})
}

// oidcProviderConsentForm finds the consent page's form, which server.mjs marks as oidc-provider's
// development interactions do, with prompt=consent.
func oidcProviderConsentForm(forms []*htmlForm) *htmlForm {
	for _, f := range forms {
		if f.fields.Get("prompt") == "consent" {
			return f
		}
	}
	return nil
}

// LogoutAtOIDCProvider plays the user at the end_session_endpoint: it requests endSessionURL (the
// RP-initiated logout URL the plugin redirected to, usually with id_token_hint,
// post_logout_redirect_uri, state and client_id), answers "yes" on the confirm form, and returns
// the redirect that leaves the provider, the post-logout redirect URI with state, without
// requesting it. A logout that ends on the provider's own page (no or an unregistered
// post_logout_redirect_uri) is an error quoting that page.
func (b *Browser) LogoutAtOIDCProvider(endSessionURL string) (postLogoutURL string, err error) {
	// The confirm page's form holds only the xsrf token; "logout=yes" is the value of a button
	// outside it (form="op.logoutForm"), which a browser adds when the user clicks it. Without
	// a session the provider sends an auto-submitting form that already carries it.
	return b.walk("logout at oidc-provider", endSessionURL, nil, confirmLogout("the provider", "xsrf", "logout", "yes"))
}
