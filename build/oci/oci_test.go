package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"istio.io/istio/pkg/wasm"
)

// testModule is a valid, tiny Wasm module (magic, version, and a custom section so that its
// bytes are recognisable); the images only carry it, nothing runs it.
var testModule = []byte("\x00asm\x01\x00\x00\x00\x00\x0b\x0aoidc-wasm!")

// startRegistry runs go-containerregistry's in-memory registry on 127.0.0.1 and returns its
// host:port. DOCKER_CONFIG points at an empty directory so no credentials of this machine
// are read by either side.
func startRegistry(t *testing.T) string {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// istioFetch pulls ref the way istio-agent does for a WasmPlugin url oci://ref, with Istio's
// own fetcher, and returns the module and the manifest digest Istio saw.
func istioFetch(t *testing.T, ref string) ([]byte, string, error) {
	t.Helper()
	fetcher := wasm.NewImageFetcher(context.Background(), wasm.ImageFetcherOption{})
	binary, digest, err := fetcher.PrepareFetch(ref)
	if err != nil {
		return nil, "", err
	}
	module, err := binary()
	return module, digest, err
}

func TestIstioPullsBothVariants(t *testing.T) {
	host := startRegistry(t)
	for _, v := range Variants {
		t.Run(string(v), func(t *testing.T) {
			img, err := BuildImage(v, testModule)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.NewTag(host + "/oidc-wasm:" + string(v))
			if err != nil {
				t.Fatal(err)
			}
			if err := Push(context.Background(), ref, img); err != nil {
				t.Fatal(err)
			}
			got, digest, err := istioFetch(t, ref.String())
			if err != nil {
				t.Fatalf("Istio's fetcher refused the %s image: %v", v, err)
			}
			if !bytes.Equal(got, testModule) {
				t.Errorf("Istio extracted %q, want the module %q", got, testModule)
			}
			want, _ := img.Digest()
			if digest != want.Hex {
				t.Errorf("Istio saw digest %s, pushed %s", digest, want.Hex)
			}
		})
	}
}

// TestIstioRefusesMalformedImages proves the fetcher above is strict, so the positive test
// means something: images that look almost right are refused.
func TestIstioRefusesMalformedImages(t *testing.T) {
	host := startRegistry(t)
	wasmOnly, err := mutate.AppendLayers(empty.Image, static.NewLayer(testModule, WasmLayerMediaType))
	if err != nil {
		t.Fatal(err)
	}
	noPluginFile, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("not a tar"), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		img     v1.Image
		wantErr string
	}{
		// What `oras push REPO plugin.wasm:application/vnd.module.wasm.content.layer.v1+wasm`
		// produces: the module alone, one layer.
		{"one-layer oci variant", mutate.MediaType(wasmOnly, types.OCIManifestSchema1), "number of layers must be 2 but got 1"},
		{"compat layer that is not a tar.gz", mutate.MediaType(noPluginFile, types.OCIManifestSchema1), "could not parse as compat variant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := name.NewTag(host + "/bad:" + strings.ReplaceAll(tt.name, " ", "-"))
			if err != nil {
				t.Fatal(err)
			}
			if err := Push(context.Background(), ref, tt.img); err != nil {
				t.Fatal(err)
			}
			_, _, err = istioFetch(t, ref.String())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Istio's fetcher: got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestImagesAreReproducible(t *testing.T) {
	for _, v := range Variants {
		a, err := BuildImage(v, testModule)
		if err != nil {
			t.Fatal(err)
		}
		b, err := BuildImage(v, testModule)
		if err != nil {
			t.Fatal(err)
		}
		da, _ := a.Digest()
		db, _ := b.Digest()
		if da != db {
			t.Errorf("%s: two builds of the same module differ: %s, %s", v, da, db)
		}
	}
	c, _ := BuildImage(Compat, testModule)
	o, _ := BuildImage(OCI, testModule)
	dc, _ := c.Digest()
	do, _ := o.Digest()
	if dc == do {
		t.Error("the two variants have the same digest")
	}
}

func TestBuildImageRefusesNonWasm(t *testing.T) {
	tests := []struct {
		name    string
		variant Variant
		data    []byte
	}{
		{"not wasm", Compat, []byte("#!/bin/sh\n")},
		{"empty", OCI, nil},
		{"unknown variant", Variant("docker"), testModule},
	}
	for _, tt := range tests {
		if _, err := BuildImage(tt.variant, tt.data); err == nil {
			t.Errorf("%s: BuildImage accepted it", tt.name)
		}
	}
}

// TestRun drives the command as `make oci` and `make push` do: layouts on disk that read back
// as the same images, then a push whose printed url Istio can pull.
func TestRun(t *testing.T) {
	host := startRegistry(t)
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "plugin.wasm")
	if err := os.WriteFile(wasmPath, testModule, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "oci-out")
	var stdout bytes.Buffer
	args := []string{"-wasm", wasmPath, "-out", out, "-push", host + "/team/oidc-wasm:v1"}
	if err := run(context.Background(), args, &stdout); err != nil {
		t.Fatal(err)
	}

	for _, v := range Variants {
		want, err := BuildImage(v, testModule)
		if err != nil {
			t.Fatal(err)
		}
		wantDigest, _ := want.Digest()
		idx, err := layout.ImageIndexFromPath(filepath.Join(out, string(v)))
		if err != nil {
			t.Fatalf("%s layout: %v", v, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Digest != wantDigest {
			t.Fatalf("%s layout holds %+v, want the one image %s", v, m.Manifests, wantDigest)
		}
		tag := "v1"
		if v == OCI {
			tag = "v1-oci"
		}
		if got := m.Manifests[0].Annotations[refNameAnnotation]; got != tag {
			t.Errorf("%s layout ref name %q, want %q", v, got, tag)
		}
		url := "oci://" + host + "/team/oidc-wasm@" + wantDigest.String()
		if !strings.Contains(stdout.String(), url) {
			t.Errorf("output does not show the url %s:\n%s", url, stdout.String())
		}
		got, _, err := istioFetch(t, strings.TrimPrefix(url, "oci://"))
		if err != nil || !bytes.Equal(got, testModule) {
			t.Errorf("pulling %s: %v (got %d bytes)", url, err, len(got))
		}
	}

	// A second run replaces the layouts instead of adding to them.
	if err := run(context.Background(), []string{"-wasm", wasmPath, "-out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(out, string(Compat)))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := idx.IndexManifest(); len(m.Manifests) != 1 {
		t.Errorf("after a second run the layout holds %d images, want 1", len(m.Manifests))
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "plugin.wasm")
	if err := os.WriteFile(wasmPath, testModule, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"missing module", []string{"-wasm", filepath.Join(dir, "absent.wasm"), "-out", dir}},
		{"push without tag", []string{"-wasm", wasmPath, "-out", dir, "-push", "registry.example.com/oidc-wasm"}},
		{"stray argument", []string{"-wasm", wasmPath, "extra"}},
	}
	for _, tt := range tests {
		if err := run(context.Background(), tt.args, io.Discard); err == nil {
			t.Errorf("%s: run accepted %q", tt.name, tt.args)
		}
	}
}
