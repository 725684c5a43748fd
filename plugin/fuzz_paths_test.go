package plugin

import (
	"net/url"
	"strings"
	"testing"
)

// spellingConfig has every kind of path decision: skip rules, authorization rules by prefix
// (case-insensitive, for upstreams that ignore case), and a second provider chosen by path.
// Every configured path is lower-case, so a case-insensitive upstream's reading of a path is
// its lower-case spelling.
const spellingConfig = `{"client_secret":"s","cookie_secret":"` + testCookieKey + `",
	"skip_paths":[{"prefix":"/public"},{"exact":"/healthz"},{"regex":".*\\.(js|css)"}],
	"authorization_case_insensitive":true,
	"authorization":[{"path_prefix":"/admin","allow":[{"group":"admins"}]},{"path_prefix":"/finance/reports","allow":[{"group":"finance"}]},
		{"path_prefix":"/","allow":[{"group":"staff"}]}],
	"providers":[{"name":"site","hosts":["app.example.com"],"issuer":"https://idp.example.com","client_id":"c"},
		{"name":"ops","hosts":["app.example.com"],"path_prefix":"/ops","issuer":"https://ops.example.com","client_id":"c"}]}`

// upstreamReadings are the plain spellings of what common upstreams serve for a path in
// normal form: Go's ServeMux, Express and Flask decode escapes; Tomcat, Jetty and Spring also
// cut ";params"; a server that decodes and parses again ends the path at a decoded '?' or '#';
// a case-insensitive one (Express, ASP.NET, IIS) reads every one of those in lower case
// (folded).
func upstreamReadings(raw string) (readings []upstreamReading) {
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return nil
	}
	reparsed := decoded
	if i := strings.IndexAny(reparsed, "?#"); i >= 0 {
		reparsed = reparsed[:i]
	}
	for _, v := range []string{decoded, stripParams(decoded), reparsed, stripParams(reparsed)} {
		if v != "" {
			readings = append(readings, upstreamReading{plainSpelling(v), false}, upstreamReading{plainSpelling(strings.ToLower(v)), true})
		}
	}
	return readings
}

type upstreamReading struct {
	path   string
	folded bool // read by an upstream that ignores letter case
}

// plainSpelling escapes what a path cannot hold as it is, with upper-case hex.
func plainSpelling(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// respell rewrites a path as an attacker would, one operation per byte of ops: escape a
// character (either hex case), add a path parameter to a segment, or flip a letter's case.
func respell(path string, ops []byte) string {
	b := []byte(path)
	for i, op := range ops {
		if len(b) == 0 {
			break
		}
		at := int(op/4) % len(b)
		switch op % 4 {
		case 0, 1:
			hex := "0123456789ABCDEF"
			if op%4 == 1 {
				hex = "0123456789abcdef"
			}
			c := b[at]
			b = append(b[:at], append([]byte{'%', hex[c>>4], hex[c&15]}, b[at+1:]...)...)
		case 2:
			end := at
			for end < len(b) && b[end] != '/' {
				end++
			}
			param := []byte(";x" + string(rune('a'+i%26)))
			b = append(b[:end], append(param, b[end:]...)...)
		case 3:
			if c := b[at]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				b[at] ^= 0x20
			}
		}
	}
	return string(b)
}

// FuzzPathSpellings: no spelling of a path is let through where what an upstream serves for
// it would be refused. For a user in none of the groups: if a spelling is skipped, admitted by
// the authorization rules, or routed to a provider, so is every upstream reading of it, to the
// same provider; a spelling with ";" is never skipped (SECURITY.md, G10). Providers are
// chosen case-sensitively, as Envoy routes: "/Ops" reaches the upstream of "/", not of "/ops",
// so case-folded readings only bind the authorization rules.
func FuzzPathSpellings(f *testing.F) {
	cfgs, err := ParseConfig([]byte(spellingConfig), noEnv)
	if err != nil {
		f.Fatal(err)
	}
	var providers []*relyingParty
	for _, c := range cfgs {
		providers = append(providers, &relyingParty{cfg: c})
	}
	router := newRouter(providers)
	site := cfgs[0]
	for _, groups := range []string{`[]`, `["staff"]`, `["staff","admins"]`} {
		claims := []byte(`{"sub":"u","groups":` + groups + `}`)
		for _, seed := range []string{"/admin/users", "/finance/reports/q3", "/ops/x", "/public/a", "/healthz", "/app/x.js", "/x"} {
			f.Add(seed, []byte{0, 6, 11}, claims)
			f.Add(seed, []byte{2, 14, 27}, claims)
			f.Add(seed, []byte{3, 7, 19, 31}, claims)
		}
	}
	f.Fuzz(func(t *testing.T, path string, ops []byte, claims []byte) {
		spelled := parsePath(respell(path, ops))
		id := site.identify(claims)
		skipped := skips(site.SkipPaths, spelled, "GET")
		allowed := site.authorize(spelled, id)
		routed, ok := router.match("app.example.com", spelled)
		if skipped && strings.Contains(spelled.raw, ";") {
			t.Fatalf("%q with a path parameter was skipped", spelled.raw)
		}
		if !spelled.normal {
			if skipped || allowed || ok {
				t.Fatalf("%q is not in normal form, yet skipped=%v allowed=%v routed=%v", spelled.raw, skipped, allowed, ok)
			}
			return
		}
		for _, reading := range upstreamReadings(spelled.raw) {
			served := parsePath(reading.path)
			if !served.normal {
				continue
			}
			if skipped && !skips(site.SkipPaths, served, "GET") {
				t.Fatalf("%q was skipped, but an upstream serves it as %q, which is not", spelled.raw, reading.path)
			}
			if allowed && !site.authorize(served, id) {
				t.Fatalf("%q was admitted, but an upstream serves it as %q, which is refused", spelled.raw, reading.path)
			}
			if to, _ := router.match("app.example.com", served); ok && !reading.folded && to != routed {
				t.Fatalf("%q went to provider %s, but an upstream serves it as %q, which belongs to another", spelled.raw, routed.cfg.Name, reading.path)
			}
		}
	})
}
