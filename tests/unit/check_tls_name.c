/*
 * check_tls_name.c: SNI name matching against certificate names, RFC 6125
 * §6.4 (tls_name.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tls_name.h"

static int
m(const char *pattern, const char *host)
{
	return (tls_name_match(pattern, strlen(pattern), host, strlen(host)));
}

START_TEST(exact)
{
	ck_assert_int_eq(m("a.example.com", "a.example.com"), TLS_NAME_EXACT);
	ck_assert_int_eq(m("A.Example.COM", "a.example.com"), TLS_NAME_EXACT);
	ck_assert_int_eq(m("a.example.com", "A.EXAMPLE.com"), TLS_NAME_EXACT);
	ck_assert_int_eq(m("localhost", "localhost"), TLS_NAME_EXACT);
	/* A trailing dot is the same name. */
	ck_assert_int_eq(m("a.example.com.", "a.example.com"), TLS_NAME_EXACT);
	ck_assert_int_eq(m("a.example.com", "a.example.com."), TLS_NAME_EXACT);
	ck_assert_int_eq(m("a.example.com", "b.example.com"), TLS_NAME_NONE);
	ck_assert_int_eq(m("a.example.com", "a.example.co"), TLS_NAME_NONE);
	ck_assert_int_eq(m("a.example.com", "aa.example.com"), TLS_NAME_NONE);
	ck_assert_int_eq(m("example.com", "a.example.com"), TLS_NAME_NONE);
}
END_TEST

START_TEST(wildcard)
{
	ck_assert_int_eq(m("*.example.com", "a.example.com"),
	    TLS_NAME_WILDCARD);
	ck_assert_int_eq(m("*.example.com", "WWW.example.COM"),
	    TLS_NAME_WILDCARD);
	ck_assert_int_eq(m("*.Example.com", "x-1.example.com"),
	    TLS_NAME_WILDCARD);
	/* One label, never zero or two. */
	ck_assert_int_eq(m("*.example.com", "example.com"), TLS_NAME_NONE);
	ck_assert_int_eq(m("*.example.com", ".example.com"), TLS_NAME_NONE);
	ck_assert_int_eq(m("*.example.com", "a.b.example.com"),
	    TLS_NAME_NONE);
	/* Not over a public suffix alone, nor alone. */
	ck_assert_int_eq(m("*.com", "example.com"), TLS_NAME_NONE);
	ck_assert_int_eq(m("*", "example"), TLS_NAME_NONE);
	/* Partial or non-left-most wildcards match nothing. */
	ck_assert_int_eq(m("w*.example.com", "www.example.com"),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("*w.example.com", "www.example.com"),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("a.*.example.com", "a.b.example.com"),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("**.example.com", "a.example.com"),
	    TLS_NAME_NONE);
	/* The host is a name, not a pattern. */
	ck_assert_int_eq(m("*.example.com", "*.example.com"), TLS_NAME_NONE);
}
END_TEST

START_TEST(malformed)
{
	ck_assert_int_eq(m("", ""), TLS_NAME_NONE);
	ck_assert_int_eq(m("a.example.com", ""), TLS_NAME_NONE);
	ck_assert_int_eq(m("a..example.com", "a..example.com"),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("a.example.com", "a.example.com.."),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("a_b.example.com", "a_b.example.com"),
	    TLS_NAME_NONE);
	ck_assert_int_eq(m("a.example.com", "a.example.com\n"),
	    TLS_NAME_NONE);
	/* An embedded NUL (a classic certificate trick) never matches. */
	ck_assert_int_eq(tls_name_match("a.example.com\0.evil.com", 24,
	    "a.example.com", 13), TLS_NAME_NONE);
	ck_assert_int_eq(tls_name_match("a.example.com", 13,
	    "a.example.com\0x", 15), TLS_NAME_NONE);
	ck_assert_int_eq(m("*.", "a."), TLS_NAME_NONE);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tls_name");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, exact);
	tcase_add_test(tc, wildcard);
	tcase_add_test(tc, malformed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
