#!/usr/bin/env bash
# `make run`: a private RabbitMQ (data under .run/, not the system's) and one clipq worker in
# the foreground. Ctrl-C stops both. With CLIPQ_AMQP_URL set, that broker is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
model=${CLIPQ_MODEL:-}
if [ -z "$model" ]; then
    if [ -f models/clip-vit-large-patch14-336/model.safetensors ]; then
        model=models/clip-vit-large-patch14-336
    else
        model=Tests/Fixtures/tiny-clip
        cat >&2 <<MSG
********************************************************************************
* WARNING: no model in models/clip-vit-large-patch14-336 and CLIPQ_MODEL unset.  *
* Serving the TINY RANDOM TEST MODEL: its embeddings are meaningless.           *
* See README.md, "The model", for how to get the real weights.                  *
********************************************************************************
MSG
    fi
fi

trap stop_local_broker EXIT
[ -n "${CLIPQ_AMQP_URL:-}" ] || start_local_broker "${CLIPQ_RUN_PORT:-5672}"

cat >&2 <<MSG
run: worker starting on model $model. In another terminal:
    CLIPQ_AMQP_URL=$CLIPQ_AMQP_URL $bin request --text "a photo of a cat"
    CLIPQ_AMQP_URL=$CLIPQ_AMQP_URL $bin dlq list
Ctrl-C stops the worker (it answers what it holds first) and the broker.
MSG
"$bin" worker --model "$model" "$@" &
worker_pid=$!
trap 'kill -TERM $worker_pid 2>/dev/null || true' INT TERM
wait $worker_pid || true
wait $worker_pid 2>/dev/null || true
