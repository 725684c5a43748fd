package plugin

import (
	"fmt"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// AuthzRule says who may use the paths under PathPrefix (all paths when empty): anyone
// whose verified claims satisfy one of Allow. The first rule whose prefix matches a request
// decides; with no matching rule, every authenticated user may pass. This is the coarse,
// declarative gate platform teams want at the edge ("only our domain", "/admin needs the
// admins group"); fine-grained RBAC stays with the app or Istio.
type AuthzRule struct {
	PathPrefix string
	Allow      []oidc.Condition
}

// authorize reports whether the user of id may reach the request's path: for each reading of
// the path (requestPath), the first rule whose prefix matches decides, by what identify found
// for it, and every reading must be admitted. With authorization_case_insensitive, each
// reading is also decided with prefixes compared regardless of letter case, for upstreams that
// ignore it. With rules configured, a path that is not in normal form ("/x/../admin",
// "//admin", escaped slashes) is refused outright: which rule's prefix it falls under depends
// on who normalizes it, so no rule may decide it.
func (c *Config) authorize(p requestPath, id *identity) bool {
	if len(c.Authorization) == 0 {
		return true
	}
	if !p.normal {
		return false
	}
	for _, reading := range p.readings {
		if !c.decide(reading, id, false) || c.AuthorizationCaseInsensitive && !c.decide(reading, id, true) {
			return false
		}
	}
	return true
}

// decide applies the first rule whose prefix covers path.
func (c *Config) decide(path string, id *identity, fold bool) bool {
	for i, r := range c.Authorization {
		if r.PathPrefix == "" || underPrefix(path, r.PathPrefix, fold) {
			return id.allowed[i]
		}
	}
	return true
}

// forbidden answers an authenticated user the rules do not admit: a page for browsers,
// JSON for API clients, naming no rule and no claim.
func (h *httpContext) forbidden() types.Action {
	h.rp.metrics.count(metricAccessDenied)
	if isBrowserNavigation(h.headers) {
		return h.page(403, "Access denied", "You are signed in, but this account may not use this page. Sign out to use another account.", h.rp.cfg.LogoutPath, nil)
	}
	return h.apiError(403, "access_denied", "this account may not use this resource", nil)
}

func parseAuthorization(v gjson.Result, groupsClaim string, trust oidc.EmailTrust) ([]AuthzRule, error) {
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, configErr("authorization", `must be an array of {"path_prefix": …, "allow": [...]}`)
	}
	var rules []AuthzRule
	for i, item := range v.Array() {
		key := fmt.Sprintf("authorization[%d]", i)
		if !item.IsObject() {
			return nil, configErr(key, `must be an object with "allow" and optionally "path_prefix"`)
		}
		var rule AuthzRule
		var err error
		item.ForEach(func(k, val gjson.Result) bool {
			field := key + "." + k.String()
			switch k.String() {
			case "path_prefix":
				if val.Type != gjson.String {
					err = configErr(field, "must be a string")
					break
				}
				rule.PathPrefix, err = configPath(field, val.Str)
			case "allow":
				rule.Allow, err = parseConditions(val, field, groupsClaim, trust)
			default:
				err = configErr(field, `unknown key (use "path_prefix" and "allow")`)
			}
			return err == nil
		})
		if err != nil {
			return nil, err
		}
		if len(rule.Allow) == 0 {
			return nil, configErr(key+".allow", "required: a non-empty list of conditions")
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// conditionShapes are the key sets an allow entry may have.
var conditionShapes = map[string]bool{
	"email_domain": true, "email": true, "group": true, "claim+equals": true, "claim+contains": true,
}

func parseConditions(v gjson.Result, key, groupsClaim string, trust oidc.EmailTrust) ([]oidc.Condition, error) {
	if !v.IsArray() {
		return nil, configErr(key, "must be an array of conditions")
	}
	var out []oidc.Condition
	for i, item := range v.Array() {
		k := fmt.Sprintf("%s[%d]", key, i)
		fields := map[string]string{}
		var names []string
		ok := item.IsObject()
		item.ForEach(func(name, val gjson.Result) bool {
			ok = ok && val.Type == gjson.String && val.Str != ""
			fields[name.String()] = val.Str
			names = append(names, name.String())
			return ok
		})
		shape := strings.Join(sortedPair(names), "+")
		if !ok || !conditionShapes[shape] {
			return nil, configErr(k, `must be one of {"email_domain":…}, {"email":…}, {"group":…}, {"claim":…,"equals":…}, {"claim":…,"contains":…} with non-empty strings`)
		}
		if e := fields["email"]; e != "" {
			if _, _, ok := oidc.ParseEmail(e); !ok {
				return nil, configErr(k+".email", "%q is not an email address (ASCII, one '@', a domain of DNS labels)", e)
			}
		}
		if d := fields["email_domain"]; d != "" {
			if _, _, ok := oidc.ParseEmail("x@" + d); !ok {
				return nil, configErr(k+".email_domain", "%q is not a mail domain (ASCII DNS labels, at least two)", d)
			}
		}
		out = append(out, oidc.Condition{
			EmailDomain: fields["email_domain"], Email: fields["email"], Group: fields["group"], GroupsClaim: groupsClaim,
			Claim: fields["claim"], Equals: fields["equals"], Contains: fields["contains"], EmailTrust: trust,
		})
	}
	return out, nil
}

// sortedPair orders the one or two field names of a condition so "claim" comes first.
func sortedPair(names []string) []string {
	if len(names) == 2 && names[1] == "claim" {
		names[0], names[1] = names[1], names[0]
	}
	return names
}
