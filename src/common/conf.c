/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration from one table per program: defaults, a flat YAML file, command-line
 * flags, --help and --print-config (see conf.h for the rules users see).
 *
 * Loading stops at the first problem. It is printed once to stderr with its origin
 * ("file:line: key: ..." or "prog: --flag: ..."), the value as given and the accepted
 * form, because a config mistake found at startup should be fixable from the message
 * alone. Unknown names get a "did you mean" from an edit distance over the known ones.
 *
 * argv is walked twice: first to find the meta options (--help must work even when a
 * value is wrong, and --config must be known before the file is read) and to reject
 * malformed options, then, after the file, to apply values so that flags win.
 */
#include "common/conf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define NAME_MAX_LEN 63
/* Longest candidate is "no-" + a key name; longer input gets no suggestion. */
#define DIST_MAX_LEN	 (NAME_MAX_LEN + 8)
#define SUGGEST_MAX_DIST 2
/* --help puts the description on its own line when the flag column would be wider. */
#define USAGE_COL_MAX 30
/* --print-config aligns "# help" comments up to this column, then just follows. */
#define PRINT_COL_MAX 40

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* Accepted suffixes. Sizes are binary: "1k" and "1KiB" are both 1024 bytes. */
static const struct unit size_units[] = {
	{ "", 1 },    { "k", KIB },   { "K", KIB },   { "KiB", KIB }, { "m", MIB },
	{ "M", MIB }, { "MiB", MIB }, { "g", GIB },   { "G", GIB },   { "GiB", GIB },
	{ "t", TIB }, { "T", TIB },   { "TiB", TIB }, { NULL, 0 },
};
static const struct unit duration_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
};
static const struct unit plain_units[] = { { "", 1 }, { NULL, 0 } };

/* Output units, largest first; a value is written in the largest that divides it. */
static const struct unit size_out[] = {
	{ "TiB", TIB }, { "GiB", GIB }, { "MiB", MIB }, { "KiB", KIB }, { "", 1 }, { NULL, 0 },
};
static const struct unit duration_out[] = {
	{ "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 }, { NULL, 0 },
};

struct type_info {
	const char *metavar; /* --help metavar when the key has none */
	const char *noun;    /* "'x' is not a valid <noun>" */
	const char *accepted;
};

static const struct type_info types[] = {
	[CONF_BOOL] = { NULL, "on/off value", "true/false, yes/no or on/off" },
	[CONF_INT] = { "N", "integer", "a whole number with an optional leading '-', e.g. -5" },
	[CONF_UINT] = { "N", "number", "a non-negative whole number, e.g. 4096" },
	[CONF_STRING] = { "VALUE", "string", "any text" },
	[CONF_LIST] = { "LIST", "list", "comma-separated values" },
	[CONF_DURATION_MS] = { "DURATION", "duration",
			       "a whole number with an optional ms, s, m or h suffix "
			       "(no suffix means seconds), e.g. 250ms or 10s" },
	[CONF_SIZE] = { "SIZE", "size",
			"a whole number of bytes with an optional k/KiB, M/MiB, G/GiB or T/TiB "
			"suffix, e.g. 16KiB" },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

enum meta {
	META_NONE,
	META_CONFIG,
	META_PRINT,
	META_HELP,
	META_VERSION,
};

static const struct {
	const char *flag; /* without "--" */
	const char *key;  /* the same, as a config key name, to keep keys from shadowing it */
	enum meta id;
} metas[] = {
	{ "config", "config", META_CONFIG },
	{ "print-config", "print_config", META_PRINT },
	{ "help", "help", META_HELP },
	{ "version", "version", META_VERSION },
};
#define NMETAS (sizeof(metas) / sizeof(metas[0]))

/* Where a value came from; exactly one of file/flag is set, or neither for a default. */
struct origin {
	const char *prog;
	const char *file;
	unsigned long line;
	const char *flag; /* the option as typed, up to flag_len (argv text may go on "=v") */
	int flag_len;
};

union conf_val {
	bool b;
	int64_t i;
	uint64_t u;
	char *s;
};

/* One decoded command-line option. */
struct arg {
	enum meta meta;
	const struct conf_key *key; /* set when meta == META_NONE */
	const char *name;	    /* "--no-stdout", as typed, up to name_len */
	int name_len;
	const char *value; /* text to parse; bare on/off flags get "true"/"false" */
	bool bare_bool;	   /* "--stdout" with no value: a following word is likely a mistake */
};

static __attribute__((format(printf, 3, 4))) void
report(const struct origin *o, const struct conf_key *k, const char *fmt, ...)
{
	va_list ap;

	/* One locked sequence so the message is not interleaved with other writers. */
	flockfile(stderr);
	if (o->file)
		fprintf(stderr, "%s:%lu: %s: ", o->file, o->line, k->name);
	else if (o->flag)
		fprintf(stderr, "%s: %.*s: ", o->prog, o->flag_len, o->flag);
	else
		fprintf(stderr, "%s: default of '%s' in the built-in table: ", o->prog, k->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void *field(void *cfg, const struct conf_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const void *cfg, const struct conf_key *k)
{
	return (const char *)cfg + k->offset;
}

static bool is_unsigned(enum conf_type t)
{
	return t == CONF_UINT || t == CONF_SIZE || t == CONF_DURATION_MS;
}

static bool bounded(const struct conf_key *k)
{
	return k->min != 0 || k->max != 0;
}

static size_t nkeys(const struct conf_spec *spec)
{
	size_t n = 0;

	while (spec->keys && spec->keys[n].name)
		n++;
	return n;
}

static const char *usage_metavar(const struct conf_key *k)
{
	return k->arg ? k->arg : types[k->type].metavar;
}

/* ---- text to value ------------------------------------------------------------------ */

static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* strtoll() alone would accept leading spaces, a '+' and trailing junk; the checks
 * around it make "12abc", " 12" and "" errors. -ERANGE when it does not fit. */
static int parse_int(const char *s, int64_t *v)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	char *end;
	long long x;

	if (!isdigit((unsigned char)digits[0]))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*v = x;
	return 0;
}

/* Digits, then one of units' suffixes (exact match), scaled. strtoull() would take "-1"
 * as UINT64_MAX, hence the leading-digit check. -ERANGE when the product overflows. */
static int parse_units(const char *s, const struct unit *units, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(end, u->suffix) != 0)
			continue;
		if (errno == ERANGE || __builtin_mul_overflow((uint64_t)x, u->mult, v))
			return -ERANGE;
		return 0;
	}
	return -EINVAL;
}

static void format_units(char *buf, size_t size, uint64_t v, const struct unit *units)
{
	const struct unit *u = units;

	if (v != 0) {
		while (u->suffix && v % u->mult != 0)
			u++;
	}
	if (v == 0 || !u->suffix)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 "%s", v / u->mult, u->suffix);
}

