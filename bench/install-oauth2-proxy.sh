#!/usr/bin/env bash
# Prints the path of an oauth2-proxy binary for `make bench`, building it once through a
# wrapper module (build/cached-build.sh). $OAUTH2_PROXY_BIN is used as it is.
set -euo pipefail

VERSION="${OAUTH2_PROXY_VERSION:-v7.15.3}"
TOOL=oauth2-proxy
OVERRIDE="${OAUTH2_PROXY_BIN:-}"
source "$(dirname "${BASH_SOURCE[0]}")/../build/cached-build.sh"
DEST="$CACHE/oauth2-proxy-$VERSION"

start_build "$VERSION" "about 1.5 minutes" github.com/oauth2-proxy/oauth2-proxy/v7 1.25.0
GOFLAGS=-mod=mod go get "github.com/oauth2-proxy/oauth2-proxy/v7@$VERSION" >&2
GOFLAGS=-mod=mod go build -o oauth2-proxy github.com/oauth2-proxy/oauth2-proxy/v7 >&2
finish_build
