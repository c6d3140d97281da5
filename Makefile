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

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
