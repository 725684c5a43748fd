package plugin

import (
	"strconv"
	"strings"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// relyingParty is this gateway as the client of one identity provider, as one entry of the
// configuration describes it (a configuration without "providers" has one). Its own fields
// never change after newRelyingParty; what changes lives in parts, each changed in one file:
// the IdP's metadata and keys and the requests waiting for them (idpState, idp.go), those of
// extra bearer issuers (bearerissuers.go), its caches (fifoCache, sessioncache.go) and its
// refresh flights (refresh.go). Each request is bound to exactly one relying party (routes.go) before
// anything else is decided.
type relyingParty struct {
	cfg            *Config
	sealer         *oidc.Sealer
	purposeSession string // sealed-data purposes bound to this relying party and cookie (sealPurpose)
	purposeState   string
	// purposeLegacySession opens sessions of the legacy cookie name (Config.LegacyCookieName).
	purposeLegacySession string
	metrics              *metrics
	env                  env // time and randomness (plugin.go)
	idp                  idpState
	issuers              []*bearerIssuer // extra issuers of bearer tokens (bearer_issuers)

	tokens          *fifoCache[*identity]       // identities of verified bearer tokens
	sessions        *fifoCache[*cachedSession]  // opened session cookies (see sessioncache.go)
	refreshing      map[[32]byte]*refreshFlight // session refreshes by refresh-token hash
	refreshArrivals uint64                      // flights created so far (refreshFlight.arrival)
}

func newRelyingParty(cfg *Config, m *metrics, e env) (*relyingParty, error) {
	sealer, err := oidc.NewKeyring(cfg.CookieSecrets[0], cfg.CookieSecrets[1:]...)
	if err != nil {
		return nil, err
	}
	rp := &relyingParty{
		cfg:                  cfg,
		sealer:               sealer,
		purposeSession:       sealPurpose(oidc.PurposeSession, cfg, cfg.CookieName),
		purposeState:         sealPurpose(oidc.PurposeState, cfg, cfg.StateCookieName()),
		purposeLegacySession: sealPurpose(oidc.PurposeSession, cfg, ""),
		metrics:              m,
		env:                  e,
		tokens:               newFIFOCache[*identity](maxCachedTokens),
		sessions:             newFIFOCache[*cachedSession](maxCachedSessions),
		refreshing:           map[[32]byte]*refreshFlight{},
	}
	// A key withdrawn from any JWKS must stop vouching for the tokens it verified.
	clearTokens := func() { rp.tokens.clear() }
	rp.idp = newIDPState(keySource{
		issuer: cfg.Issuer, cluster: cfg.Cluster, hostClusters: cfg.EndpointClusters, timeout: cfg.Timeout, endpoints: cfg.Endpoints, skipDiscovery: cfg.discoveryConfigured(), tenants: cfg.Tenants,
		verifier: oidc.Verifier{Issuer: cfg.Issuer, ClientID: cfg.ClientID, Audiences: cfg.BearerAudiences, Skew: idTokenSkew, AcceptLoginTokens: cfg.BearerAcceptLoginTokens,
			AudienceClaims: cfg.BearerAudienceClaims, AccessTokenIssuers: oidc.ExpandIssuers(cfg.BearerAcceptedIssuers, cfg.Tenants)},
	}, e, m, clearTokens)
	for _, bi := range cfg.BearerIssuers {
		rp.issuers = append(rp.issuers, newBearerIssuer(bi, cfg, e, m, clearTokens))
	}
	return rp, nil
}

// describe names a relying party in log lines by its provider entry ("" for a configuration without providers).
func (rp *relyingParty) describe() string {
	if rp.cfg.Name == "" {
		return ""
	}
	return "provider " + rp.cfg.Name + " "
}

// sealPurpose binds a sealed value to its use, to the provider that sealed it (the name, the
// issuer and the client) and to the cookie it is issued in, each length-prefixed so no two
// share a purpose. A session or login state of one provider fails to open for any other, a
// provider repointed at another issuer or client drops the sessions it issued before, and a
// value moved to another cookie name does not open there: a session issued as
// __Host-oidc_session cannot be planted as the legacy _oidc_session, which a sibling
// subdomain can set. cookie is "" for the purposes of releases before the name was bound.
func sealPurpose(purpose string, c *Config, cookie string) string {
	var b strings.Builder
	b.WriteString(purpose)
	parts := []string{c.Name, c.Issuer, c.ClientID}
	if cookie != "" {
		parts = append(parts, cookie)
	}
	for _, part := range parts {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String()
}
