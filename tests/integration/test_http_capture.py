# SPDX-License-Identifier: Apache-2.0
"""End-to-end HTTP/1.x capture: real nginx, curl and raw-socket clients, the real agent.

Each test starts the agent, drives traffic, stops the agent with SIGINT and asserts the
exact set of records: one c-p record in the client process and one s-p record in the
server process per exchange, with their fields, and matching TCP sequences on both ends.
"""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import AGENT, free_port, wait_port

SELF_COMM = open("/proc/self/comm").read().strip()
SELF_PID = os.getpid()


# ---- clients ------------------------------------------------------------------------

def curl(*args):
    """Run curl; return (wall time in µs, the -w lines, pid)."""
    fmt = "%{size_request} %{size_upload} %{size_header} %{size_download}\\n"
    t0 = time.monotonic()
    p = subprocess.Popen(["curl", "-sS", "-w", fmt, *args], stdout=subprocess.PIPE,
                         text=True)
    out, _ = p.communicate(timeout=30)
    wall = int((time.monotonic() - t0) * 1e6)
    assert p.returncode == 0, f"curl {args} failed"
    sizes = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line]
    return wall, sizes, p.pid


def read_response(sock, buf, head_only=False):
    """Read one HTTP response with Content-Length from sock; return (length, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a full response"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    if head_only:
        length = 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return len(head) + 4 + length, rest[length:]


def raw_exchange(port, chunks, responses, pause=0.02, sock=None):
    """Send chunks (one syscall each), read `responses` responses. Returns
    (wall µs, bytes sent, [response lengths], client port)."""
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    for c in chunks:
        sock.sendall(c)
        time.sleep(pause)
    lengths, rest = [], b""
    for _ in range(responses):
        n, rest = read_response(sock, rest)
        lengths.append(n)
    wall = int((time.monotonic() - t0) * 1e6)
    cport = sock.getsockname()[1]
    if own:
        sock.close()
    return wall, sum(len(c) for c in chunks), lengths, cport


# ---- assertions ---------------------------------------------------------------------

def on_ports(records, *ports):
    return [r for r in records if r["server_port"] in ports]


def by_resource(records):
    out = {}
    for r in records:
        out.setdefault(r["request_resource"], []).append(r)
    return out


def status_for(code):
    if code is None:
        return 2
    return 4 if 400 <= code < 500 else 3 if code >= 500 else 0


def check_pair(recs, *, method, code, client_comm, client_pid, server_comm,
               server_pids, wall, req_len=None, resp_len=None, domain=None, port=None,
               version="1.1"):
    """Exactly one c-p and one s-p record for this exchange, consistent with each other."""
    cp = [r for r in recs if r["observation_point"] == "c-p"]
    sp = [r for r in recs if r["observation_point"] == "s-p"]
    assert len(cp) == 1 and len(sp) == 1, f"expected one c-p and one s-p: {recs}"
    cp, sp = cp[0], sp[0]
    for r in (cp, sp):
        assert r["table"] == "l7_flow_log"
        assert r["type"] == 2
        assert r["signal_source"] == 3
        assert r["l7_protocol"] == "HTTP"
        assert r["version"] == version
        assert r["protocol"] == 6
        assert r["request_type"] == method
        assert r["response_code"] == code
        assert r["response_status"] == status_for(code)
        assert r["ip4_0"] == "127.0.0.1" and r["ip4_1"] == "127.0.0.1"
        assert 0 < r["response_duration"] <= wall, (r["response_duration"], wall)
        assert r["end_time"] - r["start_time"] == r["response_duration"]
        if domain is not None:
            assert r["request_domain"] == domain
        if port is not None:
            assert r["server_port"] == port
    assert cp["process_kname_0"] == client_comm and cp["process_kname_1"] == ""
    assert cp["process_id_0"] == client_pid and cp["process_id_1"] == 0
    assert sp["process_kname_1"] == server_comm and sp["process_kname_0"] == ""
    assert sp["process_id_1"] in server_pids and sp["process_id_0"] == 0
    # Both ends of the one TCP connection agree on where each message starts.
    assert cp["req_tcp_seq"] == sp["req_tcp_seq"] != 0
    assert cp["resp_tcp_seq"] == sp["resp_tcp_seq"] != 0
    assert cp["client_port"] == sp["client_port"]
    assert cp["request_length"] == sp["request_length"]
    assert cp["response_length"] == sp["response_length"]
    if req_len is not None:
        assert cp["request_length"] == req_len
    if resp_len is not None:
        assert cp["response_length"] == resp_len
    return cp, sp


# ---- tests --------------------------------------------------------------------------

def test_nginx_exchanges_seen_from_both_ends(nginx, agent_factory, tmpdir_path):
    port, up = nginx["port"], nginx["upstream"]
    base = f"http://127.0.0.1:{port}"
    agent = agent_factory()

    # Keep-alive: three URLs on one connection, one with an X-Request-ID.
    w_ka, s_ka, pid_ka = curl("-H", "X-Request-ID: rid-42",
                              "-o", "/dev/null", f"{base}/ok?case=ka",
                              "-o", "/dev/null", f"{base}/notfound?case=ka",
                              "-o", "/dev/null", f"{base}/error?case=ka")
    w_post, s_post, pid_post = curl("-o", "/dev/null", "-d", "a=1&b=2",
                                    f"{base}/created?case=post")
    body = tmpdir_path / "chunked.bin"
    body.write_bytes(b"c" * 3000)
    w_chunk, _, pid_chunk = curl("-o", "/dev/null", "-H", "Transfer-Encoding: chunked",
                                 "--data-binary", f"@{body}", f"{base}/upload?case=chunked")
    w_head, s_head, pid_head = curl("-o", "/dev/null", "-I", f"{base}/ok?case=head")
    w_1k, s_1k, pid_1k = curl("-o", "/dev/null", f"{base}/static/1k.bin")
    w_100k, s_100k, pid_100k = curl("-o", "/dev/null", f"{base}/static/100k.bin")
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    w_tp, s_tp, pid_tp = curl("-o", "/dev/null", "-H", f"traceparent: {tp}",
                              f"{base}/ok?case=traceparent")
    w_px, s_px, pid_px = curl("-o", "/dev/null", f"{base}/proxy/hop?case=proxy")

    # Three pipelined requests in one write, from this process.
    pipelined = b"".join(
        f"GET /ok?case=pipe{i} HTTP/1.1\r\nHost: pipe\r\n\r\n".encode() for i in range(3))
    w_pipe, sent_pipe, lens_pipe, _ = raw_exchange(port, [pipelined], 3)
    # A header dribbled over many writes, then a 50 KB body in one write.
    split = [b"POST /created?case=split HTT", b"P/1.1\r\nHo", b"st: split\r\nContent-Le",
             b"ngth: 50000\r\n", b"\r\n", b"x" * 50000]
    w_split, sent_split, lens_split, _ = raw_exchange(port, split, 1)
    # A chunked upload with exactly known framing, in one write: nginx answers `return`
    # locations before reading the body, so a body sent later would be read after the
    # response and the two ends would rightly disagree on the request's length.
    chunked = [b"POST /upload?case=rawchunk HTTP/1.1\r\nHost: rc\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
               b"6;ext=1\r\n world\r\n0\r\n\r\n"]
    w_rc, sent_rc, lens_rc, _ = raw_exchange(port, chunked, 1)

    records = on_ports(agent.stop(), port, up)
    res = by_resource(records)
    workers = nginx["workers"]
    srv = dict(server_comm="nginx", server_pids=workers)

    def sizes_req(s):
        return s[0]  # curl's size_request counts the body it uploaded too

    def sizes_resp(s):
        return s[2] + s[3]

    for i, (path, code) in enumerate([("/ok?case=ka", 200), ("/notfound?case=ka", 404),
                                      ("/error?case=ka", 500)]):
        cp, sp = check_pair(res[path], method="GET", code=code, client_comm="curl",
                            client_pid=pid_ka, wall=w_ka, req_len=sizes_req(s_ka[i]),
                            resp_len=sizes_resp(s_ka[i]), domain=f"127.0.0.1:{port}",
                            port=port, **srv)
        assert cp["x_request_id_0"] == sp["x_request_id_0"] == "rid-42"
        assert cp["endpoint"] == path.split("?")[0]
    # One connection for all three.
    assert len({r["client_port"] for p in ("/ok?case=ka", "/notfound?case=ka",
                                           "/error?case=ka") for r in res[p]}) == 1
    assert res["/error?case=ka"][0]["response_exception"] == "Internal Server Error"
    assert res["/notfound?case=ka"][0]["response_exception"] == "Not Found"

    check_pair(res["/created?case=post"], method="POST", code=201, client_comm="curl",
               client_pid=pid_post, wall=w_post, req_len=sizes_req(s_post[0]),
               resp_len=sizes_resp(s_post[0]), **srv)
    check_pair(res["/upload?case=chunked"], method="POST", code=200, client_comm="curl",
               client_pid=pid_chunk, wall=w_chunk, **srv)
    check_pair(res["/ok?case=head"], method="HEAD", code=200, client_comm="curl",
               client_pid=pid_head, wall=w_head, req_len=sizes_req(s_head[0]),
               resp_len=sizes_resp(s_head[0]), **srv)
    # Bodies sent with sendfile(), the 100 KB one far beyond the capture size.
    check_pair(res["/static/1k.bin"], method="GET", code=200, client_comm="curl",
               client_pid=pid_1k, wall=w_1k, req_len=sizes_req(s_1k[0]),
               resp_len=sizes_resp(s_1k[0]), **srv)
    assert s_1k[0][3] == 1024
    check_pair(res["/static/100k.bin"], method="GET", code=200, client_comm="curl",
               client_pid=pid_100k, wall=w_100k, req_len=sizes_req(s_100k[0]),
               resp_len=sizes_resp(s_100k[0]), **srv)
    cp, sp = check_pair(res["/ok?case=traceparent"], method="GET", code=200,
                        client_comm="curl", client_pid=pid_tp, wall=w_tp, **srv)
    assert cp["trace_id"] == sp["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert cp["span_id"] == sp["span_id"] == "b7ad6b7169203331"

    # The proxied request: curl -> nginx, then nginx -> its upstream server.
    check_pair(res["/proxy/hop?case=proxy"], method="GET", code=200, client_comm="curl",
               client_pid=pid_px, wall=w_px, req_len=sizes_req(s_px[0]),
               resp_len=sizes_resp(s_px[0]), port=port, **srv)
    check_pair(res["/hop?case=proxy"], method="GET", code=200, client_comm="nginx",
               client_pid=next(iter(workers)), wall=w_px, port=up, version="1.0",
               **srv)  # nginx speaks HTTP/1.0 to upstreams unless told otherwise

    for i in range(3):
        check_pair(res[f"/ok?case=pipe{i}"], method="GET", code=200,
                   client_comm=SELF_COMM, client_pid=SELF_PID, wall=w_pipe,
                   req_len=len(pipelined) // 3, resp_len=lens_pipe[i], domain="pipe", **srv)
    check_pair(res["/created?case=split"], method="POST", code=201, client_comm=SELF_COMM,
               client_pid=SELF_PID, wall=w_split, req_len=sent_split,
               resp_len=lens_split[0], domain="split", **srv)
    check_pair(res["/upload?case=rawchunk"], method="POST", code=200, client_comm=SELF_COMM,
               client_pid=SELF_PID, wall=w_rc, req_len=sent_rc, resp_len=lens_rc[0], **srv)

    # Nothing else: every record on these ports is one of the exchanges above.
    expected = {"/ok?case=ka", "/notfound?case=ka", "/error?case=ka", "/created?case=post",
                "/upload?case=chunked", "/ok?case=head", "/static/1k.bin",
                "/static/100k.bin", "/ok?case=traceparent", "/proxy/hop?case=proxy",
                "/hop?case=proxy", "/ok?case=pipe0", "/ok?case=pipe1", "/ok?case=pipe2",
                "/created?case=split", "/upload?case=rawchunk"}
    assert set(res) == expected
    assert len(records) == 2 * len(expected)
    assert agent.stats["drop_ringbuf_full"] == 0
    assert agent.stats["parse_failures"] == 0


def test_connection_open_before_agent_starts(nginx, agent_factory):
    port = nginx["port"]
    sock = socket.create_connection(("127.0.0.1", port))
    raw_exchange(port, [b"GET /ok?case=before HTTP/1.1\r\nHost: x\r\n\r\n"], 1, sock=sock)
    agent = agent_factory()
    wall, sent, lens, cport = raw_exchange(
        port, [b"GET /ok?case=after HTTP/1.1\r\nHost: x\r\n\r\n"], 1, sock=sock)
    sock.close()
    records = [r for r in on_ports(agent.stop(), port) if r["client_port"] == cport]
    res = by_resource(records)
    assert set(res) == {"/ok?case=after"}
    check_pair(res["/ok?case=after"], method="GET", code=200, client_comm=SELF_COMM,
               client_pid=SELF_PID, wall=wall, req_len=sent, resp_len=lens[0],
               server_comm="nginx", server_pids=nginx["workers"])


def silent_server(port, stop):
    """Accepts, reads requests, never answers."""
    ls = socket.create_server(("127.0.0.1", port))
    ls.settimeout(0.2)
    conns = []
    while not stop.is_set():
        try:
            c, _ = ls.accept()
            c.settimeout(0.2)
            conns.append(c)
        except socket.timeout:
            pass
        for c in conns:
            try:
                c.recv(65536)
            except (socket.timeout, OSError):
                pass
    for c in conns:
        c.close()
    ls.close()


def test_unanswered_request_becomes_timeout(agent_factory):
    port = free_port()
    stop = threading.Event()
    t = threading.Thread(target=silent_server, args=(port, stop))
    t.start()
    try:
        time.sleep(0.3)
        agent = agent_factory("--request-timeout", "1s")
        sock = socket.create_connection(("127.0.0.1", port))
        req = b"GET /never HTTP/1.1\r\nHost: silent\r\n\r\n"
        sock.sendall(req)
        time.sleep(2.5)  # past the timeout, connection still open
        records = on_ports(agent.stop(), port)
        sock.close()
    finally:
        stop.set()
        t.join()
    assert len(records) == 2, records
    assert {r["observation_point"] for r in records} == {"c-p", "s-p"}
    for r in records:
        assert r["type"] == 0
        assert r["response_status"] == 2
        assert r["response_code"] is None
        assert r["response_duration"] is None
        assert r["request_resource"] == "/never"
        assert r["request_length"] == len(req)
        assert r["response_length"] is None
    assert agent.stats["timeouts"] == 2


GARBAGE_SCRIPT = r"""
import ctypes, os, random, socket, sys, threading
ctypes.CDLL(None).prctl(15, b"fs-garbage", 0, 0, 0)   # PR_SET_NAME
port = int(sys.argv[1])
ls = socket.create_server(("127.0.0.1", port))
def serve():
    for _ in range(3):
        c, _ = ls.accept()
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(b"\x00\xff\x10binary-reply\x00")
        c.close()
