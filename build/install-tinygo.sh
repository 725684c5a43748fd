#!/usr/bin/env bash
# Prints the path of a TinyGo compiler able to build the plugin, installing one if needed.
#
# 1. A `tinygo` >= 0.34 already on PATH (or named by $TINYGO) is used as it is.
# 2. Otherwise TinyGo is built from its Go module (github.com/tinygo-org/tinygo) against Debian's
#    LLVM, with no download from anywhere but the Go module proxy and apt, into a cache directory
#    ($OIDC_WASM_CACHE, default ~/.cache/oidc-wasm). The result only targets wasip1, which is
#    all a Proxy-Wasm plugin needs. A second run with the same inputs is a no-op.
#
# Progress goes to stderr; the only line on stdout is the compiler's path, so a Makefile can say
#   tg=$(bash build/install-tinygo.sh) && $tg build ...
set -euo pipefail

TINYGO_VERSION="${TINYGO_VERSION:-v0.42.0}"
LLVM_MAJOR=19
RECIPE_REV=1 # bump when this script changes what it builds
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${OIDC_WASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-wasm}"
DEST="$CACHE/tinygo-${TINYGO_VERSION#v}"

log() { printf '[install-tinygo] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- 1. an existing TinyGo
usable() { # usable PATH -> 0 when it is TinyGo >= 0.34
	local v
	v="$("$1" version 2>/dev/null | sed -n 's/^tinygo version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')" || return 1
	[ -n "$v" ] || return 1
	set -- $v
	[ "$1" -gt 0 ] || [ "$2" -ge 34 ]
}
for cand in "${TINYGO:-}" "$(command -v tinygo || true)"; do
	if [ -n "$cand" ] && usable "$cand"; then
		log "using $("$cand" version)"
		echo "$cand"
		exit 0
	fi
done

command -v go >/dev/null || die "go not found in PATH"
GOVER="$(go env GOVERSION)"
GOROOT_DIR="$(go env GOROOT)"
STAMP="tinygo=$TINYGO_VERSION llvm=$LLVM_MAJOR go=$GOVER recipe=$RECIPE_REV"
# ---------------------------------------------------------------- 2. apt packages
# LLVM, wasi-libc and compiler-rt to build TinyGo; binaryen's wasm-opt, which every TinyGo
# build runs (release archives bundle it; ours comes from Debian). Checked on every run, as a
# cached TinyGo is useless without them.
PKGS=(build-essential "llvm-$LLVM_MAJOR-dev" "libclang-$LLVM_MAJOR-dev" "clang-$LLVM_MAJOR" "lld-$LLVM_MAJOR"
	wasi-libc "libclang-rt-$LLVM_MAJOR-dev-wasm32" binaryen)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	log "apt-get install ${missing[*]} (about 1 minute)"
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ -x "$DEST/bin/tinygo" ] && [ "$(cat "$DEST/.stamp" 2>/dev/null)" = "$STAMP" ]; then
	log "cached: $DEST ($STAMP)"
	echo "$DEST/bin/tinygo"
	exit 0
fi
log "no TinyGo >= 0.34 found: building $TINYGO_VERSION from source into $DEST (about 3 minutes, once)"
WASI_LIBC_A=/usr/lib/wasm32-wasi/libc.a
WASI_INC=/usr/include/wasm32-wasi
RT_A="/usr/lib/llvm-$LLVM_MAJOR/lib/clang/$LLVM_MAJOR/lib/wasi/libclang_rt.builtins-wasm32.a"
for f in "$WASI_LIBC_A" "$WASI_INC/stdio.h" "$RT_A"; do [ -e "$f" ] || die "missing $f"; done

# ---------------------------------------------------------------- 3. source from the module proxy
log "downloading github.com/tinygo-org/tinygo@$TINYGO_VERSION"
SRC="$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/tinygo-org/tinygo@$TINYGO_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$SRC" ] && [ -f "$SRC/main.go" ] || die "could not download tinygo $TINYGO_VERSION"
gominor="$(echo "$GOVER" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
read -r gmin gmax <<<"$(sed -n 's/.*const minorM\(in\|ax\) = \([0-9]*\).*/\2/p' "$SRC/builder/config.go" | tr '\n' ' ')"
[ "$gominor" -ge "$gmin" ] && [ "$gominor" -le "$gmax" ] || die "$GOVER unsupported by tinygo $TINYGO_VERSION (needs go1.$gmin..go1.$gmax)"

mkdir -p "$CACHE"
BUILD="$(mktemp -d "$CACHE/.tinygo-build.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
cp -r "$SRC/." "$BUILD/"
chmod -R u+w "$BUILD"
cd "$BUILD"

# ---------------------------------------------------------------- 4. source patches
# 4a. tinygo.org/x/espflasher (ESP32 flashing, unused for wasm) is not served by the proxy in the
#     version TinyGo 0.42 wants: stub it, only when it cannot be downloaded.
espver="$(awk '$1=="tinygo.org/x/espflasher"{print $2}' go.mod)"
if [ -n "$espver" ] && ! (cd / && go mod download "tinygo.org/x/espflasher@$espver") >/dev/null 2>&1; then
	log "patch: espflasher $espver not downloadable, using a stub"
	mkdir -p _stubs/espflasher/pkg/espflasher
	printf 'module tinygo.org/x/espflasher\n\ngo 1.22\n' >_stubs/espflasher/go.mod
	cp "$HERE/tinygo-patches/espflasher/stub.go.in" _stubs/espflasher/pkg/espflasher/stub.go
	go mod edit -replace "tinygo.org/x/espflasher=./_stubs/espflasher"
