package validate

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coreScheme holds the built-in kinds the examples and the Kubeflow objects they are built
// with use. Only these API groups are registered: enough, and far cheaper to compile than
// client-go's scheme.
var coreScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strictDecoder refuses unknown and duplicate fields, as `kubectl apply --validate=strict`
// does.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, coreScheme, coreScheme, kjson.SerializerOptions{Strict: true})

// IsCoreKind reports whether gvk is a built-in kind this package can decode.
func IsCoreKind(gvk schema.GroupVersionKind) bool { return coreScheme.Recognizes(gvk) }

// DecodeCore decodes a built-in kind strictly into its Go type and checks its metadata. A
// patch (partial object for `kubectl patch`) skips the checks that need a whole object.
func DecodeCore(m Manifest, patch bool) (runtime.Object, field.ErrorList) {
	obj, _, err := strictDecoder.Decode(m.Raw, nil, nil)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(field.NewPath(m.GVK().Kind), nil, err.Error())}
	}
	errs := validateMetadata(m, m.GVK().Kind != "Namespace")
	if c, ok := obj.(*corev1.ConfigMap); ok && [2]string{c.Namespace, c.Name} == MeshConfigMap {
		if _, err := DecodeMeshConfig(c.Data["mesh"]); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("data").Key("mesh"), nil, err.Error()))
		}
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		if !patch {
			errs = append(errs, checkDeployment(d)...)
		}
		if v, ok := d.Spec.Template.Annotations[ProxyConfigAnnotation]; ok {
			if _, err := DecodeProxyConfig(v); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "template", "metadata", "annotations").Key(ProxyConfigAnnotation), v, err.Error()))
			}
		}
	}
	return obj, errs
}

// checkDeployment catches what makes a Deployment useless even though it decodes: a selector
// that does not select its own pods.
func checkDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		return field.ErrorList{field.Required(spec.Child("selector"), "")}
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return field.ErrorList{field.Invalid(spec.Child("template", "metadata", "labels"), d.Spec.Template.Labels, "not selected by spec.selector")}
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return field.ErrorList{field.Required(spec.Child("template", "spec", "containers"), "")}
	}
	return nil
}

// EnvFromSecrets lists the environment variables of every container of a Deployment (whole
// or patch) that are fed by a Secret key, as "NAME=secret/key".
func EnvFromSecrets(d *appsv1.Deployment) map[string]string {
	out := map[string]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
				out[e.Name] = ref.SecretKeyRef.Name + "/" + ref.SecretKeyRef.Key
			}
		}
	}
	return out
}

// SecretKeys lists "name/key" for every key of a Secret (data and stringData).
func SecretKeys(s *corev1.Secret) []string {
	var out []string
	for k := range s.Data {
		out = append(out, s.Name+"/"+k)
	}
	for k := range s.StringData {
		out = append(out, s.Name+"/"+k)
	}
	return out
}
