# SPDX-License-Identifier: Apache-2.0
"""AMQP 0-9-1: the reference captures through --read-pcap against tshark's amqp dissector,
and a live RabbitMQ broker (its own node, port, epmd port and data directory) driven by
python3-pika, captured by the agent's eBPF side in the client and in the broker.

Pairing model (docs/protocols.md): a synchronous method is a request answered by its -Ok;
whoever sends it is the requester, so Connection.Start/Tune and a close the broker begins
are requests from the broker; Publish/Deliver/Ack are lone requests; Basic.Return is a
lone response; a Channel.Close / Connection.Close naming a pending method answers it."""
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

PY = "/usr/bin/python3"  # Debian's, with python3-pika

NAMES = {
    (10, 10): "Connection.Start", (10, 11): "Connection.StartOk", (10, 30): "Connection.Tune",
    (10, 31): "Connection.TuneOk", (10, 40): "Connection.Open", (10, 41): "Connection.OpenOk",
    (10, 50): "Connection.Close", (10, 51): "Connection.CloseOk",
    (20, 10): "Channel.Open", (20, 11): "Channel.OpenOk", (20, 40): "Channel.Close",
    (20, 41): "Channel.CloseOk", (40, 10): "Exchange.Declare", (40, 11): "Exchange.DeclareOk",
    (50, 10): "Queue.Declare", (50, 11): "Queue.DeclareOk", (50, 20): "Queue.Bind",
    (50, 21): "Queue.BindOk", (60, 20): "Basic.Consume", (60, 21): "Basic.ConsumeOk",
    (60, 40): "Basic.Publish", (60, 50): "Basic.Return", (60, 60): "Basic.Deliver",
    (60, 70): "Basic.Get", (60, 71): "Basic.GetOk", (60, 72): "Basic.GetEmpty",
}
SYNC_REQ = {(10, 10), (10, 30), (10, 40), (20, 10), (40, 10), (50, 10), (50, 20), (60, 20),
            (60, 70)}
CONTENT = {(60, 40), (60, 60), (60, 50), (60, 71)}


