/*
 * http_parse.h: the strict HTTP/1.1 message parser (RFC 9112), layer L1.
 *
 * Pure code: no I/O, no allocation. A message head is parsed from one
 * contiguous buffer that the caller keeps growing as bytes arrive; the
 * parser remembers where it stopped (struct http_msg) and resumes there, so
 * feeding a head byte by byte costs O(n) in total. The caller may move the
 * buffer between calls (it only has to keep the bytes already seen
 * unchanged): every position the parser records is an offset, never a
 * pointer.
 *
 * This is vane's security boundary: everything RFC 9112 allows a recipient
 * to reject is rejected (see http_parse.c for the rule list), and anything
 * that could make vane and a backend disagree on where a message ends is an
 * error.
 */
#ifndef VANE_HTTP_PARSE_H
#define VANE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Character classes: one table lookup per byte on the hot paths.
 */
#define HCL_TCHAR	0x01	/* tchar */
#define HCL_FVCHAR	0x02	/* field-vchar: VCHAR / obs-text */
#define HCL_STOP	0x04	/* CR, LF, other CTLs but HTAB, DEL: ends a fast scan */
#define HCL_REGNAME	0x08	/* reg-name except '%' and ',' */
#define HCL_DIGIT	0x10
#define HCL_HEX	0x20
#define HCL_OWS	0x40	/* SP, HTAB */
extern const unsigned char http_chars[256];

/* Return codes. Errors are negative and map to a status (http_err_status). */
enum {
	HP_OK = 0,		/* head (or chunked body) complete */
	HP_AGAIN = -1,		/* need more bytes */
	HP_E_SYNTAX = -10,	/* malformed message: 400 */
	HP_E_METHOD = -11,	/* bad method token: 400 */
	HP_E_TARGET = -12,	/* bad request-target: 400 */
	HP_E_VERSION = -13,	/* HTTP/x.y we do not speak: 505 */
	HP_E_FIELD = -14,	/* bad field line (name, value, obs-fold, ws before ':'): 400 */
	HP_E_HOST = -15,	/* missing, repeated or invalid Host in HTTP/1.1: 400 */
	HP_E_LENGTH = -16,	/* invalid or conflicting Content-Length: 400 */
	HP_E_TE = -17,		/* Transfer-Encoding without chunked last, repeated chunked, or in HTTP/1.0: 400 */
	HP_E_TE_CL = -18,	/* both Transfer-Encoding and Content-Length: 400 */
	HP_E_CODING = -19,	/* a transfer coding other than chunked: 501 */
	HP_E_URI_TOO_LONG = -20,	/* request line longer than the head limit: 414 */
	HP_E_HEAD_TOO_LARGE = -21,	/* head over limit, or too many fields: 431 */
	HP_E_CHUNK = -22,	/* malformed chunk size, extension, CRLF or trailer: 400 */
	HP_E_STATUS = -23,	/* bad status line (response): 502 at the proxy */
};

enum http_method {
	HM_OTHER = 0, HM_GET, HM_HEAD, HM_POST, HM_PUT, HM_DELETE,
	HM_OPTIONS, HM_TRACE, HM_CONNECT, HM_PATCH
};

enum http_target_form { HT_ORIGIN = 0, HT_ABSOLUTE, HT_AUTHORITY, HT_ASTERISK };

/* How the body of a message is delimited (RFC 9112 §6.3). */
enum http_framing { HF_NONE = 0, HF_LENGTH, HF_CHUNKED, HF_CLOSE };

/* Fields the proxy acts on, recognised once by the parser. */
enum http_hdr {
	HH_OTHER = 0, HH_HOST, HH_CONTENT_LENGTH, HH_TRANSFER_ENCODING,
	HH_CONNECTION, HH_KEEP_ALIVE, HH_PROXY_CONNECTION, HH_TE, HH_TRAILER,
	HH_UPGRADE, HH_EXPECT, HH_VIA, HH_X_FORWARDED_FOR,
	HH_X_FORWARDED_PROTO, HH_FORWARDED, HH_DATE, HH_PROXY_AUTHORIZATION,
	HH_MAX_FORWARDS, HH_COOKIE, HH_AUTHORIZATION,
	HH_MAX
};

struct http_span {
	uint32_t	off;	/* offset from the start of the head buffer */
	uint32_t	len;
};

struct http_field {
	struct http_span	name;
	struct http_span	value;	/* leading and trailing OWS removed */
	uint8_t			id;	/* enum http_hdr */
	uint8_t			hop;	/* 1: hop-by-hop, including named in Connection */
};

struct http_limits {
	uint32_t	max_head;	/* request/status line + fields + final CRLF */
	uint32_t	max_fields;	/* <= the caller's field array size */
};

/* Connection option flags (struct http_msg.conn). */
#define HC_CLOSE	0x01
#define HC_KEEPALIVE	0x02
#define HC_UPGRADE	0x04

struct http_msg {
	/* Request line. */
	enum http_method	method;
	struct http_span	method_s;
	struct http_span	target;
	enum http_target_form	form;
	struct http_span	authority;	/* absolute-form: host[:port] part; len 0 otherwise */
	struct http_span	path;		/* absolute-form: path+query ("" -> len 0, meaning "/") */

	/* Status line. */
	int			status;
	struct http_span	reason;

