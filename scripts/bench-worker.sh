#!/usr/bin/env bash
# `make bench-worker`: a private broker, one worker on the random-weight ViT-L/14@336, then
# clipq-bench worker against it (saturation throughput and idle latency beside in process).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
bench_bin=${CLIPQ_BENCH_BIN:-$(dirname "$bin")/clipq-bench}
model=${CLIPQ_BENCH_MODEL:-models/random-vit-l-14-336}
"$bench_bin" in-process --model "$model" --rounds 1 --images 1 --texts 1 > /dev/null  # writes the model on first use

worker_pid=
cleanup() {
    [ -z "$worker_pid" ] || { kill -TERM "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; }
    stop_local_broker
}
trap cleanup EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25672}"
export CLIPQ_QUEUE=clipq.bench
"$bin" worker --model "$model" 2> .run/bench-worker.log &
worker_pid=$!
for _ in $(seq 1 120); do grep -q '"event":"connected"' .run/bench-worker.log && break; sleep 0.5; done
"$bench_bin" worker --model "$model" "$@"
