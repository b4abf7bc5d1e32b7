# SPDX-License-Identifier: Apache-2.0
"""Dubbo: the reference captures through --read-pcap against DeepFlow's .result files
beside them (Debian 12's tshark has no Dubbo dissector: `tshark -G protocols` lists none,
which this test checks, so the .result files are the oracle), plus the header fields tshark
can still show as raw TCP payload. There is no Dubbo provider in Debian: captures only."""
import json
import re
import subprocess

from conftest import AGENT, PCAPS, need_pcaps

# capture -> its .result file
CAPTURES = {"dubbo-eys": "dubbo-eys", "dubbo-sw8": "dubbo-sw8", "dubbo_hessian2": "dubbo_hessian"}


def read_pcap(path):
    p = subprocess.run([str(AGENT), "--stdout", "--ebpf=false", "--read-pcap", str(path)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log"]


def result_infos(name):
    """DeepFlow's DubboInfo lines as dicts of the fields this test compares."""
    out = []
    for line in (PCAPS / "dubbo" / f"{name}.result").read_text().splitlines():
        if not line.startswith("DubboInfo"):
            continue
        g = lambda pat: (re.search(pat, line) or [None, None])[1]
        out.append({
            "type": g(r"msg_type: (\w+)"), "request_id": int(g(r"request_id: (\d+)")),
            "version": g(r'dubbo_version: "([^"]*)"'), "service": g(r'service_name: "([^"]*)"'),
            "method": g(r'method_name: "([^"]*)"'),
            "trace": g(r'trace_ids: PrioFields\(\[PrioField \{ prio: \d+, field: "([^"]*)"'),
            "span": g(r'span_id: PrioField \{ prio: \d+, field: "([^"]*)"'),
            "code": g(r"status_code: Some\((\d+)\)"), "endpoint": g(r'endpoint: Some\("([^"]*)"'),
            "req_size": g(r"req_msg_size: Some\((\d+)\)"),
            "resp_size": g(r"resp_msg_size: Some\((\d+)\)"),
        })
    return out


def tshark_headers(path):
    """Every Dubbo header in the capture, cut from tshark's raw TCP payload."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.len > 0", "-T", "fields",
                          "-e", "tcp.payload"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    hdrs = []
    for line in out.split():
        b = bytes.fromhex(line)
        if b[:2] == b"\xda\xbb":
            hdrs.append({"request": bool(b[2] & 0x80), "status": b[3],
                         "id": int.from_bytes(b[4:12], "big"),
                         "length": 16 + int.from_bytes(b[12:16], "big")})
    return hdrs


def test_tshark_has_no_dubbo_dissector():
    out = subprocess.run(["tshark", "-G", "protocols"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert not [l for l in out.splitlines() if "dubbo" in l.lower()], \
        "tshark now dissects Dubbo: compare against it instead of the .result files"


def test_dubbo_captures_vs_result_files():
    need_pcaps()
    for name in CAPTURES:
        path = PCAPS / "dubbo" / f"{name}.pcap"
        recs = [r for r in read_pcap(path) if r["l7_protocol"] == "Dubbo"]
        infos = result_infos(CAPTURES[name])
        reqs = [i for i in infos if i["type"] == "Request"]
        resps = {i["request_id"]: i for i in infos if i["type"] == "Response"}
        hdrs = tshark_headers(path)
        assert len(recs) == len(reqs), name
        for r, q in zip(sorted(recs, key=lambda r: r["start_time"]), reqs):
            assert r["request_type"] == q["method"]
            assert r["request_domain"] == q["service"]
            assert r["request_resource"] == q["service"]
            assert r["endpoint"] == q["endpoint"]
            assert r["version"] == q["version"]
            assert r["request_id"] == q["request_id"]
            # DeepFlow's req_msg_size is the body; ours the whole message
            assert r["request_length"] == int(q["req_size"]) + 16
            assert r["trace_id"] == (q["trace"] or "")
            # the record keeps 64 bytes of a span id (room for a sw8 segment id and span)
            assert r["span_id"] == (q["span"] or "")[:64]
            h = [h for h in hdrs if h["request"] and h["id"] == r["request_id"]]
            assert [x["length"] for x in h] == [r["request_length"]]
            a = resps.get(q["request_id"])
            if a:
                assert r["type"] == 2
                assert r["response_code"] == int(a["code"]) == 20
                assert r["response_status"] == 0
                assert r["response_length"] == int(a["resp_size"]) + 16
            else:  # the capture ends before the response
                assert r["type"] == 0 and r["response_code"] is None
