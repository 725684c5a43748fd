package plugin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// All IdP metadata I/O (discovery, JWKS) starts from OnTick, in the plugin context. The SDK
// delivers a callout's answer to the context that dispatched it and drops the answer when
// that context is gone; a fetch started by a request whose client then hung up would be
// lost, and every request waiting for it would wait for nothing. Requests that need metadata
// instead raise a flag and are held; the next tick (at most tickPeriodMS later) fetches.
const (
	tickPeriodMS = 250
	// maxBackoffTicks caps the wait between failed attempts (30 s).
	maxBackoffTicks = 120
	// keyRefreshTicks is the least time between two JWKS fetches caused by unknown key ids
	// (15 s): a flood of tokens with random kids costs the IdP one fetch per interval.
	keyRefreshTicks = 60
	// metadataRefreshTicks is how often discovery and the JWKS are fetched again (10 min),
	// so keys an IdP adds or withdraws are seen without waiting for an unknown kid.
	metadataRefreshTicks = 10 * 60 * 1000 / tickPeriodMS
	sharedMetadataPrefix = "oidc-wasm/metadata/"
)

// idpState is the IdP's discovery document and keys as this VM knows them, and the fetch
// in progress, if any.
type idpState struct {
	discovery *oidc.Discovery
	keys      *oidc.KeySet
	// verifier judges ID tokens and bearer tokens against keys; built when they load, since
	// nothing in it changes per request.
	verifier oidc.Verifier

	ticks         uint64
	fetching      bool
	fetchGen      uint64 // identifies the fetch in progress; stale answers are ignored
	fetchStarted  uint64 // tick the fetch in progress began
	failures      int    // consecutive failed fetches
	notBefore     uint64 // no new attempt before this tick (backoff)
	wantKeys      bool   // a request met an unknown key id: refetch the JWKS
	keysFetchedAt uint64
	refreshAt     uint64 // tick of the next periodic refresh

	discoveryBody []byte // the discovery document as fetched, published with the JWKS
	loadedAt      int64  // unix time the metadata held was fetched (here or by another VM)
}

func (s *idpState) ready() bool { return s.discovery != nil && s.keys != nil }

// backingOff reports whether the last fetch failed and the next attempt is not due yet: a
// request arriving now is answered 503 at once rather than held.
func (s *idpState) backingOff() bool { return s.failures > 0 && s.ticks < s.notBefore && !s.fetching }

// watchdogTicks is how long an IdP call may go unanswered before it is given up: Envoy
// answers every callout, with a failure after the timeout at the latest, so an answer that
// has not come after twice that is lost.
func (rp *relyingParty) watchdogTicks() uint64 {
	return 2*uint64(rp.cfg.Timeout.Milliseconds())/tickPeriodMS + 4
}

// watchdog is watchdogTicks as a duration, for deadlines other VMs read.
func (rp *relyingParty) watchdog() time.Duration {
	return time.Duration(rp.watchdogTicks()*tickPeriodMS) * time.Millisecond
}

// tick runs the relying party's share of the plugin's OnTick: the watchdog, refresh flights, and
// the next metadata fetch when one is due.
func (rp *relyingParty) tick() {
	s := &rp.idp
	s.ticks++
	if s.fetching {
		if s.ticks-s.fetchStarted > rp.watchdogTicks() {
			rp.fetchFailed("the identity provider's answer never arrived")
		}
	}
	rp.tickRefreshes()
	if s.fetching {
		return
	}
	if s.ticks < s.notBefore {
		return
	}
	switch {
	case s.discovery == nil || (s.ready() && s.ticks >= s.refreshAt):
		if !rp.adoptSharedMetadata() {
			rp.fetchDiscovery()
		}
	case s.keys == nil || s.wantKeys:
		if !rp.adoptSharedMetadata() {
			rp.fetchKeys()
		}
	}
}

func (rp *relyingParty) fetchDiscovery() {
	rp.fetch("discovery", oidc.DiscoveryRequest(rp.cfg.Issuer), func(a answer) error {
		d, err := oidc.ParseDiscovery(rp.cfg.Issuer, a.status, a.body)
		if err != nil {
			return err
		}
		rp.idp.discovery, rp.idp.discoveryBody = d, a.body
		rp.metrics.count(metricIdpDiscoveryFetched)
		rp.fetchKeys()
		return nil
	})
}

func (rp *relyingParty) fetchKeys() {
	rp.idp.wantKeys = false
	rp.fetch("jwks", oidc.JWKSRequest(rp.idp.discovery), func(a answer) error {
		keys, err := oidc.ParseJWKS(a.status, a.body)
		if err != nil {
			return err
		}
		rp.metrics.count(metricIdpJwksFetched)
		rp.metadataLoaded(keys, rp.env.now().Unix())
		setShared(rp.sharedMetadataKey(), encodeSharedMetadata(rp.idp.loadedAt, rp.idp.discoveryBody, a.body))
		return nil
	})
}

// metadataLoaded installs a new key set (with the discovery document already in place) and releases
// every request that waited for it.
func (rp *relyingParty) metadataLoaded(keys *oidc.KeySet, loadedAt int64) {
	s := &rp.idp
	s.keys, s.fetching, s.failures, s.keysFetchedAt = keys, false, 0, s.ticks
	cfg := rp.cfg
	s.verifier = oidc.Verifier{Issuer: cfg.Issuer, ClientID: cfg.ClientID, Audiences: cfg.BearerAudiences, Keys: keys,
		Skew: idTokenSkew, AcceptLoginTokens: cfg.BearerAcceptLoginTokens}
	s.wantKeys, s.refreshAt, s.loadedAt = false, s.ticks+metadataRefreshTicks, loadedAt
	rp.tokens.clear() // a key withdrawn from the JWKS must stop vouching for tokens
	proxywasm.LogInfof("oidc-wasm: loaded %d signing keys of %s", keys.Len(), rp.cfg.Issuer)
	rp.held.release(true)
}

