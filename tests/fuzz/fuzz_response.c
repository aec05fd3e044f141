/*
 * fuzz_response.c: libFuzzer target for the response parser.
 *
 * A response head is parsed whole and in input-derived pieces (which must
 * agree), its framing is asked for every method class, it is written for a
 * client in each output variant, and the bytes after the head go through
 * the chunked parser whole and split, which must agree too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_msg.h"
#include "http_parse.h"

#define NFIELDS	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return (h);
}

static uint32_t
seed_of(const uint8_t *d, size_t n)
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return (h);
}

static int
span_same(struct http_span a, struct http_span b)
{
	return (a.off == b.off && a.len == b.len);
}

static void
msg_same(const struct http_msg *a, const struct http_msg *b)
{
	uint32_t	 i;

	if (a->method != b->method || !span_same(a->target, b->target) ||
	    a->form != b->form || !span_same(a->authority, b->authority) ||
	    !span_same(a->path, b->path) || a->version != b->version ||
	    a->nfields != b->nfields || a->head_len != b->head_len ||
	    a->framing != b->framing ||
	    a->content_length != b->content_length ||
	    a->has_length != b->has_length || a->host != b->host ||
	    a->conn != b->conn || a->expect_continue != b->expect_continue ||
	    a->expect_other != b->expect_other || a->status != b->status ||
	    !span_same(a->reason, b->reason))
		abort();
	for (i = 0; i < a->nfields; i++)
		if (!span_same(a->fields[i].name, b->fields[i].name) ||
		    !span_same(a->fields[i].value, b->fields[i].value) ||
		    a->fields[i].id != b->fields[i].id ||
		    a->fields[i].hop != b->fields[i].hop)
			abort();
}

static void
count_data(void *arg, const char *p, size_t n)
{
	uint64_t	*sum = arg;
	size_t		 i;

	if (n == 0)
		abort();
	for (i = 0; i < n; i++)
		*sum = *sum * 31 + (unsigned char)p[i];
}

/* The chunked parser whole and in input-derived pieces must agree. */
static void
chunked_check(const uint8_t *d, size_t n, uint32_t seed)
{
	struct http_chunked	 a, b;
	uint64_t		 suma = 0, sumb = 0;
	size_t			 ca, cb = 0, off = 0, step, used;
	char			*p;
	int			 ra, rb = HP_AGAIN;

	http_chunked_init(&a);
	ra = http_chunked_parse(&a, (const char *)d, n, &ca, count_data, &suma);
	if (ca > n || (ra == HP_AGAIN && ca != n))
		abort();
	http_chunked_init(&b);
	do {
		seed = mix(seed + 1);
		step = seed % 9 == 0 ? 1 : seed % 64;
		if (step > n - off)
			step = n - off;
		p = malloc(step > 0 ? step : 1);
		memcpy(p, d + off, step);
		rb = http_chunked_parse(&b, p, step, &used, count_data, &sumb);
		free(p);
		cb += used;
		off += step;
	} while (rb == HP_AGAIN && off < n);
	if (ra != rb || ca != cb || suma != sumb || a.total != b.total)
		abort();
}

static void
write_check(const char *buf, const struct http_msg *m, uint32_t seed)
{
	struct http_out	 o = { seed & 1, seed & 2 ? 10 : 11, (seed >> 2) & 1,
	    (seed >> 3) & 1, "vane", seed & 16 ? NULL :
	    "Sun, 06 Nov 1994 08:49:37 GMT" };
	size_t		 size = http_msg_response_size(m, &o);
	char		*out = malloc(size + 1);
	ssize_t		 n;

	out[size] = 0x5a;
	n = http_msg_response(out, size, buf, m, &o);
	if (n < 0 || (size_t)n > size || out[size] != 0x5a)
		abort();
	if (http_msg_response(out, (size_t)n - 1, buf, m, &o) != -1)
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_method methods[] = { HM_GET, HM_HEAD, HM_POST,
	    HM_CONNECT, HM_OTHER };
	struct http_field	 fa[NFIELDS], fb[NFIELDS];
	struct http_limits	 lim = { 4096, NFIELDS };
	struct http_msg		 a, b;
	enum http_framing	 fr;
	uint32_t		 seed = seed_of(data, size);
	size_t			 pos = 0, i;
	char			*buf, *p;
	int			 ra, rb;

	buf = malloc(size > 0 ? size : 1);
	memcpy(buf, data, size);
	http_msg_init(&a, fa, NFIELDS);
	ra = http_parse_response(&a, buf, size, &lim);

	http_msg_init(&b, fb, NFIELDS);
	do {
		seed = mix(seed);
		pos += seed % 4 == 0 ? 1 : seed % 48;
		if (pos > size)
			pos = size;
		p = malloc(pos > 0 ? pos : 1);
		memcpy(p, data, pos);
		rb = http_parse_response(&b, p, pos, &lim);
		free(p);
	} while (rb == HP_AGAIN && pos < size);
	if (ra != rb)
		abort();
	msg_same(&a, &b);
	if (ra == HP_OK) {
		if (a.head_len > size || a.status < 100 || a.status > 599)
			abort();
		for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			fr = http_response_framing(&a, methods[i]);
			if (fr == HF_CHUNKED && a.framing != HF_CHUNKED)
				abort();
			if (methods[i] == HM_HEAD && fr != HF_NONE)
				abort();
		}
		write_check(buf, &a, seed);
		chunked_check(data + a.head_len, size - a.head_len, seed);
	} else if (ra != HP_AGAIN && http_err_status(ra) == 0)
		abort();
	free(buf);
	return (0);
}
