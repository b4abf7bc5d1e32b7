# SPDX-License-Identifier: Apache-2.0
"""The packet path: capture files through --read-pcap, checked against tshark's dissection
of the same file (tshark runs here as the independent oracle), and damaged captures.

The captures are the reference TCP captures in ../shared/pcaps (see its README).
A missing capture directory fails the test with the reason (FLOWSCOPE_PCAPS names
another copy); nothing is skipped."""
import collections
import json
import random
import subprocess

import pytest

from conftest import AGENT, PCAPS, need_pcaps


def read_pcap(path, *args, expect_rc=0):
    """Run the agent over a capture; returns (l4 rows, l7 records, counters)."""
    p = subprocess.run([str(AGENT), "--stdout", "--stats", "--read-pcap", str(path), *args],
                       capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == expect_rc, f"exit {p.returncode}, stderr:\n{err}"
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    stats = {}
    for line in err.splitlines():
        parts = line.split()
        if len(parts) >= 2 and line.startswith("  ") and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return ([r for r in rows if r["table"] == "l4_flow_log"],
            [r for r in rows if r["table"] == "l7_flow_log"], stats)


TSHARK_FIELDS = ["frame.len", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport",
                 "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags", "tcp.len", "tcp.seq", "tcp.ack",
                 "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
                 "tcp.analysis.spurious_retransmission", "tcp.analysis.zero_window",
                 "tcp.analysis.out_of_order"]


def tshark_frames(path):
    """One dict per TCP frame, as Wireshark dissects it (absolute sequence numbers)."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE",
         "-Y", "tcp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
         *sum((["-e", f] for f in TSHARK_FIELDS), [])],
        capture_output=True, text=True, timeout=60, check=True).stdout
    frames = []
    for line in out.splitlines():
        v = dict(zip(TSHARK_FIELDS, line.split("\t")))
        src = v["ip.src"] or v["ipv6.src"]
        dst = v["ip.dst"] or v["ipv6.dst"]
        frames.append({
            "len": int(v["frame.len"]), "src": (src, int(v["tcp.srcport"])),
            "dst": (dst, int(v["tcp.dstport"])), "flags": int(v["tcp.flags"], 16),
            "tcp_len": int(v["tcp.len"] or 0), "seq": int(v["tcp.seq"] or 0),
            "retrans": bool(v["tcp.analysis.retransmission"]
                            or v["tcp.analysis.fast_retransmission"]
                            or v["tcp.analysis.spurious_retransmission"]),
            "zero_window": bool(v["tcp.analysis.zero_window"]),
            "ack": int(v["tcp.ack"] or 0) if "tcp.ack" in v else 0,
            "time": float(v["frame.time_epoch"]),
        })
    return frames


def flows_by_tuple(rows):
    """Our rows summed per 4-tuple, keyed by the sorted endpoint pair."""
    flows = collections.defaultdict(lambda: collections.Counter())
    meta = {}
    for r in rows:
        c = (r.get("ip4_0") or r.get("ip6_0"), r["client_port"])
        s = (r.get("ip4_1") or r.get("ip6_1"), r["server_port"])
        key = tuple(sorted([c, s]))
        f = flows[key]
        for k in ("packet_tx", "packet_rx", "byte_tx", "byte_rx", "retrans_tx", "retrans_rx",
                  "zero_win_tx", "zero_win_rx", "syn_count", "synack_count", "retrans_syn",
                  "retrans_synack", "ooo_tx", "ooo_rx"):
            f[k] += r[k]
        # Per-direction sums keyed by sender: compared with tshark's by source address.
        f[("packets", c)] += r["packet_tx"]
        f[("packets", s)] += r["packet_rx"]
        f[("bytes", c)] += r["byte_tx"]
        f[("bytes", s)] += r["byte_rx"]
        meta.setdefault(key, []).append(r)
    return flows, meta


def tshark_by_tuple(frames):
    """tshark's dissection summed per 4-tuple. Packets, bytes, data retransmissions and
    zero windows are Wireshark's own analysis; SYN / SYN-ACK repeats and the handshake
    RTT follow DeepFlow's definitions (docs/network.md), computed here from the dissected
    flags, sequence numbers and times: Wireshark's initial_rtt starts at the last SYN,
    DeepFlow's at the first, and Wireshark calls a SYN-ACK with a new ISN a new session."""
    flows = collections.defaultdict(lambda: collections.Counter())
    hs = collections.defaultdict(dict)
    for fr in frames:
        key = tuple(sorted([fr["src"], fr["dst"]]))
        f, h = flows[key], hs[key]
        f[("packets", fr["src"])] += 1
        f[("bytes", fr["src"])] += fr["len"]
        syn, ack = fr["flags"] & 0x02, fr["flags"] & 0x10
        if syn and not ack:
            f["syn"] += 1
            if "syn" in h and h["syn_seq"] == fr["seq"]:
                f["retrans_syn"] += 1
            h.setdefault("syn", fr["time"])
            h.setdefault("syn_seq", fr["seq"])
        elif syn and ack:
            f["synack"] += 1
            if "synack" in h:
                f["retrans_synack"] += 1
            else:
                h["synack"] = fr["time"]
                h["synack_seq"] = fr["seq"]
                h["syn_first"] = "syn" in h
        elif ("synack" in h and "ack" not in h and fr["ack"] == (h["synack_seq"] + 1) % 2**32
              and fr["dst"] != fr["src"]):
            h["ack"] = fr["time"]
            if h["syn_first"]:
                f["rtt_us"] = round((h["ack"] - h["syn"]) * 1e6)
        if fr["retrans"] and not syn and fr["tcp_len"] > 0:
            f["retrans_data"] += 1
        if fr["zero_window"]:
            f["zero_window"] += 1
    return flows


TCP_CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcap")
                      if not p.name.startswith("udp")) if PCAPS.is_dir() else []


