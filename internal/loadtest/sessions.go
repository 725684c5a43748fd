package loadtest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// session is one browser's session: its plugin cookies, kept up to date from every response
// as a browser keeps them.
type session struct {
	mu      sync.Mutex
	cookies map[string]string
	lost    bool // the plugin sent it to log in again or answered 401: its session is gone
	storm   bool // held back for the refresh storm
	home    int  // the replica it stays on with Options.Affinity
}

// header is the Cookie header the browser sends now.
func (s *session) header() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.cookies))
	for name := range s.cookies {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + "=" + s.cookies[name]
	}
	return strings.Join(parts, "; ")
}

// apply takes a response's Set-Cookie headers, as a browser does: a value replaces the
// cookie, an empty value or Max-Age=0 deletes it.
func (s *session) apply(setCookies []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range setCookies {
		name, rest, _ := strings.Cut(sc, "=")
		value, attrs, _ := strings.Cut(rest, ";")
		if strings.HasPrefix(name, "_oidc_session_state") {
			continue
		}
		if value == "" || strings.Contains(strings.ToLower(attrs), "max-age=0") {
			delete(s.cookies, name)
		} else {
			s.cookies[name] = value
		}
	}
}

// newClient is an HTTP client that never follows redirects, on a connection pool of its own
// (a browser's connections to one gateway).
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get sends a GET for path to a gateway as loadHost.
func get(client *http.Client, gw, path string, header ...string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+gw+path, nil)
	if err != nil {
		return nil, err
	}
	req.Host = loadHost
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// login logs a new session in: the redirect from one gateway, the IdP's pages played by the
// browser, the callback on another gateway (replicas share the cookie secret).
func login(client *http.Client, browser *testidp.Browser, first, second string) (*session, error) {
	start, err := get(client, first, "/start", "Accept", "text/html")
	if err != nil {
		return nil, fmt.Errorf("login redirect: %w", err)
	}
	if start.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("login redirect: status %d", start.StatusCode)
	}
	back, err := browser.LoginAtOIDCProvider(start.Header.Get("Location"), testidp.OIDCProviderUser, "password")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(back)
	if err != nil {
		return nil, fmt.Errorf("callback URL: %w", err)
	}
	s := &session{cookies: map[string]string{}}
	state := &session{cookies: map[string]string{}}
	for _, sc := range start.Header.Values("Set-Cookie") {
		if name, rest, _ := strings.Cut(sc, "="); strings.HasPrefix(name, "_oidc_session_state") {
			value, _, _ := strings.Cut(rest, ";")
			state.cookies[name] = value
		}
	}
	cb, err := get(client, second, u.RequestURI(), "Accept", "text/html", "Cookie", state.header())
	if err != nil {
		return nil, fmt.Errorf("callback: %w", err)
	}
	if cb.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("callback: status %d", cb.StatusCode)
	}
	s.apply(cb.Header.Values("Set-Cookie"))
	if len(s.cookies) == 0 {
		return nil, fmt.Errorf("callback: no session cookie")
	}
	return s, nil
}

// loginAll logs n sessions in with par browsers at once, spreading redirects and callbacks
// over the gateways.
func loginAll(gateways []string, n, par int) ([]*session, error) {
	sessions := make([]*session, n)
	next := make(chan int)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient(2)
			for k := range next {
				// Every session is another user's browser: a browser that logged in before
				// would get the same grant at the IdP, and a grant revoked for one session
				// (reuse detection) would end all of them. A login crosses a dozen requests to
				// a busy single-threaded IdP; a transient failure is retried.
				var s *session
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					if s, err = login(client, testidp.NewBrowser(), gateways[k%len(gateways)], gateways[(k+1)%len(gateways)]); err == nil {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("session %d: %w", k, err)
					return
				}
				s.home = k
				sessions[k] = s
			}
		}()
	}
	var err error
feed:
	for k := 0; k < n; k++ {
		select {
		case next <- k:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return sessions, err
}
