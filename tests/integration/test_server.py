# SPDX-License-Identifier: Apache-2.0
"""flowscope-server's HTTP API end to end: one server on a free loopback port with a
temporary data directory, driven with the standard library only.

The tests of one module share the server and run in file order, so the /metrics test at
the end can assert exact counts: every request that moves a counter is made by a test
above it, and the expected numbers are tallied in COUNTS as the tests go.
"""
import http.client
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import ROOT, SERVER, Server, free_port, wait_port
from wirebatch import make_batch, pb_bytes, pb_int

MAX_BODY = 64 * 1024

COUNTS = {"query_ok": 0, "query_refused": 0, "ingest_ok": 0, "ingest_bad": 0,
          "ingest_too_large": 0, "ingest_rows": 0, "ingest_bytes": 0, "ingest_duplicate": 0}


@pytest.fixture(scope="module")
def server():
    d = tempfile.mkdtemp(prefix="flowscope-srv-")
    s = Server(d, "--max-body", str(MAX_BODY))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
    shutil.rmtree(d, ignore_errors=True)


def query_form(server, sql, db=None):
    fields = {"sql": sql}
    if db is not None:
        fields["db"] = db
    return server.json("POST", "/v1/query", urllib.parse.urlencode(fields),
                       {"Content-Type": "application/x-www-form-urlencoded"})


def query_json(server, obj):
    body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
    return server.json("POST", "/v1/query", body, {"Content-Type": "application/json"})


def ingest(server, body):
    COUNTS["ingest_bytes"] += len(body)
    return server.json("POST", "/v1/ingest", body,
                       {"Content-Type": "application/x-flowscope-batch",
                        "Content-Encoding": "zstd", "Flowscope-Wire": "1"})


def test_startup_message(server):
    assert f"flowscope-server: listening on http://127.0.0.1:{server.port}" in \
        server.err.read_text()


def healthy(server):
    status, body = server.json("GET", "/healthz")
    return status == 200 and body["status"] == "ok"


def test_healthz(server):
    status, body = server.json("GET", "/healthz")
    assert status == 200
    assert sorted(body) == ["status", "store", "uptime_s", "version"]
    assert body["status"] == "ok" and body["store"] == "sqlite"
    assert body["version"] == subprocess.run([str(SERVER), "--version"], capture_output=True,
                                             text=True).stdout.split()[-1]
    assert 0 <= body["uptime_s"] < 600


def test_show_tables_form_and_json(server):
    flow_log = [["l7_flow_log", "flow_log"], ["l4_flow_log", "flow_log"]]
    # Without a db, every database's tables.
    every = flow_log + [["network.1s", "flow_metrics"], ["network.1m", "flow_metrics"],
                        ["network_map.1s", "flow_metrics"], ["network_map.1m", "flow_metrics"],
                        ["tag_dict", "flow_tag"], ["tag_link", "flow_tag"],
                        ["k8s_label", "flow_tag"], ["process", "flow_tag"],
                        ["host", "flow_tag"]]
    for (status, body), values in ((query_form(server, "SHOW TABLES"), every),
                                   (query_form(server, "SHOW TABLES", db="flow_log"), flow_log),
                                   (query_json(server, {"db": "flow_log", "sql": "SHOW TABLES"}),
                                    flow_log),
                                   (query_json(server, {"sql": "SHOW TABLES"}), every)):
        COUNTS["query_ok"] += 1
        assert status == 200, body
        assert isinstance(body.pop("took_ms"), int)
        assert body == {"columns": ["name", "db"], "values": values}


def test_json_escapes(server):
    # \u escapes, including a surrogate pair inside a comment, decode like any JSON.
    status, body = query_json(
        server, '{"db":"flow_log","sql":"SHOW\\u0020TABLES -- \\ud83d\\ude00\\n"}')
    COUNTS["query_ok"] += 1
    assert status == 200, body
    assert body["values"] == [["l7_flow_log", "flow_log"], ["l4_flow_log", "flow_log"]]


def test_select_on_empty_store(server):
    status, body = query_form(server, "SELECT time, request_resource, response_code "
                                      "FROM l7_flow_log WHERE response_code >= 500")
    COUNTS["query_ok"] += 1
    assert status == 200, body
    assert body["columns"] == ["time", "request_resource", "response_code"]
    assert body["values"] == []
    assert "truncated" not in body


@pytest.mark.parametrize("sql,message", [
    ("DELETE FROM l7_flow_log", "only SELECT and SHOW are allowed"),
    ("SELECT nope FROM l7_flow_log", "unknown column 'nope' in l7_flow_log"),
])
def test_refused_sql(server, sql, message):
    status, body = query_form(server, sql)
    COUNTS["query_refused"] += 1
    assert (status, body) == (400, {"error": message})


