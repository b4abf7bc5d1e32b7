# SPDX-License-Identifier: Apache-2.0
"""The tracing demo (demo/demo.py) under flowscope's agent, eBPF and packet capture both.

The shop: client → nginx → front (Python) → cart (Node.js) → Redis, and front → orders
(Ruby) → PostgreSQL, each service in its own network namespace on a bridge. For 200
concurrent checkouts the agent must write, for each of the six hops, exactly one client
record (c-p) and one server record (s-p) per request, and the two records of one exchange
must carry the same TCP sequence numbers: that is what joins them across processes and
namespaces into one trace. The agent also captures packets on every veth and on the
bridge: each exchange is seen on the client's veth (c), the bridge (rest, or c-nd for the
load generator, which runs on the host) and the server's veth (s), with the same sequence
numbers, and those network spans sit between the c-p and the s-p in the trace.
"""
import collections
import json
import shutil
import sys
import tempfile

import pytest

from conftest import ROOT, Agent, Server

sys.path.insert(0, str(ROOT / "demo"))
import demo  # noqa: E402  (demo/demo.py)

REQUESTS = 200
CONCURRENCY = 200
# Node.js writes one INCR per checkout on its one Redis connection, and redis-server reads
# what has arrived in one read: up to CONCURRENCY commands of 27 bytes. The default
# capture size (1024 bytes per syscall) cuts such a read, and the commands past the cut
# have no record (docs/tracing.md "What is not covered"); the demo runs with the largest.
CAPTURE_BYTES = demo.CAPTURE_BYTES

# (observation point, process, server address, server port, protocol, request type)
HOPS = [
    ("c-p", "python3", "gw", "HTTP", "GET"),      # the load generator
    ("s-p", "nginx", "gw", "HTTP", "GET"),
    ("c-p", "nginx", "front", "HTTP", "GET"),
    ("s-p", "python3", "front", "HTTP", "GET"),
    ("c-p", "python3", "cart", "HTTP", "GET"),
    ("s-p", "node", "cart", "HTTP", "GET"),
    ("c-p", "node", "redis", "Redis", "INCR"),
    ("s-p", "redis-server", "redis", "Redis", "INCR"),
    ("c-p", None, "orders", "HTTP", "GET"),       # Ruby names its threads after the script
    ("s-p", None, "orders", "HTTP", "GET"),
    ("c-p", None, "pg", "PostgreSQL", None),
    ("s-p", "postgres", "pg", "PostgreSQL", None),
]


def process(r):
    return r["process_kname_0"] if r["observation_point"] == "c-p" else r["process_kname_1"]


@pytest.fixture(scope="module")
def run():
    """One run of the shop under an agent that prints its records and sends them to a
    flowscope-server too: the demo takes seconds to start, every test here shares it.
    Yields (records printed by the agent, in the demo's network; the server)."""
    d = tempfile.mkdtemp(prefix="flowscope-demo-it-")
    srv = agent = None
    try:
        # The shop goes down as soon as its traffic is recorded: the tests only query.
        with demo.Shop():
            srv = Server(d)
            agent = Agent(d, "--server", srv.url, "--agent-id", "demo-trace",
                          "--batch-interval", "200ms", "--capture-bytes", str(CAPTURE_BYTES),
                          "--max-pending", str(demo.MAX_PENDING),
                          "--interface", f"{demo.PREFIX}-*",
                          # 200 checkouts at once make bursts of events; a loaded
                          # machine drains the ring late: room for the burst.
                          "--ringbuf-size", "64MiB")
            results = demo.load(REQUESTS, CONCURRENCY)
            assert [s for _, s, _ in results] == [200] * REQUESTS, \
                [(i, s, b[:200]) for i, s, b in results if s != 200][:5]
            recs = [r for r in agent.stop(settle=2.0)
                    if r.get("table") == "l7_flow_log" and
                    r.get("ip4_1", "").startswith(demo.NET + ".")]
        # Everything printed reached the server before the agent exited.
        for k in ("drop_spool_full", "drop_rejected", "drop_exit_unsent", "drop_encode"):
            assert agent.stats[k] == 0, (k, agent.stats)
        # The kernel's ring (every process's events) and the packet rings lost nothing:
        # a lost event is a missing record below, and this says why.
        for k in ("drop_ringbuf_full", "drop_pkt_kernel"):
            assert agent.stats[k] == 0, (k, agent.stats[k])
        yield recs, srv
    finally:
        if agent:
            agent.kill()
        if srv:
            srv.kill()
        shutil.rmtree(d, ignore_errors=True)


def ebpf(recs):
    return [r for r in recs if r["signal_source"] == 3]


