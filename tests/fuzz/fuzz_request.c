/*
 * fuzz_request.c: libFuzzer target for the request parser.
 *
 * The input is parsed whole, then again in pieces whose sizes come from
 * the input itself, each prefix in a fresh allocation (the buffer moves, as
 * it may at the caller); both must agree exactly. A parsed request is then
 * written for a backend (as a protocol switch when it asks for one, with
 * a request ID and Accept-Encoding reduced), and the rest of the input
 * (or all of it) goes through the chunked parser whole and split, which
 * must agree too.
 * The input also goes to the PROXY protocol parser, which comes before
 * the request on a listener that takes it: whole, and cut one byte
 * before the end of a header it accepts (which must ask for more).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_msg.h"
#include "http_parse.h"
#include "proxy_proto.h"
#include "fuzz_common.h"

#define NFIELDS	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
proxy_check(const uint8_t *data, size_t size)
{
	struct pp_result	 r;
	int			 n;

	n = pp_parse(data, size, &r);
	if (n < -1 || (size_t)(n > 0 ? n : 0) > size || n > PP_MAX)
		abort();
	if (n <= 0)
		return;
	if (r.has_addr && r.src.ss_family != AF_INET &&
	    r.src.ss_family != AF_INET6)
		abort();
	if (pp_parse(data, (size_t)n - 1, &r) != 0)
		abort();
}

static void
write_check(const char *buf, const struct http_msg *m)
{
	struct http_fwd	 fwd = { "2001:db8::1", "https", "vane", 1, "[::1]:8080" };
	size_t		 size;
	char		*out;
	ssize_t		 n;

	/* A protocol switch and a request ID add lines: the bound covers
	 * them too. */
	fwd.upgrade = http_upgrade_ok(buf, m);
	fwd.id_field = "X-Request-ID";
	fwd.id = "0123456789abcdef0123456789abcdef";
	fwd.accept_encoding = http_ae_value(http_accept_gzip(buf, m));
	size = http_msg_request_size(m, &fwd);
	out = malloc(size + 1);

	out[size] = 0x5a;
	n = http_msg_request(out, size, buf, m, &fwd);
	if (n < 0 || (size_t)n > size || out[size] != 0x5a)
		abort();
	/* One byte short must fail cleanly. */
	if (http_msg_request(out, (size_t)n - 1, buf, m, &fwd) != -1)
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_field	 fa[NFIELDS], fb[NFIELDS];
	struct http_limits	 lim = { 4096, NFIELDS };
	struct http_msg		 a, b;
	uint32_t		 seed = seed_of(data, size);
	char			*buf;
	int			 ra;

	buf = malloc(size > 0 ? size : 1);
	memcpy(buf, data, size);
	proxy_check(data, size);
	http_msg_init(&a, fa, NFIELDS);
	http_msg_init(&b, fb, NFIELDS);
	ra = head_check(http_parse_request, data, size, &lim, &a, &b, &seed);
	if (ra == HP_OK) {
		if (a.head_len > size)
			abort();
		write_check(buf, &a);
		chunked_check(data + a.head_len, size - a.head_len, seed);
	} else {
		if (ra != HP_AGAIN && http_err_status(ra) == 0)
			abort();
		chunked_check(data, size, seed);
	}
	free(buf);
	return (0);
}
