# SPDX-License-Identifier: Apache-2.0
"""Querying tags (SmartEncoding, docs/tagging.md "Querying tags") on real stores.

The flow_tag dictionaries and l7_flow_log's tag id columns are filled directly with one
small data set (tagdata.py): a SQLite store, a single ClickHouse server, and a two-shard
ClickHouse cluster (its rows split over the shards, its tables Distributed, so that the
dictionary lookups must be GLOBAL IN). The same queries through each flowscope-server's
/v1/query must give exactly the expected rows on all three: filters on virtual tags with
every operator, NOT, NULL semantics, labels through the newest label set (and the pod's
service when there is no pod), names decoded from ids (the newest version), grouping by
a tag and by a label's value. Then `flowscope query` shows names, SHOW TAGS lists the
virtual columns, unknown names list the near ones, and /metrics counts cached names.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import pytest

from chserver import ClickHouse, free_port as ch_free_port
from conftest import ROOT, Server
import tagdata

CLI = pathlib.Path(os.environ.get("FLOWSCOPE_CLI", ROOT / "build" / "flowscope")).resolve()


@pytest.fixture(scope="module")
def workdir():
    d = pathlib.Path(tempfile.mkdtemp(prefix="flowscope-tagq-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def lite(workdir):
    """A SQLite store: made by the server, filled while it is stopped, opened again."""
    data = workdir / "lite"
    s = Server(workdir, data_dir=data)
    assert s.stop() == 0
    tagdata.fill_sqlite(str(data / "flowscope.db"))
    s = Server(workdir, data_dir=data)
    yield s
    s.kill()


@pytest.fixture(scope="module")
def click(workdir):
    ch = ClickHouse().start()
    s = None
    try:
        s = Server(workdir, "--store", ch.store_url("tagq"), data_dir=workdir / "click")
        tagdata.fill_clickhouse([ch], "tagq", cluster=False)
        yield s
    finally:
        if s:
            s.kill()
        ch.stop()


@pytest.fixture(scope="module")
def cluster(workdir):
    """Two shards, one flowscope-server each (each makes its shard's tables); queries go
    to the first, whose Distributed tables read both."""
    ports = [ch_free_port(), ch_free_port()]
    shards = [ClickHouse(cluster_tcp_ports=ports, tcp_port=p) for p in ports]
    servers = []
    try:
        for c in shards:
            c.start()
        for i, c in enumerate(shards):
            servers.append(Server(workdir, "--store", c.store_url("tagc", "flowscope_test"),
                                  data_dir=workdir / f"shard{i}"))
        tagdata.fill_clickhouse(shards, "tagc", cluster=True)
        yield servers[0]
    finally:
        for s in servers:
            s.kill()
        for c in shards:
            c.stop()


def post_query(server, sql):
    return server.json("POST", "/v1/query", urllib.parse.urlencode({"sql": sql}),
                       {"Content-Type": "application/x-www-form-urlencoded"})


def rows(server, sql):
    status, body = post_query(server, sql)
    assert status == 200, (sql, body)
    return body["values"]


RD = "SELECT response_duration FROM l7_flow_log WHERE "

# (sql, exact rows). Rows by response_duration: 100 web-1, 200 web-2, 300 db-0 (payments),
# 400 no pod but the web-svc service, 500 an IP and a process, 600 o'brien, 700 stored
# before the id columns (all NULL), 800 a pod id the dictionary does not know.
CASES = [
    (RD + "auto_service_1 = 'web-svc' ORDER BY 1", [[100], [200], [400]]),
    (RD + "auto_service_1 IN ('payments', '10.0.0.9') ORDER BY 1", [[300], [500]]),
    (RD + "pod_ns_0 IN ('shop', 'default') ORDER BY 1", [[100], [200]]),
    # a row without the tag is NULL: != and NOT IN leave it out, as NOT (=) does
    (RD + "pod_1 != 'web-1' ORDER BY 1", [[200], [300], [600]]),
    (RD + "NOT (pod_1 = 'web-1') ORDER BY 1", [[200], [300], [600]]),
    (RD + "pod_1 NOT IN ('web-1', 'db-0') ORDER BY 1", [[200], [600]]),
    (RD + "NOT (pod_1 = 'web-1' OR response_duration > 250) ORDER BY 1", [[200]]),
    # an id the dictionary does not know (800) is NULL too, as it shows
    (RD + "pod_1 IS NULL ORDER BY 1", [[400], [500], [700], [800]]),
    (RD + "pod_1 IS NOT NULL ORDER BY 1", [[100], [200], [300], [600]]),
    (RD + "pod_1 LIKE 'WEB%' ORDER BY 1", [[100], [200]]),
    (RD + "pod_1 NOT LIKE 'web%' ORDER BY 1", [[300], [600]]),
    (RD + "pod_1 = 'o''brien'", [[600]]),
    # a process's newest name only
    (RD + "process_0 = 'nginx'", []),
    (RD + "process_0 = 'nginx-new'", [[500]]),
    (RD + "auto_service_1 = 'web-svc' OR process_0 LIKE 'nginx%' ORDER BY 1",
     [[100], [200], [400], [500]]),
    # labels: the newest set of the pod, else of its service
    (RD + "k8s.label.app_1 = 'old'", []),
    (RD + "k8s.label.app_1 = 'web' ORDER BY 1", [[100], [200]]),
    (RD + "k8s.label.app_1 = 'web-svc-app'", [[400]]),
    (RD + "k8s.label.tier_1 IS NULL ORDER BY 1",
     [[200], [300], [400], [500], [600], [700], [800]]),
    (RD + "k8s.label.app_1 IN ('web', 'db') AND pod_ns_1 = 'shop' ORDER BY 1",
     [[100], [200], [300]]),
    (RD + "\"k8s.label.a'b_1\" = 'c''d'", [[600]]),
    # names in results: the newest version, NULL for 0, NULL and unknown ids
    ("SELECT response_duration, process_0, auto_service_1, pod_ns_0, pod_ns_1 "
     "FROM l7_flow_log ORDER BY 1",
     [[100, None, "web-svc", "default", "shop"], [200, None, "web-svc", "shop", "shop"],
      [300, None, "payments", None, "shop"], [400, None, "web-svc", None, None],
      [500, "nginx-new", "10.0.0.9", None, None], [600, None, None, None, "default"],
      [700, None, None, None, None], [800, None, None, None, None]]),
    # grouping by a tag groups by id (ORDER BY it orders by id): "none" (0 and NULL
    # alike) is one group, the unknown id another, both shown NULL
    ("SELECT pod_1, Count(row) FROM l7_flow_log GROUP BY pod_1 ORDER BY pod_1",
     [[None, 3], ["web-1", 1], ["web-2", 1], ["db-0", 1], ["o'brien", 1], [None, 1]]),
    # grouping by a label groups by its value: web-1 and web-2 are one group
    ("SELECT k8s.label.app_1, Count(row) FROM l7_flow_log GROUP BY k8s.label.app_1 "
     "ORDER BY 1", [[None, 4], ["db", 1], ["web", 2], ["web-svc-app", 1]]),
    ("SELECT pod_ns_1 AS ns, Count(row) AS n FROM l7_flow_log WHERE pod_ns_1 IS NOT NULL "
     "GROUP BY ns ORDER BY n DESC", [["shop", 3], ["default", 1]]),
    ("SELECT pod_1, k8s.label.app_1, k8s.label.tier_1 FROM l7_flow_log "
     "WHERE pod_1 IS NOT NULL ORDER BY response_duration",
     [["web-1", "web", "fe"], ["web-2", "web", None], ["db-0", "db", None],
      ["o'brien", None, None]]),
    ("SELECT Uniq(pod_ns_1), Count(pod_1), Uniq(k8s.label.app_1) FROM l7_flow_log",
     [[2, 5, 3]]),
]


@pytest.mark.parametrize("backend", ["lite", "click", "cluster"])
def test_answers(backend, request):
    server = request.getfixturevalue(backend)
    for sql, want in CASES:
        assert rows(server, sql) == want, sql


def cli(*args):
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60)


TOOK = re.compile(r"^(\d+) rows? \(\d+ ms\)$")


def test_cli_shows_names(lite):
    p = cli("query", "--server", lite.url,
            "SELECT response_duration AS rd, pod_1, k8s.label.app_1, auto_service_1 "
            "FROM l7_flow_log WHERE pod_ns_1 = 'shop' OR pod_1 IS NULL ORDER BY rd")
    assert p.returncode == 0 and p.stderr == "", p
    lines = p.stdout.split("\n")
    assert TOOK.match(lines[-2]).group(1) == "7", p.stdout
    assert "\n".join(lines[:-2]) == (
        " rd  pod_1  k8s.label.app_1  auto_service_1\n"
        "---  -----  ---------------  --------------\n"
        "100  web-1  web              web-svc\n"
        "200  web-2  web              web-svc\n"
        "300  db-0   db               payments\n"
        "400  NULL   web-svc-app      web-svc\n"
        "500  NULL   NULL             10.0.0.9\n"
        "700  NULL   NULL             NULL\n"
        "800  NULL   NULL             NULL"), p.stdout


def test_show_tags(lite):
    p = cli("query", "--json", "--server", lite.url, "SHOW TAGS FROM l4_flow_log")
    assert p.returncode == 0, p
    values = json.loads(p.stdout)["values"]
    virtual = [v for v in values if v[1] == "tag"]
    assert [v[0] for v in virtual] == [
        f"{n}_{side}" for side in "01" for n in (
            "host", "process", "container", "netns", "custom_service", "pod_cluster",
            "pod_ns", "pod_node", "pod", "pod_group", "pod_service", "auto_service",
            "auto_instance")] + ["k8s.label.KEY_0", "k8s.label.KEY_1"]
    assert values[-len(virtual):] == virtual  # after every stored column
    assert ["pod_1", "tag", "the server's pod"] in virtual
    p = cli("query", "--json", "--server", lite.url, "SHOW TAGS FROM flow_tag.k8s_label")
    assert [v[0] for v in json.loads(p.stdout)["values"]] == ["time", "id", "key", "value"]


@pytest.mark.parametrize("sql, message", [
    ("SELECT pod_2 FROM l7_flow_log",
     "unknown column 'pod_2' in l7_flow_log (near: pod_0, pod_1)"),
    ("SELECT time FROM l7_flow_log WHERE pod_1 > 'a'",
     "tag 'pod_1' in WHERE: a tag may be shown, grouped, ordered, counted (Count, Uniq) or "
     "filtered in WHERE with = != IN LIKE IS NULL against text"),
])
def test_refused(lite, sql, message):
    status, body = post_query(lite, sql)
    assert (status, body) == (400, {"error": message})


def metric(server, name):
    status, data, _ = server.request("GET", "/metrics")
    assert status == 200
    m = re.search(r"^%s (\d+)$" % re.escape(name), data.decode(), re.M)
    assert m, name
    return int(m.group(1))


def test_names_cached(lite):
    sql = ("SELECT pod_ns_1 FROM l7_flow_log WHERE response_duration IN (100, 600) "
           "ORDER BY response_duration")
    assert rows(lite, sql) == [["shop"], ["default"]]
    cached = metric(lite, 'flowscope_query_tag_ids_total{result="cached"}')
    looked = metric(lite, 'flowscope_query_tag_ids_total{result="looked_up"}')
    lookups = metric(lite, 'flowscope_query_tag_dict_lookups_total{result="ok"}')
    assert rows(lite, sql) == [["shop"], ["default"]]
    assert metric(lite, 'flowscope_query_tag_ids_total{result="cached"}') == cached + 2
    assert metric(lite, 'flowscope_query_tag_ids_total{result="looked_up"}') == looked
    assert metric(lite, 'flowscope_query_tag_dict_lookups_total{result="ok"}') == lookups
