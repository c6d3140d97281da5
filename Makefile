# Gosling: two commands matter. `make run` starts the product on the embedded
# default (everything under ./data); `make test` runs the whole suite.
GO      ?= go
BIN     := bin/gosling
ARGS    ?=

.PHONY: run build test vet fmt bench clean

run: build
	$(BIN) serve $(ARGS)

build:
	$(GO) build -o $(BIN) ./cmd/gosling

# The end-to-end tests start real swupdate clients and gosling processes;
# .ci/run installs the Debian packages they need.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# Benchmarks on this machine (docs/benchmarks.md): one table on stdout,
# JSON in bench-results.json, about ten minutes. Needs postgresql,
# redis-server, nginx-light and perf. Scale with BENCH_DEVICES,
# BENCH_ROLLOUT_DEVICES or BENCH_ARGS (e.g. BENCH_ARGS="-only poll").
BENCH_ARGS ?=
bench: build
	$(GO) run ./loadtest/bench/cmd/gosling-bench -bin $(BIN) -json bench-results.json $(BENCH_ARGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
