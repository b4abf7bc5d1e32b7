# SPDX-License-Identifier: Apache-2.0
"""Redis request logs.

- The reference captures (../shared/pcaps/redis) through --read-pcap: every record checked
  against tshark's RESP dissection of the same file (command and key, the TCP sequence of
  each request and response, integer replies, bulk reply sizes) and against DeepFlow's
  own parse beside each capture (with --keep-sensitive-values, the whole command equals
  DeepFlow's request text).
- Live: a redis-server of our own on a free loopback port, driven by redis-cli (a
  scripted set, an error, a missing key, hashes, pub/sub), by a raw pipeline in one
  write, and by redis-benchmark with pipelining; exact records on the client (c-p) and
  the server (s-p) side.
"""
import json
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--stats", "--ebpf=false", *args,
                        "--read-pcap", str(path)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def tshark_resp(path):
    """Requests and responses as Wireshark's RESP dissector sees them, per client port."""
    fields = ["tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.len", "resp.bulk_string.value",
              "resp.integer", "resp.bulk_string.length"]
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "resp", "-T", "fields",
                          "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,",
                          *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, check=True).stdout
    reqs, resps = [], []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        if v["tcp.dstport"] == "6379":
            args = [bytes.fromhex(x).decode() for x in v["resp.bulk_string.value"].split(",")]
            reqs.append({"port": int(v["tcp.srcport"]), "seq": int(v["tcp.seq_raw"]),
                         "len": int(v["tcp.len"]), "args": args})
        else:
            resps.append({"port": int(v["tcp.dstport"]), "seq": int(v["tcp.seq_raw"]),
                          "int": v["resp.integer"], "bulk": v["resp.bulk_string.length"]})
    return reqs, resps


def deepflow_requests(path):
    out = []
    for line in path.with_suffix(".result").read_text().splitlines():
        if line.startswith("RedisInfo { request: \"") and 'request: ""' not in line:
            out.append(line.split('request: "', 1)[1].split('"', 1)[0])
    return out


@pytest.mark.parametrize("name", ["redis.pcap", "redis-debug.pcap"])
def test_captures_match_tshark_and_deepflow(name):
    need_pcaps()
    path = PCAPS / "redis" / name
    recs = read_pcap(path)
    reqs, resps = tshark_resp(path)
    df = deepflow_requests(path)
    assert len(recs) == len(reqs) == len(df), (recs, reqs, df)
    # records leave in the order their responses complete; match requests by sequence
    by_seq = {r["req_tcp_seq"]: r for r in recs}
    assert len(by_seq) == len(recs)
    resp_by_seq = {r["seq"]: r for r in resps}
    for q, d in zip(reqs, df):
        r = by_seq[q["seq"]]
        assert r["l7_protocol"] == "Redis" and r["protocol"] == 6
        assert r["request_type"] == q["args"][0].upper()
        assert r["request_resource"] == " ".join([q["args"][0].upper(), q["args"][1]])
        assert r["request_length"] == q["len"]
        assert r["client_port"] == q["port"]
        assert r["response_status"] == 0 and r["response_exception"] == ""
        a = resp_by_seq.get(r["resp_tcp_seq"])
        if a is not None:
            assert a["port"] == q["port"]
            if "," not in a["int"]:  # an integer reply, not integers inside an array
                assert r["response_result"] == a["int"]
            if a["bulk"] and "," not in a["bulk"]:  # a bulk reply of its own
                n = int(a["bulk"])
                assert r["response_length"] == len(f"${n}\r\n") + n + 2
        else:
            # the 490 kB value cut short by the capture's end (tshark does not dissect
            # it): reported at the end, truncated
            assert r["response_length"] > 65536
    # with values kept, the command is DeepFlow's request text
    full = read_pcap(path, "--keep-sensitive-values")
    by_seq = {r["req_tcp_seq"]: r for r in full}
    for q, d in zip(reqs, df):
        assert by_seq[q["seq"]]["request_resource"] == d


# ---- live --------------------------------------------------------------------------------

@pytest.fixture
def redis(tmp_path):
    for tool in ("redis-server", "redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing (Debian packages redis-server, redis-tools; "
                        f"scripts/install-deps.sh --test installs them)")
    port = free_port()
    log = tmp_path / "redis.log"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
                             "--logfile", str(log)], stdout=subprocess.DEVNULL)
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


