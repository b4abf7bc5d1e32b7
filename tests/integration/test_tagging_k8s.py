# SPDX-License-Identifier: Apache-2.0
"""Kubernetes tags end to end (docs/tagging.md): the real server lists and watches a fake
API server that replays recorded responses (tests/integration/k8s/: PodList, ServiceList,
... and a pod watch stream), the real agent captures real traffic between two network
namespaces whose addresses are the recorded pods' IPs (loadgen-0 10.231.0.10 -> frontend
10.231.0.20:8080, nginx), and the rows' pod_* and auto_* ids are asserted exactly
(recomputed here from their natural keys), names and links through flow_tag. The pod watch
first answers 410 Gone (the server must list again), later relabels the frontend pod: the
newest k8s_label version has the new labels and no fact row is rewritten. On SQLite and on
ClickHouse, with identical ids."""
import http.server
import json
import pathlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest
import xxhash

from chserver import ClickHouse
from conftest import Agent, Server

K8S = pathlib.Path(__file__).resolve().parent / "k8s"
TAG_IP, TAG_GPROCESS, TAG_CUSTOM = 1, 3, 6
(TAG_POD_CLUSTER, TAG_POD_NS, TAG_POD_NODE, TAG_POD, TAG_POD_GROUP,
 TAG_POD_SERVICE) = range(7, 13)
CLUSTER = "kind-test"
CLIENT_NS, SERVER_NS = "fsk8s-c", "fsk8s-s"
LOAD_IP, FRONT_IP, PORT = "10.231.0.10", "10.231.0.20", 8080
FRONT = "frontend-6d4cf56db6-8xk2p"
PATHS = {"/api/v1/pods": "pods", "/api/v1/services": "services", "/api/v1/nodes": "nodes",
         "/api/v1/namespaces": "namespaces", "/apis/apps/v1/replicasets": "replicasets",
         "/apis/apps/v1/deployments": "deployments"}


def tag_id(kind, key):
    return xxhash.xxh3_64_intdigest(key.encode(), seed=kind) & (2**63 - 1) or 1


