/*
 * check_store_mem.c: the in-memory store (src/store_mem.c) and stored
 * objects (src/store.c) through the store.h ops table: insert, lookup and
 * replace, Vary variants and their cap, references outliving removal,
 * LRU eviction and the byte budget, expiry with `now` passed in, purge by
 * key and by tag, hit-for-miss markers, bodies streamed by reference, the
 * per-object overhead, and several threads at once. Run it under
 * --enable-sanitizers too: use-after-free is what most of these guard.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "store.h"

#define NOW	1000000000LL
#define HEAD	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"

struct done {
	int		called;
	int		status;
	uint64_t	count;
};

/* A lookup result whose references the test keeps until put_hit(). */
struct hit {
	int			called;
	int			status;
	int			hfm;
	int64_t			hfm_until;
	int			n;
	struct store_obj	*v[STORE_MAX_VARIANTS];
};

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

static void
stats_cb(void *arg, int status, const struct store_stats *st)
{
	*(struct store_stats *)arg = *st;
}

static struct store_stats
stats(struct store_conn *sc)
{
	struct store_stats st;

	memset(&st, 0xff, sizeof(st));
	ck_assert_ptr_null(store_get_stats(sc, stats_cb, &st));
	return (st);
}

static struct store_obj *
mk_obj(const char *key, const char *vary, const char *body, size_t blen,
    int64_t drop_after, const char **tags)
{
	struct store_obj_init in;
	struct store_str t[STORE_MAX_TAGS];
	struct store_obj *obj;
	unsigned n = 0;

	memset(&in, 0, sizeof(in));
	in.key = key;
	in.key_len = strlen(key);
	in.head = HEAD;
	in.head_len = strlen(HEAD);
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
	in.drop_after = drop_after;
	obj = store_obj_new(&in);
	ck_assert_ptr_nonnull(obj);
	return (obj);
}

static struct store_obj *
mk(const char *key, const char *vary, const char *body)
{
	return (mk_obj(key, vary, body, strlen(body), NOW + 100, NULL));
}

/* Insert, synchronously as the memory store does; returns the status. */
static int
put(struct store_conn *sc, struct store_obj *obj, int64_t now)
{
	struct done d = { 0 };

	ck_assert_ptr_null(store_insert(sc, &obj, now, done_cb, &d));
	ck_assert_ptr_null(obj);
	ck_assert_int_eq(d.called, 1);
	return (d.status);
}

static void
lookup(struct store_conn *c, const char *key, int64_t now,
    store_lookup_cb cb, void *arg)
{
	struct store_query q = { key, strlen(key), NULL, 0, now };

	ck_assert_ptr_null(store_lookup(c, &q, cb, arg));
}

static void
get(struct store_conn *c, const char *key, int64_t now, struct hit *r)
{
	memset(r, 0, sizeof(*r));
	lookup(c, key, now, hit_cb, r);
	ck_assert_int_eq(r->called, 1);
}

static int
body_is(const struct store_obj *o, const char *s)
{
	return (o->body_len == strlen(s) && memcmp(o->body, s, o->body_len) == 0);
}

static void
check_table(struct store *st)
{
	const char *why;

	if (store_mem_check(st, &why) == -1)
		ck_abort_msg("store_mem_check: %s", why);
}

static struct store	*st;
static struct store_conn *sc;
static long		 live0;

static void
setup_budget(uint64_t budget, unsigned nshards)
{
	live0 = store_obj_live();
	st = store_mem_new(budget, nshards);
	ck_assert_ptr_nonnull(st);
	sc = store_open(st, NULL);
	ck_assert_ptr_nonnull(sc);
}

static void
teardown(void)
{
	check_table(st);
	store_close(sc);
	store_destroy(st);
	/* Every object freed: no leak of a reference anywhere. */
	ck_assert_int_eq(store_obj_live(), live0);
}

START_TEST(insert_lookup_replace)
{
	struct hit r;

	setup_budget(1 << 20, 0);
	get(sc, "GET http://a/x", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.n, 0);

	ck_assert_int_eq(put(sc, mk("GET http://a/x", NULL, "one"), NOW),
	    STORE_OK);
	get(sc, "GET http://a/x", NOW, &r);
	ck_assert_int_eq(r.status, STORE_OK);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "one"));
	ck_assert_int_eq(r.v[0]->head_len, strlen(HEAD));
	ck_assert_mem_eq(r.v[0]->head, HEAD, strlen(HEAD));
	put_hit(&r);

	/* Same primary and secondary key: replaced, not added. */
	ck_assert_int_eq(put(sc, mk("GET http://a/x", NULL, "two"), NOW),
	    STORE_OK);
	get(sc, "GET http://a/x", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "two"));
	put_hit(&r);
	ck_assert_uint_eq(stats(sc).objects, 1);

	/* A key that is a prefix of another is another key. */
	get(sc, "GET http://a/", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	teardown();
}
END_TEST

