package oidc

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Purposes bind a sealed value to its use through the AEAD's additional data: a value sealed
// for one purpose fails to open as another, so a state cookie can never be replayed as a
// session (or the reverse), even though both are sealed under the same key.
const (
	PurposeSession = "session"
	PurposeState   = "state"
)

var (
	// ErrSealInvalid is the one error for every sealed value that is not authentic or not
	// well-formed: wrong key, tampering, truncation, bad base64, another purpose, another
	// version. A single error gives an attacker no oracle to tell these apart.
	ErrSealInvalid = errors.New("oidc: sealed value invalid")
	// ErrSealExpired means the value is authentic but its sealed expiry has passed. It is
	// only reported after authentication, so it reveals nothing about forged input.
	ErrSealExpired = errors.New("oidc: sealed value expired")
)

const (
	sealVersion    byte = 1
	sealAADPrefix       = "oidc-wasm/v1/"
	sealKeySize         = chacha20poly1305.KeySize
	sealNonceSize       = chacha20poly1305.NonceSizeX
	sealExpirySize      = 8
	sealHeaderSize      = 1 + sealNonceSize
	sealMinRawSize      = sealHeaderSize + sealExpirySize + chacha20poly1305.Overhead
	// sealMaxEncoded bounds the work Open does on attacker input. The largest legitimate
	// value is a session split over every allowed cookie chunk; anything longer is refused
	// before it is decoded.
	sealMaxEncoded = 64 << 10
)

// Sealer seals and opens cookie values with XChaCha20-Poly1305.
//
// The wire form is base64url (no padding) of: version byte 1 || 24-byte random nonce ||
// ciphertext of (8-byte big-endian unix expiry || payload), with additional data
// "oidc-wasm/v1/" + purpose. XChaCha20 is used because its 192-bit nonces can be drawn at
// random for any number of cookies under one long-lived key shared by every Envoy, which
// AES-GCM's 96-bit nonces cannot. The expiry is inside the ciphertext so a client cannot
// extend a cookie's life by editing it, whatever Max-Age its browser was told.
//
// A Sealer is immutable after construction and safe to share.
type Sealer struct {
	// aeads[0] seals; all of them are tried, in order, to open.
	aeads []cipher.AEAD
}

// NewSealer returns a Sealer for one 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	return NewKeyring(key)
}

// NewKeyring returns a Sealer that seals with primary and opens values sealed with primary
// or any of previous. This lets operators rotate the key without logging everyone out: add
// the new key as primary, keep the old one as previous for one session lifetime, then drop
// it. Every key must be exactly 32 bytes.
func NewKeyring(primary []byte, previous ...[]byte) (*Sealer, error) {
	keys := append([][]byte{primary}, previous...)
	s := &Sealer{aeads: make([]cipher.AEAD, 0, len(keys))}
	for i, k := range keys {
		if len(k) != sealKeySize {
			return nil, fmt.Errorf("oidc: sealing key %d is %d bytes, want %d", i, len(k), sealKeySize)
		}
		aead, err := chacha20poly1305.NewX(k)
		if err != nil {
			return nil, fmt.Errorf("oidc: sealing key %d: %w", i, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// Seal encrypts and authenticates payload for purpose, valid until expiry (second
// precision). random supplies the nonce and must be a cryptographic source such as
// crypto/rand.Reader: a repeated nonce under one key breaks confidentiality and integrity.
func (s *Sealer) Seal(random io.Reader, purpose string, expiry time.Time, payload []byte) (string, error) {
	if s == nil || len(s.aeads) == 0 {
		return "", errors.New("oidc: seal: sealer has no key")
	}
	if purpose == "" {
		return "", errors.New("oidc: seal: empty purpose")
	}
	// One buffer holds header, plaintext and tag: the AEAD encrypts in place.
	n := sealHeaderSize + sealExpirySize + len(payload)
	buf := make([]byte, n, n+chacha20poly1305.Overhead)
	buf[0] = sealVersion
	nonce := buf[1:sealHeaderSize]
	if _, err := io.ReadFull(random, nonce); err != nil {
		return "", fmt.Errorf("oidc: seal: reading nonce: %w", err)
	}
	binary.BigEndian.PutUint64(buf[sealHeaderSize:], uint64(expiry.Unix()))
	copy(buf[sealHeaderSize+sealExpirySize:], payload)
	out := s.aeads[0].Seal(buf[:sealHeaderSize], nonce, buf[sealHeaderSize:], sealAAD(purpose))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open authenticates and decrypts a value sealed for purpose. It returns ErrSealInvalid for
// every kind of inauthentic or malformed input, and ErrSealExpired when the value is
// authentic but now is at or past its expiry.
func (s *Sealer) Open(purpose, sealed string, now time.Time) ([]byte, error) {
	payload, _, err := s.OpenExpiry(purpose, sealed, now)
	return payload, err
}

// OpenExpiry is Open that also returns the sealed expiry, so a caller can renew a value
// (sliding idle timeouts) only when it is due rather than on every use.
func (s *Sealer) OpenExpiry(purpose, sealed string, now time.Time) ([]byte, time.Time, error) {
	if s == nil || len(s.aeads) == 0 || purpose == "" {
		return nil, time.Time{}, ErrSealInvalid
	}
	if len(sealed) > sealMaxEncoded || !IsBase64URL(sealed) {
		return nil, time.Time{}, ErrSealInvalid
	}
	aad := sealAAD(purpose)
	for _, aead := range s.aeads {
		// Decoded for each key: the open below works in place (opening a session cookie is
		// on the path of a browser's first request to a VM, and in a TinyGo module every
		// allocated kilobyte costs microseconds), and a failed open zeroes its output.
		// Strict decoding refuses non-zero trailing bits, so each value has one encoding; the
		// alphabet check above already refused the CR/LF the decoder would otherwise skip.
		raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
		if err != nil || len(raw) < sealMinRawSize || raw[0] != sealVersion {
			return nil, time.Time{}, ErrSealInvalid
		}
		nonce, ciphertext := raw[1:sealHeaderSize], raw[sealHeaderSize:]
		plain, err := aead.Open(ciphertext[:0], nonce, ciphertext, aad)
		if err != nil {
			continue
		}
		expiry := int64(binary.BigEndian.Uint64(plain[:sealExpirySize]))
		if now.Unix() >= expiry {
			return nil, time.Time{}, ErrSealExpired
		}
		return plain[sealExpirySize:], time.Unix(expiry, 0), nil
	}
	return nil, time.Time{}, ErrSealInvalid
}

func sealAAD(purpose string) []byte {
	return []byte(sealAADPrefix + purpose)
}
