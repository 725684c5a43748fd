package plugin

import (
	"errors"
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

// keySource says which IdP an idpState loads and how its tokens are judged: the relying
// party's own IdP, or an extra issuer of bearer tokens (bearer_issuers).
type keySource struct {
	issuer  string
	cluster string
	// hostClusters reach endpoints on other hosts than cluster does (endpoint_clusters).
	hostClusters map[string]string
	timeout      time.Duration
	// endpoints replace the discovery document's where set; with skipDiscovery they are all
	// there is, and no document is fetched.
	endpoints     oidc.Discovery
	skipDiscovery bool
	tenants       []string      // a multi-tenant issuer's allowed tenants (oidc.ParseTenantDiscovery)
	verifier      oidc.Verifier // how tokens are judged, but for Keys and the tenants' issuers
}

// idpState is an IdP's discovery document and keys as this VM knows them, the fetch in
// progress, if any, and the requests waiting for them. Every change to it is made here.
type idpState struct {
	src     keySource
	env     env
	metrics *metrics
	held    heldRequests // requests waiting for the metadata (held.go)
	onKeys  func()       // called when a new key set is installed

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

func newIDPState(src keySource, e env, m *metrics, onKeys func()) idpState {
	return idpState{src: src, env: e, metrics: m, onKeys: onKeys, held: heldRequests{waiting: map[uint32]*waiter{}}}
}

func (s *idpState) ready() bool { return s.discovery != nil && s.keys != nil }

// backingOff reports whether the last fetch failed and the next attempt is not due yet: a
// request arriving now is answered 503 at once rather than held.
func (s *idpState) backingOff() bool { return s.failures > 0 && s.ticks < s.notBefore && !s.fetching }

// watchdogTicks is how long an IdP call may go unanswered before it is given up: Envoy
// answers every callout, with a failure after the timeout at the latest, so an answer that
// has not come after twice that is lost.
func (s *idpState) watchdogTicks() uint64 {
	return 2*uint64(s.src.timeout.Milliseconds())/tickPeriodMS + 4
}

// watchdog is watchdogTicks as a duration, for deadlines other VMs read.
func (s *idpState) watchdog() time.Duration {
	return time.Duration(s.watchdogTicks()*tickPeriodMS) * time.Millisecond
}

// tick runs the relying party's share of the plugin's OnTick: for its IdP and every bearer
// issuer, the watchdog and the next metadata fetch when one is due, and its refresh flights.
func (rp *relyingParty) tick() {
	rp.idp.advance()
	rp.tickRefreshes()
	rp.idp.fetchIfDue()
	for _, i := range rp.issuers {
		i.keys.advance()
		i.keys.fetchIfDue()
	}
}

// advance counts a tick and gives up a fetch whose answer never came.
func (s *idpState) advance() {
	s.ticks++
	if s.fetching && s.ticks-s.fetchStarted > s.watchdogTicks() {
		s.fetchFailed("the identity provider's answer never arrived")
	}
}

// fetchIfDue starts the next fetch when one is due: the metadata at start and every
// metadataRefreshTicks, the keys when a token named an unknown one; unless another VM
// published them recently.
func (s *idpState) fetchIfDue() {
	if s.fetching || s.ticks < s.notBefore {
		return
	}
	switch {
	case s.discovery == nil || (s.ready() && s.ticks >= s.refreshAt):
		switch {
		case s.adoptSharedMetadata():
		case s.src.skipDiscovery:
			s.discovery, s.discoveryBody, _ = s.discoveryOf(0, nil)
			s.fetchKeys()
		default:
			s.fetchDiscovery()
		}
	case s.keys == nil || s.wantKeys:
		if !s.adoptSharedMetadata() {
			s.fetchKeys()
		}
	}
}

// discoveryOf is the IdP's metadata as the source uses it: the configured endpoints when
// discovery is skipped (body is then nil: there is no document), else the document with the
// configured endpoints in place of its own.
func (s *idpState) discoveryOf(status int, body []byte) (*oidc.Discovery, []byte, error) {
	d := &oidc.Discovery{Issuer: s.src.issuer}
	if s.src.skipDiscovery {
		body = nil
	} else {
		var err error
		parse := oidc.ParseDiscovery
		if len(s.src.tenants) > 0 {
			parse = oidc.ParseTenantDiscovery
		}
		if d, err = parse(s.src.issuer, status, body); err != nil {
			return nil, nil, err
		}
	}
	o := d.Override(s.src.endpoints)
	return &o, body, nil
}

func (s *idpState) fetchDiscovery() {
	s.fetch("discovery", oidc.DiscoveryRequest(s.src.issuer), func(a answer) error {
		d, body, err := s.discoveryOf(a.status, a.body)
		if err != nil {
			return err
		}
		s.discovery, s.discoveryBody = d, body
		s.metrics.count(metricIdpDiscoveryFetched)
		s.fetchKeys()
		return nil
	})
}

func (s *idpState) fetchKeys() {
	s.wantKeys = false
	s.fetch("jwks", oidc.JWKSRequest(s.discovery), func(a answer) error {
		keys, err := oidc.ParseJWKS(a.status, a.body)
		if err != nil {
			return err
		}
		s.metrics.count(metricIdpJwksFetched)
		s.metadataLoaded(keys, s.env.now().Unix())
		setShared(s.sharedMetadataKey(), encodeSharedMetadata(s.loadedAt, s.discoveryBody, a.body))
		return nil
	})
}

// metadataLoaded installs a new key set (with the discovery document already in place) and
// releases every request that waited for it.
func (s *idpState) metadataLoaded(keys *oidc.KeySet, loadedAt int64) {
	s.keys, s.fetching, s.failures, s.keysFetchedAt = keys, false, 0, s.ticks
	s.verifier = s.src.verifier
	s.verifier.Keys = keys
	if s.discovery.Issuer != s.src.issuer {
		s.verifier.MoreIssuers = oidc.ExpandIssuers([]string{s.discovery.Issuer}, s.src.tenants)
	}
	s.wantKeys, s.refreshAt, s.loadedAt = false, s.ticks+metadataRefreshTicks, loadedAt
	if s.onKeys != nil {
		s.onKeys()
	}
	proxywasm.LogInfof("oidc-wasm: loaded %d signing keys of %s", keys.Len(), s.src.issuer)
	s.held.release(true)
}

// The worker VMs of one Envoy share what they fetch: the VM that fetches publishes the
// discovery document and the JWKS, with the time of the fetch, and the others adopt that
// instead of fetching again, at start, at their periodic refresh and on an unknown kid.

func (s *idpState) sharedMetadataKey() string {
	return sharedMetadataPrefix + s.src.cluster + "/" + s.src.issuer
}

// adoptSharedMetadata takes metadata another VM published, if it is newer than what this VM
// holds and younger than the refresh interval. It reports whether it did.
func (s *idpState) adoptSharedMetadata() bool {
	value, _, err := proxywasm.GetSharedData(s.sharedMetadataKey())
	if err != nil {
		return false
	}
	loadedAt, body, jwks, ok := decodeSharedMetadata(value)
	now := s.env.now().Unix()
	if !ok || loadedAt <= s.loadedAt || now-loadedAt >= int64(metadataRefreshTicks*tickPeriodMS/1000) {
		return false
	}
	d, body, err := s.discoveryOf(200, body)
	if err != nil {
		return false
	}
	keys, err := oidc.ParseJWKS(200, jwks)
	if err != nil {
		return false
	}
	s.discovery, s.discoveryBody = d, body
	s.metrics.count(metricIdpMetadataShared)
	s.metadataLoaded(keys, loadedAt)
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
func (s *idpState) fetch(what string, req oidc.Request, use func(answer) error) {
	s.fetching = true
	s.fetchGen++
	s.fetchStarted = s.ticks
	gen := s.fetchGen
	err := s.dispatch(req, func(a answer) {
		if gen != s.fetchGen {
			return
		}
		if a.err == nil {
			a.err = use(a)
		}
		if a.err != nil {
			s.fetchFailed(what + ": " + a.err.Error())
		}
	})
	if err != nil {
		s.fetchFailed(what + ": " + err.Error())
	}
}

// fetchFailed ends the fetch in progress, schedules the next attempt with exponential
// backoff, and answers every held request 503: a request never waits longer than one
// fetch, and never passes unauthenticated.
func (s *idpState) fetchFailed(reason string) {
	s.fetching = false
	s.fetchGen++
	s.failures++
	backoff := uint64(1) << min(s.failures, 7)
	s.notBefore = s.ticks + min(backoff, maxBackoffTicks)
	s.metrics.count(metricIdpFetchFailed)
	proxywasm.LogErrorf("oidc-wasm: cannot load the identity provider's metadata from %s (attempt %d, next in %d ms): %s",
		s.src.issuer, s.failures, (s.notBefore-s.ticks)*tickPeriodMS, reason)
	s.held.release(false)
}

// requestKeyRefresh asks for a JWKS refetch after a token named an unknown key id. It reports
// false when one was fetched too recently (rate limit); the token is then simply invalid.
func (s *idpState) requestKeyRefresh() bool {
	if s.fetching || s.wantKeys {
		return true
	}
	if s.ticks-s.keysFetchedAt < keyRefreshTicks {
		return false
	}
	s.wantKeys = true
	return true
}
