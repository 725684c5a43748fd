package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Manifest is one YAML document of a manifest file, decoded as JSON-compatible values (the
// form the API server validates).
type Manifest struct {
	File   string // path as given
	Index  int    // position of the document in the file, from 0
	Object map[string]any
	Raw    []byte // the document as JSON
}

// String names the document for error messages: file, position, kind and name.
func (m Manifest) String() string {
	return fmt.Sprintf("%s#%d (%s %s)", m.File, m.Index, m.GVK().Kind, m.Name())
}

// GVK is the document's apiVersion and kind.
func (m Manifest) GVK() schema.GroupVersionKind {
	apiVersion, _ := m.Object["apiVersion"].(string)
	kind, _ := m.Object["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// Name is metadata.name, or "" when absent.
func (m Manifest) Name() string {
	s, _ := m.metadata()["name"].(string)
	return s
}

// Namespace is metadata.namespace, or "" when absent.
func (m Manifest) Namespace() string {
	s, _ := m.metadata()["namespace"].(string)
	return s
}

func (m Manifest) metadata() map[string]any {
	md, _ := m.Object["metadata"].(map[string]any)
	return md
}

// LoadManifests reads every YAML document of every .yaml/.yml file under the given files or
// directories (recursively), in a stable order. Empty documents are skipped; a document that
// is not a YAML mapping is an error. kustomization.yaml files are kustomize's, not objects
// for the cluster: BuildKustomization reads them.
func LoadManifests(paths ...string) ([]Manifest, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && d.Name() != "kustomization.yaml" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", p, err)
		}
	}
	sort.Strings(files)
	var out []Manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		docs, err := ParseManifests(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

// ParseManifests splits a multi-document YAML file into manifests.
func ParseManifests(file string, data []byte) ([]Manifest, error) {
	r := yamlutil.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Manifest
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", file, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", file, i, err)
		}
		// Decoded as the API server does: whole numbers become int64, not float64, which
		// matters to the CEL rules.
		var obj map[string]any
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("%s#%d: %w", file, i, err)
		}
		if obj == nil {
			return nil, fmt.Errorf("%s#%d: not a YAML mapping", file, i)
		}
		out = append(out, Manifest{File: file, Index: i, Object: obj, Raw: js})
	}
}

// stripComments drops whole-line comments, so a document of only comments counts as empty.
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
