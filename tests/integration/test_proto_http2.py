# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 and gRPC: reference captures through --read-pcap against tshark's http2
dissector, and live traffic: nginx serving h2c (prior knowledge) driven by curl, hypercorn
taking curl's h2c upgrade from HTTP/1.1, and a gRPC server and client written with
@grpc/grpc-js, seen by the agent from both ends.
"""
import collections
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port

HERE = pathlib.Path(__file__).resolve().parent
GRPC_DIR = HERE / "grpc"

# capture -> server port (tshark needs it to decode http2 off port 80)
CAPTURES = {
    "grpc-unary": 30035,
    "h2c_ascii": 7070,
    "http2-multi": 3550,
    "httpv2-stream-id": 11800,
    "grpc-unknown": 7000,
    "grpc-server-stream": 9001,
    "grpc-service-name": 38888,
}

GRPC_CLIENT_CODES = {1, 3, 5, 6, 7, 9, 11, 16}


def read_pcap(path):
    p = subprocess.run([str(AGENT), "--stdout", "--ebpf=false", "--read-pcap", str(path)],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    recs = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in recs if r.get("table") == "l7_flow_log"]


def tshark_streams(path, port):
    """Per stream and side: headers tshark decoded and the bytes of its frames."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", f"tcp.port=={port},http2", "-T", "json",
         "-e", "tcp.srcport", "-e", "http2.streamid", "-e", "http2.type", "-e", "http2.length",
         "-e", "http2.flags", "-e", "http2.header.count", "-e", "http2.header.name",
         "-e", "http2.header.value"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    streams = collections.defaultdict(lambda: {"req": {}, "resp": {}, "req_len": 0,
                                               "resp_len": 0})
    for pkt in json.loads(out):
        f = pkt["_source"]["layers"]
        if "http2.streamid" not in f:
            continue
        side = "req" if int(f["tcp.srcport"][0]) != port else "resp"
        names = list(zip(f.get("http2.header.name", []), f.get("http2.header.value", [])))
        # the decoded headers of the packet's HEADERS frames, in order: header.count says
        # how many belong to each
        hdr_streams = [int(sid) for sid, t in zip(f["http2.streamid"], f["http2.type"])
                       if int(t) == 1]
        counts = [int(c) for c in f.get("http2.header.count", [])]
        assert len(counts) == len(hdr_streams) and sum(counts) == len(names)
        for sid, typ, ln in zip(f["http2.streamid"], f["http2.type"], f["http2.length"]):
            sid, typ, ln = int(sid), int(typ), int(ln)
            if sid == 0 or typ not in (0, 1, 9):
                continue
            streams[sid][side + "_len"] += 9 + ln
        at = 0
        for sid, cnt in zip(hdr_streams, counts):
            for name, value in names[at:at + cnt]:
                if name != "<unknown>":
                    streams[sid][side].setdefault(name, value)
            at += cnt
    return streams


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_against_tshark(name):
    need_pcaps()
    path = PCAPS / "http" / f"{name}.pcap"
    port = CAPTURES[name]
    recs = read_pcap(path)
    streams = tshark_streams(path, port)
    assert len(recs) == len(streams), (recs, dict(streams))
    for r in recs:
        s = streams[r["request_id"]]
        req, resp = s["req"], s["resp"]
        grpc = "application/grpc" in (req.get("content-type", ""), resp.get("content-type", ""))
        assert r["l7_protocol"] == ("gRPC" if grpc else "HTTP2")
        assert r["version"] == "2"
        assert r["server_port"] == port
        path_ = req.get(":path", "")
        if grpc:
            assert r["request_type"] == "POST"
            svc = path_.split("/")[1] if path_.count("/") == 2 else ""
            assert r["request_resource"] == svc
            assert r["endpoint"] == path_
        else:
            assert r["request_type"] == req.get(":method", "")
            assert r["request_resource"] == path_
            assert r["endpoint"] == path_.split("?")[0]
        assert r["request_domain"] == req.get(":authority", "")
        assert r["request_length"] == s["req_len"]
        if s["resp_len"]:
            assert r["type"] == 2
            code = resp.get("grpc-status") if grpc and "grpc-status" in resp else \
                resp.get(":status")
            assert r["response_code"] == int(code)
            if name == "grpc-unary":
                # the capture ends inside a 16384-byte DATA frame tshark does not list
                assert r["response_length"] == s["resp_len"] + 9 + 16384
            else:
                assert r["response_length"] == s["resp_len"]
            assert r["response_status"] == 0
        else:
            assert r["type"] == 0 and r["response_code"] is None


