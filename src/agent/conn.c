/* SPDX-License-Identifier: Apache-2.0 */
/* Connection table: see conn.h. uthash gives the index, an intrusive list the LRU order. */
#include "agent/conn.h"

#include <stdlib.h>

static void lru_unlink(struct conn_table *t, struct conn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		t->lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		t->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_append(struct conn_table *t, struct conn *c)
{
	c->lru_prev = t->lru_tail;
	c->lru_next = NULL;
	if (t->lru_tail)
		t->lru_tail->lru_next = c;
	else
		t->lru_head = c;
	t->lru_tail = c;
}

void conn_table_init(struct conn_table *t, uint32_t max, conn_evict_fn evict, void *ctx)
{
	*t = (struct conn_table){ .max = max ? max : 1, .evict = evict, .evict_ctx = ctx };
}

struct conn *conn_lookup(struct conn_table *t, uint64_t socket_id)
{
	struct conn *c = NULL;

	HASH_FIND(hh, t->map, &socket_id, sizeof(socket_id), c);
	return c;
}

void conn_remove(struct conn_table *t, struct conn *c, uint64_t now_ns)
{
	if (t->evict)
		t->evict(t->evict_ctx, c, now_ns);
	HASH_DELETE(hh, t->map, c);
	lru_unlink(t, c);
	t->count--;
	free(c);
}

struct conn *conn_create(struct conn_table *t, uint64_t socket_id, uint64_t now_ns)
{
	struct conn *c;

	if (t->count >= t->max && t->lru_head) {
		t->evicted_full++;
		conn_remove(t, t->lru_head, now_ns);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->socket_id = socket_id;
	c->last_ns = now_ns;
	HASH_ADD(hh, t->map, socket_id, sizeof(c->socket_id), c);
	lru_append(t, c);
	t->count++;
	return c;
}

void conn_touch(struct conn_table *t, struct conn *c, uint64_t now_ns)
{
	c->last_ns = now_ns;
	if (t->lru_tail != c) {
		lru_unlink(t, c);
		lru_append(t, c);
	}
}

uint32_t conn_table_expire(struct conn_table *t, uint64_t now_ns, uint64_t idle_ns)
{
	uint32_t n = 0;

	/* The LRU list is ordered by activity, so the idle ones are all at the head. */
	while (t->lru_head && t->lru_head->last_ns + idle_ns < now_ns) {
		conn_remove(t, t->lru_head, now_ns);
		t->evicted_idle++;
		n++;
	}
	return n;
}

void conn_table_clear(struct conn_table *t, uint64_t now_ns)
{
	while (t->lru_head)
		conn_remove(t, t->lru_head, now_ns);
}
