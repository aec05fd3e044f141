/*
 * check_cache_policy.c: RFC 9111 cache policy (src/cache_policy.c).
 *
 * Table-driven: every message is literal HTTP text run through the real
 * parser (http_parse_request / http_parse_response), every time is an
 * explicit `now`. Each case is named after the RFC section it checks
 * (9111_4_2_1_... is RFC 9111 §4.2.1; 9110_, 9213_, 5861_ likewise; 9111_2_
 * for the cache key, which §2 leaves to the cache).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_policy.h"
#include "http_parse.h"

/* Case tables leave the fields a case does not need zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NF	64

/* Tue, 14 Nov 2023 22:13:20 GMT */
#define NOW	1700000000LL
#define D_0	"Tue, 14 Nov 2023 22:13:20 GMT"
#define D_M10	"Tue, 14 Nov 2023 22:13:10 GMT"
#define D_M100	"Tue, 14 Nov 2023 22:11:40 GMT"
#define D_M1000	"Tue, 14 Nov 2023 21:56:40 GMT"
#define D_M10000 "Tue, 14 Nov 2023 19:26:40 GMT"
#define D_M100D	"Sun, 06 Aug 2023 22:13:20 GMT"
#define D_P50	"Tue, 14 Nov 2023 22:14:10 GMT"
#define D_P100	"Tue, 14 Nov 2023 22:15:00 GMT"
#define D_P3600	"Tue, 14 Nov 2023 23:13:20 GMT"

#define RQ(h)	"GET /r HTTP/1.1\r\nHost: example.com\r\n" h "\r\n"
#define R200(h)	"HTTP/1.1 200 OK\r\n" h "\r\n"
#define RS(st, h)	"HTTP/1.1 " st "\r\n" h "\r\n"

struct pm {
	struct http_field	 f[NF];
	struct http_msg		 m;
	const char		*buf;
};

static void
parse(struct pm *p, const char *s, int request)
{
	struct http_limits	 lim = { 65536, NF };
	int			 rv;

	http_msg_init(&p->m, p->f, NF);
	p->buf = s;
	rv = request ? http_parse_request(&p->m, s, strlen(s), &lim) :
	    http_parse_response(&p->m, s, strlen(s), &lim);
	ck_assert_msg(rv == HP_OK, "parse failed (%d): %s", rv, s);
}

/* Two slots each, so a case can hold two requests or two responses. */
static struct pm *
req(const char *s)
{
	static struct pm	 p[2];
	static int		 k;

	k = !k;
	parse(&p[k], s, 1);
	return (&p[k]);
}

static struct pm *
resp(const char *s)
{
	static struct pm	 p[2];
	static int		 k;

	k = !k;
	parse(&p[k], s, 0);
	return (&p[k]);
}

static struct cache_opts
opts(const char *vname, int nocdn, int64_t cap)
{
	struct cache_opts	 o;

	cache_opts_default(&o);
	if (vname != NULL)
		o.vane_cc_name = vname;
	if (nocdn)
		o.honour_cdn_cc = 0;
	if (cap != 0)
		o.heuristic_cap = cap;
	return (o);
}

static const struct http_field *
field_named(const struct pm *p, const char *name)
{
	uint32_t	 i;

	for (i = 0; i < p->m.nfields; i++)
		if (http_span_eq(p->buf, p->m.fields[i].name, name))
			return (&p->m.fields[i]);
	ck_abort_msg("no field %s", name);
	return (NULL);
}

/*
 * 1, 2. Cache-Control parsing, request and response, and targeted fields.
 */
struct cc_case {
	const char	*name;
	const char	*msg;		/* a request if isreq */
	int		 isreq;
	int		 src;		/* response: expected source */
	uint32_t	 flags;
	int64_t		 max_age, s_maxage, max_stale, min_fresh, swr, sie;
	const char	*ncf;		/* expected no-cache field list */
	const char	*pf;		/* expected private field list */
	const char	*vname;
	int		 nocdn;
};

#define CCR(n, h, src, ...)	{ n, R200(h), 0, src, __VA_ARGS__ }
#define CCQ(n, h, ...)		{ n, RQ(h), 1, 0, __VA_ARGS__ }
#define STD	CACHE_CC_STANDARD
#define CDN	CACHE_CC_CDN
#define VANE	CACHE_CC_VANE

static const struct cc_case cc_cases[] = {
	CCR("9111_5_2_1_1_max_age", "Cache-Control: max-age=60\r\n", STD,
	    CC_MAX_AGE, 60),
	CCR("9111_5_2_directive_names_case_insensitive",
	    "Cache-Control: Max-Age=60, NO-STORE\r\n", STD,
	    CC_MAX_AGE | CC_NO_STORE, 60),
	CCR("9111_5_2_repeated_fields_combined",
	    "Cache-Control: public\r\nCache-Control: max-age=5\r\n", STD,
	    CC_PUBLIC | CC_MAX_AGE, 5),
	CCR("9111_5_2_quoted_string_argument",
	    "Cache-Control: max-age=\"60\"\r\n", STD, CC_MAX_AGE, 60),
	CCR("9111_1_2_2_delta_seconds_overflow_saturates",
	    "Cache-Control: max-age=99999999999999999999999\r\n", STD,
	    CC_MAX_AGE, 2147483648LL),
	CCR("9111_1_2_2_delta_seconds_2_31_exact",
	    "Cache-Control: max-age=2147483648\r\n", STD, CC_MAX_AGE,
	    2147483648LL),
	CCR("9111_1_2_2_delta_seconds_below_2_31",
	    "Cache-Control: max-age=2147483647\r\n", STD, CC_MAX_AGE,
	    2147483647LL),
	CCR("9111_1_2_2_leading_zeros", "Cache-Control: max-age=007\r\n",
	    STD, CC_MAX_AGE, 7),
	CCR("9111_4_2_1_invalid_max_age_quoted_text_is_invalid_freshness",
	    "Cache-Control: max-age=\"abc\"\r\n", STD, CC_INVALID_FRESHNESS),
	CCR("9111_4_2_1_negative_max_age_invalid",
	    "Cache-Control: max-age=-1\r\n", STD, CC_INVALID_FRESHNESS),
	CCR("9111_4_2_1_max_age_without_value_invalid",
	    "Cache-Control: max-age\r\n", STD, CC_INVALID_FRESHNESS),
	CCR("9111_4_2_1_invalid_s_maxage",
	    "Cache-Control: s-maxage=1e3\r\n", STD, CC_INVALID_FRESHNESS),
	CCR("9111_4_2_1_duplicate_directive_first_wins",
	    "Cache-Control: max-age=10, max-age=20\r\n", STD, CC_MAX_AGE, 10),
	CCR("9111_4_2_1_duplicate_across_fields_first_wins",
	    "Cache-Control: max-age=10\r\nCache-Control: max-age=20\r\n", STD,
	    CC_MAX_AGE, 10),
	CCR("9111_5_2_2_4_no_cache_unqualified", "Cache-Control: no-cache\r\n",
	    STD, CC_NO_CACHE),
	CCR("9111_5_2_2_4_no_cache_qualified_list",
	    "Cache-Control: no-cache=\"Set-Cookie, X-A\"\r\n", STD,
	    CC_NO_CACHE_FIELDS, .ncf = "Set-Cookie, X-A"),
	CCR("9111_5_2_2_4_no_cache_qualified_token",
	    "Cache-Control: no-cache=X-A\r\n", STD, CC_NO_CACHE_FIELDS,
	    .ncf = "X-A"),
	CCR("9111_5_2_2_7_private_unqualified", "Cache-Control: private\r\n",
	    STD, CC_PRIVATE),
	CCR("9111_5_2_2_7_private_qualified",
	    "Cache-Control: private=\"X-User\"\r\n", STD, CC_PRIVATE_FIELDS,
	    .pf = "X-User"),
	CCR("9111_5_2_2_boolean_directives",
	    "Cache-Control: public, must-revalidate, proxy-revalidate, "
	    "must-understand, no-transform, immutable, no-store\r\n", STD,
	    CC_PUBLIC | CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE |
	    CC_MUST_UNDERSTAND | CC_NO_TRANSFORM | CC_IMMUTABLE | CC_NO_STORE),
	CCR("9111_5_2_2_10_s_maxage", "Cache-Control: s-maxage=100\r\n", STD,
	    CC_S_MAXAGE, .s_maxage = 100),
	CCR("5861_3_stale_while_revalidate",
	    "Cache-Control: max-age=1, stale-while-revalidate=30\r\n", STD,
	    CC_MAX_AGE | CC_SWR, 1, .swr = 30),
	CCR("5861_4_stale_if_error", "Cache-Control: stale-if-error=600\r\n",
	    STD, CC_SIE, .sie = 600),
	CCR("5861_3_invalid_swr_ignored",
	    "Cache-Control: stale-while-revalidate=abc\r\n", STD, 0),
	CCR("5861_4_sie_without_value_ignored",
	    "Cache-Control: stale-if-error\r\n", STD, 0),
	CCR("9111_5_2_3_unknown_directives_ignored",
	    "Cache-Control: foo, bar=baz, x=\"a,b\", max-age=3\r\n", STD,
	    CC_MAX_AGE, 3),
	CCR("9111_5_2_empty_list_members_ignored",
	    "Cache-Control: , ,max-age=3,,\r\n", STD, CC_MAX_AGE, 3),
	CCR("9111_5_2_comma_inside_quoted_string",
	    "Cache-Control: no-cache=\"a, b\", max-age=5\r\n", STD,
	    CC_NO_CACHE_FIELDS | CC_MAX_AGE, 5, .ncf = "a, b"),
	CCR("9111_5_2_ows_around_members",
	    "Cache-Control:   max-age=5 ,\t public  \r\n", STD,
	    CC_MAX_AGE | CC_PUBLIC, 5),
	CCR("9111_5_2_space_before_equals_member_ignored",
	    "Cache-Control: max-age =5, public\r\n", STD, CC_PUBLIC),
	CCR("9111_5_2_no_store_with_argument_still_counts",
	    "Cache-Control: no-store=1\r\n", STD, CC_NO_STORE),
	CCR("9111_5_2_unterminated_quote_most_restrictive",
	    "Cache-Control: no-cache=\"a, max-age=5\r\n", STD, CC_NO_CACHE),
	CCR("9111_4_2_1_invalid_then_valid_max_age_first_wins",
	    "Cache-Control: max-age=\"abc\", max-age=5\r\n", STD,
	    CC_INVALID_FRESHNESS | CC_MAX_AGE, 5),
	CCR("9111_4_2_1_valid_then_invalid_max_age_first_wins",
	    "Cache-Control: max-age=5, max-age=\"abc\"\r\n", STD, CC_MAX_AGE,
	    5),
	CCR("9111_5_2_token_argument_with_slash_invalid",
	    "Cache-Control: max-age=5/6\r\n", STD, CC_INVALID_FRESHNESS),
	CCR("9111_5_2_2_absent_cache_control", "X-Other: 1\r\n",
	    CACHE_CC_NONE, 0),
	CCQ("9111_5_2_1_2_max_stale_without_value",
	    "Cache-Control: max-stale\r\n", CC_MAX_STALE, .max_stale = -1),
	CCQ("9111_5_2_1_2_max_stale_with_value",
	    "Cache-Control: max-stale=30\r\n", CC_MAX_STALE, .max_stale = 30),
	CCQ("9111_5_2_1_2_max_stale_invalid_ignored",
	    "Cache-Control: max-stale=x\r\n", 0),
	CCQ("9111_5_2_1_3_min_fresh", "Cache-Control: min-fresh=10\r\n",
	    CC_MIN_FRESH, .min_fresh = 10),
	CCQ("9111_5_2_1_3_min_fresh_invalid_ignored",
	    "Cache-Control: min-fresh=ten\r\n", 0),
	CCQ("9111_5_2_1_7_only_if_cached", "Cache-Control: only-if-cached\r\n",
	    CC_ONLY_IF_CACHED),
	CCQ("9111_5_2_1_1_request_max_age_zero", "Cache-Control: max-age=0\r\n",
	    CC_MAX_AGE, 0),
	CCQ("9111_5_2_1_5_request_no_store", "Cache-Control: no-store\r\n",
	    CC_NO_STORE),
	CCQ("9111_5_2_1_4_request_no_cache", "Cache-Control: no-cache\r\n",
	    CC_NO_CACHE),
	CCQ("5861_4_request_stale_if_error",
	    "Cache-Control: stale-if-error=60\r\n", CC_SIE, .sie = 60),
	CCQ("9111_5_4_pragma_no_cache_without_cache_control",
	    "Pragma: no-cache\r\n", CC_NO_CACHE | CC_PRAGMA_NO_CACHE),
	CCQ("9111_5_4_pragma_case_insensitive_in_list",
	    "Pragma: foo, No-Cache\r\n", CC_NO_CACHE | CC_PRAGMA_NO_CACHE),
	CCQ("9111_5_4_pragma_ignored_when_cache_control_present",
	    "Pragma: no-cache\r\nCache-Control: max-age=5\r\n", CC_MAX_AGE, 5),
	CCQ("9111_5_4_pragma_other_value_ignored", "Pragma: nocache\r\n", 0),
	/* RFC 9213 targeted fields. */
	CCR("9213_2_2_vane_field_over_cdn_and_cache_control",
	    "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=10\r\n"
	    "Vane-Cache-Control: max-age=20\r\n", VANE, CC_MAX_AGE, 20),
	CCR("9213_2_2_cdn_over_cache_control",
	    "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=10\r\n",
	    CDN, CC_MAX_AGE, 10),
	CCR("9213_2_1_invalid_vane_field_falls_back_to_cdn",
	    "CDN-Cache-Control: max-age=10\r\n"
	    "Vane-Cache-Control: max-age=\"20\r\n", CDN, CC_MAX_AGE, 10),
	CCR("9213_2_1_uppercase_key_invalid_falls_back",
	    "Cache-Control: max-age=7\r\nCDN-Cache-Control: Max-Age=5\r\n",
	    STD, CC_MAX_AGE, 7),
	CCR("9213_2_1_empty_targeted_field_ignored",
	    "Cache-Control: max-age=7\r\nCDN-Cache-Control: \r\n", STD,
	    CC_MAX_AGE, 7),
	CCR("9213_2_1_trailing_comma_invalid",
	    "Cache-Control: max-age=7\r\nCDN-Cache-Control: max-age=5,\r\n",
	    STD, CC_MAX_AGE, 7),
	CCR("9213_2_1_missing_comma_invalid",
	    "Cache-Control: max-age=7\r\nCDN-Cache-Control: max-age=5 public\r\n",
	    STD, CC_MAX_AGE, 7),
	CCR("9213_2_1_sf_boolean_false_unset",
	    "CDN-Cache-Control: no-store=?0, max-age=5\r\n", CDN, CC_MAX_AGE,
	    5),
	CCR("9213_2_1_sf_boolean_true",
	    "CDN-Cache-Control: no-store=?1\r\n", CDN, CC_NO_STORE),
	CCR("9213_2_1_sf_duplicate_key_last_wins",
	    "CDN-Cache-Control: max-age=5, max-age=10\r\n", CDN, CC_MAX_AGE,
	    10),
	CCR("9213_2_1_sf_string_field_list",
	    "CDN-Cache-Control: private=\"x-a, x-b\"\r\n", CDN,
	    CC_PRIVATE_FIELDS, .pf = "x-a, x-b"),
	CCR("9213_2_1_sf_parameters_allowed",
	    "CDN-Cache-Control: max-age=5;foo=1;bar, public;x=\"y\"\r\n", CDN,
	    CC_MAX_AGE | CC_PUBLIC, 5),
	CCR("9213_2_1_sf_string_max_age_ignored",
	    "CDN-Cache-Control: max-age=\"5\", public\r\n", CDN, CC_PUBLIC),
	CCR("9213_2_1_sf_decimal_max_age_ignored",
	    "CDN-Cache-Control: max-age=5.5, public\r\n", CDN, CC_PUBLIC),
	CCR("9213_2_1_sf_decimal_four_fraction_digits_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: x=1.2345\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_decimal_13_integer_digits_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: x=1234567890123.1\r\n",
	    STD, CC_PUBLIC),
	CCR("9213_2_1_sf_decimal_trailing_dot_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: x=12.\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_lone_minus_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: x=-\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_valid_decimal_member_kept",
	    "CDN-Cache-Control: x=-1.125, max-age=4\r\n", CDN, CC_MAX_AGE, 4),
	CCR("9213_2_1_sf_string_bad_escape_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: x=\"a\\b\"\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_string_escaped_quote_valid",
	    "CDN-Cache-Control: x=\"a\\\"b\", max-age=4\r\n", CDN, CC_MAX_AGE,
	    4),
	CCR("9213_2_1_sf_bad_boolean_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: no-store=?2\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_bad_parameter_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: max-age=3;X=1\r\n",
	    STD, CC_PUBLIC),
	CCR("9213_2_1_sf_negative_max_age_ignored",
	    "CDN-Cache-Control: max-age=-5, public\r\n", CDN, CC_PUBLIC),
	CCR("9213_2_1_sf_inner_list_field_names",
	    "CDN-Cache-Control: no-cache=(\"a\" \"b\")\r\n", CDN,
	    CC_NO_CACHE_FIELDS, .ncf = "\"a\" \"b\""),
	CCR("9213_2_1_sf_unterminated_inner_list_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: no-cache=(\"a\"\r\n",
	    STD, CC_PUBLIC),
	CCR("9213_2_1_sf_token_and_bytes_values_valid",
	    "CDN-Cache-Control: foo=bar, baz=:AQID:, max-age=3\r\n", CDN,
	    CC_MAX_AGE, 3),
	CCR("9213_2_1_sf_bad_byte_sequence_invalid",
	    "Cache-Control: public\r\nCDN-Cache-Control: baz=:a$:\r\n", STD,
	    CC_PUBLIC),
	CCR("9213_2_1_sf_integer_too_long_invalid",
	    "Cache-Control: public\r\n"
	    "CDN-Cache-Control: max-age=1234567890123456\r\n", STD, CC_PUBLIC),
	CCR("9213_2_1_sf_large_integer_saturates",
	    "CDN-Cache-Control: max-age=999999999999999\r\n", CDN, CC_MAX_AGE,
	    2147483648LL),
	CCR("9213_2_1_sf_swr_and_sie",
	    "CDN-Cache-Control: stale-while-revalidate=5, stale-if-error=9\r\n",
	    CDN, CC_SWR | CC_SIE, .swr = 5, .sie = 9),
	CCR("9213_2_2_cdn_not_honoured_by_option",
	    "Cache-Control: max-age=7\r\nCDN-Cache-Control: max-age=5\r\n", STD,
	    CC_MAX_AGE, 7, .nocdn = 1),
	CCR("9213_2_2_configured_vane_field_name",
	    "Vane-Cache-Control: max-age=1\r\nX-My-CC: max-age=9\r\n", VANE,
	    CC_MAX_AGE, 9, .vname = "X-My-CC"),
	CCR("9213_2_2_default_name_not_used_when_renamed",
	    "Cache-Control: max-age=3\r\nVane-Cache-Control: max-age=1\r\n",
	    STD, CC_MAX_AGE, 3, .vname = "X-My-CC"),
	CCR("9213_2_1_targeted_field_lines_combined",
	    "Cache-Control: max-age=3\r\nCDN-Cache-Control: max-age=1\r\n"
	    "CDN-Cache-Control: public, max-age=2\r\n", CDN,
	    CC_MAX_AGE | CC_PUBLIC, 2),
	CCR("9213_2_1_targeted_field_invalid_second_line_ignored",
	    "Cache-Control: max-age=3\r\nCDN-Cache-Control: max-age=1\r\n"
	    "CDN-Cache-Control: Public\r\n", STD, CC_MAX_AGE, 3),
	CCR("9213_2_1_targeted_field_empty_second_line_ignored",
	    "Cache-Control: max-age=3\r\nCDN-Cache-Control: max-age=1\r\n"
	    "CDN-Cache-Control:\r\n", STD, CC_MAX_AGE, 3),
};

