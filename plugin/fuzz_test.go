package plugin

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any configuration either fails with a *ConfigError naming a key, or
// yields a configuration whose invariants hold. Never a panic (a panic in TinyGo kills the VM
// at start).
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(testConfig("")))
	f.Add([]byte(threatConfig(skipConfig + `,"claims_to_headers":{"kubeflow-userid":{"claim":"email","prefix":"p:"}},"allowed_redirect_hosts":[".example.com"]`)))
	f.Add([]byte(`{"issuer":"https://idp","client_id":"c","client_secret_env":"NOPE","cookie_secret":"x"}`))
	f.Add([]byte(`{"skip_paths":[{"regex":"(a+)+$"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	getenv := func(name string) (string, bool) {
		if name == "SECRET" {
			return testCookieKey, true
		}
		return "", false
	}
	f.Add([]byte(`{"cookie_secret":"` + testCookieKey + `","client_secret":"s","providers":[` +
		`{"name":"a","hosts":["a.example.com","*.example.org"],"issuer":"https://idp","client_id":"c"},` +
		`{"name":"b","hosts":["*"],"path_prefix":"/b","issuer":"https://idp2","client_id":"c","redirect_path":"/b/cb"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfgs, err := ParseConfig(data, getenv)
		if err != nil {
			if cfgs != nil {
				t.Fatalf("error %v with a configuration", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(cfgs) == 0 || len(cfgs) > maxProviders {
			t.Fatalf("accepted %d providers", len(cfgs))
		}
		for i, cfg := range cfgs {
			checkFuzzedProvider(t, cfg)
			for _, other := range cfgs[:i] {
				if other.ownsCookie(cfg.CookieName) || cfg.ownsCookie(other.CookieName) || other.Name == cfg.Name {
					t.Fatalf("providers %q and %q share a name or cookies", other.Name, cfg.Name)
				}
			}
		}
	})
}

func checkFuzzedProvider(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Issuer == "" || cfg.ClientID == "" || len(cfg.CookieSecrets) == 0 || len(cfg.CookieSecrets[0]) != 32 || cfg.Cluster == "" || len(cfg.Hosts) == 0 {
		t.Fatalf("accepted an incomplete configuration: %+v", cfg)
	}
	if cfg.Timeout <= 0 || cfg.Timeout.Milliseconds() > maxTimeoutMS || cfg.SessionMaxAge <= 0 {
		t.Fatalf("accepted out-of-range durations: %+v", cfg)
	}
	if cfg.RedirectPath == "" || cfg.RedirectPath[0] != '/' || cfg.LogoutPath == "" || cfg.LogoutPath[0] != '/' {
		t.Fatalf("accepted a relative callback or logout path: %q %q", cfg.RedirectPath, cfg.LogoutPath)
	}
	if cfg.PathPrefix != "" && (!parsePath(cfg.PathPrefix).plain || !underPrefix(cfg.RedirectPath, cfg.PathPrefix, false)) {
		t.Fatalf("accepted path_prefix %q with callback %q", cfg.PathPrefix, cfg.RedirectPath)
	}
	for _, r := range cfg.SkipPaths {
		for _, s := range []string{r.Exact, r.Prefix} {
			if s != "" && (s[0] != '/' || strings.ContainsAny(s, "?#;") || decodeEscapes(s) != s) {
				t.Fatalf("accepted skip rule %q", s)
			}
		}
		_ = skips([]PathRule{r}, parsePath("/x"), "GET")
	}
}

// FuzzSkipPath: whatever the rule and the path, the decision ignores the query and the
// fragment, a prefix rule covers whole segments only, a regex the whole path, and nothing
// outside normal form is ever skipped.
func FuzzSkipPath(f *testing.F) {
	f.Add("prefix", "/pub", "/pub/x")
	f.Add("prefix", "/pub", "/pub/../admin")
	f.Add("prefix", "/pub/", "/pub/%2e%2e/admin")
	f.Add("exact", "/healthz", "/healthz?x=1")
	f.Add("exact", "/healthz", "/admin#/healthz")
	f.Add("regex", "/static/[a-z]+\\.css", "/static/a.css")
	f.Add("regex", ".*", "//admin")
	f.Add("prefix", "/pub", "/pub%2F..%2Fadmin")
	f.Add("regex", ".*\\.js", "/admin/users;.js")
	f.Add("prefix", "/pub", "/%70ub/x")
	f.Fuzz(func(t *testing.T, kind, value, raw string) {
		cfgs, err := ParseConfig([]byte(threatConfig(`"skip_paths":[{"`+jsonEscape(kind)+`":"`+jsonEscape(value)+`"}]`)), nil)
		if err != nil {
			return
		}
		rules := cfgs[0].SkipPaths
		p := parsePath(raw)
		skip := skips(rules, p, "GET")
		if strings.ContainsAny(p.raw, "?#") {
			t.Fatalf("parsePath(%q).raw = %q keeps a query or fragment", raw, p.raw)
		}
		if skips(rules, parsePath(p.raw+"?"+raw), "GET") != skip || skips(rules, parsePath(p.raw+"#"+raw), "GET") != skip {
			t.Fatalf("the query or fragment changed the decision for %q", raw)
		}
		if !skip {
			return
		}
		path := p.raw
		if !normalPath(path) || strings.Contains(path, "//") || strings.Contains(path, "/../") || strings.HasSuffix(path, "/..") || strings.Contains(path, ";") {
			t.Fatalf("%s %q skipped the non-normal path %q", kind, value, path)
		}
		r := rules[0]
		switch {
		case r.Exact != "" && path != r.Exact:
			t.Fatalf("exact %q matched %q", r.Exact, path)
		case r.Prefix != "" && !(path == r.Prefix || strings.HasPrefix(path, strings.TrimSuffix(r.Prefix, "/")+"/")):
			t.Fatalf("prefix %q matched %q across a segment", r.Prefix, path)
		case r.Regex != nil && r.Regex.FindString(path) != path && !r.Regex.MatchString(path):
			t.Fatalf("regex %q matched part of %q", value, path)
		}
	})
}

// jsonEscape makes s safe inside a JSON string literal.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
