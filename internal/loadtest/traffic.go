package loadtest

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// app is the upstream. Every request that reaches it on a path the plugin guards must carry
// the identity the plugin sets for the IdP's one user, and none may be a request the load
// client sent without a valid credential (it marks those X-Load-Attack).
type app struct {
	served          atomic.Int64
	unauthenticated atomic.Int64
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.served.Add(1)
	if r.URL.Path != "/healthz" && (r.Header.Get("X-Load-Attack") != "" || r.Header.Get("X-Auth-Request-User") != testidp.OIDCProviderSubject) {
		a.unauthenticated.Add(1)
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

// traffic is the load: clients sending requests of a mix, through the replicas in turn, and
// what their answers were.
type traffic struct {
	gateways []string
	affinity bool // each session stays on one replica (its home), as behind a sticky load balancer
	sessions []*session
	active   []*session // sessions the clients pick from (not lost, not held for a storm)
	mu       sync.Mutex
	turn     atomic.Uint64
	sent     atomic.Int64

	statuses  map[int]int
	lost      int // sessions sent to log in again
	stormLost int // of which storm sessions
	outage503 int // 503 while the IdP was down or restarting
	storm503  int // 503 while the storm's requests were out (and the IdP up)
	other503  int
	other5xx  int
	transport int // requests without an answer
	down      atomic.Bool
	downUntil atomic.Int64 // unix nanoseconds: the IdP's restart plus a grace period
	storming  atomic.Bool
}

func newTraffic(gateways []string, sessions []*session, affinity bool) *traffic {
	t := &traffic{gateways: gateways, affinity: affinity, sessions: sessions, statuses: map[int]int{}}
	for _, s := range sessions {
		if !s.storm {
			t.active = append(t.active, s)
		}
	}
	return t
}

// gateway picks the replica of the next request: round robin, as a front load balancer does.
func (t *traffic) gateway() string {
	return t.gateways[t.turn.Add(1)%uint64(len(t.gateways))]
}

// gatewayFor picks the replica of a session's request: its home with affinity, otherwise the
// next in turn. k numbers the requests of one burst.
func (t *traffic) gatewayFor(s *session, k int) string {
	if t.affinity {
		return t.gateways[s.home%len(t.gateways)]
	}
	if k >= 0 {
		return t.gateways[k%len(t.gateways)]
	}
	return t.gateway()
}

func (t *traffic) pick(r *rand.Rand) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.active) == 0 {
		return nil
	}
	return t.active[r.IntN(len(t.active))]
}

// run sends requests on clients connections until total requests were sent and the run's
// events are over (traffic goes on through the storm, the outage and the rotation).
func (t *traffic) run(clients int, total int64, eventsOver *atomic.Bool) {
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient(1)
			r := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for t.sent.Add(1) <= total || !eventsOver.Load() {
				t.one(client, r)
			}
		}()
	}
	wg.Wait()
}

// one sends one request of the mix: mostly page loads and API calls with a session, and
// requests that must never reach the app: no cookie with a forged identity header, a
// tampered cookie, a forged bearer token; some skip-path requests (and skip-path requests in
// place of session requests once no session is left).
func (t *traffic) one(client *http.Client, r *rand.Rand) {
	n := r.IntN(100)
	var s *session
	if n >= 7 || (n >= 2 && n < 4) {
		if s = t.pick(r); s == nil {
			n = 5
		}
	}
	switch {
	case n < 2:
		t.attack(client, "/page", "Accept", "text/html", "X-Auth-Request-User", testidp.OIDCProviderSubject)
	case n < 4:
		tampered := strings.Replace(s.header(), "_oidc_session=", "_oidc_session=AAAA", 1)
		t.attack(client, "/api/items", "Accept", "application/json", "Cookie", tampered)
	case n < 5:
		t.attack(client, "/api/items", "Accept", "application/json", "Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTQyIn0.")
	case n < 7:
		t.record(get(client, t.gateway(), "/healthz"))
	default:
		path, accept := "/page", "text/html"
		if n < 10 {
			path, accept = "/api/items", "application/json"
		}
		t.withSession(client, s, t.gatewayFor(s, -1), path, accept)
	}
}

func (t *traffic) attack(client *http.Client, path string, header ...string) {
	resp, err := get(client, t.gateway(), path, append(header, "X-Load-Attack", "1")...)
	t.record(resp, err)
}

// withSession sends a request with a session's cookies and keeps what the answer sets; an
// answer that sends the browser to log in again (or a 401 to an API call) loses the session.
func (t *traffic) withSession(client *http.Client, s *session, gw, path, accept string) {
	resp, err := get(client, gw, path, "Accept", accept, "Cookie", s.header())
	t.record(resp, err)
	if err != nil {
		return
	}
	s.apply(resp.Header.Values("Set-Cookie"))
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusUnauthorized {
		t.loseSession(s)
	}
}

func (t *traffic) loseSession(s *session) {
	s.mu.Lock()
	already := s.lost
	s.lost = true
	s.mu.Unlock()
	if already {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lost++
	if s.storm {
		t.stormLost++
	}
	for i, a := range t.active {
		if a == s {
			t.active = append(t.active[:i], t.active[i+1:]...)
			break
		}
	}
}

func (t *traffic) record(resp *http.Response, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.transport++
		return
	}
	t.statuses[resp.StatusCode]++
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && (t.down.Load() || time.Now().UnixNano() < t.downUntil.Load()):
		t.outage503++
	case resp.StatusCode == http.StatusServiceUnavailable && t.storming.Load():
		t.storm503++
	case resp.StatusCode == http.StatusServiceUnavailable:
		t.other503++
	case resp.StatusCode >= 500:
		t.other5xx++
	}
}

// storm sends, at once, two requests for every held-back session (their tokens have all
// expired), on connections of their own, through the replicas in turn; then the sessions join
// the others.
func (t *traffic) storm() {
	var held []*session
	for _, s := range t.sessions {
		if s.storm {
			held = append(held, s)
		}
	}
	t.storming.Store(true)
	defer t.storming.Store(false)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range held {
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := newClient(1)
				<-start
				t.withSession(client, s, t.gatewayFor(s, k), "/page", "text/html")
			}()
		}
	}
	close(start)
	wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range held {
		if !s.lost {
			t.active = append(t.active, s)
		}
	}
}