START_TEST(cc_parse_table)
{
	const struct cc_case	*c = &cc_cases[_i];
	struct cc_directives	 d;
	struct cache_opts	 o = opts(c->vname, c->nocdn, 0);
	struct pm		*p;
	int			 src = 0;

	if (c->isreq) {
		p = req(c->msg);
		cache_request_cc(&d, p->buf, &p->m);
	} else {
		p = resp(c->msg);
		src = (int)cache_response_cc(&d, p->buf, &p->m, &o);
	}
	ck_assert_msg(src == c->src, "%s: source %d", c->name, src);
	ck_assert_msg(d.flags == c->flags, "%s: flags %#x want %#x", c->name,
	    d.flags, c->flags);
	if (c->flags & CC_MAX_AGE)
		ck_assert_msg(d.max_age == c->max_age, "%s: max-age %lld",
		    c->name, (long long)d.max_age);
	if (c->flags & CC_S_MAXAGE)
		ck_assert_msg(d.s_maxage == c->s_maxage, "%s", c->name);
	if (c->flags & CC_MAX_STALE)
		ck_assert_msg(d.max_stale == c->max_stale, "%s", c->name);
	if (c->flags & CC_MIN_FRESH)
		ck_assert_msg(d.min_fresh == c->min_fresh, "%s", c->name);
	if (c->flags & CC_SWR)
		ck_assert_msg(d.swr == c->swr, "%s", c->name);
	if (c->flags & CC_SIE)
		ck_assert_msg(d.sie == c->sie, "%s", c->name);
	if (c->ncf != NULL)
		ck_assert_msg(d.no_cache_fields_len == strlen(c->ncf) &&
		    memcmp(d.no_cache_fields, c->ncf, strlen(c->ncf)) == 0,
		    "%s: no-cache fields", c->name);
	if (c->pf != NULL)
		ck_assert_msg(d.private_fields_len == strlen(c->pf) &&
		    memcmp(d.private_fields, c->pf, strlen(c->pf)) == 0,
		    "%s: private fields", c->name);
}
END_TEST

/*
 * 3. Dates (RFC 9110 §5.6.7) and Age (RFC 9111 §5.1).
 */
struct date_case {
	const char	*name;
	const char	*s;
	int64_t		 want;
};