/* A number of a key's type as its parser would accept it: 8MiB, 10s, -5, 42. */
static void format_num(char *buf, size_t size, enum conf_type t, int64_t i, uint64_t u)
{
	if (t == CONF_SIZE)
		format_units(buf, size, u, size_out);
	else if (t == CONF_DURATION_MS)
		format_units(buf, size, u, duration_out);
	else if (t == CONF_INT)
		snprintf(buf, size, "%" PRId64, i);
	else
		snprintf(buf, size, "%" PRIu64, u);
}

static void format_range(char *buf, size_t size, const struct conf_key *k)
{
	char lo[48], hi[48];

	if (!bounded(k)) {
		if (k->type == CONF_INT) {
			format_num(lo, sizeof(lo), k->type, INT64_MIN, 0);
			format_num(hi, sizeof(hi), k->type, INT64_MAX, 0);
		} else {
			format_num(lo, sizeof(lo), k->type, 0, 0);
			format_num(hi, sizeof(hi), k->type, 0, UINT64_MAX);
		}
		snprintf(buf, size, "%s..%s", lo, hi);
		return;
	}
	format_num(lo, sizeof(lo), k->type, k->min, (uint64_t)k->min);
	format_num(hi, sizeof(hi), k->type, k->max, (uint64_t)k->max);
	if (k->max == INT64_MAX)
		snprintf(buf, size, "at least %s", lo);
	else if (k->min == INT64_MIN)
		snprintf(buf, size, "at most %s", hi);
	else
		snprintf(buf, size, "%s..%s", lo, hi);
}

/*
 * Parse text for key k into *out, range-checked. Strings are strdup'd into out->s.
 * Returns 0, or -EINVAL/-ENOMEM after reporting against o.
 */
static int parse_value(const struct origin *o, const struct conf_key *k, const char *text,
		       union conf_val *out)
{
	char range[112];
	int rc;

	switch (k->type) {
	case CONF_BOOL: rc = parse_bool(text, &out->b); break;
	case CONF_INT:
		rc = parse_int(text, &out->i);
		if (rc == 0 && bounded(k) && (out->i < k->min || out->i > k->max))
			rc = -ERANGE;
		break;
	case CONF_UINT:
	case CONF_SIZE:
	case CONF_DURATION_MS:
		rc = parse_units(text,
				 k->type == CONF_SIZE	? size_units
				 : k->type == CONF_UINT ? plain_units
							: duration_units,
				 &out->u);
		if (rc == 0 && bounded(k) &&
		    (out->u < (uint64_t)k->min || out->u > (uint64_t)k->max))
			rc = -ERANGE;
		break;
	case CONF_STRING:
	case CONF_LIST:
		out->s = strdup(text);
		if (!out->s) {
			report(o, k, "out of memory");
			return -ENOMEM;
		}
		return 0;
	default: rc = -EINVAL;
	}
	if (rc == -ERANGE) {
		format_range(range, sizeof(range), k);
		report(o, k, "%s is out of range (%s)", text, range);
	} else if (rc) {
		report(o, k, "'%s' is not a valid %s (expected %s)", text, types[k->type].noun,
		       types[k->type].accepted);
	}
	/* Callers only need "bad value"; the message already says which kind. */
	return rc ? -EINVAL : 0;
}

