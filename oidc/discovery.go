package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// Discovery is an OpenID Provider's metadata: the endpoints its discovery document publishes
// and checked by [ParseDiscovery].
type Discovery struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	JWKSURI               string
	UserinfoEndpoint      string // optional: "" when the provider publishes none
	EndSessionEndpoint    string // optional: "" when the provider publishes none
}

// maxDocumentSize bounds the discovery and JWKS documents. Real ones are a few KiB; the cap
// keeps a hostile or broken endpoint from making the plugin parse megabytes (or, in the JWKS,
// from publishing keys whose size alone is a denial of service).
const maxDocumentSize = 256 << 10

// DiscoveryRequest is the request for the issuer's discovery document (OpenID Connect Discovery
// 1.0 §4): one terminating "/" of the issuer is dropped before the well-known path is appended.
// Header names are lower-case, as HTTP/2 requires.
func DiscoveryRequest(issuer string) Request {
	return Request{
		Method: "GET",
		URL:    strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
		Header: [][2]string{{"accept", "application/json"}},
	}
}

// ParseDiscovery checks the answer to [DiscoveryRequest] and returns the provider it describes.
//
// The document's issuer must equal the configured issuer byte for byte (Discovery §4.3). The
// issuer is the identity every token's iss is later compared with, exactly: a document naming
// another issuer (another provider's, as in IdP mix-up attacks) would have the plugin send users
// to, and take keys from, a provider it was not configured to trust. Nothing is normalized, not
// even a trailing slash, because the token check does not normalize either: two spellings of
// one issuer are two issuers.
//
// The endpoints must be absolute http(s) URLs with a host and neither user info nor fragment;
// when the issuer is https they must be https too, so that a discovery document cannot
// downgrade the code exchange or the key download to cleartext.
func ParseDiscovery(issuer string, status int, body []byte) (*Discovery, error) {
	return parseDiscovery(issuer, false, status, body)
}

// TenantPlaceholder stands for the tenant in an issuer template, as Entra ID's
// multi-tenant discovery documents write it: https://login.microsoftonline.com/{tenantid}/v2.0.
const TenantPlaceholder = "{tenantid}"

// ParseTenantDiscovery is ParseDiscovery for a multi-tenant endpoint (Entra ID's
// .../organizations/v2.0 or .../common/v2.0): the document's issuer may also be a template
// holding TenantPlaceholder on the configured issuer's scheme and host, and the Discovery's
// Issuer is then that template. Tokens carry the issuer of one tenant: a relying party
// accepts exactly those of the tenants it allows (ExpandIssuers), never the template.
func ParseTenantDiscovery(issuer string, status int, body []byte) (*Discovery, error) {
	return parseDiscovery(issuer, true, status, body)
}

// ExpandIssuers returns each issuer of templates, with TenantPlaceholder replaced by each
// tenant for those that hold it, in order.
func ExpandIssuers(templates, tenants []string) []string {
	var out []string
	for _, t := range templates {
		if !strings.Contains(t, TenantPlaceholder) {
			out = append(out, t)
			continue
		}
		for _, tenant := range tenants {
			out = append(out, strings.ReplaceAll(t, TenantPlaceholder, tenant))
		}
	}
	return out
}

func parseDiscovery(issuer string, template bool, status int, body []byte) (*Discovery, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, fmt.Errorf("oidc: discovery: configured %w", err)
	}
	doc, err := parseResponse(status, body)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery: %w", err)
	}
	got, err := requiredString(doc, "issuer")
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery: %w", err)
	}
	if got != issuer && !(template && sameOrigin(got, issuer) && strings.Count(got, TenantPlaceholder) == 1) {
		return nil, fmt.Errorf("oidc: discovery: issuer %s does not match the configured issuer %q", quoted(got), issuer)
	}

	httpsOnly := strings.HasPrefix(strings.ToLower(issuer), "https:")
	p := &Discovery{Issuer: got}
	fields := []struct {
		name     string
		dst      *string
		required bool
	}{
		{"authorization_endpoint", &p.AuthorizationEndpoint, true},
		{"token_endpoint", &p.TokenEndpoint, true},
		{"jwks_uri", &p.JWKSURI, true},
		{"userinfo_endpoint", &p.UserinfoEndpoint, false},
		{"end_session_endpoint", &p.EndSessionEndpoint, false},
	}
	for _, f := range fields {
		s, present, err := optionalString(doc, f.name)
		if err != nil {
			return nil, fmt.Errorf("oidc: discovery: %w", err)
		}
		if !present {
			if f.required {
				return nil, fmt.Errorf("oidc: discovery: %s is missing", f.name)
			}
			continue
		}
		if err := checkEndpoint(s, httpsOnly); err != nil {
			return nil, fmt.Errorf("oidc: discovery: %s: %w", f.name, err)
		}
		*f.dst = s
	}
	return p, nil
}

