/*
 * check_store_redis.c: the Redis store (src/store_redis.c) through the
 * store.h ops table, against a real redis-server that each test starts on
 * a free loopback port and stops by its PID. Two store_conns on two
 * event_bases stand for two vane instances sharing one Redis. Covered:
 * insert then lookup (body, meta, Vary variants side by side, the hint,
 * tags), inserts seen by the other conn, purge by URL and by tag (in
 * batches) seen by the other conn, the TTLs Redis holds, markers, the
 * variant cap, bodies over max_object_size and expired objects never
 * written, corrupt or foreign values read as misses, SIGSTOP (reported
 * within the timeout), SIGKILL (an error at once), restart (works again),
 * SCRIPT FLUSH (the NOSCRIPT fallback), cancel and close with ops
 * pending. Every wait is bounded. Without redis-server only the tests
 * that need none run.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "redis.h"
#include "redis_server.h"
#include "store.h"
#include "store_codec.h"

#define SLACK_MS	200	/* scheduling, sanitizers, two shared cores */
#define TIMEOUT_MS	100
#define PREFIX		"t:"
#define HEAD	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
#define MAXBODY		(1u << 20)

struct done {
	int		called;
	int		status;
	uint64_t	count;
};

struct hit {
	int			called;
	int			status;
	int			hfm;
	int64_t			hfm_until;
	int			n;
	struct store_obj	*v[STORE_MAX_VARIANTS];
	uint64_t		at_ms;
};

static struct event_base	*base[2];
static struct store		*st;
static struct store_conn	*sc[2];
static struct srv		 srv;
static char			 tmpdir[64];
static long			 live0;

static int64_t
now(void)
{
	return ((int64_t)time(NULL));
}

/* ------------------------------------------------------------ harness */

/* A blocking client for the test's own look at Redis (not the store's). */
static redisReply *
redis_q(const char *fmt, ...)
{
	struct timeval	 tv = { 2, 0 };
	redisContext	*c;
	redisReply	*r;
	va_list		 ap;

	c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
	ck_assert_msg(c != NULL && c->err == 0, "connect to redis");
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(r);
	redisFree(c);
	return (r);
}

static long long
rint_(const char *fmt, const char *a, size_t alen)
{
	redisReply	*r = redis_q(fmt, a, alen);
	long long	 v;

	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return (v);
}

/* 1 if INFO commandstats has a line starting with what. */
static int
cmdstat(const char *what)
{
	redisReply	*r = redis_q("INFO commandstats");
	int		 found;

	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	found = strstr(r->str, what) != NULL;
	freeReplyObject(r);
	return (found);
}

/* Run both loops until *flag or ms_max passed. */
static int
run_until(const int *flag, int ms_max)
{
	uint64_t end = ms_now() + (uint64_t)ms_max;
	int i;

	while (*flag == 0) {
		if (ms_now() >= end)
			return (0);
		for (i = 0; i < 2; i++)
			event_base_loop(base[i], EVLOOP_NONBLOCK);
		if (*flag == 0)
			usleep(500);
	}
	return (1);
}

static void
run_for(int ms_max)
{
	int never = 0;

	run_until(&never, ms_max);
}

/* ---------------------------------------------------------- store ops */

static void
done_cb(void *arg, int status, uint64_t count)
{
	struct done *d = arg;

	d->called++;
	d->status = status;
	d->count = count;
}

static void
hit_cb(void *arg, struct store_hit *h)
{
	struct hit *r = arg;
	int i;

	r->called++;
	r->at_ms = ms_now();
	r->status = h->status;
	r->hfm = h->hfm;
	r->hfm_until = h->hfm_until;
	r->n = h->n;
	for (i = 0; i < h->n; i++)
		r->v[i] = store_obj_ref(h->v[i]);
}

static void
put_hit(struct hit *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		store_obj_unref(r->v[i]);
	r->n = 0;
}

static struct cache_meta
meta(int64_t t, int64_t life)
{
	struct cache_meta cm;

	memset(&cm, 0, sizeof(cm));
	cm.request_time = t;
	cm.response_time = t;
	cm.date_value = t;
	cm.freshness_lifetime = life;
	cm.last_modified = -1;
	cm.swr = -1;
	cm.sie = -1;
	cm.status = 200;
	return (cm);
}

