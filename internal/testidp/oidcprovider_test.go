package testidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The helpers below carry an "op" prefix and do not reuse dex_test.go's: the Dex harness is being
// refactored concurrently, and these tests should not break with it.

const (
	opClientID = "wasm-oidc"
	// Space, '&', '+' and '%' check the form-encoding of client_secret_basic (RFC 6749 2.3.1),
	// which oidc-provider decodes strictly.
	opClientSecret = "s3cret with spaces & a+b 100%"
)

// opDiscovery is the part of the discovery document the plugin and these tests use.
type opDiscovery struct {
	Issuer             string   `json:"issuer"`
	Authorization      string   `json:"authorization_endpoint"`
	Token              string   `json:"token_endpoint"`
	JWKS               string   `json:"jwks_uri"`
	EndSession         string   `json:"end_session_endpoint"`
	CodeChallenge      []string `json:"code_challenge_methods_supported"`
	Scopes             []string `json:"scopes_supported"`
	Claims             []string `json:"claims_supported"`
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported"`
}

// opTokens is a token endpoint response, success or error.
type opTokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// TestOIDCProvider proves the harness against the real oidc-provider in the order the plugin's
// end-to-end tests use it: discovery, a browser login with offline_access, the code exchange,
// refresh-token rotation with reuse detection, and RP-initiated logout. One provider serves
// every step, because each step needs the state the one before it left.
func TestOIDCProvider(t *testing.T) {
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/oauth2/callback", unusedPort(t))
	postLogoutURI := fmt.Sprintf("http://127.0.0.1:%d/signed-out", unusedPort(t))
	started := time.Now()
	op := StartOIDCProvider(t, OIDCProviderOptions{
		ClientID:               opClientID,
		ClientSecret:           opClientSecret,
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogoutURI},
		IDTokenTTL:             60 * time.Second,
		AccessTokenTTL:         120 * time.Second,
	})
	t.Logf("oidc-provider ready at %s in %v", op.Issuer, time.Since(started))
	if op.Issuer != "http://"+op.Addr || !strings.HasPrefix(op.Addr, "127.0.0.1:") {
		t.Fatalf("Issuer = %q, Addr = %q: want http://127.0.0.1:<port> and its host:port", op.Issuer, op.Addr)
	}

	var disc opDiscovery
	if !t.Run("discovery via Forward", func(t *testing.T) {
		disc = opDiscover(t, op)
		if disc.Issuer != op.Issuer || disc.Token != op.Issuer+"/token" || disc.Authorization != op.Issuer+"/auth" {
			t.Errorf("discovery = %+v, want endpoints under %s", disc, op.Issuer)
		}
		if disc.EndSession != op.Issuer+"/session/end" {
			t.Errorf("end_session_endpoint = %q, want %s/session/end", disc.EndSession, op.Issuer)
		}
		if !slices.Equal(disc.CodeChallenge, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported = %q, want [S256]", disc.CodeChallenge)
		}
		if !slices.Contains(disc.Scopes, "offline_access") || !slices.Contains(disc.Claims, "groups") {
			t.Errorf("scopes %q / claims %q: want offline_access and groups", disc.Scopes, disc.Claims)
		}
		if !slices.Contains(disc.TokenAuthMethods, "client_secret_basic") || !slices.Contains(disc.IDTokenSigningAlgs, "RS256") {
			t.Errorf("auth methods %q / signing algs %q: want client_secret_basic and RS256", disc.TokenAuthMethods, disc.IDTokenSigningAlgs)
		}
	}) {
		t.FailNow()
	}
	jwks := opGet(t, op, "/jwks")

	browser := NewBrowser()
	var first opTokens
	var nonce string
	if !t.Run("login with offline_access and code exchange", func(t *testing.T) {
		first, nonce = opLogin(t, op, browser, redirectURI, OIDCProviderUser, "any password")
		if first.IDToken == "" || first.AccessToken == "" || first.RefreshToken == "" {
			t.Fatalf("token response lacks a token: %+v", first)
		}
		if first.TokenType != "Bearer" || first.ExpiresIn < 115 || first.ExpiresIn > 120 {
			t.Errorf("token_type %q, expires_in %d: want Bearer and the 120 s AccessTokenTTL", first.TokenType, first.ExpiresIn)
		}
		if !slices.Contains(strings.Fields(first.Scope), "offline_access") {
			t.Errorf("scope = %q, want offline_access granted", first.Scope)
		}
		header, claims := opVerifyJWT(t, jwks, first.IDToken)
		if header["alg"] != "RS256" {
			t.Errorf("id_token alg = %v, want RS256", header["alg"])
		}
		opCheckUser(t, op, claims, nonce)
		if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 60 {
			t.Errorf("id_token lives %v s, want the 60 s IDTokenTTL", exp-iat)
		}
	}) {
		t.FailNow()
	}

	var second opTokens
	if !t.Run("refresh rotates the refresh token", func(t *testing.T) {
		// Token responses with an identical iat would make identical ID tokens.
		time.Sleep(1100 * time.Millisecond)
		second = opRefresh(t, op, first.RefreshToken, 200)
		if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh returned refresh_token %q, want a new one", second.RefreshToken)
		}
		if second.IDToken == "" || second.IDToken == first.IDToken || second.AccessToken == first.AccessToken {
			t.Fatalf("refresh returned no new id_token or access_token: %+v", second)
		}
		_, claims := opVerifyJWT(t, jwks, second.IDToken)
		opCheckUser(t, op, claims, nonce)

		third := opRefresh(t, op, second.RefreshToken, 200)
		if third.RefreshToken == "" || third.RefreshToken == second.RefreshToken {
			t.Fatalf("second refresh returned refresh_token %q, want a new one", third.RefreshToken)
		}

		// Rotation: the first token was consumed. Reusing it is treated as theft, which revokes
		// the grant, so even the newest refresh token stops working.
		if reused := opRefresh(t, op, first.RefreshToken, 400); reused.Error != "invalid_grant" {
			t.Errorf("reused refresh token: error %q, want invalid_grant", reused.Error)
		}
		if revoked := opRefresh(t, op, third.RefreshToken, 400); revoked.Error != "invalid_grant" {
			t.Errorf("refresh after reuse detection: error %q, want invalid_grant", revoked.Error)
		}
	}) {
		t.FailNow()
	}

	if !t.Run("PKCE is required", func(t *testing.T) {
		authURL := op.Issuer + "/auth?" + url.Values{
			"response_type": {"code"}, "client_id": {opClientID}, "redirect_uri": {redirectURI},
			"scope": {"openid"}, "state": {"no-pkce"},
		}.Encode()
		cb, err := NewBrowser().LoginAtOIDCProvider(authURL, OIDCProviderUser, "x")
		if err != nil {
			t.Fatal(err)
		}
		q := opCallbackQuery(t, cb, redirectURI)
		if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "no-pkce" {
			t.Fatalf("callback %q: want error=invalid_request and no code", cb)
		}
	}) {
		t.FailNow()
	}

	t.Run("wrong user is rejected", func(t *testing.T) {
		authURL, _, _ := opAuthURL(t, op, redirectURI, "openid")
		_, err := NewBrowser().LoginAtOIDCProvider(authURL, "mallory@example.com", "x")
		if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(err.Error(), "Invalid username or password") {
			t.Fatalf("err = %v, want a rejection quoting the provider's message", err)
		}
	})

	t.Run("RP-initiated logout", func(t *testing.T) {
		// The browser's session survived the reuse detection (only the grant was revoked), so
		// this login shows no login form: the empty password, which the form would refuse, is
		// never typed. Consent is asked again, because the revoked grant went with it.
		tokens, _ := opLogin(t, op, browser, redirectURI, OIDCProviderUser, "")

		endSession := disc.EndSession + "?" + url.Values{
			"id_token_hint":            {tokens.IDToken},
			"post_logout_redirect_uri": {postLogoutURI},
			"client_id":                {opClientID},
			"state":                    {"bye"},
		}.Encode()
		target, err := browser.LogoutAtOIDCProvider(endSession)
		if err != nil {
			t.Fatal(err)
		}
		if target != postLogoutURI+"?state=bye" {
			t.Fatalf("logout sent the browser to %q, want %s?state=bye", target, postLogoutURI)
		}

		// An offline_access grant outlives the session by design ("persistsLogout"): logging out
		// does not revoke the refresh token. A client that wants it dead revokes it itself.
		after := opRefresh(t, op, tokens.RefreshToken, 200)
		if status, body := opRevoke(t, op, after.RefreshToken); status != 200 {
			t.Fatalf("revocation: status %d: %s", status, body)
		}
		if revoked := opRefresh(t, op, after.RefreshToken, 400); revoked.Error != "invalid_grant" {
			t.Errorf("refresh after revocation: error %q, want invalid_grant", revoked.Error)
		}
		// And the session is gone: the login form is back, and refuses the empty password.
		authURL, _, _ := opAuthURL(t, op, redirectURI, "openid")
		if _, err := browser.LoginAtOIDCProvider(authURL, OIDCProviderUser, ""); err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("login after logout: err = %v, want the login form again", err)
		}
	})

	t.Run("logout without a session", func(t *testing.T) {
		// A browser whose provider session is already gone gets an auto-submitting form instead
		// of the question; the redirect back must still happen.
		endSession := disc.EndSession + "?" + url.Values{
			"client_id":                {opClientID},
			"post_logout_redirect_uri": {postLogoutURI},
		}.Encode()
		target, err := NewBrowser().LogoutAtOIDCProvider(endSession)
		if err != nil {
			t.Fatal(err)
		}
		if target != postLogoutURI {
			t.Fatalf("logout sent the browser to %q, want %s", target, postLogoutURI)
		}
	})

	t.Run("unregistered post_logout_redirect_uri", func(t *testing.T) {
		endSession := disc.EndSession + "?" + url.Values{
			"client_id":                {opClientID},
			"post_logout_redirect_uri": {"https://evil.example/"},
		}.Encode()
		_, err := NewBrowser().LogoutAtOIDCProvider(endSession)
		if err == nil || !strings.Contains(err.Error(), "post_logout_redirect_uri not registered") {
			t.Fatalf("err = %v, want the provider's refusal", err)
		}
	})
}

