/*
 * store.h: the cache store interface (L2): stored objects and the ops
 * table that the memory store (store_mem.c) and the Redis store
 * (store_redis.c, issue 6) both implement, so client.c talks to either
 * the same way. The store keeps bytes; it never judges freshness or
 * storability (cache_policy.c does, with `now`): it only drops an object
 * after the absolute time the caller gave it (freshness + stale
 * allowances, the Redis TTL), lazily on lookup.
 *
 * Shape:
 *   struct store       one per process and configuration (the table, or
 *                      the Redis address and prefix); made by
 *                      store_mem_new() or store_redis_new().
 *   struct store_conn  one per worker thread, from store_open(st, base):
 *                      the Redis store keeps its hiredis connection there;
 *                      the memory store's handle just points at the
 *                      shared table. Use a conn only on its own thread.
 *   struct store_obj   an immutable, reference-counted response.
 *
 * Every operation is asynchronous-capable: it takes a completion
 * callback cb(arg, ...) that is called exactly once, unless cancelled.
 * The memory store calls it synchronously, before the op returns; the
 * Redis store calls it later from the worker's event loop. Callers must
 * handle both: do not touch state the callback may have freed after the
 * call returns, and do not hold a lock the callback takes. An op returns
 * NULL when its callback has already run, or a request handle that
 * store_cancel() accepts until the callback runs (after cancelling, the
 * callback is never called: a client that goes away gets no late call on
 * freed memory). A store failure (Redis down, timeout) is reported as
 * STORE_ERROR, which callers treat as a miss, never as a failed request.
 *
 * A hit, as client.c would do it:
 *   struct store_query q = { key, klen, NULL, 0, now };
 *   c->store_req = store_lookup(w->sc, &q, on_lookup, c);
 *   on_lookup(c, hit): choose v[i] by Vary, c->obj = store_obj_ref(v[i]);
 *     send c->obj->head, the per-hit fields (Age, Cache-Status), then
 *     store_obj_add_body_to(out, c->obj); store_obj_unref(c->obj).
 * A miss that turns out storable: store_obj_new() with the head, the body
 * copied once (or body NULL and filled as it arrives when Content-Length
 * is known), then store_insert(). One that is not storable:
 * store_insert() of store_obj_new_hfm(key, klen, now + a few seconds).
 */
#ifndef VANE_STORE_H
#define VANE_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "cache_policy.h"

struct evbuffer;
struct event_base;

#define STORE_OBJ_MAGIC		0x736f626au
/* Varnish's CHECK_OBJ: a freed or foreign pointer aborts at the boundary. */
#define CHECK_STORE_OBJ(o)	do { if ((o) == NULL || \
	(o)->magic != STORE_OBJ_MAGIC) abort(); } while (0)
#define STORE_MAX_VARIANTS	16	/* per primary key; oldest evicted */
#define STORE_MAX_TAGS		32	/* per object */

/*
 * struct cache_meta (cache_policy.h): the freshness facts the policy
 * layer records when it stores a response and reads back on a hit.
 * Opaque to the store, which copies it; the Redis store serializes it
 * field by field.
 */

/* A byte string that is not NUL-terminated (keys, tags). */
struct store_str {
	const void	*p;
	size_t		 len;
};

/* One per tag of an object: the memory store's tag index chains these
 * (under its shard lock), so purge_tag walks only the tag's bucket. */
struct store_tag_link {
	LIST_ENTRY(store_tag_link)	 link;
	struct store_obj		*obj;
	uint64_t			 hash;	/* store_tag_hash() of the tag */
};

#define STORE_OBJ_HFM		0x1	/* hit-for-miss marker: no body */
#define STORE_OBJ_LINKED	0x2	/* in a memory store's table */

/*
 * A stored response. Everything but refs and the link fields is written
 * once by store_obj_new() (and the body by the caller before insert) and
 * only read afterwards, by any thread, without a lock. The link fields
 * belong to the memory store that holds the object, under its shard lock.
 * key, head, body and vary point into the object's own allocation, except
 * a body shared from body_owner (store_obj_new, body_from). The secondary
 * key's format is the policy's (e.g. each Vary field name and the
 * request's normalised value for it): the store only compares bytes.
 */
