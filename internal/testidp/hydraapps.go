package testidp

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
)

// hydraApps are the login, consent and logout apps Hydra sends the browser to. Each reads its
// request from Hydra's admin API and accepts it there, the way an Ory deployment's own apps
// do:
//
//   - /login shows a form (fields "login" and "password") and accepts HydraUser with
//     HydraPassword as HydraSubject, remembered, so Hydra keeps a login session (which
//     RP-initiated logout then ends); wrong credentials get the form again with status 401.
//     When Hydra already knows the user (skip), it accepts without asking, as a real app must.
//   - /consent grants every scope and access-token audience the client asked for, and puts
//     the configured claims into the ID token, without asking: a first-party app.
//   - /logout shows a confirm form (the "do you want to log out?" page) and accepts the logout
//     when it is submitted.
//   - /error shows the error Hydra redirected with, so a refused request reads as such.
type hydraApps struct {
	admin  string // the admin API's base URL, set before Hydra starts
	claims map[string]any
}

func (a *hydraApps) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /consent", a.consent)
	mux.HandleFunc("GET /logout", a.logoutPage)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		http.Error(w, fmt.Sprintf("Hydra error %s: %s %s", q.Get("error"), q.Get("error_description"), q.Get("error_hint")), http.StatusBadRequest)
	})
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "You are logged out.")
	})
	return mux
}

var (
	hydraLoginForm = template.Must(template.New("login").Parse(`<!doctype html>
<title>Log in</title>
{{if .Failed}}<p id="login-error">Invalid email or password.</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<input type="email" name="login" value="">
<input type="password" name="password" value="">
<button type="submit">Log in</button>
</form>
`))
	hydraLogoutForm = template.Must(template.New("logout").Parse(`<!doctype html>
<title>Log out</title>
<p>Do you want to log out?</p>
<form method="post" action="/logout">
<input type="hidden" name="logout_challenge" value="{{.}}">
<button type="submit" name="confirm" value="yes">Yes</button>
</form>
`))
)

// hydraRedirect is the answer of every accept call: where the browser goes next.
type hydraRedirect struct {
	RedirectTo string `json:"redirect_to"`
}

// accept accepts a login, consent or logout request of kind with body, and sends the browser
// where Hydra says.
func (a *hydraApps) accept(w http.ResponseWriter, r *http.Request, kind, challenge string, body any) {
	var next hydraRedirect
	path := "/admin/oauth2/auth/requests/" + kind + "/accept?" + url.Values{kind + "_challenge": {challenge}}.Encode()
	if err := adminCall(a.admin, http.MethodPut, path, body, &next); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, next.RedirectTo, http.StatusFound)
}

// request reads a login, consent or logout request of kind into out.
func (a *hydraApps) request(kind, challenge string, out any) error {
	path := "/admin/oauth2/auth/requests/" + kind + "?" + url.Values{kind + "_challenge": {challenge}}.Encode()
	return adminCall(a.admin, http.MethodGet, path, nil, out)
}

func (a *hydraApps) loginPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var req struct {
		Skip    bool   `json:"skip"`
		Subject string `json:"subject"`
	}
	if err := a.request("login", challenge, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if req.Skip {
		a.accept(w, r, "login", challenge, map[string]any{"subject": req.Subject})
		return
	}
	a.showLogin(w, challenge, false)
}

func (a *hydraApps) showLogin(w http.ResponseWriter, challenge string, failed bool) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if failed {
		w.WriteHeader(http.StatusUnauthorized)
	}
	_ = hydraLoginForm.Execute(w, struct {
		Challenge string
		Failed    bool
	}{challenge, failed})
}

func (a *hydraApps) login(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("login_challenge")
	if r.PostFormValue("login") != HydraUser || r.PostFormValue("password") != HydraPassword {
		a.showLogin(w, challenge, true)
		return
	}
	a.accept(w, r, "login", challenge, map[string]any{"subject": HydraSubject, "remember": true, "remember_for": 0})
}

func (a *hydraApps) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var req struct {
		Scope    []string `json:"requested_scope"`
		Audience []string `json:"requested_access_token_audience"`
	}
	if err := a.request("consent", challenge, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.accept(w, r, "consent", challenge, map[string]any{
		"grant_scope":                 req.Scope,
		"grant_access_token_audience": req.Audience,
		"session":                     map[string]any{"id_token": a.claims},
	})
}

func (a *hydraApps) logoutPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("logout_challenge")
	// Reading the request first turns an unknown or used challenge into an error page.
	if err := a.request("logout", challenge, &struct{}{}); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = hydraLogoutForm.Execute(w, challenge)
}

func (a *hydraApps) logout(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		http.Error(w, "logout not confirmed", http.StatusBadRequest)
		return
	}
	a.accept(w, r, "logout", r.PostFormValue("logout_challenge"), nil)
}

// Login plays the user from an authorization URL at Hydra: it follows the redirects between
// Hydra and its apps, fills the login app's form with user and password if it shows one (it
// does not while Hydra remembers the user), and returns the first redirect URL that leaves
// them (the callback with code and state, or with error when Hydra refused the request)
// without requesting it. Rejected credentials are an error quoting the page.
func (h *Hydra) Login(b *Browser, authURL, user, password string) (callbackURL string, err error) {
	return b.login("login at Hydra", authURL, []string{h.appsHost}, user, password, func(p *page) (string, *url.URL, url.Values, error) {
		return "", nil, nil, fmt.Errorf("%s %s showed no login form: %s", p.method, p.url, snippet(p.body))
	})
}

// Logout plays the user at Hydra's end-session endpoint from the RP-initiated logout URL (with
// id_token_hint and post_logout_redirect_uri): it follows Hydra to the logout app, confirms
// there, follows Hydra again and returns the first redirect URL that leaves Hydra and its apps
// (the post-logout redirect URI) without requesting it. When Hydra has no login session for
// the hint it skips the logout app and redirects at once, which is no error. A logout that
// ends on a page (Hydra refused the request) is an error quoting it.
func (h *Hydra) Logout(b *Browser, endSessionURL string) (postLogoutURL string, err error) {
	return b.walk("logout at Hydra", endSessionURL, []string{h.appsHost}, confirmLogout("Hydra", "logout_challenge", "confirm", "yes"))
}