// TestOIDCProviderKeys checks the two ways a test controls signing keys: a JWK Set of its own,
// used for signing, and a restart on the same address, which keeps the issuer and (without a
// JWK Set) changes the key.
func TestOIDCProviderKeys(t *testing.T) {
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/cb", unusedPort(t))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	opt := OIDCProviderOptions{
		ClientID: opClientID, ClientSecret: opClientSecret, RedirectURIs: []string{redirectURI},
		JWKS: opPrivateJWKS(t, key, "test-key-1"),
	}
	op := StartOIDCProvider(t, opt)
	jwks := opGet(t, op, "/jwks")
	if kids := opKids(t, jwks); !slices.Equal(kids, []string{"test-key-1"}) {
		t.Fatalf("JWKS kids = %q, want the given key only", kids)
	}
	tokens, _ := opLogin(t, op, NewBrowser(), redirectURI, OIDCProviderSubject, "pw")
	header, _ := opVerifyJWT(t, jwks, tokens.IDToken)
	if header["kid"] != "test-key-1" {
		t.Fatalf("id_token kid = %v, want test-key-1", header["kid"])
	}

	op.Stop()
	op.Stop() // idempotent, like the cleanup that calls it again
	started := time.Now()
	again := StartOIDCProvider(t, OIDCProviderOptions{
		ClientID: opClientID, ClientSecret: opClientSecret, RedirectURIs: []string{redirectURI}, Addr: op.Addr,
	})
	t.Logf("restarted on %s in %v", again.Addr, time.Since(started))
	if again.Issuer != op.Issuer {
		t.Fatalf("restart changed the issuer: %q, want %q", again.Issuer, op.Issuer)
	}
	rotated := opGet(t, again, "/jwks")
	kids := opKids(t, rotated)
	if len(kids) != 1 || kids[0] == "test-key-1" {
		t.Fatalf("JWKS kids after restart = %q, want one fresh key", kids)
	}
	tokens, _ = opLogin(t, again, NewBrowser(), redirectURI, OIDCProviderUser, "pw")
	if header, _ := opVerifyJWT(t, rotated, tokens.IDToken); header["kid"] != kids[0] {
		t.Fatalf("id_token kid = %v, want the new key %s", header["kid"], kids[0])
	}
}

