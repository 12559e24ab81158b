#!/usr/bin/env python3
"""`make model`: downloads a model directory clipq reads, verifying every file's SHA-256.

    python3 scripts/fetch-model.py                               # Deploy/models/clip-vit-large-patch14-336.json
    python3 scripts/fetch-model.py --manifest M.json --out DIR --base-url URL

The manifest (JSON) names the files and their SHA-256:
    {"name": "...", "base_url": "https://huggingface.co/<repo>/resolve/<revision>",
     "files": {"config.json": "<64 hex>" | null, ...}}
Files are fetched from <base URL>/<file> (env CLIPQ_MODEL_BASE_URL overrides the manifest's, e.g.
a mirror) into <file>.part, resumed with an HTTP Range request after an interruption, and
renamed into place only once their SHA-256 matches. A file already in place with the right
hash is not fetched again.

A file whose manifest hash is null (not yet known) is checked against the SHA-256 the Hugging
Face hub sends for large (LFS) files (X-Linked-ETag); with no such header it is refused unless
--record is given, which writes the hashes of what was downloaded into the manifest (trust on
first use: commit the manifest afterwards, so that later downloads are verified).
Exit status: 0 when every file is in place and verified, 1 otherwise.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.request

CHUNK = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_sha256(headers):
    """The hub's SHA-256 of an LFS file (its ETag), or None for small files (a git blob id)."""
    for name in ("X-Linked-ETag", "ETag"):
        value = (headers.get(name) or "").strip().removeprefix("W/").strip('"').lower()
        if HEX64.match(value):
            return value
    return None


class RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Keeps the hub's X-Linked-ETag, which is on its redirect to the storage, not on the file."""
    linked = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        RecordingRedirects.linked = RecordingRedirects.linked or hub_sha256(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


OPENER = urllib.request.build_opener(RecordingRedirects)


def download(url, part, timeout):
    """Fetches url into part, resuming from part's size. Returns the response headers."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": "clipq-fetch-model"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        RecordingRedirects.linked = None
        response = OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: part is complete (or too long; the hash decides)
            return error.headers
        raise
    with response:
        resumed = response.status == 206
        if have and not resumed:
            print(f"  the server ignored the range: fetching {os.path.basename(part)} from the start", file=sys.stderr)
        with open(part, "ab" if resumed else "wb") as f:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
        expected = response.headers.get("Content-Length")
        got = os.path.getsize(part) - (have if resumed else 0)
        if expected is not None and got != int(expected):
            raise IOError(f"connection ended after {got} of {expected} bytes (run again to resume)")
        return response.headers


def fetch(name, expected, base_url, out, record, timeout):
    """Returns the verified SHA-256 of out/name, raising on any failure."""
    target = os.path.join(out, name)
    if expected and os.path.exists(target) and sha256_of(target) == expected:
        print(f"{name}: present, sha256 ok", file=sys.stderr)
        return expected
    part = target + ".part"
    url = f"{base_url.rstrip('/')}/{name}"
    print(f"{name}: fetching {url}" + (f" (resuming at {os.path.getsize(part)} bytes)" if os.path.exists(part) else ""),
          file=sys.stderr)
    headers = download(url, part, timeout)
    got = sha256_of(part)
    want = expected or RecordingRedirects.linked or hub_sha256(headers)
    if want is None and not record:
        raise ValueError(f"no known sha256 (manifest null, no hub header); got {got}: check it and run with --record")
    if want is not None and got != want:
        os.remove(part)  # a corrupt file is fetched afresh next time, not resumed
        raise ValueError(f"sha256 mismatch: expected {want}, got {got} (file removed)")
    os.replace(part, target)
    print(f"{name}: sha256 ok ({got})" if want else f"{name}: recorded sha256 {got} (trust on first use)", file=sys.stderr)
    return got


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default=os.path.join(root, "Deploy/models/clip-vit-large-patch14-336.json"))
    parser.add_argument("--out", help="model directory (default: models/<manifest name>)")
    parser.add_argument("--base-url", default=os.environ.get("CLIPQ_MODEL_BASE_URL"))
    parser.add_argument("--record", action="store_true", help="write the hashes of files the manifest lacks into it")
    parser.add_argument("--timeout", type=float, default=60, help="seconds without data before giving up")
    args = parser.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    out = args.out or os.path.join(root, "models", manifest["name"])
    base_url = args.base_url or manifest["base_url"]
    os.makedirs(out, exist_ok=True)
    failed = False
    for name, expected in manifest["files"].items():
        try:
            manifest["files"][name] = fetch(name, expected, base_url, out, args.record, args.timeout)
        except (OSError, ValueError, http.client.HTTPException) as error:
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failed = True
    if args.record:
        with open(args.manifest, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"recorded hashes in {args.manifest}", file=sys.stderr)
    print(("some files failed: run again to resume" if failed else f"model ready in {out}"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
