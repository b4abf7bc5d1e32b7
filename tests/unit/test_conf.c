/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/common/conf.c: defaults, flags in all their forms, the YAML file and
 * its precedence, value parsing (numbers, sizes, durations, booleans, strings), the exact
 * wording of the errors users see, --help, --version and --print-config, and that
 * --print-config output loads back to the same values.
 *
 * conf_load() talks to the user through stdout and stderr, so each call runs with fds 1
 * and 2 redirected to temporary files and the tests compare what was written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"

struct tconf {
	bool to_stdout; /* "stdout" would collide with the stdio macro */
	bool follow;
	int64_t offset;
	uint64_t capture_bytes;
	uint64_t flush_interval;
	uint64_t buffer_size;
	char *interface;
	char *pid_file;
	uint64_t pid;
};

#define KEY(n, t, m, ct) .name = n, .type = t, .offset = CONF_OFFSET(struct tconf, m, ct)

static const struct conf_key keys[] = {
	{ KEY("stdout", CONF_BOOL, to_stdout, bool), .help = "write records as JSON Lines" },
	{ KEY("follow", CONF_BOOL, follow, bool), .def = "true", .help = "follow children" },
	{ KEY("offset", CONF_INT, offset, int64_t), .def = "-3", .min = -100, .max = 100,
	  .help = "clock offset in seconds" },
	{ KEY("capture_bytes", CONF_UINT, capture_bytes, uint64_t), .def = "4096", .min = 1,
	  .max = 16384, .help = "payload bytes captured per message" },
	{ KEY("flush_interval", CONF_DURATION_MS, flush_interval, uint64_t), .def = "1s", .min = 10,
	  .max = 3600000, .help = "how often to flush" },
	{ KEY("buffer_size", CONF_SIZE, buffer_size, uint64_t), .def = "8MiB", .min = 1024,
	  .max = INT64_MAX, .help = "ring buffer size" },
	{ KEY("interface", CONF_STRING, interface, char *), .def = "eth0", .arg = "NAME",
	  .help = "capture interface" },
	{ KEY("pid_file", CONF_STRING, pid_file, char *), .arg = "FILE",
	  .help = "write the agent's pid here" },
	{ KEY("pid", CONF_UINT, pid, uint64_t), .arg = "PID", .help = "trace only this process" },
	{ 0 },
};

static const struct conf_spec spec = {
	.prog = "flowscope-agent",
	.summary = "Capture L7 traffic and write records.",
	.examples = "  flowscope-agent --stdout\n  flowscope-agent --config ./agent.yaml",
	.keys = keys,
	.version = "1.2.3",
};

static char out_buf[16384];
static char err_buf[4096];

static void slurp(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* conf_load() with argv = {prog, args...}, capturing stdout/stderr into out_buf/err_buf.
 * No cmocka assertion may run while the fds are redirected: a failure would longjmp out
 * with them still pointing at the temporary files. */
static int run_argv(const struct conf_spec *sp, void *c, int argc, char **argv)
{
	FILE *o = tmpfile(), *e = tmpfile();
	int saved_out, saved_err, rc;

	assert_non_null(o);
	assert_non_null(e);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	assert_true(saved_out >= 0 && saved_err >= 0);
	assert_true(dup2(fileno(o), 1) == 1 && dup2(fileno(e), 2) == 2);

	rc = conf_load(sp, c, argc, argv);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	slurp(o, out_buf, sizeof(out_buf));
	slurp(e, err_buf, sizeof(err_buf));
	return rc;
}

#define MAX_ARGS 32

static int run_spec(const struct conf_spec *sp, struct tconf *c, ...)
{
	char *argv[MAX_ARGS] = { "flowscope-agent" };
	int argc = 1;
	va_list ap;

	va_start(ap, c);
	while ((argv[argc] = va_arg(ap, char *)) != NULL) {
		argc++;
		assert_true(argc < MAX_ARGS);
	}
	va_end(ap);
	return run_argv(sp, c, argc, argv);
}

#define run(c, ...) run_spec(&spec, (c), __VA_ARGS__, (char *)NULL)
#define run0(c)	    run_spec(&spec, (c), (char *)NULL)

/* A temporary file holding text; the caller unlinks and frees the returned path. */
static char *tmp_file(const char *text)
{
	char *path = strdup("/tmp/test_conf_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void drop_file(char *path)
{
	unlink(path);
	free(path);
}

/* Load a config file given as text, with optional extra flags. */
static int run_file(struct tconf *c, const char *yaml, char **path_out, const char *flag,
		    const char *value)
{
	char *path = tmp_file(yaml);
	char *argv[] = { "flowscope-agent", "--config", path, (char *)flag, (char *)value };
	int rc;

	rc = run_argv(&spec, c, flag ? (value ? 5 : 4) : 3, argv);
	if (path_out)
		*path_out = path;
	else
		drop_file(path);
	return rc;
}

/* Expected text with the temp file's path substituted, for "path:line:" messages. */
static const char *with_path(const char *fmt, const char *path)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), fmt, path);
	return buf;
}

