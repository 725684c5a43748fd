package testidp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	bin, err := dexBinary()
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
	for attempt := 1; ; attempt++ {
		addr := opt.Addr
		if addr == "" {
			addr, err = freeAddr()
		} else {
			err = checkFree(addr)
		}
		var d *Dex
		var stop func() error
		if err == nil {
			d, stop, err = launchOnce(bin, dir, addr, opt, logTo)
		}
		if err == nil {
			return d, stop, nil
		}
		if opt.Addr != "" || !errors.Is(err, errPortTaken) || attempt == 3 {
			_ = os.RemoveAll(dir)
			return nil, nil, err
		}
	}
}

func launchOnce(bin, dir, addr string, opt DexOptions, logTo io.Writer) (*Dex, func() error, error) {
	d := &Dex{
		Addr:         addr,
		Issuer:       "http://" + addr + "/dex",
		ClientID:     opt.ClientID,
		ClientSecret: opt.ClientSecret,
		exited:       make(chan struct{}),
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(dexConfig(d.Issuer, d.Addr, opt)), 0o600); err != nil {
		return nil, nil, fmt.Errorf("writing Dex's configuration: %w", err)
	}
	logTail := &lastBytes{}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout = io.MultiWriter(logTo, logTail)
	cmd.Stderr = cmd.Stdout
	// Dex expands $VARS in parts of its config; bcrypt hashes are full of '$'.
	cmd.Env = append(os.Environ(), "DEX_EXPAND_ENV=false")
	cmd.SysProcAttr = ChildProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("running %s: %w", bin, err)
	}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(d.exited) }()

	if err := waitReady("dex", d.Issuer+"/.well-known/openid-configuration", d.exited, dexStartTimeout); err != nil {
		stopProcess(cmd, d.exited)
		logText := logTail.String()
		if strings.Contains(logText, "address already in use") {
			return nil, nil, fmt.Errorf("dex cannot listen on %s: %w; Dex log:\n%s", addr, errPortTaken, logText)
		}
		if isClosed(d.exited) {
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		}
		return nil, nil, fmt.Errorf("%w; Dex log:\n%s", err, logText)
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			stopProcess(cmd, d.exited)
			if err := os.RemoveAll(dir); err != nil {
				stopErr = fmt.Errorf("removing Dex's configuration: %w", err)
			}
		})
		return stopErr
	}
	return d, stop, nil
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

// stopProcess asks politely first so Dex can close its listener, then kills it. A Dex that
// already exited (say, on the terminal's Ctrl-C) needs nothing.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
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

// freeAddr picks a loopback port nothing listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
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

// lastBytes keeps the end of Dex's log for error messages, wherever else the log goes.
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
