/*
 * store_codec.c: the Redis store's value formats, key names and TTLs.
 * See store_codec.h for the data model and the byte layouts. Pure code:
 * no I/O, no clock, the only allocation is store_obj_new() in decode.
 */
#include <string.h>

#include "store_codec.h"

static const uint8_t	obj_magic[4] = { 'v', 'n', 'o', STORE_CODEC_VERSION };
static const uint8_t	rec_magic[4] = { 'v', 'n', 'k',
			    STORE_CODEC_REC_VERSION };
static const char	hexdig[] = "0123456789abcdef";

#define CM_KNOWN	(CM_MUST_REVALIDATE | CM_NO_CACHE | CM_HEURISTIC | \
			CM_IMMUTABLE | CM_HAS_ETAG | CM_HAS_LAST_MODIFIED)

const char *
store_codec_strerror(int err)
{
	switch (err) {
	case STORE_CODEC_OK:		return ("ok");
	case STORE_CODEC_TRUNCATED:	return ("truncated");
	case STORE_CODEC_TRAILING:	return ("trailing");
	case STORE_CODEC_FOREIGN:	return ("foreign");
	case STORE_CODEC_VERSION_SKEW:	return ("version");
	case STORE_CODEC_LIMIT:		return ("limit");
	case STORE_CODEC_CORRUPT:	return ("corrupt");
	case STORE_CODEC_KEY:		return ("key");
	case STORE_CODEC_NOMEM:		return ("nomem");
	}
	return ("unknown");
}

/*
 * Little-endian writers and readers, byte by byte: the layout never
 * depends on the host or the compiler.
 */
static uint8_t *
put_u(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return (p + n);
}

static uint64_t
get_u(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return (v);
}

/* Two's complement without implementation-defined conversions. */
static int64_t
get_i64(const uint8_t *p)
{
	uint64_t u = get_u(p, 8);

	if (u <= (uint64_t)INT64_MAX)
		return ((int64_t)u);
	return (-(int64_t)(~u) - 1);
}

static uint8_t *
put_bytes(uint8_t *p, const void *src, size_t len)
{
	if (len > 0)
		memcpy(p, src, len);
	return (p + len);
}

static int
time_ok(int64_t t)
{
	return (t >= -STORE_CODEC_TIME_MAX && t <= STORE_CODEC_TIME_MAX);
}

/*
 * The cache_meta ranges a value may carry: wide enough for anything
 * cache_meta_fill() produces, narrow enough that cache_current_age() and
 * cache_ttl() cannot overflow on what a damaged value decodes to. A
 * marker's meta is all zero.
 */
static int
meta_ok(const struct cache_meta *cm, int hfm)
{
	const int64_t *t[] = { &cm->request_time, &cm->response_time,
	    &cm->date_value, &cm->age_value, &cm->corrected_initial_age,
	    &cm->freshness_lifetime, &cm->last_modified, &cm->swr, &cm->sie };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!time_ok(*t[i]))
			return (0);
	if (cm->age_value < 0 || cm->swr < -1 || cm->sie < -1 ||
	    (cm->flags & ~(uint32_t)CM_KNOWN) != 0 ||
	    (unsigned)cm->cc_source > CACHE_CC_VANE)
		return (0);
	if (hfm)
		return (cm->status == 0);
	return (cm->status >= 100 && cm->status <= 999);
}

