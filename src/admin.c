/*
 * admin.c: the admin listener and the client side of vane -s for it.
 * See admin.h.
 *
 * Not the hot path: plain bufferevents on the main thread's event_base.
 * A connection reads one request head (at most ADMIN_HEAD_MAX bytes within
 * ADMIN_TIMEOUT_MS, else 431 or 408; the strict parser of the proxy says
 * 400 for anything malformed), runs the one handler that the route table
 * names for its method and path, answers with Connection: close, then
 * closes: it shuts its sending side down and reads and discards whatever
 * the client still sends for up to ADMIN_LINGER_MS (a lingering close, as
 * nginx does), so that unread request bytes never turn the answer into a
 * reset.
 *
 * No endpoint takes a request body, so a request that announces one
 * (Content-Length above 0, or Transfer-Encoding) is answered 400: reading a
 * body nobody uses is not worth its framing rules.
 *
 * The counters and the server state belong to other threads; every read of
 * them here is a relaxed atomic load. The workers write their struct stats
 * fields (plain uint64_t) without atomics, which is a benign race: an
 * aligned 64-bit load cannot tear on x86-64 (nor on the other 64-bit
 * targets), so __atomic_load_n(..., __ATOMIC_RELAXED) returns either the
 * old or the new value. The numbers of one /stats answer are therefore not
 * one snapshot; they may be a few requests apart.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "admin.h"
#include "backend.h"
#include "cache.h"
#include "cache_policy.h"
#include "config.h"
#include "http_msg.h"
#include "http_parse.h"
#include "listener.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#define ADMIN_HEAD_MAX		8192	/* request line and fields */
#define ADMIN_FIELDS_MAX	64
#define ADMIN_TIMEOUT_MS	5000	/* to send the head; to read the answer */
#define ADMIN_LINGER_MS		1000
#define ADMIN_MAX_CONNS		64	/* more are closed at accept */
#define ADMIN_BACKLOG		64
#define ADMIN_ARG_MAX		256
#define ADMIN_URL_MAX		2048	/* vane -s purge:URL */
#define ADMIN_PENDING		0	/* a handler waits on the store */
#define PURGE_OPS_MAX		32	/* keys and tags per purge request */
#define ADMIN_CONN_MAGIC	0x61636f6eu

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define LOAD(x)		atomic_load_explicit(&(x), memory_order_relaxed)
#define PEEK(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* One store operation of a purge: remove a primary key, or a tag. */
struct purge_op {
	int		 tag;
	char		*s;
	size_t		 len;
};

/* The operations of one purge request, run one after the other. */
struct purge {
	struct purge_op	 ops[PURGE_OPS_MAX];
	int		 nops;
	int		 next;		/* the op to start next */
	int		 busy;		/* an op is started, not completed */
	int		 looping;	/* purge_run is on the stack */
	int		 failed;	/* an op answered STORE_ERROR */
	uint64_t	 count;
};

struct aconn;

/*
 * One request being answered. A handler fills body (JSON unless it sets
 * ctype) and returns the status; for HEAD the body is counted, not sent.
 * A handler that started a store operation which has not completed yet
 * returns ADMIN_PENDING (req_wait): the store's callback answers through
 * req_done. The memory store completes before it returns, the Redis store
 * later, from the loop; both take the same path here.
 */
struct admin_req {
	struct aconn	*ac;
	char		 method[32];	/* "" when longer: matches nothing */
	int		 head;		/* HEAD: route as GET, send no body */
	char		*path;		/* target without the query, NUL-ended */
	char		*query;		/* after the '?', NUL-ended, or NULL */
	const char	*buf;		/* the head: only while the handler runs */
	const struct http_msg *m;
	char		 arg[ADMIN_ARG_MAX];	/* what {} or * matched, decoded */
	const char	*ctype;
	char		 allow[64];	/* for 405 */
	struct evbuffer	*body;
	struct store_req *sreq;		/* pending store op, for store_cancel */
	int		 done;		/* req_done ran */
	int		 waiting;	/* the handler returned ADMIN_PENDING */
	int		 status;	/* from req_done */
	struct purge	 purge;
};

/*
 * The endpoints. pattern: literal segments, "{}" for one non-empty
 * segment, or "*" last for the rest of the path (at least one byte); what
 * they match is in req->arg, percent-decoded. A HEAD request is routed as
 * GET. A path matched with another method gets 405 with Allow. Add a row
 * to add an endpoint (/metrics, PURGE ...).
 */
struct admin_route {
	const char	*method;
	const char	*pattern;
	int		(*fn)(struct admin_req *);
};

static int	admin_health(struct admin_req *);
static int	admin_stats(struct admin_req *);
static int	admin_metrics(struct admin_req *);
static int	admin_drain(struct admin_req *);
static int	admin_enable(struct admin_req *);
static int	admin_reload(struct admin_req *);
static int	admin_purge(struct admin_req *);
static int	admin_purge_post(struct admin_req *);

/* PURGE takes any target (the URL to drop, not an admin path): it is
 * dispatched before this table, see admin_dispatch. */
static const struct admin_route routes[] = {
	{ "GET",	"/health",		admin_health },
	{ "GET",	"/stats",		admin_stats },
	{ "GET",	"/metrics",		admin_metrics },
	{ "GET",	"/reload",		admin_reload },
	{ "POST",	"/servers/{}/drain",	admin_drain },
	{ "POST",	"/servers/{}/enable",	admin_enable },
	/* Deprecated: the names before the servers/ ones, kept so that
	 * scripts written for them go on working. */
	{ "POST",	"/backends/{}/drain",	admin_drain },
	{ "POST",	"/backends/{}/ready",	admin_enable },
	{ "POST",	"/purge",		admin_purge_post },
};

/* AC_WAIT: the request is read and waits on the store to answer. */
enum ac_state { AC_HEAD, AC_WAIT, AC_WRITE, AC_LINGER };

struct aconn {
	uint32_t		 magic;
	enum ac_state		 state;
	int			 peer_eof;
	char			 peer[64];	/* "ip:port", for the log */
	struct bufferevent	*bev;
	struct event		*timer;
	struct http_msg		 req;
	struct http_field	 fields[ADMIN_FIELDS_MAX];
	struct admin_req	 ar;
	LIST_ENTRY(aconn)	 entry;
};

static LIST_HEAD(, aconn)	 aconns = LIST_HEAD_INITIALIZER(aconns);
static int			 naconns;
static int			 admin_fd = -1;
static struct evconnlistener	*admin_lev;
static struct event_base	*admin_base;
static uint64_t			 admin_started;	/* mono ms */
static struct store_conn	*admin_sc;	/* NULL: cache.store "off" */

static void	aconn_answer(struct aconn *, struct admin_req *, int);
static int	pct_decode(const char *, size_t, char *, size_t, int);

/* ---------------------------------------------------------------- JSON */

/* s as a JSON string (RFC 8259 §7); bytes above 0x7e as \u00XX, so the
 * answer is plain ASCII whatever a reason string holds. */
