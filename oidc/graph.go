package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/tidwall/gjson"
)

// Entra ID puts no groups claim in a token of a user in too many groups (more than 200 in a
// JWT, 150 in SAML): it sends a "groups overage" instead, _claim_names.groups naming a source
// in _claim_sources, and the application must ask Microsoft Graph. These are the pieces of
// that conversation; the host does the I/O.

// GraphGroupsURL lists the groups a user is a member of, directly or not, by id, as many per
// page as Graph allows. It needs the delegated permission GroupMember.Read.All (or
// Directory.Read.All) in the access token.
const GraphGroupsURL = "https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id&$top=999"

// ErrGraph is wrapped by every ParseGraphGroups failure.
var ErrGraph = errors.New("oidc: unusable Microsoft Graph answer")

// GroupsOverage reports whether claims carry Entra ID's groups overage: _claim_names.groups
// names a source that _claim_sources has, and there is no groups claim.
func GroupsOverage(claims []byte) bool {
	src := gjson.GetBytes(claims, "_claim_names.groups")
	if src.Type != gjson.String || gjson.GetBytes(claims, "groups").Exists() {
		return false
	}
	return gjson.GetBytes(claims, "_claim_sources."+gjsonEscape(src.Str)).IsObject()
}

// GraphGroupsRequest asks Graph for one page of the user's groups with the access token of
// the login.
func GraphGroupsRequest(pageURL, accessToken string) Request {
	return Request{Method: "GET", URL: pageURL, Header: [][2]string{{"authorization", "Bearer " + accessToken}, {"accept", "application/json"}}}
}

// ParseGraphGroups reads one page of GraphGroupsURL's answer: the group ids, and the next
// page's URL ("" for the last). A next page elsewhere than GraphGroupsURL's origin is refused:
// the access token goes with it.
func ParseGraphGroups(status int, body []byte) (ids []string, next string, err error) {
	doc, err := parseResponse(status, body)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrGraph, err)
	}
	value, ok := doc["value"]
	if !ok || !value.IsArray() {
		return nil, "", fmt.Errorf("%w: no value array", ErrGraph)
	}
	for _, g := range value.Array() {
		id := g.Get("id")
		if id.Type != gjson.String || id.Str == "" || !isSafeHeaderText(id.Str) {
			return nil, "", fmt.Errorf("%w: a group without a usable id", ErrGraph)
		}
		ids = append(ids, id.Str)
	}
	if link, ok := doc["@odata.nextLink"]; ok {
		u, err := url.Parse(link.Str)
		if link.Type != gjson.String || err != nil || u.Scheme != "https" || u.Host != "graph.microsoft.com" {
			return nil, "", fmt.Errorf("%w: next page %s is not on graph.microsoft.com", ErrGraph, quoted(link.Str))
		}
		next = link.Str
	}
	return ids, next, nil
}

// WithGroups returns claims with the groups claim set to groups, and _claim_names and
// _claim_sources dropped: the overage is resolved.
func WithGroups(claims []byte, groups []string) ([]byte, error) {
	obj, err := parseObject(claims)
	if err != nil {
		return nil, fmt.Errorf("oidc: claims: %w", err)
	}
	out := make(map[string]json.RawMessage, len(obj)+1)
	for k, v := range obj {
		if k != "_claim_names" && k != "_claim_sources" {
			out[k] = json.RawMessage(v.Raw)
		}
	}
	if groups == nil {
		groups = []string{}
	}
	list, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	out["groups"] = list
	return json.Marshal(out)
}

// gjsonEscape escapes gjson's path characters in a key.
func gjsonEscape(key string) string {
	var b []byte
	for i := 0; i < len(key); i++ {
		switch c := key[i]; c {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
