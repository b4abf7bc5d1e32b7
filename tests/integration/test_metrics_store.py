# SPDX-License-Identifier: Apache-2.0
"""flow_metrics.network / network_map end to end: the agent's packet path over reference
captures with both --stdout and --server, in one run, and the server's tables read back
with /v1/query. The rows of network.1s, network.1m, network_map.1s and network_map.1m the
server returns must equal, column for column, the rows the agent printed (same rows, so
the same counts and the same counter sums per key, which are checked on their own too,
through the query layer's aggregates and each spelling of the dotted table names). The
agent's and the server's counters must count them with the other kinds. Hand-encoded
batches then check the ingest of NetRow messages on its own: duplicates, atomicity with
the other kinds, refusals with their reason, the shared record bound.

The captures are the reference captures in ../shared/pcaps (see its README).
A missing capture directory fails the test with the reason (FLOWSCOPE_PCAPS names
another copy); nothing is skipped."""
import collections
import json
import re
import subprocess
import time
import urllib.parse

import pytest

from conftest import AGENT, PCAPS, Server, need_pcaps
from wirebatch import pb_bytes, pb_int, zstd_compress

NET_TABLES = ["network.1s", "network.1m", "network_map.1s", "network_map.1m"]
# The key columns of each kind of table; every other column of a row is a counter.
KEYS = {
    "network": ["time", "ip4", "ip6", "role", "server_port", "protocol", "signal_source"],
    "network_map": ["time", "ip4_0", "ip4_1", "ip6_0", "ip6_1", "observation_point",
                    "server_port", "protocol", "signal_source"],
}
# The first 10 counters of a row, in the agent's order (net_counter_names), and the last:
# enough to pin the column order down at both ends.
FIRST_COUNTERS = ["packet_tx", "packet_rx", "byte_tx", "byte_rx", "l3_byte_tx", "l3_byte_rx",
                  "l4_byte_tx", "l4_byte_rx", "new_flow", "closed_flow"]

# http.pcap: one HTTP flow; server-queue-lack.pcap: a failed handshake (anomaly counters);
# amqp1.pcap: IPv6; udp_normal.pcap: UDP; 171-mysql.pcap: 23 flows over four minutes;
# decapsulate_erspan1.pcap: 1916 rows, IPv4 and IPv6, more than one batch.
CAPTURES = ["http.pcap", "server-queue-lack.pcap", "amqp/amqp1.pcap", "udp_normal.pcap",
            "mysql/171-mysql.pcap", "_common/decapsulate_erspan1.pcap"]
# What each capture is here for, so that the comparison cannot pass on rows without it.
COVERS = {
    "http.pcap": lambda by: sum(r["byte_tx"] for r in by["network_map.1s"]) == 609,
    "server-queue-lack.pcap": lambda by: any(r["server_queue_lack"]
                                             for r in by["network_map.1m"]),
    "amqp/amqp1.pcap": lambda by: any("ip6_0" in r for r in by["network_map.1s"]),
    "udp_normal.pcap": lambda by: {r["protocol"] for r in by["network.1m"]} == {17},
    "mysql/171-mysql.pcap": lambda by: len({r["time"] for r in by["network_map.1m"]}) == 4,
    "_common/decapsulate_erspan1.pcap": lambda by: (
        sum(len(by[t]) for t in NET_TABLES) > 1000
        and {"ip4" in r for r in by["network.1s"]} == {True, False}),
}


@pytest.fixture
def server(tmpdir_path):
    s = Server(tmpdir_path)
    yield s
    s.kill()


