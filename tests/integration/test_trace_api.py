# SPDX-License-Identifier: Apache-2.0
"""GET /v1/trace and `flowscope trace` on a real flowscope-server: batches built by hand
(wirebatch.py) form a few traces and some unrelated traffic; every span of every trace
must give back the same complete tree, with exact parents and self times."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, Server, free_port, wait_port
from wirebatch import make_batch, pb_bytes, pb_int

CLI = pathlib.Path(os.environ.get("FLOWSCOPE_CLI", ROOT / "build" / "flowscope"))
OBS = {"c-p": 0, "s-p": 1, "c-nd": 2, "s-nd": 3}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# Whole seconds, so that every span of a trace ends in the same second or the next.
BASE = (int(time.time()) - 120) * 1000000


def span(name, obs, proc, pid, cport, sport, start, end, req_seq, resp_seq, st=(0, 0),
         resource="/a", code=200, x0="", trace="", span_id="", parent=None):
    """One span: its record fields, its name in the test and its expected parent."""
    return dict(name=name, obs=obs, proc=proc, pid=pid, cport=cport, sport=sport,
                start=BASE + start, end=BASE + end, req_seq=req_seq, resp_seq=resp_seq,
                st=st, resource=resource, code=code, x0=x0, trace=trace, span_id=span_id,
                parent=parent)


def encode(s):
    rec = (pb_int(1, s["start"]) + pb_int(2, s["end"]) + pb_int(3, 2) + pb_int(4, OBS[s["obs"]])
           + pb_int(5, 0 if s["code"] < 500 else 3) + pb_int(6, 4) + pb_int(7, 6)
           + pb_int(8, 20) + pb_int(9, s["code"]) + pb_int(10, 100) + pb_int(11, 200)
           + pb_int(12, s["req_seq"]) + pb_int(13, s["resp_seq"])
           + pb_bytes(14, bytes([127, 0, 0, 1])) + pb_bytes(15, bytes([127, 0, 0, 2]))
           + pb_int(16, s["cport"]) + pb_int(17, s["sport"]) + pb_bytes(22, "1.1")
           + pb_bytes(23, "GET") + pb_bytes(25, s["resource"]))
    if s["obs"] in ("c-p", "s-p"):
        rec += pb_int(18, s["pid"]) + pb_bytes(21, s["proc"])
    else:
        rec += pb_int(32, 0)
    if s["st"][0]:
        rec += pb_int(36, s["st"][0])
    if s["st"][1]:
        rec += pb_int(37, s["st"][1])
    if s["x0"]:
        rec += pb_bytes(28, s["x0"])
    if s["trace"]:
        rec += pb_bytes(30, s["trace"]) + pb_bytes(31, s["span_id"])
    return rec


# curl -> nginx -> python3, with the first hop also captured on both NICs.
CHAIN = [
    span("curl", "c-p", "curl", 100, 40000, 80, 0, 10000, 1000, 2000),
    span("c-nd", "c-nd", "", 0, 40000, 80, 20, 9980, 1000, 2000, parent="curl"),
    span("s-nd", "s-nd", "", 0, 40000, 80, 50, 9950, 1000, 2000, parent="c-nd"),
    span("nginx", "s-p", "nginx", 200, 40000, 80, 100, 9900, 1000, 2000, (5001, 5002),
         parent="s-nd"),
    span("nginx-up", "c-p", "nginx", 200, 40001, 8080, 1000, 9000, 3000, 4000, (5001, 5002),
         parent="nginx"),
    span("backend", "s-p", "python3", 300, 40001, 8080, 1100, 8900, 3000, 4000, (6001, 6002),
         parent="nginx-up"),
]
# A retry: the first downstream call fails, the second succeeds.
RETRY = [
    span("client", "c-p", "wget", 110, 42000, 81, 20000, 30000, 11000, 12000),
    span("api", "s-p", "api", 210, 42000, 81, 20100, 29900, 11000, 12000, (7001, 7003),
         parent="client"),
    span("call1", "c-p", "api", 210, 42001, 5432, 21000, 22000, 13000, 14000, (7001, 7002),
         resource="/d", code=503, parent="api"),
    span("db1", "s-p", "db", 310, 42001, 5432, 21100, 21900, 13000, 14000, (8001, 8002),
         resource="/d", code=503, parent="call1"),
    span("call2", "c-p", "api", 210, 42002, 5432, 23000, 28000, 15000, 16000, (7002, 7003),
         resource="/d", parent="api"),
    span("db2", "s-p", "db", 310, 42002, 5432, 23100, 27900, 15000, 16000, (8003, 8004),
         resource="/d", parent="call2"),
]
# W3C traceparent and X-Request-ID: the first hop's tcp_seq was not captured.
W3C = [
    span("w-client", "c-p", "curl", 120, 43000, 82, 40000, 50000, 0, 0, resource="/w",
         x0="rq-9", trace=TRACE_ID, span_id="00f067aa0ba902b7"),
    span("w-app", "s-p", "app", 220, 43000, 82, 40100, 49900, 0, 0, resource="/w", x0="rq-9",
         trace=TRACE_ID, span_id="00f067aa0ba902b7", parent="w-client"),
    span("w-call", "c-p", "app", 220, 43001, 83, 41000, 49000, 21000, 22000, resource="/v",
         x0="rq-9", trace=TRACE_ID, span_id="b7ad6b7169203331", parent="w-app"),
    span("w-svc", "s-p", "svc", 320, 43001, 83, 41100, 48900, 21000, 22000, resource="/v",
         x0="rq-9", trace=TRACE_ID, span_id="b7ad6b7169203331", parent="w-call"),
]
# Unrelated traffic: the same client's other requests on its keep-alive connection, and
# another flow reusing the first trace's tcp_seq elsewhere.
NOISE = [
    span("ka1", "c-p", "curl", 100, 40000, 80, 60000, 61000, 31000, 32000),
    span("ka1s", "s-p", "nginx", 200, 40000, 80, 60100, 60900, 31000, 32000, (5101, 5102)),
    span("other", "s-p", "redis", 400, 50000, 6379, 200, 9000, 1000, 2000, resource="GET k"),
]
TRACES = [CHAIN, RETRY, W3C]


@pytest.fixture(scope="module")
def loaded():
    d = tempfile.mkdtemp(prefix="flowscope-trace-")
    s = Server(d)
    try:
        spans = CHAIN + RETRY + W3C + NOISE
        # Two batches, the traces split across them.
        for seq, part in ((1, spans[:8]), (2, spans[8:])):
            body = make_batch(seq, [encode(x) for x in part], agent_id="trace-agent")
            status, resp = s.json("POST", "/v1/ingest", body,
                                  {"Content-Type": "application/x-flowscope-batch",
                                   "Content-Encoding": "zstd", "Flowscope-Wire": "1"})
            assert status == 200, resp
        ids = {}
        for _id, obs, cport, start in s.query(
                "SELECT _id, observation_point, client_port, start_time FROM l7_flow_log"):
            for x in spans:
                if (x["obs"], x["cport"], x["start"]) == (obs, cport, start):
                    ids[x["name"]] = _id
        assert len(ids) == len(spans)
        yield s, ids
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def self_times(trace):
    """Expected self time of each span: its duration minus its children's union."""
    out = {}
    for x in trace:
        iv = sorted((max(c["start"], x["start"]), min(c["end"], x["end"]))
                    for c in trace if c["parent"] == x["name"])
        covered, lo, hi = 0, None, None
        for a, b in iv:
            if hi is None or a > hi:
                covered += (hi - lo) if hi is not None else 0
                lo, hi = a, b
            else:
                hi = max(hi, b)
        covered += (hi - lo) if hi is not None else 0
        out[x["name"]] = x["end"] - x["start"] - covered
    return out