def test_capture_results_files():
    """Values tshark cannot give (its dissector fails on these) from DeepFlow's .result."""
    need_pcaps()
    recs = read_pcap(PCAPS / "http" / "grpc-unknown.pcap")
    assert len(recs) == 1
    r = recs[0]
    # HttpInfo { proto: Grpc, stream_id: Some(928401), path: "", host: "currencyservice:7000"
    # ... status_code: Some(200), status: Ok }
    assert (r["l7_protocol"], r["request_id"], r["request_domain"], r["request_resource"],
            r["endpoint"], r["response_code"], r["response_status"]) == \
        ("gRPC", 928401, "currencyservice:7000", "", "", 200, 0)
    recs = read_pcap(PCAPS / "http" / "h2c_ascii.pcap")
    # service_name: Some("hipstershop.CartService"), grpc_status_code: Some(0)
    assert [(r["request_resource"], r["endpoint"], r["response_code"]) for r in recs] == \
        [("hipstershop.CartService", "/hipstershop.CartService/GetCart", 0)]


# ---- live ---------------------------------------------------------------------------

NGINX_H2_CONF = """
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
        listen 127.0.0.1:{port} http2;
        root {dir}/www;
        location = /ok {{ return 200 "ok\\n"; }}
        # the body is read whole before answering (a `return` answers first and resets
        # the stream, which curl 7.88 reports as an error)
        location = /post {{ proxy_pass http://127.0.0.1:{port2}/created; }}
        location = /fail {{ return 503; }}
    }}
    server {{
        listen 127.0.0.1:{port2};
        location / {{ return 201 "created\\n"; }}
    }}
}}
"""


@pytest.fixture
def nginx_h2():
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-h2-"))
    d.chmod(0o755)
    (d / "www").mkdir()
    (d / "www" / "hello.txt").write_text("hello\n")
    port = free_port()
    (d / "nginx.conf").write_text(NGINX_H2_CONF.format(dir=d, port=port, port2=free_port()))
    proc = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                            stderr=subprocess.PIPE)
    try:
        wait_port(port)
        workers = [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()]
        yield {"port": port, "workers": workers}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def on_port(records, port):
    return [r for r in records if r.get("table") == "l7_flow_log" and r["server_port"] == port]


