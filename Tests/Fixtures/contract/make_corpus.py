#!/usr/bin/env python3
"""Writes valid/ and invalid/ documents for the reply, error and dead-letter schemas.

Run by hand from the repository root: python3 Tests/Fixtures/contract/make_corpus.py
"""
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(7)
CODES = ["message_too_large", "invalid_json", "schema_violation", "too_many_rows", "missing_reply_to",
         "invalid_base64", "url_not_allowed", "image_fetch_failed", "unsupported_image_format",
         "image_decode_failed", "image_too_large", "deadline_exceeded", "internal"]


def emb(n=768):
    return [round(rng.gauss(0, 0.5), 6) for _ in range(n)]


def err(code="invalid_json", message="unexpected end of input at byte 17", pointer=None):
    e = {"code": code, "message": message}
    if pointer is not None:
        e["pointer"] = pointer
    return e


def dead(**overrides):
    record = {
        "error": err("schema_violation", "a row must carry an image, a text, or both", "/input_data/data/1"),
        "original": {"body_base64": "eyJpbnB1dF9kYXRhIjoge319",
                     "properties": {"content_type": "application/json", "correlation_id": "c-1",
                                    "reply_to": "replies", "delivery_mode": 2,
                                    "headers": {"x-deadline": 1796000000000, "tenant": "a"}},
                     "exchange": "", "routing_key": "clipq.requests", "redelivered": False},
        "worker": {"id": "host-a/4242", "version": "0.1.0", "model": "clip-vit-large-patch14-336"},
        "time": "2026-11-29T22:50:00.123Z",
    }
    for path, value in overrides.items():
        target = record
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return record


DELETE = object()

CASES = {
    "reply": {
        "valid": {
            "image-and-text-rows": [{"image_features": emb()}, {"text_features": emb()}],
            "both-in-one-row": [{"image_features": emb(), "text_features": emb()}],
            "tiny-model-width": [{"text_features": emb(16)}],
            "exponents-and-zero": [{"text_features": [1e-05, -0.0, 0, 3.4028235e38, -1.5e-45]}],
            "many-rows": [{"text_features": emb(8)} for _ in range(64)],
        },
        "invalid": {
            "empty-array": [],
            "empty-row": [{}],
            "object-not-array": {"image_features": emb(4)},
            "unknown-key": [{"features": emb(4)}],
            "extra-key": [{"image_features": emb(4), "score": 0.5}],
            "empty-embedding": [{"text_features": []}],
            "string-in-embedding": [{"text_features": [0.1, "0.2"]}],
            "null-in-embedding": [{"text_features": [0.1, None]}],
            "nested-embedding": [{"text_features": [[0.1, 0.2]]}],
            "row-is-array": [[0.1, 0.2]],
            "embedding-is-number": [{"image_features": 0.5}],
        },
    },
    "error": {
        "valid": {
            **{f"code-{c}": {"error": err(c, f"an example of {c}")} for c in CODES},
            "with-pointer": {"error": err("image_fetch_failed", "HTTP 404", "/input_data/data/0/0")},
            "pointer-to-whole-document": {"error": err("schema_violation", "expected object", "")},
            "pointer-with-escapes": {"error": err("schema_violation", "unexpected", "/a~1b/c~0d")},
        },
        "invalid": {
            "unknown-code": {"error": err("timeout", "too slow")},
            "code-not-string": {"error": err(404, "not found")},
            "missing-message": {"error": {"code": "internal"}},
            "empty-message": {"error": err("internal", "")},
            "missing-code": {"error": {"message": "x"}},
            "extra-error-key": {"error": {**err(), "detail": "x"}},
            "extra-top-level-key": {"error": err(), "request_id": "x"},
            "missing-error": {"code": "internal", "message": "x"},
            "pointer-without-slash": {"error": err("schema_violation", "x", "input_data")},
            "pointer-bad-escape": {"error": err("schema_violation", "x", "/a~2b")},
            "pointer-not-string": {"error": err("schema_violation", "x", 3)},
            "error-is-string": {"error": "internal"},
        },
    },
    "dead-letter": {
        "valid": {
            "schema-violation": dead(),
            "minimal": {"error": err(), "original": {"body_base64": "", "properties": {}},
                        "worker": {"id": "w/1"}, "time": "2026-01-01T00:00:00Z"},
            "binary-body": dead(**{"original.body_base64": "//79AAE=", "error": err("invalid_json", "not UTF-8")}),
            "all-properties": dead(**{"original.properties": {
                "content_type": "application/json", "content_encoding": "identity", "headers": {},
                "delivery_mode": 1, "priority": 9, "correlation_id": "c", "reply_to": "r", "expiration": "60000",
                "message_id": "m", "timestamp": 1796000000, "type": "embed", "user_id": "guest", "app_id": "svc"}}),
        },
        "invalid": {
            "missing-time": dead(time=DELETE),
            "time-not-utc": dead(time="2026-11-29T22:50:00+01:00"),
            "time-not-rfc3339": dead(time="29/11/2026 22:50"),
            "unknown-error-code": dead(**{"error.code": "oops"}),
            "error-missing-message": dead(**{"error.message": DELETE}),
            "missing-original": dead(original=DELETE),
            "missing-body": dead(**{"original.body_base64": DELETE}),
            "body-not-string": dead(**{"original.body_base64": [1, 2]}),
            "unknown-property": dead(**{"original.properties.priorty": 1}),
            "delivery-mode-3": dead(**{"original.properties.delivery_mode": 3}),
            "priority-too-high": dead(**{"original.properties.priority": 256}),
            "headers-not-object": dead(**{"original.properties.headers": "x-deadline=1"}),
            "worker-without-id": dead(worker={"version": "0.1.0"}),
            "worker-empty-id": dead(**{"worker.id": ""}),
            "extra-top-level-key": dead(retries=3),
            "redelivered-not-boolean": dead(**{"original.redelivered": "no"}),
        },
    },
}


def main():
    for schema, groups in CASES.items():
        for verdict, documents in groups.items():
            folder = os.path.join(HERE, schema, verdict)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            for name, document in documents.items():
                with open(os.path.join(folder, name + ".json"), "w") as f:
                    json.dump(document, f)
        print(schema, {verdict: len(documents) for verdict, documents in groups.items()})


if __name__ == "__main__":
    main()
