/*
 * store_redis.c: the Redis store (L2), the store.h ops table over one
 * asynchronous Redis connection per worker (redis.c). It implements the
 * data model of store_codec.h: every op is one Lua script (EVALSHA), so
 * a lookup is one round trip and an insert is atomic however many
 * instances write the same URL. The scripts are loaded (SCRIPT LOAD) on
 * every (re)connect, before anything else is sent on the connection;
 * a NOSCRIPT reply (SCRIPT FLUSH behind our back) is answered by sending
 * the same op once more as EVAL, which also caches the script again.
 *
 * Failure is a miss: Redis down, slow (the command timeout), an error
 * reply or a value that does not decode is STORE_ERROR, or an empty or
 * smaller hit, never a crash. Values are decoded against the key the
 * lookup asked for (store_codec_decode), so a foreign or damaged value
 * is dropped.
 *
 * A pending op is a struct store_req on its conn's list; store_cancel()
 * cancels its Redis command (redis_cancel) and frees it, so its callback
 * never runs. Ops on a conn run on its worker's thread only.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "redis.h"
#include "stats.h"
#include "store.h"
#include "store_codec.h"

#define STORE_REQ_MAGIC		0x73726571u
/* Rounds of 256 members at most: a bound, not a goal. */
#define PURGE_ROUNDS_MAX	100000
#define ARGV_MAX		(6 + 3 + STORE_MAX_TAGS + 6)
#define SHA_LEN			40

/*
 * The scripts. Record format (store_codec_rec_*): "vnk\1", n, then n
 * hashes of 16 hex digits, newest first. They check it as far as they
 * use it; C checks every value they return.
 */
enum { SC_LOOKUP, SC_INSERT, SC_REMOVE, SC_PURGE_TAG, SC_UNLOCK, SC_N };

#define LUA_REC \
	"local function rec_list(rec)\n" \
	"  local l = {}\n" \
	"  if not rec or #rec < 5 or string.sub(rec, 1, 4) ~= 'vnk\\1' then\n" \
	"    return l end\n" \
	"  local n = string.byte(rec, 5)\n" \
	"  if n > 16 or #rec ~= 5 + 16 * n then return l end\n" \
	"  for i = 0, n - 1 do\n" \
	"    l[#l + 1] = string.sub(rec, 6 + 16 * i, 21 + 16 * i) end\n" \
	"  return l\n" \
	"end\n"

/*
 * Lookup. KEYS: k:{H}, m:{H}. ARGV: the o-key prefix "P o:{H}:", the
 * hinted V, "1" if the caller gave the hint ("0": the no-Vary default).
 * Returns { marker or nil, values... }: the hinted variant alone when the
 * record lists it (a default hint only when it is the newest entry, since
 * a newer variant would be the caller's first match) and it exists, else
 * every listed variant that exists, newest first.
 */
static const char lua_lookup[] = LUA_REC
	"local l = rec_list(redis.call('GET', KEYS[1]))\n"
	"local out = { redis.call('GET', KEYS[2]) }\n"
	"for i, v in ipairs(l) do\n"
	"  if v == ARGV[2] and (i == 1 or ARGV[3] == '1') then\n"
	"    local x = redis.call('GET', ARGV[1] .. v)\n"
	"    if x then out[2] = x; return out end\n"
	"    break\n"
	"  end\n"
	"end\n"
	"for _, v in ipairs(l) do\n"
	"  local x = redis.call('GET', ARGV[1] .. v)\n"
	"  if x then out[#out + 1] = x end\n"
	"end\n"
	"return out\n";

/*
 * Insert a variant. KEYS: o:{H}:V, k:{H}, m:{H}, t:TAG... ARGV: V, the
 * value, ttl, the tag member "H:V", the o-key prefix "P o:{H}:", P.
 * Returns the number of variants evicted by the cap.
 */
static const char lua_insert[] = LUA_REC
	"local ttl = tonumber(ARGV[3])\n"
	"redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)\n"
	"local l = rec_list(redis.call('GET', KEYS[2]))\n"
	"local new, ev = { ARGV[1] }, 0\n"
	"for _, v in ipairs(l) do\n"
	"  if v ~= ARGV[1] then\n"
	"    if #new < 16 then\n"
	"      if redis.call('EXISTS', ARGV[5] .. v) == 1 then\n"
	"        new[#new + 1] = v end\n"
	"    else\n"
	"      ev = ev + redis.call('DEL', ARGV[5] .. v)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"local kt = redis.call('TTL', KEYS[2])\n"
	"if kt < ttl then kt = ttl end\n"
	"redis.call('SET', KEYS[2], 'vnk\\1' .. string.char(#new) ..\n"
	"  table.concat(new), 'EX', kt)\n"
	"redis.call('DEL', KEYS[3])\n"
	"for i = 4, #KEYS do\n"
	"  redis.call('SADD', KEYS[i], ARGV[4])\n"
	"  if redis.call('TTL', KEYS[i]) < ttl then\n"
	"    redis.call('EXPIRE', KEYS[i], ttl) end\n"
	"  for _, m in ipairs(redis.call('SRANDMEMBER', KEYS[i], 4)) do\n"
	"    if m ~= ARGV[4] and #m == 33 and redis.call('EXISTS', ARGV[6] ..\n"
	"        'o:{' .. string.sub(m, 1, 16) .. '}:' ..\n"
	"        string.sub(m, 18, 33)) == 0 then\n"
	"      redis.call('SREM', KEYS[i], m) end\n"
	"  end\n"
	"end\n"
	"return ev\n";

