package oidc

import (
	"strings"

	"github.com/tidwall/gjson"
)

// Condition is one way a verified identity may qualify for access. Exactly one of its
// kinds is set:
//   - EmailDomain: the verified email's domain equals it (ASCII case-insensitive, no
//     subdomains);
//   - Email: the verified email equals it (ASCII case-insensitive).
//
// Emails are parsed strictly (ParseEmail) and compared with ASCII case folding only: Unicode
// folding (strings.EqualFold) makes the Kelvin sign U+212A equal to 'k', so an address an
// attacker registers could equal an allowed one.
//   - Group: the groups claim (GroupsClaim, an array of strings or one string) holds it;
//   - Claim with Equals: the claim's value (strings as is, numbers and booleans as their JSON
//     text) equals Equals;
//   - Claim with Contains: the claim is an array holding Contains, or a string equal to it.
//
// Email conditions require the email to be verified (see EmailTrust): an IdP that lets users
// type any address must not grant them a domain (oauth2-proxy CVE-2026-40574 class).
type Condition struct {
	EmailDomain string
	Email       string
	Group       string
	GroupsClaim string // default "groups"
	Claim       string
	Equals      string
	Contains    string
	EmailTrust  EmailTrust
}

// EmailTrust says when the email claim names the user. By default only an email the IdP
// marks verified ("email_verified": true, the JSON value) does: with an IdP that accepts
// self-registration without proof, anyone could otherwise be ceo@example.com to every rule
// and every app.
type EmailTrust struct {
	// AssumeVerified takes the IdP's word for every address it asserts when it sends no
	// email_verified at all (Entra ID, whose work accounts carry addresses the tenant
	// manages). An explicit email_verified that is not true still means unverified.
	AssumeVerified bool
	// VerifiedClaim is the claim that says the email is verified, when the IdP does not use
	// email_verified (Entra ID's xms_edov); it must be the JSON value true. "" means
	// email_verified.
	VerifiedClaim string
}

// VerifiedEmail returns the email of a verified claims object when the trust admits it.
func (t EmailTrust) VerifiedEmail(claims []byte) (string, bool) {
	email := gjson.GetBytes(claims, "email")
	if email.Type != gjson.String {
		return "", false
	}
	claim := t.VerifiedClaim
	if claim == "" {
		claim = "email_verified"
	}
	switch verified := gjson.GetBytes(claims, claim); {
	case verified.Type == gjson.True:
		return email.Str, true
	case !verified.Exists() && t.AssumeVerified:
		return email.Str, true
	}
	return "", false
}

// Allows reports whether claims (a verified JSON object) satisfy the condition.
func (c Condition) Allows(claims []byte) bool {
	switch {
	case c.EmailDomain != "" || c.Email != "":
		email, ok := c.EmailTrust.VerifiedEmail(claims)
		if !ok {
			return false
		}
		local, domain, ok := ParseEmail(email)
		if !ok {
			return false
		}
		if c.Email != "" {
			return EqualFoldASCII(local+"@"+domain, c.Email)
		}
		return EqualFoldASCII(domain, c.EmailDomain)
	case c.Group != "":
		path := c.GroupsClaim
		if path == "" {
			path = "groups"
		}
		return holds(gjson.GetBytes(claims, path), c.Group)
	case c.Claim != "" && c.Contains != "":
		return holds(gjson.GetBytes(claims, c.Claim), c.Contains)
	case c.Claim != "":
		v := gjson.GetBytes(claims, c.Claim)
		switch v.Type {
		case gjson.String:
			return v.Str == c.Equals
		case gjson.Number, gjson.True, gjson.False:
			return v.Raw == c.Equals
		}
	}
	return false
}

// holds reports whether v is an array with a string element equal to want, or that string.
func holds(v gjson.Result, want string) bool {
	if v.Type == gjson.String {
		return v.Str == want
	}
	found := false
	if v.IsArray() {
		v.ForEach(func(_, item gjson.Result) bool {
			found = item.Type == gjson.String && item.Str == want
			return !found
		})
	}
	return found
}

// ParseEmail splits an address into local part and domain, strictly: exactly one '@',
// a non-empty local part of printable ASCII without quotes, spaces, commas or brackets, and
// a domain of DNS labels. "a@evil.com@corp.com" is refused, not read as being in corp.com
// (oauth2-proxy CVE-2026-40574), and so is anything a mail system might interpret
// differently from this function.
func ParseEmail(s string) (local, domain string, ok bool) {
	local, domain, found := strings.Cut(s, "@")
	if !found || local == "" || len(s) > 254 || strings.Contains(domain, "@") {
		return "", "", false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),:;<>[\\]", c) >= 0 {
			return "", "", false
		}
	}
	if !isMailDomain(domain) {
		return "", "", false
	}
	return local, strings.ToLower(domain), true
}

// isMailDomain accepts letters, digits and hyphens in dot-separated labels of 1-63 bytes, no
// label starting or ending with a hyphen, at least two labels.
func isMailDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// EqualFoldASCII compares ASCII letters regardless of case and every other byte exactly.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