@pytest.mark.parametrize("body,ctype,message", [
    ('{"sql": 1}', "application/json", "JSON body: field 'sql' must be a string"),
    ('{"sql": "SHOW TABLES", "x": "y"}', "application/json",
     "unknown field 'x' (expected db and sql)"),
    ('["SHOW TABLES"]', "application/json",
     'JSON body: expected one object of string fields, e.g. '
     '{"db":"flow_log","sql":"SHOW TABLES"}'),
    ("db=flow_log", "application/x-www-form-urlencoded", "missing field: sql"),
    ("sql=SHOW%zzTABLES", "application/x-www-form-urlencoded",
     "form body: bad percent escape"),
    ("sql=SHOW TABLES", "text/plain",
     "Content-Type must be application/x-www-form-urlencoded or application/json"),
])
def test_bad_query_bodies(server, body, ctype, message):
    status, resp = server.json("POST", "/v1/query", body, {"Content-Type": ctype})
    COUNTS["query_refused"] += 1
    assert (status, resp) == (400, {"error": message})


def make_record(resource, code, start_us):
    return (pb_int(1, start_us) + pb_int(2, start_us + 1500) + pb_int(3, 2) + pb_int(4, 1)
            + pb_int(5, 0) + pb_int(6, 4) + pb_int(7, 6) + pb_int(8, 20)
            + pb_int(9, code) + pb_int(10, 100) + pb_int(11, 200)
            + pb_bytes(14, bytes([127, 0, 0, 1])) + pb_bytes(15, bytes([127, 0, 0, 2]))
            + pb_int(16, 40000) + pb_int(17, 8080) + pb_int(18, 1234)
            + pb_bytes(21, "nginx") + pb_bytes(22, "1.1") + pb_bytes(23, "GET")
            + pb_bytes(24, "example.test") + pb_bytes(25, resource))


