package oidc_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// sealTestKey is the fixed key of the seal tests and fuzz corpus: values in
// testdata/fuzz/FuzzOpenSealed were sealed with it.
func sealTestKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func sealOtherKey() []byte {
	k := sealTestKey()
	k[0] ^= 0xff
	return k
}

// sealCounterReader is a deterministic "random" source: byte i is seed+i. Tests use it so
// sealed values are reproducible.
type sealCounterReader struct{ next byte }

func (r *sealCounterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

var sealTestNow = time.Unix(1_700_000_000, 0)

func mustSealer(t testing.TB, key []byte) *oidc.Sealer {
	t.Helper()
	s, err := oidc.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func mustSeal(t testing.TB, s *oidc.Sealer, purpose string, expiry time.Time, payload []byte) string {
	t.Helper()
	v, err := s.Seal(rand.Reader, purpose, expiry, payload)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return v
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	for _, size := range []int{0, 1, 31, 600, 4096, 30000} {
		payload := bytes.Repeat([]byte{0xa5}, size)
		for _, purpose := range []string{oidc.PurposeSession, oidc.PurposeState, "other"} {
			v := mustSeal(t, s, purpose, sealTestNow.Add(time.Hour), payload)
			got, err := s.Open(purpose, v, sealTestNow)
			if err != nil {
				t.Fatalf("size %d purpose %s: Open: %v", size, purpose, err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("size %d purpose %s: payload changed", size, purpose)
			}
		}
	}
}

// TestSealWireFormat decrypts a sealed value by hand, pinning the documented layout so
// another implementation (or a later version) can read it.
func TestSealWireFormat(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	expiry := time.Unix(1_800_000_000, 999_000_000)
	payload := []byte("hello")
	v, err := s.Seal(&sealCounterReader{next: 7}, oidc.PurposeSession, expiry, payload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(v, "=+/") {
		t.Fatalf("not unpadded base64url: %q", v)
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 24 + 8 + len(payload) + 16; len(raw) != want {
		t.Fatalf("len %d, want %d", len(raw), want)
	}
	if raw[0] != 1 {
		t.Fatalf("version byte %d, want 1", raw[0])
	}
	for i := 0; i < 24; i++ {
		if raw[1+i] != byte(7+i) {
			t.Fatalf("nonce byte %d is %d, want the reader's %d", i, raw[1+i], 7+i)
		}
	}
	aead, err := chacha20poly1305.NewX(sealTestKey())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := aead.Open(nil, raw[1:25], raw[25:], []byte("oidc-wasm/v1/session"))
	if err != nil {
		t.Fatalf("manual decryption: %v", err)
	}
	if got := int64(binary.BigEndian.Uint64(plain[:8])); got != expiry.Unix() {
		t.Fatalf("expiry %d, want %d", got, expiry.Unix())
	}
	if !bytes.Equal(plain[8:], payload) {
		t.Fatalf("payload %q", plain[8:])
	}
}

func TestSealNoncesDiffer(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	a := mustSeal(t, s, oidc.PurposeSession, sealTestNow.Add(time.Hour), []byte("same"))
	b := mustSeal(t, s, oidc.PurposeSession, sealTestNow.Add(time.Hour), []byte("same"))
	if a == b {
		t.Fatal("two seals of the same payload are equal: nonce reused")
	}
}

func TestOpenTamperEveryByte(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	v := mustSeal(t, s, oidc.PurposeSession, sealTestNow.Add(time.Hour), []byte("payload under test"))
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(raw)
			b[i] ^= mask
			tampered := base64.RawURLEncoding.EncodeToString(b)
			if _, err := s.Open(oidc.PurposeSession, tampered, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
				t.Fatalf("byte %d ^ %#x: err %v, want ErrSealInvalid", i, mask, err)
			}
		}
	}
	// Every character of the text form, replaced by each other alphabet character, including
	// changes that only touch the unused low bits of the last character.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range v {
		for _, c := range []byte(alphabet) {
			if c == v[i] {
				continue
			}
			tampered := v[:i] + string(c) + v[i+1:]
			if _, err := s.Open(oidc.PurposeSession, tampered, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
				t.Fatalf("char %d -> %q: err %v, want ErrSealInvalid", i, c, err)
			}
		}
	}
}

func TestOpenTruncatedAndExtended(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	v := mustSeal(t, s, oidc.PurposeState, sealTestNow.Add(time.Hour), []byte("x"))
	for n := 0; n < len(v); n++ {
		if _, err := s.Open(oidc.PurposeState, v[:n], sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
			t.Fatalf("prefix %d: err %v, want ErrSealInvalid", n, err)
		}
	}
	for _, suffix := range []string{"A", "AA", "AAAA", "=", "==", "\n", " ", ".", "%3D"} {
		if _, err := s.Open(oidc.PurposeState, v+suffix, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
			t.Fatalf("suffix %q: err %v, want ErrSealInvalid", suffix, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	exp := sealTestNow.Add(time.Hour)
	session := mustSeal(t, s, oidc.PurposeSession, exp, []byte("p"))
	other := mustSeal(t, mustSealer(t, sealOtherKey()), oidc.PurposeSession, exp, []byte("p"))
	raw, _ := base64.RawURLEncoding.DecodeString(session)
	v2 := bytes.Clone(raw)
	v2[0] = 2
	mid := len(session) / 2
	cases := []struct {
		name, purpose, value string
	}{
		{"purpose swap", oidc.PurposeState, session},
		{"purpose prefix", "sessio", session},
		{"purpose extended", "session/", session},
		{"empty purpose", "", session},
		{"wrong key", oidc.PurposeSession, other},
		{"other version", oidc.PurposeSession, base64.RawURLEncoding.EncodeToString(v2)},
		{"empty", oidc.PurposeSession, ""},
		{"padded base64", oidc.PurposeSession, base64.URLEncoding.EncodeToString(raw)},
		{"standard alphabet", oidc.PurposeSession, strings.NewReplacer("-", "+", "_", "/").Replace(session) + "+/"},
		{"newline inside", oidc.PurposeSession, session[:mid] + "\n" + session[mid:]},
		{"CR inside", oidc.PurposeSession, session[:mid] + "\r" + session[mid:]},
		{"space inside", oidc.PurposeSession, session[:mid] + " " + session[mid:]},
		{"quoted", oidc.PurposeSession, `"` + session + `"`},
		{"huge", oidc.PurposeSession, strings.Repeat("A", 70000)},
		{"minimum length minus one", oidc.PurposeSession, base64.RawURLEncoding.EncodeToString(raw[:1+24+8+16-1])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Open(tc.purpose, tc.value, sealTestNow)
			if !errors.Is(err, oidc.ErrSealInvalid) || got != nil {
				t.Fatalf("got %q, %v; want ErrSealInvalid", got, err)
			}
		})
	}
}

func TestOpenExpiry(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	exp := sealTestNow.Add(10 * time.Minute)
	v := mustSeal(t, s, oidc.PurposeState, exp, []byte("p"))
	cases := []struct {
		now  time.Time
		want error
	}{
		{sealTestNow, nil},
		{exp.Add(-time.Second), nil},
		{exp.Add(-time.Nanosecond), nil},
		{exp, oidc.ErrSealExpired},
		{exp.Add(time.Second), oidc.ErrSealExpired},
		{exp.Add(1000 * time.Hour), oidc.ErrSealExpired},
	}
	for _, tc := range cases {
		got, err := s.Open(oidc.PurposeState, v, tc.now)
		if !errors.Is(err, tc.want) {
			t.Errorf("now=exp%+v: err %v, want %v", tc.now.Sub(exp), err, tc.want)
		}
		if tc.want != nil && got != nil {
			t.Errorf("now=exp%+v: payload returned with an error", tc.now.Sub(exp))
		}
	}
	// Authenticity is checked before expiry: an expired value under the wrong purpose, or
	// tampered, is invalid, not expired, so forgeries learn nothing.
	if _, err := s.Open(oidc.PurposeSession, v, exp.Add(time.Hour)); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Errorf("expired and wrong purpose: %v, want ErrSealInvalid", err)
	}
	last := "A"
	if v[len(v)-1] == 'A' {
		last = "B" // the tamper must change the value whatever the random nonce made it
	}
	if _, err := s.Open(oidc.PurposeState, v[:len(v)-1]+last, exp.Add(time.Hour)); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Errorf("expired and tampered: %v, want ErrSealInvalid", err)
	}
	// Expiries before 1970 encode as negative seconds and still work.
	old := mustSeal(t, s, oidc.PurposeState, time.Unix(-100, 0), []byte("p"))
	if _, err := s.Open(oidc.PurposeState, old, time.Unix(-200, 0)); err != nil {
		t.Errorf("negative expiry: %v", err)
	}
	if _, err := s.Open(oidc.PurposeState, old, time.Unix(-100, 0)); !errors.Is(err, oidc.ErrSealExpired) {
		t.Errorf("negative expiry reached: %v", err)
	}
}

func TestKeyring(t *testing.T) {
	oldKey, newKey, unknownKey := sealTestKey(), sealOtherKey(), bytes.Repeat([]byte{9}, 32)
	oldSealer := mustSealer(t, oldKey)
	ring, err := oidc.NewKeyring(newKey, unknownKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	exp := sealTestNow.Add(time.Hour)
	fromOld := mustSeal(t, oldSealer, oidc.PurposeSession, exp, []byte("old"))
	if got, err := ring.Open(oidc.PurposeSession, fromOld, sealTestNow); err != nil || string(got) != "old" {
		t.Fatalf("keyring cannot open a value of a previous key: %q, %v", got, err)
	}
	fromRing := mustSeal(t, ring, oidc.PurposeSession, exp, []byte("new"))
	if _, err := oldSealer.Open(oidc.PurposeSession, fromRing, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Fatalf("keyring did not seal with the primary key: %v", err)
	}
	if got, err := mustSealer(t, newKey).Open(oidc.PurposeSession, fromRing, sealTestNow); err != nil || string(got) != "new" {
		t.Fatalf("primary alone cannot open the keyring's value: %q, %v", got, err)
	}
	// Expiry is reported for old-key values too, and purposes still bind.
	if _, err := ring.Open(oidc.PurposeSession, fromOld, exp); !errors.Is(err, oidc.ErrSealExpired) {
		t.Fatalf("expired old-key value: %v", err)
	}
	if _, err := ring.Open(oidc.PurposeState, fromOld, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Fatalf("old-key value under another purpose: %v", err)
	}
	// Dropping the old key retires its values.
	retired, err := oidc.NewKeyring(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retired.Open(oidc.PurposeSession, fromOld, sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Fatalf("retired key still opens: %v", err)
	}
}

func TestNewSealerKeySizes(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if _, err := oidc.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
		if _, err := oidc.NewKeyring(make([]byte, 32), make([]byte, n)); err == nil {
			t.Errorf("NewKeyring accepted a %d-byte previous key", n)
		}
	}
	if _, err := oidc.NewSealer(nil); err == nil {
		t.Error("NewSealer accepted a nil key")
	}
}

func TestSealErrors(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	exp := sealTestNow.Add(time.Hour)
	if _, err := s.Seal(strings.NewReader("short"), oidc.PurposeSession, exp, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short random source: %v", err)
	}
	if _, err := s.Seal(rand.Reader, "", exp, nil); err == nil {
		t.Error("empty purpose accepted")
	}
	var zero oidc.Sealer
	if _, err := zero.Seal(rand.Reader, oidc.PurposeSession, exp, nil); err == nil {
		t.Error("zero Sealer sealed")
	}
	if _, err := zero.Open(oidc.PurposeSession, mustSeal(t, s, oidc.PurposeSession, exp, nil), sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Errorf("zero Sealer opened: %v", err)
	}
	var nilSealer *oidc.Sealer
	if _, err := nilSealer.Open(oidc.PurposeSession, "x", sealTestNow); !errors.Is(err, oidc.ErrSealInvalid) {
		t.Errorf("nil Sealer: %v", err)
	}
}

func TestSealPayloadNotAliased(t *testing.T) {
	s := mustSealer(t, sealTestKey())
	payload := []byte("original")
	v := mustSeal(t, s, oidc.PurposeSession, sealTestNow.Add(time.Hour), payload)
	copy(payload, "XXXXXXXX")
	got, err := s.Open(oidc.PurposeSession, v, sealTestNow)
	if err != nil || string(got) != "original" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func BenchmarkSealOpenSession(b *testing.B) {
	s := mustSealer(b, sealTestKey())
	payload := bytes.Repeat([]byte("c"), 600)
	exp := sealTestNow.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		v, err := s.Seal(rand.Reader, oidc.PurposeSession, exp, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(oidc.PurposeSession, v, sealTestNow); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOpenExpiryReturnsSealedExpiry(t *testing.T) {
	s, err := oidc.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	sealed, err := s.Seal(rand.Reader, oidc.PurposeSession, now.Add(time.Hour), []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	payload, expiry, err := s.OpenExpiry(oidc.PurposeSession, sealed, now)
	if err != nil || string(payload) != "p" || !expiry.Equal(now.Add(time.Hour)) {
		t.Errorf("OpenExpiry = %q, %v, %v", payload, expiry, err)
	}
	if _, expiry, err := s.OpenExpiry(oidc.PurposeSession, sealed, now.Add(2*time.Hour)); err != oidc.ErrSealExpired || !expiry.IsZero() {
		t.Errorf("expired: %v, %v", expiry, err)
	}
}
