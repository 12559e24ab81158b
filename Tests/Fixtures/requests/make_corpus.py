#!/usr/bin/env python3
"""Writes the request corpus: valid/*.json, invalid/*.json and expected.json.

Each invalid case names the error code and JSON Pointer the worker must answer with (pointer
null where the error is about the body as a whole). `max_body_bytes` / `max_rows`, where
present, are the limits the case is checked under (the defaults would need huge files).
Run by hand from the repository root: python3 Tests/Fixtures/requests/make_corpus.py
"""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
COLS = ["image", "text"]


def req(data, index=None, columns=COLS, **extra):
    body = {"input_data": {"columns": columns, "index": list(range(len(data))) if index is None else index,
                           "data": data}}
    body.update(extra)
    return body


VALID = {
    "doc-url-and-text": req([["https://example.com/images/cat.jpg", ""], ["", "a photo of a cat"]]),
    "doc-data-uri-with-text": req([["data:image/png;base64," + PNG_1X1, "a red pixel"]]),
    "doc-texts-only": req([["", "a diagram"], ["", "a dog"], ["", "a cat"]]),
    "base64-image": req([[PNG_1X1, ""]]),
    "image-and-text-same-row": req([["http://example.com/a.png", "a caption"]]),
    "string-index": req([["", "x"], ["", "y"]], index=["a", "b"]),
    "integral-float-index": req([["", "x"]], index=[0.0]),
    "duplicate-index-labels": req([["", "x"], ["", "y"]], index=[7, 7]),
    "unicode-text": req([["", "naïve café — 猫の写真 🐈‍⬛"]]),
    "escaped-unicode-text": None,  # written raw below
    "long-text": req([["", "word " * 5000]]),
    "max-rows": req([["", f"caption {i}"] for i in range(256)]),
    "whitespace-formatting": None,  # written raw below
    "empty-text-with-image": req([["https://example.com/x.webp", ""]]),
}
RAW_VALID = {
    "escaped-unicode-text": b'{"input_data":{"columns":["image","text"],"index":[0],'
                            b'"data":[["","caf\\u00e9 \\ud83d\\udc08 \\"quoted\\" \\\\ \\/ \\n\\t"]]}}',
    "whitespace-formatting": b'\n\t {\r\n "input_data" : {\n  "columns" : [ "image" , "text" ] ,\n'
                             b'  "index" : [ 0 ] ,\n  "data" : [ [ "" , "spaced out" ] ]\n }\n}\n',
}

