/* SPDX-License-Identifier: Apache-2.0 */
/* Go binaries: see golang.h. */
#include "agent/golang.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILDINFO_MAGIC	    "\xff Go buildinf:"
#define BUILDINFO_HDR	    32
#define BUILDINFO_F_INLINE  0x2 /* Go 1.18+: version strings follow the header */
#define BUILDINFO_READ_SIZE 256

int go_buildinfo_version(const uint8_t *p, size_t n, char *out, size_t outsz)
{
	uint64_t len = 0;
	size_t i = BUILDINFO_HDR;
	int shift = 0;

	if (n < BUILDINFO_HDR + 1 || memcmp(p, BUILDINFO_MAGIC, 14) != 0 ||
	    !(p[15] & BUILDINFO_F_INLINE))
		return -ENOEXEC;
	/* uvarint length, then the bytes */
	while (i < n && shift < 63) {
		len |= (uint64_t)(p[i] & 0x7f) << shift;
		shift += 7;
		if (!(p[i++] & 0x80))
			break;
	}
	if (len == 0 || len >= outsz || i + len > n)
		return -ENOEXEC;
	memcpy(out, p + i, len);
	out[len] = 0;
	return strncmp(out, "go1.", 4) == 0 ? 0 : -ENOEXEC;
}

/*
 * runtime.g's goid offset on x86-64, by minor version. Go 1.17 to 1.22 lay out the fields
 * before goid identically (stack, stackguard0/1, _panic, _defer, m, sched, syscallsp,
 * syscallpc, stktopsp, param, atomicstatus, stackLock): 152. go1.19.8 (Debian 12) is
 * checked against its DWARF by tests/integration/test_syscall_trace.py. Go 1.23 added
 * syscallbp before goid; later versions are not listed until they are checked.
 */
int go_goid_offset(const char *version)
{
	int major, minor;

	if (sscanf(version, "go%d.%d", &major, &minor) != 2 || major != 1)
		return -ENOTSUP;
	if (minor >= 18 && minor <= 22) /* 1.17 has no inline build info: not recognised */
		return 152;
	return -ENOTSUP;
}

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t r = pread(fd, buf, n, (off_t)off);

	return r == (ssize_t)n ? 0 : -EIO;
}

int go_binary_inspect(const char *path, struct go_binary *out)
{
	uint8_t bi[BUILDINFO_READ_SIZE];
	Elf64_Ehdr eh;
	Elf64_Shdr sh, strsh;
	char name[16];
	int fd, err = -ENOEXEC;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (read_at(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    eh.e_shstrndx >= eh.e_shnum || eh.e_shnum > 4096)
		goto out;
	if (read_at(fd, &strsh, sizeof(strsh), eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(sh)))
		goto out;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		size_t n;

		if (read_at(fd, &sh, sizeof(sh), eh.e_shoff + (uint64_t)i * sizeof(sh)))
			goto out;
		if (sh.sh_name >= strsh.sh_size ||
		    pread(fd, name, sizeof(name), (off_t)(strsh.sh_offset + sh.sh_name)) <= 0)
			continue;
		name[sizeof(name) - 1] = 0;
		if (strcmp(name, ".go.buildinfo") != 0 || sh.sh_type == SHT_NOBITS)
			continue;
		n = sh.sh_size < sizeof(bi) ? sh.sh_size : sizeof(bi);
		if (read_at(fd, bi, n, sh.sh_offset))
			goto out;
		err = go_buildinfo_version(bi, n, out->version, sizeof(out->version));
		if (err)
			goto out;
		err = go_goid_offset(out->version);
		if (err < 0)
			goto out;
		out->goid_off = err;
		err = 0;
		goto out;
	}
out:
	close(fd);
	return err;
}