static const struct date_case date_cases[] = {
	{ "9110_5_6_7_imf_fixdate", "Sun, 06 Nov 1994 08:49:37 GMT",
	    784111777 },
	{ "9110_5_6_7_obsolete_rfc850", "Sunday, 06-Nov-94 08:49:37 GMT",
	    784111777 },
	{ "9110_5_6_7_obsolete_asctime", "Sun Nov  6 08:49:37 1994",
	    784111777 },
	{ "9110_5_6_7_asctime_two_digit_day", "Wed Nov 16 08:49:37 1994",
	    784975777 },
	{ "9110_5_6_7_imf_now", D_0, NOW },
	{ "9110_5_6_7_leap_day", "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 },
	{ "9110_5_6_7_rfc850_within_50_years_future",
	    "Wednesday, 01-Jan-70 00:00:00 GMT", 3155760000LL },
	{ "9110_5_6_7_rfc850_over_50_years_is_past_century",
	    "Friday, 01-Jan-99 00:00:00 GMT", 915148800 },
	{ "9110_5_6_7_invalid_timezone", "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
	{ "9110_5_6_7_invalid_zero", "0", -1 },
	{ "9110_5_6_7_invalid_empty", "", -1 },
	{ "9110_5_6_7_invalid_day_of_month", "Sun, 31 Feb 1994 08:49:37 GMT",
	    -1 },
	{ "9110_5_6_7_non_leap_feb_29", "Sun, 29 Feb 2023 08:49:37 GMT", -1 },
	{ "9110_5_6_7_invalid_hour", "Sun, 06 Nov 1994 25:49:37 GMT", -1 },
	{ "9111_4_2_month_any_case", "Sun, 06 nov 1994 08:49:37 GMT",
	    784111777 },
	{ "9111_4_2_month_upper_case", "Sun, 06 NOV 1994 08:49:37 GMT",
	    784111777 },
	{ "9111_4_2_weekday_upper_case", "SUN, 06 Nov 1994 08:49:37 GMT",
	    784111777 },
	{ "9111_4_2_gmt_any_case", "Sun, 06 Nov 1994 08:49:37 gMT",
	    784111777 },
	{ "9111_4_2_rfc850_weekday_any_case",
	    "SUNDAY, 06-nov-94 08:49:37 gmt", 784111777 },
	{ "9111_4_2_asctime_any_case", "sun NOV  6 08:49:37 1994",
	    784111777 },
	{ "9111_4_2_case_does_not_excuse_other_zones",
	    "Sun, 06 Nov 1994 08:49:37 utc", -1 },
	{ "9110_5_6_7_invalid_weekday", "Foo, 06 Nov 1994 08:49:37 GMT", -1 },
	{ "9110_5_6_7_single_digit_day_imf", "Sun, 6 Nov 1994 08:49:37 GMT",
	    -1 },
	{ "9110_5_6_7_trailing_garbage", "Sun, 06 Nov 1994 08:49:37 GMTX",
	    -1 },
	{ "9110_5_6_7_before_epoch_invalid", "Wed, 31 Dec 1969 23:59:59 GMT",
	    -1 },
	{ "9110_5_6_7_rfc850_bad_separator", "Sunday, 06 Nov 94 08:49:37 GMT",
	    -1 },
	{ "9110_5_6_7_asctime_bad_year", "Sun Nov  6 08:49:37 19x4", -1 },
	{ "9110_5_6_7_imf_leap_second", "Sat, 31 Dec 2016 23:59:60 GMT",
	    1483228800 },
};

START_TEST(date_table)
{
	const struct date_case	*c = &date_cases[_i];
	int64_t			 t;

	t = cache_parse_http_date(c->s, strlen(c->s), NOW);
	ck_assert_msg(t == c->want, "%s: %lld want %lld", c->name,
	    (long long)t, (long long)c->want);
}
END_TEST

struct fmt_case {
	const char	*name;
	int64_t		 t;
	const char	*want;
};

static const struct fmt_case fmt_cases[] = {
	{ "9110_5_6_7_format_imf_fixdate", 784111777,
	    "Sun, 06 Nov 1994 08:49:37 GMT" },
	{ "9110_5_6_7_format_now", NOW, D_0 },
	{ "9110_5_6_7_format_leap_day", 1709164800,
	    "Thu, 29 Feb 2024 00:00:00 GMT" },
	{ "9110_5_6_7_format_epoch", 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
};

START_TEST(fmt_table)
{
	const struct fmt_case	*c = &fmt_cases[_i];
	char			 out[30];

	cache_format_http_date(out, c->t);
	ck_assert_msg(strcmp(out, c->want) == 0, "%s: %s", c->name, out);
	ck_assert_msg(cache_parse_http_date(out, 29, NOW) == c->t, "%s",
	    c->name);
}
END_TEST

struct age_case {
	const char	*name;
	const char	*msg;
	int64_t		 want;
};

static const struct age_case age_cases[] = {
	{ "9111_5_1_age_valid", R200("Age: 30\r\n"), 30 },
	{ "9111_5_1_age_zero", R200("Age: 0\r\n"), 0 },
	{ "9111_5_1_age_absent", R200("X: 1\r\n"), -1 },
	{ "9111_5_1_age_negative_ignored", R200("Age: -5\r\n"), -1 },
	{ "9111_5_1_age_decimal_ignored", R200("Age: 1.5\r\n"), -1 },
	{ "9111_5_1_age_text_ignored", R200("Age: abc\r\n"), -1 },
	{ "9111_5_1_age_empty_ignored", R200("Age: \r\n"), -1 },
	{ "9111_5_1_age_list_first_member", R200("Age: 30, 40\r\n"), 30 },
	{ "9111_5_1_age_two_lines_first", R200("Age: 30\r\nAge: 40\r\n"), 30 },
	{ "9111_5_1_age_list_first_invalid", R200("Age: x, 40\r\n"), -1 },
	{ "9111_1_2_2_age_overflow_saturates", R200("Age: 99999999999\r\n"),
	    2147483648LL },
};

START_TEST(age_table)
{
	const struct age_case	*c = &age_cases[_i];
	struct pm		*p = resp(c->msg);
	int64_t			 a = cache_age_value(p->buf, &p->m);

	ck_assert_msg(a == c->want, "%s: %lld", c->name, (long long)a);
}
END_TEST

/*
 * 4. Storability (RFC 9111 §3).
 */
struct st_case {
	const char	*name;
	const char	*rq;
	const char	*rs;
	int		 incomplete;
	enum cache_reason	 want;
};

#define GET(h)	RQ(h)
#define POST	"POST /r HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n"
#define HEAD	"HEAD /r HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define MA60	"Cache-Control: max-age=60\r\n"

static const struct st_case st_cases[] = {
	{ "9111_3_get_max_age_stored", GET(""), R200(MA60), 0, CACHE_OK },
	{ "9111_3_post_not_stored", POST, R200(MA60), 0, CACHE_R_METHOD },
	{ "9111_3_head_response_not_stored", HEAD, R200(MA60), 0,
	    CACHE_R_METHOD },
	{ "9111_3_non_final_status", GET(""), RS("100 Continue", ""), 0,
	    CACHE_R_STATUS },
	{ "9111_3_3_206_not_stored", GET(""), RS("206 Partial Content",
	    MA60 "Content-Range: bytes 0-1/10\r\n"), 0, CACHE_R_STATUS },
	{ "9111_3_304_not_stored_as_object", GET(""), RS("304 Not Modified",
	    MA60), 0, CACHE_R_STATUS },
	{ "9111_3_302_without_explicit_freshness", GET(""), RS("302 Found",
	    "Location: /x\r\nLast-Modified: " D_M1000 "\r\n"), 0,
	    CACHE_R_STATUS },
	{ "9111_3_302_with_max_age", GET(""), RS("302 Found",
	    "Location: /x\r\n" MA60), 0, CACHE_OK },
	{ "9111_3_307_with_expires", GET(""), RS("307 Temporary Redirect",
	    "Date: " D_0 "\r\nExpires: " D_P3600 "\r\n"), 0, CACHE_OK },
	{ "9111_3_500_with_s_maxage", GET(""), RS("500 Oops",
	    "Cache-Control: s-maxage=5\r\n"), 0, CACHE_OK },
	{ "9111_3_503_plain_not_stored", GET(""), RS("503 Busy",
	    "ETag: \"a\"\r\n"), 0, CACHE_R_STATUS },
	{ "9111_4_2_2_public_makes_500_heuristic", GET(""), RS("500 Oops",
	    "Cache-Control: public\r\nLast-Modified: " D_M1000 "\r\nDate: "
	    D_0 "\r\n"), 0, CACHE_OK },
	{ "9110_15_1_404_heuristically_cacheable", GET(""), RS("404 Not Found",
	    "Last-Modified: " D_M1000 "\r\nDate: " D_0 "\r\n"), 0, CACHE_OK },
	{ "9110_15_1_410_heuristically_cacheable", GET(""), RS("410 Gone",
	    "ETag: \"g\"\r\n"), 0, CACHE_OK },
	{ "9111_3_200_without_any_freshness_or_validator", GET(""),
	    R200("Content-Type: text/plain\r\n"), 0, CACHE_R_NO_FRESHNESS },
	{ "9111_4_3_200_with_only_etag_revalidatable", GET(""),
	    R200("ETag: \"v1\"\r\n"), 0, CACHE_OK },
	{ "5861_4_max_age_0_with_stale_if_error_kept", GET(""),
	    R200("Cache-Control: max-age=0, stale-if-error=60\r\n"), 0,
	    CACHE_OK },
	{ "9111_5_2_2_5_response_no_store", GET(""),
	    R200("Cache-Control: no-store, max-age=60\r\n"), 0,
	    CACHE_R_NO_STORE },
	{ "9111_5_2_1_5_request_no_store", GET("Cache-Control: no-store\r\n"),
	    R200(MA60), 0, CACHE_R_NO_STORE },
	{ "9111_5_2_2_3_must_understand_overrides_no_store", GET(""),
	    R200("Cache-Control: must-understand, no-store, max-age=60\r\n"),
	    0, CACHE_OK },
	{ "9111_5_2_2_3_must_understand_unknown_status", GET(""),
	    RS("299 Whatever", "Cache-Control: must-understand, no-store, "
	    "max-age=60\r\n"), 0, CACHE_R_MUST_UNDERSTAND },
	{ "9111_5_2_2_7_private_not_shared", GET(""),
	    R200("Cache-Control: private, max-age=60\r\n"), 0,
	    CACHE_R_PRIVATE },
	{ "9111_5_2_2_7_private_qualified_stored", GET(""),
	    R200("Cache-Control: private=\"X-User\", max-age=60\r\n"), 0,
	    CACHE_OK },
	{ "9111_5_3_expires_past_without_date_no_freshness", GET(""),
	    R200("Expires: " D_M10 "\r\n"), 0, CACHE_R_NO_FRESHNESS },
	{ "9111_5_3_expires_future_without_date_stored", GET(""),
	    R200("Expires: " D_P100 "\r\n"), 0, CACHE_OK },
	{ "9111_3_5_authorization_not_shared",
	    GET("Authorization: Basic eDp5\r\n"), R200(MA60), 0,
	    CACHE_R_AUTHORIZATION },
	{ "9111_3_5_authorization_public",
	    GET("Authorization: Basic eDp5\r\n"),
	    R200("Cache-Control: public, max-age=60\r\n"), 0, CACHE_OK },
	{ "9111_3_5_authorization_s_maxage",
	    GET("Authorization: Basic eDp5\r\n"),
	    R200("Cache-Control: s-maxage=60\r\n"), 0, CACHE_OK },
	{ "9111_3_5_authorization_must_revalidate",
	    GET("Authorization: Basic eDp5\r\n"),
	    R200("Cache-Control: must-revalidate, max-age=60\r\n"), 0,
	    CACHE_OK },
	{ "9111_3_5_authorization_proxy_revalidate_not_enough",
	    GET("Authorization: Basic eDp5\r\n"),
	    R200("Cache-Control: proxy-revalidate, max-age=60\r\n"), 0,
	    CACHE_R_AUTHORIZATION },
	{ "9111_7_set_cookie_not_stored", GET(""),
	    R200(MA60 "Set-Cookie: id=1\r\n"), 0, CACHE_R_SET_COOKIE },
	{ "9111_4_1_vary_star_not_stored", GET(""),
	    R200(MA60 "Vary: *\r\n"), 0, CACHE_R_VARY_STAR },
	{ "9111_4_1_vary_star_in_list", GET(""),
	    R200(MA60 "Vary: accept\r\nVary: user-agent, *\r\n"), 0,
	    CACHE_R_VARY_STAR },
	{ "9111_4_1_vary_named_stored", GET(""),
	    R200(MA60 "Vary: accept\r\n"), 0, CACHE_OK },
	{ "9111_3_3_incomplete_not_stored", GET(""), R200(MA60), 1,
	    CACHE_R_INCOMPLETE },
	{ "9111_5_2_2_4_no_cache_response_stored", GET(""),
	    R200("Cache-Control: no-cache\r\nETag: \"v\"\r\n"), 0, CACHE_OK },
	{ "9111_5_3_invalid_expires_with_validator_stored", GET(""),
	    R200("Expires: 0\r\nETag: \"v\"\r\n"), 0, CACHE_OK },
	{ "9111_5_3_invalid_expires_no_validator", GET(""),
	    R200("Expires: 0\r\n"), 0, CACHE_R_NO_FRESHNESS },
	{ "9213_2_2_vane_no_store_overrides_cache_control", GET(""),
	    R200(MA60 "Vane-Cache-Control: no-store\r\n"), 0,
	    CACHE_R_NO_STORE },
	{ "9213_2_2_vane_field_overrides_private", GET(""),
	    R200("Cache-Control: private\r\nVane-Cache-Control: max-age=60\r\n"),
	    0, CACHE_OK },
	{ "9213_2_2_cdn_field_ignores_expires", GET(""), RS("302 Found",
	    "Location: /x\r\nCDN-Cache-Control: no-transform\r\nDate: " D_0
	    "\r\nExpires: " D_P3600 "\r\n"), 0, CACHE_R_STATUS },
	{ "9213_2_2_invalid_vane_field_falls_back", GET(""),
	    R200(MA60 "Vane-Cache-Control: no-store,\r\n"), 0, CACHE_OK },
};

START_TEST(storable_table)
{
	const struct st_case	*c = &st_cases[_i];
	struct cache_opts	 o = opts(NULL, 0, 0);
	struct pm		*q = req(c->rq), *r = resp(c->rs);
	enum cache_reason	 got;

	got = cache_storable(q->buf, &q->m, r->buf, &r->m, !c->incomplete,
	    NOW, &o);
	ck_assert_msg(got == c->want, "%s: %s want %s", c->name,
	    cache_reason_str(got), cache_reason_str(c->want));
}
END_TEST

struct reason_case {
	const char		*name;
	enum cache_reason	 r;
	const char		*s;
};

static const struct reason_case reason_cases[] = {
	{ "9211_2_7_detail_ok", CACHE_OK, "" },
	{ "9211_2_7_detail_method", CACHE_R_METHOD, "method" },
	{ "9211_2_7_detail_status", CACHE_R_STATUS, "status" },
	{ "9211_2_7_detail_no_store", CACHE_R_NO_STORE, "no-store" },
	{ "9211_2_7_detail_private", CACHE_R_PRIVATE, "private" },
	{ "9211_2_7_detail_authorization", CACHE_R_AUTHORIZATION,
	    "authorization" },
	{ "9211_2_7_detail_set_cookie", CACHE_R_SET_COOKIE, "set-cookie" },
	{ "9211_2_7_detail_vary_star", CACHE_R_VARY_STAR, "vary-star" },
	{ "9211_2_7_detail_incomplete", CACHE_R_INCOMPLETE, "incomplete" },
	{ "9211_2_7_detail_no_freshness", CACHE_R_NO_FRESHNESS,
	    "no-freshness" },
	{ "9211_2_7_detail_must_understand", CACHE_R_MUST_UNDERSTAND,
	    "must-understand" },
};

START_TEST(reason_table)
{
	const struct reason_case *c = &reason_cases[_i];

	ck_assert_msg(strcmp(cache_reason_str(c->r), c->s) == 0, "%s",
	    c->name);
}
END_TEST

/*
 * 5. Freshness lifetime and age (RFC 9111 §4.2.1 to §4.2.3).
 */
struct fr_case {
	const char	*name;
	const char	*rs;
	int64_t		 req_time, resp_time;
	int64_t		 lifetime, cia;
	uint32_t	 flags;
	int64_t		 now, age;	/* current_age at now (now 0: skip) */
	int64_t		 cap;
	int		 chk_stale;
	int64_t		 swr, sie;
};

#define DATE0	"Date: " D_0 "\r\n"

static const struct fr_case fr_cases[] = {
	{ "9111_4_2_1_max_age", R200(DATE0 MA60), NOW, NOW, 60, 0, 0,
	    NOW + 30, 30 },
	{ "9111_4_2_1_s_maxage_over_max_age",
	    R200(DATE0 "Cache-Control: max-age=60, s-maxage=100\r\n"), NOW,
	    NOW, 100, 0, CM_MUST_REVALIDATE },
	{ "9111_4_2_1_max_age_over_expires",
	    R200(DATE0 MA60 "Expires: " D_P3600 "\r\n"), NOW, NOW, 60, 0, 0 },
	{ "9111_4_2_1_expires_minus_date",
	    R200(DATE0 "Expires: " D_P3600 "\r\n"), NOW, NOW, 3600, 0, 0 },
	{ "9111_4_2_1_expires_minus_date_not_response_time",
	    R200("Date: " D_M100 "\r\nExpires: " D_P3600 "\r\n"), NOW, NOW,
	    3700, 100, 0 },
	{ "9110_6_6_1_no_date_uses_response_time",
	    R200("Expires: " D_P3600 "\r\n"), NOW, NOW, 3600, 0, 0 },
	{ "9110_6_6_1_invalid_date_uses_response_time",
	    R200("Date: tomorrow\r\nExpires: " D_P3600 "\r\n"), NOW - 5,
	    NOW, 3600, 5, 0 },
	{ "9111_4_2_1_invalid_first_max_age_stale",
	    R200(DATE0 "Cache-Control: max-age=\"abc\", max-age=50\r\n"), NOW,
	    NOW, 0, 0, 0 },
	{ "9111_5_3_expires_zero_is_expired", R200(DATE0 "Expires: 0\r\n"),
	    NOW, NOW, 0, 0, 0 },
	{ "9111_5_3_expires_garbage_is_expired",
	    R200(DATE0 "Expires: soon\r\n"), NOW, NOW, 0, 0, 0 },
	{ "9111_5_3_expires_in_past", R200(DATE0 "Expires: " D_M10 "\r\n"),
	    NOW, NOW, 0, 0, 0 },
	{ "9111_5_3_expires_rfc850_format", R200(DATE0
	    "Expires: Tuesday, 14-Nov-23 23:13:20 GMT\r\n"), NOW, NOW, 3600, 0,
	    0 },
	{ "9111_4_2_1_first_expires_used", R200(DATE0 "Expires: " D_P3600
	    "\r\nExpires: " D_P100 "\r\n"), NOW, NOW, 3600, 0, 0 },
	{ "9111_4_2_1_invalid_max_age_stale_despite_expires",
	    R200(DATE0 "Cache-Control: max-age=\"abc\"\r\nExpires: " D_P3600
	    "\r\n"), NOW, NOW, 0, 0, 0 },
	{ "9111_4_2_1_max_age_saturated", R200(DATE0
	    "Cache-Control: max-age=99999999999\r\n"), NOW, NOW,
	    2147483648LL, 0, 0 },
	{ "9111_4_2_2_heuristic_ten_percent", R200(DATE0 "Last-Modified: "
	    D_M10000 "\r\n"), NOW, NOW, 1000, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_heuristic_capped_default_day", R200(DATE0
	    "Last-Modified: " D_M100D "\r\n"), NOW, NOW, 86400, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_heuristic_cap_option", R200(DATE0 "Last-Modified: "
	    D_M10000 "\r\n"), NOW, NOW, 500, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED, .cap = 500 },
	{ "9111_4_2_2_no_heuristic_with_expires", R200(DATE0 "Last-Modified: "
	    D_M10000 "\r\nExpires: " D_P100 "\r\n"), NOW, NOW, 100, 0,
	    CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_no_heuristic_for_302", RS("302 Found", DATE0
	    "Location: /x\r\nLast-Modified: " D_M10000 "\r\n"), NOW, NOW, 0, 0,
	    CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_heuristic_404", RS("404 Not Found", DATE0
	    "Last-Modified: " D_M10000 "\r\n"), NOW, NOW, 1000, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_heuristic_public_any_status", RS("500 Oops", DATE0
	    "Cache-Control: public\r\nLast-Modified: " D_M10000 "\r\n"), NOW,
	    NOW, 1000, 0, CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_last_modified_after_date", R200(DATE0 "Last-Modified: "
	    D_P100 "\r\n"), NOW, NOW, 0, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9111_4_2_2_invalid_last_modified_no_heuristic", R200(DATE0
	    "Last-Modified: yesterday\r\n"), NOW, NOW, 0, 0, 0 },
	{ "9213_2_2_targeted_field_ignores_expires", R200(DATE0
	    "CDN-Cache-Control: public\r\nExpires: " D_P3600
	    "\r\nLast-Modified: " D_M10000 "\r\n"), NOW, NOW, 1000, 0,
	    CM_HEURISTIC | CM_HAS_LAST_MODIFIED },
	{ "9213_2_2_vane_max_age_over_cache_control", R200(DATE0
	    "Cache-Control: max-age=5\r\nVane-Cache-Control: max-age=500\r\n"),
	    NOW, NOW, 500, 0, 0 },
	{ "9111_4_2_3_apparent_age", R200("Date: " D_M100 "\r\n" MA60), NOW,
	    NOW, 60, 100, 0, NOW, 100 },
	{ "9111_4_2_3_corrected_age_value", R200(DATE0 "Age: 50\r\n" MA60),
	    NOW - 10, NOW, 60, 60, 0, NOW + 5, 65 },
	{ "9111_4_2_3_corrected_initial_age_max_of_both",
	    R200("Date: " D_M100 "\r\nAge: 30\r\n" MA60), NOW - 5, NOW, 60,
	    100, 0 },
	{ "9111_4_2_3_date_in_future_clamped", R200("Date: " D_P100 "\r\n"
	    MA60), NOW, NOW, 60, 0, 0 },
	{ "9111_4_2_3_response_delay_counts", R200(DATE0 MA60), NOW - 7, NOW,
	    60, 7, 0, NOW + 3, 10 },
	{ "9111_4_2_3_resident_time", R200(DATE0 MA60), NOW, NOW, 60, 0, 0,
	    NOW + 40, 40 },
	{ "9111_4_2_3_now_before_response_time", R200(DATE0 "Age: 5\r\n"
	    MA60), NOW, NOW, 60, 5, 0, NOW - 100, 5 },
	{ "9111_5_1_invalid_age_ignored", R200(DATE0 "Age: -1\r\n" MA60),
	    NOW - 2, NOW, 60, 2, 0 },
	{ "9111_5_1_age_list_uses_first", R200(DATE0 "Age: 10, 500\r\n" MA60),
	    NOW, NOW, 60, 10, 0 },
	{ "9111_5_2_2_2_must_revalidate_flag", R200(DATE0
	    "Cache-Control: must-revalidate, max-age=5\r\n"), NOW, NOW, 5, 0,
	    CM_MUST_REVALIDATE },
	{ "9111_5_2_2_8_proxy_revalidate_flag", R200(DATE0
	    "Cache-Control: proxy-revalidate, max-age=5\r\n"), NOW, NOW, 5, 0,
	    CM_MUST_REVALIDATE },
	{ "9111_5_2_2_4_no_cache_flag", R200(DATE0
	    "Cache-Control: no-cache, max-age=5\r\nETag: \"x\"\r\n"), NOW, NOW,
	    5, 0, CM_NO_CACHE | CM_HAS_ETAG },
	{ "8246_2_immutable_flag", R200(DATE0
	    "Cache-Control: immutable, max-age=5\r\n"), NOW, NOW, 5, 0,
	    CM_IMMUTABLE },
	{ "5861_stale_windows_kept", R200(DATE0 "Cache-Control: max-age=5, "
	    "stale-while-revalidate=30, stale-if-error=600\r\n"), NOW, NOW, 5,
	    0, 0, .chk_stale = 1, .swr = 30, .sie = 600 },
	{ "5861_no_stale_windows", R200(DATE0 MA60), NOW, NOW, 60, 0, 0,
	    .chk_stale = 1, .swr = -1, .sie = -1 },
};

