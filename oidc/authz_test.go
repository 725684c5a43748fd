package oidc

import "testing"

func TestParseEmail(t *testing.T) {
	good := map[string]string{
		"alice@example.com":     "example.com",
		"a.b+tag@Sub.Corp.COM":  "sub.corp.com",
		"x_y-z@a-b.example.org": "a-b.example.org",
	}
	for in, domain := range good {
		if _, d, ok := ParseEmail(in); !ok || d != domain {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", in, d, ok, domain)
		}
	}
	for _, in := range []string{
		"a@evil.com@corp.com", "@corp.com", "a@", "a", "a@corp", "a@.corp.com", "a@corp..com", "a@-corp.com",
		"a b@corp.com", `"a@evil.com"@corp.com`, "a@corp.com ", "a@corp.com\n", "a\x00@corp.com", "a@corp.com.",
		"a@cörp.com", "a,b@corp.com", "a@[127.0.0.1]", "a@corp_x.com",
	} {
		if _, _, ok := ParseEmail(in); ok {
			t.Errorf("ParseEmail(%q) accepted", in)
		}
	}
}

func TestConditionAllows(t *testing.T) {
	claims := []byte(`{"email":"alice@Example.com","email_verified":true,"groups":["dev","admins"],
		"realm_access":{"roles":["admin","user"]},"tenant":"t1","level":3,"staff":true,"team":"blue"}`)
	unverified := []byte(`{"email":"alice@example.com","email_verified":false}`)
	stringVerified := []byte(`{"email":"alice@example.com","email_verified":"true"}`)
	trick := []byte(`{"email":"a@evil.com@example.com","email_verified":true}`)
	noClaim := []byte(`{"email":"alice@example.com"}`)
	assume := EmailTrust{AssumeVerified: true}
	cases := []struct {
		name   string
		c      Condition
		claims []byte
		want   bool
	}{
		{"domain", Condition{EmailDomain: "example.com"}, claims, true},
		{"domain case", Condition{EmailDomain: "EXAMPLE.COM"}, claims, true},
		{"other domain", Condition{EmailDomain: "corp.com"}, claims, false},
		{"no subdomain match", Condition{EmailDomain: "ample.com"}, claims, false},
		{"unverified email", Condition{EmailDomain: "example.com"}, unverified, false},
		{"email_verified as string", Condition{EmailDomain: "example.com"}, stringVerified, false},
		{"email_verified absent", Condition{EmailDomain: "example.com"}, noClaim, false},
		{"Kelvin sign is not k (email)", Condition{Email: "kelly@example.com"}, []byte(`{"email":"\u212Aelly@example.com","email_verified":true}`), false},
		{"long s is not s (email)", Condition{Email: "sam@example.com"}, []byte(`{"email":"\u017Fam@example.com","email_verified":true}`), false},
		{"Kelvin sign is not k (domain)", Condition{EmailDomain: "kelvin.example"}, []byte(`{"email":"a@\u212Aelvin.example","email_verified":true}`), false},
		{"ASCII case is folded (email)", Condition{Email: "kelly@example.com"}, []byte(`{"email":"KELLY@Example.COM","email_verified":true}`), true},
		{"verified by another claim", Condition{EmailDomain: "example.com", EmailTrust: EmailTrust{VerifiedClaim: "xms_edov"}}, []byte(`{"email":"a@example.com","xms_edov":true}`), true},
		{"another claim named: email_verified no longer counts", Condition{EmailDomain: "example.com", EmailTrust: EmailTrust{VerifiedClaim: "xms_edov"}}, []byte(`{"email":"a@example.com","email_verified":true}`), false},
		{"assumed verified, absent", Condition{EmailDomain: "example.com", EmailTrust: assume}, noClaim, true},
		{"assumed verified, but false", Condition{EmailDomain: "example.com", EmailTrust: assume}, unverified, false},
		{"assumed verified, but a string", Condition{Email: "alice@example.com", EmailTrust: assume}, stringVerified, false},
		{"double @ (CVE-2026-40574)", Condition{EmailDomain: "example.com"}, trick, false},
		{"email", Condition{Email: "ALICE@example.com"}, claims, true},
		{"email unverified", Condition{Email: "alice@example.com"}, unverified, false},
		{"group", Condition{Group: "admins"}, claims, true},
		{"no group", Condition{Group: "root"}, claims, false},
		{"group claim path", Condition{Group: "admin", GroupsClaim: "realm_access.roles"}, claims, true},
		{"contains", Condition{Claim: "realm_access.roles", Contains: "admin"}, claims, true},
		{"contains string", Condition{Claim: "team", Contains: "blue"}, claims, true},
		{"contains missing", Condition{Claim: "realm_access.roles", Contains: "root"}, claims, false},
		{"equals", Condition{Claim: "tenant", Equals: "t1"}, claims, true},
		{"equals number", Condition{Claim: "level", Equals: "3"}, claims, true},
		{"equals bool", Condition{Claim: "staff", Equals: "true"}, claims, true},
		{"equals object refused", Condition{Claim: "realm_access", Equals: `{"roles":["admin","user"]}`}, claims, false},
		{"absent claim", Condition{Claim: "nope", Equals: ""}, claims, false},
		{"empty condition", Condition{}, claims, false},
	}
	for _, c := range cases {
		if got := c.c.Allows(c.claims); got != c.want {
			t.Errorf("%s: Allows = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@evil.com@corp.com", "a@b", `"x"@y.z`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		local, domain, ok := ParseEmail(s)
		if !ok {
			return
		}
		if local+"@" != s[:len(local)+1] || !isMailDomain(domain) || len(local)+1+len(domain) != len(s) {
			t.Fatalf("ParseEmail(%q) = %q, %q", s, local, domain)
		}
	})
}
