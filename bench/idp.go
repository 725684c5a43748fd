package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// idp mints tokens natively, with an RSA and an EC key. The emulator's modules get them from
// memory, dated from its fixed clock; the host's reach it over loopback HTTP (serve), dated
// from the real clock.
type idp struct {
	rsa, ec jwk.Key
	jwks    string

	mu      sync.Mutex
	answers map[string][]byte // token answers by code, for the host's callbacks
}

func newIdP() *idp {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	i := &idp{answers: map[string][]byte{}}
	set := jwk.NewSet()
	for kid, raw := range map[string]any{"rsa": rk, "ec": ek} {
		k, err := jwk.FromRaw(raw)
		check(err)
		_ = k.Set(jwk.KeyIDKey, kid)
		pub, err := k.PublicKey()
		check(err)
		_ = set.AddKey(pub)
		if kid == "rsa" {
			i.rsa = k
		} else {
			i.ec = k
		}
	}
	b, _ := json.Marshal(set)
	i.jwks = string(b)
	return i
}

// token signs a token for iss and aud, issued at now and valid for three days.
func (i *idp) token(iss string, now time.Time, alg jwa.SignatureAlgorithm, aud, nonce, sub string) string {
	claims := map[string]any{"iss": iss, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(72 * time.Hour).Unix(),
		"email": sub + "@example.com", "email_verified": true, "name": "Alice Example", "groups": []string{"dev", "ops"}}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	key := i.rsa
	if alg == jwa.ES256 {
		key = i.ec
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key))
	check(err)
	return string(signed)
}

// tokenAnswer is a token endpoint's answer to a login: ID token, access token, refresh token.
func (i *idp) tokenAnswer(iss string, now time.Time, nonce, sub string) []byte {
	answer, _ := json.Marshal(map[string]any{
		"access_token": i.token(iss, now, jwa.RS256, "api", "", sub), "token_type": "Bearer", "expires_in": 72 * 3600,
		"refresh_token": "rt-" + sub + "-" + randomHex(16), "id_token": i.token(iss, now, jwa.RS256, clientID, nonce, sub),
	})
	return answer
}

func (i *idp) discovery(iss string) string {
	b, _ := json.Marshal(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize",
		"token_endpoint": iss + "/token", "jwks_uri": iss + "/keys", "response_types_supported": []string{"code"}})
	return string(b)
}

// expect registers the token answer for a code the next callback will present.
func (i *idp) expect(code string, answer []byte) {
	i.mu.Lock()
	i.answers[code] = answer
	i.mu.Unlock()
}

// serve answers discovery, the JWKS and the token endpoint (from the answers expected) on a
// loopback port; it returns the issuer and the cluster address.
func (i *idp) serve() (issuer, addr string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr = l.Addr().String()
	issuer = "http://" + addr
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, i.discovery(issuer))
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, i.jwks)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		i.mu.Lock()
		answer, ok := i.answers[r.PostForm.Get("code")]
		delete(i.answers, r.PostForm.Get("code"))
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		_, _ = w.Write(answer)
	})
	go func() { _ = http.Serve(l, mux) }()
	return issuer, addr
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
