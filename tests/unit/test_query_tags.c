/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the virtual tag columns of src/query (tag_columns.c and their translation
 * in sql.c): every WHERE operator on a tag and on a label, NOT pushed down to the terms,
 * tags and labels in the select list, GROUP BY, ORDER BY, Count and Uniq, in both dialects,
 * checked against the exact backend SQL, parameters and output columns (a column holding
 * tag ids the server shows as names is marked '#'). Then what is refused, with the exact
 * message: tags in expressions, comparisons other than with text, unknown names (with the
 * near names), too many labels; and hostile input: quotes in labels, a 5000-value IN list.
 * The answers these translations give on real stores are in
 * tests/integration/test_tag_query.py.
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

#include "common/tag_id.h"
#include "query/sql.h"
#include "query/tag_columns.h"

struct ok_case {
	int dialect; /* enum query_dialect */
	const char *in;
	const char *sql;
	const char *params;  /* "s:web-1,i:10001" */
	const char *columns; /* "a|b#": # marks tag_ids */
};

static const struct ok_case ok_cases[] = {
	{ 0, "SELECT time FROM l7_flow_log WHERE pod_1 = 'web-1'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_id_1\" IN (SELECT \"lid\" FROM mai"
	  "n.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_dic"
	  "t\" WHERE \"kind\" = 10 AND \"name\" = ?))) LIMIT ?",
	  "s:web-1,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE pod_1 = 'web-1'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_id_1\" GLOBAL IN (SELECT \"id\" FROM "
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 10 AND \"name\" = ?)) LIMIT ?",
	  "s:web-1,i:10001", "time" },
	{ 0, "SELECT time FROM l4_flow_log WHERE 'x' != host_0",
	  "SELECT \"time\" FROM \"l4_flow_log\" WHERE (\"host_id_0\" IN (SELECT \"lid\" FROM ma"
	  "in.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_di"
	  "ct\" WHERE \"kind\" = 2 AND \"name\" != ?))) LIMIT ?",
	  "s:x,i:10001", "time" },
	{ 1, "SELECT time FROM l4_flow_log WHERE 'x' != host_0",
	  "SELECT \"time\" FROM \"l4_flow_log\" WHERE (\"host_id_0\" GLOBAL IN (SELECT \"id\" FROM "
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 2 AND \"name\" != ?)) LIMIT ?",
	  "s:x,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE pod_ns_0 IN ('shop', 'default')",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_ns_id_0\" IN (SELECT \"lid\" FROM "
	  "main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_"
	  "dict\" WHERE \"kind\" = 8 AND \"name\" IN (?, ?)))) LIMIT ?",
	  "s:shop,s:default,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE pod_ns_0 IN ('shop', 'default')",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_ns_id_0\" GLOBAL IN (SELECT \"id\" "
	  "FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 8 AND \"name\" IN (?, ?))) LIMIT ?",
	  "s:shop,s:default,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE auto_service_1 NOT IN ('a')",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"auto_service_id_1\" IN (SELECT \"lid\""
	  " FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_ta"
	  "g_tag_dict\" WHERE \"kind\" IN (1, 3, 6, 11, 12) AND (\"kind\" != 3 OR (\"id\", \"ti"
	  "me\") IN (SELECT \"id\", max(\"time\") FROM main.\"flow_tag_tag_dict\" WHERE \"kind"
	  "\" = 3 GROUP BY \"id\")) AND \"name\" NOT IN (?)))) LIMIT ?",
	  "s:a,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE auto_service_1 NOT IN ('a')",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"auto_service_id_1\" GLOBAL IN (SELECT "
	  "\"id\" FROM \"flow_tag_tag_dict\" WHERE \"kind\" IN (1, 3, 6, 11, 12) AND (\"kind\" != "
	  "3 OR (\"id\", \"time\") GLOBAL IN (SELECT \"id\", max(\"time\") FROM "
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 3 GROUP BY \"id\")) AND \"name\" NOT IN (?))) "
	  "LIMIT ?",
	  "s:a,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE process_0 LIKE 'ng%'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"gprocess_id_0\" IN (SELECT \"lid\" FRO"
	  "M main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_ta"
	  "g_dict\" WHERE \"kind\" = 3 AND (\"kind\" != 3 OR (\"id\", \"time\") IN (SELECT \"id"
	  "\", max(\"time\") FROM main.\"flow_tag_tag_dict\" WHERE \"kind\" = 3 GROUP BY \"id\""
	  ")) AND \"name\" LIKE ?))) LIMIT ?",
	  "s:ng%,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE process_0 LIKE 'ng%'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"gprocess_id_0\" GLOBAL IN (SELECT \"id\" "
	  "FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 3 AND (\"kind\" != 3 OR (\"id\", \"time\") "
	  "GLOBAL IN (SELECT \"id\", max(\"time\") FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 3 "
	  "GROUP BY \"id\")) AND lower(\"name\") LIKE replaceAll(lower(?), ?, ?))) LIMIT ?",
	  "s:ng%,s:\\,s:\\\\,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE pod_1 NOT LIKE 'web%'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_id_1\" IN (SELECT \"lid\" FROM mai"
	  "n.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_dic"
	  "t\" WHERE \"kind\" = 10 AND \"name\" NOT LIKE ?))) LIMIT ?",
	  "s:web%,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE pod_1 NOT LIKE 'web%'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE (\"pod_id_1\" GLOBAL IN (SELECT \"id\" FROM "
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 10 AND lower(\"name\") NOT LIKE "
	  "replaceAll(lower(?), ?, ?))) LIMIT ?",
	  "s:web%,s:\\,s:\\\\,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE pod_1 IS NULL OR container_0 IS NOT NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((coalesce(\"pod_id_1\", 0) NOT IN (SELEC"
	  "T \"lid\" FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main."
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 10 AND \"id\" IS NOT NULL))) OR (\"container_"
	  "id_0\" IN (SELECT \"lid\" FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT "
	  "\"id\" FROM main.\"flow_tag_tag_dict\" WHERE \"kind\" = 4)))) LIMIT ?",
	  "i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE pod_1 IS NULL OR container_0 IS NOT NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((coalesce(\"pod_id_1\", 0) GLOBAL NOT IN "
	  "(SELECT \"id\" FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 10 AND \"id\" IS NOT NULL)) "
	  "OR (\"container_id_0\" GLOBAL IN (SELECT \"id\" FROM \"flow_tag_tag_dict\" WHERE "
	  "\"kind\" = 4))) LIMIT ?",
	  "i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE NOT (pod_1 = 'a' OR response_code = 500)",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"pod_id_1\" IN (SELECT \"lid\" FROM ma"
	  "in.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_di"
	  "ct\" WHERE \"kind\" = 10 AND \"name\" != ?))) AND (NOT (\"response_code\" = ?))) LIM"
	  "IT ?",
	  "s:a,i:500,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE NOT (pod_1 = 'a' OR response_code = 500)",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"pod_id_1\" GLOBAL IN (SELECT \"id\" FROM "
	  "\"flow_tag_tag_dict\" WHERE \"kind\" = 10 AND \"name\" != ?)) AND (NOT "
	  "(\"response_code\" = ?))) LIMIT ?",
	  "s:a,i:500,i:10001", "time" },
	{ 0,
	  "SELECT time FROM l7_flow_log WHERE NOT NOT pod_group_1 != 'g' AND NOT pod_cluster_1 IS "
	  "NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"pod_group_id_1\" IN (SELECT \"lid\" F"
	  "ROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_"
	  "tag_dict\" WHERE \"kind\" = 11 AND \"name\" != ?))) AND (\"pod_cluster_id_1\" IN (SE"
	  "LECT \"lid\" FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM ma"
	  "in.\"flow_tag_tag_dict\" WHERE \"kind\" = 7)))) LIMIT ?",
	  "s:g,i:10001", "time" },
	{ 1,
	  "SELECT time FROM l7_flow_log WHERE NOT NOT pod_group_1 != 'g' AND NOT pod_cluster_1 IS "
	  "NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"pod_group_id_1\" GLOBAL IN (SELECT "
	  "\"id\" FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 11 AND \"name\" != ?)) AND "
	  "(\"pod_cluster_id_1\" GLOBAL IN (SELECT \"id\" FROM \"flow_tag_tag_dict\" WHERE "
	  "\"kind\" = 7))) LIMIT ?",
	  "s:g,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE k8s.label.app_1 = 'web'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((CASE WHEN coalesce(\"pod_id_1\", 0) != "
	  "0 THEN coalesce(\"pod_id_1\", 0) ELSE coalesce(\"pod_service_id_1\", 0) END) IN (SEL"
	  "ECT \"lid\" FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM mai"
	  "n.\"flow_tag_k8s_label\" AS \"_lk\" WHERE \"key\" = ? AND (\"id\", \"time\") IN (SEL"
	  "ECT \"id\", max(\"time\") FROM main.\"flow_tag_k8s_label\" GROUP BY \"id\") AND \"va"
	  "lue\" = ?))) LIMIT ?",
	  "s:app,s:web,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE k8s.label.app_1 = 'web'",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((CASE WHEN coalesce(\"pod_id_1\", 0) != 0 "
	  "THEN coalesce(\"pod_id_1\", 0) ELSE coalesce(\"pod_service_id_1\", 0) END) GLOBAL IN "
	  "(SELECT \"id\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? AND (\"id\", \"time\") "
	  "GLOBAL IN (SELECT \"id\", max(\"time\") FROM \"flow_tag_k8s_label\" GROUP BY \"id\") "
	  "AND \"value\" = ?)) LIMIT ?",
	  "s:app,s:web,i:10001", "time" },
	{ 0, "SELECT time FROM l7_flow_log WHERE k8s.label.app_0 IS NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((CASE WHEN coalesce(\"pod_id_0\", 0) != "
	  "0 THEN coalesce(\"pod_id_0\", 0) ELSE coalesce(\"pod_service_id_0\", 0) END) NOT IN "
	  "(SELECT \"lid\" FROM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM"
	  " main.\"flow_tag_k8s_label\" AS \"_lk\" WHERE \"key\" = ? AND (\"id\", \"time\") IN "
	  "(SELECT \"id\", max(\"time\") FROM main.\"flow_tag_k8s_label\" GROUP BY \"id\") AND "
	  "\"id\" IS NOT NULL))) LIMIT ?",
	  "s:app,i:10001", "time" },
	{ 1, "SELECT time FROM l7_flow_log WHERE k8s.label.app_0 IS NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((CASE WHEN coalesce(\"pod_id_0\", 0) != 0 "
	  "THEN coalesce(\"pod_id_0\", 0) ELSE coalesce(\"pod_service_id_0\", 0) END) GLOBAL NOT "
	  "IN (SELECT \"id\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? AND (\"id\", \"time\") "
	  "GLOBAL IN (SELECT \"id\", max(\"time\") FROM \"flow_tag_k8s_label\" GROUP BY \"id\") "
	  "AND \"id\" IS NOT NULL)) LIMIT ?",
	  "s:app,i:10001", "time" },
	{ 0, "SELECT pod_1, Count(row) FROM l7_flow_log GROUP BY pod_1 ORDER BY pod_1",
	  "SELECT coalesce(\"pod_id_1\", 0), COUNT(*) FROM \"l7_flow_log\" GROUP BY "
	  "coalesce(\"pod_id_1\", 0) ORDER BY coalesce(\"pod_id_1\", 0) ASC LIMIT ?",
	  "i:10001", "pod_1#|Count(row)" },
	{ 1, "SELECT pod_1, Count(row) FROM l7_flow_log GROUP BY pod_1 ORDER BY pod_1",
	  "SELECT coalesce(\"pod_id_1\", 0), COUNT(*) FROM \"l7_flow_log\" GROUP BY "
	  "coalesce(\"pod_id_1\", 0) ORDER BY coalesce(\"pod_id_1\", 0) ASC NULLS FIRST LIMIT ?",
	  "i:10001", "pod_1#|Count(row)" },
	{ 0, "SELECT k8s.label.app_1 AS app, Uniq(auto_instance_1) FROM l7_flow_log GROUP BY app",
	  "SELECT \"_l0\".\"_lv\" AS \"_c1\", COUNT(DISTINCT CASE WHEN \"auto_instance_id_1\" !"
	  "= 0 THEN \"auto_instance_id_1\" END) FROM \"l7_flow_log\" LEFT JOIN (SELECT (SELECT "
	  "\"lid\" FROM main.\"flow_tag_tag_local\" AS \"_tl\" WHERE \"_tl\".\"id\" = \"_lk\"."
	  "\"id\") AS \"_lid\", max(\"value\") AS \"_lv\" FROM main.\"flow_tag_k8s_label\" AS "
	  "\"_lk\" WHERE \"key\" = ? AND (\"id\", \"time\") IN (SELECT \"id\", max(\"time\") FR"
	  "OM main.\"flow_tag_k8s_label\" GROUP BY \"id\") GROUP BY \"id\") AS \"_l0\" ON \"_l0"
	  "\".\"_lid\" = (CASE WHEN coalesce(\"pod_id_1\", 0) != 0 THEN coalesce(\"pod_id_1\", "
	  "0) ELSE coalesce(\"pod_service_id_1\", 0) END) GROUP BY \"_c1\" LIMIT ?",
	  "s:app,i:10001", "app|Uniq(auto_instance_1)" },
	{ 1, "SELECT k8s.label.app_1 AS app, Uniq(auto_instance_1) FROM l7_flow_log GROUP BY app",
	  "WITH (SELECT groupArray(\"i\") FROM (SELECT assumeNotNull(\"id\") AS \"i\", "
	  "max(assumeNotNull(\"value\")) AS \"v\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? "
	  "AND (\"id\", \"time\") GLOBAL IN (SELECT \"id\", max(\"time\") FROM "
	  "\"flow_tag_k8s_label\" GROUP BY \"id\") GROUP BY \"i\" ORDER BY \"i\")) AS \"_l0_ids\", "
	  "(SELECT groupArray(\"v\") FROM (SELECT assumeNotNull(\"id\") AS \"i\", "
	  "max(assumeNotNull(\"value\")) AS \"v\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? "
	  "AND (\"id\", \"time\") GLOBAL IN (SELECT \"id\", max(\"time\") FROM "
	  "\"flow_tag_k8s_label\" GROUP BY \"id\") GROUP BY \"i\" ORDER BY \"i\")) AS \"_l0_vals\" "
	  "SELECT if(has(\"_l0_ids\", (CASE WHEN coalesce(\"pod_id_1\", 0) != 0 THEN "
	  "coalesce(\"pod_id_1\", 0) ELSE coalesce(\"pod_service_id_1\", 0) END)), transform((CASE "
	  "WHEN coalesce(\"pod_id_1\", 0) != 0 THEN coalesce(\"pod_id_1\", 0) ELSE "
	  "coalesce(\"pod_service_id_1\", 0) END), \"_l0_ids\", \"_l0_vals\", ?), NULL) AS "
	  "\"_c1\", COUNT(DISTINCT CASE WHEN \"auto_instance_id_1\" != 0 THEN "
	  "\"auto_instance_id_1\" END) FROM \"l7_flow_log\" GROUP BY \"_c1\" LIMIT ?",
	  "s:app,s:app,s:,i:10001", "app|Uniq(auto_instance_1)" },
	{ 0,
	  "SELECT Count(pod_1), Uniq(k8s.label.app_0) FROM l4_flow_log WHERE \"k8s.label.a'b_0\" = "
	  "'c''d'",
	  "SELECT COUNT(CASE WHEN \"pod_id_1\" != 0 THEN \"pod_id_1\" END), COUNT(DISTINCT \"_l"
	  "0\".\"_lv\") FROM \"l4_flow_log\" LEFT JOIN (SELECT (SELECT \"lid\" FROM main.\"flow"
	  "_tag_tag_local\" AS \"_tl\" WHERE \"_tl\".\"id\" = \"_lk\".\"id\") AS \"_lid\", max("
	  "\"value\") AS \"_lv\" FROM main.\"flow_tag_k8s_label\" AS \"_lk\" WHERE \"key\" = ? "
	  "AND (\"id\", \"time\") IN (SELECT \"id\", max(\"time\") FROM main.\"flow_tag_k8s_lab"
	  "el\" GROUP BY \"id\") GROUP BY \"id\") AS \"_l0\" ON \"_l0\".\"_lid\" = (CASE WHEN c"
	  "oalesce(\"pod_id_0\", 0) != 0 THEN coalesce(\"pod_id_0\", 0) ELSE coalesce(\"pod_ser"
	  "vice_id_0\", 0) END) WHERE ((CASE WHEN coalesce(\"pod_id_0\", 0) != 0 THEN coalesce("
	  "\"pod_id_0\", 0) ELSE coalesce(\"pod_service_id_0\", 0) END) IN (SELECT \"lid\" FROM"
	  " main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_k8s"
	  "_label\" AS \"_lk\" WHERE \"key\" = ? AND (\"id\", \"time\") IN (SELECT \"id\", max("
	  "\"time\") FROM main.\"flow_tag_k8s_label\" GROUP BY \"id\") AND \"value\" = ?))) LIM"
	  "IT ?",
	  "s:app,s:a'b,s:c'd,i:10001", "Count(pod_1)|Uniq(k8s.label.app_0)" },
	{ 1,
	  "SELECT Count(pod_1), Uniq(k8s.label.app_0) FROM l4_flow_log WHERE \"k8s.label.a'b_0\" = "
	  "'c''d'",
	  "WITH (SELECT groupArray(\"i\") FROM (SELECT assumeNotNull(\"id\") AS \"i\", "
	  "max(assumeNotNull(\"value\")) AS \"v\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? "
	  "AND (\"id\", \"time\") GLOBAL IN (SELECT \"id\", max(\"time\") FROM "
	  "\"flow_tag_k8s_label\" GROUP BY \"id\") GROUP BY \"i\" ORDER BY \"i\")) AS \"_l0_ids\", "
	  "(SELECT groupArray(\"v\") FROM (SELECT assumeNotNull(\"id\") AS \"i\", "
	  "max(assumeNotNull(\"value\")) AS \"v\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? "
	  "AND (\"id\", \"time\") GLOBAL IN (SELECT \"id\", max(\"time\") FROM "
	  "\"flow_tag_k8s_label\" GROUP BY \"id\") GROUP BY \"i\" ORDER BY \"i\")) AS \"_l0_vals\" "
	  "SELECT COUNT(CASE WHEN \"pod_id_1\" != 0 THEN \"pod_id_1\" END), COUNT(DISTINCT "
	  "if(has(\"_l0_ids\", (CASE WHEN coalesce(\"pod_id_0\", 0) != 0 THEN "
	  "coalesce(\"pod_id_0\", 0) ELSE coalesce(\"pod_service_id_0\", 0) END)), transform((CASE "
	  "WHEN coalesce(\"pod_id_0\", 0) != 0 THEN coalesce(\"pod_id_0\", 0) ELSE "
	  "coalesce(\"pod_service_id_0\", 0) END), \"_l0_ids\", \"_l0_vals\", ?), NULL)) FROM "
	  "\"l4_flow_log\" WHERE ((CASE WHEN coalesce(\"pod_id_0\", 0) != 0 THEN "
	  "coalesce(\"pod_id_0\", 0) ELSE coalesce(\"pod_service_id_0\", 0) END) GLOBAL IN (SELECT "
	  "\"id\" FROM \"flow_tag_k8s_label\" WHERE \"key\" = ? AND (\"id\", \"time\") GLOBAL IN "
	  "(SELECT \"id\", max(\"time\") FROM \"flow_tag_k8s_label\" GROUP BY \"id\") AND "
	  "\"value\" = ?)) LIMIT ?",
	  "s:app,s:app,s:,s:a'b,s:c'd,i:10001", "Count(pod_1)|Uniq(k8s.label.app_0)" },
	{ 0,
	  "SELECT time FROM l7_flow_log WHERE process_0 = 'nginx' AND auto_instance_0 IS NOT NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"gprocess_id_0\" IN (SELECT \"lid\" FR"
	  "OM main.\"flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_t"
	  "ag_dict\" WHERE \"kind\" = 3 AND (\"kind\" != 3 OR (\"id\", \"time\") IN (SELECT \"i"
	  "d\", max(\"time\") FROM main.\"flow_tag_tag_dict\" WHERE \"kind\" = 3 GROUP BY \"id"
	  "\")) AND \"name\" = ?))) AND (\"auto_instance_id_0\" IN (SELECT \"lid\" FROM main.\""
	  "flow_tag_tag_local\" WHERE \"id\" IN (SELECT \"id\" FROM main.\"flow_tag_tag_dict\" "
	  "WHERE \"kind\" IN (1, 3, 10))))) LIMIT ?",
	  "s:nginx,i:10001", "time" },
	{ 1,
	  "SELECT time FROM l7_flow_log WHERE process_0 = 'nginx' AND auto_instance_0 IS NOT NULL",
	  "SELECT \"time\" FROM \"l7_flow_log\" WHERE ((\"gprocess_id_0\" GLOBAL IN (SELECT \"id\" "
	  "FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 3 AND (\"kind\" != 3 OR (\"id\", \"time\") "
	  "GLOBAL IN (SELECT \"id\", max(\"time\") FROM \"flow_tag_tag_dict\" WHERE \"kind\" = 3 "
	  "GROUP BY \"id\")) AND \"name\" = ?)) AND (\"auto_instance_id_0\" GLOBAL IN (SELECT "
	  "\"id\" FROM \"flow_tag_tag_dict\" WHERE \"kind\" IN (1, 3, 10)))) LIMIT ?",
	  "s:nginx,i:10001", "time" },
};

static void render_params(const struct query_plan *p, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->nparams && n < cap; i++) {
		const struct query_param *q = &p->params[i];

		if (q->type == QUERY_PARAM_INT)
			n += (size_t)snprintf(out + n, cap - n, "%si:%lld", i ? "," : "",
					      (long long)q->i);
		else if (q->type == QUERY_PARAM_TEXT)
			n += (size_t)snprintf(out + n, cap - n, "%ss:%s", i ? "," : "", q->s);
		else
			n += (size_t)snprintf(out + n, cap - n, "%sd:%g", i ? "," : "", q->d);
	}
}

static void render_columns(const struct query_plan *p, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->ncolumns && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s%s", i ? "|" : "", p->columns[i],
				      p->tag_ids[i] ? "#" : "");
}

static int translate(const char *sql, int dialect, struct query_plan *plan, char *err,
		     size_t errlen)
{
	struct query_limits lim = { .dialect = (enum query_dialect)dialect };

	return query_translate_n(sql, strlen(sql), NULL, &lim, plan, err, errlen);
}

static void test_translations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct query_plan plan;
		char err[512], params[1024], cols[512];

		if (translate(c->in, c->dialect, &plan, err, sizeof(err)))
			fail_msg("case %zu refused: %s: %s", i, c->in, err);
		assert_string_equal(plan.sql, c->sql);
		/* every user literal (label keys and names included) travels as a parameter */
		assert_null(strchr(plan.sql, '\''));
		render_params(&plan, params, sizeof(params));
		assert_string_equal(params, c->params);
		render_columns(&plan, cols, sizeof(cols));
		assert_string_equal(cols, c->columns);
		query_plan_free(&plan);
	}
}

