/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/query/sql.c, the flowscope SQL → SQLite translator. Accepted
 * statements are checked against hand-written expectations: the exact backend SQL, the
 * exact parameter list (rendered as "i:60,s:HTTP,d:1.5") and the exact output column
 * names ("a|b"). Refused statements are checked against the exact message users see.
 * Hostile inputs (stacked statements, injection attempts, NUL bytes, non-ASCII bytes,
 * 100k characters, 1000 nested parentheses, long operator chains) must end in a clear
 * refusal or a safe translation, never a crash; every successful translation must hold
 * no single quote, since every user literal travels as a parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/sql.h"

struct ok_case {
	const char *in;
	const char *db;
	const char *sql;
	const char *params;
	const char *columns;
};

struct bad_case {
	const char *in;
	const char *db;
	const char *err;
};

#define LIM "LIMIT ?"
#define CAP "i:10001" /* QUERY_DEFAULT_MAX_ROWS + 1 */

static const struct ok_case ok_cases[] = {
	/* flow_metrics' tables, whose names hold a dot, in each accepted spelling, stored
	 * under names without one (schema.h, store_name). */
	{ "SELECT time, ip4, role, Sum(byte_tx) FROM network.1s WHERE time >= 1652942696 "
	  "GROUP BY time, ip4, role",
	  NULL,
	  "SELECT \"time\", \"ip4\", \"role\", SUM(\"byte_tx\") FROM \"network_1s\" WHERE "
	  "(\"time\" >= ?) GROUP BY \"time\", \"ip4\", \"role\" " LIM,
	  "i:1652942696," CAP, "time|ip4|role|Sum(byte_tx)" },
	{ "SELECT Count(row) FROM \"network.1m\"", "flow_metrics",
	  "SELECT COUNT(*) FROM \"network_1m\" " LIM, CAP, "Count(row)" },
	{ "SELECT Count(row) FROM `network_map.1s`", NULL,
	  "SELECT COUNT(*) FROM \"network_map_1s\" " LIM, CAP, "Count(row)" },
	{ "SELECT Count(row) FROM flow_metrics.\"network_map.1m\"", NULL,
	  "SELECT COUNT(*) FROM \"network_map_1m\" " LIM, CAP, "Count(row)" },
	{ "SELECT ip4_0, ip4_1, Max(rtt_max) FROM flow_metrics.network_map.1m WHERE "
	  "observation_point = 'rest' GROUP BY ip4_0, ip4_1;",
	  "flow_metrics",
	  "SELECT \"ip4_0\", \"ip4_1\", MAX(\"rtt_max\") FROM \"network_map_1m\" WHERE "
	  "(\"observation_point\" = ?) GROUP BY \"ip4_0\", \"ip4_1\" " LIM,
	  "s:rest," CAP, "ip4_0|ip4_1|Max(rtt_max)" },
	{ "SELECT Count(row) FROM \"flow_metrics\".\"network\".`1s`", NULL,
	  "SELECT COUNT(*) FROM \"network_1s\" " LIM, CAP, "Count(row)" },
	{ "SELECT Count(row) FROM network.\"1m\" WHERE time > 1.5", NULL,
	  "SELECT COUNT(*) FROM \"network_1m\" WHERE (\"time\" > ?) " LIM, "d:1.5," CAP,
	  "Count(row)" },
	{ "SELECT Sum(tcp_establish_fail) FROM network_map.1s WHERE time BETWEEN 10 AND .5e2", NULL,
	  "SELECT SUM(\"tcp_establish_fail\") FROM \"network_map_1s\" WHERE (\"time\" "
	  "BETWEEN ? AND ?) " LIM,
	  "i:10,d:50," CAP, "Sum(tcp_establish_fail)" },
	/* l4_flow_log, by either name, through the same schema-driven translation. */
	{ "SELECT server_port, Sum(byte_tx) FROM l4_flow_log GROUP BY server_port", NULL,
	  "SELECT \"server_port\", SUM(\"byte_tx\") FROM \"l4_flow_log\" GROUP BY "
	  "\"server_port\" " LIM,
	  CAP, "server_port|Sum(byte_tx)" },
	{ "SELECT ip4_1, server_port, Count(row) AS flows, Avg(rtt) FROM flow_log.l4_flow_log "
	  "WHERE close_type_name != 'forced_report' AND time >= 1652942600 "
	  "GROUP BY ip4_1, server_port ORDER BY flows DESC LIMIT 3",
	  "flow_log",
	  "SELECT \"ip4_1\", \"server_port\", COUNT(*) AS \"_c3\", AVG(\"rtt\") FROM "
	  "\"l4_flow_log\" WHERE ((\"close_type_name\" != ?) AND (\"time\" >= ?)) GROUP BY "
	  "\"ip4_1\", \"server_port\" ORDER BY \"_c3\" DESC " LIM,
	  "s:forced_report,i:1652942600,i:3", "ip4_1|server_port|flows|Avg(rtt)" },
	{ "SELECT Count(row) FROM l7_flow_log", NULL, "SELECT COUNT(*) FROM \"l7_flow_log\" " LIM,
	  CAP, "Count(row)" },
	{ "select count(*) from flow_log.l7_flow_log;", "flow_log",
	  "SELECT COUNT(*) FROM \"l7_flow_log\" " LIM, CAP, "Count(*)" },
	{ "SELECT time, request_resource FROM l7_flow_log WHERE time >= 1700000000 LIMIT 5",
	  "flow_log",
	  "SELECT \"time\", \"request_resource\" FROM \"l7_flow_log\" WHERE (\"time\" >= ?) " LIM,
	  "i:1700000000,i:5", "time|request_resource" },
	{ "SELECT time(time, 60) AS t, Count(row) AS n FROM l7_flow_log GROUP BY t ORDER BY t",
	  NULL,
	  "SELECT ((\"time\" / ?) * ?) AS \"_c1\", COUNT(*) FROM \"l7_flow_log\" GROUP BY \"_c1\" "
	  "ORDER BY \"_c1\" ASC " LIM,
	  "i:60,i:60," CAP, "t|n" },
	{ "SELECT time(time, 60), Count(row) FROM l7_flow_log GROUP BY time(time, 60)", NULL,
	  "SELECT ((\"time\" / ?) * ?), COUNT(*) FROM \"l7_flow_log\" GROUP BY ((\"time\" / ?) * "
	  "?) " LIM,
	  "i:60,i:60,i:60,i:60," CAP, "time(time, 60)|Count(row)" },
	{ "SELECT request_domain, Avg(response_duration) AS avg_rt FROM l7_flow_log "
	  "GROUP BY request_domain ORDER BY avg_rt DESC LIMIT 10",
	  NULL,
	  "SELECT \"request_domain\", AVG(\"response_duration\") AS \"_c2\" FROM \"l7_flow_log\" "
	  "GROUP BY \"request_domain\" ORDER BY \"_c2\" DESC " LIM,
	  "i:10", "request_domain|avg_rt" },
	{ "SELECT Percentile(response_duration, 99) FROM l7_flow_log", NULL,
	  "SELECT percentile(\"response_duration\", ?) FROM \"l7_flow_log\" " LIM, "d:0.99," CAP,
	  "Percentile(response_duration, 99)" },
	{ "SELECT PERCENTILE(response_duration, 99.9) AS p FROM l7_flow_log", NULL,
	  "SELECT percentile(\"response_duration\", ?) FROM \"l7_flow_log\" " LIM, "d:0.999," CAP,
	  "p" },
	{ "SELECT Sum(request_length), Max(response_length), Min(response_duration), "
	  "Uniq(trace_id) FROM l7_flow_log",
	  NULL,
	  "SELECT SUM(\"request_length\"), MAX(\"response_length\"), MIN(\"response_duration\"), "
	  "COUNT(DISTINCT \"trace_id\") FROM \"l7_flow_log\" " LIM,
	  CAP, "Sum(request_length)|Max(response_length)|Min(response_duration)|Uniq(trace_id)" },
	{ "SELECT Count(trace_id) FROM l7_flow_log WHERE trace_id != ''", NULL,
	  "SELECT COUNT(\"trace_id\") FROM \"l7_flow_log\" WHERE (\"trace_id\" != ?) " LIM,
	  "s:," CAP, "Count(trace_id)" },
	{ "SELECT request_resource FROM l7_flow_log WHERE request_resource = 'it''s'", NULL,
	  "SELECT \"request_resource\" FROM \"l7_flow_log\" WHERE (\"request_resource\" = ?) " LIM,
	  "s:it's," CAP, "request_resource" },
	{ "SELECT time FROM l7_flow_log WHERE a_b = 1 OR 1=1", NULL, NULL, NULL, NULL },
	{ "SELECT type FROM l7_flow_log WHERE type <> 2 AND type = 0 OR type == 1", NULL,
	  "SELECT \"type\" FROM \"l7_flow_log\" WHERE (((\"type\" != ?) AND (\"type\" = ?)) OR "
	  "(\"type\" = ?)) " LIM,
	  "i:2,i:0,i:1," CAP, "type" },
	{ "SELECT type FROM l7_flow_log WHERE type = 0 AND (type = 1 OR type = 2)", NULL,
	  "SELECT \"type\" FROM \"l7_flow_log\" WHERE ((\"type\" = ?) AND ((\"type\" = ?) OR "
	  "(\"type\" = ?))) " LIM,
	  "i:0,i:1,i:2," CAP, "type" },
	{ "SELECT request_length + response_length * 2 AS bytes FROM l7_flow_log", NULL,
	  "SELECT (\"request_length\" + (\"response_length\" * ?)) FROM \"l7_flow_log\" " LIM,
	  "i:2," CAP, "bytes" },
	{ "SELECT (request_length + response_length) % 7, -response_code, - -3 FROM l7_flow_log",
	  NULL,
	  "SELECT ((\"request_length\" + \"response_length\") % ?), (-\"response_code\"), (-?) "
	  "FROM \"l7_flow_log\" " LIM,
	  "i:7,i:-3," CAP, "(request_length + response_length) % 7|-response_code|-(-3)" },
	{ "SELECT time FROM l7_flow_log WHERE response_duration / 1000.5 > -1.5e2", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"response_duration\" / ?) > ?) " LIM,
	  "d:1000.5,d:-150," CAP, "time" },
	{ "SELECT endpoint FROM l7_flow_log WHERE endpoint LIKE '/api/%' AND "
	  "request_domain NOT LIKE '%.internal'",
	  NULL,
	  "SELECT \"endpoint\" FROM \"l7_flow_log\" WHERE ((\"endpoint\" LIKE ?) AND "
	  "(\"request_domain\" NOT LIKE ?)) " LIM,
	  "s:/api/%,s:%.internal," CAP, "endpoint" },
	{ "SELECT response_code FROM l7_flow_log WHERE response_code IN (500, 502, 503) AND "
	  "l7_protocol NOT IN ('HTTP', 'DNS')",
	  NULL,
	  "SELECT \"response_code\" FROM \"l7_flow_log\" WHERE ((\"response_code\" IN (?, ?, ?)) "
	  "AND (\"l7_protocol\" NOT IN (?, ?))) " LIM,
	  "i:500,i:502,i:503,s:HTTP,s:DNS," CAP, "response_code" },
	{ "SELECT trace_id FROM l7_flow_log WHERE response_code IS NULL OR trace_id IS NOT NULL",
	  NULL,
	  "SELECT \"trace_id\" FROM \"l7_flow_log\" WHERE ((\"response_code\" IS NULL) OR "
	  "(\"trace_id\" IS NOT NULL)) " LIM,
	  CAP, "trace_id" },
	{ "SELECT time FROM l7_flow_log WHERE time BETWEEN 10 AND 20 AND NOT type NOT BETWEEN 0 "
	  "AND 1",
	  NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"time\" BETWEEN ? AND ?) AND (NOT "
	  "(\"type\" NOT BETWEEN ? AND ?))) " LIM,
	  "i:10,i:20,i:0,i:1," CAP, "time" },
	{ "SELECT `time`, \"span_id\" AS \"my span\" FROM `l7_flow_log`", NULL,
	  "SELECT \"time\", \"span_id\" FROM \"l7_flow_log\" " LIM, CAP, "time|my span" },
	{ "  -- leading comment\n SELECT /* inline */ time FROM l7_flow_log -- trailing\n;;", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" " LIM, CAP, "time" },
	{ "SELECT time FROM l7_flow_log LIMIT 20 OFFSET 40", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" LIMIT ? OFFSET ?", "i:20,i:40", "time" },
	{ "SELECT time FROM l7_flow_log LIMIT 40, 20", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" LIMIT ? OFFSET ?", "i:20,i:40", "time" },
	{ "SELECT time FROM l7_flow_log LIMIT 10000", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" " LIM, "i:10000", "time" },
	{ "SELECT time FROM l7_flow_log LIMIT 10001", NULL,
	  "SELECT \"time\" FROM \"l7_flow_log\" " LIM, CAP, "time" },
	{ "SELECT time FROM l7_flow_log LIMIT 0", NULL, "SELECT \"time\" FROM \"l7_flow_log\" " LIM,
	  "i:0", "time" },
	{ "SELECT request_domain AS d, Count(row) FROM l7_flow_log GROUP BY 1 ORDER BY 2 DESC, d",
	  NULL,
	  "SELECT \"request_domain\" AS \"_c1\", COUNT(*) AS \"_c2\" FROM \"l7_flow_log\" GROUP BY "
	  "\"_c1\" ORDER BY \"_c2\" DESC, \"_c1\" ASC " LIM,
	  CAP, "d|Count(row)" },
	{ "SELECT time(time, 3600) AS time, Sum(request_length) / Count(row) FROM l7_flow_log "
	  "WHERE time > 0 GROUP BY time",
	  NULL,
	  "SELECT ((\"time\" / ?) * ?) AS \"_c1\", (SUM(\"request_length\") / COUNT(*)) FROM "
	  "\"l7_flow_log\" WHERE (\"time\" > ?) GROUP BY \"_c1\" " LIM,
	  "i:3600,i:3600,i:0," CAP, "time|Sum(request_length) / Count(row)" },
	{ "SELECT Max(request_domain), Count(row) + 1 FROM l7_flow_log ORDER BY Count(row) DESC",
	  NULL,
	  "SELECT MAX(\"request_domain\"), (COUNT(*) + ?) FROM \"l7_flow_log\" ORDER BY COUNT(*) "
	  "DESC " LIM,
	  "i:1," CAP, "Max(request_domain)|Count(row) + 1" },
	{ "SELECT 'a' AS x, NULL FROM l7_flow_log WHERE request_resource = '' OR 1=1 --'", NULL,
	  "SELECT ?, NULL FROM \"l7_flow_log\" WHERE ((\"request_resource\" = ?) OR (? = ?)) " LIM,
	  "s:a,s:,i:1,i:1," CAP, "x|NULL" },
	{ "SELECT request_resource FROM l7_flow_log WHERE request_resource = '\xc3\xa9t\xc3\xa9 "
	  "\xe2\x9c\x93'",
	  NULL,
	  "SELECT \"request_resource\" FROM \"l7_flow_log\" WHERE (\"request_resource\" = ?) " LIM,
	  "s:\xc3\xa9t\xc3\xa9 \xe2\x9c\x93," CAP, "request_resource" },
	{ "SELECT request_resource FROM l7_flow_log WHERE request_resource = '\"; DROP TABLE x; "
	  "--'",
	  NULL,
	  "SELECT \"request_resource\" FROM \"l7_flow_log\" WHERE (\"request_resource\" = ?) " LIM,
	  "s:\"; DROP TABLE x; --," CAP, "request_resource" },
};

