# SPDX-License-Identifier: Apache-2.0
"""The flowscope command end to end: `query` and `status` against a real flowscope-server
fed with hand-encoded batches, against fake servers (an older server, a proxy answering
HTML), and against nothing at all; `up` with the real server and agent capturing a real
nginx; and the command line itself (help, version, usage errors and their exit codes).

Outputs are compared whole. Only what cannot be known in advance (query time, uptime,
file sizes, "2s ago") is matched with a pattern.
"""
import http.client
import http.server
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, free_port, wait_port
from wirebatch import make_batch, pb_bytes, pb_int

# FLOWSCOPE_CLI / FLOWSCOPE_SERVER select other builds (e.g. the sanitizer ones).
CLI = pathlib.Path(os.environ.get("FLOWSCOPE_CLI", ROOT / "build" / "flowscope")).resolve()
SERVER = pathlib.Path(os.environ.get("FLOWSCOPE_SERVER",
                                     ROOT / "build" / "flowscope-server")).resolve()


def cli_env(**extra):
    """The environment flowscope runs in: ours, with program paths made absolute (the
    sanitizer run sets relative ones) and no server URL unless a test sets one."""
    env = dict(os.environ)
    env.pop("FLOWSCOPE_SERVER_URL", None)
    for name in ("FLOWSCOPE_SERVER", "FLOWSCOPE_AGENT"):
        if name in env:
            env[name] = str(pathlib.Path(env[name]).resolve())
    env.update(extra)
    return env


def cli(*args, stdin=None, env=None, timeout=60):
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True, text=True,
                          env=env or cli_env(), timeout=timeout)


# ---- batches (tests/integration/wirebatch.py) ----

def record(resource, method, start_us, code=None, duration=None):
    """An s-p HTTP record; without a code it is a request that got no response."""
    r = (pb_int(1, start_us) + pb_int(3, 2 if code else 0) + pb_int(4, 1)
         + pb_int(5, 0 if code else 2) + pb_int(6, 4) + pb_int(7, 6) + pb_int(8, 20)
         + pb_int(10, 100) + pb_bytes(14, bytes([127, 0, 0, 1]))
         + pb_bytes(15, bytes([127, 0, 0, 1])) + pb_int(16, 40000) + pb_int(17, 8080)
         + pb_int(18, 1234) + pb_bytes(21, "nginx") + pb_bytes(22, "1.1")
         + pb_bytes(23, method) + pb_bytes(24, "example.test") + pb_bytes(25, resource))
    if code:
        r += pb_int(2, start_us + duration) + pb_int(9, code) + pb_int(11, 200)
    return r


def batch(seq, records, agent_id="cli-test", counters=()):
    return make_batch(seq, records, agent_id=agent_id, counters=counters)


def post(port, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def ingest(port, body):
    return post(port, "/v1/ingest", body,
                {"Content-Type": "application/x-flowscope-batch", "Content-Encoding": "zstd",
                 "Flowscope-Wire": "1"})


class Server:
    def __init__(self, *args):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-cli-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.err = self.dir / "server.stderr"
        self.proc = subprocess.Popen(
            [str(SERVER), "--listen", f"127.0.0.1:{self.port}", "--data-dir",
             str(self.dir / "data"), *args],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "wb"))
        try:
            wait_port(self.port)
        except RuntimeError:
            self.close()
            raise RuntimeError("server did not start:\n" + self.err.read_text())

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


LONG = "/c/" + "x" * 80


@pytest.fixture(scope="module")
def loaded():
    """One server holding five known records, shared by the query tests."""
    s = Server()
    now = int(time.time() * 1e6)
    recs = [record("/a", "GET", now, 200, 1500),
            record("/b?x=1", "POST", now + 1, 503, 250),
            record(LONG, "GET", now + 2, 404, 1500),
            record("/caf\u00e9", "GET", now + 3, 200, 1500),
            record("/pending", "POST", now + 4)]
    assert ingest(s.port, batch(1, recs)) == (200, {"acked": 1, "rows": 5})
    yield s
    s.close()


TOOK = re.compile(r"^(\d+) rows? \(\d+ ms\)$")


def split_footer(out):
    """The table and its row count; the footer's time varies."""
    lines = out.split("\n")
    assert lines[-1] == "", out
    m = TOOK.match(lines[-2])
    assert m, out
    return "\n".join(lines[:-2]) + "\n", int(m.group(1))


