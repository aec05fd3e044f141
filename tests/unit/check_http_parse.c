/*
 * check_http_parse.c: the strict HTTP/1.1 parser (src/http_parse.c).
 *
 * Table-driven: every request, response and chunked case is run whole,
 * byte by byte (each prefix in a fresh allocation of its exact size, so the
 * buffer moves and ASan sees any read past len), and split in two at every
 * position; all must agree.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define NFIELDS		32
#define DEF_HEAD	4096

struct rcase {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 rv;
	int		 version;	/* the rest is checked when rv == HP_OK */
	int		 form;
	int		 framing;
	uint64_t	 clen;
	uint32_t	 head_len;	/* 0: the whole input */
	uint32_t	 max_head;	/* 0: DEF_HEAD */
	uint32_t	 max_fields;	/* 0: NFIELDS */
};

#define GOOD(n, s, v, f, fr, cl) { .name = (n), .in = (s), \
	.len = sizeof(s) - 1, .rv = HP_OK, .version = (v), .form = (f), \
	.framing = (fr), .clen = (cl) }
#define GOODH(n, s, v, f, fr, cl, hl) { .name = (n), .in = (s), \
	.len = sizeof(s) - 1, .rv = HP_OK, .version = (v), .form = (f), \
	.framing = (fr), .clen = (cl), .head_len = (hl) }
#define BAD(n, s, e) { .name = (n), .in = (s), .len = sizeof(s) - 1, .rv = (e) }
#define LIM(n, s, e, mh, mf) { .name = (n), .in = (s), .len = sizeof(s) - 1, \
	.rv = (e), .version = 11, .max_head = (mh), .max_fields = (mf) }

#define H	"Host: a\r\n"
#define RL	"GET / HTTP/1.1\r\n"
#define PL	"POST /p HTTP/1.1\r\n"