static void assert_defaults(const struct tconf *c)
{
	assert_false(c->to_stdout);
	assert_true(c->follow);
	assert_int_equal(c->offset, -3);
	assert_int_equal(c->capture_bytes, 4096);
	assert_int_equal(c->flush_interval, 1000);
	assert_int_equal(c->buffer_size, 8 << 20);
	assert_string_equal(c->interface, "eth0");
	assert_null(c->pid_file);
	assert_int_equal(c->pid, 0);
}

/* ---- defaults and flags -------------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct tconf c;

	(void)state;
	memset(&c, 0xa5, sizeof(c)); /* conf_load must not read what was there */
	assert_int_equal(run0(&c), CONF_RUN);
	assert_string_equal(err_buf, "");
	assert_string_equal(out_buf, "");
	assert_defaults(&c);
	conf_free(&spec, &c);
}

static void test_conf_defaults(void **state)
{
	struct conf_spec sp = spec;
	struct tconf c;

	(void)state;
	sp.default_path = "/nonexistent/should-not-matter.yaml";
	assert_int_equal(conf_defaults(&sp, &c), 0);
	assert_defaults(&c);
	conf_free(&sp, &c);
}

static void test_flags_separate_value(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--capture-bytes", "512", "--interface", "lo", "--offset", "-7",
			     "--flush-interval", "250ms", "--buffer-size", "1MiB", "--pid-file",
			     "/run/x.pid", "--stdout", "--pid", "42"),
			 CONF_RUN);
	assert_string_equal(err_buf, "");
	assert_true(c.to_stdout);
	assert_true(c.follow);
	assert_int_equal(c.offset, -7);
	assert_int_equal(c.capture_bytes, 512);
	assert_int_equal(c.flush_interval, 250);
	assert_int_equal(c.buffer_size, 1 << 20);
	assert_string_equal(c.interface, "lo");
	assert_string_equal(c.pid_file, "/run/x.pid");
	assert_int_equal(c.pid, 42);
	conf_free(&spec, &c);
}

static void test_flags_equals_form(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--capture-bytes=100", "--interface=", "--offset=-1",
			     "--follow=no", "--stdout=true", "--pid-file=a=b"),
			 CONF_RUN);
	assert_string_equal(err_buf, "");
	assert_int_equal(c.capture_bytes, 100);
	assert_string_equal(c.interface, "");
	assert_int_equal(c.offset, -1);
	assert_false(c.follow);
	assert_true(c.to_stdout);
	assert_string_equal(c.pid_file, "a=b");
	conf_free(&spec, &c);
}

static void test_bool_flags(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--no-follow", "--stdout"), CONF_RUN);
	assert_false(c.follow);
	assert_true(c.to_stdout);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout", "--no-stdout"), CONF_RUN);
	assert_false(c.to_stdout);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--no-stdout", "--stdout"), CONF_RUN);
	assert_true(c.to_stdout);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout=on", "--follow=OFF"), CONF_RUN);
	assert_true(c.to_stdout);
	assert_false(c.follow);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--follow=false", "--follow=Yes"), CONF_RUN);
	assert_true(c.follow);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout=maybe"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --stdout: 'maybe' is not a valid on/off "
				     "value (expected true/false, yes/no or on/off)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout=1"), -EINVAL);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--no-stdout=true"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --no-stdout takes no value; use "
				     "--stdout=false\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--no-capture-bytes"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --no-capture-bytes: --capture-bytes is "
				     "not an on/off option\n");
	conf_free(&spec, &c);
}

static void test_last_flag_wins(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--capture-bytes", "1", "--capture-bytes=2", "--interface", "a",
			     "--interface=b", "--interface", "c"),
			 CONF_RUN);
	assert_int_equal(c.capture_bytes, 2);
	assert_string_equal(c.interface, "c");
	conf_free(&spec, &c);
}

