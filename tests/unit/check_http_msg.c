/*
 * check_http_msg.c: the heads vane writes (src/http_msg.c), compared byte
 * for byte; every case is also written into every too-small buffer, with a
 * guard byte after it, to show the writers return -1 and never overrun.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "http_msg.h"
#include "http_parse.h"

#define NFIELDS		32
#define GUARD		0xa5

struct qcase {
	const char	*name;
	const char	*in;
	struct http_fwd	 fwd;
	const char	*want;
};

#define FWD(ip, proto, close)	\
	{ (ip), (proto), "vane", (close), NULL, NULL, NULL, 0, NULL, NULL, \
	    NULL }
#define TAIL(ip, proto, host) "Via: 1.1 vane\r\nX-Forwarded-For: " ip "\r\n" \
	"X-Forwarded-Proto: " proto "\r\nForwarded: for=" ip ";proto=" proto \
	host "\r\n"

static const struct qcase qcases[] = {
	{ "HTTP/1.0 without Host gets one, RFC 9112 §3.2",
	    "GET /x HTTP/1.0\r\nAccept: */*\r\n\r\n",
	    { "10.0.0.1", "http", "vane", 0, "127.0.0.1:8080", NULL, NULL, 0,
	      NULL, NULL, NULL },
	    "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n"
	    "Via: 1.0 vane\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\nForwarded: for=10.0.0.1;proto=http"
	    "\r\n\r\n" },
	{ "a request with Host keeps it, fwd->host unused",
	    "GET /x HTTP/1.0\r\nHost: a\r\n\r\n",
	    { "10.0.0.1", "http", "vane", 0, "127.0.0.1:8080", NULL, NULL, 0,
	      NULL, NULL, NULL },
	    "GET /x HTTP/1.1\r\nHost: a\r\nVia: 1.0 vane\r\n"
	    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n"
	    "Forwarded: for=10.0.0.1;proto=http;host=a\r\n\r\n" },
	{ "Accept-Encoding fields replaced by fwd->accept_encoding",
	    "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\nX: 1\r\n"
	    "accept-encoding: gzip;q=0.5\r\n\r\n",
	    { "10.0.0.1", "http", "vane", 0, NULL, NULL, NULL, 0, NULL, NULL,
	      "gzip" },
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n"
	    TAIL("10.0.0.1", "http", ";host=a")
	    "Accept-Encoding: gzip\r\n\r\n" },
	{ "Accept-Encoding kept without fwd->accept_encoding",
	    "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "Max-Forwards of OPTIONS decremented, RFC 9110 §7.6.2",
	    "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 10\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 9\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "Max-Forwards of GET left alone, RFC 9110 §7.6.2",
	    "GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 10\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 10\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "invalid Max-Forwards of TRACE passed on untouched",
	    "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: x1\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: x1\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "client certificate subject: the client's own removed, ours added",
	    "GET / HTTP/1.1\r\nHost: a\r\nx-client-subject: CN=forged\r\n"
	    "X-Bar: kept\r\nX-Client-Subject: CN=again\r\n\r\n",
	    { "10.0.0.1", "https", "vane", 0, NULL, "X-Client-Subject",
	      "CN=alice,O=Example", 0, NULL, NULL, NULL },
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Bar: kept\r\n"
	    TAIL("10.0.0.1", "https", ";host=a")
	    "X-Client-Subject: CN=alice,O=Example\r\n\r\n" },
	{ "no client certificate: the client's subject field still removed",
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Client-Subject: CN=forged\r\n"
	    "\r\n",
	    { "10.0.0.1", "http", "vane", 0, NULL, "X-Client-Subject", NULL, 0,
	      NULL, NULL, NULL },
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "origin-form kept, forwarding fields added",
	    "GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
	    FWD("192.0.2.7", "http", 0),
	    "GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
	    TAIL("192.0.2.7", "http", ";host=example.com") "\r\n" },
	{ "hop-by-hop removed, RFC 9110 §7.6.1",
	    "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Foo\r\n"
	    "X-Foo: secret\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
	    "Trailer: X\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\n"
	    "x-foo: again\r\nX-Bar: kept\r\n\r\n",
	    FWD("10.0.0.1", "https", 0),
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Bar: kept\r\n"
	    TAIL("10.0.0.1", "https", ";host=a") "\r\n" },
	{ "Connection cannot remove Content-Length or Host",
	    "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host\r\n"
	    "Content-Length: 2\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "Via, X-Forwarded-For, Forwarded combined; X-Forwarded-Proto "
	    "replaced",
	    "GET / HTTP/1.1\r\nHost: a:8080\r\nX-Forwarded-For: 1.1.1.1\r\n"
	    "Via: 1.0 fred\r\nForwarded: for=1.1.1.1\r\n"
	    "X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-Proto: https\r\n"
	    "Via: 1.1 p.example\r\nx-forwarded-proto: ftp\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET / HTTP/1.1\r\nHost: a:8080\r\n"
	    "Via: 1.0 fred, 1.1 p.example, 1.1 vane\r\n"
	    "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "Forwarded: for=1.1.1.1, for=10.0.0.1;proto=http;host=\"a:8080\""
	    "\r\n\r\n" },
	{ "absolute-form to origin-form, authority to Host, RFC 9112 §3.2.2",
	    "GET http://Example.com:81/p?q HTTP/1.1\r\nHost: ignored\r\n"
	    "Accept: x\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET /p?q HTTP/1.1\r\nHost: Example.com:81\r\nAccept: x\r\n"
	    TAIL("10.0.0.1", "http", ";host=\"Example.com:81\"") "\r\n" },
	{ "absolute-form without path is /",
	    "GET https://a HTTP/1.1\r\nHost: a\r\n\r\n",
	    FWD("10.0.0.1", "https", 0),
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    TAIL("10.0.0.1", "https", ";host=a") "\r\n" },
	{ "absolute-form with query only gets a /",
	    "GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET /?x=1 HTTP/1.1\r\nHost: a\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "IPv6 client quoted in Forwarded, RFC 7239 §6",
	    "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
	    FWD("2001:db8::1", "http", 0),
	    "GET / HTTP/1.1\r\nHost: [::1]:80\r\nVia: 1.1 vane\r\n"
	    "X-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\n"
	    "Forwarded: for=\"[2001:db8::1]\";proto=http;host=\"[::1]:80\""
	    "\r\n\r\n" },
	{ "HTTP/1.0 client: Via 1.0, no Host to forward",
	    "GET / HTTP/1.0\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "GET / HTTP/1.1\r\nVia: 1.0 vane\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\nForwarded: for=10.0.0.1;proto=http"
	    "\r\n\r\n" },
	{ "chunked request re-framed, Expect dropped, close asked",
	    "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Expect: 100-continue\r\nContent-Type: text/plain\r\n\r\n",
	    FWD("10.0.0.1", "http", 1),
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
	    TAIL("10.0.0.1", "http", ";host=a")
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" },
	{ "original name case and value bytes kept",
	    "PUT /x HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 3\r\nX-Empty:\r\n"
	    "X-Obs: caf\xc3\xa9\t!\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "PUT /x HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 3\r\nX-Empty: \r\n"
	    "X-Obs: caf\xc3\xa9\t!\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "one canonical Content-Length for repeats and lists, RFC 9110 §8.6",
	    "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 007, 7\r\n"
	    "X: 1\r\nContent-Length: 7\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 7\r\nX: 1\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "no peer, no proto: existing values pass, Via default name",
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n"
	    "Forwarded: for=x\r\n\r\n",
	    { NULL, NULL, NULL, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL },
	    "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 vane\r\n"
	    "X-Forwarded-For: 1.1.1.1\r\nForwarded: for=x\r\n\r\n" },
	{ "CONNECT keeps authority-form",
	    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n"
	    TAIL("10.0.0.1", "http", ";host=\"a:443\"") "\r\n" },
	{ "OPTIONS * kept",
	    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	    FWD("10.0.0.1", "http", 0),
	    "OPTIONS * HTTP/1.1\r\nHost: a\r\n"
	    TAIL("10.0.0.1", "http", ";host=a") "\r\n" },
	{ "upgrade passed on: Upgrade values joined, Connection: upgrade "
	    "only (other options and close dropped), end-to-end fields kept",
	    "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Hop\r\n"
	    "Upgrade: websocket\r\nX-Hop: 1\r\nSec-WebSocket-Key: k==\r\n"
	    "Upgrade: foo/2\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    { "10.0.0.1", "http", "vane", 1, NULL, NULL, NULL, 1, NULL,
	      NULL, NULL },
	    "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    TAIL("10.0.0.1", "http", ";host=a")
	    "Upgrade: websocket, foo/2\r\nConnection: upgrade\r\n\r\n" },
	{ "request ID: every field of that name (any case) replaced by ours",
	    "GET / HTTP/1.1\r\nHost: a\r\nx-request-id: bad id\r\n"
	    "X-Bar: kept\r\nX-Request-ID: again\r\n\r\n",
	    { "10.0.0.1", "http", "vane", 0, NULL, NULL, NULL, 0,
	      "X-Request-ID", "0123456789abcdef0123456789abcdef", NULL },
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Bar: kept\r\n"
	    TAIL("10.0.0.1", "http", ";host=a")
	    "X-Request-ID: 0123456789abcdef0123456789abcdef\r\n\r\n" },
};
#define NQCASES	(sizeof(qcases) / sizeof(qcases[0]))