static const struct rcase reqs[] = {
	/* Valid forms, RFC 9112 §3.2. */
	GOOD("origin-form §3.2.1", "GET /index.html?q=1 HTTP/1.1\r\n"
	    "Host: example.com\r\n\r\n", 11, HT_ORIGIN, HF_NONE, 0),
	GOOD("HTTP/1.0 without Host §3.2", "GET / HTTP/1.0\r\n\r\n",
	    10, HT_ORIGIN, HF_NONE, 0),
	GOOD("HTTP/1.0 empty Host", "GET / HTTP/1.0\r\nHost:\r\n\r\n",
	    10, HT_ORIGIN, HF_NONE, 0),
	GOOD("absolute-form §3.2.2", "GET http://example.com:8080/a/b?c "
	    "HTTP/1.1\r\nHost: other\r\n\r\n", 11, HT_ABSOLUTE, HF_NONE, 0),
	GOOD("absolute-form HTTPS scheme case-insensitive",
	    "GET HTTPS://Example.com HTTP/1.1\r\n" H "\r\n",
	    11, HT_ABSOLUTE, HF_NONE, 0),
	GOOD("absolute-form IPv6 authority",
	    "GET http://[::1]:80/x HTTP/1.1\r\n" H "\r\n",
	    11, HT_ABSOLUTE, HF_NONE, 0),
	GOOD("authority-form CONNECT §3.2.3", "CONNECT example.com:443 "
	    "HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	    11, HT_AUTHORITY, HF_NONE, 0),
	GOOD("authority-form CONNECT IPv6", "CONNECT [2001:db8::1]:443 "
	    "HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
	    11, HT_AUTHORITY, HF_NONE, 0),
	GOOD("asterisk-form OPTIONS §3.2.4", "OPTIONS * HTTP/1.1\r\n" H "\r\n",
	    11, HT_ASTERISK, HF_NONE, 0),
	GOOD("unknown method is HM_OTHER", "PURGE /x HTTP/1.1\r\n" H "\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("leading CRLFs skipped §2.2", "\r\n\r\n" RL H "\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("8 leading CRLFs skipped §2.2",
	    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" RL H "\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("no fields HTTP/1.0", "HEAD /x HTTP/1.0\r\n\r\n",
	    10, HT_ORIGIN, HF_NONE, 0),
	GOOD("empty field value §5", RL H "X-Empty:\r\nX-Sp:   \r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("obs-text and HTAB in value §5.5", RL H
	    "X-A: caf\xc3\xa9\tb\r\n\r\n", 11, HT_ORIGIN, HF_NONE, 0),
	GOOD("Host with port", RL "Host: example.com:8080\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("Host IPv4", RL "Host: 192.0.2.1\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("Host IPv6 literal", RL "Host: [2001:db8::1]:80\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("Host pct-encoded", RL "Host: a%41b\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("Host OWS trimmed", RL "Host: \t a \t\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),

	/* Framing, RFC 9112 §6.3. */
	GOODH("Content-Length body left in buffer §6.3 item 6",
	    PL H "Content-Length: 5\r\n\r\nhello", 11, HT_ORIGIN, HF_LENGTH, 5,
	    sizeof(PL H "Content-Length: 5\r\n\r\n") - 1),
	GOOD("Content-Length 0 is no body", PL H "Content-Length: 0\r\n\r\n",
	    11, HT_ORIGIN, HF_NONE, 0),
	GOOD("identical Content-Length fields RFC 9110 §8.6",
	    PL H "Content-Length: 5\r\ncontent-length: 5\r\n\r\n",
	    11, HT_ORIGIN, HF_LENGTH, 5),
	GOOD("identical Content-Length list RFC 9110 §8.6",
	    PL H "Content-Length: 5 , 5\r\n\r\n", 11, HT_ORIGIN, HF_LENGTH, 5),
	GOOD("Content-Length leading zeros", PL H "Content-Length: 007\r\n\r\n",
	    11, HT_ORIGIN, HF_LENGTH, 7),
	GOOD("Content-Length 2^63-1", PL H
	    "Content-Length: 9223372036854775807\r\n\r\n", 11, HT_ORIGIN,
	    HF_LENGTH, 9223372036854775807ULL),
	GOOD("chunked §6.1", PL H "Transfer-Encoding: chunked\r\n\r\n",
	    11, HT_ORIGIN, HF_CHUNKED, 0),
	GOOD("chunked case-insensitive §7", PL H
	    "Transfer-Encoding: ChUnKeD\r\n\r\n", 11, HT_ORIGIN, HF_CHUNKED, 0),
	GOOD("chunked after HTAB OWS §5.6.3", PL H
	    "Transfer-Encoding:\tchunked\t\r\n\r\n", 11, HT_ORIGIN,
	    HF_CHUNKED, 0),
	GOOD("chunked with empty list elements RFC 9110 §5.6.1", PL H
	    "Transfer-Encoding: , chunked,\r\n\r\n", 11, HT_ORIGIN,
	    HF_CHUNKED, 0),
	GOODH("pipelined request left untouched", "GET /1 HTTP/1.1\r\n" H
	    "\r\nGET /2 HTTP/1.1\r\n" H "\r\n", 11, HT_ORIGIN, HF_NONE, 0,
	    sizeof("GET /1 HTTP/1.1\r\n" H "\r\n") - 1),
	GOODH("pipelined bytes after chunked head", PL H
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 11, HT_ORIGIN,
	    HF_CHUNKED, 0,
	    sizeof(PL H "Transfer-Encoding: chunked\r\n\r\n") - 1),

	/* Incomplete. */
	BAD("incomplete head", RL H, HP_AGAIN),
	BAD("incomplete after CR", "GET / HTTP/1.1\r", HP_AGAIN),
	BAD("incomplete request line", "GET /abc", HP_AGAIN),
	BAD("empty input", "", HP_AGAIN),

	/* Line ends and control bytes, §2.2. */
	BAD("bare LF request line §2.2", "GET / HTTP/1.1\nHost: a\n\n",
	    HP_E_SYNTAX),
	BAD("bare LF field line §2.2", RL "Host: a\n\r\n", HP_E_FIELD),
	BAD("bare LF final line §2.2", RL H "\n", HP_E_FIELD),
	BAD("bare LF before request", "\nGET / HTTP/1.1\r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("lone CR in value §2.2", RL H "X: a\rb\r\n\r\n", HP_E_FIELD),
	BAD("lone CR in request line", "GET /\r HTTP/1.1\r\n", HP_E_SYNTAX),
	BAD("CR CR LF", RL H "\r\r\n", HP_E_FIELD),
	BAD("NUL in value RFC 9110 §5.5", RL H "X: a\0b\r\n\r\n", HP_E_FIELD),
	BAD("NUL in target", "GET /a\0b HTTP/1.1\r\n" H "\r\n", HP_E_SYNTAX),
	BAD("DEL in value", RL H "X: a\x7f\r\n\r\n", HP_E_FIELD),
	BAD("VT in Transfer-Encoding", PL H "Transfer-Encoding: \x0b"
	    "chunked\r\n\r\n", HP_E_FIELD),
	BAD("TLS ClientHello on plain port, rejected early",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HP_E_SYNTAX),
	BAD("9 leading CRLFs §2.2",
	    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" RL H "\r\n", HP_E_SYNTAX),

	/* Request line, §3. */
	BAD("version lowercase §2.3", "GET / http/1.1\r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("HTTP/2.0 is 505 §2.3", "GET / HTTP/2.0\r\n" H "\r\n",
	    HP_E_VERSION),
	BAD("HTTP/1.2 is 505 §2.3", "GET / HTTP/1.2\r\n" H "\r\n",
	    HP_E_VERSION),
	BAD("HTTP/0.9 is 505 §2.3", "GET / HTTP/0.9\r\n\r\n", HP_E_VERSION),
	BAD("HTTP/1.10 malformed", "GET / HTTP/1.10\r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("HTTP/0.9 simple request", "GET /\r\n\r\n", HP_E_SYNTAX),
	BAD("method only", "GET\r\n\r\n", HP_E_SYNTAX),
	BAD("two SP after method §3", "GET  / HTTP/1.1\r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("two SP before version §3", "GET /  HTTP/1.1\r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("trailing SP after version §3", "GET / HTTP/1.1 \r\n" H "\r\n",
	    HP_E_SYNTAX),
	BAD("HTAB after method §3", "GET\t/ HTTP/1.1\r\n" H "\r\n",
	    HP_E_METHOD),
	BAD("non-tchar in method §3.1", "GE(T / HTTP/1.1\r\n" H "\r\n",
	    HP_E_METHOD),
	BAD("empty method", " / HTTP/1.1\r\n" H "\r\n", HP_E_METHOD),
	BAD("status line sent as request", "HTTP/1.1 200 OK\r\n\r\n",
	    HP_E_METHOD),
	BAD("fragment in target §3.2", "GET /a#b HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("obs-text in target §3.2", "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("HTAB in target", "GET /a\tb HTTP/1.1\r\n" H "\r\n", HP_E_TARGET),
	BAD("asterisk with GET §3.2.4", "GET * HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("CONNECT origin-form §3.2.3", "CONNECT / HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("CONNECT without port §3.2.3", "CONNECT example.com HTTP/1.1\r\n"
	    H "\r\n", HP_E_TARGET),
	BAD("CONNECT absolute-form", "CONNECT http://a:80/ HTTP/1.1\r\n"
	    H "\r\n", HP_E_TARGET),
	BAD("CONNECT asterisk", "CONNECT * HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("authority-form with GET §3.2.3", "GET example.com:80 HTTP/1.1\r\n"
	    H "\r\n", HP_E_TARGET),
	BAD("absolute-form userinfo RFC 9110 §4.2.4",
	    "GET http://user@host/ HTTP/1.1\r\n" H "\r\n", HP_E_TARGET),
	BAD("absolute-form userinfo after host-like part",
	    "GET http://a:b@host/ HTTP/1.1\r\n" H "\r\n", HP_E_TARGET),
	BAD("absolute-form empty authority", "GET http:///x HTTP/1.1\r\n"
	    H "\r\n", HP_E_TARGET),
	BAD("absolute-form bad port", "GET http://a:x/ HTTP/1.1\r\n"
	    H "\r\n", HP_E_TARGET),
	BAD("absolute-form ftp scheme", "GET ftp://a/ HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),
	BAD("relative target", "GET index.html HTTP/1.1\r\n" H "\r\n",
	    HP_E_TARGET),

	/* Field lines, §5. */
	BAD("space before colon in TE §5.1", PL H
	    "Transfer-Encoding : chunked\r\n\r\n", HP_E_FIELD),
	BAD("HTAB before colon §5.1", RL "Host\t: a\r\n\r\n", HP_E_FIELD),
	BAD("obs-fold §5.2", RL H "X: a\r\n b\r\n\r\n", HP_E_FIELD),
	BAD("obs-fold TE §5.2", PL H "Transfer-Encoding:\r\n chunked\r\n\r\n",
	    HP_E_FIELD),
	BAD("obs-fold with HTAB §5.2", RL H "X: a\r\n\tb\r\n\r\n",
	    HP_E_FIELD),
	BAD("whitespace before first field §2.2", RL " Host: a\r\n\r\n",
	    HP_E_FIELD),
	BAD("empty field name", RL H ": x\r\n\r\n", HP_E_FIELD),
	BAD("non-tchar in field name", RL H "X(a): b\r\n\r\n", HP_E_FIELD),
	BAD("field without colon", RL "Host a\r\n\r\n", HP_E_FIELD),

	/* Host, §3.2. */
	BAD("missing Host in HTTP/1.1 §3.2", RL "\r\n", HP_E_HOST),
	BAD("missing Host with absolute-form §3.2", "GET http://a/ HTTP/1.1"
	    "\r\n\r\n", HP_E_HOST),
	BAD("two Host fields §3.2", RL H H "\r\n", HP_E_HOST),
	BAD("two Host fields HTTP/1.0 §3.2", "GET / HTTP/1.0\r\n" H H "\r\n",
	    HP_E_HOST),
	BAD("empty Host HTTP/1.1", RL "Host:\r\n\r\n", HP_E_HOST),
	BAD("Host with space", RL "Host: a b\r\n\r\n", HP_E_HOST),
	BAD("Host with slash", RL "Host: a/b\r\n\r\n", HP_E_HOST),
	BAD("Host with userinfo", RL "Host: u@a\r\n\r\n", HP_E_HOST),
	BAD("Host list", RL "Host: a, b\r\n\r\n", HP_E_HOST),
	BAD("Host port too large", RL "Host: a:99999\r\n\r\n", HP_E_HOST),
	BAD("Host empty port", RL "Host: a:\r\n\r\n", HP_E_HOST),
	BAD("Host bad pct-encoding", RL "Host: a%zz\r\n\r\n", HP_E_HOST),
	BAD("Host unclosed IPv6", RL "Host: [::1\r\n\r\n", HP_E_HOST),
	BAD("Host invalid in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
	    HP_E_HOST),

	/* Content-Length, RFC 9110 §8.6. */
	BAD("differing Content-Length fields §8.6", PL H
	    "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", HP_E_LENGTH),
	BAD("differing Content-Length list §8.6", PL H
	    "Content-Length: 5, 6\r\n\r\n", HP_E_LENGTH),
	BAD("Content-Length +5", PL H "Content-Length: +5\r\n\r\n",
	    HP_E_LENGTH),
	BAD("Content-Length -1", PL H "Content-Length: -1\r\n\r\n",
	    HP_E_LENGTH),
	BAD("Content-Length 0x10", PL H "Content-Length: 0x10\r\n\r\n",
	    HP_E_LENGTH),
	BAD("Content-Length empty", PL H "Content-Length:\r\n\r\n",
	    HP_E_LENGTH),
	BAD("Content-Length 2^63", PL H
	    "Content-Length: 9223372036854775808\r\n\r\n", HP_E_LENGTH),
	BAD("Content-Length huge", PL H
	    "Content-Length: 184467440737095516160000\r\n\r\n", HP_E_LENGTH),
	BAD("Content-Length empty list element", PL H
	    "Content-Length: 5,\r\n\r\n", HP_E_LENGTH),
	BAD("Content-Length inner space", PL H
	    "Content-Length: 1 0\r\n\r\n", HP_E_LENGTH),
	BAD("Content-Length decimal point", PL H
	    "Content-Length: 1.0\r\n\r\n", HP_E_LENGTH),

	/* Transfer-Encoding, §6.1 and §6.3: smuggling. */
	BAD("CL.TE §6.3 item 3", PL H "Content-Length: 6\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", HP_E_TE_CL),
	BAD("TE.CL §6.3 item 3", PL H "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", HP_E_TE_CL),
	BAD("TE chunked, identity §6.3 item 4", PL H
	    "Transfer-Encoding: chunked, identity\r\n\r\n", HP_E_TE),
	BAD("TE xchunked", PL H "Transfer-Encoding: xchunked\r\n\r\n",
	    HP_E_TE),
	BAD("TE chunked-false", PL H "Transfer-Encoding: chunked-false\r\n\r\n",
	    HP_E_TE),
	BAD("TE identity alone", PL H "Transfer-Encoding: identity\r\n\r\n",
	    HP_E_TE),
	BAD("TE gzip alone §6.3 item 4", PL H
	    "Transfer-Encoding: gzip\r\n\r\n", HP_E_TE),
	BAD("TE gzip, chunked is 501 §6.1", PL H
	    "Transfer-Encoding: gzip, chunked\r\n\r\n", HP_E_CODING),
	BAD("TE identity, chunked is 501", PL H
	    "Transfer-Encoding: identity, chunked\r\n\r\n", HP_E_CODING),
	BAD("TE chunked twice §6.1", PL H
	    "Transfer-Encoding: chunked, chunked\r\n\r\n", HP_E_TE),
	BAD("TE chunked in two fields §6.1", PL H
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HP_E_TE),
	BAD("TE chunked then gzip field", PL H
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
	    HP_E_TE),
	BAD("TE in HTTP/1.0 §6.1", "POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HP_E_TE),
	BAD("TE empty value", PL H "Transfer-Encoding:\r\n\r\n", HP_E_TE),
	BAD("TE with parameter", PL H
	    "Transfer-Encoding: chunked;q=1\r\n\r\n", HP_E_TE),
	BAD("TE quoted", PL H "Transfer-Encoding: \"chunked\"\r\n\r\n",
	    HP_E_TE),

	/* Limits: 414 and 431 (RFC 9110 §15.5.15, RFC 6585 §5). */
	LIM("head exactly at max_head", RL H "\r\n", HP_OK, 27, 0),
	LIM("head one byte over max_head", RL H "\r\n", HP_E_HEAD_TOO_LARGE,
	    26, 0),
	LIM("request line over max_head is 414", "GET /aaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaa HTTP/1.1\r\n" H "\r\n", HP_E_URI_TOO_LONG, 32, 0),
	LIM("unterminated request line over max_head is 414",
	    "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", HP_E_URI_TOO_LONG,
	    32, 0),
	LIM("fields over max_head is 431", RL H "X-Long: aaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", HP_E_HEAD_TOO_LARGE, 48, 0),
	LIM("max_fields fields fit", RL H "X: 1\r\n\r\n", HP_OK, 0, 2),
	LIM("max_fields + 1 fields is 431", RL H "X: 1\r\nY: 2\r\n\r\n",
	    HP_E_HEAD_TOO_LARGE, 0, 2),
	LIM("request-line error found before a later limit", "GET  / HTTP/1.1"
	    "\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
	    HP_E_SYNTAX, 32, 0),
};
#define NREQS	(sizeof(reqs) / sizeof(reqs[0]))

static char *
dup_exact(const char *s, size_t n)
{
	char	*p = malloc(n > 0 ? n : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, s, n);
	return (p);
}

static void
limits_for(const struct rcase *c, struct http_limits *lim)
{
	lim->max_head = c->max_head != 0 ? c->max_head : DEF_HEAD;
	lim->max_fields = c->max_fields != 0 ? c->max_fields : NFIELDS;
}

static int
span_same(struct http_span a, struct http_span b)
{
	return (a.off == b.off && a.len == b.len);
}

/* Everything the parser reports must be the same however it was fed. */
static void
msg_same(const char *name, const struct http_msg *a, const struct http_msg *b)
{
	uint32_t	 i;
	int		 same;

	same = a->method == b->method && span_same(a->method_s, b->method_s) &&
	    span_same(a->target, b->target) && a->form == b->form &&
	    span_same(a->authority, b->authority) &&
	    span_same(a->path, b->path) && a->status == b->status &&
	    span_same(a->reason, b->reason) && a->version == b->version &&
	    a->nfields == b->nfields && a->head_len == b->head_len &&
	    a->framing == b->framing &&
	    a->content_length == b->content_length &&
	    a->has_length == b->has_length && a->has_te == b->has_te &&
	    a->expect_continue == b->expect_continue &&
	    a->expect_other == b->expect_other && a->host == b->host &&
	    a->conn == b->conn;
	ck_assert_msg(same, "%s: message differs with split feeding", name);
	for (i = 0; i < a->nfields && i < b->nfields; i++)
		ck_assert_msg(span_same(a->fields[i].name, b->fields[i].name) &&
		    span_same(a->fields[i].value, b->fields[i].value) &&
		    a->fields[i].id == b->fields[i].id &&
		    a->fields[i].hop == b->fields[i].hop,
		    "%s: field %u differs with split feeding", name, i);
}

typedef int (*parse_fn)(struct http_msg *, const char *, size_t,
    const struct http_limits *);

/* Feed each prefix from a fresh exact-size copy (the buffer moves). */
static int
feed_bytewise(parse_fn fn, struct http_msg *m, const char *in, size_t len,
    const struct http_limits *lim)
{
	size_t	 k;
	int	 rv = HP_AGAIN;
	char	*p;

	for (k = 1; k <= len; k++) {
		p = dup_exact(in, k);
		rv = fn(m, p, k, lim);
		free(p);
		if (rv != HP_AGAIN)
			break;
	}
	return (rv);
}

static void
check_feeding(const char *name, parse_fn fn, const char *in, size_t len,
    const struct http_limits *lim, int want, struct http_msg *whole)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	size_t			 k;
	int			 rv;
	char			*p;

	http_msg_init(&m, f, NFIELDS);
	rv = feed_bytewise(fn, &m, in, len, lim);
	ck_assert_msg(rv == want, "%s: byte by byte gave %d, want %d",
	    name, rv, want);
	msg_same(name, whole, &m);
	for (k = 0; k <= len; k++) {
		http_msg_init(&m, f, NFIELDS);
		p = dup_exact(in, len);
		rv = fn(&m, p, k, lim);
		if (rv == HP_AGAIN)
			rv = fn(&m, p, len, lim);
		/* A final answer does not change when called again. */
		ck_assert_int_eq(fn(&m, p, len, lim), rv);
		free(p);
		ck_assert_msg(rv == want, "%s: split at %zu gave %d, want %d",
		    name, k, rv, want);
		msg_same(name, whole, &m);
	}
}

START_TEST(test_request_table)
{
	const struct rcase	*c = &reqs[_i];
	struct http_field	 f[NFIELDS];
	struct http_limits	 lim;
	struct http_msg		 m;
	char			*p;
	int			 rv;

	limits_for(c, &lim);
	http_msg_init(&m, f, NFIELDS);
	p = dup_exact(c->in, c->len);
	rv = http_parse_request(&m, p, c->len, &lim);
	free(p);
	ck_assert_msg(rv == c->rv, "%s: got %d (%s), want %d (%s)", c->name,
	    rv, http_strerror(rv), c->rv, http_strerror(c->rv));
	if (rv == HP_OK && c->version != 0) {
		ck_assert_msg(m.version == c->version, "%s: version", c->name);
		ck_assert_msg((int)m.form == c->form, "%s: form", c->name);
		ck_assert_msg((int)m.framing == c->framing, "%s: framing %d",
		    c->name, m.framing);
		ck_assert_msg(m.content_length == c->clen, "%s: length",
		    c->name);
		ck_assert_msg(m.head_len == (c->head_len != 0 ? c->head_len :
		    c->len), "%s: head_len %u", c->name, m.head_len);
	}
	check_feeding(c->name, http_parse_request, c->in, c->len, &lim, rv, &m);
}
END_TEST

static int
parse_req(struct http_msg *m, struct http_field *f, const char *s)
{
	struct http_limits	 lim = { DEF_HEAD, NFIELDS };

	http_msg_init(m, f, NFIELDS);
	return (http_parse_request(m, s, strlen(s), &lim));
}

static int
span_is(const char *buf, struct http_span s, const char *want)
{
	return (s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0);
}

START_TEST(test_absolute_spans)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	const char		*s;

	s = "GET http://Example.com:8080/a/b?c HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert(span_is(s, m.authority, "Example.com:8080"));
	ck_assert(span_is(s, m.path, "/a/b?c"));
	ck_assert(span_is(s, m.target, "http://Example.com:8080/a/b?c"));
	ck_assert_int_eq(m.host, 0);

	s = "GET https://a.example HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert(span_is(s, m.authority, "a.example"));
	ck_assert_uint_eq(m.path.len, 0);

	s = "GET http://a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert(span_is(s, m.authority, "a"));
	ck_assert(span_is(s, m.path, "?x=1"));

	/* Not absolute-form: authority and path stay empty. */
	s = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert_uint_eq(m.authority.len, 0);
	ck_assert(span_is(s, m.target, "a:443"));
}
END_TEST

START_TEST(test_methods)
{
	static const struct { const char *s; enum http_method m; } t[] = {
		{ "GET", HM_GET }, { "HEAD", HM_HEAD }, { "POST", HM_POST },
		{ "PUT", HM_PUT }, { "DELETE", HM_DELETE },
		{ "OPTIONS", HM_OPTIONS }, { "TRACE", HM_TRACE },
		{ "PATCH", HM_PATCH }, { "PURGE", HM_OTHER },
		/* Methods are case-sensitive, RFC 9110 §9.1. */
		{ "get", HM_OTHER }, { "GETX", HM_OTHER }, { "GE", HM_OTHER },
	};
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	char			 buf[128];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n",
		    t[i].s);
		ck_assert_int_eq(parse_req(&m, f, buf), HP_OK);
		ck_assert_msg(m.method == t[i].m, "method %s", t[i].s);
		ck_assert(span_is(buf, m.method_s, t[i].s));
	}
}
END_TEST

START_TEST(test_fields_and_hop)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	const char		*s;

	s = "GET / HTTP/1.1\r\n"
	    "host: \t a.example \t\r\n"
	    "Connection: Keep-Alive, X-Secret ,  close,upgrade, content-length,"
	    " host, bad token\r\n"
	    "X-Secret: 1\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "TE: trailers\r\n"
	    "Upgrade: websocket\r\n"
	    "Proxy-Connection: keep-alive\r\n"
	    "Trailer: X\r\n"
	    "x-forwarded-for: 1.2.3.4\r\n"
	    "Content-Length: 0\r\n"
	    "X-Other: a b\r\n"
	    "\r\n";
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert_uint_eq(m.nfields, 11);
	ck_assert(span_is(s, f[0].name, "host"));
	ck_assert(span_is(s, f[0].value, "a.example"));
	ck_assert_int_eq(f[0].id, HH_HOST);
	ck_assert_int_eq(f[0].hop, 0);	/* never dropped via Connection */
	ck_assert_int_eq(f[1].id, HH_CONNECTION);
	ck_assert_int_eq(f[1].hop, 1);
	ck_assert_int_eq(f[2].id, HH_OTHER);
	ck_assert_int_eq(f[2].hop, 1);	/* X-Secret named in Connection */
	ck_assert_int_eq(f[3].id, HH_KEEP_ALIVE);
	ck_assert_int_eq(f[3].hop, 1);
	ck_assert_int_eq(f[4].id, HH_TE);
	ck_assert_int_eq(f[4].hop, 1);
	ck_assert_int_eq(f[5].id, HH_UPGRADE);
	ck_assert_int_eq(f[5].hop, 1);
	ck_assert_int_eq(f[6].id, HH_PROXY_CONNECTION);
	ck_assert_int_eq(f[6].hop, 1);
	ck_assert_int_eq(f[7].id, HH_TRAILER);
	ck_assert_int_eq(f[7].hop, 1);
	ck_assert_int_eq(f[8].id, HH_X_FORWARDED_FOR);
	ck_assert_int_eq(f[8].hop, 0);
	ck_assert_int_eq(f[9].id, HH_CONTENT_LENGTH);
	ck_assert_int_eq(f[9].hop, 0);	/* never dropped via Connection */
	ck_assert_int_eq(f[10].hop, 0);
	ck_assert(span_is(s, f[10].value, "a b"));
	ck_assert_int_eq(m.conn, HC_CLOSE | HC_KEEPALIVE | HC_UPGRADE);
	ck_assert_int_eq(m.host, 0);
}
END_TEST

START_TEST(test_conn_proxy_connection_ignored)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;

	ck_assert_int_eq(parse_req(&m, f, "GET / HTTP/1.0\r\n"
	    "Proxy-Connection: keep-alive\r\n\r\n"), HP_OK);
	ck_assert_int_eq(m.conn, 0);
	ck_assert_int_eq(m.host, -1);
	ck_assert_int_eq(f[0].hop, 1);
}
END_TEST

START_TEST(test_expect)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;

	ck_assert_int_eq(parse_req(&m, f, "PUT / HTTP/1.1\r\nHost: a\r\n"
	    "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n"), HP_OK);
	ck_assert_int_eq(m.expect_continue, 1);
	ck_assert_int_eq(m.expect_other, 0);
	ck_assert_int_eq(f[1].hop, 0);
	ck_assert_int_eq(f[1].id, HH_EXPECT);

	ck_assert_int_eq(parse_req(&m, f, "PUT / HTTP/1.1\r\nHost: a\r\n"
	    "Expect: 200-ok\r\n\r\n"), HP_OK);
	ck_assert_int_eq(m.expect_continue, 0);
	ck_assert_int_eq(m.expect_other, 1);

	/* RFC 9110 §10.1.1: ignored in HTTP/1.0. */
	ck_assert_int_eq(parse_req(&m, f, "PUT / HTTP/1.0\r\n"
	    "Expect: 100-continue\r\n\r\n"), HP_OK);
	ck_assert_int_eq(m.expect_continue, 0);
	ck_assert_int_eq(m.expect_other, 0);

	ck_assert_int_eq(parse_req(&m, f, "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Expect:\r\n\r\n"), HP_OK);
	ck_assert_int_eq(m.expect_continue | m.expect_other, 0);
}
END_TEST

START_TEST(test_msg_maxfields)
{
	struct http_field	 f[2];
	struct http_limits	 lim = { DEF_HEAD, 100 };
	struct http_msg		 m;
	const char		*s = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";

	/* The caller's array bounds the fields even if the limit is higher. */
	http_msg_init(&m, f, 2);
	ck_assert_int_eq(http_parse_request(&m, s, strlen(s), &lim),
	    HP_E_HEAD_TOO_LARGE);
	/* No limits given: defaults apply. */
	s = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n";
	http_msg_init(&m, f, 2);
	ck_assert_int_eq(http_parse_request(&m, s, strlen(s), NULL), HP_OK);
}
END_TEST

START_TEST(test_long_head)
{
	struct http_field	 f[NFIELDS];
	struct http_limits	 lim = { 16384, NFIELDS };
	struct http_msg		 m;
	char			*s;
	size_t			 n = 20000;

	s = malloc(n);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', n - 5);
	http_msg_init(&m, f, NFIELDS);
	ck_assert_int_eq(http_parse_request(&m, s, 16384, &lim), HP_AGAIN);
	ck_assert_int_eq(http_parse_request(&m, s, 16385, &lim),
	    HP_E_URI_TOO_LONG);
	ck_assert_int_eq(http_err_status(HP_E_URI_TOO_LONG), 414);

	memcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
	http_msg_init(&m, f, NFIELDS);
	ck_assert_int_eq(http_parse_request(&m, s, n, &lim),
	    HP_E_HEAD_TOO_LARGE);

	/* The body after a head that fits exactly is not part of the head. */
	memcpy(s, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9000\r\n\r\n",
	    50);
	lim.max_head = 50;
	http_msg_init(&m, f, NFIELDS);
	ck_assert_int_eq(http_parse_request(&m, s, 9050, &lim), HP_OK);
	ck_assert_uint_eq(m.head_len, 50);
	ck_assert_uint_eq(m.content_length, 9000);
	free(s);
}
END_TEST

START_TEST(test_err_status)
{
	static const struct { int err, status; } t[] = {
		{ HP_E_SYNTAX, 400 }, { HP_E_METHOD, 400 },
		{ HP_E_TARGET, 400 }, { HP_E_FIELD, 400 }, { HP_E_HOST, 400 },
		{ HP_E_LENGTH, 400 }, { HP_E_TE, 400 }, { HP_E_TE_CL, 400 },
		{ HP_E_CHUNK, 400 }, { HP_E_VERSION, 505 },
		{ HP_E_CODING, 501 }, { HP_E_URI_TOO_LONG, 414 },
		{ HP_E_HEAD_TOO_LARGE, 431 }, { HP_E_STATUS, 502 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(http_err_status(t[i].err), t[i].status);
		ck_assert_ptr_nonnull(http_strerror(t[i].err));
		ck_assert_str_ne(http_strerror(t[i].err), "unknown error");
	}
	ck_assert_str_eq(http_strerror(12345), "unknown error");
}
END_TEST

START_TEST(test_span_eq)
{
	const char		*b = "xxContent-Lengthyy";
	struct http_span	 s = { 2, 14 };

	ck_assert(http_span_eq(b, s, "content-length"));
	ck_assert(http_span_eq(b, s, "CONTENT-LENGTH"));
	ck_assert(!http_span_eq(b, s, "content-lengt"));
	ck_assert(!http_span_eq(b, s, "content-lengthy"));
	ck_assert(!http_span_eq(b, s, "content_length"));
}
END_TEST

/* Responses, RFC 9112 §4. */
struct pcase {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 rv;
	int		 status;
	int		 version;
	int		 framing;	/* raw framing (before the method) */
	const char	*reason;
};

#define RGOOD(n, s, st, v, fr, r) { (n), (s), sizeof(s) - 1, HP_OK, (st), \
	(v), (fr), (r) }
#define RBAD(n, s, e) { (n), (s), sizeof(s) - 1, (e), 0, 0, 0, NULL }

static const struct pcase resps[] = {
	RGOOD("200 with length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "\r\nabc", 200, 11, HF_LENGTH, "OK"),
	RGOOD("no reason, no SP §4", "HTTP/1.1 200\r\n\r\n", 200, 11,
	    HF_CLOSE, ""),
	RGOOD("empty reason with SP §4", "HTTP/1.1 404 \r\n\r\n", 404, 11,
	    HF_CLOSE, ""),
	RGOOD("reason with SP, HTAB, obs-text §4", "HTTP/1.1 200 Tr\xe8s\tbien "
	    "ok\r\n\r\n", 200, 11, HF_CLOSE, "Tr\xe8s\tbien ok"),
	RGOOD("HTTP/1.0", "HTTP/1.0 200 OK\r\n\r\n", 200, 10, HF_CLOSE, "OK"),
	RGOOD("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", 100, 11,
	    HF_CLOSE, "Continue"),
	RGOOD("599", "HTTP/1.1 599 X\r\n\r\n", 599, 11, HF_CLOSE, "X"),
	RGOOD("chunked §6.3 item 4", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 200, 11, HF_CHUNKED, "OK"),
	RGOOD("TE gzip: read until close §6.3 item 4", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 200, 11, HF_CLOSE, "OK"),
	RGOOD("TE chunked, gzip: close §6.3 item 4", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n", 200, 11, HF_CLOSE,
	    "OK"),
	RGOOD("TE in HTTP/1.0: close §6.1", "HTTP/1.0 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 200, 10, HF_CLOSE, "OK"),
	RGOOD("identical Content-Length", "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\nContent-Length: 2\r\n\r\n", 200, 11,
	    HF_LENGTH, "OK"),
	RGOOD("Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "\r\n", 200, 11, HF_LENGTH, "OK"),
	RBAD("TE gzip, chunked: vane cannot decode", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n", HP_E_CODING),
	RBAD("TE chunked twice §6.1", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n", HP_E_TE),
	RBAD("TE with Content-Length §6.3 item 3", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	    HP_E_TE_CL),
	RBAD("differing Content-Length", "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", HP_E_LENGTH),
	RBAD("Content-Length garbage", "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5x\r\n\r\n", HP_E_LENGTH),
	RBAD("status 099", "HTTP/1.1 099 X\r\n\r\n", HP_E_STATUS),
	RBAD("status 600", "HTTP/1.1 600 X\r\n\r\n", HP_E_STATUS),
	RBAD("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", HP_E_STATUS),
	RBAD("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", HP_E_STATUS),
	RBAD("status glued to reason", "HTTP/1.1 200OK\r\n\r\n", HP_E_STATUS),
	RBAD("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", HP_E_STATUS),
	RBAD("lowercase version", "http/1.1 200 OK\r\n\r\n", HP_E_STATUS),
	RBAD("two SP before status", "HTTP/1.1  200 OK\r\n\r\n", HP_E_STATUS),
	RBAD("NUL in reason", "HTTP/1.1 200 O\0K\r\n\r\n", HP_E_STATUS),
	RBAD("DEL in reason", "HTTP/1.1 200 O\x7fK\r\n\r\n", HP_E_STATUS),
	RBAD("bare LF status line", "HTTP/1.1 200 OK\n\r\n", HP_E_STATUS),
	RBAD("bare LF field", "HTTP/1.1 200 OK\r\nA: b\n\r\n", HP_E_FIELD),
	RBAD("obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", HP_E_FIELD),
	RBAD("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n"
	    "\r\n", HP_E_FIELD),
	RBAD("leading CRLF not skipped for responses", "\r\nHTTP/1.1 200 OK"
	    "\r\n\r\n", HP_E_STATUS),
	RBAD("truncated", "HTTP/1.1 200 OK\r\nA: b\r\n", HP_AGAIN),
};
#define NRESPS	(sizeof(resps) / sizeof(resps[0]))

START_TEST(test_response_table)
{
	const struct pcase	*c = &resps[_i];
	struct http_field	 f[NFIELDS];
	struct http_limits	 lim = { DEF_HEAD, NFIELDS };
	struct http_msg		 m;
	char			*p;
	int			 rv;

	http_msg_init(&m, f, NFIELDS);
	p = dup_exact(c->in, c->len);
	rv = http_parse_response(&m, p, c->len, &lim);
	ck_assert_msg(rv == c->rv, "%s: got %d (%s), want %d", c->name, rv,
	    http_strerror(rv), c->rv);
	if (rv == HP_OK) {
		ck_assert_msg(m.status == c->status, "%s: status", c->name);
		ck_assert_msg(m.version == c->version, "%s: version", c->name);
		ck_assert_msg((int)m.framing == c->framing, "%s: framing %d",
		    c->name, m.framing);
		ck_assert_msg(span_is(p, m.reason, c->reason), "%s: reason",
		    c->name);
		ck_assert_msg(m.host == -1, "%s: host", c->name);
	}
	free(p);
	check_feeding(c->name, http_parse_response, c->in, c->len, &lim, rv,
	    &m);
}
END_TEST

/* http_response_framing, RFC 9112 §6.3 items 1-2. */
static const struct {
	const char		*in;
	enum http_method	 method;
	enum http_framing	 want;
} rframing[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HM_GET, HF_LENGTH },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HM_HEAD, HF_NONE },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HM_GET, HF_NONE },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HM_POST,
	    HF_CHUNKED },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HM_HEAD,
	    HF_NONE },
	{ "HTTP/1.1 200 OK\r\n\r\n", HM_GET, HF_CLOSE },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HM_GET,
	    HF_CLOSE },
	{ "HTTP/1.1 100 Continue\r\n\r\n", HM_PUT, HF_NONE },
	{ "HTTP/1.1 101 Switching Protocols\r\n\r\n", HM_GET, HF_NONE },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", HM_GET,
	    HF_NONE },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", HM_GET,
	    HF_NONE },
	{ "HTTP/1.1 304 Not Modified\r\n\r\n", HM_GET, HF_NONE },
	{ "HTTP/1.1 200 OK\r\n\r\n", HM_CONNECT, HF_NONE },
	{ "HTTP/1.1 407 Auth\r\nContent-Length: 5\r\n\r\n", HM_CONNECT,
	    HF_LENGTH },
	{ "HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n", HM_GET, HF_NONE },
	{ "HTTP/1.0 200 OK\r\n\r\n", HM_GET, HF_CLOSE },
};

START_TEST(test_response_framing)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	size_t			 i;

	for (i = 0; i < sizeof(rframing) / sizeof(rframing[0]); i++) {
		http_msg_init(&m, f, NFIELDS);
		ck_assert_int_eq(http_parse_response(&m, rframing[i].in,
		    strlen(rframing[i].in), NULL), HP_OK);
		ck_assert_msg(http_response_framing(&m, rframing[i].method) ==
		    rframing[i].want, "case %zu: %s", i, rframing[i].in);
	}
}
END_TEST

/* Chunked bodies, RFC 9112 §7.1. */
struct ccase {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 rv;
	const char	*data;
	size_t		 dlen;
	size_t		 tail;	/* bytes after the body (rv == HP_OK) */
};

#define CGOOD(n, s, d, t) { (n), (s), sizeof(s) - 1, HP_OK, (d), \
	sizeof(d) - 1, (t) }
#define CRES(n, s, r, d) { (n), (s), sizeof(s) - 1, (r), (d), \
	sizeof(d) - 1, 0 }

static const struct ccase chunks[] = {
	CGOOD("one chunk §7.1", "5\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CGOOD("two chunks, next message after", "3\r\nabc\r\n2\r\nde\r\n"
	    "0\r\n\r\nGET / HTTP/1.1\r\n", "abcde", 16),
	CGOOD("empty body", "0\r\n\r\n", "", 0),
	CGOOD("upper and lower hex", "A\r\n0123456789\r\na\r\n0123456789\r\n"
	    "0\r\n\r\n", "01234567890123456789", 0),
	CGOOD("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0),
	CGOOD("leading zeros beyond 16 digits", "000000000000000000005\r\n"
	    "hello\r\n0\r\n\r\n", "hello", 0),
	CGOOD("extensions §7.1.1", "5;a=b;c\r\nhello\r\n"
	    "0;x=\"q\\\"s;\";y\r\n\r\n", "hello", 0),
	CGOOD("extensions with BWS §7.1.1", "5 ; a = b ;c\t;d=\"\"\r\nhello"
	    "\r\n0\r\n\r\n", "hello", 0),
	CGOOD("trailer section §7.1.2", "1\r\nx\r\n0\r\nX-T: 1\r\nY:\r\n"
	    "Z: a b\r\n\r\n", "x", 0),
	CGOOD("data containing CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n",
	    0),
	CGOOD("binary data with NUL", "3\r\na\0b\r\n0\r\n\r\n", "a\0b", 0),
	CRES("incomplete data", "5\r\nhel", HP_AGAIN, "hel"),
	CRES("incomplete trailer", "0\r\nX: 1\r\n", HP_AGAIN, ""),
	CRES("16 hex digits accepted", "fffffffffffffff0\r\nab", HP_AGAIN,
	    "ab"),
	CRES("empty input", "", HP_AGAIN, ""),
	CRES("no size", ";a\r\n", HP_E_CHUNK, ""),
	CRES("empty size line", "\r\n", HP_E_CHUNK, ""),
	CRES("bad hex digit", "g\r\n", HP_E_CHUNK, ""),
	CRES("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", HP_E_CHUNK, ""),
	CRES("negative size", "-1\r\n", HP_E_CHUNK, ""),
	CRES("plus sign", "+5\r\n", HP_E_CHUNK, ""),
	CRES("size overflow, 17 digits", "10000000000000000\r\n", HP_E_CHUNK,
	    ""),
	CRES("size overflow, many digits", "ffffffffffffffffffff\r\n",
	    HP_E_CHUNK, ""),
	CRES("missing CRLF after data §7.1", "5\r\nhelloX\r\n0\r\n\r\n",
	    HP_E_CHUNK, "hello"),
	CRES("CR without LF after data", "5\r\nhello\rX", HP_E_CHUNK, "hello"),
	CRES("data longer than size", "3\r\nhello\r\n", HP_E_CHUNK, "hel"),
	CRES("bare LF after size", "5\nhello\r\n0\r\n\r\n", HP_E_CHUNK, ""),
	CRES("bare LF after data", "5\r\nhello\n0\r\n\r\n", HP_E_CHUNK,
	    "hello"),
	CRES("bare LF after last chunk", "0\n\r\n", HP_E_CHUNK, ""),
	CRES("bare LF final", "0\r\n\n", HP_E_CHUNK, ""),
	CRES("bare LF in trailer", "0\r\nX: 1\n\r\n", HP_E_CHUNK, ""),
	CRES("space before CRLF after size", "5 \r\nhello\r\n", HP_E_CHUNK,
	    ""),
	CRES("space inside size", "1 0\r\n", HP_E_CHUNK, ""),
	CRES("empty ext name", "5;\r\nhello\r\n", HP_E_CHUNK, ""),
	CRES("ext name with non-tchar", "5;a@b\r\n", HP_E_CHUNK, ""),
	CRES("empty ext value", "5;a=\r\n", HP_E_CHUNK, ""),
	CRES("BWS before CRLF after ext", "5;a \r\n", HP_E_CHUNK, ""),
	CRES("unterminated quoted ext", "5;a=\"x\r\nhello\r\n", HP_E_CHUNK, ""),
	CRES("NUL in quoted ext", "5;a=\"\0\"\r\n", HP_E_CHUNK, ""),
	CRES("junk after quoted ext", "5;a=\"x\"y\r\n", HP_E_CHUNK, ""),
	CRES("trailer obs-fold §5.2", "0\r\nX: 1\r\n y\r\n\r\n", HP_E_CHUNK,
	    ""),
	CRES("trailer space before colon", "0\r\nX : 1\r\n\r\n", HP_E_CHUNK,
	    ""),
	CRES("trailer without colon", "0\r\nX\r\n\r\n", HP_E_CHUNK, ""),
	CRES("trailer NUL", "0\r\nX: \0\r\n\r\n", HP_E_CHUNK, ""),
	CRES("trailer lone CR", "0\r\nX: a\rb\r\n\r\n", HP_E_CHUNK, ""),
};
#define NCHUNKS	(sizeof(chunks) / sizeof(chunks[0]))

struct sink {
	char	 buf[256];
	size_t	 len;
	int	 overflow;
};

static void
sink_data(void *arg, const char *p, size_t n)
{
	struct sink	*s = arg;

	ck_assert_msg(n > 0, "on_data called with no bytes");
	if (s->len + n > sizeof(s->buf)) {
		s->overflow = 1;
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Feed whole, byte by byte, or split in two at split; sets consumed. */
static int
chunk_feed(const char *in, size_t len, size_t split, int bytewise,
    struct sink *s, size_t *consumed, struct http_chunked *c)
{
	size_t	 off = 0, n, used;
	char	*p;
	int	 rv = HP_AGAIN, first = 1;

	http_chunked_init(c);
	memset(s, 0, sizeof(*s));
	*consumed = 0;
	while (off < len || first) {
		n = bytewise ? 1 : (first ? split : len - off);
		first = 0;
		if (n > len - off)
			n = len - off;
		p = dup_exact(in + off, n);
		rv = http_chunked_parse(c, p, n, &used, sink_data, s);
		free(p);
		ck_assert_uint_le(used, n);
		*consumed += used;
		off += n;
		if (rv != HP_AGAIN || off >= len)
			break;
		ck_assert_uint_eq(used, n);
	}
	return (rv);
}

START_TEST(test_chunked_table)
{
	const struct ccase	*t = &chunks[_i];
	struct http_chunked	 c;
	struct sink		 s;
	size_t			 consumed, first = 0, k;
	size_t			 dlen = t->dlen;
	int			 rv, pass;

	for (pass = 0; pass <= (int)t->len + 1; pass++) {
		/* pass 0: whole; 1: byte by byte; then split at pass - 2. */
		k = pass >= 2 ? (size_t)pass - 2 : t->len;
		rv = chunk_feed(t->in, t->len, k, pass == 1, &s, &consumed, &c);
		ck_assert_msg(rv == t->rv, "%s (pass %d): rv %d want %d",
		    t->name, pass, rv, t->rv);
		ck_assert_msg(s.len == dlen && memcmp(s.buf, t->data, dlen) ==
		    0, "%s (pass %d): data differs", t->name, pass);
		ck_assert_uint_eq(c.total, dlen);
		if (pass == 0)
			first = consumed;
		ck_assert_msg(consumed == first, "%s (pass %d): consumed %zu, "
		    "whole %zu", t->name, pass, consumed, first);
		if (rv == HP_OK) {
			ck_assert_msg(consumed == t->len - t->tail,
			    "%s: consumed %zu", t->name, consumed);
			/* Done is final and consumes nothing more. */
			ck_assert_int_eq(http_chunked_parse(&c, "x", 1,
			    &consumed, NULL, NULL), HP_OK);
			ck_assert_uint_eq(consumed, 0);
		}
		if (rv == HP_E_CHUNK)
			ck_assert_int_eq(http_chunked_parse(&c, "0\r\n\r\n", 5,
			    &consumed, NULL, NULL), HP_E_CHUNK);
	}
}
END_TEST

START_TEST(test_chunked_limits)
{
	struct http_chunked	 c;
	size_t			 n = 40000, used;
	char			*s;

	s = malloc(n);
	ck_assert_ptr_nonnull(s);

	/* An extension line over 4 KiB. */
	memcpy(s, "1;", 2);
	memset(s + 2, 'a', n - 2);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_parse(&c, s, 4000, &used, NULL, NULL),
	    HP_AGAIN);
	ck_assert_int_eq(http_chunked_parse(&c, s + 4000, n - 4000, &used,
	    NULL, NULL), HP_E_CHUNK);
	ck_assert_uint_eq(used, 96);

	/* A trailer section over 16 KiB. */
	memcpy(s, "0\r\nX: ", 6);
	memset(s + 6, 'a', n - 6);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_parse(&c, s, n, &used, NULL, NULL),
	    HP_E_CHUNK);

	/* Many trailer lines, each short, also bounded as a whole. */
	for (used = 3; used + 6 <= n; used += 6)
		memcpy(s + used, "X: 1\r\n", 6);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_parse(&c, s, n, &used, NULL, NULL),
	    HP_E_CHUNK);
	free(s);
}
END_TEST

START_TEST(test_chunked_large_size)
{
	struct http_chunked	 c;
	size_t			 used;
	const char		*s = "7fffffffffffffff\r\nabc";

	/* A huge declared chunk is fine; data is counted as it arrives. */
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_parse(&c, s, strlen(s), &used, NULL,
	    NULL), HP_AGAIN);
	ck_assert_uint_eq(used, strlen(s));
	ck_assert_uint_eq(c.total, 3);
	ck_assert_uint_eq(c.remaining, 0x7fffffffffffffffULL - 3);
}
END_TEST