	int			version;	/* 10 or 11 */
	struct http_field	*fields;
	uint32_t		nfields;
	uint32_t		maxfields;
	uint32_t		head_len;	/* bytes of the head, final CRLF included */

	/* Derived from the fields once the head is complete. */
	enum http_framing	framing;	/* requests: NONE, LENGTH or CHUNKED;
						 * responses: see http_response_framing() */
	uint64_t		content_length;	/* valid if a Content-Length was seen */
	unsigned		has_length:1;
	unsigned		has_te:1;
	unsigned		expect_continue:1;	/* Expect: 100-continue */
	unsigned		expect_other:1;		/* any other expectation: 417 */
	int			host;		/* index of the Host field, -1 if none */
	uint8_t			conn;		/* HC_* from Connection (and Proxy-Connection ignored) */

	/* Parser state: private. */
	uint32_t		seen;		/* bit per enum http_hdr present */
	uint32_t		pos;
	int			state;
	uint32_t		mark;
	uint32_t		line_start;
};

/*
 * Prepare m to parse one message, fields going into the caller's array
 * (maxfields entries).
 */
void	http_msg_init(struct http_msg *m, struct http_field *fields,
	    uint32_t maxfields);

/*
 * Parse a request head from buf[0..len) (the whole buffer received so far,
 * starting at the first byte of this message; leading empty lines before
 * the request line are skipped as RFC 9112 §2.2 allows). Returns HP_OK with
 * m->head_len set, HP_AGAIN, or an HP_E_* error; an error is final.
 * Also checks the request as a whole: Host rules for HTTP/1.1, framing
 * (Content-Length/Transfer-Encoding), target form against the method
 * (asterisk only with OPTIONS, authority only with CONNECT).
 */
int	http_parse_request(struct http_msg *m, const char *buf, size_t len,
	    const struct http_limits *lim);

/* Same for a response head; m->status and m->reason set. */
int	http_parse_response(struct http_msg *m, const char *buf, size_t len,
	    const struct http_limits *lim);

/*
 * How a response to a request with method req_method is delimited
 * (RFC 9112 §6.3): NONE for HEAD, 1xx, 204, 304; CHUNKED; LENGTH; or
 * CLOSE (read until the connection closes).
 */
enum http_framing	http_response_framing(const struct http_msg *resp,
	    enum http_method req_method);

/*
 * Whether a parsed message asks to switch protocols (RFC 9110 §7.8) in a
 * way vane can relay as a tunnel: "upgrade" among its Connection options
 * and Upgrade fields whose values are all protocol[/version] tokens, none
 * of them "h2c" (HTTP/2 over cleartext is not a tunnel: RFC 9113 §3.1
 * dropped it). For a request: GET without a body, HTTP/1.1. For a 101
 * response (status set): the Upgrade field it must carry (§15.2.2).
 */
int	http_upgrade_ok(const char *buf, const struct http_msg *m);

/*
 * What a request's Accept-Encoding says of gzip (RFC 9110 §12.5.3):
 * HAE_NONE without the field, HAE_GZIP when "gzip", "x-gzip" or else "*"
 * has a weight above 0, HAE_IDENTITY otherwise (an empty field, other
 * codings only, gzip;q=0). An element with a malformed weight counts as
 * not there.
 */
enum http_ae { HAE_NONE = 0, HAE_GZIP, HAE_IDENTITY };
enum http_ae	http_accept_gzip(const char *buf, const struct http_msg *m);
/* The Accept-Encoding value that stands for ae: "gzip", "identity", or
 * NULL for HAE_NONE (no field). */
const char	*http_ae_value(enum http_ae ae);

/* Status to answer for a parse error (400, 414, 431, 501, 505). */
int	http_err_status(int err);
/* Short text for a parse error, for logs ("bad Content-Length"). */
const char	*http_strerror(int err);

/* Case-insensitive compare of a span of buf with a NUL-terminated token. */
int	http_span_eq(const char *buf, struct http_span s, const char *tok);

/*
 * Chunked body parser (RFC 9112 §7.1): validates size lines, extensions,
 * CRLFs and the trailer section, and reports the data bytes.
 */
struct http_chunked {
	int		state;
	uint64_t	remaining;	/* data bytes left in the current chunk */
	uint64_t	total;		/* data bytes seen so far (for body limits) */
	uint32_t	line_len;	/* bytes in the current size/trailer line (bounded) */
	uint32_t	trailer_bytes;	/* bounded like a head */
	uint32_t	ndigits;
};

void	http_chunked_init(struct http_chunked *c);

/*
 * Consume up to len bytes of a chunked body. *consumed is set to how many
 * bytes of buf belong to the chunked body and are valid (all of them unless
 * the body ended inside buf or an error was found). For every run of data
 * bytes, on_data(arg, p, n) is called if on_data is not NULL. Returns HP_OK
 * when the last chunk and the trailer section are complete (the body ends
 * exactly at buf + *consumed), HP_AGAIN when every byte was consumed and
 * more are needed, or HP_E_CHUNK. Any split of the input gives the same
 * result as feeding it at once.
 */
int	http_chunked_parse(struct http_chunked *c, const char *buf, size_t len,
	    size_t *consumed, void (*on_data)(void *, const char *, size_t),
	    void *arg);

#endif