def cli(port, *args, **kw):
    p = subprocess.Popen(["redis-cli", "-p", str(port), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, **kw)
    out, _ = p.communicate(timeout=30)
    return out.strip(), p.pid


def sides(recs):
    cp = [r for r in recs if r["observation_point"] == "c-p"]
    sp = [r for r in recs if r["observation_point"] == "s-p"]
    return cp, sp


def fields(r):
    return (r["type"], r["request_type"], r["request_resource"], r["response_status"],
            r["response_exception"], r["response_result"])


def test_redis_cli_and_pipeline(redis, agent_factory):
    port = redis["port"]
    agent = agent_factory()
    script = [
        (["SET", "k1", "secret-value"], "OK"),
        (["GET", "k1"], "secret-value"),
        (["GET", "missing"], ""),
        (["INCR", "k1"], "ERR value is not an integer or out of range"),
        (["HSET", "h", "f1", "v1", "f2", "v2"], "2"),
        (["HGETALL", "h"], "f1\nv1\nf2\nv2"),
        (["DEL", "k1", "h"], "2"),
        (["CONFIG", "GET", "maxmemory"], "maxmemory\n0"),
    ]
    pids = []
    for args, want in script:
        out, pid = cli(port, *args)
        assert out == want, (args, out)
        pids.append(pid)
    # a pipeline: three commands in one write, three replies read back
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n"
                  b"*2\r\n$4\r\nINCR\r\n$1\r\np\r\n*2\r\n$3\r\nGET\r\n$1\r\np\r\n")
        buf = b""
        while buf.count(b"\r\n") < 4:
            buf += s.recv(4096)
        assert buf == b"+OK\r\n:2\r\n$1\r\n2\r\n"
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp, sp = sides(recs)
    # redis-cli also sends COMMAND DOCS at start in interactive mode only: none here
    want = [
        (2, "SET", "SET k1", 0, "", "OK"),
        (2, "GET", "GET k1", 0, "", ""),
        (2, "GET", "GET missing", 0, "", "NULL"),
        (2, "INCR", "INCR k1", 3, "ERR value is not an integer or out of range", ""),
        (2, "HSET", "HSET h", 0, "", "2"),
        (2, "HGETALL", "HGETALL h", 0, "", ""),
        (2, "DEL", "DEL k1 h", 0, "", "2"),
        (2, "CONFIG GET", "CONFIG GET maxmemory", 0, "", ""),
        (2, "SET", "SET p", 0, "", "OK"),
        (2, "INCR", "INCR p", 0, "", "2"),
        (2, "GET", "GET p", 0, "", ""),
    ]
    for side in (cp, sp):
        got = sorted(fields(r) for r in side)
        assert got == sorted(want), json.dumps(side, indent=1)
    for r in recs:
        assert r["l7_protocol"] == "Redis" and r["protocol"] == 6 and r["signal_source"] == 3
        assert r["request_id"] is None
    # both ends of each connection saw the same bytes
    key = lambda r: (r["client_port"], r["req_tcp_seq"])  # noqa: E731
    assert {key(r): r["response_length"] for r in cp} == \
        {key(r): r["response_length"] for r in sp}
    assert {r["process_id_0"] for r in cp} >= set(pids)
    assert {r["process_id_1"] for r in sp} == {redis["pid"]}
    assert all(r["process_kname_1"] == "redis-server" for r in sp)


def test_pubsub(redis, agent_factory):
    port = redis["port"]
    agent = agent_factory()
    sub = subprocess.Popen(["redis-cli", "-p", str(port), "SUBSCRIBE", "news", "sport"],
                           stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while len(lines) < 6:  # two confirmations, three lines each
            lines.append(sub.stdout.readline().strip())
        for msg in ("hello", "world"):
            out, _ = cli(port, "PUBLISH", "news", msg)
            assert out == "1"
        while len(lines) < 12:
            lines.append(sub.stdout.readline().strip())
        assert lines[6:] == ["message", "news", "hello", "message", "news", "world"]
    finally:
        sub.kill()
        sub.wait()
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp, sp = sides(recs)
    for side in (cp, sp):
        got = sorted(fields(r) for r in side)
        assert got == sorted([
            (2, "SUBSCRIBE", "SUBSCRIBE news sport", 0, "", ""),
            # the second confirmation answers nothing: a record of its own, naming its
            # kind and channel (the payload of a message is a value: not kept)
            (1, "subscribe", "subscribe sport", 0, "", ""),
            (1, "message", "message news", 0, "", ""),  # the two messages pushed to the
            (1, "message", "message news", 0, "", ""),  # subscriber
            (2, "PUBLISH", "PUBLISH news", 0, "", "1"),
            (2, "PUBLISH", "PUBLISH news", 0, "", "1"),
        ]), json.dumps(side, indent=1)


def test_benchmark_pipelined(redis, agent_factory):
    """redis-benchmark -P 16: every command one record, on both ends."""
    port = redis["port"]
    agent = agent_factory("--max-pending", "64")
    p = subprocess.run(["redis-benchmark", "-p", str(port), "-P", "16", "-n", "2000", "-c", "4",
                        "-t", "set,get", "-q"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp, sp = sides(recs)
    for side in (cp, sp):
        kinds = {}
        for r in side:
            kinds[r["request_type"]] = kinds.get(r["request_type"], 0) + 1
            assert r["type"] == 2 and r["response_status"] == 0
        assert kinds.pop("SET") == 2000
        assert kinds.pop("GET") == 2000
        # what is left is redis-benchmark's own setup (CONFIG GET save / appendonly)
        assert set(kinds) <= {"CONFIG GET"}, kinds
    setup_cp = sum(r["request_type"] == "CONFIG GET" for r in cp)
    setup_sp = sum(r["request_type"] == "CONFIG GET" for r in sp)
    assert setup_cp == setup_sp
    assert len(cp) == len(sp) == 4000 + setup_cp
    assert sorted(r["request_resource"] for r in cp if r["request_type"] == "SET")[0] == \
        "SET key:__rand_int__"