static const struct bad_case bad_cases[] = {
	{ "", NULL, "empty query" },
	{ " -- nothing\n ; ", NULL, "empty query" },
	{ "SELECT 1; DROP TABLE x", NULL, "several statements are not allowed" },
	{ "SELECT time FROM l7_flow_log; SELECT 1", NULL, "several statements are not allowed" },
	{ "DROP TABLE l7_flow_log", NULL, "only SELECT and SHOW are allowed" },
	{ "INSERT INTO l7_flow_log VALUES (1)", NULL, "only SELECT and SHOW are allowed" },
	{ "delete from l7_flow_log", NULL, "only SELECT and SHOW are allowed" },
	{ "PRAGMA writable_schema = 1", NULL, "only SELECT and SHOW are allowed" },
	{ "ATTACH DATABASE '/tmp/x' AS x", NULL, "only SELECT and SHOW are allowed" },
	{ "WITH x AS (SELECT 1) SELECT * FROM x", NULL, "only SELECT and SHOW are allowed" },
	{ "SELECT * FROM (SELECT * FROM l7_flow_log)", NULL, "subqueries are not supported" },
	{ "SELECT time FROM l7_flow_log WHERE time IN (SELECT time FROM l7_flow_log)", NULL,
	  "subqueries are not supported" },
	{ "SELECT (SELECT 1) FROM l7_flow_log", NULL, "subqueries are not supported" },
	{ "SELECT foo FROM l7_flow_log", NULL, "unknown column 'foo' in l7_flow_log" },
	{ "SELECT Time FROM l7_flow_log", NULL,
	  "unknown column 'Time' in l7_flow_log (near: time)" },
	{ "SELECT time FROM l7_flow_log WHERE \"x\" = 1", NULL,
	  "unknown column 'x' in l7_flow_log (near: x_request_id_0, x_request_id_1)" },
	{ "SELECT * FROM x", NULL,
	  "unknown table 'x' (tables: l7_flow_log, l4_flow_log, network.1s, network.1m, "
	  "network_map.1s, network_map.1m, tag_dict, tag_link, k8s_label, "
	  "process, host)" },
	{ "SELECT * FROM other.l7_flow_log", "flow_log",
	  "database 'other' does not match the request's db 'flow_log'" },
	{ "SELECT * FROM l7_flow_log", "metrics",
	  "unknown database 'metrics' (databases: flow_log, flow_metrics, flow_tag)" },
	{ "SELECT sleep(1) FROM l7_flow_log", NULL, "unknown function 'sleep'" },
	{ "SELECT load_extension('x') FROM l7_flow_log", NULL,
	  "unknown function 'load_extension'" },
	{ "SELECT Sum(Avg(request_length)) FROM l7_flow_log", NULL,
	  "aggregate function Avg inside Sum is not allowed" },
	{ "SELECT request_domain, Count(row) FROM l7_flow_log", NULL,
	  "column 'request_domain' must be in GROUP BY or inside an aggregate function" },
	{ "SELECT endpoint FROM l7_flow_log GROUP BY request_domain", NULL,
	  "column 'endpoint' must be in GROUP BY or inside an aggregate function" },
	{ "SELECT *, Count(row) FROM l7_flow_log", NULL,
	  "SELECT * cannot be combined with aggregation" },
	{ "SELECT time FROM l7_flow_log WHERE Count(row) > 1", NULL,
	  "aggregate functions are not allowed in WHERE" },
	{ "SELECT Count(row) AS n FROM l7_flow_log GROUP BY n", NULL,
	  "aggregate functions are not allowed in GROUP BY" },
	{ "SELECT time FROM l7_flow_log LIMIT -1", NULL, "LIMIT must be a non-negative integer" },
	{ "SELECT time FROM l7_flow_log LIMIT 1.5", NULL, "LIMIT must be a non-negative integer" },
	{ "SELECT time FROM l7_flow_log LIMIT 'x'", NULL, "LIMIT must be a non-negative integer" },
	{ "SELECT time FROM l7_flow_log LIMIT 5 OFFSET x", NULL,
	  "OFFSET must be a non-negative integer" },
	{ "SELECT Percentile(response_duration) FROM l7_flow_log", NULL,
	  "Percentile takes 2 arguments (got 1)" },
	{ "SELECT Sum(request_length, response_length) FROM l7_flow_log", NULL,
	  "Sum takes 1 argument (got 2)" },
	{ "SELECT Percentile(response_duration, 101) FROM l7_flow_log", NULL,
	  "Percentile: p must be a number between 0 and 100" },
	{ "SELECT Percentile(response_duration, response_code) FROM l7_flow_log", NULL,
	  "Percentile: p must be a number between 0 and 100" },
	{ "SELECT time(time, 0) FROM l7_flow_log", NULL,
	  "time: bucket size must be a positive integer" },
	{ "SELECT time(request_domain, 60) FROM l7_flow_log", NULL,
	  "time: first argument must be an integer column" },
	{ "SELECT Avg(request_resource) FROM l7_flow_log", NULL, "Avg needs a numeric argument" },
	{ "SELECT time FROM l7_flow_log ORDER BY 3", NULL,
	  "ORDER BY position 3 is out of range (1..1)" },
	{ "SELECT time FROM l7_flow_log WHERE request_resource = 'abc", NULL,
	  "unterminated string literal" },
	{ "SELECT time FROM l7_flow_log /* open", NULL, "unterminated comment" },
	{ "SELECT time FROM l7_flow_log WHERE time > 1 || 2", NULL,
	  "unexpected character '|' at offset 44" },
	{ "SELECT \xc3\xa9 FROM l7_flow_log", NULL, "unexpected character 0xc3 at offset 7" },
	{ "SELECT time l7_flow_log", NULL, "expected FROM near 'l7_flow_log'" },
	{ "SELECT time FROM l7_flow_log WHERE", NULL, "expected an expression near end of query" },
	{ "SELECT time FROM l7_flow_log WHERE (time > 1", NULL, "expected ')' near end of query" },
	{ "SELECT time FROM l7_flow_log HAVING time > 1", NULL, "HAVING is not supported" },
	{ "SELECT time FROM l7_flow_log, l7_flow_log", NULL, "joins are not supported" },
	{ "SELECT time FROM l7_flow_log WHERE time > 99999999999999999999", NULL,
	  "integer literal '99999999999999999999' out of range" },
	{ "SELECT time AS a, type AS a FROM l7_flow_log", NULL, "duplicate alias 'a'" },
	{ "SHOW INDEXES", NULL, "expected DATABASES, TABLES, TAGS or METRICS near 'INDEXES'" },
	{ "SHOW TAGS FROM nope", NULL,
	  "unknown table 'nope' (tables: l7_flow_log, l4_flow_log, network.1s, network.1m, "
	  "network_map.1s, network_map.1m, tag_dict, tag_link, k8s_label, "
	  "process, host)" },
	{ "SELECT time FROM flow_log.l5_flow_log", NULL,
	  "unknown table 'l5_flow_log' (tables: l7_flow_log, l4_flow_log)" },
	/* flow_metrics' dotted names: each part a name, at most db.table.suffix, no spaces. */
	{ "SELECT time FROM network.1h", NULL,
	  "unknown table 'network.1h' (tables: l7_flow_log, l4_flow_log, network.1s, network.1m, "
	  "network_map.1s, network_map.1m, tag_dict, tag_link, k8s_label, "
	  "process, host)" },
	{ "SELECT time FROM network.1s", "flow_log",
	  "table 'network.1s' is in database 'flow_metrics', not the request's db 'flow_log'" },
	{ "SHOW METRICS FROM network_map.1m", "flow_log",
	  "table 'network_map.1m' is in database 'flow_metrics', not the request's db 'flow_log'" },
	{ "SELECT time FROM flow_log.network.1s", NULL,
	  "unknown table 'network.1s' (tables: l7_flow_log, l4_flow_log)" },
	{ "SELECT time FROM flow_metrics.l4_flow_log", NULL,
	  "unknown table 'l4_flow_log' (tables: network.1s, network.1m, network_map.1s, "
	  "network_map.1m)" },
	{ "SELECT time FROM x.flow_metrics.network.1s", NULL,
	  "too many parts in a table name near '.'" },
	{ "SELECT time FROM network. 1s", NULL, "malformed number '1s'" },
	{ "SELECT time FROM network .1s", NULL, "malformed number '.1s'" },
	{ "SELECT time FROM network_1s", NULL,
	  "unknown table 'network_1s' (tables: l7_flow_log, l4_flow_log, network.1s, network.1m, "
	  "network_map.1s, network_map.1m, tag_dict, tag_link, k8s_label, "
	  "process, host)" },
	{ "SELECT time FROM \"network.1s\".x", NULL,
	  "unknown table 'network.1s.x' (tables: l7_flow_log, l4_flow_log, network.1s, network.1m, "
	  "network_map.1s, network_map.1m, tag_dict, tag_link, k8s_label, "
	  "process, host)" },
	{ "SELECT ip4_0 FROM network.1s", NULL,
	  "unknown column 'ip4_0' in network.1s (near: ip4)" },
	{ "SELECT role FROM network_map.1s", NULL, "unknown column 'role' in network_map.1s" },
	{ "SELECT network.1s FROM network.1s", NULL, "qualified column names are not supported" },
	{ "SELECT time FROM l7_flow_log WHERE time > l7_flow_log.1", NULL,
	  "qualified column names are not supported" },
	/* l4_flow_log has its own columns, and not l7's. */
	{ "SELECT request_resource FROM l4_flow_log", NULL,
	  "unknown column 'request_resource' in l4_flow_log" },
	{ "SELECT byte_tx FROM l7_flow_log", NULL, "unknown column 'byte_tx' in l7_flow_log" },
};