static void store(void *cfg, const struct conf_key *k, union conf_val *v)
{
	void *f = field(cfg, k);

	switch (k->type) {
	case CONF_BOOL: *(bool *)f = v->b; break;
	case CONF_INT: *(int64_t *)f = v->i; break;
	case CONF_STRING:
	case CONF_LIST:
		free(*(char **)f);
		*(char **)f = v->s;
		break;
	default: *(uint64_t *)f = v->u;
	}
}

static int apply_text(const struct origin *o, void *cfg, const struct conf_key *k, const char *text)
{
	union conf_val v;
	int rc;

	rc = parse_value(o, k, text, &v);
	if (rc == 0)
		store(cfg, k, &v);
	return rc;
}

/*
 * A list flag given again adds to the list (--interface eth0 --interface eth1); the
 * first one replaces what the file said, as any flag does. Records k in seen[] and says
 * whether it was there already.
 */
static bool list_seen(const struct conf_key **seen, size_t *n, const struct conf_key *k)
{
	if (k->type != CONF_LIST)
		return false;
	for (size_t i = 0; i < *n; i++)
		if (seen[i] == k)
			return true;
	if (*n < 16)
		seen[(*n)++] = k;
	return false;
}

static int append_list(const struct origin *o, void *cfg, const struct conf_key *k,
		       const char *text)
{
	char **f = field(cfg, k);
	char *joined;

	if (asprintf(&joined, "%s%s%s", *f ? *f : "", *f && **f ? "," : "", text) < 0) {
		report(o, k, "out of memory");
		return -ENOMEM;
	}
	free(*f);
	*f = joined;
	return 0;
}

/* ---- the key table ------------------------------------------------------------------ */

static const struct conf_key *find_key(const struct conf_spec *spec, const char *name, size_t len)
{
	for (const struct conf_key *k = spec->keys; k && k->name; k++) {
		if (strlen(k->name) == len && memcmp(k->name, name, len) == 0)
			return k;
	}
	return NULL;
}

/* Flags spell the key's underscores as dashes; "--capture_bytes" is not accepted. */
static bool flag_is(const char *key, const char *flag, size_t len)
{
	size_t i;

	for (i = 0; i < len && key[i]; i++) {
		if (flag[i] != (key[i] == '_' ? '-' : key[i]))
			return false;
	}
	return i == len && key[i] == '\0';
}

static const struct conf_key *find_flag(const struct conf_spec *spec, const char *flag, size_t len)
{
	for (const struct conf_key *k = spec->keys; k && k->name; k++) {
		if (flag_is(k->name, flag, len))
			return k;
	}
	return NULL;
}

static void dashed(char *buf, size_t size, const char *prefix, const char *name)
{
	size_t n = (size_t)snprintf(buf, size, "%s%s", prefix, name);

	for (size_t i = 0; i < n && i < size; i++) {
		if (buf[i] == '_')
			buf[i] = '-';
	}
}