class FakeApi:
    """Answers lists from the recorded files and holds watches open. The first pod watch
    gets the recorded 410 Gone ERROR event; later pod watches get what push() queues (and
    the pod list follows those events, as a real API server's would)."""

    def __init__(self):
        self.lists = {k: json.loads((K8S / f"{k}.json").read_text()) for k in PATHS.values()}
        self.events = queue.Queue()
        self.requests = []
        self.stopping = threading.Event()
        self.pod_watches = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                api.requests.append(self.path)
                kind = PATHS.get(u.path)
                if kind is None:
                    body = b'{"kind":"Status","code":404}'
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if "watch" not in q:
                    body = json.dumps(api.lists[kind]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if kind == "pods":
                    api.pod_watches += 1
                    if api.pod_watches == 1:
                        self.chunk((K8S / "watch-gone.jsonl").read_bytes())
                        self.chunk(b"")
                        return
                while not api.stopping.is_set():
                    try:
                        line = api.events.get(timeout=0.1) if kind == "pods" else None
                    except queue.Empty:
                        line = None
                    if line is None:
                        if kind != "pods":
                            time.sleep(0.1)
                        continue
                    self.chunk(line)
                self.chunk(b"")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def push(self, lines):
        """Send watch events; the pod list follows them."""
        pods = self.lists["pods"]["items"]
        for line in lines:
            ev = json.loads(line)
            if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = {k: v for k, v in ev["object"].items()
                       if k not in ("kind", "apiVersion")}
                name = obj["metadata"]["name"]
                pods[:] = [p for p in pods if p["metadata"]["name"] != name]
                if ev["type"] != "DELETED":
                    pods.append(obj)
            self.events.put(line.encode() + b"\n")

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def pods_net():
    """The two pods' network namespaces on a veth pair, nginx on the frontend's address."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-k8s-"))
    nginx = None
    try:
        for ns in (CLIENT_NS, SERVER_NS):
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "fsk8sc0", "netns", CLIENT_NS, "type", "veth", "peer", "name",
           "fsk8ss0", "netns", SERVER_NS)
        for ns, dev, ip in ((CLIENT_NS, "fsk8sc0", LOAD_IP), (SERVER_NS, "fsk8ss0", FRONT_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        (d / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {FRONT_IP}:{PORT};
        location = /ok {{ return 200 "hello\\n"; }}
    }}
}}
""")
        nginx = subprocess.Popen(["ip", "netns", "exec", SERVER_NS, "nginx", "-p", str(d), "-c",
                                  str(d / "nginx.conf")], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while sh("ip", "netns", "exec", CLIENT_NS, "curl", "-s", "-o", "/dev/null",
                 f"http://{FRONT_IP}:{PORT}/ok", check=False).returncode:
            assert nginx.poll() is None, nginx.stderr.read()
            assert time.monotonic() < deadline, "nginx in the server namespace did not answer"
            time.sleep(0.1)
        yield
    finally:
        if nginx:
            nginx.terminate()  # the master stops its worker
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        for ns in (CLIENT_NS, SERVER_NS):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(d, ignore_errors=True)


def metrics(srv):
    _, body, _ = srv.request("GET", "/metrics")
    return {line.split()[0]: int(line.split()[1]) for line in body.decode().splitlines()
            if line.startswith("flowscope_k8s_") or line.startswith("flowscope_tagger_k8s")}


def wait_for(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def curl(tag, n):
    for i in range(n):
        sh("ip", "netns", "exec", CLIENT_NS, "curl", "-s", "-o", "/dev/null",
           f"http://{FRONT_IP}:{PORT}/ok?{tag}={i}")


COLS = ("observation_point, pod_cluster_id_0, pod_ns_id_0, pod_node_id_0, pod_id_0, "
        "pod_group_id_0, pod_service_id_0, auto_service_id_0, auto_service_type_0, "
        "auto_instance_id_0, auto_instance_type_0, pod_cluster_id_1, pod_ns_id_1, "
        "pod_node_id_1, pod_id_1, pod_group_id_1, pod_service_id_1, auto_service_id_1, "
        "auto_service_type_1, auto_instance_id_1, auto_instance_type_1, request_resource")


def k8s_run(tmpdir, store_args, data_dir):
    """Run the whole scenario against a server with store_args; the facts it saw."""
    api = FakeApi()
    srv = Server(tmpdir, "--k8s-api-url", api.url, "--k8s-cluster-name", CLUSTER, *store_args,
                 data_dir=data_dir)
    agent = None
    try:
        # Six lists, the pod watch's 410, a seventh list (pods again), watches resumed.
        m = wait_for("the lists and the re-list after 410",
                     lambda: (lambda m: m if m.get("flowscope_k8s_lists") == 7 else None)(
                         metrics(srv)))
        assert m["flowscope_k8s_relists_gone"] == 1, m
        assert m["flowscope_k8s_objects"] == 16, m
        assert m["flowscope_k8s_list_errors"] == m["flowscope_k8s_decode_errors"] == 0, m
        pod_lists = [r for r in api.requests if r.startswith("/api/v1/pods?")]
        assert pod_lists[:3] == ["/api/v1/pods?limit=500",
                                 "/api/v1/pods?watch=1&allowWatchBookmarks=true"
                                 "&timeoutSeconds=300&resourceVersion=4300",
                                 "/api/v1/pods?limit=500"], pod_lists
        agent = Agent(tmpdir, "--server", srv.url, "--agent-id", "k8s-test",
                      "--batch-interval", "200ms", "--heartbeat-interval", "500ms")
        curl("k8s", 3)
        sql = (f"SELECT {COLS} FROM l7_flow_log WHERE server_port = {PORT} AND "
               f"request_resource LIKE '/ok?k8s=%' ORDER BY observation_point, "
               f"request_resource")
        before = wait_for("6 l7 rows", lambda: (lambda r: r if len(r) >= 6 else None)(
            srv.query(sql)))
        time.sleep(1.1)  # the relabel's label version must have a later time (seconds)
        api.push((K8S / "pods-watch.jsonl").read_text().splitlines())
        wait_for("the watch events", lambda: metrics(srv).get("flowscope_k8s_events") == 2)
        m = metrics(srv)
        assert m["flowscope_k8s_bookmarks"] == 1 and m["flowscope_k8s_objects"] == 15, m
        curl("relabel", 2)
        after_sql = sql.replace("'/ok?k8s=%'", "'/ok?relabel=%'")
        after = wait_for("4 more l7 rows", lambda: (lambda r: r if len(r) >= 4 else None)(
            srv.query(after_sql)))
        agent.stop()
        return {"before": before, "after": after, "again": srv.query(sql),
                "dict": srv.query("SELECT id, kind, name, key FROM flow_tag.tag_dict "
                                  "WHERE kind >= 7 ORDER BY id, time"),
                "links": srv.query("SELECT id, attr_kind, attr_id FROM flow_tag.tag_link "
                                   "WHERE attr_kind >= 7 ORDER BY id, attr_kind, time"),
                "labels": srv.query("SELECT time, id, key, value FROM flow_tag.k8s_label "
                                    "ORDER BY id, time, key"),
                "metrics": metrics(srv)}
    finally:
        if agent:
            agent.kill()
        srv.kill()
        api.stop()


def check_run(r):
    c = tag_id(TAG_POD_CLUSTER, CLUSTER)
    ns = tag_id(TAG_POD_NS, f"{CLUSTER}/shop")
    front = tag_id(TAG_POD, f"{CLUSTER}/shop/{FRONT}")
    load = tag_id(TAG_POD, f"{CLUSTER}/shop/loadgen-0")
    node_a, node_b = (tag_id(TAG_POD_NODE, f"{CLUSTER}/node-{x}") for x in "ab")
    deploy = tag_id(TAG_POD_GROUP, f"{CLUSTER}/shop/Deployment/frontend")
    sts = tag_id(TAG_POD_GROUP, f"{CLUSTER}/shop/StatefulSet/loadgen")
    svc = tag_id(TAG_POD_SERVICE, f"{CLUSTER}/shop/frontend")
    svc_load = tag_id(TAG_POD_SERVICE, f"{CLUSTER}/shop/loadgen")
    # Client side: loadgen-0 (its service is headless); server side: the frontend pod, its
    # Deployment through its ReplicaSet, the service "frontend" (first by name of the two
    # that select it). auto_service: the pod_service; auto_instance: the pod (over the
    # process the c-p / s-p side also has).
    side0 = [c, ns, node_b, load, sts, svc_load, svc_load, TAG_POD_SERVICE, load, TAG_POD]
    side1 = [c, ns, node_a, front, deploy, svc, svc, TAG_POD_SERVICE, front, TAG_POD]
    for rows, tag, n in ((r["before"], "k8s", 3), (r["after"], "relabel", 2)):
        assert len(rows) == 2 * n, rows
        assert [x[0] for x in rows] == ["c-p"] * n + ["s-p"] * n, rows
        for x in rows:
            assert x[1:11] == side0 and x[11:21] == side1, x
        assert sorted({x[21] for x in rows}) == [f"/ok?{tag}={i}" for i in range(n)]
    # No fact row was rewritten by the relabel.
    assert r["again"] == r["before"]
    names = {}
    for i, kind, name, key in r["dict"]:
        assert i == tag_id(kind, key), (i, kind, key)
        names.setdefault(i, set()).add((kind, name))
    assert names == {c: {(TAG_POD_CLUSTER, CLUSTER)}, ns: {(TAG_POD_NS, "shop")},
                     node_a: {(TAG_POD_NODE, "node-a")}, node_b: {(TAG_POD_NODE, "node-b")},
                     front: {(TAG_POD, FRONT)}, load: {(TAG_POD, "loadgen-0")},
                     deploy: {(TAG_POD_GROUP, "frontend")}, sts: {(TAG_POD_GROUP, "loadgen")},
                     svc: {(TAG_POD_SERVICE, "frontend")},
                     svc_load: {(TAG_POD_SERVICE, "loadgen")}}, names
    # A relabel is a new label version only: one entry and one set of links per entity.
    assert len(r["dict"]) == len(names) and len(r["links"]) == 19, (r["dict"], r["links"])
    links = {(i, k, a) for i, k, a in r["links"]}
    assert links == {(front, TAG_POD_CLUSTER, c), (front, TAG_POD_NS, ns),
                     (front, TAG_POD_NODE, node_a), (front, TAG_POD_GROUP, deploy),
                     (load, TAG_POD_CLUSTER, c), (load, TAG_POD_NS, ns),
                     (load, TAG_POD_NODE, node_b), (load, TAG_POD_GROUP, sts),
                     (deploy, TAG_POD_CLUSTER, c), (deploy, TAG_POD_NS, ns),
                     (sts, TAG_POD_CLUSTER, c), (sts, TAG_POD_NS, ns),
                     (svc, TAG_POD_CLUSTER, c), (svc, TAG_POD_NS, ns),
                     (svc_load, TAG_POD_CLUSTER, c), (svc_load, TAG_POD_NS, ns),
                     (ns, TAG_POD_CLUSTER, c), (node_a, TAG_POD_CLUSTER, c),
                     (node_b, TAG_POD_CLUSTER, c)}, links
    versions = {}
    for t, i, k, v in r["labels"]:
        versions.setdefault(i, {}).setdefault(t, []).append(f"{k}={v}")
    assert set(versions) == {front, load, svc, svc_load}, versions
    # The frontend pod: two versions, the newest the relabelled set; the others one each.
    fv = [versions[front][t] for t in sorted(versions[front])]
    assert fv == [["app=frontend", "pod-template-hash=6d4cf56db6", "tier=web"],
                  ["app=frontend", "pod-template-hash=6d4cf56db6", "tier=edge",
                   "version=v2"]], versions[front]
    assert list(versions[svc].values()) == [["app=frontend", "team=storefront"]]
    assert list(versions[svc_load].values()) == [["="]]  # no labels: one row, key ''
    assert list(versions[load].values()) == [[
        "app=loadgen", "controller-revision-hash=loadgen-5f7d9c8b4",
        "statefulset.kubernetes.io/pod-name=loadgen-0"]]
    m = r["metrics"]
    assert m["flowscope_k8s_watch_errors"] == 0 and m["flowscope_k8s_objects_dropped"] == 0, m
    assert m["flowscope_tagger_k8s_matches"] >= 4 * 5, m  # l7 rows' sides, l4 rows add more


def comparable(r):
    """What must be equal between stores: everything but label times and counters."""
    return {"before": r["before"], "after": r["after"], "dict": sorted(map(tuple, r["dict"])),
            "links": sorted(set(map(tuple, r["links"]))),
            "labels": sorted((i, k, v) for _, i, k, v in r["labels"])}


@pytest.fixture(scope="module")
def ch():
    c = ClickHouse().start()
    yield c
    c.stop()


def test_k8s_tags_sqlite_and_clickhouse(pods_net, tmpdir_path, ch):
    lite = k8s_run(tmpdir_path, [], tmpdir_path / "lite")
    check_run(lite)
    click = k8s_run(tmpdir_path, ["--store", ch.store_url("k8s")], tmpdir_path / "click")
    check_run(click)
    assert comparable(click) == comparable(lite)


def test_k8s_config_refusals_and_unreachable_api(tmpdir_path):
    """Bad settings stop the server at start with the reason; an API server that does not
    answer is counted and retried with backoff while ingest and queries go on."""
    from conftest import SERVER, free_port
    for args, msg in (
            (["--k8s-api-url", "ftp://x"], "--k8s-api-url: 'ftp://x' is not an http:// or "
                                           "https:// URL"),
            (["--k8s-api-url", "http://127.0.0.1:1", "--k8s-cluster-name", "a b"],
             "--k8s-cluster-name: 'a b' is not 1..63 of A-Z a-z 0-9 . _ -"),
            (["--k8s-api-url", "http://127.0.0.1:1", "--k8s-token-file", "/nonexistent/token"],
             "--k8s-api-url: token file /nonexistent/token: No such file or directory")):
        p = subprocess.run([str(SERVER), "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                            str(tmpdir_path / "refused"), *args], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2 and msg in p.stderr, (args, p.returncode, p.stderr)
    dead = free_port()  # nothing listens there
    srv = Server(tmpdir_path, "--k8s-api-url", f"http://127.0.0.1:{dead}")
    try:
        # The first list of each kind fails at once, the next after 1 s of backoff.
        wait_for("list errors", lambda: metrics(srv).get("flowscope_k8s_list_errors", 0) >= 7)
        m = metrics(srv)
        assert m["flowscope_k8s_lists"] == 0 and m["flowscope_k8s_objects"] == 0, m
        assert srv.query("SELECT Count(row) FROM l7_flow_log") == [[0]]
    finally:
        srv.kill()


def test_k8s_event_that_does_not_decode_relists(tmpdir_path):
    """A watch event that does not decode would lose an object's change: it is counted,
    ends the watch, and the kind is listed again (after the backoff)."""
    api = FakeApi()
    srv = Server(tmpdir_path, "--k8s-api-url", api.url)
    try:
        wait_for("the first lists", lambda: metrics(srv).get("flowscope_k8s_lists") == 7)
        # A pod without a name: no API server sends that.
        api.events.put(b'{"type":"MODIFIED","object":{"kind":"Pod","metadata":'
                       b'{"namespace":"shop"}}}\n')
        m = wait_for("the re-list", lambda: (lambda m: m if m.get("flowscope_k8s_lists") == 8
                                             else None)(metrics(srv)))
        assert (m["flowscope_k8s_decode_errors"], m["flowscope_k8s_watch_errors"],
                m["flowscope_k8s_relists_gone"], m["flowscope_k8s_objects"]) == (1, 1, 1, 16), m
        assert sum(r.startswith("/api/v1/pods?limit=") for r in api.requests) == 3
        assert "Pod watch: an event that does not decode: metadata.name is empty" in \
            srv.err.read_text()
    finally:
        srv.kill()
        api.stop()
