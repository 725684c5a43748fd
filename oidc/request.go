package oidc

import "net/url"

// Request is an HTTP request the host must perform on the package's behalf, for example
// through proxywasm.DispatchHttpCall. URL is absolute; Header holds ordinary headers only: the
// host derives the pseudo-headers (:method, :path, :authority, :scheme) from Method and URL.
type Request struct {
	Method string
	URL    string
	Header [][2]string
	Body   []byte
}

// Target splits URL into the parts an HTTP/2-style host call needs.
func (r Request) Target() (scheme, authority, pathAndQuery string, err error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return "", "", "", err
	}
	return u.Scheme, u.Host, u.RequestURI(), nil
}
