# SPDX-License-Identifier: Apache-2.0
"""A small, fixed SmartEncoding data set for the query side's tests (test_tag_query.py).

The flow_tag dictionaries and the tag id columns of l7_flow_log are written directly, into
a SQLite store's day partitions or into ClickHouse tables: the query layer is what the
tests check, not the tagger. Ids are arbitrary integers (the tagger's are hashes,
common/tag_id.h; the query layer never computes one).
"""
import sqlite3
import time
import urllib.parse
import urllib.request

NOW = int(time.time()) - 120
T0 = NOW - 3600

# kinds (enum tag_kind)
IP, HOST, GPROCESS, CUSTOM_SERVICE, POD_CLUSTER, POD_NS, POD, POD_GROUP, POD_SERVICE = \
    1, 2, 3, 6, 7, 8, 10, 11, 12

NS_SHOP, NS_DEF, NS_SHOP2 = 801, 802, 803
P_WEB1, P_WEB2, P_DB0, P_QUOTE = 1001, 1002, 1003, 1004
S_WEB, G_WEB, PR_NGINX, IP9, CS_PAY = 1201, 1101, 301, 101, 601
UNKNOWN = 12345

# (time, id, kind, name, key)
TAG_DICT = [
    (T0, NS_SHOP, POD_NS, "shop", "c1/shop"),
    (T0, NS_DEF, POD_NS, "default", "c1/default"),
    (T0, NS_SHOP2, POD_NS, "shop", "c2/shop"),  # same name, another cluster
    (T0, P_WEB1, POD, "web-1", "c1/shop/web-1"),
    (T0 + 60, P_WEB1, POD, "web-1", "c1/shop/web-1"),  # a daily rewrite: two versions
    (T0, P_WEB2, POD, "web-2", "c1/shop/web-2"),
    (T0, P_DB0, POD, "db-0", "c1/shop/db-0"),
    (T0, P_QUOTE, POD, "o'brien", "c1/default/o'brien"),
    (T0, S_WEB, POD_SERVICE, "web-svc", "c1/shop/web-svc"),
    (T0, G_WEB, POD_GROUP, "web", "c1/shop/Deployment/web"),
    (T0, PR_NGINX, GPROCESS, "nginx", "h1/42/1000"),
    (T0 + 30, PR_NGINX, GPROCESS, "nginx-new", "h1/42/1000"),  # exec'd: newest name wins
    (T0, IP9, IP, "10.0.0.9", "10.0.0.9"),
    (T0, CS_PAY, CUSTOM_SERVICE, "payments", "payments"),
]

# (time, id, key, value): an entity's labels are its rows of its newest time
K8S_LABEL = [
    (T0, P_WEB1, "app", "old"),
    (T0 + 5, P_WEB1, "app", "web"),
    (T0 + 5, P_WEB1, "tier", "fe"),
    (T0, P_WEB2, "app", "web"),
    (T0, P_DB0, "app", "db"),
    (T0, P_QUOTE, "a'b", "c'd"),
    (T0, S_WEB, "app", "web-svc-app"),
]

L7_COLS = ["time", "response_duration", "pod_id_1", "pod_ns_id_1", "pod_service_id_1",
           "auto_service_id_1", "auto_service_type_1", "pod_ns_id_0", "gprocess_id_0"]
# rows 1..8 by response_duration: 100 .. 800; None: a row stored before the id columns
L7_ROWS = [
    (NOW, 100, P_WEB1, NS_SHOP, 0, S_WEB, POD_SERVICE, NS_DEF, 0),
    (NOW, 200, P_WEB2, NS_SHOP, 0, S_WEB, POD_SERVICE, NS_SHOP2, 0),
    (NOW, 300, P_DB0, NS_SHOP, 0, CS_PAY, CUSTOM_SERVICE, 0, 0),
    (NOW, 400, 0, 0, S_WEB, S_WEB, POD_SERVICE, 0, 0),
    (NOW, 500, 0, 0, 0, IP9, IP, 0, PR_NGINX),
    (NOW, 600, P_QUOTE, NS_DEF, 0, 0, 0, 0, 0),
    (NOW, 700, None, None, None, None, None, None, None),
    (NOW, 800, UNKNOWN, 0, 0, 0, 0, 0, 0),
]

TAG_COLS = set(L7_COLS[2:])  # ids and kinds: schema.c's SCHEMA_F_FEW columns

TABLES = {
    "flow_tag_tag_dict": (["time", "id", "kind", "name", "key"], TAG_DICT),
    "flow_tag_k8s_label": (["time", "id", "key", "value"], K8S_LABEL),
    "l7_flow_log": (L7_COLS, L7_ROWS),
}


def is_id_col(table, col):
    """A tag id column of l7_flow_log (schema.c's SCHEMA_F_TAG_ID): not the *_type ones."""
    return table == "l7_flow_log" and "_id_" in col


def local_number(con, tag_id, day):
    """The SQLite store's local number of tag_id (flow_tag_tag_local,
    store/sqlite_tag_local.h), made as the store makes it at insert."""
    con.execute('INSERT INTO flow_tag_tag_local (id, day) VALUES (?, ?) ON CONFLICT (id) '
                'DO UPDATE SET day = max(day, excluded.day)', (tag_id, day))
    return con.execute("SELECT lid FROM flow_tag_tag_local WHERE id = ?", (tag_id,)).fetchone()[0]


def fill_sqlite(db_path):
    """Write every row into day partitions of a SQLite store that is not open: the store
    finds them by name (store_sqlite_sql.h) and builds its views over them when it opens.
    Its rows hold local numbers for tag ids, as the store writes them."""
    con = sqlite3.connect(db_path)
    try:
        for table, (cols, rows) in TABLES.items():
            rows = [tuple(local_number(con, v, r[0] // 86400)
                          if is_id_col(table, c) and v else v for c, v in zip(cols, r))
                    for r in rows]
            for t in sorted({r[0] // 86400 for r in rows}):
                day = time.strftime("%Y%m%d", time.gmtime(t * 86400))
                part = "%s_%s" % (table, day)
                con.execute('CREATE TABLE IF NOT EXISTS "%s" AS SELECT * FROM "%s" WHERE 0'
                            % (part, table))
                mine = [r for r in rows if r[0] // 86400 == t]
                con.executemany('INSERT INTO "%s" (%s) VALUES (%s)' % (
                    part, ", ".join('"%s"' % c for c in cols), ", ".join("?" * len(cols))),
                    mine)
        con.commit()
    finally:
        con.close()


def _literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fill_clickhouse(servers, db, cluster):
    """INSERT every row into ClickHouse: with a cluster, row i into shard i % n's local
    table (a Distributed INSERT would land later, asynchronously)."""
    for table, (cols, rows) in TABLES.items():
        for k, ch in enumerate(servers):
            mine = [r for i, r in enumerate(rows) if i % len(servers) == k]
            if not mine:
                continue
            target = table + ("_local" if cluster else "")
            # tag columns are LowCardinality(Int64): a row older than the column reads 0
            # there, what ALTER TABLE ADD COLUMN gives it, not NULL
            sql = 'INSERT INTO "%s"."%s" (%s) VALUES %s' % (
                db, target, ", ".join('"%s"' % c for c in cols),
                ", ".join("(" + ", ".join(
                    _literal(0 if v is None and table == "l7_flow_log" and c in TAG_COLS else v)
                    for c, v in zip(cols, r)) + ")" for r in mine))
            req = urllib.request.Request(ch.url + "/", data=sql.encode(), method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
