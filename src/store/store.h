/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage-backend interface: a vtable (struct store_ops) per backend and a handle
 * (struct store) that every backend embeds as its first member. The server writes
 * batches of l7_flow_log and l4_flow_log records and flow_metrics network rows (every
 * kind of one batch in one transaction) and the query layer runs backend SQL text over a
 * table or view named after the schema (schema.h, the table's store_name), streaming rows
 * through callbacks so that no result set is ever held whole in memory.
 *
 * Conventions: int functions return 0 or -errno, store_write_batch() returns the
 * three-way enum store_result, store_close() accepts NULL. One handle may be used from
 * several threads: backends serialise what needs it. store_errmsg() describes the last
 * failure on the handle (for the query layer to show "no such column: x").
 */
#ifndef OB_STORE_STORE_H
#define OB_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct l7_record;
struct l4_record;
struct net_row;
struct tag_set;

struct store_cfg {
	const char *dir;	  /* data directory, created if missing (sqlite) */
	const char *url;	  /* clickhouse://HOST:PORT/DB[?cluster=NAME] (clickhouse) */
	uint32_t retention_days;  /* whole days kept; 0: STORE_DEF_RETENTION_DAYS */
	uint32_t busy_timeout_ms; /* wait for a locked database; 0: STORE_DEF_BUSY_MS */
};

#define STORE_DEF_RETENTION_DAYS 7
#define STORE_MAX_RETENTION_DAYS 366
#define STORE_DEF_BUSY_MS	 5000

enum store_result {
	STORE_OK = 0,
	STORE_RETRY = 1,     /* transient (busy, locked, I/O, disk full): same batch again later */
	STORE_DROP = 2,	     /* can never be stored: count the records as dropped */
	STORE_DUPLICATE = 3, /* this source's batch was stored before: acknowledge, write nothing */
};

enum store_value_type {
	STORE_NULL = 0,
	STORE_INT = 1,
	STORE_REAL = 2,
	STORE_TEXT = 3,
};

/* A parameter or a result cell. Text is not NUL-terminated as far as len is concerned;
 * in results it is valid only during the row callback. */
struct store_value {
	enum store_value_type type;
	int64_t i;
	double d;
	const char *s;
	size_t len;
};

/* 0 means "no limit" for either field. */
struct store_limits {
	uint64_t max_rows;
	uint64_t timeout_ms;
	/*
	 * The statement reads only rows whose time column is in [time_lo, time_hi) (Unix
	 * seconds): a backend may then leave out partitions outside that range. Only for
	 * statements whose single FROM names the table's view (what src/query writes).
	 */
	bool has_time_range;
	int64_t time_lo, time_hi;
};

/* Called once, before any row (also when there are none). names[] valid during the call. */
typedef int (*store_columns_fn)(void *ctx, size_t ncols, const char *const *names);
/* Called per row. Return 0 to go on, > 0 to stop (store_query returns 0), < 0 to stop
 * with that error (store_query returns it). */
typedef int (*store_row_fn)(void *ctx, const struct store_value *vals, size_t ncols);

/*
 * Where a batch comes from, for exactly-once ingest over an at-least-once transport: a
 * source (an agent) numbers its batches with strictly increasing seq and sends them in
 * order, so a batch whose seq is not above the last one stored for that source is a resend.
 * The backend records the source's last seq in the batch's own transaction.
 */
struct store_batch_src {
	const char *id; /* at most STORE_SRC_ID_MAX bytes */
	uint64_t seq;
};
#define STORE_SRC_ID_MAX 63

/*
 * A row of a flow_tag dictionary table (schema.c, docs/tagging.md) that the server's tagger
 * writes with a batch: v[] in the order of that table's column names
 * (store_tag_table_cols), v[0] its time. Text values point into the tagger's memory, valid
 * during the write.
 */
enum store_tag_table {
	STAG_DICT,    /* flow_tag.tag_dict */
	STAG_LINK,    /* flow_tag.tag_link */
	STAG_LABEL,   /* flow_tag.k8s_label */
	STAG_PROCESS, /* flow_tag.process */
	STAG_HOST,    /* flow_tag.host */
	STAG__TABLES,
};
#define STORE_TAG_ROW_MAX 14 /* columns of the widest, flow_tag.process */

struct store_tag_row {
	uint8_t table; /* enum store_tag_table */
	struct store_value v[STORE_TAG_ROW_MAX];
};

/* Each table's schema name ("tag_dict", ...) and column names, in value order. */
extern const char *const store_tag_table_names[STAG__TABLES];
extern const char *const *const store_tag_table_cols[STAG__TABLES];
extern const size_t store_tag_table_ncols[STAG__TABLES];

/* The rows of one batch, by table: stored together or not at all. */
struct store_batch {
	const struct l7_record *l7; /* l7_flow_log */
	size_t n7;
	const struct l4_record *l4; /* l4_flow_log */
	size_t n4;
	/* flow_metrics.network.1s / .1m and network_map.1s / .1m, each row's table by its key */
	const struct net_row *net;
	size_t nnet;
	/* flow_tag dictionary rows, each row's table by its table field */
	const struct store_tag_row *tags;
	size_t ntags;
	/*
	 * Row ids (`_id`, store/rowid.h): l7 row i gets the counter value l7_id_seq + i.
	 * store_write_rows reserves them and sets this in the copy it hands the backend,
	 * which passes it to store_l7_row: callers leave it 0.
	 */
	uint64_t l7_id_seq;
};

struct store_stats {
	uint64_t rows_written;	    /* committed rows, every table */
	uint64_t batches;	    /* committed batches */
	uint64_t batches_retry;	    /* write_batch calls answered STORE_RETRY */
	uint64_t batches_dropped;   /* write_batch calls answered STORE_DROP */
	uint64_t rows_dropped;	    /* records in those batches, every table */
	uint64_t batches_duplicate; /* write_batch calls answered STORE_DUPLICATE */
	uint64_t partitions;	    /* partitions now present, every table */
	uint64_t partitions_dropped;
	uint64_t bytes_on_disk; /* database files, WAL included */
};

/* Capability bits (store_caps). */
#define STORE_CAP_SQL	     (1u << 0) /* store_query accepts SQL text over the schema's tables */
#define STORE_CAP_PERCENTILE (1u << 1) /* percentile(x, p) aggregate, p in [0, 1] */
#define STORE_CAP_PARTITIONS (1u << 2) /* store_drop_expired drops whole time partitions */
/*
 * The fact tables' tag id columns (SCHEMA_F_TAG_ID) hold store-local numbers, not the
 * contract's ids: STORE_TAG_LOCAL_TABLE ("lid", "id") maps them (SQLite; docs/tagging.md).
 * Readers match dictionary ids through it; the query layer's SQLite dialect does.
 */
#define STORE_CAP_LOCAL_TAG_IDS (1u << 3)
#define STORE_TAG_LOCAL_TABLE	"flow_tag_tag_local"

struct store;

struct store_ops {
	const char *name;
	unsigned int caps;
	int (*open)(const struct store_cfg *cfg, struct store **out);
	void (*close)(struct store *s);
	int (*ensure_schema)(struct store *s);
	/* src may be NULL: no duplicate detection. Every row of b, or none. */
	enum store_result (*write_batch)(struct store *s, const struct store_batch_src *src,
					 const struct store_batch *b);
	int (*query)(struct store *s, const char *sql, const struct store_value *params,
		     size_t nparams, const struct store_limits *lim, store_columns_fn on_columns,
		     store_row_fn on_row, void *ctx);
	int (*drop_expired)(struct store *s, int64_t now_s);
	int (*stats)(struct store *s, struct store_stats *out);
	const char *(*errmsg)(struct store *s);
};

/* Backends embed this first; ops is set by store_open. */
struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_clickhouse_ops;

/*
 * Which backend a store URL names: "sqlite:" (or "sqlite", or "": the data directory's
 * SQLite) or "clickhouse://HOST:PORT/DB[?cluster=NAME]" (cfg.url is then the URL itself).
 * 0, or -EINVAL with a one-line reason in err.
 */
int store_ops_for_url(const char *url, const struct store_ops **ops, char *err, size_t errlen);

/*
 * Open a store with backend ops and run its schema migrations (store_ensure_schema).
 * Opening an existing directory again is fine. 0 or -errno; *out is NULL on failure.
 */
int store_open(const struct store_ops *ops, const struct store_cfg *cfg, struct store **out);
/* The same, with the backend's text for a failure copied to err (the handle is gone by
 * then, so store_errmsg cannot give it). */
int store_open_msg(const struct store_ops *ops, const struct store_cfg *cfg, struct store **out,
		   char *err, size_t errlen);
void store_close(struct store *s);

/* Idempotent migrations: create or upgrade the schema. store_open already ran it. */
int store_ensure_schema(struct store *s);

/*
 * Store the rows of b (every kind) in one transaction: all or none, and, with src, the
 * source's seq with them, so that a resend is STORE_DUPLICATE for every table at once (see
 * store_write_batch_from). src may be NULL: no duplicate detection. An empty batch with a
 * src still advances the source's seq.
 */
enum store_result store_write_rows(struct store *s, const struct store_batch_src *src,
				   const struct store_batch *b);

/*
 * Store n l7 records in one transaction: all or none. STORE_RETRY for transient failures
 * (the caller retries the same batch with backoff), STORE_DROP for data that can never be
 * stored (the caller counts the records as dropped). n == 0 is STORE_OK.
 */
enum store_result store_write_batch(struct store *s, const struct l7_record *recs, size_t n);

/*
 * The same, for a numbered batch of a source: STORE_DUPLICATE (nothing written) when
 * src->seq is not above the last seq stored for src->id. The source's last seq is kept
 * durably with the rows, so this holds across restarts. An empty batch still advances it.
 * A src->id longer than STORE_SRC_ID_MAX is STORE_DROP.
 */
enum store_result store_write_batch_from(struct store *s, const struct store_batch_src *src,
					 const struct l7_record *recs, size_t n);

/*
 * Run one read-only statement of the backend's SQL with `?` parameters params[0..nparams)
 * (nparams must match the statement), streaming the result: on_columns once, then on_row
 * per row. Either callback may be NULL. Returns:
 *   0        all rows delivered (or on_row asked to stop with > 0);
 *   -E2BIG   lim->max_rows rows were delivered and more were available;
 *   -ETIME   lim->timeout_ms passed; the rows delivered so far are valid;
 *   -EPERM   not a read-only statement, or it uses something queries may not (ATTACH,
 *            PRAGMA, transactions);
 *   -EINVAL  not exactly one statement, a syntax or name error, wrong parameter count;
 *   -EBUSY, -ENOMEM, -EIO, or the callback's negative value.
 * store_errmsg() has the backend's text for the failure.
 */
int store_query(struct store *s, const char *backend_sql, const struct store_value *params,
		size_t nparams, const struct store_limits *lim, store_columns_fn on_columns,
		store_row_fn on_row, void *ctx);

/* Drop every partition whose whole time range is older than now_s - retention. Returns
 * the number of partitions dropped, or -errno. */
int store_drop_expired(struct store *s, int64_t now_s);

int store_stats(struct store *s, struct store_stats *out);
unsigned int store_caps(const struct store *s);
/* The last failure's text on this handle ("" when none); valid until the next call. */
const char *store_errmsg(struct store *s);

/*
 * The tag id columns of one side of an l7_flow_log or l4_flow_log row (schema.c's
 * TAG_ID_COLUMNS, docs/tagging.md), in schema order: a block of STORE_TAG_NCOLS values per
 * side, starting at L7C_TAGS_0 / L7C_TAGS_1 (L4C_TAGS_0 / L4C_TAGS_1), filled from the
 * record's struct tag_set of that side (common/tag_set.h).
 */
enum store_tag_col {
	TAGC_HOST_ID,
	TAGC_GPROCESS_ID,
	TAGC_CONTAINER_ID,
	TAGC_NETNS_ID,
	TAGC_CUSTOM_SERVICE_ID,
	TAGC_POD_CLUSTER_ID,
	TAGC_POD_NS_ID,
	TAGC_POD_NODE_ID,
	TAGC_POD_ID,
	TAGC_POD_GROUP_ID,
	TAGC_POD_SERVICE_ID,
	TAGC_AUTO_SERVICE_ID,
	TAGC_AUTO_SERVICE_TYPE,
	TAGC_AUTO_INSTANCE_ID,
	TAGC_AUTO_INSTANCE_TYPE,
	STORE_TAG_NCOLS,
};

/* The values of one side's block, in enum store_tag_col order (all integers). */
void store_tag_values(const struct tag_set *t, struct store_value v[STORE_TAG_NCOLS]);

/*
 * The l7_flow_log row of a record, shared by all backends so that they store what
 * record_write_json() prints, plus the row id `_id` (rowid_make of the row's time and
 * id_seq: the batch's l7_id_seq + the record's index). Columns are indexed by enum
 * store_l7_col; text values point into r or into buf (addresses), so buf must live as
 * long as the values are used.
 */
enum store_l7_col {
	L7C_TIME,
	L7C_START_TIME,
	L7C_END_TIME,
	L7C_RESPONSE_DURATION,
	L7C_IP4_0,
	L7C_IP4_1,
	L7C_IP6_0,
	L7C_IP6_1,
	L7C_CLIENT_PORT,
	L7C_SERVER_PORT,
	L7C_PROTOCOL,
	L7C_SIGNAL_SOURCE,
	L7C_OBSERVATION_POINT,
	L7C_CAPTURE_NIC,
	L7C_PROCESS_ID_0,
	L7C_PROCESS_ID_1,
	L7C_PROCESS_KNAME_0,
	L7C_PROCESS_KNAME_1,
	L7C_SYSCALL_THREAD_0,
	L7C_SYSCALL_THREAD_1,
	L7C_L7_PROTOCOL,
	L7C_VERSION,
	L7C_TYPE,
	L7C_REQUEST_TYPE,
	L7C_REQUEST_DOMAIN,
	L7C_REQUEST_RESOURCE,
	L7C_ENDPOINT,
	L7C_RESPONSE_CODE,
	L7C_RESPONSE_STATUS,
	L7C_RESPONSE_EXCEPTION,
	L7C_REQUEST_LENGTH,
	L7C_RESPONSE_LENGTH,
	L7C_REQ_TCP_SEQ,
	L7C_RESP_TCP_SEQ,
	L7C_X_REQUEST_ID_0,
	L7C_X_REQUEST_ID_1,
	L7C_TRACE_ID,
	L7C_SPAN_ID,
	L7C_RESPONSE_RESULT,
	L7C_REQUEST_ID,
	L7C_SQL_AFFECTED_ROWS,
	L7C_SYSCALL_TRACE_ID_REQUEST,
	L7C_SYSCALL_TRACE_ID_RESPONSE,
	L7C_SYSCALL_COROUTINE_0,
	L7C_SYSCALL_COROUTINE_1,
	L7C_PARENT_SPAN_ID,
	L7C_LONE_RESP_TCP_SEQ, /* resp_tcp_seq of a response without its request, else 0 */
	L7C__ID, /* the row id, not in the agent's JSON: assigned at ingest (store/rowid.h) */
	/* Not in the agent's JSON: the tagger's ids, side 0 then side 1 (enum store_tag_col). */
	L7C_TAGS_0,
	L7C_TAGS_1 = L7C_TAGS_0 + STORE_TAG_NCOLS,
	L7C__MAX = L7C_TAGS_1 + STORE_TAG_NCOLS,
};

/* Column names, in enum order; each is a column of the l7_flow_log schema table. */
extern const char *const store_l7_col_names[L7C__MAX];

struct store_addr_buf {
	char a[2][48]; /* INET6_ADDRSTRLEN rounded up */
};

void store_l7_row(const struct l7_record *r, uint64_t id_seq, struct store_value v[L7C__MAX],
		  struct store_addr_buf *buf);

/*
 * The l4_flow_log row of a record, the same way: it follows l4_record_write_json()
 * (src/agent/l4_record.c) key by key, "table" aside. Text values point into buf or at
 * static names.
 */
enum store_l4_col {
	L4C_TIME,
	L4C_START_TIME,
	L4C_END_TIME,
	L4C_DURATION,
	L4C_FLOW_ID,
	L4C_CLOSE_TYPE,
	L4C_CLOSE_TYPE_NAME,
	L4C_IS_NEW_FLOW,
	L4C_SIGNAL_SOURCE,
	L4C_OBSERVATION_POINT,
	L4C_CAPTURE_NIC,
	L4C_IP4_0,
	L4C_IP4_1,
	L4C_IP6_0,
	L4C_IP6_1,
	L4C_CLIENT_PORT,
	L4C_SERVER_PORT,
	L4C_PROTOCOL,
	L4C_L7_PROTOCOL,
	L4C_MAC_0,
	L4C_MAC_1,
	L4C_VLAN,
	L4C_TUNNEL_TIER,
	L4C_TUNNEL_TYPE,
	L4C_TUNNEL_TYPE_NAME,
	L4C_TUNNEL_ID,
	L4C_TUNNEL_IP_0,
	L4C_TUNNEL_IP_1,
	L4C_TCP_FLAGS_BIT_0,
	L4C_TCP_FLAGS_BIT_1,
	L4C_SYN_SEQ,
	L4C_SYN_ACK_SEQ,
	L4C_PACKET_TX,
	L4C_PACKET_RX,
	L4C_BYTE_TX,
	L4C_BYTE_RX,
	L4C_L3_BYTE_TX,
	L4C_L3_BYTE_RX,
	L4C_L4_BYTE_TX,
	L4C_L4_BYTE_RX,
	L4C_RTT,
	L4C_RTT_CLIENT,
	L4C_RTT_SERVER,
	L4C_SRT_SUM,
	L4C_SRT_COUNT,
	L4C_SRT_MAX,
	L4C_ART_SUM,
	L4C_ART_COUNT,
	L4C_ART_MAX,
	L4C_CIT_SUM,
	L4C_CIT_COUNT,
	L4C_CIT_MAX,
	L4C_RETRANS_TX,
	L4C_RETRANS_RX,
	L4C_OOO_TX,
	L4C_OOO_RX,
	L4C_ZERO_WIN_TX,
	L4C_ZERO_WIN_RX,
	L4C_SYN_COUNT,
	L4C_SYNACK_COUNT,
	L4C_RETRANS_SYN,
	L4C_RETRANS_SYNACK,
	L4C_FIN_COUNT,
	L4C_RST_COUNT,
	/* Not in the agent's JSON: the tagger's ids, as for l7 (enum store_tag_col). */
	L4C_TAGS_0,
	L4C_TAGS_1 = L4C_TAGS_0 + STORE_TAG_NCOLS,
	L4C__MAX = L4C_TAGS_1 + STORE_TAG_NCOLS,
};

/* Column names, in enum order; each is a column of the l4_flow_log schema table. */
extern const char *const store_l4_col_names[L4C__MAX];

struct store_l4_buf {
	char ip[2][48];
	char mac[2][18];
	char tunnel_ip[2][48];
};

void store_l4_row(const struct l4_record *r, struct store_value v[L4C__MAX],
		  struct store_l4_buf *buf);

/*
 * The flow_metrics row of a struct net_row, the same way: it follows net_row_write_json()
 * (src/agent/net_meter.c) key by key, "table" aside. Its key columns come first, those of
 * network (enum store_net_col) or of network_map (enum store_netmap_col) as the row's
 * table says, then every counter in enum net_counter order, under its net_counter_names
 * name. Text values point into buf or at static names.
 */
enum store_net_col {
	NETC_TIME,
	NETC_IP4,
	NETC_IP6,
	NETC_ROLE,
	NETC_SERVER_PORT,
	NETC_PROTOCOL,
	NETC_SIGNAL_SOURCE,
	NETC__KEYS,
};

enum store_netmap_col {
	NMAPC_TIME,
	NMAPC_IP4_0,
	NMAPC_IP4_1,
	NMAPC_IP6_0,
	NMAPC_IP6_1,
	NMAPC_OBSERVATION_POINT,
	NMAPC_SERVER_PORT,
	NMAPC_PROTOCOL,
	NMAPC_SIGNAL_SOURCE,
	NMAPC__KEYS,
};

/* NC_MAX (src/agent/net_meter.h; store.c checks that they agree). */
#define STORE_NET_COUNTERS 55
#define STORE_NET_MAX_COLS (NMAPC__KEYS + STORE_NET_COUNTERS)

/* Key column names, in enum order; each is a column of its schema tables. */
extern const char *const store_net_col_names[NETC__KEYS];
extern const char *const store_netmap_col_names[NMAPC__KEYS];

struct store_net_buf {
	char ip[2][48];
};

/* Returns the number of values: NETC__KEYS or NMAPC__KEYS, plus STORE_NET_COUNTERS. */
size_t store_net_row(const struct net_row *r, struct store_value v[STORE_NET_MAX_COLS],
		     struct store_net_buf *buf);

/*
 * Which schema table each mapping fills, for backends that build their INSERTs from it:
 * a table of { table name, column names in value order, count }, NULL-terminated. The
 * network tables' counters follow their key columns as more_cols: the agent's own list of
 * counter names, so that a counter cannot be stored under another name.
 */
struct store_row_map {
	const char *table;
	const char *const *cols;
	size_t ncols;
	const char *const *more_cols; /* NULL, or nmore columns after cols */
	size_t nmore;
};
extern const struct store_row_map store_row_maps[];

#endif
