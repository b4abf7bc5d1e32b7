/* SPDX-License-Identifier: Apache-2.0 */
/* Row ids: see rowid.h. */
#include "store/rowid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint64_t counter;
static _Atomic uint32_t instance;
static _Atomic bool have_instance;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void draw_instance(void)
{
	uint32_t r = 0;
	struct timespec ts;

	if (atomic_load(&have_instance))
		return;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		/* No entropy yet (early boot): mix what differs between processes. */
		clock_gettime(CLOCK_REALTIME, &ts);
		r = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 7) ^ (uint32_t)ts.tv_sec;
	}
	atomic_store(&instance, r & ROWID_INST_MASK);
	/* The counter starts anywhere: a second process with the same instance number
	 * then still rarely meets the same values in the same second. */
	atomic_store(&counter, (uint64_t)(r >> ROWID_INST_BITS));
	atomic_store(&have_instance, true);
}

uint32_t rowid_instance(void)
{
	pthread_once(&once, draw_instance);
	return atomic_load(&instance);
}

void rowid_set_instance(uint32_t inst)
{
	atomic_store(&instance, inst & ROWID_INST_MASK);
	atomic_store(&have_instance, true);
}

uint64_t rowid_reserve(uint64_t n)
{
	pthread_once(&once, draw_instance);
	return atomic_fetch_add_explicit(&counter, n, memory_order_relaxed);
}

int64_t rowid_make(int64_t time_s, uint64_t seq)
{
	uint64_t t = time_s > ROWID_EPOCH_S ? (uint64_t)(time_s - ROWID_EPOCH_S) / 60 : 0;

	if (t > ROWID_TIME_MASK)
		t = ROWID_TIME_MASK;
	return (int64_t)((t << ROWID_TIME_SHIFT) |
			 ((uint64_t)rowid_instance() << ROWID_INST_SHIFT) | (seq & ROWID_SEQ_MASK));
}

int64_t rowid_time(int64_t id)
{
	uint64_t t;

	if (id <= 0)
		return -1;
	t = ((uint64_t)id >> ROWID_TIME_SHIFT) & ROWID_TIME_MASK;
	return t ? ROWID_EPOCH_S + (int64_t)t * 60 : -1;
}
