# SPDX-License-Identifier: Apache-2.0
"""AutoTagging at ingest (docs/tagging.md): the real agent (eBPF) reports its host and the
processes its records name, the real server tags both sides of every row with integer ids
and writes the flow_tag dictionaries. nginx and curl on loopback, on SQLite and on
ClickHouse (the same ids and rows); two nginx processes in two network namespaces and two
cgroups named like a docker and a containerd scope (distinct netns and container ids); two
servers sharing one ClickHouse (the same ids for the same entities). Ids are recomputed
here from their natural keys (XXH3_64 seeded with the kind, 63 bits, 0 -> 1) and asserted
exactly, names through the dictionaries. Kubernetes: test_tagging_k8s.py."""
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import xxhash

from chserver import ClickHouse
from conftest import Agent, Server, free_port

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


@pytest.fixture(scope="module")
def ch():
    c = ClickHouse().start()
    yield c
    c.stop()


# What each store's run of test_process_host_and_custom_tags saw, to compare them.
SEEN = {}


@pytest.mark.parametrize("store", ["sqlite", "clickhouse"])
def test_process_host_and_custom_tags(nginx, tmpdir_path, store, request):
    port = nginx["port"]
    store_args = ["--store", request.getfixturevalue("ch").store_url("tags")] \
        if store == "clickhouse" else []
    srv = Server(tmpdir_path, "--custom-services", f"web=127.0.0.1:{port},lo=127.0.0.0/8",
                 *store_args)
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
        # Both stores: the same ids in the same rows (curl's pid and gprocess aside: a new
        # curl process each run), the same dictionary entries.
        curl_cols = {0, 4, 14}  # process_id_0, gprocess_id_0, auto_instance_id_0
        SEEN[store] = ([[v for i, v in enumerate(r) if r[-1] != "c-p" or i not in curl_cols]
                        for r in rows], d, p)
        if len(SEEN) == 2:
            assert SEEN["sqlite"] == SEEN["clickhouse"]
    finally:
        agent.kill()
        srv.kill()


def cgroup2_root():
    """Where this machine mounts the cgroup v2 hierarchy (pure v2, or hybrid's unified)."""
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if subprocess.run(["stat", "-fc", "%T", d], capture_output=True,
                          text=True).stdout.strip() == "cgroup2fs":
            return pathlib.Path(d)
    pytest.fail("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: the "
                "container id test needs one (run as root on a systemd or cgroup v2 host)")


