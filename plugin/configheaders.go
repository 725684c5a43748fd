package plugin

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
)

// headersNotMappable are headers a claim must never be written to: routing and framing
// headers, and the credentials and cookies the plugin itself manages.
var headersNotMappable = map[string]bool{
	"host": true, "cookie": true, "authorization": true, "content-length": true,
	"transfer-encoding": true, "connection": true, "te": true, "upgrade": true,
	"proxy-authorization": true, "set-cookie": true, "x-forwarded-for": true,
}

func claimsToHeaders(root getter) ([]HeaderClaim, error) {
	v := root.Get("claims_to_headers")
	if !v.Exists() {
		return append([]HeaderClaim(nil), defaultClaimsToHeaders...), nil
	}
	if !v.IsObject() {
		return nil, configErr("claims_to_headers", "must be an object mapping header name to claim path")
	}
	var out []HeaderClaim
	seen := map[string]bool{}
	var err error
	v.ForEach(func(k, path gjson.Result) bool {
		key := "claims_to_headers." + k.String()
		name := strings.ToLower(k.String())
		switch {
		case !isHeaderName(name):
			err = configErr(key, "%q is not a valid HTTP header name", k.String())
		case headersNotMappable[name]:
			err = configErr(key, "header %q cannot carry a claim", name)
		case seen[canonicalHeader(name)]:
			err = configErr(key, "header listed twice (names are compared case-insensitively, '_' equal to '-')")
		}
		if err != nil {
			return false
		}
		var hc HeaderClaim
		if hc, err = headerClaim(key, path); err != nil {
			return false
		}
		hc.Header = name
		seen[canonicalHeader(name)] = true
		out = append(out, hc)
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Header < out[j].Header })
	return out, nil
}

// headerClaim reads one claims_to_headers value: a claim path, or an object with "claim"
// and optionally "prefix", "separator" and "transform" ([{"match": regex, "replace": text}]).
func headerClaim(key string, v gjson.Result) (HeaderClaim, error) {
	hc := HeaderClaim{Separator: ","}
	if v.Type == gjson.String && v.Str != "" {
		hc.Claim = v.Str
		return hc, nil
	}
	if !v.IsObject() {
		return HeaderClaim{}, configErr(key, `must be a claim path or {"claim": path, "prefix": …, "separator": …, "transform": […]}`)
	}
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		field := key + "." + k.String()
		switch k.String() {
		case "transform":
			hc.Transforms, err = parseTransforms(val, field)
		case "claim", "prefix", "separator":
			if val.Type != gjson.String || strings.ContainsAny(val.Str, "\r\n\x00") || (k.String() != "prefix" && val.Str == "") {
				err = configErr(field, "must be a non-empty string without control characters")
			}
			switch k.String() {
			case "claim":
				hc.Claim = val.Str
			case "prefix":
				hc.Prefix = val.Str
			default:
				hc.Separator = val.Str
			}
		default:
			err = configErr(field, `unknown key (use "claim", "prefix", "separator", "transform")`)
		}
		return err == nil
	})
	if err == nil && hc.Claim == "" {
		err = configErr(key+".claim", "required")
	}
	return hc, err
}

func parseTransforms(v gjson.Result, key string) ([]Transform, error) {
	if !v.IsArray() {
		return nil, configErr(key, `must be an array of {"match": regex, "replace": text}`)
	}
	var out []Transform
	for i, item := range v.Array() {
		k := fmt.Sprintf("%s[%d]", key, i)
		match, replace := item.Get("match"), item.Get("replace")
		n := 0
		item.ForEach(func(_, _ gjson.Result) bool { n++; return true })
		if !item.IsObject() || n != 2 || match.Type != gjson.String || replace.Type != gjson.String ||
			strings.ContainsAny(replace.Str, "\r\n\x00") {
			return nil, configErr(k, `must be {"match": regex, "replace": text} (no control characters)`)
		}
		re, err := regexp.Compile(match.Str)
		if err != nil {
			return nil, configErr(k+".match", "invalid regular expression: %v", err)
		}
		out = append(out, Transform{Match: re, Replace: replace.Str})
	}
	return out, nil
}

// isHeaderName reports whether s is an RFC 9110 token, which is what Envoy accepts as a
// header name.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
