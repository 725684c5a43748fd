package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
)

// console serializes the demo's output: the gateway, the ticker, Dex's log and Envoy's all
// write lines concurrently.
type console struct {
	mu  sync.Mutex
	out io.Writer
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// logger returns a printf that prefixes every line with the component's name.
func (c *console) logger(component string) func(string, ...any) {
	return func(format string, args ...any) {
		c.printf("[%s] %s\n", component, fmt.Sprintf(format, args...))
	}
}

// lineWriter turns a stream (a child process's output) into prefixed console lines.
type lineWriter struct {
	mu      sync.Mutex
	pending []byte
	emit    func(string, ...any)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit("%s", w.pending[:i])
		w.pending = w.pending[i+1:]
	}
}

// pluginLog prints the plugin's log lines (and the host's own) as Envoy would show them: info
// and above, debug and trace too with -v.
func pluginLog(emit func(string, ...any)) func(worker int, level proxyhost.LogLevel, msg string) {
	return func(worker int, level proxyhost.LogLevel, msg string) {
		emit("worker %d %s: %s", worker, level, msg)
	}
}
