package loadtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A short load on one replica of two worker VMs against oidc-provider, with everything the
// full run has (make load): a refresh storm, the IdP killed and restarted, its signing key
// rotated. Whatever the load, no request may reach the app without a valid credential, and
// no answer may be a 5xx other than a 503 while the IdP is down, or missing.
//
// Two more properties fail today and are checked with OIDC_WASM_KNOWN_BUGS=1: every refresh
// token is redeemed once and no session is lost. The storm's sessions share the plugin's 64
// refresh slots (the second security review, item 5), so workers redeem some tokens twice and
// oidc-provider revokes those sessions.
func TestShortLoad(t *testing.T) {
	wasm := wasmhost.ReadModule(t, "../../"+wasmhost.Modules[0].Path)
	if testing.Short() {
		t.Skip("needs Node.js and oidc-provider: skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		Wasm: wasm, Replicas: 1, Workers: 2, Sessions: 60, Requests: 6000, Clients: 16, Storm: 30,
		TokenTTL: 4 * time.Second, Outage: 2 * time.Second, Rotate: true, Dir: t.TempDir(), Log: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown("short load"))
	if rep.Requests < 6000 || rep.Transport != 0 {
		t.Errorf("%d requests answered (at least 6000 sent), %d without an answer", rep.Requests, rep.Transport)
	}
	if rep.Unauthenticated != 0 {
		t.Errorf("%d requests reached the app without a valid credential", rep.Unauthenticated)
	}
	if rep.Other5xx != 0 {
		t.Errorf("%d answers were a 5xx other than 503", rep.Other5xx)
	}
	if rep.RefreshTokens == 0 || rep.Outage503 == 0 {
		t.Errorf("the run refreshed %d tokens and answered %d 503s during the outage: it did not exercise refresh and the outage", rep.RefreshTokens, rep.Outage503)
	}
	if os.Getenv("OIDC_WASM_KNOWN_BUGS") != "" && (rep.TwiceInOneReplica != 0 || rep.SessionsLost != 0) {
		t.Errorf("%d refresh tokens redeemed twice, %d sessions lost", rep.TwiceInOneReplica, rep.SessionsLost)
	}
}
