"""What the HTTP gateway adds to a request: the same request sent straight to the queue (pika,
direct reply-to) and through the gateway (/score, which passes the body and reply through,
and /v1/embeddings, which translates and normalizes), one at a time, then p50/p99 of each and
the difference. Throughput under concurrency is wrk's job (scripts/bench-gateway.sh).

Usage: gateway_bench.py --amqp-url URL --queue NAME --gateway http://127.0.0.1:PORT [--requests N]
"""
import argparse
import json
import statistics
import time
import uuid

import pika
import requests

parser = argparse.ArgumentParser()
parser.add_argument("--amqp-url", required=True)
parser.add_argument("--queue", required=True)
parser.add_argument("--gateway", required=True)
parser.add_argument("--requests", type=int, default=1000)
parser.add_argument("--warmup", type=int, default=100)
args = parser.parse_args()

SCORE = {"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "a photo of a cat"]]}}
OPENAI = {"input": "a photo of a cat", "model": "clipq"}
score_body = json.dumps(SCORE).encode()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def direct(n):
    connection = pika.BlockingConnection(pika.URLParameters(args.amqp_url))
    channel = connection.channel()
    replies = {}
    channel.basic_consume("amq.rabbitmq.reply-to", lambda ch, m, p, body: replies.__setitem__(p.correlation_id, body),
                          auto_ack=True)
    latencies = []
    for _ in range(n):
        cid = uuid.uuid4().hex
        started = time.perf_counter()
        channel.basic_publish("", args.queue, score_body, pika.BasicProperties(
            content_type="application/json", correlation_id=cid, reply_to="amq.rabbitmq.reply-to"))
        while cid not in replies:
            connection.process_data_events(time_limit=1)
        latencies.append(time.perf_counter() - started)
        replies.pop(cid)
    connection.close()
    return latencies


def through_gateway(path, body, n):
    latencies = []
    with requests.Session() as session:
        for _ in range(n):
            started = time.perf_counter()
            response = session.post(args.gateway + path, json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return latencies


def report(label, latencies, baseline=None):
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    line = f"{label:<28} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   mean {statistics.mean(latencies) * 1000:7.3f} ms"
    if baseline:
        line += f"   overhead p50 {p50 - baseline[0]:+.3f} ms, p99 {p99 - baseline[1]:+.3f} ms"
    print(line)
    return p50, p99


direct(args.warmup)
through_gateway("/score", SCORE, args.warmup)
through_gateway("/v1/embeddings", OPENAI, args.warmup)
print(f"{args.requests} requests each, one at a time, one text row (the tiny model):")
base = report("direct AMQP (pika)", direct(args.requests))
report("gateway /score (requests)", through_gateway("/score", SCORE, args.requests), base)
report("gateway /v1/embeddings", through_gateway("/v1/embeddings", OPENAI, args.requests), base)
