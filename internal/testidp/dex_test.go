package testidp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testClientID     = "wasm-oidc"
	testClientSecret = "s3cret with spaces & symbols"
)

// TestDex proves the harness against the real Dex, in the order the plugin uses it: discovery
// through Forward, the browser login, the code exchange through Forward, and the password grant
// the bearer-token tests rely on. One Dex serves all subtests to keep the run short.
func TestDex(t *testing.T) {
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/oauth2/callback", unusedPort(t))
	started := time.Now()
	dex := StartDex(t, DexOptions{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURIs: []string{redirectURI},
		ExtraUsers:   []StaticUser{{Email: "bob@example.com", Username: "bob", UserID: "bob-id"}},
	})
	t.Logf("Dex ready at %s in %v", dex.Issuer, time.Since(started))
	if !strings.HasPrefix(dex.Issuer, "http://127.0.0.1:") || !strings.HasSuffix(dex.Issuer, "/dex") {
		t.Fatalf("Issuer = %q, want http://127.0.0.1:<port>/dex", dex.Issuer)
	}

	var disc struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	t.Run("discovery via Forward", func(t *testing.T) {
		headers, body := forwardOK(t, dex, [][2]string{
			{":method", "GET"}, {":path", "/dex/.well-known/openid-configuration"},
			{":authority", dex.Addr}, {":scheme", "http"}, {"accept", "application/json"},
		}, nil)
		if got := header(headers, "content-type"); !strings.HasPrefix(got, "application/json") {
			t.Errorf("content-type = %q, want application/json", got)
		}
		if err := json.Unmarshal(body, &disc); err != nil {
			t.Fatalf("discovery is not JSON: %v: %s", err, body)
		}
		if disc.Issuer != dex.Issuer || disc.Token != dex.Issuer+"/token" || disc.Authorization != dex.Issuer+"/auth" {
			t.Fatalf("discovery = %+v, want endpoints under %s", disc, dex.Issuer)
		}
	})

	t.Run("browser login and code exchange", func(t *testing.T) {
		verifier := randomString(t)
		sum := sha256.Sum256([]byte(verifier))
		state, nonce := randomString(t), randomString(t)
		authURL := dex.Issuer + "/auth?" + url.Values{
			"response_type":         {"code"},
			"client_id":             {testClientID},
			"redirect_uri":          {redirectURI},
			"scope":                 {"openid email profile"},
			"state":                 {state},
			"nonce":                 {nonce},
			"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
			"code_challenge_method": {"S256"},
		}.Encode()
		cb, err := NewBrowser().LoginAtDex(authURL, DexUser, DexPassword)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(cb)
		if err != nil {
			t.Fatalf("callback %q: %v", cb, err)
		}
		if got := u.Scheme + "://" + u.Host + u.Path; got != redirectURI {
			t.Fatalf("callback %q does not go to %s", cb, redirectURI)
		}
		if u.Query().Get("state") != state || u.Query().Get("code") == "" {
			t.Fatalf("callback %q: want state %q and a code", cb, state)
		}

		form := url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {u.Query().Get("code")},
			"redirect_uri":  {redirectURI},
			"code_verifier": {verifier},
		}.Encode()
		basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(testClientID) + ":" + url.QueryEscape(testClientSecret)))
		_, body := forwardOK(t, dex, [][2]string{
			{":method", "POST"}, {":path", "/dex/token"}, {":authority", dex.Addr}, {":scheme", "http"},
			{"content-type", "application/x-www-form-urlencoded"}, {"authorization", "Basic " + basic},
		}, []byte(form))
		var tok struct {
			IDToken string `json:"id_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
			t.Fatalf("token response has no id_token: %s", body)
		}
		claims := jwtClaims(t, tok.IDToken)
		if claims["nonce"] != nonce || claims["email"] != DexUser || claims["iss"] != dex.Issuer || claims["aud"] != testClientID {
			t.Fatalf("id_token claims = %v", claims)
		}
	})

	t.Run("wrong password is reported", func(t *testing.T) {
		authURL := dex.Issuer + "/auth?" + url.Values{
			"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {redirectURI},
			"scope": {"openid"}, "state": {"s"},
		}.Encode()
		_, err := NewBrowser().LoginAtDex(authURL, DexUser, "not-the-password")
		if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(err.Error(), "Invalid") {
			t.Fatalf("err = %v, want a rejection quoting Dex's message", err)
		}
	})

	t.Run("forced approval screen is approved", func(t *testing.T) {
		authURL := dex.Issuer + "/auth?" + url.Values{
			"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {redirectURI},
			"scope": {"openid"}, "state": {"approval"}, "approval_prompt": {"force"},
		}.Encode()
		cb, err := NewBrowser().LoginAtDex(authURL, DexUser, DexPassword)
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := url.Parse(cb); u.Query().Get("code") == "" {
			t.Fatalf("callback %q has no code", cb)
		}
	})

	t.Run("password grant", func(t *testing.T) {
		for _, user := range []string{DexUser, "bob@example.com"} {
			idToken, err := dex.PasswordGrant(user, DexPassword, "openid", "email")
			if err != nil {
				t.Fatal(err)
			}
			if claims := jwtClaims(t, idToken); claims["email"] != user || claims["iss"] != dex.Issuer {
				t.Fatalf("id_token claims for %s = %v", user, claims)
			}
		}
		if _, err := dex.PasswordGrant(DexUser, "wrong"); err == nil {
			t.Fatal("password grant with a wrong password succeeded")
		}
	})
}

// TestForward checks what the plugin would see from Envoy, against a local server.
func TestForward(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Mixed-Case", "yes")
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
		fmt.Fprintf(w, "%s %s host=%s x=%v ua=%q body=%s", r.Method, r.URL.RequestURI(), r.Host, r.Header["X-Multi"], r.UserAgent(), body)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	headers, body, err := Forward(addr, [][2]string{
		{":method", "POST"}, {":path", "/p?q=1"}, {":authority", "idp.example"}, {":scheme", "http"},
		{"X-Multi", "1"}, {"x-multi", "2"},
	}, []byte("hello"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `POST /p?q=1 host=idp.example x=[1 2] ua="" body=hello`; string(body) != want {
		t.Errorf("server saw %q, want %q", body, want)
	}
	if headers[0] != [2]string{":status", "302"} {
		t.Errorf("first header = %v, want :status 302 (redirects are not followed)", headers[0])
	}
	if header(headers, "x-mixed-case") != "yes" || header(headers, "content-length") == "" {
		t.Errorf("headers = %v, want lower-cased names and content-length", headers)
	}
	var cookies []string
	for _, h := range headers {
		if h[0] == "set-cookie" {
			cookies = append(cookies, h[1])
		}
	}
	if strings.Join(cookies, ",") != "a=1,b=2" {
		t.Errorf("set-cookie pairs = %v, want two", cookies)
	}

	if h, b, err := Forward(addr, [][2]string{{":method", "GET"}, {":path", "/slow"}}, nil, 100*time.Millisecond); err == nil || h != nil || b != nil {
		t.Errorf("slow call: got %v %q %v, want a timeout error and nothing else", h, b, err)
	}
	closed := fmt.Sprintf("127.0.0.1:%d", unusedPort(t))
	if h, b, err := Forward(closed, [][2]string{{":method", "GET"}, {":path", "/"}}, nil, time.Second); err == nil || h != nil || b != nil {
		t.Errorf("closed port: got %v %q %v, want a transport error and nothing else", h, b, err)
	}
}

func forwardOK(t *testing.T, dex *Dex, headers [][2]string, body []byte) ([][2]string, []byte) {
	t.Helper()
	respHeaders, respBody, err := Forward(dex.Addr, headers, body, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if respHeaders[0] != [2]string{":status", "200"} {
		t.Fatalf("response %v: %s", respHeaders[0], respBody)
	}
	return respHeaders, respBody
}

func header(headers [][2]string, name string) string {
	for _, h := range headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// jwtClaims decodes a token's payload without verifying it: these tests check what Dex issued,
// not signatures, which the plugin's own tests cover.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("token payload: %v", err)
	}
	return claims
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// unusedPort returns a loopback port nothing listens on, for a redirect URI that must never be
// requested and for a refused connection.
func unusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
