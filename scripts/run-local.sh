#!/usr/bin/env bash
# `make run`: a private RabbitMQ (data under .run/, not the system's) and one clipq worker in
# the foreground. Ctrl-C stops both. With CLIPQ_AMQP_URL set, that broker is used instead.
#   scripts/run-local.sh [WORKER FLAGS...]   run (make run ARGS="...")
#   scripts/run-local.sh stop                stop a broker and worker left over from an earlier run (make stop)
#   scripts/run-local.sh clean               stop them, then remove .run/ and what is queued there (make clean-run)
# CLIPQ_RUN_PORT: the broker's AMQP port (default 5672; N+1 and N+20000 are used too).
# CLIPQ_RUN_DIR: where its data lives (default .run/). CLIPQ_BIN, CLIPQ_MODEL: the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

run_dir=$(local_run_dir)
port=${CLIPQ_RUN_PORT:-5672}

say() { echo "$@" >&2 || true; }

# The workers, gateways and brokers an earlier run left: workers and gateways by their pid files
# (checked against the process's command line), brokers by the data directories under the run
# directory.
stop_leftovers() {
    local file pid dir role found=0
    for file in "$run_dir"/worker-*.pid "$run_dir"/gateway-*.pid; do
        [ -f "$file" ] || continue
        role=${file##*/}
        role=${role%%-*}
        pid=$(tr -dc 0-9 < "$file")
        if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q " $role "; then
            say "stop: stopping the $role $pid"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL "$pid" 2>/dev/null || true
            found=1
        fi
        rm -f "$file"
    done
    for dir in "$run_dir"/rabbitmq-*/; do
        [ -d "$dir" ] || continue
        local p=${dir%/}
        p=${p##*rabbitmq-}
        case $p in '' | *[!0-9]*) continue ;; esac
        # (An epmd alone on the broker's private epmd port is a leftover too.)
        if local_broker_alive "$p" || { port_taken $((p + 1)) && epmd -port $((p + 1)) -names >/dev/null 2>&1; }; then
            say "stop: stopping the broker on port $p (node clipq-local-$p)"
            stop_leftover_broker "$p"
            found=1
        fi
    done
    [ "$found" = 1 ] || say "stop: nothing of a local run is running"
}

case "${1:-}" in
stop)
    stop_leftovers
    exit 0
    ;;
clean)
    stop_leftovers
    rm -rf "$run_dir"
    say "clean-run: removed $run_dir (the broker's data, and any requests queued there)"
    exit 0
    ;;
esac

bin=${CLIPQ_BIN:-$(swift build -c release --show-bin-path)/clipq}
model=${CLIPQ_MODEL:-}
if [ -z "$model" ]; then
    if [ -f models/clip-vit-large-patch14-336/model.safetensors ]; then
        model=models/clip-vit-large-patch14-336
    else
        model=Tests/Fixtures/tiny-clip
        cat >&2 <<MSG || true
********************************************************************************
* WARNING: no model in models/clip-vit-large-patch14-336 and CLIPQ_MODEL unset.  *
* Serving the TINY RANDOM TEST MODEL: its embeddings are meaningless.           *
* See README.md, "The model", for how to get the real weights.                  *
********************************************************************************
MSG
    fi
fi

# A reader that goes away (`make run | tee log`, with tee killed by the same Ctrl-C) must not
# kill this script before it has stopped the broker, nor the worker before it has answered what
# it holds: with SIGPIPE ignored (children inherit that), writes to it fail instead.
trap '' PIPE

worker_pid=
worker_pidfile=$run_dir/worker-$$.pid
gateway_pid=
gateway_pidfile=$run_dir/gateway-$$.pid
gateway_port=${CLIPQ_GATEWAY_PORT:-8080}
cleanup() {
    local status=$?
    trap '' INT TERM HUP
    set +e
    if [ -n "$gateway_pid" ]; then  # first: it holds no work, and new requests stop coming
        kill -TERM "$gateway_pid" 2>/dev/null
        wait "$gateway_pid" 2>/dev/null
        rm -f "$gateway_pidfile"
    fi
    if [ -n "$worker_pid" ]; then
        if kill -0 "$worker_pid" 2>/dev/null; then
            say "run: stopping the worker (it answers what it holds first)"
            kill -TERM "$worker_pid" 2>/dev/null
        fi
        # A worker that does not finish within its drain time and a margin is killed. (It is this
        # shell's child: until waited for it stays a zombie, which kill -0 still finds.)
        local i state
        for i in $(seq 1 180); do
            state=$(sed 's/.*) //' "/proc/$worker_pid/stat" 2>/dev/null | cut -d' ' -f1)
            [ -n "$state" ] && [ "$state" != Z ] || break
            sleep 0.5
        done
        [ -n "$state" ] && [ "$state" != Z ] && kill -KILL "$worker_pid" 2>/dev/null
        wait "$worker_pid" 2>/dev/null
        rm -f "$worker_pidfile"
    fi
    stop_local_broker
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -z "${CLIPQ_AMQP_URL:-}" ]; then
    start_local_broker "$port"
    waiting=$(
        local_broker_env "$port"
        /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" list_queues name messages --no-table-headers 2>/dev/null |
            awk '$2 > 0 { n += $2; q = q " " $1 " (" $2 ")" } END { if (n) print n " waiting:" q }'
    ) || waiting=
    if [ -n "$waiting" ]; then
        say "run: requests from earlier runs are queued in this broker, $waiting."
        say "run: the worker answers them first (a request for another model, or with a far deadline, can hold"
        say "run: up a fresh one for minutes). To start empty: Ctrl-C, \`make clean-run\`, then \`make run\` again."
    fi
fi

say "run: worker starting on model $model, HTTP gateway on 127.0.0.1:$gateway_port. In another terminal:
    CLIPQ_AMQP_URL=$CLIPQ_AMQP_URL $bin request --text \"a photo of a cat\"
    CLIPQ_AMQP_URL=$CLIPQ_AMQP_URL $bin dlq list
    curl -s 127.0.0.1:$gateway_port/v1/embeddings -H 'Content-Type: application/json' -d '{\"model\": \"clipq\", \"input\": \"a photo of a cat\"}'
    python3 -c 'from openai import OpenAI; c = OpenAI(base_url=\"http://127.0.0.1:$gateway_port/v1\", api_key=\"none\"); print(c.embeddings.create(model=\"clipq\", input=[{\"text\": \"a cat\"}]).data[0].embedding[:4])'
Ctrl-C stops the gateway, the worker (it answers what it holds first) and the broker. Worker flags: make run ARGS=\"...\"."
mkdir -p "$run_dir"
"$bin" worker --model "$model" "$@" &
worker_pid=$!
echo "$worker_pid" > "$worker_pidfile"
# Loopback only (no API keys): the gateway refuses any other address without them.
"$bin" gateway --host 127.0.0.1 --port "$gateway_port" 2>>"$run_dir/gateway.log" &
gateway_pid=$!
echo "$gateway_pid" > "$gateway_pidfile"
set +e
wait "$worker_pid"
status=$?
# The worker ended on its own (a bad model or flag, the broker gone): its status is the run's.
wait "$worker_pid" 2>/dev/null
worker_pid=
rm -f "$worker_pidfile"
exit "$status"
