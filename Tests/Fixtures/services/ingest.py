"""A small ingestion service for the egression tests: a real HTTP server on 127.0.0.1, on a free port it prints
first. Every POST body is appended (one JSON line: path, authorization, body, and the X-Patchbay-* webhook
headers) to the file given with --log.

  POST /ingest   200 {"ok": true} (any query too: /ingest?to=alice)
  POST /flaky    the first request 503 with Retry-After: 1, then 200
  POST /secure   200 when "Authorization: Bearer T" has T ending in --accept-suffix, else 401
"""
import argparse
import json
import threading

from common import JSONHandler, serve

parser = argparse.ArgumentParser()
parser.add_argument("--log", required=True)
parser.add_argument("--accept-suffix", default="-2")
options = parser.parse_args()
lock = threading.Lock()
flaky_seen = [0]


class Handler(JSONHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        authorization = self.headers.get("Authorization", "")
        with lock:
            with open(options.log, "a") as log:
                log.write(json.dumps({"path": self.path, "authorization": authorization, "body": body,
                                      "event": self.headers.get("X-Patchbay-Event"), "timestamp": self.headers.get("X-Patchbay-Timestamp"),
                                      "signature": self.headers.get("X-Patchbay-Signature")}) + "\n")
        if self.path == "/flaky":
            with lock:
                flaky_seen[0] += 1
                first = flaky_seen[0] == 1
            if first:
                return self.answer(503, {"error": "busy"}, [("Retry-After", "1")])
            return self.answer(200, {"ok": True})
        if self.path == "/secure":
            if authorization.startswith("Bearer ") and authorization.endswith(options.accept_suffix):
                return self.answer(200, {"ok": True})
            return self.answer(401, {"error": "token revoked"})
        if self.path == "/ingest" or self.path.startswith("/ingest?"):
            return self.answer(200, {"ok": True})
        return self.answer(404, {"error": "no such endpoint"})


serve(Handler)
