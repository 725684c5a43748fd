package plugin

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
)

// PathRule is one skip rule. Rules are matched against the request path only: the query
// and anything after '#' are cut first, so "/private?x=/public" is never public
// (oauth2-proxy CVE-2025-54576). Matching is on the bytes Envoy hands over; the gateway must
// normalize paths (see README, "Path normalization") so that "/pub/../admin" arrives as "/admin".
type PathRule struct {
	Exact  string
	Prefix string
	Regex  *regexp.Regexp
}

// Match reports whether path (already without query) is covered by the rule.
//
// A prefix without a trailing slash matches whole segments only: "/public" covers "/public"
// and "/public/x" but not "/publicity", which is what an operator writing it means.
// A regex must match the whole path: it is anchored, so "/health" cannot be satisfied by
// "/admin/health".
func (r PathRule) Match(path string) bool {
	switch {
	case r.Exact != "":
		return path == r.Exact
	case r.Prefix != "":
		if !strings.HasPrefix(path, r.Prefix) {
			return false
		}
		return strings.HasSuffix(r.Prefix, "/") || len(path) == len(r.Prefix) || path[len(r.Prefix)] == '/'
	case r.Regex != nil:
		return r.Regex.MatchString(path)
	}
	return false
}

// requestPath is the part of :path that rules look at: up to the first '?' or '#'.
func requestPath(rawPath string) string {
	if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
		return rawPath[:i]
	}
	return rawPath
}

// matchAny reports whether a skip rule covers path. Only a path in the normal form a
// normalizing gateway hands over can be skipped: one with dot segments ("/pub/../admin",
// "/pub/..;/admin"), empty segments ("//"), backslashes, control or non-ASCII bytes, or
// escapes of '/', '\', '.', '%', ';' or control characters ("/pub/%2e%2e/admin",
// "/pub%2F..%2Fadmin") needs authentication instead, because an upstream may resolve it to a
// path no rule was written for (Envoy CVE-2019-9901, CVE-2021-29492). Fail closed when the
// gateway's path normalization is off.
func matchAny(rules []PathRule, path string) bool {
	if len(rules) == 0 || !normalPath(path) {
		return false
	}
	for _, r := range rules {
		if r.Match(path) {
			return true
		}
	}
	return false
}

// normalPath reports whether path (without query) is in normal form; see matchAny.
func normalPath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c <= ' ' || c >= 0x7f || c == '\\':
			return false
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return false
			}
			if d := unhex(path[i+1])<<4 | unhex(path[i+2]); d < ' ' || d >= 0x7f || d == '/' || d == '\\' || d == '.' || d == '%' || d == ';' {
				return false
			}
		}
	}
	segments := strings.Split(path[1:], "/")
	for i, seg := range segments {
		name, _, _ := strings.Cut(seg, ";")
		if name == "." || name == ".." || (seg == "" && i < len(segments)-1) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func parsePathRules(v gjson.Result, key string) ([]PathRule, error) {
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, configErr(key, `must be an array of {"exact":…}, {"prefix":…} or {"regex":…}`)
	}
	var rules []PathRule
	for i, item := range v.Array() {
		k := fmt.Sprintf("%s[%d]", key, i)
		rule, err := parsePathRule(item, k)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func parsePathRule(item gjson.Result, key string) (PathRule, error) {
	if !item.IsObject() {
		return PathRule{}, configErr(key, `must be an object with exactly one of "exact", "prefix", "regex"`)
	}
	var rule PathRule
	n := 0
	var err error
	item.ForEach(func(k, val gjson.Result) bool {
		n++
		field := key + "." + k.String()
		if val.Type != gjson.String || val.Str == "" {
			err = configErr(field, "must be a non-empty string")
			return false
		}
		switch k.String() {
		case "exact", "prefix":
			if !strings.HasPrefix(val.Str, "/") || strings.ContainsAny(val.Str, "?#") {
				err = configErr(field, "%q must start with '/' and contain no '?' or '#' (rules match the path, never the query)", val.Str)
				return false
			}
			if k.String() == "exact" {
				rule.Exact = val.Str
			} else {
				rule.Prefix = val.Str
			}
		case "regex":
			re, cerr := regexp.Compile("^(?:" + val.Str + ")$")
			if cerr != nil {
				err = configErr(field, "invalid regular expression: %v", cerr)
				return false
			}
			rule.Regex = re
		default:
			err = configErr(field, `unknown key (use "exact", "prefix" or "regex")`)
			return false
		}
		return true
	})
	if err != nil {
		return PathRule{}, err
	}
	if n != 1 {
		return PathRule{}, configErr(key, `must have exactly one of "exact", "prefix", "regex"`)
	}
	return rule, nil
}
