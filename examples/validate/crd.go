package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// CRDs validates custom resources against the schemas of CustomResourceDefinitions, with the
// same steps the API server takes on create: unknown fields (which the server would drop
// silently, so a misspelt key would vanish), the OpenAPI schema, list-type uniqueness and the
// x-kubernetes-validations CEL rules.
type CRDs struct {
	versions map[schema.GroupVersionKind]*crdVersion
}

type crdVersion struct {
	namespaced bool
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no CEL rules
}

// IstioCRDFile is where the module istio.io/api, at the version go.mod pins, keeps the CRDs
// that an Istio install applies. It asks the go command, so the file is always the one
// go.sum vouches for.
func IstioCRDFile() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module istio.io/api: %w", err)
	}
	return istioCRDPath(strings.TrimSpace(string(out))), nil
}

// IstioCRDFileAt is IstioCRDFile for another release of istio.io/api (an Istio an example
// must install on), fetched by the go command into its module cache like any dependency.
// sum is the module's go.sum hash ("h1:..."), checked here as go.sum would be, since the
// version is not in go.mod.
func IstioCRDFileAt(version, sum string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "istio.io/api@"+version).Output()
	var mod struct{ Dir, Sum, Error string }
	if jsonErr := json.Unmarshal(out, &mod); jsonErr != nil || mod.Error != "" || err != nil {
		return "", fmt.Errorf("downloading istio.io/api@%s: %v %s %v", version, err, mod.Error, jsonErr)
	}
	if mod.Sum != sum {
		return "", fmt.Errorf("istio.io/api@%s: hash %s, want %s", version, mod.Sum, sum)
	}
	return istioCRDPath(mod.Dir), nil
}

func istioCRDPath(moduleDir string) string {
	return filepath.Join(moduleDir, "kubernetes", "customresourcedefinitions.gen.yaml")
}

// LoadCRDs reads CustomResourceDefinitions (multi-document YAML) and prepares a validator for
// every served version.
func LoadCRDs(path string) (*CRDs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs, err := ParseManifests(path, data)
	if err != nil {
		return nil, err
	}
	c := &CRDs{versions: map[schema.GroupVersionKind]*crdVersion{}}
	for _, doc := range docs {
		if doc.GVK().Kind != "CustomResourceDefinition" {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := json.Unmarshal(doc.Raw, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", doc, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			cv, err := newCRDVersion(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("CRD %s version %s: %w", crd.Name, v.Name, err)
			}
			cv.namespaced = crd.Spec.Scope == apiextensionsv1.NamespaceScoped
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			c.versions[gvk] = cv
		}
	}
	if len(c.versions) == 0 {
		return nil, fmt.Errorf("%s: no CustomResourceDefinition with a schema", path)
	}
	return c, nil
}

func newCRDVersion(v1schema *apiextensionsv1.JSONSchemaProps) (*crdVersion, error) {
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1schema, &internal, nil); err != nil {
		return nil, fmt.Errorf("converting the schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, fmt.Errorf("structural schema: %w", err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, fmt.Errorf("schema validator: %w", err)
	}
	return &crdVersion{
		structural: structural,
		schema:     validator,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// Knows reports whether gvk is a kind these CRDs define.
func (c *CRDs) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := c.versions[gvk]
	return ok
}

// Validate returns every problem the API server would report when creating m, plus the
// fields it would silently drop as unknown.
func (c *CRDs) Validate(m Manifest) field.ErrorList {
	gvk := m.GVK()
	v, ok := c.versions[gvk]
	if !ok {
		return field.ErrorList{field.Invalid(field.NewPath("apiVersion"), gvk.GroupVersion().String()+" "+gvk.Kind, "no CRD defines this kind")}
	}
	errs := validateMetadata(m, v.namespaced)

	pruned := deepCopyJSON(m.Object).(map[string]any)
	unknown := pruning.PruneWithOptions(pruned, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(path), nil, "unknown field: the API server would drop it without a word"))
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, m.Object, v.schema)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, m.Object)...)
	if v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, m.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// validateMetadata checks what every example must carry: a valid name, and an explicit
// namespace for namespaced kinds so that `kubectl apply -f` never lands it wherever the
// current context points.
func validateMetadata(m Manifest, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	md := field.NewPath("metadata")
	if msgs := utilvalidation.IsDNS1123Subdomain(m.Name()); len(msgs) > 0 {
		errs = append(errs, field.Invalid(md.Child("name"), m.Name(), strings.Join(msgs, "; ")))
	}
	switch {
	case namespaced && m.Namespace() == "":
		errs = append(errs, field.Required(md.Child("namespace"), "examples name their namespace explicitly"))
	case !namespaced && m.Namespace() != "":
		errs = append(errs, field.Invalid(md.Child("namespace"), m.Namespace(), "cluster-scoped kind"))
	}
	if msgs := utilvalidation.IsDNS1123Label(m.Namespace()); m.Namespace() != "" && len(msgs) > 0 {
		errs = append(errs, field.Invalid(md.Child("namespace"), m.Namespace(), strings.Join(msgs, "; ")))
	}
	return errs
}

// deepCopyJSON copies a JSON-compatible value, since pruning edits its input in place.
func deepCopyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopyJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopyJSON(x)
		}
		return out
	default:
		return v
	}
}
