# SPDX-License-Identifier: Apache-2.0
"""PostgreSQL request logs.

1. The reference captures (../shared/pcaps/postgre) through --read-pcap, compared with
   tshark's pgsql dissection of the same files: one exchange per simple Query or per
   extended-protocol Sync, the SQL of its Parse, the CommandComplete tags' row counts,
   the ErrorResponse's SQLSTATE and message; and with DeepFlow's pgsql-all.result.
2. A live PostgreSQL 15 started here (initdb into a temporary directory, run as the
   postgres user, a free loopback port), driven by psql and by pgbench with the extended
   and the prepared protocol; the agent's eBPF records are checked exactly on the client
   process side (c-p) and the server process side (s-p).

Nothing is skipped: a missing capture directory or server binary is a failure.
"""
import json
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import time

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port

PG_DIR = PCAPS / "postgre"
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")

# request kinds by precedence inside an extended-protocol group (DeepFlow's names)
KINDS = {"Sync": 1, "Close": 2, "Describe": 3, "Bind": 4, "Execute": 5, "Parse": 6}
KIND_NAMES = {1: "sync", 2: "close", 3: "describe", 4: "bind", 5: "execute", 6: "parse"}
CLIENT_CLASSES = ("03", "0A", "0B", "0F", "0L", "0P", "20", "22", "23", "26", "2F", "34",
                  "3D", "3F", "42")


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(path), *args],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log" and r["l7_protocol"] == "PostgreSQL"]


def rows_of(tag):
    m = re.match(r"^(INSERT \d+|UPDATE|DELETE|SELECT|MERGE|FETCH|COPY|MOVE) (\d+)$", tag)
    return int(m.group(2)) if m else None


def tshark_exchanges(path, port):
    """Requests and answers as tshark dissects them, in order: a simple Query, or the
    messages of an extended group up to its Sync, is a request; an answer runs to
    ReadyForQuery."""
    fields = ["tcp.srcport", "pgsql.type", "pgsql.query", "pgsql.tag", "pgsql.code",
              "pgsql.message"]
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", f"tcp.port=={port},pgsql", "-Y", "pgsql",
         "-T", "json", *sum((["-e", f] for f in fields), [])],
        capture_output=True, text=True, timeout=60, check=True).stdout
    reqs, resps = [], []
    group, answer = None, None
    for frame in json.loads(out):
        layers = frame["_source"]["layers"]
        types = layers.get("pgsql.type", [])
        queries = list(layers.get("pgsql.query", []))
        if int(layers["tcp.srcport"][0]) != port:
            for t in types:
                if t == "Simple query":
                    reqs.append({"kind": "simple query", "sql": queries.pop(0)})
                elif t in KINDS:
                    if group is None:
                        group = {"kind": 0, "sql": None}
                    group["kind"] = max(group["kind"], KINDS[t])
                    if t == "Parse":
                        group["sql"] = queries.pop(0)
                    if t == "Sync":
                        reqs.append({"kind": KIND_NAMES[group["kind"]], "sql": group["sql"]})
                        group = None
        else:
            tags = list(layers.get("pgsql.tag", []))
            codes = list(layers.get("pgsql.code", []))
            msgs = list(layers.get("pgsql.message", []))
            for t in types:
                if t in ("Authentication request", "Parameter status", "Backend key data",
                         "Notice", "Notification"):
                    continue
                if answer is None:
                    answer = {"rows": None, "code": None, "message": None}
                if t == "Command completion":
                    n = rows_of(tags.pop(0))
                    if n is not None:
                        answer["rows"] = (answer["rows"] or 0) + n
                elif t == "Error":
                    answer["code"] = codes.pop(0)
                    answer["message"] = msgs.pop(0)
                elif t == "Ready for query":
                    resps.append(answer)
                    answer = None
    if answer is not None:
        resps.append(answer)  # an answer the capture cuts before its ReadyForQuery
    return reqs, resps


@pytest.mark.parametrize("name,port", [("simple_query.pcap", 5432), ("error.pcap", 5432),
                                       ("pgsql-all.pcap", 8000)])