@pytest.mark.parametrize("name", TCP_CAPTURES or ["(none)"])
def test_tcp_capture_matches_tshark(name):
    """Per TCP connection: packets and bytes each way, SYN / SYN-ACK counts and repeats,
    data retransmissions, zero windows and the handshake RTT equal tshark's."""
    need_pcaps()
    path = PCAPS / name
    rows, _, stats = read_pcap(path)
    ours, meta = flows_by_tuple([r for r in rows if r["protocol"] == 6])
    theirs = tshark_by_tuple(tshark_frames(path))
    assert set(ours) == set(theirs), f"flows differ: ours {sorted(ours)} tshark {sorted(theirs)}"
    assert stats["pkt_truncated"] == 0 and stats["pkt_malformed"] == 0
    for key, t in theirs.items():
        o = ours[key]
        for ep in key:
            assert o[("packets", ep)] == t[("packets", ep)], (key, ep, "packets")
            assert o[("bytes", ep)] == t[("bytes", ep)], (key, ep, "bytes")
        assert o["syn_count"] == t["syn"], (key, "syn_count")
        assert o["synack_count"] == t["synack"], (key, "synack_count")
        assert o["retrans_syn"] == t["retrans_syn"], (key, "retrans_syn")
        assert o["retrans_synack"] == t["retrans_synack"], (key, "retrans_synack")
        assert o["retrans_tx"] + o["retrans_rx"] == t["retrans_data"], (key, "retrans")
        assert o["zero_win_tx"] + o["zero_win_rx"] == t["zero_window"], (key, "zero_win")
        rtts = {r["rtt"] for r in meta[key] if r["rtt"]}
        assert rtts == ({t["rtt_us"]} if t["rtt_us"] else set()), (key, "rtt", rtts)


# How each reference capture ends, read off its packets (tshark -r FILE): the close type
# DeepFlow's rules give (docs/network.md), one entry per flow in start order.
CLOSE_TYPES = {
    "art-continues-payload-len-larger-than-1.pcap": ["finish"],
    "client-keep-alive.pcap": ["finish"],
    # SYN, four SYN-ACKs, then the server resets: it gave up on the handshake.
    "client-no-response.pcap": ["server_establish_rst"],
    # SYN, four SYN-ACKs, then the client resets.
    "client-syn-try-lack.pcap": ["client_establish_rst"],
    "handshake-retrans.pcap": ["timeout"],
    # The client sent FIN; the capture ends before the server does.
    "handshake-error.pcap": ["client_half_close"],
    "http.pcap": ["finish"],
    # SYN, a data segment from the server (its SYN-ACK not captured), two client RSTs.
    "l4-source-port-reuse.pcap": ["client_rst"],
    "out-of-order.pcap": ["finish"],
    "rtt-rtt-2.pcap": ["finish"],
    # Four SYNs, then the client resets.
    "server-no-response.pcap": ["client_establish_rst"],
    # The server repeats its SYN-ACK while the client's ACK and data go unanswered.
    "server-queue-lack.pcap": ["server_queue_lack"],
    "syn-retrans.pcap": ["finish"],
    "syn-syn-ack-retrans.pcap": ["finish"],
    "syn-syn-ack-retrans-2.pcap": ["finish"],
    "tcp-n-syn-ack.pcap": ["server_synack_repeat"],
    "tcp-one-syn.pcap": ["client_syn_repeat"],
    "tcp-syn-ack-zerowin.pcap": ["server_synack_repeat"],
}