static void params_text(const struct query_plan *p, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->nparams && n < size; i++) {
		const struct query_param *q = &p->params[i];
		const char *sep = i ? "," : "";

		if (q->type == QUERY_PARAM_INT)
			n += (size_t)snprintf(buf + n, size - n, "%si:%lld", sep, (long long)q->i);
		else if (q->type == QUERY_PARAM_REAL)
			n += (size_t)snprintf(buf + n, size - n, "%sd:%g", sep, q->d);
		else
			n += (size_t)snprintf(buf + n, size - n, "%ss:%s", sep, q->s);
	}
}

static void columns_text(const struct query_plan *p, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->ncolumns && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "|" : "", p->columns[i]);
}

/*
 * A span list (ORDER BY start_time, a LIMIT, no aggregate) keeps the time index out of
 * the plan (+"time") and bounds start_time by the range's end, so the store walks its
 * start_time index and stops after LIMIT rows. The time range goes to the store too.
 */
static void test_span_list_and_time_range(void **state)
{
	struct query_plan plan;
	char err[256], buf[512];

	(void)state;
	assert_int_equal(query_translate("SELECT request_resource FROM l7_flow_log WHERE time >= "
					 "1700000000 AND time < 1700000900 AND response_code = 200 "
					 "ORDER BY start_time DESC LIMIT 100",
					 NULL, &plan, err, sizeof(err)),
			 0);
	assert_string_equal(plan.sql,
			    "SELECT \"request_resource\" FROM \"l7_flow_log\" WHERE (((+\"time\" "
			    ">= ?) AND (+\"time\" < ?)) AND (\"response_code\" = ?)) AND "
			    "(\"start_time\" < ?) ORDER BY \"start_time\" DESC LIMIT ?");
	params_text(&plan, buf, sizeof(buf));
	assert_string_equal(buf, "i:1700000000,i:1700000900,i:200,i:1700000900000000,i:100");
	assert_true(plan.has_time_range);
	assert_true(plan.time_lo == 1700000000 && plan.time_hi == 1700000900);
	query_plan_free(&plan);

	/* An aggregate is no span list: the time index stays usable; the range still goes. */
	assert_int_equal(query_translate("SELECT Count(row) FROM l7_flow_log WHERE 1700000000 <= "
					 "time AND time <= 1700000099",
					 NULL, &plan, err, sizeof(err)),
			 0);
	assert_null(strstr(plan.sql, "+\"time\""));
	assert_true(plan.has_time_range);
	assert_true(plan.time_lo == 1700000000 && plan.time_hi == 1700000100);
	query_plan_free(&plan);

	/* BETWEEN and =; the tightest bounds win. */
	assert_int_equal(
		query_translate("SELECT time FROM l7_flow_log WHERE time BETWEEN 10 AND 20 "
				"AND time > 12 AND time = 15",
				NULL, &plan, err, sizeof(err)),
		0);
	assert_true(plan.has_time_range);
	assert_true(plan.time_lo == 15 && plan.time_hi == 16);
	query_plan_free(&plan);

	/* A sparse column's lookup carries the condition of its partial index. */
	assert_int_equal(query_translate("SELECT time FROM l7_flow_log WHERE 'abc' = trace_id AND "
					 "x_request_id_0 = 'r1' AND request_domain = 'd' AND "
					 "trace_id != 'x' AND span_id = ''",
					 NULL, &plan, err, sizeof(err)),
			 0);
	assert_string_equal(
		plan.sql, "SELECT \"time\" FROM \"l7_flow_log\" WHERE (((((? = \"trace_id\") AND "
			  "(\"x_request_id_0\" = ?)) AND (\"request_domain\" = ?)) AND "
			  "(\"trace_id\" != ?)) AND (\"span_id\" = ?)) AND (length(\"trace_id\") > "
			  "0) AND (length(\"x_request_id_0\") > 0) LIMIT ?");
	query_plan_free(&plan);

	/* IN lists of non-empty values carry it inline, under OR too; integers' is != 0. */
	assert_int_equal(
		query_translate("SELECT time FROM l7_flow_log WHERE trace_id IN ('a', 'b') "
				"OR syscall_trace_id_request IN (5, 6) OR request_id IN (0) "
				"OR x_request_id_1 IN ('', 'x') OR _id = 7",
				NULL, &plan, err, sizeof(err)),
		0);
	assert_string_equal(
		plan.sql,
		"SELECT \"time\" FROM \"l7_flow_log\" WHERE (((((\"trace_id\" IN (?, ?) "
		"AND (length(\"trace_id\") > 0)) OR (\"syscall_trace_id_request\" IN (?, "
		"?) AND (\"syscall_trace_id_request\" != 0))) OR (\"request_id\" IN (?))) "
		"OR (\"x_request_id_1\" IN (?, ?))) OR (\"_id\" = ?)) LIMIT ?");
	query_plan_free(&plan);
	assert_int_equal(query_translate("SELECT time FROM l7_flow_log WHERE request_id = 53", NULL,
					 &plan, err, sizeof(err)),
			 0);
	assert_string_equal(plan.sql,
			    "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"request_id\" = "
			    "?) AND (\"request_id\" != 0) LIMIT ?");
	query_plan_free(&plan);

	/* Under OR, or on another column, there is no range. */
	assert_int_equal(query_translate("SELECT time FROM l7_flow_log WHERE time > 10 OR "
					 "response_code = 1",
					 NULL, &plan, err, sizeof(err)),
			 0);
	assert_false(plan.has_time_range);
	query_plan_free(&plan);
	assert_int_equal(query_translate("SELECT time FROM l7_flow_log WHERE start_time > 10", NULL,
					 &plan, err, sizeof(err)),
			 0);
	assert_false(plan.has_time_range);
	query_plan_free(&plan);
}

