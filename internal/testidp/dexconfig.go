package testidp

import (
	"encoding/json"
	"fmt"
	"strings"
)

// q quotes a string for YAML: a JSON string is a valid YAML double-quoted scalar, and
// encoding/json escapes everything YAML could misread.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// dexConfig is a memory-storage Dex with one static client and the static users. Only the web
// listener is configured: the gRPC API and telemetry are unused, and every extra port is one
// more that can collide.
func dexConfig(issuer, webAddr string, opt DexOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\n", q(issuer))
	b.WriteString("storage:\n  type: memory\n")
	fmt.Fprintf(&b, "web:\n  http: %s\n", q(webAddr))
	b.WriteString("logger:\n  level: \"debug\"\n")
	b.WriteString("oauth2:\n  skipApprovalScreen: true\n  responseTypes: [\"code\"]\n")
	b.WriteString("  passwordConnector: \"local\"\n")
	fmt.Fprintf(&b, "expiry:\n  idTokens: %s\n", q(opt.IDTokenTTL.String()))
	b.WriteString("staticClients:\n")
	fmt.Fprintf(&b, "- id: %s\n  secret: %s\n  name: %s\n  redirectURIs:\n",
		q(opt.ClientID), q(opt.ClientSecret), q(opt.ClientID))
	for _, u := range opt.RedirectURIs {
		fmt.Fprintf(&b, "  - %s\n", q(u))
	}
	b.WriteString("enablePasswordDB: true\nstaticPasswords:\n")
	users := append([]StaticUser{{Email: DexUser, Username: DexUsername, UserID: DexUserID}}, opt.ExtraUsers...)
	for _, u := range users {
		if u.Hash == "" {
			u.Hash = DexPasswordHash
		}
		fmt.Fprintf(&b, "- email: %s\n  hash: %s\n  username: %s\n  userID: %s\n",
			q(u.Email), q(u.Hash), q(u.Username), q(u.UserID))
	}
	if opt.MockConnector {
		b.WriteString("connectors:\n- type: mockCallback\n  id: mock\n  name: Mock\n")
	}
	return b.String()
}