static void
json_str(struct evbuffer *b, const char *s)
{
	const unsigned char *p;

	evbuffer_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
json_key(struct evbuffer *b, int *first, const char *k)
{
	if (!*first)
		evbuffer_add(b, ",", 1);
	*first = 0;
	json_str(b, k);
	evbuffer_add(b, ":", 1);
}

static void
json_u64(struct evbuffer *b, int *first, const char *k, uint64_t v)
{
	json_key(b, first, k);
	evbuffer_add_printf(b, "%llu", (unsigned long long)v);
}

static void
json_int(struct evbuffer *b, int *first, const char *k, long v)
{
	json_key(b, first, k);
	evbuffer_add_printf(b, "%ld", v);
}

static void
json_bool(struct evbuffer *b, int *first, const char *k, int v)
{
	json_key(b, first, k);
	evbuffer_add_printf(b, "%s", v ? "true" : "false");
}

static void
json_kstr(struct evbuffer *b, int *first, const char *k, const char *v)
{
	json_key(b, first, k);
	json_str(b, v);
}

static int
admin_error(struct admin_req *r, int status, const char *msg)
{
	int first = 1;

	evbuffer_drain(r->body, evbuffer_get_length(r->body));
	evbuffer_add(r->body, "{", 1);
	json_kstr(r->body, &first, "error", msg);
	evbuffer_add(r->body, "}\n", 2);
	return (status);
}

/* ------------------------------------------------------ store waits */

/*
 * A store op a handler started has completed with the answer's status.
 * When it completed before the handler returned (the memory store), the
 * handler returns the status itself (req_wait); otherwise answer now.
 */
static void
req_done(struct admin_req *r, int status)
{
	r->sreq = NULL;
	r->done = 1;
	r->status = status;
	if (r->waiting) {
		r->waiting = 0;
		aconn_answer(r->ac, r, status);
	}
}

/* What a handler returns once its store op is started (r->sreq set). */
static int
req_wait(struct admin_req *r)
{
	if (r->done)
		return (r->status);
	r->waiting = 1;
	return (ADMIN_PENDING);
}

/* -------------------------------------------------------------- /reload */

/*
 * Where reloads stand: the generation in force (1 at start, +1 per
 * reload applied), the reloads that kept the running one, and why the
 * last did ("" once one succeeded since). vane -s reload reads it before
 * and after its SIGHUP, so it can tell the outcome; the fields come in
 * this order (admin_reload_state parses them).
 */
static int
admin_reload(struct admin_req *r)
{
	int first = 1;

	evbuffer_add(r->body, "{", 1);
	json_u64(r->body, &first, "generation", vane.gen->id);
	json_u64(r->body, &first, "failures", vane.reload_failures);
	json_kstr(r->body, &first, "error", vane.reload_error);
	evbuffer_add(r->body, "}\n", 2);
	return (200);
}

/* -------------------------------------------------------------- /health */

/*
 * vane's own liveness: the main loop runs and answers. Open without the
 * token (see admin_dispatch), so it says nothing but that.
 */
static int
admin_health(struct admin_req *r)
{
	int first = 1;

	evbuffer_add(r->body, "{", 1);
	json_kstr(r->body, &first, "status", "ok");
	evbuffer_add(r->body, "}\n", 2);
	return (200);
}

/* --------------------------------------------------------------- /stats */

/* The counters of stats.def, in its order; the JSON groups them by the
 * part of the name before the first '_' (connections_active ->
 * "connections": {"active"}), a name without '_' being that section's
 * "total". A counter added there shows up here by itself. */
static const struct stat_row {
	const char	*name;
	size_t		 off;
	int		 gauge;
	const char	*help;
} stat_rows[] = {
#define STAT(name, kind, help)	{ #name, offsetof(struct stats, name), \
	STAT_GAUGE_##kind, help },
#define STAT_GAUGE_COUNTER	0
#define STAT_GAUGE_GAUGE	1
#include "stats.def"
#undef STAT
};

/* Values that are no per-worker counter, added to a section. */
static uint64_t
queue_waiting(void)
{
	int n = LOAD(vane.queued);

	return (n > 0 ? (uint64_t)n : 0);
}

static const struct stat_extra {
	const char	*section;
	const char	*key;
	uint64_t	(*get)(void);
} stat_extras[] = {
	{ "backend",	"queue_waiting",	queue_waiting },
};

/* Sum the workers' counters, each read with a relaxed load (see top). */
static void
stats_sum_relaxed(struct stats *sum)
{
	/* Retired generations and freed ones included: a reload never
	 * makes a counter go back. */
	workers_stats(sum);
}

static size_t
section_len(const char *name)
{
	const char *u = strchr(name, '_');

	return (u != NULL ? (size_t)(u - name) : strlen(name));
}

static int
same_section(const char *a, size_t alen, const char *b)
{
	return (section_len(b) == alen && strncmp(a, b, alen) == 0);
}

/*
 * The store's own numbers, in the "cache" section beside the request-path
 * counters of stats.def: "store" names it ("off" without one); without
 * an answer from it (Redis down) "store_error" says so instead.
 */
static void
json_store(struct evbuffer *b, int *first, const struct store_stats *st)
{
	if (vane.store == NULL) {
		json_kstr(b, first, "store", "off");
		return;
	}
	json_kstr(b, first, "store", vane.store->ops->name);
	if (st == NULL) {
		json_kstr(b, first, "store_error", "the store did not answer");
		return;
	}
	if (st->sized) {
		json_u64(b, first, "objects", st->objects);
		json_u64(b, first, "markers", st->markers);
		json_u64(b, first, "bytes", st->bytes);
		json_u64(b, first, "budget", st->budget);
	}
	json_u64(b, first, "inserts", st->inserts);
	json_u64(b, first, "evictions", st->evictions);
	json_u64(b, first, "expired", st->expired);
	json_u64(b, first, "purged", st->purged);
	json_u64(b, first, "rejected", st->rejected);
}

static void
json_section(struct evbuffer *b, const struct stats *sum, size_t i,
    const struct store_stats *sst)
{
	const char *name = stat_rows[i].name, *key;
	char sec[64];
	size_t len = section_len(name), j;
	int first = 1;

	snprintf(sec, sizeof(sec), "%.*s", (int)len, name);
	json_str(b, sec);
	evbuffer_add(b, ":{", 2);
	for (j = i; j < NITEMS(stat_rows); j++) {
		if (!same_section(name, len, stat_rows[j].name))
			continue;
		key = stat_rows[j].name[len] == '_' ?
		    stat_rows[j].name + len + 1 : "total";
		json_u64(b, &first, key, *(const uint64_t *)(const void *)
		    ((const char *)sum + stat_rows[j].off));
	}
	for (j = 0; j < NITEMS(stat_extras); j++)
		if (strcmp(stat_extras[j].section, sec) == 0)
			json_u64(b, &first, stat_extras[j].key,
			    stat_extras[j].get());
	if (strcmp(sec, "cache") == 0)
		json_store(b, &first, sst);
	evbuffer_add(b, "}", 1);
}

static void
json_counters(struct evbuffer *b, const struct store_stats *sst)
{
	struct stats sum;
	size_t i, j, len;

	stats_sum_relaxed(&sum);
	for (i = 0; i < NITEMS(stat_rows); i++) {
		len = section_len(stat_rows[i].name);
		for (j = 0; j < i; j++)
			if (same_section(stat_rows[i].name, len,
			    stat_rows[j].name))
				break;
		if (j < i)
			continue;	/* section already written */
		evbuffer_add(b, ",", 1);
		json_section(b, &sum, i, sst);
	}
}

static void
json_server(struct evbuffer *b, const struct server *s, uint64_t now)
{
	uint64_t idle = 0;
	int i, first = 1;

	for (i = 0; i < vane.nworkers; i++)
		idle += (uint64_t)PEEK(vane.workers[i].pools[s->idx].nidle);
	evbuffer_add(b, "{", 1);
	json_kstr(b, &first, "name", s->name);
	json_kstr(b, &first, "state", backend_state(s, now));
	json_int(b, &first, "weight", s->weight);
	json_int(b, &first, "max_conns", s->max_conns);
	json_int(b, &first, "active", LOAD(s->inflight));
	json_u64(b, &first, "idle", idle);
	json_u64(b, &first, "requests", LOAD(s->requests));
	json_u64(b, &first, "failures", LOAD(s->failures));
	json_u64(b, &first, "checks", LOAD(s->checks));
	json_u64(b, &first, "checks_failed", LOAD(s->checks_failed));
	json_u64(b, &first, "check_ms", LOAD(s->check_ms));
	/* check_reason is written by the health checker, on this thread. */
	json_kstr(b, &first, "check_reason", s->check_reason);
	evbuffer_add(b, "}", 1);
}

static void
json_listener(struct evbuffer *b, const struct lsock *ls)
{
	const struct cfg_listen *l = &vane.cfg->listen[ls->index];
	int first = 1;

	evbuffer_add(b, "{", 1);
	json_kstr(b, &first, "address", l->address.text);
	json_bool(b, &first, "tls", ls->tls);
	json_u64(b, &first, "accepted", LOAD(ls->st->accepted));
	json_int(b, &first, "active", LOAD(ls->st->active));
	json_u64(b, &first, "requests", LOAD(ls->st->requests));
	evbuffer_add(b, "}", 1);
}

static void
stats_write(struct admin_req *r, const struct store_stats *sst)
{
	struct evbuffer *b = r->body;
	uint64_t now = now_mono_ms();
	int i, first = 1;

	evbuffer_add(b, "{", 1);
	json_kstr(b, &first, "version", PACKAGE_VERSION);
	json_u64(b, &first, "uptime_seconds", (now - admin_started) / 1000);
	json_int(b, &first, "workers", vane.nworkers);
	json_counters(b, sst);
	evbuffer_add(b, ",\"backends\":[", 13);
	for (i = 0; i < vane.nservers; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_server(b, &vane.servers[i], now);
	}
	evbuffer_add(b, "],\"listeners\":[", 15);
	for (i = 0; i < vane.gen->nlsocks; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_listener(b, &vane.gen->lsocks[i]);
	}
	evbuffer_add(b, "]}\n", 3);
}

static void
stats_done(void *arg, int status, const struct store_stats *st)
{
	struct admin_req *r = arg;

	stats_write(r, status == STORE_OK ? st : NULL);
	req_done(r, 200);
}

/* The store's stats first (they may come later), then the rest. */
static int
admin_stats(struct admin_req *r)
{
	if (admin_sc == NULL) {
		stats_write(r, NULL);
		return (200);
	}
	r->sreq = store_get_stats(admin_sc, stats_done, r);
	return (req_wait(r));
}

/* ------------------------------------------------------------ metrics */

/*
 * GET /metrics: the Prometheus text format (version 0.0.4). Every
 * counter of stats.def as vane_NAME_total, every gauge as vane_NAME, each
 * with its HELP (the help text of stats.def) and TYPE, the cache's with a
 * store label; the store's own numbers, the queue, and per backend server
 * (label server) its state, requests, failures and requests in flight.
 */
static void
prom_help(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	const char *p;

	evbuffer_add_printf(b, "# HELP %s ", name);
	for (p = help; *p != '\0'; p++) {
		if (*p == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* A label value, escaped as the format says. */
static void
prom_label(struct evbuffer *b, const char *k, const char *v)
{
	const char *p;

	evbuffer_add_printf(b, "%s=\"", k);
	for (p = v; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
prom_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, const char *lk, const char *lv, uint64_t v)
{
	prom_help(b, name, type, help);
	evbuffer_add_printf(b, "%s", name);
	if (lk != NULL) {
		evbuffer_add(b, "{", 1);
		prom_label(b, lk, lv);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, " %llu\n", (unsigned long long)v);
}

/* One family with a sample per backend server. */
static void
prom_servers(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t (*get)(const struct server *, uint64_t),
    uint64_t now)
{
	int i;

	prom_help(b, name, type, help);
	for (i = 0; i < vane.nservers; i++) {
		evbuffer_add_printf(b, "%s{", name);
		prom_label(b, "server", vane.servers[i].name);
		evbuffer_add_printf(b, "} %llu\n", (unsigned long long)
		    get(&vane.servers[i], now));
	}
}

static uint64_t
srv_up(const struct server *s, uint64_t now)
{
	return (strcmp(backend_state(s, now), "up") == 0);
}

static uint64_t
srv_requests(const struct server *s, uint64_t now)
{
	(void)now;
	return (LOAD(s->requests));
}

static uint64_t
srv_failures(const struct server *s, uint64_t now)
{
	(void)now;
	return (LOAD(s->failures));
}

static uint64_t
srv_active(const struct server *s, uint64_t now)
{
	(void)now;
	return ((uint64_t)LOAD(s->inflight));
}

/* One family with a sample per listening address. */
static void
prom_listeners(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t (*get)(const struct lstats *))
{
	const struct lsock *ls;
	int i;

	prom_help(b, name, type, help);
	for (i = 0; i < vane.gen->nlsocks; i++) {
		ls = &vane.gen->lsocks[i];
		evbuffer_add_printf(b, "%s{", name);
		prom_label(b, "listener",
		    vane.cfg->listen[ls->index].address.text);
		evbuffer_add_printf(b, "} %llu\n", (unsigned long long)
		    get(ls->st));
	}
}

static uint64_t
lis_accepted(const struct lstats *st)
{
	return (LOAD(st->accepted));
}

static uint64_t
lis_active(const struct lstats *st)
{
	int n = LOAD(st->active);

	return (n > 0 ? (uint64_t)n : 0);
}

static uint64_t
lis_requests(const struct lstats *st)
{
	return (LOAD(st->requests));
}

static void
metrics_write(struct admin_req *r, const struct store_stats *sst)
{
	struct evbuffer *b = r->body;
	const char *store = vane.store != NULL ? vane.store->ops->name : "off";
	struct stats sum;
	char name[96];
	size_t i;
	uint64_t now = now_mono_ms();

	r->ctype = "text/plain; version=0.0.4; charset=utf-8";
	prom_help(b, "vane_build_info", "gauge",
	    "the running version, as a label; always 1");
	evbuffer_add(b, "vane_build_info{", 16);
	prom_label(b, "version", PACKAGE_VERSION);
	evbuffer_add(b, "} 1\n", 4);
	prom_one(b, "vane_uptime_seconds", "gauge",
	    "seconds since vane started", NULL, NULL,
	    (now - admin_started) / 1000);
	prom_one(b, "vane_workers", "gauge", "event-loop threads", NULL, NULL,
	    (uint64_t)vane.nworkers);
	stats_sum_relaxed(&sum);
	for (i = 0; i < NITEMS(stat_rows); i++) {
		snprintf(name, sizeof(name), "vane_%s%s", stat_rows[i].name,
		    stat_rows[i].gauge ? "" : "_total");
		prom_one(b, name, stat_rows[i].gauge ? "gauge" : "counter",
		    stat_rows[i].help, strncmp(stat_rows[i].name, "cache_",
		    6) == 0 ? "store" : NULL, store,
		    *(const uint64_t *)(const void *)((const char *)&sum +
		    stat_rows[i].off));
	}
	prom_one(b, "vane_backend_queue_waiting", "gauge",
	    "requests waiting for a backend slot now", NULL, NULL,
	    queue_waiting());
	if (sst != NULL && sst->sized) {
		prom_one(b, "vane_cache_store_objects", "gauge",
		    "responses stored", "store", store, sst->objects);
		prom_one(b, "vane_cache_store_bytes", "gauge",
		    "bytes the stored responses take", "store", store,
		    sst->bytes);
		prom_one(b, "vane_cache_store_budget_bytes", "gauge",
		    "cache.size", "store", store, sst->budget);
	}
	if (sst != NULL) {
		prom_one(b, "vane_cache_store_evictions_total", "counter",
		    "stored responses dropped to make room", "store", store,
		    sst->evictions);
	}
	prom_servers(b, "vane_backend_up", "gauge",
	    "1 if the server takes requests (not down, draining or failed)",
	    srv_up, now);
	prom_servers(b, "vane_backend_server_requests_total", "counter",
	    "requests sent to the server", srv_requests, now);
	prom_servers(b, "vane_backend_server_failures_total", "counter",
	    "failed requests to the server (connect, reset, timeout)",
	    srv_failures, now);
	prom_servers(b, "vane_backend_server_active", "gauge",
	    "requests in flight at the server", srv_active, now);
	prom_listeners(b, "vane_listener_connections_total", "counter",
	    "client connections accepted on the address", lis_accepted);
	prom_listeners(b, "vane_listener_connections_active", "gauge",
	    "client connections open on the address", lis_active);
	prom_listeners(b, "vane_listener_requests_total", "counter",
	    "request heads received on the address", lis_requests);
}

static void
metrics_done(void *arg, int status, const struct store_stats *st)
{
	struct admin_req *r = arg;

	metrics_write(r, status == STORE_OK ? st : NULL);
	req_done(r, 200);
}

static int
admin_metrics(struct admin_req *r)
{
	if (admin_sc == NULL) {
		metrics_write(r, NULL);
		return (200);
	}
	r->sreq = store_get_stats(admin_sc, metrics_done, r);
	return (req_wait(r));
}

/* --------------------------------------------------- drain and enable */

static int
set_drain(struct admin_req *r, int on)
{
	struct server *s;
	int idx, first = 1;

	if ((idx = backend_find(vane.servers, vane.nservers, r->arg)) == -1) {
		evbuffer_add(r->body, "{", 1);
		json_kstr(r->body, &first, "error", "no such server");
		json_kstr(r->body, &first, "name", r->arg);
		evbuffer_add(r->body, "}\n", 2);
		return (404);
	}
	s = &vane.servers[idx];
	/* The admin listener is the only writer of drain (backend.h). */
	if (atomic_exchange(&s->drain, on) != on)
		log_notice("backend %s set to %s by the admin listener",
		    s->name, on ? "drain" : "ready");
	/* Requests queued for a slot look again: after ready, at a server
	 * they may use; after drain, at none left, which answers them 503
	 * at once instead of at the queue timeout. */
	workers_kick_queues();
	evbuffer_add(r->body, "{", 1);
	json_kstr(r->body, &first, "name", s->name);
	json_kstr(r->body, &first, "state", backend_state(s, now_mono_ms()));
	evbuffer_add(r->body, "}\n", 2);
	return (200);
}

static int
admin_drain(struct admin_req *r)
{
	return (set_drain(r, 1));
}

static int
admin_enable(struct admin_req *r)
{
	return (set_drain(r, 0));
}

/* --------------------------------------------------------------- purge */

/*
 * PURGE <url> and POST /purge?url=&tag= drop stored responses. A URL is
 * turned into the primary key the request path computes for it, a tag is
 * passed to the store as it is; the ops then run one after the other and
 * the answer counts what they dropped.
 */

static void
purge_clear(struct purge *p)
{
	int i;

	for (i = 0; i < p->nops; i++)
		free(p->ops[i].s);
	p->nops = 0;
}

/* Queue one op; 0, or -1 with the answer's status and body written. */
static int
purge_add(struct admin_req *r, int tag, const char *s, size_t len)
{
	struct purge *p = &r->purge;
	struct purge_op *op;

	if (p->nops == PURGE_OPS_MAX) {
		r->status = admin_error(r, 400, "too many URLs and tags in one "
		    "purge request (at most 32)");
		return (-1);
	}
	op = &p->ops[p->nops];
	if ((op->s = malloc(len)) == NULL) {
		r->status = admin_error(r, 500, "out of memory");
		return (-1);
	}
	memcpy(op->s, s, len);
	op->len = len;
	op->tag = tag;
	p->nops++;
	return (0);
}

/* 1 if s[0..n) has a byte that cannot stand in a request line or a
 * field value as it is (controls, SP, DEL). */
static int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return (1);
	return (0);
}

/*
 * Append to head[*n..cap) the fields of the purge request that
 * cache.key.fields names: their values join the key as a GET's would, so
 * a purge that carries Accept-Language: fr drops what a GET with it
 * stored (and one without drops what GETs without it stored). -1 if they
 * do not fit.
 */
static int
key_fields(const struct admin_req *r, const struct cache_key_opts *ko,
    char *head, size_t cap, size_t *n)
{
	const struct http_field *f;
	uint32_t i;
	size_t j;
	int w;

	for (i = 0; r->m != NULL && i < r->m->nfields; i++) {
		f = &r->m->fields[i];
		if (f->id == HH_HOST)
			continue;	/* the head has the site's already */
		for (j = 0; j < ko->nadd; j++)
			if (http_span_eq(r->buf, f->name, ko->add_headers[j]))
				break;
		if (j == ko->nadd)
			continue;
		w = snprintf(head + *n, cap - *n, "%s: %.*s\r\n",
		    ko->add_headers[j], (int)f->value.len,
		    r->buf + f->value.off);
		if (w < 0 || (size_t)w >= cap - *n)
			return (-1);
		*n += (size_t)w;
	}
	return (0);
}

/*
 * Queue the primary key of a GET for target (origin-form: path and
 * query) on host under scheme. The key is what cache_key() gives, with
 * the request path's key options (cache.key.*), for a request head made
 * of exactly these and parsed by the proxy's own parser, so a purge and a
 * lookup cannot disagree on how a URL is normalised (host case, default
 * port, the query kept as sent, ignored parameters). 0, or -1 with the
 * answer written.
 */
static int
purge_add_key(struct admin_req *r, const char *scheme, const char *host,
    size_t hlen, const char *target, size_t tlen)
{
	static const struct http_limits lim = { 2 * ADMIN_HEAD_MAX,
	    ADMIN_FIELDS_MAX };
	const struct cache_key_opts *ko = cache_key_options();
	char head[2 * ADMIN_HEAD_MAX], key[2 * ADMIN_HEAD_MAX];
	struct http_field fields[ADMIN_FIELDS_MAX];
	struct http_msg m;
	size_t len;
	int n;

	if (hlen == 0 || has_ctl(host, hlen) || has_ctl(target, tlen))
		goto bad;
	n = snprintf(head, sizeof(head), "GET %s%.*s HTTP/1.1\r\n"
	    "Host: %.*s\r\n", tlen > 0 && target[0] == '/' ? "" : "/",
	    (int)tlen, target, (int)hlen, host);
	if (n < 0 || (size_t)n >= sizeof(head))
		goto bad;
	len = (size_t)n;
	if (key_fields(r, ko, head, sizeof(head) - 2, &len) == -1)
		goto bad;
	memcpy(head + len, "\r\n", 2);
	len += 2;
	http_msg_init(&m, fields, ADMIN_FIELDS_MAX);
	if (http_parse_request(&m, head, len, &lim) != HP_OK ||
	    m.form != HT_ORIGIN)
		goto bad;
	if ((n = cache_key(key, sizeof(key), scheme, head, &m, ko)) <= 0)
		goto bad;
	return (purge_add(r, 0, key, (size_t)n));
bad:
	r->status = admin_error(r, 400, "not a valid http or https URL");
	return (-1);
}

/*
 * An absolute URL, http or https (RFC 9110 §4.2): scheme "://" authority
 * then path and query; a fragment is dropped (it never reaches a server),
 * userinfo is refused (§4.2.4). An empty path is "/".
 */
static int
purge_add_url(struct admin_req *r, const char *u, size_t n)
{
	const char *scheme, *a, *t, *hash;

	if (n >= 7 && strncasecmp(u, "http://", 7) == 0) {
		scheme = "http";
		a = u + 7;
	} else if (n >= 8 && strncasecmp(u, "https://", 8) == 0) {
		scheme = "https";
		a = u + 8;
	} else {
		r->status = admin_error(r, 400, "the URL must be absolute: "
		    "http://host/path or https://host/path");
		return (-1);
	}
	if ((hash = memchr(u, '#', n)) != NULL)
		n = (size_t)(hash - u);
	if (a > u + n)
		a = u + n;
	for (t = a; t < u + n && *t != '/' && *t != '?'; t++)
		if (*t == '@') {
			r->status = admin_error(r, 400, "no userinfo in a URL");
			return (-1);
		}
	return (purge_add_key(r, scheme, a, (size_t)(t - a), t,
	    (size_t)(u + n - t)));
}

static void	purge_run(struct admin_req *);

static void
purge_done(void *arg, int status, uint64_t count)
{
	struct admin_req *r = arg;
	struct purge *p = &r->purge;

	r->sreq = NULL;
	p->busy = 0;
	if (status == STORE_OK)
		p->count += count;
	else
		p->failed = 1;
	if (!p->looping)
		purge_run(r);
}

/* {"purged": N, "keys": [...], "tags": [...]}: what was asked, and how
 * many stored responses (variants) were dropped in all. */
static int
purge_answer(struct admin_req *r)
{
	struct purge *p = &r->purge;
	char s[ADMIN_HEAD_MAX + 64];
	int i, k, first = 1, n;

	if (p->failed)
		return (admin_error(r, 503, "the cache store failed"));
	evbuffer_add(r->body, "{", 1);
	json_u64(r->body, &first, "purged", p->count);
	for (k = 0; k < 2; k++) {
		json_key(r->body, &first, k == 0 ? "keys" : "tags");
		evbuffer_add(r->body, "[", 1);
		for (i = 0, n = 0; i < p->nops; i++) {
			if (p->ops[i].tag != k)
				continue;
			snprintf(s, sizeof(s), "%.*s", (int)p->ops[i].len,
			    p->ops[i].s);
			if (n++ > 0)
				evbuffer_add(r->body, ",", 1);
			json_str(r->body, s);
		}
		evbuffer_add(r->body, "]", 1);
	}
	evbuffer_add(r->body, "}\n", 2);
	return (200);
}

/*
 * Start the ops in turn, each once the one before has completed. A loop,
 * not a recursion through the callback, since the memory store completes
 * an op before returning from it.
 */
static void
purge_run(struct admin_req *r)
{
	struct purge *p = &r->purge;
	struct purge_op *op;

	p->looping = 1;
	while (!p->busy && !p->failed && p->next < p->nops) {
		op = &p->ops[p->next++];
		p->busy = 1;
		if (op->tag)
			r->sreq = store_purge_tag(admin_sc, op->s, op->len,
			    purge_done, r);
		else
			r->sreq = store_remove(admin_sc, op->s, op->len,
			    purge_done, r);
	}
	p->looping = 0;
	if (!p->busy)
		req_done(r, purge_answer(r));
}

static int
purge_start(struct admin_req *r)
{
	purge_run(r);
	return (req_wait(r));
}

/*
 * PURGE: the request-target is the URL to drop. Absolute-form names it
 * whole; origin-form (PURGE /path?q) names the site with Host, and drops
 * the URL under both schemes, http and https, since it does not say which.
 */
static int
admin_purge(struct admin_req *r)
{
	const struct http_msg *m = r->m;
	const struct http_field *h;

	if (admin_sc == NULL)
		return (admin_error(r, 503, "cache is off"));
	if (m->form == HT_ABSOLUTE) {
		if (purge_add_url(r, r->buf + m->target.off,
		    m->target.len) == -1)
			return (r->status);
		return (purge_start(r));
	}
	if (m->host < 0 || m->fields[m->host].value.len == 0)
		return (admin_error(r, 400, "PURGE takes an absolute URL, or "
		    "a path and a Host field naming the site"));
	h = &m->fields[m->host];
	if (purge_add_key(r, "http", r->buf + h->value.off, h->value.len,
	    r->buf + m->target.off, m->target.len) == -1 ||
	    purge_add_key(r, "https", r->buf + h->value.off, h->value.len,
	    r->buf + m->target.off, m->target.len) == -1)
		return (r->status);
	return (purge_start(r));
}

/* A tag as the response fields carry it: split on commas and spaces, so
 * one with either can never have been stored. */
static int
tag_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f ||
		    s[i] == ',')
			return (0);
	return (1);
}

/* One url= or tag= parameter of POST /purge; 0, or -1 with the answer. */
static int
purge_param(struct admin_req *r, const char *p, size_t n)
{
	char v[ADMIN_HEAD_MAX];
	const char *eq = memchr(p, '=', n);
	size_t nl = eq != NULL ? (size_t)(eq - p) : n;
	int tag;

	if (nl == 3 && strncmp(p, "url", 3) == 0)
		tag = 0;
	else if (nl == 3 && strncmp(p, "tag", 3) == 0)
		tag = 1;
	else {
		r->status = admin_error(r, 400, "POST /purge takes url= and "
		    "tag= parameters only");
		return (-1);
	}
	if (eq == NULL || pct_decode(eq + 1, n - nl - 1, v, sizeof(v), 1) ==
	    -1 || v[0] == '\0') {
		r->status = admin_error(r, 400, tag ? "bad tag= value" :
		    "bad url= value");
		return (-1);
	}
	if (!tag)
		return (purge_add_url(r, v, strlen(v)));
	if (!tag_valid(v, strlen(v))) {
		r->status = admin_error(r, 400, "a tag has no space, comma or "
		    "control character");
		return (-1);
	}
	return (purge_add(r, 1, v, strlen(v)));
}

/* POST /purge?url=URL&tag=TAG...: values percent-encoded, '+' is '+'. */
static int
admin_purge_post(struct admin_req *r)
{
	const char *p, *amp;
	size_t n;

	if (admin_sc == NULL)
		return (admin_error(r, 503, "cache is off"));
	for (p = r->query; p != NULL; p = *amp != '\0' ? amp + 1 : NULL) {
		amp = p + strcspn(p, "&");
		n = (size_t)(amp - p);
		if (n > 0 && purge_param(r, p, n) == -1)
			return (r->status);
	}
	if (r->purge.nops == 0)
		return (admin_error(r, 400, "POST /purge takes url=URL or "
		    "tag=TAG (repeatable)"));
	return (purge_start(r));
}

/* ------------------------------------------------------------ dispatch */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Percent-decode p[0..n) into out; -1 if malformed, too long, or it
 * decodes to NUL, or to '/' unless slash_ok (a path segment). */
static int
pct_decode(const char *p, size_t n, char *out, size_t outlen, int slash_ok)
{
	size_t i, o = 0;
	int hi, lo, c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= n)
				return (-1);
			if ((hi = hexval(p[i + 1])) == -1 ||
			    (lo = hexval(p[i + 2])) == -1)
				return (-1);
			c = hi * 16 + lo;
			i += 2;
			if (c == '\0' || (c == '/' && !slash_ok))
				return (-1);
		}
		if (o + 1 >= outlen)
			return (-1);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (0);
}

