package plugin

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

func noEnv(string) (string, bool) { return "", false }

// parseOne parses a configuration that must be valid and have one provider.
func parseOne(t *testing.T, config string, getenv func(string) (string, bool)) *Config {
	t.Helper()
	cfgs, err := ParseConfig([]byte(config), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 1 {
		t.Fatalf("%d providers, want 1", len(cfgs))
	}
	return cfgs[0]
}

func TestConfigDefaults(t *testing.T) {
	c := parseOne(t, testConfig(""), noEnv)
	if c.Cluster != "outbound|443||idp.example.com" || c.RedirectPath != "/oauth2/callback" || c.Timeout != 5*time.Second ||
		strings.Join(c.Scopes, " ") != "openid profile email" || !c.CookieSecure || c.CookieName != "__Host-oidc_session" {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.ClaimsToHeaders) != 2 || c.ClaimsToHeaders[0].Header != "x-auth-request-email" || c.ClaimsToHeaders[0].Claim != "email" ||
		c.ClaimsToHeaders[1].Header != "x-auth-request-user" || c.ClaimsToHeaders[1].Claim != "sub" {
		t.Errorf("claims_to_headers default: %+v", c.ClaimsToHeaders)
	}
	c = parseOne(t, `{"issuer":"http://dex.auth:5556/dex","client_id":"a","client_secret_env":"CS","cookie_secret_env":"CK"}`,
		func(k string) (string, bool) {
			return map[string]string{"CS": "from-env", "CK": testCookieKey}[k], k == "CS" || k == "CK"
		})
	if c.Cluster != "outbound|5556||dex.auth" || c.ClientSecret != "from-env" || len(c.CookieSecrets[0]) != 32 {
		t.Errorf("env config: %+v", c)
	}
}

// Every configuration error names the key at fault.
func TestConfigErrorsNameTheKey(t *testing.T) {
	base := `"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"`
	cases := []struct{ config, key string }{
		{``, "(root)"},
		{`[1]`, "(root)"},
		{`{"issuer":`, "(root)"},
		{`{"scopes":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, "(root)"},
		{`{` + base + `,"skip_path":[]}`, "skip_path"},
		{`{"client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"}`, "issuer"},
		{`{"issuer":"idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"}`, "issuer"},
		{`{"issuer":"https://idp.example.com?x=1","client_id":"a","client_secret":"s","cookie_secret":"` + testCookieKey + `"}`, "issuer"},
		{`{"issuer":"https://idp.example.com","client_id":"","client_secret":"s","cookie_secret":"` + testCookieKey + `"}`, "client_id"},
		{`{"issuer":"https://idp.example.com","client_id":7,"client_secret":"s","cookie_secret":"` + testCookieKey + `"}`, "client_id"},
		{`{"issuer":"https://idp.example.com","client_id":"a","cookie_secret":"` + testCookieKey + `"}`, "client_secret"},
		{`{"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","client_secret_env":"X","cookie_secret":"` + testCookieKey + `"}`, "client_secret"},
		{`{"issuer":"https://idp.example.com","client_id":"a","client_secret_env":"MISSING","cookie_secret":"` + testCookieKey + `"}`, "client_secret_env"},
		{`{"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"c2hvcnQ="}`, "cookie_secret"},
		{`{"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"!!not base64!!"}`, "cookie_secret"},
		{`{"issuer":"https://idp.example.com","client_id":"a","client_secret":"s"}`, "cookie_secret"},
		{`{` + base + `,"cluster":""}`, "cluster"},
		{`{` + base + `,"cookie_name":"a;b"}`, "cookie_name"},
		{`{` + base + `,"cookie_secure":"yes"}`, "cookie_secure"},
		{`{` + base + `,"redirect_path":"callback"}`, "redirect_path"},
		{`{` + base + `,"redirect_path":"/cb?x=1"}`, "redirect_path"},
		{`{` + base + `,"scopes":"openid"}`, "scopes"},
		{`{` + base + `,"scopes":["openid","a b"]}`, "scopes[1]"},
		{`{` + base + `,"skip_paths":{"prefix":"/x"}}`, "skip_paths"},
		{`{` + base + `,"skip_paths":[{"prefix":"/ok"},{"prefix":"nope"}]}`, "skip_paths[1].prefix"},
		{`{` + base + `,"skip_paths":[{"exact":"/a?b"}]}`, "skip_paths[0].exact"},
		{`{` + base + `,"skip_paths":[{"prefix":"/a;b"}]}`, "skip_paths[0].prefix"},
		{`{` + base + `,"skip_paths":[{"prefix":"/%70ublic"}]}`, "skip_paths[0].prefix"},
		{`{` + base + `,"skip_paths":[{"exact":"/a/../b"}]}`, "skip_paths[0].exact"},
		{`{` + base + `,"redirect_path":"/cb;x"}`, "redirect_path"},
		{`{` + base + `,"logout_path":"/%6Cogout"}`, "logout_path"},
		{`{` + base + `,"authorization_case_insensitive":"yes"}`, "authorization_case_insensitive"},
		{`{` + base + `,"skip_paths":[{"regex":"(["}]}`, "skip_paths[0].regex"},
		{`{` + base + `,"skip_paths":[{"prefix":"/a","exact":"/b"}]}`, "skip_paths[0]"},
		{`{` + base + `,"skip_paths":[{"glob":"/a"}]}`, "skip_paths[0].glob"},
		{`{` + base + `,"skip_paths":["/a"]}`, "skip_paths[0]"},
		{`{` + base + `,"claims_to_headers":["email"]}`, "claims_to_headers"},
		{`{` + base + `,"claims_to_headers":{"bad header":"email"}}`, "claims_to_headers.bad header"},
		{`{` + base + `,"claims_to_headers":{"cookie":"email"}}`, "claims_to_headers.cookie"},
		{`{` + base + `,"claims_to_headers":{"x-a":""}}`, "claims_to_headers.x-a"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"prefix":"p:"}}}`, "claims_to_headers.x-a.claim"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","suffix":"s"}}}`, "claims_to_headers.x-a.suffix"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","prefix":7}}}`, "claims_to_headers.x-a.prefix"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","separator":""}}}`, "claims_to_headers.x-a.separator"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","transform":[{"match":"(","replace":""}]}}}`, "claims_to_headers.x-a.transform[0].match"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","transform":[{"match":"a"}]}}}`, "claims_to_headers.x-a.transform[0]"},
		{`{` + base + `,"claims_to_headers":{"x-a":{"claim":"email","transform":[{"match":"a","replace":"\n"}]}}}`, "claims_to_headers.x-a.transform[0]"},
		{`{` + base + `,"id_token_header":"cookie"}`, "id_token_header"},
		{`{` + base + `,"id_token_header":"x-auth-request-email"}`, "id_token_header"},
		{`{` + base + `,"access_token_header":"x-at","session_tokens":false}`, "access_token_header"},
		{`{` + base + `,"access_token_header":""}`, "access_token_header"},
		{`{` + base + `,"claims_to_headers":{"x-a":"a","X_A":"b"}}`, "claims_to_headers.X_A"},
		{`{` + base + `,"timeout_ms":0}`, "timeout_ms"},
		{`{` + base + `,"timeout_ms":1.5}`, "timeout_ms"},
		{`{` + base + `,"timeout_ms":"100"}`, "timeout_ms"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.config), noEnv)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%s: want error for key %q, got %v", c.config, c.key, err)
		}
	}
}