START_TEST(meta_and_key_kept)
{
	struct store_obj_init in;
	struct cache_meta m;
	struct store_obj *obj;
	struct hit r;

	setup_budget(1 << 20, 0);
	memset(&m, 0, sizeof(m));
	m.request_time = 1;
	m.freshness_lifetime = 5;
	m.flags = 8;
	memset(&in, 0, sizeof(in));
	in.key = "k";
	in.key_len = 1;
	in.body_len = 4;	/* filled by the caller, as the tee does */
	in.meta = &m;
	in.drop_after = NOW + 1;
	obj = store_obj_new(&in);
	ck_assert_ptr_nonnull(obj);
	memcpy(obj->body, "abcd", 4);
	ck_assert_int_eq(put(sc, obj, NOW), STORE_OK);
	get(sc, "k", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "abcd"));
	ck_assert_mem_eq(r.v[0]->key, "k", 1);
	ck_assert_int_eq(r.v[0]->meta.request_time, 1);
	ck_assert_int_eq(r.v[0]->meta.freshness_lifetime, 5);
	ck_assert_int_eq(r.v[0]->meta.flags, 8);
	ck_assert_int_eq(r.v[0]->drop_after, NOW + 1);
	put_hit(&r);
	teardown();
}
END_TEST

START_TEST(bad_objects_refused)
{
	struct store_obj_init in;
	struct store_str t[STORE_MAX_TAGS + 1];
	unsigned i;

	memset(&in, 0, sizeof(in));
	ck_assert_ptr_null(store_obj_new(&in));		/* no key */
	in.key = "k";
	in.key_len = 1;
	for (i = 0; i <= STORE_MAX_TAGS; i++) {
		t[i].p = "t";
		t[i].len = 1;
	}
	in.tags = t;
	in.ntags = STORE_MAX_TAGS + 1;
	ck_assert_ptr_null(store_obj_new(&in));
	in.body_len = SIZE_MAX - 10;			/* overflow */
	in.ntags = 0;
	ck_assert_ptr_null(store_obj_new(&in));
}
END_TEST

START_TEST(variants_side_by_side)
{
	struct store_query q;
	struct hit r;
	int i, gz = 0, br = 0, plain = 0;

	setup_budget(1 << 20, 0);
	put(sc, mk("K", "accept-encoding=gzip", "G"), NOW);
	put(sc, mk("K", "accept-encoding=br", "B"), NOW);
	put(sc, mk("K", NULL, "P"), NOW);
	put(sc, mk("K", "accept-encoding=gzip", "G2"), NOW);	/* replaces */
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.n, 3);
	/* Newest first. */
	ck_assert(body_is(r.v[0], "G2"));
	for (i = 0; i < r.n; i++) {
		if (r.v[i]->vary_len == 0)
			plain += body_is(r.v[i], "P");
		else if (memcmp(r.v[i]->vary, "accept-encoding=gzip",
		    r.v[i]->vary_len) == 0)
			gz += body_is(r.v[i], "G2");
		else if (memcmp(r.v[i]->vary, "accept-encoding=br",
		    r.v[i]->vary_len) == 0)
			br += body_is(r.v[i], "B");
	}
	ck_assert_int_eq(gz + br + plain, 3);
	put_hit(&r);
	/* The memory store ignores a hint: the caller matches anyway. */
	q.key = "K";
	q.key_len = 1;
	q.vary_hint = "accept-encoding=br";
	q.vary_hint_len = strlen(q.vary_hint);
	q.now = NOW;
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_null(store_lookup(sc, &q, hit_cb, &r));
	ck_assert_int_eq(r.n, 3);
	put_hit(&r);
	ck_assert_uint_eq(stats(sc).objects, 3);
	teardown();
}
END_TEST

