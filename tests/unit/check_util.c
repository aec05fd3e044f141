/*
 * check_util.c: util.c, the parsers of sizes, durations and addresses the
 * configuration relies on, and the HTTP date.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util.h"

START_TEST(test_size_ok)
{
	static const struct {
		const char	*s;
		uint64_t	 v;
	} t[] = {
		{ "0", 0 }, { "512", 512 }, { "16K", 16384 }, { "16k", 16384 },
		{ "16KB", 16384 }, { "16kb", 16384 }, { "1B", 1 },
		{ "256M", 256ULL << 20 }, { "1G", 1ULL << 30 },
		{ "1T", 1ULL << 40 }, { "007", 7 },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215T", 16777215ULL << 40 },
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = 42;
		ck_assert_msg(parse_size(t[i].s, &v) == 0, "%s", t[i].s);
		ck_assert_msg(v == t[i].v, "%s", t[i].s);
	}
}
END_TEST

START_TEST(test_size_bad)
{
	static const char *const t[] = {
		"", "K", "-1", "+1", " 1", "1 ", "1.5M", "1KK", "1KBB", "1P",
		"1X", "0x10", "18446744073709551616", "16777216T",
		"99999999999999999999", "1M ", "1e3",
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(parse_size(t[i], &v) == -1, "'%s'", t[i]);
	ck_assert_int_eq(parse_size(NULL, &v), -1);
}
END_TEST

START_TEST(test_duration_ok)
{
	static const struct {
		const char	*s;
		uint64_t	 ms;
	} t[] = {
		{ "0", 0 }, { "2", 2000 }, { "500ms", 500 }, { "2s", 2000 },
		{ "1m", 60000 }, { "1h", 3600000 }, { "1d", 86400000 },
		{ "0ms", 0 }, { "90s", 90000 },
		{ "18446744073709551615ms", UINT64_MAX },
		{ "18446744073709551s", 18446744073709551000ULL },
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(parse_duration(t[i].s, &v) == 0, "%s", t[i].s);
		ck_assert_msg(v == t[i].ms, "%s", t[i].s);
	}
}
END_TEST

START_TEST(test_duration_bad)
{
	static const char *const t[] = {
		"", "s", "ms", "-1s", "1.5s", "1 s", "1S", "1sec", "1w",
		"1mss", "1m30s", "18446744073709552s", "18446744073709551616",
		"213503982335d",
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(parse_duration(t[i], &v) == -1, "'%s'", t[i]);
	ck_assert_int_eq(parse_duration(NULL, &v), -1);
}
END_TEST

/* Parse s and print it back with format_address. */
static const char *
roundtrip(const char *s, int *family)
{
	static char			 buf[64];
	struct sockaddr_storage		 ss;
	socklen_t			 len;
	const char			*why = NULL;

	if (parse_address(s, &ss, &len, &why) == -1) {
		ck_assert_ptr_nonnull(why);
		return (NULL);
	}
	*family = ss.ss_family;
	ck_assert_int_eq(len, ss.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	return (format_address((struct sockaddr *)&ss, buf, sizeof(buf)));
}

START_TEST(test_address_ok)
{
	static const struct {
		const char	*in, *out;
		int		 family;
	} t[] = {
		{ "127.0.0.1:8080", "127.0.0.1:8080", AF_INET },
		{ "0.0.0.0:80", "0.0.0.0:80", AF_INET },
		{ "*:80", "0.0.0.0:80", AF_INET },
		{ "localhost:8001", "127.0.0.1:8001", AF_INET },
		{ "LocalHost:1", "127.0.0.1:1", AF_INET },
		{ "10.1.2.3:65535", "10.1.2.3:65535", AF_INET },
		{ "[::1]:8080", "[::1]:8080", AF_INET6 },
		{ "[::]:443", "[::]:443", AF_INET6 },
		{ "[2001:db8::0001]:80", "[2001:db8::1]:80", AF_INET6 },
		{ "[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80", AF_INET6 },
		{ "127.0.0.1:080", "127.0.0.1:80", AF_INET },
	};
	const char	*r;
	size_t		 i;
	int		 family;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		family = -1;
		r = roundtrip(t[i].in, &family);
		ck_assert_msg(r != NULL, "%s", t[i].in);
		ck_assert_str_eq(r, t[i].out);
		ck_assert_int_eq(family, t[i].family);
	}
}
END_TEST

