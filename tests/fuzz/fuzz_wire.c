/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the server's ingest decoder (wire_decode). Even first bytes feed
 * the rest to the decoder as it arrives on the wire; odd ones compress it first, so the
 * fuzzer reaches the protobuf and field checks (of L7Record, L4Record and NetRow) behind a
 * valid zstd frame. Accepted batches are re-encoded with the builder, every kind alike,
 * and decoded again: that must succeed with the same counts, and the l4 and network rows
 * must come back equal, every field (every byte of a network row's key), and map to the
 * same store row (both pass through the checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "store/store.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The l4 fields the wire carries: the tunnel of a row outside a tunnel is not sent. */
static void l4_canon(struct l4_record *r)
{
	if (!r->f.tunnel_tier)
		memset(&r->f.tunnel, 0, sizeof(r->f.tunnel));
}

static void check_values(const struct store_value *va, const struct store_value *vb, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		if (va[c].type != vb[c].type || va[c].i != vb[c].i ||
		    (va[c].type == STORE_TEXT &&
		     (va[c].len != vb[c].len || memcmp(va[c].s, vb[c].s, va[c].len))))
			__builtin_trap();
	}
}

static void check_l4(const struct l4_record *a, const struct l4_record *b)
{
	struct l4_record x = *a, y = *b;
	struct store_value va[L4C__MAX], vb[L4C__MAX];
	struct store_l4_buf ba, bb;

	l4_canon(&x);
	l4_canon(&y);
	if (memcmp(&x, &y, sizeof(x)))
		__builtin_trap();
	store_l4_row(a, va, &ba);
	store_l4_row(b, vb, &bb);
	check_values(va, vb, L4C__MAX);
}

static void check_net(const struct net_row *a, const struct net_row *b)
{
	struct store_value va[STORE_NET_MAX_COLS], vb[STORE_NET_MAX_COLS];
	struct store_net_buf ba, bb;
	size_t na, nb;

	if (memcmp(a, b, sizeof(*a)))
		__builtin_trap();
	na = store_net_row(a, va, &ba);
	nb = store_net_row(b, vb, &bb);
	if (na != nb)
		__builtin_trap();
	check_values(va, vb, na);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_batch_info info;
	struct wire_decoded d = { 0 }, again = { 0 };
	struct wire_builder b = { 0 };
	uint8_t *z = NULL, *re = NULL;
	size_t zlen, relen;
	char err[128];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		zlen = ZSTD_compressBound(size - 1);
		z = malloc(zlen);
		if (!z)
			return 0;
		zlen = ZSTD_compress(z, zlen, data + 1, size - 1, 1);
		if (ZSTD_isError(zlen))
			goto out;
		if (wire_decode(z, zlen, 1 << 20, &info, &d, err, sizeof(err)))
			goto out;
	} else if (wire_decode(data + 1, size - 1, 1 << 20, &info, &d, err, sizeof(err))) {
		goto out;
	}
	for (size_t i = 0; i < d.n7; i++)
		if (wire_builder_add(&b, &d.l7[i]))
			__builtin_trap();
	for (size_t i = 0; i < d.n4; i++)
		if (wire_builder_add_l4(&b, &d.l4[i]))
			__builtin_trap();
	/* What the decoder accepts the builder takes back: the two agree on every check. */
	for (size_t i = 0; i < d.nnet; i++)
		if (wire_builder_add_net(&b, &d.net[i]))
			__builtin_trap();
	if (wire_builder_finish(&b, &info, 1, &re, &relen) ||
	    wire_decode(re, relen, WIRE_MAX_DECODED, &info, &again, err, sizeof(err)) ||
	    again.n7 != d.n7 || again.n4 != d.n4 || again.nnet != d.nnet)
		__builtin_trap();
	for (size_t i = 0; i < d.n4; i++)
		check_l4(&d.l4[i], &again.l4[i]);
	for (size_t i = 0; i < d.nnet; i++)
		check_net(&d.net[i], &again.net[i]);
out:
	wire_builder_free(&b);
	wire_decoded_free(&again);
	wire_decoded_free(&d);
	free(re);
	free(z);
	return 0;
}