/* A list option given again adds to the list; the first flag replaces the file's value. */
static void test_list_flags_append(void **state)
{
	static const struct conf_key lkeys[] = {
		{ KEY("interface", CONF_LIST, interface, char *), .arg = "NAME",
		  .help = "capture interfaces" },
		{ 0 },
	};
	static const struct conf_spec lspec = { .prog = "flowscope-agent", .keys = lkeys };
	struct tconf c;
	char *path = NULL;
	FILE *f;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(run_spec(&lspec, &c, "--interface", "eth0", "--interface=veth*",
				  "--interface", "lo", NULL),
			 CONF_RUN);
	assert_string_equal(c.interface, "eth0,veth*,lo");
	conf_free(&lspec, &c);

	path = strdup("/tmp/flowscope-conf-list-XXXXXX");
	assert_non_null(path);
	assert_true(mkstemp(path) >= 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("interface: from_file\n", f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	assert_int_equal(run_spec(&lspec, &c, "--config", path, NULL), CONF_RUN);
	assert_string_equal(c.interface, "from_file");
	conf_free(&lspec, &c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(run_spec(&lspec, &c, "--config", path, "--interface", "a", "--interface",
				  "b", NULL),
			 CONF_RUN);
	assert_string_equal(c.interface, "a,b");
	conf_free(&lspec, &c);
	unlink(path);
	free(path);
}

static void test_unknown_flag(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--captur-bytes", "5"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unknown option '--captur-bytes' (did you "
				     "mean '--capture-bytes'?); see --help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--bogus-thing=1"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unknown option '--bogus-thing'; see "
				     "--help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--capture_bytes=5"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unknown option '--capture_bytes' (did you "
				     "mean '--capture-bytes'?); see --help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--no-folow"), -EINVAL);
	assert_non_null(strstr(err_buf, "(did you mean '--no-follow'?)"));
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--verison"), -EINVAL);
	assert_non_null(strstr(err_buf, "(did you mean '--version'?)"));
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "-stdout"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unknown option '-stdout' (did you mean "
				     "'--stdout'?); see --help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "-x"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unknown option '-x'; see --help\n");
	conf_free(&spec, &c);
}

static void test_positional_and_missing_values(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "foo"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unexpected argument 'foo'; see --help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout", "true"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unexpected argument 'true' (on/off options "
				     "take no separate value; use --stdout=true); see --help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "-"), -EINVAL);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--stdout", "--"), CONF_RUN);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--", "--stdout"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: unexpected argument '--stdout'; see "
				     "--help\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--capture-bytes"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --capture-bytes: missing value; use "
				     "--capture-bytes N or --capture-bytes=N\n");
	conf_free(&spec, &c);

	/* The forgotten value must not swallow the next option. */
	assert_int_equal(run(&c, "--interface", "--stdout"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --interface: missing value; use "
				     "--interface NAME or --interface=NAME\n");
	conf_free(&spec, &c);

	/* ...but a negative number is a value. */
	assert_int_equal(run(&c, "--offset", "-5"), CONF_RUN);
	assert_int_equal(c.offset, -5);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--config"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --config: missing file name; use --config "
				     "FILE\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--help=yes"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --help takes no value\n");
	conf_free(&spec, &c);
}

/* ---- values ---------------------------------------------------------------------------- */

static void test_out_of_range(void **state)
{
	struct tconf c;
	char *path;

	(void)state;
	assert_int_equal(run(&c, "--capture-bytes", "99999"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --capture-bytes: 99999 is out of range "
				     "(1..16384)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--capture-bytes=0"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --capture-bytes: 0 is out of range "
				     "(1..16384)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--capture-bytes=16384", "--offset=-100"), CONF_RUN);
	assert_int_equal(c.capture_bytes, 16384);
	assert_int_equal(c.offset, -100);
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--offset=-101"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --offset: -101 is out of range "
				     "(-100..100)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--flush-interval=2h"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --flush-interval: 2h is out of range "
				     "(10ms..1h)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--pid=18446744073709551616"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --pid: 18446744073709551616 is out of "
				     "range (0..18446744073709551615)\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--pid=18446744073709551615"), CONF_RUN);
	assert_true(c.pid == UINT64_MAX);
	conf_free(&spec, &c);

	/* Suffix multiplication overflowing 64 bits is out of range too, not wrapped. */
	assert_int_equal(run(&c, "--buffer-size=16777216TiB"), -EINVAL);
	assert_non_null(strstr(err_buf, "is out of range (at least 1KiB)"));
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "stdout: on\nbuffer_size: 1023\n", &path, NULL, NULL),
			 -EINVAL);
	assert_string_equal(
		err_buf,
		with_path("%s:2: buffer_size: 1023 is out of range (at least 1KiB)\n", path));
	drop_file(path);
	conf_free(&spec, &c);
}

