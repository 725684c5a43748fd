package main

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// The demo runs the same plugin configuration with or without Envoy: the embedded defaults
// must stay what examples/envoy/envoy.yaml says.
func TestDefaultsMatchEnvoyConfig(t *testing.T) {
	data, err := os.ReadFile("../envoy/envoy.yaml")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("examples/envoy/envoy.yaml not in this checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	fromEnvoy, err := pluginConfigFromEnvoy(data)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal([]byte(fromEnvoy), &want); err != nil {
		t.Fatalf("envoy.yaml's configuration: %v", err)
	}
	if err := json.Unmarshal([]byte(defaultPluginConfig), &got); err != nil {
		t.Fatalf("defaultPluginConfig: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaultPluginConfig = %s\nenvoy.yaml has %s", defaultPluginConfig, fromEnvoy)
	}
	if _, err := parseDemoConfig(fromEnvoy); err != nil {
		t.Errorf("the demo cannot run envoy.yaml's configuration: %v", err)
	}
}

func TestPluginConfigFromEnvoy(t *testing.T) {
	const want = `{"issuer": "http://127.0.0.1:5556/dex", "a": "it's"}`
	for name, yaml := range map[string]string{
		"block": "config:\n  configuration:\n    \"@type\": type.googleapis.com/google.protobuf.StringValue\n" +
			"    value: |\n      {\"issuer\": \"http://127.0.0.1:5556/dex\",\n\n       \"a\": \"it's\"}\n  vm_config: {}\n",
		"single-quoted":              "    value: '{\"issuer\": \"http://127.0.0.1:5556/dex\", \"a\": \"it''s\"}'\n",
		"double-quoted":              `    value: "{\"issuer\": \"http://127.0.0.1:5556/dex\", \"a\": \"it's\"}"` + "\n",
		"plain, after another value": "  value: 42\n  value: " + want + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := pluginConfigFromEnvoy([]byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			var g, w map[string]any
			if err := json.Unmarshal([]byte(got), &g); err != nil {
				t.Fatalf("%q: %v", got, err)
			}
			_ = json.Unmarshal([]byte(want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	if _, err := pluginConfigFromEnvoy([]byte("value: |\n  {\"cluster\": \"dex\"}\n")); err == nil {
		t.Error("a JSON value without issuer is not the plugin's configuration")
	}
}

func TestParseDemoConfig(t *testing.T) {
	c, err := parseDemoConfig(defaultPluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.dexAddr != "127.0.0.1:5556" || c.cluster != "dex" || c.redirectPath != "/oauth2/callback" {
		t.Errorf("got %+v", c)
	}
	for _, bad := range []string{
		`{"issuer": "https://accounts.example.com", "cluster": "x", "client_id": "a", "client_secret": "b"}`,
		`{"issuer": "http://10.0.0.1:5556/dex", "cluster": "x", "client_id": "a", "client_secret": "b"}`,
		`{"issuer": "http://127.0.0.1:5556/dex", "client_id": "a", "client_secret_env": "B"}`,
		`not json`,
	} {
		if _, err := parseDemoConfig(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