/*
 * l4_flow_log: its start_time has no index to walk, so a list ordered by it keeps the
 * time index usable (no +"time", no start_time bound); the time range still goes to the
 * store; no sparse guard (it has no sparse column).
 */
static void test_l4_no_span_rewrite(void **state)
{
	struct query_plan plan;
	char err[256], buf[512];

	(void)state;
	assert_int_equal(
		query_translate("SELECT flow_id, close_type_name FROM flow_log.l4_flow_log "
				"WHERE time >= 1652942600 AND time < 1652942700 AND "
				"mac_0 = 'ee:ff:ff:ff:ff:ff' ORDER BY start_time DESC "
				"LIMIT 100",
				"flow_log", &plan, err, sizeof(err)),
		0);
	assert_string_equal(plan.sql, "SELECT \"flow_id\", \"close_type_name\" FROM "
				      "\"l4_flow_log\" WHERE (((\"time\" >= ?) AND (\"time\" < ?)) "
				      "AND (\"mac_0\" = ?)) ORDER BY \"start_time\" DESC LIMIT ?");
	params_text(&plan, buf, sizeof(buf));
	assert_string_equal(buf, "i:1652942600,i:1652942700,s:ee:ff:ff:ff:ff:ff,i:100");
	assert_true(plan.has_time_range);
	assert_true(plan.time_lo == 1652942600 && plan.time_hi == 1652942700);
	assert_ptr_equal(plan.table, schema_find_table("flow_log", "l4_flow_log"));
	query_plan_free(&plan);

	/* The same list over l7_flow_log is rewritten (test_span_list_and_time_range). */
	assert_int_equal(query_translate("SELECT endpoint FROM l7_flow_log WHERE time >= 1 "
					 "ORDER BY start_time LIMIT 5",
					 NULL, &plan, err, sizeof(err)),
			 0);
	assert_non_null(strstr(plan.sql, "+\"time\""));
	query_plan_free(&plan);
}

