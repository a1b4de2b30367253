# Parley: 'make run' and 'make test' do all set-up on a fresh Debian machine.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/parley
# Where 'make run' serves; override with 'make run PORT=9000'.
HOST ?= 127.0.0.1
PORT ?= 8478
ADDR := $(HOST):$(PORT)
RUN_HOME ?= $(CURDIR)/.run

.PHONY: deps build run test vet fmt-check

deps:
	@./.ci/install-deps

build: deps
	$(GO) build -o $(BIN) ./cmd/parley

# Until the terminal UI lands: a local directory and the echo service, and
# how to call it headless.
run: build
	@mkdir -p $(RUN_HOME)
	@trap 'kill 0' EXIT; \
	$(BIN) directory --listen $(ADDR) --data $(RUN_HOME)/directory & \
	until (exec 3<>/dev/tcp/$(HOST)/$(PORT)) 2>/dev/null; do sleep 0.1; done; \
	$(BIN) echo --directory $(ADDR) --home $(RUN_HOME)/echo & \
	sleep 1; \
	echo; \
	echo "Parley is running: directory on $(ADDR), echo service as user 'echo'."; \
	echo "In another terminal, hear yourself (or a tone, on a machine without a sound card):"; \
	echo "  $(BIN) call echo --directory $(ADDR) --home $(RUN_HOME)/alice --user alice --duration 10s \\"; \
	echo "      --mic tone:440 --speaker file:heard.wav"; \
	echo "Ctrl-C stops it."; \
	wait

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

# Unit and fuzz-seed tests in parallel; the end-to-end tests (processes,
# real calls) run one package at a time.
test: build fmt-check vet
	$(GO) test -count=1 -timeout 20m -p 1 ./...