START_TEST(variant_cap_evicts_oldest)
{
	struct hit r;
	char vary[32];
	int i;

	setup_budget(1 << 20, 0);
	for (i = 0; i < STORE_MAX_VARIANTS + 3; i++) {
		snprintf(vary, sizeof(vary), "lang=%d", i);
		ck_assert_int_eq(put(sc, mk("K", vary, vary), NOW), STORE_OK);
	}
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.n, STORE_MAX_VARIANTS);
	/* The three oldest went, the rest are there newest first. */
	for (i = 0; i < r.n; i++) {
		snprintf(vary, sizeof(vary), "lang=%d",
		    STORE_MAX_VARIANTS + 2 - i);
		ck_assert(body_is(r.v[i], vary));
	}
	put_hit(&r);
	ck_assert_uint_eq(stats(sc).objects, STORE_MAX_VARIANTS);
	ck_assert_uint_eq(stats(sc).evictions, 3);
	teardown();
}
END_TEST

START_TEST(ref_outlives_remove)
{
	struct store_obj *kept;
	struct done d = { 0 };
	struct hit r;
	long before;

	setup_budget(1 << 20, 0);
	put(sc, mk("K", NULL, "still here"), NOW);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	kept = r.v[0];
	r.n = 0;
	before = store_obj_live();
	ck_assert_ptr_null(store_remove(sc, "K", 1, done_cb, &d));
	ck_assert_int_eq(d.called, 1);
	ck_assert_uint_eq(d.count, 1);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	/* Out of the table and the budget, but alive for its holder. */
	ck_assert_uint_eq(stats(sc).bytes, 0);
	ck_assert_int_eq(store_obj_live(), before);
	ck_assert(body_is(kept, "still here"));
	ck_assert_uint_eq(kept->magic, STORE_OBJ_MAGIC);
	store_obj_unref(kept);
	ck_assert_int_eq(store_obj_live(), before - 1);
	teardown();
}
END_TEST

/* The store's own references go when the lookup callback returns. */
static void
peek_cb(void *arg, struct store_hit *h)
{
	*(unsigned *)arg = atomic_load(&h->v[0]->refs);
}

START_TEST(lookup_refs_dropped_after_callback)
{
	struct hit r;
	unsigned during = 0;

	setup_budget(1 << 20, 0);
	put(sc, mk("K", NULL, "x"), NOW);
	lookup(sc, "K", NOW, peek_cb, &during);
	ck_assert_uint_eq(during, 2);		/* table + this lookup */
	get(sc, "K", NOW, &r);
	ck_assert_uint_eq(atomic_load(&r.v[0]->refs), 2);	/* table + ours */
	put_hit(&r);
	teardown();
}
END_TEST

