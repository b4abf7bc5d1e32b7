# SPDX-License-Identifier: Apache-2.0
"""The tracing demo (demo/demo.py) under flowscope's eBPF agent.

The shop: client → nginx → front (Python) → cart (Node.js) → Redis, and front → orders
(Ruby) → PostgreSQL, each service in its own network namespace on a bridge. For 200
concurrent checkouts the agent must write, for each of the six hops, exactly one client
record (c-p) and one server record (s-p) per request, and the two records of one exchange
must carry the same TCP sequence numbers: that is what joins them across processes and
namespaces into one trace.
"""
import collections
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "demo"))
import demo  # noqa: E402  (demo/demo.py)

REQUESTS = 200
CONCURRENCY = 50

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
def shop():
    with demo.Shop() as s:
        yield s


def test_every_hop_of_every_request(shop, agent_factory):
    agent = agent_factory()
    results = demo.load(REQUESTS, CONCURRENCY)
    assert [s for _, s, _ in results] == [200] * REQUESTS, \
        [(i, s, b[:200]) for i, s, b in results if s != 200][:5]
    recs = [r for r in agent.stop(settle=2.0)
            if r.get("table") == "l7_flow_log" and
            r.get("ip4_1", "").startswith(demo.NET + ".")]

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
