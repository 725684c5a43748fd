// Command demo runs oidc-wasm on one machine, on 127.0.0.1 only: Dex as the identity
// provider, a small app that shows the headers it receives, and a gateway that runs the
// compiled plugin in front of the app. The gateway is Envoy when one is available (ENVOY_PATH,
// or func-e on PATH) with examples/envoy/envoy.yaml; otherwise an embedded Proxy-Wasm host
// runs the same module with the same configuration. `make demo` builds what it needs first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// The demo's fixed addresses: examples/envoy/envoy.yaml and the redirect URI registered at
// Dex name them.
const (
	gatewayPort = "8080"
	gatewayAddr = "127.0.0.1:" + gatewayPort
	appAddr     = "127.0.0.1:8081"
)

func main() {
	mode := flag.String("gateway", "auto", "auto (Envoy when ENVOY_PATH or func-e is available, else embedded), envoy or embedded")
	wasmPath := flag.String("wasm", "build/plugin.wasm", "the compiled plugin (make build), relative to the repository root; embedded gateway only")
	verbose := flag.Bool("v", false, "also show Dex's log and the plugin's debug log")
	flag.Parse()
	con := &console{out: os.Stdout}
	if err := run(con, *mode, *wasmPath, *verbose); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// run starts everything, waits for Ctrl-C (or for a part to fail) and stops everything it
// started, last started first.
func run(con *console, mode, wasmPath string, verbose bool) error {
	step := func(format string, args ...any) { con.printf("==> "+format+"\n", args...) }
	root, err := testidp.RepoRoot()
	if err != nil {
		return err
	}
	cfg, err := loadConfig(root)
	if err != nil {
		return err
	}
	step("plugin configuration from %s", cfg.source)
	envoy, err := chooseGateway(mode, root)
	if err != nil {
		return err
	}
	if err := checkPorts(cfg.dexAddr); err != nil {
		return err
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	failed := make(chan error, 3)

	var dexLog io.Writer = &lineWriter{emit: con.logger("dex")}
	dexLogNote, dexLogWhere := "", "above"
	if !verbose {
		logPath := filepath.Join(os.TempDir(), "oidc-wasm-demo-dex.log")
		f, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("creating Dex's log: %w", err)
		}
		cleanup = append(cleanup, func() { f.Close() })
		dexLog, dexLogNote, dexLogWhere = f, "  (log: "+logPath+")", "in "+logPath
	}
	step("starting Dex at %s", cfg.issuer)
	dex, stopDex, err := testidp.LaunchDex(testidp.DexOptions{
		ClientID:     cfg.clientID,
		ClientSecret: cfg.clientSecret,
		RedirectURIs: cfg.redirectURIs(),
		Addr:         cfg.dexAddr,
	}, dexLog)
	if err != nil {
		return fmt.Errorf("starting Dex: %w", err)
	}
	cleanup = append(cleanup, func() {
		if err := stopDex(); err != nil {
			con.logger("demo")("stopping Dex: %v", err)
		}
	})

	step("starting the app at http://%s/", appAddr)
	if err := serve(appAddr, http.HandlerFunc(appHandler), con, failed, &cleanup); err != nil {
		return err
	}

	gatewayName := "embedded Proxy-Wasm host"
	var envoyExited <-chan struct{}
	if envoy != nil {
		gatewayName = "Envoy (" + envoy.Path + ")"
		step("starting Envoy (%s) with %s", envoy.Path, envoyConfigPath)
		exited, stop, err := startEnvoy(envoy, root, gatewayAddr, &lineWriter{emit: con.logger("envoy")}, con.logger("demo"))
		if err != nil {
			return err
		}
		envoyExited = exited
		cleanup = append(cleanup, stop)
	} else if err := startEmbedded(con, step, cfg, resolve(root, wasmPath), verbose, failed, &cleanup); err != nil {
		return err
	}

	sso := ""
	if len(cfg.siblings) == 2 {
		sso = fmt.Sprintf("\n  One login http://%s:%s/ and http://%s:%s/ share a session (cookie_domain)", cfg.siblings[0], gatewayPort, cfg.siblings[1], gatewayPort)
	}
	con.printf(banner, gatewayName, gatewayAddr, testidp.DexUser, testidp.DexPassword, gatewayAddr, sso, cfg.issuer, dexLogNote, appAddr, cfg.source, cfg.cookieSecure)
	select {
	case <-ctx.Done():
		con.printf("\n")
		step("stopping (Ctrl-C)")
		return nil
	case <-dex.Exited():
		return fmt.Errorf("dex exited unexpectedly; its log is %s", dexLogWhere)
	case <-envoyExited:
		return errors.New("envoy exited unexpectedly; its output is above")
	case err := <-failed:
		return err
	}
}

const banner = `
--------------------------------------------------------------------------------
  oidc-wasm demo is running (gateway: %s)

  Open      http://%s/
  Log in    %s / %s
  Log out   http://%s/oauth2/logout%s

  Dex       %s%s
  App       http://%s/ (the upstream; visited directly it gets no identity headers)
  Plugin    configuration from %s (cookie_secure: %v)

  Ctrl-C stops everything.
--------------------------------------------------------------------------------
`

// chooseGateway returns the Envoy command to run, or nil for the embedded host.
func chooseGateway(mode, root string) (*exec.Cmd, error) {
	envoy := envoyCommand(root)
	_, statErr := os.Stat(filepath.Join(root, envoyConfigPath))
	switch mode {
	case "embedded":
		return nil, nil
	case "auto":
		if statErr != nil {
			return nil, nil
		}
		return envoy, nil
	case "envoy":
		if envoy == nil {
			return nil, errors.New("no Envoy: set ENVOY_PATH to an Envoy binary or put func-e on PATH")
		}
		if statErr != nil {
			return nil, fmt.Errorf("the Envoy gateway needs %s: %w", envoyConfigPath, statErr)
		}
		return envoy, nil
	default:
		return nil, fmt.Errorf("-gateway %q: want auto, envoy or embedded", mode)
	}
}

// startEmbedded runs the compiled module in the SDK's host emulator behind an HTTP listener.
func startEmbedded(con *console, step func(string, ...any), cfg *demoConfig, wasmPath string, verbose bool, failed chan<- error, cleanup *[]func()) error {
	step("loading %s into the embedded Proxy-Wasm host (set ENVOY_PATH or install func-e to use Envoy)", wasmPath)
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("reading the plugin (build it with make build): %w", err)
	}
	*cleanup = append(*cleanup, routeEmulatorLog(con.logger("plugin"), verbose))
	plugin, err := startPlugin(wasm, cfg.raw, map[string]string{cfg.cluster: cfg.dexAddr}, cfg.timeout, con.logger("gateway"))
	if err != nil {
		return fmt.Errorf("starting the plugin: %w", err)
	}
	*cleanup = append(*cleanup, plugin.close)
	step("plugin started; loading Dex's discovery document and keys through cluster %q", cfg.cluster)
	if err := plugin.loadMetadata(15 * time.Second); err != nil {
		return err
	}
	plugin.startTicker()
	app := &url.URL{Scheme: "http", Host: appAddr}
	step("starting the gateway at http://%s/", gatewayAddr)
	return serve(gatewayAddr, newGateway(plugin, app, con.logger("gateway")), con, failed, cleanup)
}

// resolve makes a relative path relative to the repository root, where make runs the demo.
func resolve(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// checkPorts fails before anything starts when one of the demo's ports is taken, typically
// by a demo already running.
func checkPorts(dexAddr string) error {
	for _, p := range []struct{ addr, what string }{{gatewayAddr, "the gateway"}, {appAddr, "the app"}, {dexAddr, "Dex"}} {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("%s (%s) is already in use; is a demo already running? Stop it or free the port: %w", p.addr, p.what, err)
		}
		l.Close()
	}
	return nil
}

// serve listens on addr and serves h until cleanup shuts the server down; a server that
// fails later reports on failed.
func serve(addr string, h http.Handler, con *console, failed chan<- error, cleanup *[]func()) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(&lineWriter{emit: con.logger("http")}, "", 0)}
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("serving %s: %w", addr, err)
		}
	}()
	*cleanup = append(*cleanup, func() {
		// Short: a browser keeps preconnected sockets open, which a graceful shutdown waits out.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return nil
}
