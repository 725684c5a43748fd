package plugin

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// PathRule is one skip rule. Rules are matched against the path only (see requestPath and
// skips): the query and anything after '#' are cut first, so "/private?x=/public" is never
// public (oauth2-proxy CVE-2025-54576), and only a plain path in normal form is ever skipped.
// Exact and prefix rules are written in canonical form (canonicalPath).
type PathRule struct {
	Exact   string
	Prefix  string
	Regex   *regexp.Regexp
	Methods []string // nil: every method
}

// Match reports whether path (already without query) is covered by the rule.
//
// A prefix without a trailing slash matches whole segments only (see underPrefix). A regex
// must match the whole path: it is anchored, so "/health" cannot be satisfied by
// "/admin/health".
func (r PathRule) Match(path string) bool {
	switch {
	case r.Exact != "":
		return path == r.Exact
	case r.Prefix != "":
		return underPrefix(path, r.Prefix, false)
	case r.Regex != nil:
		return r.Regex.MatchString(path)
	}
	return false
}

// underPrefix reports whether path lies under prefix, which an operator writes meaning whole
// segments: "/public" covers "/public" and "/public/x" but not "/publicity"; a prefix ending
// in '/' covers what starts with it. fold compares ASCII letters regardless of case (never
// Unicode folding, which makes the Kelvin sign equal to 'k').
func underPrefix(path, prefix string, fold bool) bool {
	if len(path) < len(prefix) {
		return false
	}
	head := path[:len(prefix)]
	if head != prefix && !(fold && oidc.EqualFoldASCII(head, prefix)) {
		return false
	}
	return strings.HasSuffix(prefix, "/") || len(path) == len(prefix) || path[len(prefix)] == '/'
}

// requestPath is the request path as every path decision reads it, worked out once per
// request (parsePath). An upstream does not always serve the bytes Envoy routed: Tomcat, Jetty
// and Spring cut ";params" from every segment ("/admin;x/users" is their "/admin/users"), Go's
// ServeMux, Express and Flask decode percent-escapes ("/%61dmin" is their "/admin"). A path
// decision made on one spelling while the upstream serves another is a bypass, so:
//
//   - skip rules open only a plain path: in normal form, without ";" and without an escape an
//     upstream decodes into another name (see plain);
//   - an authorization rule set admits a request only if it admits every reading;
//   - a provider is chosen only when every reading chooses the same one (else 400).
//
// A path not in normal form (see normalPath) has no readings at all: no path decision may
// open it.
type requestPath struct {
	raw      string   // :path up to the first '?' or '#'
	normal   bool     // normalPath(raw)
	plain    bool     // normal, no ";", no escape of a character upstreams decode into a name
	readings []string // the distinct paths upstreams may serve; readings[0] is raw
}

// parsePath reads the path part of :path: up to the first '?' or '#', so a query or a
// fragment never takes part in a decision (oauth2-proxy CVE-2025-54576, CVE-2026-41059).
func parsePath(rawPath string) requestPath {
	raw := rawPath
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	p := requestPath{raw: raw, normal: normalPath(raw)}
	if !p.normal {
		return p
	}
	decoded := decodeEscapes(raw)
	p.plain = !hasNameEscape(raw) && strings.IndexByte(raw, ';') < 0
	p.readings = appendDistinct(p.readings, raw)
	p.readings = appendDistinct(p.readings, decoded)
	p.readings = appendDistinct(p.readings, stripParams(raw))
	p.readings = appendDistinct(p.readings, stripParams(decoded))
	return p
}

func appendDistinct(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// configPath checks a path written in the configuration (a callback or logout path, a skip
// rule, a path prefix): absolute, in normal form, without ";" (path parameters have no place
// in a rule), and in the one spelling decodeEscapes gives every reading, so a rule matches
// what it says. A path in another spelling is refused with the spelling to write instead.
func configPath(key, p string) (string, error) {
	if !isAbsolutePath(p) || !normalPath(p) || strings.IndexByte(p, ';') >= 0 {
		return "", configErr(key, "%q must be an absolute path in normal form, without query, fragment or ';'", p)
	}
	if c := decodeEscapes(p); c != p {
		return "", configErr(key, "%q: write it as %q (escapes of printable ASCII decoded, upper-case hex)", p, c)
	}
	return p, nil
}

// decodeEscapes decodes every escape of a printable ASCII character (what Go, Express and
// Flask decode before routing) and writes the others, non-ASCII bytes, with upper-case hex
// (RFC 3986 §6.2.2.1). It runs on paths in normal form, where no escape decodes to '/', '\',
// '.', '%', ';' or a control character.
func decodeEscapes(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		d := unhex(p[i+1])<<4 | unhex(p[i+2])
		if d > ' ' && d < 0x7f {
			b.WriteByte(d)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex(p[i+1]))
			b.WriteByte(upperHex(p[i+2]))
		}
		i += 2
	}
	return b.String()
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// hasNameEscape reports whether p escapes a character that changes what an upstream that
// decodes reads: an unreserved one (ALPHA, DIGIT, '-', '_', '~'; "/%70ublic" is "/public"),
// or '?' and '#', where an upstream that decodes and parses again ends the path.
func hasNameEscape(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		d := unhex(p[i+1])<<4 | unhex(p[i+2])
		if d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || d >= '0' && d <= '9' || d == '-' || d == '_' || d == '~' || d == '?' || d == '#' {
			return true
		}
	}
	return false
}

