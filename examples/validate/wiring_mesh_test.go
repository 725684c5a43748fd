package validate

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/oidc-wasm/oidc-wasm/plugin"
)

// What a WasmPlugin relies on from Istio's authentication behind it. Kubeflow's gateway has a
// DENY AuthorizationPolicy for requests without a request principal (require-jwt) and
// RequestAuthentications that make principals of the tokens they verify (dex-jwt,
// m2m-token-issuer). bearer_passthrough hands them every bearer token unverified: without
// both, it is an open door. And where such a denial exists, every token the plugin forwards
// or admits must be one they verify, or its requests are denied after all.

// rootNamespace is Istio's root namespace (meshConfig.rootNamespace), whose policies apply to
// workloads of every namespace.
const rootNamespace = "istio-system"

// requestAuthn is a RequestAuthentication: where it applies and the issuers of its rules that
// read the token from Authorization: Bearer, where the plugin forwards and passes tokens.
type requestAuthn struct {
	namespace string
	selector  map[string]string
	issuers   map[string]bool
}

// principalDenial is a rule of a DENY AuthorizationPolicy that denies every request without a
// request principal, except on the paths it exempts (notPaths).
type principalDenial struct {
	policy    string
	namespace string
	selector  map[string]string
	exempt    []string
}

func (w *wiring) addRequestAuthn(m Manifest, s *securityv1beta1.RequestAuthentication) {
	if s.GetTargetRef() != nil || len(s.GetTargetRefs()) > 0 {
		return // bound to Gateway API objects, not to the label-selected gateway of the examples
	}
	ra := requestAuthn{namespace: m.Namespace(), selector: s.GetSelector().GetMatchLabels(), issuers: map[string]bool{}}
	for _, r := range s.GetJwtRules() {
		// Without a location of its own a rule reads Authorization: Bearer (and the
		// access_token parameter); with one, only where it says.
		bearer := len(r.GetFromHeaders()) == 0 && len(r.GetFromParams()) == 0 && len(r.GetFromCookies()) == 0
		for _, h := range r.GetFromHeaders() {
			bearer = bearer || strings.EqualFold(h.GetName(), "authorization") && h.GetPrefix() == "Bearer "
		}
		if bearer {
			ra.issuers[r.GetIssuer()] = true
		}
	}
	w.requestAuthns = append(w.requestAuthns, ra)
}

func (w *wiring) addAuthorizationPolicy(m Manifest, s *securityv1beta1.AuthorizationPolicy) {
	if s.GetAction() != securityv1beta1.AuthorizationPolicy_DENY || s.GetTargetRef() != nil || len(s.GetTargetRefs()) > 0 {
		return
	}
	for _, r := range s.GetRules() {
		if exempt, ok := deniesWithoutPrincipal(r); ok {
			w.denials = append(w.denials, principalDenial{policy: m.String(), namespace: m.Namespace(), selector: s.GetSelector().GetMatchLabels(), exempt: exempt})
		}
	}
}

// deniesWithoutPrincipal tells whether a DENY rule denies every request without a request
// principal, wherever it goes but to the paths it returns: its source is exactly
// notRequestPrincipals ["*"] (any further condition narrows whom it denies), it has no
// "when", and at most one operation, which only lists notPaths.
func deniesWithoutPrincipal(r *securityv1beta1.Rule) ([]string, bool) {
	if len(r.GetFrom()) != 1 || len(r.GetWhen()) > 0 || len(r.GetTo()) > 1 ||
		!proto.Equal(r.GetFrom()[0].GetSource(), &securityv1beta1.Source{NotRequestPrincipals: []string{"*"}}) {
		return nil, false
	}
	if len(r.GetTo()) == 0 {
		return nil, true
	}
	op := proto.Clone(r.GetTo()[0].GetOperation()).(*securityv1beta1.Operation)
	exempt := op.NotPaths
	op.NotPaths = nil
	return exempt, proto.Equal(op, &securityv1beta1.Operation{})
}

