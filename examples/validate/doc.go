// Package validate checks the project's deployment examples offline, the way the systems that
// will read them would: kustomize components through what `kustomize build` makes of them
// (on a copy of Kubeflow's own manifests for examples/kubeflow), Istio resources against
// Istio's real CRD schemas including their CEL rules (what the Kubernetes API server enforces
// on create), for each Istio release an example targets, core Kubernetes kinds by strict
// decoding into their Go types, Envoy bootstraps by strict decoding into Envoy's protobuf API
// (what Envoy does at start), and every plugin configuration by the plugin's own ParseConfig.
// Its tests then check how the pieces of each install fit (wiring_test.go).
//
// It exists because none of those systems can run here (no cluster, no Envoy binary), and a
// typo in an example is a broken install for whoever copies it. It is a separate module so
// that the heavy Kubernetes, Istio, kustomize and Envoy API dependencies stay out of the
// plugin's go.mod.
package validate
