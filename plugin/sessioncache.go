package plugin

import "time"

// Opening a session cookie (AEAD open and decode) costs about 50-65 µs in a TinyGo module,
// about ten times the rest of a request. A browser sends the same sealed value on every
// request until the session is renewed, so each plugin context remembers the sessions it
// opened (pluginContext.sessions).
//
// The cache is keyed by the SHA-256 of the sealed value, never the cookie itself, and only
// a value that opened is ever stored: a tampered cookie has another hash, misses, and goes
// through the AEAD open like any other. Entries live until their sealed expiry; session()
// applies every other check (absolute lifetime, token expiry and refresh, idle renewal from
// sealedUntil) to cached and freshly opened sessions alike.

// maxCachedSessions bounds the opened-session cache of one plugin context.
const maxCachedSessions = 1024

// fifoCache maps SHA-256 digests to values until an expiry. It is bounded; when full, the
// oldest entry goes (first in, first out), so a flood of distinct keys can only cycle it,
// never grow it.
type fifoCache[V any] struct {
	max     int
	entries map[[32]byte]fifoEntry[V]
	ring    [][32]byte
	next    int
}

type fifoEntry[V any] struct {
	value  V
	expiry time.Time
}

func newFIFOCache[V any](max int) *fifoCache[V] {
	return &fifoCache[V]{max: max, entries: make(map[[32]byte]fifoEntry[V])}
}

func (c *fifoCache[V]) get(key [32]byte, now time.Time) (V, time.Time, bool) {
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expiry) {
		var zero V
		return zero, time.Time{}, false
	}
	return e.value, e.expiry, true
}

func (c *fifoCache[V]) put(key [32]byte, value V, expiry time.Time) {
	if _, ok := c.entries[key]; !ok {
		if len(c.ring) < c.max {
			c.ring = append(c.ring, key)
		} else {
			delete(c.entries, c.ring[c.next])
			c.ring[c.next] = key
			c.next = (c.next + 1) % c.max
		}
	}
	c.entries[key] = fifoEntry[V]{value: value, expiry: expiry}
}

func (c *fifoCache[V]) len() int { return len(c.entries) }
