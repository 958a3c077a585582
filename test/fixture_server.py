#!/usr/bin/env python3
"""Fixture HTTP server for pg_elt's tests: serves files from a directory on
127.0.0.1, with faults on demand chosen by query parameters.

    python3 test/fixture_server.py --dir test/data --port 18766

Query parameters (combine freely):
  key=K          names a counter; faults with a count apply per key
  status=N       answer with status N (and a short text body)
  fail=N         with status=: only the first N requests of key fail,
                 later ones are served normally
  retry_after=S  add Retry-After: S to failures
  cut=N          send the full Content-Length but close after N bytes
  cut_times=N    cut only the first N requests of key (default: every one)
  nolength=1     no Content-Length (the body ends when the connection closes)
  noranges=1     no Accept-Ranges, ignore Range requests
  noetag=1       no ETag (and no Last-Modified unless last_modified= is given)
  etag=E         use E as the ETag (a changed file, for If-Range tests)
  last_modified=D  send Last-Modified: D (an HTTP date)
  encode=gzip    compress on the fly and send Content-Encoding: gzip
  slow=MS        sleep MS milliseconds before every 64 kB chunk
  redirect=PATH  answer 302 with Location: PATH
  auth=TOKEN     require Authorization: Bearer TOKEN (else 401)
  basic=U:P      require Authorization: Basic of user U, password P (else 401)
  need_header=N:V  require the request header N with value V (else 401)
  need_sha256=N:H  require a header N whose value's SHA-256 is H, in hex
                 (else 401): for tests that must not write the secret down

POST (webhooks) answers 200 "ok", or the status= fault, after the same
auth=, basic=, need_header= and need_sha256= checks; it is counted like a
GET and its body kept.  GET /_posts?key=K answers the POSTs seen for K as
CSV rows: the time received (Unix epoch, seconds) and the body.

Files answer conditional requests: If-None-Match naming the ETag, or
(without If-None-Match) If-Modified-Since not before Last-Modified, get
304 Not Modified and no body.

GET /_requests?key=K answers the number of requests seen for K.
GET /_bytes?key=K answers the number of body bytes sent for K.
GET /_headers?key=K answers the header names of the last request for K,
one per line, lower case.
GET /_bump?key=K changes the file as K's requests see it: its ETag (and a
Last-Modified given) name a new version; answers the version.

--extra-port P also serves on port P (another origin, for redirects).
"""
import argparse
import base64
import csv
import io
import gzip
import hashlib
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024
counters = {}
posts = {}
sent_bytes = {}
versions = {}
last_headers = {}
counters_lock = threading.Lock()


def count_request(key):
    with counters_lock:
        counters[key] = counters.get(key, 0) + 1
        return counters[key]


