# oidc-wasm. `make test` installs what it needs (TinyGo, Dex, linters) into a cache directory,
# builds both Wasm modules and runs every test; `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export OIDC_WASM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/oidc-wasm
STATICCHECK_VERSION := v0.6.1
STATICCHECK := $(OIDC_WASM_CACHE)/bin/staticcheck-$(STATICCHECK_VERSION)
GO_SOURCES := $(shell find . -name '*.go' -not -path './.git/*') go.mod go.sum

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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

.PHONY: test
test: lint build build-go dex ## everything CI runs: lint, both builds, native + wasm + end-to-end tests
	@echo "==> go test (native mode, wasm mode against both modules, end to end against Dex)"
	DEX_BIN=$$(bash build/install-dex.sh) OIDC_WASM_REQUIRE_WASM=1 go test -count=1 ./...

.PHONY: clean
clean: ## remove build outputs (the tool cache stays)
	rm -f build/*.wasm
