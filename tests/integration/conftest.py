# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the integration tests: the agent under test, nginx, free ports.

Everything listens on 127.0.0.1 on ports the kernel picks, and is stopped at the end.
"""
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The reference captures (../shared/pcaps beside the repository; see its README).
PCAPS = pathlib.Path(os.environ.get("FLOWSCOPE_PCAPS", ROOT.parent / "shared" / "pcaps"))


def need_pcaps():
    """Tests on the reference captures fail, never skip, when they are missing."""
    if not PCAPS.is_dir():
        pytest.fail(f"reference captures missing: {PCAPS} (they sit beside the repository "
                    f"as ../shared/pcaps; set FLOWSCOPE_PCAPS=DIR to use another copy)")
# FLOWSCOPE_AGENT selects another build, e.g. the sanitizer one (make integration-test-san).
AGENT = pathlib.Path(os.environ.get("FLOWSCOPE_AGENT", ROOT / "build" / "flowscope-agent"))
SERVER = pathlib.Path(os.environ.get("FLOWSCOPE_SERVER", ROOT / "build" / "flowscope-server"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class Server:
    """flowscope-server on loopback with its data under tmpdir/data (or data_dir)."""

    def __init__(self, tmpdir, *args, port=None, data_dir=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = pathlib.Path(data_dir or pathlib.Path(tmpdir) / "data")
        self.err = pathlib.Path(tmpdir) / f"server-{time.monotonic_ns()}.stderr"
        self.proc = subprocess.Popen(
            [str(SERVER), "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", str(self.data_dir), *args],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "wb"))
        try:
            wait_port(self.port)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError("server did not start:\n" + self.err.read_text())

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, data, _ = self.request(method, path, body, headers)
        return status, json.loads(data)

    def query(self, sql):
        """The rows of a query that must succeed."""
        status, body = self.json("POST", "/v1/query", urllib.parse.urlencode({"sql": sql}),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        return body["values"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Agent:
    """flowscope-agent --stdout, records collected to a file, counters parsed at exit."""

    def __init__(self, tmpdir, *args, ready="capturing socket traffic", netns=None):
        self.out = pathlib.Path(tmpdir) / f"agent-{time.monotonic_ns()}.jsonl"
        self.err = self.out.with_suffix(".stderr")
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, str(AGENT), "--stdout", "--stats", *args],
            stdout=open(self.out, "wb"), stderr=open(self.err, "wb"))
        deadline = time.monotonic() + 30
        while ready not in self.err.read_text():
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited early:\n" + self.err.read_text())
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("agent did not start:\n" + self.err.read_text())
            time.sleep(0.05)
        self.records = None
        self.stats = None

    def stop(self, settle=0.5):
        # Give the ring buffer one poll round to drain what the last syscalls queued.
        time.sleep(settle)
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        err = self.err.read_text()
        assert rc == 0, f"agent exit status {rc}:\n{err}"
        self.records = [json.loads(line) for line in self.out.read_text().splitlines()]
        self.stats = {}
        for line in err.splitlines():
            m = re.match(r"^  ([a-z_]+)\s+(\d+)  ", line)
            if m:
                self.stats[m.group(1)] = int(m.group(2))
        return self.records

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="flowscope-it-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def agent_factory(tmpdir_path):
    started = []

    def start(*args, **kw):
        a = Agent(tmpdir_path, *args, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.kill()


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000;
    sendfile on;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location = /ok {{ return 200 "hello\\n"; }}
        location = /notfound {{ return 404; }}
        location = /error {{ return 500; }}
        location = /created {{ return 201 "created\\n"; }}
        location = /upload {{ client_max_body_size 10m; return 200 "uploaded\\n"; }}
        location /static/ {{ }}
        location /proxy/ {{ proxy_pass http://127.0.0.1:{upstream}/; }}
    }}
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ return 200 "upstream\\n"; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx():
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-nginx-"))
    d.chmod(0o755)  # nginx workers run as nobody and must reach the static files
    (d / "www" / "static").mkdir(parents=True)
    (d / "www" / "static" / "1k.bin").write_bytes(bytes(range(256)) * 4)
    (d / "www" / "static" / "100k.bin").write_bytes(b"z" * 100000)
    port, upstream = free_port(), free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, port=port, upstream=upstream))
    proc = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                            stderr=subprocess.PIPE)
    try:
        wait_port(port)
        wait_port(upstream)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                 text=True).stdout.split()
        yield {"port": port, "upstream": upstream, "master": proc.pid,
               "workers": {int(w) for w in workers}, "dir": d}
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, ignore_errors=True)
