#!/usr/bin/env python3
"""`make model`: downloads a model directory clipq reads, verifying every file.

    python3 scripts/fetch-model.py                               # Deploy/models/clip-vit-large-patch14-336.json
    python3 scripts/fetch-model.py --manifest M.json --out DIR --base-url URL

The manifest (JSON) names the files and, where known, their SHA-256:
    {"name": "...", "base_url": "https://huggingface.co/<repo>/resolve/<revision>",
     "files": {"config.json": "<64 hex>" | null, ...}}
Files are fetched from <base URL>/<file> (env CLIPQ_MODEL_BASE_URL overrides the manifest's, e.g.
a mirror) into <file>.part, resumed with an HTTP Range request after an interruption, and
renamed into place only once verified. A file already in place that verifies is not fetched again.

What a file is verified against, first found wins:
  1. the manifest's SHA-256;
  2. what the Hugging Face hub publishes for it, asked with a HEAD request on its URL: for large
     (LFS) files the SHA-256 in X-Linked-ETag (on the hub's redirect to its storage), for small
     files the git blob id in ETag (SHA-1 of "blob <size>\\0" + content);
  3. the hub's file listing, <host>/api/models/<owner>/<repo>/tree/<revision> (lfs.oid or
     lfs.sha256 for LFS files, oid, the git blob id, for the others), when the base URL has the
     hub's /<owner>/<repo>/resolve/<revision> layout.
A file with none of these is refused unless --record is given. --record also writes the SHA-256
of every verified file into the manifest: commit it, and later downloads need no hub lookup.

Exit status: 0 when every file is in place and verified; 1 when a file failed (a bad hash, an
HTTP error: run again to resume); 2 when the server cannot be reached at all (no network, or a
wrong CLIPQ_MODEL_BASE_URL). A model directory this run created and left empty is removed.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

CHUNK = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
USER_AGENT = "clipq-fetch-model"


class Unreachable(Exception):
    """The server could not be reached (no route, no name, refused, timed out): every file would
    fail the same way, so the run stops at the first."""


class Hashes:
    """What a file is checked against: a SHA-256, a git blob id, or both."""

    def __init__(self, sha256=None, blob=None, source=""):
        self.sha256, self.blob, self.source = sha256, blob, source

    def __bool__(self):
        return bool(self.sha256 or self.blob)


def digests(path):
    """(SHA-256, git blob id) of a file, in one read."""
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha256.update(block)
            blob.update(block)
    return sha256.hexdigest(), blob.hexdigest()


def mismatch(path, want):
    """None when path matches want, else what differs; returns (message or None, sha256)."""
    sha256, blob = digests(path)
    if want.sha256 and sha256 != want.sha256:
        return f"sha256 mismatch: expected {want.sha256} ({want.source}), got {sha256}", sha256
    if want.blob and blob != want.blob:
        return f"git blob id mismatch: expected {want.blob} ({want.source}), got {blob}", sha256
    return None, sha256


def etag_value(headers, name):
    return (headers.get(name) or "").strip().removeprefix("W/").strip('"').lower()


def hub_hashes(hops):
    """The hub's SHA-256 (LFS) or git blob id (small files) from the first response that has one.
    On an LFS file's redirect X-Linked-ETag is the file's SHA-256 and ETag is about the pointer,
    so a response's X-Linked-ETag, where it has one, is the only value read from it."""
    for headers in hops:
        value = etag_value(headers, "X-Linked-ETag") or etag_value(headers, "ETag")
        if HEX64.match(value):
            return Hashes(sha256=value, source="the hub's ETag")
        if HEX40.match(value):
            return Hashes(blob=value, source="the hub's ETag")
    return Hashes()


class RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Keeps the headers of each redirect: the hub's X-Linked-ETag is on its redirect to the
    storage, not on the file's response."""

    def __init__(self):
        self.hops = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


def open_url(url, timeout, method="GET", headers=None):
    """(response, the headers of every hop, first first). Raises Unreachable when nothing answers."""
    redirects = RecordingRedirects()
    request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        response = urllib.request.build_opener(redirects).open(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as error:
        raise Unreachable(f"{urllib.parse.urlsplit(url).netloc}: {error.reason}") from None
    except (socket.timeout, TimeoutError, ConnectionError) as error:
        raise Unreachable(f"{urllib.parse.urlsplit(url).netloc}: {error}") from None
    return response, redirects.hops + [response.headers]


def published_hashes(url, timeout):
    """What the hub publishes for the file at url, from a HEAD request's headers."""
    try:
        response, hops = open_url(url, timeout, method="HEAD")
        response.close()
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise ValueError(f"HTTP {error.code} on {url}: the repository is gated or private") from None
        if error.code == 404:
            raise ValueError(f"HTTP 404: no such file at {url}") from None
        return Hashes()  # a server that refuses HEAD: the listing or the GET's headers may still say
    return hub_hashes(hops)


def listing_url(base_url):
    """<host>/api/models/<owner>/<repo>/tree/<revision> for a base URL laid out as the hub's."""
    parts = urllib.parse.urlsplit(base_url)
    match = re.fullmatch(r"(.*?)/([^/]+)/([^/]+)/resolve/([^/]+)/?", parts.path)
    if not match:
        return None
    prefix, owner, repo, revision = match.groups()
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"{prefix}/api/models/{owner}/{repo}/tree/{revision}", "", ""))