struct store_obj {
	uint32_t		 magic;
	uint32_t		 flags;		/* STORE_OBJ_*; LINKED under lock */
	atomic_uint		 refs;
	unsigned		 ntags;
	uint64_t		 hash;		/* of the primary key */
	uint64_t		 tagbloom;	/* one bit per tag hash */
	uint64_t		 charge;	/* bytes it counts in a budget */
	int64_t			 drop_after;	/* unusable from this time on */
	const uint8_t		*key;		/* primary key */
	const uint8_t		*head;		/* status line + fields + CRLF */
	size_t			 wire_len;	/* head[0..wire_len) is the head a
						 * hit sends, before its own fields
						 * and the final CRLF; the fields
						 * after it are kept, never sent.
						 * 0: no such layout (parse it) */
	uint8_t			*body;
	const uint8_t		*vary;		/* secondary key; empty: no Vary */
	const struct store_str	*tags;
	struct store_tag_link	*tlinks;	/* ntags, beside tags[] */
	struct store_obj	*body_owner;	/* holds the body, if not us */
	size_t			 key_len, head_len, body_len, vary_len;
	struct cache_meta	 meta;
	/* Memory store links (its shard lock). */
	LIST_ENTRY(store_obj)	 hlink;		/* hash bucket */
	TAILQ_ENTRY(store_obj)	 lru;		/* head: most recently used */
};

/* What store_obj_new() copies in. */
struct store_obj_init {
	const void		*key;
	size_t			 key_len;	/* > 0 */
	const void		*head;
	size_t			 head_len;
	size_t			 wire_len;	/* <= head_len; see store_obj */
	const void		*body;		/* NULL: filled by the caller */
	size_t			 body_len;
	struct store_obj	*body_from;	/* or share this one's body */
	const void		*vary;
	size_t			 vary_len;
	const struct store_str	*tags;
	unsigned		 ntags;		/* <= STORE_MAX_TAGS */
	const struct cache_meta	*meta;		/* NULL: all zero */
	int64_t			 drop_after;
};

/*
 * A new object with one reference, owned by the caller, in a single
 * allocation. When in->body is NULL the body_len bytes at obj->body are
 * left for the caller to fill (the relay's tee, the Redis decoder) before
 * it inserts the object; nobody else sees it until then. With
 * in->body_from set, body and body_len are ignored: the new object shares
 * that object's body without copying it, holding a reference on the
 * allocation it lives in (a 304 that freshens the stored head, RFC 9111
 * §4.3.4, makes a new head over the same body); such a body is read-only.
 * Its charge counts the shared body, so the budget never undercounts.
 * NULL on allocation failure or bad arguments (no key, too many tags).
 */
struct store_obj	*store_obj_new(const struct store_obj_init *in);
/* A hit-for-miss marker for key: no body, dropped at until. */
struct store_obj	*store_obj_new_hfm(const void *key, size_t key_len,
			    int64_t until);
/* Take one more reference; returns obj. */
struct store_obj	*store_obj_ref(struct store_obj *obj);
/* Drop one reference; the last one frees. NULL is fine. */
void			 store_obj_unref(struct store_obj *obj);
/* The hash tag links carry: the same in every process (Redis sets may
 * use it too). */
uint64_t		 store_tag_hash(const void *tag, size_t len);
/* FNV-1a with a final mix, so that every bit of the result depends on
 * every byte; seed varies it per table. Keys, tags, coalescing. */
uint64_t		 store_hash(const void *p, size_t len, uint64_t seed);
/* 1 if obj carries tag. */
int			 store_obj_has_tag(const struct store_obj *obj,
			    const void *tag, size_t len);
/*
 * Append obj's body to out without copying it (evbuffer_add_reference):
 * out holds a reference on obj until libevent has sent or dropped those
 * bytes. Returns 0, or -1 (nothing added, no reference kept).
 */
int			 store_obj_add_body_to(struct evbuffer *out,
			    struct store_obj *obj);
/* The same for body bytes [off, off + len) (a byte range of a hit);
 * -1 when they are not all in the body. */
int			 store_obj_add_body_range_to(struct evbuffer *out,
			    struct store_obj *obj, uint64_t off, uint64_t len);
/* Objects allocated and not yet freed, process-wide, stored or not
 * (tests; /stats may show it beside the store's own count). */
long			 store_obj_live(void);
/* Per-object bytes the accounting adds beyond the allocation (malloc
 * header, the object's share of the hash index). */
#define STORE_OBJ_SLACK		32

enum store_status {
	STORE_OK = 0,
	STORE_MISS,		/* lookup: nothing usable under the key */
	STORE_REJECTED,		/* insert: too large, or expired already */
	STORE_ERROR		/* store unavailable or timed out: a miss */
};

/*
 * Lookup result. The references in v[] belong to the store and are
 * dropped when the callback returns: take store_obj_ref() to keep one
 * (for instance the variant the Vary match chose, to stream its body).
 * Variants come newest first; none of them has expired at `now`. hfm is
 * set when an unexpired hit-for-miss marker is present (then hfm_until
 * is its expiry): the caller should neither wait for a fetch in flight
 * nor coalesce, but go to the backend directly. status is STORE_OK when
 * n > 0 or hfm, STORE_MISS when neither, STORE_ERROR on failure.
 */
