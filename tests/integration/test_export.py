# SPDX-License-Identifier: Apache-2.0
"""The agent sends to flowscope-server: the real agent (eBPF), the real server, nginx and
curl on loopback. Records arrive exactly once, survive the server being away, and every
record the agent could not deliver is counted."""
import http.client
import os
import subprocess
import time

from conftest import Agent, Server, free_port

PATH_COLS = "request_resource, response_code, observation_point, request_type, l7_protocol"


def curl_get(url):
    subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True, timeout=30)


def wait_rows(server, sql, n, timeout=20.0):
    """Poll until the query returns n rows (records reach the server within a batch
    interval plus a round trip); return them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = server.query(sql)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def expected(paths):
    # Both ends of each exchange: curl (c-p) and nginx (s-p).
    return [[p, 200, obs, "GET", "HTTP"] for p in sorted(paths) for obs in ("c-p", "s-p")]


def test_records_reach_the_server_once(nginx, tmpdir_path):
    srv = Server(tmpdir_path)
    agent = Agent(tmpdir_path, "--server", srv.url, "--agent-id", "export-test",
                  "--batch-interval", "200ms", "--heartbeat-interval", "500ms")
    try:
        base = f"http://127.0.0.1:{nginx['port']}"
        paths = [f"/ok?export={i}" for i in range(5)]
        for p in paths:
            curl_get(base + p)
        sql = (f"SELECT {PATH_COLS} FROM l7_flow_log WHERE server_port = {nginx['port']} "
               f"AND request_resource LIKE '/ok?export=%' "
               f"ORDER BY request_resource, observation_point")
        assert wait_rows(srv, sql, 10) == expected(paths)
        agent.stop()
        # The server holds exactly what the agent printed, no more (no duplicates).
        printed = sorted([r["request_resource"], r["response_code"], r["observation_point"],
                          r["request_type"], r["l7_protocol"]] for r in agent.records
                         if r["server_port"] == nginx["port"]
                         and r["request_resource"].startswith("/ok?export="))
        assert printed == expected(paths)
        assert srv.query(sql) == expected(paths)
        # Its own traffic with the server is not recorded (else every batch makes more).
        assert srv.query(f"SELECT Count(row) FROM l7_flow_log "
                         f"WHERE server_port = {srv.port}") == [[0]]
        assert agent.stats["records_self_skipped"] >= 1
        produced = (agent.stats["records_request"] + agent.stats["records_response"]
                    + agent.stats["records_session"] - agent.stats["records_self_skipped"])
        assert agent.stats["records_exported"] == produced
        assert srv.query("SELECT Count(row) FROM l7_flow_log") == [[produced]]
        for k in ("drop_spool_full", "drop_rejected", "drop_exit_unsent", "drop_encode",
                  "spool_batches", "spool_bytes", "send_failures"):
            assert agent.stats[k] == 0, k
        # The server knows the agent and the counters its last batch carried.
        status, body = srv.json("GET", "/v1/agents")
        assert status == 200
        (a,) = body["agents"]
        assert a["agent_id"] == "export-test"
        assert a["rows"] == produced
        assert a["duplicates"] == 0
        assert a["counters"]["drop_ringbuf_full"] == 0
        assert a["counters"]["records_session"] >= 10
    finally:
        agent.kill()
        srv.kill()


def test_server_away_for_10s_gets_the_spool(nginx, tmpdir_path):
    srv = Server(tmpdir_path)
    agent = Agent(tmpdir_path, "--server", srv.url, "--agent-id", "away-test",
                  "--batch-interval", "100ms", "--retry-max-backoff", "1s")
    base = f"http://127.0.0.1:{nginx['port']}"
    try:
        curl_get(base + "/ok?away=before")
        sql = (f"SELECT {PATH_COLS} FROM l7_flow_log WHERE server_port = {nginx['port']} "
               f"AND request_resource LIKE '/ok?away=%' "
               f"ORDER BY request_resource, observation_point")
        assert wait_rows(srv, sql, 2) == expected(["/ok?away=before"])
        assert srv.stop() == 0

        paths = [f"/ok?away={i}" for i in range(5)]
        for p in paths:
            curl_get(base + p)
        time.sleep(10)
        srv = Server(tmpdir_path, port=srv.port, data_dir=srv.data_dir)
        want = expected(paths + ["/ok?away=before"])
        assert wait_rows(srv, sql, len(want)) == want
        agent.stop()
        assert srv.query(sql) == want  # nothing twice
        assert agent.stats["send_failures"] >= 3  # retried, with backoff, while away
        for k in ("drop_spool_full", "drop_rejected", "drop_exit_unsent", "spool_batches"):
            assert agent.stats[k] == 0, k
        log = agent.err.read_text()
        assert f"cannot deliver to {srv.url}/v1/ingest" in log
        assert f"delivering to {srv.url}/v1/ingest again after" in log
    finally:
        agent.kill()
        srv.kill()


def keepalive_requests(port, n, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(n):
        # Random query strings: records that compress poorly, so the spool fills.
        conn.request("GET", f"{path}{i}-{os.urandom(24).hex()}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    conn.close()


def test_spool_is_bounded_and_every_loss_counted(nginx, tmpdir_path):
    """No server at all: the spool fills to its bound, the oldest batches go, and at exit
    every record the agent made is accounted for as dropped."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    agent = Agent(tmpdir_path, "--server", nowhere, "--agent-id", "spool-test",
                  "--comm", "nginx", "--capture-bytes", "4096", "--batch-records", "100",
                  "--spool-size", "64KiB", "--drain-timeout", "0", "--retry-max-backoff", "200ms")
    try:
        keepalive_requests(nginx["port"], 3000, "/ok?spool=")
        agent.stop(settle=1.0)
    finally:
        agent.kill()
    st = agent.stats
    produced = st["records_request"] + st["records_response"] + st["records_session"]
    assert produced >= 3000
    assert st["records_exported"] == 0
    assert st["drop_spool_full"] > 0
    # Every record is either dropped for the spool bound or still spooled at exit.
    assert st["drop_spool_full"] + st["drop_exit_unsent"] == produced
    assert st["send_failures"] >= 1
    assert f"cannot deliver to {nowhere}/v1/ingest" in agent.err.read_text()
    assert "spool full (65536 bytes)" in agent.err.read_text()