threading.Thread(target=serve, daemon=True).start()
rnd = random.Random(7)
payloads = [
    bytes(rnd.getrandbits(8) for _ in range(4096)),
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
]
for p in payloads:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(p)
    s.recv(65536)
    s.close()
"""


def test_malformed_and_binary_traffic(agent_factory, tmpdir_path):
    port = free_port()
    script = tmpdir_path / "garbage.py"
    script.write_text(GARBAGE_SCRIPT)
    agent = agent_factory("--comm", "fs-garbage")
    subprocess.run(["/usr/bin/python3", str(script), str(port)], check=True, timeout=30)
    records = agent.stop()
    assert records == []
    # The two HTTP-looking requests fail to parse at both ends (client and server socket).
    assert agent.stats["parse_failures"] == 4
    assert agent.stats["unclassified_events"] >= 2
    assert agent.stats["events_data"] > 0


def test_cli_help_and_errors():
    h = subprocess.run([str(AGENT), "--help"], capture_output=True, text=True)
    assert h.returncode == 0
    for flag in ("--stdout", "--pid", "--comm", "--capture-bytes", "--stats",
                 "--request-timeout", "--print-config", "--config"):
        assert flag in h.stdout
    bad = subprocess.run([str(AGENT), "--capture-bytes", "99999"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "--capture-bytes" in bad.stderr
    unknown = subprocess.run([str(AGENT), "--stdot"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "--stdout" in unknown.stderr
    cfg = subprocess.run([str(AGENT), "--print-config", "--capture-bytes", "4096"],
                         capture_output=True, text=True)
    assert cfg.returncode == 0 and "capture_bytes: 4096" in cfg.stdout
    none = subprocess.run([str(AGENT)], capture_output=True, text=True)
    assert none.returncode == 2 and "--stdout" in none.stderr


SYSCALLS_SCRIPT = r"""
import ctypes, os, socket, sys, threading
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)   # PR_SET_NAME
family = socket.AF_INET6 if sys.argv[3] == "6" else socket.AF_INET
host = {"4": "127.0.0.1", "6": "::1", "mapped": "127.0.0.1"}[sys.argv[3]]
ls = socket.socket(socket.AF_INET6 if sys.argv[3] != "4" else socket.AF_INET)
if sys.argv[3] == "mapped":
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.bind(("::" if sys.argv[3] != "4" else host, int(sys.argv[1])))
ls.listen(1)
body = b"0123456789" * 5
def serve():
    c, _ = ls.accept()
    b1, b2 = bytearray(20), bytearray(200)
    n = c.recvmsg_into([b1, b2])[0]                       # recvmsg with two iovecs
    assert bytes(b1 + b2)[:n].endswith(b"\r\n\r\n"), (b1, b2)
    c.sendmsg([b"HTTP/1.1 200 OK\r\n",                    # sendmsg with three iovecs
               b"Content-Length: 50\r\n\r\n", body])
    c.close()
