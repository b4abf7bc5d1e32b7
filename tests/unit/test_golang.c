/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go binary inspection for goroutine tracking (src/agent/golang.c): the build-info
 * version string, the runtime.g layout table, and files that are not Go programs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/golang.h"

static size_t buildinfo(uint8_t *p, uint8_t flags, const char *version)
{
	size_t n = strlen(version);

	memset(p, 0, 64);
	memcpy(p, "\xff Go buildinf:", 14);
	p[14] = 8;
	p[15] = flags;
	p[32] = (uint8_t)n; /* uvarint, one byte below 128 */
	memcpy(p + 33, version, n);
	return 33 + n + 4;
}

static void test_buildinfo_version(void **unused)
{
	uint8_t p[128];
	char v[32];
	size_t n;

	(void)unused;
	n = buildinfo(p, 0x2, "go1.19.8");
	assert_int_equal(go_buildinfo_version(p, n, v, sizeof(v)), 0);
	assert_string_equal(v, "go1.19.8");
	/* Before Go 1.18 the version is behind a pointer: not recognised. */
	n = buildinfo(p, 0x0, "go1.16.1");
	assert_int_equal(go_buildinfo_version(p, n, v, sizeof(v)), -ENOEXEC);
	/* Wrong magic, a length past the end, a string that is no Go version. */
	n = buildinfo(p, 0x2, "go1.20");
	p[1] = 'X';
	assert_int_equal(go_buildinfo_version(p, n, v, sizeof(v)), -ENOEXEC);
	n = buildinfo(p, 0x2, "go1.20");
	p[32] = 100;
	assert_int_equal(go_buildinfo_version(p, n, v, sizeof(v)), -ENOEXEC);
	n = buildinfo(p, 0x2, "gcc12");
	assert_int_equal(go_buildinfo_version(p, n, v, sizeof(v)), -ENOEXEC);
	assert_int_equal(go_buildinfo_version(p, 20, v, sizeof(v)), -ENOEXEC);
}

static void test_goid_offsets(void **unused)
{
	(void)unused;
	assert_int_equal(go_goid_offset("go1.18"), 152);
	assert_int_equal(go_goid_offset("go1.19.8"), 152);
	assert_int_equal(go_goid_offset("go1.22.12"), 152);
	/* Layouts not checked: refused rather than guessed. */
	assert_int_equal(go_goid_offset("go1.23.0"), -ENOTSUP);
	assert_int_equal(go_goid_offset("go1.17"), -ENOTSUP);
	assert_int_equal(go_goid_offset("go2.0"), -ENOTSUP);
	assert_int_equal(go_goid_offset("devel"), -ENOTSUP);
}

static void test_not_go(void **unused)
{
	struct go_binary gb;

	(void)unused;
	/*/* A C program (this test), a file that is no ELF, a missing file. */
	assert_int_equal(go_binary_inspect("/proc/self/exe", &gb), -ENOEXEC);
	assert_int_equal(go_binary_inspect("/proc/self/cmdline", &gb), -ENOEXEC);
	assert_int_equal(go_binary_inspect("/nonexistent/x", &gb), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buildinfo_version),
		cmocka_unit_test(test_goid_offsets),
		cmocka_unit_test(test_not_go),
	};

	return cmocka_run_group_tests_name("golang", tests, NULL, NULL);
}
