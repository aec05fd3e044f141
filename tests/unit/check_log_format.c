/*
 * check_log_format.c: log.access_format compiled (src/log_format.c):
 * literals, every variable, ${name}, $$, the request fields of $http_NAME
 * and $host, the longest line, and every error.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_format.h"

static char	why_buf[256];

/* The ops as text: "[literal]{var}", "{http:field}" for LV_HTTP. */
static const char *
dump(const struct log_format *f)
{
	static char out[8192];
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < f->nops; i++) {
		if (f->ops[i].len > 0)
			n += (size_t)snprintf(out + n, sizeof(out) - n,
			    "[%.*s]", (int)f->ops[i].len, f->ops[i].s);
		if (f->ops[i].var == LV_HTTP)
			n += (size_t)snprintf(out + n, sizeof(out) - n,
			    "{http:%s}", f->hdr[f->ops[i].slot]);
		else if (f->ops[i].var != LV_LITERAL)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "{%s}",
			    log_format_var_name(f->ops[i].var));
	}
	return (out);
}

static struct log_format *
compile_ok(const char *src)
{
	struct log_format *f;
	const char *why;

	f = log_format_compile(src, why_buf, sizeof(why_buf), &why);
	ck_assert_msg(f != NULL, "%s: %s", src, why != NULL ? why : "NULL");
	ck_assert_ptr_null(why);
	return (f);
}

/* The error for src; the format must be refused. */
static const char *
compile_err(const char *src)
{
	static char copy[256];
	struct log_format *f;
	const char *why;

	f = log_format_compile(src, why_buf, sizeof(why_buf), &why);
	ck_assert_msg(f == NULL, "%s compiled: %s", src, f ? dump(f) : "");
	ck_assert_ptr_nonnull(why);
	snprintf(copy, sizeof(copy), "%s", why);
	return (copy);
}

static void
expect(const char *src, const char *ops)
{
	struct log_format *f = compile_ok(src);

	ck_assert_str_eq(dump(f), ops);
	log_format_free(f);
}

START_TEST(literal_only)
{
	struct log_format *f = compile_ok("plain text, no variable");

	ck_assert_int_eq(f->nops, 1);
	ck_assert_int_eq(f->ops[0].var, LV_LITERAL);
	ck_assert_str_eq(dump(f), "[plain text, no variable]");
	ck_assert_uint_eq(f->uses, 0);
	ck_assert_uint_eq(f->maxlen, strlen("plain text, no variable") + 1);
	log_format_free(f);
}
END_TEST

START_TEST(empty_format)
{
	struct log_format *f = compile_ok("");

	ck_assert_int_eq(f->nops, 0);
	ck_assert_uint_eq(f->maxlen, 1);
	log_format_free(f);
}
END_TEST

/* Every named variable alone, and its uses bit. */
START_TEST(every_variable)
{
	struct log_format *f;
	char src[64];
	int v;

	for (v = LV_LITERAL + 1; v < LV_HTTP; v++) {
		snprintf(src, sizeof(src), "$%s", log_format_var_name(v));
		f = compile_ok(src);
		ck_assert_int_eq(f->nops, 1);
		ck_assert_int_eq(f->ops[0].var, v);
		ck_assert_int_eq(f->ops[0].len, 0);
		ck_assert_uint_eq(f->uses, 1u << v);
		ck_assert_int_eq(f->nhdr, 0);
		log_format_free(f);
	}
	/* The names nginx users expect. */
	expect("$remote_addr $remote_port $time_local $time_iso8601 $msec",
	    "{remote_addr}[ ]{remote_port}[ ]{time_local}[ ]{time_iso8601}"
	    "[ ]{msec}");
	expect("$request $request_method $request_uri $server_protocol "
	    "$scheme", "{request}[ ]{request_method}[ ]{request_uri}[ ]"
	    "{server_protocol}[ ]{scheme}");
	expect("$status $bytes_sent $body_bytes_sent $request_length "
	    "$upstream_addr $upstream_response_time $request_time "
	    "$cache_status $connection_requests $connection $request_id",
	    "{status}[ ]{bytes_sent}[ ]{body_bytes_sent}[ ]"
	    "{request_length}[ ]{upstream_addr}[ ]{upstream_response_time}"
	    "[ ]{request_time}[ ]{cache_status}[ ]{connection_requests}[ ]"
	    "{connection}[ ]{request_id}");
}
END_TEST

/* The default of options.def: the combined format and vane's four. */
START_TEST(default_format)
{
	expect("$remote_addr - - [$time_local] \"$request\" $status "
	    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" "
	    "upstream=$upstream_addr ut=$upstream_response_time "
	    "rt=$request_time cache=$cache_status",
	    "{remote_addr}[ - - []{time_local}[] \"]{request}[\" ]{status}"
	    "[ ]{body_bytes_sent}[ \"]{http:referer}[\" \"]{http:user-agent}"
	    "[\" upstream=]{upstream_addr}[ ut=]{upstream_response_time}"
	    "[ rt=]{request_time}[ cache=]{cache_status}");
}
END_TEST

START_TEST(braces)
{
	expect("${status}xyz", "{status}[xyz]");
	expect("a${request_time}s", "[a]{request_time}[s]");
	expect("${http_x_a}b", "{http:x-a}[b]");
	/* Without braces the name runs on: an unknown variable. */
	ck_assert_str_eq(compile_err("$statusxyz"),
	    "has an unknown variable $statusxyz");
	/* A name ends at the first byte that is not a letter, digit, '_'. */
	expect("$status-$status.$status/", "{status}[-]{status}[.]{status}[/]");
}
END_TEST