struct bad_case {
	const char *in;
	const char *err;
};

#define MISUSE                                                                                     \
	": a tag may be shown, grouped, ordered, counted (Count, Uniq) or filtered in WHERE "      \
	"with = != IN LIKE IS NULL against text"

#define BAD_LABEL(name)                                                                            \
	"unknown column '" name "' in l7_flow_log: a label is k8s.label.KEY_0 (the client's pod) " \
	"or k8s.label.KEY_1 (the server's)"

static const struct bad_case bad_cases[] = {
	{ "SELECT pod_2 FROM l7_flow_log",
	  "unknown column 'pod_2' in l7_flow_log (near: pod_0, pod_1)" },
	{ "SELECT auto_servce_1 FROM l7_flow_log",
	  "unknown column 'auto_servce_1' in l7_flow_log (near: auto_service_1, auto_service_0)" },
	{ "SELECT time FROM l7_flow_log WHERE k8s.label.app_2 = 'x'",
	  BAD_LABEL("k8s.label.app_2") },
	{ "SELECT time FROM l7_flow_log WHERE \"k8s.label._1\" = 'x'", BAD_LABEL("k8s.label._1") },
	/* virtual columns exist where the id columns do */
	{ "SELECT pod_1 FROM network.1s", "unknown column 'pod_1' in network.1s" },
	{ "SELECT k8s.label.app_1 FROM flow_tag.tag_dict",
	  "unknown column 'k8s.label.app_1' in tag_dict" },
	{ "SELECT time FROM l7_flow_log WHERE k8s . label . app_1 = 'x'",
	  "qualified column names are not supported" },
	{ "SELECT pod_1 + 1 FROM l7_flow_log", "tag 'pod_1' in the select list" MISUSE },
	{ "SELECT Max(pod_1) FROM l7_flow_log", "tag 'pod_1' in the select list" MISUSE },
	{ "SELECT Sum(pod_1) FROM l7_flow_log", "Sum needs a numeric argument" },
	{ "SELECT time FROM l7_flow_log WHERE pod_1 > 'a'", "tag 'pod_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log WHERE pod_1 = 5", "tag 'pod_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log WHERE pod_1 = pod_0", "tag 'pod_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log WHERE pod_1 IN ('a', NULL)",
	  "tag 'pod_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log WHERE pod_1 BETWEEN 'a' AND 'b'",
	  "tag 'pod_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log WHERE k8s.label.app_1 LIKE host_0",
	  "tag 'k8s.label.app_1' in WHERE" MISUSE },
	{ "SELECT time FROM l7_flow_log ORDER BY pod_1 = 'x'", "tag 'pod_1' in ORDER BY" MISUSE },
	{ "SELECT pod_1, Count(row) FROM l7_flow_log GROUP BY pod_0",
	  "column 'pod_1' must be in GROUP BY or inside an aggregate function" },
	{ "SELECT k8s.label.app_1, Count(row) FROM l7_flow_log",
	  "column 'k8s.label.app_1' must be in GROUP BY or inside an aggregate function" },
	{ "SELECT time FROM l7_flow_log WHERE k8s.label.a_1 = '' AND k8s.label.b_1 = '' AND "
	  "k8s.label.c_1 = '' AND k8s.label.d_1 = '' AND k8s.label.e_1 = '' AND k8s.label.f_1 = "
	  "'' AND k8s.label.g_1 = '' AND k8s.label.h_1 = '' AND k8s.label.i_1 = ''",
	  "too many label columns (limit 8)" },
};

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		for (int dialect = 0; dialect < 2; dialect++) {
			struct query_plan plan;
			char err[512];
			int rc = translate(bad_cases[i].in, dialect, &plan, err, sizeof(err));

			if (rc == 0)
				fail_msg("case %zu accepted: %s -> %s", i, bad_cases[i].in,
					 plan.sql);
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(err, bad_cases[i].err);
			assert_null(plan.sql);
		}
	}
}