/* Programming errors in a table, caught at startup instead of as odd behaviour later. */
static int spec_check(const struct conf_spec *spec, const char *prog)
{
	const char *why = NULL;
	const struct conf_key *k;
	size_t len;

	if (!spec->keys) {
		fprintf(stderr, "%s: internal error: config spec has no key table\n", prog);
		return -EINVAL;
	}
	for (k = spec->keys; k->name; k++) {
		len = strlen(k->name);
		if (len == 0 || len > NAME_MAX_LEN || !islower((unsigned char)k->name[0]) ||
		    strspn(k->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
			why = "name must be [a-z][a-z0-9_]*, at most 63 characters";
		else if ((size_t)k->type >= NTYPES)
			why = "unknown type";
		else if (!k->help)
			why = "no help text";
		else if (bounded(k) && k->min > k->max)
			why = "min is greater than max";
		else if (bounded(k) && is_unsigned(k->type) && k->min < 0)
			why = "negative min for an unsigned type";
		else if (find_key(spec, k->name, len) != k)
			why = "defined twice";
		for (size_t m = 0; !why && m < NMETAS; m++) {
			if (strcmp(k->name, metas[m].key) == 0)
				why = "name is taken by a built-in option";
		}
		/* "--no-x" would be both the key no_x and the negation of the on/off key x. */
		if (!why && strncmp(k->name, "no_", 3) == 0) {
			const struct conf_key *pos = find_key(spec, k->name + 3, len - 3);

			if (pos && pos->type == CONF_BOOL)
				why = "its flag clashes with --no- of an on/off key";
		}
		if (why) {
			fprintf(stderr, "%s: internal error: config key '%s': %s\n", prog, k->name,
				why);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- did you mean ------------------------------------------------------------------- */

/* Edit distance where swapping two adjacent characters costs one, since "captrue" is a
 * more common slip than two substitutions. SIZE_MAX when either string is too long. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
	size_t rows[3][DIST_MAX_LEN + 1];
	size_t *two = rows[0], *prev = rows[1], *cur = rows[2], *t;
	size_t v;

	if (n > DIST_MAX_LEN || m > DIST_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= m; j++)
		prev[j] = j;
	for (size_t i = 1; i <= n; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= m; j++) {
			v = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    two[j - 2] + 1 < v)
				v = two[j - 2] + 1;
			cur[j] = v;
		}
		t = two;
		two = prev;
		prev = cur;
		cur = t;
	}
	return prev[m];
}

struct suggest {
	const char *word; /* what the user typed */
	size_t len;
	size_t best;
	char out[DIST_MAX_LEN + 1];
};

/* A distance as large as the word itself would "correct" any short typo to anything. */
static void suggest_try(struct suggest *s, const char *cand)
{
	size_t d = edit_distance(s->word, s->len, cand, strlen(cand));

	if (d <= SUGGEST_MAX_DIST && d < s->len && d < s->best) {
		s->best = d;
		snprintf(s->out, sizeof(s->out), "%s", cand);
	}
}

/* ---- command line ------------------------------------------------------------------- */

static void unknown_option(const struct conf_spec *spec, const char *prog, const char *opt,
			   size_t len)
{
	struct suggest s = { .best = SIZE_MAX };
	char cand[DIST_MAX_LEN + 1];

	s.word = opt + strspn(opt, "-");
	s.len = len - (size_t)(s.word - opt);
	for (size_t m = 0; m < NMETAS; m++)
		suggest_try(&s, metas[m].flag);
	for (const struct conf_key *k = spec->keys; k->name; k++) {
		dashed(cand, sizeof(cand), "", k->name);
		suggest_try(&s, cand);
		if (k->type == CONF_BOOL) {
			dashed(cand, sizeof(cand), "no-", k->name);
			suggest_try(&s, cand);
		}
	}
	if (s.best != SIZE_MAX)
		fprintf(stderr, "%s: unknown option '%.*s' (did you mean '--%s'?); see --help\n",
			prog, (int)len, opt, s.out);
	else
		fprintf(stderr, "%s: unknown option '%.*s'; see --help\n", prog, (int)len, opt);
}

/* A separate value that looks like another option is almost always a forgotten value. */
static bool looks_like_option(const char *s)
{
	return s[0] == '-' && s[1] == '-' && s[2] != '\0';
}

/*
 * Decode the option at argv[*i] into *a, consuming argv[*i + 1] too when it is the value.
 * argv[*i] starts with '-'. Returns 0 or -EINVAL after printing why.
 */
static int decode_option(const struct conf_spec *spec, const char *prog, int argc, char **argv,
			 int *i, struct arg *a)
{
	const char *s = argv[*i], *name = s + 2, *eq;
	size_t len;
	bool neg = false;

	*a = (struct arg){ .name = s, .name_len = (int)strlen(s) };
	if (strcmp(s, "-h") == 0) {
		a->meta = META_HELP;
		return 0;
	}
	if (s[1] != '-') {
		unknown_option(spec, prog, s, strlen(s));
		return -EINVAL;
	}
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	a->name_len = (int)(len + 2);

	for (size_t m = 0; m < NMETAS; m++) {
		if (strlen(metas[m].flag) != len || memcmp(metas[m].flag, name, len) != 0)
			continue;
		a->meta = metas[m].id;
		if (a->meta != META_CONFIG) {
			if (eq) {
				fprintf(stderr, "%s: %.*s takes no value\n", prog, a->name_len, s);
				return -EINVAL;
			}
			return 0;
		}
		if (eq)
			a->value = eq + 1;
		else if (*i + 1 < argc && !looks_like_option(argv[*i + 1]))
			a->value = argv[++*i];
		if (!a->value || !a->value[0]) {
			fprintf(stderr, "%s: --config: missing file name; use --config FILE\n",
				prog);
			return -EINVAL;
		}
		return 0;
	}

	a->key = find_flag(spec, name, len);
	if (!a->key && len > 3 && memcmp(name, "no-", 3) == 0) {
		a->key = find_flag(spec, name + 3, len - 3);
		if (a->key && a->key->type != CONF_BOOL) {
			fprintf(stderr, "%s: %.*s: --%.*s is not an on/off option\n", prog,
				a->name_len, s, (int)(len - 3), name + 3);
			return -EINVAL;
		}
		neg = true;
	}
	if (!a->key) {
		unknown_option(spec, prog, s, len + 2);
		return -EINVAL;
	}
	if (a->key->type == CONF_BOOL) {
		if (neg && eq) {
			fprintf(stderr, "%s: %.*s takes no value; use --%.*s=false\n", prog,
				a->name_len, s, (int)(len - 3), name + 3);
			return -EINVAL;
		}
		a->bare_bool = !eq && !neg;
		a->value = neg ? "false" : eq ? eq + 1 : "true";
		return 0;
	}
	if (eq) {
		a->value = eq + 1;
	} else if (*i + 1 < argc && !looks_like_option(argv[*i + 1])) {
		a->value = argv[++*i];
	} else {
		const char *mv = usage_metavar(a->key);

		fprintf(stderr, "%s: %s: missing value; use %s %s or %s=%s\n", prog, s, s, mv, s,
			mv);
		return -EINVAL;
	}
	return 0;
}

/*
 * One pass over argv. The check pass (apply == false) validates syntax, handles --help and
 * --version, and records --config and --print-config; the apply pass sets key values.
 * Returns 0, CONF_EXIT_OK, or a negative errno after printing why.
 */
static int walk_argv(const struct conf_spec *spec, void *cfg, const char *prog, int argc,
		     char **argv, bool apply, const char **config, bool *print)
{
	const struct conf_key *prev_bare = NULL, *lists[16];
	size_t nlists = 0;
	struct arg a;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "--") == 0) {
			/* No positional arguments exist, so "--" may only end the line. */
			if (i + 1 == argc)
				break;
			s = argv[++i];
			prev_bare = NULL;
		} else if (s[0] == '-' && s[1] != '\0') {
			rc = decode_option(spec, prog, argc, argv, &i, &a);
			if (rc)
				return rc;
			prev_bare = a.bare_bool ? a.key : NULL;
			if (a.meta == META_CONFIG) {
				*config = a.value;
			} else if (a.meta == META_PRINT) {
				*print = true;
			} else if (a.meta == META_HELP && !apply) {
				conf_usage(spec, stdout);
				return CONF_EXIT_OK;
			} else if (a.meta == META_VERSION && !apply) {
				if (spec->version)
					printf("%s %s\n", prog, spec->version);
				else
					printf("%s\n", prog);
				return CONF_EXIT_OK;
			} else if (a.key && apply) {
				struct origin o = { .prog = prog,
						    .flag = a.name,
						    .flag_len = a.name_len };

				rc = list_seen(lists, &nlists, a.key)
					     ? append_list(&o, cfg, a.key, a.value)
					     : apply_text(&o, cfg, a.key, a.value);
				if (rc)
					return rc;
			}
			continue;
		}
		if (prev_bare)
			fprintf(stderr,
				"%s: unexpected argument '%s' (on/off options take no separate "
				"value; use --%s=%s); see --help\n",
				prog, s, argv[i - 1] + 2, s);
		else
			fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", prog, s);
		return -EINVAL;
	}
	return 0;
}

/* ---- config file -------------------------------------------------------------------- */

struct yfile {
	yaml_parser_t parser;
	const struct conf_spec *spec;
	void *cfg;
	const char *prog;
	const char *path;
	unsigned long *seen; /* per key: line where the file set it, 0 = not yet */
};

static unsigned long ev_line(const yaml_event_t *ev)
{
	return (unsigned long)ev->start_mark.line + 1;
}

static int yaml_next(struct yfile *y, yaml_event_t *ev)
{
	const yaml_parser_t *p = &y->parser;

	if (yaml_parser_parse(&y->parser, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		fprintf(stderr, "%s: out of memory reading %s\n", y->prog, y->path);
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		fprintf(stderr, "%s: invalid YAML at byte %zu: %s\n", y->path, p->problem_offset,
			p->problem ? p->problem : "read error");
		return -EINVAL;
	}
	fprintf(stderr, "%s:%lu: invalid YAML: %s", y->path,
		(unsigned long)p->problem_mark.line + 1, p->problem ? p->problem : "syntax error");
	if (p->context)
		fprintf(stderr, " (%s)", p->context);
	fputc('\n', stderr);
	return -EINVAL;
}

/* A value the user left out ("key:", "key: ~", "key: null"), as opposed to "" quoted. */
static bool is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
	       (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
		strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static const char *not_scalar(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT: return "a nested mapping";
	case YAML_SEQUENCE_START_EVENT: return "a list";
	case YAML_ALIAS_EVENT: return "an alias (*name)";
	default: return "something else";
	}
}

static int file_value(struct yfile *y, const struct conf_key *k, const yaml_event_t *ev)
{
	struct origin o = { .prog = y->prog, .file = y->path, .line = ev_line(ev) };
	const char *text = (const char *)ev->data.scalar.value;
	union conf_val v = { 0 };

	if (ev->type != YAML_SCALAR_EVENT) {
		report(&o, k, "expected a single value, found %s", not_scalar(ev));
		return -EINVAL;
	}
	if (memchr(text, '\0', ev->data.scalar.length)) {
		report(&o, k, "value contains a NUL character");
		return -EINVAL;
	}
	if (is_null(ev)) {
		if (k->type != CONF_STRING && k->type != CONF_LIST) {
			report(&o, k, "missing value (expected %s)", types[k->type].accepted);
			return -EINVAL;
		}
		store(y->cfg, k, &v);
		return 0;
	}
	return apply_text(&o, y->cfg, k, text);
}

static int file_mapping(struct yfile *y)
{
	const struct conf_key *k;
	yaml_event_t ev;
	const char *name;
	size_t len;
	int rc;

	for (;;) {
		rc = yaml_next(y, &ev);
		if (rc)
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			fprintf(stderr, "%s:%lu: expected a key name, found %s\n", y->path,
				ev_line(&ev), not_scalar(&ev));
			rc = -EINVAL;
			goto out;
		}
		name = (const char *)ev.data.scalar.value;
		len = ev.data.scalar.length;
		k = find_key(y->spec, name, len);
		if (!k) {
			struct suggest s = { .word = name, .len = len, .best = SIZE_MAX };

			for (const struct conf_key *c = y->spec->keys; c->name; c++)
				suggest_try(&s, c->name);
			if (s.best != SIZE_MAX)
				fprintf(stderr, "%s:%lu: unknown key '%s' (did you mean '%s'?)\n",
					y->path, ev_line(&ev), name, s.out);
			else
				fprintf(stderr, "%s:%lu: unknown key '%s'\n", y->path, ev_line(&ev),
					name);
			rc = -EINVAL;
			goto out;
		}
		if (y->seen[k - y->spec->keys]) {
			fprintf(stderr, "%s:%lu: duplicate key '%s' (first set on line %lu)\n",
				y->path, ev_line(&ev), k->name, y->seen[k - y->spec->keys]);
			rc = -EINVAL;
			goto out;
		}
		y->seen[k - y->spec->keys] = ev_line(&ev);
		yaml_event_delete(&ev);

		rc = yaml_next(y, &ev);
		if (rc)
			return rc;
		rc = file_value(y, k, &ev);
		if (rc)
			goto out;
		yaml_event_delete(&ev);
	}
out:
	yaml_event_delete(&ev);
	return rc;
}

/* Stream: nothing (empty file or only comments), or one document that is a mapping or
 * empty. Whatever follows the first document is an error, not silently ignored. */
static int file_stream(struct yfile *y)
{
	yaml_event_t ev;
	int rc;

	rc = yaml_next(y, &ev); /* stream start */
	if (rc)
		return rc;
	yaml_event_delete(&ev);
	rc = yaml_next(y, &ev);
	if (rc)
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT)
		goto out;
	yaml_event_delete(&ev); /* document start */

	rc = yaml_next(y, &ev);
	if (rc)
		return rc;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		rc = file_mapping(y);
	} else if (ev.type != YAML_SCALAR_EVENT || !is_null(&ev)) {
		fprintf(stderr, "%s:%lu: expected 'key: value' lines, found %s\n", y->path,
			ev_line(&ev),
			ev.type == YAML_SCALAR_EVENT ? "a single value" : not_scalar(&ev));
		rc = -EINVAL;
	}
	if (rc)
		goto out;
	yaml_event_delete(&ev);

	rc = yaml_next(y, &ev); /* document end */
	if (rc)
		return rc;
	yaml_event_delete(&ev);
	rc = yaml_next(y, &ev);
	if (rc)
		return rc;
	if (ev.type != YAML_STREAM_END_EVENT) {
		fprintf(stderr, "%s:%lu: only one YAML document is allowed\n", y->path,
			ev_line(&ev));
		rc = -EINVAL;
	}
