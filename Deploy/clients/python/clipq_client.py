#!/usr/bin/env python3
"""A clipq client in Python with pika, as another service would write one.

    pip install pika
    CLIPQ_AMQP_URL=amqp://guest:guest@localhost:5672/ python3 clipq_client.py --text "a photo of a cat"
    python3 clipq_client.py --image https://example.com/cat.jpg --image cat.png --timeout 30

Publishes one request (the input_data layout) with a reply_to queue of its own and a
correlation_id, waits for the matching reply, and prints it as JSON. Exit status: 0 for
embeddings, 1 for an error reply (its code, message and pointer are printed), 2 for no reply.
"""
import argparse
import base64
import json
import os
import sys
import time
import uuid

import pika


def embed(url, queue, images, texts, timeout, deadline_ms=None):
    """Returns the parsed reply body: a list of rows, or {"error": {...}}; None on timeout."""
    rows = [[image, ""] for image in images] + [["", text] for text in texts]
    body = json.dumps({"input_data": {"columns": ["image", "text"], "index": list(range(len(rows))), "data": rows}})
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # publish raises if the broker cannot take the request
        reply_queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        correlation_id = str(uuid.uuid4())
        headers = {"x-deadline": int(time.time() * 1000) + deadline_ms} if deadline_ms else None
        channel.basic_publish(
            exchange="", routing_key=queue, body=body, mandatory=True,
            properties=pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                            correlation_id=correlation_id, reply_to=reply_queue, headers=headers))
        for method, properties, reply in channel.consume(reply_queue, inactivity_timeout=timeout):
            if method is None:
                return None  # timed out
            channel.basic_ack(method.delivery_tag)
            if properties.correlation_id == correlation_id:
                return json.loads(reply)
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", action="append", default=[], help="URL, base64, data URI or a local file")
    parser.add_argument("--text", action="append", default=[])
    parser.add_argument("--queue", default=os.environ.get("CLIPQ_QUEUE", "clipq.requests"))
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--deadline-ms", type=int, help="ask workers not to compute after this many ms")
    args = parser.parse_args()
    url = os.environ.get("CLIPQ_AMQP_URL", "amqp://guest:guest@localhost:5672/")
    images = [base64.b64encode(open(i, "rb").read()).decode() if os.path.isfile(i) else i for i in args.image]
    reply = embed(url, args.queue, images, args.text, args.timeout, args.deadline_ms)
    if reply is None:
        print(f"no reply within {args.timeout} s", file=sys.stderr)
        return 2
    print(json.dumps(reply))
    return 1 if isinstance(reply, dict) and "error" in reply else 0


if __name__ == "__main__":
    sys.exit(main())
