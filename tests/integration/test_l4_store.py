# SPDX-License-Identifier: Apache-2.0
"""l4_flow_log end to end: the agent's packet path over reference captures, sent with
--server to a flowscope-server, stored, and read back with /v1/query. Every row the server
returns must equal, column for column, what `flowscope-agent --stdout --read-pcap` prints
for the same file (l4_flow_log and l7_flow_log alike), and the server's counters must
count both kinds. Hand-encoded batches then check the ingest of l4 rows on its own:
duplicates, atomicity with l7 rows, refusals with their reason.

The captures are the reference captures in ../shared/pcaps (see its README).
A missing capture directory fails the test with the reason (FLOWSCOPE_PCAPS names
another copy); nothing is skipped."""
import json
import re
import subprocess
import time
import urllib.parse

import pytest

from conftest import AGENT, PCAPS, Server, need_pcaps
from wirebatch import pb_bytes, pb_int, zstd_compress


# http.pcap: one HTTP flow and its request; server-queue-lack.pcap: a failed handshake;
# ipip.pcap: flows inside an IPIP tunnel; amqp1.pcap: IPv6 flows.
CAPTURES = ["http.pcap", "server-queue-lack.pcap", "_common/ipip.pcap", "amqp/amqp1.pcap"]
# What each capture is here for, so that the comparison cannot pass on rows without it.
COVERS = {
    "http.pcap": lambda l4, l7: l7 and any(r["l7_protocol"] == "HTTP" for r in l4),
    "server-queue-lack.pcap": lambda l4, l7: any(r["close_type_name"] == "server_queue_lack"
                                                 for r in l4),
    "_common/ipip.pcap": lambda l4, l7: any(r["tunnel_tier"] and r["tunnel_ip_0"] for r in l4),
    "amqp/amqp1.pcap": lambda l4, l7: any("ip6_0" in r for r in l4),
}


@pytest.fixture
def server(tmpdir_path):
    s = Server(tmpdir_path)
    yield s
    s.kill()


def stdout_rows(path):
    """What the agent prints for a capture: (l4 rows, l7 rows, how many flow_metrics rows),
    "table" taken out. The flow_metrics rows are stored too, and checked in
    test_metrics_store.py: here they are only counted."""
    p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(path)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    out = {"l4_flow_log": [], "l7_flow_log": []}
    nmetrics = 0
    for r in rows:
        table = r.pop("table")
        if table in out:
            out[table].append(r)
        else:
            assert table.startswith(("network.", "network_map.")), table
            nmetrics += 1
    return out["l4_flow_log"], out["l7_flow_log"], nmetrics


