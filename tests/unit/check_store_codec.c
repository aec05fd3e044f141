/*
 * check_store_codec.c: the Redis store's value format, primary-key
 * record, key names and TTLs (src/store_codec.c).
 *
 * Round trips compare every field; then every truncation, every
 * single-byte change of the value, foreign values and huge lengths are
 * fed to the decoder, which must refuse them or return an object that
 * encodes back to the very same bytes: never a crash, never a read out of
 * bounds (run it under --enable-sanitizers). Every time is an explicit
 * `now`.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec.h"

#define NOW	1700000000LL
#define KEY	"https://example.com/a?b=1"
#define HEAD	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" \
		"Via: 1.1 vane\r\nETag: \"x\"\r\n\r\n"
#define MAXB	(8u << 20)

/* Every cache_meta field distinct and non-trivial. */
static struct cache_meta
full_meta(void)
{
	struct cache_meta cm;

	memset(&cm, 0, sizeof(cm));
	cm.request_time = NOW - 2;
	cm.response_time = NOW - 1;
	cm.date_value = NOW - 3;
	cm.age_value = 7;
	cm.corrected_initial_age = 9;
	cm.freshness_lifetime = 600;
	cm.last_modified = NOW - 86400 * 30;
	cm.swr = 30;
	cm.sie = 3600;
	cm.flags = CM_MUST_REVALIDATE | CM_NO_CACHE | CM_HEURISTIC |
	    CM_IMMUTABLE | CM_HAS_ETAG | CM_HAS_LAST_MODIFIED;
	cm.status = 203;
	cm.cc_source = CACHE_CC_VANE;
	return (cm);
}

struct shape {
	const char	*name;
	const char	*vary;
	size_t		 body_len;
	unsigned	 ntags;
	int		 wire;		/* wire_len = a prefix of head */
	int		 hfm;
};

enum { BARE, BODY, VARY, ONE_TAG, MAX_TAGS, WIRE, MARKER, BIG, NSHAPES };

static const struct shape shapes[NSHAPES] = {
	[BARE] = { "bare", "", 0, 0, 0, 0 },
	[BODY] = { "body", "", 1000, 0, 0, 0 },
	[VARY] = { "vary", "accept-encoding:gzip\nuser-agent\n", 10, 0, 0, 0 },
	[ONE_TAG] = { "one_tag", "", 10, 1, 0, 0 },
	[MAX_TAGS] = { "max_tags", "x-a:1\n", 100, STORE_MAX_TAGS, 1, 0 },
	[WIRE] = { "wire_len", "", 5, 2, 1, 0 },
	[MARKER] = { "marker", "", 0, 0, 0, 1 },
	/* Last: too big to corrupt every byte 255 ways. */
	[BIG] = { "everything", "accept:*/*\n", 70000, 3, 1, 0 },
};

static char	tagbuf[STORE_MAX_TAGS][32];

static struct store_obj *
make(const struct shape *s)
{
	struct store_str tags[STORE_MAX_TAGS];
	struct store_obj_init in;
	struct cache_meta cm = full_meta();
	struct store_obj *obj;
	uint8_t *body;
	unsigned i;

	if (s->hfm) {
		obj = store_obj_new_hfm(KEY, strlen(KEY), NOW + 5);
		ck_assert_ptr_nonnull(obj);
		return (obj);
	}
	body = malloc(s->body_len + 1);
	ck_assert_ptr_nonnull(body);
	for (i = 0; i < s->body_len; i++)
		body[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < s->ntags; i++) {
		/* Tags of differing lengths, one ending in a NUL. */
		snprintf(tagbuf[i], sizeof(tagbuf[i]), "tag-%u%.*s", i,
		    (int)(i % 5), "xxxxx");
		tags[i].p = tagbuf[i];
		tags[i].len = strlen(tagbuf[i]) + (i == 1);
	}
	memset(&in, 0, sizeof(in));
	in.key = KEY;
	in.key_len = strlen(KEY);
	in.head = HEAD;
	in.head_len = strlen(HEAD);
	in.wire_len = s->wire ? 45 : 0;
	in.body = body;
	in.body_len = s->body_len;
	in.vary = s->vary;
	in.vary_len = strlen(s->vary);
	in.tags = tags;
	in.ntags = s->ntags;
	in.meta = &cm;
	in.drop_after = NOW + 4242;
	obj = store_obj_new(&in);
	free(body);
	ck_assert_ptr_nonnull(obj);
	return (obj);
}

static void
same_bytes(const char *what, const void *a, size_t alen, const void *b,
    size_t blen)
{
	ck_assert_msg(alen == blen, "%s: length %zu != %zu", what, alen, blen);
	ck_assert_msg(alen == 0 || memcmp(a, b, alen) == 0, "%s differs",
	    what);
}

