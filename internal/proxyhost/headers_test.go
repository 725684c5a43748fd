package proxyhost

import (
	"reflect"
	"testing"
)

// Header maps behave as Envoy's: names lower-cased, add appends an entry, replace removes
// every entry of the name and appends one, remove removes every entry.
func TestHeaderMap(t *testing.T) {
	base := func() headerMap {
		return headerMap{pairs: [][2]string{{"a", "1"}, {"set-cookie", "x=1"}, {"b", "2"}, {"set-cookie", "y=2"}}}
	}
	for _, tc := range []struct {
		name string
		op   func(m *headerMap)
		want [][2]string
	}{
		{"add keeps a repeated name as its own entry", func(m *headerMap) { m.add("Set-Cookie", "z=3") },
			[][2]string{{"a", "1"}, {"set-cookie", "x=1"}, {"b", "2"}, {"set-cookie", "y=2"}, {"set-cookie", "z=3"}}},
		{"remove drops every entry of the name", func(m *headerMap) { m.remove("SET-COOKIE") },
			[][2]string{{"a", "1"}, {"b", "2"}}},
		{"replace removes all, then appends one", func(m *headerMap) { m.replace("set-cookie", "z=3") },
			[][2]string{{"a", "1"}, {"b", "2"}, {"set-cookie", "z=3"}}},
		{"replace of an absent name adds it", func(m *headerMap) { m.replace("C", "3") },
			[][2]string{{"a", "1"}, {"set-cookie", "x=1"}, {"b", "2"}, {"set-cookie", "y=2"}, {"c", "3"}}},
		{"remove of an absent name changes nothing", func(m *headerMap) { m.remove("c") },
			[][2]string{{"a", "1"}, {"set-cookie", "x=1"}, {"b", "2"}, {"set-cookie", "y=2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.op(&m)
			if !reflect.DeepEqual(m.pairs, tc.want) {
				t.Errorf("got %v, want %v", m.pairs, tc.want)
			}
		})
	}
}

// The serialized pairs round-trip, and malformed input is refused rather than read past.
func TestPairs(t *testing.T) {
	pairs := [][2]string{{":status", "200"}, {"", ""}, {"set-cookie", "a=b; Path=/"}}
	buf := make([]byte, pairsSize(pairs))
	marshalPairs(buf, pairs)
	got, err := unmarshalPairs(buf)
	if err != nil || !reflect.DeepEqual(got, pairs) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"short count":        {1, 0},
		"count beyond sizes": {9, 0, 0, 0, 0, 0, 0, 0},
		"size beyond data":   {1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0},
		"missing NUL":        {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 0},
	} {
		if _, err := unmarshalPairs(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := unmarshalPairs(nil); err != nil || got != nil {
		t.Errorf("empty input: %v %v", got, err)
	}
}

// Local replies get their headers as Envoy's prepareLocalReply builds them.
func TestLocalReplyHeaders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra [][2]string
		body  string
		want  [][2]string
	}{
		{"body without a content type gets text/plain", nil, "no",
			[][2]string{{":status", "401"}, {"content-length", "2"}, {"content-type", "text/plain"}}},
		{"the plugin's content type is kept, its length replaced", [][2]string{{"Content-Type", "text/html"}, {"content-length", "99"}}, "no",
			[][2]string{{":status", "401"}, {"content-type", "text/html"}, {"content-length", "2"}}},
		{"no body: no length, no type; cookies stay separate", [][2]string{{"content-type", "text/html"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}}, "",
			[][2]string{{":status", "401"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := localReplyHeaders(401, tc.extra, []byte(tc.body)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
