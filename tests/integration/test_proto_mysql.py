# SPDX-License-Identifier: Apache-2.0
"""MySQL request logs.

1. The reference captures (../shared/pcaps/mysql) through --read-pcap, compared with
   tshark's MySQL dissection of the same files (requests, statement ids, error codes and
   messages, affected rows), and with DeepFlow's .result files where tshark cannot follow
   (compressed protocol joined without its handshake, a refused login).
2. A live MariaDB server started here (its own data directory, a free loopback port),
   driven by the mariadb client and by a small protocol-level client for the binary
   prepared-statement commands (COM_STMT_*), which no Debian client library sends; the
   agent's eBPF records are checked exactly on the client process side (c-p) and on the
   server process side (s-p).

Nothing is skipped: a missing capture directory or server binary is a failure.
"""
import json
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import AGENT, PCAPS, free_port, need_pcaps, wait_port

MYSQL_DIR = PCAPS / "mysql"

COMMANDS = {
    1: "COM_QUIT", 2: "COM_INIT_DB", 3: "COM_QUERY", 4: "COM_FIELD_LIST", 14: "COM_PING",
    22: "COM_STMT_PREPARE", 23: "COM_STMT_EXECUTE", 25: "COM_STMT_CLOSE",
}


def read_pcap(path, *args):
    p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(path), *args],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    return [r for r in rows if r["table"] == "l7_flow_log" and r["l7_protocol"] == "MySQL"]


def tshark_exchanges(path, port):
    """tshark's view: per client port, the requests in order, each with the first answer
    packet that follows it (error code/message, affected rows, statement id)."""
    fields = ["tcp.srcport", "tcp.dstport", "mysql.command", "mysql.query", "mysql.schema",
              "mysql.stmt_id", "mysql.error_code", "mysql.error.message",
              "mysql.affected_rows", "mysql.response_code"]
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", f"tcp.port=={port},mysql", "-Y", "mysql",
         "-T", "json", *sum((["-e", f] for f in fields), [])],
        capture_output=True, text=True, timeout=60, check=True).stdout
    ex = {}
    last = {}
    for frame in json.loads(out):
        layers = frame["_source"]["layers"]
        v = {f: (layers.get(f) or [""])[0] for f in fields}
        if int(v["tcp.srcport"]) != port:
            if not v["mysql.command"]:
                continue  # the login
            cport = int(v["tcp.srcport"])
            e = {"cmd": COMMANDS.get(int(v["mysql.command"]), v["mysql.command"]),
                 "text": v["mysql.query"] or v["mysql.schema"],
                 "stmt_id": int(v["mysql.stmt_id"]) if v["mysql.stmt_id"] else None,
                 "resp": None}
            ex.setdefault(cport, []).append(e)
            last[cport] = e
        else:
            e = last.get(int(v["tcp.dstport"]))
            if e is not None and e["resp"] is None:
                e["resp"] = v
    return ex


# capture, server port
TSHARK_CAPTURES = [
    ("mysql-error.pcap", 20130), ("mysql.pcap", 20130), ("mysql-database.pcap", 20130),
    ("mysql-table-alter.pcap", 20130), ("mysql-table-create.pcap", 20130),
    ("mysql-table-delete.pcap", 20130), ("mysql-table-desc.pcap", 20130),
    ("mysql-table-destroy.pcap", 20130), ("mysql-table-insert.pcap", 20130),
    ("mysql-table-select.pcap", 20130), ("mysql-table-update.pcap", 20130),
    ("171-mysql.pcap", 20130), ("truncate-1024.pcap", 6033), ("mysql-statement.pcap", 30130),
    ("mysql-statement-id.pcap", 30130), ("mysql-exec.pcap", 30130),
    ("binary-in-sql.pcap", 2883),
]


