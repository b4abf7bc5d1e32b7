/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP fragment reassembly: see pkt_frag.h. A hash table of packets being rebuilt, each with
 * its fragments in a list sorted by offset, and an age list (oldest first) that both the
 * timeout and the eviction of the oldest when full walk from its head.
 */
#include "agent/pkt_frag.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/*
 * Fragments one packet may have. A 64 KiB packet cut at the smallest IPv4 MTU (68 bytes,
 * so 48 data bytes a fragment) has 1366; the bound keeps the cost of inserting in offset
 * order (a list walk) from growing without limit.
 */
#define MAX_PIECES  2048
#define MAX_BUCKETS (1u << 20)
#define WHOLE_MAX   65535u /* no IP packet is longer */

struct frag_piece {
	struct frag_piece *next;
	uint32_t offset, len;
	uint8_t data[];
};

struct frag_set {
	struct frag_set *hash_next;
	struct frag_set *older, *newer;
	struct pkt_frag_key key;
	uint64_t first_ns;	       /* capture time of its first fragment: the timeout's start */
	uint64_t cost;		       /* bytes charged to the table */
	struct frag_piece *pieces;     /* sorted by offset, never overlapping */
	struct frag_piece *last_piece; /* the highest offset: in-order arrival appends here */
	uint32_t npieces;
	uint32_t have;	/* data bytes held */
	uint32_t total; /* length of the whole part, once the last fragment came */
	uint32_t bucket;
	bool have_first; /* the offset 0 fragment came: the header fields below are set */
	bool have_last;
	uint16_t hdr_len;
	uint8_t ttl;
	uint8_t next_proto;
	uint64_t frame_bytes; /* of the fragments kept */
	uint64_t ip_bytes;
};

struct pkt_frag_table {
	struct frag_set **buckets;
	uint32_t nbuckets; /* a power of two */
	struct frag_set *oldest, *newest;
	uint32_t count, max_packets;
	uint64_t bytes, max_bytes, timeout_ns;
	uint64_t seed; /* random, so that crafted keys cannot pile into one bucket */
	struct pkt_decode_stats *stats;
	uint8_t whole[WHOLE_MAX];
};

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint32_t key_bucket(const struct pkt_frag_table *t, const struct pkt_frag_key *k)
{
	uint64_t w[4], h = t->seed;

	memcpy(w, k->src, 16);
	memcpy(w + 2, k->dst, 16);
	for (int i = 0; i < 4; i++)
		h = hash_mix(h, w[i]);
	h = hash_mix(h, k->ctx);
	h = hash_mix(h, (uint64_t)k->id << 16 | (uint64_t)k->family << 8 | k->proto);
	return (uint32_t)(h ^ (h >> 32)) & (t->nbuckets - 1);
}

/* Field by field: keys built on the stack may have garbage in their padding. */
static bool key_equal(const struct pkt_frag_key *a, const struct pkt_frag_key *b)
{
	return a->id == b->id && a->family == b->family && a->proto == b->proto &&
	       a->ctx == b->ctx && !memcmp(a->src, b->src, 16) && !memcmp(a->dst, b->dst, 16);
}

static void update_gauges(struct pkt_frag_table *t)
{
	t->stats->frag_held_packets = t->count;
	t->stats->frag_held_bytes = t->bytes;
}

