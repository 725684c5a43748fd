package plugin

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Extra issuers of bearer tokens, verified in-process (bearer_issuers): Kubernetes
// service-account tokens for Kubeflow's machine clients, another IdP's machine tokens. Each
// has its own JWKS (fetched through its own cluster, refreshed and refetched on an unknown
// kid like the IdP's), its accepted audiences, and its own claims_to_headers; the relying
// party's authorization rules apply to its tokens as to any other credential. This is the
// alternative to bearer_passthrough: the tokens are judged here, not left to the mesh.

// BearerIssuer is one entry of bearer_issuers.
type BearerIssuer struct {
	Issuer          string
	JWKSURI         string
	Cluster         string
	Audiences       []string // empty: any audience (oidc.Verifier.AnyAudience)
	ClaimsToHeaders []HeaderClaim
}

// bearerIssuer is a BearerIssuer at run time: its keys, and the configuration its tokens'
// identities are worked out with (the relying party's, with the issuer's headers).
type bearerIssuer struct {
	keys     idpState
	identity *Config
}

func newBearerIssuer(bi BearerIssuer, rp *Config, e env, m *metrics, onKeys func()) *bearerIssuer {
	identity := *rp
	identity.ClaimsToHeaders = bi.ClaimsToHeaders
	src := keySource{
		issuer: bi.Issuer, cluster: bi.Cluster, timeout: rp.Timeout, endpoints: oidc.Discovery{JWKSURI: bi.JWKSURI}, skipDiscovery: true,
		verifier: oidc.Verifier{Issuer: bi.Issuer, Audiences: bi.Audiences, AnyAudience: len(bi.Audiences) == 0, Skew: idTokenSkew},
	}
	return &bearerIssuer{keys: newIDPState(src, e, m, onKeys), identity: &identity}
}

// keysFor picks the keys and identity configuration a bearer token is judged with, by its
// unverified iss: the IdP's, or a bearer issuer's. A token naming no known issuer is judged
// by the IdP's verifier, which refuses it.
func (rp *relyingParty) keysFor(token string) (*idpState, *Config) {
	if iss := oidc.UnverifiedIssuer(token); iss != rp.cfg.Issuer {
		for _, i := range rp.issuers {
			if i.keys.src.issuer == iss {
				return &i.keys, i.identity
			}
		}
	}
	return &rp.idp, rp.cfg
}

// forget drops a request whose stream has ended from every queue it may be held in.
func (rp *relyingParty) forget(id uint32) {
	rp.idp.held.forget(id)
	for _, i := range rp.issuers {
		i.keys.held.forget(id)
	}
}

// readBearerIssuers reads bearer_issuers.
func readBearerIssuers(c *Config, v view) error {
	list := v.Get("bearer_issuers")
	if !list.Exists() {
		return nil
	}
	if !list.IsArray() {
		return configErr("bearer_issuers", `must be an array of {"issuer": …, "jwks_uri": …, ...}`)
	}
	seen := map[string]bool{c.Issuer: true}
	for i, item := range list.Array() {
		key := fmt.Sprintf("bearer_issuers[%d]", i)
		bi, err := readBearerIssuer(item, key)
		if err != nil {
			return err
		}
		if seen[bi.Issuer] {
			return configErr(key+".issuer", "%q is already the issuer of this provider or of another bearer issuer", bi.Issuer)
		}
		seen[bi.Issuer] = true
		c.BearerIssuers = append(c.BearerIssuers, bi)
	}
	return nil
}

func readBearerIssuer(item gjson.Result, key string) (BearerIssuer, error) {
	var bi BearerIssuer
	if !item.IsObject() {
		return bi, configErr(key, "must be an object")
	}
	if err := checkKnownKeys(item, key+".", []string{"issuer", "jwks_uri", "cluster", "audiences", "claims_to_headers"}); err != nil {
		return bi, err
	}
	var err error
	if bi.Issuer, err = readRequired(item, "issuer"); err == nil {
		_, err = parseIssuer(bi.Issuer)
	}
	if err == nil {
		bi.JWKSURI, err = readRequired(item, "jwks_uri")
	}
	var jwks *url.URL
	if err == nil {
		if jwks, err = url.Parse(bi.JWKSURI); err != nil || (jwks.Scheme != "https" && jwks.Scheme != "http") || jwks.Host == "" {
			err = configErr("jwks_uri", "%q must be an absolute http(s) URL", bi.JWKSURI)
		}
	}
	if err == nil {
		if bi.Cluster, err = readString(item, "cluster", istioClusterName(jwks)); err == nil && bi.Cluster == "" {
			err = configErr("cluster", "must not be empty")
		}
	}
	if err == nil {
		if bi.Audiences, err = readStrings(item, "audiences"); err == nil && bi.Audiences != nil && len(bi.Audiences) == 0 {
			err = configErr("audiences", "must list at least one audience (leave it out to accept any)")
		}
	}
	if err == nil {
		if !item.Get("claims_to_headers").Exists() {
			bi.ClaimsToHeaders = []HeaderClaim{{Header: "x-auth-request-user", Claim: "sub", Separator: ","}}
		} else {
			bi.ClaimsToHeaders, err = claimsToHeaders(item)
		}
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return bi, &ConfigError{Key: key + "." + ce.Key, Problem: ce.Problem}
	}
	return bi, err
}