/* Does path match pattern? What {} or * matched goes into arg. */
static int
route_match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	const char *p = pattern, *q = path, *end;

	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '\0')
			return (*q != '\0' &&
			    pct_decode(q, strlen(q), arg, arglen, 0) == 0);
		if (p[0] == '{' && p[1] == '}') {
			end = strchr(q, '/');
			if (end == NULL)
				end = q + strlen(q);
			if (end == q || pct_decode(q, (size_t)(end - q), arg,
			    arglen, 0) == -1)
				return (0);
			p += 2;
			q = end;
			continue;
		}
		if (*p++ != *q++)
			return (0);
	}
	return (*q == '\0');
}

static void
allow_add(char *allow, size_t len, const char *method)
{
	const char *m = strcmp(method, "GET") == 0 ? "GET, HEAD" : method;
	size_t n = strlen(allow);

	if (strstr(allow, m) != NULL)
		return;
	snprintf(allow + n, len - n, "%s%s", n > 0 ? ", " : "", m);
}

/*
 * Equal in a time that depends on the length of want only, never on where
 * a guess first differs, which would give the token away byte by byte.
 */
static int
token_equal(const char *got, size_t glen, const char *want)
{
	size_t wlen = strlen(want), i;
	unsigned diff = glen != wlen;

	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)want[i] ^
		    (i < glen ? (unsigned char)got[i] : 0u);
	return (diff == 0);
}

