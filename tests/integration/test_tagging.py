# SPDX-License-Identifier: Apache-2.0
"""AutoTagging at ingest (docs/tagging.md): the real agent (eBPF) reports its host and the
processes its records name, the real server tags both sides of every row with integer ids
and writes the flow_tag dictionaries. nginx and curl on loopback; ids are recomputed here
from their natural keys (XXH3_64 seeded with the kind, 63 bits, 0 -> 1) and asserted
exactly, names through the dictionaries."""
import os
import pwd
import socket
import subprocess
import time

import xxhash

from conftest import Agent, Server

TAG_IP, TAG_HOST, TAG_GPROCESS, TAG_CONTAINER, TAG_NETNS, TAG_CUSTOM = 1, 2, 3, 4, 5, 6


def tag_id(kind, key):
    h = xxhash.xxh3_64_intdigest(key.encode(), seed=kind) & (2**63 - 1)
    return h or 1


def start_time_us(pid):
    """What the agent computes: btime (whole seconds) + starttime ticks."""
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[19])
    return btime * 1000000 + ticks * 1000000 // os.sysconf("SC_CLK_TCK")


def nginx_worker(port):
    """The pid of the nginx process serving port: the one s-p rows name."""
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    pids = sorted({int(p.split("=")[1]) for p in out.replace(",", " ").split()
                   if p.startswith("pid=")})
    assert pids, out
    return pids


