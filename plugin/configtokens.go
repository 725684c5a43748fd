package plugin

import "strings"

// The readers of the keys about tokens: which bearer audiences pass, and which of the
// session's tokens go upstream and in what header.

func readBearerAudiences(c *Config, v view) (err error) {
	if c.BearerAudiences, err = readStrings(v, "bearer_audiences"); err != nil {
		return err
	}
	if !v.Get("bearer_audiences").Exists() {
		// Built here, not passed to stringList as a default it would return: TinyGo 0.42
		// placed such a slice literal on the stack, and it was gone after the call.
		c.BearerAudiences = []string{c.ClientID}
	}
	if len(c.BearerAudiences) == 0 {
		return configErr("bearer_audiences", "must list at least one audience (or set bearer_tokens to false)")
	}
	return nil
}

func readForwardToken(c *Config, v view) (err error) {
	if c.ForwardToken, err = readString(v, "forward_token", ""); err != nil {
		return err
	}
	switch c.ForwardToken {
	case "", forwardIDToken, forwardAccessToken:
	default:
		return configErr("forward_token", "%q must be %q or %q (or absent)", c.ForwardToken, forwardIDToken, forwardAccessToken)
	}
	if c.ForwardToken != "" && !c.SessionTokens {
		return configErr("forward_token", "needs session_tokens: the session must keep the token it forwards")
	}
	return nil
}

// readTokenHeader reads id_token_header or access_token_header: a header that carries the
// session's raw token upstream, for apps that read the token themselves. It must be free:
// not a claims_to_headers header, not the other token header.
func readTokenHeader(c *Config, v view, key string) (string, error) {
	name, err := readString(v, key, "")
	switch {
	case err != nil:
		return "", err
	case name == "" && v.Get(key).Exists():
		return "", configErr(key, "must not be empty (leave it out for no header)")
	case name == "":
		return "", nil
	}
	name = strings.ToLower(name)
	taken := map[string]bool{canonicalHeader(c.IDTokenHeader): c.IDTokenHeader != ""}
	for _, hc := range c.ClaimsToHeaders {
		taken[canonicalHeader(hc.Header)] = true
	}
	switch {
	case !isHeaderName(name) || headersNotMappable[name]:
		return "", configErr(key, "%q cannot carry a token", name)
	case taken[canonicalHeader(name)]:
		return "", configErr(key, "header %q is already used", name)
	case !c.SessionTokens:
		return "", configErr(key, "needs session_tokens: the session must keep the token")
	}
	return name, nil
}