/*
 * 1 if admin.token is unset, or the request carries it in exactly one
 * Authorization: Bearer field (RFC 6750 §2.1; the scheme is
 * case-insensitive, RFC 9110 §11.1).
 */
static int
admin_authorized(const struct admin_req *r)
{
	const char *want = vane.cfg->admin_secret, *v;
	const struct http_field *f = NULL;
	uint32_t i;
	size_t n;

	if (want == NULL)
		return (1);
	for (i = 0; i < r->m->nfields; i++) {
		if (r->m->fields[i].id != HH_AUTHORIZATION)
			continue;
		if (f != NULL)
			return (0);	/* two: neither is trusted */
		f = &r->m->fields[i];
	}
	if (f == NULL)
		return (0);
	v = r->buf + f->value.off;
	n = f->value.len;
	if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return (0);
	for (v += 7, n -= 7; n > 0 && *v == ' '; v++, n--)
		;
	return (token_equal(v, n, want));
}

static int
admin_dispatch(struct admin_req *r)
{
	const struct admin_route *rt;
	const char *method = r->head ? "GET" : r->method;
	size_t i;

	/* Before routing, so that without the token even which paths exist
	 * is not told. GET /health stays open for liveness probes (a
	 * kubelet or systemd check has no secret), and says only "ok". */
	if (!(strcmp(method, "GET") == 0 && strcmp(r->path, "/health") == 0) &&
	    !admin_authorized(r))
		return (admin_error(r, 401, "this admin listener needs "
		    "Authorization: Bearer with admin.token"));
	if (strcmp(method, "PURGE") == 0)
		return (admin_purge(r));
	for (i = 0; i < NITEMS(routes); i++) {
		rt = &routes[i];
		if (!route_match(rt->pattern, r->path, r->arg, sizeof(r->arg)))
			continue;
		if (strcmp(rt->method, method) == 0)
			return (rt->fn(r));
		allow_add(r->allow, sizeof(r->allow), rt->method);
	}
	if (r->allow[0] != '\0')
		return (admin_error(r, 405, "method not allowed on this path"));
	return (admin_error(r, 404, "no such endpoint"));
}