out:
	yaml_event_delete(&ev);
	return rc;
}

/* Returns 0 (also when an optional file does not exist) or a negative errno, reported. */
static int load_file(const struct conf_spec *spec, void *cfg, const char *prog, const char *path,
		     bool required)
{
	struct yfile y = { .spec = spec, .cfg = cfg, .prog = prog, .path = path };
	struct stat st;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		if (!required && (rc == -ENOENT || rc == -ENOTDIR))
			return 0;
		fprintf(stderr, "%s: cannot open config file %s: %s\n", prog, path, strerror(-rc));
		return rc;
	}
	/* fopen() succeeds on a directory; reading it would fail with a vague libyaml error. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: cannot open config file %s: %s\n", prog, path,
			strerror(EISDIR));
		rc = -EISDIR;
		goto out_file;
	}
	y.seen = calloc(nkeys(spec) + 1, sizeof(*y.seen));
	if (!y.seen || !yaml_parser_initialize(&y.parser)) {
		fprintf(stderr, "%s: out of memory reading %s\n", prog, path);
		rc = -ENOMEM;
		goto out_seen;
	}
	yaml_parser_set_input_file(&y.parser, f);
	rc = file_stream(&y);
	yaml_parser_delete(&y.parser);
out_seen:
	free(y.seen);
out_file:
	fclose(f);
	return rc;
}

/* ---- public ------------------------------------------------------------------------- */

