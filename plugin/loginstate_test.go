package plugin

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/internal/wasmhost"
)

// cookieJar is a browser's cookies for the gateway, in the order they were set.
type cookieJar [][2]string

// store applies a reply's Set-Cookie headers: a new value replaces the old in place, an
// empty value (Max-Age=0) deletes.
func (j *cookieJar) store(r *wasmhost.Reply) {
	for _, kv := range r.Headers {
		if kv[0] != "set-cookie" {
			continue
		}
		name, _, _ := strings.Cut(kv[1], "=")
		value := wasmhost.CookieValue(kv[1])
		i := 0
		for ; i < len(*j) && (*j)[i][0] != name; i++ {
		}
		switch {
		case value == "" && i < len(*j):
			*j = append((*j)[:i], (*j)[i+1:]...)
		case value != "" && i < len(*j):
			(*j)[i][1] = value
		case value != "":
			*j = append(*j, [2]string{name, value})
		}
	}
}

func (j cookieJar) header() string {
	var parts []string
	for _, c := range j {
		parts = append(parts, c[0]+"="+c[1])
	}
	return strings.Join(parts, "; ")
}

func (j cookieJar) stateCookies() int {
	n := 0
	for _, c := range j {
		if strings.HasPrefix(c[0], "__Host-oidc_session_state_") {
			n++
		}
	}
	return n
}

// A browser reopened on several tabs starts a login in each: every login has its own state
// cookie, each completes in any order and returns to its own page, and a completed login
// clears only its own cookie. The cookies are bounded: a browser holds at most
// maxLoginsInFlight, the oldest logins giving way.
func TestSeveralLoginsAtOnce(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext, m mode) {
		h := wasmhost.MustStart(t, vm, testConfig(""))
		idp := newFakeIdP(t, m)
		idp.serveMetadata(h)

		const tabs = maxLoginsInFlight + 2
		var jar cookieJar
		starts := make([]*wasmhost.Reply, tabs)
		for i := range starts {
			id, _ := h.Request(wasmhost.BrowserGet(fmt.Sprintf("/tab/%d", i), [2]string{"cookie", jar.header()}))
			starts[i] = h.Reply(id)
			if starts[i] == nil || starts[i].Status != 302 {
				t.Fatalf("tab %d: want a login redirect, got %+v", i, starts[i])
			}
			jar.store(starts[i])
			if want := min(i+1, maxLoginsInFlight); jar.stateCookies() != want {
				t.Fatalf("after %d logins the browser holds %d state cookies, want %d: %v", i+1, jar.stateCookies(), want, jar)
			}
		}

		callback := func(i int) *wasmhost.Reply {
			t.Helper()
			q := wasmhost.Query(t, starts[i].Header("location"))
			id, _ := h.Request(wasmhost.BrowserGet("/oauth2/callback?code=c0de&state="+url.QueryEscape(q.Get("state")), [2]string{"cookie", jar.header()}))
			if h.HasPending(id) {
				h.Answer(h.OnePending(id), 200, tokenAnswer(idp.idToken(q.Get("nonce"), nil)))
			}
			r := h.Reply(id)
			if r == nil {
				t.Fatalf("tab %d: no reply to the callback", i)
			}
			return r
		}
		// The two oldest logins gave way: their callbacks fail, and clear no other tab's cookie.
		for i := range tabs - maxLoginsInFlight {
			before := jar.stateCookies()
			r := callback(i)
			if r.Status != 400 {
				t.Errorf("tab %d (dropped): want 400, got %+v", i, r)
			}
			jar.store(r)
			if jar.stateCookies() != before {
				t.Errorf("tab %d: a failed callback cleared another login's state cookie", i)
			}
		}
		// The others complete in any order, each on its own page.
		for n, i := range []int{tabs - 1, 2, tabs - 2, 4, 3} {
			r := callback(i)
			if want := fmt.Sprintf("/tab/%d", i); r.Status != 302 || r.Header("location") != want {
				t.Fatalf("tab %d: want 302 to %s, got %+v", i, want, r)
			}
			own, _, _ := strings.Cut(stateCookie(starts[i]), "=")
			if cleared := clearedStateCookies(r); len(cleared) != 1 || cleared[0] != own {
				t.Errorf("tab %d: the callback must clear its own state cookie only, cleared %v", i, cleared)
			}
			jar.store(r)
			if want := maxLoginsInFlight - n - 1; jar.stateCookies() != want {
				t.Errorf("after tab %d the browser holds %d state cookies, want %d", i, jar.stateCookies(), want)
			}
		}
	})
}