fi

# 4b. Go >= 1.24's crypto/internal/sysrand calls time.AfterFunc, which starts a goroutine: with
#     -scheduler=none every program using crypto/rand fails to compile. Use a copy without it.
if ! grep -q 'crypto/internal/sysrand/' loader/goroot.go; then
	perl -0pi -e 's|(\n\tif needsSyscallPackage \{)|\n\t// install-tinygo.sh: patched crypto/internal/sysrand (no timer goroutine).\n\tif goMinor >= 24 {\n\t\tpaths["crypto/internal/sysrand/"] = false\n\t}\n$1|' loader/goroot.go
fi
grep -q 'paths\["crypto/internal/sysrand/"\] = false' loader/goroot.go || die "patch 4b (goroot.go) failed"
if [ -d "$GOROOT_DIR/src/crypto/internal/sysrand" ]; then
	rm -rf src/crypto/internal/sysrand
	cp -r "$GOROOT_DIR/src/crypto/internal/sysrand" src/crypto/internal/sysrand
	chmod -R u+w src/crypto/internal/sysrand
	rm -f src/crypto/internal/sysrand/*_test.go
	perl -0pi -e 's|\n(\t+)t := time\.AfterFunc\(time\.Minute, warnBlocked\)\n\t+defer t\.Stop\(\)\n|\n$1_, _ = time.Minute, warnBlocked // tinygo: no timer goroutine\n|' \
		src/crypto/internal/sysrand/rand.go
	! grep -q 'time.AfterFunc' src/crypto/internal/sysrand/rand.go || die "patch 4b (sysrand) failed"
fi

# 4c. TinyGo 0.42's internal/poll for wasip1 arms deadline timers with time.AfterFunc: without a
#     scheduler nothing can park, so use no timer there.
if grep -q 'timer := time.AfterFunc(d, func() {' src/internal/poll/fd_wasip1.go 2>/dev/null; then
	sed -i 's/timer := time.AfterFunc(d, func() {/timer := deadlineTimer(d, func() {/' src/internal/poll/fd_wasip1.go
	cat >src/internal/poll/fd_wasip1_timer.go <<'EOF'
//go:build wasip1 && !scheduler.none

package poll

import "time"

func deadlineTimer(d time.Duration, f func()) *time.Timer { return time.AfterFunc(d, f) }
EOF
	cat >src/internal/poll/fd_wasip1_timer_none.go <<'EOF'
//go:build wasip1 && scheduler.none

package poll

import "time"

type noTimer struct{}

func (noTimer) Stop() bool { return false }

// install-tinygo.sh: no goroutines without a scheduler, so no deadline timer.
func deadlineTimer(d time.Duration, f func()) noTimer { return noTimer{} }
EOF
fi

# 4d. Use prebuilt C libraries from $TINYGOROOT/pkg (as release archives do) instead of building
#     them from git submodules the module zip does not contain.
if ! grep -q 'install-tinygo.sh: prebuilt' compileopts/config.go; then
	perl -0pi -e 's|(\n\t// No precompiled library found\.)|\n\t// install-tinygo.sh: prebuilt library in \$TINYGOROOT/pkg.\n\tprebuilt := filepath.Join(goenv.Get("TINYGOROOT"), "pkg", name+options+"-"+archname)\n\tif _, err := os.Stat(filepath.Join(prebuilt, "lib.a")); err == nil {\n\t\treturn prebuilt\n\t}\n$1|' compileopts/config.go
fi
grep -q 'install-tinygo.sh: prebuilt' compileopts/config.go || die "patch 4d (config.go) failed"

# 4e. src/net is a git submodule, absent from the module zip. An empty src/net makes TinyGo use
#     Go's own net packages; net/http always comes from TinyGo's tree, so give it a compile-only
#     stand-in in which every network call fails (the plugin never uses it: all I/O goes
#     through proxywasm.DispatchHttpCall).
mkdir -p src/net/http
cp "$HERE/tinygo-patches/nethttp/http.go.in" src/net/http/http.go

# 4f. The target files name two LLVM 20 features that LLVM 19 does not know.
if [ "$LLVM_MAJOR" -lt 20 ]; then
	sed -i -e 's/+bulk-memory-opt,//g; s/,+bulk-memory-opt//g; s/+call-indirect-overlong,//g; s/,+call-indirect-overlong//g' targets/*.json
fi

# ---------------------------------------------------------------- 5. build against Debian's LLVM
log "compiling tinygo with llvm$LLVM_MAJOR (about 1-2 minutes)"
CGO_ENABLED=1 go build -buildvcs=false -tags "llvm$LLVM_MAJOR" -o bin/tinygo .

# ---------------------------------------------------------------- 6. prebuilt C libraries for wasip1
mkdir -p pkg/wasi-libc-wasm32-unknown-wasi-generic pkg/compiler-rt-wasm32-unknown-wasi-generic
cp "$WASI_LIBC_A" pkg/wasi-libc-wasm32-unknown-wasi-generic/lib.a
cp -r "$WASI_INC" pkg/wasi-libc-wasm32-unknown-wasi-generic/include
cp "$RT_A" pkg/compiler-rt-wasm32-unknown-wasi-generic/lib.a
rm -rf _stubs
echo "$STAMP" >.stamp

# ---------------------------------------------------------------- 7. install atomically
rm -rf "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$BUILD" "$DEST"
trap - EXIT
rm -rf "$DEST.old"
rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}"/tinygo/goroot-* 2>/dev/null || true # stale GOROOT overlays
log "installed: $("$DEST/bin/tinygo" version)"
echo "$DEST/bin/tinygo"