def test_every_hop_of_every_request(run):
    recs = ebpf(run[0])

    by_hop = collections.defaultdict(list)
    for r in recs:
        by_hop[(r["observation_point"], r["ip4_1"], r["server_port"])].append(r)
    for obs, proc, svc, proto, rtype in HOPS:
        addr, port = demo.SERVICES[svc]
        got = by_hop.pop((obs, addr, port), [])
        where = f"{obs} {svc} ({addr}:{port})"
        assert len(got) == REQUESTS, f"{where}: {len(got)} records"
        for r in got:
            if proc:
                assert process(r) == proc, where
            assert r["l7_protocol"] == proto, where
            if rtype:
                assert r["request_type"] == rtype, where
            assert r["type"] == 2, where  # request and response both seen
            assert r["response_status"] == 0, (where, r)
            assert r["req_tcp_seq"] and r["resp_tcp_seq"], where
    assert not by_hop, f"records of no hop: {sorted(by_hop)}"

    # Both ends of each exchange carry the same sequence numbers: exactly one s-p record
    # per c-p record of the same hop, on every hop.
    for svc in demo.SERVICES:
        addr, port = demo.SERVICES[svc]
        ends = collections.defaultdict(lambda: {"c-p": [], "s-p": []})
        for r in recs:
            if (r["ip4_1"], r["server_port"]) == (addr, port):
                key = (r["ip4_0"], r["client_port"], r["req_tcp_seq"], r["resp_tcp_seq"])
                ends[key][r["observation_point"]].append(r)
        assert len(ends) == REQUESTS, svc
        for key, sides in ends.items():
            assert len(sides["c-p"]) == 1 and len(sides["s-p"]) == 1, (svc, key)
            c, s = sides["c-p"][0], sides["s-p"][0]
            assert c["request_resource"] == s["request_resource"], (svc, key)
            assert c["response_code"] == s["response_code"], (svc, key)

    # Each checkout appears once at the gateway, with its own id.
    gw = demo.SERVICES["gw"]
    ids = sorted(r["request_resource"] for r in recs
                 if (r["ip4_1"], r["server_port"], r["observation_point"]) == (*gw, "s-p"))
    assert ids == sorted(f"/checkout?id={i}&user={i % demo.USERS}" for i in range(REQUESTS))


# Where the agent sees each hop on the wire: (observation point, interface) in the order a
# request crosses them. The load generator runs on the host, behind the bridge's address.
def nic(name):
    return f"{demo.PREFIX}-{name}-h"


PACKET_HOPS = {
    "gw": [("c-nd", demo.BRIDGE), ("s", nic("gw"))],
    "front": [("c", nic("gw")), ("rest", demo.BRIDGE), ("s", nic("front"))],
    "cart": [("c", nic("front")), ("rest", demo.BRIDGE), ("s", nic("cart"))],
    "orders": [("c", nic("front")), ("rest", demo.BRIDGE), ("s", nic("orders"))],
    "redis": [("c", nic("cart")), ("rest", demo.BRIDGE), ("s", nic("redis"))],
    "pg": [("c", nic("orders")), ("rest", demo.BRIDGE), ("s", nic("pg"))],
}
PACKET_SPANS = sum(len(v) for v in PACKET_HOPS.values())  # per checkout
SPANS = 12 + PACKET_SPANS  # a checkout's whole trace


def service(r):
    return next(n for n, a in demo.SERVICES.items() if a == (r["ip4_1"], r["server_port"]))


def test_every_exchange_on_every_nic(run):
    """Each exchange of each hop is one packet record on each interface it crosses, with
    the observation point of that interface, and it is the exchange the eBPF records saw:
    same addresses, ports, TCP sequence numbers, protocol, resource and response code."""
    recs = run[0]
    pkt = [r for r in recs if r["signal_source"] == 0]
    ends = {(r["ip4_0"], r["client_port"], r["req_tcp_seq"], r["resp_tcp_seq"]): r
            for r in ebpf(recs) if r["observation_point"] == "c-p"}
    seen = collections.Counter()
    for r in pkt:
        svc = service(r)
        where = (svc, r["observation_point"], r["capture_nic"])
        assert (r["observation_point"], r["capture_nic"]) in PACKET_HOPS[svc], where
        assert r["type"] == 2 and r["response_status"] == 0, (where, r)
        assert r["process_id_0"] == r["process_id_1"] == 0, where
        c = ends.get((r["ip4_0"], r["client_port"], r["req_tcp_seq"], r["resp_tcp_seq"]))
        assert c is not None, (where, r)
        for k in ("l7_protocol", "request_type", "request_resource", "response_code"):
            assert r[k] == c[k], (where, k, r[k], c[k])
        seen[where] += 1
    want = {(svc, obs, n): REQUESTS for svc, hops in PACKET_HOPS.items() for obs, n in hops}
    assert dict(seen) == want
    # One record per exchange and interface: no exchange is seen twice on one interface.
    keys = collections.Counter((r["capture_nic"], r["ip4_0"], r["client_port"],
                                r["req_tcp_seq"]) for r in pkt)
    assert set(keys.values()) == {1}


