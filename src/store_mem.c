/*
 * store_mem.c: the in-memory store (L2), shared by every worker thread.
 *
 * A hash table split into shards (a power of two, STORE_MEM_SHARDS by
 * default), each with its own mutex, buckets and LRU list, under one
 * byte budget (cache.size). The variants of a primary key, and its
 * hit-for-miss marker, are separate objects chained in the same bucket
 * (newest first), so a lookup is one lock and one bucket walk. Each
 * shard also indexes its objects' tags (store_tag_link, chained by tag
 * hash), so purge by tag is one bucket walk per shard. Nothing ever holds
 * two shard locks at once.
 *
 * Budget: an insert first reserves its charge on the global byte counter,
 * then evicts LRU tails, from its own shard first and then the others in
 * turn, one lock at a time, until the counter is back within the budget;
 * only then does it link the object. Since every linked object's charge
 * was counted when its inserter saw the counter within budget, the bytes
 * linked never exceed the budget (an object referenced by a client after
 * it left the table is not counted: its memory goes when the last
 * reference does). If nothing can be evicted (everything left is other
 * threads' reservations) the insert is refused, a miss at worst.
 *
 * Every op completes synchronously, before it returns (see store.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define INITIAL_BUCKETS	16	/* per shard; doubled at load 1 */
#define EVICT_PASSES	4	/* over all shards, before giving up */

LIST_HEAD(bucket, store_obj);
LIST_HEAD(tagbucket, store_tag_link);
TAILQ_HEAD(objq, store_obj);

struct shard {
	pthread_mutex_t	 mu;
	struct bucket	*buckets;
	size_t		 nbuckets;	/* a power of two */
	size_t		 count;		/* objects and markers linked */
	struct objq	 lru;
	struct tagbucket *tags;		/* tag index: links by tag hash */
	size_t		 ntags;		/* a power of two */
	size_t		 nlinks;	/* tag links in it */
} __attribute__((aligned(64)));	/* no false sharing between locks */

struct store_mem {
	struct store		 base;
	_Atomic uint64_t	 budget;	/* cache.size; a reload may change it */
	uint64_t		 seed;
	unsigned		 nshards;
	unsigned		 shift;		/* hash >> shift is the shard */
	struct shard		*shards;
	_Atomic uint64_t	 bytes;		/* linked + reserved */
	_Atomic uint64_t	 linked;	/* linked: never over budget */
	_Atomic uint64_t	 objects, markers, inserts, evictions;
	_Atomic uint64_t	 expired, purged, rejected;
};

struct store_mem_conn {
	struct store_conn	 base;
};

#define ADD(x, n)	atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define SUB(x, n)	atomic_fetch_sub_explicit(&(x), (n), memory_order_relaxed)
#define LOAD(x)		atomic_load_explicit(&(x), memory_order_relaxed)

static const struct store_ops store_mem_ops;

/* FNV-1a over the seed and the key, then a 64-bit finalizer, so both the
 * shard (top bits) and the bucket (low bits) see every key byte. */
static uint64_t
key_hash(const struct store_mem *sm, const void *key, size_t len)
{
	return (store_hash(key, len, sm->seed));
}

static struct shard *
shard_of(struct store_mem *sm, uint64_t hash)
{
	return (&sm->shards[sm->shift == 64 ? 0 : hash >> sm->shift]);
}

static struct bucket *
bucket_of(struct shard *sh, uint64_t hash)
{
	return (&sh->buckets[hash & (sh->nbuckets - 1)]);
}

static int
same_key(const struct store_obj *o, uint64_t hash, const void *key,
    size_t len)
{
	return (o->hash == hash && o->key_len == len &&
	    memcmp(o->key, key, len) == 0);
}

static struct tagbucket *
tagbucket_of(struct shard *sh, uint64_t hash)
{
	return (&sh->tags[hash & (sh->ntags - 1)]);
}