/* Field by field, every one the format carries. */
static void
same_obj(const struct store_obj *a, const struct store_obj *b)
{
	const struct cache_meta *x = &a->meta, *y = &b->meta;
	unsigned i;

	ck_assert_uint_eq(a->flags & STORE_OBJ_HFM, b->flags & STORE_OBJ_HFM);
	ck_assert_int_eq(a->drop_after, b->drop_after);
	same_bytes("key", a->key, a->key_len, b->key, b->key_len);
	same_bytes("head", a->head, a->head_len, b->head, b->head_len);
	ck_assert_uint_eq(a->wire_len, b->wire_len);
	same_bytes("body", a->body, a->body_len, b->body, b->body_len);
	same_bytes("vary", a->vary, a->vary_len, b->vary, b->vary_len);
	ck_assert_uint_eq(a->ntags, b->ntags);
	for (i = 0; i < a->ntags; i++) {
		same_bytes("tag", a->tags[i].p, a->tags[i].len, b->tags[i].p,
		    b->tags[i].len);
		ck_assert(store_obj_has_tag(b, a->tags[i].p, a->tags[i].len));
	}
	ck_assert_int_eq(x->request_time, y->request_time);
	ck_assert_int_eq(x->response_time, y->response_time);
	ck_assert_int_eq(x->date_value, y->date_value);
	ck_assert_int_eq(x->age_value, y->age_value);
	ck_assert_int_eq(x->corrected_initial_age, y->corrected_initial_age);
	ck_assert_int_eq(x->freshness_lifetime, y->freshness_lifetime);
	ck_assert_int_eq(x->last_modified, y->last_modified);
	ck_assert_int_eq(x->swr, y->swr);
	ck_assert_int_eq(x->sie, y->sie);
	ck_assert_uint_eq(x->flags, y->flags);
	ck_assert_int_eq(x->status, y->status);
	ck_assert_int_eq(x->cc_source, y->cc_source);
}

/* obj's encoding in a malloc'd buffer of exactly its size. */
static uint8_t *
enc(const struct store_obj *obj, size_t *len)
{
	uint8_t *buf;

	*len = store_codec_size(obj);
	ck_assert_uint_gt(*len, 0);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(store_codec_encode(obj, buf, *len), *len);
	return (buf);
}

static struct store_obj *
dec(const void *p, size_t len, int *err)
{
	return (store_codec_decode(p, len, KEY, strlen(KEY), MAXB, err));
}

START_TEST(round_trip)
{
	const struct shape *s = &shapes[_i];
	struct store_obj *a, *b;
	long live = store_obj_live();
	uint8_t *buf;
	size_t len, want;
	unsigned i;
	int err = -1;

	a = make(s);
	buf = enc(a, &len);
	want = STORE_CODEC_HDR + a->key_len + a->head_len + a->vary_len +
	    a->body_len;
	for (i = 0; i < a->ntags; i++)
		want += 2 + a->tags[i].len;
	ck_assert_uint_eq(len, want);
	/* One byte short of room: refused, not cut. */
	ck_assert_uint_eq(store_codec_encode(a, buf, len - 1), 0);
	b = dec(buf, len, &err);
	ck_assert_msg(b != NULL, "%s: %s", s->name, store_codec_strerror(err));
	ck_assert_int_eq(err, STORE_CODEC_OK);
	same_obj(a, b);
	ck_assert_uint_eq(b->charge, a->charge);
	ck_assert_uint_eq(b->refs, 1);
	store_obj_unref(a);
	store_obj_unref(b);
	free(buf);
	ck_assert_int_eq(store_obj_live(), live);
}
END_TEST

/* The layout is the documented one, byte for byte, whatever the host. */
START_TEST(layout_is_fixed)
{
	struct store_obj *a = make(&shapes[WIRE]);	/* 2 tags */
	uint8_t *b;
	size_t len, off, i, tl;

	b = enc(a, &len);
	ck_assert(memcmp(b, "vno\x01", 4) == 0);
	ck_assert(memcmp(b + 4, "\0\0\0\0", 4) == 0);
	for (i = 0; i < 8; i++)		/* drop_after, little-endian */
		ck_assert_uint_eq(b[8 + i],
		    (uint8_t)((uint64_t)(NOW + 4242) >> (8 * i)));
	ck_assert_uint_eq(b[56], 600 & 0xff);	/* freshness_lifetime */
	ck_assert_uint_eq(b[57], 600 >> 8);
	ck_assert_uint_eq(b[88], 0x3f);		/* meta.flags */
	ck_assert_uint_eq(b[92], 203);		/* status */
	ck_assert_uint_eq(b[93], 0);
	ck_assert_uint_eq(b[94], CACHE_CC_VANE);
	ck_assert_uint_eq(b[95], 2);		/* ntags */
	ck_assert_uint_eq(b[96], strlen(KEY));
	ck_assert_uint_eq(b[100], strlen(HEAD));
	ck_assert_uint_eq(b[104], 45);
	ck_assert_uint_eq(b[108], 0);
	ck_assert_uint_eq(b[112], 5);
	ck_assert(memcmp(b + 116, KEY, strlen(KEY)) == 0);
	off = 116 + strlen(KEY);
	ck_assert(memcmp(b + off, HEAD, strlen(HEAD)) == 0);
	off += strlen(HEAD);
	for (i = 0; i < 2; i++) {
		tl = (size_t)b[off] | (size_t)b[off + 1] << 8;
		ck_assert_uint_eq(tl, a->tags[i].len);
		ck_assert(memcmp(b + off + 2, a->tags[i].p, tl) == 0);
		off += 2 + tl;
	}
	ck_assert_uint_eq(off + 5, len);
	ck_assert(memcmp(b + off, a->body, 5) == 0);
	free(b);
	store_obj_unref(a);
}
END_TEST

