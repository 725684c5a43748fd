package oidc_test

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

func tokenHeader(r oidc.Request, name string) (string, int) {
	v, n := "", 0
	for _, h := range r.Header {
		if h[0] == name {
			v = h[1]
			n++
		}
	}
	return v, n
}

// tokenBasicCredentials decodes an Authorization: Basic value the way an authorization
// server following RFC 6749 §2.3.1 does: base64, split at the first ":", form-decode both.
func tokenBasicCredentials(t *testing.T, header string) (id, secret string) {
	t.Helper()
	b64, ok := strings.CutPrefix(header, "Basic ")
	if !ok {
		t.Fatalf("not Basic: %q", header)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		t.Fatalf("no colon in %q", raw)
	}
	if id, err = url.QueryUnescape(encID); err != nil {
		t.Fatal(err)
	}
	if secret, err = url.QueryUnescape(encSecret); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

func TestCodeExchangeRequest(t *testing.T) {
	const secret = "s3cr:t+/=%&? é\"\\"
	r := oidc.CodeExchangeRequest("https://idp.example.com/token?tenant=1", "client:id@x", secret, "the+code/=", "https://app/cb?a=b", "verifier-123")
	if r.Method != "POST" || r.URL != "https://idp.example.com/token?tenant=1" {
		t.Fatalf("method/url: %s %s", r.Method, r.URL)
	}
	if v, n := tokenHeader(r, "content-type"); n != 1 || v != "application/x-www-form-urlencoded" {
		t.Errorf("content-type %q x%d", v, n)
	}
	if v, n := tokenHeader(r, "accept"); n != 1 || v != "application/json" {
		t.Errorf("accept %q x%d", v, n)
	}
	auth, n := tokenHeader(r, "authorization")
	if n != 1 {
		t.Fatalf("%d authorization headers", n)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("client%3Aid%40x:s3cr%3At%2B%2F%3D%25%26%3F+%C3%A9%22%5C")); auth != want {
		t.Errorf("authorization %q, want %q", auth, want)
	}
	if id, sec := tokenBasicCredentials(t, auth); id != "client:id@x" || sec != secret {
		t.Errorf("credentials decode to %q / %q", id, sec)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"grant_type":    "authorization_code",
		"code":          "the+code/=",
		"redirect_uri":  "https://app/cb?a=b",
		"code_verifier": "verifier-123",
		"client_id":     "client:id@x",
	}
	for k, v := range want {
		if got := form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(form) != len(want) {
		t.Errorf("unexpected form fields: %v", form)
	}
	if strings.Contains(string(r.Body), secret) || form.Has("client_secret") {
		t.Error("secret in the body")
	}
	scheme, authority, path, err := r.Target()
	if err != nil || scheme != "https" || authority != "idp.example.com" || path != "/token?tenant=1" {
		t.Errorf("Target: %s %s %s %v", scheme, authority, path, err)
	}
}

func TestTokenRequestPublicClient(t *testing.T) {
	r := oidc.CodeExchangeRequest("https://idp/token", "spa", "", "c", "https://app/cb", "v")
	if _, n := tokenHeader(r, "authorization"); n != 0 {
		t.Fatal("authorization header without a secret")
	}
	form, _ := url.ParseQuery(string(r.Body))
	if form.Get("client_id") != "spa" {
		t.Fatal("public client without client_id")
	}
}

func TestRefreshRequest(t *testing.T) {
	r := oidc.RefreshRequest("https://idp/token", "c", "s", "rt&x=1", []string{"openid", "email"})
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"grant_type": "refresh_token", "refresh_token": "rt&x=1", "scope": "openid email", "client_id": "c"}
	for k, v := range want {
		if got := form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(form) != len(want) {
		t.Errorf("unexpected form fields: %v", form)
	}
	if id, sec := tokenBasicCredentials(t, mustHeader(t, r, "authorization")); id != "c" || sec != "s" {
		t.Errorf("credentials %q %q", id, sec)
	}
	r = oidc.RefreshRequest("https://idp/token", "c", "s", "rt", nil)
	form, _ = url.ParseQuery(string(r.Body))
	if form.Has("scope") {
		t.Error("scope sent without scopes")
	}
	if r.Method != "POST" {
		t.Error("not POST")
	}
}

func mustHeader(t *testing.T, r oidc.Request, name string) string {
	t.Helper()
	v, n := tokenHeader(r, name)
	if n != 1 {
		t.Fatalf("%d %s headers", n, name)
	}
	return v
}

func TestParseTokenResponse(t *testing.T) {
	cases := []struct {
		name string
		body string
		want oidc.TokenResponse
	}{
		{"full", `{"access_token":"at","id_token":"it","refresh_token":"rt","token_type":"Bearer","scope":"openid email","expires_in":3600}`,
			oidc.TokenResponse{AccessToken: "at", IDToken: "it", RefreshToken: "rt", TokenType: "Bearer", Scope: "openid email", ExpiresIn: 3600}},
		{"minimal", `{"access_token":"at"}`, oidc.TokenResponse{AccessToken: "at"}},
		{"bearer lower case", `{"access_token":"at","token_type":"bearer"}`, oidc.TokenResponse{AccessToken: "at", TokenType: "bearer"}},
		{"expires_in as string", `{"access_token":"at","expires_in":"3599"}`, oidc.TokenResponse{AccessToken: "at", ExpiresIn: 3599}},
		{"expires_in zero", `{"access_token":"at","expires_in":0}`, oidc.TokenResponse{AccessToken: "at"}},
		{"unknown fields", `{"access_token":"at","x":{"y":[1]},"not-before-policy":0}`, oidc.TokenResponse{AccessToken: "at"}},
		{"whitespace", " \n{ \"access_token\" : \"at\" }\n", oidc.TokenResponse{AccessToken: "at"}},
		{"escaped", `{"access_token":"a\u0074"}`, oidc.TokenResponse{AccessToken: "at"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oidc.ParseTokenResponse(200, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestParseTokenResponseOAuthErrors(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		code, desc string
	}{
		{400, `{"error":"invalid_grant","error_description":"code expired"}`, "invalid_grant", "code expired"},
		{401, `{"error":"invalid_client"}`, "invalid_client", ""},
		{403, `{"error":"unauthorized_client","error_description":5}`, "unauthorized_client", ""},
		{429, `{"error":"slow_down"}`, "slow_down", ""},
		{200, `{"error":"invalid_grant"}`, "invalid_grant", ""},
		{400, `{"error":"x\ny\u0000","error_description":"<b>\"q\"</b>\r\n"}`, "x?y?", "<b>?q?</b>??"},
	}
	for _, tc := range cases {
		_, err := oidc.ParseTokenResponse(tc.status, []byte(tc.body))
		var te *oidc.TokenError
		if !errors.As(err, &te) {
			t.Fatalf("%d %s: %v, want *TokenError", tc.status, tc.body, err)
		}
		if te.Status != tc.status || te.Code != tc.code || te.Description != tc.desc {
			t.Fatalf("%d %s: got %+v", tc.status, tc.body, te)
		}
		if errors.Is(err, oidc.ErrBadTokenResponse) {
			t.Fatalf("TokenError also matches ErrBadTokenResponse")
		}
	}
	if got, want := (&oidc.TokenError{Status: 400, Code: "invalid_grant", Description: "used"}).Error(), "oidc: token endpoint answered status 400 with error invalid_grant: used"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&oidc.TokenError{Status: 401, Code: "invalid_client"}).Error(), "oidc: token endpoint answered status 401 with error invalid_client"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseTokenResponseFailures(t *testing.T) {
	const secret = "SECRET-TOKEN-VALUE"
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"500 with oauth error", 500, `{"error":"server_error"}`},
		{"502 html", 502, `<html>` + secret + `</html>`},
		{"302", 302, ``},
		{"201", 201, `{"access_token":"` + secret + `"}`},
		{"400 not json", 400, `bad request ` + secret},
		{"400 json without error", 400, `{"message":"` + secret + `"}`},
		{"400 error not a string", 400, `{"error":{"code":1}}`},
		{"400 empty error", 400, `{"error":""}`},
		{"400 array", 400, `["error"]`},
		{"200 empty", 200, ``},
		{"200 not json", 200, `access_token=` + secret},
		{"200 array", 200, `[{"access_token":"` + secret + `"}]`},
		{"200 invalid json", 200, `{"access_token":"` + secret + `"`},
		{"200 trailing data", 200, `{"access_token":"` + secret + `"} x`},
		{"200 no access_token", 200, `{"id_token":"` + secret + `"}`},
		{"200 empty access_token", 200, `{"access_token":""}`},
		{"200 access_token number", 200, `{"access_token":1}`},
		{"200 id_token not string", 200, `{"access_token":"` + secret + `","id_token":["` + secret + `"]}`},
		{"200 refresh_token null", 200, `{"access_token":"` + secret + `","refresh_token":null}`},
		{"200 token_type mac", 200, `{"access_token":"` + secret + `","token_type":"mac"}`},
		{"200 token_type DPoP", 200, `{"access_token":"` + secret + `","token_type":"DPoP"}`},
		{"200 token_type empty", 200, `{"access_token":"` + secret + `","token_type":""}`},
		{"200 token_type number", 200, `{"access_token":"` + secret + `","token_type":1}`},
		{"200 expires_in negative", 200, `{"access_token":"` + secret + `","expires_in":-1}`},
		{"200 expires_in fraction", 200, `{"access_token":"` + secret + `","expires_in":1.5}`},
		{"200 expires_in exponent", 200, `{"access_token":"` + secret + `","expires_in":1e3}`},
		{"200 expires_in huge", 200, `{"access_token":"` + secret + `","expires_in":99999999999999999999}`},
		{"200 expires_in bool", 200, `{"access_token":"` + secret + `","expires_in":true}`},
		{"200 expires_in null", 200, `{"access_token":"` + secret + `","expires_in":null}`},
		{"200 expires_in bad string", 200, `{"access_token":"` + secret + `","expires_in":"soon"}`},
		{"200 too large", 200, `{"access_token":"` + secret + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := oidc.ParseTokenResponse(tc.status, []byte(tc.body))
			if err == nil || tr != nil {
				t.Fatalf("accepted: %+v", tr)
			}
			var te *oidc.TokenError
			if errors.As(err, &te) {
				t.Fatalf("got a TokenError: %v", err)
			}
			if !errors.Is(err, oidc.ErrBadTokenResponse) {
				t.Fatalf("%v does not wrap ErrBadTokenResponse", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error echoes the body: %v", err)
			}
			if tc.status != 200 && !strings.Contains(err.Error(), "status") {
				t.Fatalf("error does not give the status: %v", err)
			}
		})
	}
}