// Override returns d with every endpoint o sets in place of d's: endpoints a relying party is
// configured with where the discovery document says something else (Kubeflow's Dex is
// reached in-cluster for tokens and keys, and through the gateway's own host for login). The
// issuer stays d's: tokens must still carry it.
func (d Discovery) Override(o Discovery) Discovery {
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&d.AuthorizationEndpoint, o.AuthorizationEndpoint}, {&d.TokenEndpoint, o.TokenEndpoint},
		{&d.JWKSURI, o.JWKSURI}, {&d.UserinfoEndpoint, o.UserinfoEndpoint}, {&d.EndSessionEndpoint, o.EndSessionEndpoint},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	return d
}

// sameOrigin reports whether two URLs have the same scheme and host.
func sameOrigin(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host && ua.Host != ""
}

// checkIssuer refuses an issuer that could never be valid (Discovery §2: an https URL with no
// query or fragment; http is tolerated for local development providers).
func checkIssuer(issuer string) error {
	if err := checkEndpoint(issuer, false); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	if strings.Contains(issuer, "?") {
		return errors.New("issuer: must not have a query")
	}
	return nil
}

// checkEndpoint accepts an absolute http or https URL with a host, without user info (which
// would put credentials in configuration and logs) or fragment, and without whitespace or
// control characters. With httpsOnly, only https is accepted.
func checkEndpoint(raw string, httpsOnly bool) error {
	if raw == "" {
		return errors.New("empty URL")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] == 0x7f {
			return fmt.Errorf("URL %s contains whitespace or a control character", quoted(raw))
		}
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("URL %s has a fragment", quoted(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %s does not parse", quoted(raw))
	}
	switch {
	case u.Scheme == "":
		return fmt.Errorf("URL %s is not absolute", quoted(raw))
	case u.Scheme != "https" && (u.Scheme != "http" || httpsOnly):
		if httpsOnly {
			return fmt.Errorf("URL %s is not https like the issuer", quoted(raw))
		}
		return fmt.Errorf("URL %s is not http or https", quoted(raw))
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Errorf("URL %s has no host", quoted(raw))
	case u.User != nil:
		return fmt.Errorf("URL %s has user info", quoted(raw))
	}
	return nil
}

// parseResponse checks an IdP document's HTTP status and size and returns its top-level
// members.
func parseResponse(status int, body []byte) (map[string]gjson.Result, error) {
	if status != 200 {
		return nil, fmt.Errorf("HTTP status %d, want 200", status)
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("document of %d bytes exceeds the limit of %d", len(body), maxDocumentSize)
	}
	return parseObject(body)
}

// optionalString returns a string member; present is false when the member is absent. Any
// other JSON type, null included, is an error naming the member.
func optionalString(m map[string]gjson.Result, name string) (s string, present bool, err error) {
	v, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if v.Type != gjson.String {
		return "", false, fmt.Errorf("%s is not a string", name)
	}
	return v.Str, true, nil
}

// requiredString returns a string member that must be present.
func requiredString(m map[string]gjson.Result, name string) (string, error) {
	s, present, err := optionalString(m, name)
	if err != nil {
		return "", err
	}
	if !present {
		return "", fmt.Errorf("%s is missing", name)
	}
	return s, nil
}