def listed_hashes(base_url, timeout):
    """{file: Hashes} from the hub's file listing, or {} where there is none."""
    url = listing_url(base_url)
    if url is None:
        return {}
    try:
        response, _ = open_url(url, timeout)
        with response:
            entries = json.load(response)
    except (urllib.error.HTTPError, ValueError):
        return {}
    found = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("type", "file") != "file":
            continue
        lfs = entry.get("lfs") or {}
        sha256 = str(lfs.get("oid") or lfs.get("sha256") or "").removeprefix("sha256:").lower()
        blob = str(entry.get("oid") or "").lower()
        hashes = Hashes(source="the hub's file listing")
        if HEX64.match(sha256):
            hashes.sha256 = sha256
        elif HEX40.match(blob):  # an LFS entry's oid is its pointer file's blob id, not the file's
            hashes.blob = blob
        if hashes:
            found[entry.get("path")] = hashes
    return found


def download(url, part, timeout):
    """Fetches url into part, resuming from part's size. Returns the headers of every hop."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response, hops = open_url(url, timeout, headers={"Range": f"bytes={have}-"} if have else None)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: part is complete (or too long; the hash decides)
            return [error.headers]
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
        return hops


class Fetcher:
    def __init__(self, base_url, out, record, timeout):
        self.base_url, self.out, self.record, self.timeout = base_url.rstrip("/"), out, record, timeout
        self._listing = None

    def listing(self):
        if self._listing is None:
            self._listing = listed_hashes(self.base_url, self.timeout)
        return self._listing

    def fetch(self, name, expected):
        """Returns the SHA-256 of out/name once verified; raises ValueError, OSError, Unreachable."""
        target = os.path.join(self.out, name)
        url = f"{self.base_url}/{name}"
        want = Hashes(sha256=expected, source="the manifest") if expected else published_hashes(url, self.timeout)
        if not want:
            want = self.listing().get(name, Hashes())
        if want and os.path.exists(target):
            problem, sha256 = mismatch(target, want)
            if problem is None:
                print(f"{name}: present, sha256 ok (verified against {want.source})", file=sys.stderr)
                return sha256
        part = target + ".part"
        print(f"{name}: fetching {url}" + (f" (resuming at {os.path.getsize(part)} bytes)" if os.path.exists(part) else ""),
              file=sys.stderr)
        os.makedirs(self.out, exist_ok=True)
        hops = download(url, part, self.timeout)
        if not want:
            want = hub_hashes(hops)  # a server that answers GET but not HEAD may still send them
        if not want:
            sha256, _ = digests(part)
            if not self.record:
                os.remove(part)
                raise ValueError(f"no known sha256 (none in the manifest, and the server published neither a SHA-256 "
                                 f"nor a git blob id); got {sha256}: check it and run with --record to trust it")
            os.replace(part, target)
            print(f"{name}: recorded sha256 {sha256} (trust on first use)", file=sys.stderr)
            return sha256
        problem, sha256 = mismatch(part, want)
        if problem:
            os.remove(part)  # a corrupt file is fetched afresh next time, not resumed
            raise ValueError(problem + " (file removed)")
        os.replace(part, target)
        print(f"{name}: sha256 ok ({sha256}), verified against {want.source}", file=sys.stderr)
        return sha256


def remove_if_created_and_empty(existed):
    """Removes path (and the parents it made) when this run created it and left nothing in it."""
    for directory, was_there in existed:
        if was_there or not os.path.isdir(directory) or os.listdir(directory):
            return
        os.rmdir(directory)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default=os.path.join(root, "Deploy/models/clip-vit-large-patch14-336.json"))
    parser.add_argument("--out", help="model directory (default: models/<manifest name>)")
    parser.add_argument("--base-url", default=os.environ.get("CLIPQ_MODEL_BASE_URL"))
    parser.add_argument("--record", action="store_true", help="write the SHA-256 of every verified file into the manifest")
    parser.add_argument("--timeout", type=float, default=60, help="seconds without data before giving up")
    args = parser.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    out = os.path.abspath(args.out or os.path.join(root, "models", manifest["name"]))
    base_url = args.base_url or manifest["base_url"]
    # The directories this run may create, innermost first: removed again if left empty.
    existed = [(out, os.path.isdir(out)), (os.path.dirname(out), os.path.isdir(os.path.dirname(out)))]
    fetcher = Fetcher(base_url, out, args.record, args.timeout)
    failed, unreachable = [], None
    for name, expected in manifest["files"].items():
        try:
            manifest["files"][name] = fetcher.fetch(name, expected)
        except Unreachable as error:
            unreachable = error
            break
        except (OSError, ValueError, http.client.HTTPException) as error:
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failed.append(name)
    remove_if_created_and_empty(existed)
    if unreachable is not None:
        print(f"cannot reach {unreachable}\n"
              f"No network, or the server is down? Nothing more was fetched from {base_url}.\n"
              "Run `make model` again once online (downloads resume), or set CLIPQ_MODEL_BASE_URL to a mirror.",
              file=sys.stderr)
        return 2
    if args.record and not failed:
        with open(args.manifest, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"recorded hashes in {args.manifest}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} file(s) failed ({', '.join(failed)}): run again to retry (downloads resume)", file=sys.stderr)
        return 1
    print(f"model ready in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
