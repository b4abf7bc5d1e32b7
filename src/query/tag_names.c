/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tag ids to names: see tag_names.h. The cache is a fixed array of slots; an id may sit in
 * any of PROBE slots from its hash, and a newcomer takes an empty or expired one there, or
 * evicts the one closest to expiry: no lists to keep, memory fixed at creation.
 */
#include "query/tag_names.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/schema.h"
#include "store/store.h"

#define PROBE 4

struct slot {
	int64_t id; /* 0: empty */
	uint64_t expires_ms;
	char *name;
};

struct tag_names {
	pthread_mutex_t lock;
	struct slot *slots;
	size_t mask;
	uint64_t ttl_ms;
	struct tag_names_stats st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Ids are hashes already (common/tag_id.h), but tests and old data use small ones: mix. */
static size_t slot_of(const struct tag_names *tn, int64_t id)
{
	uint64_t x = (uint64_t)id;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (size_t)x & tn->mask;
}

/* The live slot holding id, or NULL. Under tn->lock. */
static struct slot *cache_find(struct tag_names *tn, int64_t id, uint64_t now)
{
	size_t h = slot_of(tn, id);

	for (size_t k = 0; k < PROBE; k++) {
		struct slot *sl = &tn->slots[(h + k) & tn->mask];

		if (sl->id == id && sl->expires_ms > now)
			return sl;
	}
	return NULL;
}

/* The slot id goes to: its own, else an empty or expired one, else the oldest. */
static struct slot *cache_place(struct tag_names *tn, int64_t id, uint64_t now)
{
	size_t h = slot_of(tn, id);
	struct slot *best = NULL;

	for (size_t k = 0; k < PROBE; k++) {
		struct slot *sl = &tn->slots[(h + k) & tn->mask];

		if (sl->id == id || !sl->id || sl->expires_ms <= now)
			return sl;
		if (!best || sl->expires_ms < best->expires_ms)
			best = sl;
	}
	return best;
}

struct tag_names *tag_names_new(size_t slots, uint64_t ttl_ms)
{
	struct tag_names *tn = calloc(1, sizeof(*tn));
	size_t n = 1;