class Handler(BaseHTTPRequestHandler):
    server_version = "pg_elt-fixture/1"
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("fixture: " + (fmt % args) + "\n")

    def send_text(self, status, text, extra=None):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def not_modified(self, etag, last_modified):
        """Does the request's condition say the client's copy is current?"""
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            return etag is not None and ("*" in tags or etag in tags)
        ims = self.headers.get("If-Modified-Since")
        if ims is not None and last_modified is not None:
            try:
                return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
        return False

    def refused(self, q):
        """Does the request lack the credentials the query asks for?"""
        if "auth" in q and self.headers.get("Authorization") != "Bearer " + q["auth"]:
            return True
        if "basic" in q and self.headers.get("Authorization") != \
                "Basic " + base64.b64encode(q["basic"].encode()).decode():
            return True
        if "need_sha256" in q:
            name, _, digest = q["need_sha256"].partition(":")
            value = self.headers.get(name)
            if value is None or hashlib.sha256(value.encode()).hexdigest() != digest:
                return True
        if "need_header" in q:
            name, _, value = q["need_header"].partition(":")
            if self.headers.get(name) != value:
                return True
        return False

    def do_POST(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        key = q.get("key", url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = count_request(key)
        with counters_lock:
            last_headers[key] = sorted(k.lower() for k in self.headers.keys())
        if self.refused(q):
            return self.send_text(401, "unauthorized")
        if "slow" in q:
            time.sleep(int(q["slow"]) / 1000.0)
        if "status" in q and ("fail" not in q or n <= int(q["fail"])):
            return self.send_text(int(q["status"]), "fault injected")
        with counters_lock:
            posts.setdefault(key, []).append(("%.6f" % time.time(), body.decode("utf-8", "replace")))
        return self.send_text(200, "ok")

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        key = q.get("key", url.path)

        if url.path == "/_requests":
            with counters_lock:
                n = counters.get(key, 0)
            return self.send_text(200, str(n))
        if url.path == "/_headers":
            with counters_lock:
                names = last_headers.get(key, [])
            return self.send_text(200, "".join(n + "\n" for n in names))
        if url.path == "/_bytes":
            with counters_lock:
                n = sent_bytes.get(key, 0)
            return self.send_text(200, str(n))
        if url.path == "/_bump":
            with counters_lock:
                versions[key] = versions.get(key, 0) + 1
                n = versions[key]
            return self.send_text(200, str(n))

        if url.path == "/_posts":
            out = io.StringIO()
            with counters_lock:
                csv.writer(out).writerows(posts.get(key, []))
            return self.send_text(200, out.getvalue())

        n = count_request(key)
        with counters_lock:
            last_headers[key] = sorted(k.lower() for k in self.headers.keys())
        if self.refused(q):
            return self.send_text(401, "unauthorized")
        if "redirect" in q:
            self.send_response(302)
            self.send_header("Location", q["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "status" in q and ("fail" not in q or n <= int(q["fail"])):
            extra = {"Retry-After": q["retry_after"]} if "retry_after" in q else None
            return self.send_text(int(q["status"]), "fault injected", extra)

        path = os.path.normpath(os.path.join(self.server.dir, url.path.lstrip("/")))
        if not path.startswith(self.server.dir) or not os.path.isfile(path):
            return self.send_text(404, "no such file")
        st = os.stat(path)
        with counters_lock:
            version = versions.get(key, 0)
        etag = q.get("etag", '"%x-%x%s"' % (st.st_size, st.st_mtime_ns, q.get("encode", "")))
        last_modified = q.get("last_modified")
        if version:
            etag = etag[:-1] + '-v%d"' % version if etag.endswith('"') else etag + "-v%d" % version
            if last_modified:
                stamp = parsedate_to_datetime(last_modified).timestamp() + version
                last_modified = formatdate(stamp, usegmt=True)
        if "noetag" in q:
            etag = None
        if self.not_modified(etag, last_modified):
            self.send_response(304)
            if etag:
                self.send_header("ETag", etag)
            if last_modified:
                self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return
        with open(path, "rb") as f:
            data = f.read()
        if q.get("encode") == "gzip":
            data = gzip.compress(data, mtime=0)

        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and "noranges" not in q and rng.startswith("bytes="):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range == etag:
                start = int(rng[6:].split("-")[0])
                status = 206
        body = data[start:]

        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        if "noranges" not in q:
            self.send_header("Accept-Ranges", "bytes")
        if etag:
            self.send_header("ETag", etag)
        if last_modified:
            self.send_header("Last-Modified", last_modified)
        if q.get("encode") == "gzip":
            self.send_header("Content-Encoding", "gzip")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        if "nolength" not in q:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()

        limit = len(body)
        if "cut" in q and n <= int(q.get("cut_times", "1000000")):
            limit = max(0, int(q["cut"]) - start)
        slow = int(q.get("slow", "0")) / 1000.0
        pos = 0
        try:
            while pos < limit:
                if slow:
                    time.sleep(slow)
                end = min(limit, pos + CHUNK)
                self.wfile.write(body[pos:end])
                with counters_lock:
                    sent_bytes[key] = sent_bytes.get(key, 0) + (end - pos)
                pos = end
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if limit < len(body):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=18766)
    ap.add_argument("--extra-port", type=int)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    servers = []
    for port in [args.port] + ([args.extra_port] if args.extra_port else []):
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        server.dir = os.path.abspath(args.dir)
        server.verbose = args.verbose
        servers.append(server)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("fixture server on http://127.0.0.1:%d serving %s" % (args.port, servers[0].dir), flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
