/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pins the kernel/user event ABI: the BPF object and the agent are built together, but a
 * field moved on one side only would corrupt every event silently. Also checks the
 * invariant the BPF side's length masking relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bpf/shared/socket_event.h"

static void test_event_layout(void **unused)
{
	(void)unused;
	assert_int_equal(sizeof(struct fs_event), 120);
	assert_int_equal(offsetof(struct fs_event, ts_enter_ns), 0);
	assert_int_equal(offsetof(struct fs_event, socket_id), 16);
	assert_int_equal(offsetof(struct fs_event, syscall_len), 24);
	assert_int_equal(offsetof(struct fs_event, type), 32);
	assert_int_equal(offsetof(struct fs_event, tcp_seq), 48);
	assert_int_equal(offsetof(struct fs_event, cap_len), 52);
	assert_int_equal(offsetof(struct fs_event, saddr), 56);
	assert_int_equal(offsetof(struct fs_event, daddr), 72);
	assert_int_equal(offsetof(struct fs_event, sport), 88);
	assert_int_equal(offsetof(struct fs_event, family), 92);
	assert_int_equal(offsetof(struct fs_event, comm), 104);
	/* Events are 8-byte multiples so the payload that follows starts aligned. */
	assert_int_equal(sizeof(struct fs_event) % 8, 0);
}

static void test_capture_limits(void **unused)
{
	(void)unused;
	/* submit() masks header + payload length with 2 * FS_CAP_MAX - 1. */
	assert_true(sizeof(struct fs_event) + FS_CAP_MAX < 2 * FS_CAP_MAX);
	assert_int_equal(FS_CAP_MAX & (FS_CAP_MAX - 1), 0);
	assert_true(FS_CAP_DEFAULT <= FS_CAP_MAX);
	assert_int_equal(FS_CNT_MAX, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_layout),
		cmocka_unit_test(test_capture_limits),
	};

	return cmocka_run_group_tests_name("bpf_abi", tests, NULL, NULL);
}
