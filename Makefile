# Parley: 'make run' and 'make test' do all set-up on a fresh Debian machine.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/parley
# Where 'make run' keeps the user's key, config and the embedded directory.
RUN_HOME ?= $(CURDIR)/.run

.PHONY: deps build run test vet fmt-check

deps:
	@./.ci/install-deps

build: deps
	$(GO) build -o $(BIN) ./cmd/parley

# The terminal UI (DESIGN §9). With no directory configured it runs its own
# directory, supernode and echo service on 127.0.0.1: the first run asks for
# a name, and calling 'echo' plays your voice back.
run: build
	@mkdir -p $(RUN_HOME)
	@env -u PARLEY_DIRECTORY $(BIN) --home $(RUN_HOME)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

# Every package's tests (unit, fuzz seeds, end to end), one package at a
# time: the end-to-end tests start processes and real calls.
test: build fmt-check vet
	$(GO) test -count=1 -timeout 20m -p 1 ./...
