package plugin

// The signed identity assertion (assertion_key, issue 15): no client-sent copy of its header
// reaches upstream, on any path the flow can take; only a verified identity gets one, and it
// never outlives the credential it asserts. SECURITY.md, G13.

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// A client cannot plant an assertion (oauth2-proxy CVE-2025-64484's class, for the signed
// header): every variant of the header is removed on every path; skip paths, preflights and
// passed-through bearer tokens reach upstream without one; a verified session gets exactly
// one, the gateway's.
func TestThreatAssertionHeaderSpoofing(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, assertionConfig([]string{testAssertionKey(t, "EdDSA", 1)},
			`"allow_preflight":true,"bearer_passthrough":true,"skip_paths":[{"prefix":"/pub"}]`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		set := servedJWKS(t, h, testJWKSPath)
		session := idp.login(h, "/")
		attacker, err := oidc.ParseAssertionKey([]byte(testAssertionKey(t, "EdDSA", 9)))
		if err != nil {
			t.Fatal(err)
		}
		forged, err := attacker.Sign(oidc.Assertion{Issuer: "oidc-wasm", Audience: "app.example.com", Subject: "admin",
			IssuedAt: m.now(), Expiry: m.now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		spoof := append(spoofVariants(testAssertionHeader), [2]string{testAssertionHeader, forged}, [2]string{"X-OIDC-WASM-ASSERTION", forged})
		preflight := wasmhost.APIGet("/api", [2]string{"origin", "https://other.example.com"}, [2]string{"access-control-request-method", "PUT"})
		preflight[0][1] = "OPTIONS"
		scenarios := []struct {
			name      string
			headers   [][2]string
			pass      bool
			assertion bool
		}{
			{"CVE-2025-64484 skip path", wasmhost.APIGet("/pub/x"), true, false},
			{"CVE-2025-64484 CORS preflight", preflight, true, false},
			{"CVE-2025-64484 bearer_passthrough", wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + idp.idToken("", nil)}), true, false},
			{"CVE-2025-64484 no session (401)", wasmhost.APIGet("/api"), false, false},
			{"CVE-2025-64484 no session (login)", wasmhost.BrowserGet("/page"), false, false},
			{"CVE-2025-64484 tampered session", wasmhost.APIGet("/api", [2]string{"cookie", session + "x"}), false, false},
			{"CVE-2025-64484 callback failure", wasmhost.BrowserGet("/oauth2/callback?code=c&state=s"), false, false},
			{"CVE-2025-64484 logout", wasmhost.BrowserGet("/oauth2/logout"), false, false},
			{"CVE-2025-64484 JWKS path", wasmhost.APIGet(testJWKSPath), false, false},
			{"Kubeflow #6702 valid session", wasmhost.APIGet("/api", [2]string{"cookie", session}), true, true},
		}
		for _, s := range scenarios {
			id, action := h.Request(append(append([][2]string{}, s.headers...), spoof...))
			if passed := action == types.ActionContinue && h.Reply(id) == nil; passed != s.pass {
				t.Errorf("%s: passed=%v, want %v (%+v)", s.name, passed, s.pass, h.Reply(id))
			}
			got := upstreamAssertion(t, h, id)
			switch {
			case !s.assertion && got != "":
				t.Errorf("%s: assertion %q reached upstream", s.name, got)
			case s.assertion && (got == "" || got == forged || strings.Contains(got, ",")):
				t.Errorf("%s: want exactly the gateway's assertion, got %q", s.name, got)
			case s.assertion:
				verifyAssertion(t, got, set, m, "oidc-wasm", "app.example.com")
			}
		}
	})
}

// An assertion never outlives what it asserts: a session whose tokens expire (and that has no
// refresh token to renew them) and a bearer token cap its exp, whatever assertion_ttl says.
func TestThreatAssertionOutlivesCredential(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, assertionConfig([]string{testAssertionKey(t, "ES256", 1)}, `"assertion_ttl":3600`))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		set := servedJWKS(t, h, testJWKSPath)
		ends := m.now().Add(90 * time.Second).Unix()
		idp.claims["exp"] = ends
		session := idp.login(h, "/")
		bearer := idp.idToken("", map[string]any{"nonce": nil, "exp": ends + 10})
		for name, credential := range map[string][2]string{
			"session": {"cookie", session}, "bearer": {"authorization", "Bearer " + bearer},
		} {
			id, _ := h.Request(wasmhost.APIGet("/api", credential))
			token := upstreamAssertion(t, h, id)
			if token == "" {
				t.Fatalf("%s: no assertion (%+v)", name, h.Reply(id))
			}
			claims := verifyAssertion(t, token, set, m, "oidc-wasm", "app.example.com")
			want := ends
			if name == "bearer" {
				want = ends + 10
			}
			if exp := claims["exp"].(time.Time).Unix(); exp != want {
				t.Errorf("%s: exp %d, want the credential's end %d", name, exp, want)
			}
		}
	})
}