START_TEST(lru_eviction_order)
{
	struct store_obj *o;
	struct hit r;
	uint64_t one;

	o = mk("A", NULL, "aaaa");
	one = o->charge;
	store_obj_unref(o);
	/* One shard, so the LRU order is global: room for three. */
	setup_budget(3 * one + one / 2, 1);
	put(sc, mk("A", NULL, "aaaa"), NOW);
	put(sc, mk("B", NULL, "bbbb"), NOW);
	put(sc, mk("C", NULL, "cccc"), NOW);
	get(sc, "A", NOW, &r);			/* A is now the most recent */
	put_hit(&r);
	put(sc, mk("D", NULL, "dddd"), NOW);	/* B goes */
	get(sc, "B", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "A", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	put(sc, mk("E", NULL, "eeee"), NOW);	/* then C */
	get(sc, "C", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "D", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	get(sc, "E", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	ck_assert_uint_eq(stats(sc).evictions, 2);
	ck_assert_uint_eq(stats(sc).objects, 3);
	teardown();
}
END_TEST

/* A reload with a smaller cache.size: the least recently used objects
 * over the new budget go at once; a larger one evicts nothing. */
START_TEST(budget_shrink_evicts_lru)
{
	struct store_obj *o;
	struct hit r;
	uint64_t one;

	o = mk("A", NULL, "aaaa");
	one = o->charge;
	store_obj_unref(o);
	setup_budget(4 * one + one / 2, 1);
	put(sc, mk("A", NULL, "aaaa"), NOW);
	put(sc, mk("B", NULL, "bbbb"), NOW);
	put(sc, mk("C", NULL, "cccc"), NOW);
	put(sc, mk("D", NULL, "dddd"), NOW);
	get(sc, "A", NOW, &r);			/* A is now the most recent */
	put_hit(&r);
	store_mem_set_budget(st, 8 * one);
	ck_assert_uint_eq(stats(sc).objects, 4);
	ck_assert_uint_eq(stats(sc).evictions, 0);
	store_mem_set_budget(st, 2 * one + one / 2);
	ck_assert_uint_eq(stats(sc).objects, 2);
	ck_assert_uint_eq(stats(sc).budget, 2 * one + one / 2);
	ck_assert_uint_le(stats(sc).bytes, 2 * one + one / 2);
	get(sc, "B", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "C", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "A", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	get(sc, "D", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	teardown();
}
END_TEST

START_TEST(budget_never_exceeded)
{
	static char body[3000];
	struct store_stats s;
	char key[32];
	int i;

	memset(body, 'x', sizeof(body));
	setup_budget(64 * 1024, 0);
	srandom(7);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%ld", random() % 400);
		put(sc, mk_obj(key, NULL, body, random() % sizeof(body),
		    NOW + 100, NULL), NOW);
		s = stats(sc);
		ck_assert_uint_le(s.bytes, s.budget);
		if (i % 500 == 0)
			check_table(st);
	}
	s = stats(sc);
	ck_assert_uint_gt(s.evictions, 0);
	/* Evicting makes room for one object, not a landslide. */
	ck_assert_uint_gt(s.bytes, s.budget / 2);
	teardown();
}
END_TEST

START_TEST(too_big_or_expired_rejected)
{
	static char body[5000];
	struct store_stats s;

	setup_budget(4096, 1);
	ck_assert_int_eq(put(sc, mk_obj("big", NULL, body, sizeof(body),
	    NOW + 10, NULL), NOW), STORE_REJECTED);
	ck_assert_int_eq(put(sc, mk_obj("old", NULL, "x", 1, NOW, NULL), NOW),
	    STORE_REJECTED);
	s = stats(sc);
	ck_assert_uint_eq(s.rejected, 2);
	ck_assert_uint_eq(s.objects, 0);
	ck_assert_uint_eq(s.bytes, 0);
	teardown();
}
END_TEST

START_TEST(expiry_with_now)
{
	struct hit r;

	setup_budget(1 << 20, 0);
	put(sc, mk_obj("K", "v=1", "one", 3, NOW + 10, NULL), NOW);
	put(sc, mk_obj("K", "v=2", "two", 3, NOW + 20, NULL), NOW);
	get(sc, "K", NOW + 9, &r);
	ck_assert_int_eq(r.n, 2);
	put_hit(&r);
	/* drop_after is the first second it is unusable. */
	get(sc, "K", NOW + 10, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert(body_is(r.v[0], "two"));
	put_hit(&r);
	ck_assert_uint_eq(stats(sc).expired, 1);
	ck_assert_uint_eq(stats(sc).objects, 1);
	get(sc, "K", NOW + 25, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_uint_eq(stats(sc).objects, 0);
	ck_assert_uint_eq(stats(sc).bytes, 0);
	teardown();
}
END_TEST

START_TEST(purge_by_key)
{
	struct done d = { 0 };
	struct hit r;

	setup_budget(1 << 20, 0);
	put(sc, mk("K", "v=1", "1"), NOW);
	put(sc, mk("K", "v=2", "2"), NOW);
	put(sc, store_obj_new_hfm("K", 1, NOW + 5), NOW);
	put(sc, mk("L", NULL, "other"), NOW);
	store_remove(sc, "K", 1, done_cb, &d);
	ck_assert_int_eq(d.status, STORE_OK);
	ck_assert_uint_eq(d.count, 2);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.hfm, 0);		/* the marker went too */
	get(sc, "L", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	memset(&d, 0, sizeof(d));
	store_remove(sc, "nothing", 7, done_cb, &d);
	ck_assert_int_eq(d.called, 1);
	ck_assert_uint_eq(d.count, 0);
	ck_assert_uint_eq(stats(sc).purged, 2);
	teardown();
}
END_TEST

START_TEST(purge_by_tag)
{
	const char *t42[] = { "user:42", "list", NULL };
	const char *t43[] = { "user:43", "list", NULL };
	const char *t4[] = { "user:4", NULL };
	struct done d = { 0 };
	struct hit r;
	char key[16];
	int i;

	setup_budget(1 << 20, 0);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "u42/%d", i);
		put(sc, mk_obj(key, NULL, "b", 1, NOW + 9, t42), NOW);
		snprintf(key, sizeof(key), "u43/%d", i);
		put(sc, mk_obj(key, NULL, "b", 1, NOW + 9, t43), NOW);
	}
	put(sc, mk_obj("u4", NULL, "b", 1, NOW + 9, t4), NOW);
	put(sc, mk_obj("u42/v", "x=1", "b", 1, NOW + 9, t42), NOW);
	/* A tag that is a prefix of another is another tag. */
	store_purge_tag(sc, "user:4", 6, done_cb, &d);
	ck_assert_int_eq(d.called, 1);
	ck_assert_uint_eq(d.count, 1);
	get(sc, "u4", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	memset(&d, 0, sizeof(d));
	store_purge_tag(sc, "user:42", 7, done_cb, &d);
	ck_assert_int_eq(d.called, 1);
	ck_assert_uint_eq(d.count, 51);
	get(sc, "u42/7", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "u42/v", NOW, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	get(sc, "u43/7", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	memset(&d, 0, sizeof(d));
	store_purge_tag(sc, "list", 4, done_cb, &d);
	ck_assert_uint_eq(d.count, 50);
	ck_assert_uint_eq(stats(sc).objects, 0);
	ck_assert_uint_eq(stats(sc).purged, 102);
	teardown();
}
END_TEST

/* One shard, so its tag index has to grow; duplicate tags share a
 * bucket, which the purge walk must survive. */
START_TEST(tag_index_grows)
{
	const char *tags[4] = { "all", NULL, NULL, NULL };
	const char *dup[] = { "dup", "dup", "all", NULL };
	char g[16], o[16], key[16];
	struct done d = { 0 };
	int i;

	setup_budget(1 << 22, 1);
	tags[1] = g;
	tags[2] = o;
	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(g, sizeof(g), "g%d", i % 10);
		snprintf(o, sizeof(o), "o%d", i);
		put(sc, mk_obj(key, NULL, "b", 1, NOW + 9, tags), NOW);
	}
	put(sc, mk_obj("d", NULL, "b", 1, NOW + 9, dup), NOW);
	check_table(st);
	store_purge_tag(sc, "g3", 2, done_cb, &d);
	ck_assert_uint_eq(d.count, 50);
	store_purge_tag(sc, "o7", 2, done_cb, &d);
	ck_assert_uint_eq(d.count, 1);
	store_purge_tag(sc, "o13", 3, done_cb, &d);	/* gone with g3 */
	ck_assert_uint_eq(d.count, 0);
	store_purge_tag(sc, "dup", 3, done_cb, &d);
	ck_assert_uint_eq(d.count, 1);
	check_table(st);
	store_purge_tag(sc, "all", 3, done_cb, &d);
	ck_assert_uint_eq(d.count, 449);
	ck_assert_uint_eq(stats(sc).objects, 0);
	teardown();
}
END_TEST

/* Tags match whole: not a prefix, not an extension, even when the
 * bloom word lets the probe through (32 tags set about half its bits). */
START_TEST(tag_match_exact)
{
	const char *tags[STORE_MAX_TAGS + 1];
	char names[STORE_MAX_TAGS][16], probe[24];
	struct store_obj *o;
	int i;
	size_t l;

	for (i = 0; i < STORE_MAX_TAGS; i++) {
		snprintf(names[i], sizeof(names[i]), "user:%d", 4200 + i);
		tags[i] = names[i];
	}
	tags[STORE_MAX_TAGS] = NULL;
	o = mk_obj("K", NULL, "b", 1, NOW + 1, tags);
	for (i = 0; i < STORE_MAX_TAGS; i++) {
		ck_assert(store_obj_has_tag(o, names[i], strlen(names[i])));
		for (l = 1; l < strlen(names[i]); l++)
			ck_assert(!store_obj_has_tag(o, names[i], l));
		/* Extensions; 'u': the next tag's bytes follow in memory. */
		l = strlen(names[i]);
		memcpy(probe, names[i], l);
		probe[l] = '0';
		ck_assert(!store_obj_has_tag(o, probe, l + 1));
		probe[l] = 'x';
		ck_assert(!store_obj_has_tag(o, probe, l + 1));
		probe[l] = 'u';
		ck_assert(!store_obj_has_tag(o, probe, l + 1));
	}
	ck_assert(!store_obj_has_tag(o, "", 0));
	/* The bloom word filters: similar tags spread over its bits. */
	ck_assert_int_gt(__builtin_popcountll(o->tagbloom), 16);
	store_obj_unref(o);
}
END_TEST

START_TEST(hit_for_miss_marker)
{
	struct hit r;

	setup_budget(1 << 20, 0);
	ck_assert_int_eq(put(sc, store_obj_new_hfm("K", 1, NOW + 30), NOW),
	    STORE_OK);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.status, STORE_OK);
	ck_assert_int_eq(r.hfm, 1);
	ck_assert_int_eq(r.hfm_until, NOW + 30);
	ck_assert_int_eq(r.n, 0);		/* a marker is no variant */
	ck_assert_uint_eq(stats(sc).markers, 1);
	ck_assert_uint_eq(stats(sc).objects, 0);

	/* A second marker replaces the first. */
	put(sc, store_obj_new_hfm("K", 1, NOW + 60), NOW);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.hfm_until, NOW + 60);
	ck_assert_uint_eq(stats(sc).markers, 1);

	/* Its own short expiry. */
	get(sc, "K", NOW + 60, &r);
	ck_assert_int_eq(r.status, STORE_MISS);
	ck_assert_int_eq(r.hfm, 0);
	ck_assert_uint_eq(stats(sc).markers, 0);

	/* A storable response clears it (one with a Vary too, whose
	 * secondary key is not the marker's empty one). */
	put(sc, store_obj_new_hfm("K", 1, NOW + 30), NOW);
	put(sc, mk("K", "v=1", "fresh"), NOW);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.hfm, 0);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);

	/* A marker beside variants: both reported, variants kept. */
	put(sc, store_obj_new_hfm("K", 1, NOW + 30), NOW);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.hfm, 1);
	ck_assert_int_eq(r.n, 1);
	put_hit(&r);
	teardown();
}
END_TEST

START_TEST(body_by_reference)
{
	static char body[100000];
	struct evbuffer *out;
	struct evbuffer_iovec v;
	struct store_obj *o;
	struct done d;
	struct hit r;
	long before;

	memset(body, 'z', sizeof(body));
	setup_budget(1 << 20, 0);
	put(sc, mk_obj("K", NULL, body, sizeof(body), NOW + 9, NULL), NOW);
	get(sc, "K", NOW, &r);
	o = r.v[0];
	out = evbuffer_new();
	ck_assert_int_eq(store_obj_add_body_to(out, o), 0);
	ck_assert_uint_eq(evbuffer_get_length(out), sizeof(body));
	/* The very bytes of the stored object: no copy. */
	ck_assert_int_eq(evbuffer_peek(out, -1, NULL, &v, 1), 1);
	ck_assert_ptr_eq(v.iov_base, o->body);
	ck_assert_uint_eq(v.iov_len, sizeof(body));
	ck_assert_uint_eq(atomic_load(&o->refs), 3);	/* table, us, out */

	/* Purged and our reference dropped: out alone keeps it alive. */
	before = store_obj_live();
	store_remove(sc, "K", 1, done_cb, &d);
	put_hit(&r);
	ck_assert_int_eq(store_obj_live(), before);
	ck_assert_int_eq(evbuffer_remove(out, body, 10), 10);
	ck_assert_int_eq(store_obj_live(), before);	/* partly sent */
	ck_assert_int_eq(body[0], 'z');
	ck_assert_int_eq(evbuffer_drain(out, sizeof(body)), 0);
	ck_assert_int_eq(store_obj_live(), before - 1);	/* all sent */

	/* Freeing the buffer unsent drops the reference too. */
	put(sc, mk("E", NULL, "eee"), NOW);
	get(sc, "E", NOW, &r);
	ck_assert_int_eq(store_obj_add_body_to(out, r.v[0]), 0);
	put_hit(&r);
	store_remove(sc, "E", 1, done_cb, &d);
	ck_assert_int_eq(store_obj_live(), before);
	evbuffer_free(out);
	ck_assert_int_eq(store_obj_live(), before - 1);
	teardown();
}
END_TEST

/* A 304 freshens the head: the new object shares the old body. */
START_TEST(body_shared_by_new_head)
{
	static char body[50000];
	struct store_obj_init in;
	struct store_obj *a, *c, *d;
	const uint8_t *bytes;
	struct done dn;
	struct hit r;
	long before;

	memset(body, 'q', sizeof(body));
	setup_budget(1 << 20, 0);
	put(sc, mk_obj("K", "v=1", body, sizeof(body), NOW + 9, NULL), NOW);
	get(sc, "K", NOW, &r);
	a = r.v[0];
	bytes = a->body;
	memset(&in, 0, sizeof(in));
	in.key = "K";
	in.key_len = 1;
	in.head = "HTTP/1.1 200 OK\r\nETag: \"2\"\r\n\r\n";
	in.head_len = strlen(in.head);
	in.vary = "v=1";
	in.vary_len = 3;
	in.body_from = a;
	in.drop_after = NOW + 20;
	c = store_obj_new(&in);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(c->body, bytes);
	ck_assert_ptr_eq(c->body_owner, a);
	ck_assert_uint_ge(c->charge, sizeof(body));	/* counted, not hidden */
	before = store_obj_live();
	ck_assert_int_eq(put(sc, c, NOW), STORE_OK);	/* replaces a */
	put_hit(&r);					/* a: held by c alone */
	ck_assert_int_eq(store_obj_live(), before);
	get(sc, "K", NOW, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert_ptr_eq(r.v[0]->body, bytes);
	ck_assert_uint_eq(r.v[0]->body_len, sizeof(body));
	ck_assert_int_eq(r.v[0]->drop_after, NOW + 20);
	ck_assert_mem_eq(r.v[0]->head, in.head, in.head_len);
	ck_assert_int_eq(r.v[0]->body[sizeof(body) - 1], 'q');
	/* Sharing again points at the owner, not at a chain. */
	in.body_from = r.v[0];
	d = store_obj_new(&in);
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_eq(d->body_owner, a);
	put_hit(&r);
	store_remove(sc, "K", 1, done_cb, &dn);
	ck_assert_int_eq(store_obj_live(), before);	/* d keeps a */
	ck_assert_int_eq(d->body[0], 'q');
	store_obj_unref(d);
	ck_assert_int_eq(store_obj_live(), before - 2);
	teardown();
}
END_TEST

/*
 * Issue 5: under 512 bytes per object beyond key, head, body and tags.
 * What an object costs beyond those: its struct, the tag array and tag
 * index links (48 bytes a tag), the secondary key, the malloc header and
 * its share of the bucket array (STORE_OBJ_SLACK); the charge counted in
 * the budget is exactly that plus the payload.
 */
START_TEST(overhead_under_512)
{
	const char *tags[] = { "user:42", "list", NULL };
	const char *vary = "accept-encoding=gzip";
	static char body[777];
	struct store_obj *o;
	uint64_t payload, overhead;

	o = mk_obj("GET https://example.com/api/users/42?x=1", vary, body,
	    sizeof(body), NOW + 1, tags);
	payload = o->key_len + o->head_len + o->body_len + strlen(tags[0]) +
	    strlen(tags[1]);
	overhead = o->charge - payload;
	ck_assert_uint_eq(overhead, sizeof(struct store_obj) +
	    2 * (sizeof(struct store_str) + sizeof(struct store_tag_link)) +
	    strlen(vary) + STORE_OBJ_SLACK);
	ck_assert_uint_lt(overhead, 512);
	ck_assert_uint_lt(sizeof(struct store_obj) + STORE_OBJ_SLACK, 512);
	store_obj_unref(o);
}
END_TEST

/* Threads: random ops on shared keys under a small budget. */
#define NTHREADS	4
#define NOPS		20000
#define NKEYS		300

struct worker_arg {
	struct store	*st;
	unsigned	 seed;
	int		 bad;		/* assertions are not thread-safe */
	uint64_t	 hits;
};

/* Every body is its key and variant repeated: a torn or freed object
 * shows up as a mismatch (or as an ASan report). */
static void
fill(char *buf, size_t len, int k, int var)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + (k * 3 + var + i) % 26);
}

