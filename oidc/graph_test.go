package oidc

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const overage = `{"sub":"u","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.windows.net/t/users/u/getMemberObjects"}}}`

func TestGroupsOverage(t *testing.T) {
	for claims, want := range map[string]bool{
		overage: true,
		`{"sub":"u","groups":["a"],"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{}}}`: false,
		`{"sub":"u","_claim_names":{"groups":"src2"},"_claim_sources":{"src1":{}}}`:                false,
		`{"sub":"u","_claim_names":{"groups":7}}`:                                                  false,
		`{"sub":"u"}`: false,
		`{"sub":"u","_claim_names":{"groups":"a.b"},"_claim_sources":{"a.b":{"endpoint":"x"}}}`: true,
	} {
		if got := GroupsOverage([]byte(claims)); got != want {
			t.Errorf("GroupsOverage(%s) = %v", claims, got)
		}
	}
}

func TestParseGraphGroups(t *testing.T) {
	ids, next, err := ParseGraphGroups(200, []byte(`{"value":[{"@odata.type":"#microsoft.graph.group","id":"g1"},{"id":"g2"}],`+
		`"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.group?$skiptoken=x"}`))
	if err != nil || strings.Join(ids, ",") != "g1,g2" || !strings.HasPrefix(next, "https://graph.microsoft.com/") {
		t.Fatalf("ParseGraphGroups = %v %q %v", ids, next, err)
	}
	for name, body := range map[string]string{
		"next page elsewhere": `{"value":[],"@odata.nextLink":"https://evil.example/steal"}`,
		"next page over http": `{"value":[],"@odata.nextLink":"http://graph.microsoft.com/x"}`,
		"no value":            `{"error":{"code":"Authorization_RequestDenied"}}`,
		"id not a string":     `{"value":[{"id":7}]}`,
		"id with a newline":   `{"value":[{"id":"a\nb"}]}`,
	} {
		if _, _, err := ParseGraphGroups(200, []byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := ParseGraphGroups(403, []byte(`{"error":{}}`)); err == nil {
		t.Error("a 403 accepted")
	}
}

func TestWithGroups(t *testing.T) {
	got, err := WithGroups([]byte(overage), []string{"g1", "g2"})
	if err != nil || gjson.GetBytes(got, "groups.1").Str != "g2" || gjson.GetBytes(got, "_claim_names").Exists() || GroupsOverage(got) {
		t.Errorf("WithGroups = %s, %v", got, err)
	}
	if got, _ := WithGroups([]byte(overage), nil); gjson.GetBytes(got, "groups").Raw != "[]" {
		t.Errorf("no groups: %s", got)
	}
}

// FuzzParseGraphGroups: never a panic; what is accepted is usable in headers and pages only
// to Graph.
func FuzzParseGraphGroups(f *testing.F) {
	f.Add(200, []byte(`{"value":[{"id":"g1"}],"@odata.nextLink":"https://graph.microsoft.com/x"}`))
	f.Add(200, []byte(`{"value":[]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ids, next, err := ParseGraphGroups(status, body)
		if err != nil {
			return
		}
		for _, id := range ids {
			if id == "" || !isSafeHeaderText(id) {
				t.Fatalf("accepted id %q", id)
			}
		}
		if next != "" && !strings.HasPrefix(next, "https://graph.microsoft.com") {
			t.Fatalf("next page %q", next)
		}
	})
}
