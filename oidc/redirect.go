package oidc

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// redirectMaxLen caps a return path or redirect target; nothing legitimate is longer and
	// the value travels in a sealed cookie.
	redirectMaxLen = 2 << 10
	// redirectMaxDecode is how many rounds of percent-decoding are checked. A path that still
	// decodes to something new after that many rounds is refused, not trusted.
	redirectMaxDecode = 4
)

// SafeReturnPath accepts raw only if it is a path on this site, safe to put in a Location
// header, and returns it without any fragment. It exists to stop open redirects after login
// (oauth2-proxy CVE-2020-5233, CVE-2020-11053, CVE-2020-4037): browsers read "//host",
// "/\host" and "/<tab>/host" as another site, and servers or proxies that decode the path
// once more turn "/%2F/host" or "/%5Chost" into the same thing.
//
// The rules, all of which must hold:
//   - 1 to 2048 bytes, starting with exactly one "/": the second byte is neither "/" nor
//     "\" (so there is no scheme and no authority);
//   - only printable ASCII, and none of space, backslash, DQUOTE, "<", ">" or "`" (browsers
//     percent-encode these, so none arrives raw from a real navigation);
//   - every "%" starts a valid escape (%XX with hex digits);
//   - the path (before "?") and each of up to 4 successive percent-decodings of it
//     (catching %2F, %5C, %09, %00 and double encodings such as %252F, in either case)
//     again starts with exactly one "/" and holds no control character, no backslash, no
//     "." or ".." segment (browsers remove those before sending, so only a crafted value
//     has them), and no space at the start or end of its first segment ("/%20/host" is
//     refused, "/my%20file" is not); decodings must also be valid UTF-8.
//
// The fragment ("#..." and after) is dropped rather than refused: browsers never send it to
// the server, so a return path taken from a request never has one, and nothing in it is
// needed to get back to the page.
func SafeReturnPath(raw string) (string, bool) {
	if !redirectTextOK(raw) || raw[0] != '/' {
		return "", false
	}
	p, _, _ := strings.Cut(raw, "#")
	path, _, _ := strings.Cut(p, "?")
	for level := 0; ; level++ {
		if !localPathOK(path) {
			return "", false
		}
		next, changed := percentDecodeOnce(path)
		if !changed {
			return p, true
		}
		if level == redirectMaxDecode {
			return "", false
		}
		path = next
	}
}

// SafeRedirect accepts a relative path under the rules of SafeReturnPath, or an absolute
// http or https URL whose host and port are allowed, and returns it without any fragment.
// Protocol-relative targets ("//host/...") are refused even for allowed hosts: they are
// what the path rules exist to stop, and an absolute URL says the same thing unambiguously.
// It guards redirect targets taken from a request, such as a post-logout destination
// (CVE-2021-21291 was a suffix match that admitted look-alike domains).
//
// An allowedHosts entry is [scheme://]host[:port]:
//   - "app.example.com" allows exactly that host; ".example.com" allows example.com and
//     every subdomain, matched on a label boundary, so neither "evilexample.com" nor
//     "example.com.evil.corp" passes;
//   - without a port the entry allows only the default port of the URL's scheme (443 for
//     https, 80 for http); with one, exactly that port;
//   - with a scheme ("https://app.example.com") it allows only that scheme.
//
// Hosts compare case-insensitively. The URL must be plain: no user info, no percent
// escapes or unusual characters in the host, only DNS names or bracketed IPv6 literals,
// a decimal port, and the same characters as a return path. Go's url.Parse must read the
// same scheme and host, so no two parsers can disagree about where the browser goes.
// Malformed entries match nothing.
func SafeRedirect(raw string, allowedHosts []string) (string, bool) {
	if strings.HasPrefix(raw, "/") {
		return SafeReturnPath(raw)
	}
	if !redirectTextOK(raw) {
		return "", false
	}
	p, _, _ := strings.Cut(raw, "#")
	scheme, rest, found := strings.Cut(p, "://")
	scheme = strings.ToLower(scheme)
	if !found || (scheme != "https" && scheme != "http") {
		return "", false
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority = rest[:i]
	}
	host, port, ok := splitHostPort(authority, scheme)
	if !ok {
		return "", false
	}
	u, err := url.Parse(p)
	if err != nil || u.User != nil || u.Opaque != "" || !strings.EqualFold(u.Scheme, scheme) || !strings.EqualFold(u.Host, authority) {
		return "", false
	}
	for _, entry := range allowedHosts {
		if redirectHostAllowed(entry, scheme, host, port) {
			return p, true
		}
	}
	return "", false
}

