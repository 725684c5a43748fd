package oidc

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// cookiePairEndBytewise is the definition cookiePairEnd must match: byte by byte.
func cookiePairEndBytewise(h string) (int, bool) {
	controls := false
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == ';':
			return i, controls
		case c < 0x20 || c == 0x7f:
			controls = true
		}
	}
	return len(h), controls
}

// The word-at-a-time scan finds the same end and the same control characters as the plain
// loop, for every byte value at every offset of a word and in random strings rich in the
// bytes the scan looks for and the ones next to them.
func TestCookiePairEndMatchesBytewise(t *testing.T) {
	check := func(h string) {
		t.Helper()
		if len(h) >= 8 {
			w := h[:8]
			_, special := cookiePairEndBytewise(w)
			special = special || strings.IndexByte(w, ';') >= 0
			if plainWord(w) == special {
				t.Fatalf("plainWord(%q) = %v, want %v", w, special, !special)
			}
		}
		end, controls := cookiePairEnd(h)
		wantEnd, wantControls := cookiePairEndBytewise(h)
		if end != wantEnd || controls != wantControls {
			t.Fatalf("cookiePairEnd(%q) = %d, %v; want %d, %v", h, end, controls, wantEnd, wantControls)
		}
	}
	for b := 0; b < 256; b++ {
		for pos := 0; pos < 17; pos++ {
			buf := []byte("abcdefghABCDEFGH0123456789")
			buf[pos] = byte(b)
			check(string(buf))
		}
	}
	interesting := []byte{';', ':', '<', 0x1f, 0x20, 0x21, 0x00, 0x01, 0x7e, 0x7f, 0x80, 0x81, 0xff, 'a', '=', '\t', ' '}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		buf := make([]byte, rng.IntN(40))
		for i := range buf {
			if rng.IntN(4) == 0 {
				buf[i] = interesting[rng.IntN(len(interesting))]
			} else {
				buf[i] = 'A' + byte(rng.IntN(26))
			}
		}
		check(string(buf))
	}
}
