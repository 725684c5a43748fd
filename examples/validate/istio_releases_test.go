package validate

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// istioReleases are the releases of istio.io/api, besides go.mod's, whose CRDs the examples
// are validated against, oldest first, with their go.sum hashes (IstioCRDFileAt).
var istioReleases = []struct{ version, sum, why string }{
	{"v1.24.3", "h1:iwWWPM0uEQ+oxRHvIWoB8MQ4bjF3dRQj+M5IDVczg0M=", "Kubeflow 1.10's Istio"},
	{"v1.26.1", "h1:1OM0JtHgA6VLkmWna02W0RFqHsOQqFtowAf+u9jVOR0=", "the last without failStrategy FAIL_RELOAD"},
	{"v1.27.0", "h1:KU1DeyIvZkY2k0pF9ZY+6D0ZVB1ZgvimaPkM55NVRWk=", "the first with FAIL_RELOAD"},
	{"v1.28.0", "h1:0fYY9G03CAdFwE/fCkpr0v7kKsy+Hz9OCCjLNBNLbnU=", "Kubeflow 1.11's"},
	{"v1.29.0", "h1:E4rokccO3xqtxWd2zmLjlq+sKuWakrzmskhaFNFqCbs=", "Kubeflow 26.03's"},
}

// firstFailReload is the first release whose WasmPlugin CRD has failStrategy FAIL_RELOAD, as
// docs/istio.md says; TestFailReloadReleases checks it against the CRDs.
const firstFailReload = "v1.27.0"

var istioCRDsByRelease sync.Map // version -> func() (*CRDs, error), each parsed once

// istioCRDsAt returns the CRDs of one release of istioReleases, or go.mod's for "".
func istioCRDsAt(t *testing.T, version string) *CRDs {
	t.Helper()
	if version == "" {
		return istioCRDs(t)
	}
	load, _ := istioCRDsByRelease.LoadOrStore(version, sync.OnceValues(func() (*CRDs, error) {
		for _, r := range istioReleases {
			if r.version == version {
				path, err := IstioCRDFileAt(r.version, r.sum)
				if err != nil {
					return nil, err
				}
				return LoadCRDs(path)
			}
		}
		return nil, fmt.Errorf("istio.io/api %s is not among istioReleases", version)
	}))
	crds, err := load.(func() (*CRDs, error))()
	if err != nil {
		t.Fatal(err)
	}
	return crds
}

func releaseName(version string) string {
	if version == "" {
		return "go.mod's istio.io/api"
	}
	return "Istio " + strings.TrimPrefix(version, "v")
}