/* --------------------------------------------------------- connections */

static void
aconn_free(struct aconn *ac)
{
	CHECK_OBJ(ac, ADMIN_CONN_MAGIC);
	LIST_REMOVE(ac, entry);
	naconns--;
	if (ac->ar.sreq != NULL)
		store_cancel(admin_sc, ac->ar.sreq);
	purge_clear(&ac->ar.purge);
	if (ac->ar.body != NULL)
		evbuffer_free(ac->ar.body);
	free(ac->ar.path);
	free(ac->ar.query);
	if (ac->bev != NULL)
		bufferevent_free(ac->bev);
	if (ac->timer != NULL)
		event_free(ac->timer);
	ac->magic = 0;
	free(ac);
}

static void
aconn_arm(struct aconn *ac, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ac->timer, &tv);
}

/*
 * What the error log keeps of admin requests: refused ones (401), and
 * every one that changes something (purge, drain, enable), with who asked
 * and the outcome. Reads (GET, HEAD) are not logged: a scraper polling
 * /metrics would drown the rest.
 */
static void
aconn_log(const struct aconn *ac, const struct admin_req *r, int status)
{
	const char *q = r->query != NULL ? r->query : "";

	if (r->path == NULL)
		return;		/* refused before it was routed: aconn_fail */
	if (status == 401)
		log_warn("admin: %s %s%s%s from %s refused: no valid token",
		    r->method, r->path, *q != '\0' ? "?" : "", q, ac->peer);
	else if (!r->head && strcmp(r->method, "GET") != 0)
		log_notice("admin: %s %s%s%s from %s: %d", r->method, r->path,
		    *q != '\0' ? "?" : "", q, ac->peer, status);
}

