package oidc

import (
	"errors"
	"fmt"
)

// Errors returned by [Verifier.Verify] and [Verifier.VerifyIDToken], always wrapped with a
// message saying what failed; test for them with errors.Is. Each rejected token matches exactly
// one of the three, so a host can pick its reaction without parsing messages.
var (
	// ErrTokenInvalid is the verdict for every rejection that is not one of the two below: a
	// malformed token, a refused algorithm, a bad signature, a claim that does not hold, or a
	// Verifier that is not configured well enough to judge anything.
	ErrTokenInvalid = errors.New("oidc: token invalid")

	// ErrTokenExpired is returned only for a token that passed every other check (signature,
	// issuer, audience, ...) and whose exp, plus the allowed skew, is not after now. A host may
	// react by refreshing a session rather than by treating the request as an attack.
	ErrTokenExpired = errors.New("oidc: token expired")

	// ErrUnknownKey means no key of the KeySet can be the one the token names: its kid is not in
	// the set, or it has no kid and the set holds no key fitting its alg. The IdP may have
	// rotated its keys, so a host may fetch the JWKS again; since anyone can mint a token with an
	// unknown kid, that refetch must be rate-limited.
	ErrUnknownKey = errors.New("oidc: token signed by an unknown key")
)

// maxQuoted bounds how much of an attacker-chosen string (a kid, an audience, ...) an error
// message repeats, so that errors stay fit for logs.
const maxQuoted = 64

// invalidf wraps ErrTokenInvalid with a description of what failed. Values that come from the
// token must go through quoted, never verbatim, and the raw token and its signature never go in
// at all: error messages end up in logs that are readable by more people than the tokens are.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTokenInvalid, fmt.Sprintf(format, args...))
}

// quoted renders an untrusted string for an error message: Go-quoted (so control characters and
// newlines cannot forge log lines) and cut to maxQuoted bytes.
func quoted(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q...", s[:maxQuoted])
	}
	return fmt.Sprintf("%q", s)
}
