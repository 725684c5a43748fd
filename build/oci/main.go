// Command oci packs the plugin's Wasm module as OCI images that Istio's WasmPlugin can pull,
// without a Docker daemon. It builds both layouts Istio accepts (see Variant), writes each as
// an OCI image layout under -out, and with -push uploads them to a registry:
//
//	go run . -wasm ../plugin.wasm -out ../oci-out
//	go run . -wasm ../plugin.wasm -out ../oci-out -push registry.example.com/team/oidc-wasm:v1
//
// -push REPO:TAG uploads the compat variant as REPO:TAG and the oci variant as REPO:TAG-oci,
// and prints the digest-pinned url to put in the WasmPlugin. Credentials come from the
// Docker config (docker login, crane auth login; DOCKER_CONFIG to point elsewhere).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("oci", flag.ContinueOnError)
	wasmPath := fs.String("wasm", "../plugin.wasm", "the Wasm module to pack")
	outDir := fs.String("out", "../oci-out", "directory for the OCI layouts (one subdirectory per variant)")
	tag := fs.String("tag", "latest", "tag recorded in the layouts when -push is not given")
	push := fs.String("push", "", "REGISTRY/REPO:TAG to push to (the oci variant goes to TAG-oci)")
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry (localhost and 127.0.0.1 always are)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		return fmt.Errorf("reading the module (build it with make build): %w", err)
	}

	var refs map[Variant]name.Tag
	if *push != "" {
		if refs, err = pushTags(*push, *insecure); err != nil {
			return err
		}
	}
	for _, v := range Variants {
		img, err := BuildImage(v, wasm)
		if err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("%s digest: %w", v, err)
		}
		layoutTag := *tag
		if ref, ok := refs[v]; ok {
			layoutTag = ref.TagStr()
		}
		dir := filepath.Join(*outDir, string(v))
		if err := WriteLayout(dir, layoutTag, img); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-6s %s  %s\n", v, digest, dir)
		if ref, ok := refs[v]; ok {
			if err := Push(ctx, ref, img); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "       pushed %s\n       WasmPlugin url: oci://%s@%s\n",
				ref.Name(), ref.Context().Name(), digest)
		}
	}
	return nil
}

// pushTags derives each variant's tag from the one given: the compat variant, which every
// registry and tool handles, gets the tag as given.
func pushTags(ref string, insecure bool) (map[Variant]name.Tag, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	compat, err := name.NewTag(ref, append(opts, name.StrictValidation)...)
	if err != nil {
		return nil, fmt.Errorf("-push %q: want REGISTRY/REPO:TAG: %w", ref, err)
	}
	oci := compat.Context().Tag(compat.TagStr() + "-oci")
	return map[Variant]name.Tag{Compat: compat, OCI: oci}, nil
}

// Push uploads img as ref with the credentials of the Docker config.
func Push(ctx context.Context, ref name.Tag, img v1.Image) error {
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}
