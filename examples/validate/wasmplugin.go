package validate

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// VMEnv is the environment a WasmPlugin's VM sees (spec.vmConfig.env): INLINE values are in
// the resource; HOST variables are read from the gateway container's own environment.
type VMEnv struct {
	Inline map[string]string
	Host   []string
}

// WasmPluginConfig returns what Envoy hands the plugin for a WasmPlugin: istiod serializes
// spec.pluginConfig (a google.protobuf.Struct) to JSON and passes it as a StringValue, so
// the YAML goes through the same Struct round trip here (numbers become doubles, for one).
func WasmPluginConfig(m Manifest) ([]byte, VMEnv, error) {
	spec, _ := m.Object["spec"].(map[string]any)
	cfg, ok := spec["pluginConfig"].(map[string]any)
	if !ok {
		return nil, VMEnv{}, fmt.Errorf("%s: no spec.pluginConfig", m)
	}
	st, err := structpb.NewStruct(cfg)
	if err != nil {
		return nil, VMEnv{}, fmt.Errorf("%s: spec.pluginConfig: %w", m, err)
	}
	js, err := protojson.Marshal(st)
	if err != nil {
		return nil, VMEnv{}, fmt.Errorf("%s: spec.pluginConfig: %w", m, err)
	}
	env := VMEnv{Inline: map[string]string{}}
	vm, _ := spec["vmConfig"].(map[string]any)
	list, _ := vm["env"].([]any)
	for _, item := range list {
		e, _ := item.(map[string]any)
		name, _ := e["name"].(string)
		if from, _ := e["valueFrom"].(string); from == "HOST" {
			env.Host = append(env.Host, name)
			continue
		}
		value, _ := e["value"].(string)
		env.Inline[name] = value
	}
	return js, env, nil
}

// StandInGetenv is a getenv for plugin.ParseConfig that answers like the plugin's VM would,
// with a stand-in for each HOST variable (whose real value lives in a Kubernetes Secret):
// 32 random-looking bytes in base64 for a variable named by cookie_secret_env (at the top
// level or in an entry of providers), a fixed
// word otherwise. Variables the WasmPlugin does not declare are unset, so a configuration
// that names one fails exactly as it would in the gateway.
func StandInGetenv(config []byte, env VMEnv) func(string) (string, bool) {
	var keys struct {
		CookieSecretEnv string `json:"cookie_secret_env"`
		Providers       []struct {
			CookieSecretEnv string `json:"cookie_secret_env"`
		} `json:"providers"`
	}
	_ = json.Unmarshal(config, &keys) // a broken config fails in ParseConfig itself
	cookieSecretEnv := map[string]bool{keys.CookieSecretEnv: true}
	for _, p := range keys.Providers {
		cookieSecretEnv[p.CookieSecretEnv] = true
	}
	return func(name string) (string, bool) {
		if v, ok := env.Inline[name]; ok {
			return v, true
		}
		for _, h := range env.Host {
			if h != name {
				continue
			}
			if cookieSecretEnv[name] {
				sum := sha256.Sum256([]byte("stand-in for " + name))
				return base64.StdEncoding.EncodeToString(sum[:]), true
			}
			return "stand-in-" + name, true
		}
		return "", false
	}
}
