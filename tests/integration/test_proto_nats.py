# SPDX-License-Identifier: Apache-2.0
"""NATS request logs.

- The reference captures (../shared/pcaps/nats) through --read-pcap. tshark has no NATS
  dissector, so every record is checked against DeepFlow's parse beside each capture (the
  .result file): which messages there are, the subjects of SUB / PUB / HPUB, the server
  name and version from INFO, the -ERR text, the trace and span ids of HPUB / HMSG
  headers (W3C traceparent, SkyWalking sw8).
- Live: a nats-server of our own on a free loopback port, driven by a small client
  speaking the NATS text protocol over a socket (CONNECT, SUB, PUB, HPUB with a
  traceparent, MSG / HMSG received, PING / PONG, UNSUB, an unknown command answered by
  -ERR); exact records on the client (c-p) and the server (s-p) side.
"""
import json
import re
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port

CAPTURES = ["nats-err.pcap", "nats-headers.pcap", "nats-nrpc1.pcap", "nats-nrpc2.pcap",
            "nats-nrpc3.pcap", "nats-opentelemetry.pcap", "nats-skywalking.pcap"]


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--stats", "--ebpf=false", *args,
                        "--read-pcap", str(path)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def deepflow_messages(path):
    """(command, subject, server_name, version, error, trace_id, span_id) per message."""
    out = []
    for line in path.with_suffix(".result").read_text().splitlines():
        m = re.search(r"message: (\w+)", line)
        if not m:
            continue  # "None": DeepFlow did not parse that segment (DEADBEEF)
        subj = re.search(r'subject: "([^"]*)"', line)
        err = re.search(r'error_message: "([^"]*)"', line)
        trace = re.search(r'trace_ids: PrioFields\(\[PrioField \{ prio: \d+, field: "([^"]*)"',
                          line)
        span = re.search(r'span_id: Some\("([^"]*)"\)', line)
        out.append((m.group(1).upper(), subj.group(1) if subj else "",
                    re.search(r'server_name: "([^"]*)"', line).group(1),
                    re.search(r'version: "([^"]*)"', line).group(1),
                    err.group(1) if err else "", trace.group(1) if trace else "",
                    span.group(1) if span else ""))
    return out


# Our command names where DeepFlow's debug print spells them otherwise.
DF_NAMES = {"+OK": "OK", "-ERR": "ERR"}


@pytest.mark.parametrize("name", CAPTURES)
def test_captures_match_deepflow(name):
    need_pcaps()
    path = PCAPS / "nats" / name
    recs = read_pcap(path)
    df = deepflow_messages(path)
    assert recs and df
    server, version = df[0][2], df[0][3]
    for r in recs:
        assert r["l7_protocol"] == "NATS" and r["protocol"] == 6 and r["server_port"] == 4222
        assert r["version"] == version
        assert r["request_domain"] == server  # lone responses too
    # every message DeepFlow saw
    ours = []
    for r in recs:
        if r["type"] == 2:
            assert r["request_type"] == "PING"
            ours.append((r["start_time"], "PING", "", "", "", ""))
            ours.append((r["end_time"], "PONG", "", "", "", ""))
        elif r["type"] == 0:
            ours.append((r["start_time"], r["request_type"], r["request_resource"], "",
                         r["trace_id"], r["span_id"]))
        else:
            # a lone response names its command and, for MSG / HMSG, the subject
            ours.append((r["start_time"], DF_NAMES.get(r["request_type"], r["request_type"]),
                         r["request_resource"], r["response_exception"], r["trace_id"],
                         r["span_id"]))
    want = []
    for cmd, subj, _, _, err, trace, span in df:
        if cmd in ("INFO", "CONNECT", "PING", "PONG"):
            want.append((cmd, "", "", "", ""))
        elif cmd in ("MSG", "HMSG"):
            want.append((cmd, subj, "", trace, span))
        elif cmd in ("OK", "ERR"):
            want.append((cmd, "", err, "", ""))
        else:
            want.append((cmd, subj, "", trace, span))
    # the agent keeps 64 bytes of a span id: room for SkyWalking's "segment-span"
    want = [w[:4] + (w[4][:64],) for w in want]
    got = [x[1:] for x in sorted(ours, key=lambda x: x[0])]
    assert sorted(got) == sorted(want), (got, want)
    # requests in the order DeepFlow lists them
    assert [g for g in got if g[0] in ("SUB", "PUB", "HPUB", "UNSUB")] == \
        [w for w in want if w[0] in ("SUB", "PUB", "HPUB", "UNSUB")]


# ---- live --------------------------------------------------------------------------------