START_TEST(freshness_table)
{
	const struct fr_case	*c = &fr_cases[_i];
	struct cache_opts	 o = opts(NULL, 0, c->cap);
	struct pm		*r = resp(c->rs);
	struct cache_meta	 cm;

	cache_meta_fill(&cm, r->buf, &r->m, c->req_time, c->resp_time, &o);
	ck_assert_msg(cm.freshness_lifetime == c->lifetime,
	    "%s: lifetime %lld", c->name, (long long)cm.freshness_lifetime);
	ck_assert_msg(cm.corrected_initial_age == c->cia, "%s: cia %lld",
	    c->name, (long long)cm.corrected_initial_age);
	ck_assert_msg(cm.flags == c->flags, "%s: flags %#x", c->name,
	    cm.flags);
	if (c->now != 0)
		ck_assert_msg(cache_current_age(&cm, c->now) == c->age,
		    "%s: age %lld", c->name,
		    (long long)cache_current_age(&cm, c->now));
	if (c->chk_stale)
		ck_assert_msg(cm.swr == c->swr && cm.sie == c->sie, "%s",
		    c->name);
}
END_TEST

/*
 * 6. Serving a stored response (RFC 9111 §4.2, §4.2.4, §5.2.1; RFC 5861).
 * Every object was fetched at NOW (request and response) with Date NOW.
 */
struct dc_case {
	const char	*name;
	const char	*rs;		/* the stored response */
	const char	*rq;		/* the new request */
	int64_t		 now;
	enum cache_serve want;
	int64_t		 age;
	int		 sie;
};

#define F	CACHE_SERVE_FRESH
#define ST	CACHE_SERVE_STALE
#define SWR	CACHE_SERVE_STALE_REVALIDATE
#define VAL	CACHE_SERVE_VALIDATE
#define GW	CACHE_SERVE_GATEWAY_TIMEOUT
#define MA100	"Cache-Control: max-age=100\r\n"

static const struct dc_case dc_cases[] = {
	{ "9111_4_2_fresh_served", R200(DATE0 MA100), GET(""), NOW + 50, F,
	    50 },
	{ "9111_4_2_stale_validated", R200(DATE0 MA100), GET(""), NOW + 150,
	    VAL, 150 },
	{ "9111_4_2_age_equal_lifetime_is_stale", R200(DATE0 MA100), GET(""),
	    NOW + 100, VAL, 100 },
	{ "9111_4_2_3_age_includes_received_age", R200(DATE0 "Age: 30\r\n"
	    MA100), GET(""), NOW + 10, F, 40 },
	{ "9111_4_2_3_received_age_makes_stale", R200(DATE0 "Age: 95\r\n"
	    MA100), GET(""), NOW + 10, VAL, 105 },
	{ "9111_4_2_2_heuristic_fresh", R200(DATE0 "Last-Modified: " D_M10000
	    "\r\n"), GET(""), NOW + 500, F, 500 },
	{ "9111_4_2_2_heuristic_expired", R200(DATE0 "Last-Modified: "
	    D_M10000 "\r\n"), GET(""), NOW + 1001, VAL, 1001 },
	{ "9111_5_3_invalid_expires_validates", R200(DATE0 "Expires: 0\r\n"
	    "ETag: \"e\"\r\n"), GET(""), NOW, VAL, 0 },
	{ "9111_5_2_1_4_request_no_cache", R200(DATE0 MA100),
	    GET("Cache-Control: no-cache\r\n"), NOW + 1, VAL, 1 },
	{ "9111_5_4_request_pragma_no_cache", R200(DATE0 MA100),
	    GET("Pragma: no-cache\r\n"), NOW + 1, VAL, 1 },
	{ "9111_5_4_pragma_ignored_with_cache_control", R200(DATE0 MA100),
	    GET("Pragma: no-cache\r\nCache-Control: max-stale=5\r\n"),
	    NOW + 1, F, 1 },
	{ "9111_5_2_1_1_request_max_age_exceeded", R200(DATE0 MA100),
	    GET("Cache-Control: max-age=30\r\n"), NOW + 50, VAL, 50 },
	{ "9111_5_2_1_1_request_max_age_met", R200(DATE0 MA100),
	    GET("Cache-Control: max-age=60\r\n"), NOW + 50, F, 50 },
	{ "9111_5_2_1_1_request_max_age_zero", R200(DATE0 MA100),
	    GET("Cache-Control: max-age=0\r\n"), NOW + 1, VAL, 1 },
	{ "9111_5_2_1_1_request_max_age_equal_age_ok", R200(DATE0 MA100),
	    GET("Cache-Control: max-age=50\r\n"), NOW + 50, F, 50 },
	{ "9111_5_2_1_3_min_fresh_unmet", R200(DATE0 MA100),
	    GET("Cache-Control: min-fresh=60\r\n"), NOW + 50, VAL, 50 },
	{ "9111_5_2_1_3_min_fresh_met", R200(DATE0 MA100),
	    GET("Cache-Control: min-fresh=50\r\n"), NOW + 50, F, 50 },
	{ "9111_5_2_1_2_max_stale_any", R200(DATE0 MA100),
	    GET("Cache-Control: max-stale\r\n"), NOW + 100000, ST, 100000 },
	{ "9111_5_2_1_2_max_stale_within", R200(DATE0 MA100),
	    GET("Cache-Control: max-stale=60\r\n"), NOW + 150, ST, 150 },
	{ "9111_5_2_1_2_max_stale_exceeded", R200(DATE0 MA100),
	    GET("Cache-Control: max-stale=10\r\n"), NOW + 150, VAL, 150 },
	{ "9111_5_2_1_2_max_stale_with_request_max_age",
	    R200(DATE0 MA100), GET("Cache-Control: max-stale, max-age=120\r\n"),
	    NOW + 150, VAL, 150 },
	{ "9111_5_2_2_2_must_revalidate_blocks_max_stale",
	    R200(DATE0 "Cache-Control: max-age=100, must-revalidate\r\n"),
	    GET("Cache-Control: max-stale\r\n"), NOW + 150, VAL, 150 },
	{ "9111_5_2_2_8_proxy_revalidate_blocks_max_stale",
	    R200(DATE0 "Cache-Control: max-age=100, proxy-revalidate\r\n"),
	    GET("Cache-Control: max-stale\r\n"), NOW + 150, VAL, 150 },
	{ "9111_5_2_2_10_s_maxage_blocks_max_stale",
	    R200(DATE0 "Cache-Control: s-maxage=100\r\n"),
	    GET("Cache-Control: max-stale\r\n"), NOW + 150, VAL, 150 },
	{ "9111_5_2_2_4_response_no_cache_always_validates",
	    R200(DATE0 "Cache-Control: no-cache, max-age=100\r\n"), GET(""),
	    NOW + 1, VAL, 1 },
	{ "9111_5_2_2_4_response_no_cache_blocks_max_stale",
	    R200(DATE0 "Cache-Control: no-cache\r\nETag: \"a\"\r\n"),
	    GET("Cache-Control: max-stale\r\n"), NOW + 1, VAL, 1 },
	{ "5861_3_stale_while_revalidate_within",
	    R200(DATE0 "Cache-Control: max-age=100, stale-while-revalidate=60\r\n"),
	    GET(""), NOW + 150, SWR, 150 },
	{ "5861_3_stale_while_revalidate_window_edge",
	    R200(DATE0 "Cache-Control: max-age=100, stale-while-revalidate=60\r\n"),
	    GET(""), NOW + 160, SWR, 160 },
	{ "5861_3_stale_while_revalidate_expired",
	    R200(DATE0 "Cache-Control: max-age=100, stale-while-revalidate=60\r\n"),
	    GET(""), NOW + 161, VAL, 161 },
	{ "5861_3_swr_fresh_is_fresh",
	    R200(DATE0 "Cache-Control: max-age=100, stale-while-revalidate=60\r\n"),
	    GET(""), NOW + 10, F, 10 },
	{ "9111_4_2_4_must_revalidate_blocks_swr", R200(DATE0 "Cache-Control: "
	    "max-age=100, stale-while-revalidate=60, must-revalidate\r\n"),
	    GET(""), NOW + 150, VAL, 150 },
	{ "9111_5_2_2_10_s_maxage_blocks_swr", R200(DATE0 "Cache-Control: "
	    "s-maxage=100, stale-while-revalidate=60\r\n"), GET(""), NOW + 150,
	    VAL, 150 },
	{ "9111_5_2_1_4_request_no_cache_beats_swr", R200(DATE0 "Cache-Control: "
	    "max-age=100, stale-while-revalidate=60\r\n"),
	    GET("Cache-Control: no-cache\r\n"), NOW + 150, VAL, 150 },
	{ "5861_4_stale_if_error_within", R200(DATE0 "Cache-Control: "
	    "max-age=100, stale-if-error=100\r\n"), GET(""), NOW + 150, VAL,
	    150, 1 },
	{ "5861_4_stale_if_error_expired", R200(DATE0 "Cache-Control: "
	    "max-age=100, stale-if-error=100\r\n"), GET(""), NOW + 201, VAL,
	    201, 0 },
	{ "5861_4_stale_if_error_request_directive", R200(DATE0 MA100),
	    GET("Cache-Control: stale-if-error=100\r\n"), NOW + 150, VAL, 150,
	    1 },
	{ "5861_4_no_stale_if_error_by_default", R200(DATE0 MA100), GET(""),
	    NOW + 150, VAL, 150, 0 },
	{ "9111_4_2_4_must_revalidate_blocks_stale_if_error",
	    R200(DATE0 "Cache-Control: max-age=100, stale-if-error=100, "
	    "must-revalidate\r\n"), GET(""), NOW + 150, VAL, 150, 0 },
	{ "9111_4_2_4_no_cache_blocks_stale_if_error",
	    R200(DATE0 "Cache-Control: no-cache, stale-if-error=100\r\n"
	    "ETag: \"a\"\r\n"), GET(""), NOW + 1, VAL, 1, 0 },
	{ "9111_5_2_1_7_only_if_cached_fresh", R200(DATE0 MA100),
	    GET("Cache-Control: only-if-cached\r\n"), NOW + 10, F, 10 },
	{ "9111_5_2_1_7_only_if_cached_stale_504", R200(DATE0 MA100),
	    GET("Cache-Control: only-if-cached\r\n"), NOW + 150, GW, 150 },
	{ "9111_5_2_1_7_only_if_cached_with_max_stale", R200(DATE0 MA100),
	    GET("Cache-Control: only-if-cached, max-stale\r\n"), NOW + 150, ST,
	    150 },
	{ "9111_5_2_1_7_only_if_cached_and_no_cache_504", R200(DATE0 MA100),
	    GET("Cache-Control: only-if-cached, no-cache\r\n"), NOW + 10, GW,
	    10 },
	{ "9110_9_3_2_head_served_from_get", R200(DATE0 MA100), HEAD,
	    NOW + 10, F, 10 },
};