// An invalid configuration fails plugin start, with a critical log naming the key.
func TestInvalidConfigFailsPluginStart(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h, st := wasmhost.Start(t, vm, `{"issuer":"https://idp.example.com","client_id":"a","client_secret":"s","cookie_secret":"c2hvcnQ="}`)
		if st != types.OnPluginStartStatusFailed {
			t.Fatalf("want failed start, got %v", st)
		}
		logs := strings.Join(wasmhost.CopyLogs(h.GetCriticalLogs()), "\n")
		if !strings.Contains(logs, `"cookie_secret"`) || !strings.Contains(logs, "32 bytes") {
			t.Errorf("critical log must name the key and the problem: %q", logs)
		}
	})
}

// configReference renders the configuration reference from the key table.
func configReference() string {
	var b strings.Builder
	b.WriteString("\n| key | meaning | default |\n|---|---|---|\n")
	for _, k := range configKeys {
		b.WriteString("| `" + k.name + "` | " + k.doc + " | " + k.def + " |\n")
	}
	return b.String()
}

// The configuration reference is generated from the key table, so it lists exactly the keys
// the code accepts, with the defaults and meanings the table states. After changing the
// table: UPDATE_DOCS=1 go test ./plugin/ -run TestConfigReferenceIsGenerated
func TestConfigReferenceIsGenerated(t *testing.T) {
	got, want := docSection(t, configurationDoc, "config-reference"), configReference()
	if got == want {
		return
	}
	if os.Getenv("UPDATE_DOCS") != "" {
		writeDocSection(t, configurationDoc, "config-reference", want)
		return
	}
	t.Errorf("the configuration reference differs from the key table; regenerate it with UPDATE_DOCS=1 go test ./plugin/ -run TestConfigReferenceIsGenerated")
}

// Every key is documented, once, with a default, and read by exactly the code the table
// names: a key without read is one another key reads (its *_env twin) or ParseConfig does.
func TestConfigKeysTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range configKeys {
		if seen[k.name] || k.doc == "" || k.def == "" {
			t.Errorf("key %q: listed twice, or without meaning or default", k.name)
		}
		seen[k.name] = true
		if k.read == nil && !strings.HasSuffix(k.name, "_env") && k.name != "providers" {
			t.Errorf("key %q is read by nothing", k.name)
		}
	}
	top, entry := keysAt(topLevel), keysAt(entryOnly)
	if !slices.Contains(top, "providers") || slices.Contains(top, "hosts") || !slices.Contains(entry, "hosts") || slices.Contains(entry, "providers") || !slices.Contains(entry, "issuer") {
		t.Errorf("placements: top %v, entry %v", top, entry)
	}
}
