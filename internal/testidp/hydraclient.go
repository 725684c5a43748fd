package testidp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HydraClient is an OAuth 2.0 client registered in Hydra through the admin API.
type HydraClient struct {
	ID, Secret             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string // must share scheme, host and port with a redirect URI
	// Audience lists the access-token audiences the client may request (the "audience"
	// parameter of its authorization request); a JWT access token's aud is what was requested.
	Audience []string
}

// hydraScopes are every scope a test client may ask for: Hydra refuses an authorization
// request for a scope the client is not registered with. offline_access (or offline) is what
// gets a refresh token.
const hydraScopes = "openid offline_access offline email profile groups"

// CreateClient registers c for the authorization-code flow with refresh tokens, PKCE allowed
// (Hydra checks a code_verifier whenever the authorization request had a challenge), and
// client_secret_basic, which is how the plugin authenticates at the token endpoint
// (oidc/token.go).
func (h *Hydra) CreateClient(c HydraClient) error {
	body := map[string]any{
		"client_id":                  c.ID,
		"client_secret":              c.Secret,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"redirect_uris":              c.RedirectURIs,
		"post_logout_redirect_uris":  c.PostLogoutRedirectURIs,
		"scope":                      hydraScopes,
		"audience":                   c.Audience,
		"token_endpoint_auth_method": "client_secret_basic",
	}
	if err := adminCall(h.AdminURL, http.MethodPost, "/admin/clients", body, nil); err != nil {
		return fmt.Errorf("registering client %q: %w", c.ID, err)
	}
	return nil
}

// The key sets Hydra signs with: ID tokens, and JWT access tokens.
var hydraKeySets = []string{"hydra.openid.id-token", "hydra.jwt.access-token"}

// RotateKeys replaces the signing key of ID tokens and of access tokens: a new RS256 key is
// created in each set, then every older key of the set is deleted, so from then on Hydra
// signs only with the new keys and its JWKS no longer lists the old ones. Tokens signed
// before no longer verify against Hydra's keys, which also means Hydra refuses them as
// id_token_hint at logout. It returns the new key ids, ID-token key first.
func (h *Hydra) RotateKeys() ([]string, error) {
	var kids []string
	for _, set := range hydraKeySets {
		var old jwkSet
		if err := adminCall(h.AdminURL, http.MethodGet, "/admin/keys/"+set, nil, &old); err != nil {
			return nil, fmt.Errorf("rotating %s: %w", set, err)
		}
		kid, err := randomHex(8)
		if err != nil {
			return nil, err
		}
		key := map[string]string{"alg": "RS256", "use": "sig", "kid": kid}
		if err := adminCall(h.AdminURL, http.MethodPost, "/admin/keys/"+set, key, nil); err != nil {
			return nil, fmt.Errorf("rotating %s: %w", set, err)
		}
		for _, k := range old.Keys {
			if err := adminCall(h.AdminURL, http.MethodDelete, "/admin/keys/"+set+"/"+url.PathEscape(k.Kid), nil, nil); err != nil {
				return nil, fmt.Errorf("rotating %s: %w", set, err)
			}
		}
		kids = append(kids, kid)
	}
	return kids, nil
}

type jwkSet struct {
	Keys []struct {
		Kid string `json:"kid"`
	} `json:"keys"`
}

// HydraTokens is a successful token endpoint answer.
type HydraTokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

// HydraTokenError is a token endpoint refusal (RFC 6749 section 5.2).
type HydraTokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *HydraTokenError) Error() string {
	return fmt.Sprintf("hydra token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// Tokens logs HydraUser in through browser b, as a relying party of client c would, and
// exchanges the code: the way a test gets tokens without the plugin, such as the JWT access
// token an API client sends as a bearer token. The authorization request asks for scope
// "openid offline_access email" and for the given access-token audiences, uses PKCE (S256),
// and its redirect URI is c's first, which is never requested. A browser that logged in
// before is not asked for credentials again while Hydra remembers it.
func (h *Hydra) Tokens(b *Browser, c HydraClient, audience ...string) (tokens *HydraTokens, err error) {
	if len(c.RedirectURIs) == 0 {
		return nil, fmt.Errorf("hydra tokens: client %q has no redirect URI", c.ID)
	}
	// 64 hex digits each: a PKCE verifier needs 43 characters at least (RFC 7636 section 4.1).
	var state, nonce, verifier string
	for _, v := range []*string{&state, &nonce, &verifier} {
		if *v, err = randomHex(32); err != nil {
			return nil, err
		}
	}
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURIs[0]},
		"scope":                 {"openid offline_access email"},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	if len(audience) > 0 {
		q.Set("audience", strings.Join(audience, " "))
	}
	callback, err := h.Login(b, h.Issuer+"oauth2/auth?"+q.Encode(), HydraUser, HydraPassword)
	if err != nil {
		return nil, err
	}
	cb, err := url.Parse(callback)
	if err != nil {
		return nil, fmt.Errorf("hydra tokens: bad callback %q: %w", callback, err)
	}
	if cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
		return nil, fmt.Errorf("hydra tokens: the callback %q lacks the code or the state", callback)
	}
	return h.token(c, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {cb.Query().Get("code")},
		"redirect_uri":  {c.RedirectURIs[0]},
		"code_verifier": {verifier},
	})
}

// Refresh redeems a refresh token for client c. Hydra rotates refresh tokens: the answer
// holds a new one, and presenting an old one again is refused with a *HydraTokenError and
// revokes every token of the grant.
func (h *Hydra) Refresh(c HydraClient, refreshToken string) (*HydraTokens, error) {
	return h.token(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

func (h *Hydra) token(c HydraClient, form url.Values) (*HydraTokens, error) {
	req, err := http.NewRequest(http.MethodPost, h.Issuer+"oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("hydra token endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 section 2.3.1: the credentials are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := hydraHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hydra token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("hydra token endpoint: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &HydraTokenError{Status: resp.StatusCode}
		if err := json.Unmarshal(body, e); err != nil || e.Code == "" {
			return nil, fmt.Errorf("hydra token endpoint: %s: %s", resp.Status, snippet(body))
		}
		return nil, e
	}
	var tok HydraTokens
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("hydra token endpoint: no access_token in %s", snippet(body))
	}
	return &tok, nil
}
