package oidc_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// TestCodeChallengeS256RFC7636 is the example of RFC 7636 Appendix B, whose challenge can
// also be checked with: printf %s VERIFIER | openssl dgst -sha256 -binary | basenc
// --base64url (which adds one "=" of padding).
func TestCodeChallengeS256RFC7636(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := oidc.CodeChallengeS256(verifier); got != challenge {
		t.Fatalf("got %q, want %q", got, challenge)
	}
	// The appendix's 32 random octets become that verifier when they are the third secret
	// NewAuthRequest draws, and the challenge is what the URL carries.
	octets := []byte{116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
		22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121}
	random := io.MultiReader(bytes.NewReader(make([]byte, 64)), bytes.NewReader(octets))
	ar, err := oidc.NewAuthRequest(random, "https://idp/auth", "c", "https://app/cb", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ar.CodeVerifier != verifier {
		t.Fatalf("verifier %q, want %q", ar.CodeVerifier, verifier)
	}
	u, _ := url.Parse(ar.URL)
	if got := u.Query().Get("code_challenge"); got != challenge {
		t.Fatalf("code_challenge %q, want %q", got, challenge)
	}
}

func TestNewAuthRequest(t *testing.T) {
	ar, err := oidc.NewAuthRequest(&sealCounterReader{}, "https://idp.example.com/authorize?tenant=a%20b&x=1&x=2",
		"client & co", "https://app.example.com/oauth2/callback?k=v", []string{"email", "profile"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The counter reader fills state, nonce and verifier from consecutive bytes.
	var raw [96]byte
	if _, err := io.ReadFull(&sealCounterReader{}, raw[:]); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	if ar.State != enc(raw[:32]) || ar.Nonce != enc(raw[32:64]) || ar.CodeVerifier != enc(raw[64:]) {
		t.Fatalf("secrets not taken from the random source in order: %+v", ar)
	}

	u, err := url.Parse(ar.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "idp.example.com" || u.Path != "/authorize" || u.Fragment != "" {
		t.Fatalf("endpoint changed: %s", ar.URL)
	}
	if !strings.HasPrefix(u.RawQuery, "tenant=a%20b&x=1&x=2&") {
		t.Fatalf("endpoint's own query not kept as sent: %s", u.RawQuery)
	}
	q := u.Query()
	want := map[string]string{
		"response_type":         "code",
		"client_id":             "client & co",
		"redirect_uri":          "https://app.example.com/oauth2/callback?k=v",
		"scope":                 "openid email profile",
		"state":                 ar.State,
		"nonce":                 ar.Nonce,
		"code_challenge":        oidc.CodeChallengeS256(ar.CodeVerifier),
		"code_challenge_method": "S256",
		"tenant":                "a b",
	}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Errorf("parameter %s = %q, want exactly once %q", k, got, v)
		}
	}
	if got := q["x"]; len(got) != 2 {
		t.Errorf("repeated endpoint parameter x = %q", got)
	}
	if len(q) != len(want)+1 {
		t.Errorf("unexpected parameters: %v", q)
	}
}

func TestNewAuthRequestSecrets(t *testing.T) {
	ar, err := oidc.NewAuthRequest(rand.Reader, "https://idp/auth", "c", "https://app/cb", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range []string{ar.State, ar.Nonce, ar.CodeVerifier} {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != 32 || len(s) != 43 {
			t.Fatalf("secret %q is not 32 bytes in unpadded base64url", s)
		}
		if seen[s] {
			t.Fatal("secrets repeat")
		}
		seen[s] = true
	}
	u, _ := url.Parse(ar.URL)
	if got := u.Query().Get("scope"); got != "openid" {
		t.Fatalf("scope %q, want openid", got)
	}
}

func TestNewAuthRequestScopes(t *testing.T) {
	cases := []struct {
		scopes []string
		want   string
	}{
		{nil, "openid"},
		{[]string{"openid"}, "openid"},
		{[]string{"email"}, "openid email"},
		{[]string{"email", "openid"}, "email openid"},
		{[]string{"openid", "email", "openid", "email"}, "openid email"},
		{[]string{"offline_access", "api:read", "https://graph/x.y"}, "openid offline_access api:read https://graph/x.y"},
	}
	for _, tc := range cases {
		ar, err := oidc.NewAuthRequest(rand.Reader, "https://idp/auth", "c", "https://app/cb", tc.scopes, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.scopes, err)
		}
		u, _ := url.Parse(ar.URL)
		if got := u.Query()["scope"]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: scope %q, want %q", tc.scopes, got, tc.want)
		}
	}
}

func TestNewAuthRequestErrors(t *testing.T) {
	errRandom := errors.New("no entropy")
	cases := []struct {
		name                    string
		random                  io.Reader
		endpoint, client, redir string
		scopes                  []string
	}{
		{"bad random", &failingReader{err: errRandom}, "https://idp/auth", "c", "https://app/cb", nil},
		{"short random", bytes.NewReader(make([]byte, 95)), "https://idp/auth", "c", "https://app/cb", nil},
		{"relative endpoint", rand.Reader, "/auth", "c", "https://app/cb", nil},
		{"no host", rand.Reader, "https:///auth", "c", "https://app/cb", nil},
		{"other scheme", rand.Reader, "ftp://idp/auth", "c", "https://app/cb", nil},
		{"javascript", rand.Reader, "javascript:alert(1)", "c", "https://app/cb", nil},
		{"fragment", rand.Reader, "https://idp/auth#x", "c", "https://app/cb", nil},
		{"user info", rand.Reader, "https://u:p@idp/auth", "c", "https://app/cb", nil},
		{"unparsable", rand.Reader, "https://idp/%zz", "c", "https://app/cb", nil},
		{"bad endpoint query", rand.Reader, "https://idp/auth?a=%zz", "c", "https://app/cb", nil},
		{"endpoint sets state", rand.Reader, "https://idp/auth?state=x", "c", "https://app/cb", nil},
		{"endpoint sets client_id", rand.Reader, "https://idp/auth?client_id=evil", "c", "https://app/cb", nil},
		{"endpoint sets redirect_uri", rand.Reader, "https://idp/auth?redirect_uri=", "c", "https://app/cb", nil},
		{"empty client", rand.Reader, "https://idp/auth", "", "https://app/cb", nil},
		{"empty redirect", rand.Reader, "https://idp/auth", "c", "", nil},
		{"empty scope", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{""}},
		{"scope with space", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{"a b"}},
		{"scope with quote", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{`a"`}},
		{"scope with backslash", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{`a\`}},
		{"scope with newline", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{"a\n"}},
		{"scope non-ASCII", rand.Reader, "https://idp/auth", "c", "https://app/cb", []string{"é"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar, err := oidc.NewAuthRequest(tc.random, tc.endpoint, tc.client, tc.redir, tc.scopes, nil)
			if err == nil {
				t.Fatalf("accepted: %+v", ar)
			}
			if tc.name == "bad random" && !errors.Is(err, errRandom) {
				t.Fatalf("random source error not wrapped: %v", err)
			}
		})
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

// Extra parameters follow the request's own, in order and escaped; one the request owns, or
// that changes how the answer comes back, is refused.
func TestNewAuthRequestExtraParams(t *testing.T) {
	ar, err := oidc.NewAuthRequest(rand.Reader, "https://idp/auth", "c", "https://app/cb", nil,
		[][2]string{{"access_type", "offline"}, {"hd", "example.com"}, {"login_hint", "a&b=c@x"}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ar.URL)
	if q := u.Query(); q.Get("access_type") != "offline" || q.Get("hd") != "example.com" || q.Get("login_hint") != "a&b=c@x" || q.Get("state") == "" {
		t.Errorf("extra parameters lost: %s", ar.URL)
	}
	if !strings.HasSuffix(ar.URL, "&access_type=offline&hd=example.com&login_hint=a%26b%3Dc%40x") {
		t.Errorf("extra parameters not appended in order: %s", ar.URL)
	}
	for _, owned := range []string{"state", "Nonce", "redirect_uri", "code_challenge", "code_challenge_method", "client_id", "scope", "response_type", "response_mode", "request", "request_uri", ""} {
		if _, err := oidc.NewAuthRequest(rand.Reader, "https://idp/auth", "c", "https://app/cb", nil, [][2]string{{owned, "x"}}); err == nil {
			t.Errorf("%q accepted as an extra parameter", owned)
		}
	}
}