// Over time (natively, with a clock the test moves): a session's assertion is reused until
// half of its lifetime has passed, then signed again with a fresh lifetime.
func TestAssertionRenewedAtHalfLife(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	h := wasmhost.MustStart(t, newVMContext(env{now: clock.now, random: rand.Reader}),
		assertionConfig([]string{testAssertionKey(t, "EdDSA", 1)}, `"assertion_ttl":120`))
	idp := newFakeIdP(t, mode{name: "native", clock: clock.now})
	idp.serveMetadata(h)
	session := idp.login(h, "/")
	assertion := func() string {
		id, _ := h.Request(wasmhost.APIGet("/api", [2]string{"cookie", session}))
		return upstreamAssertion(t, h, id)
	}
	first := assertion()
	steps := []struct {
		after time.Duration
		fresh bool
	}{{59 * time.Second, false}, {2 * time.Second, true}, {30 * time.Second, false}, {31 * time.Second, true}}
	last := first
	for i, s := range steps {
		clock.t = clock.t.Add(s.after)
		got := assertion()
		if (got != last) != s.fresh {
			t.Fatalf("step %d (+%v): fresh=%v, want %v", i, s.after, got != last, s.fresh)
		}
		last = got
	}
	if n, _ := h.GetCounterMetric("oidc_wasm.assertion_signed"); n != 3 {
		t.Errorf("%d assertions signed, want 3", n)
	}
}

// A session's end, as an assertion may reach it: the first of its sealed expiry, its
// absolute lifetime, its tokens' expiry and, with an idle timeout, that much from now.
func TestSessionEnd(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	cases := []struct {
		name                     string
		sealed, issued, tokens   int
		maxAge, idle, wantOffset int
	}{
		{"sealed expiry first", 100, -10, 500, 3600, 0, 100},
		{"absolute lifetime first", 1000, -3500, 500, 3600, 0, 100},
		{"tokens first", 1000, 0, 50, 3600, 0, 50},
		{"idle timeout first", 1000, 0, 500, 3600, 60, 60},
	}
	for _, c := range cases {
		s := &openSession{Session: &oidc.Session{IssuedAt: at(c.issued), TokenExpiry: at(c.tokens)}, sealedUntil: at(c.sealed)}
		cfg := &Config{SessionMaxAge: time.Duration(c.maxAge) * time.Second, SessionIdleTimeout: time.Duration(c.idle) * time.Second}
		if got := s.end(cfg, now); !got.Equal(at(c.wantOffset)) {
			t.Errorf("%s: end %v, want %v", c.name, got.Sub(now), time.Duration(c.wantOffset)*time.Second)
		}
	}
}

// An identity keeps assertions for at most assertionsPerIdentity hosts: a bearer token used
// with that many hosts in turn is signed for each once; one more host takes the place of the
// one signed first, which is then signed again.
func TestThreatAssertionsBoundedPerIdentity(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, assertionConfig([]string{testAssertionKey(t, "EdDSA", 1)}, ""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)
		bearer := idp.idToken("", map[string]any{"nonce": nil})
		host := func(i int) string { return fmt.Sprintf("app-%d.example.com", i) }
		type step struct {
			host   string
			signed uint64
		}
		var steps []step
		for i := range assertionsPerIdentity {
			steps = append(steps, step{host(i), uint64(i + 1)}) // each signed once
		}
		for i := range assertionsPerIdentity {
			steps = append(steps, step{host(i), assertionsPerIdentity}) // all kept
		}
		steps = append(steps, step{host(assertionsPerIdentity), assertionsPerIdentity + 1}, step{host(0), assertionsPerIdentity + 2})
		for i, s := range steps {
			id, _ := h.Request(withAuthority(wasmhost.APIGet("/api", [2]string{"authorization", "Bearer " + bearer}), s.host))
			if upstreamAssertion(t, h, id) == "" {
				t.Fatalf("step %d: no assertion", i)
			}
			if n, _ := h.GetCounterMetric("oidc_wasm.assertion_signed"); n != s.signed {
				t.Fatalf("step %d (%s): %d signed, want %d", i, s.host, n, s.signed)
			}
		}
	})
}
