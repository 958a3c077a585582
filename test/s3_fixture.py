#!/usr/bin/env python3
"""An S3-compatible object store for pg_elt's tests, on 127.0.0.1, that
checks every request's AWS Signature V4 with botocore (Debian's
python3-botocore) as S3 would, and answers with S3's error documents.

    python3 test/s3_fixture.py --port 18768 --dir test/data/s3

Buckets are the directories of --dir, objects the files under them
(path-style addressing: /bucket/key).  Implemented: GET and HEAD of an
object (Range, ETag, Last-Modified), ListObjectsV2 (prefix, max-keys,
continuation-token, start-after), PUT of an object, and multipart uploads
(create, upload part, complete: every part but the last at least 5 MiB,
as S3 requires; abort).  GET /_uploads says how many uploads are open.  Keys: AKIDTEST with secret
"test-secret" (any region but the bucket's, us-east-1, is refused as AWS
refuses it), AKIDTOKEN with "token-secret" and a session token that must
be "good-token" ("expired" is reported expired).  Buckets named public-*
are readable without a signature.  A request dated more than 15 minutes
from the server's clock is refused (RequestTimeTooSkewed); the clock of
buckets named skewed-* is an hour fast.  A GET of a key under flaky/
without a Range header is cut after half its bytes; one under slow/ is
sent after a second.  Buckets named norange-* ignore Range (and say
nothing of it).  GET /_requests?key=K
counts the requests whose path contained K.
"""
import argparse
import datetime
import email.utils
import hashlib
import os
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEYS = {"AKIDTEST": ("test-secret", None), "AKIDTOKEN": ("token-secret", "good-token")}
REGION = "us-east-1"
NS = "http://s3.amazonaws.com/doc/2006-03-01/"

requests_seen = []
uploads = {}                    # upload id -> (bucket dir, key, {part number: bytes})
lock = threading.Lock()
MIN_PART = 5 * 1024 * 1024


