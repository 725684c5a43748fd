# oidc-wasm. `make test` installs what it needs (TinyGo, Dex, Hydra, linters) into a cache directory,
# builds both Wasm modules and runs every test; `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export OIDC_WASM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/oidc-wasm
STATICCHECK_VERSION := v0.6.1
STATICCHECK := $(OIDC_WASM_CACHE)/bin/staticcheck-$(STATICCHECK_VERSION)
# What the modules are built from: the entry point and the two shipped packages.
GO_SOURCES := main.go $(filter-out %_test.go,$(wildcard plugin/*.go oidc/*.go)) go.mod go.sum

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: build/plugin.wasm ## build the release module with TinyGo (installs TinyGo if needed)
build/plugin.wasm: $(GO_SOURCES)
	@echo "==> TinyGo build of $@ (about 2 minutes on 2 cores)"
	tinygo=$$(bash build/install-tinygo.sh) && \
	  $$tinygo build -o $@ -scheduler=none -target=wasip1 -buildmode=c-shared -no-debug .
	@ls -l $@

build-go: build/plugin-go.wasm ## build the module with standard Go (wasip1; Envoy >= 1.33)
build/plugin-go.wasm: $(GO_SOURCES)
	@echo "==> Go wasip1 build of $@"
	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o $@ .
	@ls -l $@

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck
	@echo "==> lint"
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@echo "==> installing staticcheck $(STATICCHECK_VERSION) into $(OIDC_WASM_CACHE)/bin"
	@mkdir -p $(OIDC_WASM_CACHE)/bin
	GOBIN=$(OIDC_WASM_CACHE)/bin go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(OIDC_WASM_CACHE)/bin/staticcheck $@

.PHONY: dex
dex: ## build the Dex identity provider used by the end-to-end tests (cached)
	@bash build/install-dex.sh >/dev/null

.PHONY: hydra
hydra: ## build the Ory Hydra identity provider used by the end-to-end tests (cached; about 4 minutes once)
	@bash build/install-hydra.sh >/dev/null

.PHONY: demo
demo: build dex ## start the local demo on 127.0.0.1: Dex, an app, and a gateway (Envoy when ENVOY_PATH or func-e is there, else the project's Proxy-Wasm host)
	@echo "==> building and starting the demo (examples/demo; Ctrl-C stops it)"
	@go build -o $(OIDC_WASM_CACHE)/bin/oidc-wasm-demo ./examples/demo
	@DEX_BIN=$$(bash build/install-dex.sh 2>/dev/null) $(OIDC_WASM_CACHE)/bin/oidc-wasm-demo

.PHONY: test-browser
test-browser: build dex ## real-browser test of the demo
	@echo "==> real-browser test of the demo (installs Chromium and playwright-core once)"
	DEX_BIN=$$(bash build/install-dex.sh 2>/dev/null) bash e2e/browser/run.sh

# The OCI images Istio's WasmPlugin pulls, built without a Docker daemon by build/oci (its own
# Go module, so go-containerregistry stays out of the plugin's go.mod).
OCI_OUT := build/oci-out

.PHONY: oci
oci: build ## pack build/plugin.wasm as OCI images (both layouts Istio pulls) in build/oci-out
	@echo "==> OCI image layouts of build/plugin.wasm in $(OCI_OUT)/compat and $(OCI_OUT)/oci"
	cd build/oci && go run . -wasm "$(CURDIR)/build/plugin.wasm" -out "$(CURDIR)/$(OCI_OUT)"

.PHONY: push
push: build ## push the images: make push REGISTRY=registry.example.com/team/oidc-wasm:v1
	@if [ -z "$(REGISTRY)" ]; then echo "usage: make push REGISTRY=<registry>/<repository>:<tag> (credentials: docker login)"; exit 2; fi
	@echo "==> pushing build/plugin.wasm to $(REGISTRY) (compat) and $(REGISTRY)-oci (oci)"
	cd build/oci && go run . -wasm "$(CURDIR)/build/plugin.wasm" -out "$(CURDIR)/$(OCI_OUT)" -push "$(REGISTRY)"

# The deployment examples and the OCI packer are nested Go modules (Istio, Kubernetes and Envoy
# API dependencies stay out of the plugin's go.mod), so `go test ./...` at the root skips them.
# examples/validate builds the plugin package from ../.. (replace): -mod=mod lets a dependency
# added to the root go.mod reach its go.sum instead of failing the build.
.PHONY: test-deploy
test-deploy: build build-go $(STATICCHECK) ## validate examples and OCI images
	@echo "==> deployment examples (examples/validate) and OCI images (build/oci)"
	for m in examples/validate build/oci; do \
	  ( cd $$m && unformatted=$$(gofmt -l .) && \
	    if [ -n "$$unformatted" ]; then echo "gofmt needed in $$m: $$unformatted"; exit 1; fi && \
	    go vet -mod=mod ./... && $(STATICCHECK) ./... && OIDC_WASM_REQUIRE_WASM=1 go test -count=1 -timeout 30m ./... ); \
	done

# CI runs every fuzz target briefly on top of its seeds, so a regression the fuzzer finds in
# seconds fails the build. The bound is a count of inputs, not a duration: with a duration,
# an input still running when time is up makes `go test` fail with "context deadline
# exceeded" and no crasher. 5000 inputs take 0.1 to 2 s per target here.
.PHONY: fuzz-short
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5000x

.PHONY: test
test: lint build build-go dex hydra test-browser test-deploy fuzz-short ## everything CI runs: lint, builds, native + wasm + end-to-end + browser + deployment tests, 5000 inputs of each fuzzer
	@echo "==> go test (native mode, wasm mode against both modules, the project's host, end to end against Dex, oidc-provider and Hydra, a short load)"
	DEX_BIN=$$(bash build/install-dex.sh) HYDRA_BIN=$$(bash build/install-hydra.sh) OIDC_WASM_REQUIRE_WASM=1 go test -count=1 -timeout 30m ./...

# bench/ is a nested Go module (jwx and the SDK's emulator imported directly stay out of the
# plugin's go.mod); oauth2-proxy is built once into the cache by bench/install-oauth2-proxy.sh.
.PHONY: bench
bench: build build-go dex ## measure both modules on the project's host (and in the SDK's emulator), then over HTTP against oauth2-proxy; writes BENCHMARKS.md (~10 min, not part of test)
	@echo "==> benchmarks (bench/): per request in the project's host and the SDK's emulator, memory over 10^6 requests, HTTP at concurrency 1, 8, 64 with oauth2-proxy"
	o2p=$$(bash bench/install-oauth2-proxy.sh) && tinygo=$$(bash build/install-tinygo.sh) && \
	  cd bench && DEX_BIN=$$(bash ../build/install-dex.sh) TINYGO=$$tinygo BENCH_COMMAND="make bench" \
	  go run . -oauth2-proxy "$$o2p" -out ../BENCHMARKS.md
	@echo "==> native oidc/ hot paths"
	go test -run '^$$' -bench . -benchmem ./oidc/ | tee -a BENCHMARKS.md.oidc && \
	  { printf '\n## Native oidc/ hot paths (go test -bench . -benchmem ./oidc/)\n\n```\n'; cat BENCHMARKS.md.oidc; printf '```\n'; } >> BENCHMARKS.md && rm -f BENCHMARKS.md.oidc

# The full load test (internal/loadtest): 10^4 sessions and 10^6 requests against oidc-provider
# with a refresh storm, the IdP killed and restarted and its key rotated, then two replicas.
# `make test` runs a short version of it (TestShortLoad, in go test ./...).
.PHONY: load
load: build ## the load test on the project's host against oidc-provider, one and two replicas; writes its section of BENCHMARKS.md (~10 min, not part of test)
	@echo "==> load (bench/load): 10^4 sessions, 10^6 requests, refresh storm, IdP outage, key rotation; then two replicas"
	cd bench && go run ./load -wasm ../build/plugin.wasm -out ../BENCHMARKS.md

# Every Go fuzz target of oidc/ and plugin/, one after the other, FUZZTIME each. The seed
# corpora (testdata/fuzz/) already run in every plain `go test`; new crashers land there too.
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## run every fuzz target of oidc/ and plugin/ for FUZZTIME each (default 30s; or a count, e.g. 5000x)
	@for pkg in ./oidc/ ./plugin/; do \
	  for target in $$(go test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "==> $$pkg $$target ($(FUZZTIME))"; \
	    go test $$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

.PHONY: clean
clean: ## remove build outputs (the tool cache stays)
	rm -f build/*.wasm