static void test_bad_numbers(void **state)
{
	static const char *const bad_uint[] = { "12abc", "",	 " 12", "12 ", "+12", "-1",
						"1.5",	 "0x10", "1k",	"1e3", "½",   "12\n" };
	static const char *const bad_int[] = { "-", "--1", "5-", "1.0", " -1", "+-1", "abc" };
	char arg[64];
	struct tconf c;
	char *path;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_uint) / sizeof(bad_uint[0]); i++) {
		snprintf(arg, sizeof(arg), "--capture-bytes=%s", bad_uint[i]);
		assert_int_equal(run(&c, arg), -EINVAL);
		assert_int_equal(c.capture_bytes, 4096);
		conf_free(&spec, &c);
	}
	for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
		snprintf(arg, sizeof(arg), "--offset=%s", bad_int[i]);
		assert_int_equal(run(&c, arg), -EINVAL);
		conf_free(&spec, &c);
	}

	assert_int_equal(run(&c, "--capture-bytes", "12abc"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --capture-bytes: '12abc' is not a valid "
				     "number (expected a non-negative whole number, e.g. 4096)\n");
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "# x\ncapture_bytes: 12abc\n", &path, NULL, NULL), -EINVAL);
	assert_string_equal(err_buf, with_path("%s:2: capture_bytes: '12abc' is not a valid "
					       "number (expected a non-negative whole number, "
					       "e.g. 4096)\n",
					       path));
	drop_file(path);
	conf_free(&spec, &c);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "4096", 4096 },
		{ "16KiB", 16384 },
		{ "8MiB", UINT64_C(8) << 20 },
		{ "1k", 1024 },
		{ "5K", 5120 },
		{ "2m", UINT64_C(2) << 20 },
		{ "3M", UINT64_C(3) << 20 },
		{ "1g", UINT64_C(1) << 30 },
		{ "2GiB", UINT64_C(2) << 30 },
		{ "1T", UINT64_C(1) << 40 },
		{ "1000000", 1000000 },
		{ "0016k", 16384 },
	};
	static const char *const bad[] = { "16KB", "16 KiB", "16kib", "KiB", "1.5M",
					   "-1k",  "16KiBs", "16Ki",  "1b",  "k1" };
	char arg[64];
	struct tconf c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(arg, sizeof(arg), "--buffer-size=%s", good[i].text);
		assert_int_equal(run(&c, arg), CONF_RUN);
		assert_int_equal(c.buffer_size, good[i].bytes);
		conf_free(&spec, &c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "--buffer-size=%s", bad[i]);
		assert_int_equal(run(&c, arg), -EINVAL);
		conf_free(&spec, &c);
	}
	assert_int_equal(run(&c, "--buffer-size=16KB"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --buffer-size: '16KB' is not a valid size "
				     "(expected a whole number of bytes with an optional k/KiB, "
				     "M/MiB, G/GiB or T/TiB suffix, e.g. 16KiB)\n");
	conf_free(&spec, &c);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = {
		{ "250ms", 250 },  { "10s", 10000 }, { "2m", 120000 },	 { "3", 3000 },
		{ "1h", 3600000 }, { "10ms", 10 },   { "60m", 3600000 },
	};
	static const char *const bad[] = { "10 s", "1.5s", "10sec", "ms", "-1s", "1d", "5S", "" };
	char arg[64];
	struct tconf c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(arg, sizeof(arg), "--flush-interval=%s", good[i].text);
		assert_int_equal(run(&c, arg), CONF_RUN);
		assert_int_equal(c.flush_interval, good[i].ms);
		conf_free(&spec, &c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "--flush-interval=%s", bad[i]);
		assert_int_equal(run(&c, arg), -EINVAL);
		conf_free(&spec, &c);
	}
	assert_int_equal(run(&c, "--flush-interval=1.5s"), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: --flush-interval: '1.5s' is not a valid "
				     "duration (expected a whole number with an optional ms, s, m "
				     "or h suffix (no suffix means seconds), e.g. 250ms or 10s)\n");
	conf_free(&spec, &c);
}

/* ---- config file ----------------------------------------------------------------------- */

static void test_file_then_flags(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run_file(&c,
				  "# agent config\n"
				  "capture_bytes: 100\n"
				  "interface: wlan0   # trailing comment\n"
				  "stdout: yes\n"
				  "follow: off\n"
				  "offset: 9\n"
				  "flush_interval: 250ms\n"
				  "buffer_size: 16KiB\n"
				  "pid_file: \"/run/a b.pid\"\n"
				  "pid: '77'\n",
				  NULL, "--capture-bytes", "200"),
			 CONF_RUN);
	assert_string_equal(err_buf, "");
	assert_int_equal(c.capture_bytes, 200); /* flag beats file */
	assert_string_equal(c.interface, "wlan0");
	assert_true(c.to_stdout);
	assert_false(c.follow);
	assert_int_equal(c.offset, 9);
	assert_int_equal(c.flush_interval, 250);
	assert_int_equal(c.buffer_size, 16384);
	assert_string_equal(c.pid_file, "/run/a b.pid");
	assert_int_equal(c.pid, 77);
	conf_free(&spec, &c);

	/* The flag wins wherever it is on the line, even before --config. */
	{
		char *path = tmp_file("stdout: true\n");
		char *argv[] = { "flowscope-agent", "--no-stdout", "--config", path };

		assert_int_equal(run_argv(&spec, &c, 4, argv), CONF_RUN);
		assert_false(c.to_stdout);
		conf_free(&spec, &c);
		drop_file(path);
	}
}