static int
intact(const struct store_obj *o)
{
	int k = 0, var;
	size_t i;

	/* The key is not NUL-terminated: "k" and digits. */
	if (o->key_len < 2 || o->key[0] != 'k' || o->vary_len != 1)
		return (0);
	for (i = 1; i < o->key_len; i++)
		k = k * 10 + (o->key[i] - '0');
	var = o->vary[0] - '0';
	for (i = 0; i < o->body_len; i++)
		if (o->body[i] != (char)('a' + (k * 3 + var + i) % 26))
			return (0);
	return (1);
}

static void
stress_hit(void *arg, struct store_hit *h)
{
	struct worker_arg *wa = arg;
	struct evbuffer *out;
	int i;

	for (i = 0; i < h->n; i++) {
		if (!intact(h->v[i]))
			wa->bad++;
		wa->hits++;
	}
	if (h->n > 0 && (out = evbuffer_new()) != NULL) {
		if (store_obj_add_body_to(out, h->v[0]) == -1)
			wa->bad++;
		evbuffer_free(out);
	}
}

static void
stress_done(void *arg, int status, uint64_t count)
{
}

static void
stress_stats(void *arg, int status, const struct store_stats *s)
{
	struct worker_arg *wa = arg;

	if (s->bytes > s->budget)
		wa->bad++;
}

