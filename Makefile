# clipq — the two commands a user needs are `make run` and `make test` (see README.md).
SWIFT        ?= swift
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := pkg-config librabbitmq-dev libopenblas-dev libwebp-dev \
                libcurl4-openssl-dev libturbojpeg0-dev libspng-dev libdnnl-dev rabbitmq-server amqp-tools redis-server iproute2
PY_MODULES   := jsonschema pika numpy yaml openai requests

.PHONY: setup build build-bench bench-lanes bench-cache test test-cluster cluster fuzz test-asan test-scripts run stop clean-run model clean bench bench-worker bench-broker bench-scaling bench-batching bench-load bench-tokenizer bench-image bench-gateway

## setup: install the Debian packages, and the Python modules the tests use (jsonschema, pika, numpy, yaml, openai, requests), that are missing
setup:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "setup: installing" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@for m in $(PY_MODULES); do python3 -c "import $$m" 2>/dev/null || { \
	    p=$$m; [ $$m = yaml ] && p=pyyaml; \
	    echo "setup: pip install $$p"; python3 -m pip install -q $$p; }; done

## build: release build of the clipq executable
# Through a pipe whatever make's output is: on a terminal SwiftPM adds -color-diagnostics to every
# compile command (--no-color-diagnostics does not remove it), and a changed command is a full
# rebuild, so `make run` and `make run | tee log` would each rebuild the other's up-to-date binary.
build: setup
	bash -o pipefail -c '$(SWIFT) build -c release --product clipq 2>&1 | cat'

## build-bench: release build of clipq-bench, the benchmarks (every bench target builds it)
build-bench: build
	bash -o pipefail -c '$(SWIFT) build -c release --product clipq-bench 2>&1 | cat'

## test: everything CI runs: the tests, the cluster failover (root: network namespaces), make run's and make model's scripts,
## the module tests again under AddressSanitizer, each fuzzer briefly
test: setup
	$(SWIFT) test --skip ClusterTests
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory test-scripts
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

## test-asan: the module tests (not the process-level ClipqTests) under AddressSanitizer
test-asan: setup
	LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp:print_suppressions=0 \
	    $(SWIFT) test --sanitize=address --scratch-path .build-asan --skip ClipqTests

## test-cluster: three RabbitMQ nodes and two worker hosts in network namespaces (root); a node and a
## worker host's link go down mid-run and no request is lost (a few minutes; prints the failover figures)
test-cluster: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter ClusterTests

## cluster: a three-node RabbitMQ cluster in network namespaces (root): `scripts/cluster.sh down` removes it
cluster:
	scripts/cluster.sh up
	@echo "CLIPQ_AMQP_URL=$$(scripts/cluster.sh urls)"

## fuzz: each libFuzzer harness (Tests/Fuzz/) for FUZZ_SECONDS seconds; scripts/fuzz.sh merge refreshes the seeds
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 20
fuzz: setup
	scripts/fuzz.sh run $(FUZZ_SECONDS)

## run: a private RabbitMQ under .run/, one worker (CLIPQ_MODEL, or the real model in models/, or the tiny test model)
## and the HTTP gateway on 127.0.0.1:8080 (CLIPQ_GATEWAY_PORT);
## worker flags in ARGS, e.g. make run ARGS="--allow-private-networks"
ARGS ?=
run: build
	scripts/run-local.sh $(ARGS)

## stop: stop a broker (and worker) that an earlier make run left running
stop:
	scripts/run-local.sh stop

## clean-run: stop them, then remove .run/: the local broker's data, and any requests still queued there
clean-run:
	scripts/run-local.sh clean

## test-scripts: make run's script (Ctrl-C under a pipe, leftovers, stop, clean-run) and make model's, against
## a private broker on spare ports and a loopback server laid out as the hub
test-scripts: build
	CLIPQ_BIN=$$($(SWIFT) build -c release --show-bin-path)/clipq scripts/test-run-local.sh
	python3 scripts/test-fetch-model.py

## model: download openai/clip-vit-large-patch14-336 into models/, resumable, each file verified against
## the hashes the hub publishes (CLIPQ_MODEL_BASE_URL: a mirror; MODEL_ARGS=--record writes them to the manifest)
model:
	python3 scripts/fetch-model.py $(MODEL_ARGS)

