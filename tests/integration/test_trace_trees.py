# SPDX-License-Identifier: Apache-2.0
"""Trace shapes beyond a plain chain, end to end: real services on loopback, the eBPF
agent sending to a flowscope-server, and GET /v1/trace asked from every span of every
request. Each test works out the exact tree it expects without the assembler, from what
the services give away on their own: the request number in every URL (each service puts
it in the URLs it calls), and the TCP sequence pairing of a c-p with its s-p. No request
carries an X-Request-ID or a traceparent: inside a service only syscall_trace_id links a
call to its request (docs/tracing.md), and that is what these shapes exercise.

- keep-alive: a client sends many requests on each of a few kept-alive connections to a
  Python service that calls its backend over one kept-alive connection per thread;
- pipelining: a client writes all its HTTP/1.1 requests in one write on a raw socket;
- parallel: a Node.js service calls two backends at once for each request;
- retry: a Python service's first call fails with a 503, the second succeeds.
"""
import collections
import concurrent.futures
import http.client
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import Agent, Server, free_port, wait_port

NODE = shutil.which("node") or "/usr/bin/node"

# The leaf of every test: answers each GET with its path; 503 for a path ending in
# "/try1" (the first attempt of a retry). HTTP/1.1, keep-alive, a thread per connection.
BACKEND_PY = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # header and body in one write
    def do_GET(self):
        code = 503 if self.path.endswith("/try1") else 200
        body = (self.path + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
# socketserver's default backlog of 5 drops SYNs of a burst: a 1 s retransmit.
http.server.ThreadingHTTPServer.request_queue_size = 128
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''

# A Python service (a thread per inbound connection; every call on the handler's thread).
# GET /m/<n> calls the backend's /b/<n>:
#   "keepalive": over one kept-alive connection per handler thread, reused by every
#                request of that inbound connection;
#   "close":     over a new connection per call;
#   "retry":     /b/<n>/try1 (answered 503), then /b/<n>/try2 on a new connection.
MIDDLE_PY = r'''
import http.client, http.server, sys, threading
port, down, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
local = threading.local()
def call(path, keep):
    c = getattr(local, "conn", None) if keep else None
    if c is None:
        c = http.client.HTTPConnection("127.0.0.1", down, timeout=10)
        if keep:
            local.conn = c
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    if not keep:
        c.close()
    return r.status, data
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1
    def do_GET(self):
        n = self.path.rsplit("/", 1)[1]
        if mode == "retry":
            status, body = call(f"/b/{n}/try1", False)
            if status == 503:
                status, body = call(f"/b/{n}/try2", False)
        else:
            status, body = call(f"/b/{n}", mode == "keepalive")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
# socketserver's default backlog of 5 drops SYNs of a burst: a 1 s retransmit.
http.server.ThreadingHTTPServer.request_queue_size = 128
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''

# A Node.js service (one event-loop thread): GET /p/<n> calls /l/<n> on one backend and
# /r/<n> on another at the same time, each on a new connection, and answers when both
# have answered.
PARALLEL_JS = r'''
const http = require("http");
const [port, left, right] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: false });
function call(p, path) {
  return new Promise((ok, fail) => {
    http.get({ host: "127.0.0.1", port: p, path, agent }, (r) => {
      const chunks = [];
      r.on("data", (d) => chunks.push(d));
      r.on("end", () => ok(Buffer.concat(chunks)));
    }).on("error", fail);
  });
}
http.createServer((req, res) => {
  const n = req.url.split("/").pop();
  Promise.all([call(left, "/l/" + n), call(right, "/r/" + n)]).then((bodies) => {
    const b = Buffer.concat(bodies);
    res.writeHead(200, { "Content-Length": b.length });
    res.end(b);
  }, () => { res.writeHead(502); res.end(); });
}).listen(Number(port), "127.0.0.1");
'''

# The columns the expected trees are worked out from.
COLS = ("_id", "observation_point", "ip4_0", "client_port", "server_port", "req_tcp_seq",
        "resp_tcp_seq", "start_time", "end_time", "request_resource", "response_code", "type",
        "x_request_id_0", "trace_id", "span_id", "syscall_trace_id_request",
        "syscall_trace_id_response")


class Proc:
    """A service started by a test, stopped at the end."""

    def __init__(self, argv, port):
        self.port = port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start: {self.proc.stderr.read()!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="flowscope-trees-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server(workdir):
    """One flowscope-server for the module; each test's rows are told apart by the ports
    of the services it starts."""
    s = Server(workdir)
    yield s
    s.kill()


@pytest.fixture
def services(workdir):
    started = []

    def start(kind, *args):
        port = free_port()
        if kind in ("backend", "middle"):
            script = f"{workdir}/{kind}.py"
            with open(script, "w") as f:
                f.write(BACKEND_PY if kind == "backend" else MIDDLE_PY)
            argv = [sys.executable, script, str(port), *map(str, args)]
        elif kind == "parallel":
            if not shutil.which(NODE):
                pytest.fail("node is missing (apt-get install nodejs; scripts/install-deps.sh)")
            script = f"{workdir}/parallel.js"
            with open(script, "w") as f:
                f.write(PARALLEL_JS)
            argv = [NODE, script, str(port), *map(str, args)]
        else:
            raise ValueError(kind)
        p = Proc(argv, port)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def traced(server, workdir):
    """Run traffic under an agent that sends to the module's server; returns the rows the
    server stored for the given ports once the agent has exited (it sends everything it
    holds before it exits)."""
    agents = []

    def run(traffic, ports):
        agent = Agent(workdir, "--server", server.url, "--batch-interval", "200ms")
        agents.append(agent)
        traffic()
        agent.stop(settle=1.0)
        for k in ("drop_spool_full", "drop_rejected", "drop_exit_unsent", "drop_encode"):
            assert agent.stats[k] == 0, (k, agent.stats)
        sql = (f"SELECT {', '.join(COLS)} FROM l7_flow_log WHERE ip4_1 = '127.0.0.1' AND "
               f"server_port IN ({', '.join(map(str, ports))}) ORDER BY start_time")
        return [dict(zip(COLS, v)) for v in server.query(sql)]

    yield run
    for a in agents:
        a.kill()


class Rows:
    """The rows of one test, looked up the way the expected trees are derived."""

    def __init__(self, rows):
        self.rows = rows
        self.server_of = {}
        for r in rows:
            assert r["type"] == 2, r  # request and response both seen
            if r["observation_point"] == "s-p":
                key = (r["ip4_0"], r["client_port"], r["req_tcp_seq"])
                assert key not in self.server_of, key
                self.server_of[key] = r

    def one(self, obs, port, resource):
        got = [r for r in self.rows if (r["observation_point"], r["server_port"],
                                        r["request_resource"]) == (obs, port, resource)]
        assert len(got) == 1, (obs, port, resource, got)
        return got[0]

    def pair(self, c):
        """The s-p of the exchange whose c-p is c: the same client address, port and first
        request byte's TCP sequence (the wire decides, not the assembler)."""
        return self.server_of[(c["ip4_0"], c["client_port"], c["req_tcp_seq"])]


def check_trees(server, rows, trees):
    """trees: one list per request of (row, parent row or None, link). GET /v1/trace from
    every span of a tree must give exactly that tree: its spans, each one's parent and the
    link that gave it. Returns the number of traces asked."""
    owners = collections.Counter(r["_id"] for t in trees for r, _, _ in t)
    assert set(owners.values()) == {1}, "a row in two expected trees: the derivation is wrong"
    assert sum(owners.values()) == len(rows), "rows of no expected tree"
    asked, wrong = 0, []
    for t in trees:
        want = {r["_id"]: (p["_id"] if p else None, link) for r, p, link in t}
        for r, _, _ in t:
            status, body = server.json("GET", f"/v1/trace?id={r['_id']}")
            assert status == 200, body
            assert body["truncated"] is False
            got = {sp["_id"]: (sp["parent_id"], sp["link"]) for sp in body["spans"]}
            asked += 1
            if got != want:
                by_id = {x["_id"]: x for x in rows}
                diff = {(by_id[k]["observation_point"], by_id[k]["server_port"],
                         by_id[k]["request_resource"]) if k in by_id else k:
                        (want.get(k, "-"), got.get(k, "-"))
                        for k in set(got) | set(want) if got.get(k) != want.get(k)}
                wrong.append((r["request_resource"], r["observation_point"], diff))
    assert not wrong, f"{len(wrong)} of {asked} traces differ; first: {wrong[:3]}"
    return asked


# ---- keep-alive ----

CONNS, PER_CONN = 4, 10


def test_keepalive_connections(server, services, traced):
    """4 client connections, 10 requests each, all four at once: every request reuses its
    client connection and its handler thread's one connection to the backend. Each trace
    is the request's own 4 spans: client c-p → middle s-p → middle c-p → backend s-p."""
    backend = services("backend")
    mid = services("middle", backend.port, "keepalive")

    def one_conn(c):
        conn = http.client.HTTPConnection("127.0.0.1", mid.port, timeout=10)
        for k in range(PER_CONN):
            conn.request("GET", f"/m/{c * PER_CONN + k}")
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, f"/b/{c * PER_CONN + k}\n".encode())
        conn.close()

    def traffic():
        with concurrent.futures.ThreadPoolExecutor(CONNS) as ex:
            list(ex.map(one_conn, range(CONNS)))

    rows = Rows(traced(traffic, [mid.port, backend.port]))
    # The reuse is real: one client port per connection, one backend connection each.
    assert len({r["client_port"] for r in rows.rows
                if r["server_port"] == mid.port}) == CONNS
    assert len({r["client_port"] for r in rows.rows
                if r["server_port"] == backend.port}) == CONNS
    trees = []
    for n in range(CONNS * PER_CONN):
        client = rows.one("c-p", mid.port, f"/m/{n}")
        call = rows.one("c-p", backend.port, f"/b/{n}")
        trees.append([(client, None, ""), (rows.pair(client), client, "tcp_seq"),
                      (call, rows.pair(client), "syscall"), (rows.pair(call), call, "tcp_seq")])
    assert check_trees(server, rows.rows, trees) == 4 * CONNS * PER_CONN


# ---- pipelining ----

PIPELINED = 10


def read_responses(sock, n):
    """n HTTP/1.1 responses with Content-Length from a raw socket: [(status, body)]."""
    buf, out = b"", []
    deadline = time.monotonic() + 10
    while len(out) < n:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            lines = head.split(b"\r\n")
            length = next(int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:])
                          if k.strip().lower() == b"content-length")
            if len(rest) >= length:
                out.append((int(lines[0].split()[1]), rest[:length]))
                buf = rest[length:]
                continue
        assert time.monotonic() < deadline, f"{len(out)} of {n} responses"
        data = sock.recv(65536)
        assert data, f"connection closed after {len(out)} of {n} responses"
        buf += data
    return out


def test_pipelined_requests(server, services, traced):
    """A client writes 10 HTTP/1.1 requests in one write on one connection; the Python
    service reads them in one read and answers them in order, calling its backend for
    each on a new connection (same thread).

    What the kernel gives today (docs/tracing.md "What is not covered", pipelining): the
    ten requests read in one read share one syscall trace id, and the call made for the
    first consumes it; the calls for the nine others carry no request id, so nothing
    links them to their request. The first request's trace is its whole 4-span tree;
    each other request's trace is its client c-p and its s-p, and its call with the
    backend's s-p is a 2-span trace of its own. No trace takes another request's spans
    (before trace assembly's ties_trees, every request's trace held all ten)."""
    backend = services("backend")
    mid = services("middle", backend.port, "close")

    def traffic():
        with socket.create_connection(("127.0.0.1", mid.port), timeout=10) as s:
            s.sendall(b"".join(f"GET /m/{n} HTTP/1.1\r\nHost: m\r\n\r\n".encode()
                               for n in range(PIPELINED)))
            got = read_responses(s, PIPELINED)
        assert got == [(200, f"/b/{n}\n".encode()) for n in range(PIPELINED)]

    rows = Rows(traced(traffic, [mid.port, backend.port]))
    # One connection: the client's requests are one message stream, each request with the
    # TCP sequence of its own first byte.
    clients = sorted((r for r in rows.rows if r["observation_point"] == "c-p"
                      and r["server_port"] == mid.port), key=lambda r: r["req_tcp_seq"])
    assert len({r["client_port"] for r in clients}) == 1
    assert [r["request_resource"] for r in clients] == [f"/m/{n}" for n in range(PIPELINED)]
    inbound = [rows.pair(c) for c in clients]
    calls = [rows.one("c-p", backend.port, f"/b/{n}") for n in range(PIPELINED)]
    # The kernel's ids, as described above.
    assert len({r["syscall_trace_id_request"] for r in inbound}) == 1
    assert inbound[0]["syscall_trace_id_request"] != 0
    assert calls[0]["syscall_trace_id_request"] == inbound[0]["syscall_trace_id_request"]
    assert [c["syscall_trace_id_request"] for c in calls[1:]] == [0] * (PIPELINED - 1)
    trees = []
    for n in range(PIPELINED):
        client, sp, call = clients[n], inbound[n], calls[n]
        if n == 0:
            trees.append([(client, None, ""), (sp, client, "tcp_seq"),
                          (call, sp, "syscall"), (rows.pair(call), call, "tcp_seq")])
        else:
            trees.append([(client, None, ""), (sp, client, "tcp_seq")])
            trees.append([(call, None, ""), (rows.pair(call), call, "tcp_seq")])
    assert check_trees(server, rows.rows, trees) == 4 * PIPELINED


# ---- two downstreams in parallel ----

PARALLEL = 20


def test_parallel_downstreams(server, services, traced):
    """A Node.js service calls two backends at once for each of 20 requests (sent 10 at
    a time): both calls, with their backends' spans, sit under the request's one s-p."""
    left, right = services("backend"), services("backend")
    par = services("parallel", left.port, right.port)

    def one(n):
        conn = http.client.HTTPConnection("127.0.0.1", par.port, timeout=10)
        conn.request("GET", f"/p/{n}")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, f"/l/{n}\n/r/{n}\n".encode())
        conn.close()

    def traffic():
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            list(ex.map(one, range(PARALLEL)))

    rows = Rows(traced(traffic, [par.port, left.port, right.port]))
    trees = []
    for n in range(PARALLEL):
        client = rows.one("c-p", par.port, f"/p/{n}")
        sp = rows.pair(client)
        lc, rc = rows.one("c-p", left.port, f"/l/{n}"), rows.one("c-p", right.port, f"/r/{n}")
        # In parallel indeed: both requests written before either response was read.
        assert lc["start_time"] < rc["end_time"] and rc["start_time"] < lc["end_time"]
        trees.append([(client, None, ""), (sp, client, "tcp_seq"), (lc, sp, "syscall"),
                      (rows.pair(lc), lc, "tcp_seq"), (rc, sp, "syscall"),
                      (rows.pair(rc), rc, "tcp_seq")])
    assert check_trees(server, rows.rows, trees) == 6 * PARALLEL


# ---- a retry after a failed call ----

RETRIES = 10


def test_retry_after_503(server, services, traced):
    """A Python service's first call for each request is answered 503, its second (a new
    connection) 200: both calls sit under the request's s-p with their own codes, and the
    backend's two s-p under them."""
    backend = services("backend")
    mid = services("middle", backend.port, "retry")

    def one(n):
        conn = http.client.HTTPConnection("127.0.0.1", mid.port, timeout=10)
        conn.request("GET", f"/m/{n}")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, f"/b/{n}/try2\n".encode())
        conn.close()

    def traffic():
        with concurrent.futures.ThreadPoolExecutor(5) as ex:
            list(ex.map(one, range(RETRIES)))

    rows = Rows(traced(traffic, [mid.port, backend.port]))
    trees = []
    for n in range(RETRIES):
        client = rows.one("c-p", mid.port, f"/m/{n}")
        sp = rows.pair(client)
        first = rows.one("c-p", backend.port, f"/b/{n}/try1")
        second = rows.one("c-p", backend.port, f"/b/{n}/try2")
        assert (first["response_code"], rows.pair(first)["response_code"]) == (503, 503)
        assert (second["response_code"], rows.pair(second)["response_code"]) == (200, 200)
        assert sp["response_code"] == 200
        trees.append([(client, None, ""), (sp, client, "tcp_seq"), (first, sp, "syscall"),
                      (rows.pair(first), first, "tcp_seq"), (second, sp, "syscall"),
                      (rows.pair(second), second, "tcp_seq")])
    assert check_trees(server, rows.rows, trees) == 6 * RETRIES


# ---- W3C traceparent ----

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
    }}
}}
"""


@pytest.fixture
def nginx_to(workdir):
    """nginx proxying every path to 127.0.0.1:<upstream> (request headers passed on, as
    proxy_pass does by default)."""
    procs = []

    def start(upstream):
        if not shutil.which("nginx"):
            pytest.fail("nginx is missing (apt-get install nginx-light; scripts/install-deps.sh)")
        d = tempfile.mkdtemp(prefix="nginx-", dir=workdir)
        port = free_port()
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port, upstream=upstream))
        p = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf"],
                             stderr=subprocess.PIPE)
        procs.append(p)
        wait_port(port)
        return port

    yield start
    for p in procs:
        p.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


TRACED = 6


def test_traceparent(server, services, nginx_to, traced):
    """Requests carrying `traceparent: 00-<trace id>-<span id>-01` (a distinct trace per
    request, 3 at a time) through nginx to a Python service that calls its backend without
    passing the header on, and one request without a traceparent.

    The trace id is on the spans whose bytes carry the header: the client's c-p, nginx's
    s-p, nginx's c-p (proxy_pass passes request headers on) and the Python service's s-p;
    its span id there is the header's parent id (HTTP/1 has no parent span id). The
    Python service's call and the backend's s-p carry none. GET /v1/trace?trace_id= seeds
    on the four and gives all six in the request's tree; the same tree comes from
    ?id= of any of the six."""
    backend = services("backend")
    mid = services("middle", backend.port, "close")
    gw = nginx_to(mid.port)
    tids = {n: f"{n + 1:02x}" + "4bf92f3577b34da6a3ce929d0e0e47" for n in range(TRACED)}
    sids = {n: f"{n + 1:02x}f067aa0ba902b7" for n in range(TRACED)}

    def one(n):
        conn = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
        headers = {"traceparent": f"00-{tids[n]}-{sids[n]}-01"} if n in tids else {}
        conn.request("GET", f"/m/{n}", headers=headers)
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, f"/b/{n}\n".encode())
        conn.close()

    def traffic():
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            list(ex.map(one, range(TRACED + 1)))  # the last one without a traceparent

    rows = Rows(traced(traffic, [gw, mid.port, backend.port]))
    trees = {}
    for n in range(TRACED + 1):
        client = rows.one("c-p", gw, f"/m/{n}")
        up = rows.one("c-p", mid.port, f"/m/{n}")
        call = rows.one("c-p", backend.port, f"/b/{n}")
        t = [(client, None, ""), (rows.pair(client), client, "tcp_seq"),
             (up, rows.pair(client), "syscall"), (rows.pair(up), up, "tcp_seq"),
             (call, rows.pair(up), "syscall"), (rows.pair(call), call, "tcp_seq")]
        carried = [r for r, _, _ in t[:4]]
        tid, sid = (tids[n], sids[n]) if n in tids else ("", "")
        assert [(r["trace_id"], r["span_id"]) for r in carried] == [(tid, sid)] * 4, n
        assert [(r["trace_id"], r["span_id"]) for r, _, _ in t[4:]] == [("", "")] * 2, n
        trees[n] = t
    assert check_trees(server, rows.rows, list(trees.values())) == 6 * (TRACED + 1)
    for n, tid in tids.items():
        status, body = server.json("GET", f"/v1/trace?trace_id={tid}")
        assert status == 200, body
        assert body["truncated"] is False
        want = [(r["_id"], p["_id"] if p else None, link) for r, p, link in trees[n]]
        # Depth first, siblings by start: here the tree is one chain, in hop order.
        got = [(sp["_id"], sp["parent_id"], sp["link"]) for sp in body["spans"]]
        assert got == want, n
        assert [sp["trace_id"] for sp in body["spans"]] == [tid] * 4 + [""] * 2
