# SPDX-License-Identifier: Apache-2.0
"""The packet path live: two network namespaces joined by a veth pair (made here, removed
after), nginx in one, curl in the other, and the agent capturing on the client's end of
the veth (AF_PACKET) while its eBPF programs see both processes."""
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

CLIENT_IP, SERVER_IP = "10.91.0.1", "10.91.0.2"
VX_CLIENT_IP, VX_SERVER_IP = "10.92.0.1", "10.92.0.2"


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def nsexec(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


NGINX_CONF = """
worker_processes 1;
daemon off;
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
    server {{
        listen {ip}:80;
        listen {vxip}:80;
        location = /ok {{ return 200 "hello\\n"; }}
        location /static/ {{ root {dir}/www; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def netpair():
    """Namespaces fsc (client) and fss (server), veth fsc0 <-> fss0, and a VXLAN tunnel
    (VNI 42) between them over the veth, with nginx listening on both addresses."""
    tag = str(int(time.time() * 1000) % 100000)
    c, s = f"fsc{tag}", f"fss{tag}"
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-netns-"))
    d.chmod(0o755)
    (d / "www" / "static").mkdir(parents=True)
    (d / "www" / "static" / "1m.bin").write_bytes(b"x" * (1 << 20))
    nginx = None
    try:
        sh("ip", "netns", "add", c)
        sh("ip", "netns", "add", s)
        sh("ip", "link", "add", "fsc0", "netns", c, "type", "veth", "peer", "name", "fss0",
           "netns", s)
        for ns, dev, ip in ((c, "fsc0", CLIENT_IP), (s, "fss0", SERVER_IP)):
            nsexec(ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            nsexec(ns, "ip", "link", "set", dev, "up")
            nsexec(ns, "ip", "link", "set", "lo", "up")
        for ns, local, remote, ip in ((c, CLIENT_IP, SERVER_IP, VX_CLIENT_IP),
                                      (s, SERVER_IP, CLIENT_IP, VX_SERVER_IP)):
            nsexec(ns, "ip", "link", "add", "vx42", "type", "vxlan", "id", "42", "local", local,
                   "remote", remote, "dstport", "4789")
            nsexec(ns, "ip", "addr", "add", f"{ip}/24", "dev", "vx42")
            nsexec(ns, "ip", "link", "set", "vx42", "up")
        (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, ip=SERVER_IP, vxip=VX_SERVER_IP))
        nginx = subprocess.Popen(["ip", "netns", "exec", s, "nginx", "-p", str(d), "-c",
                                  str(d / "nginx.conf")], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while nsexec(c, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     f"http://{SERVER_IP}/ok", check=False).stdout != "200":
            assert time.monotonic() < deadline, "nginx in the server namespace did not start"
            time.sleep(0.1)
        yield {"client": c, "server": s, "dir": d}
    finally:
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        sh("ip", "netns", "del", c, check=False)
        sh("ip", "netns", "del", s, check=False)
        shutil.rmtree(d, ignore_errors=True)


def l4_rows(agent, **match):
    return [r for r in agent.records if r["table"] == "l4_flow_log"
            and all(r.get(k) == v for k, v in match.items())]


def flows(rows):
    """Rows of each flow, by flow id."""
    out = {}
    for r in rows:
        out.setdefault(r["flow_id"], []).append(r)
    return out


def test_http_across_veth_joins_ebpf_records(netpair, agent_factory):
    """Five HTTP exchanges across the veth: five TCP flows that finish normally with a
    handshake RTT, and five packet-side request logs whose req_tcp_seq / resp_tcp_seq
    equal those of the eBPF c-p (curl) and s-p (nginx) records of the same exchange."""
    c = netpair["client"]
    agent = agent_factory("--interface", "fsc0", ready="capturing packets", netns=c)
    for i in range(5):
        nsexec(c, "curl", "-s", "-o", "/dev/null", "-H", f"X-Request-ID: veth-{i}",
               f"http://{SERVER_IP}/ok?i={i}")
    time.sleep(0.5)
    agent.stop()
    l4 = flows(l4_rows(agent, ip4_1=SERVER_IP, server_port=80))
    assert len(l4) == 5
    for rows in l4.values():
        final = rows[-1]
        assert final["close_type_name"] == "finish"
        assert final["l7_protocol"] == "HTTP"
        assert final["observation_point"] == "c-nd"
        assert sum(r["retrans_tx"] + r["retrans_rx"] for r in rows) == 0
        assert final["rtt"] > 0 and final["syn_count"] == 1 and final["synack_count"] == 1
        assert sum(r["packet_tx"] for r in rows) >= 4

    recs = [r for r in agent.records if r["table"] == "l7_flow_log"
            and r["request_resource"].startswith("/ok?i=")]
    by_side = {}
    for r in recs:
        by_side.setdefault((r["signal_source"], r["observation_point"]), {})[
            r["x_request_id_0"]] = r
    pkt = by_side[(0, "c-nd")]
    cp = by_side[(3, "c-p")]
    sp = by_side[(3, "s-p")]
    assert sorted(pkt) == sorted(cp) == sorted(sp) == [f"veth-{i}" for i in range(5)]
    for rid, r in pkt.items():
        assert (r["type"], r["response_code"], r["ip4_0"], r["ip4_1"]) == \
            (2, 200, CLIENT_IP, SERVER_IP)
        assert r["req_tcp_seq"] == cp[rid]["req_tcp_seq"] == sp[rid]["req_tcp_seq"]
        assert r["resp_tcp_seq"] == cp[rid]["resp_tcp_seq"] == sp[rid]["resp_tcp_seq"]
        assert r["client_port"] == cp[rid]["client_port"]


def test_loss_retransmissions_counted(netpair, agent_factory):
    """5% of the server's incoming packets dropped (iptables statistic match): the 1 MiB
    downloads still complete, and the flows count the client's retransmissions."""
    c, s = netpair["client"], netpair["server"]
    rule = ["-A", "INPUT", "-i", "fss0", "-p", "tcp", "--dport", "80", "-m", "statistic",
            "--mode", "random", "--probability", "0.05", "-j", "DROP"]
    agent = agent_factory("--interface", "fsc0", "--ebpf=false", ready="capturing packets",
                          netns=c)
    nsexec(s, "iptables", *rule)
    try:
        for _ in range(8):
            p = nsexec(c, "curl", "-s", "--max-time", "60", "-o", "/dev/null", "-w",
                       "%{http_code} %{size_download}", f"http://{SERVER_IP}/static/1m.bin")
            assert p.stdout == f"200 {1 << 20}"
        # Small requests too: with loss on the server's side, the client retransmits.
        for _ in range(40):
            nsexec(c, "curl", "-s", "--max-time", "60", "-o", "/dev/null",
                   f"http://{SERVER_IP}/ok")
    finally:
        nsexec(s, "iptables", "-D", *rule[1:], check=False)
    time.sleep(0.5)
    agent.stop()
    rows = l4_rows(agent, ip4_1=SERVER_IP, server_port=80)
    assert len(flows(rows)) == 48
    retrans = sum(r["retrans_tx"] + r["retrans_syn"] for r in rows)
    assert retrans > 0
    # Every retransmission seen is a packet the client sent: it cannot exceed them.
    assert retrans < sum(r["packet_tx"] for r in rows)
    assert agent.stats["drop_pkt_kernel"] == 0


def test_closed_port_and_unanswered_syn(netpair, agent_factory):
    """A connection to a port nobody listens on: the server resets the SYN. A SYN to an
    address that never answers: SYN retransmissions, then an establish failure."""
    c = netpair["client"]
    agent = agent_factory("--interface", "fsc0", "--ebpf=false", ready="capturing packets",
                          netns=c)
    nsexec(c, "curl", "-s", "--max-time", "5", f"http://{SERVER_IP}:81/", check=False)
    # 10.91.0.3 is on the veth's subnet but nobody has it: give it a static neighbour so
    # the SYNs leave (instead of failing ARP) and are never answered.
    nsexec(c, "ip", "neigh", "replace", "10.91.0.3", "lladdr", "02:00:00:00:00:03", "dev",
           "fsc0")
    nsexec(c, "curl", "-s", "--connect-timeout", "3.5", "http://10.91.0.3:80/", check=False)
    time.sleep(0.3)
    agent.stop()
    reset = l4_rows(agent, ip4_1=SERVER_IP, server_port=81)
    assert [r["close_type_name"] for r in reset] == ["server_reset"]
    assert (reset[0]["syn_count"], reset[0]["packet_rx"], reset[0]["rst_count"]) == (1, 1, 1)
    silent = l4_rows(agent, ip4_1="10.91.0.3", server_port=80)
    assert [r["close_type_name"] for r in silent] == ["client_syn_repeat"]
    # Linux repeats the SYN (after 1 s, then backing off) until curl gives up.
    assert silent[0]["syn_count"] >= 2
    assert silent[0]["retrans_syn"] == silent[0]["syn_count"] - 1
    assert silent[0]["packet_rx"] == 0


def test_vxlan_decapsulated(netpair, agent_factory):
    """HTTP over a VXLAN tunnel carried by the veth: the inner flow is reported, with the
    tunnel's type, VNI and outer addresses."""
    c = netpair["client"]
    agent = agent_factory("--interface", "fsc0", "--ebpf=false", ready="capturing packets",
                          netns=c)
    p = nsexec(c, "curl", "-s", "--max-time", "10", f"http://{VX_SERVER_IP}/ok")
    assert p.stdout == "hello\n"
    time.sleep(0.3)
    agent.stop()
    rows = l4_rows(agent, ip4_1=VX_SERVER_IP, server_port=80)
    assert len(flows(rows)) == 1
    final = rows[-1]
    assert (final["tunnel_type_name"], final["tunnel_id"], final["tunnel_tier"]) == \
        ("VXLAN", 42, 1)
    assert {final["tunnel_ip_0"], final["tunnel_ip_1"]} == {CLIENT_IP, SERVER_IP}
    assert final["close_type_name"] == "finish" and final["l7_protocol"] == "HTTP"
    recs = [r for r in agent.records if r["table"] == "l7_flow_log"
            and r["ip4_1"] == VX_SERVER_IP]
    assert [(r["request_resource"], r["response_code"]) for r in recs] == [("/ok", 200)]
    # The outer UDP flow carrying the tunnel is not reported as a flow of its own.
    assert not l4_rows(agent, server_port=4789)


def test_loopback_capture_leaves_out_own_export(nginx, agent_factory, tmpdir_path):
    """Capturing lo with --server: nginx's flows are measured and stored at the server,
    while the agent's own batches to the server (on the same lo) are left out by the
    kernel filter: no flow row, no request log, no network metrics, on stdout or in the
    store."""
    from conftest import Server
    srv = Server(tmpdir_path)
    try:
        agent = agent_factory("--interface", "lo", "--ebpf=false", "--server", srv.url,
                              "--batch-interval", "100ms", ready="capturing packets")
        for i in range(3):
            sh("curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{nginx['port']}/ok?lo={i}")
        time.sleep(3.5)  # past the 2 s linger after each close, and a few batches sent
        agent.stop()
        own = [r for r in agent.records if r.get("server_port") == srv.port]
        assert own == []
        mine = l4_rows(agent, server_port=nginx["port"])
        assert len(flows(mine)) == 3
        assert {r["observation_point"] for r in mine} == {"local"}
        assert srv.query(f"SELECT count(1) AS n FROM l4_flow_log WHERE server_port = "
                         f"{nginx['port']} AND close_type = 1") == [[3]]
        assert srv.query(f"SELECT count(1) AS n FROM l4_flow_log WHERE server_port = "
                         f"{srv.port}") == [[0]]
        assert srv.query(f"SELECT count(1) AS n FROM l7_flow_log WHERE signal_source = 0 "
                         f"AND server_port = {nginx['port']}") == [[3]]
        # Nor in the network metrics, which only the filter can keep it out of (a network
        # row sums every flow of an endpoint); nginx's three flows are there.
        for table in ("network.1s", "network_map.1s", "network.1m", "network_map.1m"):
            assert srv.query(f"SELECT Count(row) FROM {table} WHERE server_port = "
                             f"{srv.port}") == [[0]]
        assert srv.query(f"SELECT Sum(new_flow), Sum(closed_flow) FROM network_map.1m "
                         f"WHERE server_port = {nginx['port']}") == [[3, 3]]
        assert srv.query(f"SELECT role, Sum(new_flow) FROM network.1s WHERE server_port = "
                         f"{nginx['port']} GROUP BY role ORDER BY role") == [[0, 3], [1, 3]]
    finally:
        srv.stop()
