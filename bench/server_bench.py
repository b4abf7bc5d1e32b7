#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""flowscope-server: ingest throughput into SQLite and query latency.

1. Ingest. For each batch size (default 1000 and 10000): a fresh flowscope-server on a
   new temporary data directory and a free loopback port, pinned to CPU 1, and
   build/bench/ingest_bench pinned to CPU 0, which pre-encodes --rows synthetic
   l7_flow_log records (spread over the last --window-minutes) with the real wire codec
   and POSTs them to /v1/ingest over one keep-alive connection. Every batch is acked only
   after a durable SQLite commit (WAL, synchronous=FULL). Reported: wall rows/s, rows per
   server CPU-second (utime + stime of the server from /proc, before and after: "per
   core"), per-batch latency, the server's file I/O per row (/proc/PID/io), its peak RSS,
   and bytes on disk per row (live, with the WAL, and after a clean stop).
2. Queries, over the rows of the first ingest run (10^6 by default), with "now" the end
   of the generated data so that every run sees the same rows:
   a. span list: the 100 latest spans (ORDER BY start_time DESC) of the last 15 minutes
      (DeepFlow's paper: 0.06 s), which by default hold all the rows; and the same over
      the last minute (1/15 of them),
   b. RED per endpoint: requests, server errors, mean and p99 duration, GROUP BY endpoint
      over every row,
   each repeated (after one warm-up run) over one keep-alive HTTP connection; reported:
   median and p95 of the client-observed latency and of the server's took_ms. Answers
   are checked (100 rows; RED's requests add up to every row).

Targets: ingest >= 200k rows/s per server core; span list <= 30 ms. A missed target is
reported, not an error: the exit status is nonzero only when something failed.

Usage: bench/server_bench.py [--rows 1000000] [--batches 1000,10000] [--repeat 1]
                             [--connections 1] [--span-runs 50] [--red-runs 10]
                             [--no-queries] [--keep]
Needs a built server and bench (make all tests); root is not needed. Data directories go
under $TMPDIR (default /tmp): put it on the disk to be measured, not on a tmpfs, or the
fsync of every acknowledged batch costs nothing. FLOWSCOPE_SERVER=path benchmarks another
server binary.
"""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVER = pathlib.Path(os.environ.get("FLOWSCOPE_SERVER", ROOT / "build" / "flowscope-server"))
INGEST = ROOT / "build" / "bench" / "ingest_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_INGEST = 200_000  # rows/s per server core
TARGET_SPAN_MS = 30.0
DEEPFLOW_SPAN_MS = 60.0

SPAN_COLUMNS = ("start_time, end_time, response_duration, observation_point, request_type, "
                "request_domain, request_resource, endpoint, response_code, response_status, "
                "ip4_0, ip4_1, client_port, server_port, process_kname_0, process_kname_1, "
                "trace_id, span_id")


class BenchError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(400):
        if proc.poll() is not None:
            raise BenchError(f"server exited with status {proc.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"server never opened port {port}")


def pinning():
    """taskset prefixes for the server (CPU 1) and the client (CPU 0), when possible."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return [], [], "not pinned (needs 2 CPUs and taskset)"
    return (["taskset", "-c", str(cpus[1])], ["taskset", "-c", str(cpus[0])],
            f"server on CPU {cpus[1]}, client on CPU {cpus[0]}")


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_io(pid):
    """Bytes the process passed to write()/pwrite() (wchar) and read()/pread() (rchar)."""
    io = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                io[k] = int(v)
    except OSError:  # not ours to read: leave the figures out
        pass
    return io


def proc_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def dir_bytes(path):
    total = 0
    for p in pathlib.Path(path).rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return total


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


class Server:
    def __init__(self, workdir, prefix):
        self.port = free_port()
        self.data = pathlib.Path(workdir) / "data"
        self.errpath = pathlib.Path(workdir) / "server.stderr"
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(
            [*prefix, str(SERVER), "--listen", f"127.0.0.1:{self.port}", "--data-dir",
             str(self.data), "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=self.err)
        try:
            wait_port(self.port, self.proc)
        except BenchError:
            self.kill()
            raise BenchError("server did not start:\n" + self.errpath.read_text())
        self.conn = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def query(self, sql):
        """One query over a kept-alive connection: (client seconds, answer)."""
        body = urllib.parse.urlencode({"db": "flow_log", "sql": sql})
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                t0 = time.perf_counter()
                self.conn.request("POST", "/v1/query", body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                dt = time.perf_counter() - t0
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        ans = json.loads(data)
        if resp.status != 200 or "error" in ans:
            raise BenchError(f"query failed (HTTP {resp.status}): {ans}\n  sql: {sql}")
        if ans.get("timed_out") or ans.get("truncated"):
            raise BenchError(f"query timed out or was truncated: {sql}")
        return dt, ans

    def stop(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                raise BenchError("server did not stop within 60 s of SIGTERM")
            if rc != 0:
                raise BenchError(f"server exited {rc}:\n" + self.errpath.read_text())
        self.err.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def run_ingest(srv, client_prefix, rows, batch, window, connections):
    cmd = [*client_prefix, str(INGEST), "--url", srv.url, "--rows", str(rows), "--batch",
           str(batch), "--window-minutes", str(window), "--connections", str(connections),
           "--json"]
    # The server's CPU is read just before the first POST: ingest_bench encodes everything
    # first and says so on stderr, so the clock starts when it prints its POST line.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu0 = None
    err_lines = []
    for line in p.stderr:
        err_lines.append(line)
        if "ingest_bench: POST " in line:
            cpu0 = proc_cpu_s(srv.proc.pid)
            io0 = proc_io(srv.proc.pid)
    out = p.stdout.read()
    rc = p.wait()
    cpu1 = proc_cpu_s(srv.proc.pid)
    io1 = proc_io(srv.proc.pid)
    if rc != 0 or cpu0 is None:
        raise BenchError(f"ingest_bench failed ({rc}):\n" + "".join(err_lines))
    res = json.loads(out)
    res["server_cpu_s"] = cpu1 - cpu0
    res["rows_per_cpu_s"] = res["rows"] / res["server_cpu_s"] if res["server_cpu_s"] else 0
    res["server_hwm_mib"] = proc_hwm_mib(srv.proc.pid)
    for k in ("wchar", "rchar"):
        if k in io0 and k in io1:
            res[k + "_per_row"] = (io1[k] - io0[k]) / res["rows"]
    res["log"] = "".join(err_lines)
    return res


def time_query(srv, sql, runs):
    srv.query(sql)  # warm-up: page cache and SQLite's own cache
    client, took = [], []
    ans = None
    for _ in range(runs):
        dt, ans = srv.query(sql)
        client.append(dt * 1000)
        took.append(float(ans["took_ms"]))
    return {"median_ms": statistics.median(client), "p95_ms": pct(client, 95),
            "min_ms": min(client), "took_median_ms": statistics.median(took),
            "took_p95_ms": pct(took, 95), "runs": runs, "answer": ans}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per ingest run")
    ap.add_argument("--batches", default="1000,10000",
                    help="comma-separated batch sizes, one ingest run each (the first "
                         "run's rows are queried)")
    ap.add_argument("--connections", type=int, default=1, help="ingest connections")
    ap.add_argument("--repeat", type=int, default=1,
                    help="ingest runs per batch size (each on a fresh server); medians")
    ap.add_argument("--window-minutes", type=int, default=15,
                    help="record times spread over this many minutes before the run")
    ap.add_argument("--span-runs", type=int, default=50)
    ap.add_argument("--red-runs", type=int, default=10)
    ap.add_argument("--no-queries", action="store_true", help="ingest runs only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = ap.parse_args()
    try:
        batches = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        ap.error("--batches: comma-separated integers")
    if not batches or args.rows <= 0 or args.repeat <= 0 or args.span_runs <= 0 \
            or args.red_runs <= 0:
        ap.error("--rows, --repeat, --span-runs, --red-runs and --batches must be positive")
    for exe in (SERVER, INGEST):
        if not os.access(exe, os.X_OK):
            print(f"server_bench: {exe} missing: run `make all tests` first", file=sys.stderr)
            return 1

    srv_pin, cli_pin, pin_desc = pinning()
    print(f"server_bench: {args.rows} rows per run, batches {batches}, "
          f"{args.connections} connection(s), {pin_desc}", flush=True)
    workroot = tempfile.mkdtemp(prefix="flowscope-srvbench-")
    servers = []
    ingest = {}  # batch -> list of results
    queries = None
    try:
        for bi, batch in enumerate(batches):
            for rep in range(args.repeat):
                wd = pathlib.Path(workroot) / f"b{batch}-r{rep}"
                wd.mkdir()
                srv = Server(wd, srv_pin)
                servers.append(srv)
                res = run_ingest(srv, cli_pin, args.rows, batch, args.window_minutes,
                                 args.connections)
                res["disk_live"] = dir_bytes(srv.data)
                print(f"ingest batch {batch:>6} run {rep + 1}: {res['rows_per_s']:>9.0f} rows/s "
                      f"wall, {res['rows_per_cpu_s']:>9.0f} rows per server CPU-s "
                      f"({res['server_cpu_s']:.2f} CPU-s in {res['wall_s']:.2f} s), "
                      f"batch p50 {res['batch_p50_ms']:.1f} ms p99 {res['batch_p99_ms']:.1f} ms, "
                      f"{res['bytes_per_row']:.1f} B/row on the wire", flush=True)
                if bi == 0 and rep == 0 and not args.no_queries:
                    queries = run_queries(srv, args, res["window_end_us"])
                srv.stop()
                servers.remove(srv)
                res["disk_stopped"] = dir_bytes(srv.data)
                if "wchar_per_row" in res:
                    print(f"  server file I/O per row: {res['wchar_per_row']:.0f} B written, "
                          f"{res['rchar_per_row']:.0f} B read (write/pwrite and read/pread "
                          f"calls, page cache included)", flush=True)
                print(f"  server peak RSS {res['server_hwm_mib']:.1f} MiB; on disk "
                      f"{res['disk_live'] / res['rows']:.0f} B/row live (WAL included), "
                      f"{res['disk_stopped'] / res['rows']:.0f} B/row after a clean stop",
                      flush=True)
                ingest.setdefault(batch, []).append(res)
    except BenchError as e:
        print(f"server_bench: ERROR: {e}", file=sys.stderr)
        return 1
    finally:
        for s in servers:
            s.kill()
        if args.keep:
            print(f"server_bench: data kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    summary(args, ingest, queries)
    return 0


def run_queries(srv, args, window_end_us):
    # "Now" is the end of the generated data (the moment ingest_bench started), so every
    # run sees the same rows whatever the ingest took: the last 15 minutes hold all of
    # them when --window-minutes is 15, the hard case for a span list.
    now = window_end_us // 1_000_000 + 1

    def window(secs):
        return f"time >= {now - secs} AND time < {now}"
    span_sql = (f"SELECT {SPAN_COLUMNS} FROM l7_flow_log WHERE {window(900)} "
                "ORDER BY start_time DESC LIMIT 100")
    span1_sql = (f"SELECT {SPAN_COLUMNS} FROM l7_flow_log WHERE {window(60)} "
                 "ORDER BY start_time DESC LIMIT 100")
    red_sql = ("SELECT endpoint, Count(row) AS requests, Sum(response_status = 3) AS "
               "server_errors, Avg(response_duration) AS avg_us, "
               "Percentile(response_duration, 99) AS p99_us FROM l7_flow_log "
               f"WHERE {window(args.window_minutes * 60 + 60)} GROUP BY endpoint "
               "ORDER BY requests DESC")
    out = {}
    for name, sql, runs, secs in (("span", span_sql, args.span_runs, 900),
                                  ("span1", span1_sql, args.span_runs, 60),
                                  ("red", red_sql, args.red_runs, None)):
        q = time_query(srv, sql, runs)
        q["sql"] = sql
        if secs:
            _, cnt = srv.query(f"SELECT Count(row) AS n FROM l7_flow_log WHERE {window(secs)}")
            q["in_window"] = cnt["values"][0][0]
            if len(q["answer"]["values"]) != min(100, q["in_window"]):
                raise BenchError(f"span list returned {len(q['answer']['values'])} rows, "
                                 f"expected {min(100, q['in_window'])}")
        else:
            q["rows"] = sum(r[1] for r in q["answer"]["values"])
            q["groups"] = len(q["answer"]["values"])
            if q["rows"] != args.rows:
                raise BenchError(f"RED counted {q['rows']} requests, expected {args.rows}")
        out[name] = q
    for name, label in (("span", "span list 15m"), ("span1", "span list 1m"),
                        ("red", "RED/endpoint")):
        q = out[name]
        print(f"query {label:<13}: median {q['median_ms']:8.1f} ms, p95 {q['p95_ms']:8.1f} ms "
              f"(client, {q['runs']} runs); server took_ms median {q['took_median_ms']:.0f}, "
              f"p95 {q['took_p95_ms']:.0f}", flush=True)
    return out


def summary(args, ingest, queries):
    print()
    print(f"summary ({args.rows} rows per ingest run, {args.repeat} run(s) per batch size; "
          f"queries over the first run's rows)")
    for batch, runs in ingest.items():
        wall = statistics.median(r["rows_per_s"] for r in runs)
        core = statistics.median(r["rows_per_cpu_s"] for r in runs)
        p50 = statistics.median(r["batch_p50_ms"] for r in runs)
        io = ""
        if all("wchar_per_row" in r for r in runs):
            io = (f", server writes {statistics.median(r['wchar_per_row'] for r in runs):.0f}"
                  f" B/row")
        print(f"  ingest, batch {batch:>6}: {core:>9.0f} rows per server CPU-s "
              f"({core / TARGET_INGEST:.2f} of the {TARGET_INGEST // 1000}k target), "
              f"{wall:.0f} rows/s wall, batch p50 {p50:.1f} ms{io}")
    first = next(iter(ingest.values()))[0]
    print(f"  on disk: {first['disk_live'] / first['rows']:.0f} B/row live, "
          f"{first['disk_stopped'] / first['rows']:.0f} B/row after a clean stop; "
          f"wire {first['bytes_per_row']:.1f} B/row (zstd)")
    met = []
    best = max(statistics.median(x["rows_per_cpu_s"] for x in runs) for runs in ingest.values())
    met.append(("ingest >= 200k rows/s per server core", best >= TARGET_INGEST))
    if queries:
        met.append(("span list <= 30 ms (median)",
                    queries["span"]["median_ms"] <= TARGET_SPAN_MS))
        print_queries(queries)
    for what, ok in met:
        print(f"  target {what}: {'met' if ok else 'MISSED'}")


def print_queries(queries):
    s, s1, r = queries["span"], queries["span1"], queries["red"]
    print(f"  span list, 15 min ({s['in_window']} rows in range), LIMIT 100: median "
          f"{s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms "
          f"({s['median_ms'] / TARGET_SPAN_MS:.2f}x the {TARGET_SPAN_MS:.0f} ms target, "
          f"{s['median_ms'] / DEEPFLOW_SPAN_MS:.2f}x DeepFlow's {DEEPFLOW_SPAN_MS:.0f} ms)")
    print(f"  span list, 1 min ({s1['in_window']} rows in range), LIMIT 100: median "
          f"{s1['median_ms']:.1f} ms, p95 {s1['p95_ms']:.1f} ms")
    print(f"  RED per endpoint ({r['rows']} rows, {r['groups']} endpoints): median "
          f"{r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
