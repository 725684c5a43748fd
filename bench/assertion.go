package main

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/oidc-wasm/oidc-wasm/internal/testidp"
	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// assertionHeader is the plugin's default header for the signed identity assertion.
const assertionHeader = "x-oidc-wasm-assertion"

// assertionHosts is how many hosts the signing scenario cycles through: more than an identity
// keeps assertions for, so every request of it signs.
const assertionHosts = 64

// assertionKey is the configuration member (followed by a comma) of an assertion key of alg.
func assertionKey(alg string) string {
	key, err := testidp.AssertionKeyPEM(alg, 1)
	check(err)
	pemKey, err := json.Marshal(key)
	check(err)
	return `"assertion_key":` + string(pemKey) + `,`
}

// assertionBench measures the signed assertion (assertion_key) of a valid session, in a VM of
// its own: the assertion kept with the session (the usual request), and one signed on every
// request (the session cached, the host another each time), which is what the first request
// of a session, or one every half lifetime, pays on top.
func assertionBench(res *result, path string, i *idp, start starter, alg string, rounds int) {
	b, _ := start(path, i, assertionKey(alg))
	defer b.close()
	session, _ := b.login()
	page := func(host string) [][2]string {
		h := wasmhost.BrowserGet("/page", [2]string{"cookie", session})
		h[2][1] = host // :authority
		return h
	}
	if b.upstream(page("app.example.com"), assertionHeader) == "" {
		log.Fatalf("%s: no %s upstream", alg, assertionHeader)
	}
	hosts := make([][][2]string, assertionHosts)
	for k := range hosts {
		hosts[k] = page(fmt.Sprintf("app-%d.example.com", k))
	}
	run := func(h [][2]string) {
		if b.upstream(h, assertionHeader) == "" {
			log.Fatalf("%s: %s %s: no %s upstream", alg, h[2][1], h[1][1], assertionHeader)
		}
	}
	measure(b, res, []scenario{
		{fmt.Sprintf("valid session + assertion (%s), kept with the session", alg), 2000, func(int) { run(page("app.example.com")) }},
		{fmt.Sprintf("valid session + assertion (%s), signed", alg), 100, func(k int) { run(hosts[k%assertionHosts]) }},
	}, rounds)
}