class S3Error(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_signature(method, raw_path, headers, skew_s=0):
    """Raises S3Error unless the request is signed as S3 would require."""
    auth = headers.get("Authorization")
    if auth is None:
        return None
    try:
        algo, rest = auth.split(" ", 1)
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        akid, date, region, service, _ = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        given = parts["Signature"]
    except (ValueError, KeyError):
        raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
    if algo != "AWS4-HMAC-SHA256":
        raise S3Error(400, "InvalidArgument", "Unsupported Authorization Type")
    if akid not in KEYS:
        raise S3Error(403, "InvalidAccessKeyId",
                      "The AWS Access Key Id you provided does not exist in our records.")
    if region != REGION:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the region '%s' is wrong; expecting '%s'"
                      % (region, REGION))
    if "x-amz-content-sha256" not in [h.lower() for h in signed]:
        raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=skew_s)
    if abs((now - when).total_seconds()) > 900:
        raise S3Error(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.")
    secret, token = KEYS[akid]
    if token is not None:
        sent = headers.get("x-amz-security-token")
        if sent == "expired":
            raise S3Error(400, "ExpiredToken", "The provided token has expired.")
        if sent != token:
            raise S3Error(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    host = headers.get("Host")
    req = AWSRequest(method=method, url="http://%s%s" % (host, raw_path),
                     headers={h: headers.get(h, "") for h in signed})
    req.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(akid, secret, token), service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if expected != given:
        raise S3Error(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided. "
                      "Check your key and signing method.")
    return akid


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_xml(self, status, body, head_only=False):
        data = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def send_error_doc(self, err, resource, head_only=False):
        self.send_xml(err.status, "<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource>"
                      "<RequestId>fixture</RequestId></Error>"
                      % (err.code, escape(err.message), escape(resource)), head_only)

    def do_HEAD(self):
        self.handle_request(head_only=True)

    def do_GET(self):
        self.handle_request(head_only=False)

    def do_PUT(self):
        self.handle_request(head_only=False)

    def do_POST(self):
        self.handle_request(head_only=False)

    def do_DELETE(self):
        self.handle_request(head_only=False)

    def handle_request(self, head_only):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/_uploads":
            with lock:
                data = ("%d\n" % len(uploads)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if url.path == "/_requests":
            k = query.get("key", [""])[0]
            with lock:
                n = sum(1 for p in requests_seen if k in p)
            body = ("%d\n" % n).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with lock:
            requests_seen.append(urllib.parse.unquote(self.path))
        path = urllib.parse.unquote(url.path)
        bucket, _, key = path.lstrip("/").partition("/")
        try:
            akid = check_signature(self.command, self.path, self.headers,
                                   3600 if bucket.startswith("skewed-") else 0)
            bucket_dir = os.path.join(self.server.root, bucket)
            if not bucket or not os.path.isdir(bucket_dir):
                raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
            if akid is None and not bucket.startswith("public-"):
                raise S3Error(403, "AccessDenied", "Access Denied")
            if self.command in ("PUT", "POST", "DELETE"):
                self.write_object(bucket_dir, key, query, body)
            elif key == "":
                if query.get("list-type") != ["2"]:
                    raise S3Error(400, "InvalidArgument", "only ListObjectsV2 is implemented")
                self.list_objects(bucket, bucket_dir, query, head_only)
            else:
                self.get_object(bucket_dir, key, head_only, ranges=not bucket.startswith("norange-"))
        except S3Error as err:
            self.send_error_doc(err, path, head_only)

    def list_objects(self, bucket, bucket_dir, query, head_only):
        prefix = query.get("prefix", [""])[0]
        max_keys = min(int(query.get("max-keys", ["1000"])[0]), 1000)
        after = query.get("continuation-token", query.get("start-after", [""]))[0]
        keys = []
        for dirpath, _, files in os.walk(bucket_dir):
            for f in files:
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, bucket_dir).replace(os.sep, "/")
                if key.startswith(prefix) and key > after:
                    keys.append((key, full))
        keys.sort()
        page, more = keys[:max_keys], len(keys) > max_keys
        items = []
        for key, full in page:
            st = os.stat(full)
            items.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
                         "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>"
                         % (escape(key), datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
                            .strftime("%Y-%m-%dT%H:%M:%S.000Z"), etag_of(full), st.st_size))
        body = ('<ListBucketResult xmlns="%s"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>'
                "<MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>%s%s</ListBucketResult>"
                % (NS, escape(bucket), escape(prefix), len(page), max_keys, "true" if more else "false",
                   "<NextContinuationToken>%s</NextContinuationToken>" % escape(page[-1][0]) if more else "",
                   "".join(items)))
        self.send_xml(200, body, head_only)

    def write_object(self, bucket_dir, key, query, body):
        if not key:
            raise S3Error(400, "InvalidRequest", "a key is needed")
        if self.command == "POST" and "uploads" in query:
            upload_id = "up-" + hashlib.md5(os.urandom(16)).hexdigest()
            with lock:
                uploads[upload_id] = (bucket_dir, key, {})
            self.send_xml(200, "<InitiateMultipartUploadResult xmlns=\"%s\"><Key>%s</Key>"
                          "<UploadId>%s</UploadId></InitiateMultipartUploadResult>" % (NS, escape(key), upload_id))
            return
        upload_id = query.get("uploadId", [None])[0]
        if upload_id is not None and upload_id not in uploads:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
        if self.command == "PUT" and upload_id:
            with lock:
                uploads[upload_id][2][int(query["partNumber"][0])] = body
            self.send_response(200)
            self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.command == "POST" and upload_id:
            text = body.decode()
            numbers = [int(n) for n in re.findall(r"<PartNumber>(\d+)</PartNumber>", text)]
            with lock:
                _, _, parts = uploads[upload_id]
                if not numbers or any(n not in parts for n in numbers):
                    raise S3Error(400, "InvalidPart", "One or more of the specified parts could not be found.")
                if any(len(parts[n]) < MIN_PART for n in numbers[:-1]):
                    raise S3Error(400, "EntityTooSmall",
                                  "Your proposed upload is smaller than the minimum allowed size")
                data = b"".join(parts[n] for n in numbers)
                del uploads[upload_id]
            self.store(bucket_dir, key, data)
            self.send_xml(200, "<CompleteMultipartUploadResult xmlns=\"%s\"><Key>%s</Key>"
                          "</CompleteMultipartUploadResult>" % (NS, escape(key)))
            return
        if self.command == "DELETE" and upload_id:
            with lock:
                del uploads[upload_id]
            self.send_response(204)
            self.end_headers()
            return
        if self.command == "PUT":
            self.store(bucket_dir, key, body)
            self.send_response(200)
            self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        raise S3Error(400, "InvalidRequest", "not implemented here")

    def store(self, bucket_dir, key, data):
        full = os.path.join(bucket_dir, *key.split("/"))
        if ".." in key.split("/"):
            raise S3Error(400, "InvalidRequest", "no .. in keys here")
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    def get_object(self, bucket_dir, key, head_only, ranges=True):
        full = os.path.join(bucket_dir, *key.split("/"))
        if ".." in key.split("/") or not os.path.isfile(full):
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
        with open(full, "rb") as f:
            data = f.read()
        etag = '"%s"' % etag_of(full)
        start, status = 0, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if ranges and rng and rng.startswith("bytes=") and (if_range is None or if_range == etag):
            start = int(rng[6:].split("-")[0])
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(os.stat(full).st_mtime, usegmt=True))
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if head_only:
            return
        if key.startswith("slow/"):
            time.sleep(1.0)
        if key.startswith("flaky/") and status == 200:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])


def etag_of(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=18768)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.root = args.dir
    server.serve_forever()


if __name__ == "__main__":
    main()