/* 0 if obj cannot be encoded, else its encoded size. */
size_t
store_codec_size(const struct store_obj *obj)
{
	size_t n = STORE_CODEC_HDR;
	int hfm = (obj->flags & STORE_OBJ_HFM) != 0;
	unsigned i;

	if (obj->key_len == 0 || obj->key_len > STORE_CODEC_KEY_MAX ||
	    obj->head_len > STORE_CODEC_HEAD_MAX ||
	    obj->wire_len > obj->head_len ||
	    obj->vary_len > STORE_CODEC_VARY_MAX ||
	    obj->body_len > STORE_CODEC_BODY_MAX ||
	    obj->ntags > STORE_MAX_TAGS || !time_ok(obj->drop_after) ||
	    !meta_ok(&obj->meta, hfm))
		return (0);
	if (hfm && (obj->head_len | obj->vary_len | obj->body_len |
	    obj->ntags) != 0)
		return (0);
	for (i = 0; i < obj->ntags; i++) {
		if (obj->tags[i].len == 0 ||
		    obj->tags[i].len > STORE_CODEC_TAG_MAX)
			return (0);
		n += 2 + obj->tags[i].len;
	}
	/* Each part is bounded above, so the sum cannot wrap. */
	return (n + obj->key_len + obj->head_len + obj->vary_len +
	    obj->body_len);
}

size_t
store_codec_encode(const struct store_obj *obj, void *out, size_t cap)
{
	const struct cache_meta *cm = &obj->meta;
	uint8_t *p = out;
	size_t size;
	unsigned i;

	if ((size = store_codec_size(obj)) == 0 || size > cap)
		return (0);
	p = put_bytes(p, obj_magic, sizeof(obj_magic));
	p = put_u(p, obj->flags & STORE_OBJ_HFM, 4);
	p = put_u(p, (uint64_t)obj->drop_after, 8);
	p = put_u(p, (uint64_t)cm->request_time, 8);
	p = put_u(p, (uint64_t)cm->response_time, 8);
	p = put_u(p, (uint64_t)cm->date_value, 8);
	p = put_u(p, (uint64_t)cm->age_value, 8);
	p = put_u(p, (uint64_t)cm->corrected_initial_age, 8);
	p = put_u(p, (uint64_t)cm->freshness_lifetime, 8);
	p = put_u(p, (uint64_t)cm->last_modified, 8);
	p = put_u(p, (uint64_t)cm->swr, 8);
	p = put_u(p, (uint64_t)cm->sie, 8);
	p = put_u(p, cm->flags, 4);
	p = put_u(p, (uint64_t)cm->status, 2);
	p = put_u(p, (uint64_t)cm->cc_source, 1);
	p = put_u(p, obj->ntags, 1);
	p = put_u(p, obj->key_len, 4);
	p = put_u(p, obj->head_len, 4);
	p = put_u(p, obj->wire_len, 4);
	p = put_u(p, obj->vary_len, 4);
	p = put_u(p, obj->body_len, 4);
	p = put_bytes(p, obj->key, obj->key_len);
	p = put_bytes(p, obj->head, obj->head_len);
	p = put_bytes(p, obj->vary, obj->vary_len);
	for (i = 0; i < obj->ntags; i++) {
		p = put_u(p, obj->tags[i].len, 2);
		p = put_bytes(p, obj->tags[i].p, obj->tags[i].len);
	}
	p = put_bytes(p, obj->body, obj->body_len);
	return ((size_t)(p - (uint8_t *)out));
}

/* A bounds-checked reader over the value: every take fails past end. */
struct rd {
	const uint8_t	*p, *end;
};

static const uint8_t *
take(struct rd *r, size_t n)
{
	const uint8_t *at = r->p;

	if (n > (size_t)(r->end - r->p))
		return (NULL);
	r->p += n;
	return (at);
}

/* The fixed header, already known to be STORE_CODEC_HDR bytes. */
struct hdr {
	uint32_t		 flags;
	int64_t			 drop_after;
	struct cache_meta	 meta;
	unsigned		 ntags;
	uint32_t		 key_len, head_len, wire_len, vary_len, body_len;
};