static void
link_obj(struct store_mem *sm, struct shard *sh, struct store_obj *obj)
{
	unsigned i;

	LIST_INSERT_HEAD(bucket_of(sh, obj->hash), obj, hlink);
	for (i = 0; i < obj->ntags; i++)
		LIST_INSERT_HEAD(tagbucket_of(sh, obj->tlinks[i].hash),
		    &obj->tlinks[i], link);
	sh->nlinks += obj->ntags;
	TAILQ_INSERT_HEAD(&sh->lru, obj, lru);
	obj->flags |= STORE_OBJ_LINKED;
	sh->count++;
	atomic_fetch_add(&sm->linked, obj->charge);
	if (obj->flags & STORE_OBJ_HFM)
		ADD(sm->markers, 1);
	else
		ADD(sm->objects, 1);
}

/* Out of the table onto dead, whose references are dropped after the
 * shard lock is released. Its bytes leave the budget now. */
static void
unlink_obj(struct store_mem *sm, struct shard *sh, struct store_obj *obj,
    struct objq *dead)
{
	unsigned i;

	LIST_REMOVE(obj, hlink);
	for (i = 0; i < obj->ntags; i++)
		LIST_REMOVE(&obj->tlinks[i], link);
	sh->nlinks -= obj->ntags;
	TAILQ_REMOVE(&sh->lru, obj, lru);
	obj->flags &= ~STORE_OBJ_LINKED;
	sh->count--;
	atomic_fetch_sub(&sm->linked, obj->charge);
	atomic_fetch_sub(&sm->bytes, obj->charge);
	if (obj->flags & STORE_OBJ_HFM)
		SUB(sm->markers, 1);
	else
		SUB(sm->objects, 1);
	TAILQ_INSERT_TAIL(dead, obj, lru);
}

static void
drop_dead(struct objq *dead)
{
	struct store_obj *obj;

	while ((obj = TAILQ_FIRST(dead)) != NULL) {
		TAILQ_REMOVE(dead, obj, lru);
		store_obj_unref(obj);
	}
}

/*
 * Double the key buckets and the tag buckets at load 1; on allocation
 * failure chains just grow. Lookups and purges never shrink them.
 */
static void
maybe_grow(struct shard *sh)
{
	struct bucket *nb;
	struct tagbucket *nt;
	struct store_obj *o;
	struct store_tag_link *tl;
	size_t i, n;

	n = sh->nbuckets * 2;	/* calloc: empty LIST heads */
	if (sh->count > sh->nbuckets &&
	    (nb = calloc(n, sizeof(*nb))) != NULL) {
		for (i = 0; i < sh->nbuckets; i++)
			while ((o = LIST_FIRST(&sh->buckets[i])) != NULL) {
				LIST_REMOVE(o, hlink);
				LIST_INSERT_HEAD(&nb[o->hash & (n - 1)], o,
				    hlink);
			}
		free(sh->buckets);
		sh->buckets = nb;
		sh->nbuckets = n;
	}
	n = sh->ntags * 2;
	if (sh->nlinks > sh->ntags && (nt = calloc(n, sizeof(*nt))) != NULL) {
		for (i = 0; i < sh->ntags; i++)
			while ((tl = LIST_FIRST(&sh->tags[i])) != NULL) {
				LIST_REMOVE(tl, link);
				LIST_INSERT_HEAD(&nt[tl->hash & (n - 1)], tl,
				    link);
			}
		free(sh->tags);
		sh->tags = nt;
		sh->ntags = n;
	}
}

/*
 * Make room for obj under its key: a marker replaces the key's marker; a
 * variant replaces the variant with the same secondary key, clears the
 * marker, and evicts the oldest variant while the key is at the cap.
 */
static void
unlink_rivals(struct store_mem *sm, struct shard *sh, struct store_obj *obj,
    struct objq *dead)
{
	struct store_obj *o, *next, *oldest;
	int hfm = (obj->flags & STORE_OBJ_HFM) != 0, n;