threading.Thread(target=serve).start()
s = socket.create_connection((host, int(sys.argv[1])))
os.writev(s.fileno(), [b"GET /vec HTTP/1.1\r\n", b"Host: v\r\n\r\n"])   # writev
want = len(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n") + 50
got = b""
while len(got) < want:
    a, b = bytearray(16), bytearray(100)
    n = os.readv(s.fileno(), [a, b])                      # readv
    got += bytes(a + b)[:n]
s.close()
# UDP: three datagrams with sendto/recvfrom; the peer address comes from the call.
u1 = socket.socket(family, socket.SOCK_DGRAM); u1.bind((host, 0))
u2 = socket.socket(family, socket.SOCK_DGRAM); u2.bind((host, 0))
for i in range(3):
    u1.sendto(b"x" * (10 + i), u2.getsockname())
    u2.recvfrom(100)
print(u1.getsockname()[1], u2.getsockname()[1])
"""


@pytest.mark.parametrize("family", ["4", "6", "mapped"])
def test_vector_syscalls_udp_and_address_families(agent_factory, tmpdir_path, family):
    port = free_port()
    script = tmpdir_path / "syscalls.py"
    script.write_text(SYSCALLS_SCRIPT)
    comm = f"fs-sys-{family}"
    agent = agent_factory("--comm", comm)
    out = subprocess.run(["/usr/bin/python3", str(script), str(port), comm, family],
                         check=True, timeout=30, capture_output=True, text=True).stdout
    records = agent.stop()
    assert len(records) == 2, records
    ipkey = "ip6_0" if family == "6" else "ip4_0"
    addr = "::1" if family == "6" else "127.0.0.1"
    for r in records:
        assert r[ipkey] == addr and r[ipkey.replace("_0", "_1")] == addr
        assert r["server_port"] == port
        assert r["request_resource"] == "/vec"
        assert r["request_length"] == len(b"GET /vec HTTP/1.1\r\nHost: v\r\n\r\n")
        assert r["response_length"] == len(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n") + 50
        assert r["response_code"] == 200 and r["type"] == 2
        assert r["process_kname_0"] + r["process_kname_1"] == comm
    assert {r["observation_point"] for r in records} == {"c-p", "s-p"}
    cp = next(r for r in records if r["observation_point"] == "c-p")
    sp = next(r for r in records if r["observation_point"] == "s-p")
    assert cp["req_tcp_seq"] == sp["req_tcp_seq"] and cp["resp_tcp_seq"] == sp["resp_tcp_seq"]
    # Exact kernel accounting: 1 writev + 1 recvmsg + 1 sendmsg + N readv on TCP, and
    # 3 sendto + 3 recvfrom on UDP, 3 * (10+11+12) UDP bytes; nothing lost.
    tcp_bytes = 2 * (len(b"GET /vec HTTP/1.1\r\nHost: v\r\n\r\n") +
                     len(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n") + 50)
    assert agent.stats["kernel_bytes"] == tcp_bytes + 2 * 33
    assert agent.stats["drop_ringbuf_full"] == 0 and agent.stats["drop_read_fail"] == 0
    assert agent.stats["unclassified_events"] == 6  # the UDP datagrams


MANY_IOV_SCRIPT = r"""
import ctypes, os, socket, sys, threading
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)   # PR_SET_NAME
ls = socket.socket(); ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
path = "/" + "p" * 300
req = f"GET {path} HTTP/1.1\r\nHost: v\r\nX-Pad: {'x' * 200}\r\n\r\n".encode()
resp = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"b" * 400
def serve():
    c, _ = ls.accept()
    got = b""
    while not got.endswith(b"\r\n\r\n"):
        got += c.recv(4096)
    # sendmsg of one iovec per byte: 440 iovecs, as an event loop flushing queued writes
    c.sendmsg([resp[i:i + 1] for i in range(len(resp))])
    c.close()
