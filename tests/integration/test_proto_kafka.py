"""Kafka from packets: every reference capture in ../shared/pcaps/kafka through
--read-pcap, each record compared with tshark's Kafka dissection of the same capture
(api key, api version, correlation id, topic, error code, TCP sequences, sizes), and,
where tshark decodes nothing (flexible versions: Produce v9, Fetch v12/v13), with the
DeepFlow .result file beside the capture.

Debian has no Kafka broker, so there is no live test: the captures are the test.
"""
import json
import re
import subprocess

import pytest

from conftest import AGENT, PCAPS, need_pcaps

KAFKA = PCAPS / "kafka"

NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
         9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
         13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
         17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics"}

CAPTURES = ["00-produce-v2", "00-produce-v7-sw8", "00-produce-v9", "01-fetch-v12-ok",
            "01-fetch-v12-unknown", "11-join-group-v7", "13-leave-group-v4",
            "14-sync-group-v5", "18-api-versions-v3", "mixed-with-unsupported"]

# Records per capture: every request was answered (the capture's first Fetch too).
COUNTS = {"mixed-with-unsupported": 3}


def read_pcap(path):
    p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(path)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


TS_FIELDS = ["tcp.srcport", "tcp.dstport", "tcp.seq", "kafka.len", "kafka.api_key",
             "kafka.api_version", "kafka.correlation_id", "kafka.topic_name", "kafka.error",
             "kafka.required_acks"]


def tshark_kafka(path, port):
    """Kafka messages as tshark dissects them, the server port forced to Kafka."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE",
         "-d", f"tcp.port=={port},kafka", "-Y", "kafka", "-T", "fields",
         "-E", "separator=\t", *sum((["-e", f] for f in TS_FIELDS), [])],
        capture_output=True, text=True, timeout=60, check=True).stdout
    msgs = []
    for line in out.splitlines():
        v = dict(zip(TS_FIELDS, line.split("\t")))
        msgs.append(v)
    return msgs


RESULT_RE = re.compile(r"msg_type: (\w+), correlation_id: Some\((\d+)\), api_key: (\w+), "
                       r"api_version: (\d+),.*?topic_name: \"([^\"]*)\",.*?"
                       r"resource: (None|Some\(\"[^\"]*\"\)), endpoint: (None|Some\(\"[^\"]*\"\))"
                       r".*?status: (\w+), status_code: (None|Some\((-?\d+)\))"
                       r".*?trace_ids: PrioFields\(\[(.*?)\]\), span_id: \"([^\"]*)\"")


def deepflow_result(name):
    """DeepFlow's view: {correlation id: {"req": {...}, "resp": {...}}}."""
    by = {}
    for line in (KAFKA / f"{name}.result").read_text().splitlines():
        m = RESULT_RE.search(line)
        if not m:
            continue
        kind, corr, key, ver, topic, res, ep, status, _, code, traces, span = m.groups()
        trace = re.search(r'field: "([^"]*)"', traces)
        by.setdefault(int(corr), {})["req" if kind == "Request" else "resp"] = {
            "api": key, "version": ver, "topic": topic,
            "resource": None if res == "None" else res[6:-2],
            "endpoint": None if ep == "None" else ep[6:-2],
            "status": status, "code": None if code is None else int(code),
            "trace": trace.group(1) if trace else "", "span": span}
    return by