	do {
		n = 0;
		oldest = NULL;
		for (o = LIST_FIRST(bucket_of(sh, obj->hash)); o != NULL;
		    o = next) {
			next = LIST_NEXT(o, hlink);
			if (!same_key(o, obj->hash, obj->key, obj->key_len))
				continue;
			if (o->flags & STORE_OBJ_HFM) {
				unlink_obj(sm, sh, o, dead);
			} else if (hfm) {
				continue;
			} else if (o->vary_len == obj->vary_len &&
			    memcmp(o->vary, obj->vary, o->vary_len) == 0) {
				unlink_obj(sm, sh, o, dead);
			} else {
				n++;
				oldest = o;	/* chains are newest first */
			}
		}
		if (n >= STORE_MAX_VARIANTS) {
			unlink_obj(sm, sh, oldest, dead);
			ADD(sm->evictions, 1);
		}
	} while (n > STORE_MAX_VARIANTS);
}

/* Evict LRU tails, home shard first, until the bytes fit the budget.
 * 0, or -1 when a whole pass found nothing left to evict. */
static int
make_room(struct store_mem *sm, unsigned home, struct objq *dead)
{
	struct shard *sh;
	struct store_obj *victim;
	unsigned i, pass;
	int evicted;

	for (pass = 0; pass < EVICT_PASSES; pass++) {
		evicted = 0;
		for (i = 0; i < sm->nshards; i++) {
			if (atomic_load(&sm->bytes) <= sm->budget)
				return (0);
			sh = &sm->shards[(home + i) & (sm->nshards - 1)];
			pthread_mutex_lock(&sh->mu);
			while (atomic_load(&sm->bytes) > sm->budget &&
			    (victim = TAILQ_LAST(&sh->lru, objq)) != NULL) {
				unlink_obj(sm, sh, victim, dead);
				ADD(sm->evictions, 1);
				evicted = 1;
			}
			pthread_mutex_unlock(&sh->mu);
		}
		if (atomic_load(&sm->bytes) <= sm->budget)
			return (0);
		if (!evicted)
			break;
	}
	return (-1);
}

/* Every variant, whatever q->vary_hint says: a reference costs little. */
static struct store_req *
mem_lookup(struct store_conn *sc, const struct store_query *q,
    store_lookup_cb cb, void *arg)
{
	struct store_mem *sm = (struct store_mem *)sc->st;
	struct store_hit hit;
	struct store_obj *o, *next;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct shard *sh;
	const void *key = q->key;
	size_t len = q->key_len;
	int64_t now = q->now;
	uint64_t h = key_hash(sm, key, len);
	int i;

	memset(&hit, 0, sizeof(hit));
	sh = shard_of(sm, h);
	pthread_mutex_lock(&sh->mu);
	for (o = LIST_FIRST(bucket_of(sh, h)); o != NULL; o = next) {
		next = LIST_NEXT(o, hlink);
		if (!same_key(o, h, key, len))
			continue;
		if (o->drop_after <= now) {
			unlink_obj(sm, sh, o, &dead);
			ADD(sm->expired, 1);
		} else if (o->flags & STORE_OBJ_HFM) {
			hit.hfm = 1;
			hit.hfm_until = o->drop_after;
		} else if (hit.n < STORE_MAX_VARIANTS) {
			hit.v[hit.n++] = store_obj_ref(o);
			TAILQ_REMOVE(&sh->lru, o, lru);
			TAILQ_INSERT_HEAD(&sh->lru, o, lru);
		}
	}
	pthread_mutex_unlock(&sh->mu);
	drop_dead(&dead);
	hit.status = hit.n > 0 || hit.hfm ? STORE_OK : STORE_MISS;
	cb(arg, &hit);
	for (i = 0; i < hit.n; i++)
		store_obj_unref(hit.v[i]);
	return (NULL);
}