SERVER_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /ok {{ return 200 "hello\\n"; }}
    }}
}}
"""


def test_netns_and_container_ids(tmpdir_path):
    """Two nginx processes, each in its own network namespace and its own cgroup (named like
    a docker scope and a containerd scope), serve the same 127.0.0.1:PORT: their rows get
    distinct netns and container ids, the container ids being tag_id(4, the 64-hex id)
    and the netns ids tag_id(5, HOST/INODE); tag_dict names them by the id and the inode,
    tag_link ties each gprocess to its host, container and netns."""
    root = cgroup2_root() / "flowscope-test.slice"
    cids = {"a": "d0c4e7" + "1" * 58, "b": "c7a1e2" + "2" * 58}
    scopes = {"a": root / f"docker-{cids['a']}.scope",
              "b": root / f"cri-containerd-{cids['b']}.scope"}
    port = free_port()
    host = socket.gethostname()
    procs = {}
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-ctr-"))
    srv = agent = None
    try:
        for k in "ab":
            subprocess.run(["ip", "netns", "del", f"fstag-{k}"], capture_output=True)
            subprocess.run(["ip", "netns", "add", f"fstag-{k}"], check=True)
            subprocess.run(["ip", "-n", f"fstag-{k}", "link", "set", "lo", "up"], check=True)
            scopes[k].mkdir(parents=True, exist_ok=True)
            (d / k).mkdir()
            (d / k / "nginx.conf").write_text(SERVER_CONF.format(dir=d / k, port=port))
            # The shell joins the cgroup (cgroup.procs), then becomes nginx in the netns.
            procs[k] = subprocess.Popen(
                ["sh", "-c", f'echo $$ > {scopes[k]}/cgroup.procs && exec ip netns exec '
                 f'fstag-{k} nginx -p {d / k} -c {d / k}/nginx.conf'], stderr=subprocess.PIPE)
        for k in "ab":
            deadline = time.monotonic() + 10
            while subprocess.run(["ip", "netns", "exec", f"fstag-{k}", "curl", "-s", "-o",
                                  "/dev/null", f"http://127.0.0.1:{port}/ok"]).returncode:
                assert procs[k].poll() is None, procs[k].stderr.read()
                assert time.monotonic() < deadline, f"nginx in fstag-{k} did not answer"
                time.sleep(0.1)
            with open(f"/proc/{procs[k].pid}/cgroup") as f:
                assert any(line.endswith(scopes[k].name + "\n") for line in f), k
        srv = Server(tmpdir_path)
        agent = Agent(tmpdir_path, "--server", srv.url, "--agent-id", "ctr-test",
                      "--batch-interval", "200ms", "--heartbeat-interval", "500ms")
        for k in "ab":
            for i in range(2):
                subprocess.run(["ip", "netns", "exec", f"fstag-{k}", "curl", "-s", "-o",
                                "/dev/null", f"http://127.0.0.1:{port}/ok?ns={k}{i}"],
                               check=True, timeout=30)
        sql = (f"SELECT request_resource, process_id_1, gprocess_id_1, container_id_1, "
               f"netns_id_1, auto_instance_id_1, auto_instance_type_1 FROM l7_flow_log "
               f"WHERE observation_point = 's-p' AND server_port = {port} "
               f"ORDER BY request_resource")
        rows = wait_rows(srv, sql, 4)
        agent.stop()
        assert len(rows) == 4, rows
        want = {}
        for k in "ab":
            pid = procs[k].pid
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
            gp = tag_id(TAG_GPROCESS, f"{host}/{pid}/{start_time_us(pid)}")
            want[k] = (pid, gp, tag_id(TAG_CONTAINER, cids[k]),
                       tag_id(TAG_NETNS, f"{host}/{inode}"), gp, TAG_GPROCESS)
            assert [r[1:] for r in rows if r[0].startswith(f"/ok?ns={k}")] == [list(want[k])] * 2
        assert want["a"][2] != want["b"][2] and want["a"][3] != want["b"][3]
        ids = [want[k][i] for k in "ab" for i in (2, 3)]
        got = srv.query("SELECT id, kind, name FROM flow_tag.tag_dict WHERE id IN (" +
                        ", ".join(map(str, ids)) + ") ORDER BY id")
        assert sorted(map(tuple, got)) == sorted(
            [(want[k][2], TAG_CONTAINER, cids[k]) for k in "ab"] +
            [(want[k][3], TAG_NETNS, str(os.stat(f"/proc/{procs[k].pid}/ns/net").st_ino))
             for k in "ab"]), got
        for k in "ab":
            links = srv.query(f"SELECT attr_kind, attr_id FROM flow_tag.tag_link "
                              f"WHERE id = {want[k][1]} ORDER BY attr_kind")
            assert links == [[TAG_HOST, tag_id(TAG_HOST, host)], [TAG_CONTAINER, want[k][2]],
                             [TAG_NETNS, want[k][3]]], links
            p = srv.query(f"SELECT comm, container_id, netns_id FROM flow_tag.process "
                          f"WHERE gprocess_id = {want[k][1]}")
            assert p == [["nginx", want[k][2], want[k][3]]], p
    finally:
        if agent:
            agent.kill()
        if srv:
            srv.kill()
        for p in procs.values():
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for k in "ab":
            subprocess.run(["ip", "netns", "del", f"fstag-{k}"], capture_output=True)
        # A cgroup can go once its processes have: rmdir, innermost first.
        for sc in scopes.values():
            for _ in range(50):
                try:
                    if sc.exists():
                        sc.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        if root.exists():
            root.rmdir()
        shutil.rmtree(d, ignore_errors=True)


def test_two_servers_one_clickhouse_same_ids(nginx, tmpdir_path, ch):
    """Two flowscope-servers share one ClickHouse database, each fed by its own agent that
    sees the same traffic: the servers never talk, yet the same nginx process, host, netns
    and custom service get one id each in both servers' rows, and both servers' dictionary
    entries for it agree."""
    port = nginx["port"]
    url = ch.store_url("shared")
    rules = ("--custom-services", f"web=127.0.0.1:{port}")
    srvs = [Server(tmpdir_path, *rules, "--store", url, data_dir=tmpdir_path / n)
            for n in ("a", "b")]
    agents = []
    try:
        for n, s in zip("ab", srvs):
            agents.append(Agent(tmpdir_path, "--server", s.url, "--agent-id", f"agent-{n}",
                                "--batch-interval", "200ms", "--heartbeat-interval", "500ms"))
        for i in range(3):
            subprocess.run(["curl", "-s", "-o", "/dev/null",
                            f"http://127.0.0.1:{port}/ok?two={i}"], check=True, timeout=30)
        sql = ("SELECT process_id_1, gprocess_id_1, host_id_1, netns_id_1, auto_service_id_1, "
               "Count(row) FROM l7_flow_log WHERE observation_point = 's-p' AND "
               "request_resource LIKE '/ok?two=%' GROUP BY process_id_1, gprocess_id_1, "
               "host_id_1, netns_id_1, auto_service_id_1")
        deadline = time.monotonic() + 20
        while True:
            got = srvs[1].query(sql)
            if sum(r[-1] for r in got) >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for a in agents:
            a.stop()
        host = socket.gethostname()
        assert len(got) == 1 and got[0][0] in nginx["workers"], got
        pid = got[0][0]
        gp = tag_id(TAG_GPROCESS, f"{host}/{pid}/{start_time_us(pid)}")
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        # One group: both servers' rows carry the same ids.
        assert got == [[pid, gp, tag_id(TAG_HOST, host), tag_id(TAG_NETNS, f"{host}/{inode}"),
                        tag_id(TAG_CUSTOM, "web"), 6]], got
        # Both servers wrote the entry (each its own version), with the same content.
        assert srvs[0].query(f"SELECT kind, name, key FROM flow_tag.tag_dict WHERE id = {gp}") \
            == [[TAG_GPROCESS, "nginx", f"{host}/{pid}/{start_time_us(pid)}"]] * 2
        assert sorted(srvs[0].query(f"SELECT agent_id, pid, comm FROM flow_tag.process "
                                    f"WHERE gprocess_id = {gp}")) == \
            [["agent-a", pid, "nginx"], ["agent-b", pid, "nginx"]]
    finally:
        for a in agents:
            a.kill()
        for s in srvs:
            s.kill()
