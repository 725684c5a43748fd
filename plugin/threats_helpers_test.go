package plugin

// The attack matrix of ../shared/notes/threats.md (issue 5): every row is a named test or
// table row, with the advisory it comes from in its name, run natively and against both
// compiled modules (vmTest). SECURITY.md maps each guarantee to the test that proves it.
// The tests are grouped by attack class, one threats_<class>_test.go file each; this file
// holds the helpers several classes share.

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
	"testing"

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
	cookie := stateCookie(start)
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
