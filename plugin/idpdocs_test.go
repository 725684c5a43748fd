package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// The identity-provider guide (issue 14) gives every IdP a section with its configuration.
// Each JSON block of the guide must parse with ParseConfig, every IdP the guide promises must
// keep a section with at least one, and each section must keep the settings its IdP needs (for
// the IdPs of personalities_test.go, those it exercises): an example that stops parsing, or
// drifts from what its IdP needs, fails here with its heading.

// idpGuide is the guide, relative to the repository root.
const idpGuide = "docs/identity-providers.md"

// guideBlock is one fenced JSON block of the guide, under its "##" section and, when there is
// one, its "###" subsection.
type guideBlock struct {
	section, subsection, json string
}

func (b guideBlock) String() string {
	if b.subsection == "" {
		return b.section
	}
	return b.section + " / " + b.subsection
}

var (
	guideFence   = regexp.MustCompile("^ {0,3}```\\s*(\\w*)")
	guideHeading = regexp.MustCompile(`^(##|###)\s+(.+?)\s*$`)
)

// guideBlocks returns the fenced json blocks of a Markdown text, in order, with the headings
// they are under; headings inside fences are code, not headings.
func guideBlocks(text string) []guideBlock {
	var out []guideBlock
	var at guideBlock
	var body []string
	lang, inFence := "", false
	for _, line := range strings.Split(text, "\n") {
		if m := guideFence.FindStringSubmatch(line); m != nil {
			if inFence && lang == "json" {
				at.json = strings.Join(body, "\n")
				out = append(out, at)
			}
			lang, inFence, body = m[1], !inFence, nil
			continue
		}
		if inFence {
			body = append(body, line)
			continue
		}
		if m := guideHeading.FindStringSubmatch(line); m != nil {
			if m[1] == "##" {
				at.section, at.subsection = m[2], ""
			} else {
				at.subsection = m[2]
			}
		}
	}
	return out
}

// guideEnv supplies every *_env secret a configuration of the guide names: a cookie secret's
// 32 bytes in base64 also serve as a client secret.
func guideEnv(string) (string, bool) { return testCookieKey, true }

// idpFact is a setting an IdP's section must show in at least one of its configurations.
type idpFact struct {
	what  string
	holds func(c *Config) bool
}

// guideSections lists the sections the guide must have, by heading, and the settings each
// must keep.
var guideSections = []struct {
	heading string
	facts   []idpFact
}{
	{"Dex", []idpFact{
		{"the scopes groups and offline_access", scopes("groups", "offline_access")},
	}},
	{"GitHub through Dex", []idpFact{
		{"the groups scope", scopes("groups")},
		{"a group condition on a team, <org>:<team>", allows(func(k oidc.Condition) bool {
			return strings.Contains(k.Group, ":")
		})},
	}},
	{"Microsoft Entra ID", []idpFact{
		{"refresh_scopes with openid", func(c *Config) bool { return slices.Contains(c.RefreshScopes, "openid") }},
		{"email_verified_claim xms_edov", func(c *Config) bool { return c.EmailTrust.VerifiedClaim == "xms_edov" }},
		{"groups_overage_cluster", func(c *Config) bool { return c.GroupsOverageCluster != "" }},
		{"tenants, with the v1 issuer for bearer tokens", func(c *Config) bool {
			return len(c.Tenants) > 0 && slices.Contains(c.BearerAcceptedIssuers, "https://sts.windows.net/{tenantid}/")
		}},
	}},
	{"Google", []idpFact{
		{"access_type=offline and prompt=consent, no offline_access scope", func(c *Config) bool {
			return authParam(c, "access_type") == "offline" && authParam(c, "prompt") == "consent" &&
				!slices.Contains(c.Scopes, "offline_access")
		}},
		{"a rule on the hd claim", allows(func(k oidc.Condition) bool { return k.Claim == "hd" && k.Equals != "" })},
	}},
	{"Okta", []idpFact{
		{"the offline_access scope and userinfo", func(c *Config) bool { return scopes("offline_access")(c) && c.Userinfo }},
		{"the groups scope (org authorization server)", scopes("groups")},
		{"the custom authorization server's audience for bearer tokens", func(c *Config) bool {
			return slices.Contains(c.BearerAudiences, "api://default")
		}},
	}},
	{"Keycloak", []idpFact{
		{"a rule on realm_access.roles", allows(func(k oidc.Condition) bool {
			return k.Claim == "realm_access.roles" && k.Contains != ""
		})},
		{"the roles as a header", func(c *Config) bool {
			return slices.ContainsFunc(c.ClaimsToHeaders, func(h HeaderClaim) bool { return h.Claim == "realm_access.roles" })
		}},
	}},
	{"Auth0", []idpFact{
		{"audience at login, accepted for bearer tokens", func(c *Config) bool {
			return authParam(c, "audience") != "" && slices.Contains(c.BearerAudiences, authParam(c, "audience"))
		}},
		{"the offline_access scope", scopes("offline_access")},
	}},
	{"Amazon Cognito", []idpFact{
		{"logout_url to Cognito's /logout", func(c *Config) bool {
			return strings.Contains(c.LogoutURL, "/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri}")
		}},
		{"bearer_audience_claims with client_id", func(c *Config) bool { return slices.Contains(c.BearerAudienceClaims, "client_id") }},
		{"groups_claim cognito:groups", func(c *Config) bool { return c.GroupsClaim == "cognito:groups" }},
		{"endpoint_clusters for the user pool's domain", func(c *Config) bool {
			return c.EndpointClusters["example.auth.eu-west-1.amazoncognito.com"] != ""
		}},
	}},
	{"GitLab", []idpFact{
		{"userinfo, without the offline_access scope", func(c *Config) bool {
			return c.Userinfo && !slices.Contains(c.Scopes, "offline_access")
		}},
	}},
}

