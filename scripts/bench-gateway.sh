#!/usr/bin/env bash
# `make bench-gateway`: a private broker, one worker and one gateway on the tiny model: what the
# gateway adds to a request's latency over direct AMQP (p50/p99, one at a time), then requests/s
# through the gateway under concurrency (wrk, when installed). The tiny model keeps the encoder
# out of the way, so the figures are the gateway's, the broker's and the clients'.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
model=${CLIPQ_BENCH_MODEL:-Tests/Fixtures/tiny-clip}
port=${CLIPQ_BENCH_GATEWAY_PORT:-28081}
requests=${BENCH_REQUESTS:-1000}
duration=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}

worker_pid= gateway_pid=
cleanup() {
    for pid in $gateway_pid $worker_pid; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    stop_local_broker
}
trap cleanup EXIT
start_local_broker "${CLIPQ_BENCH_PORT:-25682}"
export CLIPQ_QUEUE=clipq.bench-gateway CLIPQ_LOG_LEVEL=warning
mkdir -p .run
"$bin" worker --model "$model" --log-level info 2> .run/bench-gateway-worker.log &
worker_pid=$!
"$bin" gateway --port "$port" 2> .run/bench-gateway.log &
gateway_pid=$!
for _ in $(seq 1 120); do grep -q '"event":"connected"' .run/bench-gateway-worker.log && break; sleep 0.5; done
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 Benchmarks/gateway_bench.py --amqp-url "$CLIPQ_AMQP_URL" --queue "$CLIPQ_QUEUE" \
    --gateway "http://127.0.0.1:$port" --requests "$requests"

if command -v wrk >/dev/null; then
    script=$(mktemp --suffix .lua)
    trap 'rm -f "$script"; cleanup' EXIT
    for route in /score /v1/embeddings; do
        if [ $route = /score ]; then
            body='{"input_data":{"columns":["image","text"],"index":[0],"data":[["","a photo of a cat"]]}}'
        else
            body='{"input":"a photo of a cat","model":"clipq"}'
        fi
        printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' "'$body'" > "$script"
        echo "wrk: $route, $connections connections, ${duration}s (one gateway, one worker, same host)"
        wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$script" "http://127.0.0.1:$port$route" \
            | grep -E 'Requests/sec|Non-2xx|50%|99%|Socket errors' || true
    done
else
    echo "(wrk not installed: apt-get install wrk for the throughput figures)"
fi