/* Every field vane acts on is recognised whatever its case (RFC 9110
 * §5.1: field names are case-insensitive), and near misses are not. */
START_TEST(test_known_field_ids)
{
	static const struct {
		const char	*name;
		int		 id;
	} known[] = {
		{ "Host", HH_HOST }, { "content-LENGTH", HH_CONTENT_LENGTH },
		{ "Transfer-Encoding", HH_TRANSFER_ENCODING },
		{ "CONNECTION", HH_CONNECTION }, { "Keep-Alive", HH_KEEP_ALIVE },
		{ "Proxy-Connection", HH_PROXY_CONNECTION }, { "te", HH_TE },
		{ "Trailer", HH_TRAILER }, { "Upgrade", HH_UPGRADE },
		{ "Expect", HH_EXPECT }, { "VIA", HH_VIA },
		{ "X-Forwarded-For", HH_X_FORWARDED_FOR },
		{ "x-forwarded-proto", HH_X_FORWARDED_PROTO },
		{ "Forwarded", HH_FORWARDED }, { "Date", HH_DATE },
		{ "Proxy-Authorization", HH_PROXY_AUTHORIZATION },
		{ "Max-Forwards", HH_MAX_FORWARDS }, { "Cookie", HH_COOKIE },
		{ "Authorization", HH_AUTHORIZATION },
		{ "Hosts", HH_OTHER }, { "Dat", HH_OTHER }, { "Via_", HH_OTHER },
		{ "X-Forwarded-Fox", HH_OTHER }, { "Cookie2", HH_OTHER },
		{ "Tf", HH_OTHER }, { "Content-Lengt", HH_OTHER },
	};
	struct http_field	 f[8];
	struct http_msg		 m;
	char			 buf[256];
	size_t			 i;
	int			 n;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		n = snprintf(buf, sizeof(buf),
		    "GET / HTTP/1.1\r\nHost: a\r\n%s: 1\r\n\r\n", known[i].name);
		http_msg_init(&m, f, 8);
		/* The value "1" may fail the request's own checks (a second
		 * Host, a coding "1"): the field is recorded before that. */
		ck_assert_int_ne(http_parse_request(&m, buf, (size_t)n, NULL),
		    HP_AGAIN);
		ck_assert_msg(m.nfields == 2 && m.fields[1].id == known[i].id,
		    "%s: id %d, want %d", known[i].name, m.fields[1].id,
		    known[i].id);
	}
}
END_TEST

