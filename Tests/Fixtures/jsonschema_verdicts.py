#!/usr/bin/env python3
"""Python's `jsonschema` verdicts on every document the Swift validator is tested with.

The differential test (Tests/ClipSchemaTests/DifferentialTests.swift) runs this and compares:
- "suite/<file>/<group>/<test>": the JSON Schema Test Suite cases;
- "<schema>/<path>": each corpus file against its contract schema (request, reply, error,
  dead-letter), with the built-in schemas resolvable from each other by $id.
A verdict is true (valid), false (invalid) or "unparseable" (json.loads refused the body).
Prints one JSON object. Needs only `jsonschema` (make setup installs it when missing).
"""
import json
import os
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "Schemas")
CORPORA = {
    "request": ["requests/valid", "requests/invalid"],
    "reply": ["contract/reply/valid", "contract/reply/invalid"],
    "error": ["contract/error/valid", "contract/error/invalid"],
    "dead-letter": ["contract/dead-letter/valid", "contract/dead-letter/invalid"],
}


def main():
    documents = {name: json.load(open(os.path.join(SCHEMAS, name + ".schema.json"))) for name in CORPORA}
    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in documents.values())
    verdicts = {}
    for name, folders in CORPORA.items():
        validator = Draft202012Validator(documents[name], registry=registry)
        for folder in folders:
            for file in sorted(os.listdir(os.path.join(HERE, folder))):
                raw = open(os.path.join(HERE, folder, file), "rb").read()
                try:
                    instance = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    verdicts[f"{name}/{folder}/{file}"] = "unparseable"
                    continue
                verdicts[f"{name}/{folder}/{file}"] = validator.is_valid(instance)
    suite = os.path.join(HERE, "json-schema-test-suite", "draft2020-12")
    for file in sorted(os.listdir(suite)):
        for g, group in enumerate(json.load(open(os.path.join(suite, file)))):
            validator = Draft202012Validator(group["schema"])
            for t, test in enumerate(group["tests"]):
                try:
                    verdicts[f"suite/{file}/{g}/{t}"] = validator.is_valid(test["data"])
                except Exception as error:  # remote refs this offline run cannot fetch
                    verdicts[f"suite/{file}/{g}/{t}"] = f"error: {type(error).__name__}"
    json.dump(verdicts, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
