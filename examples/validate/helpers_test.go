package validate

import (
	"path/filepath"
	"sync"
	"testing"
)

// repoRoot is the repository, seen from this module's directory (go test runs in it).
var repoRoot = filepath.Join("..", "..")

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{repoRoot}, parts...)...)
}

var loadIstioCRDs = sync.OnceValues(func() (*CRDs, error) {
	path, err := IstioCRDFile()
	if err != nil {
		return nil, err
	}
	return LoadCRDs(path)
})

// istioCRDs returns Istio's CRDs, parsed once per test binary (about a megabyte of YAML).
func istioCRDs(t *testing.T) *CRDs {
	t.Helper()
	crds, err := loadIstioCRDs()
	if err != nil {
		t.Fatal(err)
	}
	return crds
}

// kubeflowBuild is a kustomization of testdata/kubeflow-26.03, a minimal copy of Kubeflow's
// manifests (its README.md says what and from where) on which examples/kubeflow is tried.
func kubeflowBuild(name string) string {
	return filepath.Join("testdata", "kubeflow-26.03", name)
}
