#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The demo's front service (Python): /checkout calls cart (Node.js) then orders (Ruby).

Plain standard library and no tracing code: flowscope links the hops from the outside.
Each request runs on its own thread (ThreadingHTTPServer) and makes its downstream calls
on that thread, over a new connection each.
"""
import http.client
import http.server
import json
import sys
import urllib.parse

CART = ("10.77.0.12", 8001)
ORDERS = ("10.77.0.13", 8002)


def call(addr, path):
    conn = http.client.HTTPConnection(*addr, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path != "/checkout":
            return self.reply(404, {"error": "no such path"})
        user = q.get("user", ["0"])[0]
        try:
            cs, cart = call(CART, f"/cart?user={user}")
            os_, orders = call(ORDERS, f"/orders?user={user}")
        except OSError as e:
            return self.reply(502, {"error": str(e)})
        if cs != 200 or os_ != 200:
            return self.reply(502, {"error": f"cart {cs}, orders {os_}"})
        self.reply(200, {"cart": json.loads(cart), "orders": json.loads(orders)})

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    Server((host, port), Front).serve_forever()