struct pcase {
	const char	*name;
	const char	*in;
	struct http_out	 o;
	const char	*want;
};

#define DATE	"Sun, 06 Nov 1994 08:49:37 GMT"
/* keepalive, client_version, chunk, strip_te, via, date, extra, skip,
 * keep_via */
#define OUT(ka, v, ch, st)	\
	{ (ka), (v), (ch), (st), "vane", DATE, NULL, NULL, 0, NULL, 0 }

/* Fields 0 and 2 left out (Age and a Vane-Cache-Control, say). */
static const uint8_t skip_0_2[8] = { 1, 0, 1 };

static const struct pcase pcases[] = {
	{ "kept-alive HTTP/1.1 client, Date present",
	    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
	    "Date: X\r\n\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
	    "Date: X\r\nVia: 1.1 vane\r\n\r\n" },
	{ "hop-by-hop removed, Date added, close",
	    "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
	    "Keep-Alive: timeout=5\r\nContent-Length: 0\r\nUpgrade: x\r\n\r\n",
	    OUT(0, 11, 0, 0),
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 vane\r\n"
	    "Date: " DATE "\r\nConnection: close\r\n\r\n" },
	{ "vane chunks: Content-Length dropped, RFC 9112 §6.2",
	    "HTTP/1.0 200 OK\r\nContent-Length: 10\r\nX: y\r\nDate: D\r\n\r\n",
	    OUT(1, 11, 1, 0),
	    "HTTP/1.1 200 OK\r\nX: y\r\nDate: D\r\nTransfer-Encoding: chunked"
	    "\r\nVia: 1.0 vane\r\n\r\n" },
	{ "chunked passed through",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: D\r\n\r\n",
	    OUT(1, 11, 0, 0),
	    "HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n"
	    "Via: 1.1 vane\r\n\r\n" },
	{ "chunked and vane chunks: one Transfer-Encoding",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: D\r\n\r\n",
	    OUT(1, 11, 1, 0),
	    "HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n"
	    "Via: 1.1 vane\r\n\r\n" },
	{ "chunked to an HTTP/1.0 client: unchunked, close",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: D\r\n\r\n",
	    OUT(0, 10, 0, 1),
	    "HTTP/1.1 200 OK\r\nDate: D\r\nVia: 1.1 vane\r\n"
	    "Connection: close\r\n\r\n" },
	{ "kept-alive HTTP/1.0 client, RFC 9112 §9.3",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: D\r\n\r\n",
	    OUT(1, 10, 0, 0),
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: D\r\nVia: 1.1 vane"
	    "\r\nConnection: keep-alive\r\n\r\n" },
	{ "empty reason gets the standard one",
	    "HTTP/1.1 404\r\nDate: D\r\n\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 404 Not Found\r\nDate: D\r\nVia: 1.1 vane\r\n\r\n" },
	{ "unknown status, empty reason",
	    "HTTP/1.1 299 \r\nDate: D\r\n\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 299 Unknown\r\nDate: D\r\nVia: 1.1 vane\r\n\r\n" },
	{ "original reason bytes kept",
	    "HTTP/1.1 200 Fine\tand dandy\r\nDate: D\r\n\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 200 Fine\tand dandy\r\nDate: D\r\nVia: 1.1 vane\r\n\r\n" },
	{ "Via combined, RFC 9110 §7.6.3",
	    "HTTP/1.1 200 OK\r\nVia: 1.1 backend\r\nDate: D\r\nvia: 1.0 b2\r\n"
	    "\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 200 OK\r\nDate: D\r\nVia: 1.1 backend, 1.0 b2, 1.1 vane"
	    "\r\n\r\n" },
	{ "one canonical Content-Length",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nDate: D\r\n"
	    "Content-Length: 02\r\n\r\n", OUT(1, 11, 0, 0),
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: D\r\n"
	    "Via: 1.1 vane\r\n\r\n" },
	{ "no date to add",
	    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
	    { 1, 11, 0, 0, "vane", NULL, NULL, NULL, 0, NULL, 0 },
	    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nVia: 1.1 vane\r\n\r\n" },
	{ "extra, then the listener's, after Via and Date, before Connection",
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	    { 0, 11, 0, 0, "vane", DATE, "Age: 3\r\nCache-Status: vane; hit\r\n",
	      NULL, 0, "Strict-Transport-Security: max-age=9\r\n", 0 },
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 vane\r\n"
	    "Date: " DATE "\r\nAge: 3\r\nCache-Status: vane; hit\r\n"
	    "Strict-Transport-Security: max-age=9\r\nConnection: close\r\n\r\n" },
	{ "skipped fields are left out by index",
	    "HTTP/1.1 200 OK\r\nAge: 5\r\nETag: \"e\"\r\n"
	    "Vane-Cache-Control: max-age=60\r\nDate: X\r\nContent-Length: 0\r\n\r\n",
	    { 1, 11, 0, 0, "vane", DATE, NULL, skip_0_2, 0, NULL, 0 },
	    "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nDate: X\r\nContent-Length: 0\r\n"
	    "Via: 1.1 vane\r\n\r\n" },
	{ "101: Upgrade and Connection: upgrade, whatever keepalive says",
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\nSec-WebSocket-Accept: a=\r\n\r\n",
	    { 0, 11, 0, 0, "vane", DATE, NULL, NULL, 0, NULL, 1 },
	    "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a=\r\n"
	    "Via: 1.1 vane\r\nDate: " DATE "\r\n"
	    "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n" },
	{ "stored head with our Via: kept as it is, none added",
	    "HTTP/1.1 200 OK\r\nVia: 1.1 backend, 1.1 vane\r\nDate: D\r\n"
	    "Content-Length: 0\r\n\r\n",
	    { 1, 11, 0, 0, "vane", NULL, NULL, NULL, 1, NULL, 0 },
	    "HTTP/1.1 200 OK\r\nVia: 1.1 backend, 1.1 vane\r\nDate: D\r\n"
	    "Content-Length: 0\r\n\r\n" },
};
#define NPCASES	(sizeof(pcases) / sizeof(pcases[0]))

static void
parse_or_fail(struct http_msg *m, struct http_field *f, const char *in,
    int req)
{
	struct http_limits	 lim = { 8192, NFIELDS };
	int			 rv;

	http_msg_init(m, f, NFIELDS);
	if (req)
		rv = http_parse_request(m, in, strlen(in), &lim);
	else
		rv = http_parse_response(m, in, strlen(in), &lim);
	ck_assert_msg(rv == HP_OK, "parse of %s: %s", in, http_strerror(rv));
}

/* out[0..outlen) then a guard byte that must survive. */
static char *
guarded(size_t outlen)
{
	char	*p = malloc(outlen + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, GUARD, outlen + 1);
	return (p);
}

/* What a writer under test needs besides its output buffer. */
struct wctx {
	const char		*in;
	const struct http_msg	*m;
	const void		*opt;	/* struct http_fwd or struct http_out */
};

static ssize_t
write_request(char *out, size_t n, const struct wctx *x)
{
	return (http_msg_request(out, n, x->in, x->m, x->opt));
}

static ssize_t
write_response(char *out, size_t n, const struct wctx *x)
{
	return (http_msg_response(out, n, x->in, x->m, x->opt));
}

/*
 * The writer gives exactly want in a buffer of the announced size, and in
 * every smaller buffer fails with -1 without writing past its end.
 */
static void
check_writer(const char *name, const char *want, size_t size,
    ssize_t (*fn)(char *, size_t, const struct wctx *), const struct wctx *x)
{
	size_t	 wlen = strlen(want), n;
	ssize_t	 rv;
	char	*out;

	ck_assert_msg(size >= wlen, "%s: size %zu < %zu", name, size, wlen);
	out = guarded(size);
	rv = fn(out, size, x);
	ck_assert_msg(rv == (ssize_t)wlen && memcmp(out, want, wlen) == 0,
	    "%s:\n got: %.*s\nwant: %s", name, (int)(rv < 0 ? 0 : rv), out,
	    want);
	free(out);
	for (n = 0; n <= wlen; n++) {
		out = guarded(n);
		rv = fn(out, n, x);
		ck_assert_msg(rv == (n < wlen ? -1 : (ssize_t)wlen),
		    "%s: outlen %zu gave %zd", name, n, rv);
		ck_assert_msg((unsigned char)out[n] == GUARD,
		    "%s: wrote past outlen %zu", name, n);
		free(out);
	}
}

START_TEST(test_request)
{
	const struct qcase	*c = &qcases[_i];
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	struct wctx		 x = { c->in, &m, &c->fwd };

	parse_or_fail(&m, f, c->in, 1);
	check_writer(c->name, c->want, http_msg_request_size(&m, &c->fwd),
	    write_request, &x);
}
END_TEST

START_TEST(test_response)
{
	const struct pcase	*c = &pcases[_i];
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	struct wctx		 x = { c->in, &m, &c->o };

	parse_or_fail(&m, f, c->in, 0);
	check_writer(c->name, c->want, http_msg_response_size(&m, &c->o),
	    write_response, &x);
}
END_TEST

static const struct {
	const char	*name;
	int		 status, close, head_only;
	const char	*date, *extra, *want;
} ecases[] = {
	{ "400 with Date and close", 400, 1, 0, DATE, NULL,
	    "HTTP/1.1 400 Bad Request\r\nDate: " DATE "\r\nServer: vane\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 16\r\n"
	    "Connection: close\r\n\r\n400 Bad Request\n" },
	{ "503 HEAD with extra field, kept alive", 503, 0, 1, NULL,
	    "Retry-After: 1\r\n",
	    "HTTP/1.1 503 Service Unavailable\r\nServer: vane\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 24\r\n"
	    "Retry-After: 1\r\n\r\n" },
	{ "431", 431, 1, 0, NULL, NULL,
	    "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: vane\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 36\r\n"
	    "Connection: close\r\n\r\n431 Request Header Fields Too Large\n" },
	{ "unknown status", 599, 1, 0, NULL, NULL,
	    "HTTP/1.1 599 Unknown\r\nServer: vane\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 12\r\n"
	    "Connection: close\r\n\r\n599 Unknown\n" },
};
#define NECASES	(sizeof(ecases) / sizeof(ecases[0]))

START_TEST(test_error)
{
	size_t	 want = strlen(ecases[_i].want), n;
	ssize_t	 rv;
	char	*out;

	for (n = 0; n <= want + 8; n++) {
		out = guarded(n);
		rv = http_msg_error(out, n, ecases[_i].status, ecases[_i].date,
		    ecases[_i].close, ecases[_i].head_only, ecases[_i].extra);
		ck_assert_msg((unsigned char)out[n] == GUARD,
		    "%s: wrote past outlen %zu", ecases[_i].name, n);
		if (n < want)
			ck_assert_msg(rv == -1, "%s: outlen %zu gave %zd",
			    ecases[_i].name, n, rv);
		else
			ck_assert_msg(rv == (ssize_t)want &&
			    memcmp(out, ecases[_i].want, want) == 0,
			    "%s:\n got: %.*s\nwant: %s", ecases[_i].name,
			    (int)(rv < 0 ? 0 : rv), out, ecases[_i].want);
		free(out);
	}
}
END_TEST

START_TEST(test_reason)
{
	static const int	 required[] = { 100, 101, 200, 201, 202, 203,
	    204, 205, 206, 301, 302, 303, 304, 305, 306, 307, 308, 400, 401,
	    402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414,
	    415, 416, 417, 421, 422, 425, 426, 428, 429, 431, 451, 500, 501,
	    502, 503, 504, 505 };
	size_t			 i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		ck_assert_msg(strcmp(http_reason(required[i]), "Unknown") != 0,
		    "no reason for %d", required[i]);
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(413), "Content Too Large");
	ck_assert_str_eq(http_reason(502), "Bad Gateway");
	ck_assert_str_eq(http_reason(0), "Unknown");
	ck_assert_str_eq(http_reason(999), "Unknown");
}
END_TEST

