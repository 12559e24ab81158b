# Sourced by run-local.sh and bench-worker.sh: a private RabbitMQ under .run/ (its own data,
# Erlang cookie, node name and epmd, apart from the system's broker).
#   start_local_broker PORT   exports CLIPQ_AMQP_URL when it is up
#   stop_local_broker
start_local_broker() {
    local port=$1 dir=$PWD/.run/rabbitmq-$1
    mkdir -p "$dir"
    export HOME=$dir
    export RABBITMQ_NODENAME=clipq-local-$port@localhost RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_PORT=$((port + 1))
    export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_CONFIG_FILE=$dir/rabbitmq
    echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$port" > "$dir/rabbitmq.conf"
    echo "broker: starting RabbitMQ on 127.0.0.1:$port (data in $dir)" >&2
    /usr/lib/rabbitmq/bin/rabbitmq-server > "$dir/server.log" 2>&1 &
    local_broker_pid=$!
    for _ in $(seq 1 120); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
        kill -0 "$local_broker_pid" 2>/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
        sleep 0.5
    done
    export CLIPQ_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/
}

stop_local_broker() {
    [ -n "${local_broker_pid:-}" ] || return 0
    echo "broker: stopping" >&2
    /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || kill "$local_broker_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6; do epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 && break; sleep 0.5; done
    local_broker_pid=
}