static struct store_obj *
mk_full(const char *key, const char *vary, const char *body, size_t blen,
    int64_t life, const char **tags)
{
	struct store_obj_init in;
	struct store_str t[STORE_MAX_TAGS];
	struct cache_meta cm = meta(now(), life);
	struct store_obj *obj;
	unsigned n = 0;

	memset(&in, 0, sizeof(in));
	in.key = key;
	in.key_len = strlen(key);
	in.head = HEAD;
	in.head_len = strlen(HEAD);
	in.wire_len = in.head_len - 2;
	in.body = body;
	in.body_len = blen;
	in.vary = vary;
	in.vary_len = vary != NULL ? strlen(vary) : 0;
	while (tags != NULL && tags[n] != NULL) {
		t[n].p = tags[n];
		t[n].len = strlen(tags[n]);
		n++;
	}
	in.tags = t;
	in.ntags = n;
	in.meta = &cm;
	in.drop_after = now() + life;
	obj = store_obj_new(&in);
	ck_assert_ptr_nonnull(obj);
	return (obj);
}

static struct store_obj *
mk(const char *key, const char *vary, const char *body, const char **tags)
{
	return (mk_full(key, vary, body, strlen(body), 100, tags));
}

/* Insert on conn i and wait for its answer; returns the status. */
static int
put(int i, struct store_obj *obj)
{
	struct done d = { 0 };

	(void)store_insert(sc[i], &obj, now(), done_cb, &d);
	ck_assert_ptr_null(obj);
	ck_assert_msg(run_until(&d.called, 3000), "insert: no answer");
	ck_assert_int_eq(d.called, 1);
	return (d.status);
}

static void
get_hint(int i, const char *key, const char *hint, struct hit *r)
{
	struct store_query q = { key, strlen(key), hint,
	    hint != NULL ? strlen(hint) : 0, now() };

	memset(r, 0, sizeof(*r));
	(void)store_lookup(sc[i], &q, hit_cb, r);
	ck_assert_msg(run_until(&r->called, 3000), "lookup: no answer");
	run_for(2);
	ck_assert_int_eq(r->called, 1);
}

static void
get(int i, const char *key, struct hit *r)
{
	get_hint(i, key, NULL, r);
}

static struct done
rm(int i, const char *key)
{
	struct done d = { 0 };

	(void)store_remove(sc[i], key, strlen(key), done_cb, &d);
	ck_assert_msg(run_until(&d.called, 3000), "remove: no answer");
	return (d);
}

static struct done
purge_tag(int i, const char *tag)
{
	struct done d = { 0 };

	(void)store_purge_tag(sc[i], tag, strlen(tag), done_cb, &d);
	ck_assert_msg(run_until(&d.called, 10000), "purge_tag: no answer");
	return (d);
}

static struct done
lock(int i, const char *key, uint64_t ms)
{
	struct done d = { 0 };

	(void)store_lock(sc[i], key, strlen(key), ms, done_cb, &d);
	ck_assert_msg(run_until(&d.called, 3000), "lock: no answer");
	return (d);
}

static struct done
locked(int i, const char *key)
{
	struct done d = { 0 };

	(void)store_locked(sc[i], key, strlen(key), done_cb, &d);
	ck_assert_msg(run_until(&d.called, 3000), "locked: no answer");
	return (d);
}

static struct done
unlock(int i, const char *key, uint64_t id)
{
	struct done d = { 0 };

	(void)store_unlock(sc[i], key, strlen(key), id, done_cb, &d);
	ck_assert_msg(run_until(&d.called, 3000), "unlock: no answer");
	return (d);
}

static int
body_is(const struct store_obj *o, const char *s)
{
	return (o->body_len == strlen(s) && memcmp(o->body, s,
	    o->body_len) == 0);
}

/* Until a lookup on conn i is answered by Redis (connected, not an
 * error), at most ms_max. */
