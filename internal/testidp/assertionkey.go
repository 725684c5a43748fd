package testidp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// AssertionKeyPEM is a signing key for the plugin's assertion_key, as operators give it (PEM,
// PKCS#8): Ed25519 for alg "EdDSA", P-256 for "ES256". It comes from a constant seed, so a
// test's keys, and what they sign, stay the same from run to run.
func AssertionKeyPEM(alg string, seed byte) (string, error) {
	var key any = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	if alg == "ES256" {
		ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), append([]byte{0}, bytes.Repeat([]byte{seed}, 31)...))
		if err != nil {
			return "", fmt.Errorf("assertion key: %w", err)
		}
		key = ec
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("assertion key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