S = "schema_violation"
J = "invalid_json"
INVALID = {
    # Body and JSON syntax: invalid_json, no pointer.
    "empty-body": (b"", J, None),
    "whitespace-only": (b"  \n", J, None),
    "not-utf8": (b'{"input_data": "\xff\xfe"}', J, None),
    "latin1-text": ('{"input_data":{"columns":["image","text"],"index":[0],"data":[["","caf\xe9"]]}}'
                    .encode("latin-1"), J, None),
    "utf8-bom": (b"\xef\xbb\xbf" + json.dumps(req([["", "x"]])).encode(), J, None),
    "truncated": (json.dumps(req([["", "x"]])).encode()[:-3], J, None),
    "trailing-comma": (b'{"input_data": {"columns": ["image", "text"],}}', J, None),
    "single-quotes": (b"{'input_data': {}}", J, None),
    "comment": (b'// hi\n{"input_data": {}}', J, None),
    "nan-literal": (b'{"input_data": {"columns": ["image", "text"], "index": [NaN], "data": [["", "x"]]}}', J, None),
    "number-overflow": (b'{"input_data": {"columns": ["image", "text"], "index": [1e400], "data": [["", "x"]]}}', J, None),
    "leading-zero-number": (b'{"input_data": {"columns": ["image", "text"], "index": [01], "data": [["", "x"]]}}', J, None),
    "duplicate-key": (b'{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "a"]],'
                      b' "data": [["", "b"]]}}', J, None),
    "lone-surrogate": (b'{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "\\ud800"]]}}', J, None),
    "bad-escape": (b'{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "\\x41"]]}}', J, None),
    "raw-control-character": (b'{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "a\x01b"]]}}', J, None),
    "raw-newline-in-string": (b'{"input_data": {"columns": ["image", "text"], "index": [0], "data": [["", "a\nb"]]}}', J, None),
    "two-documents": (b'{"input_data": {}} {"input_data": {}}', J, None),
    "nested-too-deep": (b"[" * 100 + b"]" * 100, J, None),
    "deeply-nested-in-row": (json.dumps(req([["", "x"]])).encode().replace(b'"x"', b"[" * 70 + b"]" * 70), J, None),
    "unclosed-string": (b'{"input_data": "abc', J, None),
    # Schema: schema_violation with the pointer of the offending value.
    "top-level-array": ([req([["", "x"]])], S, ""),
    "top-level-string": ("input_data", S, ""),
    "top-level-null": (None, S, ""),
    "empty-object": ({}, S, ""),
    "missing-input-data": ({"inputs": req([["", "x"]])["input_data"]}, S, ""),
    "extra-top-level-key": (req([["", "x"]], params={"normalize": True}), S, "/params"),
    "input-data-is-array": ({"input_data": [["", "x"]]}, S, "/input_data"),
    "missing-columns": ({"input_data": {"index": [0], "data": [["", "x"]]}}, S, "/input_data"),
    "missing-index": ({"input_data": {"columns": COLS, "data": [["", "x"]]}}, S, "/input_data"),
    "missing-data": ({"input_data": {"columns": COLS, "index": [0]}}, S, "/input_data"),
    "extra-input-data-key": ({"input_data": {"columns": COLS, "index": [0], "data": [["", "x"]], "dtype": "str"}},
                             S, "/input_data/dtype"),
    "columns-reversed": (req([["", "x"]], columns=["text", "image"]), S, "/input_data/columns"),
    "columns-extra": (req([["", "x"]], columns=["image", "text", "label"]), S, "/input_data/columns"),
    "columns-uppercase": (req([["", "x"]], columns=["Image", "Text"]), S, "/input_data/columns"),
    "columns-is-string": (req([["", "x"]], columns="image,text"), S, "/input_data/columns"),
    "index-not-array": (req([["", "x"]], index=0), S, "/input_data/index"),
    "index-boolean-item": (req([["", "x"]], index=[True]), S, "/input_data/index/0"),
    "index-fractional-item": (req([["", "x"]], index=[1.5]), S, "/input_data/index/0"),
    "index-null-item": (req([["", "x"], ["", "y"]], index=[0, None]), S, "/input_data/index/1"),
    "index-object-item": (req([["", "x"]], index=[{"i": 0}]), S, "/input_data/index/0"),
    "data-not-array": ({"input_data": {"columns": COLS, "index": [0], "data": {"0": ["", "x"]}}}, S, "/input_data/data"),
    "data-empty": (req([]), S, "/input_data/data"),
    "row-is-string": (req(["a photo"]), S, "/input_data/data/0"),
    "row-is-object": (req([{"image": "", "text": "x"}]), S, "/input_data/data/0"),
    "row-one-cell": (req([["", "x"], ["https://example.com/a.jpg"]]), S, "/input_data/data/1"),
    "row-empty": (req([[]]), S, "/input_data/data/0"),
    "row-three-cells": (req([["", "x", "extra"]]), S, "/input_data/data/0/2"),
    "row-neither-image-nor-text": (req([["", "x"], ["", ""]]), S, "/input_data/data/1"),
    "image-cell-number": (req([[42, "x"]]), S, "/input_data/data/0/0"),
    "image-cell-null": (req([[None, "x"]]), S, "/input_data/data/0/0"),
    "image-cell-array": (req([[["https://example.com/a.jpg"], ""]]), S, "/input_data/data/0/0"),
    "text-cell-null": (req([["https://example.com/a.jpg", None]]), S, "/input_data/data/0/1"),
    "text-cell-boolean": (req([["", False]]), S, "/input_data/data/0/1"),
    "text-cell-object": (req([["", {"text": "x"}]]), S, "/input_data/data/0/1"),
    "bad-row-after-good-ones": (req([["", "a"]] * 5 + [["", 7]]), S, "/input_data/data/5/1"),
    # Request rules a JSON Schema cannot state.
    "index-shorter-than-data": (req([["", "x"], ["", "y"]], index=[0]), S, "/input_data/index"),
    "index-longer-than-data": (req([["", "x"]], index=[0, 1, 2]), S, "/input_data/index"),
    "too-many-rows": (req([["", f"t{i}"] for i in range(257)]), "too_many_rows", "/input_data/data"),
    "too-many-rows-small-limit": (req([["", f"t{i}"] for i in range(11)]), "too_many_rows", "/input_data/data",
                                  {"max_rows": 10}),
    "too-many-rows-bad-rows": (req([[1, 2]] * 300), "too_many_rows", "/input_data/data"),
    "message-too-large": (req([["", "x" * 2000]]), "message_too_large", None, {"max_body_bytes": 1024}),
}


def write(path, content):
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else json.dumps(content, ensure_ascii=False).encode())


def main():
    for sub in ("valid", "invalid"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        os.makedirs(os.path.join(HERE, sub))
    for name, body in VALID.items():
        write(os.path.join(HERE, "valid", name + ".json"), RAW_VALID.get(name, body))
    expected = {}
    for name, case in INVALID.items():
        body, code, pointer = case[:3]
        limits = case[3] if len(case) > 3 else {}
        write(os.path.join(HERE, "invalid", name + ".json"), body)
        expected[name + ".json"] = {"code": code, "pointer": pointer, **limits}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(VALID)} valid, {len(INVALID)} invalid")


if __name__ == "__main__":
    main()
