package oidc_test

// Fuzz targets for everything that reads attacker-controlled bytes. Besides "never panics"
// each checks a property; seeds are added with f.Add and checked in under
// testdata/fuzz/<Name>/. Run one with, for example:
//
//	go test ./oidc -run='^$' -fuzz=FuzzSafeRedirect -fuzztime=20s

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// fuzzSealed is one value the fuzz setup sealed with sealTestKey.
type fuzzSealed struct {
	purpose string
	payload string
	expiry  time.Time
}

// fuzzSealedValues seals a few payloads with the test key and deterministic nonces (so the
// checked-in corpus holds the same strings) and returns them by sealed text.
func fuzzSealedValues(tb testing.TB) map[string]fuzzSealed {
	s := mustSealer(tb, sealTestKey())
	items := []fuzzSealed{
		{oidc.PurposeSession, "session payload", sealTestNow.Add(time.Hour)},
		{oidc.PurposeState, "state payload", sealTestNow.Add(10 * time.Minute)},
		{oidc.PurposeSession, "", sealTestNow.Add(time.Hour)},
		{oidc.PurposeSession, "expired", sealTestNow},
	}
	out := map[string]fuzzSealed{}
	for i, it := range items {
		v, err := s.Seal(&sealCounterReader{next: byte(i * 40)}, it.purpose, it.expiry, []byte(it.payload))
		if err != nil {
			tb.Fatal(err)
		}
		out[v] = it
	}
	return out
}

// TestOpenSealedCorpus keeps the checked-in FuzzOpenSealed corpus meaningful: its genuine-*
// files must be exactly the values fuzzSealedValues seals, so the fuzz target's success and
// expiry branches are exercised by every plain `go test`.
func TestOpenSealedCorpus(t *testing.T) {
	known := fuzzSealedValues(t)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpenSealed", "genuine-*"))
	if err != nil || len(files) != len(known) {
		t.Fatalf("%d genuine corpus files (%v), want %d", len(files), err, len(known))
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, _ := strings.Cut(strings.TrimSpace(string(b)), "string(")
		v, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := known[v]; !ok {
			t.Errorf("%s holds %q, which the fuzz setup does not seal", name, v)
		}
	}
}

func FuzzOpenSealed(f *testing.F) {
	known := fuzzSealedValues(f)
	for v := range known {
		f.Add(v)
		f.Add(v[:len(v)-1])
		f.Add(v + "A")
	}
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("A", 66))
	s := mustSealer(f, sealTestKey())
	f.Fuzz(func(t *testing.T, sealed string) {
		for _, purpose := range []string{oidc.PurposeSession, oidc.PurposeState} {
			got, err := s.Open(purpose, sealed, sealTestNow)
			k, isKnown := known[sealed]
			switch {
			case err == nil:
				if !isKnown || k.purpose != purpose || string(got) != k.payload || !sealTestNow.Before(k.expiry) {
					t.Fatalf("Open(%q, %q) succeeded on a value the test did not seal so: %q", purpose, sealed, got)
				}
			case errors.Is(err, oidc.ErrSealExpired):
				if !isKnown || k.purpose != purpose || sealTestNow.Before(k.expiry) {
					t.Fatalf("Open(%q, %q) reported expiry for a value that is not authentic and expired", purpose, sealed)
				}
			case errors.Is(err, oidc.ErrSealInvalid):
				if isKnown && k.purpose == purpose {
					t.Fatalf("Open(%q, %q) refused a genuine value: %v", purpose, sealed, err)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			if err != nil && got != nil {
				t.Fatal("payload returned with an error")
			}
		}
	})
}

func FuzzUnmarshalSession(f *testing.F) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u"}`))
	for _, s := range []oidc.Session{
		{Claims: []byte(`{}`)},
		{Claims: []byte(`{"sub":"u","groups":["a","b"]}`), IDToken: "h.p.s", AccessToken: "at", RefreshToken: "rt", IssuedAt: sealTestNow, TokenExpiry: sealTestNow.Add(time.Hour)},
		{Claims: []byte(`{"sub":"u"}`), IDToken: "e30." + payload + ".c2ln", AccessToken: "e30.e30.c2ln", IssuedAt: sealTestNow},
	} {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x21, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x21, 2, '{', '}', 1, 'i', 0, 1, 'r', 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s oidc.Session
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, oidc.ErrBadEncoding) {
				t.Fatalf("error %v does not wrap ErrBadEncoding", err)
			}
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded session does not encode: %v", err)
		}
		// The encoding is canonical: what decodes re-encodes to the same bytes. A session in
		// the first layout (0x21) re-encodes in the current one, to the same session.
		if data[0] == 0x21 {
			var out oidc.Session
			if err := out.UnmarshalBinary(again); err != nil || !sessionEqual(out, s) {
				t.Fatalf("first layout does not convert: %+v, %v", out, err)
			}
			return
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in % x\nout % x", data, again)
		}
	})
}

