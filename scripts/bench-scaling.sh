#!/usr/bin/env bash
# `make bench-scaling`: one worker, then two, on this host and one queue (competing consumers):
# throughput through the broker, and each worker's memory from /proc/PID/smaps_rollup. RSS counts
# the mapped weights in every process; PSS splits shared pages between the processes that map
# them, so the PSS sum is what the workers really take together.
#   CLIPQ_PRECISION=bf16 make bench-scaling     BENCH_ARGS: passed to clipq-bench worker
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
bench_bin=${CLIPQ_BENCH_BIN:-$(dirname "$bin")/clipq-bench}
model=${CLIPQ_BENCH_MODEL:-models/random-vit-l-14-336}
export CLIPQ_PRECISION=${CLIPQ_PRECISION:-fp32} CLIPQ_QUEUE=clipq.bench-scaling
# Writes the random model on first use.
"$bench_bin" in-process --model "$model" --rounds 1 --images 1 --texts 1 --image-batches 1 --text-batches 1 --no-stages > /dev/null

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    stop_local_broker
}
trap cleanup EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25692}"

start_worker() {
    local log=.run/bench-scaling-$1.log
    "$bin" worker --model "$model" 2> "$log" &
    pids+=($!)
    for _ in $(seq 1 240); do grep -q '"connected"' "$log" && return 0; sleep 0.5; done
    echo "worker $1 did not connect: $(tail -3 "$log")" >&2; return 1
}

memory() {
    local total=0
    for pid in "${pids[@]}"; do
        awk -v pid="$pid" '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} /^Shared_Clean:/ {shared=$2}
            /^Private_Clean:/ {pc=$2} /^Private_Dirty:/ {pd=$2}
            END {printf "  worker %d: RSS %d MiB, PSS %d MiB (shared %d MiB, private %d MiB)\n", pid, rss/1024, pss/1024, shared/1024, (pc+pd)/1024}' \
            "/proc/$pid/smaps_rollup"
        total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")))
    done
    echo "  PSS of all workers together: $((total / 1024)) MiB"
}

for n in 1 2; do
    start_worker "$n"
    echo "== $n worker(s), $CLIPQ_PRECISION, $(nproc) cores on this host"
    "$bench_bin" worker --model "$model" --no-in-process --texts 256 --images 4 --pings 10 "$@" | grep -v '^clipq'
    memory
done