	if (!slots)
		slots = TAG_NAMES_SLOTS;
	while (n < slots && n < ((size_t)1 << 30))
		n <<= 1;
	if (!tn)
		return NULL;
	tn->slots = calloc(n, sizeof(*tn->slots));
	if (!tn->slots) {
		free(tn);
		return NULL;
	}
	tn->mask = n - 1;
	tn->ttl_ms = ttl_ms ? ttl_ms : TAG_NAMES_TTL_MS;
	pthread_mutex_init(&tn->lock, NULL);
	return tn;
}

void tag_names_free(struct tag_names *tn)
{
	if (!tn)
		return;
	for (size_t i = 0; i <= tn->mask; i++)
		free(tn->slots[i].name);
	free(tn->slots);
	pthread_mutex_destroy(&tn->lock);
	free(tn);
}

void tag_names_stats(struct tag_names *tn, struct tag_names_stats *out)
{
	pthread_mutex_lock(&tn->lock);
	*out = tn->st;
	pthread_mutex_unlock(&tn->lock);
}

/* One id of a batch being looked up: its best version so far. */
struct want {
	int64_t id;
	int64_t time;
	char *name;
	bool found;
};

struct batch {
	struct want *w; /* sorted by id */
	size_t n;
	bool oom;
};

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static struct want *find_want(struct batch *b, int64_t id)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->w[mid].id == id)
			return &b->w[mid];
		if (b->w[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A row (id, name, time): keep it if it is the id's newest version so far. */
static int on_version(void *ctx, const struct store_value *v, size_t ncols)
{
	struct batch *b = ctx;
	struct want *w;
	char *name;

	if (ncols < 3 || v[0].type != STORE_INT || v[2].type != STORE_INT)
		return 0;
	w = find_want(b, v[0].i);
	if (!w || (w->found && v[2].i < w->time))
		return 0;
	name = NULL;
	if (v[1].type == STORE_TEXT) {
		name = strndup(v[1].s, v[1].len);
		if (!name) {
			b->oom = true;
			return -ENOMEM;
		}
	}
	free(w->name);
	w->name = name; /* a NULL name stays "no name" */
	w->time = v[2].i;
	w->found = true;
	return 0;
}

/* Look b's ids up in the dictionary: one statement, ids bound as parameters. */
static int query_batch(struct store *s, const struct store_limits *lim, struct batch *b)
{
	const struct schema_table *t = schema_find_table("flow_tag", "tag_dict");
	struct store_value params[TAG_NAMES_BATCH];
	char sql[256 + TAG_NAMES_BATCH * 3];
	struct store_limits l = { .timeout_ms = lim ? lim->timeout_ms : 0 };
	size_t len;

	if (!t || b->n > TAG_NAMES_BATCH)
		return -EINVAL;
	if (store_caps(s) & STORE_CAP_LOCAL_TAG_IDS)
		/* the store's rows hold local numbers: names of the ids they stand for */
		len = (size_t)snprintf(sql, sizeof(sql),
				       "SELECT l.\"lid\", d.\"name\", d.\"time\" FROM "
				       "\"" STORE_TAG_LOCAL_TABLE "\" AS l JOIN \"%s\" AS d ON "
				       "d.\"id\" = l.\"id\" WHERE l.\"lid\" IN (",
				       t->store_name);
	else
		len = (size_t)snprintf(sql, sizeof(sql),
				       "SELECT \"id\", \"name\", \"time\" FROM \"%s\" WHERE "
				       "\"id\" IN (",
				       t->store_name);
	for (size_t i = 0; i < b->n; i++) {
		params[i] = (struct store_value){ .type = STORE_INT, .i = b->w[i].id };
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, i ? ", ?" : "?");
	}
	snprintf(sql + len, sizeof(sql) - len, ")");
	return store_query(s, sql, params, b->n, &l, NULL, on_version, b);
}

/* The index of id in the sorted uniq[0..n), or n. */
static size_t index_of(const int64_t *uniq, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uniq[mid] == id)
			return mid;
		if (uniq[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return n;
}

/* Look uniq[at..at+cnt) up (none cached) and put what is found into found[] and the cache. */
static int lookup_batch(struct tag_names *tn, struct store *s, const struct store_limits *lim,
			const int64_t *ids, size_t cnt, struct batch *b, uint64_t now)
{
	int rc;

	b->n = cnt;
	memset(b->w, 0, cnt * sizeof(*b->w));
	for (size_t k = 0; k < cnt; k++)
		b->w[k].id = ids[k];
	rc = query_batch(s, lim, b);
	if (b->oom && !rc)
		rc = -ENOMEM;
	pthread_mutex_lock(&tn->lock);
	tn->st.queries++;
	tn->st.misses += cnt;
	if (rc)
		tn->st.errors++;
	for (size_t k = 0; !rc && k < cnt; k++) {
		struct want *w = &b->w[k];
		struct slot *sl;

		if (!w->name) {
			/* not cached: the tagger may write it any moment */
			tn->st.unknown++;
			continue;
		}
		if (strlen(w->name) > TAG_NAMES_MAX_CACHED)
			continue;
		sl = cache_place(tn, w->id, now);
		free(sl->name);
		sl->name = strdup(w->name);
		sl->id = sl->name ? w->id : 0;
		sl->expires_ms = now + tn->ttl_ms;
	}
	pthread_mutex_unlock(&tn->lock);
	return rc;
}

int tag_names_lookup(struct tag_names *tn, struct store *s, const struct store_limits *lim,
		     const int64_t *ids, size_t n, char **names)
{
	int64_t *uniq = NULL, *todo = NULL;
	char **found = NULL;
	size_t nu = 0, ntodo = 0;
	struct batch b = { 0 };
	uint64_t now = now_ms();
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		names[i] = NULL;
	if (!n)
		return 0;
	/* The distinct ids of the result, 0 ("no tag") aside. */
	uniq = malloc(n * sizeof(*uniq));
	todo = malloc(n * sizeof(*todo));
	found = calloc(n, sizeof(*found));
	b.w = calloc(n < TAG_NAMES_BATCH ? n : TAG_NAMES_BATCH, sizeof(*b.w));
	if (!uniq || !todo || !found || !b.w) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i])
			uniq[nu++] = ids[i];
	qsort(uniq, nu, sizeof(*uniq), cmp_id);
	{
		size_t u = 0;

		for (size_t i = 0; i < nu; i++)
			if (!u || uniq[u - 1] != uniq[i])
				uniq[u++] = uniq[i];
		nu = u;
	}
	/* The cache first; what it lacks is looked up, TAG_NAMES_BATCH ids a query. */
	pthread_mutex_lock(&tn->lock);
	for (size_t j = 0; j < nu && !rc; j++) {
		const struct slot *sl = cache_find(tn, uniq[j], now);

		if (sl) {
			found[j] = strdup(sl->name);
			rc = found[j] ? 0 : -ENOMEM;
			tn->st.hits++;
		} else {
			todo[ntodo++] = uniq[j];
		}
	}
	pthread_mutex_unlock(&tn->lock);
	for (size_t at = 0; at < ntodo && !rc; at += TAG_NAMES_BATCH) {
		size_t cnt = ntodo - at < TAG_NAMES_BATCH ? ntodo - at : TAG_NAMES_BATCH;

		rc = lookup_batch(tn, s, lim, todo + at, cnt, &b, now);
		for (size_t k = 0; k < cnt; k++) {
			/* todo is sorted too: each found name moves to its distinct id's place */
			if (!rc && b.w[k].name)
				found[index_of(uniq, nu, b.w[k].id)] = b.w[k].name;
			else
				free(b.w[k].name);
			b.w[k].name = NULL;
		}
	}
	/* each cell gets a copy of its id's name */
	for (size_t i = 0; i < n && !rc; i++) {
		size_t j = ids[i] ? index_of(uniq, nu, ids[i]) : nu;

		if (j < nu && found[j] && !(names[i] = strdup(found[j])))
			rc = -ENOMEM;
	}
out:
	for (size_t j = 0; found && j < nu; j++)
		free(found[j]);
	free(found);
	free(b.w);
	free(todo);
	free(uniq);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			free(names[i]);
			names[i] = NULL;
		}
	return rc;
}