@pytest.mark.parametrize("name,port", TSHARK_CAPTURES)
def test_capture_matches_tshark(name, port):
    """Every request tshark sees is one record, in order, with its command, SQL (literals
    kept on request), statement id, and the error code/message or affected rows of its
    answer; and with the default settings the SQL literals are hidden."""
    need_pcaps()
    path = MYSQL_DIR / name
    theirs = tshark_exchanges(path, port)
    if name == "binary-in-sql.pcap":
        # The requests carry VLAN 3875 and the answers none: tshark joins them into one
        # stream, the flow table (rightly) keeps them apart, so the requests go unanswered.
        for reqs in theirs.values():
            for e in reqs:
                e["resp"] = None
    recs = read_pcap(path, "--keep-sensitive-values")
    ours = {}
    for r in recs:
        assert r["request_type"] != "" or r["response_code"] is not None, r
        ours.setdefault(r["client_port"], []).append(r)
    assert sorted(ours) == sorted(theirs), f"client ports: ours {sorted(ours)} tshark {sorted(theirs)}"
    prepared = {}
    for cport, reqs in theirs.items():
        mine = sorted(ours[cport], key=lambda r: r["start_time"])
        assert [r["request_type"] for r in mine] == [e["cmd"] for e in reqs], cport
        for r, e in zip(mine, reqs):
            assert r["server_port"] == port and r["observation_point"] == "rest"
            assert r["signal_source"] == 0
            if e["cmd"] in ("COM_QUERY", "COM_STMT_PREPARE", "COM_INIT_DB"):
                assert r["request_resource"] == e["text"][:1024]
            if e["cmd"] == "COM_STMT_PREPARE":
                v = e["resp"]
                if v is not None:
                    assert r["type"] == 2
                    assert r["request_id"] == int(v["mysql.stmt_id"])
                    prepared[r["request_id"]] = e["text"]
            if e["stmt_id"] is not None:
                assert r["request_id"] == e["stmt_id"]
                if e["stmt_id"] in prepared:
                    # the statement table keeps 512 bytes of each statement's SQL
                    assert r["request_resource"] == prepared[e["stmt_id"]][:512]
            if e["cmd"] in ("COM_QUIT", "COM_STMT_CLOSE"):
                assert r["type"] == 0 and r["response_status"] == 0  # no answer by design
                continue
            v = e["resp"]
            if v is None:
                # unanswered in the capture (lost packets, or the answer on another VLAN)
                assert r["type"] == 0 and r["response_status"] == 2, r
                continue
            assert r["type"] == 2, r
            if v["mysql.error_code"]:
                code = int(v["mysql.error_code"])
                assert r["response_code"] == code
                assert r["response_status"] == (4 if 2000 <= code <= 2999 else 3)
                assert r["response_exception"] == v["mysql.error.message"]
            else:
                assert r["response_status"] == 0 and r["response_code"] is None
                assert r["response_exception"] == ""
                if v["mysql.response_code"] == "0x00" and e["cmd"] == "COM_QUERY":
                    assert r["sql_affected_rows"] == int(v["mysql.affected_rows"])
                if v["mysql.response_code"].startswith("0xfe") or v["mysql.response_code"] == "":
                    assert r["sql_affected_rows"] is None  # a result set
    # default settings: the same records, literals replaced
    hidden = read_pcap(path)
    assert len(hidden) == len(recs)
    for a, b in zip(sorted(hidden, key=lambda r: r["start_time"]),
                    sorted(recs, key=lambda r: r["start_time"])):
        assert a["request_type"] == b["request_type"]
        if a["request_type"] in ("COM_QUERY", "COM_STMT_PREPARE"):
            for lit in ("'yuanchao-test'", "1000", "60001", "limit 1"):
                if lit in b["request_resource"]:
                    assert lit not in a["request_resource"]


def test_capture_values_hidden_by_default():
    need_pcaps()
    recs = read_pcap(MYSQL_DIR / "mysql-table-insert.pcap")
    res = [r["request_resource"] for r in recs]
    assert res == ["select @@version_comment limit ?",
                   "insert into tmp (id,lcuuid) values (?,?)", ""]
    assert recs[1]["sql_affected_rows"] == 1


def test_refused_login_as_deepflow():
    """mysql-login-error.result: the refused login is one record, as DeepFlow has it."""
    need_pcaps()
    recs = read_pcap(MYSQL_DIR / "mysql-login-error.pcap")
    assert len(recs) == 1
    r = recs[0]
    assert (r["type"], r["request_type"], r["request_resource"]) == \
        (2, "", "Login username: mydemo db: mydemo-dn1")
    assert (r["response_code"], r["response_status"], r["response_exception"]) == \
        (1040, 3, "Too many connections")
    assert (r["request_length"], r["response_length"]) == (223, 33)


