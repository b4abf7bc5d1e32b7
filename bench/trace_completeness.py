#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Trace completeness over the demo: the share of requests whose assembled trace is their
exact tree, at increasing load.

For each load (concurrent checkouts), a fresh run: the demo's shop (demo/demo.py) in its
network namespaces, a flowscope-server, the eBPF agent sending to it; a bounded number of
checkouts at that concurrency; then, for every checkout, the expected 12-span tree worked
out without the assembler (as tests/integration/test_demo_trace.py does: the checkout id
in the URL, tcp_seq pairs, the handler threads of the Python and Ruby services, Node's
one-turn write order) and GET /v1/trace?id=<its gateway s-p>. A trace counts as complete
when it is exactly that tree: the same 12 spans, each under the same parent, no span of
another request. The misses are sorted by cause. With --packets the agent also captures
packets on every veth and the bridge, and the exact tree is 29 spans: each exchange's
network spans (c, rest or c-nd, s) between its c-p and its s-p.

    bench/trace_completeness.py [--loads 50,100,200,400] [--requests 1000] [--packets]
                                [--agent-arg=ARG]

Needs root and what the demo needs (scripts/install-deps.sh --test), and build/ (make).
One demo at a time: do not run it beside `make demo` or test_demo_trace.py.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "demo"))
import demo  # noqa: E402
from conftest import Agent, Server  # noqa: E402

COLS = ("_id", "observation_point", "capture_nic", "ip4_0", "client_port", "ip4_1", "server_port",
        "req_tcp_seq", "resp_tcp_seq", "process_id_0", "process_id_1", "syscall_thread_0",
        "syscall_thread_1", "request_resource", "start_time", "end_time", "type")


class NotCaptured(Exception):
    """A record the expected tree needs is not in the store (or not unique)."""


def service_of(r):
    for name, addr in demo.SERVICES.items():
        if addr == (r["ip4_1"], r["server_port"]):
            return name
    return None


# With --packets: where each hop is seen on the wire, in the order a request crosses the
# interfaces (as tests/integration/test_demo_trace.py's PACKET_HOPS).
def _nic(name):
    return f"{demo.PREFIX}-{name}-h"


PACKET_HOPS = {"gw": [("c-nd", demo.BRIDGE), ("s", _nic("gw"))]}
for _svc, _client in (("front", "gw"), ("cart", "front"), ("orders", "front"),
                      ("redis", "cart"), ("pg", "orders")):
    PACKET_HOPS[_svc] = [("c", _nic(_client)), ("rest", demo.BRIDGE), ("s", _nic(_svc))]