static const char *prog_name(const struct conf_spec *spec)
{
	return spec->prog ? spec->prog : "flowscope";
}

/* Zero every key field first, so that conf_free() is safe whatever fails afterwards. */
static void clear_fields(const struct conf_spec *spec, void *cfg)
{
	for (const struct conf_key *k = spec->keys; k && k->name; k++) {
		void *f = field(cfg, k);

		switch (k->type) {
		case CONF_BOOL: *(bool *)f = false; break;
		case CONF_INT: *(int64_t *)f = 0; break;
		case CONF_STRING:
		case CONF_LIST: *(char **)f = NULL; break;
		case CONF_UINT:
		case CONF_SIZE:
		case CONF_DURATION_MS: *(uint64_t *)f = 0; break;
		}
	}
}

static int fill_defaults(const struct conf_spec *spec, void *cfg)
{
	struct origin o = { .prog = prog_name(spec) };
	int rc;

	for (const struct conf_key *k = spec->keys; k->name; k++) {
		if (!k->def)
			continue;
		rc = apply_text(&o, cfg, k, k->def);
		if (rc)
			return rc;
	}
	return 0;
}

int conf_defaults(const struct conf_spec *spec, void *cfg)
{
	int rc;

	clear_fields(spec, cfg);
	rc = spec_check(spec, prog_name(spec));
	if (rc)
		return rc;
	return fill_defaults(spec, cfg);
}