def test_capture_matches_tshark(name, port):
    need_pcaps()
    path = PG_DIR / name
    reqs, resps = tshark_exchanges(path, port)
    recs = sorted(read_pcap(path, "--keep-sensitive-values"), key=lambda r: r["start_time"])
    assert len(recs) == len(reqs)
    assert len(resps) == len(reqs)
    for r, q, a in zip(recs, reqs, resps):
        assert r["type"] == 2 and r["server_port"] == port and r["signal_source"] == 0
        assert r["request_type"] == q["kind"]
        if q["sql"] is not None:
            # tshark shows each byte of non-ASCII text as U+FFFD
            mine = "".join(c if ord(c) < 128 else "\ufffd" * len(c.encode())
                           for c in r["request_resource"])
            assert mine == q["sql"][:len(mine)] and len(r["request_resource"].encode()) <= 1024
            assert len(mine) >= min(len(q["sql"]), 1000)
        assert r["sql_affected_rows"] == a["rows"]
        assert r["response_code"] is None
        if a["code"]:
            assert r["response_result"] == a["code"]
            assert r["response_exception"] == a["message"]
            assert r["response_status"] == (4 if a["code"][:2] in CLIENT_CLASSES else 3)
        else:
            assert (r["response_status"], r["response_result"], r["response_exception"]) == \
                (0, "", "")


def test_pgsql_all_as_deepflow():
    """pgsql-all.result: DeepFlow reports the groups that Parse (P) and those that only
    execute an earlier statement (E), every answer ok. It misses two Parse groups whose
    messages span several TCP segments (3.6 KB and 7.4 KB); reassembly keeps them here."""
    need_pcaps()
    recs = read_pcap(PG_DIR / "pgsql-all.pcap", "--keep-sensitive-values")
    result = [json.loads(l.split(" is_pgsql")[0])
              for l in (PG_DIR / "pgsql-all.result").read_text().splitlines()]
    df_parse = [r["request_resource"] for r in result if r.get("request_type") == "P"]
    df_exec = [r for r in result if r.get("request_type") == "E"]
    ours_parse = [r for r in recs if r["request_type"] == "parse"]
    assert len(df_parse) == 4 and len(df_exec) == 26
    assert [r["request_resource"] for r in ours_parse if r["request_length"] < 1500] == df_parse
    assert sorted(r["request_length"] for r in ours_parse if r["request_length"] >= 1500) == \
        [3671, 7485]
    assert sum(r["request_type"] == "execute" for r in recs) == 26
    assert len(recs) == 32 and all(r["response_status"] == 0 for r in recs)
    # literals are hidden by default, parameters ($1) are not literals
    hidden = read_pcap(PG_DIR / "pgsql-all.pcap")
    assert hidden[0]["request_resource"] == "SELECT ?"
    assert any("$1" in r["request_resource"] for r in hidden)
    assert not any("'%" in r["request_resource"] for r in hidden)


def test_error_capture_fields():
    need_pcaps()
    (r,) = read_pcap(PG_DIR / "error.pcap")
    assert (r["request_type"], r["request_resource"], r["response_status"],
            r["response_result"], r["response_exception"]) == \
        ("simple query", "asdsdfdsf;", 4, "42601", 'syntax error at or near "asdsdfdsf"')


# ---- live PostgreSQL ---------------------------------------------------------------------

@pytest.fixture
def postgres(tmpdir_path):
    """A private PostgreSQL 15 as the postgres user on a free loopback port; yields it."""
    for b in ("initdb", "postgres"):
        if not (PG_BIN / b).exists():
            pytest.fail(f"{PG_BIN / b} missing: install postgresql-15 "
                        f"(scripts/install-deps.sh --test)")
    for b in ("psql", "pgbench"):
        if not shutil.which(b):
            pytest.fail(f"{b} missing: install postgresql-client-15")
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no postgres user (the postgresql-15 package creates it)")
    d = tmpdir_path / "pg"
    d.mkdir()
    os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(tmpdir_path, 0o755)
    as_pg = ["runuser", "-u", "postgres", "--"]
    p = subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(d / "data"), "-A", "trust",
                        "-U", "postgres", "--no-sync"], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    port = free_port()
    log = open(tmpdir_path / "postgres.log", "wb")
    proc = subprocess.Popen([*as_pg, str(PG_BIN / "postgres"), "-D", str(d / "data"),
                             "-p", str(port), "-k", str(d), "-c", "listen_addresses=127.0.0.1",
                             "-c", "fsync=off"], stdout=log, stderr=log)
    try:
        wait_port(port, timeout=60)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "10"},
                       **kw)
    return p