static void test_accepted(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct query_plan plan;
		char err[256], buf[4096];
		int rc = query_translate(c->in, c->db, &plan, err, sizeof(err));

		if (!c->sql) {
			/* placeholder rows: refused, as a_b is no column */
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(err, "unknown column 'a_b' in l7_flow_log");
			continue;
		}
		if (rc)
			print_error("case %zu: %s -> %s\n", i, c->in, err);
		assert_int_equal(rc, 0);
		assert_false(plan.is_show);
		assert_string_equal(plan.sql, c->sql);
		assert_null(strchr(plan.sql, '\''));
		params_text(&plan, buf, sizeof(buf));
		assert_string_equal(buf, c->params);
		columns_text(&plan, buf, sizeof(buf));
		assert_string_equal(buf, c->columns);
		query_plan_free(&plan);
		query_plan_free(&plan); /* idempotent */
	}
}

/* The ClickHouse dialect: the same plans, written for ClickHouse (sql.h). */
static const struct ok_case ch_cases[] = {
	/* Integer division and modulo: intDiv, NULL for a zero divisor (never raised). */
	{ "SELECT response_length / 2, response_length % 3 FROM l7_flow_log", NULL,
	  "SELECT if((?) = 0, NULL, intDiv(\"response_length\", if((?) = 0, 1, ?))), "
	  "if((?) = 0, NULL, (\"response_length\" % if((?) = 0, 1, ?))) FROM \"l7_flow_log\" " LIM,
	  "i:2,i:2,i:2,i:3,i:3,i:3," CAP, "response_length / 2|response_length % 3" },
	/* Real division stays real; Avg is real. */
	{ "SELECT Avg(response_length) / 2.5 FROM l7_flow_log", NULL,
	  "SELECT if((?) = 0, NULL, (AVG(toNullable(\"response_length\")) / if((?) = 0, 1, ?))) "
	  "FROM \"l7_flow_log\" " LIM,
	  "d:2.5,d:2.5,d:2.5," CAP, "Avg(response_length) / 2.5" },
	/* time(): integer buckets. Aggregates are NULL over no values, as in SQLite. */
	{ "SELECT time(time, 60) AS t, Sum(request_length), Max(time), Count(row) FROM "
	  "l7_flow_log GROUP BY t ORDER BY t",
	  NULL,
	  "SELECT (intDiv(\"time\", ?) * ?) AS \"_c1\", SUM(toNullable(\"request_length\")), "
	  "MAX(toNullable(\"time\")), COUNT(*) FROM \"l7_flow_log\" GROUP BY \"_c1\" ORDER BY "
	  "\"_c1\" ASC NULLS FIRST " LIM,
	  "i:60,i:60," CAP, "t|Sum(request_length)|Max(time)|Count(row)" },
	/* LIKE: ASCII case-insensitive, backslash ordinary. */
	{ "SELECT endpoint FROM l7_flow_log WHERE endpoint LIKE '/API%' AND request_type NOT "
	  "LIKE 'g_t' ORDER BY endpoint DESC",
	  NULL,
	  "SELECT \"endpoint\" FROM \"l7_flow_log\" WHERE ((lower(\"endpoint\") LIKE "
	  "replaceAll(lower(?), ?, ?)) AND (lower(\"request_type\") NOT LIKE "
	  "replaceAll(lower(?), ?, ?))) ORDER BY \"endpoint\" DESC NULLS LAST " LIM,
	  "s:/API%,s:\\,s:\\\\,s:g_t,s:\\,s:\\\\," CAP, "endpoint" },
	/* NOT BETWEEN, percentile left to the store, Uniq. */
	{ "SELECT Percentile(response_duration, 95), Uniq(ip4_0) FROM l7_flow_log WHERE "
	  "server_port NOT BETWEEN 1 AND 1024",
	  NULL,
	  "SELECT percentile(\"response_duration\", ?), COUNT(DISTINCT \"ip4_0\") FROM "
	  "\"l7_flow_log\" WHERE (NOT (\"server_port\" BETWEEN ? AND ?)) " LIM,
	  "d:0.95,i:1,i:1024," CAP, "Percentile(response_duration, 95)|Uniq(ip4_0)" },
	/* A span list: no +"time" and no sparse guard (no partial indexes there); the
	 * start_time bound stays, it changes no answer. */
	{ "SELECT trace_id FROM l7_flow_log WHERE time >= 100 AND time < 200 AND trace_id = 'x' "
	  "ORDER BY start_time LIMIT 5 OFFSET 2",
	  NULL,
	  "SELECT \"trace_id\" FROM \"l7_flow_log\" WHERE (((\"time\" >= ?) AND (\"time\" < ?)) "
	  "AND (\"trace_id\" = ?)) AND (\"start_time\" < ?) ORDER BY \"start_time\" ASC NULLS "
	  "FIRST LIMIT ? OFFSET ?",
	  "i:100,i:200,s:x,i:200000000,i:5,i:2", "trace_id" },
};