def test_nginx_h2c_prior_knowledge(nginx_h2, agent_factory):
    port = nginx_h2["port"]
    base = f"http://127.0.0.1:{port}"
    agent = agent_factory()
    # curl 7.88 fails to reuse an h2c prior-knowledge connection ("Error in the HTTP2
    # framing layer", with or without the agent): one curl per request, and node's http2
    # client for several concurrent streams over one connection
    for path in ("/ok", "/hello.txt?x=1", "/missing", "/fail"):
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                            f"{base}{path}"], timeout=30)
        assert p.returncode == 0, path
    p2 = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                         "-H", "X-Request-ID: rid-7", "-d", "a=1&b=2", f"{base}/post"],
                        timeout=30)
    assert p2.returncode == 0
    p3 = subprocess.run(["node", str(GRPC_DIR / "h2client.js"), str(port), "/ok",
                         "/missing", "/hello.txt", "/fail"], capture_output=True, text=True,
                        timeout=30)
    assert p3.returncode == 0 and p3.stdout.split() == \
        ["/ok", "200", "/missing", "404", "/hello.txt", "200", "/fail", "503"], p3.stderr
    recs = on_port(agent.stop(), port)
    curl_want = [("GET", "/ok", "/ok", 200, 0, 1),
                 ("GET", "/hello.txt?x=1", "/hello.txt", 200, 0, 1),
                 ("GET", "/missing", "/missing", 404, 4, 1),
                 ("GET", "/fail", "/fail", 503, 3, 1), ("POST", "/post", "/post", 201, 0, 1)]
    node_want = [("GET", "/ok", "/ok", 200, 0, 1), ("GET", "/missing", "/missing", 404, 4, 3),
                 ("GET", "/hello.txt", "/hello.txt", 200, 0, 5),
                 ("GET", "/fail", "/fail", 503, 3, 7)]
    for obs in ("c-p", "s-p"):
        mine = [r for r in recs if r["observation_point"] == obs]
        for comm, want in (("curl", curl_want), ("node", node_want)):
            if obs == "c-p":
                sel = [r for r in mine if r["process_kname_0"] == comm]
            else:
                assert all(r["process_kname_1"] == "nginx" for r in mine)
                ports = {r["client_port"] for r in recs
                         if r["observation_point"] == "c-p" and r["process_kname_0"] == comm}
                sel = [r for r in mine if r["client_port"] in ports]
            got = sorted((r["request_type"], r["request_resource"], r["endpoint"],
                          r["response_code"], r["response_status"], r["request_id"])
                         for r in sel)
            assert got == sorted(want), (obs, comm, recs)
            for r in sel:
                assert r["l7_protocol"] == "HTTP2" and r["version"] == "2" and r["type"] == 2
                assert r["request_domain"] == f"127.0.0.1:{port}"
                if r["request_type"] == "POST":
                    assert r["x_request_id_0"] == "rid-7"
        assert len(mine) == len(curl_want) + len(node_want)
        # node's four streams share one connection
        assert len({r["client_port"] for r in mine if r["request_id"] in (3, 5, 7)}) == 1
    # both ends saw the same bytes
    cp = {(r["client_port"], r["request_id"]): r for r in recs if r["observation_point"] == "c-p"}
    sp = {(r["client_port"], r["request_id"]): r for r in recs if r["observation_point"] == "s-p"}
    assert cp.keys() == sp.keys()
    for k in cp:
        assert cp[k]["request_length"] == sp[k]["request_length"]
        assert cp[k]["response_length"] == sp[k]["response_length"]


# An ASGI app for hypercorn (python3-hypercorn), which takes an HTTP/1.1 "Upgrade: h2c"
# (nginx and nghttpd do not) unless the request has a body: that one it answers in HTTP/1.1.
H2C_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status = {"/missing": 404, "/fail": 503}.get(scope["path"], 200)
    body = b"hello\\n" if status == 200 else b"no\\n"
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


