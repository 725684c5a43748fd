#!/usr/bin/env bash
# Prints the path of an Ory Hydra binary for the end-to-end tests, building it once.
#
# Hydra is an OpenID-certified server whose login and consent pages are apps of one's own (the
# tests play them). `go install` cannot build it: its go.mod replaces gobuffalo/pop with Ory's
# fork, and `go install` ignores replace lines. So it is built through a wrapper module
# (build/cached-build.sh) that repeats the replace, with the sqlite tag and cgo, which Hydra's
# in-memory storage (DSN=memory) needs. A binary named by $HYDRA_BIN is used as it is.
set -euo pipefail

HYDRA_VERSION="${HYDRA_VERSION:-v2.3.0}"
# Hydra's internal/httpclient is this separate module; v2.3.0 builds against v2.2.1.
HYDRA_CLIENT_VERSION=v2.2.1
# The pop fork Hydra v2.3.0's go.mod names in its replace line.
POP_FORK=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
TOOL=hydra
OVERRIDE="${HYDRA_BIN:-}"
source "$(dirname "${BASH_SOURCE[0]}")/cached-build.sh"
DEST="$CACHE/hydra-$HYDRA_VERSION"

start_build "$HYDRA_VERSION" "about 4 minutes" github.com/ory/hydra/v2 1.26.0
go mod edit -replace "github.com/gobuffalo/pop/v6=$POP_FORK"
GOFLAGS=-mod=mod go get "github.com/ory/hydra/v2@$HYDRA_VERSION" "github.com/ory/hydra-client-go/v2@$HYDRA_CLIENT_VERSION" >&2
CGO_ENABLED=1 GOFLAGS=-mod=mod go build -tags sqlite -o hydra github.com/ory/hydra/v2 >&2
finish_build
