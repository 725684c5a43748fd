package plugin

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// A cookie secret is rotated without logging anyone out (issue 15): with the new secret first
// and the old one after it, sessions sealed under the old one still open, and renewed or new
// cookies are sealed under the new one; once the old one is dropped its sessions end. The
// same from environment variables.
func TestCookieSecretRotation(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		newKey := base64.StdEncoding.EncodeToString([]byte("a brand new 32-byte cookie key!!"))
		now := m.now()
		old := sealTestSession(t, &oidc.Session{Claims: testClaims("u"), IssuedAt: now, TokenExpiry: now.Add(time.Hour)}, now.Add(100*time.Second))
		base := `{"issuer":"` + testIssuer + `","client_id":"` + testClientID + `","client_secret":"s","session_idle_timeout":600,`
		configs := []string{base + `"cookie_secret":["` + newKey + `","` + testCookieKey + `"]}`}
		if !m.wasm { // the SDK's wasm host gives a module no environment
			t.Setenv("NEW_KEY", newKey)
			t.Setenv("OLD_KEY", testCookieKey)
			configs = append(configs, base+`"cookie_secret_env":["NEW_KEY","OLD_KEY"]}`)
		}
		for _, config := range configs {
			h := wasmhost.MustStart(t, vm, config)
			newFakeIdP(t, m).serveMetadata(h)
			id, action := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", "__Host-oidc_session=" + old}))
			if action != types.ActionContinue {
				t.Fatalf("a session sealed under the previous secret must still open: %+v", h.Reply(id))
			}
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			renewed := ""
			for _, kv := range h.GetCurrentResponseHeaders(id) {
				if kv[0] == "set-cookie" && strings.HasPrefix(kv[1], "__Host-oidc_session=") {
					renewed = wasmhost.CookieValue(kv[1])
				}
			}
			key, _ := base64.StdEncoding.DecodeString(newKey)
			sealer, _ := oidc.NewSealer(key)
			if _, err := sealer.Open(testPurposeSession, renewed, now); err != nil {
				t.Errorf("the renewed session must be sealed under the new secret: %v", err)
			}
		}
		h := wasmhost.MustStart(t, vm, base+`"cookie_secret":"`+newKey+`"}`)
		newFakeIdP(t, m).serveMetadata(h)
		if id, _ := h.Request(wasmhost.APIGet("/app", [2]string{"cookie", "__Host-oidc_session=" + old})); h.Reply(id) == nil || h.Reply(id).Status != 401 {
			t.Errorf("once the old secret is dropped its sessions end: %+v", h.Reply(id))
		}
	})
}

func TestCookieSecretListErrors(t *testing.T) {
	base := `"issuer":"https://idp.example.com","client_id":"a","client_secret":"s"`
	env := func(name string) (string, bool) { return map[string]string{"K": testCookieKey}[name], name == "K" }
	for _, c := range []struct{ config, key string }{
		{`"cookie_secret":[]`, "cookie_secret"},
		{`"cookie_secret":["` + testCookieKey + `","c2hvcnQ="]`, "cookie_secret[1]"},
		{`"cookie_secret":["` + testCookieKey + `",7]`, "cookie_secret[1]"},
		{`"cookie_secret":["a","b","c","d","e"]`, "cookie_secret"},
		{`"cookie_secret_env":["K","MISSING"]`, "cookie_secret_env[1]"},
		{`"cookie_secret":["` + testCookieKey + `"],"cookie_secret_env":["K"]`, "cookie_secret"},
	} {
		_, err := ParseConfig([]byte(`{`+base+`,`+c.config+`}`), env)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
}
