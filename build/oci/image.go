package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Variant names one of the two image layouts Istio's Wasm fetcher (istio.io/istio/pkg/wasm)
// accepts. Both carry the same module; which one a registry or scanner handles better varies,
// so both are built.
type Variant string

const (
	// Compat is the "compat" layout of the Wasm image specification: one gzip'd tar layer
	// (application/vnd.oci.image.layer.v1.tar+gzip) holding the file plugin.wasm, the same as
	// `FROM scratch` + `COPY plugin.wasm ./` would give. Every OCI registry stores it.
	Compat Variant = "compat"
	// OCI is the "oci" layout: the raw module as an
	// application/vnd.module.wasm.content.layer.v1+wasm layer plus an
	// application/vnd.module.wasm.config.v1+json layer. Istio's fetcher requires exactly these
	// two layers; the one-layer form that `oras push` produces is refused.
	OCI Variant = "oci"
)

// Variants lists every variant in the order they are built and pushed.
var Variants = []Variant{Compat, OCI}

// Media types of the "oci" variant's layers (solo-io Wasm image specification, as read by
// Istio's fetcher).
const (
	WasmLayerMediaType   types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	WasmConfigMediaType  types.MediaType = "application/vnd.module.wasm.config.v1+json"
	compatWasmFileName                   = "plugin.wasm"
	wasmRuntimeConfigDoc                 = `{"type":"envoy_proxy"}`
)

// BuildImage packs a Wasm module as the given variant. The result is reproducible: the same
// module always gives the same digest (no timestamps, fixed tar header and gzip settings),
// so a digest pinned in a WasmPlugin can be rebuilt and checked by anyone.
func BuildImage(v Variant, wasm []byte) (v1.Image, error) {
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("not a WebAssembly module (missing \\0asm magic)")
	}
	var layers []v1.Layer
	switch v {
	case Compat:
		gz, err := compatLayerBytes(wasm)
		if err != nil {
			return nil, err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(gz)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, fmt.Errorf("compat layer: %w", err)
		}
		layers = []v1.Layer{l}
	case OCI:
		layers = []v1.Layer{
			static.NewLayer(wasm, WasmLayerMediaType),
			static.NewLayer([]byte(wasmRuntimeConfigDoc), WasmConfigMediaType),
		}
	default:
		return nil, fmt.Errorf("unknown variant %q (want %q or %q)", v, Compat, OCI)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("%s image: %w", v, err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s image config: %w", v, err)
	}
	cfg = cfg.DeepCopy()
	// GOOS/GOARCH of the module: what a registry UI shows as the platform.
	cfg.OS, cfg.Architecture = "wasip1", "wasm"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("%s image config: %w", v, err)
	}
	return mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.title":       "oidc-wasm",
		"org.opencontainers.image.description": "OpenID Connect login as a Proxy-Wasm plugin (" + string(v) + " variant)",
	}).(v1.Image), nil
}

// compatLayerBytes is a gzip'd tar holding only plugin.wasm, with every header field fixed.
func compatLayerBytes(wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     compatWasmFileName,
		Mode:     0o444,
		Size:     int64(len(wasm)),
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("compat layer: %w", err)
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, fmt.Errorf("compat layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("compat layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compat layer: %w", err)
	}
	return buf.Bytes(), nil
}