// The worker VMs of one Envoy share what they fetch: the VM that fetches publishes the
// discovery document and the JWKS, with the time of the fetch, and the others adopt that
// instead of fetching again, at start, at their periodic refresh and on an unknown kid.

func (rp *relyingParty) sharedMetadataKey() string {
	return sharedMetadataPrefix + rp.cfg.Cluster + "/" + rp.cfg.Issuer
}

// adoptSharedMetadata takes metadata another VM published, if it is newer than what this VM
// holds and younger than the refresh interval. It reports whether it did.
func (rp *relyingParty) adoptSharedMetadata() bool {
	s := &rp.idp
	value, _, err := proxywasm.GetSharedData(rp.sharedMetadataKey())
	if err != nil {
		return false
	}
	loadedAt, body, jwks, ok := decodeSharedMetadata(value)
	now := rp.env.now().Unix()
	if !ok || loadedAt <= s.loadedAt || now-loadedAt >= int64(metadataRefreshTicks*tickPeriodMS/1000) {
		return false
	}
	d, err := oidc.ParseDiscovery(rp.cfg.Issuer, 200, body)
	if err != nil {
		return false
	}
	keys, err := oidc.ParseJWKS(200, jwks)
	if err != nil {
		return false
	}
	s.discovery, s.discoveryBody = d, body
	rp.metrics.count(metricIdpMetadataShared)
	rp.metadataLoaded(keys, loadedAt)
	return true
}

// setShared overwrites a shared-data value whatever it holds. It reads the current CAS
// first: hosts differ on what a CAS of 0 means (Envoy: unconditional; others: "absent").
func setShared(key string, value []byte) {
	for attempt := 0; attempt < 3; attempt++ {
		_, cas, err := proxywasm.GetSharedData(key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			break
		}
		if err = proxywasm.SetSharedData(key, value, cas); !errors.Is(err, types.ErrorStatusCasMismatch) {
			if err != nil {
				proxywasm.LogWarnf("oidc-wasm: shared data %s: %v", key, err)
			}
			return
		}
	}
}

// encodeSharedMetadata is "<unix time> <discovery length>\n<discovery><jwks>".
func encodeSharedMetadata(loadedAt int64, discovery, jwks []byte) []byte {
	head := strconv.FormatInt(loadedAt, 10) + " " + strconv.Itoa(len(discovery)) + "\n"
	return append(append([]byte(head), discovery...), jwks...)
}

func decodeSharedMetadata(v []byte) (loadedAt int64, discovery, jwks []byte, ok bool) {
	head, rest, found := strings.Cut(string(v), "\n")
	at, size, found2 := strings.Cut(head, " ")
	n, err := strconv.Atoi(size)
	loadedAt, err2 := strconv.ParseInt(at, 10, 64)
	if !found || !found2 || err != nil || err2 != nil || n < 0 || n > len(rest) {
		return 0, nil, nil, false
	}
	return loadedAt, []byte(rest[:n]), []byte(rest[n:]), true
}

// fetch dispatches one metadata request as the fetch in progress. use takes a usable answer;
// a missing answer, an answer to a fetch already abandoned, or an error from use ends the
// fetch through fetchFailed.
func (rp *relyingParty) fetch(what string, req oidc.Request, use func(answer) error) {
	s := &rp.idp
	s.fetching = true
	s.fetchGen++
	s.fetchStarted = s.ticks
	gen := s.fetchGen
	err := rp.dispatch(req, func(a answer) {
		if gen != rp.idp.fetchGen {
			return
		}
		if a.err == nil {
			a.err = use(a)
		}
		if a.err != nil {
			rp.fetchFailed(what + ": " + a.err.Error())
		}
	})
	if err != nil {
		rp.fetchFailed(what + ": " + dispatchProblem(rp.cfg.Cluster, err))
	}
}

// fetchFailed ends the fetch in progress, schedules the next attempt with exponential
// backoff, and answers every held request 503: a request never waits longer than one
// fetch, and never passes unauthenticated.
func (rp *relyingParty) fetchFailed(reason string) {
	s := &rp.idp
	s.fetching = false
	s.fetchGen++
	s.failures++
	backoff := uint64(1) << min(s.failures, 7)
	s.notBefore = s.ticks + min(backoff, maxBackoffTicks)
	rp.metrics.count(metricIdpFetchFailed)
	proxywasm.LogErrorf("oidc-wasm: cannot load the identity provider's metadata from %s (attempt %d, next in %d ms): %s",
		rp.cfg.Issuer, s.failures, (s.notBefore-s.ticks)*tickPeriodMS, reason)
	rp.held.release(false)
}

// requestKeyRefresh asks for a JWKS refetch after a token named an unknown key id. It reports
// false when one was fetched too recently (rate limit); the token is then simply invalid.
func (rp *relyingParty) requestKeyRefresh() bool {
	s := &rp.idp
	if s.fetching || s.wantKeys {
		return true
	}
	if s.ticks-s.keysFetchedAt < keyRefreshTicks {
		return false
	}
	s.wantKeys = true
	return true
}

// dispatchProblem explains a refused DispatchHttpCall. Envoy's only word for an unknown
// cluster is "bad argument", which sends operators hunting; say what to check.
func dispatchProblem(cluster string, err error) string {
	return fmt.Sprintf("dispatch to cluster %q refused (%v): the cluster must exist in Envoy "+
		"(Istio: a ServiceEntry or Service for the IdP host; the name is outbound|<port>||<host>) "+
		"and the request needs :method, :path and :authority", cluster, err)
}