# ---- command line ----

def test_help_and_version():
    p = cli("--help")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("Usage: flowscope COMMAND [OPTIONS] [ARGS]\n")
    for line in ("  up       start flowscope-server and flowscope-agent here; Ctrl-C stops both",
                 "  query    run a SQL query on the server and print the result as a table",
                 "  trace    assemble the distributed trace of a span and print it as a tree",
                 "  status   show the server's health, store, ingest counters and agents"):
        assert line in p.stdout.splitlines()
    assert cli("help").stdout == p.stdout
    for cmd in ("up", "query", "trace", "status"):
        h = cli(cmd, "--help")
        assert h.returncode == 0 and h.stdout.startswith(f"Usage: flowscope {cmd} ")
        assert cli("help", cmd).stdout == h.stdout
        assert cli(cmd, "-h").stdout == h.stdout
    v = cli("--version")
    assert v.returncode == 0 and re.fullmatch(r"flowscope \d+\.\d+\.\d+\n", v.stdout)


@pytest.mark.parametrize("args,message", [
    ((), None),
    (("nope",), "flowscope: unknown command 'nope'\nTry 'flowscope --help'.\n"),
    (("--nope",), "flowscope: unknown option '--nope' (options go after the command)\n"
                  "Try 'flowscope --help'.\n"),
    (("help", "nope"), "flowscope: no command named 'nope'\nTry 'flowscope --help'.\n"),
    (("query",), "flowscope query: no SQL statement given\nTry 'flowscope query --help'.\n"),
    (("query", "--bogus", "SHOW TABLES"),
     "flowscope query: unknown option '--bogus'\nTry 'flowscope query --help'.\n"),
    (("query", "-x", "SHOW TABLES"),
     "flowscope query: unknown option '-x'\nTry 'flowscope query --help'.\n"),
    (("query", "SHOW TABLES", "--server"),
     "flowscope query: option '--server' needs a value\nTry 'flowscope query --help'.\n"),
    (("query", "--max-width", "1", "SHOW TABLES"),
     "flowscope query: --max-width: '1' is not a number from 2 to 1048576\n"
     "Try 'flowscope query --help'.\n"),
    (("query", "  "), "flowscope query: the SQL statement is empty\n"
                      "Try 'flowscope query --help'.\n"),
    (("trace",), "flowscope trace: no span ID given\nTry 'flowscope trace --help'.\n"),
    (("trace", "12x"), "flowscope trace: '12x' is not a span ID (a positive integer: the _id "
                       "column)\nTry 'flowscope trace --help'.\n"),
    (("trace", "1", "2"), "flowscope trace: one span ID only, not '2'\n"
                          "Try 'flowscope trace --help'.\n"),
    (("status", "--json=yes"),
     "flowscope status: option '--json' takes no value\nTry 'flowscope status --help'.\n"),
    (("status", "extra"),
     "flowscope status: unexpected argument 'extra'\nTry 'flowscope status --help'.\n"),
    (("up", "--retention-days", "week"),
     "flowscope up: --retention-days: 'week' is not a whole number of days\n"
     "Try 'flowscope up --help'.\n"),
    (("up", "--listen", "20416"),
     "flowscope up: --listen wants ADDR:PORT, e.g. 127.0.0.1:20416\n"
     "Try 'flowscope up --help'.\n"),
])
def test_usage_errors(args, message):
    p = cli(*args)
    assert p.returncode == 2, p
    assert p.stdout == ""
    if message is None:  # bare flowscope: the usage, on stderr
        assert p.stderr.startswith("Usage: flowscope COMMAND")
    else:
        assert p.stderr == message


# ---- query ----

def test_query_table(loaded):
    p = cli("query", "--server", loaded.url, "--max-width", "20",
            "SELECT request_resource, request_type, response_code, response_duration "
            "FROM l7_flow_log ORDER BY request_resource")
    assert p.returncode == 0 and p.stderr == "", p
    table, rows = split_footer(p.stdout)
    assert rows == 5
    assert table == (
        "request_resource      request_type  response_code  response_duration\n"
        "--------------------  ------------  -------------  -----------------\n"
        "/a                    GET                     200               1500\n"
        "/b?x=1                POST                    503                250\n"
        "/c/xxxxxxxxxxxxxxxx\u2026  GET                     404               1500\n"
        "/caf\u00e9                 GET                     200               1500\n"
        "/pending              POST                   NULL               NULL\n")