/* "SELECT time FROM l7_flow_log WHERE pod_1 IN ('p-0',...)" with n names; malloc'd. */
static char *in_query(int n)
{
	size_t cap = (size_t)n * 12 + 128, len = 0;
	char *sql = malloc(cap);

	assert_non_null(sql);
	len += (size_t)snprintf(sql, cap, "SELECT time FROM l7_flow_log WHERE pod_1 IN (");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%s'p-%d'", i ? "," : "", i);
	snprintf(sql + len, cap - len, ")");
	return sql;
}

/* 4000 names in one IN list: one parameter each, in order, in one dictionary lookup; 5000
 * are more expression nodes than a statement may have, and say so. */
static void test_huge_in(void **state)
{
	char *sql = in_query(4000), err[256];
	struct query_plan plan;

	(void)state;
	for (int dialect = 0; dialect < 2; dialect++) {
		assert_int_equal(translate(sql, dialect, &plan, err, sizeof(err)), 0);
		assert_int_equal(plan.nparams, 4001);
		assert_string_equal(plan.params[0].s, "p-0");
		assert_string_equal(plan.params[3999].s, "p-3999");
		assert_non_null(strstr(plan.sql, "\"name\" IN (?, ?, "));
		assert_null(strchr(plan.sql, '\''));
		query_plan_free(&plan);
	}
	free(sql);
	sql = in_query(5000);
	assert_int_equal(translate(sql, 0, &plan, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "query too complex (more than 4096 expression nodes)");
	free(sql);
}

/* The table of virtual columns: both sides, every stored id column exists, kinds. */
static void test_tag_columns(void **state)
{
	const struct schema_table *l7 = schema_find_table("flow_log", "l7_flow_log"),
				  *l4 = schema_find_table("flow_log", "l4_flow_log");
	const char *key;
	size_t keylen;
	int side;

	(void)state;
	assert_int_equal(tag_ncolumns, 26);
	assert_true(tag_columns_on(l7));
	assert_true(tag_columns_on(l4));
	assert_false(tag_columns_on(schema_find_table(NULL, "network.1s")));
	for (size_t i = 0; i < tag_ncolumns; i++) {
		assert_non_null(schema_find_column(l7, tag_columns[i].id_column));
		assert_null(schema_find_column(l7, tag_columns[i].name));
		assert_int_equal(tag_columns[i].side, i < 13 ? 0 : 1);
		assert_int_not_equal(tag_columns[i].kinds, 0);
	}
	assert_string_equal(tag_column_find(l4, "process_1", 9)->id_column, "gprocess_id_1");
	assert_int_equal(tag_column_find(l4, "process_1", 9)->kinds, 1u << TAG_GPROCESS);
	assert_int_equal(tag_column_find(l7, "auto_instance_0", 15)->kinds,
			 (1u << TAG_POD) | (1u << TAG_GPROCESS) | (1u << TAG_IP));
	assert_null(tag_column_find(l7, "pod_1x", 6));
	assert_true(
		tag_label_parse("k8s.label.app.kubernetes.io/name_1", 34, &key, &keylen, &side));
	assert_int_equal(keylen, 22);
	assert_memory_equal(key, "app.kubernetes.io/name", 22);
	assert_int_equal(side, 1);
	assert_false(tag_label_parse("k8s.label._0", 12, &key, &keylen, &side));
	assert_false(tag_label_parse("k8s.label.app_2", 15, &key, &keylen, &side));
	assert_false(tag_label_parse("k8s.labels.app_0", 16, &key, &keylen, &side));
}

/* SHOW TAGS: the stored tags, then the virtual ones (type "tag"), on l7 and l4 only; the
 * flow_tag tables show their own columns. */
static void test_show_tags(void **state)
{
	const struct schema_table *l7 = schema_find_table("flow_log", "l7_flow_log");
	struct query_plan plan;
	size_t stored = 0, at;
	char err[256];

	(void)state;
	for (size_t i = 0; i < l7->ncolumns; i++)
		stored += l7->columns[i].kind == SCHEMA_TAG;
	assert_int_equal(translate("SHOW TAGS FROM l7_flow_log", 0, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nrows, stored + 28);
	at = stored * 3;
	assert_string_equal(plan.rows[at - 3], "auto_instance_type_1");
	assert_string_equal(plan.rows[at], "host_0");
	assert_string_equal(plan.rows[at + 1], "tag");
	assert_string_equal(plan.rows[at + 2], "the client's host name");
	assert_string_equal(plan.rows[at + 3 * 8], "pod_0");
	assert_string_equal(plan.rows[at + 3 * 8 + 2], "the client's pod");
	assert_string_equal(plan.rows[at + 3 * 25], "auto_instance_1");
	assert_string_equal(plan.rows[at + 3 * 25 + 2],
			    "the server's instance: pod > process > IP");
	assert_string_equal(plan.rows[at + 3 * 26], "k8s.label.KEY_0");
	assert_string_equal(plan.rows[at + 3 * 27], "k8s.label.KEY_1");
	assert_string_equal(plan.rows[at + 3 * 27 + 1], "tag");
	assert_string_equal(plan.rows[at + 3 * 27 + 2],
			    "label KEY of the server's pod (of its k8s service when no pod)");
	query_plan_free(&plan);

	assert_int_equal(translate("SHOW TAGS FROM flow_tag.tag_dict", 0, &plan, err, sizeof(err)),
			 0);
	assert_int_equal(plan.nrows, 5);
	assert_string_equal(plan.rows[0], "time");
	assert_string_equal(plan.rows[3 * 3], "name");
	assert_string_equal(plan.rows[3 * 3 + 1], "text");
	assert_string_equal(plan.rows[3 * 4], "key");
	query_plan_free(&plan);
	assert_int_equal(translate("SHOW TAGS FROM k8s_label", 0, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.nrows, 4);
	assert_string_equal(plan.rows[3 * 3], "value");
	query_plan_free(&plan);
	assert_int_equal(translate("SHOW TAGS FROM network.1s", 0, &plan, err, sizeof(err)), 0);
	for (size_t i = 0; i < plan.nrows; i++)
		assert_string_not_equal(plan.rows[i * 3 + 1], "tag");
	query_plan_free(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translations), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_huge_in),	     cmocka_unit_test(test_tag_columns),
		cmocka_unit_test(test_show_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