/* Remove a URL. KEYS: k:{H}, m:{H}. ARGV: "P o:{H}:". Returns the
 * variants deleted. */
static const char lua_remove[] = LUA_REC
	"local n = 0\n"
	"for _, v in ipairs(rec_list(redis.call('GET', KEYS[1]))) do\n"
	"  n = n + redis.call('DEL', ARGV[1] .. v) end\n"
	"redis.call('DEL', KEYS[1], KEYS[2])\n"
	"return n\n";

/* Purge a batch of a tag. KEYS: t:TAG. ARGV: P. Returns { deleted,
 * members left }; the caller repeats while some are left. */
static const char lua_purge_tag[] =
	"local n = 0\n"
	"for _, m in ipairs(redis.call('SPOP', KEYS[1], 256)) do\n"
	"  if #m == 33 then\n"
	"    n = n + redis.call('DEL', ARGV[1] .. 'o:{' ..\n"
	"      string.sub(m, 1, 16) .. '}:' .. string.sub(m, 18, 33)) end\n"
	"end\n"
	"return { n, redis.call('SCARD', KEYS[1]) }\n";

/* Release a fetch lock if it is still ours. KEYS: l:{H}. ARGV: the
 * holder's token. Returns 1 if released. */
static const char lua_unlock[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

static const char *const scripts[SC_N] = {
	lua_lookup, lua_insert, lua_remove, lua_purge_tag, lua_unlock
};

/* A lock's value: this process's token, ':', the lock id in decimal. */
#define TOKEN_LEN	32
#define LOCKVAL_MAX	(TOKEN_LEN + 1 + 20 + 1)

struct store_redis {
	struct store		 base;
	struct redis_opts	 ro;		/* strings owned */
	char			*prefix;
	_Atomic uint64_t	 max_body;	/* a reload may change it */
	char			 token[TOKEN_LEN + 1];	/* this process */
	struct redis_log	 log;		/* its conns log as one */
	_Atomic uint64_t	 lock_seq;	/* lock ids, from 1 */
	_Atomic uint64_t	 inserts, evictions, expired, purged, rejected;
	_Atomic uint64_t	 bad_values;
};

TAILQ_HEAD(rs_reqs, store_req);

struct rs_conn;
struct rs_load {
	struct rs_conn		*conn;
	struct redis_req	*rr;		/* SCRIPT LOAD in flight */
};

struct rs_conn {
	struct store_conn	 base;
	struct redis_conn	*rc;
	struct stats		 own_st;
	struct rs_reqs		 reqs;		/* pending ops */
	struct rs_load		 load[SC_N];
	char			 sha[SC_N][SHA_LEN + 1]; /* "": none */
};

/* K_MARKER, K_LOCK and K_LOCKED send argv as it is, no script. */
enum rs_kind { K_LOOKUP, K_DONE, K_PURGE_TAG, K_MARKER, K_LOCK, K_LOCKED };

struct store_req {
	unsigned		 magic;
	enum rs_kind		 kind;
	int			 script;
	int			 evaled;	/* sent as EVAL (NOSCRIPT) */
	struct rs_conn		*conn;
	struct redis_req	*rr;		/* the command in flight */
	store_lookup_cb		 lcb;
	store_done_cb		 dcb;
	void			*arg;
	int64_t			 now;
	uint64_t		 count;
	unsigned		 rounds;
	char			*key;		/* lookup: primary key */
	size_t			 key_len;
	char			*blob;		/* argv points into it */
	int			 argc;
	const char		*argv[ARGV_MAX];
	size_t			 argvlen[ARGV_MAX];
	TAILQ_ENTRY(store_req)	 link;
};

#define ADD(x, n)	atomic_fetch_add_explicit(&(x), (n), \
			    memory_order_relaxed)
#define LOAD(x)		atomic_load_explicit(&(x), memory_order_relaxed)

static const struct store_ops store_redis_ops;

static struct store_redis *
conn_store(struct rs_conn *c)
{
	return ((struct store_redis *)c->base.st);
}

/* ------------------------------------------------------------ scripts */

