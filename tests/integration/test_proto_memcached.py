# SPDX-License-Identifier: Apache-2.0
"""Memcached request logs.

- The reference capture memcached.pcap through --read-pcap: every record checked against
  tshark's memcache dissection of the same file (command, key, reply, TCP sequence) and
  against DeepFlow's parse beside it (with --keep-sensitive-values the resource is
  DeepFlow's request text; the result its reply line). memcached-userdata.pcap is in a
  capture format libpcap refuses: left out.
- Live: a memcached of our own on a free loopback port, driven by libmemcached-tools
  (memccp, memccat, memcrm, in text and with --binary) and by a scripted text session
  over a socket (storage, retrieval, incr/decr, noreply, errors); exact records on the
  client (c-p) and the server (s-p) side.
"""
import json
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--stats", "--ebpf=false", *args,
                        "--read-pcap", str(path)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def tshark_memcache(path):
    fields = ["tcp.srcport", "tcp.seq_raw", "memcache.command", "memcache.key",
              "memcache.response"]
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "memcache", "-T", "fields",
                          "-E", "separator=\t", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def test_capture_matches_tshark_and_deepflow():
    need_pcaps()
    path = PCAPS / "memcached" / "memcached.pcap"
    recs = read_pcap(path)
    ts = tshark_memcache(path)
    reqs = [t for t in ts if t["tcp.srcport"] != "11211"]
    resps = [t for t in ts if t["tcp.srcport"] == "11211"]
    assert len(recs) == len(reqs) == 3
    for r, q in zip(sorted(recs, key=lambda r: r["req_tcp_seq"]), reqs):
        assert r["l7_protocol"] == "Memcached" and r["server_port"] == 11211
        assert r["request_type"] == q["memcache.command"]
        assert r["request_resource"] == q["memcache.key"]
        # tshark reassembles "set foo 0 0 3\r\n" + "bar\r\n": it reports the second segment
        assert r["response_status"] == 0 and r["response_exception"] == ""
    by_type = {r["request_type"]: r for r in recs}
    assert by_type["set"]["response_result"] == resps[0]["memcache.response"] == "STORED"
    assert by_type["set"]["request_length"] == 20
    assert by_type["get"]["resp_tcp_seq"] == int(resps[1]["tcp.seq_raw"])
    assert by_type["get"]["response_length"] == 25
    assert by_type["quit"]["type"] == 0  # no reply by design
    # DeepFlow's parse: its request text with values kept, its result line
    df_req, df_res = [], []
    for line in path.with_suffix(".result").read_text().splitlines():
        if line.startswith("MemcachedInfo") and "msg_type: Request" in line:
            df_req.append(line.split("request: ", 1)[1].split(" req_size:", 1)[0])
        if line.startswith("MemcachedInfo") and "msg_type: Response" in line:
            df_res.append(line.split("result: ", 1)[1].split(" err_msg:", 1)[0])
    full = read_pcap(path, "--keep-sensitive-values")
    full = sorted(full, key=lambda r: r["req_tcp_seq"])
    assert [r["request_resource"] for r in full if r["type"] == 2] == df_req
    assert [r["response_result"] for r in full if r["type"] == 2] == df_res


# ---- live --------------------------------------------------------------------------------