@pytest.mark.parametrize("name", sorted(CLOSE_TYPES))
def test_close_types(name):
    need_pcaps()
    rows, _, _ = read_pcap(PCAPS / name)
    finals = sorted((r for r in rows if r["close_type_name"] != "forced_report"),
                    key=lambda r: r["start_time"])
    assert [r["close_type_name"] for r in finals] == CLOSE_TYPES[name]
    # Every flow has exactly one final row, and its first row says it is new.
    ids = [r["flow_id"] for r in finals]
    assert len(ids) == len(set(ids))
    first = {}
    for r in rows:
        first.setdefault(r["flow_id"], r)
    assert all(r["is_new_flow"] == 1 for r in first.values())


def test_ip_fragments_reassembled():
    """Six UDP datagrams, each in three IPv4 fragments: one flow of six packets whose bytes
    are every fragment's frame, and one reassembly per datagram."""
    need_pcaps()
    path = PCAPS / "ip-fragment.pcap"
    rows, _, stats = read_pcap(path)
    frame_lens = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.len"],
                                capture_output=True, text=True, check=True).stdout.split()
    assert len(rows) == 1
    r = rows[0]
    assert (r["protocol"], r["ip4_1"], r["server_port"], r["ip4_0"], r["client_port"]) == \
        (17, "10.1.6.92", 1000, "10.1.4.2", 2000)
    assert r["packet_rx"] + r["packet_tx"] == 6
    assert r["byte_rx"] + r["byte_tx"] == sum(int(x) for x in frame_lens)
    assert stats["pkt_frag_reassembled"] == 6
    assert stats["drop_pkt_frag"] == 0


@pytest.mark.parametrize("name", ["udp_1_packet.pcap", "udp_continuous_packet.pcap",
                                  "udp_normal.pcap"])
def test_udp_flows_match_tshark(name):
    need_pcaps()
    path = PCAPS / name
    rows, _, _ = read_pcap(path)
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "udp", "-T", "fields", "-e",
                          "ip.src", "-e", "udp.srcport", "-e", "frame.len"],
                         capture_output=True, text=True, check=True).stdout
    theirs = collections.Counter()
    for line in out.splitlines():
        ip, port, n = line.split("\t")
        theirs[("packets", ip, int(port))] += 1
        theirs[("bytes", ip, int(port))] += int(n)
    ours = collections.Counter()
    for r in rows:
        assert r["protocol"] == 17 and r["close_type_name"] == "timeout"
        ours[("packets", r["ip4_0"], r["client_port"])] += r["packet_tx"]
        ours[("bytes", r["ip4_0"], r["client_port"])] += r["byte_tx"]
        ours[("packets", r["ip4_1"], r["server_port"])] += r["packet_rx"]
        ours[("bytes", r["ip4_1"], r["server_port"])] += r["byte_rx"]
    assert +ours == +theirs


