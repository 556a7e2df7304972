"""A paginated JSON API for the HTTP extraction tests: a real HTTP server on 127.0.0.1, on a free port it prints
first. 25 items, {"id": N, "name": "item N", "amount": "N.50", "tags": [...], "note": null}, served by each kind of
pagination, with faults:

  GET /page?page=P&per_page=S       {"data": {"items": [...]}, "meta": {"total": 25}}      pages from 1
  GET /offset?offset=O&limit=L      {"items": [...]}                                       an empty page at the end
  GET /cursor?cursor=C              {"items": [...], "next": C2 or null}                   5 a page
  GET /cursor-header                the same, the cursor in the X-Cursor header
  POST /search                      the same, the cursor in a JSON body {"cursor": C, "filter": "all"} (filter required)
  GET /broken                       always 500
  GET /malformed                    200 with a body that stops being JSON at byte 32 (a missing comma)
  GET /guarded                      3 items, for basic auth demo:pw or ?api_key=k3y, with X-Tenant: acme and ?region=eu
  GET /next?at=N                    {"items": [...], "links": {"next": "/next?at=M"}}      no next at the end
  GET /link?at=N                    [...] with a Link: <...>; rel="next" header
  GET /loop?cursor=C                always the same page and the same next cursor (a pagination loop)
  GET /flaky?page=P                 as /page, but its first request answers 429 with Retry-After: 1
  GET /flaky-date, /flaky-reset     the same, first a 503 with Retry-After as an HTTP date 2 s away, or a 429 with
                                    X-RateLimit-Reset (epoch seconds) 2 s away
  POST /oauth/token                 OAuth2 client credentials (client_id demo, client_secret s3cret): a new
                                    {"access_token": "tok-N", "expires_in": 600} each time; 401 invalid_client else.
                                    The refresh-token grant (client_id demo): refresh_token rt-0 first, each one
                                    usable once — the answer rotates it ({"refresh_token": "rt-N+1"}); a used or
                                    unknown one is 400 invalid_grant
  GET /private?page=P               as /page, for "Authorization: Bearer tok-N" only (401 otherwise)
  POST /exports                     starts an asynchronous export: {"export": {"id": "eN"}}
  GET /exports/eN                   {"state": "running"} for its first 2 checks, then
                                    {"state": "done", "download": "/exports/eN/data"}; /exports/bad fails
  GET /exports/eN/data?page=P       the export's records, as /page
  POST /ingest                      takes a payload: {"ok": true, "bytes": N}
  GET /customers                    {"items": [{"id": "c1"}, {"id": "c2"}, {"id": "c 3"}]}
  GET /customers/ID/orders?page=P   that customer's orders (3, 0 and 12), 5 a page: {"data": {"items": [...]}, "meta": {"total": N}}
  POST /grow                        adds 5 items (ids 26-30, then 31-35, ...)
  GET /stall?page=P&per_page=S      as /page, but the first request of page 3 hangs (150 s at most: the test kills
                                    whoever asked); GET /stall-status?wait=1 answers once it has, with the number
                                    of requests of each page: {"stalled": true, "requests": {"1": 1, ...}}
  /page, /cursor and an export's data take since=N: only items with an id above N
"""
import email.utils
import json
import threading
import time
import urllib.parse

from common import JSONHandler, serve

ITEMS = [{"id": n, "name": f"item {n}", "amount": f"{n}.50", "tags": ["t"] * (n % 3), "note": None} for n in range(1, 26)]
lock = threading.Lock()
flaky_seen = [0]
issued = [0]
refresh = ["rt-0"]  # the one refresh token that works now
CUSTOMERS = {"c1": 3, "c2": 0, "c 3": 12}  # parent → child: each customer's number of orders
exports = {}
stalled = threading.Event()
stall_requests = {}