START_TEST(decide_table)
{
	const struct dc_case	*c = &dc_cases[_i];
	struct cache_opts	 o = opts(NULL, 0, 0);
	struct pm		*r = resp(c->rs), *q = req(c->rq);
	struct cache_meta	 cm;
	struct cache_decision	 d;

	cache_meta_fill(&cm, r->buf, &r->m, NOW, NOW, &o);
	cache_decide(&d, &cm, q->buf, &q->m, c->now);
	ck_assert_msg(d.what == c->want, "%s: %d want %d", c->name, d.what,
	    c->want);
	ck_assert_msg(d.age == c->age, "%s: age %lld", c->name,
	    (long long)d.age);
	ck_assert_msg(d.stale_if_error == c->sie, "%s: sie %d", c->name,
	    d.stale_if_error);
}
END_TEST

struct ttl_case {
	const char	*name;
	const char	*rs;
	int64_t		 now, want;
	int64_t		 keep;		/* cache_keep_for() */
};

static const struct ttl_case ttl_cases[] = {
	{ "9111_4_2_ttl_is_remaining_lifetime", R200(DATE0 MA100), NOW + 30,
	    70, 70 },
	{ "5861_ttl_includes_longest_stale_window", R200(DATE0 "Cache-Control: "
	    "max-age=100, stale-while-revalidate=50, stale-if-error=500\r\n"),
	    NOW, 600, 600 },
	{ "9111_4_2_4_ttl_no_stale_window_with_must_revalidate",
	    R200(DATE0 "Cache-Control: max-age=100, stale-if-error=500, "
	    "must-revalidate\r\n"), NOW, 100, 100 },
	{ "9111_4_2_ttl_never_negative", R200(DATE0 MA100), NOW + 500, 0, 0 },
	{ "9111_4_3_keep_validatable_past_its_ttl", R200(DATE0 MA100
	    "ETag: \"a\"\r\n"), NOW + 500, 0, CACHE_KEEP_VALIDATABLE },
	{ "9111_4_3_keep_last_modified_while_fresh", R200(DATE0 MA100
	    "Last-Modified: " D_M100D "\r\n"), NOW + 30, 70,
	    70 + CACHE_KEEP_VALIDATABLE },
};

START_TEST(ttl_table)
{
	const struct ttl_case	*c = &ttl_cases[_i];
	struct cache_opts	 o = opts(NULL, 0, 0);
	struct pm		*r = resp(c->rs);
	struct cache_meta	 cm;

	cache_meta_fill(&cm, r->buf, &r->m, NOW, NOW, &o);
	ck_assert_msg(cache_ttl(&cm, c->now) == c->want, "%s: %lld", c->name,
	    (long long)cache_ttl(&cm, c->now));
	ck_assert_msg(cache_keep_for(&cm, c->now) == c->keep, "%s: keep %lld",
	    c->name, (long long)cache_keep_for(&cm, c->now));
	ck_assert_msg(cache_is_fresh(&cm, c->now) ==
	    (c->now - NOW < cm.freshness_lifetime), "%s: fresh", c->name);
}
END_TEST

/*
 * 7. Validation (RFC 9111 §4.3, RFC 9110 §13).
 */
struct cond_case {
	const char	*name;
	const char	*stored;
	const char	*want;		/* NULL: none */
};

static const struct cond_case cond_cases[] = {
	{ "9111_4_3_1_etag_gives_if_none_match", R200("ETag: \"v1\"\r\n"),
	    "If-None-Match: \"v1\"\r\n" },
	{ "9111_4_3_1_weak_etag_sent_as_is", R200("ETag: W/\"v1\"\r\n"),
	    "If-None-Match: W/\"v1\"\r\n" },
	{ "9111_4_3_1_last_modified_gives_ims",
	    R200("Last-Modified: " D_M1000 "\r\n"),
	    "If-Modified-Since: " D_M1000 "\r\n" },
	{ "9111_4_3_1_etag_preferred_over_last_modified",
	    R200("Last-Modified: " D_M1000 "\r\nETag: \"v2\"\r\n"),
	    "If-None-Match: \"v2\"\r\n" },
	{ "9111_4_3_1_no_validator", R200(MA60), NULL },
};

START_TEST(cond_table)
{
	const struct cond_case	*c = &cond_cases[_i];
	struct pm		*r = resp(c->stored);
	char			 out[256];
	int			 n, small;

	n = cache_conditional(out, sizeof(out), r->buf, &r->m);
	if (c->want == NULL) {
		ck_assert_msg(n == 0, "%s: %d", c->name, n);
		return;
	}
	ck_assert_msg(n == (int)strlen(c->want) &&
	    memcmp(out, c->want, (size_t)n) == 0, "%s: %.*s", c->name, n, out);
	for (small = 0; small < n; small++)
		ck_assert_msg(cache_conditional(out, (size_t)small, r->buf,
		    &r->m) == -1, "%s: fits in %d", c->name, small);
}
END_TEST

/* The background refresh's request (RFC 5861 §3). */
struct refresh_case {
	const char	*name;
	const char	*req;
	const char	*want;
};

static const struct refresh_case refresh_cases[] = {
	{ "5861_3_refresh_is_the_same_get", RQ("Accept: text/html\r\n"),
	    RQ("Accept: text/html\r\n") },
	{ "5861_3_refresh_of_head_is_a_get",
	    "HEAD /r?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
	    "GET /r?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n" },
	{ "9111_4_3_1_refresh_drops_client_preconditions",
	    RQ("If-None-Match: \"c\"\r\nAccept-Language: fr\r\n"
	    "If-Modified-Since: " D_M10 "\r\nIf-Match: *\r\n"
	    "if-unmodified-since: " D_M10 "\r\nIf-Range: \"c\"\r\n"),
	    RQ("Accept-Language: fr\r\n") },
	{ "9111_3_3_refresh_drops_range_and_expect",
	    RQ("Range: bytes=0-1\r\nExpect: 100-continue\r\nX-A: 1\r\n"),
	    RQ("X-A: 1\r\n") },
	{ "9112_5_refresh_normalises_field_lines",
	    "GET /r HTTP/1.1\r\nHost:example.com\r\n"
	    "X-B:   two words  \r\n\r\n",
	    "GET /r HTTP/1.1\r\nHost: example.com\r\n"
	    "X-B: two words\r\n\r\n" },
	{ "9112_3_2_refresh_keeps_http_1_0_without_host",
	    "HEAD http://example.com/r HTTP/1.0\r\nIf-None-Match: \"c\"\r\n\r\n",
	    "GET http://example.com/r HTTP/1.0\r\n\r\n" },
};

START_TEST(refresh_table)
{
	const struct refresh_case	*c = &refresh_cases[_i];
	struct pm			*r = req(c->req);
	char				 out[512];
	int				 n, small;

	n = cache_refresh_request(out, sizeof(out), r->buf, &r->m);
	ck_assert_msg(n == (int)strlen(c->want) &&
	    memcmp(out, c->want, (size_t)n) == 0, "%s: %d %.*s", c->name, n,
	    n > 0 ? n : 0, out);
	ck_assert_msg((size_t)n <= r->m.head_len + r->m.nfields + 16,
	    "%s: over the documented bound", c->name);
	for (small = 0; small < n; small++)
		ck_assert_msg(cache_refresh_request(out, (size_t)small, r->buf,
		    &r->m) == -1, "%s: fits in %d", c->name, small);
}
END_TEST

struct sel_case {
	const char	*name;
	const char	*stored;
	const char	*m304;
	int		 want;
};

#define R304(h)	RS("304 Not Modified", h)

static const struct sel_case sel_cases[] = {
	{ "9111_4_3_4_strong_etag_matches", R200("ETag: \"v1\"\r\n"),
	    R304("ETag: \"v1\"\r\n"), 1 },
	{ "9111_4_3_4_strong_etag_differs", R200("ETag: \"v1\"\r\n"),
	    R304("ETag: \"v2\"\r\n"), 0 },
	{ "9111_4_3_4_strong_etag_vs_stored_weak", R200("ETag: W/\"v1\"\r\n"),
	    R304("ETag: \"v1\"\r\n"), 0 },
	{ "9111_4_3_4_weak_etag_matches_weak", R200("ETag: W/\"v1\"\r\n"),
	    R304("ETag: W/\"v1\"\r\n"), 1 },
	{ "9111_4_3_4_weak_etag_matches_strong_stored", R200("ETag: \"v1\"\r\n"),
	    R304("ETag: W/\"v1\"\r\n"), 1 },
	{ "9111_4_3_4_etag_but_none_stored", R200("Last-Modified: " D_M10
	    "\r\n"), R304("ETag: \"v1\"\r\n"), 0 },
	{ "9111_4_3_4_last_modified_matches", R200("Last-Modified: " D_M10
	    "\r\n"), R304("Last-Modified: " D_M10 "\r\n"), 1 },
	{ "9111_4_3_4_last_modified_differs", R200("Last-Modified: " D_M10
	    "\r\n"), R304("Last-Modified: " D_M100 "\r\n"), 0 },
	{ "9111_4_3_4_no_validator_selects_unvalidated", R200(MA60),
	    R304(DATE0), 1 },
	{ "9111_4_3_4_no_validator_not_for_stored_etag",
	    R200("ETag: \"v1\"\r\n"), R304(DATE0), 0 },
	{ "9111_4_3_4_no_validator_not_for_stored_last_modified",
	    R200("Last-Modified: " D_M10 "\r\n"), R304(DATE0), 0 },
	{ "9111_4_3_4_weak_etag_and_last_modified_both_match",
	    R200("ETag: W/\"v\"\r\nLast-Modified: " D_M10 "\r\n"),
	    R304("ETag: W/\"v\"\r\nLast-Modified: " D_M10 "\r\n"), 1 },
	{ "9111_4_3_4_weak_etag_match_last_modified_differs",
	    R200("ETag: W/\"v\"\r\nLast-Modified: " D_M10 "\r\n"),
	    R304("ETag: W/\"v\"\r\nLast-Modified: " D_M100 "\r\n"), 0 },
	{ "9111_4_3_4_strong_etag_decides_alone",
	    R200("ETag: \"v\"\r\nLast-Modified: " D_M10 "\r\n"),
	    R304("ETag: \"v\"\r\nLast-Modified: " D_M100 "\r\n"), 1 },
	{ "9111_4_3_4_invalid_etag_selects_nothing", R200("ETag: \"v1\"\r\n"),
	    R304("ETag: v1\r\n"), 0 },
};

START_TEST(select_table)
{
	const struct sel_case	*c = &sel_cases[_i];
	struct pm		*s = resp(c->stored), *n = resp(c->m304);

	ck_assert_msg(cache_304_selects(s->buf, &s->m, n->buf, &n->m) ==
	    c->want, "%s", c->name);
}
END_TEST

/* A 304 to the conditional vane built from the stored validators. */
static const struct sel_case sel_own_cases[] = {
	{ "9111_4_3_3_own_no_validator_selects_stored_etag",
	    R200("ETag: \"v1\"\r\n"), R304(DATE0), 1 },
	{ "9111_4_3_3_own_no_validator_selects_stored_last_modified",
	    R200("Last-Modified: " D_M10 "\r\n"), R304(DATE0), 1 },
	{ "9111_4_3_3_own_no_validator_selects_unvalidated", R200(MA60),
	    R304(DATE0), 1 },
	{ "9111_4_3_4_own_same_strong_etag_selects",
	    R200("ETag: \"v1\"\r\n"), R304("ETag: \"v1\"\r\n"), 1 },
	{ "9111_4_3_4_own_other_strong_etag_selects_nothing",
	    R200("ETag: \"v1\"\r\n"), R304("ETag: \"v2\"\r\n"), 0 },
	{ "9111_4_3_4_own_other_last_modified_selects_nothing",
	    R200("Last-Modified: " D_M10 "\r\n"),
	    R304("Last-Modified: " D_M100 "\r\n"), 0 },
	{ "9111_4_3_4_own_invalid_etag_selects_nothing",
	    R200("ETag: \"v1\"\r\n"), R304("ETag: v1\r\n"), 0 },
};

START_TEST(select_own_table)
{
	const struct sel_case	*c = &sel_own_cases[_i];
	struct pm		*s = resp(c->stored), *n = resp(c->m304);

	ck_assert_msg(cache_304_selects_own(s->buf, &s->m, n->buf, &n->m) ==
	    c->want, "%s", c->name);
}
END_TEST

struct head_case {
	const char	*name;
	const char	*stored;
	uint64_t	 stored_len;
	const char	*head;
	int		 want;
};

#define SH	R200("ETag: \"v\"\r\nLast-Modified: " D_M10 "\r\n")

static const struct head_case head_cases[] = {
	{ "9111_4_3_5_head_same_validators_updates", SH, 10,
	    R200("ETag: \"v\"\r\nLast-Modified: " D_M10 "\r\n"
	    "Content-Length: 10\r\n"), 1 },
	{ "9111_4_3_5_head_no_validators_updates", SH, 10, R200(MA60), 1 },
	{ "9111_4_3_5_head_etag_differs_stale", SH, 10,
	    R200("ETag: \"w\"\r\n"), 0 },
	{ "9111_4_3_5_head_weakness_differs_stale", SH, 10,
	    R200("ETag: W/\"v\"\r\n"), 0 },
	{ "9111_4_3_5_head_etag_but_stored_none_stale", R200(MA60), 10,
	    R200("ETag: \"v\"\r\n"), 0 },
	{ "9111_4_3_5_head_last_modified_differs_stale", SH, 10,
	    R200("Last-Modified: " D_M100 "\r\n"), 0 },
	{ "9111_4_3_5_head_last_modified_but_stored_none_stale", R200(MA60),
	    10, R200("Last-Modified: " D_M100 "\r\n"), 0 },
	{ "9111_4_3_5_head_content_length_differs_stale", SH, 10,
	    R200("Content-Length: 11\r\n"), 0 },
	{ "9111_4_3_5_head_not_200_nothing", SH, 10,
	    RS("404 Not Found", ""), -1 },
};