def test_query_default_cut_and_wide(loaded):
    sql = "SELECT request_resource AS r FROM l7_flow_log WHERE response_code = 404"
    p = cli("query", "--server", loaded.url, sql)
    assert p.returncode == 0, p
    cut = LONG[:59] + "\u2026"
    assert split_footer(p.stdout) == (f"r\n{'-' * 60}\n{cut}\n", 1)
    p = cli("query", "--server", loaded.url, "--wide", sql)
    assert split_footer(p.stdout) == (f"r\n{'-' * len(LONG)}\n{LONG}\n", 1)


def test_query_json(loaded):
    p = cli("query", "--json", "--server", loaded.url,
            "SELECT request_resource, response_code FROM l7_flow_log "
            "ORDER BY request_resource")
    assert p.returncode == 0 and p.stderr == "", p
    assert p.stdout.endswith("}\n") and p.stdout.count("\n") == 1  # the body as sent
    body = json.loads(p.stdout)
    assert isinstance(body.pop("took_ms"), int)
    assert body == {"columns": ["request_resource", "response_code"],
                    "values": [["/a", 200], ["/b?x=1", 503], [LONG, 404],
                               ["/caf\u00e9", 200], ["/pending", None]]}


def test_query_words_stdin_and_env(loaded):
    want = ("n\n-\n5\n", 1)
    p = cli("query", "--server", loaded.url, "SELECT", "Count(row)", "AS", "n", "FROM",
            "l7_flow_log")
    assert p.returncode == 0 and split_footer(p.stdout) == want, p
    p = cli("query", "--server", loaded.url, "-",
            stdin="SELECT Count(row) AS n\nFROM l7_flow_log\n")
    assert p.returncode == 0 and split_footer(p.stdout) == want, p
    p = cli("query", "SELECT Count(row) AS n FROM l7_flow_log",
            env=cli_env(FLOWSCOPE_SERVER_URL=f"127.0.0.1:{loaded.port}/"))
    assert p.returncode == 0 and split_footer(p.stdout) == want, p
    p = cli("query", "--server", loaded.url, "--db", "flow_log", "SHOW TABLES")
    assert split_footer(p.stdout) == ("name         db\n-----------  --------\n"
                                      "l7_flow_log  flow_log\nl4_flow_log  flow_log\n", 2), p
    # Without --db the server finds a table by its name, in whichever database it is.
    p = cli("query", "--server", loaded.url, "SELECT Count(row) AS n FROM network.1s")
    assert p.returncode == 0 and split_footer(p.stdout) == ("n\n-\n0\n", 1), p
    p = cli("query", "--server", loaded.url, "--db", "flow_log",
            "SELECT Count(row) AS n FROM network.1s")
    assert p.returncode == 1 and "is in database 'flow_metrics'" in p.stderr, p
    p = cli("query", "--server", loaded.url, "--db", "", "SHOW TABLES")
    assert p.returncode == 2 and "--db must not be empty" in p.stderr, p


@pytest.mark.parametrize("sql,message", [
    ("SELECT nope FROM l7_flow_log", "unknown column 'nope' in l7_flow_log"),
    ("DELETE FROM l7_flow_log", "only SELECT and SHOW are allowed"),
])
def test_query_refused(loaded, sql, message):
    p = cli("query", "--server", loaded.url, sql)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", f"flowscope: query refused: {message}\n")


def test_query_unreachable():
    port = free_port()  # nothing listens there
    for args in (("query", "--server", f"http://127.0.0.1:{port}", "SHOW TABLES"),
                 ("status", "--server", f"http://127.0.0.1:{port}")):
        p = cli(*args)
        assert (p.returncode, p.stdout) == (1, "")
        assert p.stderr == (f"flowscope: cannot reach the server at http://127.0.0.1:{port} "
                            "(is it running? start one with 'flowscope up')\n")