def test_http_from_packets_matches_tshark():
    """Request logs parsed from packets: the method, URI, status and the TCP sequence of
    the request's and the response's first byte equal tshark's HTTP dissection."""
    need_pcaps()
    path = PCAPS / "http.pcap"
    _, recs, stats = read_pcap(path)
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE", "-Y", "http",
         "-T", "fields", "-e", "http.request.method", "-e", "http.request.uri", "-e",
         "http.response.code", "-e", "tcp.seq", "-e", "tcp.len", "-e",
         "tcp.reassembled.length"], capture_output=True, text=True, check=True).stdout
    reqs = [ln.split("\t") for ln in out.splitlines() if ln.split("\t")[0]]
    resps = [ln.split("\t") for ln in out.splitlines() if ln.split("\t")[2]]
    assert len(reqs) == len(resps) == len(recs) == 1
    r = recs[0]
    assert (r["request_type"], r["request_resource"], r["response_code"]) == \
        (reqs[0][0], reqs[0][1], int(resps[0][2]))
    assert r["req_tcp_seq"] == int(reqs[0][3])
    # A response in several segments: tshark reports it on its last one, whose sequence
    # minus the bytes before it is where the response began.
    total = int(resps[0][5] or resps[0][4])
    assert r["resp_tcp_seq"] == (int(resps[0][3]) + int(resps[0][4]) - total) % 2**32
    assert (r["signal_source"], r["observation_point"], r["type"]) == (0, "rest", 2)
    assert r["response_length"] == total
    assert stats["pkt_l7_records"] == 1


def damage(src, dst, how):
    data = bytearray(src.read_bytes())
    rnd = random.Random(7)
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    elif how == "corrupt_frames":
        # Flip bytes past the 24-byte file header and the first record header, so the file
        # stays a readable capture whose frames are garbage.
        for _ in range(200):
            i = rnd.randrange(40, len(data))
            data[i] = rnd.randrange(256)
    elif how == "garbage":
        data = bytearray(rnd.randbytes(4096))
    elif how == "empty":
        data = bytearray()
    dst.write_bytes(bytes(data))