static void test_default_path(void **state)
{
	struct conf_spec sp = spec;
	char *def = tmp_file("capture_bytes: 123\n");
	char *other = tmp_file("capture_bytes: 456\n");
	struct tconf c;

	(void)state;
	sp.default_path = def;
	assert_int_equal(run_spec(&sp, &c, (char *)NULL), CONF_RUN);
	assert_int_equal(c.capture_bytes, 123);
	conf_free(&sp, &c);

	/* --config replaces the default file; it is not layered on top of it. */
	assert_int_equal(run_spec(&sp, &c, "--interface=x", "--config", other, (char *)NULL),
			 CONF_RUN);
	assert_int_equal(c.capture_bytes, 456);
	assert_string_equal(c.interface, "x");
	conf_free(&sp, &c);

	/* Last --config wins. */
	assert_int_equal(run_spec(&sp, &c, "--config", other, "--config", def, (char *)NULL),
			 CONF_RUN);
	assert_int_equal(c.capture_bytes, 123);
	conf_free(&sp, &c);

	sp.default_path = "/nonexistent/dir/agent.yaml";
	assert_int_equal(run_spec(&sp, &c, (char *)NULL), CONF_RUN);
	assert_string_equal(err_buf, "");
	assert_defaults(&c);
	conf_free(&sp, &c);

	drop_file(def);
	drop_file(other);
}

static void test_missing_config_file(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--config", "/nonexistent/x.yaml"), -ENOENT);
	assert_string_equal(err_buf, "flowscope-agent: cannot open config file /nonexistent/x.yaml:"
				     " No such file or directory\n");
	conf_free(&spec, &c);

	assert_int_equal(run(&c, "--config=/tmp"), -EISDIR);
	assert_string_equal(err_buf, "flowscope-agent: cannot open config file /tmp: Is a "
				     "directory\n");
	conf_free(&spec, &c);
}

static void test_unknown_key_in_file(void **state)
{
	struct tconf c;
	char *path;

	(void)state;
	assert_int_equal(run_file(&c, "# comment\n\ncaptur_bytes: 5\n", &path, NULL, NULL),
			 -EINVAL);
	assert_string_equal(err_buf, with_path("%s:3: unknown key 'captur_bytes' (did you mean "
					       "'capture_bytes'?)\n",
					       path));
	drop_file(path);
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "capture-bytes: 5\n", &path, NULL, NULL), -EINVAL);
	assert_string_equal(err_buf, with_path("%s:1: unknown key 'capture-bytes' (did you mean "
					       "'capture_bytes'?)\n",
					       path));
	drop_file(path);
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "stdout: true\nzzz: 1\n", &path, NULL, NULL), -EINVAL);
	assert_string_equal(err_buf, with_path("%s:2: unknown key 'zzz'\n", path));
	drop_file(path);
	conf_free(&spec, &c);
}

static void test_file_structure_errors(void **state)
{
	static const struct {
		const char *yaml;
		const char *msg; /* %s is the file's path */
	} cases[] = {
		{ "interface:\n  name: eth0\n",
		  "%s:2: interface: expected a single value, found a nested mapping\n" },
		{ "interface: [a, b]\n",
		  "%s:1: interface: expected a single value, found a list\n" },
		{ "interface:\n  - a\n",
		  "%s:2: interface: expected a single value, found a list\n" },
		{ "stdout: true\npid: 1\nstdout: false\n",
		  "%s:3: duplicate key 'stdout' (first set on line 1)\n" },
		{ "- a\n- b\n", "%s:1: expected 'key: value' lines, found a list\n" },
		{ "hello\n", "%s:1: expected 'key: value' lines, found a single value\n" },
		{ "stdout: true\n---\npid: 1\n", "%s:2: only one YAML document is allowed\n" },
		{ "interface: &a eth1\npid_file: *a\n",
		  "%s:2: pid_file: expected a single value, found an alias (*name)\n" },
		{ "capture_bytes:\n", "%s:1: capture_bytes: missing value (expected a non-negative "
				      "whole number, e.g. 4096)\n" },
		{ "stdout: ~\n", "%s:1: stdout: missing value (expected true/false, yes/no or "
				 "on/off)\n" },
		{ "? [a]\n: b\n", "%s:1: expected a key name, found a list\n" },
		{ "interface: \"a\\0b\"\n", "%s:1: interface: value contains a NUL character\n" },
		{ "interface: b: c\n", "%s:1: invalid YAML: mapping values are not allowed in "
				       "this context\n" },
		{ "interface: x\n\tstdout: true\n", NULL },
		{ "interface: \"open\n", NULL },
		{ "interface: \"\\q\"\n", NULL },
	};
	struct tconf c;
	char *path;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(run_file(&c, cases[i].yaml, &path, NULL, NULL), -EINVAL);
		if (cases[i].msg) {
			assert_string_equal(err_buf, with_path(cases[i].msg, path));
		} else {
			/* libyaml's own wording; ours is the "file:line: invalid YAML" frame. */
			char prefix[256];

			snprintf(prefix, sizeof(prefix), "%s:", path);
			assert_memory_equal(err_buf, prefix, strlen(prefix));
			assert_non_null(strstr(err_buf, ": invalid YAML: "));
		}
		drop_file(path);
		conf_free(&spec, &c);
	}
}

