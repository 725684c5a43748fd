package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// frontDoor serves the gateway over HTTPS, for clients that are real HTTP clients: every
// request runs through the plugin, the calls it dispatches are carried to their clusters, and
// what it lets through goes where Kubeflow's routes send it: /dex/ to Dex (the VirtualService),
// anything else to an app that answers 200 and records the headers it got.
type frontDoor struct {
	g   *gateway
	dex string // Dex's address
	srv *httptest.Server

	mu  sync.Mutex // the SDK's host emulator serves one request at a time
	app []map[string][]string
}

func openFrontDoor(t *testing.T, g *gateway, dex *testidp.Dex) *frontDoor {
	f := &frontDoor{g: g, dex: dex.Addr}
	f.srv = httptest.NewTLSServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// client is an HTTP client of the gateway's host (httptest's client reaches *.example.com at
// the server, with a certificate it trusts), with cookies in jar if it is not nil.
func (f *frontDoor) client(jar http.CookieJar) *http.Client {
	c := *f.srv.Client()
	c.Jar, c.Timeout = jar, 20*time.Second
	return &c
}

// upstream returns what the app received last.
func (f *frontDoor) upstream() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.app) == 0 {
		return nil
	}
	return f.app[len(f.app)-1]
}

func (f *frontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.g
	headers := [][2]string{{":method", r.Method}, {":path", r.RequestURI}, {":authority", r.Host}, {":scheme", "https"}}
	for name, values := range r.Header {
		for _, v := range values {
			headers = append(headers, [2]string{strings.ToLower(name), v})
		}
	}
	id, _ := g.Request(headers)
	defer g.CompleteHttpContext(id)
	action := g.settle(id)
	if reply := g.Reply(id); reply != nil {
		writeResponse(w, reply.Headers, int(reply.Status), []byte(reply.Body))
		return
	}
	if action != types.ActionContinue {
		http.Error(w, "the plugin neither answered nor let the request through", http.StatusBadGateway)
		return
	}
	up := g.GetCurrentRequestHeaders(id)
	status, body := [][2]string{{":status", "200"}, {"content-type", "text/plain"}}, []byte("app\n")
	if path := g.Upstream(id)[":path"]; len(path) == 1 && strings.HasPrefix(path[0], "/dex/") {
		reqBody, err := io.ReadAll(r.Body)
		if err == nil {
			status, body, err = testidp.Forward(f.dex, up, reqBody, 10*time.Second)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	} else {
		f.app = append(f.app, g.Upstream(id))
	}
	code, err := strconv.Atoi(status[0][1])
	if err != nil {
		http.Error(w, "bad upstream status "+status[0][1], http.StatusBadGateway)
		return
	}
	g.CallOnResponseHeaders(id, status, false)
	writeResponse(w, g.GetCurrentResponseHeaders(id), code, body)
}

func writeResponse(w http.ResponseWriter, headers [][2]string, status int, body []byte) {
	for _, kv := range headers {
		if !strings.HasPrefix(kv[0], ":") && kv[0] != "content-length" {
			w.Header().Add(kv[0], kv[1])
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// settle carries the calls a request waits for (a code exchange, dispatched on its own
// context; a refresh or a JWKS refetch, dispatched from the plugin's tick) until the plugin
// answers it or lets it through, and returns the stream's action.
func (g *gateway) settle(id uint32) types.Action {
	for i := 0; i < 4 && g.Reply(id) == nil && g.GetCurrentHttpStreamAction(id) == types.ActionPause; i++ {
		if g.carry(id) == 0 {
			g.Tick()
			g.carry(wasmhost.PluginContextID)
		}
	}
	return g.GetCurrentHttpStreamAction(id)
}

// kfpSession is the requests.Session of Kubeflow's KFPClientManager._get_session_cookies
// (kubeflow/website, "Connect the Pipelines SDK to Kubeflow Pipelines"; the manifests' test
// DexSessionManager does the same), which many users copy: Accept: */*, redirects followed,
// and for each response the number of redirects that led to it (requests' resp.history).
type kfpSession struct {
	client *http.Client
	hops   int
}

func (s *kfpSession) do(method, target string, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "*/*")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	s.hops = 0
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp, resp.Body.Close()
}

// maxRedirects is requests' limit (Session.max_redirects).
const maxRedirects = 30

var (
	authPathRE  = regexp.MustCompile(`/auth$`)
	loginPathRE = regexp.MustCompile(`/auth/.*/login$`)
)

// kfpLogin is _get_session_cookies step by step: GET the endpoint, which must end in 200
// after redirects; from there reach Dex's login form of the "local" connector and POST the
// credentials, which must end at the app; then every cookie as the Cookie header
// kfp.Client(cookies=...) sends. Two branches of the class are left out, as they never apply
// here: a 403 (oauth2-proxy's sign-in page, answered with GET /oauth2/start?rd=<path>), which
// the plugin never answers to a request without a session (any status but 200 makes the
// class raise, and kfpLogin fail), and Dex's approval page, which Kubeflow's Dex skips.
func kfpLogin(f *frontDoor, endpoint string) (cookies string, err error) {
	jar, _ := cookiejar.New(nil)
	s := &kfpSession{client: f.client(jar)}
	s.client.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if s.hops = len(via); s.hops >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	resp, err := s.do(http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP status code %d for GET against %s", resp.StatusCode, endpoint)
	}
	if s.hops == 0 {
		return "", fmt.Errorf("GET %s: %s without a redirect: the endpoint looks unsecured", endpoint, resp.Status)
	}
	// With one connector Dex's redirects end on its login form; with several, on its chooser
	// at .../auth, which the class skips by going to the connector's path.
	u := *resp.Request.URL
	u.Path = authPathRE.ReplaceAllString(u.Path, "/auth/local")
	loginURL := u.String()
	if !loginPathRE.MatchString(u.Path) {
		if resp, err = s.do(http.MethodGet, loginURL, nil); err != nil {
			return "", err
		}
		loginURL = resp.Request.URL.String()
	}
	resp, err = s.do(http.MethodPost, loginURL, url.Values{"login": {testidp.DexUser}, "password": {testidp.DexPassword}})
	if err != nil {
		return "", err
	}
	if s.hops == 0 {
		return "", fmt.Errorf("POST %s: %s without a redirect: credentials refused", loginURL, resp.Status)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Host != kfHost || strings.HasPrefix(resp.Request.URL.Path, "/dex/") {
		return "", fmt.Errorf("the login ended at %s with %s, want the app", resp.Request.URL, resp.Status)
	}
	var pairs []string
	for _, c := range jar.Cookies(&url.URL{Scheme: "https", Host: kfHost, Path: "/"}) {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; "), nil
}

// kfScriptedLogins plays KFPClientManager from its documented api_url, /pipeline (page_paths:
// a redirect straight to Dex, where oauth2-proxy answered 403), and from /oauth2/start with
// an API path to return to (what a script does on an API path's 401, on which the class
// itself raises, as it does with oauth2-proxy's api_routes); then API calls with the cookies
// as a Cookie header reach the app with the Dex ID token dex-jwt accepts.
func kfScriptedLogins(t *testing.T, g *gateway, dex *testidp.Dex, istio *dexJWT) {
	f := openFrontDoor(t, g, dex)
	api := func(cookie string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+kfHost+"/apis/v2beta1/pipelines?page_size=1", nil)
		req.Header.Set("Accept", "*/*")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := f.client(nil).Do(req)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, resp.Body.Close()
	}
	if status, err := api(""); err != nil || status != http.StatusUnauthorized {
		t.Fatalf("an API call without cookies: want 401, got %d %v", status, err)
	}
	for _, endpoint := range []string{"/pipeline", "/oauth2/start?rd=" + url.QueryEscape("/apis/v2beta1/healthz")} {
		cookies, err := kfpLogin(f, "https://"+kfHost+endpoint)
		if err != nil {
			t.Errorf("KFPClientManager from %s: %v", endpoint, err)
			continue
		}
		if !strings.Contains(cookies, kfSession+"=") {
			t.Errorf("KFPClientManager from %s: cookies %q hold no session", endpoint, cookies)
		}
		if status, err := api(cookies); err != nil || status != http.StatusOK {
			t.Errorf("API call with the cookies of the login from %s: want 200, got %d %v", endpoint, status, err)
			continue
		}
		istio.admits(t, f.upstream(), time.Now())
	}
}