def test_damaged_captures(tmp_path):
    """A cut file reports what it had and exits 3; a file that is not a capture exits 1
    with a reason; frames full of garbage are counted, never crash, and the file still
    reads to its end (exit 0)."""
    need_pcaps()
    src = PCAPS / "server-queue-lack.pcap"
    good, _, good_stats = read_pcap(src)

    cut = tmp_path / "cut.pcap"
    damage(src, cut, "truncated")
    rows, _, stats = read_pcap(cut, expect_rc=3)
    assert 0 < stats["pkt_frames"] < good_stats["pkt_frames"]
    assert sum(r["packet_tx"] + r["packet_rx"] for r in rows) == stats["pkt_ok"]

    for how in ("garbage", "empty"):
        f = tmp_path / f"{how}.pcap"
        damage(src, f, how)
        p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(f)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert "cannot read the capture" in p.stderr and p.stdout == ""

    # Garbage inside frames: over many seeds, every frame is accounted for exactly once.
    for seed in range(20):
        f = tmp_path / f"corrupt{seed}.pcap"
        random.seed(seed)
        data = bytearray(src.read_bytes())
        rnd = random.Random(seed)
        for _ in range(60):
            i = rnd.randrange(40 + 16, len(data))
            data[i] = rnd.randrange(256)
        f.write_bytes(bytes(data))
        p = subprocess.run([str(AGENT), "--stdout", "--stats", "--read-pcap", str(f)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode in (0, 3), p.stderr  # a flipped record length may cut the file
        stats = {}
        for line in p.stderr.splitlines():
            parts = line.split()
            if len(parts) >= 2 and line.startswith("  ") and parts[1].isdigit():
                stats[parts[0]] = int(parts[1])
        assert stats["pkt_frames"] == (stats["pkt_ok"] + stats["pkt_non_ip"] +
                                       stats["pkt_truncated"] + stats["pkt_malformed"] +
                                       stats["pkt_bad_linktype"] + stats["pkt_frag_held"])


def read_all(path):
    p = subprocess.run([str(AGENT), "--stdout", "--read-pcap", str(path)], capture_output=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    by = collections.defaultdict(list)
    for r in rows:
        by[r["table"]].append(r)
    return by


ANOMALY = {"client_rst": "client_rst_flow", "server_rst": "server_rst_flow",
           "client_syn_repeat": "server_syn_miss", "server_synack_repeat": "client_ack_miss",
           "server_reset": "server_reset", "server_queue_lack": "server_queue_lack",
           "client_establish_rst": "client_establish_other_rst",
           "server_establish_rst": "server_establish_other_rst", "timeout": "tcp_timeout",
           "client_half_close": "client_half_close_flow",
           "server_half_close": "server_half_close_flow"}
COUNTERS = ["packet_tx", "packet_rx", "byte_tx", "byte_rx", "l4_byte_tx", "l4_byte_rx",
            "retrans_tx", "retrans_rx", "zero_win_tx", "zero_win_rx", "syn_count",
            "synack_count", "retrans_syn", "retrans_synack", "srt_sum", "srt_count", "art_sum",
            "art_count", "cit_sum", "cit_count"]


@pytest.mark.parametrize("name", sorted(CLOSE_TYPES) + ["ip-fragment.pcap", "udp_normal.pcap"])
def test_network_metrics_add_up(name):
    """flow_metrics.network / network_map at 1 s and 1 m hold exactly what the flows do:
    every counter summed over a table equals the sum over the l4_flow_log rows (per side
    for network, whose server-side rows count what the server sent as tx); one new and one
    closed flow per flow; one RTT sample per flow that has one; each anomaly counter equals
    the flows that ended that way, and the roll-ups add up."""
    need_pcaps()
    by = read_all(PCAPS / name)
    l4 = by["l4_flow_log"]
    finals = [r for r in l4 if r["close_type_name"] != "forced_report"]
    want = {c: sum(r[c] for r in l4) for c in COUNTERS}
    flows_with_rtt = {r["flow_id"] for r in l4 if r["rtt"]}
    for table in ("network_map.1s", "network_map.1m"):
        rows = by[table]
        assert rows, table
        for c in COUNTERS:
            assert sum(r[c] for r in rows) == want[c], (table, c)
        assert sum(r["new_flow"] for r in rows) == len({r["flow_id"] for r in l4})
        assert sum(r["closed_flow"] for r in rows) == len(finals)
        assert sum(r["rtt_count"] for r in rows) == len(flows_with_rtt)
        assert sum(r["rtt_sum"] for r in rows) == sum(
            next(x["rtt"] for x in l4 if x["flow_id"] == f and x["rtt"]) for f in flows_with_rtt)
        for close, col in ANOMALY.items():
            expect = sum(1 for r in finals if r["close_type_name"] == close and r["protocol"] == 6)
            assert sum(r[col] for r in rows) == expect, (table, col)
        for r in rows:
            assert r["tcp_establish_fail"] == r["client_establish_fail"] + r["server_establish_fail"]
        if table.endswith("1m"):
            assert all(r["time"] % 60 == 0 for r in rows)
    for table in ("network.1s", "network.1m"):
        rows = by[table]
        client = [r for r in rows if r["role"] == 0]
        server = [r for r in rows if r["role"] == 1]
        assert sum(r["packet_tx"] for r in client) == want["packet_tx"]
        assert sum(r["packet_tx"] for r in server) == want["packet_rx"]
        assert sum(r["byte_rx"] for r in server) == want["byte_tx"]
        assert sum(r["new_flow"] for r in client) == sum(r["new_flow"] for r in server)


@pytest.mark.parametrize("name,tunnel", [("_common/ipip.pcap", "IPIP"),
                                         ("_common/vmware-gre-teb.pcap", "TEB"),
                                         ("_common/decapsulate_erspan1.pcap", "ERSPAN")])
def test_tunnels_match_tshark(name, tunnel):
    """GRE (TEB, ERSPAN) and IPIP are not in this kernel, so captures stand in: every flow
    is the inner one tshark dissects (innermost addresses and ports), packets counted per
    flow the same, and the tunnel is named."""
    need_pcaps()
    path = PCAPS / name
    by = read_all(path)
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tcp or udp", "-T", "fields", "-E", "occurrence=l",
         "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e",
         "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport"],
        capture_output=True, text=True, check=True).stdout
    theirs = collections.Counter()
    for line in out.splitlines():
        src, dst, src6, dst6, ts, td, us, ud = line.split("\t")
        # An inner IPv6 packet under an IPv4 tunnel: its addresses are the IPv6 ones.
        src, dst = (src6, dst6) if src6 else (src, dst)
        theirs[tuple(sorted([(src, int(ts or us)), (dst, int(td or ud))]))] += 1
    ours = collections.Counter()
    for r in by["l4_flow_log"]:
        assert r["tunnel_type_name"] == tunnel and r["tunnel_tier"] >= 1
        c = (r.get("ip4_0") or r.get("ip6_0"), r["client_port"])
        s = (r.get("ip4_1") or r.get("ip6_1"), r["server_port"])
        ours[tuple(sorted([c, s]))] += r["packet_tx"] + r["packet_rx"]
    assert ours == theirs