// selects tells whether a policy (its namespace and selector) applies to the gateway p runs
// on: it is in the gateway's namespace or the root namespace, and its labels are on the
// gateway's pods (those of the set's gateway Deployment, or else the WasmPlugin's selector).
func (w *wiring) selects(namespace string, selector map[string]string, p wasmPlugin) bool {
	if namespace != p.m.Namespace() && namespace != rootNamespace {
		return false
	}
	pod := w.gatewayLabels
	if len(pod) == 0 {
		pod = p.selector
	}
	for k, v := range selector {
		if pod[k] != v {
			return false
		}
	}
	return true
}

// checkMesh checks a provider of a WasmPlugin against the gateway's RequestAuthentications and
// principal denials (see the top of this file).
func (w *wiring) checkMesh(p wasmPlugin, cfg *plugin.Config, name string) []error {
	verified := func(issuer string) bool {
		for _, ra := range w.requestAuthns {
			if ra.issuers[issuer] && w.selects(ra.namespace, ra.selector, p) {
				return true
			}
		}
		return false
	}
	var denial *principalDenial
	for i, d := range w.denials {
		if w.selects(d.namespace, d.selector, p) {
			denial = &w.denials[i]
			break
		}
	}
	var errs []error
	if cfg.BearerPassthrough {
		if denial == nil {
			errs = append(errs, fmt.Errorf("%s: bearer_passthrough lets bearer tokens through unverified, and no DENY AuthorizationPolicy on the gateway denies requests without a request principal (Kubeflow's require-jwt): an open door", name))
		}
		if !verified(cfg.Issuer) {
			errs = append(errs, fmt.Errorf("%s: bearer_passthrough, and no RequestAuthentication on the gateway verifies tokens of %s from Authorization: Bearer (Kubeflow's dex-jwt)", name, cfg.Issuer))
		}
	}
	if denial == nil {
		return errs
	}
	for _, pattern := range denial.exempt {
		if !exempted(cfg, pattern) {
			errs = append(errs, fmt.Errorf("%s: %s lets %s through without a principal, which the plugin neither skips nor answers itself", name, denial.policy, pattern))
		}
	}
	switch {
	case cfg.ForwardToken == "":
		errs = append(errs, fmt.Errorf("%s: %s denies requests without a verified token, and forward_token is not set: it would deny every request with a session", name, denial.policy))
	case !verified(cfg.Issuer):
		errs = append(errs, fmt.Errorf("%s: no RequestAuthentication on the gateway verifies the forwarded token (issuer %s): %s would deny every request with a session", name, cfg.Issuer, denial.policy))
	}
	for _, bi := range cfg.BearerIssuers {
		if !verified(bi.Issuer) {
			errs = append(errs, fmt.Errorf("%s: the plugin verifies tokens of %s (bearer_issuers), but no RequestAuthentication on the gateway does: %s would deny them", name, bi.Issuer, denial.policy))
		}
	}
	return errs
}

// exempted tells whether an Istio path pattern (exact, or a prefix ending in "*") only covers
// paths the plugin skips, which pass without a session anyway, or its own endpoints' directory
// (Kubeflow's /oauth2/*), where it answers the callback, login and logout itself.
func exempted(cfg *plugin.Config, pattern string) bool {
	own := []string{cfg.RedirectPath, cfg.LoginPath, cfg.LogoutPath}
	prefix, isPrefix := strings.CutSuffix(pattern, "*")
	prefix = strings.TrimRight(prefix, "*") // Kubeflow writes "/dex/**" too
	switch {
	case strings.Contains(prefix, "*"):
		return false // a suffix or template pattern
	case !isPrefix:
		return slices.Contains(own, pattern) || skipped(cfg, pattern, false)
	}
	for _, e := range own {
		if path.Dir(e)+"/" == prefix {
			return true
		}
	}
	return skipped(cfg, prefix, true)
}

// skipped tells whether the skip rules let p through for every method, and with under every
// path that starts with p.
func skipped(cfg *plugin.Config, p string, under bool) bool {
	for _, r := range cfg.SkipPaths {
		if len(r.Methods) == 0 && (under && r.Prefix != "" || !under) && r.Match(p) {
			return true
		}
	}
	return false
}
