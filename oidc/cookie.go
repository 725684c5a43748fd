package oidc

import (
	"slices"
	"strconv"
	"strings"
)

// MaxCookieValue is the most bytes one cookie value may hold. Browsers cap name, value and
// attributes together at 4096 bytes; 3800 leaves room for the name and every attribute
// FormatCookie writes.
const MaxCookieValue = 3800

const (
	// cookieMaxChunks bounds a chunked value both ways: SplitCookie will not produce more and
	// JoinCookie will not accept more. 8 chunks (about 30 KB) is far above any real session
	// and still below common request-header limits.
	cookieMaxChunks = 8
	// cookieMaxHeaderBytes and cookieMaxCount bound the work ParseCookies does. Both exceed
	// what browsers send to one site (Envoy's default header limit is 60 KiB; browsers keep
	// about 180 cookies per site), so nothing legitimate is ever dropped.
	cookieMaxHeaderBytes = 64 << 10
	cookieMaxCount       = 200
)

// Cookie is one name=value pair from a Cookie request header.
type Cookie struct{ Name, Value string }

// CookieOptions are the attributes FormatCookie writes besides the name, value and Max-Age.
type CookieOptions struct {
	Path     string // "/" when empty
	Domain   string // host-only cookie when empty
	Secure   bool
	SameSite string // "Lax" (the default), "Strict" or "None"
}

// SplitCookie splits a sealed value into cookies of at most MaxCookieValue bytes: a single
// cookie named name when it fits, otherwise name_0, name_1, ... in order. It returns nil
// when the value would need more than 8 chunks, so the caller cannot set a session the
// browser would only partly keep.
func SplitCookie(name, value string) [][2]string {
	if len(value) <= MaxCookieValue {
		return [][2]string{{name, value}}
	}
	n := (len(value) + MaxCookieValue - 1) / MaxCookieValue
	if n > cookieMaxChunks {
		return nil
	}
	out := make([][2]string, 0, n)
	for i := 0; i < n; i++ {
		end := min((i+1)*MaxCookieValue, len(value))
		out = append(out, [2]string{chunkName(name, i), value[i*MaxCookieValue : end]})
	}
	return out
}

// maxCookieCandidates bounds the chunk reassemblies CookieCandidates returns, and
// maxCookieCombinations the combinations it tries: chunks multiply, and an attacker must not
// make a request cost more than a few AEAD opens. Plain values are not bounded beyond the 200
// cookies ParseCookies keeps: a planted cookie pushing the genuine one out of a bound would
// be the login loop all over again.
const (
	maxCookieCandidates   = 16
	maxCookieCombinations = 64
)

// CookieCandidates returns every value the cookies may hold for name, in a layout SplitCookie
// writes: each distinct value of the plain cookie name, then each distinct reassembly of
// chunks name_0 ... name_(k-1), 2 <= k <= 8, every chunk but the last exactly MaxCookieValue
// bytes and the last non-empty (at most 16 of those), in the order the browser sent them.
//
// A browser can hold several: a sibling subdomain can plant a cookie of the same name (cookie
// tossing) that the clearing Set-Cookie of this host cannot remove. Refusing them all would
// send the user through logins forever (the planted cookie survives every one); picking one
// by position lets the attacker choose it. The caller opens each candidate in turn, and only
// a value it sealed itself opens.
func CookieCandidates(cookies []Cookie, name string) []string {
	out := CookieValues(cookies, name)
	var chunks [cookieMaxChunks][]string
	prefix := name + "_"
	for _, c := range cookies {
		rest, isChunk := strings.CutPrefix(c.Name, prefix)
		if !isChunk {
			continue
		}
		if i, isIndex := chunkIndex(rest); isIndex && i < cookieMaxChunks && !slices.Contains(chunks[i], c.Value) {
			chunks[i] = append(chunks[i], c.Value)
		}
	}
	run := 0
	for run < cookieMaxChunks && len(chunks[run]) > 0 {
		run++
	}
	singles, tried := len(out), 0
	for k := run; k >= 2 && len(out)-singles < maxCookieCandidates; k-- {
		pick := make([]int, k)
		for tried < maxCookieCombinations && len(out)-singles < maxCookieCandidates {
			tried++
			if v, ok := joinChunks(chunks[:k], pick); ok && !slices.Contains(out, v) {
				out = append(out, v)
			}
			if !nextPick(chunks[:k], pick) {
				break
			}
		}
	}
	return out
}

