package oidc

import (
	"net/url"
	"testing"
)

func TestEndSessionURL(t *testing.T) {
	got, err := EndSessionURL("https://idp.example.com/logout?tenant=t1&client_id=forged", "eyJ.hint", "app", "https://app.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	q := u.Query()
	if u.Host != "idp.example.com" || u.Path != "/logout" || q.Get("tenant") != "t1" || q.Get("id_token_hint") != "eyJ.hint" ||
		len(q["client_id"]) != 1 || q.Get("client_id") != "app" || q.Get("post_logout_redirect_uri") != "https://app.example.com/" {
		t.Errorf("EndSessionURL = %s", got)
	}
	got, _ = EndSessionURL("https://idp.example.com/logout", "", "app", "")
	if q := mustQuery(t, got); q.Has("id_token_hint") || q.Has("post_logout_redirect_uri") {
		t.Errorf("empty hint and target must be left out: %s", got)
	}
	for _, bad := range []string{"", "/logout", "javascript:alert(1)", "https://idp.example.com/logout#x", "ftp://idp/x"} {
		if _, err := EndSessionURL(bad, "", "app", ""); err == nil {
			t.Errorf("EndSessionURL(%q) accepted", bad)
		}
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
