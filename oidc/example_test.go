package oidc_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Example_login runs one authorization-code login through the package, in the order the plugin
// makes the calls (plugin/flow.go, plugin/callback.go, plugin/session.go). The host's part,
// sending each Request and handing back the answer, is played here by literal answers from an
// identity provider whose signing key the example makes itself.
func Example_login() {
	const (
		issuer       = "https://idp.example.com"
		clientID     = "app"
		clientSecret = "s3cret"
		redirectURI  = "https://app.example.com/oauth2/callback"
		cookieName   = "__Host-oidc_session"
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // the host's clock

	// The identity provider: its discovery document and the JWKS with its Ed25519 key, as the
	// host fetched them (DiscoveryRequest, then JWKSRequest for the jwks_uri found there).
	idpKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	discovery, err := oidc.ParseDiscovery(issuer, 200, []byte(`{"issuer":"`+issuer+`",
		"authorization_endpoint":"`+issuer+`/authorize","token_endpoint":"`+issuer+`/token",
		"jwks_uri":"`+issuer+`/keys"}`))
	check(err)
	keys, err := oidc.ParseJWKS(200, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig",
		"x":"`+b64(idpKey.Public().(ed25519.PublicKey))+`"}]}`))
	check(err)

	// The cookie key (cookie_secret: 32 random bytes, the same on every gateway replica).
	sealer, err := oidc.NewSealer(bytes.Repeat([]byte{1}, 32))
	check(err)

	// 1. A browser without a session: a fresh state, nonce and PKCE verifier, sealed into the
	// state cookie with the page to come back to, and the browser sent to the IdP. The plugin
	// binds more than the bare purpose into the sealed data (its provider and the cookie
	// name: sealPurpose in package plugin).
	ar, err := oidc.NewAuthRequest(rand.Reader, discovery.AuthorizationEndpoint, clientID, redirectURI, []string{"profile", "email"}, nil)
	check(err)
	started := oidc.LoginState{State: ar.State, Nonce: ar.Nonce, CodeVerifier: ar.CodeVerifier, ReturnTo: "/reports?week=9"}
	plain, err := started.MarshalBinary()
	check(err)
	stateCookie, err := sealer.Seal(rand.Reader, oidc.PurposeState, now.Add(10*time.Minute), plain)
	check(err)
	authURL, err := url.Parse(ar.URL)
	check(err)
	query := authURL.Query()
	fmt.Println("1. redirect to", authURL.Host+authURL.Path, "response_type="+query.Get("response_type"),
		"scope="+query.Get("scope"), "code_challenge_method="+query.Get("code_challenge_method"))

	// 2. The IdP sends the browser back to redirectURI with a code and the state; the state
	// cookie comes with it. Its state must equal the callback's.
	callback, err := oidc.ParseCallback("code=SplxlOBeZQQYbYS6WxSbIA&state=" + url.QueryEscape(ar.State))
	check(err)
	now = now.Add(30 * time.Second)
	plain, err = sealer.Open(oidc.PurposeState, stateCookie, now)
	check(err)
	var login oidc.LoginState
	check(login.UnmarshalBinary(plain))
	fmt.Println("2. state matches:", oidc.EqualSecret(callback.State, login.State))

	// 3. The code is exchanged at the token endpoint with the PKCE verifier, the client
	// authenticated by HTTP Basic.
	exchange := oidc.CodeExchangeRequest(discovery.TokenEndpoint, clientID, clientSecret, callback.Code, redirectURI, login.CodeVerifier)
	fmt.Println("3.", exchange.Method, exchange.URL)

	// The token endpoint's answer, with an ID token the IdP signed for this login's nonce.
	idToken := signEdDSA(idpKey, "k1", map[string]any{
		"iss": issuer, "aud": clientID, "sub": "user-42", "nonce": login.Nonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": "alice@example.com", "email_verified": true,
	})
	tokens, err := oidc.ParseTokenResponse(200, []byte(`{"token_type":"Bearer","expires_in":300,
		"access_token":"opaque-access-token","id_token":"`+idToken+`"}`))
	check(err)

	// 4. The ID token is verified against the IdP's keys: signature, issuer, audience,
	// expiry, and the nonce this login sent.
	verifier := oidc.Verifier{Issuer: issuer, ClientID: clientID, Keys: keys, Skew: time.Minute}
	token, err := verifier.VerifyIDToken(tokens.IDToken, login.Nonce, now)
	check(err)
	email, _ := oidc.EmailTrust{}.VerifiedEmail(token.Claims)
	fmt.Println("4. verified: subject", token.Subject, "email", email)

	// 5. A fresh session, sealed into the session cookie (split into chunks when large), and
	// the browser sent back where it started, once that path has passed the redirect checks.
	session := oidc.Session{
		Claims: token.Claims, IDToken: token.Raw, AccessToken: tokens.AccessToken,
		IssuedAt: now, TokenExpiry: now.Add(time.Duration(tokens.ExpiresIn) * time.Second),
	}
	plain, err = session.MarshalBinary()
	check(err)
	sealed, err := sealer.Seal(rand.Reader, oidc.PurposeSession, now.Add(24*time.Hour), plain)
	check(err)
	for _, c := range oidc.SplitCookie(cookieName, sealed) {
		setCookie := oidc.FormatCookie(c[0], c[1], 86400, oidc.CookieOptions{Path: "/", Secure: true, SameSite: "Lax"})
		fmt.Println("5. set-cookie:", strings.Replace(setCookie, c[1], "<sealed>", 1))
	}
	returnTo, ok := oidc.SafeReturnPath(login.ReturnTo)
	fmt.Println("   location:", returnTo, ok)

	// The browser's next request brings the cookie back: the session opens, and its claims
	// give the identity headers.
	cookies := oidc.ParseCookies([]string{"theme=dark; " + cookieName + "=" + sealed})
	for _, candidate := range oidc.CookieCandidates(cookies, cookieName) {
		plain, err := sealer.Open(oidc.PurposeSession, candidate, now.Add(time.Minute))
		check(err)
		var next oidc.Session
		check(next.UnmarshalBinary(plain))
		user, _ := oidc.ClaimValue(next.Claims, "sub", ",")
		fmt.Println("next request: session of", user, "until", next.TokenExpiry.Format(time.RFC3339), "then refresh or log in")
	}

	// Output:
	// 1. redirect to idp.example.com/authorize response_type=code scope=openid profile email code_challenge_method=S256
	// 2. state matches: true
	// 3. POST https://idp.example.com/token
	// 4. verified: subject user-42 email alice@example.com
	// 5. set-cookie: __Host-oidc_session=<sealed>; Path=/; Max-Age=86400; HttpOnly; Secure; SameSite=Lax
	//    location: /reports?week=9 true
	// next request: session of user-42 until 2026-03-01T12:05:30Z then refresh or log in
}

// signEdDSA plays the identity provider: a compact JWS of claims, signed with its key.
func signEdDSA(key ed25519.PrivateKey, kid string, claims map[string]any) string {
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": kid})
	check(err)
	payload, err := json.Marshal(claims)
	check(err)
	signingInput := b64(header) + "." + b64(payload)
	return signingInput + "." + b64(ed25519.Sign(key, []byte(signingInput)))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// check stops the example at the first error: every call above succeeds.
func check(err error) {
	if err != nil {
		panic(err)
	}
}
