#!/usr/bin/env python3
"""Tests scripts/fetch-model.py (`make model`) against a loopback server laid out as the Hugging
Face hub: /<owner>/<repo>/resolve/main/<file> (small files with their git blob id as ETag, large
files as a 302 to storage carrying X-Linked-ETag, the SHA-256), /api/models/<owner>/<repo>/tree/main
(the file listing), HEAD and Range requests. The files are the tiny test model's.

    python3 scripts/test-fetch-model.py            (make test-scripts runs it)
"""
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.environ.get("FETCH_MODEL_SCRIPT", os.path.join(ROOT, "scripts", "fetch-model.py"))
TINY = os.path.join(ROOT, "Tests", "Fixtures", "tiny-clip")
NAMES = ["config.json", "vocab.json", "merges.txt", "preprocessor_config.json", "model.safetensors"]
LFS = {"model.safetensors"}
REPO = "openai/tiny-clip"


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    """What the fake hub serves and how it misbehaves; the handler reads it on every request."""

    def __init__(self):
        self.files = {}
        for name in NAMES:
            with open(os.path.join(TINY, name), "rb") as f:
                self.files[name] = f.read()
        self.corrupt = set()     # served with one byte changed, the published hashes unchanged
        self.cut_once = set()    # the next GET sends half the file and closes the connection
        self.etags = True        # False: no ETag headers (verification must use the listing)
        self.listing = True
        self.log = []            # (method, path, Range header)
        self.lock = threading.Lock()

    def body(self, name):
        data = self.files[name]
        return data[:-1] + bytes([data[-1] ^ 1]) if name in self.corrupt else data


