#!/usr/bin/env bash
# Prints the path of an oauth2-proxy binary for `make bench`, building it once through a
# wrapper module in the cache directory ($OIDC_WASM_CACHE, default ~/.cache/oidc-wasm): its
# dependencies never enter a go.mod of this repository. $OAUTH2_PROXY_BIN is used as it is.
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail

VERSION="${OAUTH2_PROXY_VERSION:-v7.15.3}"
CACHE="${OIDC_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-wasm}"
DEST="$CACHE/oauth2-proxy-$VERSION"

log() { printf '[install-oauth2-proxy] %s\n' "$*" >&2; }

if [ -n "${OAUTH2_PROXY_BIN:-}" ]; then
	echo "$OAUTH2_PROXY_BIN"
	exit 0
fi
if [ -x "$DEST/oauth2-proxy" ]; then
	log "cached: $DEST/oauth2-proxy"
	echo "$DEST/oauth2-proxy"
	exit 0
fi

log "building oauth2-proxy $VERSION into $DEST (about 1.5 minutes, once)"
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/.oauth2-proxy-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
printf 'module local/oauth2proxybuild\n\ngo 1.25.0\n' >go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/oauth2-proxy/oauth2-proxy/v7"\n' >tools.go
GOFLAGS=-mod=mod go get "github.com/oauth2-proxy/oauth2-proxy/v7@$VERSION" >&2
GOFLAGS=-mod=mod go build -o oauth2-proxy github.com/oauth2-proxy/oauth2-proxy/v7 >&2
mkdir -p "$DEST"
mv oauth2-proxy "$DEST/oauth2-proxy.tmp" && mv "$DEST/oauth2-proxy.tmp" "$DEST/oauth2-proxy"
log "built $DEST/oauth2-proxy"
echo "$DEST/oauth2-proxy"