# ---- one trace per checkout, assembled by the server from its gateway span ----

# The columns the expected trees are worked out from.
ROW_COLS = ("_id", "signal_source", "observation_point", "capture_nic", "ip4_0",
            "client_port", "ip4_1", "server_port",
            "req_tcp_seq", "resp_tcp_seq", "process_id_0", "process_id_1",
            "syscall_thread_0", "syscall_thread_1", "l7_protocol", "request_type",
            "request_resource", "start_time", "end_time")


def stored_rows(srv):
    """Every request log of the demo's network at the server, as dicts."""
    sql = (f"SELECT {', '.join(ROW_COLS)} FROM l7_flow_log "
           f"WHERE ip4_1 LIKE '{demo.NET}.%' ORDER BY start_time")
    status, body = srv.json("POST", "/v1/query", json.dumps({"sql": sql}),
                            {"Content-Type": "application/json"})
    assert status == 200 and not body.get("truncated"), body
    return [dict(zip(ROW_COLS, v)) for v in body["values"]]


def expected_trees(rows):
    """For each checkout i, the 12 eBPF rows and the packet rows of its request and each
    one's parent, derived without the trace assembler, from what each hop gives away on
    its own:

    - the checkout id in the URL (load generator's c-p, nginx's upstream c-p);
    - TCP sequence numbers: the s-p of an exchange is the one whose client address, port
      and req_tcp_seq equal its c-p's (the wire, not a guess: test_every_hop_of_every_request
      checks the pairing is 1:1);
    - the thread: front (ThreadingHTTPServer) and orders (WEBrick) serve each inbound
      connection on a thread of its own and call downstream on it, so their c-p rows carry
      the s-p's thread;
    - Node's order: cart writes its INCR to Redis in the same turn of the event loop that
      read the request, so a request's INCR is the first one of its user's key that starts
      after its s-p;
    - the wire: the packet rows of an exchange have its c-p's client address, port and
      req_tcp_seq; they go between the c-p and the s-p in the order the request crosses
      the interfaces (PACKET_HOPS), each the parent of the next.

    Returns {i: {_id: parent _id or None}}."""
    by_pair = {}
    hop = collections.defaultdict(list)
    wire = collections.defaultdict(list)
    for r in rows:
        if r["signal_source"] == 0:
            wire[(r["ip4_0"], r["client_port"], r["req_tcp_seq"])].append(r)
            continue
        svc = service(r)
        hop[(r["observation_point"], svc)].append(r)
        if r["observation_point"] == "s-p":
            key = (r["ip4_0"], r["client_port"], r["req_tcp_seq"])
            assert key not in by_pair, key
            by_pair[key] = r

    def server_of(c):
        return by_pair[(c["ip4_0"], c["client_port"], c["req_tcp_seq"])]

    def wire_of(c):
        order = PACKET_HOPS[service(c)]
        got = sorted(wire[(c["ip4_0"], c["client_port"], c["req_tcp_seq"])],
                     key=lambda n: order.index((n["observation_point"], n["capture_nic"])))
        assert [(n["observation_point"], n["capture_nic"]) for n in got] == order, c
        return got

    def calls_on_thread(s, svc):
        got = [c for c in hop[("c-p", svc)]
               if c["process_id_0"] == s["process_id_1"] and
               c["syscall_thread_0"] == s["syscall_thread_1"] and
               s["start_time"] <= c["start_time"] and c["end_time"] <= s["end_time"]]
        assert len(got) == 1, (s, svc, got)
        return got[0]

    incrs = sorted(hop[("c-p", "redis")], key=lambda r: (r["start_time"], r["req_tcp_seq"]))
    trees = {}
    for i in range(REQUESTS):
        url = f"/checkout?id={i}&user={i % demo.USERS}"
        [load] = [r for r in hop[("c-p", "gw")] if r["request_resource"] == url]
        gw = server_of(load)
        [up] = [r for r in hop[("c-p", "front")] if r["request_resource"] == url]
        front = server_of(up)
        to_cart, to_orders = calls_on_thread(front, "cart"), calls_on_thread(front, "orders")
        cart, orders = server_of(to_cart), server_of(to_orders)
        incr = next(r for r in incrs if r["start_time"] >= cart["start_time"] and
                    r["request_resource"] == f"INCR cart:{i % demo.USERS}")
        query = calls_on_thread(orders, "pg")
        tree = [(load, None), (gw, load), (up, gw), (front, up), (to_cart, front),
                (cart, to_cart), (incr, cart), (server_of(incr), incr), (to_orders, front),
                (orders, to_orders), (query, orders), (server_of(query), query)]
        # The network spans of each exchange between its c-p and its s-p.
        full = []
        for r, parent in tree:
            if r["observation_point"] == "s-p":
                for n in wire_of(parent):
                    full.append((n, parent))
                    parent = n
            full.append((r, parent))
        trees[i] = {r["_id"]: (p["_id"] if p else None) for r, p in full}
        assert len(trees[i]) == SPANS, url
    # Each row belongs to one checkout only: the derivation itself is unambiguous.
    owners = collections.Counter(_id for t in trees.values() for _id in t)
    assert len(owners) == SPANS * REQUESTS and set(owners.values()) == {1}
    return trees