/* Negative times and the bounds survive; one past a bound is refused. */
START_TEST(meta_extremes)
{
	struct store_obj *a = make(&shapes[BARE]), *b;
	uint8_t *buf;
	size_t len;
	int err;

	a->meta.request_time = -STORE_CODEC_TIME_MAX;
	a->meta.response_time = STORE_CODEC_TIME_MAX;
	a->meta.last_modified = -1;
	a->meta.swr = -1;
	a->meta.sie = -1;
	a->meta.status = 999;
	a->meta.cc_source = CACHE_CC_NONE;
	a->drop_after = -5;
	buf = enc(a, &len);
	ck_assert_ptr_nonnull(b = dec(buf, len, &err));
	same_obj(a, b);
	store_obj_unref(b);
	free(buf);
	a->meta.request_time = -STORE_CODEC_TIME_MAX - 1;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->meta.request_time = 0;
	a->meta.swr = -2;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->meta.swr = 0;
	a->meta.status = 99;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->meta.status = 200;
	a->meta.flags = 0x40;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->meta.flags = 0;
	a->drop_after = INT64_MAX;
	ck_assert_uint_eq(store_codec_size(a), 0);
	store_obj_unref(a);
}
END_TEST

/* What decode would refuse is never written. */
START_TEST(encode_refuses)
{
	struct store_obj *a = make(&shapes[ONE_TAG]);
	struct store_obj *m = make(&shapes[MARKER]);
	struct store_str *t = (struct store_str *)a->tags;
	uint8_t buf[64];

	ck_assert_uint_gt(store_codec_size(a), 0);
	t[0].len = STORE_CODEC_TAG_MAX + 1;
	ck_assert_uint_eq(store_codec_size(a), 0);
	t[0].len = 0;
	ck_assert_uint_eq(store_codec_size(a), 0);
	t[0].len = 3;
	a->wire_len = a->head_len + 1;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->wire_len = 0;
	a->head_len = STORE_CODEC_HEAD_MAX + 1;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->head_len = 0;
	a->body_len = STORE_CODEC_BODY_MAX + 1;
	ck_assert_uint_eq(store_codec_size(a), 0);
	a->body_len = 0;
	a->key_len = 0;
	ck_assert_uint_eq(store_codec_size(a), 0);
	ck_assert_uint_eq(store_codec_encode(a, buf, sizeof(buf)), 0);
	a->key_len = strlen(KEY);
	/* A marker carries nothing but its key and time. */
	ck_assert_uint_gt(store_codec_size(m), 0);
	m->body_len = 1;
	ck_assert_uint_eq(store_codec_size(m), 0);
	m->body_len = 0;
	m->meta.status = 200;
	ck_assert_uint_eq(store_codec_size(m), 0);
	store_obj_unref(a);
	store_obj_unref(m);
}
END_TEST

/* Every proper prefix of a valid value is truncated; a byte more is
 * trailing garbage. */
START_TEST(every_truncation)
{
	struct store_obj *a = make(&shapes[_i]), *b;
	uint8_t *buf, *more;
	size_t len, n;
	int err;

	buf = enc(a, &len);
	for (n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so ASan sees any overread;
		 * past the header and 4K of body, the same path as before:
		 * in place. */
		more = NULL;
		if (n > 0 && n <= 4096) {
			more = malloc(n);
			memcpy(more, buf, n);
		}
		b = dec(n == 0 ? NULL : more != NULL ? more : buf, n, &err);
		ck_assert_msg(b == NULL && err == STORE_CODEC_TRUNCATED,
		    "%s: prefix %zu: %s", shapes[_i].name, n,
		    store_codec_strerror(err));
		free(more);
	}
	more = malloc(len + 1);
	memcpy(more, buf, len);
	more[len] = 0;
	ck_assert_ptr_null(dec(more, len + 1, &err));
	ck_assert_int_eq(err, STORE_CODEC_TRAILING);
	free(more);
	free(buf);
	store_obj_unref(a);
}
END_TEST

/*
 * Every byte of the value (header, key, head, vary, tag lengths and
 * tags; the body of this shape is short) changed in every way: refused,
 * or decoded into an object that encodes back to exactly those bytes and
 * so passed the same checks.
 */
START_TEST(every_byte_corrupted)
{
	struct store_obj *a = make(&shapes[_i]), *b;
	uint8_t *buf, *bad, *again;
	size_t len, i, alen;
	unsigned x;
	int err, refused = 0, accepted = 0;

	buf = enc(a, &len);
	bad = malloc(len);
	again = malloc(len);
	for (i = 0; i < len; i++) {
		for (x = 1; x < 256; x++) {
			memcpy(bad, buf, len);
			bad[i] ^= (uint8_t)x;
			b = dec(bad, len, &err);
			if (b == NULL) {
				ck_assert_int_ne(err, STORE_CODEC_OK);
				refused++;
				continue;
			}
			accepted++;
			ck_assert_int_eq(err, STORE_CODEC_OK);
			ck_assert_uint_le(b->wire_len, b->head_len);
			alen = store_codec_encode(b, again, len);
			ck_assert_msg(alen == len && memcmp(again, bad, len) ==
			    0, "%s: byte %zu ^ %u decodes differently",
			    shapes[_i].name, i, x);
			store_obj_unref(b);
		}
	}
	/* Both happen: the key and lengths are checked, times are data. */
	ck_assert_int_gt(refused, 0);
	ck_assert_int_gt(accepted, 0);
	free(again);
	free(bad);
	free(buf);
	store_obj_unref(a);
}
END_TEST

