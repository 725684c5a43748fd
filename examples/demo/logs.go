package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
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

// pluginLog receives what the SDK's host emulator prints through the standard logger: the
// plugin's log lines ("proxy_<level>_log: ...") and a dump of every dispatched call. The dumps
// carry the client secret and login codes, and the host logs each call itself: they are
// dropped. Debug and trace lines show only with -v, as Envoy shows info and above by default.
type pluginLog struct {
	emit    func(string, ...any)
	verbose bool
}

func (l *pluginLog) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	if strings.HasPrefix(line, "[http callout to ") {
		return len(p), nil
	}
	level, msg, ok := strings.Cut(strings.TrimPrefix(line, "proxy_"), "_log: ")
	switch {
	case !strings.HasPrefix(line, "proxy_") || !ok:
		l.emit("%s", line)
	case l.verbose || (level != "debug" && level != "trace"):
		l.emit("%s: %s", level, msg)
	}
	return len(p), nil
}

// routeEmulatorLog sends the standard logger, which the emulator prints through, to a
// pluginLog; restore puts the previous output and flags back.
func routeEmulatorLog(emit func(string, ...any), verbose bool) (restore func()) {
	out, flags := log.Writer(), log.Flags()
	log.SetFlags(0)
	log.SetOutput(&pluginLog{emit: emit, verbose: verbose})
	return func() { log.SetOutput(out); log.SetFlags(flags) }
}