// opLogin runs the authorization code flow with PKCE, state, nonce and offline_access through the
// browser and exchanges the code through Forward with client_secret_basic, as the plugin does.
func opLogin(t *testing.T, op *OIDCProvider, b *Browser, redirectURI, user, password string) (tokens opTokens, nonce string) {
	t.Helper()
	authURL, verifier, nonce := opAuthURL(t, op, redirectURI, "openid email profile offline_access")
	state := opQueryParam(t, authURL, "state")
	cb, err := b.LoginAtOIDCProvider(authURL, user, password)
	if err != nil {
		t.Fatal(err)
	}
	q := opCallbackQuery(t, cb, redirectURI)
	if q.Get("state") != state || q.Get("code") == "" || q.Get("iss") != op.Issuer {
		t.Fatalf("callback %q: want state %q, a code and iss %s", cb, state, op.Issuer)
	}
	tokens = opTokenCall(t, op, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}, 200)
	return tokens, nonce
}

func opAuthURL(t *testing.T, op *OIDCProvider, redirectURI, scope string) (authURL, verifier, nonce string) {
	t.Helper()
	verifier, nonce = randomString(t), randomString(t)
	sum := sha256.Sum256([]byte(verifier))
	return op.Issuer + "/auth?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {opClientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {scope},
		"state":                 {randomString(t)},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode(), verifier, nonce
}