static void test_file_encoding_errors(void **state)
{
	struct tconf c;
	char *path;

	(void)state;
	assert_int_equal(run_file(&c, "interface: \"caf\xe9\"\n", &path, NULL, NULL), -EINVAL);
	assert_string_equal(err_buf, with_path("%s: invalid YAML at byte 16: invalid trailing "
					       "UTF-8 octet\n",
					       path));
	drop_file(path);
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c,
				  "interface: a\x01"
				  "b\n",
				  &path, NULL, NULL),
			 -EINVAL);
	assert_string_equal(err_buf, with_path("%s: invalid YAML at byte 12: control characters "
					       "are not allowed\n",
					       path));
	drop_file(path);
	conf_free(&spec, &c);
}

static void test_file_accepted_forms(void **state)
{
	static const char *const empty[] = { "", "# only a comment\n\n", "---\n", "---\n...\n",
					     "{}\n" };
	struct tconf c;

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		assert_int_equal(run_file(&c, empty[i], NULL, NULL, NULL), CONF_RUN);
		assert_string_equal(err_buf, "");
		assert_defaults(&c);
		conf_free(&spec, &c);
	}

	assert_int_equal(run_file(&c, "interface: ~\n", NULL, NULL, NULL), CONF_RUN);
	assert_null(c.interface);
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "interface:\n", NULL, NULL, NULL), CONF_RUN);
	assert_null(c.interface);
	conf_free(&spec, &c);

	assert_int_equal(run_file(&c, "interface: \"\"\npid_file: 'null'\n", NULL, NULL, NULL),
			 CONF_RUN);
	assert_string_equal(c.interface, "");
	assert_string_equal(c.pid_file, "null");
	conf_free(&spec, &c);

	assert_int_equal(
		run_file(&c, "{stdout: TRUE, follow: No, capture_bytes: 7}\n", NULL, NULL, NULL),
		CONF_RUN);
	assert_true(c.to_stdout);
	assert_false(c.follow);
	assert_int_equal(c.capture_bytes, 7);
	conf_free(&spec, &c);

	/* A UTF-8 byte order mark and CRLF line ends, as Windows editors save files. */
	assert_int_equal(
		run_file(&c, "\xef\xbb\xbfinterface: ens3\r\nstdout: on\r\n", NULL, NULL, NULL),
		CONF_RUN);
	assert_string_equal(c.interface, "ens3");
	assert_true(c.to_stdout);
	conf_free(&spec, &c);
}

/* ---- output ---------------------------------------------------------------------------- */

/* Print c, load the printout as a config file, and check every field came back. */
static void assert_roundtrip(const struct tconf *c)
{
	char first[4096], second[4096];
	FILE *f = tmpfile();
	struct tconf back;
	char *path;
	size_t n;

	assert_non_null(f);
	assert_int_equal(conf_print(&spec, c, f), 0);
	rewind(f);
	n = fread(first, 1, sizeof(first) - 1, f);
	first[n] = '\0';
	fclose(f);

	assert_int_equal(run_file(&back, first, &path, NULL, NULL), CONF_RUN);
	assert_string_equal(err_buf, "");
	drop_file(path);
	assert_int_equal(back.to_stdout, c->to_stdout);
	assert_int_equal(back.follow, c->follow);
	assert_int_equal(back.offset, c->offset);
	assert_int_equal(back.capture_bytes, c->capture_bytes);
	assert_int_equal(back.flush_interval, c->flush_interval);
	assert_int_equal(back.buffer_size, c->buffer_size);
	if (c->interface)
		assert_string_equal(back.interface, c->interface);
	else
		assert_null(back.interface);
	if (c->pid_file)
		assert_string_equal(back.pid_file, c->pid_file);
	else
		assert_null(back.pid_file);
	assert_int_equal(back.pid, c->pid);

	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(conf_print(&spec, &back, f), 0);
	rewind(f);
	n = fread(second, 1, sizeof(second) - 1, f);
	second[n] = '\0';
	fclose(f);
	assert_string_equal(first, second);
	conf_free(&spec, &back);
}