def test_compressed_capture_as_deepflow():
    """partial-packet-compressed.result: a compressed connection joined without its
    handshake (tshark cannot follow it): two queries, their answers streamed through
    zlib (the first one ~660 KB uncompressed), both ok."""
    need_pcaps()
    recs = read_pcap(MYSQL_DIR / "partial-packet-compressed.pcap")
    assert [(r["type"], r["request_type"], r["request_resource"], r["response_status"])
            for r in recs] == [
        (2, "COM_QUERY", "SELECT * FROM `process` WHERE `process`.`deleted_at` IS NULL", 0),
        (2, "COM_QUERY", "SELECT * FROM `vip`", 0)]
    assert recs[0]["response_length"] > 600000
    assert recs[0]["sql_affected_rows"] is None


def test_use_capture_as_deepflow():
    """mysql-use.result: "use `test`" answered by OK (tshark takes it for a login)."""
    need_pcaps()
    recs = read_pcap(MYSQL_DIR / "mysql-use.pcap")
    assert [(r["type"], r["request_type"], r["request_resource"], r["response_status"],
             r["sql_affected_rows"]) for r in recs] == [(2, "COM_QUERY", "use `test`", 0, 0)]


# ---- live MariaDB ----------------------------------------------------------------------

def _which(name):
    p = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                               else None)
    if not p:
        pytest.fail(f"{name} not found: install mariadb-server-core and mariadb-client-core "
                    f"(scripts/install-deps.sh --test)")
    return p


