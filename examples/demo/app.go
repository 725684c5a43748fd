package main

import (
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/oidc-wasm/oidc-wasm/internal/proxyhost"
)

// identityPrefix marks the headers the plugin sets from the session's claims.
const identityPrefix = "x-auth-request-"

// appPage shows the app's side of the story: which headers arrived, identity first. It is
// what a real app behind the gateway would read, and proves the plugin's own cookies never
// reach it. "Admin area" leads to the path the demo's authorization rule reserves for a group
// Dex's users lack, so it shows the plugin's 403 page instead of this one.
var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oidc-wasm demo app</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2433}
h1{font-size:1.5rem;margin:0 0 .25rem} .sub{color:#5b6475;margin:0 0 1.5rem}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e6ec;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}
td{font-family:ui-monospace,monospace;font-size:.85rem;word-break:break-all} td.name{white-space:nowrap;word-break:normal}
tr.identity td{background:#e7f6ec;font-weight:600} .none{background:#fff4e5;padding:.6rem .8rem;border-radius:6px}
nav{margin:1.25rem 0} nav a{display:inline-block;margin-right:.75rem;padding:.4rem .9rem;border-radius:6px;background:#1d4ed8;color:#fff;text-decoration:none}
nav a.plain{background:#e3e6ec;color:#1d2433}
</style></head><body>
{{if .User}}<h1>Hello, {{.User}}</h1>
<p class="sub">The gateway verified your login and told this app who you are in the highlighted headers. The app wrote no authentication code.</p>
{{else}}<h1>No identity headers</h1>
<p class="none">This request did not pass the gateway's login (or came to the app directly, bypassing it). In production only the gateway may reach the app.</p>
{{end}}
<nav><a id="logout" href="/oauth2/logout">Log out</a><a class="plain" href="/reports/2026?view=full">Another page</a><a class="plain" id="admin" href="/admin">Admin area</a></nav>
<p class="sub">The app received <code>{{.Method}} {{.Path}}</code> with these headers:</p>
<table><thead><tr><th>header</th><th>value</th></tr></thead><tbody>
{{range .Headers}}<tr{{if .Identity}} class="identity"{{end}}><td class="name">{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</tbody></table>
</body></html>
`))

type headerRow struct {
	Name, Value string
	Identity    bool
}

// appHandler is the upstream app: it renders the request it received.
func appHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/favicon.ico":
		http.NotFound(w, r)
		return
	case "/healthz":
		// The configuration's skip path: reachable without login, like a load balancer's probe.
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	data := struct {
		User, Method, Path string
		Headers            []headerRow
	}{Method: r.Method, Path: r.URL.RequestURI(), User: r.Header.Get("X-Auth-Request-Email")}
	data.Headers = append(data.Headers, headerRow{Name: "host", Value: r.Host})
	for _, kv := range proxyhost.HeaderPairs(r.Header) {
		data.Headers = append(data.Headers, headerRow{Name: kv[0], Value: kv[1], Identity: strings.HasPrefix(kv[0], identityPrefix)})
	}
	// Identity headers first; the rest stay as they are: host, then by name.
	sort.SliceStable(data.Headers, func(i, j int) bool { return data.Headers[i].Identity && !data.Headers[j].Identity })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := appPage.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
