/*
 * fuzz_common.h: helpers shared by the libFuzzer targets (each target is
 * one translation unit, so these are static): input-derived split sizes,
 * field-by-field comparison of two parses, and the chunked parser fed
 * whole against fed in pieces.
 */
#ifndef VANE_FUZZ_COMMON_H
#define VANE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

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

typedef int	(*head_parser)(struct http_msg *, const char *, size_t,
		    const struct http_limits *);

/*
 * Parse the head in data whole into a, then in input-derived pieces (each
 * prefix in a fresh allocation, so the buffer moves) into b; the two must
 * agree field for field. Returns the result; *seedp moves on.
 */
static int
head_check(head_parser parse, const uint8_t *data, size_t size,
    const struct http_limits *lim, struct http_msg *a, struct http_msg *b,
    uint32_t *seedp)
{
	size_t	 pos = 0;
	char	*p;
	int	 ra, rb;

	p = malloc(size > 0 ? size : 1);
	memcpy(p, data, size);
	ra = parse(a, p, size, lim);
	free(p);
	do {
		*seedp = mix(*seedp);
		pos += *seedp % 4 == 0 ? 1 : *seedp % 48;
		if (pos > size)
			pos = size;
		p = malloc(pos > 0 ? pos : 1);
		memcpy(p, data, pos);
		rb = parse(b, p, pos, lim);
		free(p);
	} while (rb == HP_AGAIN && pos < size);
	if (ra != rb)
		abort();
	msg_same(a, b);
	return (ra);
}

#endif
