# SPDX-License-Identifier: Apache-2.0
"""Start throwaway clickhouse-server processes for tests.

Each server runs from Debian's clickhouse-server binary with a generated config in a
temporary directory: loopback only, free ports, its own data path and log files. The
package's system service is never used. A cluster of several servers on one machine gets
a remote_servers entry naming every one of them as a shard, so that Distributed tables
over it read them all.

Used by tests/integration/test_clickhouse.py and, as a program, by the Makefile to run the
store contract test against a server:
    python3 tests/integration/chserver.py -- build/tests/test_store_contract
starts one server, runs the command with FLOWSCOPE_TEST_CLICKHOUSE=http://127.0.0.1:PORT
(and FLOWSCOPE_TEST_CLICKHOUSE_PID, the server's pid), stops the server and exits with the command's status. A missing clickhouse-server is an
error that says which package to install, never a skip.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY_CANDIDATES = ("/usr/bin/clickhouse", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")


def find_binary():
    for b in BINARY_CANDIDATES:
        if os.access(b, os.X_OK):
            return b
    b = shutil.which("clickhouse-server") or shutil.which("clickhouse")
    if b:
        return b
    raise RuntimeError(
        "clickhouse-server is not installed: run scripts/install-deps.sh --test "
        "(Debian package clickhouse-server)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


USERS_XML = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def _config_xml(d, http, tcp, inter, shards, compression=None):
    remote = ""
    if shards:
        reps = "".join(
            "<shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>" % p
            for p in shards)
        remote = "<remote_servers><flowscope_test>%s</flowscope_test></remote_servers>" % reps
    return """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  {remote}{compression}
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
""".format(d=d, http=http, tcp=tcp, inter=inter, remote=remote,
           # The server-wide part compression (18.16 has no per-column codecs): lz4 by
           # default; benchmarks measure zstd with it.
           compression="" if not compression else
           "<compression><case><method>%s</method></case></compression>" % compression)


class ClickHouse:
    """One clickhouse-server in its own temporary directory."""

    def __init__(self, cluster_tcp_ports=None, tcp_port=None, compression=None):
        self.compression = compression
        self.binary = find_binary()
        self.dir = tempfile.mkdtemp(prefix="flowscope-ch-")
        self.http_port = free_port()
        self.tcp_port = tcp_port or free_port()
        self.inter_port = free_port()
        self.cluster_tcp_ports = cluster_tcp_ports
        self.proc = None
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(USERS_XML)
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(_config_xml(self.dir, self.http_port, self.tcp_port, self.inter_port,
                                cluster_tcp_ports, self.compression))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def store_url(self, db, cluster=None):
        u = "clickhouse://127.0.0.1:%d/%s" % (self.http_port, db)
        return u + ("?cluster=" + cluster if cluster else "")

    def start(self, timeout=60):
        args = [self.binary]
        if os.path.basename(self.binary) == "clickhouse":
            args.append("server")
        args += ["--config-file=" + os.path.join(self.dir, "config.xml")]
        self.log = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(args, cwd=self.dir, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server exited with %d; log: %s" %
                                   (self.proc.returncode, self.tail_log()))
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.read().strip() == b"Ok.":
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("clickhouse-server did not answer /ping in %ds" % timeout)

    def tail_log(self):
        out = []
        for name in ("stdout.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(f.read()[-2000:].decode(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)

    def query(self, sql, db=None):
        url = self.url + "/"
        if db:
            url += "?database=" + db
        req = urllib.request.Request(url, data=sql.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    def kill(self):
        """Stop the process (SIGKILL), keeping its directory: start() brings it back."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=20)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: chserver.py [--compression lz4|zstd] -- COMMAND [ARGS...]",
              file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    opts = argv[1:argv.index("--")]
    compression = None
    if opts[:1] == ["--compression"] and len(opts) == 2 and opts[1] in ("lz4", "zstd"):
        compression = opts[1]
    elif opts:
        print("chserver: unknown options %s" % " ".join(opts), file=sys.stderr)
        return 2
    # Stopped from outside (make interrupted, a CI timeout): still stop the server.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(128 + 15))
    try:
        ch = ClickHouse(compression=compression).start()
    except RuntimeError as e:
        print("chserver: %s" % e, file=sys.stderr)
        return 1
    try:
        # The pid lets a benchmark read the server's own CPU time from /proc.
        env = dict(os.environ, FLOWSCOPE_TEST_CLICKHOUSE=ch.url,
                   FLOWSCOPE_TEST_CLICKHOUSE_PID=str(ch.proc.pid))
        return subprocess.call(cmd, env=env)
    finally:
        ch.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