static void
load_cb(void *arg, enum redis_status status, const struct redisReply *r)
{
	struct rs_load *l = arg;
	struct rs_conn *c = l->conn;
	int i = (int)(l - c->load);

	l->rr = NULL;
	if (status != REDIS_REPLIED || r == NULL ||
	    r->type != REDIS_REPLY_STRING || r->len != SHA_LEN) {
		log_warn("redis store: SCRIPT LOAD failed (%s): using EVAL",
		    status == REDIS_REJECTED && r != NULL && r->str != NULL ?
		    r->str : redis_status_str(status));
		return;
	}
	memcpy(c->sha[i], r->str, SHA_LEN);
	c->sha[i][SHA_LEN] = '\0';
}

/* redis_opts.on_ready: SCRIPT LOAD each script, first on the wire. */
static void
on_ready(void *arg)
{
	struct rs_conn *c = arg;
	const char *argv[3];
	size_t len[3];
	int i;

	for (i = 0; i < SC_N; i++) {
		if (c->load[i].rr != NULL)
			continue;
		argv[0] = "SCRIPT";
		len[0] = 6;
		argv[1] = "LOAD";
		len[1] = 4;
		argv[2] = scripts[i];
		len[2] = strlen(scripts[i]);
		c->load[i].conn = c;
		c->load[i].rr = redis_command(c->rc, load_cb, &c->load[i], 3,
		    argv, len);
	}
}

/* ----------------------------------------------------------- requests */

static struct store_req *
req_new(struct rs_conn *c, enum rs_kind kind, int script, size_t blob)
{
	struct store_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	if (blob > 0 && (r->blob = malloc(blob)) == NULL) {
		free(r);
		return (NULL);
	}
	r->magic = STORE_REQ_MAGIC;
	r->kind = kind;
	r->script = script;
	r->conn = c;
	return (r);
}

static void
req_free(struct store_req *r)
{
	r->magic = 0;
	free(r->key);
	free(r->blob);
	free(r);
}

static void
arg_add(struct store_req *r, const void *p, size_t len)
{
	r->argv[r->argc] = p;
	r->argvlen[r->argc++] = len;
}

/* A hit with nothing in it, with status. */
static void
finish_lookup(struct store_req *r, struct store_hit *hit)
{
	store_lookup_cb cb = r->lcb;
	void *arg = r->arg;
	int i;

	TAILQ_REMOVE(&r->conn->reqs, r, link);
	req_free(r);
	cb(arg, hit);
	for (i = 0; i < hit->n; i++)
		store_obj_unref(hit->v[i]);
}

static void
finish_done(struct store_req *r, int status, uint64_t count)
{
	store_done_cb cb = r->dcb;
	void *arg = r->arg;

	TAILQ_REMOVE(&r->conn->reqs, r, link);
	req_free(r);
	if (cb != NULL)
		cb(arg, status, count);
}

static void	reply_cb(void *, enum redis_status,
		    const struct redisReply *);

/*
 * Send r's command: EVALSHA when the script's SHA is known and no
 * NOSCRIPT came back for r, else EVAL. 0: pending; -1: its callback has
 * run already and r is freed.
 */
static int
req_send(struct store_req *r)
{
	struct rs_conn *c = r->conn;
	struct redis_req *rr;

	if (r->kind == K_MARKER || r->kind == K_LOCK || r->kind == K_LOCKED) {
		/* argv is the whole command already. */
	} else if (c->sha[r->script][0] != '\0' && !r->evaled) {
		r->argv[0] = "EVALSHA";
		r->argvlen[0] = 7;
		r->argv[1] = c->sha[r->script];
		r->argvlen[1] = SHA_LEN;
	} else {
		r->argv[0] = "EVAL";
		r->argvlen[0] = 4;
		r->argv[1] = scripts[r->script];
		r->argvlen[1] = strlen(scripts[r->script]);
	}
	r->rr = NULL;
	if ((rr = redis_command(c->rc, reply_cb, r, r->argc, r->argv,
	    r->argvlen)) == NULL)
		return (-1);
	r->rr = rr;
	return (0);
}

/* Link r and send it; what the op returns. */
static struct store_req *
req_start(struct store_req *r)
{
	TAILQ_INSERT_TAIL(&r->conn->reqs, r, link);
	if (req_send(r) == -1)
		return (NULL);
	return (r);
}

/* Decode one value of a lookup reply into hit. */
static void
take_value(struct store_req *r, const struct redisReply *v, int marker,
    struct store_hit *hit)
{
	struct store_redis *sr = conn_store(r->conn);
	struct store_obj *o;
	int err;

	if (v->type == REDIS_REPLY_NIL)
		return;
	if (v->type != REDIS_REPLY_STRING || (o = store_codec_decode(v->str,
	    v->len, r->key, r->key_len, sr->max_body, &err)) == NULL) {
		ADD(sr->bad_values, 1);
		log_debug("redis store: value dropped: %s",
		    v->type == REDIS_REPLY_STRING ? store_codec_strerror(err) :
		    "not a string");
		return;
	}
	if (o->drop_after <= r->now) {
		ADD(sr->expired, 1);
		store_obj_unref(o);
	} else if (marker != ((o->flags & STORE_OBJ_HFM) != 0)) {
		/* A marker where a variant belongs, or the reverse. */
		ADD(sr->bad_values, 1);
		store_obj_unref(o);
	} else if (marker) {
		hit->hfm = 1;
		hit->hfm_until = o->drop_after;
		store_obj_unref(o);
	} else if (hit->n < STORE_MAX_VARIANTS)
		hit->v[hit->n++] = o;
	else
		store_obj_unref(o);
}

