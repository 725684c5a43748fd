# Sourced by the scripts that install the Go programs the tests and benchmarks run (Dex, Hydra,
# oauth2-proxy). Each is built once into the cache directory ($OIDC_WASM_CACHE, default
# ~/.cache/oidc-wasm) through a small wrapper module, so its dependencies never enter a go.mod
# of this repository. The sourcing script sets TOOL (the binary's name), DEST (its directory in
# the cache) and OVERRIDE (a binary the user named, used as it is).
# Progress goes to stderr; stdout carries only the path.

CACHE="${OIDC_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-wasm}"

log() { printf '[install-%s] %s\n' "$TOOL" "$*" >&2; }

# start_build VERSION DURATION PACKAGE GO_VERSION prints the path and exits when the binary is
# named by OVERRIDE or already built; else it enters a scratch directory holding a wrapper
# module that imports PACKAGE, for the caller to `go get` and build $TOOL in.
start_build() {
	if [ -n "$OVERRIDE" ]; then
		echo "$OVERRIDE"
		exit 0
	fi
	if [ -x "$DEST/$TOOL" ]; then
		log "cached: $DEST/$TOOL"
		echo "$DEST/$TOOL"
		exit 0
	fi
	log "building $TOOL $1 into $DEST ($2, once)"
	mkdir -p "$CACHE"
	WORK="$(mktemp -d "$CACHE/.$TOOL-build.XXXXXX")"
	trap 'rm -rf "$WORK"' EXIT
	cd "$WORK"
	printf 'module local/build\n\ngo %s\n' "$4" >go.mod
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$3" >tools.go
}

# finish_build moves the built binary into the cache in one rename and prints its path.
finish_build() {
	mkdir -p "$DEST"
	mv "$TOOL" "$DEST/$TOOL.tmp" && mv "$DEST/$TOOL.tmp" "$DEST/$TOOL"
	log "built $DEST/$TOOL"
	echo "$DEST/$TOOL"
}