START_TEST(test_address_bad)
{
	static const struct {
		const char	*in, *why;
	} t[] = {
		{ "", "empty address" },
		{ "127.0.0.1", "missing port" },
		{ "127.0.0.1:", "missing port" },
		{ ":80", "missing host" },
		{ "127.0.0.1:0", "port must be between 1 and 65535" },
		{ "127.0.0.1:65536", "port must be between 1 and 65535" },
		{ "127.0.0.1:99999999999999999999999",
		    "port is not a number" },
		{ "127.0.0.1:80a", "port is not a number" },
		{ "127.0.0.1:-1", "port is not a number" },
		{ "127.0.0.1: 80", "port is not a number" },
		{ "256.0.0.1:80", "invalid IPv4 address" },
		{ "1.2.3:80", "invalid IPv4 address" },
		{ "example.com:80",
		    "host must be a numeric address, '*' or localhost" },
		{ "::1:80", "IPv6 addresses must be written in brackets, "
		    "e.g. [::1]:8080" },
		{ "[::1]", "missing port" },
		{ "[::1]80", "missing port" },
		{ "[::1:80", "missing ']' after IPv6 address" },
		{ "[]:80", "invalid IPv6 address" },
		{ "[1.2.3.4]:80", "invalid IPv6 address" },
		{ "[::g]:80", "invalid IPv6 address" },
		{ "[::1]:0", "port must be between 1 and 65535" },
	};
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why = NULL;
		ck_assert_msg(parse_address(t[i].in, &ss, &len, &why) == -1,
		    "%s", t[i].in);
		ck_assert_msg(why != NULL && strcmp(why, t[i].why) == 0,
		    "%s: %s", t[i].in, why != NULL ? why : "(null)");
	}
	/* why may be NULL for callers that do not care. */
	ck_assert_int_eq(parse_address("x", &ss, &len, NULL), -1);
	ck_assert_int_eq(parse_address(NULL, &ss, &len, &why), -1);
}
END_TEST

/* What "admin.address not on loopback needs a token" rests on. */
START_TEST(test_address_loopback)
{
	static const struct { const char *in; int lo, any; } t[] = {
		{ "127.0.0.1:80", 1, 0 },
		{ "127.255.3.4:80", 1, 0 },
		{ "localhost:80", 1, 0 },
		{ "[::1]:80", 1, 0 },
		{ "[::ffff:127.0.0.2]:80", 1, 0 },
		{ "*:80", 0, 1 },
		{ "0.0.0.0:80", 0, 1 },
		{ "[::]:80", 0, 1 },
		{ "128.0.0.1:80", 0, 0 },
		{ "10.0.0.1:80", 0, 0 },
		{ "126.255.255.255:80", 0, 0 },
		{ "[::2]:80", 0, 0 },
		{ "[::ffff:10.0.0.1]:80", 0, 0 },
		{ "[::127.0.0.1]:80", 0, 0 },
	};
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(parse_address(t[i].in, &ss, &len, &why) == 0,
		    "%s: %s", t[i].in, why);
		ck_assert_msg(sockaddr_is_loopback((struct sockaddr *)&ss) ==
		    t[i].lo, "%s", t[i].in);
		ck_assert_msg(sockaddr_is_any((struct sockaddr *)&ss) ==
		    t[i].any, "%s", t[i].in);
	}
}
END_TEST

START_TEST(test_address_overlap)
{
	static const struct { const char *a, *b; int want; } t[] = {
		{ "127.0.0.1:80", "127.0.0.1:80", 1 },
		{ "127.0.0.1:80", "127.0.0.1:81", 0 },
		{ "127.0.0.1:80", "127.0.0.2:80", 0 },
		{ "*:80", "127.0.0.1:80", 1 },
		{ "10.0.0.1:80", "0.0.0.0:80", 1 },
		{ "*:80", "*:81", 0 },
		{ "[::]:80", "[::1]:80", 1 },
		{ "[::1]:80", "127.0.0.1:80", 0 },
		{ "*:80", "[::1]:80", 0 },
	};
	struct sockaddr_storage a, b;
	socklen_t len;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(parse_address(t[i].a, &a, &len, NULL), 0);
		ck_assert_int_eq(parse_address(t[i].b, &b, &len, NULL), 0);
		ck_assert_msg(sockaddr_overlap((struct sockaddr *)&a,
		    (struct sockaddr *)&b) == t[i].want, "%s %s", t[i].a,
		    t[i].b);
		ck_assert_msg(sockaddr_overlap((struct sockaddr *)&b,
		    (struct sockaddr *)&a) == t[i].want, "%s %s", t[i].b,
		    t[i].a);
	}
}
END_TEST