static void
lookup_reply(struct store_req *r, const struct redisReply *reply)
{
	struct store_hit hit;
	size_t i;

	memset(&hit, 0, sizeof(hit));
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 1) {
		hit.status = STORE_ERROR;
		finish_lookup(r, &hit);
		return;
	}
	for (i = 0; i < reply->elements; i++)
		take_value(r, reply->element[i], i == 0, &hit);
	hit.status = hit.n > 0 || hit.hfm ? STORE_OK : STORE_MISS;
	finish_lookup(r, &hit);
}

/* A purge_tag batch: { deleted, left }; another round while any left. */
static void
purge_reply(struct store_req *r, const struct redisReply *reply)
{
	struct store_redis *sr = conn_store(r->conn);
	long long n, left;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		finish_done(r, STORE_ERROR, r->count);
		return;
	}
	n = reply->element[0]->integer;
	left = reply->element[1]->integer;
	if (n > 0) {
		r->count += (uint64_t)n;
		ADD(sr->purged, (uint64_t)n);
	}
	if (left > 0 && ++r->rounds < PURGE_ROUNDS_MAX) {
		(void)req_send(r);	/* -1: finished as an error */
		return;
	}
	finish_done(r, STORE_OK, r->count);
}

static void
done_reply(struct store_req *r, const struct redisReply *reply)
{
	struct store_redis *sr = conn_store(r->conn);
	long long n;

	if (r->kind == K_MARKER) {
		if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
			finish_done(r, STORE_ERROR, 0);
			return;
		}
		ADD(sr->inserts, 1);
		finish_done(r, STORE_OK, 1);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		finish_done(r, STORE_ERROR, 0);
		return;
	}
	n = reply->integer > 0 ? reply->integer : 0;
	if (r->script == SC_INSERT) {
		ADD(sr->inserts, 1);
		ADD(sr->evictions, (uint64_t)n);
		finish_done(r, STORE_OK, 1);
	} else if (r->script == SC_UNLOCK) {
		finish_done(r, STORE_OK, (uint64_t)n);
	} else {
		ADD(sr->purged, (uint64_t)n);
		finish_done(r, STORE_OK, (uint64_t)n);
	}
}

/*
 * SET NX PX: "OK" took it (count: the id, in r->count), nil: another
 * holds it (0). EXISTS: 1 held, 0 gone.
 */
static void
lock_reply(struct store_req *r, const struct redisReply *reply)
{
	if (reply == NULL)
		finish_done(r, STORE_ERROR, 0);
	else if (r->kind == K_LOCKED && reply->type == REDIS_REPLY_INTEGER)
		finish_done(r, STORE_OK, reply->integer > 0);
	else if (r->kind == K_LOCK && reply->type == REDIS_REPLY_STATUS)
		finish_done(r, STORE_OK, r->count);
	else if (r->kind == K_LOCK && reply->type == REDIS_REPLY_NIL)
		finish_done(r, STORE_OK, 0);
	else
		finish_done(r, STORE_ERROR, 0);
}

static int
is_noscript(enum redis_status status, const struct redisReply *reply)
{
	return (status == REDIS_REJECTED && reply != NULL &&
	    reply->str != NULL && strncmp(reply->str, "NOSCRIPT", 8) == 0);
}

static void
reply_cb(void *arg, enum redis_status status, const struct redisReply *reply)
{
	struct store_req *r = arg;

	r->rr = NULL;
	if (is_noscript(status, reply) && !r->evaled && r->kind != K_MARKER &&
	    r->kind != K_LOCK && r->kind != K_LOCKED) {
		/* Redis forgot the script (SCRIPT FLUSH): once as EVAL,
		 * which caches it again; reload for the others. */
		r->evaled = 1;
		r->conn->sha[r->script][0] = '\0';
		on_ready(r->conn);
		(void)req_send(r);
		return;
	}
	if (status != REDIS_REPLIED) {
		if (status == REDIS_REJECTED && reply != NULL &&
		    reply->str != NULL)
			log_debug("redis store: %s", reply->str);
		reply = NULL;	/* every failure: an error, a miss */
	}
	switch (r->kind) {
	case K_LOOKUP:
		lookup_reply(r, reply);
		break;
	case K_PURGE_TAG:
		purge_reply(r, reply);
		break;
	case K_LOCK:
	case K_LOCKED:
		lock_reply(r, reply);
		break;
	default:
		done_reply(r, reply);
		break;
	}
}