func opRefresh(t *testing.T, op *OIDCProvider, refreshToken string, wantStatus int) opTokens {
	t.Helper()
	return opTokenCall(t, op, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}, wantStatus)
}

// opTokenCall posts to the token endpoint through Forward, as the plugin's DispatchHttpCall does.
func opTokenCall(t *testing.T, op *OIDCProvider, form url.Values, wantStatus int) opTokens {
	t.Helper()
	status, body := opClientPost(t, op, "/token", form)
	if status != wantStatus {
		t.Fatalf("token endpoint (%s): status %d, want %d: %s", form.Get("grant_type"), status, wantStatus, body)
	}
	var tok opTokens
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("token endpoint answered non-JSON: %v: %s", err, body)
	}
	return tok
}

// opRevoke revokes a refresh token at the revocation endpoint (RFC 7009).
func opRevoke(t *testing.T, op *OIDCProvider, refreshToken string) (status int, body []byte) {
	t.Helper()
	return opClientPost(t, op, "/token/revocation", url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}})
}

// opClientPost sends an authenticated client request through Forward with client_secret_basic.
func opClientPost(t *testing.T, op *OIDCProvider, path string, form url.Values) (status int, body []byte) {
	t.Helper()
	// RFC 6749 section 2.3.1: the credentials are form-encoded before Basic encoding.
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(op.ClientID) + ":" + url.QueryEscape(op.ClientSecret)))
	headers, body, err := Forward(op.Addr, [][2]string{
		{":method", "POST"}, {":path", path}, {":authority", op.Addr}, {":scheme", "http"},
		{"content-type", "application/x-www-form-urlencoded"}, {"authorization", "Basic " + basic},
		{"accept", "application/json"},
	}, []byte(form.Encode()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	status, err = strconv.Atoi(headers[0][1])
	if err != nil || headers[0][0] != ":status" {
		t.Fatalf("POST %s: first header %v is no status", path, headers[0])
	}
	return status, body
}

func opDiscover(t *testing.T, op *OIDCProvider) opDiscovery {
	t.Helper()
	var disc opDiscovery
	if err := json.Unmarshal(opGet(t, op, "/.well-known/openid-configuration"), &disc); err != nil {
		t.Fatalf("discovery is not JSON: %v", err)
	}
	return disc
}

// opGet fetches a JSON document through Forward.
func opGet(t *testing.T, op *OIDCProvider, path string) []byte {
	t.Helper()
	headers, body, err := Forward(op.Addr, [][2]string{
		{":method", "GET"}, {":path", path}, {":authority", op.Addr}, {":scheme", "http"}, {"accept", "application/json"},
	}, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if headers[0] != [2]string{":status", "200"} {
		t.Fatalf("GET %s: %v: %s", path, headers[0], body)
	}
	for _, h := range headers {
		if h[0] == "content-type" && !strings.HasPrefix(h[1], "application/json") && !strings.HasPrefix(h[1], "application/jwk-set+json") {
			t.Fatalf("GET %s: content-type %q, want JSON", path, h[1])
		}
	}
	return body
}

func opCheckUser(t *testing.T, op *OIDCProvider, claims map[string]any, nonce string) {
	t.Helper()
	groups, _ := json.Marshal(claims["groups"])
	if claims["iss"] != op.Issuer || claims["aud"] != op.ClientID || claims["sub"] != OIDCProviderSubject ||
		claims["email"] != OIDCProviderUser || claims["email_verified"] != true || claims["name"] != OIDCProviderName ||
		string(groups) != `["devs","admins"]` || claims["nonce"] != nonce {
		t.Errorf("id_token claims = %v, want the fixed user, issuer, audience and nonce %q", claims, nonce)
	}
}

func opCallbackQuery(t *testing.T, callback, redirectURI string) url.Values {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatalf("callback %q: %v", callback, err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != redirectURI {
		t.Fatalf("callback %q does not go to %s", callback, redirectURI)
	}
	return u.Query()
}

func opQueryParam(t *testing.T, rawURL, name string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

// opVerifyJWT checks an RS256 signature against a JWK Set and returns header and claims, so the
// tests prove the keys the provider publishes are the ones it signs with.
func opVerifyJWT(t *testing.T, jwks []byte, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %q", token)
	}
	decode := func(i int, v any) {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	decode(0, &header)
	decode(1, &claims)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("token signature: %v", err)
	}
	var set struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS: %v: %s", err, jwks)
	}
	for _, k := range set.Keys {
		if k.Kid != header["kid"] || k.Kty != "RSA" {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil {
			t.Fatalf("JWK %s: bad n or e", k.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("id_token signature does not verify with key %s: %v", k.Kid, err)
		}
		return header, claims
	}
	t.Fatalf("no RSA key %v in the JWKS %s", header["kid"], jwks)
	return nil, nil
}

func opKids(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS: %v: %s", err, jwks)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatalf("the published JWKS holds a private key")
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// opPrivateJWKS writes an RSA key as the private JWK Set OIDCProviderOptions.JWKS takes.
func opPrivateJWKS(t *testing.T, key *rsa.PrivateKey, kid string) []byte {
	t.Helper()
	key.Precompute()
	b64 := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	jwk := map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(key.N), "e": b64(big.NewInt(int64(key.E))), "d": b64(key.D),
		"p": b64(key.Primes[0]), "q": b64(key.Primes[1]),
		"dp": b64(key.Precomputed.Dp), "dq": b64(key.Precomputed.Dq), "qi": b64(key.Precomputed.Qinv),
	}
	b, err := json.Marshal(map[string]any{"keys": []any{jwk}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
