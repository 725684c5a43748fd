package plugin

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// relyingParty is this gateway as the client of one identity provider, as one entry of the
// configuration describes it (a configuration without "providers" has one): its
// configuration, its sealer, the IdP's metadata and keys (idpState, idp.go), the requests
// waiting for them, its caches (sessioncache.go) and its refresh flights (refresh.go). Each
// request is bound to exactly one relying party (routes.go) before anything else is decided.
type relyingParty struct {
	cfg            *Config
	sealer         *oidc.Sealer
	purposeSession string // sealed-data purposes bound to this relying party and cookie (sealPurpose)
	purposeState   string
	// purposeLegacySession opens sessions of the legacy cookie name (Config.LegacyCookieName).
	purposeLegacySession string
	metrics              *metrics
	idp                  idpState
	waiting              map[uint32]*waiter // held requests by http context id, resumed when metadata arrives
	order                []uint32           // waiting ids in arrival order, so they resume first come first served

	tokens     *fifoCache[*identity]       // identities of verified bearer tokens
	sessions   *fifoCache[*cachedSession]  // opened session cookies (see sessioncache.go)
	refreshing map[[32]byte]*refreshFlight // session refreshes by refresh-token hash
}

func newRelyingParty(cfg *Config, m *metrics) (*relyingParty, error) {
	sealer, err := oidc.NewSealer(cfg.CookieSecret)
	if err != nil {
		return nil, err
	}
	return &relyingParty{
		cfg:                  cfg,
		sealer:               sealer,
		purposeSession:       sealPurpose(oidc.PurposeSession, cfg, cfg.CookieName),
		purposeState:         sealPurpose(oidc.PurposeState, cfg, cfg.StateCookieName()),
		purposeLegacySession: sealPurpose(oidc.PurposeSession, cfg, ""),
		metrics:              m,
		waiting:              map[uint32]*waiter{},
		tokens:               newFIFOCache[*identity](maxCachedTokens),
		sessions:             newFIFOCache[*cachedSession](maxCachedSessions),
		refreshing:           map[[32]byte]*refreshFlight{},
	}, nil
}

// describe names a provider in log lines ("" for a configuration without providers).
func (rp *relyingParty) describe() string {
	if rp.cfg.Name == "" {
		return ""
	}
	return "provider " + rp.cfg.Name + " "
}

// waiter is a request held until the IdP's metadata is loaded (or has failed to load).
type waiter struct {
	resume func(ok bool)
}

// maxWaiting bounds the requests held while metadata loads; beyond it requests get 503 at
// once instead of piling up in memory while the IdP is slow.
const maxWaiting = 1024

// hold parks a request until the next metadata fetch settles. It reports false when the
// queue is full; the caller then answers 503.
func (rp *relyingParty) hold(id uint32, resume func(ok bool)) bool {
	if _, ok := rp.waiting[id]; ok {
		rp.waiting[id] = &waiter{resume: resume}
		return true
	}
	if len(rp.waiting) >= maxWaiting {
		return false
	}
	rp.waiting[id] = &waiter{resume: resume}
	rp.order = append(rp.order, id)
	return true
}

// forget drops a held request whose stream has ended.
func (rp *relyingParty) forget(id uint32) { delete(rp.waiting, id) }

// releaseWaiting resumes every held request, in arrival order, each in its own context.
func (rp *relyingParty) releaseWaiting(ok bool) {
	order := rp.order
	rp.order = nil
	for _, id := range order {
		w, held := rp.waiting[id]
		if !held {
			continue
		}
		delete(rp.waiting, id)
		if err := proxywasm.SetEffectiveContext(id); err != nil {
			proxywasm.LogWarnf("oidc-wasm: held request %d is gone: %v", id, err)
			continue
		}
		w.resume(ok)
	}
}