/* ---------------------------------------------------------------- ops */

/* The o-key prefix "P o:{H}:" (a key name with V cut off). */
static int
okey_prefix(char *out, size_t cap, const char *prefix, uint64_t h)
{
	int n;

	if ((n = store_codec_key(out, cap, prefix, STORE_CODEC_KEY_OBJ, h,
	    0)) == -1)
		return (-1);
	n -= STORE_CODEC_HASH_HEX;
	out[n] = '\0';
	return (n);
}

static void
put_hex(char *out, uint64_t v)
{
	static const char hexdig[] = "0123456789abcdef";
	int i;

	for (i = STORE_CODEC_HASH_HEX - 1; i >= 0; i--, v >>= 4)
		out[i] = hexdig[v & 0xf];
	out[STORE_CODEC_HASH_HEX] = '\0';
}

/* Room for one key name under the prefix (tags excluded). */
static size_t
keycap(const struct store_redis *sr)
{
	return (strlen(sr->prefix) + 64);
}

static struct store_req *
lookup_fail(store_lookup_cb cb, void *arg)
{
	struct store_hit hit;

	memset(&hit, 0, sizeof(hit));
	hit.status = STORE_ERROR;
	cb(arg, &hit);
	return (NULL);
}

static struct store_req *
rs_lookup(struct store_conn *sc, const struct store_query *q,
    store_lookup_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t kc = keycap(sr);
	char *k, *m, *o, *hint;
	uint64_t h, v;
	int nk, nm, no;

	if (q->key_len == 0 ||
	    (r = req_new(c, K_LOOKUP, SC_LOOKUP, 3 * kc + 20)) == NULL)
		return (lookup_fail(cb, arg));
	if ((r->key = malloc(q->key_len)) == NULL) {
		req_free(r);
		return (lookup_fail(cb, arg));
	}
	memcpy(r->key, q->key, q->key_len);
	r->key_len = q->key_len;
	r->now = q->now;
	r->lcb = cb;
	r->arg = arg;
	h = store_codec_hash(q->key, q->key_len);
	v = store_codec_hash(q->vary_hint != NULL ? q->vary_hint : "",
	    q->vary_hint != NULL ? q->vary_hint_len : 0);
	k = r->blob;
	m = k + kc;
	o = m + kc;
	hint = o + kc;
	nk = store_codec_key(k, kc, sr->prefix, STORE_CODEC_KEY_REC, h, 0);
	nm = store_codec_key(m, kc, sr->prefix, STORE_CODEC_KEY_MARKER, h, 0);
	no = okey_prefix(o, kc, sr->prefix, h);
	put_hex(hint, v);
	if (nk == -1 || nm == -1 || no == -1) {
		req_free(r);
		return (lookup_fail(cb, arg));
	}
	r->argc = 2;
	arg_add(r, "2", 1);
	arg_add(r, k, (size_t)nk);
	arg_add(r, m, (size_t)nm);
	arg_add(r, o, (size_t)no);
	arg_add(r, hint, STORE_CODEC_HASH_HEX);
	arg_add(r, q->vary_hint != NULL ? "1" : "0", 1);
	return (req_start(r));
}

static struct store_req *
insert_reject(struct store_redis *sr, struct store_obj *obj,
    store_done_cb cb, void *arg)
{
	ADD(sr->rejected, 1);
	store_obj_unref(obj);
	if (cb != NULL)
		cb(arg, STORE_REJECTED, 0);
	return (NULL);
}

/* The marker: SET m:{H} value EX ttl, no script. */
static struct store_req *
insert_marker(struct rs_conn *c, struct store_obj *obj, int64_t ttl,
    size_t size, store_done_cb cb, void *arg)
{
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t kc = keycap(sr);
	char *m, *val, *ex;
	int nm;

	if ((r = req_new(c, K_MARKER, 0, kc + 24 + size)) == NULL)
		return (insert_reject(sr, obj, cb, arg));
	m = r->blob;
	ex = m + kc;
	val = ex + 24;
	nm = store_codec_key(m, kc, sr->prefix, STORE_CODEC_KEY_MARKER,
	    store_codec_hash(obj->key, obj->key_len), 0);
	if (nm == -1 || store_codec_encode(obj, val, size) != size) {
		req_free(r);
		return (insert_reject(sr, obj, cb, arg));
	}
	snprintf(ex, 24, "%" PRId64, ttl);
	store_obj_unref(obj);
	r->dcb = cb;
	r->arg = arg;
	arg_add(r, "SET", 3);
	arg_add(r, m, (size_t)nm);
	arg_add(r, val, size);
	arg_add(r, "EX", 2);
	arg_add(r, ex, strlen(ex));
	return (req_start(r));
}