static void test_clickhouse_dialect(void **state)
{
	struct query_limits lim = { .dialect = QUERY_DIALECT_CLICKHOUSE };

	(void)state;
	for (size_t i = 0; i < sizeof(ch_cases) / sizeof(ch_cases[0]); i++) {
		const struct ok_case *c = &ch_cases[i];
		struct query_plan plan;
		char err[256], buf[4096];
		int rc = query_translate_n(c->in, strlen(c->in), c->db, &lim, &plan, err,
					   sizeof(err));

		if (rc)
			print_error("case %zu: %s -> %s\n", i, c->in, err);
		assert_int_equal(rc, 0);
		if (strcmp(plan.sql, c->sql))
			print_error("case %zu:\n got  %s\n want %s\n", i, plan.sql, c->sql);
		assert_string_equal(plan.sql, c->sql);
		assert_null(strchr(plan.sql, '\''));
		params_text(&plan, buf, sizeof(buf));
		assert_string_equal(buf, c->params);
		columns_text(&plan, buf, sizeof(buf));
		assert_string_equal(buf, c->columns);
		query_plan_free(&plan);
	}
	/* The default dialect is SQLite's, byte for byte (test_accepted's cases). */
	lim.dialect = QUERY_DIALECT_SQLITE;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct query_plan plan;
		char err[256];

		if (!ok_cases[i].sql)
			continue;
		assert_int_equal(query_translate_n(ok_cases[i].in, strlen(ok_cases[i].in),
						   ok_cases[i].db, &lim, &plan, err, sizeof(err)),
				 0);
		assert_string_equal(plan.sql, ok_cases[i].sql);
		query_plan_free(&plan);
	}
}

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct query_plan plan;
		char err[256];
		int rc = query_translate(c->in, c->db, &plan, err, sizeof(err));

		if (rc == 0)
			print_error("case %zu accepted: %s -> %s\n", i, c->in, plan.sql);
		assert_int_equal(rc, -EINVAL);
		assert_string_equal(err, c->err);
		assert_null(plan.sql);
		assert_int_equal(plan.ncolumns, 0);
		assert_int_equal(plan.nparams, 0);
		query_plan_free(&plan);
	}
}

