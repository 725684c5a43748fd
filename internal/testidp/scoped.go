package testidp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var installed struct {
	mu    sync.Mutex
	byEnv map[string]*installedPath
}

type installedPath struct {
	once sync.Once
	path string
	err  error
}

// installedBinary resolves a server binary once per process: envVar names one to use as it
// is; otherwise build/<script> prints the path of the cached one, building it first if need
// be. That may take minutes, and a failed build would fail the same way for every caller.
func installedBinary(envVar, script string) (string, error) {
	installed.mu.Lock()
	if installed.byEnv == nil {
		installed.byEnv = map[string]*installedPath{}
	}
	b, ok := installed.byEnv[envVar]
	if !ok {
		b = &installedPath{}
		installed.byEnv[envVar] = b
	}
	installed.mu.Unlock()
	b.once.Do(func() {
		if p := os.Getenv(envVar); p != "" {
			b.path = p
			return
		}
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		script := filepath.Join(root, "build", script)
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.err = fmt.Errorf("bash %s: %w\n%s", script, err, tail(stderr.Bytes()))
			return
		}
		b.path = strings.TrimSpace(string(out))
		if b.path == "" {
			b.err = fmt.Errorf("bash %s printed no path\n%s", script, tail(stderr.Bytes()))
		}
	})
	return b.path, b.err
}

// startForTest runs a server for the length of a test: launch starts it with its log going to
// a file in the test's directory, which is printed if the test fails, and the stop it returns
// runs when the test ends. A missing binary fails the test: the end-to-end tests are the point
// of this package, so a silent skip would hide a broken setup. In -short mode the test is
// skipped instead unless binEnv names a binary, since getting one may mean a build of
// several minutes.
func startForTest(t testing.TB, name, binEnv string, launch func(logTo io.Writer) (stop func() error, err error)) {
	t.Helper()
	if testing.Short() && os.Getenv(binEnv) == "" {
		t.Skipf("needs the %s binary: skipped in -short mode unless %s is set", name, binEnv)
	}
	logPath := filepath.Join(t.TempDir(), strings.ToLower(name)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the %s log: %v", name, err)
	}
	stop, err := launch(logFile)
	if err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
		logFile.Close()
		if t.Failed() {
			logText, _ := os.ReadFile(logPath)
			t.Logf("%s log (%s):\n%s", name, logPath, logText)
		}
	})
}
