package plugin

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Refreshing a session's tokens must happen once per refresh token, however many requests of
// that session arrive together, and whichever of Envoy's worker VMs they land on: IdPs that
// rotate refresh tokens invalidate the old one on first use, so a second refresh with it
// fails and would log the user out.
//
//   - Within a VM, requests of one session join one flight (keyed by the token's SHA-256).
//   - Flights are dispatched from OnTick, in the plugin context, so a client that hangs up
//     cannot orphan a refresh that other requests wait on (see idp.go).
//   - Across VMs, each token has an entry in a shared-data slot (refreshshare.go). A VM
//     claims the token with compare-and-swap before it calls the IdP; the others wait for the
//     result, which is the new session sealed for the share window, and adopt it.
const (
	// refreshSlotWaitTicks is how long a flight waits for room in a slot full of other
	// tokens' refreshes before it gives up with 503 (10 s).
	refreshSlotWaitTicks = 40
	// defaultTokenLifetime applies when a refresh answer says nothing about expiry.
	defaultTokenLifetime = 5 * time.Minute
	// maxRefreshFlights bounds the refreshes one provider has queued or in flight in one VM;
	// a request that would start another gets 503, like a request beyond maxWaiting.
	maxRefreshFlights = 1024
	// maxRefreshCalls bounds the token calls of those in flight at once: a storm of sessions
	// expiring together (after an IdP outage, say) reaches the IdP at most this many at a
	// time per VM, first come first served, and the rest wait for the next ticks.
	maxRefreshCalls = 64
)

// refreshFlight is the refresh of one refresh token in this VM and the requests waiting
// for it.
type refreshFlight struct {
	old        *oidc.Session
	waiters    []*httpContext
	dispatched bool
	since      uint64 // tick the flight was created or dispatched
	arrival    uint64 // the flight's place in this VM's queue: first come, first served
}

// refresh queues the request until the session's tokens are renewed at the next tick.
func (h *httpContext) refresh(sess *openSession) types.Action {
	p := h.rp
	key := sha256.Sum256([]byte(sess.RefreshToken))
	f, ok := p.refreshing[key]
	if !ok {
		if len(p.refreshing) >= maxRefreshFlights {
			proxywasm.LogWarnf("oidc-wasm: %d session refreshes already queued or in flight; answering 503", len(p.refreshing))
			return h.unavailable()
		}
		p.refreshArrivals++
		f = &refreshFlight{old: sess.Session, since: p.idp.ticks, arrival: p.refreshArrivals}
		p.refreshing[key] = f
	}
	f.waiters = append(f.waiters, h)
	return types.ActionPause
}

// abandonRefresh forgets a request that ended while it waited.
func (rp *relyingParty) abandonRefresh(h *httpContext) {
	for _, f := range rp.refreshing {
		for i, w := range f.waiters {
			if w == h {
				f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
				break
			}
		}
	}
}

// tickRefreshes advances every flight: adopt another VM's result, wait for its pending
// refresh, or claim the token and call the IdP, oldest flights first and at most
// maxRefreshCalls calls at once. Flights whose answer never came are failed.
func (rp *relyingParty) tickRefreshes() {
	now := rp.env.now()
	calls := 0
	var queued [][32]byte
	for key, f := range rp.refreshing {
		switch {
		case !f.dispatched:
			queued = append(queued, key)
		case rp.idp.ticks-f.since > rp.idp.watchdogTicks():
			rp.finishRefresh(key, refreshOutcome{})
		default:
			calls++
		}
	}
	slices.SortFunc(queued, func(a, b [32]byte) int {
		return cmp.Compare(rp.refreshing[a].arrival, rp.refreshing[b].arrival)
	})
	for _, key := range queued {
		f, ok := rp.refreshing[key]
		if !ok || f.dispatched {
			continue
		}
		if len(f.waiters) == 0 {
			// Every request that waited has ended: redeeming the token now would renew a
			// session no browser receives, and its next request would present the old token.
			delete(rp.refreshing, key)
			continue
		}
		slot := readRefreshSlot(key, now)
		if e := slot.find(key); e != nil {
			switch e.marker {
			case refreshDone:
				if sess := rp.adoptShared(key, e.body); sess != nil {
					rp.finishRefresh(key, refreshOutcome{sess: sess})
					continue
				}
			case refreshPending:
				continue // another VM is refreshing this token: wait for its result
			}
		}
		if calls >= maxRefreshCalls {
			continue // no call to spare this tick: wait, first come first served
		}
		claim := refreshEntry{key: key, marker: refreshPending, deadline: now.Add(rp.idp.watchdog()).UnixMilli()}
		if slot.put(claim) {
			rp.dispatchRefresh(key, f)
			calls++
			continue
		}
		if len(slot.entries) >= refreshSlotEntries && rp.idp.ticks-f.since > refreshSlotWaitTicks {
			proxywasm.LogWarnf("oidc-wasm: no room to coordinate a refresh with the other worker VMs (%s full); answering 503", slot.name)
			rp.finishRefresh(key, refreshOutcome{})
		}
	}
}