def test_query_truncated():
    s = Server("--max-rows", "2")
    try:
        now = int(time.time() * 1e6)
        recs = [record(f"/{i}", "GET", now + i, 200, 10) for i in range(3)]
        assert ingest(s.port, batch(1, recs))[0] == 200
        p = cli("query", "--server", s.url,
                "SELECT request_resource FROM l7_flow_log ORDER BY request_resource")
        assert p.returncode == 0, p
        assert split_footer(p.stdout) == ("request_resource\n----------------\n/0\n/1\n", 2)
        assert p.stderr == ("flowscope: warning: the result was cut at 2 rows (the server's "
                            "--max-rows); add a LIMIT or a narrower WHERE\n")
    finally:
        s.close()


# ---- fake servers: what flowscope does with answers flowscope-server would not give ----

class Fake:
    """A tiny HTTP server answering from routes {(method, path): (status, ctype, body)}."""

    def __init__(self, routes):
        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, ctype, body = routes.get(
                    (self.command, self.path),
                    (404, "application/json", '{"error":"no such endpoint"}'))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


OLD_METRICS = """# HELP flowscope_ingest_batches_total Ingest requests by outcome.
# TYPE flowscope_ingest_batches_total counter
flowscope_ingest_batches_total{result="ok"} 7
flowscope_ingest_batches_total{result="bad"} 1 1700000000000

flowscope_ingest_rows_total 70
flowscope_ingest_bytes_total 2048
flowscope_query_total{result="ok"} 3
flowscope_query_total{result="refused"} 0
flowscope_store_rows_written_total 70
flowscope_store_partitions 2
flowscope_store_bytes 1048576
this line is not a sample
"""


def test_status_older_server():
    f = Fake({("GET", "/healthz"): (200, "application/json", '{"status":"ok"}'),
              ("GET", "/metrics"): (200, "text/plain", OLD_METRICS)})
    try:
        p = cli("status", "--server", f.url)
        assert (p.returncode, p.stderr) == (0, ""), p
        assert p.stdout == (
            f"server   {f.url}: ok\n"
            "store    70 rows written, 2 partitions, 1.0 MiB on disk\n"
            "ingest   8 batches (7 ok, 1 bad), 70 rows, 2.0 KiB received\n"
            "queries  3 (3 ok)\n"
            "agents   unknown: this server has no /v1/agents (it is older than this "
            "flowscope)\n")
        p = cli("status", "--server", f.url, "--json")
        assert p.returncode == 0, p
        assert json.loads(p.stdout) == {
            "server": f.url, "health": {"status": "ok"}, "agents": None,
            "store": {"rows_written": 70, "partitions": 2, "bytes": 1048576},
            "ingest": {"batches": {"ok": 7, "bad": 1}, "rows": 70, "bytes": 2048},
            "queries": {"ok": 3, "refused": 0}}
    finally:
        f.close()


def test_status_unhealthy():
    f = Fake({("GET", "/healthz"): (503, "application/json", '{"status":"store failing"}')})
    try:
        p = cli("status", "--server", f.url)
        assert p.returncode == 1, p
        assert p.stdout.splitlines()[0] == f"server   {f.url}: NOT OK: store failing (HTTP 503)"
    finally:
        f.close()


def test_query_not_flowscope():
    f = Fake({("POST", "/v1/query"): (200, "text/html", "<html>hello</html>")})
    try:
        p = cli("query", "--server", f.url, "SHOW TABLES")
        assert (p.returncode, p.stdout, p.stderr) == (
            1, "", "flowscope: cannot read the server's reply: at byte 0: expected a value\n")
    finally:
        f.close()
    f = Fake({("POST", "/v1/query"): (502, "text/html", "<html>Bad Gateway</html>")})
    try:
        p = cli("query", "--server", f.url, "SHOW TABLES")
        assert (p.returncode, p.stdout, p.stderr) == (
            1, "", f"flowscope: the server at {f.url} answered HTTP 502 without a flowscope "
                   "error message; is it flowscope-server?\n")
    finally:
        f.close()


# ---- status against flowscope-server ----

STATUS_HEAD = [
    r"server   http://127\.0\.0\.1:\d+: ok, version \d+\.\d+\.\d+, up \d+s",
    r"store    sqlite: {rows} rows written, {parts} partitions?, \d+\.\d KiB on disk",
]


def test_status_no_agents(server):
    p = cli("status", "--server", server.url)
    assert (p.returncode, p.stderr) == (0, ""), p
    lines = p.stdout.splitlines()
    assert re.fullmatch(STATUS_HEAD[0], lines[0]), lines[0]
    assert re.fullmatch(STATUS_HEAD[1].format(rows=0, parts=0), lines[1]), lines[1]
    assert lines[2:] == ["ingest   0 batches, 0 rows, 0 B received",
                         "queries  0",
                         "agents   no agents connected"]