struct store_hit {
	int			 status;
	int			 hfm;
	int64_t			 hfm_until;
	int			 n;
	struct store_obj	*v[STORE_MAX_VARIANTS];
};

/*
 * A lookup. The store copies what it needs before the op returns. now
 * is the clock drop_after is on (seconds since the epoch, like
 * cache_meta). vary_hint is optional: the secondary key the caller
 * expects to match (computed with the Vary field names it saw last time
 * for this key). A store may then return only that variant when it has
 * it, saving a remote store from sending every variant's body; it may
 * also ignore the hint (the memory store does, references are cheap), so
 * callers Vary-match the candidates whatever they passed.
 */
struct store_query {
	const void	*key;
	size_t		 key_len;
	const void	*vary_hint;
	size_t		 vary_hint_len;
	int64_t		 now;
};

struct store_stats {
	bool		sized;		/* the next four are known (not Redis,
					 * which would have to scan for them) */
	uint64_t	objects;	/* variants stored (markers excluded) */
	uint64_t	markers;	/* hit-for-miss markers stored */
	uint64_t	bytes;		/* of the objects stored: <= budget */
	uint64_t	budget;
	uint64_t	inserts;
	uint64_t	evictions;	/* dropped to make room (LRU, variant cap) */
	uint64_t	expired;	/* dropped at drop_after */
	uint64_t	purged;		/* dropped by remove or purge_tag */
	uint64_t	rejected;	/* inserts refused */
};

struct store;
struct store_conn;
struct store_req;		/* a pending operation (Redis); opaque */

typedef void	(*store_lookup_cb)(void *arg, struct store_hit *hit);
/* status is a store_status; count is what the op says (objects stored,
 * removed). */
typedef void	(*store_done_cb)(void *arg, int status, uint64_t count);
typedef void	(*store_stats_cb)(void *arg, int status,
		    const struct store_stats *st);

struct store_ops {
	const char	*name;		/* "memory", "redis": Cache-Status, logs */
	/* A worker's handle; base is its event loop. NULL on failure. */
	struct store_conn	*(*open)(struct store *st,
				    struct event_base *base);
	/* Cancels what is pending on sc (no callbacks), then frees it. */
	void		(*close)(struct store_conn *sc);
	/* The variants stored under q->key, and its marker. */
	struct store_req	*(*lookup)(struct store_conn *sc,
				    const struct store_query *q,
				    store_lookup_cb cb, void *arg);
	/*
	 * Store obj, replacing the object with the same primary and secondary
	 * key and clearing the key's hit-for-miss marker; the op takes over
	 * the caller's reference. A marker (store_obj_new_hfm) replaces only
	 * the key's marker. count: 1 if stored, 0 if not.
	 */
	struct store_req	*(*insert)(struct store_conn *sc,
				    struct store_obj *obj, int64_t now,
				    store_done_cb cb, void *arg);
	/* Drop the key, all variants and its marker. count: variants. */
	struct store_req	*(*remove)(struct store_conn *sc,
				    const void *key, size_t key_len,
				    store_done_cb cb, void *arg);
	/* Drop every object carrying tag. count: objects. */
	struct store_req	*(*purge_tag)(struct store_conn *sc,
				    const void *tag, size_t tag_len,
				    store_done_cb cb, void *arg);
	struct store_req	*(*stats)(struct store_conn *sc,
				    store_stats_cb cb, void *arg);
	/*
	 * Cross-instance coalescing: a lock per primary key that several
	 * processes sharing the store see (Redis). NULL in a store only one
	 * process uses (the memory store: the in-process coalescing covers
	 * it). lock takes key's fetch lock for ms, unless someone holds it:
	 * count is this holder's lock id (> 0) when taken, 0 when another
	 * holds it; STORE_ERROR: unknown (fetch without it). locked: count
	 * 1 while anyone holds it, 0 once it is gone. unlock releases the
	 * lock only if it is still the one id took (it may have expired and
	 * been taken by another since). Ops sent on one conn run in order:
	 * an unlock sent after an insert is seen after the insert.
	 */
	struct store_req	*(*lock)(struct store_conn *sc,
				    const void *key, size_t key_len,
				    uint64_t ms, store_done_cb cb, void *arg);
	struct store_req	*(*locked)(struct store_conn *sc,
				    const void *key, size_t key_len,
				    store_done_cb cb, void *arg);
	struct store_req	*(*unlock)(struct store_conn *sc,
				    const void *key, size_t key_len,
				    uint64_t id, store_done_cb cb, void *arg);
	/* The callback of req will not be called. */
	void		(*cancel)(struct store_conn *sc, struct store_req *req);
	/* After every conn is closed. Objects still referenced stay valid
	 * until their last reference drops. */
	void		(*destroy)(struct store *st);
};