func (rp *relyingParty) dispatchRefresh(key [32]byte, f *refreshFlight) {
	cfg := rp.cfg
	f.dispatched, f.since = true, rp.idp.ticks
	req := oidc.RefreshRequest(rp.idp.discovery.TokenEndpoint, cfg.ClientID, cfg.ClientSecret, f.old.RefreshToken, cfg.RefreshScopes)
	err := rp.idp.dispatch(req, func(a answer) {
		if rp.refreshing[key] != f {
			return
		}
		out := rp.refreshOutcome(f.old, a)
		if out.sess != nil && cfg.Userinfo {
			rp.refreshUserinfo(key, f, out)
			return
		}
		rp.finishRefresh(key, out)
	})
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: refresh not sent: %v", err)
		rp.finishRefresh(key, refreshOutcome{})
	}
}

// refreshOutcome is what a refresh gave: a renewed session, the end of the session (the
// IdP refused the refresh token), or neither (the IdP could not be reached: 503, retry).
type refreshOutcome struct {
	sess        *oidc.Session
	ended       bool
	freshClaims bool // sess holds the claims of a refreshed ID token, not the session's
}

func (rp *relyingParty) refreshOutcome(old *oidc.Session, a answer) refreshOutcome {
	if a.err != nil {
		proxywasm.LogErrorf("oidc-wasm: refresh: token endpoint: %v", a.err)
		return refreshOutcome{}
	}
	tokens, err := oidc.ParseTokenResponse(a.status, a.body)
	var tokenErr *oidc.TokenError
	if errors.As(err, &tokenErr) {
		proxywasm.LogInfof("oidc-wasm: refresh refused, the session ends: %v", tokenErr)
		return refreshOutcome{ended: true}
	}
	if err != nil {
		proxywasm.LogErrorf("oidc-wasm: refresh: unusable token endpoint answer: %v", err)
		return refreshOutcome{}
	}
	now := rp.env.now()
	next := *old
	next.AccessToken, next.TokenExpiry = tokens.AccessToken, now.Add(defaultTokenLifetime)
	if tokens.ExpiresIn > 0 {
		next.TokenExpiry = now.Add(time.Duration(tokens.ExpiresIn) * time.Second)
	}
	if tokens.RefreshToken != "" {
		next.RefreshToken = tokens.RefreshToken
	}
	fresh := false
	if tokens.IDToken != "" {
		var ended bool
		if fresh, ended = rp.adoptRefreshedIDToken(&next, tokens.IDToken, now); ended {
			return refreshOutcome{ended: true}
		}
	}
	if !fresh && rp.cfg.forwardsIDToken() {
		// The IdP sent no new ID token (allowed: Core 12.2), and the one upstreams receive
		// keeps its exp: the session cannot outlive it. When it is about to expire the
		// session ends, and the browser logs in again (silently while the IdP's session lives).
		idExpiry := time.Unix(gjson.GetBytes(next.Claims, "exp").Int(), 0)
		if !idExpiry.After(now.Add(forwardMargin)) {
			proxywasm.LogInfof("oidc-wasm: refresh gave no new ID token and the forwarded one expires at %s; the session ends", idExpiry.UTC().Format(time.RFC3339))
			return refreshOutcome{ended: true}
		}
		if idExpiry.Before(next.TokenExpiry) {
			next.TokenExpiry = idExpiry
		}
	}
	return refreshOutcome{sess: &next, freshClaims: fresh}
}