/* Someone else's value, or another version of ours. */
START_TEST(foreign_values)
{
	static const char *plain[] = { "hello world", "OK", "v", "vn", "vno",
	    "{\"json\": true}", "\x80\x01\x02" };
	struct store_codec_rec r = { 2, { 1, 2 } };
	struct store_obj *a = make(&shapes[BODY]);
	uint8_t *buf, rnd[512], rec[STORE_CODEC_REC_MAX];
	uint32_t seed = 12345;
	size_t len, i, n;
	int err;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		ck_assert_ptr_null(dec(plain[i], strlen(plain[i]), &err));
		ck_assert_int_ne(err, STORE_CODEC_OK);
	}
	ck_assert_ptr_null(dec("hello world", 11, &err));
	ck_assert_int_eq(err, STORE_CODEC_FOREIGN);
	/* Random values of every length up to the buffer. */
	for (n = 0; n < sizeof(rnd); n++) {
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			rnd[i] = (uint8_t)(seed >> 16);
		}
		ck_assert_ptr_null(dec(rnd, n, &err));
		/* Even with our magic in front. */
		if (n >= 4) {
			memcpy(rnd, "vno\x01", 4);
			ck_assert_ptr_null(dec(rnd, n, &err));
		}
	}
	/* Another version byte. */
	buf = enc(a, &len);
	for (i = 0; i < 256; i++) {
		if (i == STORE_CODEC_VERSION)
			continue;
		buf[3] = (uint8_t)i;
		ck_assert_ptr_null(dec(buf, len, &err));
		ck_assert_int_eq(err, STORE_CODEC_VERSION_SKEW);
	}
	free(buf);
	/* A record where a variant is expected. */
	n = store_codec_rec_encode(&r, rec, sizeof(rec));
	ck_assert_ptr_null(dec(rec, n, &err));
	ck_assert_int_eq(err, STORE_CODEC_FOREIGN);
	store_obj_unref(a);
}
END_TEST

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Lengths far beyond the value or the limits: refused before anything is
 * allocated. */
START_TEST(huge_lengths)
{
	static const size_t offs[] = { 96, 100, 104, 108, 112 };
	static const uint32_t vals[] = { 0xffffffffu, 0x80000000u,
	    STORE_CODEC_BODY_MAX + 1, STORE_CODEC_HEAD_MAX + 1 };
	struct store_obj *a = make(&shapes[MAX_TAGS]), *b;
	uint8_t *buf, *bad;
	size_t len, i, j;
	long live;
	int err;

	buf = enc(a, &len);
	bad = malloc(len);
	live = store_obj_live();
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (j = 0; j < sizeof(vals) / sizeof(vals[0]); j++) {
			memcpy(bad, buf, len);
			put32(bad + offs[i], vals[j]);
			ck_assert_ptr_null(dec(bad, len, &err));
			/* A body of 2M + 1 within max_body: truncated. */
			ck_assert_msg(err == STORE_CODEC_LIMIT ||
			    err == STORE_CODEC_CORRUPT ||
			    err == STORE_CODEC_TRUNCATED, "off %zu: %s",
			    offs[i], store_codec_strerror(err));
			ck_assert_int_eq(store_obj_live(), live);
		}
	/* Too many tags. */
	memcpy(bad, buf, len);
	bad[95] = STORE_MAX_TAGS + 1;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_LIMIT);
	bad[95] = 0xff;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_LIMIT);
	/* A body over the caller's max_object_size. */
	ck_assert_ptr_null(store_codec_decode(buf, len, KEY, strlen(KEY),
	    a->body_len - 1, &err));
	ck_assert_int_eq(err, STORE_CODEC_LIMIT);
	b = store_codec_decode(buf, len, KEY, strlen(KEY), a->body_len, &err);
	ck_assert_ptr_nonnull(b);
	store_obj_unref(b);
	store_obj_unref(a);
	free(bad);
	free(buf);
}
END_TEST