def wait_rows(srv, sql, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        rows = srv.query(sql)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_process_host_and_custom_tags_sqlite(nginx, tmpdir_path):
    port = nginx["port"]
    srv = Server(tmpdir_path, "--custom-services", f"web=127.0.0.1:{port},lo=127.0.0.0/8")
    agent = Agent(tmpdir_path, "--server", srv.url, "--agent-id", "tag-test",
                  "--batch-interval", "200ms", "--heartbeat-interval", "500ms")
    try:
        for i in range(3):
            subprocess.run(["curl", "-s", "-o", "/dev/null",
                            f"http://127.0.0.1:{port}/ok?tag={i}"], check=True, timeout=30)
        cols = ("process_id_0, process_id_1, host_id_0, host_id_1, gprocess_id_0, "
                "gprocess_id_1, netns_id_1, container_id_1, custom_service_id_0, "
                "custom_service_id_1, auto_service_id_0, auto_service_type_0, "
                "auto_service_id_1, auto_service_type_1, auto_instance_id_0, "
                "auto_instance_type_0, auto_instance_id_1, auto_instance_type_1, "
                "observation_point")
        sql = (f"SELECT {cols} FROM l7_flow_log WHERE server_port = {port} AND "
               f"request_resource LIKE '/ok?tag=%' ORDER BY observation_point, request_resource")
        rows = wait_rows(srv, sql, 6)
        agent.stop()
        assert len(rows) == 6, rows
        host = socket.gethostname()
        host_id = tag_id(TAG_HOST, host)
        web, lo = tag_id(TAG_CUSTOM, "web"), tag_id(TAG_CUSTOM, "lo")
        workers = nginx_worker(port)
        for r in rows:
            (pid0, pid1, h0, h1, gp0, gp1, ns1, ct1, cs0, cs1, as0, ast0, as1, ast1, ai0, ait0,
             ai1, ait1, obs) = r
            # Loopback on both sides: the sending agent's host.
            assert (h0, h1) == (host_id, host_id), r
            # The client side matches only the portless rule; the server side the port rule.
            assert (cs0, cs1) == (lo, web), r
            assert (as0, ast0, as1, ast1) == (lo, TAG_CUSTOM, web, TAG_CUSTOM), r
            if obs == "c-p":
                # curl: exited by the time anything reads /proc, or not: either way a process.
                assert pid1 == 0 and gp1 == 0 and ns1 == 0
                assert gp0 != 0 and (ai0, ait0) == (gp0, TAG_GPROCESS), r
                assert (ai1, ait1) == (tag_id(TAG_IP, "127.0.0.1"), TAG_IP), r
            else:
                assert obs == "s-p" and pid0 == 0 and pid1 in workers, r
                key = f"{host}/{pid1}/{start_time_us(pid1)}"
                assert gp1 == tag_id(TAG_GPROCESS, key), (r, key)
                inode = os.stat(f"/proc/{pid1}/ns/net").st_ino
                assert ns1 == tag_id(TAG_NETNS, f"{host}/{inode}"), r
                assert ct1 == 0  # the test's nginx runs in no container
                assert (ai1, ait1) == (gp1, TAG_GPROCESS), r
                assert (ai0, ait0) == (tag_id(TAG_IP, "127.0.0.1"), TAG_IP), r
                nginx_gp, nginx_pid, nginx_ns, nginx_inode = gp1, pid1, ns1, inode
        # The dictionaries name every id the rows use, once per version.
        def names(ids):
            got = srv.query("SELECT id, kind, name FROM flow_tag.tag_dict WHERE id IN (" +
                            ", ".join(str(i) for i in ids) + ") ORDER BY id")
            return {i: (k, n) for i, k, n in got}
        d = names([host_id, web, lo, nginx_gp, nginx_ns, tag_id(TAG_IP, "127.0.0.1")])
        assert d == {host_id: (TAG_HOST, host), web: (TAG_CUSTOM, "web"),
                     lo: (TAG_CUSTOM, "lo"), nginx_gp: (TAG_GPROCESS, "nginx"),
                     nginx_ns: (TAG_NETNS, str(nginx_inode)),
                     tag_id(TAG_IP, "127.0.0.1"): (TAG_IP, "127.0.0.1")}
        assert srv.query(f"SELECT Count(row) FROM flow_tag.tag_dict WHERE id = {nginx_gp}") == \
            [[1]]
        assert sorted(srv.query(f"SELECT attr_kind, attr_id FROM flow_tag.tag_link "
                                f"WHERE id = {nginx_gp}")) == sorted(
            [[TAG_HOST, host_id], [TAG_NETNS, nginx_ns]])
        p = srv.query(f"SELECT host_id, agent_id, pid, comm, exe, user, container_id, "
                      f"netns_id, netns_inode FROM flow_tag.process "
                      f"WHERE gprocess_id = {nginx_gp}")
        with open(f"/proc/{nginx_pid}/status") as f:
            uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        assert p == [[host_id, "tag-test", nginx_pid, "nginx", "/usr/sbin/nginx",
                      pwd.getpwuid(uid).pw_name, 0, nginx_ns, nginx_inode]], p
        # The same rows through the virtual tag columns: names in, names out.
        got = srv.query(f"SELECT auto_service_1, process_1, netns_1, host_0, Count(row) "
                        f"FROM l7_flow_log WHERE auto_service_1 = 'web' AND "
                        f"custom_service_0 IN ('lo') AND server_port = {port} AND "
                        f"request_resource LIKE '/ok?tag=%' "
                        f"GROUP BY auto_service_1, process_1, netns_1, host_0")
        assert sorted(got, key=str) == sorted(
            [["web", None, None, host, 3], ["web", "nginx", str(nginx_inode), host, 3]],
            key=str), got
        assert srv.query(f"SELECT Count(row) FROM l7_flow_log WHERE auto_service_1 != 'web' "
                         f"AND server_port = {port}") == [[0]]
        h = srv.query(f"SELECT hostname, agent_id FROM flow_tag.host WHERE host_id = {host_id}")
        assert h == [[host, "tag-test"]], h
        assert agent.stats["hosts_reported"] >= 1
        assert agent.stats["procs_reported"] >= 2
        status, body, _ = srv.request("GET", "/metrics")
        text = body.decode()
        metrics = {line.split()[0]: int(line.split()[1]) for line in text.splitlines()
                   if line.startswith("flowscope_tagger_")}
        # Both sides of the 6 rows at least (l4 rows of the same traffic may add more).
        assert metrics["flowscope_tagger_custom_matches"] >= 12, metrics
        assert metrics["flowscope_tagger_host_reports"] >= 1, metrics
        assert "\nflowscope_tagger_procs_unknown 0\n" in text
    finally:
        agent.kill()
        srv.kill()
