/*
 * store_codec.h: what the Redis store (store_redis.c, issue 6) writes to
 * Redis: the binary value of a stored object, the primary-key record, the
 * key names and the TTLs. Pure code (libc and store.h's object; no
 * libevent, no hiredis), so every byte of it is unit-tested
 * (tests/unit/check_store_codec.c).
 *
 * Redis data model. P is cache.redis.prefix, H the 16 lowercase hex
 * digits of store_codec_hash(primary key), V those of
 * store_codec_hash(secondary key) (the empty key when there is no Vary).
 * The hash is store_hash() with seed 0: the same in every process and on
 * every host. "{H}" is a Redis Cluster hash tag: the keys of one URL live
 * in one slot, so a script may touch them all, including variant keys it
 * builds rather than receives in KEYS. Tag sets do not: vane targets one
 * Redis (or a primary with replicas), not Cluster.
 *
 *   P o:{H}:V  string  one variant: store_codec_encode() of the object.
 *                      EX store_codec_obj_ttl() (never 0: not stored).
 *   P k:{H}    string  the primary-key record: which V exist under H,
 *                      newest first, at most STORE_MAX_VARIANTS
 *                      (store_codec_rec_*). TTL only ever raised, to the
 *                      longest of its variants'.
 *   P m:{H}    string  the hit-for-miss marker: store_codec_encode() of
 *                      store_obj_new_hfm(). EX drop_after - now.
 *   P l:{H}    string  the cross-instance coalescing lock (below).
 *   P t:TAG    set     members "H:V", one per variant carrying TAG (the
 *                      tag verbatim, at most STORE_CODEC_TAG_MAX bytes).
 *                      TTL only ever raised, to the longest member's.
 *
 * Every value read back is decoded with the primary key the lookup asked
 * for: a 64-bit hash collision, a foreign writer, another vane version or
 * a damaged value is a miss, never the wrong response and never a crash.
 * The record is the only way to a variant: a variant whose record was
 * evicted or purged is unreachable even before Redis expires it.
 *
 * Lookup, one round trip always: EVALSHA of a read-only Lua script, KEYS
 * k:{H} and m:{H}, ARGV the hinted V (store_query.vary_hint; that of ""
 * without one). It GETs the record and the marker, then the hinted
 * variant if the record lists it and it still exists, else every listed
 * variant (at most 16), and returns { marker, values... }. C decodes
 * each value, drops what fails or whose drop_after has passed, and
 * Vary-matches the rest, as with the memory store.
 * Why a script, not a pipelined GET k + GET o:hint: (1) an insert is a
 * read-modify-write of the record (put V first, cap at 16, delete the
 * evicted variant) by several instances at once. Without server-side
 * atomicity concurrent inserts lose variants, and WATCH cannot protect
 * it: WATCH is per connection, so on a worker's one pipelined connection
 * one insert's EXEC drops another's WATCH, and it costs a second round
 * trip. Scripts are needed for insert anyway. (2) With them a lookup is
 * one round trip in every case, not only when the hint is right, and
 * sees record and variants in one state (no purge between the reads).
 * The cost: SCRIPT LOAD on every (re)connect, and EVAL when a reply says
 * NOSCRIPT (a restarted Redis forgets scripts); a script blocks Redis
 * while it runs, so each is bounded: lookup <= 18 GETs, insert
 * O(variants + tags), purge by tag in batches. The record keeps V as hex
 * so the scripts build key names by concatenation, no byte arithmetic.
 *
 * Insert of a variant: EVALSHA (KEYS o:{H}:V, k:{H}, m:{H}, t:TAG...;
 * ARGV V, value, ttl, "H:V"): SET o EX ttl; the record gets V first
 * (store_codec_rec_add()), an evicted variant is DELeted, entries whose
 * o-key no longer EXISTS are dropped; record TTL raised to ttl; DEL the
 * marker; SADD each tag set and raise its TTL; SREM up to 4 random
 * members of each tag set whose o-key is gone, so a busy tag's set stays
 * near its live size. A marker: plain SET m:{H} value EX ttl.
 *
 * Purge, seen by every instance at once since they all read the same
 * keys. By URL: a script reads the record and DELs it, every variant it
 * lists and the marker (count: variants). By tag: a script SPOPs up to
 * 256 members of t:TAG and DELs their o-keys, returning how many it
 * deleted and how many are left; the caller repeats until none are left
 * (no SCAN: O(members), never O(keyspace)). Stale record entries are
 * harmless (the variant reads as nil) and the next insert prunes them.
 * Sets rather than a tag index inside the values: purge by tag must not
 * read every object, and a set is the index Redis keeps for us. Caveat:
 * under maxmemory-policy allkeys-lru Redis may evict a tag set before its
 * members, and a later purge of that tag misses them until they expire.
 * (An in-process tier in front of Redis would also need a Pub/Sub
 * channel P purge to drop its copies.)
 *
 * Cross-instance coalescing: a lookup that finds no usable variant and
 * no marker takes SET l:{H} TOKEN NX PX ms (TOKEN: host, pid, worker and
 * a counter; ms: the backend response timeout, bounded). OK: this
 * instance fetches, inserts (or, not storable, writes the marker), then
 * releases with a compare-and-DEL script (only its own TOKEN). nil:
 * another instance fetches; look up again after 5, 10, 20... ms until a
 * variant or the marker appears (marker: go to the backend directly), or
 * the lock is gone or ms has passed: then fetch without waiting further.
 *
 * TTLs (store_codec_obj_ttl, from cache_keep_for()): freshness lifetime
 * left + the longest stale allowance (stale-while-revalidate,
 * stale-if-error; none under must-revalidate/no-cache) + a day for
 * responses with a validator, to be revalidated with a 304 rather than
 * fetched again; the same time the memory store's drop_after gets, so
 * Redis evicts what can no longer be used.
 */