/* Queue the answer; the connection closes once it is written. */
static void
aconn_answer(struct aconn *ac, struct admin_req *r, int status)
{
	struct evbuffer *out = bufferevent_get_output(ac->bev);
	char date[40];
	int rc;

	aconn_log(ac, r, status);
	format_http_date(now_wall(), date, sizeof(date));
	rc = evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n", status,
	    http_reason(status), date, r->ctype,
	    evbuffer_get_length(r->body));
	if (rc != -1 && status == 405)
		rc = evbuffer_add_printf(out, "Allow: %s\r\n", r->allow);
	if (rc != -1 && status == 401)
		rc = evbuffer_add_printf(out,
		    "WWW-Authenticate: Bearer realm=\"vane\"\r\n");
	if (rc != -1)
		rc = evbuffer_add(out, "\r\n", 2);
	if (rc != -1 && !r->head)
		rc = evbuffer_add_buffer(out, r->body);
	if (rc == -1) {
		aconn_free(ac);
		return;
	}
	ac->state = AC_WRITE;
	aconn_arm(ac, ADMIN_TIMEOUT_MS);
}

/* Answer status with an error body, outside of any route. */
static void
aconn_fail(struct aconn *ac, int status, const char *msg)
{
	struct admin_req r;

	memset(&r, 0, sizeof(r));
	r.ctype = "application/json";
	if ((r.body = evbuffer_new()) == NULL) {
		aconn_free(ac);
		return;
	}
	aconn_answer(ac, &r, admin_error(&r, status, msg));
	evbuffer_free(r.body);
}

