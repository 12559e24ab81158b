#!/usr/bin/env bash
# `make run`: a private RabbitMQ (data under .run/, not the system's) and one clipq worker in
# the foreground. Ctrl-C stops both. With CLIPQ_AMQP_URL set, that broker is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
run_dir=$PWD/.run
port=${CLIPQ_RUN_PORT:-5672}

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

broker_pid=
cleanup() {
    if [ -n "$broker_pid" ]; then
        echo "run: stopping the broker" >&2
        /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || kill "$broker_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6; do epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 && break; sleep 0.5; done
    fi
}
trap cleanup EXIT

if [ -z "${CLIPQ_AMQP_URL:-}" ]; then
    mkdir -p "$run_dir/rabbitmq"
    export HOME=$run_dir/rabbitmq  # its Erlang cookie, apart from the system broker's
    export RABBITMQ_NODENAME=clipq-local@localhost RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_PORT=${CLIPQ_RUN_EPMD_PORT:-4370}
    export RABBITMQ_MNESIA_BASE=$run_dir/rabbitmq/mnesia RABBITMQ_LOG_BASE=$run_dir/rabbitmq/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$run_dir/rabbitmq/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$run_dir/rabbitmq/rabbitmq
    echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$port" > "$run_dir/rabbitmq/rabbitmq.conf"
    echo "run: starting RabbitMQ on 127.0.0.1:$port (data in $run_dir/rabbitmq)" >&2
    /usr/lib/rabbitmq/bin/rabbitmq-server > "$run_dir/rabbitmq/server.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 1 120); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
        kill -0 "$broker_pid" 2>/dev/null || { tail -20 "$run_dir/rabbitmq/server.log" >&2; exit 1; }
        sleep 0.5
    done
    export CLIPQ_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/
fi

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