func FuzzUnmarshalLoginState(f *testing.F) {
	for _, s := range []oidc.LoginState{{}, {State: "s", Nonce: "n", CodeVerifier: "v", ReturnTo: "/app?x=1"}} {
		b, _ := s.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{0x11, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s oidc.LoginState
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, oidc.ErrBadEncoding) {
				t.Fatalf("error %v does not wrap ErrBadEncoding", err)
			}
			return
		}
		again, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("not canonical (%v):\n in % x\nout % x", err, data, again)
		}
	})
}

func FuzzParseCallback(f *testing.F) {
	for _, q := range []string{
		"code=abc&state=xyz", "error=access_denied&error_description=no", "code=a&code=b&state=s",
		"code=%zz&state=s", "code=c;state=s", "state=s&code=" + strings.Repeat("c", 2048), "",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cb, err := oidc.ParseCallback(q)
		var ce *oidc.CallbackError
		switch {
		case err == nil:
			for _, v := range []string{cb.Code, cb.State} {
				if v == "" || len(v) > 2048 || !printableASCII(v) {
					t.Fatalf("accepted value %q", v)
				}
			}
			vals, perr := url.ParseQuery(q)
			if perr != nil || len(vals["code"]) != 1 || len(vals["state"]) != 1 || vals.Has("error") {
				t.Fatalf("accepted a query that is not exactly one code and state: %q", q)
			}
		case errors.As(err, &ce):
			if len(ce.Code) > 128 || len(ce.Description) > 512 || !printableASCII(ce.Code) || !printableASCII(ce.Description) ||
				strings.ContainsAny(ce.Code+ce.Description, "\"\\") {
				t.Fatalf("unsanitised CallbackError %+v", ce)
			}
		case !errors.Is(err, oidc.ErrBadCallback):
			t.Fatalf("error %v does not wrap ErrBadCallback", err)
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func FuzzSafeRedirect(f *testing.F) {
	for _, s := range evilReturnPaths {
		f.Add(s)
	}
	for _, s := range []string{
		"/", "/app?x=1", "/a/b#frag", "https://app.example.com/x", "https://a.corp.example/",
		"https://api.example.com:8443/", "https://evil.com\\@app.example.com", "https://[::1]:9000/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, ok := oidc.SafeRedirect(raw, redirectTestAllowed); ok {
			if p := redirectProblem(got, redirectTestAllowed); p != "" {
				t.Fatalf("SafeRedirect(%q) = %q: %s", raw, got, p)
			}
			if again, ok := oidc.SafeRedirect(got, redirectTestAllowed); !ok || again != got {
				t.Fatalf("SafeRedirect not idempotent on %q: %q, %v", got, again, ok)
			}
		}
		if got, ok := oidc.SafeReturnPath(raw); ok {
			if p := redirectProblem(got, nil); p != "" {
				t.Fatalf("SafeReturnPath(%q) = %q: %s", raw, got, p)
			}
			if startsOffSite(got) {
				t.Fatalf("SafeReturnPath(%q) = %q decodes to another site", raw, got)
			}
			if !strings.HasPrefix(raw, got) || strings.Contains(got, "#") {
				t.Fatalf("SafeReturnPath(%q) = %q is not raw without its fragment", raw, got)
			}
		}
	})
}

func FuzzParseCookies(f *testing.F) {
	for _, h := range []string{
		"a=b; c=d", `s="q"; s=x;;; =; k`, "  a = b ;\tc=d\t", "sess_0=x; sess_1=y; sess=z",
		"a=\x00; b=\xff", strings.Repeat("c=v; ", 300),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		cookies := oidc.ParseCookies([]string{h, h})
		if len(cookies) > 200 {
			t.Fatalf("%d cookies", len(cookies))
		}
		for _, c := range cookies {
			if c.Name == "" || strings.ContainsAny(c.Name, " \t;=,\"") || strings.ContainsRune(c.Value, ';') ||
				strings.Trim(c.Value, " \t") != c.Value {
				t.Fatalf("bad cookie %q", c)
			}
			for i := 0; i < len(c.Value); i++ {
				if b := c.Value[i]; b < 0x20 || b == 0x7f {
					t.Fatalf("control byte in cookie %q", c)
				}
			}
		}
		// What StripCookies writes parses back to the same cookies (when the rebuilt header,
		// with its "; " separators, stays inside the parser's 64 KiB budget).
		if len(cookies) > 0 && 2*len(h)+2*len(cookies) < 64<<10 {
			rebuilt := oidc.StripCookies(cookies, func(string) bool { return false })
			if again := oidc.ParseCookies([]string{rebuilt}); !reflect.DeepEqual(again, cookies) {
				t.Fatalf("round trip:\n%q\n%q", cookies, again)
			}
		}
		checked := map[string]bool{}
		for _, c := range cookies {
			if checked[c.Name] {
				continue
			}
			checked[c.Name] = true
			if values := oidc.CookieValues(cookies, c.Name); len(values) == 0 || values[0] != c.Value {
				t.Fatalf("CookieValues(%q) = %q", c.Name, values)
			}
			for _, joined := range oidc.CookieCandidates(cookies, c.Name) {
				if len(joined) > 8*oidc.MaxCookieValue {
					t.Fatalf("CookieCandidates returned %d bytes", len(joined))
				}
			}
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"at","id_token":"it","token_type":"Bearer","expires_in":3600}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"expired"}`))
	f.Add(200, []byte(`{"access_token":"at","expires_in":"12"}`))
	f.Add(500, []byte(`<html>`))
	f.Add(200, []byte(`{"access_token":1}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		tr, err := oidc.ParseTokenResponse(status, body)
		var te *oidc.TokenError
		switch {
		case err == nil:
			if status != 200 || tr.AccessToken == "" || tr.ExpiresIn < 0 {
				t.Fatalf("accepted status %d: %+v", status, tr)
			}
			if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
				t.Fatalf("accepted token_type %q", tr.TokenType)
			}
		case errors.As(err, &te):
			if te.Status != status || te.Code == "" || !printableASCII(te.Code) || !printableASCII(te.Description) {
				t.Fatalf("bad TokenError %+v", te)
			}
		case !errors.Is(err, oidc.ErrBadTokenResponse):
			t.Fatalf("error %v wraps neither", err)
		}
		if err != nil && tr != nil {
			t.Fatal("response returned with an error")
		}
	})
}

