# clipq — the two commands a user needs are `make run` and `make test` (see README.md).
SWIFT        ?= swift
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := pkg-config librabbitmq-dev libopenblas-dev libjpeg-dev libpng-dev libwebp-dev \
                libcurl4-openssl-dev rabbitmq-server
PY_MODULES   := jsonschema

.PHONY: setup build test run bench clean

## setup: install the Debian packages (and the Python module the differential tests use) that are missing
setup:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "setup: installing" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@for m in $(PY_MODULES); do python3 -c "import $$m" 2>/dev/null || { \
	    echo "setup: pip install $$m"; python3 -m pip install -q $$m; }; done

## build: release build of the clipq executable
build: setup
	$(SWIFT) build -c release --product clipq

## test: everything CI runs
test: setup
	$(SWIFT) test

## run: for now, the command line help (later: a broker and a worker)
run: build
	$$($(SWIFT) build -c release --show-bin-path)/clipq --help

## bench: encoder speed on a ViT-L/14@336 with random weights (written to models/ on first use),
## then PyTorch on the same work where torch is installed
bench: build
	$$($(SWIFT) build -c release --show-bin-path)/clipq bench $(BENCH_ARGS)
	@if python3 -c "import torch, transformers" 2>/dev/null; then \
	    echo "PyTorch on the same work:"; python3 Benchmarks/torch_bench.py 2>&1 | grep -E "^(torch|round|median)"; \
	else echo "(torch not installed: no PyTorch comparison)"; fi

clean:
	rm -rf .build
