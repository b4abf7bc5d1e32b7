/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the server's ingest decoder (wire_decode). Even first bytes feed
 * the rest to the decoder as it arrives on the wire; odd ones compress it first, so the
 * fuzzer reaches the protobuf and field checks behind a valid zstd frame. Accepted
 * batches are re-encoded and decoded again: that must succeed with the same count.
 */
#include <stdint.h>
#include <stdlib.h>

#include <zstd.h>

#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_batch_info info;
	struct l7_record *recs = NULL, *again = NULL;
	uint8_t *z = NULL, *re = NULL;
	size_t n = 0, n2 = 0, zlen, relen;
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
		if (wire_decode(z, zlen, 1 << 20, &info, &recs, &n, err, sizeof(err)))
			goto out;
	} else if (wire_decode(data + 1, size - 1, 1 << 20, &info, &recs, &n, err, sizeof(err))) {
		goto out;
	}
	if (wire_encode(&info, recs, n, 1, &re, &relen) ||
	    wire_decode(re, relen, WIRE_MAX_DECODED, &info, &again, &n2, err, sizeof(err)) ||
	    n2 != n)
		__builtin_trap();
out:
	free(again);
	free(re);
	free(recs);
	free(z);
	return 0;
}