/* Key names and ARGV of the insert script into r->blob; -1 on overflow. */
static int
insert_args(struct store_req *r, struct store_redis *sr,
    const struct store_obj *obj, size_t kc, size_t tagcap, int64_t ttl,
    size_t size)
{
	char *p = r->blob, *okey, *k, *mk, *vhex, *ttls, *mbr, *opre, *val;
	uint64_t h = store_codec_hash(obj->key, obj->key_len);
	uint64_t v = store_codec_hash(obj->vary, obj->vary_len);
	int no, nk, nm, np, nmbr, nt;
	unsigned i;

	okey = p; p += kc;
	k = p; p += kc;
	mk = p; p += kc;
	opre = p; p += kc;
	vhex = p; p += STORE_CODEC_HASH_HEX + 1;
	ttls = p; p += 24;
	mbr = p; p += 2 * STORE_CODEC_HASH_HEX + 2;
	no = store_codec_key(okey, kc, sr->prefix, STORE_CODEC_KEY_OBJ, h, v);
	nk = store_codec_key(k, kc, sr->prefix, STORE_CODEC_KEY_REC, h, 0);
	nm = store_codec_key(mk, kc, sr->prefix, STORE_CODEC_KEY_MARKER, h, 0);
	np = okey_prefix(opre, kc, sr->prefix, h);
	nmbr = store_codec_tag_member(mbr, 2 * STORE_CODEC_HASH_HEX + 2, h, v);
	put_hex(vhex, v);
	snprintf(ttls, 24, "%" PRId64, ttl);
	if (no == -1 || nk == -1 || nm == -1 || np == -1 || nmbr == -1)
		return (-1);
	r->argc = 2;
	arg_add(r, NULL, 0);	/* numkeys, below */
	arg_add(r, okey, (size_t)no);
	arg_add(r, k, (size_t)nk);
	arg_add(r, mk, (size_t)nm);
	for (i = 0; i < obj->ntags; i++) {
		if ((nt = store_codec_key_tag(p, tagcap, sr->prefix,
		    obj->tags[i].p, obj->tags[i].len)) == -1)
			return (-1);
		arg_add(r, p, (size_t)nt);
		p += tagcap;
	}
	snprintf(p, 8, "%u", 3 + obj->ntags);
	r->argv[2] = p;
	r->argvlen[2] = strlen(p);
	p += 8;
	val = p;
	if (store_codec_encode(obj, val, size) != size)
		return (-1);
	arg_add(r, vhex, STORE_CODEC_HASH_HEX);
	arg_add(r, val, size);
	arg_add(r, ttls, strlen(ttls));
	arg_add(r, mbr, (size_t)nmbr);
	arg_add(r, opre, (size_t)np);
	arg_add(r, sr->prefix, strlen(sr->prefix));
	return (0);
}

/*
 * Never written: a body over cache.max_object_size, an object with no
 * time left (TTL 0) or one the codec refuses.
 */
static struct store_req *
rs_insert(struct store_conn *sc, struct store_obj *obj, int64_t now,
    store_done_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t size, kc = keycap(sr), tagcap;
	int64_t ttl;

	CHECK_STORE_OBJ(obj);
	if (obj->body_len > sr->max_body ||
	    (ttl = store_codec_obj_ttl(obj, now)) <= 0 ||
	    (size = store_codec_size(obj)) == 0)
		return (insert_reject(sr, obj, cb, arg));
	if (obj->flags & STORE_OBJ_HFM)
		return (insert_marker(c, obj, ttl, size, cb, arg));
	tagcap = strlen(sr->prefix) + 3 + STORE_CODEC_TAG_MAX;
	if ((r = req_new(c, K_DONE, SC_INSERT, 4 * kc + 128 +
	    obj->ntags * tagcap + 8 + size)) == NULL)
		return (insert_reject(sr, obj, cb, arg));
	if (insert_args(r, sr, obj, kc, tagcap, ttl, size) == -1) {
		req_free(r);
		return (insert_reject(sr, obj, cb, arg));
	}
	store_obj_unref(obj);
	r->dcb = cb;
	r->arg = arg;
	return (req_start(r));
}

static struct store_req *
done_fail(store_done_cb cb, void *arg)
{
	if (cb != NULL)
		cb(arg, STORE_ERROR, 0);
	return (NULL);
}

static struct store_req *
rs_remove(struct store_conn *sc, const void *key, size_t key_len,
    store_done_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t kc = keycap(sr);
	uint64_t h;
	int nk, nm, no;

	if (key_len == 0 || (r = req_new(c, K_DONE, SC_REMOVE, 3 * kc)) ==
	    NULL)
		return (done_fail(cb, arg));
	h = store_codec_hash(key, key_len);
	nk = store_codec_key(r->blob, kc, sr->prefix, STORE_CODEC_KEY_REC,
	    h, 0);
	nm = store_codec_key(r->blob + kc, kc, sr->prefix,
	    STORE_CODEC_KEY_MARKER, h, 0);
	no = okey_prefix(r->blob + 2 * kc, kc, sr->prefix, h);
	if (nk == -1 || nm == -1 || no == -1) {
		req_free(r);
		return (done_fail(cb, arg));
	}
	r->dcb = cb;
	r->arg = arg;
	r->argc = 2;
	arg_add(r, "2", 1);
	arg_add(r, r->blob, (size_t)nk);
	arg_add(r, r->blob + kc, (size_t)nm);
	arg_add(r, r->blob + 2 * kc, (size_t)no);
	return (req_start(r));
}

