/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go binaries, for goroutine tracking (docs/tracing.md, "Go"): is an executable a Go
 * program, which Go version built it, and where runtime.g keeps the goroutine id. Plain
 * file reads, no libelf: the unit tests link this without it.
 */
#ifndef OB_AGENT_GOLANG_H
#define OB_AGENT_GOLANG_H

#include <stddef.h>
#include <stdint.h>

struct go_binary {
	char version[32];  /* "go1.19.8" */
	uint32_t goid_off; /* offset of goid in runtime.g */
};

/*
 * Inspect the executable at path. 0: a supported Go binary, out filled. -ENOEXEC: not a
 * 64-bit little-endian x86-64 ELF built by Go 1.18 or later (no inline build info).
 * -ENOTSUP: Go, but a version whose runtime.g layout we do not know (out->version is
 * filled). Other -errno: the file could not be read.
 */
int go_binary_inspect(const char *path, struct go_binary *out);

/* The version string in a .go.buildinfo section's bytes; 0 or -ENOEXEC. */
int go_buildinfo_version(const uint8_t *p, size_t n, char *out, size_t outsz);

/* Offset of goid in runtime.g for a version string ("go1.19.8"); -ENOTSUP if unknown. */
int go_goid_offset(const char *version);

#endif
