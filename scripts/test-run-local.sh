#!/usr/bin/env bash
# Tests scripts/run-local.sh (make run, make stop, make clean-run) with the tiny test model, a
# broker on spare ports and a run directory of its own, so that a developer's `make run` and
# other checkouts' brokers on this machine are left alone. Only processes this test started
# (its own sessions, its own broker's node name and ports) are signalled.
#   CLIPQ_BIN=path/to/clipq scripts/test-run-local.sh       (make test-scripts runs it)
# It also checks that make build, switching between a pipe and a terminal, compiles nothing
# (the first make build builds the release binary when it is not up to date).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/local-broker.sh

: "${CLIPQ_BIN:?set CLIPQ_BIN to a built clipq (make test-scripts does)}"
[ -x "$CLIPQ_BIN" ] || { echo "FAIL: no executable at CLIPQ_BIN=$CLIPQ_BIN"; exit 1; }
tmp=$(mktemp -d /tmp/clipq-test-run-local.XXXXXX)
export CLIPQ_RUN_DIR=$tmp/run CLIPQ_MODEL=Tests/Fixtures/tiny-clip CLIPQ_BIN
export CLIPQ_GATEWAY_PORT=0  # any free port: the gateway beside the worker must not collide with one already running
unset CLIPQ_AMQP_URL

# Three free ports: N (AMQP), N+1 (epmd), N+20000 (Erlang distribution).
for _ in $(seq 1 50); do
    port=$((30000 + RANDOM % 10000))
    port_taken "$port" || port_taken $((port + 1)) || port_taken $((port + 20000)) || break
done
export CLIPQ_RUN_PORT=$port

failures=0
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, records a failure when it fails
    local what=$1
    shift
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}