static int
read_hdr(struct hdr *h, const uint8_t *p, uint64_t max_body)
{
	struct cache_meta *cm = &h->meta;
	unsigned cc;
	int hfm;

	memset(h, 0, sizeof(*h));
	h->flags = (uint32_t)get_u(p + 4, 4);
	h->drop_after = get_i64(p + 8);
	cm->request_time = get_i64(p + 16);
	cm->response_time = get_i64(p + 24);
	cm->date_value = get_i64(p + 32);
	cm->age_value = get_i64(p + 40);
	cm->corrected_initial_age = get_i64(p + 48);
	cm->freshness_lifetime = get_i64(p + 56);
	cm->last_modified = get_i64(p + 64);
	cm->swr = get_i64(p + 72);
	cm->sie = get_i64(p + 80);
	cm->flags = (uint32_t)get_u(p + 88, 4);
	cm->status = (int)get_u(p + 92, 2);
	/* Range-checked before it becomes an enum. */
	if ((cc = (unsigned)get_u(p + 94, 1)) > CACHE_CC_VANE)
		return (STORE_CODEC_CORRUPT);
	cm->cc_source = (enum cache_cc_source)cc;
	h->ntags = (unsigned)get_u(p + 95, 1);
	h->key_len = (uint32_t)get_u(p + 96, 4);
	h->head_len = (uint32_t)get_u(p + 100, 4);
	h->wire_len = (uint32_t)get_u(p + 104, 4);
	h->vary_len = (uint32_t)get_u(p + 108, 4);
	h->body_len = (uint32_t)get_u(p + 112, 4);
	if (h->key_len > STORE_CODEC_KEY_MAX ||
	    h->head_len > STORE_CODEC_HEAD_MAX ||
	    h->vary_len > STORE_CODEC_VARY_MAX ||
	    h->body_len > STORE_CODEC_BODY_MAX || h->body_len > max_body ||
	    h->ntags > STORE_MAX_TAGS)
		return (STORE_CODEC_LIMIT);
	hfm = (h->flags & STORE_OBJ_HFM) != 0;
	if ((h->flags & ~(uint32_t)STORE_OBJ_HFM) != 0 || h->key_len == 0 ||
	    h->wire_len > h->head_len || !time_ok(h->drop_after) ||
	    !meta_ok(cm, hfm))
		return (STORE_CODEC_CORRUPT);
	if (hfm && (h->head_len | h->vary_len | h->body_len | h->ntags) != 0)
		return (STORE_CODEC_CORRUPT);
	return (STORE_CODEC_OK);
}

/* Parse everything after the header into in; STORE_CODEC_*. */
static int
read_parts(struct rd *r, const struct hdr *h, struct store_obj_init *in,
    struct store_str *tags)
{
	const uint8_t *l;
	unsigned i;

	if ((in->key = take(r, h->key_len)) == NULL ||
	    (in->head = take(r, h->head_len)) == NULL ||
	    (in->vary = take(r, h->vary_len)) == NULL)
		return (STORE_CODEC_TRUNCATED);
	for (i = 0; i < h->ntags; i++) {
		if ((l = take(r, 2)) == NULL)
			return (STORE_CODEC_TRUNCATED);
		tags[i].len = (size_t)get_u(l, 2);
		if (tags[i].len == 0 || tags[i].len > STORE_CODEC_TAG_MAX)
			return (STORE_CODEC_CORRUPT);
		if ((tags[i].p = take(r, tags[i].len)) == NULL)
			return (STORE_CODEC_TRUNCATED);
	}
	if ((in->body = take(r, h->body_len)) == NULL)
		return (STORE_CODEC_TRUNCATED);
	if (r->p != r->end)
		return (STORE_CODEC_TRAILING);
	in->key_len = h->key_len;
	in->head_len = h->head_len;
	in->wire_len = h->wire_len;
	in->vary_len = h->vary_len;
	in->body_len = h->body_len;
	in->tags = tags;
	in->ntags = h->ntags;
	in->meta = &h->meta;
	in->drop_after = h->drop_after;
	return (STORE_CODEC_OK);
}

/* A value shorter than the header: truncated if what is there is ours. */
static int
check_magic(const uint8_t *p, size_t len)
{
	size_t n = len < 3 ? len : 3;

	if (len == 0)
		return (STORE_CODEC_TRUNCATED);
	if (memcmp(p, obj_magic, n) != 0)
		return (STORE_CODEC_FOREIGN);
	if (len < 4)
		return (STORE_CODEC_TRUNCATED);
	if (p[3] != STORE_CODEC_VERSION)
		return (STORE_CODEC_VERSION_SKEW);
	return (len < STORE_CODEC_HDR ? STORE_CODEC_TRUNCATED : STORE_CODEC_OK);
}

