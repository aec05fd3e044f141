/*
 * check_proxy_proto.c: the PROXY protocol header parser (proxy_proto.c),
 * versions 1 and 2 of HAProxy's specification ("The PROXY protocol",
 * sections 2.1 and 2.2), every case also fed one byte at a time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"	/* 12 bytes */

struct pp_case {
	const char	*name;
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 want;		/* header length, or -1 */
	const char	*src;		/* "addr port", NULL: no address */
	const char	*dst;
};

#define V1(name, s, want, src, dst)	{ name, s, 0, want, src, dst }
#define V2(name, s, want, src, dst)	\
	{ name, s, sizeof(s) - 1, want, src, dst }

static const struct pp_case cases[] = {
	/* 2.1: the human-readable header. */
	V1("v1_tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET",
	    45, "192.0.2.1 56324", "198.51.100.2 443"),
	V1("v1_tcp6", "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", 36,
	    "2001:db8::1 1", "::1 65535"),
	V1("v1_port_zero", "PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n", 32,
	    "1.2.3.4 0", "5.6.7.8 0"),
	V1("v1_unknown", "PROXY UNKNOWN\r\n", 15, NULL, NULL),
	V1("v1_unknown_rest_ignored",
	    "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
	    59, NULL, NULL),
	V1("v1_longest_107", "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 104,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535"),
	V1("v1_unknown_108_bytes", "PROXY UNKNOWN "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", -1, NULL, NULL),
	V1("v1_lowercase", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", -1, NULL,
	    NULL),
	V1("v1_tcp4_lowercase", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", -1,
	    NULL, NULL),
	V1("v1_other_protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", -1,
	    NULL, NULL),
	V1("v1_family_mismatch", "PROXY TCP4 ::1 ::1 1 2\r\n", -1, NULL,
	    NULL),
	V1("v1_family_mismatch_6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", -1,
	    NULL, NULL),
	V1("v1_two_spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", -1, NULL,
	    NULL),
	V1("v1_trailing_space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", -1,
	    NULL, NULL),
	V1("v1_missing_port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", -1, NULL,
	    NULL),
	V1("v1_extra_word", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", -1,
	    NULL, NULL),
	V1("v1_port_too_big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", -1,
	    NULL, NULL),
	V1("v1_port_leading_zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
	    -1, NULL, NULL),
	V1("v1_port_sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", -1, NULL,
	    NULL),
	V1("v1_addr_leading_zero", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", -1,
	    NULL, NULL),
	V1("v1_addr_short", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", -1, NULL,
	    NULL),
	V1("v1_bare_lf", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", -1, NULL, NULL),
	V1("v1_cr_without_lf", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", -1, NULL,
	    NULL),
	V1("v1_tab", "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", -1, NULL, NULL),
	V1("v1_empty", "PROXY \r\n", -1, NULL, NULL),
	{ "v1_nul_in_address", "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33, -1,
	    NULL, NULL },
	V1("http_request", "GET / HTTP/1.1\r\n\r\n", -1, NULL, NULL),
	V1("tls_client_hello", "\x16\x03\x01\x02\x00\x01", -1, NULL, NULL),

	/* 2.2: the binary header. */
	V2("v2_tcp4", SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01"
	    "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb" "GET", 28,
	    "192.0.2.1 56324", "198.51.100.2 443"),
	V2("v2_tcp6", SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x00\x01\xff\xff", 52,
	    "2001:db8::1 1", "::1 65535"),
	V2("v2_local", SIG "\x20\x00\x00\x00", 16, NULL, NULL),
	V2("v2_local_with_block", SIG "\x20\x11\x00\x0c" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02", 28, NULL, NULL),
	V2("v2_unspec", SIG "\x21\x00\x00\x00", 16, NULL, NULL),
	V2("v2_udp_ignored", SIG "\x21\x12\x00\x0c" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02", 28, NULL, NULL),
	V2("v2_tlvs", SIG "\x21\x11\x00\x17" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02"
	    "\x04\x00\x00" "\x02\x00\x05" "a.com", 39, "1.2.3.4 1",
	    "5.6.7.8 2"),
	V2("v2_tlv_overruns", SIG "\x21\x11\x00\x10" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02" "\x02\x00\x05" "a", -1,
	    NULL, NULL),
	V2("v2_tlv_cut_header", SIG "\x21\x11\x00\x0e" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02" "\x02\x00", -1, NULL, NULL),
	V2("v2_block_too_short", SIG "\x21\x11\x00\x08" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08", -1, NULL, NULL),
	V2("v2_version_1", SIG "\x11\x11\x00\x0c" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02", -1, NULL, NULL),
	V2("v2_command_2", SIG "\x22\x11\x00\x0c" "\x01\x02\x03\x04"
	    "\x05\x06\x07\x08" "\x00\x01\x00\x02", -1, NULL, NULL),
	V2("v2_family_4", SIG "\x21\x41\x00\x00", -1, NULL, NULL),
	V2("v2_too_long", SIG "\x21\x11\x10\x00", -1, NULL, NULL),
	V2("v2_bad_signature", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00", -1,
	    NULL, NULL),
};

/* "addr port" of an AF_INET or AF_INET6 sockaddr. */
static void
fmt(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(out, cap, "%s %u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(out, cap, "%s %u", a, ntohs(s->sin6_port));
	} else
		snprintf(out, cap, "family %d", ss->ss_family);
}

START_TEST(table)
{
	const struct pp_case	*c = &cases[_i];
	struct pp_result	 r;
	size_t			 len = c->len ? c->len : strlen(c->in), i;
	char			 got[128];
	int			 rv;

	rv = pp_parse((const unsigned char *)c->in, len, &r);
	ck_assert_msg(rv == c->want, "%s: %d, not %d", c->name, rv, c->want);
	if (c->want > 0) {
		ck_assert_int_eq(r.version, c->in[0] == 'P' ? 1 : 2);
		ck_assert_msg(r.has_addr == (c->src != NULL), "%s: has_addr",
		    c->name);
		if (c->src != NULL) {
			fmt(&r.src, got, sizeof(got));
			ck_assert_msg(strcmp(got, c->src) == 0, "%s: src %s",
			    c->name, got);
			fmt(&r.dst, got, sizeof(got));
			ck_assert_msg(strcmp(got, c->dst) == 0, "%s: dst %s",
			    c->name, got);
		}
	}
	/* Incremental: a valid header's prefixes all ask for more; an
	 * invalid one's never claim a header. */
	for (i = 0; i < len; i++) {
		rv = pp_parse((const unsigned char *)c->in, i, &r);
		if (c->want > 0 && i < (size_t)c->want)
			ck_assert_msg(rv == 0, "%s: prefix %zu: %d", c->name, i,
			    rv);
		else if (c->want < 0)
			ck_assert_msg(rv <= 0, "%s: prefix %zu: %d", c->name,
			    i, rv);
	}
}
END_TEST

/* A v1 line with no CR within 107 bytes is refused at once, not waited
 * on; a v2 header asks for its whole stated length. */
START_TEST(bounds)
{
	unsigned char		 buf[PP_MAX + 64];
	struct pp_result	 r;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	ck_assert_int_eq(pp_parse(buf, PP_V1_MAX - 1, &r), 0);
	ck_assert_int_eq(pp_parse(buf, PP_V1_MAX, &r), -1);
	memcpy(buf, SIG "\x20\x00", 14);
	buf[14] = (PP_MAX - 16) >> 8;
	buf[15] = (PP_MAX - 16) & 0xff;
	memset(buf + 16, 0, sizeof(buf) - 16);
	/* Type 0, length 0 records, three bytes each, must fill it. */
	ck_assert_int_eq(pp_parse(buf, PP_MAX - 1, &r), 0);
	ck_assert_int_eq(pp_parse(buf, PP_MAX, &r), (PP_MAX - 16) % 3 == 0 ?
	    PP_MAX : -1);
	buf[15]++;
	ck_assert_int_eq(pp_parse(buf, sizeof(buf), &r), -1);
	ck_assert_int_eq(pp_parse(buf, 0, &r), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("proxy_proto");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
