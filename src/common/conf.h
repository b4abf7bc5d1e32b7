/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven configuration. A program describes each setting once, as a struct conf_key
 * (name, type, offset into its config struct, default, bounds, help line), and this module
 * derives everything else from that table: the defaults, the YAML config file, one
 * command-line flag per key, --help and --print-config. With a single table a key cannot
 * exist in the file but not as a flag, or be range-checked in one place and not the other
 * (DESIGN.md §6).
 *
 * Precedence, lowest first: the table's defaults, the config file (--config FILE, else
 * spec->default_path when it exists), command-line flags. Every value, whichever of the
 * three it comes from, is text parsed by the same code, so "16KiB" means the same thing
 * everywhere and --print-config output loads back as a config file.
 */
#ifndef OB_COMMON_CONF_H
#define OB_COMMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Value types, with the C type of the field each one writes and the text it accepts.
 * Numbers are decimal only; no sign except a leading '-' for CONF_INT; no spaces; no
 * fractions. Size and duration suffixes are case-sensitive as listed.
 */
enum conf_type {
	CONF_BOOL,	  /* bool: true/false, yes/no, on/off (any case) */
	CONF_INT,	  /* int64_t: "42", "-5" */
	CONF_UINT,	  /* uint64_t: "42"; no suffixes (use SIZE or DURATION_MS for those) */
	CONF_STRING,	  /* char *, owned by the config struct; NULL = not set */
	CONF_LIST,	  /* char *, comma-separated; a flag given again adds to the list */
	CONF_DURATION_MS, /* uint64_t milliseconds: "250ms", "10s", "2m", "1h"; bare = seconds */
	CONF_SIZE,	  /* uint64_t bytes: "1024", k/K/KiB, m/M/MiB, g/G/GiB, t/T/TiB (x1024) */
};

/*
 * offsetof() that also checks the member's C type at compile time, e.g.
 * CONF_OFFSET(struct agent_conf, capture_bytes, uint64_t). A mismatch (an int field for a
 * CONF_UINT key) would otherwise corrupt memory silently; here it is a distinct-pointer
 * comparison warning, which -Werror makes fatal.
 */
#define CONF_OFFSET(st, member, ctype)                                                             \
	(offsetof(st, member) + 0 * sizeof(&((st *)0)->member == (ctype *)0))

struct conf_key {
	/* YAML key and long flag: "capture_bytes" <-> --capture-bytes. [a-z][a-z0-9_]*, at
	 * most 63 characters; "config", "print_config", "help" and "version" are taken. */
	const char *name;
	enum conf_type type;
	size_t offset;	  /* CONF_OFFSET()/offsetof() of the field in the config struct */
	const char *def;  /* default as text, parsed like a file value; NULL = 0/false/NULL */
	int64_t min;	  /* inclusive bounds for numbers, in stored units (bytes, ms); */
	int64_t max;	  /* 0,0 = unbounded; INT64_MAX as max = no upper bound */
	const char *arg;  /* metavar for --help ("N", "PID"); NULL = a default per type */
	const char *help; /* one line, no trailing period; required */
};

struct conf_spec {
	const char *prog;	  /* "flowscope-agent"; prefixes flag error messages */
	const char *summary;	  /* paragraph for --help; may be NULL */
	const char *examples;	  /* EXAMPLES block for --help, lines indented; may be NULL */
	const char *default_path; /* loaded when no --config is given and it exists; may be NULL */
	const struct conf_key *keys; /* terminated by an entry whose name is NULL ({0}) */
	const char *version;	     /* printed by --version */
};

enum conf_action {
	CONF_RUN = 0,	  /* configuration loaded; the program should run */
	CONF_EXIT_OK = 1, /* --help, --version or --print-config was handled; exit 0 */
};

/*
 * Fill cfg from spec's defaults, then the config file, then argv (argv[0] is skipped).
 * Besides one flag per key (--name VALUE, --name=VALUE; on/off keys also --name,
 * --no-name, --name=BOOL; the last occurrence wins), it handles --config FILE,
 * --print-config (prints the effective config to stdout), -h/--help and --version.
 * A separate value that starts with "--" is treated as a missing value, not as the value;
 * write --name=--odd for that.
 *
 * The key fields of cfg are overwritten without being read, so cfg may be uninitialised;
 * to reload, conf_free() it first. Whatever the result, cfg is left valid for
 * conf_free(), which releases its strings.
 *
 * Returns CONF_RUN, CONF_EXIT_OK, or a negative errno after printing one clear message to
 * stderr that names the origin (file:line or --flag), the bad value and what is accepted:
 * -EINVAL (bad flag, key or value, or a bad spec), -ENOENT/-EACCES/-EISDIR... (the
 * --config file cannot be read; a missing default_path is not an error), -ENOMEM, or
 * -EIO (writing --help/--print-config output failed).
 */
int conf_load(const struct conf_spec *spec, void *cfg, int argc, char **argv);

/*
 * Set every key of cfg to its default, without reading or freeing what was there.
 * For programs and tests that want a config without a file or flags.
 * Returns 0, -EINVAL (a default in the table does not parse; message printed) or
 * -ENOMEM. cfg is valid for conf_free() in every case.
 */
int conf_defaults(const struct conf_spec *spec, void *cfg);

/*
 * Write cfg as a YAML config file: a comment header, then one "key: value  # help" line
 * per key in table order. Sizes and durations use the largest exact unit ("8MiB", "10s");
 * strings are double-quoted when a YAML reader could take them for something else; an
 * unset string is written as null. Loading the output gives back the same values (strings
 * must be valid UTF-8 for that; argv bytes are written as they are).
 * Returns 0, or -EIO if out reports a write error.
 */
int conf_print(const struct conf_spec *spec, const void *cfg, FILE *out);

/*
 * Write --help text: usage line, summary, one line per key flag with metavar, help,
 * default and range, the meta flags, how the config file relates to flags, examples.
 * Returns 0, or -EIO if out reports a write error.
 */
int conf_usage(const struct conf_spec *spec, FILE *out);

/* Free cfg's strings and set them to NULL. Either argument may be NULL; idempotent. */
void conf_free(const struct conf_spec *spec, void *cfg);

#endif
