#!/usr/bin/env bash
# `make bench-load`: a private broker, two workers (the tiny test model, or --model DIR as the
# first argument), then clipq-bench load from three publishers against them; other arguments
# go to bench-load (e.g. --texts 3000 --images 300 --rate 200).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

model=Tests/Fixtures/tiny-clip
if [ "${1:-}" = --model ]; then model=$2; shift 2; fi
bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
bench_bin=${CLIPQ_BENCH_BIN:-$(dirname "$bin")/clipq-bench}

workers=()
cleanup() {
    for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    stop_local_broker
}
trap cleanup EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25682}"
export CLIPQ_QUEUE=clipq.bench-load
for i in 1 2; do
    "$bin" worker --model "$model" 2> ".run/bench-load-worker-$i.log" &
    workers+=("$!")
done
for i in 1 2; do
    for _ in $(seq 1 120); do grep -q '"event":"connected"' ".run/bench-load-worker-$i.log" && break; sleep 0.5; done
done
echo "bench-load: two workers on $model" >&2
"$bench_bin" load $(for pid in "${workers[@]}"; do echo --worker-pid "$pid"; done) "$@"
