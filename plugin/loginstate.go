package plugin

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Several tabs log in at once: a browser reopened with five tabs of an expired session starts
// five logins, and each must complete. So each login has its own state cookie, named after its
// state (loginStateCookie): "<cookie_name>_state_<id>", id the first 60 bits of the state's
// SHA-256. The callback opens the cookie named for the state it carries, so a login's cookie
// is never overwritten by another's. Login CSRF stays closed as before: the state must equal
// the one sealed in this browser's own cookie.
//
// They are bounded: a new login drops the cookies of logins that expired or no longer open,
// then the oldest beyond maxLoginsInFlight; each is a few hundred bytes. The single state
// cookie of the previous release (StateCookieName) is still read, so a login in progress at
// the upgrade completes.

// maxLoginsInFlight bounds the state cookies a browser holds for one relying party.
const maxLoginsInFlight = 5

// stateIDSize is the length of a login's id in its cookie name (10 base64url characters).
const stateIDSize = 10

// loginStateCookie is the name of the state cookie of the login with this state.
func (c *Config) loginStateCookie(state string) string {
	sum := sha256.Sum256([]byte(state))
	return c.StateCookieName() + "_" + base64.RawURLEncoding.EncodeToString(sum[:])[:stateIDSize]
}

// isStateCookie reports whether a cookie is one of this relying party's state cookies.
func (c *Config) isStateCookie(name string) bool {
	base := c.StateCookieName()
	if name == base {
		return true
	}
	id, ok := strings.CutPrefix(name, base+"_")
	return ok && len(id) == stateIDSize && oidc.IsBase64URL(id)
}

// loginState returns the login this browser started whose state the callback carries, and
// the cookie it came from: the cookie named for the state, or the previous release's single
// state cookie. Each value is tried (a sibling subdomain may have planted one next to the
// browser's own, which this host cannot clear): only one this relying party sealed,
// unexpired, holding exactly the callback's state, counts.
func (h *httpContext) loginState(callbackState string) (*oidc.LoginState, string, bool) {
	for _, name := range [...]string{h.rp.cfg.loginStateCookie(callbackState), h.rp.cfg.StateCookieName()} {
		for _, sealed := range oidc.CookieValues(h.cookies, name) {
			plain, err := h.rp.sealer.Open(h.rp.purposeState, sealed, h.rp.env.now())
			if err != nil {
				continue
			}
			var st oidc.LoginState
			if st.UnmarshalBinary(plain) == nil && oidc.EqualSecret(callbackState, st.State) {
				return &st, name, true
			}
		}
	}
	return nil, "", false
}

// dropOldLogins clears, as a new login starts, the state cookies of logins that expired or
// do not open, and the oldest of the rest beyond maxLoginsInFlight-1.
func (h *httpContext) dropOldLogins(now time.Time) [][2]string {
	type login struct {
		name   string
		expiry time.Time
	}
	var live []login
	var drop []string
	for _, c := range h.cookies {
		if !h.rp.cfg.isStateCookie(c.Name) || slices.Contains(drop, c.Name) {
			continue
		}
		if _, expiry, err := h.rp.sealer.OpenExpiry(h.rp.purposeState, c.Value, now); err == nil {
			live = append(live, login{c.Name, expiry})
		} else {
			drop = append(drop, c.Name)
		}
	}
	// Stable: logins started in the same second keep the order the browser sends them in,
	// which is the order they were set.
	sort.SliceStable(live, func(i, j int) bool { return live[i].expiry.Before(live[j].expiry) })
	for len(live) > maxLoginsInFlight-1 {
		drop = append(drop, live[0].name)
		live = live[1:]
	}
	return h.clearCookies(drop...)
}

// clearStateCookies clears every state cookie the browser sent.
func (h *httpContext) clearStateCookies() [][2]string {
	var names []string
	for _, c := range h.cookies {
		if h.rp.cfg.isStateCookie(c.Name) && !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	return h.clearCookies(names...)
}
