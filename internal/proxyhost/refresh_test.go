package proxyhost

import (
	"sync"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A refresh storm across two workers: every session needs a refresh, and each gets one request
// on each worker at the same moment. However many sessions refresh at once, every refresh
// token must be redeemed exactly once and every request let through: the FakeIdP, like
// oidc-provider, revokes a grant whose refresh token comes back a second time.
//
// It failed before the second security review's item 5 was fixed: refresh coordination used
// 64 shared-data slots chosen by the first byte of the token's hash, and a worker claiming a
// slot for one token overwrote another token's marker, so the other worker redeemed that
// token too (190 of 200 tokens twice, and the IdP revoked those sessions).
func TestRefreshStormAcrossWorkersRedeemsEachTokenOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sessions int
	}{
		{"one session", 1},
		{"200 sessions at once", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, wasmhost.Modules[0], 2, testidp.FakeIdPOptions{IDTokenTTL: -30 * time.Second}, "")
			cookies := make([]string, tc.sessions)
			for i := range cookies {
				cookies[i] = r.login(i%2, (i+1)%2)
			}
			var wg sync.WaitGroup
			results := make([]Outcome, 2*len(cookies))
			for i, cookie := range cookies {
				for worker := 0; worker < 2; worker++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[2*i+worker] = r.do(worker, wasmhost.BrowserGet("/page", [2]string{"cookie", cookie})).request
					}()
				}
			}
			wg.Wait()
			through := 0
			for _, o := range results {
				if o.Action == Continue {
					through++
				}
			}
			twice := 0
			for _, n := range r.idp.Redemptions() {
				if n > 1 {
					twice++
				}
			}
			if through != len(results) || twice != 0 {
				t.Errorf("%d of %d requests let through; %d of %d refresh tokens redeemed more than once",
					through, len(results), twice, len(r.idp.Redemptions()))
			}
		})
	}
}
