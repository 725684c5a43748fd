package oidc

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// claimMaxValue caps a claim rendered for a header. Longer values are refused rather than
// cut: a truncated list of groups or roles could mean something else to the upstream.
const claimMaxValue = 8 << 10

// ClaimValue reads the claim at a gjson path (for example "email", "realm_access.roles")
// from a JSON object of claims and renders it as a header value: a string as is, a number
// or boolean as its JSON text, an array of scalars joined with sep (an empty array gives
// "", ok=true: the claim is there and lists nothing). Objects, null, missing claims, arrays
// holding objects, arrays or null, and claims that are not one JSON object give ok=false.
//
// The result is meant for request headers the upstream trusts, so it is refused (ok=false)
// rather than altered when it is not valid UTF-8, contains any control character (CR, LF
// and NUL would allow header injection), is longer than 8 KiB, or when an array element
// contains sep: ["a,b"] joined with "," would read as two values the user does not have.
func ClaimValue(claims []byte, path, sep string) (string, bool) {
	c, ok := ParseClaims(claims)
	if !ok {
		return "", false
	}
	return c.Value(path, sep)
}

// Claims is a JSON object of claims, validated once, from which any number of values are
// read. A request that maps several claims to headers validates the object once instead of
// once per header.
type Claims struct{ obj gjson.Result }

// ParseClaims validates claims as one JSON object (bounded depth); ok is false otherwise.
func ParseClaims(claims []byte) (Claims, bool) {
	if !ValidJSON(claims) {
		return Claims{}, false
	}
	obj := gjson.ParseBytes(claims)
	return Claims{obj: obj}, obj.IsObject()
}

// Value renders the claim at path as ClaimValue does.
func (c Claims) Value(path, sep string) (string, bool) {
	if !c.obj.IsObject() {
		return "", false
	}
	r := c.obj.Get(path)
	var v string
	switch {
	case !r.Exists():
		return "", false
	case r.IsArray():
		var ok bool
		if v, ok = joinClaimArray(r, sep); !ok {
			return "", false
		}
	default:
		var ok bool
		if v, ok = claimScalar(r); !ok {
			return "", false
		}
	}
	if len(v) > claimMaxValue || !isSafeHeaderText(v) {
		return "", false
	}
	return v, true
}

// claimScalar renders a string, number or boolean; anything else is not a scalar.
func claimScalar(r gjson.Result) (string, bool) {
	switch r.Type {
	case gjson.String:
		return r.Str, true
	case gjson.Number, gjson.True, gjson.False:
		return r.Raw, true
	default:
		return "", false
	}
}

func joinClaimArray(r gjson.Result, sep string) (string, bool) {
	var b strings.Builder
	ok := true
	first := true
	r.ForEach(func(_, e gjson.Result) bool {
		s, scalar := claimScalar(e)
		if !scalar || (sep != "" && strings.Contains(s, sep)) {
			ok = false
			return false
		}
		if !first {
			b.WriteString(sep)
		}
		first = false
		b.WriteString(s)
		if b.Len() > claimMaxValue {
			ok = false
			return false
		}
		return true
	})
	return b.String(), ok
}

// isSafeHeaderText reports whether s is valid UTF-8 without control characters (C0, DEL
// and C1), which is what a header value built from a token may safely hold.
func isSafeHeaderText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}
