#!/usr/bin/env bash
# `make bench-broker`: a private broker, then clipq-bench broker against it: what one RabbitMQ node
# sustains for request-sized messages (the ceiling that workers on many hosts share).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh
bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
bench_bin=${CLIPQ_BENCH_BIN:-$(dirname "$bin")/clipq-bench}
trap stop_local_broker EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25682}"
"$bench_bin" broker "$@"
