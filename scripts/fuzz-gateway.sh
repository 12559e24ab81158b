#!/usr/bin/env bash
# Property-based fuzzing of the gateway from its own OpenAPI document (schemathesis, from pip): a
# private broker, one worker and one gateway on the tiny model, then every route with requests
# generated from /openapi.json. Fails on a 5xx the document does not allow, a response that breaks
# the document, a schema-violating request accepted, or a wrong answer to an undeclared method.
#
# One check is left out: positive_data_acceptance ("a schema-valid request must succeed"). The
# contract's schema cannot say what makes an image decodable, or that index and data have the same
# length, so a schema-valid /score or /v1 request can rightly get 400 or 422 (docs/gateway.md).
#   scripts/fuzz-gateway.sh [MAX_EXAMPLES]        (CLIPQ_BIN: the clipq to run; default the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh
command -v st >/dev/null || python3 -m pip install -q schemathesis

bin=${CLIPQ_BIN:-.build/debug/clipq}
port=${CLIPQ_FUZZ_GATEWAY_PORT:-28092}
keys=$(mktemp)
worker_pid= gateway_pid=
cleanup() {
    for pid in $gateway_pid $worker_pid; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    stop_local_broker
    rm -f "$keys"
}
trap cleanup EXIT
start_local_broker "${CLIPQ_FUZZ_PORT:-25702}"
export CLIPQ_QUEUE=clipq.fuzz-gateway
echo "fuzz-key-$RANDOM$RANDOM" > "$keys"
mkdir -p .run
"$bin" worker --model Tests/Fixtures/tiny-clip 2> .run/fuzz-gateway-worker.log &
worker_pid=$!
# --dimensions: the tiny model's length, so the served document admits only what the gateway takes.
"$bin" gateway --port "$port" --api-key-file "$keys" --request-timeout-ms 10000 --dimensions 16 2> .run/fuzz-gateway.log &
gateway_pid=$!
for _ in $(seq 1 120); do grep -q '"event":"connected"' .run/fuzz-gateway-worker.log && break; sleep 0.5; done
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done

st run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $(cat "$keys")" \
    --checks all --exclude-checks positive_data_acceptance --max-examples "${1:-100}"