@pytest.fixture
def hypercorn_h2c():
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-h2c-"))
    (d / "h2capp.py").write_text(H2C_APP)
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "hypercorn", "--bind",
                             f"127.0.0.1:{port}", "h2capp:app"], cwd=d,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_port(port)
        except Exception:
            proc.kill()
            raise AssertionError("hypercorn did not start (apt-get install python3-hypercorn):\n"
                                 + proc.communicate()[1].decode())
        yield {"port": port, "pid": proc.pid}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def test_h2c_upgrade_hypercorn(hypercorn_h2c, agent_factory):
    port = hypercorn_h2c["port"]
    base = f"http://127.0.0.1:{port}"
    agent = agent_factory()
    # One connection: GET /a goes as HTTP/1.1 offering h2c, hypercorn switches (101) and
    # answers on stream 1; the next two are HTTP/2 streams 3 and 5.
    p = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-o", "/dev/null",
                        "-o", "/dev/null", "-w", "%{http_version} %{response_code}\\n",
                        "-H", "X-Request-ID: up-1", f"{base}/a", f"{base}/missing?x=1",
                        f"{base}/fail"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.split() == ["2", "200", "2", "404", "2", "503"], \
        (p.stdout, p.stderr)
    # An offer with a body: hypercorn declines and answers in HTTP/1.1.
    p = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                        "-d", "a=1", f"{base}/post"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "1.1", (p.stdout, p.stderr)
    recs = on_port(agent.stop(), port)
    want = [  # l7_protocol, version, method, resource, endpoint, code, status, request_id
        ("HTTP", "1.1", "GET", "/a", "/a", 200, 0, 1),
        ("HTTP2", "2", "GET", "/missing?x=1", "/missing", 404, 4, 3),
        ("HTTP2", "2", "GET", "/fail", "/fail", 503, 3, 5),
        ("HTTP", "1.1", "POST", "/post", "/post", 200, 0, None),
    ]
    for obs, comm_key, comm in (("c-p", "process_kname_0", "curl"),
                                ("s-p", "process_kname_1", "python3")):
        mine = [r for r in recs if r["observation_point"] == obs]
        assert all(r[comm_key] == comm for r in mine), (obs, mine)
        got = sorted(((r["l7_protocol"], r["version"], r["request_type"],
                       r["request_resource"], r["endpoint"], r["response_code"],
                       r["response_status"], r["request_id"]) for r in mine),
                     key=lambda t: (t[7] or 99, t[2]))
        assert got == want, (obs, mine)
        for r in mine:
            assert r["type"] == 2 and r["request_domain"] == f"127.0.0.1:{port}", r
            assert r["response_duration"] == r["end_time"] - r["start_time"]
        up = [r for r in mine if r["request_id"] == 1][0]
        assert up["x_request_id_0"] == "up-1"
        # stream 1's answer: HEADERS (status, content-length, date, server) + DATA "hello\n"
        assert 9 + 6 < up["response_length"] < 200, up
        # streams 1, 3 and 5 share one connection; the declined offer is another
        assert len({r["client_port"] for r in mine if r["request_id"]}) == 1
        assert len({r["client_port"] for r in mine}) == 2
    assert agent.stats["protocol_switches"] == 2  # the connection, seen from each end
    # both ends saw the same bytes
    cp = {(r["client_port"], r["request_id"]): r for r in recs if r["observation_point"] == "c-p"}
    sp = {(r["client_port"], r["request_id"]): r for r in recs if r["observation_point"] == "s-p"}
    assert cp.keys() == sp.keys() and len(cp) == 4
    for k in cp:
        for f in ("request_length", "response_length", "req_tcp_seq", "resp_tcp_seq"):
            assert cp[k][f] == sp[k][f], (k, f, cp[k], sp[k])


def npm_ready():
    if not (GRPC_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        for tool in ("node", "npm"):
            assert shutil.which(tool), f"{tool} missing: scripts/install-deps.sh --test"
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=GRPC_DIR,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, "npm ci failed:\n" + p.stdout + p.stderr


def test_grpc_node_unary_error_and_stream(agent_factory):
    npm_ready()
    port = free_port()
    srv = subprocess.Popen(["node", "server.js", str(port)], cwd=GRPC_DIR,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening"
        agent = agent_factory()
        cli = subprocess.run(["node", "client.js", str(port)], cwd=GRPC_DIR,
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.split("\n")[:3] == ["hello world", "error 5", "3"]
        recs = on_port(agent.stop(), port)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    want = [("demo.Greeter", "/demo.Greeter/SayHello", 0, 0, "", 1),
            ("demo.Greeter", "/demo.Greeter/SayHello", 5, 4, "no such user", 3),
            ("demo.Greeter", "/demo.Greeter/SayHellos", 0, 0, "", 5)]
    for obs in ("c-p", "s-p"):
        mine = [r for r in recs if r["observation_point"] == obs]
        got = sorted((r["request_resource"], r["endpoint"], r["response_code"],
                      r["response_status"], r["response_exception"], r["request_id"])
                     for r in mine)
        assert got == want, (obs, recs)
        for r in mine:
            assert (r["l7_protocol"], r["request_type"], r["version"], r["type"]) == \
                ("gRPC", "POST", "2", 2)
            assert r["request_domain"] == f"127.0.0.1:{port}"
    cp = {r["request_id"]: r for r in recs if r["observation_point"] == "c-p"}
    sp = {r["request_id"]: r for r in recs if r["observation_point"] == "s-p"}
    for k in cp:
        assert cp[k]["request_length"] == sp[k]["request_length"]
        assert cp[k]["response_length"] == sp[k]["response_length"]