STATUS = {"Ok": 0, "ServerError": 3, "ClientError": 4}


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_matches_tshark_and_deepflow(name):
    need_pcaps()
    path = KAFKA / f"{name}.pcap"
    recs = read_pcap(path)
    kafka = [r for r in recs if r["l7_protocol"] == "Kafka"]
    assert len(kafka) == len(recs) == COUNTS.get(name, 1), recs
    port = kafka[0]["server_port"]
    ts = tshark_kafka(path, port)
    ts_req = {int(m["kafka.correlation_id"]): m for m in ts
              if m["kafka.api_version"] and int(m["tcp.dstport"]) == port}
    ts_resp = {int(m["kafka.correlation_id"]): m for m in ts
               if int(m["tcp.srcport"]) == port}
    df = deepflow_result(name)
    for r in kafka:
        corr = r["request_id"]
        q, a = ts_req[corr], ts_resp[corr]
        # identity: tshark
        assert r["type"] == 2 and r["observation_point"] == "rest"
        assert r["request_type"] == NAMES[int(q["kafka.api_key"])]
        assert r["version"] == q["kafka.api_version"]
        assert r["x_request_id_0"] == r["x_request_id_1"] == str(corr)
        assert r["req_tcp_seq"] == int(q["tcp.seq"])
        assert r["resp_tcp_seq"] == int(a["tcp.seq"])
        assert r["request_length"] == int(q["kafka.len"]) + 4
        assert r["response_length"] == int(a["kafka.len"]) + 4
        # the same, from DeepFlow
        dq, dr = df[corr]["req"], df[corr]["resp"]
        assert (r["request_type"], r["version"]) == (dq["api"], dq["version"])
        # topic: tshark where it decodes the body, else DeepFlow
        topics = [t for t in q["kafka.topic_name"].split(",") if t]
        if r["request_type"] in ("Produce", "Fetch"):
            assert r["request_domain"] == dq["topic"]
            if topics:
                assert r["request_domain"] == topics[0]
            assert r["endpoint"] == (dq["endpoint"] or "")
            if r["request_type"] == "Fetch":
                assert r["request_resource"] == (dq["resource"] or "")
            else:  # DeepFlow adds the response's base offset; we report topic-partition
                assert r["request_resource"] == r["endpoint"]
        else:
            assert (r["request_domain"], r["request_resource"], r["endpoint"]) == ("", "", "")
        # the error code: tshark's first kafka.error, else DeepFlow's code (-2 there means
        # "not parsed"; tshark then has the partition error)
        errs = [int(e) for e in a["kafka.error"].split(",") if e]
        want = errs[0] if errs else dr["code"]
        if want == -1:  # UNKNOWN_SERVER_ERROR: -1 is "none" in response_code
            assert r["response_code"] is None
            assert r["response_exception"] == "UNKNOWN_SERVER_ERROR"
        else:
            assert r["response_code"] == want
            assert r["response_exception"] == ""
        assert r["response_status"] == STATUS[dr["status"]]
        assert r["trace_id"] == dq["trace"]
        # span_id: the record keeps 64 characters, room for sw8's segment-span
        assert r["span_id"] == dq["span"][:64]


def test_sw8_trace_context():
    """The sw8 header of the first record gives DeepFlow's trace id and span id."""
    need_pcaps()
    r, = read_pcap(KAFKA / "00-produce-v7-sw8.pcap")
    assert r["trace_id"] == "bb79fa34-d03f-4bc2-8fa9-979af7877426"
    assert r["span_id"] == "0d8ce61a-ef2a-4e23-b8f4-2c59e3f44d48-0"
    assert r["request_domain"] == "quickstart-events"


def test_fetch_error_and_unmatched():
    """The 'unknown' Fetch answers with error field 0x1400 (DeepFlow: 5120, server error)
    and the capture whose first Fetch is answered last pairs it by correlation id."""
    need_pcaps()
    r, = read_pcap(KAFKA / "01-fetch-v12-unknown.pcap")
    assert (r["response_code"], r["response_status"]) == (5120, 3)
    recs = read_pcap(KAFKA / "mixed-with-unsupported.pcap")
    assert sorted((x["request_type"], x["request_id"]) for x in recs) == [
        ("Fetch", 15551976), ("Heartbeat", 15551978), ("OffsetCommit", 15551977)]
    fetch = [x for x in recs if x["request_type"] == "Fetch"][0]
    assert fetch["response_duration"] > 500000  # answered after the other two