static void test_select_star(void **state)
{
	struct query_plan plan;
	char err[256];
	const struct schema_table *t = schema_find_table("flow_log", "l7_flow_log");
	char want[16384] = "SELECT ";

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < t->ncolumns; i++) {
		const char *n = t->columns[i].name;
		char col[256];

		/* SQLite: a tag id column shows the id its store-local number stands for */
		if (t->columns[i].flags & SCHEMA_F_TAG_ID)
			snprintf(col, sizeof(col),
				 "coalesce((SELECT \"id\" FROM main.\"flow_tag_tag_local\" WHERE "
				 "\"lid\" = \"%s\"), \"%s\") AS \"%s\"",
				 n, n, n);
		else
			snprintf(col, sizeof(col), "\"%s\"", n);
		strcat(want, i ? ", " : "");
		strcat(want, col);
	}
	strcat(want, " FROM \"l7_flow_log\" WHERE (\"type\" = ?) LIMIT ?");
	assert_int_equal(query_translate("SELECT * FROM l7_flow_log WHERE type = 1", "flow_log",
					 &plan, err, sizeof(err)),
			 0);
	assert_string_equal(plan.sql, want);
	assert_int_equal(plan.ncolumns, t->ncolumns);
	for (size_t i = 0; i < t->ncolumns; i++)
		assert_string_equal(plan.columns[i], t->columns[i].name);
	assert_ptr_equal(plan.table, t);
	assert_true(plan.truncatable);
	assert_int_equal(plan.max_rows, QUERY_DEFAULT_MAX_ROWS);
	query_plan_free(&plan);
}