def psql(port, *cmds):
    args = ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
            "postgres", "-v", "ON_ERROR_STOP=0"]
    for c in cmds:
        args += ["-c", c]
    return run(args)


SELECT_ONLY = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"


def test_live_postgres(postgres, agent_factory):
    port = postgres
    p = run(["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-i", "-s", "1",
             "-q", "postgres"])
    assert p.returncode == 0, p.stderr
    agent = agent_factory()
    p = psql(port, "CREATE TABLE t (id int, name text)",
             "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
             "SELECT id, name FROM t ORDER BY id",
             "UPDATE t SET name = 'z' WHERE id > 1",
             "SELECT * FROM missing_table")
    assert 'relation "missing_table" does not exist' in p.stderr, p.stderr
    for mode in ("extended", "prepared"):
        p = run(["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n",
                 "-M", mode, "-S", "-t", "20", "-c", "1", "postgres"])
        assert p.returncode == 0, p.stderr
        assert "number of transactions actually processed: 20/20" in p.stdout, p.stdout
    time.sleep(0.5)
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    want_psql = [
        ("simple query", "CREATE TABLE t (id int, name text)", 0, "", "", None),
        ("simple query", "INSERT INTO t VALUES (?, ?), (?, ?), (?, ?)", 0, "", "", 3),
        ("simple query", "SELECT id, name FROM t ORDER BY id", 0, "", "", 3),
        ("simple query", "UPDATE t SET name = ? WHERE id > ?", 0, "", "", 2),
        ("simple query", "SELECT * FROM missing_table", 4, "42P01",
         'relation "missing_table" does not exist', None),
    ]
    for point in ("c-p", "s-p"):
        mine = sorted((r for r in recs if r["observation_point"] == point),
                      key=lambda r: r["start_time"])
        assert all(r["type"] == 2 and r["l7_protocol"] == "PostgreSQL"
                   and r["signal_source"] == 3 for r in mine), point
        if point == "s-p":
            assert all(r["process_kname_1"] == "postgres" for r in mine)
        psql_recs = [r for r in mine if r["process_kname_0"] == "psql"] if point == "c-p" \
            else mine[:5]
        got = [(r["request_type"], r["request_resource"], r["response_status"],
                r["response_result"], r["response_exception"], r["sql_affected_rows"])
               for r in psql_recs]
        assert got == want_psql, f"{point}: {json.dumps(got, indent=1)}"
        # pgbench -S: exactly one exchange per select-only transaction
        bench = [r for r in mine if r["request_resource"] == SELECT_ONLY]
        kinds = [r["request_type"] for r in bench]
        # extended: Parse/Bind/Describe/Execute/Sync each time; prepared: one Parse/Sync
        # that prepares, then Bind/Describe/Execute/Sync for each transaction
        assert kinds == ["parse"] * 20 + ["parse"] + ["execute"] * 20, f"{point}: {kinds}"
        for r in bench:
            assert r["response_status"] == 0 and r["response_result"] == ""
            assert r["request_length"] > 0 and r["response_length"] > 0
        assert [r["sql_affected_rows"] for r in bench] == [1] * 20 + [None] + [1] * 20
        # everything else pgbench sends is a simple query (its scale and partition checks)
        others = [r for r in mine if r not in bench and r not in psql_recs]
        assert others and all(r["request_type"] == "simple query" for r in others), others
    cp = sorted((r for r in recs if r["observation_point"] == "c-p"), key=lambda r: r["start_time"])
    sp = sorted((r for r in recs if r["observation_point"] == "s-p"), key=lambda r: r["start_time"])
    assert len(cp) == len(sp)
    assert sorted(r["req_tcp_seq"] for r in cp) == sorted(r["req_tcp_seq"] for r in sp)