# What each span of a checkout's tree is: (observation point, service, protocol, request
# type, process name or None where Ruby renames its threads), in the order of the spans.
SPAN_KINDS = {("c-p", "gw"): ("HTTP", "GET", "python3"), ("s-p", "gw"): ("HTTP", "GET", "nginx"),
              ("c-p", "front"): ("HTTP", "GET", "nginx"),
              ("s-p", "front"): ("HTTP", "GET", "python3"),
              ("c-p", "cart"): ("HTTP", "GET", "python3"),
              ("s-p", "cart"): ("HTTP", "GET", "node"),
              ("c-p", "redis"): ("Redis", "INCR", "node"),
              ("s-p", "redis"): ("Redis", "INCR", "redis-server"),
              ("c-p", "orders"): ("HTTP", "GET", "python3"),
              ("s-p", "orders"): ("HTTP", "GET", None),
              ("c-p", "pg"): ("PostgreSQL", None, None),
              ("s-p", "pg"): ("PostgreSQL", None, "postgres")}


def test_each_checkout_is_one_tree(run):
    """GET /v1/trace from each checkout's gateway span (nginx's s-p) gives exactly the 12
    eBPF spans and the 17 network spans of that checkout: the load generator's c-p as the
    root (the agent sees the client too), then nginx, front, and front's two calls with
    their own downstream call each, each exchange's network spans between its c-p and its
    s-p, every span under the right parent, and no span of another checkout."""
    recs, srv = run
    rows = stored_rows(srv)
    assert len(rows) == len(recs) == SPANS * REQUESTS
    by_id = {r["_id"]: r for r in rows}
    trees = expected_trees(rows)
    gw_addr = demo.SERVICES["gw"]
    wrong = []
    for i, want in trees.items():
        [gw] = [_id for _id in want
                if by_id[_id]["observation_point"] == "s-p" and service(by_id[_id]) == "gw"]
        assert (by_id[gw]["ip4_1"], by_id[gw]["server_port"]) == gw_addr
        status, body = srv.json("GET", f"/v1/trace?id={gw}")
        assert status == 200, body
        assert body["truncated"] is False
        got = {sp["_id"]: sp["parent_id"] for sp in body["spans"]}
        if got != want:
            wrong.append((i, {k: (by_id[k]["observation_point"], by_id[k]["ip4_1"],
                                  want.get(k, "-"), got.get(k, "-"))
                              for k in set(got) | set(want) if got.get(k) != want.get(k)}))
            continue
        for sp in body["spans"]:
            r = by_id[sp["_id"]]
            svc = service(r)
            assert sp["observation_point"] == r["observation_point"]
            assert sp["capture_nic"] == r["capture_nic"], sp
            if r["signal_source"] == 0:
                assert sp["signal_source"] == 0 and sp["process_kname"] == "", sp
                proto, rtype, proc = SPAN_KINDS[("c-p", svc)]
                proc = None
            else:
                proto, rtype, proc = SPAN_KINDS[(r["observation_point"], svc)]
                assert sp["signal_source"] == 3 and sp["capture_nic"] == "", sp
            assert sp["l7_protocol"] == proto, sp
            if rtype:
                assert sp["request_type"] == rtype, sp
            if proc:
                assert sp["process_kname"] == proc, sp
        # Depth first from the root: the load generator's request.
        assert body["spans"][0]["parent_id"] is None
        assert by_id[body["spans"][0]["_id"]]["request_resource"] == \
            f"/checkout?id={i}&user={i % demo.USERS}"
    assert not wrong, f"{len(wrong)} of {REQUESTS} trees differ; first: {wrong[:3]}"