static int flush_stdout(const char *prog, const char *what)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "%s: cannot write %s: %s\n", prog, what, strerror(errno));
	return -EIO;
}

int conf_load(const struct conf_spec *spec, void *cfg, int argc, char **argv)
{
	const char *prog = prog_name(spec);
	const char *config = NULL;
	bool print = false;
	int rc;

	rc = conf_defaults(spec, cfg);
	if (rc)
		return rc;
	rc = walk_argv(spec, cfg, prog, argc, argv, false, &config, &print);
	if (rc == CONF_EXIT_OK) {
		rc = flush_stdout(prog, "to standard output");
		return rc ? rc : CONF_EXIT_OK;
	}
	if (rc)
		return rc;
	if (config)
		rc = load_file(spec, cfg, prog, config, true);
	else if (spec->default_path)
		rc = load_file(spec, cfg, prog, spec->default_path, false);
	if (rc)
		return rc;
	rc = walk_argv(spec, cfg, prog, argc, argv, true, &config, &print);
	if (rc)
		return rc;
	if (!print)
		return CONF_RUN;
	conf_print(spec, cfg, stdout);
	rc = flush_stdout(prog, "the configuration");
	return rc ? rc : CONF_EXIT_OK;
}

/* YAML plain scalars are re-typed by readers: no, 0x1F, 1:30, ~ and "a #b" are not the
 * strings they look like. Anything outside a dull alphabet, or dull but looking like a
 * number, bool or null, is quoted. */
static bool needs_quotes(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no",   "on",
					     "off",  "y",     "n",   "null", "~" };

	if (!isalpha((unsigned char)s[0]) && s[0] != '_' && s[0] != '/')
		return true;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+=@") !=
	    strlen(s))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(s, words[i]) == 0)
			return true;
	}
	return false;
}

/* Double-quoted YAML scalar; out == NULL only measures. Bytes >= 0x80 pass through, which
 * is right for UTF-8 (YAML's encoding) and the best available for anything else. */
static size_t put_quoted(FILE *out, const char *s)
{
	size_t n = 2;
	char esc[8];

	if (out)
		fputc('"', out);
	for (; *s; s++) {
		switch (*s) {
		case '"':
		case '\\': snprintf(esc, sizeof(esc), "\\%c", *s); break;
		case '\n': snprintf(esc, sizeof(esc), "\\n"); break;
		case '\t': snprintf(esc, sizeof(esc), "\\t"); break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*s);
			else
				snprintf(esc, sizeof(esc), "%c", *s);
		}
		n += strlen(esc);
		if (out)
			fputs(esc, out);
	}
	if (out)
		fputc('"', out);
	return n;
}

/* Write (out != NULL) or just measure (out == NULL) k's value as YAML; returns its length. */
static size_t put_value(FILE *out, const struct conf_key *k, const void *cfg)
{
	const void *f = cfield(cfg, k);
	const char *s;
	char buf[48];

	switch (k->type) {
	case CONF_BOOL:
		snprintf(buf, sizeof(buf), "%s", *(const bool *)f ? "true" : "false");
		break;
	case CONF_INT: format_num(buf, sizeof(buf), k->type, *(const int64_t *)f, 0); break;
	case CONF_STRING:
	case CONF_LIST:
		s = *(char *const *)f;
		if (!s) {
			snprintf(buf, sizeof(buf), "null");
			break;
		}
		if (!needs_quotes(s)) {
			if (out)
				fputs(s, out);
			return strlen(s);
		}
		return put_quoted(out, s);
	default: format_num(buf, sizeof(buf), k->type, 0, *(const uint64_t *)f);
	}
	if (out)
		fputs(buf, out);
	return strlen(buf);
}