static struct store_req *
rs_purge_tag(struct store_conn *sc, const void *tag, size_t tag_len,
    store_done_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t cap = strlen(sr->prefix) + 3 + STORE_CODEC_TAG_MAX;
	int n;

	if (tag_len == 0 || tag_len > STORE_CODEC_TAG_MAX) {
		if (cb != NULL)
			cb(arg, STORE_OK, 0);	/* no such tag is stored */
		return (NULL);
	}
	if ((r = req_new(c, K_PURGE_TAG, SC_PURGE_TAG, cap)) == NULL)
		return (done_fail(cb, arg));
	if ((n = store_codec_key_tag(r->blob, cap, sr->prefix, tag,
	    tag_len)) == -1) {
		req_free(r);
		return (done_fail(cb, arg));
	}
	r->dcb = cb;
	r->arg = arg;
	r->argc = 2;
	arg_add(r, "1", 1);
	arg_add(r, r->blob, (size_t)n);
	arg_add(r, sr->prefix, strlen(sr->prefix));
	return (req_start(r));
}

/* A lock op on key's l:{H}: r with its key name in argv[1]. */
static struct store_req *
lock_req(struct rs_conn *c, enum rs_kind kind, int script, const void *key,
    size_t key_len, store_done_cb cb, void *arg)
{
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t kc = keycap(sr);
	int n;

	if (key_len == 0 || (r = req_new(c, kind, script, kc + LOCKVAL_MAX +
	    24)) == NULL)
		return (NULL);
	if ((n = store_codec_key(r->blob, kc, sr->prefix, STORE_CODEC_KEY_LOCK,
	    store_codec_hash(key, key_len), 0)) == -1) {
		req_free(r);
		return (NULL);
	}
	r->dcb = cb;
	r->arg = arg;
	r->argc = 1;
	arg_add(r, r->blob, (size_t)n);
	return (r);
}

/* Its value for lock id: "TOKEN:id" at p. */
static size_t
lock_value(const struct store_redis *sr, char *p, uint64_t id)
{
	return ((size_t)snprintf(p, LOCKVAL_MAX, "%s:%" PRIu64, sr->token,
	    id));
}

static struct store_req *
rs_lock(struct store_conn *sc, const void *key, size_t key_len, uint64_t ms,
    store_done_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	char *val, *px;
	size_t kc = keycap(sr);

	if (ms == 0 || (r = lock_req(c, K_LOCK, 0, key, key_len, cb,
	    arg)) == NULL)
		return (done_fail(cb, arg));
	val = r->blob + kc;
	px = val + LOCKVAL_MAX;
	r->count = atomic_fetch_add(&sr->lock_seq, 1) + 1;
	snprintf(px, 24, "%" PRIu64, ms);
	r->argv[0] = "SET";
	r->argvlen[0] = 3;
	arg_add(r, val, lock_value(sr, val, r->count));
	arg_add(r, "NX", 2);
	arg_add(r, "PX", 2);
	arg_add(r, px, strlen(px));
	return (req_start(r));
}

static struct store_req *
rs_locked(struct store_conn *sc, const void *key, size_t key_len,
    store_done_cb cb, void *arg)
{
	struct store_req *r;

	if ((r = lock_req((struct rs_conn *)sc, K_LOCKED, 0, key, key_len, cb,
	    arg)) == NULL)
		return (done_fail(cb, arg));
	r->argv[0] = "EXISTS";
	r->argvlen[0] = 6;
	return (req_start(r));
}

static struct store_req *
rs_unlock(struct store_conn *sc, const void *key, size_t key_len,
    uint64_t id, store_done_cb cb, void *arg)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_redis *sr = conn_store(c);
	struct store_req *r;
	size_t kn;
	char *val;

	if ((r = lock_req(c, K_DONE, SC_UNLOCK, key, key_len, cb, arg)) ==
	    NULL)
		return (done_fail(cb, arg));
	val = r->blob + keycap(sr);
	kn = r->argvlen[1];
	/* EVALSHA sha numkeys key token: the key goes after numkeys. */
	r->argc = 2;
	arg_add(r, "1", 1);
	arg_add(r, r->blob, kn);
	arg_add(r, val, lock_value(sr, val, id));
	return (req_start(r));
}

/*
 * This process's counters, at once: how many objects Redis holds under
 * the prefix is not something one command can say without a SCAN, so
 * objects, markers, bytes and budget are left out (sized false); Redis's
 * own INFO has its memory. The connection's counters are in the worker's stats.
 */