START_TEST(test_idempotent)
{
	/* RFC 9110 §9.2.2 */
	ck_assert(http_method_idempotent(HM_GET));
	ck_assert(http_method_idempotent(HM_HEAD));
	ck_assert(http_method_idempotent(HM_OPTIONS));
	ck_assert(http_method_idempotent(HM_TRACE));
	ck_assert(http_method_idempotent(HM_PUT));
	ck_assert(http_method_idempotent(HM_DELETE));
	ck_assert(!http_method_idempotent(HM_POST));
	ck_assert(!http_method_idempotent(HM_PATCH));
	ck_assert(!http_method_idempotent(HM_CONNECT));
	ck_assert(!http_method_idempotent(HM_OTHER));
}
END_TEST

/* RFC 9110 §7.6.2: which requests vane answers itself, and how. */
START_TEST(test_max_forwards)
{
	static const struct {
		const char	*in;
		long		 want;
	} mf[] = {
		{ "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", 0 },
		{ "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 7\r\n\r\n", 7 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", -1 },
		{ "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", -1 },
		{ "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: -1\r\n\r\n", -1 },
	};
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	size_t			 i;

	for (i = 0; i < sizeof(mf) / sizeof(mf[0]); i++) {
		parse_or_fail(&m, f, mf[i].in, 1);
		ck_assert_int_eq(http_msg_max_forwards(mf[i].in, &m),
		    mf[i].want);
	}
}
END_TEST

/* RFC 9110 §9.3.8: TRACE reflected, credentials left out; §9.3.7 OPTIONS. */
START_TEST(test_final)
{
	static const char trace[] = "TRACE /t HTTP/1.1\r\nHost: a\r\n"
	    "Cookie: s=1\r\nMax-Forwards: 0\r\nAuthorization: x\r\n\r\n";
	static const char want_trace[] = "HTTP/1.1 200 OK\r\nServer: vane\r\n"
	    "Date: D\r\nContent-Type: message/http\r\nContent-Length: 47\r\n"
	    "\r\nTRACE /t HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n";
	static const char opts[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n"
	    "Max-Forwards: 0\r\n\r\n";
	static const char want_opts[] = "HTTP/1.1 200 OK\r\nServer: vane\r\n"
	    "Connection: close\r\nAllow: GET, HEAD, POST, PUT, DELETE, "
	    "OPTIONS, PATCH\r\nContent-Length: 0\r\n\r\n";
	static const char want_extra[] = "Strict-Transport-Security: "
	    "max-age=60\r\n";
	static const char want_opts_x[] = "HTTP/1.1 200 OK\r\nServer: vane\r\n"
	    "Connection: close\r\nStrict-Transport-Security: max-age=60\r\n"
	    "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct http_field	 f[NFIELDS];
	struct http_msg		 m;
	char			 out[1024];
	ssize_t			 n;

	parse_or_fail(&m, f, trace, 1);
	ck_assert_uint_ge(http_msg_final_size(&m, NULL),
	    sizeof(want_trace) - 1);
	n = http_msg_final(out, sizeof(out), trace, &m, "D", 0, NULL);
	ck_assert_int_eq(n, (ssize_t)sizeof(want_trace) - 1);
	ck_assert(memcmp(out, want_trace, (size_t)n) == 0);
	ck_assert_int_eq(http_msg_final(out, 20, trace, &m, "D", 0, NULL), -1);
	parse_or_fail(&m, f, opts, 1);
	n = http_msg_final(out, sizeof(out), opts, &m, NULL, 1, NULL);
	ck_assert_int_eq(n, (ssize_t)sizeof(want_opts) - 1);
	ck_assert(memcmp(out, want_opts, (size_t)n) == 0);
	/* The listener's own fields (HSTS) after Connection. */
	ck_assert_uint_ge(http_msg_final_size(&m, want_extra),
	    sizeof(want_opts_x) - 1);
	n = http_msg_final(out, sizeof(out), opts, &m, NULL, 1, want_extra);
	ck_assert_int_eq(n, (ssize_t)sizeof(want_opts_x) - 1);
	ck_assert(memcmp(out, want_opts_x, (size_t)n) == 0);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite	*s = suite_create("http_msg");
	TCase	*tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_request, 0, NQCASES);
	suite_add_tcase(s, tc);
	tc = tcase_create("response");
	tcase_add_loop_test(tc, test_response, 0, NPCASES);
	suite_add_tcase(s, tc);
	tc = tcase_create("error");
	tcase_add_loop_test(tc, test_error, 0, NECASES);
	tcase_add_test(tc, test_reason);
	tcase_add_test(tc, test_idempotent);
	tcase_add_test(tc, test_max_forwards);
	tcase_add_test(tc, test_final);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(msg_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
