// Package oidc is the OpenID Connect relying-party protocol without I/O.
//
// Nothing here opens a socket, reads a clock or imports proxy-wasm: functions build the HTTP
// requests a host must carry out ([Request]), parse the answers, verify tokens, seal and open
// cookies and judge redirect targets. Time and randomness are parameters. This keeps the whole
// protocol testable natively in microseconds, fuzzable, and reusable by any host; the Envoy
// plugin (package plugin) only moves bytes between Envoy and these functions.
//
// The package compiles with TinyGo (-scheduler=none): it must not start goroutines, so it
// stays off jwx's signing path and anything that reaches context cancellation.
package oidc