static struct store_req *
rs_stats(struct store_conn *sc, store_stats_cb cb, void *arg)
{
	struct store_redis *sr = conn_store((struct rs_conn *)sc);
	struct store_stats st;

	memset(&st, 0, sizeof(st));
	st.inserts = LOAD(sr->inserts);
	st.evictions = LOAD(sr->evictions);
	st.expired = LOAD(sr->expired);
	st.purged = LOAD(sr->purged);
	st.rejected = LOAD(sr->rejected);
	cb(arg, redis_ready(((struct rs_conn *)sc)->rc) ? STORE_OK :
	    STORE_ERROR, &st);
	return (NULL);
}

static void
rs_cancel(struct store_conn *sc, struct store_req *r)
{
	if (r == NULL || r->magic != STORE_REQ_MAGIC ||
	    r->conn != (struct rs_conn *)sc)
		abort();	/* freed, foreign, or its callback ran */
	if (r->rr != NULL)
		redis_cancel(r->rr);
	TAILQ_REMOVE(&r->conn->reqs, r, link);
	req_free(r);
}

static struct store_conn *
rs_open(struct store *st, struct event_base *base)
{
	struct store_redis *sr = (struct store_redis *)st;
	struct redis_opts ro = sr->ro;
	struct rs_conn *c;
	char err[256];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->base.st = st;
	TAILQ_INIT(&c->reqs);
	if (ro.st == NULL)
		ro.st = &c->own_st;
	ro.on_ready = on_ready;
	ro.ready_arg = c;
	ro.log = &sr->log;
	if ((c->rc = redis_open(base, &ro, err, sizeof(err))) == NULL) {
		log_warn("redis store: %s", err);
		free(c);
		return (NULL);
	}
	return (&c->base);
}

void
store_redis_set_stats(struct store_conn *sc, struct stats *st)
{
	struct rs_conn *c = (struct rs_conn *)sc;

	if (sc->st->ops != &store_redis_ops)
		abort();
	redis_set_stats(c->rc, st);
}

static void
rs_close(struct store_conn *sc)
{
	struct rs_conn *c = (struct rs_conn *)sc;
	struct store_req *r;
	int i;

	while ((r = TAILQ_FIRST(&c->reqs)) != NULL)
		rs_cancel(sc, r);
	for (i = 0; i < SC_N; i++)
		if (c->load[i].rr != NULL) {
			redis_cancel(c->load[i].rr);
			c->load[i].rr = NULL;
		}
	redis_close(c->rc);
	free(c);
}

static void
rs_destroy(struct store *st)
{
	struct store_redis *sr = (struct store_redis *)st;

	free((char *)sr->ro.address);
	free((char *)sr->ro.username);
	free((char *)sr->ro.password);
	free(sr->prefix);
	free(sr);
}

/*
 * A token no other process has: 16 random bytes in hex, so that a lock is
 * released only by the process (and the id) that took it.
 */
static int
make_token(char *out)
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char b[TOKEN_LEN / 2];
	size_t i;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return (-1);
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 0xf];
	}
	out[TOKEN_LEN] = '\0';
	return (0);
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *p;

	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL)
		*oom = 1;
	return (p);
}

void
store_redis_set_max_object_size(struct store *st, uint64_t max)
{
	struct store_redis *sr = (struct store_redis *)st;

	atomic_store(&sr->max_body, max);
}

struct store *
store_redis_new(const struct redis_opts *ro, const char *prefix,
    uint64_t max_object_size)
{
	struct store_redis *sr;
	int oom = 0;

	if ((sr = calloc(1, sizeof(*sr))) == NULL)
		return (NULL);
	sr->base.ops = &store_redis_ops;
	sr->ro = *ro;
	sr->ro.st = NULL;	/* each conn counts on its own; see rs_open */
	sr->ro.on_ready = NULL;
	sr->ro.ready_arg = NULL;
	sr->ro.log = NULL;
	sr->ro.address = dup_or_null(ro->address, &oom);
	sr->ro.username = dup_or_null(ro->username, &oom);
	sr->ro.password = dup_or_null(ro->password, &oom);
	sr->prefix = dup_or_null(prefix != NULL ? prefix : "", &oom);
	sr->max_body = max_object_size;
	if (make_token(sr->token) == -1)
		oom = 1;
	if (oom || strlen(sr->prefix) > 4096) {
		rs_destroy(&sr->base);
		return (NULL);
	}
	return (&sr->base);
}

static const struct store_ops store_redis_ops = {
	.name = "redis",
	.open = rs_open,
	.close = rs_close,
	.lookup = rs_lookup,
	.insert = rs_insert,
	.remove = rs_remove,
	.purge_tag = rs_purge_tag,
	.stats = rs_stats,
	.lock = rs_lock,
	.locked = rs_locked,
	.unlock = rs_unlock,
	.cancel = rs_cancel,
	.destroy = rs_destroy,
};
