package validate

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"sigs.k8s.io/yaml"
)

// istioSpecs maps each Istio kind the examples use to the protobuf message istiod decodes its
// spec into. Every served API version of a kind (v1alpha3, v1beta1, v1) shares one message.
var istioSpecs = map[string]func() proto.Message{
	"WasmPlugin":          func() proto.Message { return &extensionsv1alpha1.WasmPlugin{} },
	"Gateway":             func() proto.Message { return &networkingv1alpha3.Gateway{} },
	"VirtualService":      func() proto.Message { return &networkingv1alpha3.VirtualService{} },
	"DestinationRule":     func() proto.Message { return &networkingv1alpha3.DestinationRule{} },
	"ServiceEntry":        func() proto.Message { return &networkingv1alpha3.ServiceEntry{} },
	"AuthorizationPolicy": func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} },
	"PeerAuthentication":  func() proto.Message { return &securityv1beta1.PeerAuthentication{} },
	// The mesh's token checks: Kubeflow's dex-jwt, the bearer_passthrough examples, and the
	// app-side check of the plugin's signed assertion (examples/istio/signed-identity).
	"RequestAuthentication": func() proto.Message { return &securityv1beta1.RequestAuthentication{} },
}

// DecodeIstioSpec decodes the spec of an Istio resource into istiod's own type, refusing
// unknown fields. The CRD schema and this decoding are written from the same protos, but the
// schema is looser in places (free-form maps), so this is the last word on what istiod reads.
func DecodeIstioSpec(m Manifest) (proto.Message, error) {
	newSpec, ok := istioSpecs[m.GVK().Kind]
	if !ok {
		return nil, fmt.Errorf("%s: no Istio type known for kind %q", m, m.GVK().Kind)
	}
	raw, err := json.Marshal(m.Object["spec"])
	if err != nil {
		return nil, fmt.Errorf("%s: spec: %w", m, err)
	}
	spec := newSpec()
	if err := protojson.Unmarshal(raw, spec); err != nil {
		return nil, fmt.Errorf("%s: istiod could not read the spec: %w", m, err)
	}
	return spec, nil
}

// MeshConfigMap is the ConfigMap (namespace, name) from which istiod reads the mesh config, in
// its key "mesh" (YAML).
var MeshConfigMap = [2]string{"istio-system", "istio"}

// DecodeMeshConfig reads the mesh config (the "mesh" key of MeshConfigMap) as istiod does,
// refusing unknown fields: a patch that misspells a key would otherwise be dropped.
func DecodeMeshConfig(value string) (*meshv1alpha1.MeshConfig, error) {
	var mc meshv1alpha1.MeshConfig
	if err := decodeYAMLProto(value, &mc); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	return &mc, nil
}

// ProxyConfigAnnotation is the pod annotation by which a workload overrides the mesh's
// defaultConfig for its own proxy.
const ProxyConfigAnnotation = "proxy.istio.io/config"

// DecodeProxyConfig reads the value of a proxy.istio.io/config annotation (YAML) as istiod
// does, into the ProxyConfig type, refusing unknown fields: a misspelt key in an annotation
// is otherwise invisible until someone wonders why it has no effect.
func DecodeProxyConfig(value string) (*meshv1alpha1.ProxyConfig, error) {
	var pc meshv1alpha1.ProxyConfig
	if err := decodeYAMLProto(value, &pc); err != nil {
		return nil, fmt.Errorf("%s: %w", ProxyConfigAnnotation, err)
	}
	return &pc, nil
}

func decodeYAMLProto(value string, m proto.Message) error {
	js, err := yaml.YAMLToJSONStrict([]byte(value))
	if err != nil {
		return err
	}
	return protojson.Unmarshal(js, m)
}
