#!/usr/bin/env bash
# Prints the path of a Dex binary for the end-to-end tests and the demo, building it once.
#
# Dex is the identity provider of the Kubeflow reference architecture. `go install` cannot build
# it (its go.mod has replace lines and its v2 tags are not served by the module proxy), so it is
# built through a small wrapper module in the cache directory ($OIDC_WASM_CACHE, default
# ~/.cache/oidc-wasm). A binary named by $DEX_BIN is used as it is.
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail

DEX_VERSION="${DEX_VERSION:-v0.0.0-20250829100637-2dce75009acf}" # Dex v2.44.0
DEX_API_VERSION=v2.4.0
CACHE="${OIDC_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-wasm}"
DEST="$CACHE/dex-$DEX_VERSION"

log() { printf '[install-dex] %s\n' "$*" >&2; }

if [ -n "${DEX_BIN:-}" ]; then
	echo "$DEX_BIN"
	exit 0
fi
if [ -x "$DEST/dex" ]; then
	log "cached: $DEST/dex"
	echo "$DEST/dex"
	exit 0
fi

log "building Dex $DEX_VERSION into $DEST (about 4 minutes, once)"
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/.dex-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
printf 'module local/dexbuild\n\ngo 1.25.0\n' >go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/dexidp/dex/cmd/dex"\n' >tools.go
GOFLAGS=-mod=mod go get "github.com/dexidp/dex@$DEX_VERSION" "github.com/dexidp/dex/api/v2@$DEX_API_VERSION" >&2
GOFLAGS=-mod=mod go build -o dex github.com/dexidp/dex/cmd/dex >&2
mkdir -p "$DEST"
mv dex "$DEST/dex.tmp" && mv "$DEST/dex.tmp" "$DEST/dex"
log "built $DEST/dex"
echo "$DEST/dex"
