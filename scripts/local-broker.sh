# Sourced by run-local.sh and the bench scripts: a private RabbitMQ under .run/ (its own data,
# Erlang cookie, node name and epmd, apart from the system's broker and from other checkouts').
#   start_local_broker PORT     exports CLIPQ_AMQP_URL when it is up; refuses when a broker of
#                               this PORT is left over from an earlier run, or PORT is taken
#   stop_local_broker           stops the broker start_local_broker started
#   local_broker_env PORT       the environment rabbitmq-server/rabbitmqctl need for PORT's broker
#   local_broker_alive PORT     0 when PORT's broker (node clipq-local-PORT) is running
#   stop_leftover_broker PORT   stops PORT's broker whoever started it (make stop)
# CLIPQ_RUN_DIR: where the data lives (default .run/ in the current directory).

local_run_dir() { echo "${CLIPQ_RUN_DIR:-$PWD/.run}"; }

local_broker_env() {
    local port=$1 dir
    dir=$(local_run_dir)/rabbitmq-$1
    local_broker_dir=$dir
    export HOME=$dir
    export RABBITMQ_NODENAME=clipq-local-$port@localhost RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_PORT=$((port + 1))
    export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/broker.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_CONFIG_FILE=$dir/rabbitmq
    # A broker that fails to boot writes erl_crash.dump into its working directory by default,
    # which was the repository root.
    export ERL_CRASH_DUMP=$dir/erl_crash.dump
}

# The pid of PORT's Erlang VM, if it runs: from its pid file, checked against the process's
# command line (a stale file may name a pid since reused by something else).
local_broker_vm_pid() {
    local pidfile
    pidfile=$(local_run_dir)/rabbitmq-$1/broker.pid
    [ -s "$pidfile" ] || return 1
    local pid
    pid=$(tr -dc 0-9 < "$pidfile")
    [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "clipq-local-$1@" && echo "$pid"
}

local_broker_alive() {
    local_broker_vm_pid "$1" >/dev/null && return 0
    # No pid file (a broker killed during boot may not have written it): ask its epmd.
    ERL_EPMD_PORT=$(($1 + 1)) epmd -port $(($1 + 1)) -names 2>/dev/null | grep -q "^name clipq-local-$1 "
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_local_broker() {
    local port=$1
    if local_broker_alive "$port"; then
        echo "broker: a broker from an earlier run is still running (node clipq-local-$port, data in $(local_run_dir)/rabbitmq-$port)." >&2
        echo "broker: stop it with \`make stop\` (scripts/run-local.sh stop), then start again." >&2
        return 3
    fi
    local taken
    # (An epmd on PORT+1 is no obstacle: the broker registers with whichever epmd is there.)
    for taken in "$port" $((port + 20000)); do
        if port_taken "$taken"; then
            echo "broker: port $taken on 127.0.0.1 is in use by another program; choose other ports with CLIPQ_RUN_PORT=N (uses N, N+1 and N+20000)." >&2
            return 3
        fi
    done
    local_broker_env "$port"
    local dir=$local_broker_dir
    mkdir -p "$dir"
    rm -f "$RABBITMQ_PID_FILE"
    echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$port" > "$dir/rabbitmq.conf"
    echo "broker: starting RabbitMQ on 127.0.0.1:$port (data in $dir)" >&2
    # Its own working directory: nothing it writes lands in the repository.
    (cd "$dir" && exec /usr/lib/rabbitmq/bin/rabbitmq-server) > "$dir/server.log" 2>&1 &
    local_broker_pid=$!
    local_broker_port=$port
    for _ in $(seq 1 120); do
        port_taken "$port" && break
        kill -0 "$local_broker_pid" 2>/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
        sleep 0.5
    done
    port_taken "$port" || { echo "broker: did not open port $port within a minute (see $dir/server.log)" >&2; return 1; }
    export CLIPQ_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/
}

# Stops PORT's broker: rabbitmqctl stop (orderly), then SIGTERM to its VM, then SIGKILL; then its
# epmd. Waits until all of it is gone. Only processes carrying this broker's node name, or the
# epmd on its private port, are signalled.
stop_leftover_broker() {
    local port=$1 pid
    (
        local_broker_env "$port"
        /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1
    )
    local signal i
    for signal in TERM KILL; do
        for i in $(seq 1 20); do
            pid=$(local_broker_vm_pid "$port") || break
            [ "$i" = 1 ] && kill -"$signal" "$pid" 2>/dev/null
            sleep 0.5
        done
    done
    for _ in $(seq 1 6); do
        ERL_EPMD_PORT=$((port + 1)) epmd -port $((port + 1)) -kill >/dev/null 2>&1 || true
        port_taken $((port + 1)) || break
        sleep 0.5
    done
}

stop_local_broker() {
    [ -n "${local_broker_pid:-}" ] || return 0
    echo "broker: stopping" >&2 || true
    stop_leftover_broker "$local_broker_port"
    # The rabbitmq-server wrapper exits once its VM has.
    for _ in $(seq 1 20); do kill -0 "$local_broker_pid" 2>/dev/null || break; sleep 0.5; done
    kill -TERM "$local_broker_pid" 2>/dev/null || true
    wait "$local_broker_pid" 2>/dev/null || true
    local_broker_pid=
}
