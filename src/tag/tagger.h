/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's tagger (DESIGN §5, docs/tagging.md): it keeps, in bounded memory, what
 * agents reported (hosts, processes) and the custom service rules, and at ingest resolves
 * both sides of every l7 and l4 record of a batch into tag ids (struct tag_set), the
 * dictionary entries of which it lists as flow_tag rows to be written in the batch's own
 * transaction: an entry when first seen, when it changed, and again after a day (so that
 * retention by time drops only entries no retained row refers to).
 *
 * Ids come only from tag_id(): two servers given the same reports tag the same rows with
 * the same ids. One batch at a time: the ingest path calls tagger_batch, writes, then
 * tagger_done, under its ingest lock.
 */
#ifndef OB_TAG_TAGGER_H
#define OB_TAG_TAGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "tag/custom_rules.h"
#include "tag/k8s_cache.h"
#include "wire/wire.h"

/*
 * Table sizes (struct tagger_cfg, server config tag_max_hosts, tag_max_procs,
 * tag_dict_entries; 0 takes these defaults). Memory, allocated once at start: about 5.5 KiB
 * a host (its entry and room for all its addresses), 2.6 KiB a process (two slots: the
 * table is kept at most half full), 80 bytes a dictionary entry: about 36 MiB with the
 * defaults. A full host or process table starts over (agents report again within
 * minutes); a full dictionary table too (entries are written again, as new versions).
 */
#define TAGGER_DEFAULT_HOSTS 1024
#define TAGGER_DEFAULT_PROCS 8192
#define TAGGER_DEFAULT_DICT  131072
#define TAGGER_MAX_HOSTS     65536
#define TAGGER_MAX_PROCS     (1u << 22)
#define TAGGER_MAX_DICT	     (1u << 26)
#define TAGGER_DICT_EVERY_S  86400 /* an entry is written again after this long */

struct tagger_cfg {
	const struct custom_rules *rules; /* borrowed, may be NULL */
	struct k8s_cache *k8s;		  /* borrowed, may be NULL (no Kubernetes) */
	size_t max_hosts;		  /* hosts remembered (0: TAGGER_DEFAULT_HOSTS) */
	size_t max_procs;		  /* processes remembered (0: TAGGER_DEFAULT_PROCS) */
	size_t dict_entries;		  /* dictionary entries remembered as written */
};

struct tagger_stats {
	uint64_t batches;
	uint64_t hosts;		 /* hosts known now */
	uint64_t host_reports;	 /* host reports received */
	uint64_t procs;		 /* processes known now */
	uint64_t proc_reports;	 /* process reports received */
	uint64_t procs_unknown;	 /* record sides with a pid no report named */
	uint64_t proc_resets;	 /* the process table was full and started over */
	uint64_t dict_rows;	 /* flow_tag rows listed for writing */
	uint64_t dict_resets;	 /* the written-entries table was full and started over */
	uint64_t custom_matches; /* record sides named by a custom service rule */
	uint64_t k8s_matches;	 /* record sides whose address Kubernetes knows */
};

struct tagger;

struct tagger *tagger_new(const struct tagger_cfg *cfg);
void tagger_free(struct tagger *t);

/*
 * Take the batch's host and process reports (agent_id is the batch's), set the tags of
 * every record of d in place, and point *rows / *nrows at the flow_tag rows to write with
 * them (valid until tagger_done). now_s is the rows' time. 0 or -ENOMEM (the records are
 * then untagged or partly tagged, and no row is listed).
 */
int tagger_batch(struct tagger *t, const char *agent_id, struct wire_decoded *d, int64_t now_s,
		 const struct store_tag_row **rows, size_t *nrows);

/* The store's answer for that batch: stored, the rows count as written; otherwise they are
 * listed again with the next batch that needs them. */
void tagger_done(struct tagger *t, bool stored);

void tagger_get_stats(struct tagger *t, struct tagger_stats *out);

#endif