START_TEST(head_table)
{
	const struct head_case	*c = &head_cases[_i];
	struct pm		*s = resp(c->stored), *h = resp(c->head);

	ck_assert_msg(cache_head_updates(s->buf, &s->m, c->stored_len, h->buf,
	    &h->m) == c->want, "%s", c->name);
}
END_TEST

struct fld_case {
	const char	*name;
	const char	*msg;
	const char	*field;
	int		 upd304;	/* cache_304_field_updates */
	int		 store;		/* cache_store_field */
	int		 strip;		/* cache_strip_field, default opts */
};

static const struct fld_case fld_cases[] = {
	{ "9111_3_2_content_length_not_updated",
	    R200("Content-Length: 10\r\n"), "Content-Length", 0, 1, 0 },
	{ "9111_3_2_cache_control_updated", R200(MA60), "Cache-Control", 1, 1,
	    0 },
	{ "9111_3_2_etag_updated", R200("ETag: \"a\"\r\n"), "ETag", 1, 1, 0 },
	{ "9111_3_2_date_updated", R200(DATE0), "Date", 1, 1, 0 },
	{ "9111_3_1_connection_not_stored", R200("Connection: close\r\n"),
	    "Connection", 0, 0, 0 },
	{ "9111_3_1_keep_alive_not_stored",
	    R200("Keep-Alive: timeout=5\r\n"), "Keep-Alive", 0, 0, 0 },
	{ "9111_3_1_field_named_in_connection_not_stored",
	    R200("Connection: x-foo\r\nX-Foo: 1\r\n"), "X-Foo", 0, 0, 0 },
	{ "9111_3_1_proxy_authenticate_not_stored",
	    R200("Proxy-Authenticate: Basic\r\n"), "Proxy-Authenticate", 0, 0,
	    0 },
	{ "9111_3_1_proxy_authentication_info_not_stored",
	    R200("Proxy-Authentication-Info: a=b\r\n"),
	    "Proxy-Authentication-Info", 0, 0, 0 },
	{ "9111_5_2_2_7_private_field_not_stored",
	    R200("Cache-Control: private=\"X-User\"\r\nX-User: bob\r\n"),
	    "X-User", 1, 0, 0 },
	{ "9111_5_2_2_7_other_field_stored",
	    R200("Cache-Control: private=\"X-User\"\r\nX-Other: 1\r\n"),
	    "X-Other", 1, 1, 0 },
	{ "9111_5_2_2_4_no_cache_field_not_stored_case_insensitive",
	    R200("Cache-Control: no-cache=\"x-b, X-A\"\r\nx-a: 1\r\n"), "x-a",
	    1, 0, 0 },
	{ "9111_5_2_2_4_no_cache_field_prefix_not_matched",
	    R200("Cache-Control: no-cache=\"X-AB\"\r\nX-A: 1\r\n"), "X-A", 1,
	    1, 0 },
	{ "9213_2_1_targeted_private_field_list",
	    R200("CDN-Cache-Control: private=\"x-user\"\r\nX-User: 1\r\n"),
	    "X-User", 1, 0, 0 },
	{ "9213_2_2_vane_field_stripped_before_client",
	    R200("Vane-Cache-Control: max-age=5\r\n"), "Vane-Cache-Control", 1,
	    1, 1 },
	{ "9213_2_2_cdn_field_forwarded",
	    R200("CDN-Cache-Control: max-age=5\r\n"), "CDN-Cache-Control", 1,
	    1, 0 },
	{ "9213_2_2_vane_field_name_case_insensitive",
	    R200("vane-cache-control: max-age=5\r\n"), "vane-cache-control", 1,
	    1, 1 },
};

START_TEST(field_table)
{
	const struct fld_case	*c = &fld_cases[_i];
	struct cache_opts	 o = opts(NULL, 0, 0);
	struct pm		*r = resp(c->msg);
	const struct http_field	*f = field_named(r, c->field);
	struct cc_directives	 d;

	cache_response_cc(&d, r->buf, &r->m, &o);
	ck_assert_msg(cache_304_field_updates(r->buf, f) == c->upd304,
	    "%s: 304 update", c->name);
	ck_assert_msg(cache_store_field(r->buf, f, &d) == c->store,
	    "%s: store", c->name);
	ck_assert_msg(cache_strip_field(r->buf, f, &o) == c->strip,
	    "%s: strip", c->name);
}
END_TEST

START_TEST(strip_renamed_9213_2_2_configured_name)
{
	struct cache_opts	 o = opts("X-My-CC", 0, 0);
	struct pm		*r = resp(R200("X-My-CC: max-age=1\r\n"
	    "Vane-Cache-Control: max-age=2\r\n"));

	ck_assert(cache_strip_field(r->buf, &r->m.fields[0], &o) == 1);
	ck_assert(cache_strip_field(r->buf, &r->m.fields[1], &o) == 0);
	o.vane_cc_name = NULL;
	ck_assert(cache_strip_field(r->buf, &r->m.fields[0], &o) == 0);
}
END_TEST

struct nm_case {
	const char	*name;
	const char	*rq;
	const char	*stored;
	int		 want;
};

#define SE	R200("ETag: \"a\"\r\nLast-Modified: " D_M100 "\r\n")

static const struct nm_case nm_cases[] = {
	{ "9110_13_1_2_if_none_match_strong_match",
	    GET("If-None-Match: \"a\"\r\n"), SE, 1 },
	{ "9110_13_1_2_if_none_match_weak_comparison",
	    GET("If-None-Match: W/\"a\"\r\n"), SE, 1 },
	{ "9110_13_1_2_if_none_match_weak_stored",
	    GET("If-None-Match: \"a\"\r\n"), R200("ETag: W/\"a\"\r\n"), 1 },
	{ "9110_13_1_2_if_none_match_list",
	    GET("If-None-Match: \"x\", \"a\"\r\n"), SE, 1 },
	{ "9110_13_1_2_if_none_match_two_lines",
	    GET("If-None-Match: \"x\"\r\nIf-None-Match: \"a\"\r\n"), SE, 1 },
	{ "9110_13_1_2_if_none_match_no_match",
	    GET("If-None-Match: \"b\"\r\n"), SE, 0 },
	{ "9110_13_1_2_if_none_match_star", GET("If-None-Match: *\r\n"), SE,
	    1 },
	{ "9110_13_1_2_etag_with_comma", GET("If-None-Match: \"a,b\"\r\n"),
	    R200("ETag: \"a,b\"\r\n"), 1 },
	{ "9110_13_1_2_etag_with_comma_no_partial",
	    GET("If-None-Match: \"a,b\"\r\n"), SE, 0 },
	{ "9110_13_1_2_no_stored_etag", GET("If-None-Match: \"a\"\r\n"),
	    R200("Last-Modified: " D_M100 "\r\n"), 0 },
	{ "9110_13_1_2_unquoted_tag_invalid", GET("If-None-Match: a\r\n"), SE,
	    0 },
	{ "9110_13_1_3_ims_not_modified",
	    GET("If-Modified-Since: " D_0 "\r\n"), SE, 1 },
	{ "9110_13_1_3_ims_equal_not_modified",
	    GET("If-Modified-Since: " D_M100 "\r\n"), SE, 1 },
	{ "9110_13_1_3_ims_modified_since",
	    GET("If-Modified-Since: " D_M1000 "\r\n"), SE, 0 },
	{ "9110_13_1_3_ims_ignored_with_if_none_match",
	    GET("If-None-Match: \"zz\"\r\nIf-Modified-Since: " D_0 "\r\n"), SE,
	    0 },
	{ "9110_13_1_3_ims_invalid_date_ignored",
	    GET("If-Modified-Since: yesterday\r\n"), SE, 0 },
	{ "9110_13_1_3_ims_rfc850_date",
	    GET("If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n"), SE,
	    1 },
	{ "9110_13_1_3_ims_post_ignored", "POST /r HTTP/1.1\r\nHost: "
	    "example.com\r\nContent-Length: 0\r\nIf-Modified-Since: " D_0
	    "\r\n\r\n", SE, 0 },
	{ "9110_13_1_3_ims_head", "HEAD /r HTTP/1.1\r\nHost: example.com\r\n"
	    "If-Modified-Since: " D_0 "\r\n\r\n", SE, 1 },
	{ "9111_4_3_2_ims_against_date_without_last_modified",
	    GET("If-Modified-Since: " D_0 "\r\n"), R200("Date: " D_M10 "\r\n"),
	    1 },
	{ "9111_4_3_2_ims_no_date_no_last_modified",
	    GET("If-Modified-Since: " D_0 "\r\n"), R200(MA60), 0 },
	{ "9110_13_1_no_conditional", GET(""), SE, 0 },
	{ "9110_13_2_1_stored_404_ignores_if_none_match",
	    GET("If-None-Match: *\r\n"), RS("404 Not Found", "ETag: \"a\"\r\n"),
	    0 },
	{ "9110_13_2_1_stored_301_ignores_ims",
	    GET("If-Modified-Since: " D_0 "\r\n"), RS("301 Moved",
	    "Location: /x\r\nLast-Modified: " D_M100 "\r\n"), 0 },
	{ "9110_13_2_1_stored_204_applies", GET("If-None-Match: \"a\"\r\n"),
	    RS("204 No Content", "ETag: \"a\"\r\n"), 1 },
};

START_TEST(not_modified_table)
{
	const struct nm_case	*c = &nm_cases[_i];
	struct pm		*q = req(c->rq), *s = resp(c->stored);

	ck_assert_msg(cache_not_modified(q->buf, &q->m, s->buf, &s->m) ==
	    c->want, "%s", c->name);
}
END_TEST

struct range_case {
	const char	*name;
	const char	*rq;
	int		 status;
	uint64_t	 len;
	int		 want;
	uint64_t	 first, last;
};

/* RFC 9110 §14: a hit's Range against a stored body of len bytes. */
static const struct range_case range_cases[] = {
	{ "9110_14_1_2_first_last", GET("Range: bytes=0-1\r\n"), 200, 11,
	    1, 0, 1 },
	{ "9110_14_1_2_absent_last_to_the_end", GET("Range: bytes=1-\r\n"),
	    200, 11, 1, 1, 10 },
	{ "9110_14_1_2_suffix", GET("Range: bytes=-1\r\n"), 200, 11, 1, 10,
	    10 },
	{ "9110_14_1_2_suffix_longer_than_body_is_all",
	    GET("Range: bytes=-50\r\n"), 200, 11, 1, 0, 10 },
	{ "9110_14_1_2_last_beyond_end_is_cut", GET("Range: bytes=5-99\r\n"),
	    200, 11, 1, 5, 10 },
	{ "9110_14_1_unit_any_case_and_ows", GET("Range: Bytes= 2-3 \r\n"),
	    200, 11, 1, 2, 3 },
	{ "9110_14_1_2_whole_body", GET("Range: bytes=0-10\r\n"), 200, 11,
	    1, 0, 10 },
	{ "9110_14_2_no_range", GET(""), 200, 11, 0, 0, 0 },
	{ "9110_14_2_unsatisfiable_sent_whole", GET("Range: bytes=11-\r\n"),
	    200, 11, 0, 0, 0 },
	{ "9110_14_2_zero_suffix_ignored", GET("Range: bytes=-0\r\n"), 200,
	    11, 0, 0, 0 },
	{ "9110_14_2_last_before_first_invalid",
	    GET("Range: bytes=5-2\r\n"), 200, 11, 0, 0, 0 },
	{ "9110_14_2_several_ranges_sent_whole",
	    GET("Range: bytes=0-1, 4-5\r\n"), 200, 11, 0, 0, 0 },
	{ "9110_14_2_other_unit_ignored", GET("Range: items=0-1\r\n"), 200,
	    11, 0, 0, 0 },
	{ "9110_14_2_garbage_ignored", GET("Range: bytes=a-b\r\n"), 200, 11,
	    0, 0, 0 },
	{ "9110_14_2_overflow_ignored",
	    GET("Range: bytes=0-99999999999999999999999\r\n"), 200, 11, 0, 0,
	    0 },
	{ "9110_14_2_two_range_fields_ignored",
	    GET("Range: bytes=0-1\r\nRange: bytes=2-3\r\n"), 200, 11, 0, 0,
	    0 },
	{ "9110_13_1_5_if_range_gets_whole_200",
	    GET("Range: bytes=0-1\r\nIf-Range: \"a\"\r\n"), 200, 11, 0, 0,
	    0 },
	{ "9110_14_2_stored_404_not_sliced", GET("Range: bytes=0-1\r\n"),
	    404, 11, 0, 0, 0 },
	{ "9110_14_2_empty_body_not_sliced", GET("Range: bytes=0-1\r\n"),
	    200, 0, 0, 0, 0 },
	{ "9110_14_2_head_not_sliced", "HEAD /r HTTP/1.1\r\nHost: "
	    "example.com\r\nRange: bytes=0-1\r\n\r\n", 200, 11, 0, 0, 0 },
};

START_TEST(range_table)
{
	const struct range_case	*c = &range_cases[_i];
	struct pm		*q = req(c->rq);
	uint64_t		 first = 77, last = 77;
	int			 got;

	got = cache_range(q->buf, &q->m, c->status, c->len, &first, &last);
	ck_assert_msg(got == c->want, "%s: %d", c->name, got);
	if (got == 1)
		ck_assert_msg(first == c->first && last == c->last,
		    "%s: %llu-%llu", c->name, (unsigned long long)first,
		    (unsigned long long)last);
}
END_TEST

struct et_case {
	const char	*name;
	const char	*a, *b;
	int		 weak, strong;
};

/* RFC 9110 §8.8.3.2's table, and malformed tags. */
static const struct et_case et_cases[] = {
	{ "9110_8_8_3_2_weak_weak", "W/\"1\"", "W/\"1\"", 1, 0 },
	{ "9110_8_8_3_2_weak_weak_differ", "W/\"1\"", "W/\"2\"", 0, 0 },
	{ "9110_8_8_3_2_weak_strong", "W/\"1\"", "\"1\"", 1, 0 },
	{ "9110_8_8_3_2_strong_strong", "\"1\"", "\"1\"", 1, 1 },
	{ "9110_8_8_3_2_unquoted_invalid", "1", "1", 0, 0 },
	{ "9110_8_8_3_2_lowercase_w_invalid", "w/\"1\"", "w/\"1\"", 0, 0 },
	{ "9110_8_8_3_2_inner_quote_invalid", "\"a\"b\"", "\"a\"b\"", 0, 0 },
};