/* Structurally sound values that must still not be served. */
START_TEST(refused_fields)
{
	struct store_obj *a = make(&shapes[WIRE]), *m;
	size_t len, mlen, tagoff;
	uint8_t *buf, *bad, *mbuf;
	int err;

	buf = enc(a, &len);
	bad = malloc(len);
	/* Another primary key: a hash collision or a foreign writer. */
	ck_assert_ptr_null(store_codec_decode(buf, len, "https://example.com/",
	    20, MAXB, &err));
	ck_assert_int_eq(err, STORE_CODEC_KEY);
	ck_assert_ptr_null(store_codec_decode(buf, len, KEY "x",
	    strlen(KEY) + 1, MAXB, &err));
	ck_assert_int_eq(err, STORE_CODEC_KEY);
	ck_assert_ptr_null(store_codec_decode(buf, len, NULL, 0, MAXB, &err));
	ck_assert_int_eq(err, STORE_CODEC_KEY);
	/* wire_len past the head. */
	memcpy(bad, buf, len);
	put32(bad + 104, (uint32_t)a->head_len + 1);
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	/* wire_len == head_len is fine. */
	put32(bad + 104, (uint32_t)a->head_len);
	ck_assert_ptr_nonnull(m = dec(bad, len, &err));
	store_obj_unref(m);
	/* Unknown object flag, unknown meta flag, status, cc_source. */
	memcpy(bad, buf, len);
	bad[4] = 0x2;		/* STORE_OBJ_LINKED is never written */
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	memcpy(bad, buf, len);
	bad[88] = 0x7f;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	memcpy(bad, buf, len);
	bad[92] = 0;
	bad[93] = 0;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	memcpy(bad, buf, len);
	bad[94] = CACHE_CC_VANE + 1;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	/* A variant flagged as a marker (it has a head and a body). */
	memcpy(bad, buf, len);
	bad[4] = 0x1;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	/* A zero-length tag, and one over the limit. */
	tagoff = STORE_CODEC_HDR + a->key_len + a->head_len + a->vary_len;
	memcpy(bad, buf, len);
	bad[tagoff] = 0;
	bad[tagoff + 1] = 0;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	bad[tagoff + 1] = (STORE_CODEC_TAG_MAX + 1) >> 8;
	bad[tagoff] = (STORE_CODEC_TAG_MAX + 1) & 0xff;
	ck_assert_ptr_null(dec(bad, len, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	/* A marker round-trips as a marker. */
	m = make(&shapes[MARKER]);
	mbuf = enc(m, &mlen);
	ck_assert_uint_eq(mlen, STORE_CODEC_HDR + strlen(KEY));
	store_obj_unref(m);
	ck_assert_ptr_nonnull(m = dec(mbuf, mlen, &err));
	ck_assert(m->flags & STORE_OBJ_HFM);
	ck_assert_int_eq(m->drop_after, NOW + 5);
	store_obj_unref(m);
	/* A marker with a body (or a head) is not one. */
	mbuf = realloc(mbuf, mlen + 1);
	mbuf[mlen] = 'x';
	put32(mbuf + 112, 1);
	ck_assert_ptr_null(dec(mbuf, mlen + 1, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	put32(mbuf + 112, 0);
	put32(mbuf + 100, 1);
	ck_assert_ptr_null(dec(mbuf, mlen + 1, &err));
	ck_assert_int_eq(err, STORE_CODEC_CORRUPT);
	free(mbuf);
	free(bad);
	free(buf);
	store_obj_unref(a);
}
END_TEST

/*
 * The primary-key record.
 */
START_TEST(record_round_trip)
{
	struct store_codec_rec r, s;
	uint8_t buf[STORE_CODEC_REC_MAX], bad[STORE_CODEC_REC_MAX + 1];
	unsigned n, i;
	size_t len, k;

	for (n = 0; n <= STORE_MAX_VARIANTS; n++) {
		r.n = n;
		for (i = 0; i < n; i++)
			r.v[i] = store_codec_hash(&i, sizeof(i)) ^ n;
		len = store_codec_rec_encode(&r, buf, sizeof(buf));
		ck_assert_uint_eq(len, 5 + 16 * n);
		ck_assert_uint_eq(store_codec_rec_encode(&r, buf, len - 1), 0);
		ck_assert_int_eq(store_codec_rec_decode(&s, buf, len), 0);
		ck_assert_uint_eq(s.n, n);
		for (i = 0; i < n; i++)
			ck_assert_uint_eq(s.v[i], r.v[i]);
		/* Every truncation, and a byte more. */
		for (k = 0; k < len; k++)
			ck_assert_int_eq(store_codec_rec_decode(&s, buf, k),
			    -1);
		memcpy(bad, buf, len);
		bad[len] = '0';
		ck_assert_int_eq(store_codec_rec_decode(&s, bad, len + 1), -1);
		ck_assert_uint_eq(s.n, 0);
	}
	/* The format, literally. */
	r.n = 2;
	r.v[0] = 0x0123456789abcdefULL;
	r.v[1] = 0xfedcba9876543210ULL;
	len = store_codec_rec_encode(&r, buf, sizeof(buf));
	ck_assert_uint_eq(len, 37);
	ck_assert(memcmp(buf, "vnk\x01\x02" "0123456789abcdef"
	    "fedcba9876543210", 37) == 0);
}
END_TEST

START_TEST(record_refused)
{
	struct store_codec_rec r = { 3, { 1, 2, 3 } }, s;
	uint8_t buf[STORE_CODEC_REC_MAX], bad[STORE_CODEC_REC_MAX];
	size_t len, i;
	unsigned x;

	len = store_codec_rec_encode(&r, buf, sizeof(buf));
	/* Duplicates and too many are never written. */
	r.v[2] = 1;
	ck_assert_uint_eq(store_codec_rec_encode(&r, bad, sizeof(bad)), 0);
	r.v[2] = 3;
	r.n = STORE_MAX_VARIANTS + 1;
	ck_assert_uint_eq(store_codec_rec_encode(&r, bad, sizeof(bad)), 0);
	/* Every byte changed every way: refused or still a valid record. */
	for (i = 0; i < len; i++)
		for (x = 1; x < 256; x++) {
			memcpy(bad, buf, len);
			bad[i] ^= (uint8_t)x;
			if (store_codec_rec_decode(&s, bad, len) == 0) {
				ck_assert_uint_ge(i, 5);
				ck_assert_uint_eq(s.n, 3);
				ck_assert(s.v[0] != s.v[1] && s.v[1] != s.v[2] &&
				    s.v[0] != s.v[2]);
			}
		}
	/* Upper case hex, a duplicate, a count over the cap, a variant. */
	memcpy(bad, buf, len);
	bad[5] = 'A';
	ck_assert_int_eq(store_codec_rec_decode(&s, bad, len), -1);
	memcpy(bad, buf, len);
	memcpy(bad + 21, bad + 5, 16);
	ck_assert_int_eq(store_codec_rec_decode(&s, bad, len), -1);
	memcpy(bad, buf, len);
	bad[4] = STORE_MAX_VARIANTS + 1;
	ck_assert_int_eq(store_codec_rec_decode(&s, bad, len), -1);
	ck_assert_int_eq(store_codec_rec_decode(&s, "vno\x01\x00", 5), -1);
	ck_assert_int_eq(store_codec_rec_decode(&s, "vnk\x02\x00", 5), -1);
	ck_assert_int_eq(store_codec_rec_decode(&s, "vnk\x01\x00", 5), 0);
	ck_assert_int_eq(store_codec_rec_decode(&s, NULL, 0), -1);
}
END_TEST

/* What the insert script does: newest first, moved up when re-inserted,
 * the oldest dropped at the cap. */
START_TEST(record_add)
{
	struct store_codec_rec r = { 0, { 0 } };
	uint64_t ev = 0, i;

	ck_assert_int_eq(store_codec_rec_add(&r, 10, &ev), 0);
	ck_assert_int_eq(store_codec_rec_add(&r, 11, &ev), 0);
	ck_assert_int_eq(store_codec_rec_add(&r, 12, &ev), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert(r.v[0] == 12 && r.v[1] == 11 && r.v[2] == 10);
	ck_assert_int_eq(store_codec_rec_add(&r, 10, &ev), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert(r.v[0] == 10 && r.v[1] == 12 && r.v[2] == 11);
	ck_assert_int_eq(store_codec_rec_add(&r, 10, &ev), 0);
	ck_assert(r.v[0] == 10 && r.v[1] == 12 && r.v[2] == 11);
	for (i = 100; r.n < STORE_MAX_VARIANTS; i++)
		ck_assert_int_eq(store_codec_rec_add(&r, i, &ev), 0);
	ck_assert_uint_eq(r.v[STORE_MAX_VARIANTS - 1], 11);
	ck_assert_int_eq(store_codec_rec_add(&r, 7, &ev), 1);
	ck_assert_uint_eq(ev, 11);
	ck_assert_uint_eq(r.n, STORE_MAX_VARIANTS);
	ck_assert_uint_eq(r.v[0], 7);
	ck_assert_uint_eq(r.v[STORE_MAX_VARIANTS - 1], 12);
	/* Re-inserting a listed one at the cap evicts nothing. */
	ck_assert_int_eq(store_codec_rec_add(&r, 12, &ev), 0);
	ck_assert_uint_eq(r.v[0], 12);
	ck_assert_uint_eq(r.v[1], 7);
	ck_assert_uint_eq(r.v[STORE_MAX_VARIANTS - 1], 10);
}
END_TEST

/*
 * Key names.
 */
START_TEST(key_names)
{
	char out[256], out2[256];
	uint64_t h = 0x0123456789abcdefULL, v = 0xfedcba9876543210ULL;
	int n;

	n = store_codec_key(out, sizeof(out), "vane:", STORE_CODEC_KEY_OBJ, h,
	    v);
	ck_assert_str_eq(out, "vane:o:{0123456789abcdef}:fedcba9876543210");
	ck_assert_int_eq(n, (int)strlen(out));
	store_codec_key(out, sizeof(out), "vane:", STORE_CODEC_KEY_REC, h, v);
	ck_assert_str_eq(out, "vane:k:{0123456789abcdef}");
	store_codec_key(out, sizeof(out), "vane:", STORE_CODEC_KEY_MARKER, h,
	    v);
	ck_assert_str_eq(out, "vane:m:{0123456789abcdef}");
	store_codec_key(out, sizeof(out), "", STORE_CODEC_KEY_LOCK, h, 0);
	ck_assert_str_eq(out, "l:{0123456789abcdef}");
	store_codec_key(out, sizeof(out), "site-b/", STORE_CODEC_KEY_OBJ, 0,
	    0);
	ck_assert_str_eq(out, "site-b/o:{0000000000000000}:0000000000000000");
	ck_assert_int_eq(store_codec_key(out, sizeof(out), "vane:", 'x', h, v),
	    -1);
	n = store_codec_tag_member(out, sizeof(out), h, v);
	ck_assert_str_eq(out, "0123456789abcdef:fedcba9876543210");
	ck_assert_int_eq(n, 33);
	n = store_codec_key_tag(out, sizeof(out), "vane:", "news", 4);
	ck_assert_str_eq(out, "vane:t:news");
	ck_assert_int_eq(n, 11);
	/* Binary-safe: a NUL in a tag is part of the name. */
	n = store_codec_key_tag(out, sizeof(out), "p", "a\0b", 3);
	ck_assert_int_eq(n, 6);
	ck_assert(memcmp(out, "pt:a\0b", 7) == 0);
	n = store_codec_key_tag(out2, sizeof(out2), "p", "a\0c", 3);
	ck_assert(memcmp(out, out2, 6) != 0);
	ck_assert_int_eq(store_codec_key_tag(out, sizeof(out), "p", "", 0),
	    -1);
}
END_TEST

/* Every key fits exactly in its length + 1, never in less. */
START_TEST(key_names_bounded)
{
	static char tag[STORE_CODEC_TAG_MAX + 1];
	char out[2048];
	size_t cap;
	int n, kinds[] = { 'o', 'k', 'm', 'l' }, k;

	for (k = 0; k < 4; k++) {
		n = store_codec_key(out, sizeof(out), "vane:", kinds[k], 1, 2);
		ck_assert_int_gt(n, 0);
		for (cap = 0; cap <= (size_t)n; cap++)
			ck_assert_int_eq(store_codec_key(out, cap, "vane:",
			    kinds[k], 1, 2), -1);
		ck_assert_int_eq(store_codec_key(out, (size_t)n + 1, "vane:",
		    kinds[k], 1, 2), n);
	}
	memset(tag, 'x', sizeof(tag));
	n = store_codec_key_tag(out, sizeof(out), "vane:", tag,
	    STORE_CODEC_TAG_MAX);
	ck_assert_int_eq(n, 7 + STORE_CODEC_TAG_MAX);
	for (cap = 0; cap <= (size_t)n; cap++)
		ck_assert_int_eq(store_codec_key_tag(out, cap, "vane:", tag,
		    STORE_CODEC_TAG_MAX), -1);
	ck_assert_int_eq(store_codec_key_tag(out, sizeof(out), "vane:", tag,
	    STORE_CODEC_TAG_MAX + 1), -1);
	for (cap = 0; cap <= 33; cap++)
		ck_assert_int_eq(store_codec_tag_member(out, cap, 1, 2), -1);
}
END_TEST

/* FNV-1a 64 and store_hash's finalizer, computed independently. */
#define PIN_EMPTY	0xefd01f60ba992926ULL
#define PIN_ROOT	0x26363d14a74338d9ULL
#define PIN_KEY		"vane:o:{8a9cb2837e8a4190}:efd01f60ba992926"

/*
 * The hash is part of the format: other processes, hosts and versions
 * must name the same keys. Pinned values, and no per-process seed.
 */
START_TEST(hash_stable)
{
	static const char *urls[] = { "", "https://example.com/",
	    "https://example.com/a?b=1", "accept-encoding:gzip\n" };
	char out[64];
	size_t i;

	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(store_codec_hash(urls[i], strlen(urls[i])),
		    store_hash(urls[i], strlen(urls[i]), 0));
	ck_assert_uint_eq(store_codec_hash("", 0), PIN_EMPTY);
	ck_assert_uint_eq(store_codec_hash(urls[1], strlen(urls[1])),
	    PIN_ROOT);
	store_codec_key(out, sizeof(out), "vane:", STORE_CODEC_KEY_OBJ,
	    store_codec_hash(urls[2], strlen(urls[2])),
	    store_codec_hash("", 0));
	ck_assert_str_eq(out, PIN_KEY);
}
END_TEST

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Distinct URLs and variants get distinct keys (no collision among many
 * similar ones: the hash mixes every byte). */
START_TEST(keys_distinct)
{
	enum { N = 20000 };
	uint64_t *hs = malloc(N * sizeof(*hs));
	char url[64];
	int i, n;

	ck_assert_ptr_nonnull(hs);
	for (i = 0; i < N; i++) {
		n = snprintf(url, sizeof(url), "https://example.com/item/%d", i);
		hs[i] = store_codec_hash(url, (size_t)n);
	}
	qsort(hs, N, sizeof(*hs), cmp_u64);
	for (i = 1; i < N; i++)
		ck_assert(hs[i - 1] != hs[i]);
	/* One byte apart, anywhere: a different hash. */
	for (i = 0; i < 25; i++) {
		memcpy(url, "https://example.com/a?b=1", 26);
		url[i] ^= 1;
		ck_assert(store_codec_hash(url, 25) !=
		    store_codec_hash(KEY, 25));
	}
	free(hs);
}
END_TEST

/*
 * TTLs, with now explicit.
 */
static struct cache_meta
meta_at(int64_t life, int64_t swr, int64_t sie, uint32_t flags)
{
	struct cache_meta cm;

	memset(&cm, 0, sizeof(cm));
	cm.request_time = cm.response_time = cm.date_value = NOW;
	cm.freshness_lifetime = life;
	cm.last_modified = -1;
	cm.swr = swr;
	cm.sie = sie;
	cm.flags = flags;
	cm.status = 200;
	return (cm);
}

struct ttl_case {
	const char	*name;
	int64_t		 life, swr, sie;
	uint32_t	 flags;
	int64_t		 now, want;
};

static const struct ttl_case ttl_cases[] = {
	{ "fresh", 100, -1, -1, 0, NOW + 30, 70 },
	{ "fresh_at_store", 100, -1, -1, 0, NOW, 100 },
	{ "last_fresh_second", 100, -1, -1, 0, NOW + 99, 1 },
	{ "stale_no_allowance", 100, -1, -1, 0, NOW + 100, 0 },
	{ "stale_within_swr", 100, 50, -1, 0, NOW + 120, 30 },
	{ "stale_within_sie", 100, -1, 500, 0, NOW + 120, 480 },
	{ "longest_allowance", 100, 50, 500, 0, NOW, 600 },
	{ "past_every_allowance", 100, 50, 500, 0, NOW + 600, 0 },
	{ "must_revalidate_no_stale", 100, 50, 500, CM_MUST_REVALIDATE, NOW,
	    100 },
	{ "no_cache_no_stale", 0, 50, 500, CM_NO_CACHE, NOW, 0 },
	{ "etag_keeps_a_day", 100, -1, -1, CM_HAS_ETAG, NOW + 30,
	    70 + CACHE_KEEP_VALIDATABLE },
	{ "stale_etag_kept_to_revalidate", 100, -1, -1, CM_HAS_ETAG,
	    NOW + 5000, CACHE_KEEP_VALIDATABLE },
	{ "last_modified_keeps", 0, -1, -1, CM_HAS_LAST_MODIFIED, NOW,
	    CACHE_KEEP_VALIDATABLE },
	{ "no_cache_with_etag", 0, -1, -1, CM_NO_CACHE | CM_HAS_ETAG, NOW,
	    CACHE_KEEP_VALIDATABLE },
	{ "clock_before_response", 100, -1, -1, 0, NOW - 50, 100 },
};

START_TEST(ttl_table)
{
	const struct ttl_case *c = &ttl_cases[_i];
	struct cache_meta cm = meta_at(c->life, c->swr, c->sie, c->flags);

	ck_assert_msg(store_codec_ttl(&cm, c->now) == c->want, "%s: %lld",
	    c->name, (long long)store_codec_ttl(&cm, c->now));
	/* The memory store's keep time, the same formula. */
	ck_assert_int_eq(store_codec_ttl(&cm, c->now),
	    cache_keep_for(&cm, c->now));
}
END_TEST

START_TEST(ttl_with_age)
{
	struct cache_meta cm = meta_at(100, -1, -1, 0);

	/* Arrived 40 s old: 60 s of freshness left at once. */
	cm.age_value = 40;
	cm.corrected_initial_age = 40;
	ck_assert_int_eq(store_codec_ttl(&cm, NOW), 60);
	ck_assert_int_eq(store_codec_ttl(&cm, NOW + 60), 0);
	cm.corrected_initial_age = CACHE_DELTA_MAX;
	ck_assert_int_eq(store_codec_ttl(&cm, NOW), 0);
}
END_TEST

/* What the Redis store passes as EX for an object. */
START_TEST(obj_ttl)
{
	struct store_obj *a = make(&shapes[BODY]), *m = make(&shapes[MARKER]);

	/* A marker lives until its drop_after. */
	ck_assert_int_eq(store_codec_obj_ttl(m, NOW), 5);
	ck_assert_int_eq(store_codec_obj_ttl(m, NOW + 4), 1);
	ck_assert_int_eq(store_codec_obj_ttl(m, NOW + 5), 0);
	ck_assert_int_eq(store_codec_obj_ttl(m, NOW + 500), 0);
	/* A variant: the policy's time, never past its drop_after. */
	a->meta = meta_at(100, 50, -1, 0);
	a->drop_after = NOW + 150;
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW), 150);
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW + 149), 1);
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW + 150), 0);
	a->drop_after = NOW + 10;
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW), 10);
	a->drop_after = NOW + 1000;
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW + 100), 50);
	/* Already unusable: not stored, whatever drop_after says. */
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW + 150), 0);
	a->meta.status = 0;
	ck_assert_int_eq(store_codec_obj_ttl(a, NOW), 0);
	store_obj_unref(a);
	store_obj_unref(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store_codec");
	TCase *tv = tcase_create("value");
	TCase *tf = tcase_create("hostile");
	TCase *tr = tcase_create("record");
	TCase *tk = tcase_create("keys");
	TCase *tt = tcase_create("ttl");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tv, round_trip, 0, NSHAPES);
	tcase_add_test(tv, layout_is_fixed);
	tcase_add_test(tv, meta_extremes);
	tcase_add_test(tv, encode_refuses);
	suite_add_tcase(s, tv);
	/* Every byte of several values, 255 ways: slow under ASan. */
	tcase_set_timeout(tf, 120);
	tcase_add_loop_test(tf, every_truncation, 0, NSHAPES);
	tcase_add_loop_test(tf, every_byte_corrupted, 0, BIG);
	tcase_add_test(tf, foreign_values);
	tcase_add_test(tf, huge_lengths);
	tcase_add_test(tf, refused_fields);
	suite_add_tcase(s, tf);
	tcase_add_test(tr, record_round_trip);
	tcase_add_test(tr, record_refused);
	tcase_add_test(tr, record_add);
	suite_add_tcase(s, tr);
	tcase_add_test(tk, key_names);
	tcase_add_test(tk, key_names_bounded);
	tcase_add_test(tk, hash_stable);
	tcase_add_test(tk, keys_distinct);
	suite_add_tcase(s, tk);
	tcase_add_loop_test(tt, ttl_table, 0,
	    (int)(sizeof(ttl_cases) / sizeof(ttl_cases[0])));
	tcase_add_test(tt, ttl_with_age);
	tcase_add_test(tt, obj_ttl);
	suite_add_tcase(s, tt);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
