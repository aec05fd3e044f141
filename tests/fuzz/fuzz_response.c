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
#include "fuzz_common.h"

#define NFIELDS	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	size_t			 i;
	char			*buf;
	int			 ra;

	buf = malloc(size > 0 ? size : 1);
	memcpy(buf, data, size);
	http_msg_init(&a, fa, NFIELDS);
	http_msg_init(&b, fb, NFIELDS);
	ra = head_check(http_parse_response, data, size, &lim, &a, &b, &seed);
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