@pytest.fixture
def nats_server(tmp_path):
    exe = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
    if not exe:
        pytest.fail("nats-server missing (Debian package nats-server; "
                    "scripts/install-deps.sh --test installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(port), "-n", "fs-test",
                             "-l", str(tmp_path / "nats.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"

CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = b""
def until(token):
    global buf
    while token not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed waiting for %r, got %r" % (token, buf))
        buf += d
    i = buf.index(token) + len(token)
    out, buf = buf[:i], buf[i:]
    return out
until(b"\r\n")  # INFO
s.sendall(b'CONNECT {"verbose":true,"pedantic":false,"name":"fs","lang":"python",'
          b'"version":"0","protocol":1,"headers":true}\r\n')
until(b"+OK\r\n")
s.sendall(b"SUB test.subj 1\r\n"); until(b"+OK\r\n")
s.sendall(b"PUB test.subj 5\r\nhello\r\n"); until(b"+OK\r\n"); until(b"hello\r\n")
s.sendall(b"SUB test.hdr 2\r\n"); until(b"+OK\r\n")
hdr = b"NATS/1.0\r\ntraceparent: 00-%s-%s-01\r\n\r\n" % (sys.argv[2].encode(), sys.argv[3].encode())
s.sendall(b"HPUB test.hdr %d %d\r\n%spayload\r\n" % (len(hdr), len(hdr) + 7, hdr))
until(b"+OK\r\n"); until(b"payload\r\n")
s.sendall(b"PING\r\n"); until(b"PONG\r\n")
s.sendall(b"UNSUB 1\r\n"); until(b"+OK\r\n")
s.sendall(b"BOGUS\r\n"); until(b"-ERR 'Unknown Protocol Operation'\r\n")
s.close()
"""


def sides(recs):
    cp = [r for r in recs if r["observation_point"] == "c-p"]
    sp = [r for r in recs if r["observation_point"] == "s-p"]
    return cp, sp


def fields(r):
    return (r["type"], r["version"], r["request_type"], r["request_domain"],
            r["request_resource"], r["endpoint"], r["response_status"],
            r["response_exception"], r["trace_id"], r["span_id"])


def test_nats_server(nats_server, agent_factory):
    port = nats_server["port"]
    agent = agent_factory()
    p = subprocess.run(["/usr/bin/python3", "-c", CLIENT, str(port), TRACE, SPAN],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr + p.stdout
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    cp, sp = sides(recs)
    v, name = "2.9.10", "fs-test"
    # Lone responses name what they carry (the command, the server, a MSG's subject), as
    # DeepFlow's records of them do.
    ok = (1, v, "+OK", name, "", "", 0, "", "", "")
    want = [
        (1, v, "INFO", name, "", "", 0, "", "", ""),  # INFO: a lone response
        (0, v, "CONNECT", name, "", "", 0, "", "", ""),
        ok,  # CONNECT's +OK (verbose)
        (0, v, "SUB", name, "test.subj", "test", 0, "", "", ""), ok,
        (0, v, "PUB", name, "test.subj", "test", 0, "", "", ""), ok,
        (1, v, "MSG", name, "test.subj", "test", 0, "", "", ""),  # delivered to the SUB
        (0, v, "SUB", name, "test.hdr", "test", 0, "", "", ""), ok,
        (0, v, "HPUB", name, "test.hdr", "test", 0, "", TRACE, SPAN), ok,
        (1, v, "HMSG", name, "test.hdr", "test", 0, "", TRACE, SPAN),  # the same headers
        (2, v, "PING", name, "", "", 0, "", "", ""),
        (0, v, "UNSUB", name, "", "", 0, "", "", ""), ok,
        (1, v, "-ERR", name, "", "", 4, "'Unknown Protocol Operation'", "", ""),
    ]
    for side in (cp, sp):
        got = sorted(fields(r) for r in side)
        assert got == sorted(want), json.dumps(side, indent=1)
    for r in recs:
        assert r["l7_protocol"] == "NATS" and r["protocol"] == 6 and r["signal_source"] == 3
    key = lambda r: (r["client_port"], r["req_tcp_seq"], r["resp_tcp_seq"])  # noqa: E731
    assert sorted(key(r) for r in cp) == sorted(key(r) for r in sp)
    assert {r["process_id_1"] for r in sp} == {nats_server["pid"]}
    assert all(r["process_kname_1"] == "nats-server" for r in sp)
    first = min(r["start_time"] for r in cp)  # INFO
    msgs = [r for r in cp if r["type"] == 1 and r["response_length"] != 5
            and not r["response_exception"] and r["start_time"] != first]
    assert sorted(r["response_length"] for r in msgs) == sorted(
        [len(b"MSG test.subj 1 5\r\nhello\r\n"),
         len(b"HMSG test.hdr 2 82 89\r\n") + 89 + 2])
