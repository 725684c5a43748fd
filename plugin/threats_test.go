package plugin

// The attack matrix of ../shared/notes/threats.md (issue 5): every row is a named test or
// table row, with the advisory it comes from in its name, run natively and against both
// compiled modules (vmTest). SECURITY.md maps each guarantee to the test that proves it.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// threatConfig is a valid configuration without skip_paths; extra is spliced in.
func threatConfig(extra string) string {
	c := `{"issuer":"` + testIssuer + `","client_id":"` + testClientID + `","client_secret":"` + testSecret +
		`","cookie_secret":"` + testCookieKey + `"`
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

// The purposes the plugin seals with under testConfig and threatConfig: bound to the
// provider's issuer, client and cookie name (sealPurpose); the legacy session purpose is what
// releases before __Host- names sealed _oidc_session with.
var (
	testPurposeSession       = sealPurpose(oidc.PurposeSession, &Config{Issuer: testIssuer, ClientID: testClientID}, defaultCookieName)
	testPurposeState         = sealPurpose(oidc.PurposeState, &Config{Issuer: testIssuer, ClientID: testClientID}, defaultCookieName+"_state")
	testPurposeLegacySession = sealPurpose(oidc.PurposeSession, &Config{Issuer: testIssuer, ClientID: testClientID}, "")
)

func testSealer(t *testing.T) *oidc.Sealer {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(testCookieKey)
	s, err := oidc.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// finishLogin completes the login whose redirect to the IdP is start; cookies are extra
// cookies the browser sends along to the callback.
func finishLogin(t *testing.T, h *wasmhost.Host, idp *fakeIdP, start *wasmhost.Reply, cookies string) *wasmhost.Reply {
	t.Helper()
	q := wasmhost.Query(t, start.Header("location"))
	cookie := "__Host-oidc_session_state=" + wasmhost.CookieValue(start.SetCookies()["__Host-oidc_session_state"])
	if cookies != "" {
		cookie = cookies + "; " + cookie
	}
	id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", cookie}))
	h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
	r := h.Reply(id)
	if r == nil || r.Status != 302 {
		t.Fatalf("callback: want 302, got %+v", r)
	}
	return r
}

// jwtSigner signs a JWS signing input.
type jwtSigner func(signingInput []byte) []byte

func rawJWT(header, claims map[string]any, sign jwtSigner) string {
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64url(string(hb)) + "." + b64url(string(cb))
	sig := ""
	if sign != nil {
		sig = base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
	}
	return input + "." + sig
}

func rsaSigner(t *testing.T, k *rsa.PrivateKey, h crypto.Hash, pss bool) jwtSigner {
	return func(in []byte) []byte {
		hf := h.New()
		hf.Write(in)
		var sig []byte
		var err error
		if pss {
			sig, err = rsa.SignPSS(rand.Reader, k, h, hf.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, hf.Sum(nil))
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func hmacSigner(h func() hash.Hash, secret []byte) jwtSigner {
	return func(in []byte) []byte {
		m := hmac.New(h, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func es256Signer(t *testing.T, k *ecdsa.PrivateKey) jwtSigner {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

// Resource bounds: requests held while metadata loads are capped (beyond: 503 at once), the
// path the plugin parses is capped (beyond: 400), and a Cookie header beyond what
// oidc.ParseCookies reads (200 cookies, 64 KiB) hides the cookies past the limit: they are
// neither used nor forwarded, so a plugin cookie never reaches upstream that way.
func TestThreatResourceBounds(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, threatConfig(""))
		idp := newFakeIdP(t, m)
		var held []uint32
		for i := 0; i < maxWaiting; i++ {
			id, action := h.Request(wasmhost.BrowserGet("/page"))
			if action != types.ActionPause || h.Reply(id) != nil {
				t.Fatalf("request %d must be held, got %+v", i, h.Reply(id))
			}
			held = append(held, id)
		}
		id, _ := h.Request(wasmhost.BrowserGet("/page"))
		if r := h.Reply(id); r == nil || r.Status != 503 {
			t.Fatalf("request beyond maxWaiting: want 503 at once, got %+v", r)
		}
		idp.serveMetadata(h)
		for _, id := range held {
			if r := h.Reply(id); r == nil || r.Status != 302 {
				t.Fatalf("held request: want 302 once metadata loaded, got %+v", r)
			}
		}

		// :path
		id, _ = h.Request(wasmhost.APIGet("/" + strings.Repeat("a", maxPathBytes)))
		if r := h.Reply(id); r == nil || r.Status != 400 {
			t.Errorf("path over %d bytes: want 400, got %+v", maxPathBytes, r)
		}
		id, _ = h.Request(wasmhost.APIGet("/" + strings.Repeat("a", maxPathBytes-1)))
		if r := h.Reply(id); r == nil || r.Status != 401 {
			t.Errorf("path of %d bytes: want 401, got %+v", maxPathBytes, r)
		}

		// Cookie headers
		session := idp.login(h, "/")
		many := strings.Repeat("x=y; ", 250)
		big := "big=" + strings.Repeat("v", 70<<10)
		for name, c := range map[string]struct {
			headers [][2]string
			pass    bool
		}{
			"session after 250 cookies":      {[][2]string{{"cookie", many + session}}, false},
			"session after 70 KiB":           {[][2]string{{"cookie", big}, {"cookie", session}}, false},
			"session before 250 cookies":     {[][2]string{{"cookie", session + "; " + many}}, true},
			"session before 70 KiB":          {[][2]string{{"cookie", session}, {"cookie", big}}, true},
			"1000 Cookie headers":            {append([][2]string{{"cookie", session}}, repeatHeader("cookie", "a=b", 1000)...), true},
			"1000 Authorization headers":     {append([][2]string{{"cookie", session}}, repeatHeader("authorization", "Bearer x", 1000)...), true},
			"1 MiB bearer token, no session": {[][2]string{{"authorization", "Bearer " + strings.Repeat("a", 1<<20)}}, false},
		} {
			id, action := h.Request(wasmhost.APIGet("/api", c.headers...))
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != c.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", name, passed, c.pass, h.Reply(id))
			}
			if !c.pass {
				continue
			}
			up := h.Upstream(id)
			for _, v := range up["cookie"] {
				if strings.Contains(v, "__Host-oidc_session") {
					t.Errorf("%s: a plugin cookie reached upstream", name)
				}
			}
			if len(up["authorization"]) != 0 {
				t.Errorf("%s: a client's Authorization reached upstream next to the session", name)
			}
		}
	})
}

func repeatHeader(name, value string, n int) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{name, value}
	}
	return out
}
