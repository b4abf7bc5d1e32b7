/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tag ids to names for query results (docs/tagging.md, "Querying tags"). A query over a
 * virtual tag column (pod_1, auto_service_0, ...) returns the stored ids (query_plan.tag_ids
 * says which columns); the executor then asks this module for the name of each distinct
 * id of the result: one query per TAG_NAMES_BATCH ids over flow_tag.tag_dict, the newest
 * version of each id winning, 0 and ids the dictionary does not hold giving no name (NULL).
 * Names found are cached in a fixed number of slots for a short time (a process's name may
 * change with exec; every other kind's name is fixed by its key), so a dashboard that asks
 * the same thing every few seconds costs one dictionary lookup a minute. Thread-safe.
 * On a store whose rows hold local numbers (STORE_CAP_LOCAL_TAG_IDS: SQLite), the "ids"
 * given are those numbers, looked up through the store's map; one tag_names serves one
 * store.
 */
#ifndef OB_QUERY_TAG_NAMES_H
#define OB_QUERY_TAG_NAMES_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_limits;

#define TAG_NAMES_BATCH	     256   /* ids per dictionary query */
#define TAG_NAMES_SLOTS	     65536 /* cache slots (a power of two): bounded memory */
#define TAG_NAMES_TTL_MS     60000 /* how long a cached name is trusted */
#define TAG_NAMES_MAX_CACHED 256   /* longer names are looked up every time, not cached */

struct tag_names_stats {
	uint64_t hits;	  /* ids answered from the cache */
	uint64_t misses;  /* ids looked up in the dictionary */
	uint64_t unknown; /* of those, ids the dictionary does not hold */
	uint64_t queries; /* dictionary queries run */
	uint64_t errors;  /* dictionary queries that failed */
};

struct tag_names;

/* A cache of slots (rounded up to a power of two; 0: TAG_NAMES_SLOTS) trusted for ttl_ms
 * (0: TAG_NAMES_TTL_MS). NULL on allocation failure. */
struct tag_names *tag_names_new(size_t slots, uint64_t ttl_ms);
void tag_names_free(struct tag_names *tn);

/*
 * The names of ids[0..n) (repeats allowed) into names[0..n): malloc'd strings, NULL for 0
 * and for an id the dictionary does not hold. lim bounds each dictionary query (its
 * timeout; its rows are not capped). Returns 0, or -errno from the store (store_errmsg has
 * its text) or -ENOMEM; on failure every names[i] is NULL.
 */
int tag_names_lookup(struct tag_names *tn, struct store *s, const struct store_limits *lim,
		     const int64_t *ids, size_t n, char **names);

void tag_names_stats(struct tag_names *tn, struct tag_names_stats *out);

#endif
