# SPDX-License-Identifier: Apache-2.0
"""The ClickHouse store backend end to end.

Every test starts its own clickhouse-server (Debian's package, chserver.py: loopback, free
ports, a temporary directory, stopped at the end, also on failure). A missing
clickhouse-server is a failure that names the package, never a skip.

- The same data (the agent's --read-pcap output of several captures, and hand-made l7,
  l4 and flow_metrics batches of test_l4_store.py / test_metrics_store.py) goes to a
  flowscope-server on SQLite and one on ClickHouse; a fixed list of queries (filters,
  GROUP BY, ORDER BY with NULLs, percentiles, time(), LIKE, integer division, LIMIT,
  SHOW) must give identical answers.
- Retention drops old day partitions; a dead ClickHouse makes ingest answer 503 (the
  agent keeps the batch: checked with the real agent too) and queries fail with a clear
  error, and the batch is stored once ClickHouse is back; a two-shard cluster on this
  machine, written by two flowscope-servers, answers over both shards through either;
  `flowscope up --store` reaches the server; bad URLs and an absent ClickHouse at start
  are refused with what to do.
"""
import json
import subprocess
import time
import urllib.parse

import pytest

from chserver import ClickHouse, free_port
from conftest import AGENT, PCAPS, SERVER, Server, need_pcaps
from test_l4_store import ingest, l4_record, l7_record, mixed_batch, send
from test_metrics_store import batch as net_batch
from test_metrics_store import net_row

# Captures with l7 (HTTP, DNS, AMQP), failed handshakes, tunnels and IPv6 rows.
CAPTURES = ["http.pcap", "server-queue-lack.pcap", "_common/ipip.pcap", "amqp/amqp1.pcap",
            "dns/dns.pcap", "dns/nxdomain.pcap", "http/client-ip.pcap"]