def test_status_with_agent(server):
    now = int(time.time() * 1e6)
    body = batch(1, [record("/x", "GET", now, 200, 5), record("/y", "GET", now, 500, 5)],
                 agent_id="cli-agent",
                 counters=[("records_exported", 2), ("records_dropped", 0),
                           ("spool_dropped_batches", 1), ("ring_lost", 0), ("events", 99)])
    assert ingest(server.port, body) == (200, {"acked": 1, "rows": 2})
    p = cli("status", "--server", server.url)
    assert (p.returncode, p.stderr) == (0, ""), p
    lines = p.stdout.splitlines()
    # The l7 day, and the day of the flow_tag dictionary entries (the rows' IP tags).
    assert re.fullmatch(STATUS_HEAD[1].format(rows=2, parts=2), lines[1]), lines[1]
    assert lines[2:7] == [f"ingest   1 batch (1 ok), 2 rows, {len(body)} B received",
                          "queries  0",
                          "agents   1",
                          "",
                          "agent_id   last seen  batches  rows  duplicates  counters"]
    assert lines[7] == "---------  ---------  -------  ----  ----------  " + "-" * 42
    assert re.fullmatch(r"cli-agent {4,5}\d{1,2}s ago        1     2           0  "
                        r"records_exported=2 spool_dropped_batches=1", lines[8]), lines[8]
    assert len(lines) == 9

    p = cli("status", "--server", server.url, "--json")
    assert p.returncode == 0, p
    st = json.loads(p.stdout)
    assert st["server"] == server.url
    assert st["health"]["status"] == "ok"
    [agent] = st["agents"]
    assert (agent["agent_id"], agent["batches"], agent["rows"]) == ("cli-agent", 1, 2)
    assert agent["counters"] == {"records_exported": 2, "records_dropped": 0,
                                 "spool_dropped_batches": 1, "ring_lost": 0, "events": 99}
    assert st["store"]["rows_written"] == 2 and st["store"]["partitions"] == 2
    assert st["ingest"]["batches"]["ok"] == 1 and sum(st["ingest"]["batches"].values()) == 1
    assert (st["ingest"]["rows"], st["ingest"]["bytes"]) == (2, len(body))
    assert st["queries"] == {"ok": 0, "refused": 0, "error": 0}


# ---- up ----

