package testidp

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser is the user's browser in end-to-end tests: it follows redirects only while they stay on
// the identity provider, keeps a cookie jar, and can submit the login forms of Dex,
// oidc-provider and Hydra's login app. Stopping at the first redirect that leaves the provider
// lets the test hand the callback to the plugin under test itself, the way Envoy would receive
// it, instead of needing a listener at the redirect URI.
type Browser struct {
	client *http.Client
	routes *gatewayRoutes // paths of an application's host that lead to the provider
}

// maxBrowserSteps bounds a login; Dex needs about five requests, so more means a loop.
const maxBrowserSteps = 20

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser() *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		// cookiejar.New fails only for a bad PublicSuffixList, and none is given.
		panic(fmt.Sprintf("cookiejar.New: %v", err))
	}
	routes := &gatewayRoutes{next: &http.Transport{Proxy: nil}}
	return &Browser{routes: routes, client: &http.Client{
		Jar:       jar,
		Timeout:   10 * time.Second,
		Transport: routes,
		// Redirects are followed by hand, so that the one leaving Dex is seen and not requested.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// LoginAtDex plays the user from the authorization URL the plugin put in Location: it follows
// Dex's redirects (through the connector chooser if Dex shows one), fills the login form with
// user and password, grants access if Dex shows its approval screen, and returns the first
// redirect URL that leaves Dex's host (the callback carrying code and state) without requesting
// it. Errors name the request and quote what Dex showed.
func (b *Browser) LoginAtDex(authURL, user, password string) (callbackURL string, err error) {
	// Dex answers a wrong password with the form again, status 401.
	return b.login("login at Dex", authURL, nil, user, password, func(p *page) (string, *url.URL, url.Values, error) {
		if approval := findApproval(p.forms); approval != nil {
			return approval.submit(p.url)
		}
		link := connectorLink(p.doc)
		if link == "" {
			return "", nil, nil, fmt.Errorf("%s %s showed neither a login form, an approval form nor a connector link: %s", p.method, p.url, snippet(p.body))
		}
		next, err := p.url.Parse(link)
		if err != nil {
			return "", nil, nil, fmt.Errorf("on page %s: bad connector link %q: %w", p.url, link, err)
		}
		return http.MethodGet, next, nil, nil
	})
}

// login is walk for a login at a provider whose login form has the fields "login" and
// "password": that form is filled with user and password and submitted; every other page
// that answered 200 goes to other. An error page, or the login form shown again after it was
// submitted (the provider rejected the credentials), is an error quoting the page.
func (b *Browser) login(what, authURL string, also []string, user, password string, other func(p *page) (string, *url.URL, url.Values, error)) (string, error) {
	submitted := false
	return b.walk(what, authURL, also, func(p *page) (string, *url.URL, url.Values, error) {
		f := findForm(p.forms, "password")
		if f != nil && submitted {
			return "", nil, nil, fmt.Errorf("credentials for %q rejected (status %d), login form shown again: %s", user, p.status, loginError(p.doc))
		}
		if err := p.wantOK(); err != nil {
			return "", nil, nil, err
		}
		if f == nil {
			return other(p)
		}
		f.fields.Set("login", user)
		f.fields.Set("password", password)
		submitted = true
		return f.submit(p.url)
	})
}

// confirmLogout answers a provider's logout confirmation page once: it submits the form that
// has the field marker, with name=value added as the click on the confirm button adds it. Any
// other page, or the confirmation shown twice, is an error quoting it.
func confirmLogout(provider, marker, name, value string) func(p *page) (string, *url.URL, url.Values, error) {
	confirmed := false
	return func(p *page) (string, *url.URL, url.Values, error) {
		confirm := findForm(p.forms, marker)
		if p.status != http.StatusOK || confirm == nil || confirmed {
			return "", nil, nil, fmt.Errorf("%s %s answered %d without leaving %s: %s", p.method, p.url, p.status, provider, snippet(p.body))
		}
		confirm.fields.Set(name, value)
		confirmed = true
		return confirm.submit(p.url)
	}
}

// page is an answer of the provider that is not a redirect: the browser shows it.
type page struct {
	method string // the request that got it
	url    *url.URL
	status int
	body   []byte
	doc    string
	forms  []*htmlForm
}

// wantOK refuses an error page, quoting it.
func (p *page) wantOK() error {
	if p.status != http.StatusOK {
		return fmt.Errorf("%s %s answered %d: %s", p.method, p.url, p.status, snippet(p.body))
	}
	return nil
}

// walk plays the user at an identity provider from start: it follows redirects while they stay
// at the provider (start's host, plus those of also; on a host given to ThroughGateway, only
// the routed paths), hands every page to act, which
// decides what the user submits next, and returns the first redirect URL that leaves the
// provider, without requesting it. Stopping there lets the test hand the callback to the plugin
// under test itself. what names the flow in errors ("login at Dex").
func (b *Browser) walk(what, start string, also []string, act func(p *page) (method string, target *url.URL, form url.Values, err error)) (string, error) {
	target, err := url.Parse(start)
	if err != nil || target.Host == "" {
		return "", fmt.Errorf("%s: bad start URL %q", what, start)
	}
	hosts := append([]string{target.Host}, also...)
	method, form := http.MethodGet, url.Values(nil)
	for range maxBrowserSteps {
		status, location, body, err := b.do(method, target, form)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if status >= 300 && status < 400 {
			next, err := target.Parse(location)
			if err != nil || location == "" {
				return "", fmt.Errorf("%s: %s %s answered %d with bad Location %q", what, method, target, status, location)
			}
			if !b.routes.atProvider(hosts, next) {
				return next.String(), nil
			}
			method, target, form = http.MethodGet, next, nil
			continue
		}
		p := &page{method: method, url: target, status: status, body: body, doc: string(body)}
		p.forms = parseForms(p.doc)
		if method, target, form, err = act(p); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if !b.routes.atProvider(hosts, target) {
			return "", fmt.Errorf("%s: a page at %s sends the browser to %s", what, p.url, target)
		}
	}
	return "", fmt.Errorf("%s: no redirect away from %s after %d requests", what, strings.Join(hosts, ", "), maxBrowserSteps)
}

func (b *Browser) do(method string, target *url.URL, form url.Values) (status int, location string, body []byte, err error) {
	var req *http.Request
	if method == http.MethodPost {
		req, err = http.NewRequest(method, target.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, target.String(), nil)
	}
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: reading the page: %w", method, target, err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), body, nil
}

// htmlForm is a form as the browser would submit it: its action, method and the values of its
// inputs (hidden ones included, so Dex's approval request id comes along).
type htmlForm struct {
	action, method string
	fields         url.Values
}

// Dex's templates are small and regular (html/template output, attributes always quoted), so
// regular expressions read them reliably; a full HTML parser would need a module.
var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	linkRE  = regexp.MustCompile(`(?is)<a\b([^>]*)>`)
	attrRE  = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+))`)
	errorRE = regexp.MustCompile(`(?is)<div[^>]*id="login-error"[^>]*>(.*?)</div>`)
	tagRE   = regexp.MustCompile(`(?is)<script\b.*?</script>|<style\b.*?</style>|<[^>]*>`)
)

// attrs reads a tag's attributes, entity-decoded (Dex writes the action's '&' as "&amp;").
func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

func parseForms(page string) []*htmlForm {
	var forms []*htmlForm
	for _, fm := range formRE.FindAllStringSubmatch(page, -1) {
		fa := attrs(fm[1])
		f := &htmlForm{action: fa["action"], method: strings.ToUpper(fa["method"]), fields: url.Values{}}
		if f.method == "" {
			f.method = http.MethodGet
		}
		for _, in := range inputRE.FindAllStringSubmatch(fm[2], -1) {
			ia := attrs(in[1])
			if name := ia["name"]; name != "" {
				f.fields.Add(name, ia["value"])
			}
		}
		forms = append(forms, f)
	}
	return forms
}

func findForm(forms []*htmlForm, field string) *htmlForm {
	for _, f := range forms {
		if _, ok := f.fields[field]; ok {
			return f
		}
	}
	return nil
}

// findApproval finds Dex's "Grant Access" form. With skipApprovalScreen Dex shows it only when
// the authorization request carries approval_prompt=force (prompt=consent does not trigger it).
func findApproval(forms []*htmlForm) *htmlForm {
	for _, f := range forms {
		if f.fields.Get("approval") == "approve" {
			return f
		}
	}
	return nil
}

// submit resolves the action against the page URL; an empty action posts back to the page, as
// Dex's approval form relies on.
func (f *htmlForm) submit(page *url.URL) (method string, target *url.URL, form url.Values, err error) {
	target, err = page.Parse(f.action)
	if err != nil {
		return "", nil, nil, fmt.Errorf("on page %s: bad form action %q: %w", page, f.action, err)
	}
	if f.method == http.MethodPost {
		return http.MethodPost, target, f.fields, nil
	}
	target.RawQuery = f.fields.Encode()
	return http.MethodGet, target, nil, nil
}

// connectorLink picks the password connector on Dex's connector chooser, or else the first
// connector: Dex shows the chooser only when more than one connector is configured (or
// alwaysShowLoginScreen is set).
func connectorLink(page string) string {
	first := ""
	for _, a := range linkRE.FindAllStringSubmatch(page, -1) {
		href := attrs(a[1])["href"]
		if !strings.Contains(href, "/auth/") {
			continue
		}
		if strings.Contains(href, "/auth/local") {
			return href
		}
		if first == "" {
			first = href
		}
	}
	return first
}

func loginError(page string) string {
	if m := errorRE.FindStringSubmatch(page); m != nil {
		return snippet([]byte(m[1]))
	}
	return "(no error message on the page)"
}

// snippet turns a page or an error body into one short line of its text for error messages.
func snippet(body []byte) string {
	text := html.UnescapeString(tagRE.ReplaceAllString(string(body), " "))
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	if text == "" {
		return "(empty body)"
	}
	return fmt.Sprintf("%q", text)
}
