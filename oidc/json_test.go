package oidc

import (
	"strings"
	"testing"
)

func TestValidJSONBoundsDepth(t *testing.T) {
	cases := []struct {
		doc  string
		want bool
	}{
		{`{"a":[1,{"b":"]]]]"}]}`, true},
		{strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
		{strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), false},
		{`{"a":"` + strings.Repeat(`[`, 5000) + `"}`, true}, // brackets inside a string do not nest
		{`{"a":"\"` + strings.Repeat(`{`, 100) + `"}`, true},
		{strings.Repeat(`{"a":`, 5000), false},
		{`{"a":}`, false},
		{``, false},
	}
	for _, c := range cases {
		if got := ValidJSON([]byte(c.doc)); got != c.want {
			t.Errorf("ValidJSON(%.40q) = %v, want %v", c.doc, got, c.want)
		}
	}
}