#ifndef VANE_STORE_CODEC_H
#define VANE_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cache_policy.h"
#include "store.h"

/*
 * The value of a variant (and of a marker), version 1. All integers
 * little-endian, fields packed, never a memcpy of a struct:
 *
 *   off  size
 *     0   4  magic "vno" + version 0x01
 *     4   4  flags: 0x1 hit-for-miss marker (STORE_OBJ_HFM); others 0
 *     8   8  drop_after (i64)
 *    16  72  cache_meta: request_time, response_time, date_value,
 *            age_value, corrected_initial_age, freshness_lifetime,
 *            last_modified, swr, sie (i64 each, in this order)
 *    88   4  meta.flags (CM_* only)
 *    92   2  meta.status (100..999, or 0 for a marker)
 *    94   1  meta.cc_source (enum cache_cc_source)
 *    95   1  ntags (<= STORE_MAX_TAGS)
 *    96   4  key_len (1..STORE_CODEC_KEY_MAX)
 *   100   4  head_len (<= STORE_CODEC_HEAD_MAX)
 *   104   4  wire_len (<= head_len; see store_obj)
 *   108   4  vary_len (<= STORE_CODEC_VARY_MAX)
 *   112   4  body_len (<= STORE_CODEC_BODY_MAX)
 *   116      key, head, vary; ntags x (u16 len (1..STORE_CODEC_TAG_MAX),
 *            tag); body. Nothing after it.
 *
 * A marker has no head, vary, tags or body. Times are bounded
 * (|t| <= 2^40 s) so that the policy's arithmetic on a decoded value
 * cannot overflow.
 */
#define STORE_CODEC_VERSION	1
#define STORE_CODEC_HDR		116
#define STORE_CODEC_KEY_MAX	(1u << 20)	/* limits.header_size <= 1M */
#define STORE_CODEC_HEAD_MAX	(2u << 20)
#define STORE_CODEC_VARY_MAX	(1u << 20)
#define STORE_CODEC_TAG_MAX	1024		/* per tag, as Fastly's keys */
/* Redis' default proto-max-bulk-len is 512 MiB for the whole value. */
#define STORE_CODEC_BODY_MAX	(448u << 20)
#define STORE_CODEC_TIME_MAX	(1LL << 40)

/* Why a value was refused (store_codec_decode). */
enum store_codec_err {
	STORE_CODEC_OK = 0,
	STORE_CODEC_TRUNCATED,	/* ends before its lengths say */
	STORE_CODEC_TRAILING,	/* bytes after the body */
	STORE_CODEC_FOREIGN,	/* not our magic: someone else's value */
	STORE_CODEC_VERSION_SKEW,	/* our magic, another version */
	STORE_CODEC_LIMIT,	/* a length or the tag count over its limit */
	STORE_CODEC_CORRUPT,	/* a field out of range, wire_len > head_len */
	STORE_CODEC_KEY,	/* another primary key (collision, foreign) */
	STORE_CODEC_NOMEM
};

/* A short name for logs and counters ("truncated", ...). */
const char	*store_codec_strerror(int err);

/*
 * Bytes store_codec_encode() writes for obj, or 0 if obj cannot be
 * encoded (no key, a length or tag over its limit, a cache_meta field out
 * of range: what decode would refuse is never written).
 */
