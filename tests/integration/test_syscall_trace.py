# SPDX-License-Identifier: Apache-2.0
"""syscall_trace_id end to end (docs/tracing.md): real servers on loopback, the real agent.

A service that reads a request and calls a downstream must produce an s-p record and a
c-p record that share syscall_trace_id_request, and whose syscall_trace_id_response are
equal (DeepFlow's "same-side equality", which trace assembly relies on). Each test sends
requests with distinct X-Request-IDs, which every hop forwards, and checks that each inbound
request links to exactly its own downstream call. Records are filtered by port, so other
traffic on the host does not matter.
"""
import atexit
import concurrent.futures
import http.client
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import free_port, wait_port

NODE = shutil.which("node") or "/usr/bin/node"

# The downstream of every test: answers 200 with the X-Request-ID it got, HTTP/1.1 with
# keep-alive, one thread per connection.
BACKEND_PY = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # header and body in one write: no delayed-ACK stall on keep-alive
    def do_GET(self):
        rid = self.headers.get("X-Request-ID", "")
        body = ("backend " + rid + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", rid)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''

# A middle service in Python: ThreadingHTTPServer (one thread per connection) that calls
# the backend for every request, on its own thread ("thread") or through a thread pool
# ("pool": the hand-off case).
MIDDLE_PY = r'''
import concurrent.futures, http.client, http.server, sys
port, down, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pool = concurrent.futures.ThreadPoolExecutor(4)
def call(rid):
    c = http.client.HTTPConnection("127.0.0.1", down, timeout=10)
    c.request("GET", "/b", headers={"X-Request-ID": rid})
    data = c.getresponse().read()
    c.close()
    return data
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        rid = self.headers.get("X-Request-ID", "")
        body = call(rid) if mode == "thread" else pool.submit(call, rid).result()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''

# A middle service in Node.js: one event-loop thread; each request calls the backend,
# with a new connection per call ("close") or a keep-alive agent ("keepalive").
MIDDLE_JS = r'''
const http = require("http");
const [port, down, mode] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: mode === "keepalive" });
http.createServer((req, res) => {
  const rid = req.headers["x-request-id"] || "";
  http.get({ host: "127.0.0.1", port: down, path: "/b", agent,
             headers: { "X-Request-ID": rid } }, (r) => {
    const chunks = [];
    r.on("data", (d) => chunks.push(d));
    r.on("end", () => {
      const b = Buffer.concat(chunks);
      res.writeHead(200, { "Content-Length": b.length });
      res.end(b);
    });
  }).on("error", () => { res.writeHead(502); res.end(); });
}).listen(Number(port), "127.0.0.1");
'''

# A middle service in Go: net/http server (a goroutine per connection) calling the backend
# with net/http's client, on a new connection per call ("close") or kept alive.
# A middle service in Go: net/http server (a goroutine per connection) calling the backend
# per request: with net/http's client on a new connection per call ("close") or kept
# alive ("keepalive"); or with plain connections that the handler's goroutine writes and
# reads itself, as database and cache drivers do: new per call ("raw") or from a pool of
# kept connections ("rawpool").
MIDDLE_GO = r"""
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func rawCall(c net.Conn, r *bufio.Reader, rid string) ([]byte, error) {
	fmt.Fprintf(c, "GET /b HTTP/1.1\r\nHost: b\r\nX-Request-ID: %s\r\n\r\n", rid)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

type pooled struct {
	c net.Conn
	r *bufio.Reader
}

func main() {
	port, down, mode := os.Args[1], os.Args[2], os.Args[3]
	addr := "127.0.0.1:" + down
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: mode == "close"}}
	pool := make(chan pooled, 64)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-ID")
		var body []byte
		var err error
		switch mode {
		case "raw":
			var c net.Conn
			if c, err = net.Dial("tcp", addr); err == nil {
				body, err = rawCall(c, bufio.NewReader(c), rid)
				c.Close()
			}
		case "rawpool":
			var p pooled
			select {
			case p = <-pool:
			default:
				var c net.Conn
				if c, err = net.Dial("tcp", addr); err == nil {
					p = pooled{c, bufio.NewReader(c)}
				}
			}
			if err == nil {
				if body, err = rawCall(p.c, p.r, rid); err == nil {
					pool <- p
				}
			}
		default:
			req, _ := http.NewRequest("GET", "http://"+addr+"/b", nil)
			req.Header.Set("X-Request-ID", rid)
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		}
		if err != nil {
			w.WriteHeader(502)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	http.ListenAndServe("127.0.0.1:"+port, nil)
}
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backend_ka {{
        server 127.0.0.1:{backend};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location /close/ {{ proxy_pass http://127.0.0.1:{backend}/; }}
        location /ka/ {{
            proxy_pass http://backend_ka/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Proc:
    """A server process started by a test, stopped at the end."""

    def __init__(self, argv, port):
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start: {self.proc.stderr.read()!r}")
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_GO_BUILD = {}


def go_binary(_tmpdir):
    """Build MIDDLE_GO with the machine's Go (golang-go), once per test run."""
    if "bin" in _GO_BUILD:
        return _GO_BUILD["bin"]
    go = shutil.which("go")
    if not go:
        pytest.fail("go is missing (apt-get install golang-go; scripts/install-deps.sh --test)")
    src = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-gomid-"))
    atexit.register(shutil.rmtree, src, True)
    (src / "main.go").write_text(MIDDLE_GO)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(src), "GOCACHE": str(src / "cache"),
           "GOPATH": str(src / "gopath"), "GO111MODULE": "off", "GOFLAGS": ""}
    subprocess.run([go, "build", "-o", str(src / "gomid"), "main.go"], cwd=src, env=env,
                   check=True, timeout=300, capture_output=True)
    shutil.rmtree(src / "cache", ignore_errors=True)
    _GO_BUILD["bin"] = src / "gomid"
    return _GO_BUILD["bin"]


@pytest.fixture
def procs(tmpdir_path):
    started = []

    def start(kind, *args):
        port = free_port()
        if kind == "backend":
            script = tmpdir_path / "backend.py"
            script.write_text(BACKEND_PY)
            argv = [sys.executable, str(script), str(port)]
        elif kind == "middle_py":
            script = tmpdir_path / "middle.py"
            script.write_text(MIDDLE_PY)
            argv = [sys.executable, str(script), str(port), *map(str, args)]
        elif kind == "middle_go":
            argv = [str(go_binary(tmpdir_path)), str(port), *map(str, args)]
        elif kind == "middle_js":
            if not pathlib.Path(NODE).exists():
                pytest.fail("node is missing (apt-get install nodejs; scripts/install-deps.sh)")
            script = tmpdir_path / "middle.js"
            script.write_text(MIDDLE_JS)
            argv = [NODE, str(script), str(port), *map(str, args)]
        else:
            raise ValueError(kind)
        p = Proc(argv, port)
        p.port = port
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def nginx_proxy(procs):
    if not shutil.which("nginx"):
        pytest.fail("nginx is missing (apt-get install nginx-light; scripts/install-deps.sh)")
    backend = procs("backend")
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-nginx-trace-"))
    d.chmod(0o755)
    port = free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, port=port, backend=backend.port))
    proc = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                            stderr=subprocess.PIPE)
    try:
        wait_port(port)
        yield {"port": port, "backend": backend.port}
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, ignore_errors=True)


def get(port, path, rid, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"X-Request-ID": rid})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body)
    assert rid.encode() in body
    if conn is None:
        c.close()


def concurrent_gets(port, path, rids):
    """All requests at once, one connection each, released together."""
    barrier = threading.Barrier(len(rids))

    def one(rid):
        barrier.wait(timeout=10)
        get(port, path, rid)

    with concurrent.futures.ThreadPoolExecutor(len(rids)) as ex:
        for f in [ex.submit(one, r) for r in rids]:
            f.result()


def sessions(records, obs, server_port):
    """The type-2 (request + response) records at one observation point and port."""
    return [r for r in records if r["observation_point"] == obs
            and r["server_port"] == server_port and r["type"] == 2]


def by_rid(records):
    out = {}
    for r in records:
        out.setdefault(r["x_request_id_0"], []).append(r)
    return out


def link_report(records, front_port, down_port, rids):
    """For each request id: is the inbound s-p record at front_port linked to its own
    downstream c-p record at down_port (same syscall_trace_id_request, same
    syscall_trace_id_response, both non-zero), and to no other downstream call?"""
    sp = by_rid(sessions(records, "s-p", front_port))
    cp_all = sessions(records, "c-p", down_port)
    cp = by_rid(cp_all)
    ok, bad = [], []
    for rid in rids:
        assert len(sp.get(rid, [])) == 1, (rid, sp.get(rid))
        assert len(cp.get(rid, [])) == 1, (rid, cp.get(rid))
        s, c = sp[rid][0], cp[rid][0]
        req_links = [x for x in cp_all
                     if x["syscall_trace_id_request"] == s["syscall_trace_id_request"]]
        resp_links = [x for x in cp_all
                      if x["syscall_trace_id_response"] == s["syscall_trace_id_response"]]
        if (s["syscall_trace_id_request"] and s["syscall_trace_id_response"]
                and req_links == [c] and resp_links == [c]):
            ok.append(rid)
        else:
            bad.append((rid, s["syscall_trace_id_request"], s["syscall_trace_id_response"],
                        c["syscall_trace_id_request"], c["syscall_trace_id_response"]))
    return ok, bad


def crossings(records, front_port, down_port):
    """Inbound requests linked (by either id) to another request's downstream call."""
    cp = sessions(records, "c-p", down_port)
    out = []
    for s in sessions(records, "s-p", front_port):
        for c in cp:
            if c["x_request_id_0"] == s["x_request_id_0"]:
                continue
            for k in ("syscall_trace_id_request", "syscall_trace_id_response"):
                if s[k] and s[k] == c[k]:
                    out.append((s["x_request_id_0"], c["x_request_id_0"], k))
    return out


def report(name, ok, bad):
    total = len(ok) + len(bad)
    print(f"\n[trace] {name}: {len(ok)}/{total} linked", file=sys.stderr)
    for b in bad[:5]:
        print(f"[trace]   not linked: {b}", file=sys.stderr)


def test_nginx_proxy_single_request(nginx_proxy, agent_factory):
    """(a) curl -> nginx proxy_pass -> Python backend, one request."""
    port, backend = nginx_proxy["port"], nginx_proxy["backend"]
    agent = agent_factory()
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "X-Request-ID: single-1",
                    f"http://127.0.0.1:{port}/close/x"], check=True, timeout=10)
    recs = agent.stop()
    sp = sessions(recs, "s-p", port)
    cp = sessions(recs, "c-p", backend)
    bsp = sessions(recs, "s-p", backend)
    assert len(sp) == 1 and len(cp) == 1 and len(bsp) == 1, (sp, cp, bsp)
    sp, cp, bsp = sp[0], cp[0], bsp[0]
    assert sp["process_kname_1"] == "nginx" and cp["process_kname_0"] == "nginx"
    # Same-side equality between nginx's inbound request and its upstream call.
    assert sp["syscall_trace_id_request"] != 0
    assert sp["syscall_trace_id_request"] == cp["syscall_trace_id_request"]
    assert sp["syscall_trace_id_response"] != 0
    assert sp["syscall_trace_id_response"] == cp["syscall_trace_id_response"]
    assert sp["syscall_trace_id_request"] != sp["syscall_trace_id_response"]
    # The hop between processes joins on the TCP sequence.
    assert bsp["req_tcp_seq"] == cp["req_tcp_seq"] != 0
    assert bsp["resp_tcp_seq"] == cp["resp_tcp_seq"] != 0
    # The backend made no downstream call: its request id is its own, its response none.
    assert bsp["syscall_trace_id_request"] not in (0, sp["syscall_trace_id_request"])
    assert bsp["syscall_trace_id_response"] == 0
    # The curl client (c-p at nginx's port) sent first: nothing to carry.
    cl = sessions(recs, "c-p", port)
    assert len(cl) == 1 and cl[0]["process_kname_0"] == "curl"
    assert cl[0]["syscall_trace_id_request"] == 0


@pytest.mark.parametrize("mode", ["close", "ka"])
def test_nginx_proxy_concurrent(nginx_proxy, agent_factory, mode):
    """(b) 50 concurrent distinct requests through nginx's single event-loop worker, with a
    new upstream connection per request (close) and with upstream keep-alive (ka)."""
    port, backend = nginx_proxy["port"], nginx_proxy["backend"]
    get(port, f"/{mode}/warm", "warm")  # the keep-alive pool starts with a connection
    agent = agent_factory()
    rids = [f"{mode}-{i}" for i in range(50)]
    concurrent_gets(port, f"/{mode}/x", rids)
    recs = agent.stop()
    ok, bad = link_report(recs, port, backend, rids)
    report(f"nginx {mode}", ok, bad)
    assert not bad and not crossings(recs, port, backend)


@pytest.mark.parametrize("mode", ["thread", "pool"])
def test_python_threading_server(procs, agent_factory, mode):
    """(c) Python ThreadingHTTPServer calling a downstream per request: on the handler's
    own thread (covered), or through a ThreadPoolExecutor (hand-off: measured only)."""
    backend = procs("backend")
    mid = procs("middle_py", backend.port, mode)
    agent = agent_factory()
    rids = [f"py{mode}-{i}" for i in range(20)]
    concurrent_gets(mid.port, "/m", rids)
    recs = agent.stop()
    ok, bad = link_report(recs, mid.port, backend.port, rids)
    report(f"python {mode}", ok, bad)
    assert not crossings(recs, mid.port, backend.port)
    if mode == "thread":
        assert not bad
    else:
        # Hand-off to another thread is not covered (docs/tracing.md): the worker thread
        # holds no id when it calls out. What must hold is that nothing links wrongly.
        assert not ok
        sp = sessions(recs, "s-p", mid.port)
        cp = sessions(recs, "c-p", backend.port)
        ids = {r["syscall_trace_id_request"] for r in sp} - {0}
        assert not ids & {r["syscall_trace_id_request"] for r in cp}
        # The workers hold no id of their own either: their calls carry 0 (I3), not the
        # response id of the worker's previous, unrelated call.
        assert all(r["syscall_trace_id_request"] == 0 for r in cp)


@pytest.mark.parametrize("mode", ["close", "keepalive"])
def test_node_server(procs, agent_factory, mode):
    """(d) Node.js http server (one event-loop thread) calling a downstream per request."""
    backend = procs("backend")
    mid = procs("middle_js", backend.port, mode)
    get(mid.port, "/warm", "warm")
    agent = agent_factory()
    rids = [f"node{mode}-{i}" for i in range(50)]
    concurrent_gets(mid.port, "/m", rids)
    recs = agent.stop()
    ok, bad = link_report(recs, mid.port, backend.port, rids)
    report(f"node {mode}", ok, bad)
    assert not bad and not crossings(recs, mid.port, backend.port)


def test_ids_unique_and_in_range(nginx_proxy, agent_factory):
    """(e) Many requests: every id is below 2^63, and new messages never share an id."""
    port, backend = nginx_proxy["port"], nginx_proxy["backend"]
    agent = agent_factory()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 200
    for i in range(n):
        get(port, "/ka/u", f"u-{i}", conn)
    conn.close()
    recs = agent.stop()
    sp = sessions(recs, "s-p", port)
    bsp = sessions(recs, "s-p", backend)
    assert len(sp) == n and len(bsp) == n
    ids = [r[k] for r in recs for k in ("syscall_trace_id_request", "syscall_trace_id_response")]
    assert all(0 <= i < 2 ** 63 for i in ids)
    # Every inbound request read (nginx's and the backend's) got its own id.
    inbound = [r["syscall_trace_id_request"] for r in sp + bsp]
    assert 0 not in inbound
    assert len(set(inbound)) == len(inbound)
    # Every upstream response read got its own id too, distinct from the requests'.
    resp = [r["syscall_trace_id_response"] for r in sp]
    assert 0 not in resp and len(set(resp)) == n and not set(resp) & set(inbound)
    assert agent.stats["trace_ids"] >= 3 * n


def test_ids_differ_across_restarts(nginx_proxy, agent_factory):
    """A restarted agent does not hand out the ids of its previous run: per CPU (bits
    48-62) the counter part starts above where the previous run stopped."""
    port = nginx_proxy["port"]
    runs = []
    for run in range(2):
        agent = agent_factory()
        for i in range(20):
            get(port, "/close/r", f"restart{run}-{i}")
        recs = agent.stop()
        runs.append({r[k] for r in recs if r["server_port"] == port
                     for k in ("syscall_trace_id_request", "syscall_trace_id_response")} - {0})
    assert len(runs[0]) >= 20 and len(runs[1]) >= 20
    assert not runs[0] & runs[1]
    low = (1 << 48) - 1
    for cpu in {i >> 48 for i in runs[0]} & {i >> 48 for i in runs[1]}:
        assert (max(i & low for i in runs[0] if i >> 48 == cpu)
                < min(i & low for i in runs[1] if i >> 48 == cpu))


def test_disabled_gives_zeros(nginx_proxy, agent_factory):
    """(f) --syscall-trace-id=false: records still come, every id is 0."""
    port, backend = nginx_proxy["port"], nginx_proxy["backend"]
    agent = agent_factory("--syscall-trace-id=false")
    for i in range(5):
        get(port, "/close/off", f"off-{i}")
    recs = agent.stop()
    mine = [r for r in recs if r["server_port"] in (port, backend)]
    assert len(sessions(mine, "s-p", port)) == 5
    assert len(sessions(mine, "c-p", backend)) == 5
    assert all(r["syscall_trace_id_request"] == 0 and r["syscall_trace_id_response"] == 0
               for r in mine)
    assert agent.stats["trace_ids"] == 0


def dwarf_goid_offset(binary):
    """runtime.g's goid offset from the binary's DWARF (binutils' readelf)."""
    out = subprocess.run(["readelf", "--debug-dump=info", str(binary)], capture_output=True,
                         text=True, timeout=120).stdout
    in_g = False
    for line in out.splitlines():
        if "DW_AT_name" in line:
            name = line.split(":", 1)[1].strip()
            if "DW_TAG" not in line and name == "runtime.g":
                in_g = True
                continue
            if in_g and name == "goid":
                in_g = "member"
                continue
        if in_g == "member" and "DW_AT_data_member_location" in line:
            return int(line.split(":", 1)[1].strip())
    raise AssertionError("no runtime.g.goid in the DWARF")


@pytest.mark.parametrize("mode", ["raw", "rawpool", "close", "keepalive"])
def test_go_server(procs, agent_factory, mode):
    """Go net/http server calling a downstream per request (goroutine tracking is on by
    default). syscall_coroutine_0/1 are the goroutines. Calls the handler's goroutine
    makes itself (raw, rawpool: how database and cache drivers work) link like threads;
    net/http's client writes and reads in goroutines of its own, a hand-off that is not
    followed (close, keepalive): measured only, and nothing may link wrongly."""
    backend = procs("backend")
    agent = agent_factory()
    mid = procs("middle_go", backend.port, mode)
    time.sleep(0.3)  # the agent registers the new Go process from its exec event
    get(mid.port, "/warm", "warm")
    rids = [f"go{mode}-{i}" for i in range(30)]
    concurrent_gets(mid.port, "/m", rids)
    recs = agent.stop()
    err = agent.err.read_text()
    assert f"pid {mid.pid} registered" in err, err
    binary = pathlib.Path(f"/proc/{mid.pid}/exe").resolve()
    assert f"goid at offset {dwarf_goid_offset(binary)} of runtime.g" in err
    sp = sessions(recs, "s-p", mid.port)
    cp = sessions(recs, "c-p", backend.port)
    # Every Go-side record names its goroutines; the inbound ones are distinct per
    # connection (one serving goroutine each).
    assert all(r["syscall_coroutine_0"] and r["syscall_coroutine_1"] for r in sp + cp)
    goids = [r["syscall_coroutine_1"] for r in sp if r["x_request_id_0"] in rids]
    assert len(set(goids)) == len(rids)
    # The backend is Python: no goroutines there.
    assert all(r["syscall_coroutine_1"] == 0 for r in sessions(recs, "s-p", backend.port))
    ok, bad = link_report(recs, mid.port, backend.port, rids)
    report(f"go {mode}", ok, bad)
    assert not crossings(recs, mid.port, backend.port)
    if mode.startswith("raw"):
        assert not bad


def test_go_goroutines_off(procs, agent_factory):
    """--go-goroutines=false: no coroutine ids, Go traced per thread as any program."""
    backend = procs("backend")
    agent = agent_factory("--go-goroutines=false")
    mid = procs("middle_go", backend.port, "raw")
    time.sleep(0.3)
    for i in range(3):
        get(mid.port, "/m", f"gooff-{i}")
    recs = agent.stop()
    assert "registered" not in agent.err.read_text()
    mine = sessions(recs, "s-p", mid.port) + sessions(recs, "c-p", backend.port)
    assert len(mine) == 6
    assert all(r["syscall_coroutine_0"] == 0 and r["syscall_coroutine_1"] == 0 for r in mine)