static void test_print_roundtrip(void **state)
{
	static const char *const strings[] = {
		"plain",       "",
		"yes",	       "No",
		"null",	       "~",
		"123",	       "-a",
		"a: b",	       "a #b",
		"#x",	       " lead",
		"trail ",      "q\"uo'te",
		"back\\",      "x\ny",
		"tab\there",   "\x01\x7f",
		"caf\xc3\xa9", "[x]",
		"{y}",	       "*star",
		"&amp",	       "!tag",
		"%pct",	       "@at",
		"`tick",       "|",
		">",	       "1:30",
		"0x1F",	       "1e3",
		".inf",	       "/var/run/a.pid",
		"a,b",	       "?",
		"- x",	       "--",
	};
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--stdout", "--no-follow", "--offset", "-42", "--capture-bytes",
			     "1000", "--flush-interval", "1500ms", "--buffer-size", "3MiB", "--pid",
			     "7"),
			 CONF_RUN);
	assert_roundtrip(&c);

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		free(c.interface);
		c.interface = strdup(strings[i]);
		assert_non_null(c.interface);
		assert_roundtrip(&c);
	}
	conf_free(&spec, &c);
}

static void test_print_format(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--flush-interval=90s", "--buffer-size=1048577", "--interface",
			     "a b", "--print-config"),
			 CONF_EXIT_OK);
	assert_string_equal(err_buf, "");
	assert_string_equal(out_buf, "# flowscope-agent configuration (YAML). Each key is also a "
				     "command-line option,\n"
				     "# with dashes for underscores; options override this file.\n"
				     "stdout: false         # write records as JSON Lines\n"
				     "follow: true          # follow children\n"
				     "offset: -3            # clock offset in seconds\n"
				     "capture_bytes: 4096   # payload bytes captured per message\n"
				     "flush_interval: 90s   # how often to flush\n"
				     "buffer_size: 1048577  # ring buffer size\n"
				     "interface: \"a b\"      # capture interface\n"
				     "pid_file: null        # write the agent's pid here\n"
				     "pid: 0                # trace only this process\n");
	conf_free(&spec, &c);

	/* Errors still win over --print-config. */
	assert_int_equal(run(&c, "--print-config", "--pid=x"), -EINVAL);
	assert_string_equal(out_buf, "");
	conf_free(&spec, &c);
}

static void test_usage(void **state)
{
	char flag[96];
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--help"), CONF_EXIT_OK);
	assert_string_equal(err_buf, "");
	assert_memory_equal(out_buf,
			    "Usage: flowscope-agent [OPTION]...\n\n"
			    "Capture L7 traffic and write records.\n",
			    strlen("Usage: flowscope-agent [OPTION]...\n\n"
				   "Capture L7 traffic and write records.\n"));
	for (const struct conf_key *k = keys; k->name; k++) {
		snprintf(flag, sizeof(flag), "  --%s", k->name);
		for (char *p = flag; *p; p++)
			*p = *p == '_' ? '-' : *p;
		assert_non_null(strstr(out_buf, flag));
		assert_non_null(strstr(out_buf, k->help));
	}
	assert_non_null(strstr(out_buf, "\n  --capture-bytes N          payload bytes captured per "
					"message (default: 4096; 1..16384)\n"));
	assert_non_null(strstr(out_buf,
			       "\n  --stdout                   write records as JSON Lines "
			       "(default: false)\n"));
	assert_non_null(strstr(out_buf, "\n  --pid-file FILE            write the agent's pid "
					"here\n"));
	assert_non_null(strstr(out_buf, "\n  --flush-interval DURATION  how often to flush "
					"(default: 1s; 10ms..1h)\n"));
	assert_non_null(strstr(out_buf, "(default: 8MiB; at least 1KiB)"));
	assert_non_null(strstr(out_buf, "(default: 1s; 10ms..1h)"));
	assert_non_null(strstr(out_buf, "  --config FILE "));
	assert_non_null(strstr(out_buf, "  --print-config "));
	assert_non_null(strstr(out_buf, "  -h, --help "));
	assert_non_null(strstr(out_buf, "  --version "));
	assert_non_null(strstr(out_buf, "--no-NAME"));
	assert_non_null(strstr(out_buf, "\nExamples:\n  flowscope-agent --stdout\n"));
	conf_free(&spec, &c);

	/* -h works too, and help wins over a bad value because values are parsed later. */
	assert_int_equal(run(&c, "--capture-bytes=oops", "-h"), CONF_EXIT_OK);
	assert_memory_equal(out_buf, "Usage: ", 7);
	conf_free(&spec, &c);

	/* Options are checked in order: an unknown one before --help is an error. */
	assert_int_equal(run(&c, "--bogus", "--help"), -EINVAL);
	assert_string_equal(out_buf, "");
	conf_free(&spec, &c);
}

