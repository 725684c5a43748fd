package oidc

import (
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

// maxJSONDepth bounds the nesting of every JSON document parsed here. gjson validates
// recursively, one frame per level, and a TinyGo wasm module has a small stack: about 2000
// levels (4 KiB of '[' in a token header) exhaust it and trap, killing the plugin's VM. Depth
// is therefore counted first, iteratively. Genuine documents nest a handful of levels.
const maxJSONDepth = 32

// ValidJSON reports whether doc is valid JSON nested at most maxJSONDepth levels deep. Every
// JSON document that comes from outside (IdP answers, token claims, the plugin configuration)
// is checked with it before gjson reads it.
func ValidJSON(doc []byte) bool {
	return depthWithin(doc, maxJSONDepth) && gjson.ValidBytes(doc)
}

// parseObject validates doc as one JSON object of bounded depth and returns its top-level
// members by (unescaped) name.
//
// A member name that occurs twice is refused: JSON parsers disagree on which occurrence wins
// (gjson takes the first, encoding/json the last), and the claims of a token are read here and
// again by whatever the plugin forwards them to, so both readers must see the same value.
func parseObject(doc []byte) (map[string]gjson.Result, error) {
	if !depthWithin(doc, maxJSONDepth) {
		return nil, fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	if !gjson.ValidBytes(doc) {
		return nil, errors.New("invalid JSON")
	}
	return objectMembers(gjson.ParseBytes(doc))
}

// objectMembers returns the members of an already validated JSON object, refusing duplicate
// names (see parseObject).
func objectMembers(obj gjson.Result) (map[string]gjson.Result, error) {
	if !obj.IsObject() {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]gjson.Result)
	var dup string
	duplicated := false
	obj.ForEach(func(key, value gjson.Result) bool {
		if _, seen := members[key.Str]; seen {
			dup, duplicated = key.Str, true
			return false
		}
		members[key.Str] = value
		return true
	})
	if duplicated {
		return nil, fmt.Errorf("member %s occurs more than once", quoted(dup))
	}
	return members, nil
}

// depthWithin reports whether the arrays and objects of doc nest at most limit levels deep. It
// is iterative and allocation-free, so it is safe on any input; it does not validate.
func depthWithin(doc []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range doc {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return true
}