// scopes holds when the configuration asks for every one of names.
func scopes(names ...string) func(*Config) bool {
	return func(c *Config) bool {
		return !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(c.Scopes, n) })
	}
}

// allows holds when some authorization condition satisfies cond.
func allows(cond func(oidc.Condition) bool) func(*Config) bool {
	return func(c *Config) bool {
		return slices.ContainsFunc(c.Authorization, func(r AuthzRule) bool { return slices.ContainsFunc(r.Allow, cond) })
	}
}

// authParam returns the value of an authorization_params entry, "" without one.
func authParam(c *Config, name string) string {
	for _, p := range c.AuthParams {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

// checkGuide parses every configuration of the guide and checks each required section,
// returning what is wrong, by heading.
func checkGuide(text string) []string {
	var problems []string
	parsed := map[string][]*Config{}
	seen := map[string]int{} // configurations per section, to number them
	for _, b := range guideBlocks(text) {
		seen[b.section]++
		cfgs, err := ParseConfig([]byte(b.json), guideEnv)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: configuration %d does not parse: %v", b, seen[b.section], err))
			continue
		}
		parsed[b.section] = append(parsed[b.section], cfgs...)
	}
	for _, s := range guideSections {
		if len(parsed[s.heading]) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no section with a configuration that parses", s.heading))
			continue
		}
		for _, f := range s.facts {
			if !slices.ContainsFunc(parsed[s.heading], f.holds) {
				problems = append(problems, fmt.Sprintf("%s: no configuration has %s", s.heading, f.what))
			}
		}
	}
	return problems
}

func TestIdentityProviderGuide(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", idpGuide))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkGuide(string(b)) {
		t.Errorf("%s: %s", idpGuide, p)
	}
}

// The check itself: a section that loses its configuration, a configuration that stops
// parsing and one that drops its IdP's setting are each reported with the heading.
func TestIdentityProviderGuideCheck(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", idpGuide))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"a section loses its configuration",
			"```json\n{\n  \"issuer\": \"https://gitlab.com\"", "```yaml\n{\n  \"issuer\": \"https://gitlab.com\"",
			"GitLab: no section with a configuration that parses"},
		{"a configuration does not parse", `"groups_claim": "cognito:groups"`, `"group_claim": "cognito:groups"`,
			`Amazon Cognito: configuration 1 does not parse: configuration key "group_claim": unknown key`},
		{"a subsection's configuration does not parse", `"tenants": [`, `"tenants": ["a/b", `,
			`Microsoft Entra ID / Several tenants: configuration 2 does not parse: configuration key "tenants[0]"`},
		{"a setting is dropped", `"access_type": "offline", `, "",
			"Google: no configuration has access_type=offline and prompt=consent"},
		{"a heading is renamed", "## Keycloak\n", "## Red Hat build of Keycloak\n",
			"Keycloak: no section with a configuration that parses"},
	} {
		text := strings.Replace(string(good), c.old, c.new, 1)
		if text == string(good) {
			t.Fatalf("%s: %q is not in %s", c.name, c.old, idpGuide)
		}
		problems := checkGuide(text)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, c.want) }) {
			t.Errorf("%s: want a problem starting %q, got %q", c.name, c.want, problems)
		}
	}
}
