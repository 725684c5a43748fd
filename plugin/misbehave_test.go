package plugin

// An identity provider that misbehaves (issue 5), scripted in the fake IdP. In every case:
// no request passes unauthenticated, the VM keeps running, a log line and a metric say why,
// and service recovers by itself once the IdP answers properly again. This file: discovery
// and JWKS, broken from the start, later and at random (SECURITY.md, G7 and "Failure of the
// identity provider"); the token endpoint is in misbehave_token_test.go.

import (
	"encoding/base64"
	"encoding/json"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// idpAnswer is one scripted answer; status 0 is Envoy's answer to a callout that failed
// (timeout_ms passed, connection refused or reset): no headers, no body.
type idpAnswer struct {
	status int
	body   string
}

// publicJWK is a key of the fake IdP as a JSON object, with kid replaced.
func publicJWK(t *testing.T, k *signingKey, kid string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(k.public)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["kid"] = kid
	return m
}

func jwksOf(keys ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return string(b)
}

// answerMetadata answers every pending metadata call with the healthy IdP's documents.
func answerMetadata(t *testing.T, h *wasmhost.Host, idp *fakeIdP) {
	t.Helper()
	h.TickUntilPending(wasmhost.PluginContextID, maxBackoffTicks+1)
	for n := 0; n < 3 && h.HasPending(wasmhost.PluginContextID); n++ {
		for _, c := range h.Pending(wasmhost.PluginContextID) {
			if strings.HasSuffix(c.Headers[":path"], "openid-configuration") {
				h.Answer(c, 200, idp.discovery())
			} else {
				h.Answer(c, 200, idp.jwks())
			}
		}
	}
}

func lastLog(h *wasmhost.Host) string {
	logs := wasmhost.CopyLogs(append(h.GetErrorLogs(), h.GetWarnLogs()...))
	return strings.Join(logs, "\n")
}

// misbehavingMetadata lists the broken answers of discovery (at start) and of the JWKS
// (after a good discovery), with what the log must say.
func misbehavingMetadata(t *testing.T, idp *fakeIdP) (discovery, jwks map[string]struct {
	a   idpAnswer
	why string
}) {
	a, b := testKeys(t)
	disc := idp.discovery()
	var doc map[string]any
	_ = json.Unmarshal([]byte(disc), &doc)
	with := func(k string, v any) string {
		d := map[string]any{}
		for key, val := range doc {
			d[key] = val
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		out, _ := json.Marshal(d)
		return string(out)
	}
	huge := make([]byte, 2048) // a 16384-bit "modulus"
	for i := range huge {
		huge[i] = 0xff
	}
	type row = struct {
		a   idpAnswer
		why string
	}
	discovery = map[string]row{
		"down (connection refused)":            {idpAnswer{0, ""}, "no answer"},
		"slow beyond timeout_ms (no headers)":  {idpAnswer{0, ""}, "timeout"},
		"500":                                  {idpAnswer{500, "oops"}, "500"},
		"503 HTML page":                        {idpAnswer{503, "<html>maintenance</html>"}, "503"},
		"404":                                  {idpAnswer{404, ""}, "404"},
		"garbage":                              {idpAnswer{200, "<html>hello</html>"}, "discovery"},
		"truncated JSON":                       {idpAnswer{200, disc[:len(disc)/2]}, "discovery"},
		"empty body":                           {idpAnswer{200, ""}, "discovery"},
		"JSON null":                            {idpAnswer{200, "null"}, "discovery"},
		"JSON array":                           {idpAnswer{200, "[]"}, "discovery"},
		"deeply nested":                        {idpAnswer{200, strings.Repeat(`{"a":`, 5000)}, "discovery"},
		"over 1 MiB":                           {idpAnswer{200, with("pad", strings.Repeat("x", 1<<20))}, "limit"},
		"issuer mismatch":                      {idpAnswer{200, with("issuer", "https://evil.example.com")}, "does not match"},
		"issuer with a trailing slash":         {idpAnswer{200, with("issuer", testIssuer+"/")}, "does not match"},
		"no jwks_uri":                          {idpAnswer{200, with("jwks_uri", nil)}, "jwks_uri"},
		"jwks_uri over plain http":             {idpAnswer{200, with("jwks_uri", "http://idp.example.com/keys")}, "https"},
		"token_endpoint with user info":        {idpAnswer{200, with("token_endpoint", "https://u:p@idp.example.com/token")}, "user info"},
		"authorization_endpoint with fragment": {idpAnswer{200, with("authorization_endpoint", "https://idp.example.com/a#x")}, "fragment"},
	}
	jwks = map[string]row{
		"down":                 {idpAnswer{0, ""}, "no answer"},
		"500":                  {idpAnswer{500, "oops"}, "500"},
		"garbage":              {idpAnswer{200, "<html>"}, "jwks"},
		"truncated JSON":       {idpAnswer{200, idp.jwks()[:40]}, "jwks"},
		"empty keys":           {idpAnswer{200, `{"keys":[]}`}, "keys is empty"},
		"no keys member":       {idpAnswer{200, `{}`}, "keys is missing"},
		"keys not an array":    {idpAnswer{200, `{"keys":{}}`}, "not an array"},
		"unknown kty":          {idpAnswer{200, `{"keys":[{"kty":"XYZ","kid":"x","x":"AAAA"}]}`}, "kty"},
		"symmetric oct key":    {idpAnswer{200, `{"keys":[{"kty":"oct","kid":"key-a","k":"c2VjcmV0"}]}`}, "oct"},
		"huge modulus":         {idpAnswer{200, jwksOf(map[string]any{"kty": "RSA", "kid": "huge", "n": base64.RawURLEncoding.EncodeToString(huge), "e": "AQAB"})}, "modulus"},
		"tiny modulus":         {idpAnswer{200, jwksOf(map[string]any{"kty": "RSA", "kid": "tiny", "n": base64.RawURLEncoding.EncodeToString(huge[:64]), "e": "AQAB"})}, "modulus"},
		"duplicate kid only":   {idpAnswer{200, jwksOf(publicJWK(t, a, "dup"), publicJWK(t, b, "dup"))}, "dup"},
		"private key material": {idpAnswer{200, jwksOf(map[string]any{"kty": "RSA", "kid": "p", "n": publicJWK(t, a, "p")["n"], "e": "AQAB", "d": "AAAA"})}, "private"},
		"over 1 MiB":           {idpAnswer{200, `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`}, "limit"},
	}
	return discovery, jwks
}

// The IdP misbehaves from the start: held browser and bearer requests get 503, later ones
// 503 during the backoff, the log and idp_fetch_failed say why, and the next healthy answer
// restores service.
func TestMisbehaveIdPAtStart(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		idp := newFakeIdP(t, m)
		discovery, jwks := misbehavingMetadata(t, idp)
		bearer := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}
		run := func(name string, discoveryAnswer idpAnswer, jwksAnswer *idpAnswer, why string) {
			t.Helper()
			h := wasmhost.MustStart(t, vm, threatConfig(""))
			browser, _ := h.Request(wasmhost.BrowserGet("/page"))
			api, _ := h.Request(wasmhost.APIGet("/api", bearer))
			h.Tick()
			h.Answer(h.OnePending(wasmhost.PluginContextID), discoveryAnswer.status, discoveryAnswer.body)
			if jwksAnswer != nil {
				h.Answer(h.OnePending(wasmhost.PluginContextID), jwksAnswer.status, jwksAnswer.body)
			}
			for _, id := range []uint32{browser, api} {
				if r := h.Reply(id); r == nil || r.Status != 503 || h.GetCurrentHttpStreamAction(id) == types.ActionContinue {
					t.Errorf("%s: held request: want 503, got %+v", name, r)
				}
			}
			id, action := h.Request(wasmhost.APIGet("/api", bearer))
			if r := h.Reply(id); action == types.ActionContinue || r == nil || r.Status != 503 {
				t.Errorf("%s: during the backoff: want 503, got %v %+v", name, action, r)
			}
			logs := lastLog(h)
			if !strings.Contains(logs, "cannot load the identity provider's metadata") || !strings.Contains(strings.ToLower(logs), strings.ToLower(why)) {
				t.Errorf("%s: the log must say why (%q): %s", name, why, logs)
			}
			if n, _ := h.GetCounterMetric("oidc_wasm.idp_fetch_failed"); n < 1 {
				t.Errorf("%s: idp_fetch_failed = %d", name, n)
			}
			if n, _ := h.GetCounterMetric("oidc_wasm.unavailable"); n < 3 {
				t.Errorf("%s: unavailable = %d", name, n)
			}
			answerMetadata(t, h, idp)
			id, action = h.Request(wasmhost.APIGet("/api", bearer))
			if action != types.ActionContinue {
				t.Errorf("%s: after recovery a valid bearer token must pass, got %+v", name, h.Reply(id))
			}
			id, _ = h.Request(wasmhost.BrowserGet("/page"))
			if r := h.Reply(id); r == nil || r.Status != 302 {
				t.Errorf("%s: after recovery want a login redirect, got %+v", name, r)
			}
		}
		for name, c := range discovery {
			run("discovery "+name, c.a, nil, c.why)
		}
		for name, c := range jwks {
			a := c.a
			run("jwks "+name, idpAnswer{200, idp.discovery()}, &a, c.why)
		}
	})
}