def make_handler(hub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.serve(head=True)

        def do_GET(self):
            self.serve(head=False)

        def reply(self, status, headers, body=b"", head=False):
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(body)
            self.close_connection = True

        def serve(self, head):
            with hub.lock:
                hub.log.append((self.command, self.path, self.headers.get("Range")))
            resolve = f"/{REPO}/resolve/main/"
            if self.path == f"/api/models/{REPO}/tree/main" and hub.listing:
                entries = []
                for name, data in hub.files.items():
                    entry = {"type": "file", "path": name, "size": len(data), "oid": blob_id(data)}
                    if name in LFS:  # an LFS entry's oid is the pointer's; the file's SHA-256 is lfs.oid
                        entry["oid"] = blob_id(b"version https://git-lfs.github.com/spec/v1\n")
                        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                    entries.append(entry)
                return self.reply(200, [("Content-Type", "application/json")], json.dumps(entries).encode(), head)
            if self.path.startswith(resolve) and self.path[len(resolve):] in hub.files:
                name = self.path[len(resolve):]
                data = hub.files[name]
                if name in LFS:
                    headers = [("Location", f"/storage/{name}")]
                    if hub.etags:
                        headers += [("X-Linked-ETag", f'"{hashlib.sha256(data).hexdigest()}"'),
                                    ("X-Linked-Size", str(len(data))), ("ETag", f'"{blob_id(b"pointer")}"')]
                    return self.reply(302, headers, b"", head)
                return self.content(name, [("ETag", f'"{blob_id(data)}"')] if hub.etags else [], head)
            if self.path.startswith("/storage/") and self.path[len("/storage/"):] in hub.files:
                return self.content(self.path[len("/storage/"):], [("ETag", '"d41d8cd98f00b204e9800998ecf8427e"')], head)
            return self.reply(404, [], b"not found", head)

        def content(self, name, headers, head):
            body = hub.body(name)
            if head:
                return self.reply(200, headers, body, head=True)
            if name in hub.cut_once:
                hub.cut_once.discard(name)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            requested = self.headers.get("Range")
            if requested:
                start = int(requested.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    return self.reply(416, headers, b"")
                headers = headers + [("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")]
                return self.reply(206, headers, body[start:])
            return self.reply(200, headers, body)

    return Handler


class FetchModelTests(unittest.TestCase):
    def setUp(self):
        self.hub = Hub()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.hub))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/{REPO}/resolve/main"
        self.tmp = tempfile.mkdtemp(prefix="clipq-fetch-model-")
        self.manifest = os.path.join(self.tmp, "manifest.json")
        self.write_manifest({name: None for name in NAMES})
        self.out = os.path.join(self.tmp, "models", "tiny")

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_manifest(self, files):
        with open(self.manifest, "w") as f:
            json.dump({"name": "tiny", "base_url": "http://127.0.0.1:9/unused", "files": files}, f)

    def fetch(self, *extra, base=None):
        result = subprocess.run([sys.executable, SCRIPT, "--manifest", self.manifest, "--out", self.out,
                                 "--base-url", base or self.base, "--timeout", "10", *extra],
                                capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout + result.stderr

    def assert_model_in_place(self):
        for name in NAMES:
            with open(os.path.join(self.out, name), "rb") as f:
                self.assertEqual(f.read(), self.hub.files[name], name)
        self.assertEqual([n for n in os.listdir(self.out) if n.endswith(".part")], [])

    def gets(self):
        return [entry for entry in self.hub.log if entry[0] == "GET" and "/api/" not in entry[1]]

    def test_a_fresh_download_is_verified_by_what_the_hub_publishes(self):
        status, output = self.fetch()
        self.assertEqual(status, 0, output)
        self.assert_model_in_place()
        for name in NAMES:
            self.assertIn(f"{name}: sha256 ok ({hashlib.sha256(self.hub.files[name]).hexdigest()}), verified against the hub's ETag",
                          output)
        # A second run finds every file in place and downloads nothing.
        self.hub.log.clear()
        status, output = self.fetch()
        self.assertEqual(status, 0, output)
        self.assertEqual(self.gets(), [], output)
        self.assertEqual(output.count("present, sha256 ok"), len(NAMES), output)

    def test_without_etags_the_hubs_file_listing_verifies(self):
        self.hub.etags = False
        status, output = self.fetch()
        self.assertEqual(status, 0, output)
        self.assert_model_in_place()
        self.assertEqual(output.count("verified against the hub's file listing"), len(NAMES), output)

    def test_a_corrupt_file_is_rejected_and_not_kept(self):
        self.hub.corrupt = {"config.json", "model.safetensors"}
        status, output = self.fetch()
        self.assertEqual(status, 1, output)
        self.assertIn("config.json: FAILED: git blob id mismatch", output)
        self.assertIn("model.safetensors: FAILED: sha256 mismatch", output)
        for name in ["config.json", "config.json.part", "model.safetensors", "model.safetensors.part"]:
            self.assertFalse(os.path.exists(os.path.join(self.out, name)), name)
        self.assertIn("2 file(s) failed (config.json, model.safetensors)", output)
        # Through the listing too.
        self.hub.etags = False
        status, output = self.fetch()
        self.assertEqual(status, 1, output)
        self.assertIn("config.json: FAILED: git blob id mismatch", output)
        # And against the manifest's hash, which wins over the hub's.
        self.hub.corrupt = set()
        self.write_manifest({"config.json": "0" * 64})
        status, output = self.fetch()
        self.assertEqual(status, 1, output)
        self.assertIn("config.json: FAILED: sha256 mismatch: expected " + "0" * 64 + " (the manifest)", output)

    def test_a_file_nobody_vouches_for_is_refused_unless_recorded(self):
        self.hub.etags = False
        self.hub.listing = False
        self.write_manifest({"config.json": None})
        status, output = self.fetch()
        self.assertEqual(status, 1, output)
        self.assertIn("config.json: FAILED: no known sha256", output)
        self.assertFalse(os.path.exists(self.out), "nothing kept, no empty folder")
        status, output = self.fetch("--record")
        self.assertEqual(status, 0, output)
        with open(self.manifest) as f:
            recorded = json.load(f)["files"]["config.json"]
        self.assertEqual(recorded, hashlib.sha256(self.hub.files["config.json"]).hexdigest())

    def test_offline_says_so_once_and_leaves_no_folder(self):
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        status, output = self.fetch(base=f"http://127.0.0.1:{port}/{REPO}/resolve/main")
        self.assertEqual(status, 2, output)
        self.assertEqual(output.count("cannot reach"), 1, output)
        self.assertNotIn("FAILED", output)
        self.assertIn("No network", output)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "models")), "no empty model folder left")

    def test_an_interrupted_download_resumes_where_it_stopped(self):
        self.hub.cut_once = {"model.safetensors"}
        status, output = self.fetch()
        self.assertEqual(status, 1, output)
        self.assertIn("model.safetensors: FAILED", output)
        size = len(self.hub.files["model.safetensors"])
        part = os.path.join(self.out, "model.safetensors.part")
        self.assertEqual(os.path.getsize(part), size // 2, "the first half is kept")
        self.hub.log.clear()
        status, output = self.fetch()
        self.assertEqual(status, 0, output)
        self.assert_model_in_place()
        self.assertEqual([(path, rng) for _, path, rng in self.gets()],
                         [(f"/{REPO}/resolve/main/model.safetensors", f"bytes={size // 2}-"),
                          ("/storage/model.safetensors", f"bytes={size // 2}-")],
                         "only the rest of the weights is fetched")


if __name__ == "__main__":
    unittest.main(verbosity=2)
