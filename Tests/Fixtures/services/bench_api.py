"""The HTTP extraction benchmark's API: N rows of 5 columns (id, customer, country, amount, created_at) served in
pages of S by GET /page?page=P ({"data": {"items": [...]}, "meta": {"total": N}}), every page rendered before the
port is printed, so the server costs as little as a server can while it is measured.
    bench_api.py N S"""
import sys

from common import JSONHandler, serve
import json

rows, size = int(sys.argv[1]), int(sys.argv[2])
countries = ["CZ", "DE", "GB", "US", "FR"]
pages = []
for start in range(0, rows, size):
    items = [{"id": n, "customer": f"customer-{n * 7919 % 100000}", "country": countries[n % 5], "amount": f"{n % 10000}.{n % 100:02d}",
              "created_at": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"} for n in range(start + 1, min(rows, start + size) + 1)]
    pages.append(json.dumps({"data": {"items": items}, "meta": {"total": rows}}, separators=(",", ":")).encode())
empty = json.dumps({"data": {"items": []}, "meta": {"total": rows}}).encode()


class Handler(JSONHandler):
    def do_GET(self):
        page = 1
        if "page=" in self.path:
            page = int(self.path.split("page=")[1].split("&")[0])
        body = pages[page - 1] if 1 <= page <= len(pages) else empty
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


serve(Handler)
