package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// envoyStartLimit covers func-e's first run, which downloads Envoy before starting it.
const envoyStartLimit = 5 * time.Minute

// envoyCommand returns how to run Envoy with the demo's bootstrap, or nil when there is no
// Envoy: ENVOY_PATH names a binary (func-e honours it too), otherwise func-e on PATH fetches
// and runs one. The wasm filter's log level is raised so the plugin's info lines show.
func envoyCommand(root string) *exec.Cmd {
	args := []string{"-c", filepath.Join(root, envoyConfigPath), "--log-level", "warn", "--component-log-level", "wasm:info"}
	if p := os.Getenv("ENVOY_PATH"); p != "" {
		return exec.Command(p, args...)
	}
	if p, err := exec.LookPath("func-e"); err == nil {
		return exec.Command(p, append([]string{"run"}, args...)...)
	}
	return nil
}

// startEnvoy runs cmd from root (the bootstrap names build/plugin.wasm relative to it) and
// waits until the gateway address accepts connections. The returned channel is closed when
// Envoy exits; stop ends it.
func startEnvoy(cmd *exec.Cmd, root, gatewayAddr string, output io.Writer, progress func(string, ...any)) (exited <-chan struct{}, stop func(), err error) {
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = testidp.ChildProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("running %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	stop = func() {
		if isDone(done) {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(envoyStartLimit)
	nextNote := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", gatewayAddr, time.Second); err == nil {
			conn.Close()
			return done, stop, nil
		}
		switch {
		case isDone(done):
			return nil, nil, fmt.Errorf("envoy exited before listening on %s (%v); its output is above", gatewayAddr, waitErr)
		case time.Now().After(deadline):
			stop()
			return nil, nil, fmt.Errorf("envoy did not listen on %s within %v", gatewayAddr, envoyStartLimit)
		case time.Now().After(nextNote):
			progress("still waiting for Envoy to listen on %s (func-e downloads Envoy on first use)", gatewayAddr)
			nextNote = time.Now().Add(30 * time.Second)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