def send(server, path, agent_id):
    """The same capture through --server; returns the agent's counters."""
    p = subprocess.run([str(AGENT), "--read-pcap", str(path), "--server", server.url,
                        "--agent-id", agent_id, "--stats"],
                       capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    stats = {}
    for line in err.splitlines():
        m = re.match(r"^  ([a-z_0-9]+)\s+(\d+)  ", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
    return stats


def query(server, sql):
    status, body = server.json("POST", "/v1/query", urllib.parse.urlencode({"sql": sql}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    assert not body.get("truncated"), body
    return body["columns"], body["values"]


def table(server, name):
    cols, values = query(server, f"SELECT * FROM {name}")
    return cols, [dict(zip(cols, v)) for v in values]


# l7_flow_log columns the server adds at ingest, which the agent's JSON does not have
# (docs/records.md): the row id, and the resp_tcp_seq of a response without its request;
# and on both tables the tagger's ids (docs/tagging.md, checked by test_tagging.py).
TAG_COLUMNS = {f"{n}_{side}" for side in (0, 1) for n in (
    "host_id", "gprocess_id", "container_id", "netns_id", "custom_service_id",
    "pod_cluster_id", "pod_ns_id", "pod_node_id", "pod_id", "pod_group_id",
    "pod_service_id", "auto_service_id", "auto_service_type", "auto_instance_id",
    "auto_instance_type")}
SERVER_COLUMNS = {"_id", "lone_resp_tcp_seq"} | TAG_COLUMNS


def same_rows(cols, stored, printed, key):
    """stored (dicts of every column) equals printed (JSON objects): each printed key is
    a column with the same value, a column the JSON leaves out (the other address family)
    is NULL, and the columns are the JSON's keys in the same order."""
    assert len(stored) == len(printed)
    for s, p in zip(sorted(stored, key=key), sorted(printed, key=key)):
        assert [c for c in cols if c in p] == list(p), "column order"
        assert set(p) <= set(cols)
        for c in cols:
            if c in SERVER_COLUMNS:
                continue
            assert s[c] == p.get(c), (c, s, p)
        if "_id" in cols:
            assert isinstance(s["_id"], int) and 0 < s["_id"] < 2**63, s


def l4_key(r):
    return (r["flow_id"], r["time"], r["end_time"], r["close_type"])


def l7_key(r):
    return (r["start_time"], r["end_time"], r["client_port"], r["req_tcp_seq"], r["type"])


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("capture", CAPTURES)
def test_capture_rows_equal_stdout(server, capture):
    need_pcaps()
    path = PCAPS / capture
    l4, l7, nmetrics = stdout_rows(path)
    assert l4 and COVERS[capture](l4, l7), f"{capture} no longer gives the rows it is for"
    stats = send(server, path, "pcap-agent")
    assert nmetrics and stats["records_exported"] == len(l4) + len(l7) + nmetrics
    assert stats["drop_rejected"] == 0 and stats["drop_exit_unsent"] == 0

    cols, stored = table(server, "l4_flow_log")
    same_rows(cols, stored, l4, l4_key)
    cols, stored = table(server, "l7_flow_log")
    same_rows(cols, stored, l7, l7_key)

    # Aggregates and a time range over the stored rows agree with the printed ones.
    _, values = query(server, "SELECT server_port, Sum(byte_tx), Count(row) FROM l4_flow_log "
                              "GROUP BY server_port ORDER BY server_port")
    want = {}
    for r in l4:
        b, n = want.get(r["server_port"], (0, 0))
        want[r["server_port"]] = (b + r["byte_tx"], n + 1)
    assert values == [[p, b, n] for p, (b, n) in sorted(want.items())]
    lo = min(r["time"] for r in l4)
    _, values = query(server, f"SELECT Count(row) FROM flow_log.l4_flow_log "
                              f"WHERE time >= {lo} AND time < {lo + 1}")
    assert values == [[sum(1 for r in l4 if r["time"] == lo)]]

    # The server counted every kind: in its ingest rows and in the agent's entry.
    status, data, _ = server.request("GET", "/metrics")
    text = data.decode()
    total = len(l4) + len(l7) + nmetrics
    assert metric(text, "flowscope_ingest_rows_total") == total
    assert metric(text, "flowscope_store_rows_written_total") == total
    status, body = server.json("GET", "/v1/agents")
    assert status == 200 and body["agents"][0]["rows"] == total


def test_show_tables_tags_metrics(server):
    cols, values = query(server, "SHOW TABLES")
    assert values[:2] == [["l7_flow_log", "flow_log"], ["l4_flow_log", "flow_log"]]
    _, tags = query(server, "SHOW TAGS FROM flow_log.l4_flow_log")
    _, metrics = query(server, "SHOW METRICS FROM l4_flow_log")
    cols, _ = query(server, "SELECT * FROM l4_flow_log")
    # SELECT * is the stored columns; SHOW TAGS adds the virtual ones (type "tag", names
    # through the flow_tag dictionaries: docs/tagging.md) after them
    stored = [t for t in tags if t[1] != "tag"]
    virtual = [t for t in tags if t[1] == "tag"]
    assert tags[len(stored):] == virtual and len(virtual) == 28
    assert sorted(t[0] for t in stored + metrics) == sorted(cols)
    assert {"byte_tx", "rtt", "retrans_tx", "srt_sum"} <= {m[0] for m in metrics}
    assert {"ip4_1", "server_port", "close_type_name", "tunnel_ip_0"} <= {t[0] for t in tags}


# ---- hand-encoded batches --------------------------------------------------------------

def l4_record(flow_id, time_s, port=80, **extra):
    """An L4Record (src/wire/flowscope_wire.proto): 10.0.0.1:40000 -> 10.0.0.2:port."""
    r = (pb_int(1, flow_id) + pb_int(2, time_s * 10**9) + pb_int(3, time_s * 10**9 - 5000)
         + pb_int(4, time_s * 10**9 - 1000) + pb_int(5, 1) + pb_int(7, 5) + pb_int(8, 4)
         + pb_int(9, 6) + pb_bytes(11, bytes([10, 0, 0, 1])) + pb_bytes(12, bytes([10, 0, 0, 2]))
         + pb_int(13, 40000) + pb_int(14, port) + pb_int(27, 3) + pb_int(29, 180))
    for field, value in extra.items():
        r += pb_int(int(field[1:]), value)
    return r


def l7_record(time_s):
    return (pb_int(1, time_s * 10**6) + pb_int(2, time_s * 10**6 + 100) + pb_int(3, 2)
            + pb_int(4, 0) + pb_int(6, 4) + pb_int(7, 6) + pb_int(8, 20)
            + pb_bytes(14, bytes([10, 0, 0, 1])) + pb_bytes(15, bytes([10, 0, 0, 2]))
            + pb_int(16, 40000) + pb_int(17, 80))


def mixed_batch(seq, l7=(), l4=(), agent_id="hand"):
    """A Batch with L7Records (field 4) and L4Records (field 6)."""
    pb = pb_int(1, 1) + pb_bytes(2, agent_id) + pb_int(3, seq)
    for r in l7:
        pb += pb_bytes(4, r)
    for r in l4:
        pb += pb_bytes(6, r)
    return zstd_compress(pb)


def ingest(server, body):
    return server.json("POST", "/v1/ingest", body,
                       {"Content-Type": "application/x-flowscope-batch",
                        "Content-Encoding": "zstd", "Flowscope-Wire": "1"})


def counts(server):
    _, a = query(server, "SELECT Count(row) FROM l7_flow_log")
    _, b = query(server, "SELECT Count(row) FROM l4_flow_log")
    return a[0][0], b[0][0]


def test_ingest_l4_batches(server):
    t = 1700000000
    body = mixed_batch(10, [l7_record(t)], [l4_record(1, t), l4_record(2, t + 1, port=443)])
    status, reply = ingest(server, body)
    # "rows" counts l7 and l4 rows together.
    assert (status, reply) == (200, {"acked": 10, "rows": 3})
    assert counts(server) == (1, 2)
    # The resend: acknowledged, nothing written to either table.
    assert ingest(server, body) == (200, {"acked": 10, "rows": 0, "duplicate": True})
    assert counts(server) == (1, 2)
    _, values = query(server, "SELECT flow_id, server_port, close_type_name, duration, "
                              "packet_tx, byte_tx, tunnel_ip_0, mac_0 FROM l4_flow_log "
                              "ORDER BY flow_id")
    assert values == [[1, 80, "finish", 4, 3, 180, "", "00:00:00:00:00:00"],
                      [2, 443, "finish", 4, 3, 180, "", "00:00:00:00:00:00"]]

    # A bad l4 field refuses the whole batch, its good l7 row included, with the reason.
    for bad, reason in ((l4_record(3, t, f5=64), "l4 record 1: close_type out of range (0..63)"),
                        (l4_record(3, t, f17=4096), "l4 record 1: vlan out of range (0..4095)"),
                        (l4_record(3, t, f20=7), "l4 record 1: tunnel fields without tunnel_tier")):
        status, reply = ingest(server, mixed_batch(11, [l7_record(t)], [l4_record(4, t), bad]))
        assert (status, reply) == (400, {"error": reason})
    assert counts(server) == (1, 2)
    # Its seq is still free: the same seq with good rows is stored.
    status, reply = ingest(server, mixed_batch(11, [l7_record(t)], [l4_record(4, t)]))
    assert (status, reply) == (200, {"acked": 11, "rows": 2})
    assert counts(server) == (2, 3)

    # One more record than the batch bound, l7 and l4 together: too large.
    status, reply = ingest(server, mixed_batch(12, [l7_record(t)],
                                               [l4_record(i, t) for i in range(16384)]))
    assert status == 413 and reply == {"error": "16385 records exceed 16384"}
    assert counts(server) == (2, 3)

    status, data, _ = server.request("GET", "/metrics")
    assert metric(data.decode(), "flowscope_ingest_rows_total") == 5
    assert metric(data.decode(), 'flowscope_ingest_batches_total{result="bad"}') == 3


def test_l4_rows_survive_restart(tmpdir_path):
    """Stored l4 rows, and the seq that makes their resend a duplicate, outlive the
    server (rows of now: older ones would go with the retention run at start)."""
    data_dir = tmpdir_path / "data"
    s = Server(tmpdir_path, data_dir=data_dir)
    try:
        body = mixed_batch(5, [], [l4_record(1, int(time.time()))], agent_id="restart")
        assert ingest(s, body) == (200, {"acked": 5, "rows": 1})
        assert s.stop() == 0
        s = Server(tmpdir_path, data_dir=data_dir)
        assert counts(s) == (0, 1)
        assert ingest(s, body) == (200, {"acked": 5, "rows": 0, "duplicate": True})
        assert counts(s) == (0, 1)
    finally:
        s.kill()