static void *
stress_worker(void *p)
{
	struct worker_arg *wa = p;
	struct store_conn *c = store_open(wa->st, NULL);
	struct store_obj *o;
	struct store_obj_init in;
	struct store_query q = { 0 };
	struct store_str tag;
	static char tags[4][8] = { "t0", "t1", "t2", "t3" };
	char key[16], vary[2], body[2048];
	int i, k, var, op;

	if (c == NULL)
		return (NULL);
	for (i = 0; i < NOPS; i++) {
		k = rand_r(&wa->seed) % NKEYS;
		var = rand_r(&wa->seed) % 3;
		op = rand_r(&wa->seed) % 1000;
		snprintf(key, sizeof(key), "k%d", k);
		if (op < 500) {
			q.key = key;
			q.key_len = strlen(key);
			q.now = NOW + i / 1000;
			store_lookup(c, &q, stress_hit, wa);
		} else if (op < 850) {
			memset(&in, 0, sizeof(in));
			vary[0] = (char)('0' + var);
			tag.p = tags[k % 4];
			tag.len = 2;
			in.key = key;
			in.key_len = strlen(key);
			in.head = HEAD;
			in.head_len = strlen(HEAD);
			in.body_len = rand_r(&wa->seed) % sizeof(body);
			in.vary = vary;
			in.vary_len = 1;
			in.tags = &tag;
			in.ntags = 1;
			in.drop_after = NOW + i / 1000 + 1 +
			    rand_r(&wa->seed) % 5;
			if ((o = store_obj_new(&in)) == NULL)
				continue;
			fill((char *)o->body, o->body_len, k, var);
			store_insert(c, &o, NOW + i / 1000, stress_done, NULL);
		} else if (op < 900) {
			store_remove(c, key, strlen(key), stress_done, NULL);
		} else if (op < 903) {
			store_purge_tag(c, tags[k % 4], 2, stress_done, NULL);
		} else if (op < 970) {
			o = store_obj_new_hfm(key, strlen(key), NOW + i / 1000 + 2);
			if (o != NULL)
				store_insert(c, &o, NOW + i / 1000, stress_done,
				    NULL);
		} else {
			store_get_stats(c, stress_stats, wa);
		}
	}
	store_close(c);
	return (NULL);
}