@pytest.mark.parametrize("trace", TRACES, ids=["chain", "retry", "w3c"])
def test_every_span_gives_the_tree(loaded, trace):
    s, ids = loaded
    names = {v: k for k, v in ids.items()}
    want_parent = {x["name"]: x["parent"] for x in trace}
    want_self = self_times(trace)
    for x in trace:
        status, body = s.json("GET", f"/v1/trace?id={ids[x['name']]}")
        assert status == 200, body
        got = {names[sp["_id"]]: sp for sp in body["spans"]}
        assert set(got) == set(want_parent), (x["name"], sorted(got))
        for name, sp in got.items():
            parent = names[sp["parent_id"]] if sp["parent_id"] is not None else None
            assert parent == want_parent[name], (x["name"], name)
            assert sp["self_time"] == want_self[name], (x["name"], name)
        roots = [sp for sp in body["spans"] if sp["parent_id"] is None]
        assert len(roots) == 1 and body["spans"][0] is roots[0]
        assert body["truncated"] is False


def test_trace_id_query(loaded):
    s, ids = loaded
    status, body = s.json("GET", f"/v1/trace?trace_id={TRACE_ID}")
    assert status == 200, body
    names = {v: k for k, v in ids.items()}
    assert [names[sp["_id"]] for sp in body["spans"]] == ["w-client", "w-app", "w-call",
                                                          "w-svc"]
    assert body["services"] == [
        {"auto_service": "curl", "spans": 1, "duration": 10000, "self_time": 200},
        {"auto_service": "app", "spans": 2, "duration": 9800 + 8000, "self_time": 1800 + 200},
        {"auto_service": "svc", "spans": 1, "duration": 7800, "self_time": 7800},
    ]


