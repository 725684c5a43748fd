package plugin

import (
	"strings"
	"time"
)

// Opening a session cookie (AEAD open and decode) costs tens of microseconds in a TinyGo
// module, several times the rest of a request. A browser sends the same sealed value on every
// request until the session is renewed, so each relying party remembers, per VM, the
// sessions it opened (relyingParty.sessions), as it remembers the bearer tokens it verified
// (relyingParty.tokens).
//
// A cache hit requires the presented credential (the whole sealed cookie value, or the whole
// bearer token) to be byte for byte the one stored when it was verified: get compares the
// two in full, in time that depends only on their length. The map key (a few bytes from
// each end of the credential, see credentialKey) only picks the one candidate to compare:
// a collision, accidental or crafted, costs a miss, never a hit. So a tampered or different
// cookie or token never hits; it goes through the AEAD open or the signature check like any
// other, and only a value that passed is ever stored. This replaces a SHA-256 of the whole
// credential as the key, which cost more than the rest of a cached request in a TinyGo
// module (about 13 µs for a 2.3 KB cookie; the comparison costs about 1 µs).
//
// Entries live until their expiry (the sealed expiry of a cookie, the exp of a token);
// session() applies every other check (absolute lifetime, token expiry and refresh, idle
// renewal from sealedUntil) to cached and freshly opened sessions alike.

// maxCachedSessions bounds the opened-session cache of one provider in one VM.
const maxCachedSessions = 1024

// maxCachedBytes bounds the credentials one cache holds, whatever their size: 1024 typical
// cookies fit, 1024 session cookies chunked to the 30 KB limit would not. A cached value is
// about the size of the credential it came from, so a cache holds about twice this at most.
const maxCachedBytes = 2 << 20

// credentialKeySize is the size of a cache's map key: 16 bytes from each end of a credential.
const credentialKeySize = 32

// credentialKey picks the map key of a credential: its first and last 16 bytes. For a sealed
// cookie those are random (the version and 88 bits of the nonce, then 96 bits of the AEAD
// tag); for a JWT the start is the common header and the end the signature. Any key would be
// safe (get compares the whole credential); these make distinct credentials collide
// essentially never, at the cost of copying 32 bytes rather than hashing the whole value.
func credentialKey(credential string) [credentialKeySize]byte {
	var k [credentialKeySize]byte
	copy(k[:credentialKeySize/2], credential)
	copy(k[credentialKeySize/2:], credential[max(0, len(credential)-credentialKeySize/2):])
	return k
}

// sameCredential reports whether a and b are equal, in time that depends only on their
// length: how much of a stored credential a presented one matches must not show in the
// response time. It compares eight bytes at a time, which a TinyGo module runs about three
// times faster than a byte loop (what == compiles to there).
func sameCredential(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var diff uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		diff |= word(a[i:i+8]) ^ word(b[i:i+8])
	}
	for ; i < len(a); i++ {
		diff |= uint64(a[i] ^ b[i])
	}
	return diff == 0
}

// word reads 8 bytes of s as one little-endian integer.
func word(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// fifoCache maps verified credentials to what verifying them produced, until an expiry. It
// is bounded by entries and by bytes; when full, the oldest entries go (first in, first out),
// so a flood of distinct credentials can only cycle it, never grow it.
type fifoCache[V any] struct {
	max     int
	bytes   int // credential bytes held
	entries map[[credentialKeySize]byte]*fifoEntry[V]
	order   [][credentialKeySize]byte // keys, oldest first
}

type fifoEntry[V any] struct {
	credential string
	value      V
	expiry     time.Time
}

// newFIFOCache makes a cache of at most max entries. Its map is made for max entries at
// once and so never grows: TinyGo's garbage collector was seen to keep what the buckets a
// map outgrew pointed to, evicted entries included, which more than doubled the memory of a
// full cache with entries coming and going (8 MB held for 2 MB of cookies).
func newFIFOCache[V any](max int) *fifoCache[V] {
	return &fifoCache[V]{max: max, entries: make(map[[credentialKeySize]byte]*fifoEntry[V], max)}
}

// get returns what put stored for exactly this credential, unless it has expired.
func (c *fifoCache[V]) get(credential string, now time.Time) (V, time.Time, bool) {
	e, ok := c.entries[credentialKey(credential)]
	if !ok || !sameCredential(e.credential, credential) || !now.Before(e.expiry) {
		var zero V
		return zero, time.Time{}, false
	}
	return e.value, e.expiry, true
}

// put stores value for a credential that was just verified, replacing the entry of its key,
// then drops the oldest entries until the cache is within its bounds again. The cache keeps
// its own copy of the credential: the one presented usually points into the request's whole
// header block. A credential larger than the byte bound is not stored.
func (c *fifoCache[V]) put(credential string, value V, expiry time.Time) {
	if len(credential) > maxCachedBytes {
		return
	}
	key := credentialKey(credential)
	if old, ok := c.entries[key]; ok {
		c.bytes -= len(old.credential)
	} else {
		c.order = append(c.order, key)
	}
	c.entries[key] = &fifoEntry[V]{credential: strings.Clone(credential), value: value, expiry: expiry}
	c.bytes += len(credential)
	for len(c.order) > c.max || c.bytes > maxCachedBytes {
		oldest := c.order[0]
		c.order = c.order[1:]
		c.bytes -= len(c.entries[oldest].credential)
		delete(c.entries, oldest)
	}
}

// clear drops every entry, keeping the map's room for max entries.
func (c *fifoCache[V]) clear() {
	clear(c.entries)
	c.order, c.bytes = c.order[:0], 0
}

func (c *fifoCache[V]) len() int { return len(c.entries) }
