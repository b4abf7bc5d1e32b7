/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual tag columns (DESIGN §5, docs/tagging.md "Querying tags"): the names users query
 * on l7_flow_log and l4_flow_log (pod_1, auto_service_0, k8s.label.app_1, ...) that are not
 * stored as such. A row stores each side's tags as integer ids (`pod_id_1`, ...: the
 * columns of schema.c's TAG_ID_COLUMNS); names live once in flow_tag.tag_dict and labels in
 * flow_tag.k8s_label. This table says, per virtual column, which stored id column it reads
 * and which dictionary kinds its ids can be; src/query/sql.c turns filters on it into
 * integer predicates through the dictionary, and the server decodes ids in results.
 */
#ifndef OB_QUERY_TAG_COLUMNS_H
#define OB_QUERY_TAG_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/schema.h"

/* What a label column starts with: k8s.label.KEY_N. */
#define TAG_LABEL_PREFIX "k8s.label."

struct tag_column {
	const char *name;      /* "pod_1": what users write */
	const char *id_column; /* "pod_id_1": the stored column holding its ids */
	uint32_t kinds;	       /* bit (1 << enum tag_kind) for every kind its ids can be */
	int side;	       /* 0 client, 1 server */
	const char *help;
};

/* Every virtual name column, both sides, in SHOW TAGS order. */
extern const struct tag_column tag_columns[];
extern const size_t tag_ncolumns;

/* SHOW TAGS rows for the label columns, one per side: name pattern and help. */
extern const char *const tag_label_show[2][2];

/* Whether table t stores the tag id columns (so that virtual columns apply to it). */
bool tag_columns_on(const struct schema_table *t);

/* The virtual column called name[0..len) on t, or NULL (also when t has none). */
const struct tag_column *tag_column_find(const struct schema_table *t, const char *name,
					 size_t len);

/*
 * name[0..len) as a label column k8s.label.KEY_N: true with KEY (a view into name, never
 * empty) and the side N (0 or 1); false when it is not of that form.
 */
bool tag_label_parse(const char *name, size_t len, const char **key, size_t *keylen, int *side);

/* The stored id columns a label of side reads: the pod's, then its service's. */
const char *tag_label_pod_column(int side);
const char *tag_label_service_column(int side);

/*
 * Names of t (stored and virtual) close to name[0..len) (a small edit distance, or name
 * followed by "_"), comma-separated into out (NUL-terminated, "" when none), at most max of
 * them, closest first. Returns how many.
 */
size_t tag_near_names(const struct schema_table *t, const char *name, size_t len, char *out,
		      size_t cap, size_t max);

#endif