static struct store_req *
mem_insert(struct store_conn *sc, struct store_obj *obj, int64_t now,
    store_done_cb cb, void *arg)
{
	struct store_mem *sm = (struct store_mem *)sc->st;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct shard *sh;
	unsigned idx;

	CHECK_STORE_OBJ(obj);
	if (obj->drop_after <= now || obj->charge > sm->budget ||
	    (obj->flags & STORE_OBJ_LINKED))
		goto reject;
	obj->hash = key_hash(sm, obj->key, obj->key_len);
	sh = shard_of(sm, obj->hash);
	idx = (unsigned)(sh - sm->shards);
	/* What obj replaces leaves first, so it is not evicted for room. */
	pthread_mutex_lock(&sh->mu);
	unlink_rivals(sm, sh, obj, &dead);
	pthread_mutex_unlock(&sh->mu);
	atomic_fetch_add(&sm->bytes, obj->charge);
	if (make_room(sm, idx, &dead) == -1) {
		atomic_fetch_sub(&sm->bytes, obj->charge);
		drop_dead(&dead);
		goto reject;
	}
	/* Again: another thread may have stored a rival meanwhile. */
	pthread_mutex_lock(&sh->mu);
	unlink_rivals(sm, sh, obj, &dead);
	link_obj(sm, sh, obj);
	maybe_grow(sh);
	pthread_mutex_unlock(&sh->mu);
	ADD(sm->inserts, 1);
	drop_dead(&dead);
	cb(arg, STORE_OK, 1);
	return (NULL);
reject:
	ADD(sm->rejected, 1);
	store_obj_unref(obj);
	cb(arg, STORE_REJECTED, 0);
	return (NULL);
}

static struct store_req *
mem_remove(struct store_conn *sc, const void *key, size_t len,
    store_done_cb cb, void *arg)
{
	struct store_mem *sm = (struct store_mem *)sc->st;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct store_obj *o, *next;
	struct shard *sh;
	uint64_t h = key_hash(sm, key, len), n = 0;

	sh = shard_of(sm, h);
	pthread_mutex_lock(&sh->mu);
	for (o = LIST_FIRST(bucket_of(sh, h)); o != NULL; o = next) {
		next = LIST_NEXT(o, hlink);
		if (!same_key(o, h, key, len))
			continue;
		if (!(o->flags & STORE_OBJ_HFM))
			n++;
		unlink_obj(sm, sh, o, &dead);
	}
	pthread_mutex_unlock(&sh->mu);
	ADD(sm->purged, n);
	drop_dead(&dead);
	cb(arg, STORE_OK, n);
	return (NULL);
}

/* The first object in sh carrying tag, through the tag index. */
static struct store_obj *
find_tagged(struct shard *sh, uint64_t h, const void *tag, size_t len)
{
	struct store_tag_link *tl;
	const struct store_str *t;

	LIST_FOREACH(tl, tagbucket_of(sh, h), link) {
		t = &tl->obj->tags[tl - tl->obj->tlinks];
		if (tl->hash == h && t->len == len &&
		    memcmp(t->p, tag, len) == 0)
			return (tl->obj);
	}
	return (NULL);
}

/*
 * Cost: one lock per shard and a walk of one tag bucket in each, not a
 * scan of the objects. The walk restarts after each removal because an
 * object's other tag links may sit in the same bucket; at load 1 the
 * links that are not the tag's are few.
 */
static struct store_req *
mem_purge_tag(struct store_conn *sc, const void *tag, size_t len,
    store_done_cb cb, void *arg)
{
	struct store_mem *sm = (struct store_mem *)sc->st;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct store_obj *o;
	struct shard *sh;
	uint64_t h = store_tag_hash(tag, len), n = 0;
	unsigned i;

	for (i = 0; i < sm->nshards; i++) {
		sh = &sm->shards[i];
		pthread_mutex_lock(&sh->mu);
		while ((o = find_tagged(sh, h, tag, len)) != NULL) {
			unlink_obj(sm, sh, o, &dead);
			n++;
		}
		pthread_mutex_unlock(&sh->mu);
		drop_dead(&dead);
	}
	ADD(sm->purged, n);
	cb(arg, STORE_OK, n);
	return (NULL);
}

