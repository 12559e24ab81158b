"""Calls a clipq gateway with Python `requests`, as a client of the hosted endpoint would.

stdin: {"calls": [{"method": "POST", "url": ..., "headers": {...}, and "json": <a value sent as
JSON> or "data": <a string sent as is> or "repeat": [<a string>, <count>] (a large body)}, ...]}
stdout: one JSON list of {"status", "headers", "text", "json" (null when not JSON)}.
"""
import json
import sys

import requests

spec = json.load(sys.stdin)
results = []
with requests.Session() as session:
    for call in spec["calls"]:
        kwargs = {"headers": call.get("headers", {}), "timeout": 60}
        if "json" in call:
            kwargs["json"] = call["json"]
        elif "data" in call:
            kwargs["data"] = call["data"].encode()
        elif "repeat" in call:
            text, count = call["repeat"]
            kwargs["data"] = text.encode() * count
        response = session.request(call.get("method", "POST"), call["url"], **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        results.append({"status": response.status_code, "headers": {k.lower(): v for k, v in response.headers.items()},
                        "text": response.text, "json": body})
json.dump(results, sys.stdout)
