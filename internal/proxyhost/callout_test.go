package proxyhost

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A dispatched call is answered the way Envoy's async client answers it: the upstream's
// response when there is one; Envoy's own 504 on timeout and 503 when the connection fails
// before response headers; nothing at all when the response breaks off after its headers.
func TestDispatchAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			w.WriteHeader(201)
			_, _ = w.Write([]byte(r.Host + " " + r.Header.Get("X-Test")))
		case "/hang":
			<-r.Context().Done()
		case "/cut":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = w.Write([]byte("short"))
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	c := newCallClient()
	defer c.close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	call := func(path string) [][2]string {
		return [][2]string{{":method", "GET"}, {":path", path}, {":authority", "idp.example.com"}, {"x-test", "yes"}}
	}
	for _, tc := range []struct {
		name       string
		addr, path string
		status     string // "" for no headers at all
		body       string
	}{
		{"an answer is delivered as it came, Host from :authority", addr, "/ok", "201", "idp.example.com yes"},
		{"a timeout is Envoy's 504", addr, "/hang", "504", timeoutBody},
		{"a refused connection is Envoy's 503", refused, "/ok", "503", resetBody},
		{"a response cut after its headers is a failure without headers", addr, "/cut", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := c.do(tc.addr, call(tc.path), nil, 300*time.Millisecond)
			if got := Header(a.headers.pairs, ":status"); got != tc.status || string(a.body) != tc.body {
				t.Errorf("got status %q body %q, want %q %q", got, a.body, tc.status, tc.body)
			}
			if tc.status != "" && a.headers.pairs[0][0] != ":status" {
				t.Errorf(":status is not first: %v", a.headers.pairs)
			}
		})
	}
	ok := c.do(addr, call("/ok"), nil, time.Second)
	var cookies []string
	for _, kv := range ok.headers.pairs {
		if kv[0] == "set-cookie" {
			cookies = append(cookies, kv[1])
		}
	}
	if len(cookies) != 2 {
		t.Errorf("repeated response headers must stay separate entries: %v", ok.headers.pairs)
	}
}