// A discovery call that is never answered (Envoy should answer at timeout_ms at the latest)
// is abandoned by the watchdog: held requests get 503, the log says so.
func TestMisbehaveIdPNeverAnswers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(`"timeout_ms":250`))
		held, _ := h.Request(wasmhost.BrowserGet("/page"))
		h.Tick()
		h.OnePending(wasmhost.PluginContextID)
		for i := 0; i < 20 && h.Reply(held) == nil; i++ {
			h.Tick()
		}
		if r := h.Reply(held); r == nil || r.Status != 503 {
			t.Fatalf("want 503 after the watchdog, got %+v", r)
		}
		if !strings.Contains(lastLog(h), "never arrived") {
			t.Errorf("the log must say the answer never arrived: %s", lastLog(h))
		}
		answerMetadata(t, h, newFakeIdP(t, m))
		id, _ := h.Request(wasmhost.BrowserGet("/page"))
		if r := h.Reply(id); r == nil || r.Status != 302 {
			t.Errorf("after recovery want a login redirect, got %+v", r)
		}
	})
}

// The IdP goes bad later: every periodic refresh that fails keeps the metadata in use
// (sessions, bearer tokens and logins keep working), is logged and counted, and the next
// good refresh is adopted.
func TestMisbehaveIdPDownLater(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		session := idp.login(h, "/")
		bearer := [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})}
		discovery, jwks := misbehavingMetadata(t, idp)
		nextCall := func() wasmhost.Callout {
			t.Helper()
			h.TickUntilPending(wasmhost.PluginContextID, metadataRefreshTicks+1)
			return h.OnePending(wasmhost.PluginContextID)
		}
		stillServing := func(name string) {
			t.Helper()
			if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session})); action != types.ActionContinue {
				t.Errorf("%s: a session must keep working, got %+v", name, h.Reply(id))
			}
			if id, action := h.Request(wasmhost.APIGet("/api", bearer)); action != types.ActionContinue {
				t.Errorf("%s: a bearer token must keep working, got %+v", name, h.Reply(id))
			}
			if id, _ := h.Request(wasmhost.BrowserGet("/page")); h.Reply(id) == nil || h.Reply(id).Status != 302 {
				t.Errorf("%s: logins must keep starting, got %+v", name, h.Reply(id))
			}
			if id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer forged"})); h.Reply(id) == nil || h.Reply(id).Status != 401 {
				t.Errorf("%s: a forged token must still be refused", name)
			}
		}
		failed := uint64(0)
		for name, c := range discovery {
			h.Answer(nextCall(), c.a.status, c.a.body)
			stillServing("refresh: discovery " + name)
			failed++
		}
		for name, c := range jwks {
			h.Answer(nextCall(), 200, idp.discovery())
			h.Answer(h.OnePending(wasmhost.PluginContextID), c.a.status, c.a.body)
			stillServing("refresh: jwks " + name)
			failed++
		}
		if n, _ := h.GetCounterMetric("oidc_wasm.idp_fetch_failed"); n != failed {
			t.Errorf("idp_fetch_failed = %d, want %d", n, failed)
		}
		// Recovery: the next good refresh is adopted (a new key becomes usable).
		_, rotated := testKeys(t)
		idp.keys = append(idp.keys, rotated)
		h.Answer(nextCall(), 200, idp.discovery())
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.jwks())
		idp.signer = rotated
		if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", map[string]any{"nonce": nil})})); action != types.ActionContinue {
			t.Errorf("after recovery the new key must verify, got %+v", h.Reply(id))
		}
	})
}