def expected_trees(rows, first, count, packets=False):
    """{checkout i: {_id: parent _id or None}} for each checkout whose 12 records (29 with
    packets) are all there; {i: "the missing hop"} for the others (the derivation of
    test_demo_trace.py, counting what it cannot find instead of failing)."""
    hop = collections.defaultdict(list)
    by_pair = collections.defaultdict(list)
    wire = collections.defaultdict(list)
    for r in rows:
        if r["observation_point"] not in ("c-p", "s-p"):
            wire[(r["ip4_0"], r["client_port"], r["req_tcp_seq"])].append(r)
            continue
        hop[(r["observation_point"], service_of(r))].append(r)
        if r["observation_point"] == "s-p":
            by_pair[(r["ip4_0"], r["client_port"], r["req_tcp_seq"])].append(r)
    by_url = collections.defaultdict(list)
    for r in hop[("c-p", "gw")] + hop[("c-p", "front")]:
        by_url[(service_of(r), r["request_resource"])].append(r)
    incrs = sorted(hop[("c-p", "redis")], key=lambda r: (r["start_time"], r["req_tcp_seq"]))

    def only(got, what):
        if len(got) != 1:
            raise NotCaptured(f"{what}: {len(got)} records")
        return got[0]

    def server_of(c, what):
        return only(by_pair.get((c["ip4_0"], c["client_port"], c["req_tcp_seq"]), []),
                    f"s-p {what}")

    def wire_of(c):
        order = PACKET_HOPS[service_of(c)]
        got = wire.get((c["ip4_0"], c["client_port"], c["req_tcp_seq"]), [])
        where = sorted((n["observation_point"], n["capture_nic"]) for n in got)
        if where != sorted(order):
            raise NotCaptured(f"packets {service_of(c)}: {where}")
        return sorted(got, key=lambda n: order.index((n["observation_point"],
                                                       n["capture_nic"])))

    def calls_on_thread(s, svc):
        return only([c for c in hop[("c-p", svc)]
                     if c["process_id_0"] == s["process_id_1"] and
                     c["syscall_thread_0"] == s["syscall_thread_1"] and
                     s["start_time"] <= c["start_time"] and c["end_time"] <= s["end_time"]],
                    f"c-p {svc}")

    out = {}
    for i in range(first, first + count):
        url = f"/checkout?id={i}&user={i % demo.USERS}"
        try:
            load = only(by_url[("gw", url)], "c-p gw")
            gw = server_of(load, "gw")
            up = only(by_url[("front", url)], "c-p front")
            front = server_of(up, "front")
            to_cart, to_orders = calls_on_thread(front, "cart"), calls_on_thread(front, "orders")
            cart, orders = server_of(to_cart, "cart"), server_of(to_orders, "orders")
            key = f"INCR cart:{i % demo.USERS}"
            incr = next((r for r in incrs if r["start_time"] >= cart["start_time"] and
                         r["request_resource"] == key), None)
            if incr is None:
                raise NotCaptured("c-p redis: none")
            query = calls_on_thread(orders, "pg")
            tree = [(load, None), (gw, load), (up, gw), (front, up), (to_cart, front),
                    (cart, to_cart), (incr, cart), (server_of(incr, "redis"), incr),
                    (to_orders, front), (orders, to_orders), (query, orders),
                    (server_of(query, "pg"), query)]
            if packets:  # each exchange's network spans between its c-p and its s-p
                full = []
                for r, parent in tree:
                    if r["observation_point"] == "s-p":
                        for n in wire_of(parent):
                            full.append((n, parent))
                            parent = n
                    full.append((r, parent))
                tree = full
            out[i] = {r["_id"]: (p["_id"] if p else None) for r, p in tree}
        except NotCaptured as e:
            out[i] = str(e)
    # A record claimed by two checkouts: the derivation itself went wrong for both.
    owners = collections.Counter(k for t in out.values() if isinstance(t, dict) for k in t)
    for i, t in out.items():
        if isinstance(t, dict) and any(owners[k] > 1 for k in t):
            out[i] = "derivation: a record claimed by two checkouts"
    return out


def checkout(i):
    """demo.checkout, with a connection error as the status instead of an exception: at
    loads the demo does not sustain, nginx resets connections (worker_connections)."""
    try:
        return demo.checkout(i)
    except OSError as e:
        return i, type(e).__name__, b""


def load(requests, concurrency):
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(checkout, range(requests)))


