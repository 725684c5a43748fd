package proxyhost

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A login callback that reaches a worker before it has the IdP's metadata (a fresh VM after
// a configuration push, or a worker that just started) is held, then resumed from the
// plugin's tick, which dispatches the token call. Its answer must still end the request.
//
// The SDK records a dispatched call's caller as the context that entered the VM (here the
// plugin context, from the tick), not the effective context the plugin set; before the
// plugin made its own context effective again in the answer (httpContext.dispatch), the
// redirect and the resume went to the plugin context and the browser waited until Envoy's
// route timeout.
func TestCallbackHeldForMetadataIsAnswered(t *testing.T) {
	for _, m := range wasmhost.Modules {
		t.Run(m.Name, func(t *testing.T) {
			first := newRig(t, m, 1, testidp.FakeIdPOptions{}, "")
			start := first.do(0, wasmhost.BrowserGet("/start"))
			back, err := first.idp.Authorize(Header(start.request.Headers, "location"))
			if err != nil {
				t.Fatal(err)
			}
			callback, _ := url.Parse(back)
			state := StateCookie(start.request.Headers, sessionCookieName)

			// A second host with the same configuration and cookie secret, given the callback before
			// its first tick has fetched anything.
			fresh, err := New(context.Background(), Config{
				Wasm: module(t, m), PluginConfig: []byte(pluginConfig(first.idp.Issuer, "")),
				Clusters: map[string]string{"idp": first.idp.Addr},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, o, err := fresh.Workers()[0].Request(ctx, wasmhost.BrowserGet(callback.RequestURI(), [2]string{"cookie", state}), true)
			if st != nil {
				defer st.End()
			}
			if err != nil || o.Status() != 302 {
				t.Fatalf("the held callback: got %d %v, want the 302 that starts the session", o.Status(), fmt.Sprint(err))
			}
		})
	}
}
