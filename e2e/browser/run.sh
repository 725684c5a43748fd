#!/usr/bin/env bash
# Real-browser test of the local demo (make test-browser). Installs what it needs, once:
# headless Chromium from apt (about 1 minute) and playwright-core from npm (npm ci against the
# committed lock); then builds the demo and runs demo.test.mjs with Node's test runner.
# Screenshots of every step and the demo's output land in e2e/browser/out/.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
root=$(cd ../.. && pwd)

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	echo "==> installing Chromium with apt (about 1 minute, once)"
	sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "Chromium is missing and installing it needs root: apt-get install chromium chromium-driver" >&2; exit 1; }
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi
echo "==> $("$chromium" --version 2>/dev/null || echo "$chromium")"

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	echo "Node >= 20 is needed (found $(node --version))" >&2
	exit 1
fi
# npm ci wipes node_modules every time; a copy of the lock it installed from says whether
# the installed packages are still the locked ones.
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
	echo "==> npm ci (playwright-core, a few seconds, once)"
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.installed-lock.json
fi

mkdir -p out
rm -f out/*.png out/demo.log
echo "==> building the demo"
(cd "$root" && go build -o "$here/out/demo" ./examples/demo)

echo "==> node --test demo.test.mjs (screenshots in e2e/browser/out/)"
DEMO_BIN="$here/out/demo" node --test demo.test.mjs
