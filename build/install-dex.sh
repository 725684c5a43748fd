#!/usr/bin/env bash
# Prints the path of a Dex binary for the end-to-end tests and the demo, building it once.
#
# Dex is the identity provider of the Kubeflow reference architecture. `go install` cannot build
# it (its go.mod has replace lines and its v2 tags are not served by the module proxy), so it is
# built through a wrapper module (build/cached-build.sh). A binary named by $DEX_BIN is used as
# it is.
set -euo pipefail

DEX_VERSION="${DEX_VERSION:-v0.0.0-20250829100637-2dce75009acf}" # Dex v2.44.0
DEX_API_VERSION=v2.4.0
TOOL=dex
OVERRIDE="${DEX_BIN:-}"
source "$(dirname "${BASH_SOURCE[0]}")/cached-build.sh"
DEST="$CACHE/dex-$DEX_VERSION"

start_build "$DEX_VERSION" "about 4 minutes" github.com/dexidp/dex/cmd/dex 1.25.0
GOFLAGS=-mod=mod go get "github.com/dexidp/dex@$DEX_VERSION" "github.com/dexidp/dex/api/v2@$DEX_API_VERSION" >&2
GOFLAGS=-mod=mod go build -o dex github.com/dexidp/dex/cmd/dex >&2
finish_build