/* The head in buf is complete: check it, route it, answer it (now, or
 * once the store has, in state AC_WAIT). */
static void
aconn_request(struct aconn *ac, const char *buf)
{
	const struct http_msg *m = &ac->req;
	struct admin_req *r = &ac->ar;
	struct http_span t = m->target;
	const char *q;
	int status;

	if (m->has_te || (m->has_length && m->content_length > 0)) {
		aconn_fail(ac, 400, "admin requests take no body");
		return;
	}
	if (m->form == HT_ABSOLUTE)
		t = m->path;
	else if (m->form != HT_ORIGIN) {
		aconn_fail(ac, 400, "the request-target is no path");
		return;
	}
	memset(r, 0, sizeof(*r));
	r->ac = ac;
	r->buf = buf;
	r->m = m;
	r->ctype = "application/json";
	if (m->method_s.len < sizeof(r->method))
		memcpy(r->method, buf + m->method_s.off, m->method_s.len);
	r->head = m->method == HM_HEAD;
	if ((q = memchr(buf + t.off, '?', t.len)) != NULL) {
		r->query = strndup(q + 1, t.len - (size_t)(q - (buf + t.off)) -
		    1);
		t.len = (uint32_t)(q - (buf + t.off));
	}
	if (t.len == 0)
		r->path = strdup("/");
	else
		r->path = strndup(buf + t.off, t.len);
	if (r->path == NULL || (q != NULL && r->query == NULL) ||
	    (r->body = evbuffer_new()) == NULL) {
		aconn_free(ac);
		return;
	}
	status = admin_dispatch(r);
	r->buf = NULL;		/* the input buffer may move from now on */
	r->m = NULL;
	if (status != ADMIN_PENDING) {
		aconn_answer(ac, r, status);
		return;
	}
	ac->state = AC_WAIT;
	aconn_arm(ac, ADMIN_TIMEOUT_MS);
}

static void
aconn_read(struct bufferevent *bev, void *arg)
{
	struct aconn *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	static const struct http_limits lim = { ADMIN_HEAD_MAX,
	    ADMIN_FIELDS_MAX };
	size_t len = evbuffer_get_length(in);
	const char *buf;
	int rc;

	CHECK_OBJ(ac, ADMIN_CONN_MAGIC);
	if (ac->state != AC_HEAD) {
		evbuffer_drain(in, len);	/* one request per connection */
		return;
	}
	if ((buf = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		aconn_free(ac);
		return;
	}
	rc = http_parse_request(&ac->req, buf, len, &lim);
	if (rc == HP_AGAIN)
		return;
	if (rc != HP_OK)
		aconn_fail(ac, http_err_status(rc), http_strerror(rc));
	else
		aconn_request(ac, buf);
}

/* The answer is out: stop sending, and read until the client closes. */
static void
aconn_written(struct bufferevent *bev, void *arg)
{
	struct aconn *ac = arg;

	CHECK_OBJ(ac, ADMIN_CONN_MAGIC);
	if (ac->state != AC_WRITE)
		return;
	if (ac->peer_eof ||
	    shutdown(bufferevent_getfd(bev), SHUT_WR) == -1) {
		aconn_free(ac);
		return;
	}
	ac->state = AC_LINGER;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	bufferevent_enable(bev, EV_READ);
	aconn_arm(ac, ADMIN_LINGER_MS);
}

static void
aconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct aconn *ac = arg;

	CHECK_OBJ(ac, ADMIN_CONN_MAGIC);
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		ac->peer_eof = 1;
		if (ac->state == AC_WAIT || ac->state == AC_WRITE)
			return;		/* half-closed: the answer goes on */
		if (ac->state == AC_HEAD &&
		    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			aconn_fail(ac, 400, "request head cut short");
			return;
		}
	}
	aconn_free(ac);
}

static void
aconn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *ac = arg;

	(void)fd;
	(void)what;
	CHECK_OBJ(ac, ADMIN_CONN_MAGIC);
	if (ac->state == AC_HEAD)
		aconn_fail(ac, 408, "no complete request head in time");
	else if (ac->state == AC_WAIT) {
		store_cancel(admin_sc, ac->ar.sreq);
		ac->ar.sreq = NULL;
		ac->ar.waiting = 0;
		aconn_answer(ac, &ac->ar, admin_error(&ac->ar, 504,
		    "the cache store did not answer in time"));
	} else
		aconn_free(ac);		/* not reading, or lingered enough */
}

static void
admin_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct aconn *ac;

	(void)l;
	(void)salen;
	(void)arg;
	if (naconns >= ADMIN_MAX_CONNS || (ac = calloc(1, sizeof(*ac))) ==
	    NULL) {
		close(fd);
		return;
	}
	ac->magic = ADMIN_CONN_MAGIC;
	format_address(sa, ac->peer, sizeof(ac->peer));
	LIST_INSERT_HEAD(&aconns, ac, entry);
	naconns++;
	http_msg_init(&ac->req, ac->fields, ADMIN_FIELDS_MAX);
	ac->bev = bufferevent_socket_new(admin_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (ac->bev == NULL) {
		close(fd);
		aconn_free(ac);
		return;
	}
	if ((ac->timer = evtimer_new(admin_base, aconn_timeout, ac)) == NULL) {
		aconn_free(ac);
		return;
	}
	bufferevent_setcb(ac->bev, aconn_read, aconn_written, aconn_event, ac);
	/* The parser stops at ADMIN_HEAD_MAX; reading a little more only
	 * lets it say so. */
	bufferevent_setwatermark(ac->bev, EV_READ, 0, 2 * ADMIN_HEAD_MAX);
	bufferevent_enable(ac->bev, EV_READ | EV_WRITE);
	aconn_arm(ac, ADMIN_TIMEOUT_MS);
}

static void
admin_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (admin_lev != NULL)
		evconnlistener_enable(admin_lev);
}

/* accept(2) failed, typically EMFILE: pause a second rather than spin. */
static void
admin_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (err == EINTR || err == EAGAIN || err == ECONNABORTED)
		return;
	log_err("admin listener: accept: %s; pausing it for 1s",
	    strerror(err));
	evconnlistener_disable(l);
	event_base_once(admin_base, -1, EV_TIMEOUT, admin_resume, NULL, &tv);
}

/* ------------------------------------------------------------ lifetime */

int
admin_init(void)
{
	const struct cfg_addr *a = &vane.cfg->admin_address;
	int fd, e, one = 1;

	admin_started = now_mono_ms();
	if (!a->set)
		return (0);
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, ADMIN_BACKLOG) == -1)
		goto fail;
	admin_fd = fd;
	return (0);
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	log_err("%s: cannot listen on %s (admin.address): %s",
	    vane.cfg->path, a->text, strerror(e));
	return (-1);
}

