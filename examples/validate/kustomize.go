package validate

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// BuildKustomization runs `kustomize build dir` in-process, with kustomize's default options
// (files of a kustomization only from its own directory tree), and returns the documents it
// outputs. A kustomization is only as good as what it builds: components and patches are
// checked through the objects they produce.
func BuildKustomization(dir string) ([]Manifest, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return ParseManifests("kustomize build "+dir, out)
}