// redirectHostAllowed matches one allowedHosts entry against a URL's scheme, lowercase
// host and port.
func redirectHostAllowed(entry, scheme, host string, port int) bool {
	entry = strings.ToLower(entry)
	if s, rest, found := strings.Cut(entry, "://"); found {
		if s != scheme {
			return false
		}
		entry = rest
	}
	suffix := strings.HasPrefix(entry, ".")
	if suffix {
		entry = entry[1:]
	}
	eHost, ePort, ok := splitHostPort(entry, scheme)
	if !ok || ePort != port {
		return false
	}
	if host == eHost {
		return true
	}
	return suffix && !strings.HasPrefix(eHost, "[") && strings.HasSuffix(host, "."+eHost)
}

// splitHostPort splits host[:port] into a lowercase host and a port, the scheme's default
// when absent. The host must be a DNS name (letters, digits, hyphens, dot-separated
// non-empty labels) or a bracketed IPv6 literal; the port 1 to 65535 in decimal without
// sign or leading zero (parsers disagree on "0443"). Everything else (user info, percent
// escapes, empty ports) is refused.
func splitHostPort(hostport, scheme string) (host string, port int, ok bool) {
	host, portText := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", 0, false
		}
		host, portText = hostport[:end+1], hostport[end+1:]
		if portText != "" {
			if portText[0] != ':' {
				return "", 0, false
			}
			portText = portText[1:]
			if portText == "" {
				return "", 0, false
			}
		}
		if !isIPv6Literal(host[1:end]) {
			return "", 0, false
		}
	} else {
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, portText = hostport[:i], hostport[i+1:]
			if portText == "" {
				return "", 0, false
			}
		}
		if !isDNSName(host) {
			return "", 0, false
		}
	}
	port = 443
	if scheme == "http" {
		port = 80
	}
	if portText != "" {
		if len(portText) > 5 {
			return "", 0, false
		}
		n, err := strconv.Atoi(portText)
		if err != nil || n < 1 || n > 65535 || portText[0] < '1' || portText[0] > '9' {
			return "", 0, false
		}
		port = n
	}
	return strings.ToLower(host), port, true
}

// isDNSName reports whether s is dot-separated non-empty labels of ASCII letters, digits and
// hyphens, at most 253 bytes: what a browser resolves as the name itself, with nothing it
// would rewrite first (percent escapes, IDNA mapping, backslashes).
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
			label++
			if label > 63 {
				return false
			}
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		default:
			return false
		}
	}
	return label > 0
}

// isIPv6Literal reports whether s (without brackets) has only the characters of an IPv6
// address: hex digits, colons and dots (for an embedded IPv4 part). Zone identifiers are
// refused. Exact entries are compared as text, so this only keeps odd bytes out.
func isIPv6Literal(s string) bool {
	if s == "" || !strings.Contains(s, ":") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// redirectTextOK applies the character rules shared by both kinds of redirect: 1 to 2048
// bytes of printable ASCII without space, backslash, DQUOTE, "<", ">" or "`", and every
// "%" followed by two hex digits.
func redirectTextOK(s string) bool {
	if s == "" || len(s) > redirectMaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f, c == '\\', c == '"', c == '<', c == '>', c == '`':
			return false
		case c == '%':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return false
			}
		}
	}
	return true
}

// localPathOK checks one decoding of a return path's path part (see SafeReturnPath).
func localPathOK(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	if len(path) > 1 && (path[1] == '/' || path[1] == '\\') {
		return false
	}
	if !utf8.ValidString(path) {
		return false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	rest := path[1:]
	for first := true; ; first = false {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (first && (strings.HasPrefix(seg, " ") || strings.HasSuffix(seg, " "))) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// percentDecodeOnce decodes every valid %XX escape once and reports whether anything
// changed. A "%" without two hex digits after it stays literal, since after one decoding
// it may well be a literal percent sign ("%25" decodes to "%").
func percentDecodeOnce(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
			b.WriteByte(unhexDigit(s[i+1])<<4 | unhexDigit(s[i+2]))
			i += 2
			changed = true
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), changed
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexDigit(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