class Handler(JSONHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        if self.path == "/search":  # a cursor in a JSON body, beside a filter the body must keep
            asked = json.loads(raw or "{}")
            if asked.get("filter") != "all":
                return self.answer(400, {"error": "the body needs filter: all", "got": asked})
            at = int(asked.get("cursor") or 0)
            return self.answer(200, {"items": ITEMS[at:at + 5], "next": str(at + 5) if at + 5 < len(ITEMS) else None})
        if self.path == "/grow":
            with lock:
                start = len(ITEMS) + 1
                ITEMS.extend({"id": n, "name": f"item {n}", "amount": f"{n}.50", "tags": [], "note": None} for n in range(start, start + 5))
            return self.answer(200, {"items": len(ITEMS)})
        if self.path == "/ingest":
            return self.answer(200, {"ok": True, "bytes": length})
        if self.path == "/exports":
            with lock:
                name = f"e{len(exports) + 1}"
                exports[name] = 0
            return self.answer(202, {"export": {"id": name}})
        if self.path != "/oauth/token":
            return self.answer(404, {"error": "no such endpoint"})
        if form.get("grant_type") == "refresh_token" and form.get("client_id") == "demo":
            with lock:
                if form.get("refresh_token") != refresh[0]:
                    return self.answer(400, {"error": "invalid_grant", "error_description": "the refresh token was used already or is unknown"})
                issued[0] += 1
                refresh[0] = f"rt-{issued[0]}"
                return self.answer(200, {"access_token": f"tok-{issued[0]}", "token_type": "Bearer", "expires_in": 600, "refresh_token": refresh[0]})
        if form.get("grant_type") != "client_credentials":
            return self.answer(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != "demo" or form.get("client_secret") != "s3cret":
            return self.answer(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
        with lock:
            issued[0] += 1
            token = f"tok-{issued[0]}"
        return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        number = lambda name, default: int(query.get(name, default))
        if url.path == "/private" and not self.headers.get("Authorization", "").startswith("Bearer tok-"):
            return self.answer(401, {"error": "a bearer token is required"})
        if url.path == "/exports/bad":
            return self.answer(200, {"state": "failed", "reason": "the export broke"})
        if url.path.startswith("/exports/") and url.path.count("/") == 2:
            name = url.path.split("/")[2]
            with lock:
                if name not in exports:
                    return self.answer(404, {"error": "no such export"})
                exports[name] += 1
                checks = exports[name]
            if checks <= 2:
                return self.answer(200, {"state": "running"})
            return self.answer(200, {"state": "done", "download": f"/exports/{name}/data"})
        if url.path.startswith("/exports/") and url.path.endswith("/data"):
            url = url._replace(path="/page")
        if url.path == "/customers":
            return self.answer(200, {"items": [{"id": name} for name in CUSTOMERS]})
        if url.path.startswith("/customers/") and url.path.endswith("/orders"):
            name = urllib.parse.unquote(url.path.split("/")[2])
            if name not in CUSTOMERS:
                return self.answer(404, {"error": "no such customer"})
            orders = [{"order": f"{name}-{n}", "customer": name} for n in range(1, CUSTOMERS[name] + 1)]
            page, size = number("page", 1), number("per_page", 5)
            return self.answer(200, {"data": {"items": orders[(page - 1) * size:page * size]}, "meta": {"total": len(orders)}})
        if url.path == "/stall-status":
            if "wait" in query:
                stalled.wait(120)
            with lock:
                counts = {str(k): v for k, v in sorted(stall_requests.items())}
            return self.answer(200, {"stalled": stalled.is_set(), "requests": counts})
        if url.path == "/stall":
            with lock:
                stall_requests[number("page", 1)] = stall_requests.get(number("page", 1), 0) + 1
                first = stall_requests[number("page", 1)] == 1
            if number("page", 1) == 3 and first:
                stalled.set()
                time.sleep(150)
                return
            url = url._replace(path="/page")
        if url.path in ("/page", "/flaky", "/flaky-date", "/flaky-reset", "/private"):
            if url.path.startswith("/flaky"):
                with lock:
                    flaky_seen[0] += 1
                    first = flaky_seen[0] == 1
                if first and url.path == "/flaky":
                    return self.answer(429, {"error": "slow down"}, [("Retry-After", "1")])
                if first and url.path == "/flaky-date":  # an HTTP date 2 s from now (whole seconds: 1-2 s away)
                    when = email.utils.formatdate(time.time() + 2, usegmt=True)
                    return self.answer(503, {"error": "down for a moment"}, [("Retry-After", when)])
                if first and url.path == "/flaky-reset":  # a reset time, as epoch seconds, 2 s from now
                    return self.answer(429, {"error": "rate limited"}, [("X-RateLimit-Reset", str(int(time.time()) + 2)), ("X-RateLimit-Remaining", "0")])
            page, size = number("page", 1), number("per_page", 10)
            items = [item for item in ITEMS if item["id"] > number("since", 0)]
            return self.answer(200, {"data": {"items": items[(page - 1) * size:page * size]}, "meta": {"total": len(items)}})
        if url.path == "/offset":
            offset, limit = number("offset", 0), number("limit", 10)
            return self.answer(200, {"items": ITEMS[offset:offset + limit]})
        if url.path == "/broken":  # always a server error
            return self.answer(500, {"error": "boom"})
        if url.path == "/malformed":  # valid JSON until its second record
            raw = b'{"items": [{"id": 1}, {"id": 2} {"id": 3}]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return None
        if url.path == "/guarded":  # basic auth (demo:pw) or an API key in the query, a tenant header and a region query
            basic = self.headers.get("Authorization", "") == "Basic ZGVtbzpwdw=="
            if not basic and query.get("api_key") != "k3y":
                return self.answer(401, {"error": "basic auth or api_key required"})
            if self.headers.get("X-Tenant") != "acme" or query.get("region") != "eu":
                return self.answer(400, {"error": "X-Tenant: acme and region=eu required"})
            return self.answer(200, {"items": ITEMS[:3]})
        if url.path in ("/cursor", "/cursor-header"):
            if url.path == "/cursor-header":
                query = {"cursor": self.headers["X-Cursor"]} if self.headers.get("X-Cursor") else {}
            at = int(query["cursor"]) if "cursor" in query else 0
            nxt = at + 5
            return self.answer(200, {"items": ITEMS[at:nxt], "next": str(nxt) if nxt < len(ITEMS) else None})
        if url.path == "/next":
            at = number("at", 0)
            body = {"items": ITEMS[at:at + 7], "links": {}}
            if at + 7 < len(ITEMS):
                body["links"]["next"] = f"/next?at={at + 7}"
            return self.answer(200, body)
        if url.path == "/link":
            at = number("at", 0)
            headers = [("Link", f'<http://{self.headers["Host"]}/link?at={at + 10}>; rel="next"')] if at + 10 < len(ITEMS) else []
            return self.answer(200, ITEMS[at:at + 10], headers)
        if url.path == "/loop":
            return self.answer(200, {"items": ITEMS[:5], "next": "same"})
        return self.answer(404, {"error": "no such endpoint"})


serve(Handler)
