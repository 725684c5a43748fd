package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// A login through the embedded gateway, with the compiled module and a real Dex: what the
// browser test does with Chromium, here with Go's client so `go test` covers the demo's
// wiring of the host (callouts carried to Dex, every Set-Cookie on its own line, the headers
// the app receives).
func TestLoginThroughEmbeddedGateway(t *testing.T) {
	wasm := wasmhost.ReadModule(t, "../../"+wasmhost.Modules[0].Path)
	app := httptest.NewServer(http.HandlerFunc(appHandler))
	defer app.Close()
	gw := httptest.NewUnstartedServer(nil)
	defer gw.Close()
	gwURL := "http://" + gw.Listener.Addr().String()
	dex := testidp.StartDex(t, testidp.DexOptions{ClientID: "demo", ClientSecret: "s", RedirectURIs: []string{gwURL + "/oauth2/callback"}})

	cfg := strings.NewReplacer("http://127.0.0.1:5556/dex", dex.Issuer, `"oidc-wasm-demo"`, `"demo"`, `"demo-secret"`, `"s"`).Replace(defaultPluginConfig)
	c, err := parseDemoConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host, err := startHost(context.Background(), wasm, c, false, func(w int, l proxyhost.LogLevel, m string) { t.Logf("worker %d %s: %s", w, l, m) })
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := waitForKeys(host, metadataLimit); err != nil {
		t.Fatal(err)
	}
	appURL, _ := url.Parse(app.URL)
	gw.Config = (&proxyhost.Gateway{Host: host, Upstream: appURL, Log: t.Logf}).Server()
	gw.Start()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, gwURL+path, nil)
		req.Header.Set("Accept", "text/html")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	resp, _ := get("/reports?x=1")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), dex.Issuer+"/auth") {
		t.Fatalf("want a redirect to Dex, got %d %v", resp.StatusCode, resp.Header)
	}
	callback, err := testidp.NewBrowser().LoginAtDex(resp.Header.Get("Location"), testidp.DexUser, testidp.DexPassword)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = get(strings.TrimPrefix(callback, gwURL))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/reports?x=1" || len(resp.Header.Values("Set-Cookie")) < 2 {
		t.Fatalf("callback: want 302 back with the session set and the state cleared, got %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := get("/reports/../reports?x=1", "X-Auth-Request-Email", "mallory@evil.example")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with a session: got %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"Hello, " + testidp.DexUser, "<code>GET /reports?x=1</code>", "x-request-id", "x-forwarded-for"} {
		if !strings.Contains(body, want) {
			t.Errorf("the app's page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "mallory") || strings.Contains(body, "_oidc_session") {
		t.Errorf("a spoofed identity or the plugin's cookie reached the app:\n%s", body)
	}

	resp, _ = get("/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("skip path: got %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, gwURL+"/api", nil)
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Www-Authenticate") == "" {
		t.Errorf("API call without a session: want 401 with WWW-Authenticate, got %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get("/a%2Fb"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("escaped slash: want 400, got %d", resp.StatusCode)
	}
}
