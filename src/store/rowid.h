/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Row ids (`_id` of l7_flow_log): a unique 64-bit id per stored row, below 2^63, assigned
 * at ingest by backend-independent code (store_write_rows) so that every backend stores
 * the same ids, and unique across several server processes writing to one store without
 * a coordinator. Layout, from the top (bit 63 is always 0):
 *
 *   bits 62..38  25 bits  the row's time column, in minutes since ROWID_EPOCH_S
 *   bits 37..26  12 bits  a random instance number drawn once per process
 *   bits 25..0   26 bits  a per-process counter (from a random start), one step per row
 *
 * So the id names its row's minute (rowid_time): a store finds the row's day partition
 * (or a ClickHouse primary-key range) from the id alone. One process never repeats an id
 * unless 2^26 (67 million) rows lie between two rows stamped with the same minute. Two
 * processes collide only if they drew the same instance number (1 in 4096 per pair) and
 * their counters meet on rows of the same minute. Times before the epoch are stamped as
 * the epoch (the id is still unique, but names no partition: rowid_time returns -1).
 */
#ifndef OB_STORE_ROWID_H
#define OB_STORE_ROWID_H

#include <stdint.h>

#define ROWID_EPOCH_S	 1577836800ll /* 2020-01-01T00:00:00Z */
#define ROWID_TIME_BITS	 25	      /* minutes: until 2083 */
#define ROWID_INST_BITS	 12
#define ROWID_SEQ_BITS	 26
#define ROWID_TIME_SHIFT (ROWID_INST_BITS + ROWID_SEQ_BITS)
#define ROWID_INST_SHIFT ROWID_SEQ_BITS
#define ROWID_SEQ_MASK	 ((1ull << ROWID_SEQ_BITS) - 1)
#define ROWID_INST_MASK	 ((1ull << ROWID_INST_BITS) - 1)
#define ROWID_TIME_MASK	 ((1ull << ROWID_TIME_BITS) - 1)

/* The id of a row of time time_s, from this process's instance and counter value seq. */
int64_t rowid_make(int64_t time_s, uint64_t seq);
/* Reserve n consecutive counter values; returns the first. Thread-safe. */
uint64_t rowid_reserve(uint64_t n);
/* The start of the minute (Unix seconds) of the row an id names: its time column is in
 * [that, that + 59]; -1 when it cannot say (a row stamped before the epoch, or not an
 * id at all: negative). */
int64_t rowid_time(int64_t id);
/* This process's instance number (drawn on first use). */
uint32_t rowid_instance(void);
/* Tests: force the instance number (before any id is made). */
void rowid_set_instance(uint32_t inst);

#endif