static struct store_req *
mem_stats(struct store_conn *sc, store_stats_cb cb, void *arg)
{
	struct store_mem *sm = (struct store_mem *)sc->st;
	struct store_stats st;

	st.sized = true;
	st.objects = LOAD(sm->objects);
	st.markers = LOAD(sm->markers);
	st.bytes = atomic_load(&sm->linked);
	st.budget = sm->budget;
	st.inserts = LOAD(sm->inserts);
	st.evictions = LOAD(sm->evictions);
	st.expired = LOAD(sm->expired);
	st.purged = LOAD(sm->purged);
	st.rejected = LOAD(sm->rejected);
	cb(arg, STORE_OK, &st);
	return (NULL);
}

/* Nothing is ever pending: every op has completed when it returns. */
static void
mem_cancel(struct store_conn *sc, struct store_req *req)
{
	abort();
}

static struct store_conn *
mem_open(struct store *st, struct event_base *base)
{
	struct store_mem_conn *mc;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return (NULL);
	mc->base.st = st;
	return (&mc->base);
}

static void
mem_close(struct store_conn *sc)
{
	free(sc);
}

static void
mem_destroy(struct store *st)
{
	struct store_mem *sm = (struct store_mem *)st;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);
	struct store_obj *o;
	struct shard *sh;
	unsigned i;

	for (i = 0; i < sm->nshards; i++) {
		sh = &sm->shards[i];
		while ((o = TAILQ_FIRST(&sh->lru)) != NULL)
			unlink_obj(sm, sh, o, &dead);
		drop_dead(&dead);
		free(sh->buckets);
		free(sh->tags);
		pthread_mutex_destroy(&sh->mu);
	}
	free(sm->shards);
	free(sm);
}

static uint64_t
make_seed(void *p)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)p);
}

struct store *
store_mem_new(uint64_t budget, unsigned nshards)
{
	struct store_mem *sm;
	struct shard *sh;
	unsigned i, bits;

	if (nshards == 0)
		nshards = STORE_MEM_SHARDS;
	if ((nshards & (nshards - 1)) != 0)
		return (NULL);
	if ((sm = calloc(1, sizeof(*sm))) == NULL)
		return (NULL);
	sm->base.ops = &store_mem_ops;
	sm->budget = budget;
	sm->seed = make_seed(sm);
	sm->nshards = nshards;
	for (bits = 0; (1u << bits) < nshards; bits++)
		;
	sm->shift = 64 - bits;
	if ((sm->shards = aligned_alloc(64, nshards * sizeof(*sh))) == NULL)
		goto fail;
	for (i = 0; i < nshards; i++) {
		sh = &sm->shards[i];
		memset(sh, 0, sizeof(*sh));
		pthread_mutex_init(&sh->mu, NULL);
		TAILQ_INIT(&sh->lru);
		/* calloc makes empty LIST heads (NULL first). */
		sh->nbuckets = INITIAL_BUCKETS;
		sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets));
		sh->ntags = INITIAL_BUCKETS;
		sh->tags = calloc(sh->ntags, sizeof(*sh->tags));
		if (sh->buckets == NULL || sh->tags == NULL) {
			sm->nshards = i + 1;
			mem_destroy(&sm->base);
			return (NULL);
		}
	}
	return (&sm->base);
fail:
	free(sm);
	return (NULL);
}

/* Every tag link of a linked object in its bucket, and nothing else. */
static int
check_tags(struct shard *sh, const char **why)
{
	struct store_tag_link *tl;
	struct store_obj *o;
	size_t i, n = 0, want = 0;

	for (i = 0; i < sh->ntags; i++)
		LIST_FOREACH(tl, &sh->tags[i], link) {
			o = tl->obj;
			if (o->magic != STORE_OBJ_MAGIC ||
			    !(o->flags & STORE_OBJ_LINKED) ||
			    tl < o->tlinks || tl >= o->tlinks + o->ntags)
				return (*why = "stray tag link", -1);
			if ((tl->hash & (sh->ntags - 1)) != i)
				return (*why = "tag link in the wrong bucket",
				    -1);
			n++;
		}
	TAILQ_FOREACH(o, &sh->lru, lru)
		want += o->ntags;
	if (n != want || n != sh->nlinks)
		return (*why = "tag links missing from the index", -1);
	return (0);
}