static int
wait_up(int i, int ms_max)
{
	uint64_t end = ms_now() + (uint64_t)ms_max;
	struct hit r;

	for (;;) {
		get(i, "probe", &r);
		put_hit(&r);
		if (r.status != STORE_ERROR)
			return (1);
		if (ms_now() > end)
			return (0);
		run_for(20);
	}
}

/* The Redis key name of kind for key (and vary). */
static int
keyname(char *out, size_t cap, int kind, const char *key, const char *vary)
{
	return (store_codec_key(out, cap, PREFIX, kind,
	    store_codec_hash(key, strlen(key)),
	    store_codec_hash(vary != NULL ? vary : "",
	    vary != NULL ? strlen(vary) : 0)));
}

/* ---------------------------------------------------------- fixtures */

static void
open_store(uint64_t timeout_ms)
{
	struct redis_opts	 o;
	char			 addr[64];
	int			 i;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
	memset(&o, 0, sizeof(o));
	o.address = addr;
	o.timeout_ms = timeout_ms;
	o.connect_timeout_ms = 500;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 100;
	st = store_redis_new(&o, PREFIX, MAXBODY);
	ck_assert_ptr_nonnull(st);
	for (i = 0; i < 2; i++) {
		sc[i] = store_open(st, base[i]);
		ck_assert_ptr_nonnull(sc[i]);
	}
	for (i = 0; i < 2; i++)
		ck_assert_msg(wait_up(i, 3000), "store %d not up", i);
}

static void
setup(void)
{
	int i;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_sredis.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(log_open("/dev/null", NULL, LOG_INFO), 0);
	for (i = 0; i < 2; i++) {
		base[i] = event_base_new();
		ck_assert_ptr_nonnull(base[i]);
	}
	live0 = store_obj_live();
	memset(&srv, 0, sizeof(srv));
	srv_start(&srv, tmpdir, free_port(), 0, NULL);
	open_store(TIMEOUT_MS);
}

static void
teardown(void)
{
	char	cmdline[128];
	int	i;

	for (i = 0; i < 2; i++) {
		if (sc[i] != NULL)
			store_close(sc[i]);
		sc[i] = NULL;
	}
	store_destroy(st);
	st = NULL;
	srv_kill(&srv);
	for (i = 0; i < 2; i++) {
		event_base_free(base[i]);
		base[i] = NULL;
	}
	/* Every decoded object freed: no reference leaked. */
	ck_assert_int_eq(store_obj_live(), live0);
	snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmpdir);
	if (system(cmdline) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* -------------------------------------------------------------- tests */

START_TEST(insert_lookup_roundtrip)
{
	const char *tags[] = { "product-1", "all", NULL };
	struct store_obj *o;
	struct hit r;
	char big[70000];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	o = mk_full("http://h/a", NULL, big, sizeof(big), 100, tags);
	ck_assert_int_eq(put(0, o), STORE_OK);
	get(0, "http://h/a", &r);
	ck_assert_int_eq(r.status, STORE_OK);
	ck_assert_int_eq(r.hfm, 0);
	ck_assert_int_eq(r.n, 1);
	o = r.v[0];
	ck_assert_uint_eq(o->body_len, sizeof(big));
	ck_assert(memcmp(o->body, big, sizeof(big)) == 0);
	ck_assert_uint_eq(o->head_len, strlen(HEAD));
	ck_assert(memcmp(o->head, HEAD, o->head_len) == 0);
	ck_assert_uint_eq(o->wire_len, strlen(HEAD) - 2);
	ck_assert_uint_eq(o->key_len, strlen("http://h/a"));
	ck_assert_int_eq(o->meta.status, 200);
	ck_assert_int_eq(o->meta.freshness_lifetime, 100);
	ck_assert_uint_eq(o->ntags, 2);
	ck_assert(store_obj_has_tag(o, "product-1", 9));
	ck_assert(store_obj_has_tag(o, "all", 3));
	put_hit(&r);

	/* Nothing under another key; a miss is STORE_MISS, not an error. */
	get(0, "http://h/b", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.n, 0);
}
END_TEST

START_TEST(vary_variants_side_by_side)
{
	struct hit r;

	ck_assert_int_eq(put(0, mk("http://h/v", "accept-encoding:gzip\n",
	    "gz", NULL)), STORE_OK);
	ck_assert_int_eq(put(0, mk("http://h/v", "accept-encoding:br\n",
	    "br", NULL)), STORE_OK);
	get(0, "http://h/v", &r);
	ck_assert_int_eq(r.n, 2);
	ck_assert(body_is(r.v[0], "br"));	/* newest first */
	ck_assert(body_is(r.v[1], "gz"));
	put_hit(&r);
	/* Replacing one keeps the other and moves it first. */
	ck_assert_int_eq(put(1, mk("http://h/v", "accept-encoding:gzip\n",
	    "gz2", NULL)), STORE_OK);
	get(0, "http://h/v", &r);
	ck_assert_int_eq(r.n, 2);
	ck_assert(body_is(r.v[0], "gz2"));
	ck_assert(body_is(r.v[1], "br"));
	put_hit(&r);
	/* A hint that matches: that variant alone (one body sent). */
	get_hint(0, "http://h/v", "accept-encoding:br\n", &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "br"));
	put_hit(&r);
	/* One that does not: every variant. */
	get_hint(0, "http://h/v", "accept-encoding:zstd\n", &r);
	ck_assert_int_eq(r.n, 2);
	put_hit(&r);
}
END_TEST

