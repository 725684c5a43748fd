package testidp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
)

// launches numbers the runs of LaunchOIDCProvider, so each run's configuration and log files
// in a shared directory are kept apart.
var launches atomic.Int64

// LaunchOIDCProvider starts oidc-provider outside a test, for the load harness: installed once
// in the cache directory, run from dir (created if needed; a restart may reuse it), on opt.Addr
// or a free port. It returns once discovery answers; the caller Stops or Kills it.
func LaunchOIDCProvider(opt OIDCProviderOptions, dir string) (*OIDCProvider, error) {
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		return nil, fmt.Errorf("oidc-provider needs Node.js and npm on PATH: %w", err)
	}
	installDir, err := oidcProviderInstall(npm)
	if err != nil {
		return nil, fmt.Errorf("installing oidc-provider: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.mjs")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := prepareOIDCProviderDir(dir, installDir); err != nil {
			return nil, fmt.Errorf("preparing oidc-provider: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		addr := opt.Addr
		if addr == "" {
			if addr, err = freeAddr(); err != nil {
				return nil, err
			}
		} else if l, err := net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("oidc-provider cannot listen on %s: %w", addr, err)
		} else {
			l.Close()
		}
		p, logPath, err := startOIDCProviderOnce(node, dir, addr, opt, int(launches.Add(1)))
		if err == nil {
			p.LogPath = logPath
			return p, nil
		}
		if !errors.Is(err, errOIDCProviderPortTaken) || opt.Addr != "" || attempt == 3 {
			return nil, fmt.Errorf("starting oidc-provider on %s: %w", addr, err)
		}
	}
}