static void test_show(void **state)
{
	struct query_plan plan;
	char err[256];
	const struct schema_table *t = schema_find_table(NULL, "l7_flow_log");
	size_t tags = 0, metrics = 0;

	(void)state;
	assert_int_equal(query_translate("show tables", "flow_log", &plan, err, sizeof(err)), 0);
	assert_true(plan.is_show);
	assert_null(plan.sql);
	assert_int_equal(plan.ncolumns, 2);
	assert_string_equal(plan.columns[0], "name");
	assert_string_equal(plan.columns[1], "db");
	assert_int_equal(plan.nrows, 2);
	assert_string_equal(plan.rows[0], "l7_flow_log");
	assert_string_equal(plan.rows[1], "flow_log");
	assert_string_equal(plan.rows[2], "l4_flow_log");
	assert_string_equal(plan.rows[3], "flow_log");
	query_plan_free(&plan);

	/* Every database's tables without a db, flow_metrics' alone with it. */
	assert_int_equal(query_translate("SHOW TABLES", NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nrows, 11);
	{
		static const char *const want[] = {
			"l7_flow_log",	  "flow_log",	  "l4_flow_log",    "flow_log",
			"network.1s",	  "flow_metrics", "network.1m",	    "flow_metrics",
			"network_map.1s", "flow_metrics", "network_map.1m", "flow_metrics",
			"tag_dict",	  "flow_tag",	  "tag_link",	    "flow_tag",
			"k8s_label",	  "flow_tag",	  "process",	    "flow_tag",
			"host",		  "flow_tag",
		};

		for (size_t i = 0; i < 22; i++)
			assert_string_equal(plan.rows[i], want[i]);
	}
	query_plan_free(&plan);
	assert_int_equal(query_translate("SHOW TABLES", "flow_metrics", &plan, err, sizeof(err)),
			 0);
	assert_int_equal(plan.nrows, 4);
	assert_string_equal(plan.rows[0], "network.1s");
	assert_string_equal(plan.rows[6], "network_map.1m");
	query_plan_free(&plan);

	assert_int_equal(query_translate("SHOW DATABASES;", NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.ncolumns, 1);
	assert_int_equal(plan.nrows, 3);
	assert_string_equal(plan.rows[0], "flow_log");
	assert_string_equal(plan.rows[1], "flow_metrics");
	assert_string_equal(plan.rows[2], "flow_tag");
	query_plan_free(&plan);

	for (size_t i = 0; i < t->ncolumns; i++)
		*(t->columns[i].kind == SCHEMA_TAG ? &tags : &metrics) += 1;

	assert_int_equal(query_translate("SHOW TAGS FROM flow_log.l7_flow_log", "flow_log", &plan,
					 err, sizeof(err)),
			 0);
	assert_int_equal(plan.ncolumns, 3);
	assert_string_equal(plan.columns[0], "name");
	assert_string_equal(plan.columns[1], "type");
	assert_string_equal(plan.columns[2], "help");
	/* the stored tags, then 26 virtual tag columns and 2 label patterns (test_query_tags) */
	assert_int_equal(plan.nrows, tags + 28);
	assert_string_equal(plan.rows[0], "time");
	assert_string_equal(plan.rows[1], "int");
	assert_string_equal(plan.rows[2], "end of the exchange, Unix seconds");
	query_plan_free(&plan);

	assert_int_equal(
		query_translate("show metrics from l7_flow_log", NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nrows, metrics);
	assert_string_equal(plan.rows[0], "response_duration");
	assert_string_equal(plan.rows[1], "int");
	query_plan_free(&plan);

	/* l4_flow_log: counters and latencies are metrics, the rest tags. */
	t = schema_find_table("flow_log", "l4_flow_log");
	assert_non_null(t);
	tags = metrics = 0;
	for (size_t i = 0; i < t->ncolumns; i++)
		*(t->columns[i].kind == SCHEMA_TAG ? &tags : &metrics) += 1;
	assert_int_equal(tags, 61); /* 31 of the record, 2 x 15 tag ids */
	assert_int_equal(metrics, 33);
	assert_int_equal(query_translate("SHOW TAGS FROM flow_log.l4_flow_log", "flow_log", &plan,
					 err, sizeof(err)),
			 0);
	assert_int_equal(plan.nrows, tags + 28);
	assert_string_equal(plan.rows[0], "time");
	assert_string_equal(plan.rows[3 * 5], "close_type_name");
	assert_string_equal(plan.rows[3 * 5 + 1], "text");
	query_plan_free(&plan);
	assert_int_equal(
		query_translate("SHOW METRICS FROM l4_flow_log", NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nrows, metrics);
	assert_string_equal(plan.rows[0], "duration");
	assert_string_equal(plan.rows[3], "packet_tx");
	assert_string_equal(plan.rows[3 * (metrics - 1)], "rst_count");
	query_plan_free(&plan);

	/* The network tables: their keys are tags, every counter (in the agent's order) a
	 * metric; network has ip4/ip6 and role, network_map both ends and the observation
	 * point. */
	assert_int_equal(query_translate("SHOW TAGS FROM flow_metrics.network.1s", NULL, &plan, err,
					 sizeof(err)),
			 0);
	{
		static const char *const want[] = { "time",	    "ip4",	   "ip6",
						    "role",	    "server_port", "protocol",
						    "signal_source" };

		assert_int_equal(plan.nrows, 7);
		for (size_t i = 0; i < 7; i++)
			assert_string_equal(plan.rows[3 * i], want[i]);
	}
	query_plan_free(&plan);
	assert_int_equal(
		query_translate("SHOW TAGS FROM \"network_map.1m\"", NULL, &plan, err, sizeof(err)),
		0);
	{
		static const char *const want[] = { "time",	   "ip4_0",    "ip4_1",
						    "ip6_0",	   "ip6_1",    "observation_point",
						    "server_port", "protocol", "signal_source" };

		assert_int_equal(plan.nrows, 9);
		for (size_t i = 0; i < 9; i++)
			assert_string_equal(plan.rows[3 * i], want[i]);
	}
	query_plan_free(&plan);
	for (int m = 0; m < 2; m++) {
		assert_int_equal(query_translate(m ? "SHOW METRICS FROM network_map.1s"
						   : "SHOW METRICS FROM network.1m",
						 NULL, &plan, err, sizeof(err)),
				 0);
		assert_int_equal(plan.nrows, 55);
		assert_string_equal(plan.rows[0], "packet_tx");
		assert_string_equal(plan.rows[1], "int");
		assert_string_equal(plan.rows[3 * 14], "rtt_max");
		assert_string_equal(plan.rows[3 * 54], "tcp_rst_fail");
		query_plan_free(&plan);
	}
}

static void test_limits(void **state)
{
	struct query_limits lim = { .max_rows = 100 };
	struct query_plan plan;
	char err[256];
	const char *q = "SELECT time FROM l7_flow_log LIMIT 50";

	(void)state;
	assert_int_equal(query_translate_n(q, strlen(q), NULL, &lim, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.params[0].i, 50);
	assert_false(plan.truncatable);
	assert_int_equal(plan.max_rows, 100);
	query_plan_free(&plan);

	q = "SELECT time FROM l7_flow_log LIMIT 500";
	assert_int_equal(query_translate_n(q, strlen(q), NULL, &lim, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.params[0].i, 101);
	assert_true(plan.truncatable);
	query_plan_free(&plan);

	lim.max_rows = UINT64_MAX;
	q = "SELECT time FROM l7_flow_log";
	assert_int_equal(query_translate_n(q, strlen(q), NULL, &lim, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.params[0].i, INT64_MAX);
	query_plan_free(&plan);
}

static void test_nul_and_null(void **state)
{
	static const char q[] = "SELECT time FROM l7_flow_log\0; DROP TABLE x";
	struct query_plan plan;
	char err[256];

	(void)state;
	/* length-delimited input: an embedded NUL is refused */
	assert_int_equal(query_translate_n(q, sizeof(q) - 1, NULL, NULL, &plan, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "query contains a NUL byte");
	/* NUL-terminated input: the statement ends at the NUL */
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), 0);
	assert_string_equal(plan.sql, "SELECT \"time\" FROM \"l7_flow_log\" LIMIT ?");
	query_plan_free(&plan);

	assert_int_equal(query_translate(NULL, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "empty query");
	assert_int_equal(query_translate("SELECT x FROM y", NULL, &plan, NULL, 0), -EINVAL);
	query_plan_free(NULL);
	/* a short error buffer truncates, never overflows */
	assert_int_equal(query_translate("DROP TABLE x", NULL, &plan, err, 8), -EINVAL);
	assert_string_equal(err, "only SE");
}

static void test_huge_inputs(void **state)
{
	size_t n = 100000;
	char *q = malloc(n + 1);
	struct query_plan plan;
	char err[256];
	const char *head = "SELECT time FROM l7_flow_log WHERE ";
	size_t off;

	(void)state;
	assert_non_null(q);
	memset(q, 'a', n);
	q[n] = '\0';
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query too long (more than 65536 bytes)");

	/* 1000 nested parentheses */
	off = (size_t)sprintf(q, "%s", head);
	for (int i = 0; i < 1000; i++)
		q[off++] = '(';
	off += (size_t)sprintf(q + off, "time > 1");
	for (int i = 0; i < 1000; i++)
		q[off++] = ')';
	q[off] = '\0';
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query nested too deeply (limit 64)");

	/* 1000 unary minus and 1000 NOT */
	off = (size_t)sprintf(q, "%s", head);
	for (int i = 0; i < 1000; i++)
		off += (size_t)sprintf(q + off, "NOT ");
	off += (size_t)sprintf(q + off, "time > 1");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query nested too deeply (limit 64)");
	off = (size_t)sprintf(q, "%s time > ", head);
	for (int i = 0; i < 1000; i++)
		off += (size_t)sprintf(q + off, "- ");
	off += (size_t)sprintf(q + off, "1");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query nested too deeply (limit 64)");

	/* a long flat chain: bounded by tree height */
	off = (size_t)sprintf(q, "%s time > 0", head);
	for (int i = 0; i < 1000; i++)
		off += (size_t)sprintf(q + off, " + 1");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query nested too deeply (limit 256)");

	/* a long IN list is fine up to the node budget */
	off = (size_t)sprintf(q, "%s type IN (0", head);
	for (int i = 0; i < 3000; i++)
		off += (size_t)sprintf(q + off, ",%d", i);
	off += (size_t)sprintf(q + off, ")");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nparams, 3002);
	query_plan_free(&plan);
	off = (size_t)sprintf(q, "%s type IN (0", head);
	for (int i = 0; i < 5000; i++)
		off += (size_t)sprintf(q + off, ",%d", i % 10);
	off += (size_t)sprintf(q + off, ")");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query too complex (more than 4096 expression nodes)");

	/* many stars: bounded result columns */
	off = (size_t)sprintf(q, "SELECT *");
	for (int i = 0; i < 40; i++)
		off += (size_t)sprintf(q + off, ", *");
	sprintf(q + off, " FROM l7_flow_log");
	assert_int_equal(query_translate(q, NULL, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "too many result columns (limit 1024)");
	free(q);
}

/* Every byte value in a few positions: no crash, and success never leaks a quote. */
static void test_all_bytes(void **state)
{
	static const char *const tmpl[] = {
		"SELECT time FROM l7_flow_log WHERE request_resource = '%c'",
		"SELECT time%c FROM l7_flow_log",
		"SELECT %ctime FROM l7_flow_log",
		"SELECT time FROM l7_flow_log %c",
	};
	struct query_plan plan;
	char err[256], q[128];

	(void)state;
	for (size_t t = 0; t < sizeof(tmpl) / sizeof(tmpl[0]); t++)
		for (int c = 1; c < 256; c++) {
			snprintf(q, sizeof(q), tmpl[t], c);
			if (query_translate(q, NULL, &plan, err, sizeof(err)) == 0) {
				assert_null(strchr(plan.sql, '\''));
				query_plan_free(&plan);
			} else {
				assert_true(err[0] != '\0');
				for (const char *e = err; *e; e++)
					assert_true(*e >= 0x20 && *e < 0x7f);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_span_list_and_time_range),
		cmocka_unit_test(test_l4_no_span_rewrite),
		cmocka_unit_test(test_clickhouse_dialect),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_select_star),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_nul_and_null),
		cmocka_unit_test(test_huge_inputs),
		cmocka_unit_test(test_all_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
