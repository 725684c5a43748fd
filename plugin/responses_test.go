package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// Error answers carry Envoy's request id so a user's report can be found in the logs: in a
// self-contained page for browsers, in JSON for API clients; an id that is not a plain token
// is not echoed (issue 7, friendly errors).
func TestErrorAnswersCarryRequestID(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		newFakeIdP(t, m).serveMetadata(h)
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"x-request-id", "req-123"}))
		r := h.Reply(id)
		var body struct {
			Error     string `json:"error"`
			RequestID string `json:"request_id"`
		}
		if r == nil || r.Status != 401 || json.Unmarshal([]byte(r.Body), &body) != nil || body.Error != "unauthorized" || body.RequestID != "req-123" {
			t.Fatalf("want a 401 JSON error with the request id, got %+v", r)
		}
		id, _ = h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c&state=s", [2]string{"x-request-id", "req-456"}))
		r = h.Reply(id)
		if r == nil || r.Status != 400 || !strings.Contains(r.Body, "Request ID: req-456") || strings.Contains(r.Body, "<link") || strings.Contains(r.Body, "src=") {
			t.Errorf("error page must show the request id and load nothing external, got %+v", r)
		}
		id, _ = h.Request(wasmhost.APIGet("/api", [2]string{"x-request-id", `"><script>`}))
		if r := h.Reply(id); r == nil || strings.Contains(r.Body, "script") {
			t.Errorf("a request id that is not a plain token must not be echoed: %+v", r)
		}
	})
}