/* Implementations put these first in their own structs. */
struct store {
	const struct store_ops	*ops;
};
struct store_conn {
	struct store		*st;
};

/* Calls through the table, so callers never name an implementation. */
static inline struct store_conn *
store_open(struct store *st, struct event_base *base)
{
	return (st->ops->open(st, base));
}

static inline void
store_close(struct store_conn *sc)
{
	sc->st->ops->close(sc);
}

static inline struct store_req *
store_lookup(struct store_conn *sc, const struct store_query *q,
    store_lookup_cb cb, void *arg)
{
	return (sc->st->ops->lookup(sc, q, cb, arg));
}

/* Takes the caller's reference: *objp is NULL afterwards (TAKE_OBJ). */
static inline struct store_req *
store_insert(struct store_conn *sc, struct store_obj **objp, int64_t now,
    store_done_cb cb, void *arg)
{
	struct store_obj *obj = *objp;

	*objp = NULL;
	return (sc->st->ops->insert(sc, obj, now, cb, arg));
}

static inline struct store_req *
store_remove(struct store_conn *sc, const void *key, size_t key_len,
    store_done_cb cb, void *arg)
{
	return (sc->st->ops->remove(sc, key, key_len, cb, arg));
}

static inline struct store_req *
store_purge_tag(struct store_conn *sc, const void *tag, size_t tag_len,
    store_done_cb cb, void *arg)
{
	return (sc->st->ops->purge_tag(sc, tag, tag_len, cb, arg));
}

static inline struct store_req *
store_get_stats(struct store_conn *sc, store_stats_cb cb, void *arg)
{
	return (sc->st->ops->stats(sc, cb, arg));
}

/* 1 if the store has the fetch lock (store_lock and the others). */
static inline int
store_has_lock(const struct store_conn *sc)
{
	return (sc->st->ops->lock != NULL);
}

static inline struct store_req *
store_lock(struct store_conn *sc, const void *key, size_t key_len,
    uint64_t ms, store_done_cb cb, void *arg)
{
	return (sc->st->ops->lock(sc, key, key_len, ms, cb, arg));
}

static inline struct store_req *
store_locked(struct store_conn *sc, const void *key, size_t key_len,
    store_done_cb cb, void *arg)
{
	return (sc->st->ops->locked(sc, key, key_len, cb, arg));
}

static inline struct store_req *
store_unlock(struct store_conn *sc, const void *key, size_t key_len,
    uint64_t id, store_done_cb cb, void *arg)
{
	return (sc->st->ops->unlock(sc, key, key_len, id, cb, arg));
}

static inline void
store_cancel(struct store_conn *sc, struct store_req *req)
{
	if (req != NULL)
		sc->st->ops->cancel(sc, req);
}

static inline void
store_destroy(struct store *st)
{
	if (st != NULL)
		st->ops->destroy(st);
}

/*
 * The memory store (store_mem.c): budget bytes in all (cache.size),
 * nshards a power of two (0: STORE_MEM_SHARDS). An object whose charge
 * exceeds the budget is rejected. NULL on allocation failure.
 */
#define STORE_MEM_SHARDS	64
struct store	*store_mem_new(uint64_t budget, unsigned nshards);
/* A new budget (reload of cache.size); objects over it are evicted at
 * once, least recently used first. Any thread. */
void		 store_mem_set_budget(struct store *st, uint64_t budget);
/*
 * The Redis store (store_redis.c, the data model of store_codec.h): ro
 * is where each worker's connection goes (redis.h; copied, its st, on_ready
 * and ready_arg ignored: each conn keeps its own), prefix starts every key
 * (cache.redis.prefix), max_object_size bounds the bodies written and
 * read back (cache.max_object_size). Every failure is a miss. NULL on
 * allocation failure.
 */
struct redis_opts;
struct stats;
struct store	*store_redis_new(const struct redis_opts *ro,
		    const char *prefix, uint64_t max_object_size);
/* A reload's cache.max_object_size. Any thread. */
void		 store_redis_set_max_object_size(struct store *st,
		    uint64_t max);
/* A Redis store conn counts its connection's commands, errors and round
 * trips into st (its worker's, written only by that thread). sc must
 * come from a Redis store. */
void		 store_redis_set_stats(struct store_conn *sc,
		    struct stats *st);
/*
 * Walk every shard and check the table against the counters (bytes and
 * objects add up, every object in its right bucket and in the LRU, budget
 * held). 0, or -1 with a reason in *why. For tests, while no op runs
 * (reservations in flight would not add up); takes each lock in turn.
 */
int		 store_mem_check(struct store *st, const char **why);

#endif
