#!/usr/bin/env bash
# A clipq request from the shell with amqp-tools (Debian: apt-get install amqp-tools).
#
#   CLIPQ_AMQP_URL=amqp://guest:guest@localhost:5672/ Deploy/clients/shell/clipq-request.sh \
#       --text "a photo of a cat" --image https://example.com/cat.jpg --image cat.png
#
# Declares a reply queue of its own, publishes one request (input_data layout, reply_to set) to
# CLIPQ_QUEUE (default clipq.requests), waits up to CLIPQ_TIMEOUT seconds (default 30) for the
# reply and prints it. Exit status: 0 embeddings, 1 an error reply, 2 no reply.
# amqp-publish cannot set a correlation_id: the reply queue is private to this request instead.
set -euo pipefail
url=${CLIPQ_AMQP_URL:-amqp://guest:guest@localhost:5672/}
# amqp-tools read "host/" as the vhost "", clipq (and RabbitMQ's default) as "/": drop that slash.
case $url in *://*/*/) ;; *://*/) url=${url%/} ;; esac
queue=${CLIPQ_QUEUE:-clipq.requests}
timeout_s=${CLIPQ_TIMEOUT:-30}

json_string() {  # a shell string as a JSON string (quotes, backslashes and control characters escaped)
    python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

rows=()
while [ $# -gt 0 ]; do
    case $1 in
        --text) rows+=("[\"\", $(json_string "$2")]"); shift 2 ;;
        --image)
            if [ -f "$2" ]; then image=$(base64 -w0 < "$2"); else image=$2; fi
            rows+=("[$(json_string "$image"), \"\"]"); shift 2 ;;
        *) echo "usage: $0 [--text T]... [--image URL|FILE]..." >&2; exit 2 ;;
    esac
done
[ ${#rows[@]} -gt 0 ] || { echo "usage: $0 [--text T]... [--image URL|FILE]..." >&2; exit 2; }

index=$(seq -s, 0 $((${#rows[@]} - 1)))
data=$(IFS=,; echo "${rows[*]}")
body="{\"input_data\": {\"columns\": [\"image\", \"text\"], \"index\": [$index], \"data\": [$data]}}"

reply_queue=clipq.reply.$(hostname).$$.$RANDOM
amqp-declare-queue --url "$url" -q "$reply_queue" >/dev/null
trap 'amqp-delete-queue --url "$url" -q "$reply_queue" >/dev/null 2>&1 || true' EXIT

printf '%s' "$body" | amqp-publish --url "$url" -r "$queue" -C application/json -p -t "$reply_queue"
if ! reply=$(timeout "$timeout_s" amqp-consume --url "$url" -q "$reply_queue" -c 1 cat); then
    echo "no reply within ${timeout_s} s" >&2
    exit 2
fi
echo "$reply"
case $reply in '{"error"'*) exit 1 ;; esac