/* Two conns on two loops: two instances sharing one Redis. */
START_TEST(two_conns_share)
{
	const char *t1[] = { "t1", NULL }, *t2[] = { "t2", NULL };
	struct hit r;
	struct done d;

	ck_assert_int_eq(put(0, mk("http://h/1", NULL, "one", t1)),
	    STORE_OK);
	ck_assert_int_eq(put(0, mk("http://h/2", NULL, "two", t1)),
	    STORE_OK);
	ck_assert_int_eq(put(0, mk("http://h/3", NULL, "three", t2)),
	    STORE_OK);
	get(1, "http://h/1", &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "one"));
	put_hit(&r);

	/* Purge by URL on one, seen by the other. */
	d = rm(1, "http://h/1");
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_eq(d.count, 1);
	get(0, "http://h/1", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	d = rm(0, "http://h/1");
	ck_assert_uint_eq(d.count, 0);

	/* Purge by tag on one, seen by the other; other tags stay. */
	d = purge_tag(0, "t1");
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_eq(d.count, 1);	/* h/1 was gone already */
	get(1, "http://h/2", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(1, "http://h/3", &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	d = purge_tag(1, "t1");
	ck_assert_uint_eq(d.count, 0);
	d = purge_tag(1, "no-such-tag");
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_eq(d.count, 0);
}
END_TEST

/* More members than one batch of the purge script. */
START_TEST(purge_tag_batches)
{
	const char *t[] = { "many", NULL };
	struct hit r;
	struct done d;
	char key[64];
	int i;

	for (i = 0; i < 600; i++) {
		snprintf(key, sizeof(key), "http://h/m%d", i);
		ck_assert_int_eq(put(i % 2, mk(key, NULL, "x", t)), STORE_OK);
	}
	d = purge_tag(1, "many");
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_eq(d.count, 600);
	for (i = 0; i < 600; i += 97) {
		snprintf(key, sizeof(key), "http://h/m%d", i);
		get(0, key, &r);
		ck_assert_int_eq(r.status, STORE_MISS);
	}
	ck_assert_int_eq(rint_("EXISTS %b", PREFIX "t:many",
	    strlen(PREFIX "t:many")), 0);
}
END_TEST

START_TEST(ttls_on_keys)
{
	const char *t[] = { "tt", NULL };
	struct store_obj *m;
	char o[128], k[128], mk_[128];
	long long ttl;

	ck_assert_int_eq(put(0, mk_full("http://h/t", NULL, "b", 1, 300, t)),
	    STORE_OK);
	keyname(o, sizeof(o), STORE_CODEC_KEY_OBJ, "http://h/t", NULL);
	keyname(k, sizeof(k), STORE_CODEC_KEY_REC, "http://h/t", NULL);
	ttl = rint_("TTL %b", o, strlen(o));
	ck_assert_int_ge(ttl, 298);
	ck_assert_int_le(ttl, 300);
	ttl = rint_("TTL %b", k, strlen(k));
	ck_assert_int_ge(ttl, 298);
	ck_assert_int_le(ttl, 300);
	ttl = rint_("TTL %b", PREFIX "t:tt", strlen(PREFIX "t:tt"));
	ck_assert_int_ge(ttl, 298);
	/* A shorter variant does not lower the record's TTL. */
	ck_assert_int_eq(put(0, mk_full("http://h/t", "x:1\n", "b", 1, 50,
	    NULL)), STORE_OK);
	ck_assert_int_ge(rint_("TTL %b", k, strlen(k)), 298);
	/* A marker: EX drop_after - now. */
	m = store_obj_new_hfm("http://h/u", 10, now() + 30);
	ck_assert_int_eq(put(1, m), STORE_OK);
	keyname(mk_, sizeof(mk_), STORE_CODEC_KEY_MARKER, "http://h/u", NULL);
	ttl = rint_("TTL %b", mk_, strlen(mk_));
	ck_assert_int_ge(ttl, 28);
	ck_assert_int_le(ttl, 30);
}
END_TEST

/* The fetch lock: one holder at a time across conns (instances), PX
 * bounded, released only by the id that took it. */
START_TEST(fetch_lock)
{
	struct done d, d2;
	char l[128];
	long long pttl;

	ck_assert(store_has_lock(sc[0]));
	d = lock(0, "http://h/l", 2000);
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_gt(d.count, 0);
	keyname(l, sizeof(l), STORE_CODEC_KEY_LOCK, "http://h/l", NULL);
	pttl = rint_("PTTL %b", l, strlen(l));
	ck_assert_int_gt(pttl, 1000);
	ck_assert_int_le(pttl, 2000);
	/* Held: not for the other instance, nor again for this one. */
	d2 = lock(1, "http://h/l", 2000);
	ck_assert_int_eq(d2.status, STORE_OK);
	ck_assert_uint_eq(d2.count, 0);
	ck_assert_uint_eq(lock(0, "http://h/l", 2000).count, 0);
	ck_assert_uint_eq(locked(1, "http://h/l").count, 1);
	/* Another key is free. */
	ck_assert_uint_gt(lock(1, "http://h/other", 2000).count, 0);
	/* A wrong id (an expired lock taken over since) releases nothing. */
	ck_assert_uint_eq(unlock(1, "http://h/l", d.count + 1000).count, 0);
	ck_assert_uint_eq(locked(0, "http://h/l").count, 1);
	/* Its own id does. */
	d2 = unlock(0, "http://h/l", d.count);
	ck_assert_int_eq(d2.status, STORE_OK);
	ck_assert_uint_eq(d2.count, 1);
	ck_assert_uint_eq(locked(1, "http://h/l").count, 0);
	d2 = lock(1, "http://h/l", 50);
	ck_assert_uint_gt(d2.count, 0);
	ck_assert_uint_ne(d2.count, d.count);
	/* PX: gone by itself. */
	run_for(120);
	ck_assert_uint_eq(locked(0, "http://h/l").count, 0);
	/* A lock of 0 ms is refused: an error, never a lock without end. */
	ck_assert_int_eq(lock(0, "http://h/z", 0).status, STORE_ERROR);
}
END_TEST

START_TEST(marker)
{
	struct store_obj *m;
	struct hit r;
	int64_t until = now() + 30;

	m = store_obj_new_hfm("http://h/m", 10, until);
	ck_assert_int_eq(put(0, m), STORE_OK);
	get(1, "http://h/m", &r);
	ck_assert_int_eq(r.status, STORE_OK);
	ck_assert_int_eq(r.hfm, 1);
	ck_assert_int_eq(r.hfm_until, until);
	ck_assert_int_eq(r.n, 0);
	/* A variant stored clears the marker. */
	ck_assert_int_eq(put(1, mk("http://h/m", NULL, "v", NULL)), STORE_OK);
	get(0, "http://h/m", &r);
	ck_assert_int_eq(r.hfm, 0);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	/* Remove drops the marker too. */
	m = store_obj_new_hfm("http://h/m", 10, until);
	ck_assert_int_eq(put(0, m), STORE_OK);
	(void)rm(0, "http://h/m");
	get(0, "http://h/m", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.hfm, 0);
}
END_TEST

START_TEST(max_variants)
{
	struct hit r;
	char vary[32], body[32], o0[128];
	int i;

	for (i = 0; i <= STORE_MAX_VARIANTS; i++) {
		snprintf(vary, sizeof(vary), "x-v:%d\n", i);
		snprintf(body, sizeof(body), "b%d", i);
		ck_assert_int_eq(put(i % 2, mk("http://h/cap", vary, body,
		    NULL)), STORE_OK);
	}
	get(0, "http://h/cap", &r);
	ck_assert_int_eq(r.n, STORE_MAX_VARIANTS);
	ck_assert(body_is(r.v[0], "b16"));
	ck_assert(body_is(r.v[STORE_MAX_VARIANTS - 1], "b1"));
	put_hit(&r);
	/* The oldest was deleted from Redis, not only from the record. */
	keyname(o0, sizeof(o0), STORE_CODEC_KEY_OBJ, "http://h/cap",
	    "x-v:0\n");
	ck_assert_int_eq(rint_("EXISTS %b", o0, strlen(o0)), 0);
}
END_TEST

START_TEST(never_written)
{
	struct store_obj *o;
	struct done d = { 0 };
	char *big, k[128];
	struct hit r;

	/* A body over max_object_size. */
	big = calloc(1, MAXBODY + 1);
	ck_assert_ptr_nonnull(big);
	o = mk_full("http://h/big", NULL, big, MAXBODY + 1, 100, NULL);
	free(big);
	ck_assert_ptr_null(store_insert(sc[0], &o, now(), done_cb, &d));
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.status, STORE_REJECTED);
	/* Nothing left (TTL 0). */
	memset(&d, 0, sizeof(d));
	o = mk_full("http://h/old", NULL, "x", 1, 0, NULL);
	ck_assert_ptr_null(store_insert(sc[0], &o, now(), done_cb, &d));
	ck_assert_int_eq(d.status, STORE_REJECTED);
	run_for(50);
	keyname(k, sizeof(k), STORE_CODEC_KEY_REC, "http://h/big", NULL);
	ck_assert_int_eq(rint_("EXISTS %b", k, strlen(k)), 0);
	get(0, "http://h/old", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
}
END_TEST

/* Values damaged or written by someone else: misses, never a crash. */
START_TEST(corrupt_values)
{
	struct hit r;
	redisReply *x;
	char o[128], k[128], o2[128], k2[128];

	ck_assert_int_eq(put(0, mk("http://h/c", NULL, "good", NULL)),
	    STORE_OK);
	keyname(o, sizeof(o), STORE_CODEC_KEY_OBJ, "http://h/c", NULL);
	keyname(k, sizeof(k), STORE_CODEC_KEY_REC, "http://h/c", NULL);
	/* Garbage in the variant. */
	freeReplyObject(redis_q("SET %s %s", o, "garbage"));
	get(1, "http://h/c", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.n, 0);
	/* Truncated: the real value cut short. */
	ck_assert_int_eq(put(0, mk("http://h/c", NULL, "good", NULL)),
	    STORE_OK);
	x = redis_q("GET %s", o);
	ck_assert_int_eq(x->type, REDIS_REPLY_STRING);
	freeReplyObject(redis_q("SET %s %b", o, x->str, x->len - 1));
	/* The same value under another URL: decoded against the asked key,
	 * so a foreign value (or a hash collision) is a miss. */
	keyname(o2, sizeof(o2), STORE_CODEC_KEY_OBJ, "http://h/d", NULL);
	keyname(k2, sizeof(k2), STORE_CODEC_KEY_REC, "http://h/d", NULL);
	freeReplyObject(redis_q("SET %s %b", o2, x->str, x->len));
	freeReplyObject(redis_q("COPY %s %s", k, k2));
	freeReplyObject(x);
	get(1, "http://h/c", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(1, "http://h/d", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	/* A garbage record, a record of the wrong type, a marker that is
	 * a hash. */
	freeReplyObject(redis_q("SET %s %s", k, "vnk\x01\x05zz"));
	get(0, "http://h/c", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	freeReplyObject(redis_q("DEL %s", k));
	freeReplyObject(redis_q("HSET %s a b", k));
	get(0, "http://h/c", &r);
	ck_assert_int_eq(r.status, STORE_ERROR);	/* WRONGTYPE */
	freeReplyObject(redis_q("DEL %s", k));
	/* And it works again once the value is good. */
	ck_assert_int_eq(put(0, mk("http://h/c", NULL, "good", NULL)),
	    STORE_OK);
	get(1, "http://h/c", &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "good"));
	put_hit(&r);
}
END_TEST

/* Redis stopped: the lookup is reported within the timeout. */
START_TEST(sigstop_timeout)
{
	struct store_query q = { "http://h/s", 10, NULL, 0, now() };
	struct hit r;
	uint64_t t0;

	ck_assert_int_eq(put(0, mk("http://h/s", NULL, "s", NULL)), STORE_OK);
	ck_assert_int_eq(kill(srv.pid, SIGSTOP), 0);
	memset(&r, 0, sizeof(r));
	t0 = ms_now();
	ck_assert_ptr_nonnull(store_lookup(sc[0], &q, hit_cb, &r));
	ck_assert(run_until(&r.called, 3000));
	ck_assert_int_eq(r.status, STORE_ERROR);
	ck_assert_uint_ge(r.at_ms - t0, TIMEOUT_MS - 5);
	ck_assert_uint_le(r.at_ms - t0, TIMEOUT_MS + SLACK_MS);
	kill(srv.pid, SIGCONT);
	run_for(100);
	ck_assert_int_eq(r.called, 1);	/* the late reply swallowed */
	ck_assert(wait_up(0, 3000));
	get(0, "http://h/s", &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
}
END_TEST

/* Redis killed: an error, at once while down; restarted: works again,
 * scripts loaded anew on the new connection. */
START_TEST(sigkill_restart)
{
	struct hit r;
	struct done d = { 0 };
	struct store_obj *o;
	int port = srv.port;

	ck_assert_int_eq(put(0, mk("http://h/k", NULL, "k", NULL)), STORE_OK);
	srv_kill(&srv);
	run_for(100);
	get(0, "http://h/k", &r);
	ck_assert_int_eq(r.status, STORE_ERROR);
	o = mk("http://h/k", NULL, "k", NULL);
	(void)store_insert(sc[1], &o, now(), done_cb, &d);
	ck_assert(run_until(&d.called, 3000));
	ck_assert_int_eq(d.status, STORE_ERROR);
	srv_start(&srv, tmpdir, port, 0, NULL);
	ck_assert(wait_up(0, 3000));
	ck_assert(wait_up(1, 3000));
	get(0, "http://h/k", &r);
	ck_assert_int_eq(r.status, STORE_MISS);	/* a new, empty Redis */
	ck_assert_int_eq(put(1, mk("http://h/k", NULL, "k2", NULL)),
	    STORE_OK);
	get(0, "http://h/k", &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "k2"));
	put_hit(&r);
}
END_TEST

/* SCRIPT FLUSH behind the store's back: NOSCRIPT, answered by EVAL. */
START_TEST(noscript_fallback)
{
	const char *t[] = { "ns", NULL };
	struct hit r;
	struct done d;

	ck_assert_int_eq(put(0, mk("http://h/n", NULL, "n", t)), STORE_OK);
	/* Loaded at connect: EVALSHA alone. */
	freeReplyObject(redis_q("CONFIG RESETSTAT"));
	get(0, "http://h/n", &r);
	put_hit(&r);
	ck_assert(cmdstat("cmdstat_evalsha:calls=1,"));
	ck_assert(!cmdstat("cmdstat_eval:"));
	freeReplyObject(redis_q("SCRIPT FLUSH"));
	get(0, "http://h/n", &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	ck_assert(cmdstat("cmdstat_eval:calls=1,"));
	ck_assert(cmdstat("cmdstat_evalsha:calls=2,"));
	freeReplyObject(redis_q("SCRIPT FLUSH"));
	ck_assert_int_eq(put(1, mk("http://h/n2", NULL, "n2", t)), STORE_OK);
	freeReplyObject(redis_q("SCRIPT FLUSH"));
	d = rm(1, "http://h/n");
	ck_assert_uint_eq(d.count, 1);
	freeReplyObject(redis_q("SCRIPT FLUSH"));
	d = purge_tag(0, "ns");
	ck_assert_uint_eq(d.count, 1);
	get(1, "http://h/n2", &r);
	ck_assert_int_eq(r.status, STORE_MISS);
}
END_TEST

/* Cancelled ops never call back; close cancels what is pending. */
START_TEST(cancel_and_close)
{
	struct store_query q = { "http://h/x", 10, NULL, 0, now() };
	struct store_req *req;
	struct store_obj *o;
	struct hit r;
	struct done d = { 0 }, d2 = { 0 };

	memset(&r, 0, sizeof(r));
	req = store_lookup(sc[0], &q, hit_cb, &r);
	ck_assert_ptr_nonnull(req);
	store_cancel(sc[0], req);
	o = mk("http://h/x", NULL, "x", NULL);
	req = store_insert(sc[0], &o, now(), done_cb, &d);
	ck_assert_ptr_nonnull(req);
	store_cancel(sc[0], req);
	run_for(100);
	ck_assert_int_eq(r.called, 0);
	ck_assert_int_eq(d.called, 0);
	/* Pending while Redis is stopped, then the conn is closed. */
	ck_assert_int_eq(kill(srv.pid, SIGSTOP), 0);
	ck_assert_ptr_nonnull(store_lookup(sc[1], &q, hit_cb, &r));
	ck_assert_ptr_nonnull(store_purge_tag(sc[1], "a", 1, done_cb, &d2));
	store_close(sc[1]);
	sc[1] = NULL;
	kill(srv.pid, SIGCONT);
	run_for(100);
	ck_assert_int_eq(r.called, 0);
	ck_assert_int_eq(d2.called, 0);
}
END_TEST

START_TEST(bad_address)
{
	struct redis_opts	 o;
	struct store		*s;
	struct event_base	*b = event_base_new();

	memset(&o, 0, sizeof(o));
	o.address = "redis.example:6379";
	s = store_redis_new(&o, "p:", 1024);
	ck_assert_ptr_nonnull(s);	/* checked when a conn opens */
	ck_assert_ptr_null(store_open(s, b));
	store_destroy(s);
	event_base_free(b);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("store_redis");
	TCase	*tc = tcase_create("noserver");
	TCase	*ts = tcase_create("server");
	SRunner	*sr;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, bad_address);
	suite_add_tcase(s, tc);
	if (system("command -v redis-server >/dev/null 2>&1") == 0) {
		tcase_add_checked_fixture(ts, setup, teardown);
		tcase_set_timeout(ts, 60);
		tcase_add_test(ts, insert_lookup_roundtrip);
		tcase_add_test(ts, vary_variants_side_by_side);
		tcase_add_test(ts, two_conns_share);
		tcase_add_test(ts, purge_tag_batches);
		tcase_add_test(ts, ttls_on_keys);
		tcase_add_test(ts, fetch_lock);
		tcase_add_test(ts, marker);
		tcase_add_test(ts, max_variants);
		tcase_add_test(ts, never_written);
		tcase_add_test(ts, corrupt_values);
		tcase_add_test(ts, sigstop_timeout);
		tcase_add_test(ts, sigkill_restart);
		tcase_add_test(ts, noscript_fallback);
		tcase_add_test(ts, cancel_and_close);
		suite_add_tcase(s, ts);
	} else
		fprintf(stderr, "redis-server not installed: only the tests "
		    "without a server run\n");
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
