"""Calls a clipq gateway through the official `openai` package, as an OpenAI user would.

stdin: {"base_url": ..., "api_key": ..., "calls": [{"input": ..., "model": ..., and optionally
"encoding_format", "dimensions", "extra_body"}, ...]}
stdout: one JSON list, per call either {"ok": true, "response": <the SDK's parsed response>}
or {"ok": false, "status": <HTTP status>, "body": <the error body>, "exception": <SDK class>}.
The SDK's retries are off, so a 503 or 504 shows as itself.
"""
import json
import sys

import openai

spec = json.load(sys.stdin)
client = openai.OpenAI(base_url=spec["base_url"], api_key=spec["api_key"], max_retries=0, timeout=60)
results = []
for call in spec["calls"]:
    kwargs = {"input": call["input"], "model": call["model"]}
    for key in ("encoding_format", "dimensions", "extra_body", "extra_headers"):
        if key in call:
            kwargs[key] = call[key]
    try:
        raw = client.embeddings.with_raw_response.create(**kwargs)
        response = raw.parse()
        results.append({"ok": True, "response": response.model_dump(), "headers": dict(raw.headers)})
    except openai.APIStatusError as error:
        results.append({"ok": False, "status": error.status_code, "body": error.body,
                        "exception": type(error).__name__, "headers": dict(error.response.headers)})
json.dump(results, sys.stdout)
