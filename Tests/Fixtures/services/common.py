"""What the tests' HTTP services share: JSON answers, no request log, and serving on a free port of 127.0.0.1
that is printed first (the test reads it to know where to call)."""
import http.server
import sys
import json


class JSONHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler):
    """Serves on a free port of 127.0.0.1, printing it first; with --tls CERT KEY among the arguments, over TLS."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if "--tls" in sys.argv:
        import ssl
        at = sys.argv.index("--tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[at + 1], sys.argv[at + 2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()