// adoptRefreshedIDToken verifies the ID token a refresh returned and takes its claims. A
// token for another subject ends the session. One signed with a key not yet known keeps the
// previous claims and asks for the new keys: a key rotation must not log anyone out.
func (rp *relyingParty) adoptRefreshedIDToken(next *oidc.Session, raw string, now time.Time) (adopted, ended bool) {
	cfg := rp.cfg
	tok, err := rp.idp.verifier.VerifyRefreshedIDToken(raw, now)
	if errors.Is(err, oidc.ErrUnknownKey) {
		rp.idp.requestKeyRefresh()
		proxywasm.LogInfof("oidc-wasm: refreshed ID token signed with an unknown key; keeping the previous claims")
		return false, false
	}
	if err != nil {
		proxywasm.LogWarnf("oidc-wasm: refreshed ID token rejected, the session ends: %v", err)
		return false, true
	}
	if sub, _ := oidc.ClaimValue(next.Claims, "sub", ","); sub != tok.Subject {
		proxywasm.LogWarnf("oidc-wasm: refreshed ID token is for another subject, the session ends")
		return false, true
	}
	next.Claims = keepOverageGroups(tok.Claims, next.Claims)
	if tok.Expiry.Before(next.TokenExpiry) {
		next.TokenExpiry = tok.Expiry
	}
	if cfg.SessionTokens {
		next.IDToken = raw
	}
	return true, false
}

// finishRefresh publishes the outcome for the other VMs and resumes every waiter.
func (rp *relyingParty) finishRefresh(key [32]byte, out refreshOutcome) {
	f := rp.refreshing[key]
	delete(rp.refreshing, key)
	if out.sess != nil {
		rp.metrics.count(metricRefreshSucceeded)
	} else {
		rp.metrics.count(metricRefreshFailed)
	}
	if f.dispatched {
		rp.publishRefresh(key, out.sess)
	}
	for _, w := range f.waiters {
		w.resume(func() types.Action { return w.afterRefresh(out) })
	}
}

// afterRefresh completes one waiting request with the refresh's outcome.
func (h *httpContext) afterRefresh(out refreshOutcome) types.Action {
	now := h.rp.env.now()
	switch {
	case out.sess != nil:
		cookies, err := h.sealSession(out.sess, now)
		if err != nil {
			return h.internalError("cannot seal the refreshed session", err)
		}
		h.responseCookies = append(h.responseCookies, cookies...)
		// Just sealed: no idle renewal needed on this request.
		return h.continueWithSession(&openSession{Session: out.sess, sealedUntil: out.sess.IssuedAt.Add(h.rp.cfg.SessionMaxAge)}, now)
	case out.ended:
		return h.sessionEnded()
	default:
		return h.unavailable()
	}
}

// sessionEnded answers a request whose session the IdP ended: a login again when the request
// wants one (the stale cookies are cleared by the login redirect), else 401.
func (h *httpContext) sessionEnded() types.Action {
	if !h.wantsLogin() {
		return h.unauthorized()
	}
	return h.login(h.headers.get(":path"))
}

// keepOverageGroups keeps, when a refreshed ID token carries Entra ID's groups overage again,
// the groups the session read from Graph at login (groupsoverage.go).
func keepOverageGroups(fresh, previous []byte) []byte {
	if !oidc.GroupsOverage(fresh) {
		return fresh
	}
	var groups []string
	for _, g := range gjson.GetBytes(previous, "groups").Array() {
		groups = append(groups, g.String())
	}
	if merged, err := oidc.WithGroups(fresh, groups); err == nil {
		return merged
	}
	return fresh
}