def one_load(concurrency, requests, capture_bytes, agent_args, keep, packets):
    """One fresh run at this load; returns a dict of figures and causes."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-tcomp-"))
    d.chmod(0o755)
    srv = agent = None
    res = {"concurrency": concurrency, "requests": requests}
    try:
        with demo.Shop(d / "shop"):
            srv = Server(d)
            agent = Agent(d, "--server", srv.url, "--agent-id", "trace-completeness",
                          "--batch-interval", "200ms", "--capture-bytes", str(capture_bytes),
                          "--max-pending", str(demo.MAX_PENDING),
                          *(["--interface", f"{demo.PREFIX}-*"] if packets else []),
                          *agent_args)
            t0 = time.monotonic()
            results = load(requests, concurrency)
            res["seconds"] = time.monotonic() - t0
            agent.stop(settle=2.0)
        res["ok"] = {i for i, status, _ in results if status == 200}
        res["failed"] = collections.Counter(status for _, status, _ in results if status != 200)
        res["drops"] = {k: v for k, v in agent.stats.items()
                        if (k.startswith("drop") or k == "kernel_truncated") and v}
        # One query per hop and side (one row per checkout each): a query answers at
        # most the server's max_rows (10000).
        rows = []
        points = ("c-p", "s-p") + (("c", "c-nd", "rest", "s") if packets else ())
        for addr, port in demo.SERVICES.values():
            for obs in points:
                sql = (f"SELECT {', '.join(COLS)} FROM l7_flow_log WHERE ip4_1 = '{addr}' "
                       f"AND server_port = {port} AND observation_point = '{obs}'")
                status, body = srv.json("POST", "/v1/query", json.dumps({"sql": sql}),
                                        {"Content-Type": "application/json"})
                if status != 200 or body.get("truncated"):
                    raise RuntimeError(f"query {sql}: {status} {str(body)[:300]}")
                rows += [dict(zip(COLS, v)) for v in body["values"]]
        rows.sort(key=lambda r: r["start_time"])
        res["records"] = len(rows)
        want = expected_trees(rows, 0, requests, packets)
        by_id = {r["_id"]: r for r in rows}
        causes, examples, exact = collections.Counter(), {}, 0
        t0 = time.monotonic()
        for i, tree in want.items():
            if i not in res["ok"]:
                cause = "request not answered 200"
            elif isinstance(tree, str):
                cause = f"not captured ({tree})"
            else:
                [gw] = [k for k in tree if by_id[k]["observation_point"] == "s-p" and
                        service_of(by_id[k]) == "gw"]
                status, body = srv.json("GET", f"/v1/trace?id={gw}")
                if status != 200:
                    cause = f"GET /v1/trace: {status}"
                else:
                    got = {sp["_id"]: sp["parent_id"] for sp in body["spans"]}
                    if got == tree:
                        exact += 1
                        continue
                    foreign, missing = set(got) - set(tree), set(tree) - set(got)
                    cause = ("assembly: foreign spans" if foreign else
                             "assembly: spans missing" if missing else
                             "assembly: wrong parent")
                    # The first case of each cause: the spans that differ, as (observation
                    # point, service, record type: 0 request only, 2 both).
                    examples.setdefault(cause, (i, sorted(
                        (by_id[k]["observation_point"], service_of(by_id[k]), by_id[k]["type"],
                         "missing" if k in missing else "foreign" if k in foreign else
                         "parent") for k in set(got) | set(tree)
                        if got.get(k) != tree.get(k) and k in by_id)))
            causes[cause] += 1
            examples.setdefault(cause, i)
        res["assembly_seconds"] = time.monotonic() - t0
        res.update(exact=exact, causes=causes, examples=examples)
        return res
    finally:
        if agent:
            agent.kill()
        if srv:
            srv.kill()
        if keep:
            print(f"  data kept in {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loads", default="50,100,200,400",
                    help="concurrent checkouts per run, comma-separated (1..500)")
    ap.add_argument("--requests", type=int, default=1000,
                    help="checkouts per run (1..5000; at least the concurrency)")
    ap.add_argument("--capture-bytes", type=int, default=demo.CAPTURE_BYTES,
                    help="the agent's --capture-bytes (the demo's default: %(default)s)")
    ap.add_argument("--agent-arg", action="append", default=[], metavar="ARG",
                    help="one more agent argument (repeatable), e.g. --agent-arg=--max-pending=64 (the default without the demo)")
    ap.add_argument("--keep", action="store_true", help="keep each run's data and logs")
    ap.add_argument("--packets", action="store_true",
                    help="the agent captures packets on the demo's veths and bridge too: "
                         "29-span trees")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("trace_completeness: run as root (the demo's network namespaces, eBPF)")
    loads = [int(x) for x in args.loads.split(",")]
    if not all(0 < c <= 500 for c in loads) or not 0 < args.requests <= 5000:
        sys.exit("trace_completeness: --loads 1..500 each, --requests 1..5000")
    rows = []
    for c in loads:
        # Never two demos at once: the shop's setup removes whatever fsd-* it finds.
        if not demo.sh("ip", "link", "show", demo.BRIDGE, check=False).returncode:
            sys.exit(f"trace_completeness: {demo.BRIDGE} exists: another demo is running")
        n = max(args.requests, c)
        print(f"load {c}: {n} checkouts ...", file=sys.stderr, flush=True)
        r = one_load(c, n, args.capture_bytes, args.agent_arg, args.keep, args.packets)
        rows.append(r)
        for cause, k in sorted(r["causes"].items()):
            print(f"  miss: {cause}: {k} (first: {r['examples'][cause]})", file=sys.stderr)
        if r["failed"]:
            print(f"  non-200 answers: {dict(r['failed'])}", file=sys.stderr)
        if r["drops"]:
            print(f"  agent counters: {r['drops']}", file=sys.stderr)
    print("| concurrent | checkouts | answered 200 | load time s | checkouts/s | records "
          "| agent drops | exact trees | share | misses by cause |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        causes = "; ".join(f"{c}: {k}" for c, k in sorted(r["causes"].items())) or "-"
        print(f"| {r['concurrency']} | {r['requests']} | {len(r['ok'])} | {r['seconds']:.1f} "
              f"| {r['requests'] / r['seconds']:.0f} | {r['records']} "
              f"| {sum(v for k, v in r['drops'].items() if k.startswith('drop'))} | {r['exact']} "
              f"| {100.0 * r['exact'] / r['requests']:.1f}% | {causes} |")
    return 0 if all(r["exact"] == r["requests"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
