package testidp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestHydra proves the Hydra harness in the order the end-to-end tests rely on it: discovery,
// a login through the apps with the configured ID-token claims and an access-token audience,
// refresh-token rotation with reuse detection, RP-initiated logout through the logout app, and
// key rotation. One Hydra serves every step, since each needs the state the one before left.
func TestHydra(t *testing.T) {
	h := StartHydra(t, HydraOptions{})
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/oauth2/callback", unusedPort(t))
	postLogout := strings.TrimSuffix(redirectURI, "oauth2/callback") + "bye"
	c := HydraClient{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogout}, Audience: []string{"https://api.example.com"}}
	if err := h.CreateClient(c); err != nil {
		t.Fatal(err)
	}
	var disc opDiscovery
	if err := json.Unmarshal(hydraGet(t, h.Issuer+".well-known/openid-configuration"), &disc); err != nil {
		t.Fatal(err)
	}
	if disc.Issuer != h.Issuer || !strings.HasSuffix(h.Issuer, "/") || disc.EndSession != h.Issuer+"oauth2/sessions/logout" {
		t.Fatalf("discovery %+v does not match the issuer %s", disc, h.Issuer)
	}
	jwks := hydraGet(t, disc.JWKS)

	browser := NewBrowser()
	tokens, err := h.Tokens(browser, c, "https://api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ID token carries the consent app's claims", func(t *testing.T) {
		_, claims := opVerifyJWT(t, jwks, tokens.IDToken)
		groups, _ := claims["groups"].([]any)
		if claims["iss"] != h.Issuer || claims["sub"] != HydraSubject || claims["email"] != HydraUser ||
			claims["email_verified"] != true || len(groups) != 2 || groups[0] != "devs" || claims["sid"] == nil {
			t.Errorf("ID token claims = %v", claims)
		}
	})
	t.Run("access token is a JWT for the requested audience", func(t *testing.T) {
		header, claims := opVerifyJWT(t, jwks, tokens.AccessToken)
		aud, _ := claims["aud"].([]any)
		if len(aud) != 1 || aud[0] != "https://api.example.com" || claims["sub"] != HydraSubject || claims["iss"] != h.Issuer {
			t.Errorf("access token header %v, claims %v", header, claims)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		authURL := h.Issuer + "oauth2/auth?" + url.Values{"response_type": {"code"}, "client_id": {c.ID},
			"redirect_uri": {redirectURI}, "scope": {"openid"}, "state": {"state-1234"}}.Encode()
		if _, err := h.Login(NewBrowser(), authURL, HydraUser, "wrong"); err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("wrong password: want the login form again, got %v", err)
		}
	})

	t.Run("refresh rotates, and reuse revokes the grant", func(t *testing.T) {
		rotated, err := h.Refresh(c, tokens.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if rotated.RefreshToken == "" || rotated.RefreshToken == tokens.RefreshToken || rotated.IDToken == "" {
			t.Fatalf("refresh must rotate the refresh token and return an ID token: %+v", rotated)
		}
		var refused *HydraTokenError
		if _, err := h.Refresh(c, tokens.RefreshToken); !errors.As(err, &refused) {
			t.Fatalf("reusing the old refresh token: want a token error, got %v", err)
		}
		if _, err := h.Refresh(c, rotated.RefreshToken); !errors.As(err, &refused) {
			t.Errorf("after reuse the rotated refresh token must be revoked too, got %v", err)
		}
	})

	t.Run("RP-initiated logout through the logout app", func(t *testing.T) {
		// Hydra remembers the user: the login form is not shown, so any password passes.
		authURL := h.Issuer + "oauth2/auth?" + url.Values{"response_type": {"code"}, "client_id": {c.ID},
			"redirect_uri": {redirectURI}, "scope": {"openid"}, "state": {"state-5678"}}.Encode()
		if _, err := h.Login(browser, authURL, HydraUser, "wrong"); err != nil {
			t.Fatalf("a remembered user must not be asked again: %v", err)
		}
		end := disc.EndSession + "?" + url.Values{"id_token_hint": {tokens.IDToken},
			"post_logout_redirect_uri": {postLogout}, "state": {"bye-state"}}.Encode()
		back, err := h.Logout(browser, end)
		if err != nil || back != postLogout+"?state=bye-state" {
			t.Fatalf("logout: want the browser sent to %s, got %q %v", postLogout, back, err)
		}
		if _, err := h.Login(browser, authURL, HydraUser, "wrong"); err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("after logout Hydra must ask for credentials again, got %v", err)
		}
	})

	t.Run("key rotation", func(t *testing.T) {
		kids, err := h.RotateKeys()
		if err != nil {
			t.Fatal(err)
		}
		jwks := hydraGet(t, disc.JWKS)
		if got := opKids(t, jwks); len(got) != 2 || !slices.Contains(got, kids[0]) || !slices.Contains(got, kids[1]) {
			t.Fatalf("JWKS kids after rotation = %v, want exactly %v", got, kids)
		}
		fresh, err := h.Tokens(NewBrowser(), c, "https://api.example.com")
		if err != nil {
			t.Fatal(err)
		}
		idHeader, _ := opVerifyJWT(t, jwks, fresh.IDToken)
		atHeader, _ := opVerifyJWT(t, jwks, fresh.AccessToken)
		if idHeader["kid"] != kids[0] || atHeader["kid"] != kids[1] {
			t.Errorf("new tokens signed by %v and %v, want %v", idHeader["kid"], atHeader["kid"], kids)
		}
	})
}

func hydraGet(t *testing.T, rawURL string) []byte {
	t.Helper()
	resp, err := hydraHTTP.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", rawURL, resp.Status, err, body)
	}
	return body
}
