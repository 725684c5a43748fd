// Package validate checks the project's deployment examples offline, the way the systems that
// will read them would: Istio resources against Istio's real CRD schemas including their CEL
// rules (what the Kubernetes API server enforces on create), core Kubernetes kinds by strict
// decoding into their Go types, Envoy bootstraps by strict decoding into Envoy's protobuf API
// (what Envoy does at start), and every plugin configuration by the plugin's own ParseConfig.
//
// It exists because none of those systems can run here (no cluster, no Envoy binary), and a
// typo in an example is a broken install for whoever copies it. It is a separate module so
// that the heavy Kubernetes, Istio and Envoy API dependencies stay out of the plugin's go.mod.
package validate