size_t		 store_codec_size(const struct store_obj *obj);

/*
 * Write obj into out[0..cap), which the caller provides so that the
 * Redis store can encode straight into the command it formats (one copy
 * of the body; see redisAsyncFormattedCommand). Returns the length
 * written (store_codec_size(obj)), or 0 if obj cannot be encoded or cap
 * is too small (then out is left unspecified).
 */
size_t		 store_codec_encode(const struct store_obj *obj, void *out,
		    size_t cap);

/*
 * A new object (one reference, one allocation, by store_obj_new) from
 * p[0..len), whose primary key must be key[0..key_len) and whose body
 * must not exceed max_body (cache.max_object_size); or NULL with the
 * reason in *err (err may be NULL). Never reads outside p[0..len) and
 * never allocates before the whole value has been checked. Expiry
 * (drop_after <= now) is the caller's test, as in the memory store.
 */
struct store_obj	*store_codec_decode(const void *p, size_t len,
			    const void *key, size_t key_len, uint64_t max_body,
			    int *err);

/*
 * The primary-key record, version 1: magic "vnk" + version 0x01, n (one
 * byte, <= STORE_MAX_VARIANTS), then n secondary-key hashes as 16
 * lowercase hex digits each, newest first, no two equal. Exactly
 * 5 + 16n bytes.
 */
#define STORE_CODEC_REC_VERSION	1
#define STORE_CODEC_REC_MAX	(5 + 16 * STORE_MAX_VARIANTS)

struct store_codec_rec {
	unsigned	 n;
	uint64_t	 v[STORE_MAX_VARIANTS];	/* newest first */
};

/* Write r to out[0..cap): its length, or 0 if r is invalid or cap too
 * small. STORE_CODEC_REC_MAX always suffices. */
size_t	store_codec_rec_encode(const struct store_codec_rec *r, void *out,
	    size_t cap);
/* Read p[0..len) into r: 0, or -1 (r then empty) for anything but a
 * valid version 1 record. */
int	store_codec_rec_decode(struct store_codec_rec *r, const void *p,
	    size_t len);
/*
 * What the insert script does to the record: put v first (moving it if
 * listed) and, when that makes STORE_MAX_VARIANTS + 1, drop the oldest.
 * Returns 1 with the dropped hash in *evicted (its variant is DELeted),
 * or 0.
 */
int	store_codec_rec_add(struct store_codec_rec *r, uint64_t v,
	    uint64_t *evicted);

/*
 * Key names. Each writes prefix then the rest to out[0..cap), with a NUL
 * after it (not counted), and returns the length, or -1 if it does not
 * fit. Binary-safe: pass the length to Redis, not the NUL.
 */
#define STORE_CODEC_HASH_HEX	16

enum store_codec_kind {
	STORE_CODEC_KEY_OBJ = 'o',	/* P o:{H}:V, v used */
	STORE_CODEC_KEY_REC = 'k',	/* P k:{H} */
	STORE_CODEC_KEY_MARKER = 'm',	/* P m:{H} */
	STORE_CODEC_KEY_LOCK = 'l'	/* P l:{H} */
};

/* store_hash(p, len, 0): the same in every process and on every host. */
uint64_t	store_codec_hash(const void *p, size_t len);
/* kind is a store_codec_kind; h hashes the primary key, v the secondary
 * key (ignored unless kind is STORE_CODEC_KEY_OBJ). */
int		store_codec_key(char *out, size_t cap, const char *prefix,
		    int kind, uint64_t h, uint64_t v);
/* P t:TAG; -1 too for an empty tag or one over STORE_CODEC_TAG_MAX. */
int		store_codec_key_tag(char *out, size_t cap, const char *prefix,
		    const void *tag, size_t len);
/* "H:V", a member of the tag sets (no prefix). */
int		store_codec_tag_member(char *out, size_t cap, uint64_t h,
		    uint64_t v);

/*
 * TTLs in seconds, for EX. store_codec_ttl: cache_keep_for(cm, now)
 * (freshness left + the longest stale allowance + the revalidation keep
 * for an object with a validator), or 0 when nothing is left: do not
 * store. store_codec_obj_ttl: for a marker drop_after - now; for a
 * variant the smaller of that and store_codec_ttl(&obj->meta, now), so
 * Redis never keeps it past the time its inserter gave it; 0: do not
 * store.
 */
int64_t		store_codec_ttl(const struct cache_meta *cm, int64_t now);
int64_t		store_codec_obj_ttl(const struct store_obj *obj, int64_t now);

#endif