START_TEST(dollar_escape)
{
	expect("$$", "[$]");
	expect("cost $$5", "[cost $5]");
	expect("$$$status", "[$]{status}");
	expect("$status$$", "{status}[$]");
	expect("a$$b$$c", "[a$b$c]");
	expect("$$status", "[$status]");
}
END_TEST

START_TEST(request_fields)
{
	struct log_format *f;

	f = compile_ok("$http_x_custom $http_User_Agent $host $http_host "
	    "$http_x_custom");
	ck_assert_str_eq(dump(f), "{http:x-custom}[ ]{http:user-agent}[ ]"
	    "{http:host}[ ]{http:host}[ ]{http:x-custom}");
	/* One slot per field, however often it is named. */
	ck_assert_int_eq(f->nhdr, 3);
	ck_assert_str_eq(f->hdr[0], "x-custom");
	ck_assert_int_eq(f->hdrlen[0], 8);
	ck_assert_str_eq(f->hdr[2], "host");
	ck_assert_uint_eq(f->uses, 1u << LV_HTTP);
	log_format_free(f);
}
END_TEST

START_TEST(too_many_fields)
{
	log_format_free(compile_ok("$http_a $http_b $http_c $http_d $http_e "
	    "$http_f $http_g $http_h $http_a"));
	ck_assert_str_eq(compile_err("$http_a $http_b $http_c $http_d "
	    "$http_e $http_f $http_g $http_h $host"),
	    "names more than 8 request fields ($http_NAME, $host)");
}
END_TEST

START_TEST(unknown_variable)
{
	ck_assert_str_eq(compile_err("$remote_addr $foo"),
	    "has an unknown variable $foo");
	ck_assert_str_eq(compile_err("x ${bar} y"),
	    "has an unknown variable $bar");
	ck_assert_str_eq(compile_err("$http_"),
	    "has an unknown variable $http_");
	ck_assert_str_eq(compile_err("$literal"),
	    "has an unknown variable $literal");
	/* Names are lowercase, as nginx's. */
	ck_assert_str_eq(compile_err("$STATUS"),
	    "has an unknown variable $STATUS");
}
END_TEST

START_TEST(bad_dollar)
{
	ck_assert_str_eq(compile_err("$status $"),
	    "ends with '$' (write $$ for a '$')");
	ck_assert_str_eq(compile_err("$"),
	    "ends with '$' (write $$ for a '$')");
	ck_assert_str_eq(compile_err("cost $ 5"),
	    "has a '$' without a variable name (write $$ for a '$')");
	ck_assert_str_eq(compile_err("${}"),
	    "has a '$' without a variable name (write $$ for a '$')");
	ck_assert_str_eq(compile_err("${status"),
	    "has '${' without its '}'");
	ck_assert_str_eq(compile_err("${sta tus}"),
	    "has a variable name with a byte other than a letter, a digit "
	    "or '_'");
}
END_TEST

START_TEST(longest_line)
{
	struct log_format *f;
	char src[LF_LINE_MAX + 16];
	int i;

	/* 6 bytes of text, the newline. */
	f = compile_ok("ab $request $status $http_x $upstream_addr");
	ck_assert_uint_eq(f->maxlen, 6 + LF_REQUEST_MAX +
	    LF_VALUE_MAX + LF_FIELD_MAX + LF_NAME_MAX + 1);
	log_format_free(f);
	/* 12 request lines fit in 4096 bytes, 13 do not. */
	src[0] = '\0';
	for (i = 0; i < 12; i++)
		strcat(src, "$request");
	log_format_free(compile_ok(src));
	strcat(src, "$request");
	ck_assert(strncmp(compile_err(src), "makes lines that could be "
	    "longer than 4096 bytes", 47) == 0);
	/* Text alone: at most 4095 bytes. */
	memset(src, 'x', LF_LINE_MAX);
	src[LF_LINE_MAX - 1] = '\0';
	log_format_free(compile_ok(src));
	src[LF_LINE_MAX - 1] = 'x';
	src[LF_LINE_MAX] = '\0';
	ck_assert_str_eq(compile_err(src), "is longer than 4095 bytes");
}
END_TEST

/* The literals have LF_PAD readable bytes after them (put_pad copies). */
START_TEST(literal_padding)
{
	struct log_format *f = compile_ok("[$status]");
	int i;

	ck_assert_int_eq(f->nops, 2);
	for (i = 0; i < LF_PAD; i++)
		(void)*(volatile const char *)(f->ops[1].s + i);
	log_format_free(f);
}
END_TEST

START_TEST(serials_differ)
{
	struct log_format *a = compile_ok("$status");
	struct log_format *b = compile_ok("$status");

	ck_assert_uint_ne(a->serial, 0);
	ck_assert_uint_ne(a->serial, b->serial);
	log_format_free(a);
	log_format_free(b);
	log_format_free(NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log_format");
	TCase *tc = tcase_create("log_format");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, literal_only);
	tcase_add_test(tc, empty_format);
	tcase_add_test(tc, every_variable);
	tcase_add_test(tc, default_format);
	tcase_add_test(tc, braces);
	tcase_add_test(tc, dollar_escape);
	tcase_add_test(tc, request_fields);
	tcase_add_test(tc, too_many_fields);
	tcase_add_test(tc, unknown_variable);
	tcase_add_test(tc, bad_dollar);
	tcase_add_test(tc, longest_line);
	tcase_add_test(tc, literal_padding);
	tcase_add_test(tc, serials_differ);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
