/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the samples of a Prometheus text exposition (what GET /metrics answers):
 * lines "name{labels} value [timestamp]"; comments and blank lines are skipped. Enough to
 * look samples up by their exact series text, e.g.
 *   flowscope_ingest_batches_total{result="ok"}
 * Lines that do not parse are skipped too: one odd line must not hide the others.
 */
#ifndef OB_CLI_CLI_PROM_H
#define OB_CLI_CLI_PROM_H

#include <stdbool.h>
#include <stddef.h>

struct prom_sample {
	const char *series; /* name and labels as written, NUL-terminated */
	size_t name_len;    /* the metric name is series[0..name_len) */
	const char *label;  /* value of the first label, NUL-terminated; "" without labels */
	double value;
};

struct prom_samples {
	struct prom_sample *v;
	size_t n;
	char *text; /* owns the strings the samples point to */
};

/* Parse text[0..len). 0 or -ENOMEM. */
int prom_parse(const char *text, size_t len, struct prom_samples *out);

/* The sample whose series text is exactly series; NULL when absent. */
const struct prom_sample *prom_find(const struct prom_samples *s, const char *series);

/* True when the sample belongs to metric name (any labels). */
bool prom_is(const struct prom_sample *sample, const char *name);

void prom_free(struct prom_samples *s);

#endif