def test_errors(loaded):
    s, ids = loaded
    unknown = ids["curl"] + 1
    while unknown in ids.values():
        unknown += 1
    status, body = s.json("GET", f"/v1/trace?id={unknown}")
    assert status == 404 and "no such span" in body["error"]
    status, body = s.json("GET", "/v1/trace?trace_id=ffffffffffffffffffffffffffffffff")
    assert status == 404 and "no such trace" in body["error"]
    for q in ("", "?id=abc", "?id=-3", "?id=0", f"?id={ids['curl']}&trace_id={TRACE_ID}",
              "?trace_id=" + "a" * 80, f"?id={ids['curl']}&max_spans=0",
              f"?id={ids['curl']}&time_start=x"):
        status, body = s.json("GET", "/v1/trace" + q)
        assert status == 400, (q, body)
        assert body["error"]
    status, _, resp = s.request("POST", f"/v1/trace?id={ids['curl']}")
    assert status == 405 and resp.getheader("Allow") == "GET, HEAD"
    assert s.json("GET", f"/v1/trace?id={ids['curl']}")[0] == 200
    status, text, _ = s.request("GET", "/metrics")
    assert status == 200
    m = dict(line.rsplit(" ", 1) for line in text.decode().splitlines()
             if line.startswith("flowscope_trace"))
    assert int(m['flowscope_trace_total{result="not_found"}']) >= 2, m
    assert int(m['flowscope_trace_total{result="refused"}']) >= 8, m
    assert int(m['flowscope_trace_total{result="ok"}']) == int(m["flowscope_trace_seconds_count"])
    assert int(m["flowscope_trace_spans_total"]) >= 4 and m["flowscope_trace_truncated_total"] == "0"


def cli(s, *args):
    return subprocess.run([str(CLI), "trace", "--server", s.url, *args], capture_output=True,
                          text=True, timeout=30)