// FuzzLoginFlow runs a whole login through the package without I/O: authorization request,
// sealed state cookie carried by a Cookie header, callback parsing and state comparison,
// with fuzzed randomness, return path, code and an attacker's state. A login completes only
// with the genuine state, and what comes back is what went in.
func FuzzLoginFlow(f *testing.F) {
	f.Add([]byte("seed"), "/app?x=1", "code-123", "forged")
	f.Add([]byte{0}, "//evil.com", "c", "")
	f.Add([]byte("x"), "/a/b#frag", strings.Repeat("c", 3000), "s")
	s := mustSealer(f, sealTestKey())
	f.Fuzz(func(t *testing.T, seed []byte, returnTo, code, forged string) {
		if len(seed) == 0 {
			return
		}
		random := bytes.NewReader(bytes.Repeat(seed, 120/len(seed)+1)) // 96 for the request, 24 for the nonce
		ar, err := oidc.NewAuthRequest(random, "https://idp.example.com/auth?tenant=t", "client", "https://site.example/callback", []string{"email"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		safe, ok := oidc.SafeReturnPath(returnTo)
		if !ok {
			safe = "/"
		}
		st := oidc.LoginState{State: ar.State, Nonce: ar.Nonce, CodeVerifier: ar.CodeVerifier, ReturnTo: safe}
		plain, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := s.Seal(random, oidc.PurposeState, sealTestNow.Add(10*time.Minute), plain)
		if err != nil {
			t.Fatal(err)
		}
		setCookie := oidc.FormatCookie("oidc_state", sealed, 600, oidc.CookieOptions{Secure: true})
		pair, _, _ := strings.Cut(setCookie, ";")
		cookies := oidc.ParseCookies([]string{"app=1; " + pair + "; other=2"})
		values := oidc.CookieValues(cookies, "oidc_state")
		if len(values) != 1 {
			t.Fatalf("state cookie lost in %q", setCookie)
		}
		value := values[0]
		opened, err := s.Open(oidc.PurposeState, value, sealTestNow.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var back oidc.LoginState
		if err := back.UnmarshalBinary(opened); err != nil || back != st {
			t.Fatalf("state changed: %+v, %v", back, err)
		}
		if _, err := s.Open(oidc.PurposeSession, value, sealTestNow); err == nil {
			t.Fatal("state cookie opened as a session")
		}

		query := url.Values{"code": {code}, "state": {ar.State}}.Encode()
		cb, err := oidc.ParseCallback(query)
		codeOK := code != "" && len(code) <= 2048 && printableASCII(code) && len(query) <= 8<<10
		if (err == nil) != codeOK {
			t.Fatalf("ParseCallback(%q): %v", query, err)
		}
		if err == nil && (cb.Code != code || !oidc.EqualSecret(cb.State, back.State)) {
			t.Fatalf("callback %+v does not match", cb)
		}
		if forged != ar.State && oidc.EqualSecret(forged, back.State) {
			t.Fatalf("forged state %q accepted", forged)
		}
		if !utf8.ValidString(ar.URL) || strings.ContainsAny(ar.URL, " \r\n") {
			t.Fatalf("authorization URL %q", ar.URL)
		}
	})
}

// FuzzCookieCandidates reassembles chunked cookies from arbitrary Cookie headers: it must
// never panic, return more than 16 reassemblies, or return a value the browser does not hold
// in SplitCookie's layout: every candidate splits back into cookies that were sent.
func FuzzCookieCandidates(f *testing.F) {
	f.Add("s=abc")
	f.Add("s_0=" + strings.Repeat("a", oidc.MaxCookieValue) + "; s_1=b")
	f.Add("s_0=" + strings.Repeat("a", oidc.MaxCookieValue) + "; s_1=b; s_1=c; s=d")
	f.Add("s_1=b; s_0=a")
	f.Add("s=a; s_0=b")
	f.Add("s_0=a; s_2=c")
	f.Fuzz(func(t *testing.T, header string) {
		cookies := oidc.ParseCookies([]string{header})
		candidates := oidc.CookieCandidates(cookies, "s")
		if len(candidates) > len(oidc.CookieValues(cookies, "s"))+16 {
			t.Fatalf("%d candidates", len(candidates))
		}
		sent := map[oidc.Cookie]bool{}
		for _, c := range cookies {
			sent[c] = true
		}
		for _, value := range candidates {
			for _, c := range oidc.SplitCookie("s", value) {
				if !sent[oidc.Cookie{Name: c[0], Value: c[1]}] {
					t.Fatalf("candidate of %d bytes is not what the browser sent: no %s", len(value), c[0])
				}
			}
		}
	})
}