class Up:
    """flowscope up on a free port, its stdout and stderr collected in files."""

    def __init__(self, tmpdir, *args, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = pathlib.Path(tmpdir) / "data"
        self.out = pathlib.Path(tmpdir) / "up.stdout"
        self.err = pathlib.Path(tmpdir) / "up.stderr"
        self.proc = subprocess.Popen(
            [str(CLI), "up", "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}",
             *args],
            stdout=open(self.out, "wb"), stderr=open(self.err, "wb"), env=env or cli_env())

    def wait_up(self, timeout=120):
        deadline = time.monotonic() + timeout
        while "flowscope: up." not in self.out.read_text():
            if self.proc.poll() is not None:
                raise AssertionError(f"flowscope up exited {self.proc.returncode}:\n"
                                     + self.err.read_text())
            if time.monotonic() > deadline:
                raise AssertionError("flowscope up did not come up:\n" + self.err.read_text())
            time.sleep(0.1)

    def children(self):
        pids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        kids = {}
        for pid in pids:
            argv0 = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            kids[pathlib.Path(argv0.decode()).name] = int(pid)
        return kids

    def stop(self, sig=signal.SIGTERM, timeout=90):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            for pid in self.children().values():
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def up_factory(tmpdir_path):
    started = []

    def start(*args, env=None):
        u = Up(tmpdir_path, *args, env=env)
        started.append(u)
        return u

    yield start
    for u in started:
        u.kill()


def gone(pid):
    return not pathlib.Path(f"/proc/{pid}").exists()


def test_up_end_to_end(up_factory, nginx):
    up = up_factory()
    up.wait_up()
    assert up.out.read_text() == (
        f"flowscope: up. API {up.url}, data in {up.data}. Try: flowscope query --server "
        f"{up.url} 'SELECT request_resource, response_code FROM l7_flow_log ORDER BY time "
        "DESC LIMIT 10'. Ctrl-C stops.\n")
    kids = up.children()
    assert set(kids) == {"flowscope-server", "flowscope-agent"}, kids

    token = secrets.token_hex(4)
    for i in range(5):
        subprocess.run(["curl", "-sf", "-o", "/dev/null",
                        f"http://127.0.0.1:{nginx['port']}/ok?cliup={token}&n={i}"],
                       check=True, timeout=30)
    sql = ("SELECT request_resource, request_type, response_code, observation_point, "
           "process_kname_1, server_port FROM l7_flow_log "
           f"WHERE request_resource LIKE '/ok?cliup={token}%' AND observation_point = 's-p' "
           "ORDER BY request_resource")
    deadline = time.monotonic() + 15
    while True:
        p = cli("query", "--server", up.url, sql)
        assert p.returncode == 0, p
        if "\n5 rows (" in p.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    port = nginx["port"]
    table, rows = split_footer(p.stdout)
    assert rows == 5, p.stdout + up.err.read_text()
    assert table == (
        "request_resource        request_type  response_code  observation_point  "
        "process_kname_1  server_port\n"
        "----------------------  ------------  -------------  -----------------  "
        "---------------  -----------\n"
        + "".join(f"/ok?cliup={token}&n={i}  GET                     200  s-p              "
                  f"  nginx            {port:>11}\n" for i in range(5)))

    # The agent reports to the server under its host name.
    p = cli("status", "--server", up.url)
    assert p.returncode == 0, p
    assert "agents   1" in p.stdout.splitlines(), p.stdout
    assert any(line.startswith(socket.gethostname() + " ") for line in p.stdout.splitlines())

    assert up.stop(signal.SIGTERM) == 0, up.err.read_text()
    err = up.err.read_text()
    assert "flowscope: SIGTERM: stopping flowscope-agent, then flowscope-server\n" in err
    assert err.endswith("flowscope: stopped\n"), err
    # The agent stopped (and logged it) before the server was asked to.
    assert err.index("[agent] stopped") < err.index("[server] SIGTERM: stopping"), err
    assert all(gone(pid) for pid in kids.values())


def test_up_sigint(up_factory):
    up = up_factory("--retention-days", "3", "--agent-arg=--batch-interval=100ms")
    up.wait_up()
    kids = up.children()
    assert up.stop(signal.SIGINT) == 0, up.err.read_text()
    assert "flowscope: SIGINT: stopping flowscope-agent, then flowscope-server\n" in \
        up.err.read_text()
    assert all(gone(pid) for pid in kids.values())
    assert up.data.is_dir()


def test_up_agent_dies(up_factory):
    up = up_factory()
    up.wait_up()
    kids = up.children()
    os.kill(kids["flowscope-agent"], signal.SIGKILL)
    assert up.proc.wait(timeout=60) == 1
    assert ("flowscope: flowscope-agent was killed by signal 9 (Killed) unexpectedly; "
            "stopping flowscope-server\n") in up.err.read_text()
    assert gone(kids["flowscope-server"])


def test_up_server_cannot_listen(up_factory):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        up = up_factory("--listen", f"127.0.0.1:{port}")  # the last --listen wins
        assert up.proc.wait(timeout=60) == 1
    err = up.err.read_text()
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "flowscope: flowscope-server exited with status 1 before it answered\n" in err
    assert "[agent]" not in err


def test_up_port_taken(up_factory, server):
    up = up_factory("--listen", f"127.0.0.1:{server.port}")
    assert up.proc.wait(timeout=60) == 1
    assert up.err.read_text() == (
        f"flowscope: something already answers HTTP on {server.url} (another flowscope up?); "
        "stop it or choose another --listen\n")
    assert not up.data.exists()  # nothing was started


def test_up_missing_program(up_factory, tmpdir_path):
    missing = tmpdir_path / "no-such-agent"
    up = up_factory(env=cli_env(FLOWSCOPE_AGENT=str(missing)))
    assert up.proc.wait(timeout=60) == 1
    assert up.err.read_text() == (f"flowscope: cannot run flowscope-agent: {missing}: No such "
                                  "file or directory (set FLOWSCOPE_AGENT to its path)\n")
    assert not up.data.exists()  # nothing was started