static void test_version(void **state)
{
	struct tconf c;

	(void)state;
	assert_int_equal(run(&c, "--version"), CONF_EXIT_OK);
	assert_string_equal(out_buf, "flowscope-agent 1.2.3\n");
	assert_string_equal(err_buf, "");
	conf_free(&spec, &c);
}

/* ---- the table itself ---------------------------------------------------------------- */

struct one {
	uint64_t v;
	char *s;
};

static void test_bad_spec(void **state)
{
	static const struct {
		struct conf_key key;
		const char *msg;
	} cases[] = {
		{ { .name = "v",
		    .type = CONF_UINT,
		    .offset = offsetof(struct one, v),
		    .def = "abc",
		    .help = "h" },
		  "flowscope-agent: default of 'v' in the built-in table: 'abc' is not a valid "
		  "number (expected a non-negative whole number, e.g. 4096)\n" },
		{ { .name = "config",
		    .type = CONF_STRING,
		    .offset = offsetof(struct one, s),
		    .help = "h" },
		  "flowscope-agent: internal error: config key 'config': name is taken by a "
		  "built-in option\n" },
		{ { .name = "v",
		    .type = CONF_UINT,
		    .offset = offsetof(struct one, v),
		    .min = 5,
		    .max = 1,
		    .help = "h" },
		  "flowscope-agent: internal error: config key 'v': min is greater than max\n" },
		{ { .name = "Bad-Name",
		    .type = CONF_UINT,
		    .offset = offsetof(struct one, v),
		    .help = "h" },
		  "flowscope-agent: internal error: config key 'Bad-Name': name must be "
		  "[a-z][a-z0-9_]*, at most 63 characters\n" },
		{ { .name = "v", .type = CONF_UINT, .offset = offsetof(struct one, v) },
		  "flowscope-agent: internal error: config key 'v': no help text\n" },
		{ { .name = "v",
		    .type = CONF_UINT,
		    .offset = offsetof(struct one, v),
		    .def = "20",
		    .max = 10,
		    .help = "h" },
		  "flowscope-agent: default of 'v' in the built-in table: 20 is out of range "
		  "(0..10)\n" },
	};
	struct conf_key table[3];
	struct conf_spec sp = { .prog = "flowscope-agent", .keys = table };
	struct one o;
	char *argv[] = { "x" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(table, 0, sizeof(table));
		table[0] = cases[i].key;
		assert_int_equal(run_argv(&sp, &o, 1, argv), -EINVAL);
		assert_string_equal(err_buf, cases[i].msg);
		conf_free(&sp, &o);
	}

	memset(table, 0, sizeof(table));
	table[0] = (struct conf_key){ .name = "s",
				      .type = CONF_STRING,
				      .offset = offsetof(struct one, s),
				      .def = "x",
				      .help = "h" };
	table[1] = table[0];
	assert_int_equal(run_argv(&sp, &o, 1, argv), -EINVAL);
	assert_string_equal(err_buf, "flowscope-agent: internal error: config key 's': defined "
				     "twice\n");
	conf_free(&sp, &o);
}

static void test_conf_free(void **state)
{
	struct tconf c;

	(void)state;
	conf_free(NULL, NULL);
	conf_free(&spec, NULL);
	assert_int_equal(run(&c, "--pid-file=/x"), CONF_RUN);
	conf_free(&spec, &c);
	assert_null(c.interface);
	assert_null(c.pid_file);
	conf_free(&spec, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_conf_defaults),
		cmocka_unit_test(test_flags_separate_value),
		cmocka_unit_test(test_flags_equals_form),
		cmocka_unit_test(test_bool_flags),
		cmocka_unit_test(test_last_flag_wins),
		cmocka_unit_test(test_list_flags_append),
		cmocka_unit_test(test_unknown_flag),
		cmocka_unit_test(test_positional_and_missing_values),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_file_then_flags),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_missing_config_file),
		cmocka_unit_test(test_unknown_key_in_file),
		cmocka_unit_test(test_file_structure_errors),
		cmocka_unit_test(test_file_encoding_errors),
		cmocka_unit_test(test_file_accepted_forms),
		cmocka_unit_test(test_print_roundtrip),
		cmocka_unit_test(test_print_format),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_conf_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