START_TEST(test_address_host)
{
	static const struct { const char *in, *out; } t[] = {
		{ "127.0.0.1:8443", "127.0.0.1" },
		{ "localhost:80", "localhost" },
		{ "[::1]:443", "::1" },
		{ "[2001:db8::1]:443", "2001:db8::1" },
		{ "no-port", "" },
		{ "[::1:80", "" },
		{ "[]:80", "" },
	};
	char buf[64], tiny[4];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_str_eq(address_host(t[i].in, buf, sizeof(buf)),
		    t[i].out);
	/* Too long for the buffer: empty, never cut. */
	ck_assert_str_eq(address_host("127.0.0.1:80", tiny, sizeof(tiny)),
	    "");
}
END_TEST

START_TEST(test_format_host)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 buf[64], tiny[4];

	ck_assert_int_eq(parse_address("[::1]:80", &ss, &len, NULL), 0);
	ck_assert_str_eq(format_host((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "::1");
	ck_assert_int_eq(parse_address("*:80", &ss, &len, NULL), 0);
	ck_assert_str_eq(format_host((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "0.0.0.0");
	/* Too small a buffer truncates or says "?", never overflows. */
	format_address((struct sockaddr *)&ss, tiny, sizeof(tiny));
	ck_assert_int_lt(strlen(tiny), sizeof(tiny));
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert_str_eq(format_address((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "?");
}
END_TEST

START_TEST(test_http_date)
{
	static const struct {
		int64_t		 t;
		const char	*s;
	} t[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },	/* RFC 9110 */
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 1700000000, "Tue, 14 Nov 2023 22:13:20 GMT" },
		{ 2147483647, "Tue, 19 Jan 2038 03:14:07 GMT" },
		{ 2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT" },
		{ 253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
	};
	char	 buf[64];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_uint_eq(format_http_date(t[i].t, buf, sizeof(buf)),
		    29);
		ck_assert_str_eq(buf, t[i].s);
	}
	/* Exactly 30 bytes is enough; 29 is not. */
	ck_assert_uint_eq(format_http_date(0, buf, 30), 29);
	ck_assert_uint_eq(format_http_date(0, buf, 29), 0);
	ck_assert_str_eq(buf, "");
	/* Year 10000 does not fit the format. */
	ck_assert_uint_eq(format_http_date(253402300800LL, buf, sizeof(buf)),
	    0);
	ck_assert_uint_eq(format_http_date(0, NULL, 0), 0);
}
END_TEST

START_TEST(test_status_set)
{
	struct status_set set;
	const char *why = NULL;

	ck_assert_int_eq(parse_status_set("200-399", &set, &why), 0);
	ck_assert_int_eq(status_set_has(&set, 199), 0);
	ck_assert_int_eq(status_set_has(&set, 200), 1);
	ck_assert_int_eq(status_set_has(&set, 302), 1);
	ck_assert_int_eq(status_set_has(&set, 399), 1);
	ck_assert_int_eq(status_set_has(&set, 400), 0);
	ck_assert_int_eq(parse_status_set(" 204 , 301-302,599", &set, &why), 0);
	ck_assert_int_eq(status_set_has(&set, 200), 0);
	ck_assert_int_eq(status_set_has(&set, 204), 1);
	ck_assert_int_eq(status_set_has(&set, 301), 1);
	ck_assert_int_eq(status_set_has(&set, 302), 1);
	ck_assert_int_eq(status_set_has(&set, 303), 0);
	ck_assert_int_eq(status_set_has(&set, 599), 1);
	ck_assert_int_eq(status_set_has(&set, -1), 0);
	ck_assert_int_eq(status_set_has(&set, 1000), 0);
}
END_TEST

START_TEST(test_status_set_bad)
{
	static const char *const bad[] = {
		"", "2xx", "20", "2000", "099", "600", "200-", "-200",
		"300-200", "200;204", "200,", ",200", "200 204", "200--300",
	};
	struct status_set set;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(parse_status_set(bad[i], &set, &why) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_clocks)
{
	uint64_t	 a, b;
	int64_t		 w;

	a = now_mono_ms();
	b = now_mono_ms();
	ck_assert_uint_ge(b, a);
	w = now_wall();
	ck_assert_int_gt(w, 1700000000);	/* after 2023 */
}
END_TEST

static Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_size_ok);
	tcase_add_test(tc, test_size_bad);
	tcase_add_test(tc, test_duration_ok);
	tcase_add_test(tc, test_duration_bad);
	tcase_add_test(tc, test_address_ok);
	tcase_add_test(tc, test_address_bad);
	tcase_add_test(tc, test_format_host);
	tcase_add_test(tc, test_address_host);
	tcase_add_test(tc, test_address_loopback);
	tcase_add_test(tc, test_address_overlap);
	tcase_add_test(tc, test_http_date);
	tcase_add_test(tc, test_status_set);
	tcase_add_test(tc, test_status_set_bad);
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(util_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
