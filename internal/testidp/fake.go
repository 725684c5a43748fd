package testidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// FakeIdPOptions configures a FakeIdP.
type FakeIdPOptions struct {
	ClientID, ClientSecret string
	// Clock dates the tokens; nil is time.Now. Give the SDK emulator's wasm clock to serve a
	// module running there.
	Clock func() time.Time
	// IDTokenTTL is the ID tokens' lifetime (default 1h). A negative one dates "exp" in the
	// past: within the plugin's one-minute skew such a token is still accepted at login, and
	// the session needs a refresh on its next request.
	IDTokenTTL time.Duration
	// AccessTokenTTL is the token answers' expires_in (default 1h).
	AccessTokenTTL time.Duration
}

// FakeIdP is a small OpenID provider in the test process, on a loopback port: discovery,
// JWKS (RS256), authorization code with PKCE S256 and client_secret_basic, and refresh with
// rotation and reuse detection like oidc-provider's (a refresh token presented twice revokes
// its whole grant). It keeps count of every refresh token's redemptions. The browser's part
// of a login is Authorize, which returns the callback URL at once.
type FakeIdP struct {
	Issuer string // http://127.0.0.1:<port>
	Addr   string // the listener: the plugin's cluster address
	opt    FakeIdPOptions
	srv    *http.Server

	mu       sync.Mutex
	key      jwk.Key // signs; its public half is published
	keys     []jwk.Key
	codes    map[string]codeGrant
	refresh  map[string]*refreshGrant
	redeemed map[string]int
	subjects int
}

type codeGrant struct {
	nonce, challenge, redirectURI, subject string
}

type refreshGrant struct {
	subject  string
	family   *bool // set when the grant is revoked; shared by every token of one login
	consumed bool
}

// StartFakeIdP listens on 127.0.0.1 and serves until Close.
func StartFakeIdP(opt FakeIdPOptions) (*FakeIdP, error) {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.IDTokenTTL == 0 {
		opt.IDTokenTTL = time.Hour
	}
	if opt.AccessTokenTTL == 0 {
		opt.AccessTokenTTL = time.Hour
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake IdP: %w", err)
	}
	f := &FakeIdP{Addr: l.Addr().String(), opt: opt, codes: map[string]codeGrant{}, refresh: map[string]*refreshGrant{}, redeemed: map[string]int{}}
	f.Issuer = "http://" + f.Addr
	if err := f.RotateKey(); err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.serveDiscovery)
	mux.HandleFunc("GET /keys", f.serveKeys)
	mux.HandleFunc("POST /token", f.serveToken)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(l) }()
	return f, nil
}

// Close stops the server.
func (f *FakeIdP) Close() { _ = f.srv.Close() }

// NewSigningKey makes a private RSA 2048 JWK for RS256 signatures, with its key id.
func NewSigningKey(kid string) (jwk.Key, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(k, v); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	return key, nil
}

// RotateKey makes a new signing key; the old ones stay published, as an IdP rotating keys
// does.
func (f *FakeIdP) RotateKey() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, err := NewSigningKey(fmt.Sprintf("key-%d", len(f.keys)+1))
	if err != nil {
		return err
	}
	f.key = key
	f.keys = append(f.keys, key)
	return nil
}

// Authorize plays the browser at the IdP for an authorization URL the plugin redirected to:
// the user is logged in at once as a new subject, and the URL the IdP would send the browser
// back to (redirect_uri with code and state) is returned.
func (f *FakeIdP) Authorize(authURL string) (string, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", fmt.Errorf("authorization URL: %w", err)
	}
	q := u.Query()
	if q.Get("client_id") != f.opt.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		return "", fmt.Errorf("authorization request not for this client with code and PKCE S256: %s", authURL)
	}
	f.mu.Lock()
	f.subjects++
	g := codeGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), subject: fmt.Sprintf("user-%d", f.subjects)}
	code := randomToken()
	f.codes[code] = g
	f.mu.Unlock()
	back, err := url.Parse(g.redirectURI)
	if err != nil {
		return "", fmt.Errorf("redirect_uri: %w", err)
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	return back.String(), nil
}

// Redemptions returns how many times each refresh token was presented.
func (f *FakeIdP) Redemptions() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.redeemed))
	for k, v := range f.redeemed {
		out[k] = v
	}
	return out
}

// Token signs an ID token (or a bearer JWT) for aud and sub, valid for ttl from the clock.
func (f *FakeIdP) Token(aud, sub, nonce string, ttl time.Duration) (string, error) {
	now := f.opt.Clock()
	claims := map[string]any{
		"iss": f.Issuer, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		"email": sub + "@example.com", "email_verified": true, "name": "User " + sub, "groups": []string{"dev"},
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	key := f.key
	f.mu.Unlock()
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key))
	return string(signed), err
}

func (f *FakeIdP) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer": f.Issuer, "authorization_endpoint": f.Issuer + "/auth", "token_endpoint": f.Issuer + "/token",
		"jwks_uri": f.Issuer + "/keys", "response_types_supported": []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (f *FakeIdP) serveKeys(w http.ResponseWriter, _ *http.Request) {
	set := jwk.NewSet()
	f.mu.Lock()
	for _, k := range f.keys {
		if pub, err := k.PublicKey(); err == nil {
			_ = set.AddKey(pub)
		}
	}
	f.mu.Unlock()
	writeJSON(w, 200, set)
}

func (f *FakeIdP) serveToken(w http.ResponseWriter, r *http.Request) {
	if id, secret, ok := r.BasicAuth(); !ok || id != url.QueryEscape(f.opt.ClientID) || secret != url.QueryEscape(f.opt.ClientSecret) {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	var subject, nonce string
	var family *bool
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		f.mu.Lock()
		g, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		subject, nonce, family = g.subject, g.nonce, new(bool)
	case "refresh_token":
		g, err := f.redeem(r.PostForm.Get("refresh_token"))
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": err.Error()})
			return
		}
		subject, family = g.subject, g.family
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	idToken, err := f.Token(f.opt.ClientID, subject, nonce, f.opt.IDTokenTTL)
	if err != nil {
		writeJSON(w, 500, map[string]string{"error": "server_error"})
		return
	}
	rt := randomToken()
	f.mu.Lock()
	f.refresh[rt] = &refreshGrant{subject: subject, family: family}
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"access_token": randomToken(), "token_type": "Bearer", "expires_in": int(f.opt.AccessTokenTTL / time.Second),
		"id_token": idToken, "refresh_token": rt,
	})
}

// redeem consumes a refresh token. A token presented again revokes its grant, so every later
// token of that login fails too, as oidc-provider does with rotateRefreshToken.
func (f *FakeIdP) redeem(token string) (*refreshGrant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeemed[token]++
	g, ok := f.refresh[token]
	switch {
	case !ok:
		return nil, errors.New("unknown refresh token")
	case *g.family:
		return nil, errors.New("grant revoked")
	case g.consumed:
		*g.family = true
		return nil, errors.New("refresh token reused: grant revoked")
	}
	g.consumed = true
	return g, nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