struct pkt_frag_table *pkt_frag_table_create(uint32_t max_packets, uint64_t max_bytes,
					     uint64_t timeout_ns, struct pkt_decode_stats *stats)
{
	struct pkt_frag_table *t = calloc(1, sizeof(*t));
	uint32_t n = 16;

	if (!t)
		return NULL;
	while (n < max_packets && n < MAX_BUCKETS)
		n <<= 1;
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->nbuckets = n;
	t->max_packets = max_packets ? max_packets : 1;
	t->max_bytes = max_bytes;
	t->timeout_ns = timeout_ns;
	t->stats = stats;
	/* Without entropy the table still works; it is only easier to flood one bucket. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)(uintptr_t)t ^ 0x5bd1e9955bd1e995ull;
	return t;
}

static void set_remove(struct pkt_frag_table *t, struct frag_set *s)
{
	struct frag_set **pp = &t->buckets[s->bucket];
	struct frag_piece *p, *next;

	while (*pp != s)
		pp = &(*pp)->hash_next;
	*pp = s->hash_next;
	if (s->older)
		s->older->newer = s->newer;
	else
		t->oldest = s->newer;
	if (s->newer)
		s->newer->older = s->older;
	else
		t->newest = s->older;
	for (p = s->pieces; p; p = next) {
		next = p->next;
		free(p);
	}
	t->bytes -= s->cost;
	t->count--;
	free(s);
	update_gauges(t);
}

/* Give up on an incomplete packet, counting why. */
static void set_drop(struct pkt_frag_table *t, struct frag_set *s, uint64_t *reason)
{
	(*reason)++;
	set_remove(t, s);
}

void pkt_frag_table_destroy(struct pkt_frag_table *t)
{
	if (!t)
		return;
	while (t->oldest)
		set_remove(t, t->oldest);
	free(t->buckets);
	free(t);
}

static bool set_expired(const struct pkt_frag_table *t, const struct frag_set *s, uint64_t now_ns)
{
	/* Capture time can step back (several sources, reordered files): never "negative". */
	return now_ns > s->first_ns && now_ns - s->first_ns > t->timeout_ns;
}

void pkt_frag_expire(struct pkt_frag_table *t, uint64_t now_ns)
{
	struct frag_set *s = t->oldest, *newer;

	for (; s; s = newer) {
		newer = s->newer;
		if (set_expired(t, s, now_ns))
			set_drop(t, s, &t->stats->frag_dropped_timeout);
	}
}

void pkt_frag_expire_oldest(struct pkt_frag_table *t, uint64_t now_ns)
{
	while (t->oldest && set_expired(t, t->oldest, now_ns))
		set_drop(t, t->oldest, &t->stats->frag_dropped_timeout);
}

static struct frag_set *set_find(struct pkt_frag_table *t, const struct pkt_frag_key *k,
				 uint32_t bucket)
{
	struct frag_set *s;

	for (s = t->buckets[bucket]; s; s = s->hash_next)
		if (key_equal(&s->key, k))
			return s;
	return NULL;
}

static struct frag_set *set_new(struct pkt_frag_table *t, const struct pkt_frag_key *k,
				uint32_t bucket, uint64_t now_ns)
{
	struct frag_set *s;

	if (t->count >= t->max_packets)
		set_drop(t, t->oldest, &t->stats->frag_dropped_full);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = *k;
	s->first_ns = now_ns;
	s->bucket = bucket;
	s->hash_next = t->buckets[bucket];
	t->buckets[bucket] = s;
	s->older = t->newest;
	if (t->newest)
		t->newest->newer = s;
	else
		t->oldest = s;
	t->newest = s;
	t->count++;
	update_gauges(t);
	return s;
}

/* Drop the oldest other packets until `cost` more bytes fit; false if they never will. */
static bool make_room(struct pkt_frag_table *t, struct frag_set *keep, uint64_t cost)
{
	while (t->bytes + cost > t->max_bytes) {
		struct frag_set *victim = t->oldest == keep ? keep->newer : t->oldest;

		if (!victim)
			return false;
		set_drop(t, victim, &t->stats->frag_dropped_full);
	}
	return true;
}

enum placement { PLACE_NEW, PLACE_DUPLICATE, PLACE_OVERLAP };

/* Where f goes in s's sorted list: after *prev (NULL: at the head). */
static enum placement place(const struct frag_set *s, const struct pkt_frag *f,
			    struct frag_piece **prev)
{
	uint32_t end = f->offset + f->len;
	struct frag_piece *p, *next;

	*prev = NULL;
	if (s->last_piece && s->last_piece->offset <= f->offset) {
		*prev = s->last_piece;
	} else {
		for (p = s->pieces; p && p->offset <= f->offset; p = p->next)
			*prev = p;
	}
	next = *prev ? (*prev)->next : s->pieces;
	/* The same fragment seen twice (two capture points, a retransmission) is harmless. */
	if (*prev && (*prev)->offset == f->offset && (*prev)->len == f->len)
		return PLACE_DUPLICATE;
	if (*prev && (*prev)->offset + (*prev)->len > f->offset)
		return PLACE_OVERLAP;
	if (next && next->offset < end)
		return PLACE_OVERLAP;
	return PLACE_NEW;
}

/* Whether f contradicts what s already knows about where the packet ends. */
static bool ends_inconsistent(const struct frag_set *s, const struct pkt_frag *f)
{
	uint32_t end = f->offset + f->len;

	if (s->have_last)
		return end > s->total || (!f->more && end != s->total);
	if (!f->more && s->last_piece)
		return s->last_piece->offset + s->last_piece->len > end;
	return false;
}

static void assemble(struct pkt_frag_table *t, struct frag_set *s, struct pkt_frag_whole *whole)
{
	const struct frag_piece *p;

	for (p = s->pieces; p; p = p->next)
		memcpy(t->whole + p->offset, p->data, p->len);
	*whole = (struct pkt_frag_whole){
		.data = t->whole,
		.len = s->total,
		.hdr_len = s->hdr_len,
		.ttl = s->ttl,
		.next_proto = s->next_proto,
		.frame_bytes = s->frame_bytes,
		.ip_bytes = s->ip_bytes,
	};
	t->stats->frag_reassembled++;
	set_remove(t, s);
}

enum pkt_frag_result pkt_frag_add(struct pkt_frag_table *t, const struct pkt_frag *f,
				  struct pkt_frag_whole *whole)
{
	uint32_t bucket = key_bucket(t, &f->key);
	uint32_t end = f->offset + f->len; /* both are below 2^17: no overflow */
	struct frag_set *s = set_find(t, &f->key, bucket);
	struct frag_piece *prev, *piece;
	uint64_t cost = sizeof(*piece) + f->len;

	if (s && set_expired(t, s, f->ts_ns)) {
		set_drop(t, s, &t->stats->frag_dropped_timeout);
		s = NULL;
	}
	if (!f->len || end > f->max_end || end > WHOLE_MAX) {
		if (s)
			set_remove(t, s);
		t->stats->frag_bad++;
		return PKT_FRAG_BAD;
	}
	if (!s) {
		s = set_new(t, &f->key, bucket, f->ts_ns);
		if (!s) {
			t->stats->frag_dropped_full++;
			return PKT_FRAG_DROPPED;
		}
	}
	if (ends_inconsistent(s, f) || s->npieces >= MAX_PIECES) {
		set_drop(t, s, &t->stats->frag_bad);
		return PKT_FRAG_BAD;
	}
	switch (place(s, f, &prev)) {
	case PLACE_DUPLICATE: return PKT_FRAG_HELD;
	case PLACE_OVERLAP: set_drop(t, s, &t->stats->frag_bad); return PKT_FRAG_BAD;
	case PLACE_NEW: break;
	}
	if (!make_room(t, s, cost) || !(piece = malloc(cost))) {
		set_drop(t, s, &t->stats->frag_dropped_full);
		return PKT_FRAG_DROPPED;
	}
	piece->offset = f->offset;
	piece->len = f->len;
	memcpy(piece->data, f->data, f->len);
	piece->next = prev ? prev->next : s->pieces;
	if (prev)
		prev->next = piece;
	else
		s->pieces = piece;
	if (!piece->next)
		s->last_piece = piece;
	s->npieces++;
	s->have += f->len;
	s->frame_bytes += f->frame_len;
	s->ip_bytes += f->ip_len;
	s->cost += cost;
	t->bytes += cost;
	update_gauges(t);
	if (f->offset == 0) {
		s->have_first = true;
		s->hdr_len = f->hdr_len;
		s->ttl = f->ttl;
		s->next_proto = f->next_proto;
	}
	if (!f->more) {
		s->have_last = true;
		s->total = end;
	}
	/* Pieces never overlap and all end by total, so this many bytes cover it all. */
	if (s->have_first && s->have_last && s->have == s->total) {
		assemble(t, s, whole);
		return PKT_FRAG_WHOLE;
	}
	return PKT_FRAG_HELD;
}
