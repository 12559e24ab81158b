#!/usr/bin/env bash
# `make bench-batching`: a worker under each batching setting in turn (--max-batch, --max-wait-ms),
# measured through a private broker: saturation throughput of one-caption and one-image requests,
# and the latency percentiles of captions offered at a steady rate (CLIPQ_BENCH_RATE per second).
#   CLIPQ_PRECISION=bf16 make bench-batching
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
bench_bin=${CLIPQ_BENCH_BIN:-$(dirname "$bin")/clipq-bench}
model=${CLIPQ_BENCH_MODEL:-models/random-vit-l-14-336}
rate=${CLIPQ_BENCH_RATE:-30}
export CLIPQ_PRECISION=${CLIPQ_PRECISION:-fp32} CLIPQ_QUEUE=clipq.bench-batching
"$bench_bin" in-process --model "$model" --rounds 1 --images 1 --texts 1 --image-batches 1 --text-batches 1 --no-stages > /dev/null

worker_pid=
stop_worker() {
    [ -z "$worker_pid" ] || { kill -TERM "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; }
    worker_pid=
}
trap 'stop_worker; stop_local_broker' EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25702}"

for setting in "--max-batch 8 --max-wait-ms 0" "--max-batch 8 --max-wait-ms 20" "--max-batch 8 --max-wait-ms 100" \
               "--max-batch 1 --max-wait-ms 0" "--max-batch 4 --max-wait-ms 0"; do
    # shellcheck disable=SC2086
    "$bin" worker --model "$model" $setting 2> .run/bench-batching.log &
    worker_pid=$!
    for _ in $(seq 1 240); do grep -q '"connected"' .run/bench-batching.log && break; sleep 0.5; done
    echo "== worker $setting ($CLIPQ_PRECISION)"
    "$bench_bin" worker --model "$model" --no-in-process --texts 300 --images 8 --pings 0 --rate "$rate" "$@" | grep -v '^clipq'
    stop_worker
done
