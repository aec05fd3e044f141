/*
 * store.c: stored objects, common to every store (L2): one allocation per
 * object (header, key, head, body, vary, tags), an atomic reference count,
 * and streaming the body into an evbuffer by reference. The stores
 * themselves are store_mem.c and store_redis.c; see store.h.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "store.h"

static atomic_long	live;

long
store_obj_live(void)
{
	return (atomic_load_explicit(&live, memory_order_relaxed));
}

/*
 * FNV-1a 64, then a finalizer: FNV's top bits barely change with the
 * last bytes, so without it "user:42" and "user:43" would set the same
 * bloom bit and the word would filter nothing.
 */
uint64_t
store_hash(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (h);
}

uint64_t
store_tag_hash(const void *p, size_t len)
{
	return (store_hash(p, len, 0));
}

static uint64_t
tag_bit(uint64_t hash)
{
	return (1ULL << (hash >> 58));
}

static size_t
obj_size(const struct store_obj_init *in, int *ok)
{
	size_t n = sizeof(struct store_obj), part;
	unsigned i;

	*ok = 0;
	if (in->key_len == 0 || in->ntags > STORE_MAX_TAGS ||
	    (in->ntags > 0 && in->tags == NULL))
		return (0);
	n += in->ntags * (sizeof(struct store_str) +
	    sizeof(struct store_tag_link));
	for (i = 0; i < in->ntags; i++) {
		part = in->tags[i].len;
		if (n + part < n)
			return (0);
		n += part;
	}
	part = in->key_len + in->head_len;
	if (part < in->key_len || n + part < n)
		return (0);
	n += part;
	part = (in->body_from != NULL ? 0 : in->body_len) + in->vary_len;
	if (part < in->vary_len || n + part < n)
		return (0);
	*ok = 1;
	return (n + part);
}

/* Copy len bytes of src (may be NULL when len is 0) to *pp; advance it. */
static uint8_t *
put(uint8_t **pp, const void *src, size_t len)
{
	uint8_t *at = *pp;

	if (len > 0 && src != NULL)
		memcpy(at, src, len);
	*pp += len;
	return (at);
}

struct store_obj *
store_obj_new(const struct store_obj_init *in)
{
	struct store_obj *obj;
	struct store_str *tags;
	struct store_tag_link *tlinks;
	uint8_t *p;
	size_t size;
	unsigned i;
	int ok;

	size = obj_size(in, &ok);
	if (!ok || (obj = malloc(size)) == NULL)
		return (NULL);
	memset(obj, 0, sizeof(*obj));
	obj->magic = STORE_OBJ_MAGIC;
	atomic_init(&obj->refs, 1);
	obj->charge = size + STORE_OBJ_SLACK;
	obj->drop_after = in->drop_after;
	if (in->meta != NULL)
		obj->meta = *in->meta;
	/* The tag arrays first: they need pointer alignment. */
	p = (uint8_t *)(obj + 1);
	tlinks = (struct store_tag_link *)p;
	p += in->ntags * sizeof(struct store_tag_link);
	tags = (struct store_str *)p;
	p += in->ntags * sizeof(struct store_str);
	for (i = 0; i < in->ntags; i++) {
		tags[i].p = put(&p, in->tags[i].p, in->tags[i].len);
		tags[i].len = in->tags[i].len;
		memset(&tlinks[i], 0, sizeof(tlinks[i]));
		tlinks[i].obj = obj;
		tlinks[i].hash = store_tag_hash(in->tags[i].p,
		    in->tags[i].len);
		obj->tagbloom |= tag_bit(tlinks[i].hash);
	}
	obj->tags = tags;
	obj->tlinks = tlinks;
	obj->ntags = in->ntags;
	obj->key = put(&p, in->key, in->key_len);
	obj->key_len = in->key_len;
	obj->head = put(&p, in->head, in->head_len);
	obj->head_len = in->head_len;
	obj->wire_len = in->wire_len <= in->head_len ? in->wire_len : 0;
	obj->vary = put(&p, in->vary, in->vary_len);
	obj->vary_len = in->vary_len;
	if (in->body_from != NULL) {
		/* Share the allocation that holds the body: one level. */
		CHECK_STORE_OBJ(in->body_from);
		obj->body_owner = store_obj_ref(in->body_from->body_owner !=
		    NULL ? in->body_from->body_owner : in->body_from);
		obj->body = in->body_from->body;
		obj->body_len = in->body_from->body_len;
		obj->charge += obj->body_len;
	} else {
		obj->body = put(&p, in->body, in->body_len);
		obj->body_len = in->body_len;
	}
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return (obj);
}

struct store_obj *
store_obj_new_hfm(const void *key, size_t key_len, int64_t until)
{
	struct store_obj_init in;
	struct store_obj *obj;

	memset(&in, 0, sizeof(in));
	in.key = key;
	in.key_len = key_len;
	in.drop_after = until;
	if ((obj = store_obj_new(&in)) != NULL)
		obj->flags |= STORE_OBJ_HFM;
	return (obj);
}

struct store_obj *
store_obj_ref(struct store_obj *obj)
{
	CHECK_STORE_OBJ(obj);
	atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
	return (obj);
}

void
store_obj_unref(struct store_obj *obj)
{
	if (obj == NULL)
		return;
	CHECK_STORE_OBJ(obj);
	/* Release so our reads happen before the free; acquire on the last
	 * one so the free happens after everyone's reads. */
	if (atomic_fetch_sub_explicit(&obj->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	obj->magic = 0;
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	store_obj_unref(obj->body_owner);
	free(obj);
}

int
store_obj_has_tag(const struct store_obj *obj, const void *tag, size_t len)
{
	unsigned i;

	if ((obj->tagbloom & tag_bit(store_tag_hash(tag, len))) == 0)
		return (0);
	for (i = 0; i < obj->ntags; i++)
		if (obj->tags[i].len == len &&
		    memcmp(obj->tags[i].p, tag, len) == 0)
			return (1);
	return (0);
}

static void
body_done(const void *data, size_t len, void *arg)
{
	store_obj_unref(arg);
}

int
store_obj_add_body_to(struct evbuffer *out, struct store_obj *obj)
{
	return (store_obj_add_body_range_to(out, obj, 0, obj->body_len));
}

int
store_obj_add_body_range_to(struct evbuffer *out, struct store_obj *obj,
    uint64_t off, uint64_t len)
{
	CHECK_STORE_OBJ(obj);
	if (off > obj->body_len || len > obj->body_len - off)
		return (-1);
	if (len == 0)
		return (0);
	store_obj_ref(obj);
	if (evbuffer_add_reference(out, obj->body + off, (size_t)len,
	    body_done, obj) == -1) {
		store_obj_unref(obj);
		return (-1);
	}
	return (0);
}
