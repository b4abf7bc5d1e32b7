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
	assert_int_equal(sizeof(struct fs_event), 136);
	assert_int_equal(offsetof(struct fs_event, ts_enter_ns), 0);
	assert_int_equal(offsetof(struct fs_event, socket_id), 16);
	assert_int_equal(offsetof(struct fs_event, syscall_len), 24);
	assert_int_equal(offsetof(struct fs_event, trace_id), 32);
	assert_int_equal(offsetof(struct fs_event, coroutine_id), 40);
	assert_int_equal(offsetof(struct fs_event, type), 48);
	assert_int_equal(offsetof(struct fs_event, tcp_seq), 64);
	assert_int_equal(offsetof(struct fs_event, cap_len), 68);
	assert_int_equal(offsetof(struct fs_event, saddr), 72);
	assert_int_equal(offsetof(struct fs_event, daddr), 88);
	assert_int_equal(offsetof(struct fs_event, sport), 104);
	assert_int_equal(offsetof(struct fs_event, family), 108);
	assert_int_equal(offsetof(struct fs_event, syscall), 112);
	assert_int_equal(offsetof(struct fs_event, _pad), 113);
	assert_int_equal(offsetof(struct fs_event, comm), 120);
	/* No holes: the fields add up to the size (a hole would be uninitialised bytes on
	 * the BPF side and a layout that differs between compilers). */
	assert_int_equal(8 * 6 + 4 * 6 + 16 * 2 + 2 * 2 + 1 * 5 + 7 + 16, sizeof(struct fs_event));
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
	assert_int_equal(FS_CNT_MAX, 15);
}

static void test_trace_id_layout(void **unused)
{
	(void)unused;
	/* The largest id: every CPU bit and every counter bit set, still below 2^63. */
	uint64_t max = FS_TRACE_CPU_MASK << FS_TRACE_CPU_SHIFT | FS_TRACE_CTR_MASK;

	assert_true(max <= (uint64_t)INT64_MAX);
	assert_int_equal(FS_TRACE_CTR_MASK & (FS_TRACE_CPU_MASK << FS_TRACE_CPU_SHIFT), 0);
	/* 2^48 ticks of 100 ns: the counter wraps after ~325 days. */
	assert_true((FS_TRACE_CTR_MASK + 1) / 10000000 / 86400 >= 325);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_layout),
		cmocka_unit_test(test_capture_limits),
		cmocka_unit_test(test_trace_id_layout),
	};

	return cmocka_run_group_tests_name("bpf_abi", tests, NULL, NULL);
}