threading.Thread(target=serve).start()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
# writev of one iovec per byte: more than 500 (the kernel takes up to 1024)
n = os.writev(s.fileno(), [req[i:i + 1] for i in range(len(req))])
assert n == len(req)
got = b""
while len(got) < len(resp):
    got += s.recv(4096)
s.close()
print(len(req), len(resp))
"""


def test_many_iovecs(agent_factory, tmpdir_path):
    """A request written with one writev of a byte per iovec (more than 500 iovecs) and
    its response sent with one sendmsg of 440: both ends' records are whole (what an
    event loop does when it flushes many queued messages at once: Node.js writev)."""
    port = free_port()
    script = tmpdir_path / "iov.py"
    script.write_text(MANY_IOV_SCRIPT)
    agent = agent_factory("--comm", "fs-iov", "--capture-bytes", "4096")
    out = subprocess.run(["/usr/bin/python3", str(script), str(port), "fs-iov"], check=True,
                         timeout=30, capture_output=True, text=True).stdout
    req_len, resp_len = map(int, out.split())
    assert req_len > 500
    records = agent.stop()
    assert sorted(r["observation_point"] for r in records) == ["c-p", "s-p"], records
    for r in records:
        assert r["request_resource"] == "/" + "p" * 300
        assert r["request_length"] == req_len and r["response_length"] == resp_len
        assert r["response_code"] == 200 and r["type"] == 2
    assert agent.stats["drop_iov_limit"] == 0
    assert agent.stats["kernel_truncated"] == 0


EXPECT_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # so that Expect: 100-continue is answered
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        out = b"got %d\n" % len(body)
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_expect_100_continue(agent_factory, tmpdir_path):
    port = free_port()
    script = tmpdir_path / "expect.py"
    script.write_text(EXPECT_SERVER)
    server = subprocess.Popen(["/usr/bin/python3", str(script), str(port)])
    try:
        wait_port(port)
        agent = agent_factory()
        body = tmpdir_path / "body.bin"
        body.write_bytes(b"e" * 2000)
        wall, sizes, pid = curl("-o", "/dev/null", "-H", "Expect: 100-continue",
                                "--data-binary", f"@{body}",
                                f"http://127.0.0.1:{port}/expect")
        records = on_ports(agent.stop(), port)
    finally:
        server.kill()
        server.wait()
    interim = len(b"HTTP/1.1 100 Continue\r\n\r\n")
    # curl counts the interim response among the response headers; the exchange's
    # response is the final one, so its length leaves the 100 out.
    check_pair(records, method="POST", code=200, client_comm="curl", client_pid=pid,
               server_comm="python3", server_pids={server.pid}, wall=wall,
               req_len=sizes[0][0] + sizes[0][1],  # headers, then the body once allowed
               resp_len=sizes[0][2] - interim + sizes[0][3])


def test_ring_buffer_full_is_counted_and_recovers(nginx, agent_factory):
    """A ring far too small for a burst: events are dropped and counted, nothing crashes,
    nothing is invented, and once the burst is over capture is complete again."""
    port = nginx["port"]
    agent = agent_factory("--ringbuf-size", "64KiB", "--wakeup-bytes", "1GiB",
                          "--poll-interval", "1s", "--request-timeout", "1s")
    sock = socket.create_connection(("127.0.0.1", port))
    burst = 900  # under nginx keepalive_requests (1000): one connection
    for i in range(burst):
        raw_exchange(port, [f"GET /ok?burst={i} HTTP/1.1\r\nHost: b\r\n\r\n".encode()], 1,
                     pause=0, sock=sock)
    sock.close()
    time.sleep(2.5)  # the agent drains the ring; requests that lost their answer time out
    # Three exchanges after the burst, more than a poll interval apart: the agent captures
    # the whole host, and other processes' events can fill a 64 KiB ring between two polls
    # (a loaded CI machine), so one of them may be lost for reasons that are not the burst.
    afters = []
    for k in range(3):
        afters.append(raw_exchange(
            port, [f"GET /ok?after=burst{k} HTTP/1.1\r\nHost: b\r\n\r\n".encode()], 1))
        time.sleep(1.2)
    records = on_ports(agent.stop(), port)
    assert agent.stats["drop_ringbuf_full"] > 0
    assert agent.stats["kernel_events"] > 0
    # Whatever was recorded is real: resources that were requested, or none (a response
    # whose request event was lost).
    valid = {f"/ok?burst={i}" for i in range(burst)} | {f"/ok?after=burst{k}" for k in range(3)}
    valid |= {""}
    assert {r["request_resource"] for r in records} <= valid
    burst_sessions = [r for r in records if r["type"] == 2 and "burst=" in r["request_resource"]]
    assert 0 < len(burst_sessions) < 2 * burst
    for r in burst_sessions:
        assert r["response_code"] == 200
    # After the burst: both ends of the exchanges that follow, complete (every one of them
    # on a quiet machine; at least one whatever else runs).
    res = by_resource(records)
    complete = [k for k in range(3) if len(res.get(f"/ok?after=burst{k}", [])) == 2]
    assert complete, {k: res.get(f"/ok?after=burst{k}") for k in range(3)}
    for k in complete:
        wall, sent, lens, cport = afters[k]
        check_pair(res[f"/ok?after=burst{k}"], method="GET", code=200, client_comm=SELF_COMM,
                   client_pid=SELF_PID, server_comm="nginx", server_pids=nginx["workers"],
                   wall=wall, req_len=sent, resp_len=lens[0], domain="b")


def test_connection_table_stays_bounded(nginx, agent_factory):
    """More open connections than max_connections: the least recently active are evicted
    (counted), the table never grows past its bound, and no exchange is lost."""
    port = nginx["port"]
    agent = agent_factory("--max-connections", "16")
    socks = []
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", port))
        raw_exchange(port, [f"GET /ok?conn={i} HTTP/1.1\r\nHost: t\r\n\r\n".encode()], 1,
                     pause=0, sock=s)
        socks.append(s)  # kept open: only eviction can free their entries
    records = on_ports(agent.stop(), port)
    for s in socks:
        s.close()
    res = by_resource(records)
    assert set(res) == {f"/ok?conn={i}" for i in range(100)}
    assert all(len(v) == 2 for v in res.values())  # c-p and s-p for every exchange
    # 200 sockets (both ends of 100 connections) through a table of 16.
    assert agent.stats["conns_evicted_full"] >= 200 - 16
    assert agent.stats["conns_peak"] == 16
    assert agent.stats["conns_active"] == 0  # shutdown flushed the rest