// TestIstioReleases validates every deployment set against the CRDs of each Istio release it
// targets, as that release's API server would on create, and holds each of its WasmPlugins
// to checkFailStrategy for those releases.
func TestIstioReleases(t *testing.T) {
	for _, set := range deploymentSets {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel() // loading a release's CRDs takes about a second, once per release
			if len(set.istio) == 0 {
				t.Fatal("the set names no Istio release it targets")
			}
			docs, err := set.docs()
			if err != nil {
				t.Fatal(err)
			}
			targets := map[string]*CRDs{}
			for _, version := range set.istio {
				crds := istioCRDsAt(t, version)
				targets[releaseName(version)] = crds
				for _, m := range docs {
					if IsCoreKind(m.GVK()) {
						continue
					}
					if errs := crds.Validate(m); len(errs) > 0 {
						t.Errorf("%s: %s: %v", releaseName(version), m, errs.ToAggregate())
					}
				}
			}
			for _, m := range docs {
				if m.GVK().Kind == "WasmPlugin" {
					if err := checkFailStrategy(m, targets); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
}

// checkFailStrategy holds a WasmPlugin to "fail closed, and recover where Istio can" on the
// releases it targets (name -> CRDs): failStrategy FAIL_RELOAD, which every target must
// accept, or FAIL_CLOSE where one of them lacks FAIL_RELOAD. Never FAIL_OPEN, and never left
// out: its default, FAIL_CLOSE, would then be chosen without a word.
func checkFailStrategy(m Manifest, targets map[string]*CRDs) error {
	spec, _ := m.Object["spec"].(map[string]any)
	strategy, _ := spec["failStrategy"].(string)
	var lacking []string // targets that refuse FAIL_RELOAD
	reload := withFailStrategy(m, "FAIL_RELOAD")
	for name, crds := range targets {
		if len(crds.Validate(reload)) > 0 {
			lacking = append(lacking, name)
		}
	}
	switch {
	case strategy == "FAIL_RELOAD" && len(lacking) > 0:
		return fmt.Errorf("%s: failStrategy FAIL_RELOAD, which %v refuse: FAIL_CLOSE there (examples/kubeflow/fail-close)", m, lacking)
	case strategy == "FAIL_CLOSE" && len(lacking) == 0:
		return fmt.Errorf("%s: failStrategy FAIL_CLOSE, but every Istio release it targets has FAIL_RELOAD, which also replaces a VM that crashed", m)
	case strategy != "FAIL_RELOAD" && strategy != "FAIL_CLOSE":
		return fmt.Errorf("%s: failStrategy %q: must be FAIL_RELOAD or FAIL_CLOSE, so that a plugin that fails denies traffic", m, strategy)
	}
	return nil
}

// withFailStrategy is m with spec.failStrategy set to s.
func withFailStrategy(m Manifest, s string) Manifest {
	obj := deepCopyJSON(m.Object).(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	spec["failStrategy"] = s
	m.Object = obj
	return m
}

// TestFailReloadReleases checks where failStrategy FAIL_RELOAD exists, on the CRDs of every
// release held: refused before firstFailReload, accepted from it on (and by go.mod's), as
// docs/istio.md says.
func TestFailReloadReleases(t *testing.T) {
	reload := parseOne(t, strings.Replace(validWasmPlugin, "FAIL_CLOSE", "FAIL_RELOAD", 1))
	seen := false
	for _, r := range istioReleases {
		seen = seen || r.version == firstFailReload
		errs := istioCRDsAt(t, r.version).Validate(reload)
		if accepted := len(errs) == 0; accepted != seen {
			t.Errorf("%s (%s): FAIL_RELOAD accepted %v, want %v: %v", releaseName(r.version), r.why, accepted, seen, errs.ToAggregate())
		}
	}
	if errs := istioCRDs(t).Validate(reload); len(errs) > 0 {
		t.Errorf("%s refuses FAIL_RELOAD: %v", releaseName(""), errs.ToAggregate())
	}
	guide, err := os.ReadFile(repoPath("docs", "istio.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(releaseName(firstFailReload), ".0"); !strings.Contains(string(guide), want) {
		t.Errorf("docs/istio.md does not name %s, the first with FAIL_RELOAD", want)
	}
}

// TestFailStrategyRule proves checkFailStrategy can fail, for each reason it has.
func TestFailStrategyRule(t *testing.T) {
	tests := []struct {
		name, strategy string // "" leaves failStrategy out
		targets        []string
		wantErr        string
	}{
		{"reload where all have it", "FAIL_RELOAD", []string{firstFailReload, ""}, ""},
		{"close where one lacks reload", "FAIL_CLOSE", []string{"v1.24.3", "v1.29.0"}, ""},
		{"close where all have reload", "FAIL_CLOSE", []string{firstFailReload, "v1.29.0"}, "every Istio release it targets has FAIL_RELOAD"},
		{"reload where one lacks it", "FAIL_RELOAD", []string{"v1.26.1", firstFailReload}, "[Istio 1.26.1] refuse"},
		{"open", "FAIL_OPEN", []string{""}, `failStrategy "FAIL_OPEN": must be FAIL_RELOAD or FAIL_CLOSE`},
		{"left out", "", []string{""}, `failStrategy "": must be`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(validWasmPlugin, "  failStrategy: FAIL_CLOSE\n", "", 1)
			if tt.strategy != "" {
				doc = strings.Replace(validWasmPlugin, "FAIL_CLOSE", tt.strategy, 1)
			}
			targets := map[string]*CRDs{}
			for _, v := range tt.targets {
				targets[releaseName(v)] = istioCRDsAt(t, v)
			}
			err := checkFailStrategy(parseOne(t, doc), targets)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func parseOne(t *testing.T, doc string) Manifest {
	t.Helper()
	docs, err := ParseManifests("test.yaml", []byte(doc))
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d documents, %v", len(docs), err)
	}
	return docs[0]
}
