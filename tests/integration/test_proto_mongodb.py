# SPDX-License-Identifier: Apache-2.0
"""MongoDB: the reference captures through --read-pcap against tshark's mongo dissector
(opcode, request id, response-to, message lengths, the first element name = the command)
and DeepFlow's .result files (error codes and messages). MongoDB is not packaged in
Debian 12, so there is no live test: captures only."""
import json
import re
import subprocess

import pytest

from conftest import AGENT, PCAPS, need_pcaps

CAPTURES = {"mongo": 27017, "mongo-msg": 3717}


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--ebpf=false", "--read-pcap", str(path),
                        *args], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def tshark_messages(path, port):
    fields = ["tcp.srcport", "mongo.opcode", "mongo.request_id", "mongo.response_to",
              "mongo.message_length", "mongo.element.name", "mongo.full_collection_name"]
    out = subprocess.run(["tshark", "-r", str(path), "-d", f"tcp.port=={port},mongo",
                          "-Y", "mongo", "-T", "fields", "-E", "occurrence=f",
                          *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    msgs = []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        msgs.append({"from_server": int(v["tcp.srcport"]) == port,
                     "opcode": int(v["mongo.opcode"]),
                     "request_id": int(v["mongo.request_id"], 16),
                     "response_to": int(v["mongo.response_to"], 16),
                     "length": int(v["mongo.message_length"]),
                     "first": v["mongo.element.name"],
                     "collection": v["mongo.full_collection_name"]})
    return msgs


def result_errors(name):
    """(code, exception) of every failed reply in DeepFlow's .result file."""
    text = (PCAPS / "mongo" / f"{name}.result").read_text()
    return [(int(c), e) for c, e in re.findall(
        r'msg_type: Response.*?response_code: (\d+), exception: "([^"]*)", status: ClientError',
        text)]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_mongodb_captures_vs_tshark(name):
    need_pcaps()
    port = CAPTURES[name]
    path = PCAPS / "mongo" / f"{name}.pcap"
    msgs = tshark_messages(path, port)
    assert msgs, "tshark decoded no MongoDB message"
    recs = [r for r in read_pcap(path) if r["l7_protocol"] == "MongoDB"]
    reqs = [m for m in msgs if not m["from_server"]]
    resps = {m["response_to"]: m for m in msgs if m["from_server"]}
    # every request is answered here: one session record each, in order
    assert len(recs) == len(reqs)
    errors = result_errors(name)
    for r, q in zip(sorted(recs, key=lambda r: r["start_time"]), reqs):
        a = resps[q["request_id"]]
        assert r["type"] == 2
        assert r["request_id"] == q["request_id"]
        assert r["request_type"] == q["first"]
        assert r["request_length"] == q["length"]
        assert r["response_length"] == a["length"]
        assert r["server_port"] == port
        if q["collection"]:  # legacy OP_QUERY on db.$cmd
            assert r["request_domain"] == q["collection"].split(".")[0]
        # values hidden by default: the rendering keeps field names only
        assert r["request_resource"].startswith('{ "%s": ' % q["first"])
        assert r["response_result"] == ""
        if r["response_status"] != 0:
            assert (r["response_code"], r["response_exception"]) == errors.pop(0)
            assert r["response_status"] == 4
        else:
            assert r["response_code"] == 0 and r["response_exception"] == ""
    assert errors == [], "a failure of the .result file is not in our records"


def test_mongodb_result_file_requests():
    """DeepFlow's rendering of each request (its .result) names the same command first;
    our rendering hides values by default and shows them with --keep-sensitive-values."""
    need_pcaps()
    text = (PCAPS / "mongo" / "mongo-msg.result").read_text()
    first = re.findall(r'msg_type: Request.*?request: "\{ \\"(\w+)\\": \\"(\w+)\\"', text)
    assert first == [("find", "query")]
    recs = read_pcap(PCAPS / "mongo" / "mongo-msg.pcap")
    assert [(r["request_type"], r["endpoint"], r["request_domain"], r["request_resource"])
            for r in recs] == [
        ("find", "query", "sky-test",
         '{ "find": "query", "filter": { "name": ? }, "lsid": { "id": ? }, "$clusterTime": '
         '{ "clusterTime": ?, "signature": { "hash": ?, "keyId": ? } }, '
         '"$db": "sky-test" }')]
    assert "drpanda5" not in json.dumps(recs)
    kept = read_pcap(PCAPS / "mongo" / "mongo-msg.pcap", "--keep-sensitive-values")
    assert len(kept) == 1
    assert kept[0]["request_resource"].startswith(
        '{ "find": "query", "filter": { "name": "drpanda5" }, "lsid": { "id": Binary(0x4, 16 '
        'bytes) }, "$clusterTime": { "clusterTime": Timestamp(1730962788, 1)')
    assert kept[0]["response_result"].startswith(
        '{ "cursor": { "firstBatch": [{ "_id": ObjectId("672c2bc7f4ef2be05f1ddcc4"), "name": '
        '"drpanda5", "age": "111" }], "id": 0, "ns": "sky-test.query" }, "ok": 1, ')
