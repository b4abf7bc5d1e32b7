#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""flowscope's tracing demo: a small shop of services in three languages, each in its own
network namespace, joined by a bridge, none with a line of tracing code.

    client ─► gateway (nginx) ─► front (Python) ─┬─► cart (Node.js) ──► Redis
                                                 └─► orders (Ruby) ───► PostgreSQL

    demo/demo.py run [--requests N] [--concurrency C]   start everything, flowscope too,
                                                        send N requests, show a trace, stop
    demo/demo.py up                                     start the shop (no flowscope) and
                                                        wait for Ctrl-C
    demo/demo.py load [--requests N] [--concurrency C]  send requests to a running shop

Needs root (namespaces, veths, a bridge), nginx, python3, node, ruby with ruby-pg and
ruby-webrick, redis-server and PostgreSQL 15: `scripts/install-deps.sh --test` installs
them. Every address is in 10.77.0.0/24 on the bridge fsd-br0; `down` (or the end of `run`)
removes it all. The test suite imports this module (tests/integration/test_demo_trace.py).
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "fsd"
BRIDGE = f"{PREFIX}-br0"
NET = "10.77.0"
HOST_IP = f"{NET}.1"
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")

# name: (address, port) of each service, one network namespace each.
SERVICES = {
    "gw": (f"{NET}.10", 80),
    "front": (f"{NET}.11", 8000),
    "cart": (f"{NET}.12", 8001),
    "orders": (f"{NET}.13", 8002),
    "redis": (f"{NET}.14", 6379),
    "pg": (f"{NET}.15", 5432),
}
USERS = 50  # users with orders in the database; requests pick user = id % USERS
# Payload bytes the agent copies per syscall (its default: 1024). Node.js pipelines one
# Redis command per concurrent checkout on one connection and redis-server reads them in
# one read; a cut read loses the commands past the cut, so the demo copies the most.
CAPTURE_BYTES = 16384
# Unanswered requests the agent keeps per connection (its default: 64). Node.js has one
# INCR in flight on its Redis connection per checkout in progress; beyond this the agent
# writes the oldest as a lone request and that checkout's trace loses its Redis spans
# (bench/trace_completeness.py: 6 of 1000 trees at 100 concurrent, 65 at 200).
MAX_PENDING = 1024

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {gw_ip}:{gw_port};
        location / {{ proxy_pass http://{front_ip}:{front_port}; }}
    }}
}}
"""


def sh(*args, check=True):
    """Run a command quietly; on failure raise with its stderr."""
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode:
        raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip() or p.returncode}")
    return p


def ns(name):
    return f"{PREFIX}-{name}"


def need(*programs):
    missing = [p for p in programs if not shutil.which(p) and not pathlib.Path(p).exists()]
    if missing:
        raise RuntimeError("demo: missing " + ", ".join(missing) +
                           " (run scripts/install-deps.sh --test as root)")


def wait_tcp(addr, port, timeout=30.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for {addr}:{port} exited with {proc.returncode}")
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on {addr}:{port} after {timeout:.0f}s")


def remove_topology():
    """Delete the demo's namespaces and bridge, whatever is left of them."""
    for name in SERVICES:
        for pid in sh("ip", "netns", "pids", ns(name), check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns(name), check=False)
        sh("ip", "link", "del", f"{ns(name)}-h", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def make_topology():
    """A bridge in the root namespace and one namespace per service, each behind a veth."""
    remove_topology()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for name, (addr, _) in SERVICES.items():
        n, host_end = ns(name), f"{ns(name)}-h"
        sh("ip", "netns", "add", n)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", n)
        sh("ip", "link", "set", host_end, "master", BRIDGE)
        sh("ip", "link", "set", host_end, "up")
        sh("ip", "-n", n, "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "-n", n, "link", "set", "eth0", "up")
        sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "-n", n, "route", "add", "default", "via", HOST_IP)


class Shop:
    """The demo's services, started in their namespaces; a context manager."""

    def __init__(self, workdir=None):
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="flowscope-demo-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.procs = {}

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def spawn(self, name, *cmd):
        log = open(self.dir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(["ip", "netns", "exec", ns(name), *cmd],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        return self.procs[name]

    def log_tail(self, name):
        p = self.dir / f"{name}.log"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def ready(self, name, timeout=60.0):
        addr, port = SERVICES[name]
        try:
            wait_tcp(addr, port, timeout, self.procs.get(name))
        except RuntimeError as e:
            raise RuntimeError(f"demo: {name} did not start: {e}\n{self.log_tail(name)}")

    def up(self):
        need("ip", "nginx", "node", "ruby", "redis-server", "runuser", str(PG_BIN / "initdb"))
        make_topology()
        self.start_redis()
        self.start_postgres()
        self.spawn("cart", "node", str(HERE / "services" / "cart.js"), *map(str, SERVICES["cart"]),
                   *map(str, SERVICES["redis"]))
        self.spawn("orders", "ruby", str(HERE / "services" / "orders.rb"),
                   *map(str, SERVICES["orders"]), *map(str, SERVICES["pg"]))
        self.spawn("front", sys.executable, str(HERE / "services" / "front.py"),
                   *map(str, SERVICES["front"]))
        self.start_nginx()
        for name in ("cart", "orders", "front", "gw"):
            self.ready(name)

    def start_redis(self):
        addr, port = SERVICES["redis"]
        self.spawn("redis", "redis-server", "--bind", addr, "--port", str(port), "--save", "",
                   "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.dir))
        self.ready("redis")

    def start_postgres(self):
        addr, port = SERVICES["pg"]
        data = self.dir / "pgdata"
        pg = pwd.getpwnam("postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
        sock = self.dir / "pgsock"
        for d in (sock, data):  # initdb and the server run as postgres
            d.mkdir(exist_ok=True)
            os.chown(d, pg.pw_uid, pg.pw_gid)
        p = subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                            "-U", "postgres", "--no-sync"], capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError("demo: initdb failed: " + p.stderr)
        with open(data / "pg_hba.conf", "a") as f:
            f.write(f"host all all {NET}.0/24 trust\n")
        self.spawn("pg", *as_pg, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                   "-c", f"listen_addresses={addr}", "-c", f"unix_socket_directories={sock}",
                   "-c", "fsync=off", "-c", "max_connections=100")
        self.ready("pg")
        sql = ("CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL, "
               "total numeric(10,2) NOT NULL); CREATE INDEX ON orders (user_id); "
               f"INSERT INTO orders (user_id, total) SELECT g % {USERS}, (g * 7 % 100) + 0.99 "
               "FROM generate_series(1, 500) g;")
        p = subprocess.run(["psql", "-X", "-q", "-h", addr, "-p", str(port), "-U", "postgres",
                            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError("demo: loading the orders table failed: " + p.stderr)

    def start_nginx(self):
        gw, front = SERVICES["gw"], SERVICES["front"]
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, gw_ip=gw[0], gw_port=gw[1],
                                          front_ip=front[0], front_port=front[1]))
        self.spawn("gw", "nginx", "-p", str(self.dir), "-c", str(conf))

    def down(self):
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()
        remove_topology()


def checkout(i, timeout=30.0):
    """One client request through the gateway: (request number, HTTP status, body)."""
    addr, port = SERVICES["gw"]
    conn = http.client.HTTPConnection(addr, port, timeout=timeout)
    try:
        conn.request("GET", f"/checkout?id={i}&user={i % USERS}")
        resp = conn.getresponse()
        return i, resp.status, resp.read()
    finally:
        conn.close()


def load(requests, concurrency, first=0):
    """Send requests first..first+requests-1, concurrency at a time; returns their results
    in request order. Bounded: every request has a timeout and the count is fixed."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sorted(pool.map(checkout, range(first, first + requests)))


def flowscope_up(data, listen):
    exe = ROOT / "build" / "flowscope"
    if not exe.exists():
        raise RuntimeError("demo: build/flowscope is missing: run make first")
    log_path = pathlib.Path(data).parent / "flowscope-up.log"
    log = open(log_path, "wb")
    p = subprocess.Popen([str(exe), "up", "--data", str(data), "--listen", listen,
                          f"--agent-arg=--capture-bytes={CAPTURE_BYTES}",
                          f"--agent-arg=--max-pending={MAX_PENDING}",
                          # Packets too, on every veth and the bridge: each hop's network
                          # spans (the client's NIC, the bridge, the server's NIC).
                          f"--agent-arg=--interface={PREFIX}-*"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    host, port = listen.rsplit(":", 1)
    wait_tcp(host, int(port), 30, p)
    # The agent starts once the server answers: wait until its probes are attached.
    deadline = time.monotonic() + 60
    while b"capturing socket traffic" not in log_path.read_bytes():
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("demo: flowscope up did not start:\n" +
                               log_path.read_text(errors="replace")[-2000:])
        time.sleep(0.2)
    return p


def query(listen, sql):
    exe = ROOT / "build" / "flowscope"
    return subprocess.run([str(exe), "query", "--server", f"http://{listen}", sql],
                          capture_output=True, text=True).stdout


def trace_of_checkout(listen, i):
    """`flowscope trace` of checkout i, from the gateway's s-p span."""
    host, port = listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    gw_addr, gw_port = SERVICES["gw"]
    sql = ("SELECT _id FROM l7_flow_log WHERE observation_point = 's-p' AND "
           f"ip4_1 = '{gw_addr}' AND server_port = {gw_port} AND "
           f"request_resource = '/checkout?id={i}&user={i % USERS}'")
    try:
        conn.request("POST", "/v1/query", json.dumps({"sql": sql}),
                     {"Content-Type": "application/json"})
        values = json.loads(conn.getresponse().read()).get("values") or []
    finally:
        conn.close()
    if not values:
        return f"demo: no gateway span for checkout {i}\n"
    exe = ROOT / "build" / "flowscope"
    return subprocess.run([str(exe), "trace", "--server", f"http://{listen}",
                           str(values[0][0])], capture_output=True, text=True).stdout


def cmd_run(args):
    signal.signal(signal.SIGTERM, stop_on_term)
    work = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-demo-"))
    work.chmod(0o755)  # PostgreSQL (as postgres) and nginx's workers reach into it
    with Shop(work / "shop") as shop:
        print(f"demo: the shop is up (gateway http://{SERVICES['gw'][0]}/checkout)")
        fs = flowscope_up(work / "data", args.listen)
        try:
            t0 = time.monotonic()
            results = load(args.requests, args.concurrency)
            ok = sum(1 for _, status, _ in results if status == 200)
            print(f"demo: {ok}/{len(results)} checkouts answered 200 in "
                  f"{time.monotonic() - t0:.1f}s")
            time.sleep(3)  # records reach the server in batches
            print(query(args.listen,
                        "SELECT ip4_1, server_port, l7_protocol, observation_point, "
                        "Count(row) AS requests, Avg(response_duration) AS avg_us, "
                        "Max(response_duration) AS max_us FROM l7_flow_log "
                        f"WHERE ip4_1 LIKE '{NET}.%' GROUP BY ip4_1, server_port, "
                        "l7_protocol, observation_point ORDER BY ip4_1, observation_point"))
            print(query(args.listen,
                        "SELECT observation_point, process_kname_0, process_kname_1, "
                        "l7_protocol, request_type, request_resource, response_code, "
                        "response_duration, req_tcp_seq FROM l7_flow_log "
                        "WHERE request_resource = '/checkout?id=0&user=0' ORDER BY start_time"))
            print("demo: the trace of checkout 0, assembled from its gateway span:")
            print(trace_of_checkout(args.listen, 0))
        finally:
            os.killpg(fs.pid, signal.SIGINT)
            fs.wait(timeout=30)
        print(f"demo: data kept in {work / 'data'}; logs in {shop.dir}")


def stop_on_term(signum, frame):
    raise KeyboardInterrupt


def cmd_up(args):
    signal.signal(signal.SIGTERM, stop_on_term)
    with Shop(args.dir):
        print(f"demo: the shop is up: curl 'http://{SERVICES['gw'][0]}/checkout?id=1&user=1'"
              " (Ctrl-C stops it)")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


def cmd_load(args):
    if sh("ip", "link", "show", BRIDGE, check=False).returncode:
        raise RuntimeError("demo: the shop is not up (demo/demo.py up)")
    results = load(args.requests, args.concurrency)
    bad = [(i, s) for i, s, _ in results if s != 200]
    print(f"{len(results) - len(bad)}/{len(results)} answered 200" +
          (f"; failed: {bad[:10]}" if bad else ""))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="the whole demo with flowscope, then stop")
    r.add_argument("--requests", type=int, default=200)
    r.add_argument("--concurrency", type=int, default=20)
    r.add_argument("--listen", default="127.0.0.1:20416", help="flowscope's server address")
    u = sub.add_parser("up", help="start the shop and wait for Ctrl-C")
    u.add_argument("--dir", help="where logs and data go (default: a new temporary directory)")
    lo = sub.add_parser("load", help="send requests to a running shop")
    lo.add_argument("--requests", type=int, default=200)
    lo.add_argument("--concurrency", type=int, default=20)
    sub.add_parser("down", help="remove what a killed demo left behind")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("demo: run as root (network namespaces and a bridge)")
    if args.requests if hasattr(args, "requests") else 0:
        if not 0 < args.requests <= 100000 or not 0 < args.concurrency <= 500:
            sys.exit("demo: --requests 1..100000 and --concurrency 1..500")
    try:
        if args.cmd == "run":
            return cmd_run(args)
        if args.cmd == "up":
            return cmd_up(args)
        if args.cmd == "load":
            return cmd_load(args)
        remove_topology()
    except RuntimeError as e:
        sys.exit(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