/* RFC 9110 §7.8: what vane passes on as a protocol switch. */
static const struct {
	const char	*in;
	int		 want;
} upgrades[] = {
	{ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n", 1 },
	/* The option among others, in any case; versions; a list spread
	 * over two fields with empty elements. */
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, UPGRADE\r\n"
	    "Upgrade: , foo/2\r\nUpgrade: websocket\r\n\r\n", 1 },
	/* Upgrade without the connection option: not a request to switch
	 * (the field is hop-by-hop and dropped). */
	{ "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", 0 },
	/* The option without a protocol. */
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: ,\r\n\r\n", 0 },
	/* Not tokens: the whole request goes as a plain one. */
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: web socket\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: foo/\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: /2\r\n\r\n", 0 },
	/* h2c is HTTP/2, not a tunnel (RFC 9113 §3.1). */
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, HTTP2-Settings"
	    "\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
	    "\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket, H2C\r\n\r\n", 0 },
	/* GET without a body, HTTP/1.1 only. */
	{ "POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\nContent-Length: 0\r\n\r\n", 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\nContent-Length: 3\r\n\r\n", 0 },
	{ "GET / HTTP/1.0\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n", 0 },
};

START_TEST(test_upgrade_request)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	const char		*s = upgrades[_i].in;

	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert_msg(http_upgrade_ok(s, &m) == upgrades[_i].want,
	    "case %d: %s", _i, s);
}
END_TEST