struct store_obj *
store_codec_decode(const void *p, size_t len, const void *key,
    size_t key_len, uint64_t max_body, int *err)
{
	struct store_str tags[STORE_MAX_TAGS];
	struct store_obj_init in;
	struct store_obj *obj = NULL;
	struct hdr h;
	struct rd r;
	int e;

	memset(&in, 0, sizeof(in));
	if ((e = check_magic(p, len)) != STORE_CODEC_OK ||
	    (e = read_hdr(&h, p, max_body)) != STORE_CODEC_OK)
		goto out;
	r.p = (const uint8_t *)p + STORE_CODEC_HDR;
	r.end = (const uint8_t *)p + len;
	if ((e = read_parts(&r, &h, &in, tags)) != STORE_CODEC_OK)
		goto out;
	if (in.key_len != key_len || memcmp(in.key, key, key_len) != 0) {
		e = STORE_CODEC_KEY;
		goto out;
	}
	if ((obj = store_obj_new(&in)) == NULL) {
		e = STORE_CODEC_NOMEM;
		goto out;
	}
	if (h.flags & STORE_OBJ_HFM)
		obj->flags |= STORE_OBJ_HFM;
out:
	if (err != NULL)
		*err = e;
	return (obj);
}

/*
 * The primary-key record.
 */
static void
put_hex(char *out, uint64_t v)
{
	int i;

	for (i = STORE_CODEC_HASH_HEX - 1; i >= 0; i--, v >>= 4)
		out[i] = hexdig[v & 0xf];
}

/* 0, or -1 unless 16 lowercase hex digits. */
static int
get_hex(const uint8_t *p, uint64_t *v)
{
	const char *d;
	int i;

	*v = 0;
	for (i = 0; i < STORE_CODEC_HASH_HEX; i++) {
		if (p[i] == '\0' || (d = strchr(hexdig, p[i])) == NULL)
			return (-1);
		*v = *v << 4 | (uint64_t)(d - hexdig);
	}
	return (0);
}

static int
rec_ok(const struct store_codec_rec *r)
{
	unsigned i, j;

	if (r->n > STORE_MAX_VARIANTS)
		return (0);
	for (i = 0; i < r->n; i++)
		for (j = 0; j < i; j++)
			if (r->v[i] == r->v[j])
				return (0);
	return (1);
}

size_t
store_codec_rec_encode(const struct store_codec_rec *r, void *out,
    size_t cap)
{
	uint8_t *p = out;
	size_t len;
	unsigned i;

	if (!rec_ok(r) || (len = 5 + 16 * (size_t)r->n) > cap)
		return (0);
	p = put_bytes(p, rec_magic, sizeof(rec_magic));
	*p++ = (uint8_t)r->n;
	for (i = 0; i < r->n; i++, p += STORE_CODEC_HASH_HEX)
		put_hex((char *)p, r->v[i]);
	return (len);
}

int
store_codec_rec_decode(struct store_codec_rec *r, const void *p, size_t len)
{
	const uint8_t *b = p;
	unsigned i;

	r->n = 0;
	if (len < 5 || memcmp(b, rec_magic, sizeof(rec_magic)) != 0 ||
	    b[4] > STORE_MAX_VARIANTS || len != 5 + 16 * (size_t)b[4])
		return (-1);
	for (i = 0; i < b[4]; i++)
		if (get_hex(b + 5 + 16 * i, &r->v[i]) == -1)
			return (-1);
	r->n = b[4];
	if (!rec_ok(r)) {
		r->n = 0;
		return (-1);
	}
	return (0);
}

