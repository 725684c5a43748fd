package testidp

import (
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
	"time"
)

// dexStartTimeout bounds the wait for Dex's discovery document; a cold start takes well under a
// second, so reaching it means Dex is wedged rather than slow.
const dexStartTimeout = 60 * time.Second

// errPortTaken marks a start that failed because the listen address was in use.
var errPortTaken = errors.New("address already in use")

// LaunchDex starts Dex with a fresh in-memory store, waits until it serves discovery and
// returns it with the function that stops it. Dex's log goes to logTo (nil discards it). stop
// ends Dex (SIGTERM, SIGKILL after 5 s) and removes its configuration; calling it again does
// nothing. Unlike StartDex it needs no test, so programs such as the demo can run Dex too.
//
// With opt.Addr empty Dex listens on a free loopback port; a free port can be taken by another
// process before Dex binds it, so such a start is retried on new ports. A fixed opt.Addr that
// is in use fails at once with an error that says so.
func LaunchDex(opt DexOptions, logTo io.Writer) (*Dex, func() error, error) {
	bin, err := installedBinary("DEX_BIN", "install-dex.sh")
	if err != nil {
		return nil, nil, fmt.Errorf("obtaining the Dex binary: %w", err)
	}
	if opt.IDTokenTTL == 0 {
		opt.IDTokenTTL = 10 * time.Minute
	}
	if logTo == nil {
		logTo = io.Discard
	}
	dir, err := os.MkdirTemp("", "oidc-wasm-dex-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating Dex's configuration directory: %w", err)
	}
	var d *Dex
	var stop func() error
	if opt.Addr != "" {
		if err = checkFree(opt.Addr); err == nil {
			d, stop, err = launchOnce(bin, dir, opt.Addr, opt, logTo)
		}
	} else {
		err = onFreePorts(1, func(addrs []string) (err error) {
			d, stop, err = launchOnce(bin, dir, addrs[0], opt, logTo)
			return err
		})
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return d, stop, nil
}

func launchOnce(bin, dir, addr string, opt DexOptions, logTo io.Writer) (*Dex, func() error, error) {
	d := &Dex{
		Addr:         addr,
		Issuer:       "http://" + addr + "/dex",
		URL:          "http://" + addr + "/dex",
		ClientID:     opt.ClientID,
		ClientSecret: opt.ClientSecret,
	}
	if opt.Issuer != "" {
		u, err := url.Parse(opt.Issuer)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, nil, fmt.Errorf("dex issuer %q: want an absolute http(s) URL", opt.Issuer)
		}
		d.Issuer, d.URL = opt.Issuer, "http://"+addr+u.Path
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(dexConfig(d.Issuer, d.Addr, opt)), 0o600); err != nil {
		return nil, nil, fmt.Errorf("writing Dex's configuration: %w", err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	// Dex expands $VARS in parts of its config; bcrypt hashes are full of '$'.
	cmd.Env = append(os.Environ(), "DEX_EXPAND_ENV=false")
	proc, err := startProcess("dex", cmd, logTo, dexStartTimeout, d.URL+"/.well-known/openid-configuration")
	if err != nil {
		return nil, nil, err
	}
	d.exited = proc.exited
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			proc.stop()
			if err := os.RemoveAll(dir); err != nil {
				stopErr = fmt.Errorf("removing Dex's configuration: %w", err)
			}
		})
		return stopErr
	}
	return d, stop, nil
}

// process is a server a test or the demo runs as a child (Dex, Hydra).
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// startProcess runs cmd, its output to logTo, and waits until every readyURL answers 200
// (what names the server in errors). A server that does not get ready is stopped, and the
// error quotes the end of its log; it wraps errPortTaken when the server could not bind its
// port, so that the caller can retry on another.
func startProcess(what string, cmd *exec.Cmd, logTo io.Writer, timeout time.Duration, readyURLs ...string) (*process, error) {
	logTail := &lastBytes{}
	cmd.Stdout = io.MultiWriter(logTo, logTail)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = ChildProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(timeout)
	for _, u := range readyURLs {
		err := waitReady(what, u, p.exited, time.Until(deadline))
		if err == nil {
			continue
		}
		p.stop()
		logText := logTail.String()
		if strings.Contains(logText, "address already in use") {
			return nil, fmt.Errorf("%s cannot listen: %w; %s log:\n%s", what, errPortTaken, what, logText)
		}
		if isClosed(p.exited) {
			err = fmt.Errorf("%w (exit: %v)", err, p.waitErr)
		}
		return nil, fmt.Errorf("%w; %s log:\n%s", err, what, logText)
	}
	return p, nil
}

// stop asks politely first so the server can close its listeners, then kills it. A server
// that already exited (say, on the terminal's Ctrl-C) needs nothing.
func (p *process) stop() {
	if isClosed(p.exited) {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// onFreePorts calls start with n distinct free loopback addresses. A port found free can be
// taken by another process before the server binds it, so a start that fails with
// errPortTaken is tried again on new ports, three times in all.
func onFreePorts(n int, start func(addrs []string) error) error {
	for attempt := 1; ; attempt++ {
		addrs, err := freeAddrs(n)
		if err != nil {
			return err
		}
		err = start(addrs)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			return err
		}
	}
}

// waitReady polls an IdP's discovery document until it answers 200: neither Dex nor
// oidc-provider has another readiness signal, and discovery is the first thing a plugin
// fetches. what names the IdP in errors.
func waitReady(what, discoveryURL string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if isClosed(exited) {
			return fmt.Errorf("%s exited before serving %s", what, discoveryURL)
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
	return fmt.Errorf("%s did not serve %s within %v (last: %s)", what, discoveryURL, timeout, last)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// freeAddr picks a loopback port nothing listens on right now.
func freeAddr() (string, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// freeAddrs picks n distinct loopback ports nothing listens on right now: each listener stays
// open until all are found, so no port is picked twice.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// checkFree turns "Dex died at start" into a message that names the port.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dex cannot listen on %s (is another Dex or demo running?): %w", addr, err)
	}
	return l.Close()
}

// tail keeps error messages readable when an IdP logged a lot before dying: the useful
// line is the last one.
func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		return "..." + string(b[len(b)-max:])
	}
	return string(b)
}

// lastBytes keeps the end of a server's log for error messages, wherever else the log goes.
type lastBytes struct {
	mu sync.Mutex
	b  []byte
}

func (l *lastBytes) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > 16<<10 {
		l.b = append([]byte(nil), l.b[len(l.b)-8<<10:]...)
	}
	return len(p), nil
}

func (l *lastBytes) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tail(l.b)
}