def read_pcap(path):
    p = subprocess.run([str(AGENT), "--stdout", "--ebpf=false", "--read-pcap", str(path)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def _pairs(pairs):
    """json object hook keeping every value of a repeated key (tshark repeats 'amqp')."""
    d = {}
    for k, v in pairs:
        d.setdefault(k, []).append(v)
    return d


def tshark_methods(path):
    """Every AMQP method frame tshark sees, in capture order, with its arguments."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "json", "-J", "tcp amqp",
                          "-Y", "amqp"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    res = []
    for pkt in json.loads(out, object_pairs_hook=_pairs):
        layers = pkt["_source"][0]["layers"][0]
        tcp = layers["tcp"][0]
        sport, dport = int(tcp["tcp.srcport"][0]), int(tcp["tcp.dstport"][0])
        for a in layers.get("amqp", []):
            if a.get("amqp.type", [""])[0] != "1":
                continue
            args = a.get("amqp.method.arguments", [{}])[0]
            if not isinstance(args, dict):
                args = {}
            arg = lambda k: args.get("amqp.method.arguments." + k, [None])[0]
            res.append({
                "sport": sport, "dport": dport, "channel": int(a["amqp.channel"][0]),
                "cm": (int(a["amqp.method.class"][0]), int(a["amqp.method.method"][0])),
                "code": int(arg("reply_code")) if arg("reply_code") else None,
                "text": arg("reply_text"), "exchange": arg("exchange"),
                "routing_key": arg("routing_key"), "queue": arg("queue"),
                "vhost": arg("virtual_host"), "failed": (int(arg("class_id") or 0),
                                                          int(arg("method_id") or 0)),
            })
    return res


def expected_from_tshark(methods):
    """What the records must be, derived from tshark's dissection with the pairing model:
    a list of (type, request_type, domain, resource, code, exception, client port), the
    client being the requester (the receiver of a lone response)."""
    exp = []
    vhost = {}
    pending = collections.defaultdict(dict)  # (conn, requester port) -> channel -> req
    for m in methods:
        conn = tuple(sorted((m["sport"], m["dport"])))
        cm, ch = m["cm"], m["channel"]
        name = NAMES[cm]
        if cm == (10, 40):
            vhost[conn] = m["vhost"]
        if m["exchange"] is not None:
            res = f'{m["exchange"]}.{m["routing_key"] or ""}'
        elif m["queue"] is not None:
            res = m["queue"]
        else:
            res = ""
        req = {"type": 0, "request_type": name, "domain": vhost.get(conn, ""),
               "resource": res, "code": None, "exception": "", "sport": m["sport"]}
        mine, theirs = pending[(conn, m["sport"])], pending[(conn, m["dport"])]
        if cm in SYNC_REQ:
            mine[ch] = req
        elif cm in ((60, 40), (60, 60)):
            exp.append(req)
        elif cm == (60, 50):
            # Basic.Return answers nothing: its record names what it returns
            exp.append({**req, "type": 1, "code": m["code"], "exception": m["text"],
                        "sport": m["dport"]})
        elif cm in ((10, 50), (20, 40)):
            hit = None
            for c, r in theirs.items():
                if (cm == (20, 40) and c == ch) or (cm == (10, 50) and NAMES.get(
                        m["failed"]) == r["request_type"]):
                    hit = c
            if hit is not None:
                r = theirs.pop(hit)
                r.update(type=2, code=m["code"], exception=m["text"])
                exp.append(r)
                if cm == (10, 50):
                    continue
            mine[ch] = req
        else:  # an -Ok
            r = theirs.pop(ch, None)
            if r is None:
                exp.append({"type": 1, "request_type": "", "domain": "", "resource": "",
                            "code": None, "exception": "", "sport": m["dport"]})
            else:
                r["type"] = 2
                exp.append(r)
    for p in pending.values():
        for r in p.values():
            r["type"] = 0
            exp.append(r)
    return exp


def record_key(r):
    return (r["type"], r["request_type"], r["request_domain"], r["request_resource"],
            -1 if r["response_code"] is None else r["response_code"],
            r["response_exception"], r["client_port"])


def exp_key(e):
    return (e["type"], e["request_type"], e["domain"], e["resource"],
            -1 if e["code"] is None else e["code"], e["exception"], e["sport"])


@pytest.mark.parametrize("name", ["amqp1", "amqp2", "amqp-error"])
def test_amqp_captures_vs_tshark(name):
    need_pcaps()
    path = PCAPS / "amqp" / f"{name}.pcap"
    recs = [r for r in read_pcap(path) if r["l7_protocol"] == "AMQP"]
    exp = expected_from_tshark(tshark_methods(path))
    # amqp2 holds a second connection seen from its middle: no Connection.Open, no vhost.
    got = sorted(record_key(r) for r in recs)
    want = sorted(exp_key(e) for e in exp)
    assert got == want
    for r in recs:
        assert r["response_status"] == (0 if r["response_code"] in (None, 200) else 4) \
            or r["type"] == 0
        assert r["endpoint"] == r["request_resource"]
        assert r["signal_source"] == 0


def test_amqp_counts_and_trace_from_result_files():
    """The .result files beside the captures (DeepFlow's view): every request method they
    name is one of our records, and the traceparent in amqp2's content header is ours."""
    need_pcaps()
    for name in ("amqp1", "amqp2", "amqp-error"):
        res = (PCAPS / "amqp" / f"{name}.result").read_text()
        want = collections.Counter(
            line.split('req_type: Some("')[1].split('"')[0]
            for line in res.splitlines() if "req_type: Some(" in line)
        want.update(line.split("method_id: ")[1].split(",")[0]
                    for line in res.splitlines()
                    if "msg_type: Session" in line and "frame_type: Method" in line)
        recs = read_pcap(PCAPS / "amqp" / f"{name}.pcap")
        got = collections.Counter(r["request_type"] for r in recs if r["request_type"])
        for k in list(want):
            if k in ("Publish", "Deliver", "Return"):
                want[f"Basic.{k}"] += want.pop(k)
        # DeepFlow reports the Connection.Close that refuses a vhost only as an answer
        assert got == want, name
    recs = read_pcap(PCAPS / "amqp" / "amqp2.pcap")
    traced = [r for r in recs if r["trace_id"]]
    assert [(r["request_type"], r["trace_id"], r["span_id"]) for r in traced] == [
        ("Basic.Publish", "55a4bf6fd4f855f258c2c1b3cdb28c83", "a0e79d6007c4e7c2"),
        ("Basic.Deliver", "55a4bf6fd4f855f258c2c1b3cdb28c83", "a0e79d6007c4e7c2")]


# ---- live broker ----------------------------------------------------------------------

CLIENT = r"""
import sys, pika
port = int(sys.argv[1])
conn = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=port,
                                                         heartbeat=0))
ch = conn.channel()
ch.queue_declare(queue="fs-q")
for i in range(3):
    ch.basic_publish(exchange="", routing_key="fs-q", body=b"message %d" % i)
for i in range(3):
    m, p, body = ch.basic_get(queue="fs-q", auto_ack=True)
    assert body == b"message %d" % i, body
try:
    ch.queue_declare(queue="fs-missing", passive=True)
    raise SystemExit("passive declare of a missing queue succeeded")
except pika.exceptions.ChannelClosedByBroker as e:
    assert e.reply_code == 404, e
conn.close()
"""


class Broker:
    """rabbitmq-server as a subprocess: own node name, ports, epmd port and directories.
    The Debian script runs the node as the rabbitmq user, so its directory is theirs."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-rmq-"))
        self.port = free_port()
        self.epmd_port = free_port()
        self.node = f"flowscope-test-{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for f in self.dir.iterdir():
            shutil.chown(f, "rabbitmq", "rabbitmq")
        self.env = dict(os.environ, HOME=str(self.dir), RABBITMQ_NODENAME=self.node,
                        RABBITMQ_NODE_PORT=str(self.port),
                        RABBITMQ_DIST_PORT=str(free_port()),
                        ERL_EPMD_PORT=str(self.epmd_port),
                        RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
                        RABBITMQ_LOG_BASE=str(self.dir / "log"),
                        RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
                        RABBITMQ_PID_FILE=str(self.dir / "pid"),
                        RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
                        RABBITMQ_CONF_ENV_FILE=str(self.dir / "env.conf"))
        if not shutil.which("rabbitmq-server"):
            pytest.fail("rabbitmq-server missing: apt-get install rabbitmq-server "
                        "(scripts/install-deps.sh --test)")
        self.log = open(self.dir / "server.out", "wb")
        self.proc = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(self.port, timeout=60)
        except RuntimeError:
            self.stop()
            pytest.fail("rabbitmq did not start:\n" +
                        (self.dir / "server.out").read_text(errors="replace")[-3000:])

    def beam_pids(self):
        """The process listening on the AMQP port (beam.smp)."""
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{self.port}"], capture_output=True,
                             text=True).stdout
        return {int(x.split(",")[0]) for x in out.split("pid=")[1:]}

    def stop(self):
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                       capture_output=True, timeout=60)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        # the epmd this node started on its own port (found by its environment), only it
        for d in pathlib.Path("/proc").glob("[0-9]*"):
            try:
                if (d / "comm").read_text().strip() != "epmd":
                    continue
                env = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"ERL_EPMD_PORT={self.epmd_port}".encode() in env:
                try:
                    os.kill(int(d.name), 15)
                except ProcessLookupError:
                    pass
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.stop()


def test_amqp_live_pika(broker, agent_factory):
    agent = agent_factory()
    p = subprocess.run([PY, "-c", CLIENT, str(broker.port)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    time.sleep(0.5)
    recs = [r for r in agent.stop()
            if r["table"] == "l7_flow_log" and r["l7_protocol"] == "AMQP"
            and broker.port in (r["client_port"], r["server_port"])]
    beam = broker.beam_pids()
    assert beam, "no broker process found"

    def side(r):
        pid = r["process_id_0"] or r["process_id_1"]
        return "broker" if pid in beam else "client"

    # (type, request_type, domain, resource, status, code, exception, requester)
    conv = [
        (2, "Connection.Start", "", "", 0, None, "", "broker"),
        (2, "Connection.Tune", "", "", 0, None, "", "broker"),
        (2, "Connection.Open", "/", "", 0, None, "", "client"),
        (2, "Channel.Open", "/", "", 0, None, "", "client"),
        (2, "Queue.Declare", "/", "fs-q", 0, None, "", "client"),
        (0, "Basic.Publish", "/", ".fs-q", 0, None, "", "client"),
        (0, "Basic.Publish", "/", ".fs-q", 0, None, "", "client"),
        (0, "Basic.Publish", "/", ".fs-q", 0, None, "", "client"),
        (2, "Basic.Get", "/", "fs-q", 0, None, "", "client"),
        (2, "Basic.Get", "/", "fs-q", 0, None, "", "client"),
        (2, "Basic.Get", "/", "fs-q", 0, None, "", "client"),
        (2, "Queue.Declare", "/", "fs-missing", 4, 404,
         "NOT_FOUND - no queue 'fs-missing' in vhost '/'", "client"),
        (2, "Channel.Close", "/", "", 0, None, "", "broker"),
        (2, "Connection.Close", "/", "", 0, None, "", "client"),
    ]
    for where in ("client", "broker"):
        mine = sorted([r for r in recs if side(r) == where], key=lambda r: r["start_time"])
        got = [(r["type"], r["request_type"], r["request_domain"], r["request_resource"],
                r["response_status"], r["response_code"], r["response_exception"],
                # the requester is the record's client (c-p where it is this process)
                where if r["observation_point"] == "c-p" else
                ("broker" if where == "client" else "client")) for r in mine]
        assert got == conv, where
        for r in mine:
            assert r["endpoint"] == r["request_resource"]
            assert r["request_length"] > 0
            if r["type"] == 2:
                assert r["response_length"] > 0
        gets = [r for r in mine if r["request_type"] == "Basic.Get"]
        # Get-Ok: method (8+4+8+1+1+1+4+4=31... pika's exact sizes vary) plus content
        # header and the 9-byte body frame
        assert all(r["response_length"] > 9 + 8 for r in gets)
    # the same message seen at both ends has the same TCP sequence
    cli = sorted([r for r in recs if side(r) == "client"], key=lambda r: r["start_time"])
    brk = sorted([r for r in recs if side(r) == "broker"], key=lambda r: r["start_time"])
    assert [r["req_tcp_seq"] for r in cli] == [r["req_tcp_seq"] for r in brk]
    assert [r["resp_tcp_seq"] for r in cli] == [r["resp_tcp_seq"] for r in brk]