// stripParams cuts ";params" from every segment, as Tomcat, Jetty and Spring do.
func stripParams(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != ';' {
			b.WriteByte(p[i])
			continue
		}
		for i+1 < len(p) && p[i+1] != '/' {
			i++
		}
	}
	return b.String()
}

// skips reports whether a skip rule covers the request's path and method. Only a plain path can be skipped:
// one outside normal form, with ";", or with an escape an upstream decodes into another name
// needs authentication instead, because an upstream may serve it as a path no rule was
// written for (Envoy CVE-2019-9901, CVE-2021-29492; "/admin/users;.js" is no script). Fail
// closed when the gateway's path normalization is off.
func skips(rules []PathRule, p requestPath, method string) bool {
	if len(rules) == 0 || !p.plain {
		return false
	}
	for _, r := range rules {
		if r.Match(p.raw) && (r.Methods == nil || slices.Contains(r.Methods, method)) {
			return true
		}
	}
	return false
}

// matches reports whether a rule of api_paths or page_paths covers the request's path as
// sent. These only choose between a login redirect and a 401, both refusals, so unlike skip
// rules they need no plain path: a path in normal form is enough.
func matches(rules []PathRule, p requestPath) bool {
	for _, r := range rules {
		if p.normal && r.Match(p.raw) {
			return true
		}
	}
	return false
}

// normalPath reports whether path (without query) is in normal form: no dot segments
// ("/pub/../admin", also "/pub/..;/admin"), no empty segments ("//", also "/;x/" once its
// parameter is cut), no backslash, control or non-ASCII bytes, no escapes of '/', '\', '.',
// '%', ';', control or non-ASCII characters ("/pub/%2e%2e/admin", "/pub%2F..%2Fadmin"), no
// malformed escapes. Such a path may resolve to something else at the upstream, so no path
// decision may open it.
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
		if name == "." || name == ".." || (name == "" && i < len(segments)-1) {
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
		return PathRule{}, configErr(key, `must be an object with exactly one of "exact", "prefix", "regex", and optionally "methods"`)
	}
	var rule PathRule
	n := 0
	var err error
	item.ForEach(func(k, val gjson.Result) bool {
		field := key + "." + k.String()
		if k.String() == "methods" {
			rule.Methods, err = parseMethods(val, field)
			return err == nil
		}
		n++
		if val.Type != gjson.String || val.Str == "" {
			err = configErr(field, "must be a non-empty string")
			return false
		}
		switch k.String() {
		case "exact", "prefix":
			var p string
			if p, err = configPath(field, val.Str); err != nil {
				return false
			}
			if k.String() == "exact" {
				rule.Exact = p
			} else {
				rule.Prefix = p
			}
		case "regex":
			re, cerr := regexp.Compile("^(?:" + val.Str + ")$")
			if cerr != nil {
				err = configErr(field, "invalid regular expression: %v", cerr)
				return false
			}
			rule.Regex = re
		default:
			err = configErr(field, `unknown key (use "exact", "prefix" or "regex", and "methods")`)
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

// parseMethods reads a rule's "methods": HTTP method names, compared as sent (upper case).
func parseMethods(v gjson.Result, key string) ([]string, error) {
	if !v.IsArray() || len(v.Array()) == 0 {
		return nil, configErr(key, `must be a non-empty array of HTTP methods, e.g. ["GET","HEAD"]`)
	}
	var out []string
	for i, m := range v.Array() {
		if m.Type != gjson.String || m.Str == "" || strings.ToUpper(m.Str) != m.Str || !isHeaderName(m.Str) {
			return nil, configErr(fmt.Sprintf("%s[%d]", key, i), "must be an HTTP method in upper case")
		}
		out = append(out, m.Str)
	}
	return out, nil
}