int conf_print(const struct conf_spec *spec, const void *cfg, FILE *out)
{
	const struct conf_key *k;
	size_t col = 0, w;

	for (k = spec->keys; k && k->name; k++) {
		w = strlen(k->name) + 2 + put_value(NULL, k, cfg);
		if (w > col && w <= PRINT_COL_MAX)
			col = w;
	}
	fprintf(out,
		"# %s configuration (YAML). Each key is also a command-line option,\n"
		"# with dashes for underscores; options override this file.\n",
		prog_name(spec));
	for (k = spec->keys; k && k->name; k++) {
		fprintf(out, "%s: ", k->name);
		w = strlen(k->name) + 2 + put_value(out, k, cfg);
		fprintf(out, "%*s  # %s\n", w < col ? (int)(col - w) : 0, "",
			k->help ? k->help : "");
	}
	return ferror(out) ? -EIO : 0;
}

/* Left column of --help for key k, e.g. "--capture-bytes N". */
static void usage_flag(char *buf, size_t size, const struct conf_key *k)
{
	char name[DIST_MAX_LEN + 1];

	dashed(name, sizeof(name), "--", k->name);
	if (k->type == CONF_BOOL)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s %s", name, usage_metavar(k));
}

static void usage_line(FILE *out, const char *left, int col, const char *help, const char *tail)
{
	if ((int)strlen(left) > col)
		fprintf(out, "  %s\n  %*s  %s%s\n", left, col, "", help, tail);
	else
		fprintf(out, "  %-*s  %s%s\n", col, left, help, tail);
}

int conf_usage(const struct conf_spec *spec, FILE *out)
{
	const char *prog = prog_name(spec);
	const struct conf_key *k;
	char left[160], tail[256], range[112];
	int col = (int)strlen("--config FILE"), n;

	for (k = spec->keys; k && k->name; k++) {
		usage_flag(left, sizeof(left), k);
		n = (int)strlen(left);
		if (n > col && n <= USAGE_COL_MAX)
			col = n;
	}
	fprintf(out, "Usage: %s [OPTION]...\n", prog);
	if (spec->summary)
		fprintf(out, "\n%s\n", spec->summary);
	fprintf(out, "\nOptions:\n");
	for (k = spec->keys; k && k->name; k++) {
		const char *def = k->def;

		if (!def && k->type != CONF_STRING && k->type != CONF_LIST)
			def = k->type == CONF_BOOL ? "false" : "0";
		else if (def && !def[0])
			def = "\"\"";
		if (bounded(k))
			format_range(range, sizeof(range), k);
		if (def && bounded(k))
			snprintf(tail, sizeof(tail), " (default: %s; %s)", def, range);
		else if (def)
			snprintf(tail, sizeof(tail), " (default: %s)", def);
		else if (bounded(k))
			snprintf(tail, sizeof(tail), " (%s)", range);
		else
			tail[0] = '\0';
		usage_flag(left, sizeof(left), k);
		usage_line(out, left, col, k->help ? k->help : "", tail);
	}
	usage_line(out, "--config FILE", col, "read settings from this YAML file", "");
	usage_line(out, "--print-config", col, "print the effective configuration as YAML and exit",
		   "");
	usage_line(out, "-h, --help", col, "show this help and exit", "");
	usage_line(out, "--version", col, "print the version and exit", "");
	fprintf(out, "\nOn/off options also accept --no-NAME and --NAME=true|false.\n");
	k = spec->keys;
	if (k && k->name)
		fprintf(out,
			"Each option other than the four above can be set in the YAML config file "
			"as\n'name: value', with underscores for dashes (e.g. '%s: %s').\n",
			k->name,
			k->def		       ? k->def
			: k->type == CONF_BOOL ? "true"
					       : usage_metavar(k));
	fprintf(out, "Options override the config file, which overrides the defaults.\n");
	if (spec->default_path)
		fprintf(out, "Without --config, %s is read if it exists.\n", spec->default_path);
	if (spec->examples)
		fprintf(out, "\nExamples:\n%s\n", spec->examples);
	return ferror(out) ? -EIO : 0;
}

void conf_free(const struct conf_spec *spec, void *cfg)
{
	if (!spec || !cfg)
		return;
	for (const struct conf_key *k = spec->keys; k && k->name; k++) {
		if (k->type == CONF_STRING || k->type == CONF_LIST) {
			char **f = field(cfg, k);

			free(*f);
			*f = NULL;
		}
	}
}