## bench: every stage of a request (fetch from a loopback server, decode, resize, tokenize, JSON) and the
## encoders by batch size on a ViT-L/14@336 with random weights (written to models/ on first use),
## then PyTorch on the same work where torch is installed. BENCH_ARGS: e.g. --precision fp32 --precision bf16
bench: build-bench
	@python3 -m http.server --bind 127.0.0.1 28765 --directory Tests/Fixtures/images/inputs >/dev/null 2>&1 & server=$$!; \
	trap "kill $$server" EXIT; sleep 0.5; \
	$$($(SWIFT) build -c release --show-bin-path)/clipq-bench in-process \
	    --fetch-url http://127.0.0.1:28765/astronaut.jpg --allow-private-networks $(BENCH_ARGS)
	@if python3 -c "import torch, transformers" 2>/dev/null; then \
	    echo "PyTorch on the same work:"; python3 Benchmarks/torch_bench.py 2>&1 | grep -E "^(torch|round|median)"; \
	else echo "(torch not installed: no PyTorch comparison)"; fi

## bench-worker: a worker through a private broker against the same work in process (saturation, idle latency)
bench-worker: build-bench
	scripts/bench-worker.sh $(BENCH_ARGS)

## bench-broker: what a private RabbitMQ sustains for request-sized messages (the ceiling workers on many hosts share)
bench-broker: build-bench
	scripts/bench-broker.sh $(BENCH_ARGS)

## bench-scaling: one worker then two on this host, one queue: throughput and each worker's RSS/PSS (CLIPQ_PRECISION)
bench-scaling: build-bench
	scripts/bench-scaling.sh $(BENCH_ARGS)

## bench-batching: a worker under each --max-batch/--max-wait-ms setting: saturation throughput, latency at a steady rate
bench-batching: build-bench
	scripts/bench-batching.sh $(BENCH_ARGS)

## bench-load: three publishers against two workers through a private broker: answers, p50/p99 latency,
## throughput, worker memory (the tiny model; BENCH_ARGS="--model DIR --texts N --images N --rate R")
bench-load: build-bench
	scripts/bench-load.sh $(BENCH_ARGS)

## bench-lanes: interactive latency idle and under a bulk flood, and the bulk job's throughput alone and beside
## it (one worker in process; BENCH_ARGS="--model DIR --bulk-texts N --bulk-images N", default the tiny model)
bench-lanes: build-bench
	$$($(SWIFT) build -c release --show-bin-path)/clipq-bench lanes --model $${CLIPQ_MODEL:-Tests/Fixtures/tiny-clip} $(BENCH_ARGS)

## bench-cache: throughput on streams with 0%, 37% and 90% repeated rows, embedding cache off and on
bench-cache: build-bench
	$$($(SWIFT) build -c release --show-bin-path)/clipq-bench cache --model $${CLIPQ_MODEL:-Tests/Fixtures/tiny-clip} $(BENCH_ARGS)

## bench-gateway: one gateway and one worker on the tiny model: latency over direct AMQP (p50/p99, one at a
## time), then requests/s under wrk (apt-get install wrk). BENCH_REQUESTS, BENCH_SECONDS, BENCH_CONNECTIONS
bench-gateway: build
	scripts/bench-gateway.sh

## bench-image: image ingest, clipq against Pillow + CLIPImageProcessorPil on the same files, one thread each
bench-image: build-bench
	@F=Tests/Fixtures/images; B=$$($(SWIFT) build -c release --show-bin-path)/clipq-bench; \
	set=$$(ls $$F/inputs/* | grep -v 12mp); \
	echo "== a 12 MP JPEG (fastest of 10)"; \
	$$B image --model $$F --runs 10 $$F/inputs/coffee_12mp.jpg && python3 $$F/bench_pillow.py 10 $$F/inputs/coffee_12mp.jpg; \
	echo "== the other fixtures (fastest of 10 each)"; \
	$$B image --model $$F --runs 10 $$set | tail -1 && \
	python3 $$F/bench_pillow.py 10 $$set | tail -1

clean:
	rm -rf .build .build-asan .build-fuzz

## bench-tokenizer: CLIP tokenizer speed, clipq's against Hugging Face's Rust tokenizer on one caption corpus
## (needs transformers and open_clip_torch; figures are noisy while other builds run)
TOKENIZER_CORPUS ?= /tmp/clipq-captions.txt
bench-tokenizer: build-bench
	python3 Tests/Fixtures/tokenizer/bench_hf.py --corpus $(TOKENIZER_CORPUS)
	$$($(SWIFT) build -c release --show-bin-path)/clipq-bench tokenizer --model Tests/Fixtures/clip-vocab $(TOKENIZER_CORPUS)