def run_agent(server, path, agent_id):
    """One run over the capture, printing and sending: (printed rows by table, counters)."""
    p = subprocess.run([str(AGENT), "--read-pcap", str(path), "--stdout", "--server",
                        server.url, "--agent-id", agent_id, "--stats"],
                       capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    by = collections.defaultdict(list)
    for line in p.stdout.decode().splitlines():
        r = json.loads(line)
        by[r.pop("table")].append(r)
    stats = {}
    for line in err.splitlines():
        m = re.match(r"^  ([a-z_0-9]+)\s+(\d+)  ", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
    return by, stats


def query(server, sql, db=None):
    fields = {"sql": sql}
    if db is not None:
        fields["db"] = db
    status, body = server.json("POST", "/v1/query", urllib.parse.urlencode(fields),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    assert not body.get("truncated"), body
    return body["columns"], body["values"]


def keys_of(table):
    return KEYS[table.split(".")[0]]


def same_rows(table, cols, stored, printed):
    """stored (dicts of every column) equals printed (JSON objects), as multisets: each
    printed key is a column with the same value, a column the JSON leaves out (the other
    address family) is NULL, and the columns are the JSON's keys in the same order. A
    bucket may be printed in more than one row (a flow that ends after its second went out,
    at the end of a capture): each is stored as it came."""
    assert len(stored) == len(printed), table
    k = lambda r: tuple(str(r.get(c)) for c in cols)  # noqa: E731
    for s, p in zip(sorted(stored, key=k), sorted(printed, key=k)):
        assert [c for c in cols if c in p] == list(p), "column order"
        assert set(p) <= set(cols)
        for c in cols:
            assert s[c] == p.get(c), (table, c, s, p)


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("capture", CAPTURES)
def test_capture_metrics_equal_stdout(server, capture):
    need_pcaps()
    by, stats = run_agent(server, PCAPS / capture, "pcap-agent")
    assert all(by[t] for t in NET_TABLES), f"{capture}: a network table has no rows"
    assert COVERS[capture](by), f"{capture} no longer gives the rows it is for"
    printed = sum(len(v) for v in by.values())
    # Every printed line was sent and acknowledged, network rows counted with the rest.
    assert stats["records_written"] == printed
    assert stats["records_exported"] == printed
    assert stats["drop_rejected"] == 0 and stats["drop_exit_unsent"] == 0
    assert stats["drop_metric_full"] == 0

    for table in NET_TABLES:
        # Every column of every row, by the bare dotted name.
        cols, values = query(server, f"SELECT * FROM {table}")
        assert cols[:len(keys_of(table))] == keys_of(table)
        assert cols[len(keys_of(table)):][:10] == FIRST_COUNTERS
        assert cols[-1] == "tcp_rst_fail" and len(cols) == len(keys_of(table)) + 55
        same_rows(table, cols, [dict(zip(cols, v)) for v in values], by[table])

        # The same through aggregates, per key, by the other spellings: counts and sums
        # of every counter (maxima for *_max) equal what the agent printed.
        counters = cols[len(keys_of(table)):]
        group = ["time", "ip4" if table.startswith("network.") else "ip4_0",
                 "ip6" if table.startswith("network.") else "ip6_1", "server_port"]
        aggs = ", ".join(f"{'Max' if c.endswith('_max') else 'Sum'}({c})" for c in counters)
        want = collections.defaultdict(lambda: [0] * (len(counters) + 1))
        for r in by[table]:
            w = want[tuple(r.get(g) for g in group)]
            w[0] += 1
            for i, c in enumerate(counters):
                w[i + 1] = max(w[i + 1], r[c]) if c.endswith("_max") else w[i + 1] + r[c]
        for spelling, req_db in ((f'"{table}"', None), (f"flow_metrics.{table}", None),
                                 (f'flow_metrics."{table}"', "flow_metrics")):
            _, values = query(server, f"SELECT {', '.join(group)}, Count(row), {aggs} "
                                      f"FROM {spelling} GROUP BY {', '.join(group)}", req_db)
            got = {tuple(v[:len(group)]): v[len(group):] for v in values}
            assert got == dict(want), (table, spelling)

    # A time range, on the 1m table: the rows of the first minute.
    first = min(r["time"] for r in by["network_map.1m"])
    _, values = query(server, f"SELECT Count(row), Sum(packet_tx) FROM network_map.1m "
                              f"WHERE time >= {first} AND time < {first + 60}")
    rows = [r for r in by["network_map.1m"] if r["time"] == first]
    assert values == [[len(rows), sum(r["packet_tx"] for r in rows)]]

    # The other kinds are stored as before, beside them.
    _, values = query(server, "SELECT Count(row) FROM l4_flow_log")
    assert values == [[len(by["l4_flow_log"])]]
    _, values = query(server, "SELECT Count(row) FROM l7_flow_log")
    assert values == [[len(by["l7_flow_log"])]]

    # The server counted every kind: in its ingest rows and in the agent's entry.
    _, data, _ = server.request("GET", "/metrics")
    assert metric(data.decode(), "flowscope_ingest_rows_total") == printed
    assert metric(data.decode(), "flowscope_store_rows_written_total") == printed
    status, body = server.json("GET", "/v1/agents")
    assert status == 200 and body["agents"][0]["rows"] == printed


def test_show_tables_tags_metrics(server):
    _, values = query(server, "SHOW TABLES")
    assert values == [["l7_flow_log", "flow_log"], ["l4_flow_log", "flow_log"],
                      ["network.1s", "flow_metrics"], ["network.1m", "flow_metrics"],
                      ["network_map.1s", "flow_metrics"], ["network_map.1m", "flow_metrics"],
                      ["tag_dict", "flow_tag"], ["tag_link", "flow_tag"], ["k8s_label", "flow_tag"],
                      ["process", "flow_tag"], ["host", "flow_tag"]]
    _, values = query(server, "SHOW TABLES", db="flow_metrics")
    assert [v[0] for v in values] == NET_TABLES
    _, values = query(server, "SHOW DATABASES")
    assert values == [["flow_log"], ["flow_metrics"], ["flow_tag"]]
    for table in NET_TABLES:
        _, tags = query(server, f"SHOW TAGS FROM flow_metrics.{table}")
        _, metrics = query(server, f'SHOW METRICS FROM "{table}"')
        cols, _ = query(server, f"SELECT * FROM {table}")
        # Keys are tags, counters metrics, and together they are every column.
        assert [t[0] for t in tags] == keys_of(table)
        assert [m[0] for m in metrics] == cols[len(keys_of(table)):]
        assert {m[1] for m in metrics} == {"int"}
    # The request's db decides which tables a bare name may be.
    status, body = server.json("POST", "/v1/query",
                               urllib.parse.urlencode({"db": "flow_log",
                                                       "sql": "SELECT * FROM network.1s"}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body) == (400, {"error": "table 'network.1s' is in database "
                                             "'flow_metrics', not the request's db 'flow_log'"})


# ---- hand-encoded batches --------------------------------------------------------------

# NetRow fields (src/wire/flowscope_wire.proto): the key, then counters from field 10 in
# the agent's order. Used here: packet_tx 10, byte_tx 12, rtt_max 24, server_queue_lack 57.


def net_row(time_s, table=0, role=None, port=80, **counters):
    """A NetRow: network rows for 10.0.0.1, network_map rows for 10.0.0.1 -> 10.0.0.2
    seen at rest (5); counters as f<field>=value."""
    r = pb_int(1, time_s) + pb_int(2, table) + pb_int(3, 4) + pb_int(4, 6)
    if role is not None:
        r += pb_int(5, role)
    if table in (1, 3):
        r += pb_int(6, 5)
    r += pb_int(7, port) + pb_bytes(8, bytes([10, 0, 0, 1]))
    if table in (1, 3):
        r += pb_bytes(9, bytes([10, 0, 0, 2]))
    for field, value in counters.items():
        r += pb_int(int(field[1:]), value)
    return r


def l4_record(flow_id, time_s):
    """An L4Record: 10.0.0.1:40000 -> 10.0.0.2:80."""
    return (pb_int(1, flow_id) + pb_int(2, time_s * 10**9) + pb_int(7, 5) + pb_int(8, 4)
            + pb_int(9, 6) + pb_bytes(11, bytes([10, 0, 0, 1]))
            + pb_bytes(12, bytes([10, 0, 0, 2])) + pb_int(14, 80))


def batch(seq, l4=(), net=(), agent_id="hand"):
    """A Batch with L4Records (field 6) and NetRows (field 7)."""
    pb = pb_int(1, 1) + pb_bytes(2, agent_id) + pb_int(3, seq)
    for r in l4:
        pb += pb_bytes(6, r)
    for r in net:
        pb += pb_bytes(7, r)
    return zstd_compress(pb)


def ingest(server, body):
    return server.json("POST", "/v1/ingest", body,
                       {"Content-Type": "application/x-flowscope-batch",
                        "Content-Encoding": "zstd", "Flowscope-Wire": "1"})


def counts(server):
    return tuple(query(server, f"SELECT Count(row) FROM {t}")[1][0][0]
                 for t in ["l4_flow_log"] + NET_TABLES)


def test_ingest_net_batches(server):
    t = 1700000040  # a whole minute
    body = batch(10, [l4_record(1, t)],
                 [net_row(t, 0, role=0, f10=3, f12=180), net_row(t, 0, role=1, f10=2),
                  net_row(t, 2, f12=180), net_row(t, 1, f24=150),
                  net_row(t, 3, f24=150, f57=1)])
    status, reply = ingest(server, body)
    # "rows" counts every kind together.
    assert (status, reply) == (200, {"acked": 10, "rows": 6})
    assert counts(server) == (1, 2, 1, 1, 1)
    # The resend: acknowledged, nothing written to any table.
    assert ingest(server, body) == (200, {"acked": 10, "rows": 0, "duplicate": True})
    assert counts(server) == (1, 2, 1, 1, 1)
    _, values = query(server, "SELECT role, ip4, ip6, packet_tx, byte_tx, packet_rx, "
                              "tcp_rst_fail FROM network.1s ORDER BY role")
    assert values == [[0, "10.0.0.1", None, 3, 180, 0, 0], [1, "10.0.0.1", None, 2, 0, 0, 0]]
    _, values = query(server, "SELECT time, ip4_0, ip4_1, observation_point, server_port, "
                              "protocol, rtt_max, server_queue_lack FROM network_map.1m")
    assert values == [[t, "10.0.0.1", "10.0.0.2", "rest", 80, 6, 150, 1]]

    # A bad network row refuses the whole batch, its good l4 row included, with the reason.
    for bad, reason in (
            (net_row(t + 1, 2), "net row 1: time_s of a 1m row not on a whole minute"),
            (net_row(t, 4), "net row 1: table missing or not 0..3"),
            (net_row(t, 1, role=0), "net row 1: role on a network_map row"),
            (net_row(t, 0, port=65536), "net row 1: port out of range"),
            (net_row(t, 0, f12=2**63), "net row 1: counter byte_tx above 2^63-1")):
        status, reply = ingest(server, batch(11, [l4_record(2, t)], [net_row(t, 0), bad]))
        assert (status, reply) == (400, {"error": reason})
    assert counts(server) == (1, 2, 1, 1, 1)
    # Its seq is still free: the same seq with good rows is stored.
    status, reply = ingest(server, batch(11, [l4_record(2, t)], [net_row(t + 1, 0)]))
    assert (status, reply) == (200, {"acked": 11, "rows": 2})
    assert counts(server) == (2, 3, 1, 1, 1)

    # One more record than the batch bound, every kind together: too large.
    status, reply = ingest(server, batch(12, [l4_record(3, t)],
                                         [net_row(t, 0)] * 16384))
    assert status == 413 and reply == {"error": "16385 records exceed 16384"}
    assert counts(server) == (2, 3, 1, 1, 1)

    _, data, _ = server.request("GET", "/metrics")
    assert metric(data.decode(), "flowscope_ingest_rows_total") == 8
    assert metric(data.decode(), 'flowscope_ingest_batches_total{result="bad"}') == 5


def test_net_rows_survive_restart(tmpdir_path):
    """Stored network rows, and the seq that makes their resend a duplicate, outlive the
    server (rows of now: older ones would go with the retention run at start)."""
    data_dir = tmpdir_path / "data"
    now = int(time.time()) // 60 * 60
    s = Server(tmpdir_path, data_dir=data_dir)
    try:
        body = batch(5, [], [net_row(now, 3, f10=4)], agent_id="restart")
        assert ingest(s, body) == (200, {"acked": 5, "rows": 1})
        assert s.stop() == 0
        s = Server(tmpdir_path, data_dir=data_dir)
        assert query(s, "SELECT packet_tx FROM network_map.1m")[1] == [[4]]
        assert ingest(s, body) == (200, {"acked": 5, "rows": 0, "duplicate": True})
        assert query(s, "SELECT Count(row) FROM network_map.1m")[1] == [[1]]
    finally:
        s.kill()