START_TEST(etag_table)
{
	const struct et_case	*c = &et_cases[_i];

	ck_assert_msg(cache_etag_weak_eq(c->a, strlen(c->a), c->b,
	    strlen(c->b)) == c->weak, "%s: weak", c->name);
	ck_assert_msg(cache_etag_strong_eq(c->a, strlen(c->a), c->b,
	    strlen(c->b)) == c->strong, "%s: strong", c->name);
}
END_TEST

/*
 * 8. Vary (RFC 9111 §4.1).
 */
struct vk_case {
	const char	*name;
	const char	*rs;
	const char	*rq;
	const char	*want;		/* NULL: Vary: * (-2) */
	int		 flags;
};

static const struct vk_case vk_cases[] = {
	{ "9111_4_1_no_vary_empty_key", R200(MA60), GET("Accept: a\r\n"), "" },
	{ "9111_4_1_one_field", R200("Vary: Accept-Encoding\r\n"),
	    GET("Accept-Encoding: gzip\r\n"), "accept-encoding:gzip\n" },
	{ "9111_4_1_absent_field_marked_absent",
	    R200("Vary: Accept-Encoding\r\n"), GET(""), "accept-encoding\n" },
	{ "9111_4_1_empty_value_differs_from_absent", R200("Vary: X-A\r\n"),
	    GET("X-A: \r\n"), "x-a:\n" },
	{ "9111_4_1_repeated_vary_fields", R200("Vary: Accept\r\n"
	    "Vary: Accept-Language\r\n"), GET("Accept-Language: fr\r\n"
	    "Accept: text/html\r\n"), "accept:text/html\naccept-language:fr\n" },
	{ "9111_4_1_vary_list_trimmed_and_lowercased",
	    R200("Vary:  ACCEPT ,\taccept-language ,\r\n"),
	    GET("Accept: x\r\n"), "accept:x\naccept-language\n" },
	{ "9111_4_1_duplicate_names_once", R200("Vary: Accept, accept\r\n"
	    "Vary: ACCEPT\r\n"), GET("Accept: x\r\n"), "accept:x\n" },
	{ "9111_4_1_request_lines_combined", R200("Vary: Accept\r\n"),
	    GET("Accept: a\r\nAccept: b\r\n"), "accept:a,b\n" },
	{ "9111_4_1_ows_around_commas_removed", R200("Vary: Accept-Encoding\r\n"),
	    GET("Accept-Encoding: gzip ,  br\r\n"), "accept-encoding:gzip,br\n" },
	{ "9111_4_1_inner_whitespace_collapsed", R200("Vary: User-Agent\r\n"),
	    GET("User-Agent: a  \t b\r\n"), "user-agent:a b\n" },
	{ "9111_4_1_values_keep_case", R200("Vary: X-Tenant\r\n"),
	    GET("X-Tenant: GZip\r\n"), "x-tenant:GZip\n" },
	{ "9110_8_4_1_codings_lowercased", R200("Vary: Accept-Encoding\r\n"),
	    GET("Accept-Encoding: GZip;Q=0.5\r\n"),
	    "accept-encoding:gzip;q=0.5\n" },
	{ "rfc4647_2_language_ranges_lowercased",
	    R200("Vary: accept-language, Accept-Charset\r\n"),
	    GET("Accept-Language: en-US, De\r\nAccept-Charset: UTF-8\r\n"),
	    "accept-language:en-us,de\naccept-charset:utf-8\n" },
	{ "9110_12_5_3_ae_reduced_to_gzip", R200("Vary: Accept-Encoding\r\n"),
	    GET("Accept-Encoding: gzip, deflate, br, zstd\r\n"),
	    "accept-encoding:gzip\n", CACHE_VARY_AE },
	{ "9110_12_5_3_ae_reduced_to_identity",
	    R200("Vary: Accept-Encoding, Accept\r\n"),
	    GET("Accept-Encoding: br\r\nAccept: a\r\n"),
	    "accept-encoding:identity\naccept:a\n", CACHE_VARY_AE },
	{ "9110_12_5_3_ae_absent_stays_absent",
	    R200("Vary: Accept-Encoding\r\n"), GET(""), "accept-encoding\n",
	    CACHE_VARY_AE },
	{ "9111_4_1_vary_star", R200("Vary: *\r\n"), GET(""), NULL },
	{ "9111_4_1_vary_star_among_names", R200("Vary: accept\r\n"
	    "Vary: *, user-agent\r\n"), GET(""), NULL },
};

START_TEST(vary_key_table)
{
	const struct vk_case	*c = &vk_cases[_i];
	struct pm		*r = resp(c->rs), *q = req(c->rq);
	char			 out[512];
	int			 n, small;

	n = cache_vary_key(out, sizeof(out), r->buf, &r->m, q->buf, &q->m,
	    c->flags);
	if (c->want == NULL) {
		ck_assert_msg(n == -2, "%s: %d", c->name, n);
		return;
	}
	ck_assert_msg(n == (int)strlen(c->want) &&
	    memcmp(out, c->want, (size_t)n) == 0, "%s: [%.*s]", c->name,
	    n < 0 ? 0 : n, out);
	ck_assert_msg(cache_vary_match(out, (size_t)n, q->buf, &q->m,
	    c->flags) == 1,
	    "%s: own request does not match", c->name);
	for (small = 0; small < n; small++)
		ck_assert_msg(cache_vary_key(out, (size_t)small, r->buf, &r->m,
		    q->buf, &q->m, c->flags) == -1, "%s: fits in %d", c->name,
		    small);
}
END_TEST

struct vm_case {
	const char	*name;
	const char	*rs;
	const char	*stored_rq;
	const char	*new_rq;
	int		 want;
	int		 flags;
};

#define VAE	R200("Vary: Accept-Encoding\r\n")

static const struct vm_case vm_cases[] = {
	{ "9111_4_1_same_value_matches", VAE, GET("Accept-Encoding: gzip\r\n"),
	    GET("Accept-Encoding: gzip\r\n"), 1 },
	{ "9111_4_1_whitespace_normalised_matches", VAE,
	    GET("Accept-Encoding: gzip, br\r\n"),
	    GET("Accept-Encoding: gzip,br\r\n"), 1 },
	{ "9111_4_1_combined_lines_match_single_line", VAE,
	    GET("Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n"),
	    GET("Accept-Encoding: gzip, br\r\n"), 1 },
	{ "9111_4_1_different_value_no_match", VAE,
	    GET("Accept-Encoding: gzip\r\n"), GET("Accept-Encoding: br\r\n"),
	    0 },
	{ "9111_4_1_order_matters", VAE, GET("Accept-Encoding: gzip, br\r\n"),
	    GET("Accept-Encoding: br, gzip\r\n"), 0 },
	{ "9111_4_1_value_case_matters", R200("Vary: X-Tenant\r\n"),
	    GET("X-Tenant: a\r\n"), GET("X-Tenant: A\r\n"), 0 },
	{ "9110_8_4_1_coding_case_ignored", VAE,
	    GET("Accept-Encoding: gzip\r\n"),
	    GET("Accept-Encoding: GZIP\r\n"), 1 },
	{ "rfc4647_2_language_case_ignored", R200("Vary: Accept-Language\r\n"),
	    GET("Accept-Language: en, de\r\n"),
	    GET("Accept-Language: eN , De\r\n"), 1 },
	{ "9110_12_5_4_language_order_kept", R200("Vary: Accept-Language\r\n"),
	    GET("Accept-Language: en, de\r\n"),
	    GET("Accept-Language: de, en\r\n"), 0 },
	{ "9111_4_1_field_name_case_insensitive", VAE,
	    GET("Accept-Encoding: gzip\r\n"), GET("accept-encoding: gzip\r\n"),
	    1 },
	{ "9111_4_1_absent_matches_absent", VAE, GET(""), GET("X: 1\r\n"), 1 },
	{ "9111_4_1_absent_vs_present", VAE, GET(""),
	    GET("Accept-Encoding: gzip\r\n"), 0 },
	{ "9111_4_1_present_vs_absent", VAE, GET("Accept-Encoding: gzip\r\n"),
	    GET(""), 0 },
	{ "9111_4_1_empty_vs_absent", VAE, GET("Accept-Encoding: \r\n"),
	    GET(""), 0 },
	{ "9111_4_1_no_vary_matches_anything", R200(MA60),
	    GET("Accept: a\r\n"), GET("Accept: b\r\n"), 1 },
	{ "9111_4_1_all_fields_must_match",
	    R200("Vary: Accept, Accept-Language\r\n"),
	    GET("Accept: a\r\nAccept-Language: fr\r\n"),
	    GET("Accept: a\r\nAccept-Language: de\r\n"), 0 },
	{ "9111_4_1_all_fields_match",
	    R200("Vary: Accept, Accept-Language\r\n"),
	    GET("Accept: a\r\nAccept-Language: fr\r\n"),
	    GET("Accept-Language: fr\r\nAccept: a\r\n"), 1 },
	{ "9110_12_5_3_ae_lists_accepting_gzip_match", VAE,
	    GET("Accept-Encoding: gzip, deflate, br, zstd\r\n"),
	    GET("Accept-Encoding: deflate,GZIP;q=0.8\r\n"), 1, CACHE_VARY_AE },
	{ "9110_12_5_3_ae_star_accepts_gzip", VAE,
	    GET("Accept-Encoding: gzip\r\n"),
	    GET("Accept-Encoding: *\r\n"), 1, CACHE_VARY_AE },
	{ "9110_12_5_3_ae_gzip_q0_is_identity", VAE,
	    GET("Accept-Encoding: gzip\r\n"),
	    GET("Accept-Encoding: gzip;q=0, *\r\n"), 0, CACHE_VARY_AE },
	{ "9110_12_5_3_ae_identity_lists_match", VAE,
	    GET("Accept-Encoding: br\r\n"),
	    GET("Accept-Encoding: \r\n"), 1, CACHE_VARY_AE },
	{ "9110_12_5_3_ae_absent_vs_identity", VAE, GET(""),
	    GET("Accept-Encoding: identity\r\n"), 0, CACHE_VARY_AE },
	{ "9111_4_1_ae_lists_differ_without_flag", VAE,
	    GET("Accept-Encoding: gzip, br\r\n"),
	    GET("Accept-Encoding: gzip\r\n"), 0, 0 },
	{ "9111_4_1_other_fields_ignored", VAE,
	    GET("Accept-Encoding: gzip\r\nCookie: a=1\r\n"),
	    GET("Accept-Encoding: gzip\r\nCookie: a=2\r\n"), 1 },
};

START_TEST(vary_match_table)
{
	const struct vm_case	*c = &vm_cases[_i];
	struct pm		*r = resp(c->rs), *q1 = req(c->stored_rq), *q2;
	char			 key[512];
	int			 n;

	n = cache_vary_key(key, sizeof(key), r->buf, &r->m, q1->buf, &q1->m,
	    c->flags);
	ck_assert_msg(n >= 0, "%s: key %d", c->name, n);
	q2 = req(c->new_rq);
	ck_assert_msg(cache_vary_match(key, (size_t)n, q2->buf, &q2->m,
	    c->flags) == c->want, "%s", c->name);
}
END_TEST

START_TEST(vary_match_malformed_key_9111_4_1)
{
	struct pm	*q = req(GET("Accept: a\r\n"));

	ck_assert(cache_vary_match("accept:a", 8, q->buf, &q->m, 0) == 0);
	ck_assert(cache_vary_match("accept", 6, q->buf, &q->m, 0) == 0);
	ck_assert(cache_vary_match("accept:a\n", 9, q->buf, &q->m, 0) == 1);
}
END_TEST

/*
 * 9. Invalidation (RFC 9111 §4.4).
 */
struct inv_case {
	const char	*name;
	const char	*rq;
	const char	*rs;
	const char	*want;		/* URIs joined by " " */
};

#define PST(t, h)	"POST " t " HTTP/1.1\r\nHost: Example.com\r\n" \
	"Content-Length: 0\r\n" h "\r\n"
#define U	"http://example.com"