@pytest.fixture
def mariadb(tmpdir_path):
    """A private mariadbd on a free loopback port; yields the port."""
    install_db, mariadbd = _which("mariadb-install-db"), _which("mariadbd")
    datadir = tmpdir_path / "mysql"
    p = subprocess.run([install_db, f"--datadir={datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    port = free_port()
    log = open(tmpdir_path / "mariadbd.log", "wb")
    proc = subprocess.Popen(
        [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={tmpdir_path / 'mysql.sock'}",
         f"--pid-file={tmpdir_path / 'mysql.pid'}", "--user=root", "--skip-grant-tables",
         "--skip-log-bin", "--innodb-buffer-pool-size=16M"],
        stdout=log, stderr=log)
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


def mariadb_client(port, sql, db=None):
    args = [_which("mariadb"), "--protocol=tcp", "-h", "127.0.0.1", "-P", str(port),
            "-u", "root", "--batch", "-e", sql]
    if db:
        args.append(db)
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class RawMySQL:
    """Just enough of the client protocol to send the binary prepared-statement commands:
    login (no password: the server skips grant tables), COM_STMT_PREPARE, _EXECUTE,
    _CLOSE, COM_QUIT. Classic EOF packets (CLIENT_DEPRECATE_EOF not asked for)."""

    CAPS = 0x00000200 | 0x00008000 | 0x00080000 | 0x00000008  # 4.1, secure conn, plugin, db

    def __init__(self, port, db):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.read()  # greeting
        body = struct.pack("<IIB23x", self.CAPS, 1 << 24, 33) + b"root\0" + b"\0" + \
            db.encode() + b"\0" + b"mysql_native_password\0"
        self.send(1, body)
        seq, pkt = self.read()
        assert pkt[0] == 0, pkt

    def send(self, seq, body):
        self.s.sendall(struct.pack("<I", len(body))[:3] + bytes([seq]) + body)

    def read(self):
        hdr = self._exact(4)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        return hdr[3], self._exact(n)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            assert chunk, "connection closed"
            buf += chunk
        return buf

    def _defs(self, n):
        for _ in range(n):
            self.read()
        if n:
            _, eof = self.read()
            assert eof[0] == 0xfe

    def prepare(self, sql):
        self.send(0, b"\x16" + sql.encode())
        _, ok = self.read()
        assert ok[0] == 0, ok
        stmt, cols, params = struct.unpack("<IHH", ok[1:9])
        self._defs(params)
        self._defs(cols)
        return stmt

    def execute(self, stmt, value):
        # one LONGLONG parameter, types sent, no cursor
        body = b"\x17" + struct.pack("<IBI", stmt, 0, 1) + b"\x00" + b"\x01" + \
            b"\x08\x00" + struct.pack("<q", value)
        self.send(0, body)
        _, first = self.read()
        if first[0] in (0x00, 0xff):
            return first
        self._defs(first[0])
        rows = 0
        while True:
            _, pkt = self.read()
            if pkt[0] == 0xfe and len(pkt) < 9:
                return rows
            rows += 1

    def close_stmt(self, stmt):
        self.send(0, b"\x19" + struct.pack("<I", stmt))

    def quit(self):
        self.send(0, b"\x01")
        self.s.close()


def test_live_mariadb(mariadb, agent_factory):
    port = mariadb
    agent = agent_factory()
    p = mariadb_client(port, "CREATE DATABASE fsdb")
    assert p.returncode == 0, p.stderr
    p = mariadb_client(port, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20)); "
                       "INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'); "
                       "UPDATE t SET name='z' WHERE id > 1; "
                       "SELECT id, name FROM t ORDER BY id; "
                       "SELECT * FROM missing_table", db="fsdb")
    assert p.returncode == 1 and "1146" in p.stderr, p.stderr
    assert p.stdout.splitlines() == ["id\tname", "1\ta", "2\tz", "3\tz"]
    raw = RawMySQL(port, "fsdb")
    stmt = raw.prepare("SELECT id, name FROM t WHERE id > ?")
    assert raw.execute(stmt, 1) == 2
    raw.close_stmt(stmt)
    raw.quit()
    time.sleep(0.5)
    recs = [r for r in agent.stop() if r.get("table") == "l7_flow_log"
            and r["server_port"] == port]
    want = [
        # type, request_type, request_resource, status, code, exception, affected rows
        (2, "COM_QUERY", "CREATE DATABASE fsdb", 0, None, "", 1),
        (0, "COM_QUIT", "", 0, None, "", None),
        (2, "COM_QUERY", "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(?))", 0, None, "", 0),
        (2, "COM_QUERY", "INSERT INTO t VALUES (?,?),(?,?),(?,?)", 0, None, "", 3),
        (2, "COM_QUERY", "UPDATE t SET name=? WHERE id > ?", 0, None, "", 2),
        (2, "COM_QUERY", "SELECT id, name FROM t ORDER BY id", 0, None, "", None),
        (2, "COM_QUERY", "SELECT * FROM missing_table", 3, 1146,
         "Table 'fsdb.missing_table' doesn't exist", None),
        (0, "COM_QUIT", "", 0, None, "", None),
        (2, "COM_STMT_PREPARE", "SELECT id, name FROM t WHERE id > ?", 0, None, "", None),
        (2, "COM_STMT_EXECUTE", "SELECT id, name FROM t WHERE id > ?", 0, None, "", None),
        (0, "COM_STMT_CLOSE", "SELECT id, name FROM t WHERE id > ?", 0, None, "", None),
        (0, "COM_QUIT", "", 0, None, "", None),
    ]
    for point, kname in (("c-p", None), ("s-p", "mariadbd")):
        mine = sorted((r for r in recs if r["observation_point"] == point),
                      key=lambda r: r["start_time"])
        got = [(r["type"], r["request_type"], r["request_resource"], r["response_status"],
                r["response_code"], r["response_exception"], r["sql_affected_rows"])
               for r in mine]
        assert got == want, f"{point}: {json.dumps(got, indent=1)}"
        for r in mine:
            assert r["l7_protocol"] == "MySQL" and r["signal_source"] == 3
            assert r["client_port"] != port
            if point == "s-p":
                assert r["process_kname_1"] == kname
            else:
                assert r["process_kname_0"] == "mariadb" or r["process_kname_0"].startswith("python")
            if r["type"] == 2:
                assert r["request_length"] > 4 and r["response_length"] > 4
                assert r["end_time"] >= r["start_time"]
        ids = [r["request_id"] for r in mine]
        assert ids[8] == ids[9] == ids[10] == stmt
        assert ids[:8] == [None] * 8
    # the same exchanges seen from both ends share their TCP sequence numbers
    cp = sorted((r for r in recs if r["observation_point"] == "c-p"), key=lambda r: r["start_time"])
    sp = sorted((r for r in recs if r["observation_point"] == "s-p"), key=lambda r: r["start_time"])
    assert [r["req_tcp_seq"] for r in cp] == [r["req_tcp_seq"] for r in sp]