// Duplicate kids next to a good key: the ambiguous kid is dropped (a token naming it is
// refused), the good key still works.
func TestMisbehaveDuplicateKid(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		a, b := testKeys(t)
		h.Tick()
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, idp.discovery())
		h.Answer(h.OnePending(wasmhost.PluginContextID), 200, jwksOf(publicJWK(t, a, "key-a"), publicJWK(t, a, "dup"), publicJWK(t, b, "dup")))
		if id, action := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", nil)})); action != types.ActionContinue {
			t.Fatalf("the good key must work, got %+v", h.Reply(id))
		}
		priv, err := a.private.Clone() // key a, named with the ambiguous kid
		if err != nil {
			t.Fatal(err)
		}
		_ = priv.Set("kid", "dup")
		idp.signer = &signingKey{kid: "dup", private: priv}
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", nil)}))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("a token naming a duplicate kid must be refused, got %+v", r)
		}
	})
}

// Random IdP answers (issue 5, the wasm-mode randomized test): discovery and JWKS answers
// that are good, truncated, bit-flipped, random or of the wrong status, in any order. The
// module never traps, and nothing passes without a valid token whatever the IdP said.
func TestRandomIdPAnswersNeverPassOrTrap(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		r := mrand.New(mrand.NewPCG(7, 11))
		valid := idp.idToken("", map[string]any{"nonce": nil})
		forged := tamperPayload(valid)
		mutate := func(good string) idpAnswer {
			switch r.IntN(7) {
			case 0:
				return idpAnswer{0, ""}
			case 1:
				return idpAnswer{[]int{301, 404, 500, 503}[r.IntN(4)], good}
			case 2:
				return idpAnswer{200, good[:r.IntN(len(good))]}
			case 3:
				b := []byte(good)
				for i := r.IntN(4) + 1; i > 0; i-- {
					b[r.IntN(len(b))] = byte(r.IntN(256))
				}
				return idpAnswer{200, string(b)}
			case 4:
				b := make([]byte, r.IntN(300))
				for i := range b {
					b[i] = byte(r.IntN(256))
				}
				return idpAnswer{200, string(b)}
			}
			return idpAnswer{200, good}
		}
		for i := 0; i < 60; i++ {
			for n := 0; n <= metadataRefreshTicks && !h.HasPending(wasmhost.PluginContextID); n++ {
				h.Tick()
			}
			for _, c := range h.Pending(wasmhost.PluginContextID) {
				good := idp.jwks()
				if strings.HasSuffix(c.Headers[":path"], "openid-configuration") {
					good = idp.discovery()
				}
				a := mutate(good)
				h.Answer(c, a.status, a.body)
			}
			for name, headers := range map[string][][2]string{
				"forged bearer":  wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + forged}),
				"no credential":  wasmhost.APIGet("/api"),
				"browser":        wasmhost.BrowserGet("/page"),
				"garbage cookie": wasmhost.APIGet("/api", [2]string{"cookie", "__Host-oidc_session=" + valid}),
			} {
				id, action := h.Request(headers)
				for _, c := range h.Pending(wasmhost.PluginContextID) {
					h.Answer(c, 200, idp.jwks())
				}
				if action == types.ActionContinue || h.GetCurrentHttpStreamAction(id) == types.ActionContinue {
					t.Fatalf("round %d: %s passed", i, name)
				}
			}
			id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + valid}))
			if h.GetCurrentHttpStreamAction(id) == types.ActionContinue {
				if got := h.Upstream(id)["x-auth-request-email"]; len(got) != 1 || got[0] != "alice@example.com" {
					t.Fatalf("round %d: identity %q the IdP did not assert", i, got)
				}
			}
		}
		answerMetadata(t, h, idp)
	})
}