static const struct inv_case inv_cases[] = {
	{ "9111_4_4_post_invalidates_target", PST("/a?x=1", ""),
	    R200(""), U "/a?x=1" },
	{ "9111_4_4_get_invalidates_nothing", GET(""), R200(""), "" },
	{ "9111_4_4_head_invalidates_nothing", HEAD, R200(""), "" },
	{ "9111_4_4_options_is_safe", "OPTIONS /a HTTP/1.1\r\nHost: "
	    "example.com\r\n\r\n", R200(""), "" },
	{ "9111_4_4_put", "PUT /a HTTP/1.1\r\nHost: example.com\r\n"
	    "Content-Length: 0\r\n\r\n", RS("204 No Content", ""), U "/a" },
	{ "9111_4_4_delete", "DELETE /a HTTP/1.1\r\nHost: example.com\r\n\r\n",
	    R200(""), U "/a" },
	{ "9111_4_4_patch", "PATCH /a HTTP/1.1\r\nHost: example.com\r\n"
	    "Content-Length: 0\r\n\r\n", R200(""), U "/a" },
	{ "9111_4_4_unknown_method_is_unsafe", "FROB /a HTTP/1.1\r\nHost: "
	    "example.com\r\n\r\n", R200(""), U "/a" },
	{ "9111_4_4_redirect_status_invalidates", PST("/a", ""),
	    RS("303 See Other", "Location: /b\r\n"), U "/a " U "/b" },
	{ "9111_4_4_error_status_invalidates_nothing", PST("/a", ""),
	    RS("500 Oops", ""), "" },
	{ "9111_4_4_client_error_invalidates_nothing", PST("/a", ""),
	    RS("404 Not Found", ""), "" },
	{ "9111_4_4_informational_invalidates_nothing", PST("/a", ""),
	    RS("100 Continue", ""), "" },
	{ "9111_4_4_location_absolute_same_origin", PST("/a", ""),
	    RS("201 Created", "Location: http://example.com/b\r\n"),
	    U "/a " U "/b" },
	{ "9111_4_4_location_path_absolute", PST("/a", ""),
	    RS("201 Created", "Location: /c?d=1\r\n"), U "/a " U "/c?d=1" },
	{ "9111_4_4_content_location", PST("/a", ""),
	    R200("Content-Location: /d\r\n"), U "/a " U "/d" },
	{ "9111_4_4_location_and_content_location", PST("/a", ""),
	    R200("Content-Location: /d\r\nLocation: /e\r\n"),
	    U "/a " U "/e " U "/d" },
	{ "9111_4_4_location_other_host_ignored", PST("/a", ""),
	    RS("201 Created", "Location: http://evil.com/b\r\n"), U "/a" },
	{ "9111_4_4_location_other_scheme_ignored", PST("/a", ""),
	    RS("201 Created", "Location: https://example.com/b\r\n"), U "/a" },
	{ "9111_4_4_location_default_port_same_origin", PST("/a", ""),
	    RS("201 Created", "Location: HTTP://EXAMPLE.com:80/b\r\n"),
	    U "/a " U "/b" },
	{ "9111_4_4_location_other_port_ignored", PST("/a", ""),
	    RS("201 Created", "Location: http://example.com:8080/b\r\n"),
	    U "/a" },
	{ "9111_4_4_network_path_empty_path_is_root", PST("/a", ""),
	    RS("201 Created", "Location: //example.com\r\n"), U "/a " U "/" },
	{ "9111_4_4_location_network_path", PST("/a", ""),
	    RS("201 Created", "Location: //example.com/n\r\n"),
	    U "/a " U "/n" },
	{ "9111_4_4_location_relative_path_merged", PST("/a/b", ""),
	    RS("201 Created", "Location: c/d\r\n"), U "/a/b " U "/a/c/d" },
	{ "9111_4_4_relative_path_target_query_ignored", PST("/a/b?x=1", ""),
	    RS("201 Created", "Location: c\r\n"), U "/a/b?x=1 " U "/a/c" },
	{ "9111_4_4_relative_dot_dot", PST("/a/b/c", ""),
	    RS("201 Created", "Location: ../x\r\n"), U "/a/b/c " U "/a/x" },
	{ "9111_4_4_relative_dot_is_directory", PST("/a/b", ""),
	    RS("201 Created", "Location: .\r\n"), U "/a/b " U "/a/" },
	{ "9111_4_4_relative_query_only", PST("/a/b?x", ""),
	    RS("201 Created", "Location: ?q=2\r\n"), U "/a/b?x " U "/a/b?q=2" },
	{ "9111_4_4_relative_too_many_dot_dots", PST("/a", ""),
	    RS("201 Created", "Location: ../../x\r\n"), U "/a " U "/x" },
	{ "9111_4_4_path_absolute_dot_segments_removed", PST("/a", ""),
	    RS("201 Created", "Location: /a/./b/../c\r\n"), U "/a " U "/a/c" },
	{ "9111_4_4_path_absolute_trailing_dot_dot", PST("/a", ""),
	    RS("201 Created", "Location: /a/b/..\r\n"), U "/a " U "/a/" },
	{ "9111_4_4_path_absolute_trailing_dot", PST("/a", ""),
	    RS("201 Created", "Location: /a/.\r\n"), U "/a " U "/a/" },
	{ "9111_4_4_absolute_uri_dot_segments", PST("/a", ""),
	    RS("201 Created", "Location: http://example.com/x/../y?z\r\n"),
	    U "/a " U "/y?z" },
	{ "9111_4_4_dot_segments_in_query_kept", PST("/a", ""),
	    RS("201 Created", "Location: /p?r=/../s\r\n"), U "/a " U "/p?r=/../s" },
	{ "9111_4_4_absolute_uri_query_no_path", PST("/a", ""),
	    RS("201 Created", "Location: http://example.com?q\r\n"),
	    U "/a " U "/?q" },
	{ "9111_4_4_fragment_only_reference_skipped", PST("/a", ""),
	    RS("201 Created", "Location: #top\r\n"), U "/a" },
	{ "9111_4_4_other_scheme_reference_skipped", PST("/a", ""),
	    RS("201 Created", "Location: mailto:x@example.com\r\n"), U "/a" },
	{ "9111_4_4_relative_with_colon_later_merged", PST("/a/b", ""),
	    RS("201 Created", "Location: c/d:e\r\n"), U "/a/b " U "/a/c/d:e" },
	{ "9111_4_4_location_fragment_dropped", PST("/a", ""),
	    RS("201 Created", "Location: /f#frag\r\n"), U "/a " U "/f" },
	{ "9111_4_4_location_empty_path_is_root", PST("/a", ""),
	    RS("201 Created", "Location: http://example.com\r\n"),
	    U "/a " U "/" },
	{ "9111_4_4_location_userinfo_not_same_origin", PST("/a", ""),
	    RS("201 Created", "Location: http://u@example.com/b\r\n"), U "/a" },
	{ "9111_4_4_target_default_port_normalised", "POST /a HTTP/1.1\r\n"
	    "Host: example.com:80\r\nContent-Length: 0\r\n\r\n",
	    RS("201 Created", "Location: http://example.com/b\r\n"),
	    U "/a " U "/b" },
	{ "9111_4_4_absolute_form_target", "POST http://Example.com/p?q "
	    "HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
	    R200(""), U "/p?q" },
};

START_TEST(invalidation_table)
{
	const struct inv_case	*c = &inv_cases[_i];
	struct pm		*q = req(c->rq), *r = resp(c->rs);
	struct cache_inval	 iv;
	char			 out[512], got[1024];
	size_t			 g = 0;
	int			 n, k, small;

	n = cache_invalidations(out, sizeof(out), &iv, "http", q->buf, &q->m,
	    r->buf, &r->m);
	ck_assert_msg(n == iv.n && n >= 0, "%s: %d", c->name, n);
	for (k = 0; k < n; k++) {
		g += (size_t)snprintf(got + g, sizeof(got) - g, "%s%.*s",
		    k ? " " : "", (int)iv.uri[k].len, out + iv.uri[k].off);
	}
	got[g] = '\0';
	ck_assert_msg(strcmp(got, c->want) == 0, "%s: [%s]", c->name, got);
	for (small = 0; n > 0 && small < (int)(iv.uri[n - 1].off +
	    iv.uri[n - 1].len); small++)
		ck_assert_msg(cache_invalidations(out, (size_t)small, &iv,
		    "http", q->buf, &q->m, r->buf, &r->m) == -1, "%s: fits",
		    c->name);
}
END_TEST

/*
 * 10. Cache key (RFC 9111 §2: the key is the cache's own).
 */
struct key_case {
	const char	*name;
	const char	*scheme;
	const char	*rq;
	int		 drop;		/* use the drop list */
	int		 add;		/* use the header list */
	const char	*want;		/* NULL: -1 */
};

static const char *const drop_list[] = { "utm_source", "fbclid" };
static const char *const add_list[] = { "X-Tenant" };

#define KQ(t, h)	"GET " t " HTTP/1.1\r\nHost: Example.COM\r\n" h "\r\n"

static const struct key_case key_cases[] = {
	{ "9111_2_key_scheme_host_lowercased_target", "http",
	    KQ("/a?b=1&c=2", ""), 0, 0, U "/a?b=1&c=2" },
	{ "9111_2_key_query_order_kept", "http", KQ("/a?c=2&b=1", ""), 0, 0,
	    U "/a?c=2&b=1" },
	{ "9111_2_key_path_case_kept", "http", KQ("/A/b", ""), 0, 0,
	    U "/A/b" },
	{ "9111_2_key_https_scheme", "https", KQ("/a", ""), 0, 0,
	    "https://example.com/a" },
	{ "9111_2_key_drop_param", "http", KQ("/a?utm_source=x&b=1", ""), 1, 0,
	    U "/a?b=1" },
	{ "9111_2_key_drop_only_param", "http", KQ("/a?utm_source=x", ""), 1,
	    0, U "/a" },
	{ "9111_2_key_drop_middle_and_last", "http",
	    KQ("/a?b=1&utm_source=x&c=2&fbclid=9", ""), 1, 0, U "/a?b=1&c=2" },
	{ "9111_2_key_drop_exact_name_only", "http",
	    KQ("/a?utm_sourcex=1&Utm_source=2", ""), 1, 0,
	    U "/a?utm_sourcex=1&Utm_source=2" },
	{ "9111_2_key_drop_param_without_value", "http",
	    KQ("/a?utm_source&b", ""), 1, 0, U "/a?b" },
	{ "9111_2_key_drop_keeps_empty_params", "http", KQ("/a?&b=1", ""), 1,
	    0, U "/a?&b=1" },
	{ "9111_2_key_drop_without_query", "http", KQ("/a", ""), 1, 0, U "/a" },
	{ "9111_2_key_add_header", "http", KQ("/a", "X-Tenant: t1\r\n"), 0, 1,
	    U "/a\nX-Tenant:t1" },
	{ "9111_2_key_add_header_absent", "http", KQ("/a", ""), 0, 1,
	    U "/a\nX-Tenant:" },
	{ "9111_2_key_add_header_repeated", "http",
	    KQ("/a", "x-tenant: t1\r\nX-Tenant: t2\r\n"), 0, 1,
	    U "/a\nX-Tenant:t1, t2" },
	{ "9111_2_key_drop_and_add", "http",
	    KQ("/a?fbclid=1&z", "X-Tenant: t\r\n"), 1, 1, U "/a?z\nX-Tenant:t" },
	{ "9111_2_key_absolute_form_authority", "http",
	    "GET http://Host.Example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
	    0, 0, "http://host.example:8080/p?q" },
	{ "9111_2_key_absolute_form_empty_path", "http",
	    "GET http://H HTTP/1.1\r\nHost: h\r\n\r\n", 0, 0, "http://h/" },
	{ "9111_2_key_port_kept", "http", "GET / HTTP/1.1\r\nHost: a:81\r\n\r\n",
	    0, 0, "http://a:81/" },
	{ "9111_2_key_http_default_port_dropped", "http",
	    "GET / HTTP/1.1\r\nHost: a:80\r\n\r\n", 0, 0, "http://a/" },
	{ "9111_2_key_https_default_port_dropped", "https",
	    "GET / HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, 0, "https://a/" },
	{ "9111_2_key_https_port_80_kept", "https",
	    "GET / HTTP/1.1\r\nHost: a:80\r\n\r\n", 0, 0, "https://a:80/" },
	{ "9111_2_key_ipv6_literal_kept", "http",
	    "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0, 0,
	    "http://[::1]/" },
	{ "9111_2_key_no_host", "http", "GET / HTTP/1.0\r\n\r\n", 0, 0, NULL },
};

START_TEST(key_table)
{
	const struct key_case	*c = &key_cases[_i];
	struct cache_key_opts	 ko = { drop_list, 2, add_list, 1 };
	struct pm		*q = req(c->rq);
	char			 out[512];
	int			 n, small;

	if (!c->drop)
		ko.ndrop = 0;
	if (!c->add)
		ko.nadd = 0;
	n = cache_key(out, sizeof(out), c->scheme, q->buf, &q->m, &ko);
	if (c->want == NULL) {
		ck_assert_msg(n == -1, "%s: %d", c->name, n);
		return;
	}
	ck_assert_msg(n == (int)strlen(c->want) &&
	    memcmp(out, c->want, (size_t)n) == 0, "%s: [%.*s]", c->name,
	    n < 0 ? 0 : n, out);
	for (small = 0; small < n; small++)
		ck_assert_msg(cache_key(out, (size_t)small, c->scheme, q->buf,
		    &q->m, &ko) == -1, "%s: fits in %d", c->name, small);
	if (!c->drop && !c->add) {
		n = cache_key(out, sizeof(out), c->scheme, q->buf, &q->m, NULL);
		ck_assert_msg(n == (int)strlen(c->want), "%s: NULL opts",
		    c->name);
	}
}
END_TEST

/* The invalidation URIs are keys: a POST drops what a GET stored. */
START_TEST(invalidation_matches_key_9111_4_4)
{
	struct pm		*g = req(KQ("/a?b=1", ""));
	struct pm		*p, *r;
	struct cache_inval	 iv;
	char			 key[256], out[256];
	int			 n;

	n = cache_key(key, sizeof(key), "http", g->buf, &g->m, NULL);
	p = req("POST /a?b=1 HTTP/1.1\r\nHost: EXAMPLE.com\r\n"
	    "Content-Length: 0\r\n\r\n");
	r = resp(R200(""));
	ck_assert_int_eq(cache_invalidations(out, sizeof(out), &iv, "http",
	    p->buf, &p->m, r->buf, &r->m), 1);
	ck_assert_int_eq((int)iv.uri[0].len, n);
	ck_assert(memcmp(out, key, (size_t)n) == 0);
}
END_TEST

#define LOOP(tc, fn, tab) \
	tcase_add_loop_test(tc, fn, 0, (int)(sizeof(tab) / sizeof(tab[0])))

static Suite *
cache_policy_suite(void)
{
	Suite	*s = suite_create("cache_policy");
	TCase	*tc = tcase_create("rfc9111");

	LOOP(tc, cc_parse_table, cc_cases);
	LOOP(tc, date_table, date_cases);
	LOOP(tc, fmt_table, fmt_cases);
	LOOP(tc, age_table, age_cases);
	LOOP(tc, storable_table, st_cases);
	LOOP(tc, reason_table, reason_cases);
	LOOP(tc, freshness_table, fr_cases);
	LOOP(tc, decide_table, dc_cases);
	LOOP(tc, ttl_table, ttl_cases);
	LOOP(tc, cond_table, cond_cases);
	LOOP(tc, refresh_table, refresh_cases);
	LOOP(tc, select_table, sel_cases);
	LOOP(tc, select_own_table, sel_own_cases);
	LOOP(tc, head_table, head_cases);
	LOOP(tc, field_table, fld_cases);
	tcase_add_test(tc, strip_renamed_9213_2_2_configured_name);
	LOOP(tc, not_modified_table, nm_cases);
	LOOP(tc, range_table, range_cases);
	LOOP(tc, etag_table, et_cases);
	LOOP(tc, vary_key_table, vk_cases);
	LOOP(tc, vary_match_table, vm_cases);
	tcase_add_test(tc, vary_match_malformed_key_9111_4_1);
	LOOP(tc, invalidation_table, inv_cases);
	LOOP(tc, key_table, key_cases);
	tcase_add_test(tc, invalidation_matches_key_9111_4_4);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(cache_policy_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