sessions=()
# Runs "$@" as the leader of a new session (its pid is the session's process group), with SIGINT
# and SIGQUIT at their defaults as in a terminal's foreground job: a background job of this
# script would start with them ignored, and a shell cannot trap a signal ignored at its start.
start_session() {
    setsid python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
    sessions+=("$!")
    session=$!
}
session_gone() { ! pgrep -g "$1" >/dev/null; }
wait_until() {  # wait_until SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
broker_gone() {  # (pgrep -f reads only the start of a command line; the VM's is longer)
    ! grep -lsaqE "clipq-local-$port[@]" /proc/[0-9]*/cmdline && ! port_taken "$port" && ! port_taken $((port + 1)) &&
        ! port_taken $((port + 20000))
}
worker_pid() { cat "$CLIPQ_RUN_DIR"/worker-*.pid 2>/dev/null | head -1; }
worker_up() {  # the worker is running and its broker has a consumer on the request queue
    local pid
    pid=$(worker_pid)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && (
        local_broker_env "$port"
        /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" list_consumers --no-table-headers 2>/dev/null | grep -q .
    )
}

cleanup() {
    local s
    for s in "${sessions[@]}"; do kill -KILL -- "-$s" 2>/dev/null; done
    scripts/run-local.sh stop >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

crash_dump_before=$([ -e erl_crash.dump ] && echo present || echo absent)

# 0. `make run` after `make run | tee log` (or the other way round) must not rebuild: make build's
#    output switches between a pipe and a terminal (script(1) gives it one) and compiles nothing.
#    (The first make build builds the release binary if it is not up to date.)
make --no-print-directory build > "$tmp/build-pipe.log" 2>&1
check "make build, output to a pipe, succeeds" test $? = 0
script -qec "make --no-print-directory build" /dev/null > "$tmp/build-tty.log" 2>&1
check "make build on a terminal succeeds" grep -q "complete" "$tmp/build-tty.log"
# (SwiftPM now and then recompiles Hummingbird's two modules on an unchanged tree, whatever the
# output is, about 30 s; what must not happen is the project rebuilding: none of clipq's modules.)
check "make build on a terminal then compiles none of clipq's modules" bash -c "! grep -Eq 'Compiling (Clip|clipq)' '$tmp/build-tty.log'"
make --no-print-directory build > "$tmp/build-pipe2.log" 2>&1
check "and back to a pipe none either" bash -c "! grep -Eq 'Compiling (Clip|clipq)' '$tmp/build-pipe2.log'"

echo "# run-local on port $port, run directory $CLIPQ_RUN_DIR"

# 1. `make run | tee log`, then Ctrl-C: the reader dies first (here it leaves after one line), the
#    script and the worker must survive writing to the broken pipe, and the Ctrl-C (SIGINT to the
#    whole foreground group) must stop the worker and the broker, leaving nothing behind.
start_session bash -c 'scripts/run-local.sh 2>&1 | head -n 1 > "$1"' _ "$tmp/reader.out"
group=$session
check "the worker starts although the reader of the output has gone" wait_until 120 worker_up
check "the reader had exited" test "$(wc -l < "$tmp/reader.out")" = 1
pid=$(worker_pid)
sleep 2
check "the worker survives writing to a broken pipe" kill -0 "$pid"
kill -INT -- "-$group"
check "Ctrl-C ends the run: script, worker and broker" wait_until 60 session_gone "$group"
check "no broker process, epmd or listener of the run is left" wait_until 20 broker_gone
check "the worker is gone" bash -c "! kill -0 $pid 2>/dev/null"
check "no worker pid file is left" bash -c "! ls '$CLIPQ_RUN_DIR'/worker-*.pid >/dev/null 2>&1"
if [ "$crash_dump_before" = absent ]; then
    check "no erl_crash.dump in the repository root" test ! -e erl_crash.dump
fi

# 2. A broker left over from a run whose script was killed outright: the next run says so and
#    starts nothing; make stop stops it.
start_session scripts/run-local.sh > "$tmp/run2.log" 2>&1
group=$session
check "a second run starts" wait_until 120 worker_up
kill -KILL "$group" "$(worker_pid)"
sleep 1
check "killing the script outright leaves its broker running (the situation to detect)" local_broker_alive "$port"
timeout 60 scripts/run-local.sh > "$tmp/run3.log" 2>&1
status=$?
check "a run over a leftover broker exits non-zero ($status)" test "$status" -ne 0 -a "$status" -ne 124
check "it says a broker is still running and how to stop it" grep -q "still running.*" "$tmp/run3.log"
check "it names make stop" grep -q "make stop" "$tmp/run3.log"
check "it starts no worker" bash -c "! grep -q 'worker starting' '$tmp/run3.log'"
make --no-print-directory stop > "$tmp/stop.log" 2>&1
check "make stop succeeds" test $? = 0
check "make stop stops the leftover broker and its epmd" wait_until 30 broker_gone
check "the killed run's processes are all gone" wait_until 30 session_gone "$group"
make --no-print-directory stop > "$tmp/stop2.log" 2>&1
check "make stop with nothing running says so" grep -q "nothing" "$tmp/stop2.log"

# 3. Requests queued in .run/ survive across runs: the next run says so and offers clean-run,
#    which removes them.
start_session scripts/run-local.sh > "$tmp/run4.log" 2>&1
group=$session
check "a third run starts" wait_until 120 worker_up
url=amqp://guest:guest@127.0.0.1:$port  # (no trailing slash: amqp-tools would read the vhost as "")
amqp-declare-queue --url "$url" -d -q clipq.test-leftover > "$tmp/publish.log" 2>&1 &&
    amqp-publish --url "$url" -r clipq.test-leftover -p -b '{"left": "over"}' >> "$tmp/publish.log" 2>&1
check "a request is left queued" test $? = 0
kill -INT -- "-$group"
check "Ctrl-C ends the third run" wait_until 60 session_gone "$group"
start_session scripts/run-local.sh > "$tmp/run5.log" 2>&1
group=$session
check "a fourth run starts" wait_until 120 worker_up
check "its banner says requests are queued, and offers make clean-run" \
    grep -q "queued in this broker, 1 waiting: clipq.test-leftover (1)" "$tmp/run5.log"
check "... naming make clean-run" grep -q "make clean-run" "$tmp/run5.log"
kill -INT -- "-$group"
check "Ctrl-C ends the fourth run" wait_until 60 session_gone "$group"
make --no-print-directory clean-run > "$tmp/clean.log" 2>&1
check "make clean-run succeeds" test $? = 0
check "make clean-run removes the run directory" test ! -e "$CLIPQ_RUN_DIR"
check "nothing of the broker is left" broker_gone
if [ "$crash_dump_before" = absent ]; then
    check "still no erl_crash.dump in the repository root" test ! -e erl_crash.dump
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed; logs:"
    for f in "$tmp"/*.log "$tmp"/reader.out; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done
    exit 1
fi
echo "all checks passed"