int
store_codec_rec_add(struct store_codec_rec *r, uint64_t v, uint64_t *evicted)
{
	unsigned i, n = r->n;
	int out = 0;

	if (n > STORE_MAX_VARIANTS)
		n = r->n = STORE_MAX_VARIANTS;
	for (i = 0; i < n && r->v[i] != v; i++)
		;
	if (i == n && n == STORE_MAX_VARIANTS) {
		*evicted = r->v[n - 1];
		out = 1;
		i = n - 1;	/* the oldest slot is reused */
	} else if (i == n)
		r->n = ++n;
	memmove(&r->v[1], &r->v[0], i * sizeof(r->v[0]));
	r->v[0] = v;
	return (out);
}

/*
 * Key names.
 */
uint64_t
store_codec_hash(const void *p, size_t len)
{
	return (store_hash(p, len, 0));
}

/* prefix + the len bytes of s into out; -1 if out + NUL do not fit. */
static int
key_cat(char *out, size_t cap, const char *prefix, const void *s, size_t len)
{
	size_t plen = strlen(prefix);

	if (plen > cap || len >= cap - plen || plen + len > 65536)
		return (-1);
	memcpy(out, prefix, plen);
	memcpy(out + plen, s, len);
	out[plen + len] = '\0';
	return ((int)(plen + len));
}

int
store_codec_key(char *out, size_t cap, const char *prefix, int kind,
    uint64_t h, uint64_t v)
{
	char s[2 + 1 + STORE_CODEC_HASH_HEX + 2 + STORE_CODEC_HASH_HEX];
	size_t n;

	switch (kind) {
	case STORE_CODEC_KEY_OBJ:
	case STORE_CODEC_KEY_REC:
	case STORE_CODEC_KEY_MARKER:
	case STORE_CODEC_KEY_LOCK:
		break;
	default:
		return (-1);
	}
	s[0] = (char)kind;
	s[1] = ':';
	s[2] = '{';
	put_hex(s + 3, h);
	s[3 + STORE_CODEC_HASH_HEX] = '}';
	n = 4 + STORE_CODEC_HASH_HEX;
	if (kind == STORE_CODEC_KEY_OBJ) {
		s[n++] = ':';
		put_hex(s + n, v);
		n += STORE_CODEC_HASH_HEX;
	}
	return (key_cat(out, cap, prefix, s, n));
}

int
store_codec_key_tag(char *out, size_t cap, const char *prefix,
    const void *tag, size_t len)
{
	size_t plen = strlen(prefix);
	int n;

	if (len == 0 || len > STORE_CODEC_TAG_MAX || plen > cap ||
	    cap - plen < 2)
		return (-1);
	if ((n = key_cat(out, cap, prefix, "t:", 2)) == -1 ||
	    key_cat(out + n, cap - (size_t)n, "", tag, len) == -1)
		return (-1);
	return (n + (int)len);
}

int
store_codec_tag_member(char *out, size_t cap, uint64_t h, uint64_t v)
{
	char s[2 * STORE_CODEC_HASH_HEX + 1];

	put_hex(s, h);
	s[STORE_CODEC_HASH_HEX] = ':';
	put_hex(s + STORE_CODEC_HASH_HEX + 1, v);
	return (key_cat(out, cap, "", s, sizeof(s)));
}

/*
 * TTLs.
 */
int64_t
store_codec_ttl(const struct cache_meta *cm, int64_t now)
{
	int64_t ttl = cache_keep_for(cm, now);

	return (ttl > 0 ? ttl : 0);
}

int64_t
store_codec_obj_ttl(const struct store_obj *obj, int64_t now)
{
	int64_t left, ttl;

	if (!time_ok(obj->drop_after) || !time_ok(now))
		return (0);
	left = obj->drop_after - now;
	if (left <= 0)
		return (0);
	if (obj->flags & STORE_OBJ_HFM)
		return (left);
	if (!meta_ok(&obj->meta, 0))
		return (0);
	ttl = store_codec_ttl(&obj->meta, now);
	return (ttl < left ? ttl : left);
}