def test_ingest_malformed(server):
    good = make_batch(1, [make_record("/x", 200, int(time.time() * 1e6))])
    cases = [(b"garbage", "not a zstd frame"),
             (b"", "not a zstd frame"),
             (good[:len(good) // 2], None),  # truncated zstd frame
             (make_batch(1, [], version=2),
              "wire version 2 not supported (this server speaks 1)"),
             (make_batch(1, [b"\x18\x09"]), "record 0: type missing or not 0..2")]
    for body, message in cases:
        status, resp = ingest(server, body)
        COUNTS["ingest_bad"] += 1
        assert status == 400, (body[:20], resp)
        if message:
            assert resp == {"error": message}
        else:
            assert resp["error"].startswith("zstd: ")
        assert healthy(server)


def test_oversize_body(server):
    status, resp = ingest(server, b"\0" * (MAX_BODY + 1))
    COUNTS["ingest_bytes"] -= MAX_BODY + 1  # refused before the ingest handler counts it
    COUNTS["ingest_too_large"] += 1
    assert status == 413
    assert resp == {"error": f"request body larger than max_body ({MAX_BODY} bytes)"}
    status, resp = server.json("POST", "/v1/query", "sql=" + "x" * MAX_BODY,
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert healthy(server)


def test_ingest_and_query(server):
    now_us = int(time.time() * 1e6)
    recs = [make_record("/a", 200, now_us), make_record("/b", 503, now_us + 10),
            make_record("/c", 404, now_us + 20)]
    assert ingest(server, make_batch(42, recs)) == (200, {"acked": 42, "rows": 3})
    COUNTS["ingest_ok"] += 1
    COUNTS["ingest_rows"] += 3
    status, body = query_json(server, {
        "db": "flow_log",
        "sql": "SELECT request_resource, response_code, server_port, request_type "
               "FROM l7_flow_log WHERE response_code >= 400 ORDER BY request_resource"})
    COUNTS["query_ok"] += 1
    assert status == 200, body
    assert body["columns"] == ["request_resource", "response_code", "server_port",
                               "request_type"]
    assert body["values"] == [["/b", 503, 8080, "GET"], ["/c", 404, 8080, "GET"]]
    status, body = query_form(server, "SELECT Count(row) AS n FROM l7_flow_log")
    COUNTS["query_ok"] += 1
    assert (status, body["values"]) == (200, [[3]])


def test_ingest_resend_is_acknowledged_once(server):
    """A batch resent after a lost acknowledgement (same agent, seq not above the last) is
    acknowledged again and not stored twice; another agent numbers on its own."""
    now_us = int(time.time() * 1e6)
    rec = [make_record("/dup", 200, now_us)]
    assert ingest(server, make_batch(42, rec)) == (200, {"acked": 42, "rows": 0,
                                                          "duplicate": True})
    assert ingest(server, make_batch(41, rec)) == (200, {"acked": 41, "rows": 0,
                                                          "duplicate": True})
    COUNTS["ingest_duplicate"] += 2
    assert ingest(server, make_batch(42, rec, agent_id="other")) == (200, {"acked": 42,
                                                                           "rows": 1})
    COUNTS["ingest_ok"] += 1
    COUNTS["ingest_rows"] += 1
    status, body = query_form(server, "SELECT Count(row) AS n FROM l7_flow_log")
    COUNTS["query_ok"] += 1
    assert (status, body["values"]) == (200, [[4]])


def test_agents(server):
    """Each agent's deliveries and the counters its last batch carried."""
    before = time.time()
    assert ingest(server, make_batch(43, [], counters=[("drop_ringbuf_full", 3),
                                                       ("records_exported", 9)])) == \
        (200, {"acked": 43, "rows": 0})
    COUNTS["ingest_ok"] += 1
    # A counter name outside [a-z0-9_] is refused with the batch.
    status, resp = ingest(server, make_batch(44, [], counters=[("Bad-Name", 1)]))
    COUNTS["ingest_bad"] += 1
    assert (status, resp) == (400, {"error": "counter 0: name not [a-z0-9_]{1,47} or value "
                                             "missing"})
    status, body = server.json("GET", "/v1/agents")
    assert status == 200
    agents = {a["agent_id"]: a for a in body["agents"]}
    assert sorted(agents) == ["other", "test-agent"]
    a = agents["test-agent"]
    assert (a["last_seq"], a["batches"], a["rows"], a["duplicates"]) == (43, 2, 3, 2)
    assert a["counters"] == {"drop_ringbuf_full": 3, "records_exported": 9}
    assert before - 1 <= a["last_seen"] <= time.time() + 1
    assert 0 <= a["age_s"] < 60
    o = agents["other"]
    assert (o["last_seq"], o["batches"], o["rows"], o["duplicates"], o["counters"]) == \
        (42, 1, 1, 0, {})
    # Most recently heard first.
    assert [x["agent_id"] for x in body["agents"]] == ["test-agent", "other"]


def test_unknown_path_and_method(server):
    assert server.json("GET", "/nope") == (404, {"error": "no such endpoint: GET /nope"})
    status, resp = server.json("GET", "/v1/query")
    assert status == 405 and "use POST" in resp["error"]
    status, resp = server.json("POST", "/healthz", b"")
    assert status == 405 and "use GET" in resp["error"]


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics:\n{text}")


def test_metrics(server):
    status, data, resp = server.request("GET", "/metrics")
    assert status == 200
    assert resp.getheader("Content-Type").startswith("text/plain")
    text = data.decode()
    expect = {
        'flowscope_ingest_batches_total{result="ok"}': COUNTS["ingest_ok"],
        'flowscope_ingest_batches_total{result="bad"}': COUNTS["ingest_bad"],
        'flowscope_ingest_batches_total{result="retry"}': 0,
        'flowscope_ingest_batches_total{result="duplicate"}': COUNTS["ingest_duplicate"],
        'flowscope_ingest_batches_total{result="dropped"}': 0,
        # Every ingest body that reached the handler is timed, whatever its outcome (the
        # oversize one was refused before).
        "flowscope_ingest_batch_seconds_count": COUNTS["ingest_ok"] + COUNTS["ingest_bad"]
        + COUNTS["ingest_duplicate"],
        'flowscope_ingest_batch_seconds_bucket{le="+Inf"}': COUNTS["ingest_ok"]
        + COUNTS["ingest_bad"] + COUNTS["ingest_duplicate"],
        "flowscope_agents": 2,
        'flowscope_ingest_batches_total{result="too_large"}': COUNTS["ingest_too_large"],
        "flowscope_ingest_rows_total": COUNTS["ingest_rows"],
        "flowscope_ingest_bytes_total": COUNTS["ingest_bytes"],
        'flowscope_query_total{result="ok"}': COUNTS["query_ok"],
        'flowscope_query_total{result="refused"}': COUNTS["query_refused"],
        'flowscope_query_total{result="error"}': 0,
        "flowscope_query_seconds_count": COUNTS["query_ok"],
        "flowscope_http_too_large_total": 2,
        "flowscope_store_rows_written_total": COUNTS["ingest_rows"],
    }
    for name, value in expect.items():
        assert metric(text, name) == value, name
    assert metric(text, "flowscope_query_seconds_sum") >= 0
    assert metric(text, "flowscope_store_partitions") == (1 if COUNTS["ingest_rows"] else 0)
    assert metric(text, "flowscope_store_bytes") > 0


def test_sigterm_exits_zero(server):
    assert server.stop() == 0
    assert "stopping" in server.err.read_text()


def test_bad_listen_address(tmp_path):
    for addr in ("localhost:1234", "[::1]:1234", "127.0.0.1", "127.0.0.1:0"):
        p = subprocess.run([str(SERVER), "--listen", addr, "--data-dir", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, addr
        assert "is not an IPv4 address and port like 127.0.0.1:20416" in p.stderr


def test_print_config():
    p = subprocess.run([str(SERVER), "--print-config", "--retention-days", "30"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    for line in ('listen: "127.0.0.1:20416"', "retention_days: 30", "max_rows: 10000",
                 "query_timeout: 10s", "max_body: 16MiB", 'store: "sqlite:"'):
        assert any(l.startswith(line) for l in p.stdout.splitlines()), (line, p.stdout)


def test_row_cap(tmp_path):
    s = Server(tmp_path, "--max-rows", "2")
    try:
        now_us = int(time.time() * 1e6)
        recs = [make_record(f"/{i}", 200, now_us + i) for i in range(3)]
        assert ingest(s, make_batch(7, recs)) == (200, {"acked": 7, "rows": 3})
        sql = "SELECT request_resource FROM l7_flow_log ORDER BY request_resource"
        status, body = query_form(s, sql)
        assert status == 200, body
        assert body["values"] == [["/0"], ["/1"]]
        assert body["truncated"] is True and body["max_rows"] == 2
        status, body = query_form(s, sql + " LIMIT 2")
        assert (status, body["values"]) == (200, [["/0"], ["/1"]])
        assert "truncated" not in body
        status, body = query_form(s, sql + " LIMIT 1, 5")
        assert (status, body["values"], body.get("truncated")) == (200, [["/1"], ["/2"]], None)
        assert s.stop() == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_sigkill_keeps_acknowledged_batches(tmp_path):
    """Batches go in one after another while the server is SIGKILLed mid-stream: after a
    restart, every batch it acknowledged is there whole, and no batch is there in part."""
    import threading

    per_batch, nbatches = 40, 150
    now_us = int(time.time() * 1e6)
    bodies = [make_batch(seq, [make_record(f"/k{seq}/{i}", 200, now_us + seq * 1000 + i)
                               for i in range(per_batch)], agent_id="kill-test")
              for seq in range(1, nbatches + 1)]
    s = Server(tmp_path)
    acked = []

    def send_all():
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        for seq, body in enumerate(bodies, 1):
            try:
                conn.request("POST", "/v1/ingest", body,
                             {"Content-Type": "application/x-flowscope-batch"})
                resp = conn.getresponse()
                reply = json.loads(resp.read())
            except (OSError, http.client.HTTPException):
                return
            assert resp.status == 200, reply
            assert reply == {"acked": seq, "rows": per_batch}
            acked.append(seq)

    t = threading.Thread(target=send_all)
    t.start()
    while len(acked) < 20:  # well into the stream, with batches still to come
        assert t.is_alive(), "sender stopped early"
        time.sleep(0.001)
    s.proc.kill()
    s.proc.wait()
    t.join(timeout=60)
    assert 20 <= len(acked) < nbatches, "the kill did not land mid-stream"

    s2 = Server(tmp_path, port=s.port)
    try:
        per_seq = {}
        for (resource,) in s2.query("SELECT request_resource FROM l7_flow_log"):
            seq = int(resource.split("/")[1][1:])
            per_seq[seq] = per_seq.get(seq, 0) + 1
        for seq in acked:
            assert per_seq.get(seq) == per_batch, f"acknowledged batch {seq} lost"
        # Atomic: the one batch in flight at the kill is there whole or not at all.
        assert all(n == per_batch for n in per_seq.values()), per_seq
        assert set(per_seq) - set(acked) <= {len(acked) + 1}
        # Resending everything after the restart stores only what was missing.
        for seq, body in enumerate(bodies, 1):
            status, reply = ingest(s2, body)
            assert status == 200
            assert reply.get("duplicate", False) == (seq in per_seq)
        assert s2.query("SELECT Count(row) FROM l7_flow_log") == [[per_batch * nbatches]]
    finally:
        s2.kill()
