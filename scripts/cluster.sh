#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, each node in its own network namespace with its
# own address on a private bridge, as if on three hosts; and further namespaces ("hosts") where
# workers run. Only addresses inside these namespaces are used (10.77.0.0/24 by default).
#
#   scripts/cluster.sh up                 three nodes joined into one cluster
#   scripts/cluster.sh down               stops every process and removes every namespace, link and file it made
#   scripts/cluster.sh status             the cluster's members and the request queue's leader
#   scripts/cluster.sh urls               the three nodes' AMQP URLs, comma-separated (for CLIPQ_AMQP_URL)
#   scripts/cluster.sh stop-node N        stops node N (1-3) / start-node N starts it again
#   scripts/cluster.sh leader QUEUE       the number (1-3) of the node leading QUEUE
#   scripts/cluster.sh host-add N         a worker host namespace (N = 1..99) / cut N, restore N: its link down, up
#   scripts/cluster.sh exec N CMD...      runs CMD in host N's namespace
#   scripts/cluster.sh ctl N ARGS...      rabbitmqctl against node N
#
# Needs root (ip netns). Settings: CLIPQ_CLUSTER_NAME (default clipq: namespaces clipq-n1.., the
# bridge clipqbr0), CLIPQ_CLUSTER_SUBNET (default 10.77.0), CLIPQ_CLUSTER_DIR (default .run/cluster),
# CLIPQ_CLUSTER_MEMORY (each node's memory high watermark, default 300MB).
set -euo pipefail

name=${CLIPQ_CLUSTER_NAME:-clipq}
subnet=${CLIPQ_CLUSTER_SUBNET:-10.77.0}
dir=${CLIPQ_CLUSTER_DIR:-$PWD/.run/cluster}
memory=${CLIPQ_CLUSTER_MEMORY:-300MB}
bridge=${name}br0
rabbit_bin=/usr/lib/rabbitmq/bin

node_ns() { echo "$name-n$1"; }
host_ns() { echo "$name-h$1"; }
node_address() { echo "$subnet.$1"; }
host_address() { echo "$subnet.$((10 + $1))"; }
node_name() { echo "rabbit@$name-n$1"; }

die() { echo "cluster: $*" >&2; exit 1; }

# The environment of node N's rabbitmq-server and rabbitmqctl: its own data, logs and a cookie
# shared by the three (HOME holds .erlang.cookie).
# One scheduler that sleeps rather than spins when idle: the machine is shared.
in_node() {
    local n=$1 d=$dir/n$1
    shift
    ip netns exec "$(node_ns "$n")" env HOME="$d" RABBITMQ_NODENAME="$(node_name "$n")" \
        RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_CONFIG_FILE="$d/rabbitmq" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_PID_FILE="$d/pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none" "$@"
}

ctl() {
    local n=$1
    shift
    in_node "$n" "$rabbit_bin/rabbitmqctl" -q -n "$(node_name "$n")" "$@"
}

# A namespace with one veth into the bridge, an address and /etc/hosts naming the three nodes.
add_namespace() {
    local ns=$1 address=$2
    ip netns add "$ns"
    ip link add "$ns-br" type veth peer name "$ns-if"
    ip link set "$ns-br" master "$bridge" up
    ip link set "$ns-if" netns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$ns-if" name eth0
    ip -n "$ns" addr add "$address/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "/etc/netns/$ns"
    {
        echo "127.0.0.1 localhost"
        for i in 1 2 3; do echo "$(node_address "$i") $name-n$i"; done
    } > "/etc/netns/$ns/hosts"
}

start_node() {
    local n=$1 d=$dir/n$1
    # The server outlives this script: it keeps none of the descriptors this script was given (a
    # caller waiting for the script's output, or for a socket to close, would wait for the node).
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        in_node "$n" "$rabbit_bin/rabbitmq-server"
    ) > "$d/server.log" 2>&1 < /dev/null &
    for _ in $(seq 1 240); do
        ip netns exec "$(node_ns "$n")" bash -c "exec 3<>/dev/tcp/127.0.0.1/5672" 2>/dev/null && return 0
        sleep 0.5
    done
    tail -20 "$d/server.log" >&2
    die "node $n did not start"
}

up() {
    [ "$(id -u)" = 0 ] || die "needs root (ip netns)"
    ip link show "$bridge" >/dev/null 2>&1 && die "$bridge exists: run 'scripts/cluster.sh down' first"
    mkdir -p "$dir"
    ip link add "$bridge" type bridge
    ip addr add "$subnet.254/24" dev "$bridge"
    ip link set "$bridge" up
    local cookie
    cookie=$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)
    for n in 1 2 3; do
        local d=$dir/n$n
        mkdir -p "$d"
        echo -n "$cookie" > "$d/.erlang.cookie"
        chmod 400 "$d/.erlang.cookie"
        echo '[].' > "$d/enabled_plugins"
        cat > "$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 5672
loopback_users = none
log.console = false
log.file.level = warning
vm_memory_high_watermark.absolute = $memory
disk_free_limit.absolute = 50MB
EOF
        add_namespace "$(node_ns "$n")" "$(node_address "$n")"
    done
    for n in 1 2 3; do start_node "$n"; done
    for n in 2 3; do
        ctl "$n" stop_app
        ctl "$n" join_cluster "$(node_name 1)"
        ctl "$n" start_app
    done
    echo "cluster: up: $(urls)" >&2
}

down() {
    for n in 1 2 3; do
        local ns
        ns=$(node_ns "$n")
        ip netns pids "$ns" >/dev/null 2>&1 || continue
        ctl "$n" stop >/dev/null 2>&1 || true
    done
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$name-(n|h)[0-9]+$" || true); do
        for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
        ip link delete "$ns-br" 2>/dev/null || true
        ip netns delete "$ns"
        rm -rf "/etc/netns/$ns"
    done
    ip link delete "$bridge" 2>/dev/null || true
    rm -rf "$dir"
}

urls() {
    local list=()
    for n in 1 2 3; do list+=("amqp://guest:guest@$(node_address "$n"):5672/"); done
    (IFS=,; echo "${list[*]}")
}

leader() {
    local queue=$1 n
    for n in 1 2 3; do
        local line
        line=$(ctl "$n" list_queues name leader --no-table-headers 2>/dev/null | awk -v q="$queue" '$1 == q {print $2}') || continue
        [ -n "$line" ] || continue
        echo "${line##*-n}"
        return 0
    done
    die "no node knows a leader of $queue"
}

command=${1:-status}
shift || true
case $command in
    up) up ;;
    down) down ;;
    urls) urls ;;
    status)
        for n in 1 2 3; do ctl "$n" cluster_status 2>/dev/null && break; done
        for n in 1 2 3; do ctl "$n" list_queues name type leader members messages --no-table-headers 2>/dev/null && break; done
        ;;
    stop-node) ctl "$1" stop ;;
    start-node) start_node "$1" ;;
    leader) leader "$1" ;;
    host-add) add_namespace "$(host_ns "$1")" "$(host_address "$1")" ;;
    cut) ip link set "$(host_ns "$1")-br" down ;;
    restore) ip link set "$(host_ns "$1")-br" up ;;
    exec)
        h=$1
        shift
        exec ip netns exec "$(host_ns "$h")" "$@"
        ;;
    ctl) ctl "$@" ;;
    *) die "unknown command $command (up, down, status, urls, stop-node, start-node, leader, host-add, cut, restore, exec, ctl)" ;;
esac
