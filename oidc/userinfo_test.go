package oidc

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestMergeUserinfo(t *testing.T) {
	id := []byte(`{"sub":"u1","email":"a@example.com","iss":"https://idp"}`)
	got, err := MergeUserinfo(id, "u1", 200, []byte(`{"sub":"u1","groups":["a","b"],"email":"forged@evil.com","name":"A \"B\""}`))
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(got, "email").Str != "a@example.com" || gjson.GetBytes(got, "groups.1").Str != "b" ||
		gjson.GetBytes(got, "name").Str != `A "B"` || gjson.GetBytes(got, "iss").Str != "https://idp" {
		t.Errorf("merged claims %s", got)
	}
	bad := []struct {
		name   string
		status int
		body   string
	}{
		{"other subject", 200, `{"sub":"u2","groups":["admins"]}`},
		{"no subject", 200, `{"groups":["admins"]}`},
		{"status", 401, `{"sub":"u1"}`},
		{"not an object", 200, `["u1"]`},
		{"garbage", 200, `{"sub":`},
		{"duplicate members", 200, `{"sub":"u1","sub":"u2"}`},
		{"deep", 200, `{"sub":"u1","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
		{"huge", 200, `{"sub":"u1","x":"` + strings.Repeat("a", maxUserinfoBytes) + `"}`},
	}
	for _, b := range bad {
		if _, err := MergeUserinfo(id, "u1", b.status, []byte(b.body)); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

func FuzzMergeUserinfo(f *testing.F) {
	f.Add([]byte(`{"sub":"u1","groups":["a"]}`))
	f.Add([]byte(`{"sub":"u1","email":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id := []byte(`{"sub":"u1","email":"a@example.com"}`)
		out, err := MergeUserinfo(id, "u1", 200, body)
		if err != nil {
			return
		}
		if !ValidJSON(out) || gjson.GetBytes(out, "email").Str != "a@example.com" || gjson.GetBytes(out, "sub").Str != "u1" {
			t.Fatalf("merge changed a signed claim: %s", out)
		}
	})
}