int
admin_start(struct event_base *base)
{
	if (admin_fd == -1)
		return (0);
	admin_base = base;
	/* Purges and the store's stats go through the admin thread's own
	 * handle, on its loop (a Redis store keeps a connection there). */
	if (vane.store != NULL &&
	    (admin_sc = store_open(vane.store, base)) == NULL)
		return (-1);
	admin_lev = evconnlistener_new(base, admin_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, admin_fd);
	if (admin_lev == NULL)
		return (-1);
	admin_fd = -1;		/* the listener owns it now */
	evconnlistener_set_error_cb(admin_lev, admin_accept_error);
	log_notice("admin listener on %s", vane.cfg->admin_address.text);
	return (0);
}

void
admin_stop(void)
{
	while (!LIST_EMPTY(&aconns))
		aconn_free(LIST_FIRST(&aconns));
	if (admin_lev != NULL)
		evconnlistener_free(admin_lev);
	admin_lev = NULL;
	if (admin_fd != -1)
		close(admin_fd);
	admin_fd = -1;
	if (admin_sc != NULL)
		store_close(admin_sc);
	admin_sc = NULL;
}

/* ------------------------------------------------------------ vane -s */

/* name percent-encoded as one path segment into out. */
static void
pct_encode(const char *name, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)name; *p != '\0' && o + 4 < outlen;
	    p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~:", *p) != NULL)
			out[o++] = (char)*p;
		else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

/* The request line for cmd into line; -1 if cmd is not understood. */
static int
command_line(const char *cmd, char *line, size_t len)
{
	char enc[3 * ADMIN_URL_MAX + 1];
	const char *what, *arg;

	if (strcmp(cmd, "stats") == 0) {
		snprintf(line, len, "GET /stats");
		return (0);
	}
	/* The URL or tag goes as a query value: pct_encode leaves only
	 * unreserved characters and ':' as they are. */
	if (strncmp(cmd, "purge:", 6) == 0 ||
	    strncmp(cmd, "purge-tag:", 10) == 0) {
		what = cmd[5] == ':' ? "url" : "tag";
		arg = cmd + (cmd[5] == ':' ? 6 : 10);
		if (*arg == '\0' || strlen(arg) >= ADMIN_URL_MAX)
			return (-1);
		pct_encode(arg, enc, sizeof(enc));
		snprintf(line, len, "POST /purge?%s=%s", what, enc);
		return (0);
	}
	/* ready: is the name enable: had before issue 8. */
	if (strncmp(cmd, "drain:", 6) == 0) {
		what = "drain";
		arg = cmd + 6;
	} else if (strncmp(cmd, "enable:", 7) == 0) {
		what = "enable";
		arg = cmd + 7;
	} else if (strncmp(cmd, "ready:", 6) == 0) {
		what = "enable";
		arg = cmd + 6;
	} else
		return (-1);
	if (*arg == '\0' || strlen(arg) >= ADMIN_ARG_MAX)
		return (-1);
	pct_encode(arg, enc, sizeof(enc));
	snprintf(line, len, "POST /servers/%s/%s", enc, what);
	return (0);
}

/* Send req on a blocking socket to a and read the answer into resp. */
static ssize_t
command_exchange(const struct cfg_addr *a, const char *req, char *resp,
    size_t resplen)
{
	struct timeval tv = { ADMIN_TIMEOUT_MS / 1000, 0 };
	uint64_t deadline = now_mono_ms() + ADMIN_TIMEOUT_MS;
	size_t got = 0, len = strlen(req);
	ssize_t n;
	int fd;

	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	/* SO_SNDTIMEO bounds connect(2) too, on Linux. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    write(fd, req, len) != (ssize_t)len)
		goto fail;
	while (got + 1 < resplen && now_mono_ms() < deadline) {
		if ((n = read(fd, resp + got, resplen - 1 - got)) == -1)
			goto fail;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	close(fd);
	return ((ssize_t)got);
fail:
	n = errno;
	close(fd);
	errno = (int)n;
	return (-1);
}

/* The request for line to cfg's admin listener, token included. */
static void
command_request(const struct config *cfg, const char *line, char *req,
    size_t len)
{
	char auth[600];

	auth[0] = '\0';
	if (cfg->admin_secret != NULL)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
		    cfg->admin_secret);
	snprintf(req, len, "%s HTTP/1.1\r\nHost: %s\r\n%s"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n", line,
	    cfg->admin_address.text, auth);
}

int
admin_reload_state(const struct config *cfg, unsigned *gen,
    unsigned *failures, char *err, size_t errlen)
{
	char req[ADMIN_HEAD_MAX], resp[4096], *body, *e, *end;
	int status;

	if (!cfg->admin_address.set)
		return (-1);
	command_request(cfg, "GET /reload", req, sizeof(req));
	if (command_exchange(&cfg->admin_address, req, resp,
	    sizeof(resp)) == -1 ||
	    sscanf(resp, "HTTP/1.%*1d %3d", &status) != 1 || status != 200 ||
	    (body = strstr(resp, "\r\n\r\n")) == NULL ||
	    sscanf(body + 4, "{\"generation\":%u,\"failures\":%u,", gen,
	    failures) != 2)
		return (-1);
	/* The reason as the JSON string holds it (escapes left in: it is
	 * for a person to read). */
	err[0] = '\0';
	if ((e = strstr(body, "\"error\":\"")) != NULL &&
	    (end = strrchr(e, '"')) != NULL && end > e + 9)
		snprintf(err, errlen, "%.*s", (int)(end - (e + 9)), e + 9);
	return (0);
}

int
admin_command(const struct config *cfg, const char *cmd)
{
	const struct cfg_addr *a = &cfg->admin_address;
	/* Room for the longest request line (purge:URL, 2 KiB encoded)
	 * and the longest token (512), within what the listener reads. */
	char line[ADMIN_HEAD_MAX - 1024], req[ADMIN_HEAD_MAX];
	char *resp;
	char *body;
	int status = 0, rc = 1;
	ssize_t n;

	if (command_line(cmd, line, sizeof(line)) == -1) {
		fprintf(stderr, "vane: -s takes reload, stop, stats, "
		    "drain:SERVER, enable:SERVER, purge:URL or purge-tag:TAG, "
		    "not '%s'\n", cmd);
		return (2);
	}
	if (!a->set) {
		fprintf(stderr, "vane: %s sets no admin.address: cannot reach "
		    "the running instance\n", cfg->path);
		return (1);
	}
	command_request(cfg, line, req, sizeof(req));
	resp = xmalloc(1 << 20);
	if ((n = command_exchange(a, req, resp, 1 << 20)) == -1)
		fprintf(stderr, "vane: admin listener %s: %s\n", a->text,
		    strerror(errno));
	else if (sscanf(resp, "HTTP/1.%*1d %3d", &status) != 1 ||
	    (body = strstr(resp, "\r\n\r\n")) == NULL)
		fprintf(stderr, "vane: admin listener %s: no valid answer\n",
		    a->text);
	else {
		fputs(body + 4, stdout);
		if (status == 200)
			rc = 0;
		else
			fprintf(stderr, "vane: admin listener %s answered %d\n",
			    a->text, status);
	}
	free(resp);
	return (rc);
}