START_TEST(test_upgrade_response)
{
	struct http_limits	 lim = { DEF_HEAD, NFIELDS };
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	static const struct {
		const char	*in;
		int		 want;
	} r[] = {
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\n\r\n", 1 },
		/* §15.2.2: a 101 names the protocol in Upgrade, and §7.8
		 * the option in Connection. */
		{ "HTTP/1.1 101 Switching Protocols\r\n"
		    "Connection: Upgrade\r\n\r\n", 0 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "\r\n", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		http_msg_init(&m, f, NFIELDS);
		ck_assert_int_eq(http_parse_response(&m, r[i].in,
		    strlen(r[i].in), &lim), HP_OK);
		ck_assert_int_eq(m.status, 101);
		ck_assert_msg(http_upgrade_ok(r[i].in, &m) == r[i].want,
		    "%s", r[i].in);
	}
}
END_TEST

/* Accept-Encoding as far as gzip goes, RFC 9110 §12.5.3 and §12.4.2. */
static const struct {
	const char	*fields;
	enum http_ae	 want;
} aes[] = {
	{ "", HAE_NONE },
	{ "Accept-Encoding: gzip\r\n", HAE_GZIP },
	{ "Accept-Encoding: gzip, deflate, br, zstd\r\n", HAE_GZIP },
	{ "accept-encoding: br\r\nAccept-Encoding: GZip ;Q=0.001\r\n",
	    HAE_GZIP },
	{ "Accept-Encoding: x-gzip\r\n", HAE_GZIP },
	{ "Accept-Encoding: *\r\n", HAE_GZIP },
	{ "Accept-Encoding: br, *;q=1.000\r\n", HAE_GZIP },
	{ "Accept-Encoding: gzip;q=1\r\n", HAE_GZIP },
	{ "Accept-Encoding: \r\n", HAE_IDENTITY },
	{ "Accept-Encoding: br, deflate\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: identity\r\n", HAE_IDENTITY },
	/* The most specific element decides: gzip;q=0 over *. */
	{ "Accept-Encoding: gzip;q=0, *\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;q=0.000\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: *;q=0\r\n", HAE_IDENTITY },
	/* Malformed weights: the element is not there. */
	{ "Accept-Encoding: gzip;q=1.5\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;q=0.1234\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;q=.5\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;level=1\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;q=0.5x\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzipx, \"gzip\"\r\n", HAE_IDENTITY },
	{ "Accept-Encoding: gzip;q=0.5x, deflate, gzip\r\n", HAE_GZIP },
};

START_TEST(test_accept_gzip)
{
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	char			 s[256];

	snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n",
	    aes[_i].fields);
	ck_assert_int_eq(parse_req(&m, f, s), HP_OK);
	ck_assert_msg(http_accept_gzip(s, &m) == aes[_i].want,
	    "case %d: %s", _i, aes[_i].fields);
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite	*s = suite_create("http_parse");
	TCase	*tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_request_table, 0, NREQS);
	tcase_add_test(tc, test_absolute_spans);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_fields_and_hop);
	tcase_add_test(tc, test_known_field_ids);
	tcase_add_test(tc, test_conn_proxy_connection_ignored);
	tcase_add_test(tc, test_expect);
	tcase_add_test(tc, test_msg_maxfields);
	tcase_add_test(tc, test_long_head);
	tcase_add_test(tc, test_err_status);
	tcase_add_test(tc, test_span_eq);
	tcase_add_loop_test(tc, test_upgrade_request, 0,
	    (int)(sizeof(upgrades) / sizeof(upgrades[0])));
	tcase_add_loop_test(tc, test_accept_gzip, 0,
	    (int)(sizeof(aes) / sizeof(aes[0])));
	tcase_add_test(tc, test_upgrade_response);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_loop_test(tc, test_response_table, 0, NRESPS);
	tcase_add_test(tc, test_response_framing);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_loop_test(tc, test_chunked_table, 0, NCHUNKS);
	tcase_add_test(tc, test_chunked_limits);
	tcase_add_test(tc, test_chunked_large_size);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(parse_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
