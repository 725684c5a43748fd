package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
)

// peerResult is oauth2-proxy's /oauth2/auth with a valid session cookie, per request.
type peerResult struct {
	perRequest time.Duration
	requests   int
}

// oauth2Proxy is a running oauth2-proxy behind Dex with one logged-in session.
type oauth2Proxy struct {
	base   string // http://127.0.0.1:<port>
	cookie string // the session's Cookie header value
	client *http.Client
	stop   func()
}

// startOAuth2Proxy starts Dex and oauth2-proxy on loopback and logs in through Dex's form to
// get a real session cookie.
func startOAuth2Proxy(bin string) (*oauth2Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	base := "http://" + addr
	dex, stopDex, err := testidp.LaunchDex(testidp.DexOptions{ClientID: "oauth2-proxy", ClientSecret: "proxy-secret",
		RedirectURIs: []string{base + "/oauth2/callback"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("starting Dex: %w", err)
	}
	cmd := exec.Command(bin, "--provider=oidc", "--oidc-issuer-url="+dex.Issuer,
		"--client-id="+dex.ClientID, "--client-secret="+dex.ClientSecret, "--redirect-url="+base+"/oauth2/callback",
		"--cookie-secret=0123456789abcdef0123456789abcdef", "--cookie-secure=false", "--email-domain=*",
		"--upstream=static://200", "--http-address="+addr, "--code-challenge-method=S256",
		"--skip-provider-button=true", "--request-logging=false", "--auth-logging=false", "--standard-logging=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		_ = stopDex()
		return nil, err
	}
	p := &oauth2Proxy{base: base, stop: func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = stopDex() }}
	if err := p.login(); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *oauth2Proxy) login() error {
	jar, _ := cookiejar.New(nil)
	p.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var authURL string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := p.client.Get(p.base + "/oauth2/start?rd=/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 302 {
				authURL = resp.Header.Get("Location")
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("oauth2-proxy did not start a login: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	callback, err := testidp.NewBrowser().LoginAtDex(authURL, "alice@example.com", "password")
	if err != nil {
		return err
	}
	resp, err := p.client.Get(callback)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 302 {
		return fmt.Errorf("oauth2-proxy callback: status %d", resp.StatusCode)
	}
	u, _ := url.Parse(p.base)
	var parts []string
	for _, c := range jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	p.cookie = strings.Join(parts, "; ")
	return nil
}

// perRequest times sequential keep-alive GETs of /oauth2/auth (what Envoy's ext_authz / Istio
// CUSTOM sends per request): the median of rounds batches.
func (p *oauth2Proxy) perRequest(rounds int) (*peerResult, error) {
	auth := func() error {
		resp, err := p.client.Get(p.base + "/oauth2/auth")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			return fmt.Errorf("/oauth2/auth with the session cookie: status %d", resp.StatusCode)
		}
		return nil
	}
	for k := 0; k < 200; k++ { // warm up: connections, caches
		if err := auth(); err != nil {
			return nil, err
		}
	}
	const n = 1000
	var samples []time.Duration
	for r := 0; r < rounds; r++ {
		t0 := time.Now()
		for k := 0; k < n; k++ {
			if err := auth(); err != nil {
				return nil, err
			}
		}
		samples = append(samples, time.Since(t0)/n)
	}
	return &peerResult{perRequest: median(samples), requests: n}, nil
}