static int
check_shard(struct store_mem *sm, struct shard *sh, uint64_t *bytes,
    uint64_t *objs, uint64_t *marks, const char **why)
{
	struct store_obj *o;
	size_t i, n = 0, nlru = 0;

	for (i = 0; i < sh->nbuckets; i++)
		LIST_FOREACH(o, &sh->buckets[i], hlink) {
			if (o->magic != STORE_OBJ_MAGIC ||
			    !(o->flags & STORE_OBJ_LINKED))
				return (*why = "bad object in a bucket", -1);
			if (shard_of(sm, o->hash) != sh ||
			    (o->hash & (sh->nbuckets - 1)) != i)
				return (*why = "object in the wrong bucket", -1);
			if (key_hash(sm, o->key, o->key_len) != o->hash)
				return (*why = "hash does not match key", -1);
			if (atomic_load(&o->refs) < 1)
				return (*why = "linked object without ref", -1);
			*bytes += o->charge;
			if (o->flags & STORE_OBJ_HFM)
				(*marks)++;
			else
				(*objs)++;
			n++;
		}
	TAILQ_FOREACH(o, &sh->lru, lru)
		nlru++;
	if (n != sh->count || nlru != n)
		return (*why = "shard count, buckets and LRU disagree", -1);
	return (check_tags(sh, why));
}

void
store_mem_set_budget(struct store *st, uint64_t budget)
{
	struct store_mem *sm = (struct store_mem *)st;
	struct objq dead = TAILQ_HEAD_INITIALIZER(dead);

	struct store_obj *victim;
	struct shard *sh;
	unsigned i;
	int evicted = 1;

	atomic_store(&sm->budget, budget);
	/* Smaller: objects go now, not at the next inserts. The LRU is per
	 * shard, so one tail of each in turn: the survivors are about the
	 * most recently used of them all, not one shard's. */
	while (evicted && atomic_load(&sm->bytes) > budget) {
		evicted = 0;
		for (i = 0; i < sm->nshards &&
		    atomic_load(&sm->bytes) > budget; i++) {
			sh = &sm->shards[i];
			pthread_mutex_lock(&sh->mu);
			if ((victim = TAILQ_LAST(&sh->lru, objq)) != NULL) {
				unlink_obj(sm, sh, victim, &dead);
				ADD(sm->evictions, 1);
				evicted = 1;
			}
			pthread_mutex_unlock(&sh->mu);
		}
	}
	drop_dead(&dead);
}

int
store_mem_check(struct store *st, const char **why)
{
	struct store_mem *sm = (struct store_mem *)st;
	uint64_t bytes = 0, objs = 0, marks = 0;
	unsigned i;
	int rc;

	*why = NULL;
	if (st->ops != &store_mem_ops)
		return (*why = "not a memory store", -1);
	for (i = 0; i < sm->nshards; i++) {
		pthread_mutex_lock(&sm->shards[i].mu);
		rc = check_shard(sm, &sm->shards[i], &bytes, &objs, &marks,
		    why);
		pthread_mutex_unlock(&sm->shards[i].mu);
		if (rc == -1)
			return (-1);
	}
	if (bytes > sm->budget)
		return (*why = "over budget", -1);
	if (bytes != atomic_load(&sm->linked) ||
	    bytes != atomic_load(&sm->bytes))
		return (*why = "byte counters disagree with the table", -1);
	if (objs != LOAD(sm->objects) || marks != LOAD(sm->markers))
		return (*why = "object counters disagree with the table", -1);
	return (0);
}

static const struct store_ops store_mem_ops = {
	.name = "memory",
	.open = mem_open,
	.close = mem_close,
	.lookup = mem_lookup,
	.insert = mem_insert,
	.remove = mem_remove,
	.purge_tag = mem_purge_tag,
	.stats = mem_stats,
	.cancel = mem_cancel,
	.destroy = mem_destroy,
};