START_TEST(threads_stress)
{
	pthread_t th[NTHREADS];
	struct worker_arg wa[NTHREADS];
	struct store_stats s;
	uint64_t hits = 0;
	int i;

	setup_budget(96 * 1024, 16);
	for (i = 0; i < NTHREADS; i++) {
		wa[i].st = st;
		wa[i].seed = 1234 + i;
		wa[i].bad = 0;
		wa[i].hits = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, stress_worker,
		    &wa[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(wa[i].bad, 0);
		hits += wa[i].hits;
	}
	check_table(st);
	s = stats(sc);
	ck_assert_uint_le(s.bytes, s.budget);
	/* The mix really exercised the table, and eviction. */
	ck_assert_uint_gt(hits, 1000);
	ck_assert_uint_gt(s.inserts, 10000);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_gt(s.expired, 0);
	teardown();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store_mem");
	TCase *tc = tcase_create("store_mem");
	TCase *tt = tcase_create("threads");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, insert_lookup_replace);
	tcase_add_test(tc, meta_and_key_kept);
	tcase_add_test(tc, bad_objects_refused);
	tcase_add_test(tc, variants_side_by_side);
	tcase_add_test(tc, variant_cap_evicts_oldest);
	tcase_add_test(tc, ref_outlives_remove);
	tcase_add_test(tc, lookup_refs_dropped_after_callback);
	tcase_add_test(tc, lru_eviction_order);
	tcase_add_test(tc, budget_never_exceeded);
	tcase_add_test(tc, budget_shrink_evicts_lru);
	tcase_add_test(tc, too_big_or_expired_rejected);
	tcase_add_test(tc, expiry_with_now);
	tcase_add_test(tc, purge_by_key);
	tcase_add_test(tc, purge_by_tag);
	tcase_add_test(tc, tag_index_grows);
	tcase_add_test(tc, tag_match_exact);
	tcase_add_test(tc, hit_for_miss_marker);
	tcase_add_test(tc, body_by_reference);
	tcase_add_test(tc, body_shared_by_new_head);
	tcase_add_test(tc, overhead_under_512);
	suite_add_tcase(s, tc);
	/* Bounded in time: a deadlock fails instead of hanging make check. */
	tcase_set_timeout(tt, 60);
	tcase_add_test(tt, threads_stress);
	suite_add_tcase(s, tt);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
