package oidc

import (
	"errors"
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

// At a refresh, userinfo claims replace the session's (RefreshUserinfo) or fill a refreshed
// ID token's (MergeUserinfo); KeepClaims keeps the session's under a refreshed ID token's.
func TestUserinfoAtRefresh(t *testing.T) {
	session := []byte(`{"sub":"u","email":"a@example.com","groups":["admins"],"team":"blue"}`)
	got, err := RefreshUserinfo(session, "u", 200, []byte(`{"sub":"u","groups":[]}`))
	if err != nil || gjson.GetBytes(got, "groups").Raw != "[]" || gjson.GetBytes(got, "team").Str != "blue" {
		t.Errorf("RefreshUserinfo = %s, %v: want the answer's groups, the rest kept", got, err)
	}
	if _, err := RefreshUserinfo(session, "u", 200, []byte(`{"sub":"other","groups":[]}`)); !errors.Is(err, ErrUserinfo) {
		t.Errorf("an answer about another subject: %v", err)
	}
	fresh := []byte(`{"sub":"u","email":"b@example.com"}`)
	got, err = KeepClaims(fresh, session)
	if err != nil || gjson.GetBytes(got, "email").Str != "b@example.com" || gjson.GetBytes(got, "groups.0").Str != "admins" {
		t.Errorf("KeepClaims = %s, %v: want the fresh email and the previous groups", got, err)
	}
	if _, err := KeepClaims([]byte("{"), session); err == nil {
		t.Error("KeepClaims accepted invalid JSON")
	}
}
