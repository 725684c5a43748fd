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
//
// # A login, call by call
//
// The package example (Example_login in example_test.go, run by go test) walks through one
// authorization-code login in the order the plugin makes the calls:
//
//   - [ParseDiscovery] and [ParseJWKS] read the IdP's metadata, fetched with
//     [DiscoveryRequest] and [JWKSRequest];
//   - [NewAuthRequest] starts a login; its secrets travel in the state cookie, a [LoginState]
//     sealed by a [Sealer] for [PurposeState];
//   - [ParseCallback] reads the IdP's redirect back, whose state must equal the one the state
//     cookie opens to ([EqualSecret]);
//   - [CodeExchangeRequest] trades the code for tokens, and [ParseTokenResponse] reads the
//     answer;
//   - [Verifier.VerifyIDToken] checks the ID token against the [KeySet];
//   - a [Session] sealed for [PurposeSession] becomes the session cookie ([SplitCookie],
//     [FormatCookie]), which later requests open again ([ParseCookies], [CookieCandidates],
//     [Sealer.Open]).
package oidc