def test_cli_tree(loaded):
    s, ids = loaded
    r = cli(s, str(ids["backend"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "c-p curl HTTP GET /a 200 10.00ms self 40us\n"
        "  c-nd - HTTP GET /a 200 9.96ms self 60us\n"
        "    s-nd - HTTP GET /a 200 9.90ms self 100us\n"
        "      s-p nginx HTTP GET /a 200 9.80ms self 1.80ms\n"
        "        c-p nginx HTTP GET /a 200 8.00ms self 200us\n"
        "          s-p python3 HTTP GET /a 200 7.80ms self 7.80ms\n"
        "6 spans; services:\n"
        "  curl: 1 span, 10.00ms, self 40us\n"
        "  nginx: 2 spans, 17.80ms, self 2.00ms\n"
        "  python3: 1 span, 7.80ms, self 7.80ms\n")
    r = cli(s, "--trace-id", TRACE_ID)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "c-p curl HTTP GET /w 200 10.00ms self 200us"
    r = cli(s, "--json", str(ids["db1"]))
    assert r.returncode == 0 and '"spans":[' in r.stdout and r.stdout.endswith("\n")


def test_cli_errors(loaded):
    s, ids = loaded
    r = cli(s, str(ids["curl"] + 999999))
    assert r.returncode == 1 and "no such span" in r.stderr and "SELECT _id" in r.stderr
    r = cli(s, "nope")
    assert r.returncode == 2 and "not a span ID" in r.stderr
    r = cli(s)
    assert r.returncode == 2 and "no span ID given" in r.stderr
    r = cli(s, "1", "--trace-id", "x")
    assert r.returncode == 2
    r = subprocess.run([str(CLI), "trace", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Usage: flowscope trace")


# ---- live: flowscope up, curl -> nginx (proxy_pass) -> python3 -m http.server ----

PROXY_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}
"""


def up_env():
    env = dict(os.environ)
    env.pop("FLOWSCOPE_SERVER_URL", None)
    for name in ("FLOWSCOPE_SERVER", "FLOWSCOPE_AGENT"):
        if name in env:
            env[name] = str(pathlib.Path(env[name]).resolve())
    return env


def test_live_curl_nginx_python():
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-live-"))
    d.chmod(0o755)
    (d / "www").mkdir()
    (d / "www" / "hello.txt").write_text("hello\n")
    port, backend, api = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{api}"
    (d / "nginx.conf").write_text(PROXY_CONF.format(dir=d, port=port, backend=backend))
    procs = []
    try:
        up = subprocess.Popen([str(CLI), "up", "--data", str(d / "data"), "--listen",
                               f"127.0.0.1:{api}"], stdout=open(d / "up.out", "wb"),
                              stderr=open(d / "up.err", "wb"), env=up_env())
        procs.append(up)
        deadline = time.monotonic() + 120
        while "flowscope: up." not in (d / "up.out").read_text():
            assert up.poll() is None, (d / "up.err").read_text()
            assert time.monotonic() < deadline, (d / "up.err").read_text()
            time.sleep(0.1)
        py = subprocess.Popen(["python3", "-m", "http.server", "--bind", "127.0.0.1",
                               str(backend)], cwd=d / "www", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        procs.append(py)
        ngx = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                               stderr=subprocess.DEVNULL)
        procs.append(ngx)
        wait_port(backend)
        wait_port(port)
        # One request passing an X-Request-ID (nginx forwards it), one without.
        for q, hdr in (("xrid", ["-H", "X-Request-ID: live-trace-1"]), ("plain", [])):
            subprocess.run(["curl", "-sf", "-o", "/dev/null", *hdr,
                            f"http://127.0.0.1:{port}/hello.txt?{q}"], check=True, timeout=30)

        srv = Server.__new__(Server)  # its query helpers, on up's server
        srv.port = api
        srv.url = url
        sql = ("SELECT _id, observation_point, process_kname_0, process_kname_1, "
               "request_resource FROM l7_flow_log WHERE request_resource LIKE "
               "'/hello.txt?%' ORDER BY start_time")
        deadline = time.monotonic() + 20
        while True:
            rows = srv.query(sql)
            if len(rows) >= 8 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        got = {(r[1], r[2] or r[3], r[4]) for r in rows}
        for q in ("xrid", "plain"):
            for key in (("c-p", "curl"), ("s-p", "nginx"), ("c-p", "nginx"), ("s-p", "python3")):
                assert (*key, f"/hello.txt?{q}") in got, (q, key, sorted(got))

        def tree(q, obs, proc):
            [_id] = [r[0] for r in rows if r[1] == obs and (r[2] or r[3]) == proc
                     and r[4] == f"/hello.txt?{q}"]
            status, body = srv.json("GET", f"/v1/trace?id={_id}")
            assert status == 200, body
            by_id = {sp["_id"]: sp for sp in body["spans"]}
            return [(sp["observation_point"], sp["auto_service"],
                     (by_id[sp["parent_id"]]["observation_point"],
                      by_id[sp["parent_id"]]["auto_service"]) if sp["parent_id"] else None,
                     sp["link"]) for sp in body["spans"]]

        full = [("c-p", "curl", None, ""),
                ("s-p", "nginx", ("c-p", "curl"), "tcp_seq"),
                ("c-p", "nginx", ("s-p", "nginx"), None),
                ("s-p", "python3", ("c-p", "nginx"), "tcp_seq")]

        def same(t, want):
            return [x[:3] for x in t] == [w[:3] for w in want] and all(
                w[3] is None or x[3] == w[3] for x, w in zip(t, want))

        # X-Request-ID passed through nginx joins its inbound and its upstream request.
        t = tree("xrid", "c-p", "curl")
        assert same(t, full), t
        assert t[2][3] in ("x_request_id", "syscall"), t
        assert tree("xrid", "s-p", "python3") == t
        # Without it, until the kernel fills syscall_trace_id (being built), nginx's
        # inbound s-p and its upstream c-p stay apart: each hop is whole on its own.
        t = tree("plain", "c-p", "curl")
        if len(t) == 4:
            assert same(t, full) and t[2][3] == "syscall", t
        else:
            assert t == full[:2], t
            t = tree("plain", "s-p", "python3")
            assert t == [("c-p", "nginx", None, ""),
                         ("s-p", "python3", ("c-p", "nginx"), "tcp_seq")], t
        # The CLI prints the same tree.
        [_id] = [r[0] for r in rows if r[1] == "c-p" and r[2] == "curl"
                 and r[4] == "/hello.txt?xrid"]
        r = cli(srv, str(_id))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert [ln.split(" self ")[0].rsplit(" ", 1)[0] for ln in lines[:4]] == [
            "c-p curl HTTP GET /hello.txt?xrid 200",
            "  s-p nginx HTTP GET /hello.txt?xrid 200",
            "    c-p nginx HTTP GET /hello.txt?xrid 200",
            "      s-p python3 HTTP GET /hello.txt?xrid 200"], r.stdout
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(2 if p is procs[0] else 15)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(d, ignore_errors=True)