// joinChunks joins the picked value of each chunk if the sizes fit SplitCookie's layout.
func joinChunks(chunks [][]string, pick []int) (string, bool) {
	var b strings.Builder
	b.Grow(len(chunks) * MaxCookieValue)
	for i, values := range chunks {
		v := values[pick[i]]
		last := i == len(chunks)-1
		if (!last && len(v) != MaxCookieValue) || (last && (v == "" || len(v) > MaxCookieValue)) {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// nextPick advances pick to the next combination, like an odometer; false after the last.
func nextPick(chunks [][]string, pick []int) bool {
	for i := len(pick) - 1; i >= 0; i-- {
		if pick[i]++; pick[i] < len(chunks[i]) {
			return true
		}
		pick[i] = 0
	}
	return false
}

func chunkName(name string, i int) string {
	return name + "_" + strconv.Itoa(i)
}

// chunkIndex parses a chunk suffix: decimal digits without a leading zero (so "01" is not
// chunk 1), as chunkName writes them. Large numbers saturate rather than overflow.
func chunkIndex(s string) (int, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < cookieMaxChunks {
			n = n*10 + int(c-'0')
		}
	}
	return n, true
}

// ParseCookies parses Cookie header values of the RFC 6265 §5.4 form "a=b; c=d", in order
// and keeping duplicates (CookieValue needs them to detect ambiguity). Whitespace around
// names and values is trimmed; a value keeps any double quotes, so StripCookies forwards
// other applications' cookies exactly as sent. Pairs without "=", with a name that is not an
// RFC 7230 token, or with control characters are skipped. Parsing stops at 200 cookies or
// 64 KiB; only whole pairs are kept, so a value is never silently truncated.
func ParseCookies(headerValues []string) []Cookie {
	var out []Cookie
	budget := cookieMaxHeaderBytes
	for _, h := range headerValues {
		for len(h) > 0 {
			end, controls := cookiePairEnd(h)
			pair := h[:end]
			h = h[min(end+1, len(h)):]
			budget -= len(pair) + 1
			if budget < 0 || len(out) >= cookieMaxCount {
				return out
			}
			if c, ok := parseCookiePair(pair, controls); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// cookiePairEnd returns where the first pair of h ends (its ';', or len(h)) and whether the
// pair holds a control character, in one pass: a session cookie is kilobytes long, and
// scanning it is a measurable part of a request in a TinyGo module. Eight bytes at a time
// are skipped when none of them can matter (see plainWord); any others are looked at one by
// one.
func cookiePairEnd(h string) (end int, controls bool) {
	i := 0
	for i < len(h) {
		if i+8 <= len(h) && plainWord(h[i:i+8]) {
			i += 8
			continue
		}
		switch c := h[i]; {
		case c == ';':
			return i, controls
		case c < 0x20 || c == 0x7f:
			controls = true
		}
		i++
	}
	return len(h), controls
}

// SWAR constants: every byte 0x01, every byte 0x80.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// plainWord reports whether none of the 8 bytes of w is ';', DEL or below 0x20, with a few
// word-wide operations instead of 8 comparisons. In (v - 0x01…01*n) &^ v, a byte's top bit
// ends up set only if that byte is below n, or if a byte below it was (the borrow): so the
// top bits are all clear exactly when no byte is below n. Bytes equal to ';' or DEL are
// found as zero bytes (below 1) of x XOR that byte repeated.
func plainWord(w string) bool {
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	semi := x ^ (swarOnes * ';')
	del := x ^ (swarOnes * 0x7f)
	below := (x - swarOnes*0x20) &^ x
	zeroSemi := (semi - swarOnes) &^ semi
	zeroDel := (del - swarOnes) &^ del
	return (below|zeroSemi|zeroDel)&swarHigh == 0
}

// parseCookiePair parses one pair; controls says whether it holds any control character,
// in which case its value is checked for them once trimmed (a trimmed HTAB is allowed).
func parseCookiePair(pair string, controls bool) (Cookie, bool) {
	name, value, found := strings.Cut(pair, "=")
	if !found {
		return Cookie{}, false
	}
	name, value = trimCookieSpace(name), trimCookieSpace(value)
	if !isCookieName(name) {
		return Cookie{}, false
	}
	for i := 0; controls && i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f {
			return Cookie{}, false
		}
	}
	return Cookie{Name: name, Value: value}, true
}

// trimCookieSpace trims the optional whitespace (SP and HTAB) RFC 6265 allows around
// names and values.
func trimCookieSpace(s string) string {
	return strings.Trim(s, " \t")
}

// isCookieName reports whether s is an RFC 7230 token: the only valid cookie names.
func isCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// CookieValues returns the distinct values of the cookie called name, in the order sent. Browsers send every cookie whose domain and path match, so
// one name can arrive several times, possibly one planted by a sibling subdomain: the caller
// must not pick one by position (the Envoy CVE-2021-32777 class of bugs came from that), but
// try each as CookieCandidates explains.
func CookieValues(cookies []Cookie, name string) []string {
	var out []string
	for _, c := range cookies {
		if c.Name == name && !slices.Contains(out, c.Value) {
			out = append(out, c.Value)
		}
	}
	return out
}

// FormatCookie renders one Set-Cookie value:
//
//	name=value; Path=/; Domain=d; Max-Age=N; HttpOnly; Secure; SameSite=Lax
//
// HttpOnly is always set: no script ever needs these cookies. Max-Age is used and never
// Expires, because the Wasm host clock may be fake and absolute dates would then be wrong;
// maxAge <= 0 writes Max-Age=0, which deletes the cookie. SameSite=None forces Secure,
// which browsers require for it; an unknown SameSite becomes Lax. FormatCookie returns ""
// when the name is not a token, or the value, path or domain holds a character that could
// end the attribute or the header (";", ",", whitespace, quotes, backslash, controls): such
// input is a bug or an attack, never something to write into a response header.
func FormatCookie(name, value string, maxAge int, opt CookieOptions) string {
	path := opt.Path
	if path == "" {
		path = "/"
	}
	if !isCookieName(name) || !isCookieOctets(value) || !isCookieOctets(path) || !isCookieOctets(opt.Domain) {
		return ""
	}
	if maxAge < 0 {
		maxAge = 0
	}
	sameSite, secure := "Lax", opt.Secure
	switch strings.ToLower(opt.SameSite) {
	case "strict":
		sameSite = "Strict"
	case "none":
		sameSite, secure = "None", true
	}
	var b strings.Builder
	b.Grow(len(name) + len(value) + len(path) + len(opt.Domain) + 80)
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; Path=")
	b.WriteString(path)
	if opt.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(opt.Domain)
	}
	b.WriteString("; Max-Age=")
	b.WriteString(strconv.Itoa(maxAge))
	b.WriteString("; HttpOnly")
	if secure {
		b.WriteString("; Secure")
	}
	b.WriteString("; SameSite=")
	b.WriteString(sameSite)
	return b.String()
}

// isCookieOctets reports whether s has only RFC 6265 cookie-octets: printable ASCII except
// space, DQUOTE, comma, semicolon and backslash.
func isCookieOctets(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// StripCookies returns a Cookie header value holding every cookie except those for which
// drop(name) is true, in order and as sent, or "" when none remain. The plugin uses it so
// upstream applications never see (or log) the sealed session.
func StripCookies(cookies []Cookie, drop func(name string) bool) string {
	var b strings.Builder
	for _, c := range cookies {
		if drop(c.Name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name)
		b.WriteByte('=')
		b.WriteString(c.Value)
	}
	return b.String()
}