def query(server, sql):
    status, body = server.json("POST", "/v1/query", urllib.parse.urlencode({"sql": sql}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    return status, body


def rows(server, sql):
    status, body = query(server, sql)
    assert status == 200, (sql, body)
    return body["columns"], body["values"]


@pytest.fixture(scope="module")
def ch():
    c = ClickHouse().start()
    yield c
    c.stop()


def hand_batches(agent_id):
    """l7 and l4 rows with NULLs and edge values, and flow_metrics rows of all four tables."""
    t = 1700000040
    l7 = [l7_record(t + i) for i in range(5)]
    l4 = [l4_record(i, t + i, port=80 if i % 2 else 443) for i in range(1, 8)]
    net = [net_row(t, 0, role=0, f10=3, f12=100), net_row(t, 0, role=1, f10=5, f12=70),
           net_row(t, 1, f10=2, f12=9, f24=77), net_row(t + 60, 2, role=0, f10=1),
           net_row(t + 60, 3, f10=4, f57=1)]
    return [mixed_batch(1, l7, l4, agent_id=agent_id), net_batch(2, [], net, agent_id=agent_id)]


@pytest.fixture(scope="module")
def pair(ch, tmp_path_factory):
    """A SQLite and a ClickHouse flowscope-server, fed the same rows."""
    need_pcaps()
    d = tmp_path_factory.mktemp("pair")
    lite = Server(d, data_dir=d / "lite")
    click = Server(d, "--store", ch.store_url("equiv"), data_dir=d / "click")
    try:
        for i, cap in enumerate(CAPTURES):
            for s in (lite, click):
                stats = send(s, PCAPS / cap, f"pcap-{i}")
                assert stats["drop_rejected"] == 0 and stats["drop_exit_unsent"] == 0
        for s in (lite, click):
            for body in hand_batches("hand"):
                status, reply = ingest(s, body)
                assert status == 200, reply
        yield lite, click
    finally:
        lite.kill()
        click.kill()


# (sql, ordered): ordered results compare as lists, the others as sorted lists.
QUERIES = [
    ("SHOW TABLES", True),
    ("SHOW TAGS FROM l4_flow_log", True),
    ("SELECT Count(row) FROM l7_flow_log", True),
    ("SELECT * FROM l7_flow_log", False),
    ("SELECT * FROM l4_flow_log", False),
    ("SELECT * FROM network.1s", False),
    ("SELECT * FROM flow_metrics.network.1m", False),
    ("SELECT * FROM network_map.1s", False),
    ("SELECT * FROM network_map.1m", False),
    ("SELECT l7_protocol, Count(row), Sum(request_length), Avg(response_duration), "
     "Max(response_code), Min(response_duration), Uniq(client_port) FROM l7_flow_log "
     "GROUP BY l7_protocol ORDER BY l7_protocol", True),
    ("SELECT server_port, Percentile(response_duration, 50), Percentile(response_duration, 95),"
     " Percentile(response_duration, 0), Percentile(response_duration, 100) FROM l7_flow_log "
     "GROUP BY server_port ORDER BY server_port", True),
    ("SELECT Percentile(byte_tx, 90), Percentile(rtt, 25), Avg(byte_tx) FROM l4_flow_log", True),
    ("SELECT time(time, 60) AS t, Count(row), Sum(byte_tx) FROM l4_flow_log GROUP BY t "
     "ORDER BY t", True),
    ("SELECT time(time, 3600), close_type_name, Count(row) FROM l4_flow_log GROUP BY 1, 2 "
     "ORDER BY 1, 2 DESC", True),
    ("SELECT request_resource, Count(row) FROM l7_flow_log WHERE request_resource LIKE '/%' "
     "GROUP BY request_resource ORDER BY request_resource", True),
    ("SELECT Count(row) FROM l7_flow_log WHERE request_type LIKE 'get'", True),
    ("SELECT l7_protocol, Count(row) FROM l7_flow_log WHERE l7_protocol LIKE 'http' OR "
     "request_domain LIKE '%.%' GROUP BY l7_protocol ORDER BY l7_protocol", True),
    ("SELECT Count(row) FROM l7_flow_log WHERE l7_protocol NOT LIKE 'h_tp'", True),
    ("SELECT Count(row) FROM l7_flow_log WHERE request_domain LIKE '%\\%'", True),
    ("SELECT response_code, client_port, start_time FROM l7_flow_log "
     "ORDER BY response_code, client_port, start_time LIMIT 40", True),
    ("SELECT response_code, client_port, start_time FROM l7_flow_log "
     "ORDER BY response_code DESC, client_port DESC, start_time LIMIT 40", True),
    ("SELECT flow_id, time, byte_tx / 7, byte_tx % 7, byte_tx / 0, byte_tx * 2 - 1 "
     "FROM l4_flow_log ORDER BY flow_id, time, byte_tx LIMIT 30", True),
    ("SELECT flow_id, time FROM l4_flow_log ORDER BY flow_id, time, byte_tx LIMIT 5 OFFSET 3",
     True),
    ("SELECT Count(row) FROM l7_flow_log WHERE response_code IS NULL", True),
    ("SELECT Count(row) FROM l7_flow_log WHERE ip6_0 IS NOT NULL", True),
    ("SELECT Count(row) FROM l4_flow_log WHERE server_port IN (80, 443, 53) AND "
     "time NOT BETWEEN 0 AND 1000", True),
    ("SELECT Count(row) FROM l4_flow_log WHERE ip4_1 = '10.0.0.2' OR tunnel_tier > 0", True),
    ("SELECT Sum(byte_tx), Avg(byte_tx), Max(time), Min(ip4_0), Count(row) FROM l4_flow_log "
     "WHERE time < 0", True),
    ("SELECT role, Sum(packet_tx), Sum(byte_tx) FROM network.1s GROUP BY role ORDER BY role",
     True),
    ("SELECT observation_point, Max(rtt_max), Sum(server_queue_lack) FROM network_map.1m "
     "GROUP BY observation_point ORDER BY observation_point", True),
    ("SELECT trace_id, start_time FROM l7_flow_log WHERE time >= 0 AND time < 2000000000 "
     "ORDER BY start_time LIMIT 7", True),
    ("SELECT Count(row) FROM l7_flow_log WHERE x_request_id_0 = 'nope'", True),
]


def canonical(values, ordered):
    return values if ordered else sorted(values, key=lambda r: json.dumps(r))


def without_row_ids(body, sql):
    """The rows without `_id`: each server numbers its rows itself (time, a random part
    of its own, a counter), so two servers fed the same rows give them different ids. The
    ids must still be there, distinct and positive."""
    if "_id" not in body["columns"]:
        return body["values"]
    k = body["columns"].index("_id")
    ids = [r[k] for r in body["values"]]
    assert all(isinstance(i, int) and 0 < i < 2**63 for i in ids), sql
    assert len(set(ids)) == len(ids), sql
    return [r[:k] + r[k + 1:] for r in body["values"]]


def test_identical_answers(pair):
    lite, click = pair
    assert rows(lite, "SELECT Count(row) FROM l4_flow_log")[1][0][0] > 10
    for sql, ordered in QUERIES:
        ls, lb = query(lite, sql)
        cs, cb = query(click, sql)
        assert (ls, cs) == (200, 200), (sql, lb, cb)
        assert lb["columns"] == cb["columns"], sql
        assert canonical(without_row_ids(lb, sql), ordered) == \
            canonical(without_row_ids(cb, sql), ordered), sql


def test_same_refusals_and_backend_errors(pair):
    lite, click = pair
    for sql in ("SELECT nope FROM l7_flow_log", "DELETE FROM l7_flow_log",
                "SELECT 1; SELECT 2"):
        assert query(lite, sql) == query(click, sql)
    # The backend's name shows in /healthz and /metrics.
    for s, name in ((lite, "sqlite"), (click, "clickhouse")):
        status, health = s.json("GET", "/healthz")
        assert status == 200 and health["store"] == name
        _, text, _ = s.request("GET", "/metrics")
        assert f'flowscope_store_info{{backend="{name}"}} 1' in text.decode()


def test_resend_is_duplicate_and_metrics(pair):
    _, click = pair
    body = hand_batches("hand")[0]
    assert ingest(click, body) == (200, {"acked": 1, "rows": 0, "duplicate": True})
    _, text, _ = click.request("GET", "/metrics")
    assert "flowscope_store_partitions " in text.decode()


def test_retention_drops_old_partitions(ch, tmp_path):
    """Rows older than the retention go with their day partition when the server starts."""
    url = ch.store_url("retention")
    now = int(time.time())
    s = Server(tmp_path, "--store", url, "--retention-days", "2")
    try:
        body = mixed_batch(1, [], [l4_record(1, now - 10 * 86400), l4_record(2, now - 9 * 86400),
                                   l4_record(3, now)], agent_id="ret")
        assert ingest(s, body)[0] == 200
        assert rows(s, "SELECT Count(row) FROM l4_flow_log")[1] == [[3]]
        parts = ch.query("SELECT count() FROM system.parts WHERE database = 'retention' AND "
                         "table = 'l4_flow_log' AND active")
        assert int(parts) == 3
        s.stop()
        s = Server(tmp_path, "--store", url, "--retention-days", "2")
        assert rows(s, "SELECT Count(row) FROM l4_flow_log")[1] == [[1]]
        assert ch.query("SELECT uniqExact(partition) FROM system.parts WHERE database = "
                        "'retention' AND table = 'l4_flow_log' AND active").strip() == "1"
        # Every table's partitions count: the l4 day left, and the day of the flow_tag
        # dictionary entries the tagger wrote for those rows.
        want = ch.query("SELECT uniqExact(table, partition) FROM system.parts WHERE database = "
                        "'retention' AND active AND table NOT IN ('schema_version', "
                        "'ingest_sources', 'ingest_parts')").strip()
        assert int(want) >= 2
        status, text, _ = s.request("GET", "/metrics")
        assert f"flowscope_store_partitions {want}\n" in text.decode()
    finally:
        s.kill()


def test_dead_clickhouse_retry_then_deliver(tmp_path):
    """ClickHouse down: ingest is 503 (retry later: the agent keeps the batch), queries
    fail saying so; back up, the same batch is stored, once."""
    own = ClickHouse().start()
    s = None
    try:
        s = Server(tmp_path, "--store", own.store_url("dead"))
        t = int(time.time())
        first = mixed_batch(1, [l7_record(t)], [l4_record(1, t)], agent_id="dead")
        assert ingest(s, first)[0] == 200
        own.kill()
        second = mixed_batch(2, [l7_record(t + 1)], [l4_record(2, t + 1)], agent_id="dead")
        status, reply = ingest(s, second)
        assert status == 503 and "ClickHouse" in reply["error"], reply
        status, body = query(s, "SELECT Count(row) FROM l7_flow_log")
        assert status == 500 and "ClickHouse at http://127.0.0.1" in body["error"], body
        own.start()
        assert ingest(s, second) == (200, {"acked": 2, "rows": 2})
        assert ingest(s, second) == (200, {"acked": 2, "rows": 0, "duplicate": True})
        assert rows(s, "SELECT Count(row) FROM l4_flow_log")[1] == [[2]]
        _, text, _ = s.request("GET", "/metrics")
        assert 'flowscope_ingest_batches_total{result="retry"} 1' in text.decode()
    finally:
        if s:
            s.kill()
        own.stop()


def test_refuses_to_start_without_clickhouse(tmp_path):
    port = free_port()
    p = subprocess.run([str(SERVER), "--listen", f"127.0.0.1:{free_port()}", "--store",
                        f"clickhouse://127.0.0.1:{port}/x"], capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 1 and "Start ClickHouse" in err, err
    p = subprocess.run([str(SERVER), "--store", "clickhouse://127.0.0.1/x"],
                       capture_output=True, timeout=30)
    assert p.returncode == 2 and "expected clickhouse://HOST:PORT/DB" in p.stderr.decode()
    p = subprocess.run([str(SERVER), "--store", "clickhouse://db.example:8123/fs?cluster=c1",
                        "--print-config"], capture_output=True, timeout=30)
    assert p.returncode == 0 and 'store: "clickhouse://db.example:8123/fs?cluster=c1"' \
        in p.stdout.decode() or "store: clickhouse://db.example:8123/fs?cluster=c1" \
        in p.stdout.decode(), p.stdout.decode()


def test_two_shard_cluster(tmp_path):
    """Two clickhouse-servers, one cluster; each flowscope-server writes its own shard's
    local tables, and reads through Distributed tables over both."""
    ports = [free_port(), free_port()]
    shards = [ClickHouse(cluster_tcp_ports=ports, tcp_port=p) for p in ports]
    servers = []
    try:
        for c in shards:
            c.start()
        for i, c in enumerate(shards):
            servers.append(Server(tmp_path, "--store", c.store_url("fs", "flowscope_test"),
                                  data_dir=tmp_path / f"d{i}"))
        t = int(time.time())
        for i, s in enumerate(servers):
            body = mixed_batch(1, [l7_record(t + i)] * (i + 1),
                               [l4_record(10 * i + k, t) for k in range(3 + i)],
                               agent_id=f"agent-{i}")
            assert ingest(s, body)[0] == 200
        # Each shard holds its own writer's rows only...
        for i, c in enumerate(shards):
            assert c.query("SELECT count() FROM fs.l4_flow_log_local").strip() == str(3 + i)
        # ... and either server answers over both.
        for s in servers:
            assert rows(s, "SELECT Count(row) FROM l4_flow_log")[1] == [[7]]
            assert rows(s, "SELECT Count(row) FROM l7_flow_log")[1] == [[3]]
            assert rows(s, "SELECT flow_id FROM l4_flow_log ORDER BY flow_id")[1] == \
                [[0], [1], [2], [10], [11], [12], [13]]
    finally:
        for s in servers:
            s.kill()
        for c in shards:
            c.stop()


FAKE_AGENT = """#!/bin/sh
# Stands in for flowscope-agent: says it is ready, waits to be stopped.
echo "[agent] capturing socket traffic" >&2
trap 'exit 0' TERM INT
while :; do sleep 0.1; done
"""


def test_up_passes_store(ch, tmp_path):
    """flowscope up --store hands the URL to the server it starts (the agent here is a
    stand-in: this is about the server's store)."""
    from test_cli import Up, cli_env
    agent = tmp_path / "fake-agent"
    agent.write_text(FAKE_AGENT)
    agent.chmod(0o755)
    env = cli_env(FLOWSCOPE_AGENT=str(agent))
    up = Up(tmp_path, "--store", ch.store_url("viaup"), env=env)
    try:
        up.wait_up(timeout=60)
        status, data, _ = Server.request(up, "GET", "/healthz")
        assert status == 200 and json.loads(data)["store"] == "clickhouse"
        assert "viaup" in ch.query("SHOW DATABASES").split()
        assert up.stop() == 0
    finally:
        up.kill()
    (tmp_path / "bad").mkdir()
    bad = Up(tmp_path / "bad", "--store", "clickhouse://nowhere/x", env=env)
    try:
        assert bad.proc.wait(timeout=60) == 1
        assert "expected clickhouse://HOST:PORT/DB" in bad.err.read_text()
    finally:
        bad.kill()


def test_agent_keeps_batches_while_clickhouse_is_down(tmp_path):
    """The real agent sends a capture while ClickHouse is down: the server answers 503,
    the agent spools and retries, and everything arrives once ClickHouse is back."""
    need_pcaps()
    own = ClickHouse().start()
    s = None
    try:
        s = Server(tmp_path, "--store", own.store_url("spool"))
        own.kill()
        agent = subprocess.Popen(
            [str(AGENT), "--read-pcap", str(PCAPS / "http.pcap"), "--server", s.url,
             "--agent-id", "spooler", "--stats", "--drain-timeout", "60s",
             "--retry-max-backoff", "500ms"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(2)
        assert agent.poll() is None, agent.stderr.read().decode(errors="replace")
        own.start()
        _, err = agent.communicate(timeout=90)
        err = err.decode(errors="replace")
        assert agent.returncode == 0, err
        stats = {m[0]: int(m[1]) for m in
                 (line.split()[:2] for line in err.splitlines() if line.startswith("  "))
                 if len(m) == 2 and m[1].isdigit()}
        assert stats["send_failures"] > 0 and stats["drop_exit_unsent"] == 0, err
        assert stats["drop_rejected"] == 0, err
        n = stats["records_exported"]
        total = sum(rows(s, f"SELECT Count(row) FROM {t}")[1][0][0] for t in
                    ("l7_flow_log", "l4_flow_log", "network.1s", "network.1m",
                     "network_map.1s", "network_map.1m"))
        assert n > 0 and total == n
    finally:
        if s:
            s.kill()
        own.stop()
