package oidc

import (
	"errors"
	"net/url"
)

// EndSessionURL builds the RP-initiated logout request (OpenID Connect RP-Initiated Logout
// 1.0 §2): the browser is sent there so the IdP ends its own session too, and the IdP sends
// it back to postLogoutRedirectURI, which must be registered for the client. idTokenHint
// tells the IdP which session to end without asking; it may be empty when the session kept
// no tokens. The endpoint's own query parameters are kept.
func EndSessionURL(endpoint, idTokenHint, clientID, postLogoutRedirectURI string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return "", errors.New("oidc: end_session_endpoint is not an absolute http(s) URL")
	}
	q := u.Query()
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri"} {
		q.Del(k)
	}
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", clientID)
	if postLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