@pytest.fixture
def memcached():
    exe = shutil.which("memcached") or shutil.which("memcached", path="/usr/bin:/usr/sbin")
    for tool in ("memccp", "memccat", "memcrm"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing (Debian package libmemcached-tools; "
                        f"scripts/install-deps.sh --test installs it)")
    if not exe:
        pytest.fail("memcached missing (Debian package memcached; "
                    "scripts/install-deps.sh --test installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16",
                             "-u", "nobody"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield {"port": port, "pid": proc.pid}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


SCRIPT = [
    (b"set k1 0 0 6\r\nsecret\r\n", b"STORED\r\n"),
    (b"get k1 nope\r\n", b"END\r\n"),
    (b"add k1 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
    (b"incr k1 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    (b"set n 0 0 1 noreply\r\n5\r\n", None),
    (b"incr n 10\r\n", b"15\r\n"),
    (b"delete nope\r\n", b"NOT_FOUND\r\n"),
    (b"bogus\r\n", b"ERROR\r\n"),
]


def fields(r):
    return (r["type"], r["request_type"], r["request_resource"], r["response_status"],
            r["response_exception"], r["response_result"], r["request_id"] is not None)


def test_memcached_clients(memcached, agent_factory, tmp_path):
    port = memcached["port"]
    agent = agent_factory()
    with socket.create_connection(("127.0.0.1", port)) as s:
        for req, want in SCRIPT:
            s.sendall(req)
            if want is None:
                continue
            buf = b""
            while not buf.endswith(want):
                d = s.recv(4096)
                assert d, (req, buf)
                buf += d
            if req.startswith(b"get"):
                assert buf == b"VALUE k1 0 6\r\nsecret\r\nEND\r\n"
            else:
                assert buf == want, (req, buf)
    src = tmp_path / "f1"
    src.write_text("file body")
    srv = f"--servers=127.0.0.1:{port}"
    for binary in ([], ["--binary"]):
        subprocess.run(["memccp", srv, *binary, str(src)], check=True, timeout=30,
                       cwd=tmp_path)
        out = subprocess.run(["memccat", srv, *binary, "f1"], check=True, timeout=30,
                             capture_output=True, text=True).stdout
        assert out.strip() == "file body"
        subprocess.run(["memcrm", srv, *binary, "f1"], check=True, timeout=30)
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp = [r for r in recs if r["observation_point"] == "c-p"]
    sp = [r for r in recs if r["observation_point"] == "s-p"]
    want = [
        (2, "set", "k1", 0, "", "STORED", False),
        (2, "get", "k1 nope", 0, "", "VALUE k1 0 6", False),
        (2, "add", "k1", 0, "", "NOT_STORED", False),
        (2, "incr", "k1", 4, "CLIENT_ERROR cannot increment or decrement non-numeric value",
         "", False),
        (0, "set", "n", 0, "", "", False),  # noreply
        (2, "incr", "n", 0, "", "15", False),
        (2, "delete", "nope", 0, "", "NOT_FOUND", False),
        (2, "", "", 4, "ERROR", "", False),  # "bogus": no request parsed, the reply alone
    ]
    for side in (cp, sp):
        got = [fields(r) for r in side]
        # memcached answers a binary quit as it closes; the tool no longer reads it. Alone,
        # the reply is the record's all: its header names the opcode.
        quit_reply = [(1, "quit", "", 0, "", "", True)] * 3 if side is sp else []
        tools = [g for g in got if g[2] == "f1" or g[1] == "quit" or (g[0] == 1 and g[6])]
        script = sorted(g for g in got if g not in tools)
        assert script == sorted(w if w[1] else (1,) + w[1:] for w in want), \
            json.dumps(side, indent=1)
        # memccp / memccat / memcrm, text then binary (opaque as request_id), each
        # closing with quit, which gets no reply
        quit_text, quit_bin = (0, "quit", "", 0, "", "", False), (0, "quit", "", 0, "", "", True)
        assert sorted(tools) == sorted([
            (2, "set", "f1", 0, "", "STORED", False), quit_text,
            (2, "get", "f1", 0, "", "VALUE f1 0 9", False), quit_text,
            (2, "delete", "f1", 0, "", "DELETED", False), quit_text,
            (2, "set", "f1", 0, "", "", True), quit_bin,
            (2, "getk", "f1", 0, "", "", True), quit_bin,
            (2, "delete", "f1", 0, "", "", True), quit_bin,
        ] + quit_reply), json.dumps(side, indent=1)
    for r in recs:
        assert r["l7_protocol"] == "Memcached" and r["protocol"] == 6
    assert {r["process_id_1"] for r in sp} == {memcached["pid"]}
