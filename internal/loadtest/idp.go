package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// idp is node oidc-provider (refresh-token rotation with reuse detection) run so that it can
// be killed and restarted, and its keys rotated, without losing what it issued: its store is
// a file, and it restarts on the same address.
type idp struct {
	opt     testidp.OIDCProviderOptions
	dir     string
	keys    []jwk.Key // private signing keys, the first one signs
	current *testidp.OIDCProvider
	mu      sync.Mutex
}

const (
	clientID     = "load"
	clientSecret = "load-secret"
	// loadHost is the Host every load request carries: the redirect URI registered at the IdP
	// is built from it, whichever replica serves the callback.
	loadHost = "app.load.test"
)

func startIdP(dir string, ttl time.Duration) (*idp, error) {
	i := &idp{dir: dir}
	if err := i.addKey(); err != nil {
		return nil, err
	}
	i.opt = testidp.OIDCProviderOptions{
		ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{"http://" + loadHost + "/oauth2/callback"},
		IDTokenTTL:   ttl, AccessTokenTTL: ttl, RefreshTokenTTL: 24 * time.Hour,
		Store: filepath.Join(dir, "store.jsonl"),
	}
	return i, i.launch()
}

// addKey makes a new signing key, published before the older ones.
func (i *idp) addKey() error {
	key, err := testidp.NewSigningKey(fmt.Sprintf("load-%d", len(i.keys)+1))
	if err != nil {
		return err
	}
	i.keys = append([]jwk.Key{key}, i.keys...)
	set := jwk.NewSet()
	for _, k := range i.keys {
		_ = set.AddKey(k)
	}
	i.opt.JWKS, err = json.Marshal(set)
	return err
}

func (i *idp) launch() error {
	p, err := testidp.LaunchOIDCProvider(i.opt, i.dir)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.current, i.opt.Addr = p, p.Addr
	i.mu.Unlock()
	return nil
}

func (i *idp) provider() *testidp.OIDCProvider {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current
}

// kill ends the IdP as a crash would.
func (i *idp) kill() { i.provider().Kill() }

// restart starts it again on the same address with the same store.
func (i *idp) restart() error { return i.launch() }

// rotate restarts the IdP with a new signing key; the old one stays published.
func (i *idp) rotate() error {
	i.provider().Stop()
	if err := i.addKey(); err != nil {
		return err
	}
	return i.launch()
}

func (i *idp) stop() { i.provider().Stop() }

// redemptions counts, per replica, the refresh tokens presented to the IdP's token endpoint,
// and the answers. Each replica reaches the IdP through its own counting proxy: its cluster.
type redemptions struct {
	mu      sync.Mutex
	byToken []map[string]*presented // per replica
	refused int                     // refresh answers other than 200
}

// presented is one refresh token at one replica: how many times it was presented, and
// whether one of those got no answer (the IdP died with the request in hand: it may have
// redeemed the token all the same, so presenting it again is a reuse no one could avoid).
type presented struct {
	n          int
	unanswered bool
}

func newRedemptions(replicas int) *redemptions {
	r := &redemptions{byToken: make([]map[string]*presented, replicas)}
	for k := range r.byToken {
		r.byToken[k] = map[string]*presented{}
	}
	return r
}

// count records a presentation of token by a replica.
func (r *redemptions) count(replica int, token string, answered bool, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.byToken[replica][token]
	if p == nil {
		p = &presented{}
		r.byToken[replica][token] = p
	}
	p.n++
	p.unanswered = p.unanswered || !answered
	if answered && status != 200 {
		r.refused++
	}
}

// counter is one replica's cluster: a reverse proxy to the IdP that counts refresh tokens. A
// connection the IdP refuses (it is down) is closed without an answer, so the gateway sees
// what Envoy would see of a dead IdP: a connection failure, not a proxy's 502.
type counter struct {
	replica int
	idp     *idp
	r       *redemptions
	client  *http.Client
}

func (c *counter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	refresh := ""
	if req.Method == http.MethodPost && req.URL.Path == "/token" {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
			refresh = form.Get("refresh_token")
		}
	}
	out, _ := http.NewRequestWithContext(req.Context(), req.Method, "http://"+c.idp.provider().Addr+req.URL.RequestURI(), bytes.NewReader(body))
	out.Header = req.Header.Clone()
	out.Host = req.Host
	resp, err := c.client.Do(out)
	if err != nil {
		if refresh != "" {
			c.r.count(c.replica, refresh, false, 0)
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if refresh != "" {
		c.r.count(c.replica, refresh, true, resp.StatusCode)
	}
	for name, values := range resp.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// serveCounter starts a replica's cluster address.
func serveCounter(c *counter) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	c.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}

// tally sums the redemptions: tokens presented more than once by one replica (after an
// answer, and after none), and tokens presented by more than one replica.
func (r *redemptions) tally() tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t tally
	seen := map[string]int{}
	for _, m := range r.byToken {
		for token, p := range m {
			switch {
			case p.n > 1 && p.unanswered:
				t.afterNoAnswer++
			case p.n > 1:
				t.twiceInOneReplica++
			}
			seen[token]++
		}
	}
	for _, n := range seen {
		if n > 1 {
			t.acrossReplicas++
		}
	}
	t.tokens, t.refused = len(seen), r.refused
	return t
}

type tally struct {
	tokens, twiceInOneReplica, afterNoAnswer, acrossReplicas, refused int
}
