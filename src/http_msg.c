/*
 * http_msg.c: the heads vane writes (L1, pure): the request to a backend,
 * the response to a client, and vane's own error responses.
 *
 * Every writer appends through one bounded cursor (struct wbuf): once a
 * write would pass outlen nothing more is written and the writer returns
 * -1, so a too-small buffer is never overrun. The *_size functions give a
 * bound counted from the parsed message, so the caller can allocate once.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "http_msg.h"
#include "http_parse.h"

#define HM_SLACK	256	/* fixed parts of the added lines, with room */

struct wbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 full;
};

static void
put(struct wbuf *w, const char *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void
put_str(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

/* A string literal: its length is known at compile time. */
#define PUT_LIT(w, s)	put((w), (s), sizeof(s) - 1)

/* Decimal digits of v into the end of buf; returns where they start. */
static char *
fmt_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return (end);
}

static void
put_span(struct wbuf *w, const char *buf, struct http_span s)
{
	put(w, buf + s.off, s.len);
}

static ssize_t
wbuf_done(const struct wbuf *w)
{
	return (w->full ? -1 : (ssize_t)w->len);
}

static void
put_field(struct wbuf *w, const char *buf, const struct http_field *f)
{
	put_span(w, buf, f->name);
	put(w, ": ", 2);
	put_span(w, buf, f->value);
	put(w, "\r\n", 2);
}

/*
 * One canonical Content-Length in place of the first: repeated fields or a
 * list ("5, 5") that the parser accepted as RFC 9110 §8.6 allows are not
 * passed on for a later recipient to read differently. Leading zeros go
 * too, so the line never grows.
 */
static void
put_length(struct wbuf *w, const char *buf, const struct http_field *f,
    uint64_t len, int *seen)
{
	char	 num[24], *d;

	if (*seen)
		return;
	*seen = 1;
	d = fmt_u64(num + sizeof(num), len);
	put_span(w, buf, f->name);
	put(w, ": ", 2);
	put(w, d, (size_t)(num + sizeof(num) - d));
	put(w, "\r\n", 2);
}

/*
 * The values of every field with this id, end-to-end ones only unless
 * hop, joined by ", " as RFC 9110 §5.3 allows for list fields. Returns
 * how many were written.
 */
static int
put_values_hop(struct wbuf *w, const char *buf, const struct http_msg *m,
    enum http_hdr id, int hop)
{
	uint32_t	 i;
	int		 n = 0;

	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].id != id || (m->fields[i].hop && !hop) ||
		    m->fields[i].value.len == 0)
			continue;
		if (n++ > 0)
			put(w, ", ", 2);
		put_span(w, buf, m->fields[i].value);
	}
	return (n);
}

static int
put_values(struct wbuf *w, const char *buf, const struct http_msg *m,
    enum http_hdr id)
{
	return (put_values_hop(w, buf, m, id, 0));
}

/* The hop-by-hop pair of a protocol switch (RFC 9110 §7.8), passed on
 * for the next hop: Upgrade as received, and the option naming it. */
static void
put_upgrade(struct wbuf *w, const char *buf, const struct http_msg *m)
{
	PUT_LIT(w, "Upgrade: ");
	put_values_hop(w, buf, m, HH_UPGRADE, 1);
	PUT_LIT(w, "\r\nConnection: upgrade\r\n");
}

static int
has_values(const struct http_msg *m, enum http_hdr id)
{
	uint32_t	 i;

	for (i = 0; i < m->nfields; i++)
		if (m->fields[i].id == id && !m->fields[i].hop &&
		    m->fields[i].value.len > 0)
			return (1);
	return (0);
}

/* Via, RFC 9110 §7.6.3: the protocol version received, then our name. */
static void
put_via(struct wbuf *w, const char *buf, const struct http_msg *m,
    int version, const char *via)
{
	PUT_LIT(w, "Via: ");
	if (put_values(w, buf, m, HH_VIA) > 0)
		put(w, ", ", 2);
	put_str(w, version == 10 ? "1.0 " : "1.1 ");
	put_str(w, via != NULL ? via : "vane");
	put(w, "\r\n", 2);
}

static void
put_xff(struct wbuf *w, const char *buf, const struct http_msg *m,
    const char *ip)
{
	if (ip == NULL && !has_values(m, HH_X_FORWARDED_FOR))
		return;
	PUT_LIT(w, "X-Forwarded-For: ");
	if (put_values(w, buf, m, HH_X_FORWARDED_FOR) > 0 && ip != NULL)
		put(w, ", ", 2);
	if (ip != NULL)
		put_str(w, ip);
	put(w, "\r\n", 2);
}

/* A Forwarded value: token, else quoted-string (RFC 7239 §4). */
static void
put_fwd_value(struct wbuf *w, const char *s, size_t n)
{
	size_t			 i;
	int			 token = n > 0;

	for (i = 0; i < n && token; i++)
		if ((http_chars[(unsigned char)s[i]] & HCL_TCHAR) == 0)
			token = 0;
	if (token) {
		put(w, s, n);
		return;
	}
	put(w, "\"", 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			put(w, "\\", 1);
		put(w, s + i, 1);
	}
	put(w, "\"", 1);
}

/* The host the request was for: the absolute-form authority, or Host. */
static struct http_span
request_host_span(const struct http_msg *m)
{
	struct http_span	 none = { 0, 0 };

	if (m->form == HT_ABSOLUTE)
		return (m->authority);
	if (m->host >= 0 && (uint32_t)m->host < m->nfields)
		return (m->fields[m->host].value);
	return (none);
}

/*
 * Forwarded, RFC 7239: "for" is the peer, an IPv6 address quoted and in
 * brackets (§6); "proto"; "host" when the request named one (§5.3).
 */
static void
put_forwarded(struct wbuf *w, const char *buf, const struct http_msg *m,
    const struct http_fwd *fwd)
{
	struct http_span	 h = request_host_span(m);

	if (fwd->client_ip == NULL && !has_values(m, HH_FORWARDED))
		return;
	PUT_LIT(w, "Forwarded: ");
	if (put_values(w, buf, m, HH_FORWARDED) > 0 && fwd->client_ip != NULL)
		put(w, ", ", 2);
	if (fwd->client_ip != NULL) {
		PUT_LIT(w, "for=");
		if (strchr(fwd->client_ip, ':') != NULL) {
			PUT_LIT(w, "\"[");
			put_str(w, fwd->client_ip);
			PUT_LIT(w, "]\"");
		} else
			put_fwd_value(w, fwd->client_ip,
			    strlen(fwd->client_ip));
		if (fwd->proto != NULL) {
			PUT_LIT(w, ";proto=");
			put_fwd_value(w, fwd->proto, strlen(fwd->proto));
		}
		if (h.len > 0) {
			PUT_LIT(w, ";host=");
			put_fwd_value(w, buf + h.off, h.len);
		}
	}
	put(w, "\r\n", 2);
}

static size_t
fields_size(const struct http_msg *m)
{
	size_t		 n = 0;
	uint32_t	 i;

	/* ": " and CRLF, or ", " when joined, per field. */
	for (i = 0; i < m->nfields; i++)
		n += (size_t)m->fields[i].name.len + m->fields[i].value.len + 6;
	return (n);
}

static size_t
str_size(const char *s)
{
	return (s != NULL ? strlen(s) : 0);
}

size_t
http_msg_request_size(const struct http_msg *req, const struct http_fwd *fwd)
{
	struct http_span	 h = request_host_span(req);

	/* A quoted Forwarded value can double in size with escapes. */
	return (HM_SLACK + fields_size(req) + req->method_s.len +
	    req->target.len + req->authority.len + 2 * (size_t)h.len +
	    3 * str_size(fwd->client_ip) + 3 * str_size(fwd->proto) +
	    str_size(fwd->via) + str_size(fwd->host) +
	    str_size(fwd->subject_field) + str_size(fwd->subject) +
	    str_size(fwd->id_field) + str_size(fwd->id) +
	    (fwd->accept_encoding != NULL ? 19 +
	    strlen(fwd->accept_encoding) : 0) +
	    (fwd->upgrade ? 32 : 0));
}

/* Fields a forwarded request does not carry as received. */
static int
request_drops(const struct http_msg *req, const struct http_field *f)
{
	if (f->hop)
		return (1);
	switch (f->id) {
	case HH_EXPECT:			/* vane answers 100-continue itself */
	case HH_TRANSFER_ENCODING:	/* rewritten from req->framing */
	case HH_X_FORWARDED_PROTO:	/* replaced */
	case HH_X_FORWARDED_FOR:	/* combined below */
	case HH_FORWARDED:
	case HH_VIA:
		return (1);
	case HH_HOST:			/* RFC 9112 §3.2.2 */
		return (req->form == HT_ABSOLUTE);
	default:
		return (0);
	}
}

/* Whether f is the field vane sets itself under name (NULL: none). */
static int
is_named(const char *buf, const struct http_field *f, const char *name)
{
	return (name != NULL && http_span_eq(buf, f->name, name));
}

/* "name: value" of a field vane sets itself, when both are set. */
static void
put_own(struct wbuf *w, const char *name, const char *value)
{
	if (name == NULL || value == NULL)
		return;
	put_str(w, name);
	PUT_LIT(w, ": ");
	put_str(w, value);
	put(w, "\r\n", 2);
}

/* "METHOD origin-form HTTP/1.1"; absolute-form loses its authority. */
static void
put_request_line(struct wbuf *w, const char *buf, const struct http_msg *req)
{
	put_span(w, buf, req->method_s);
	put(w, " ", 1);
	if (req->form == HT_ABSOLUTE) {
		if (req->path.len == 0 || buf[req->path.off] != '/')
			put(w, "/", 1);
		put_span(w, buf, req->path);
	} else
		put_span(w, buf, req->target);
	PUT_LIT(w, " HTTP/1.1\r\n");
	if (req->form == HT_ABSOLUTE) {
		PUT_LIT(w, "Host: ");
		put_span(w, buf, req->authority);
		put(w, "\r\n", 2);
	}
}

ssize_t
http_msg_request(char *out, size_t outlen, const char *buf,
    const struct http_msg *req, const struct http_fwd *fwd)
{
	struct wbuf	 w = { out, 0, outlen, 0 };
	uint32_t	 i;
	int		 cl = 0, mfseen = 0;
	long		 mf = http_msg_max_forwards(buf, req);

	put_request_line(&w, buf, req);
	if (req->form != HT_ABSOLUTE && req->host < 0 && fwd->host != NULL) {
		PUT_LIT(&w, "Host: ");
		put_str(&w, fwd->host);
		PUT_LIT(&w, "\r\n");
	}
	for (i = 0; i < req->nfields; i++) {
		if (request_drops(req, &req->fields[i]) ||
		    is_named(buf, &req->fields[i], fwd->subject_field) ||
		    is_named(buf, &req->fields[i], fwd->id_field) ||
		    (fwd->accept_encoding != NULL &&
		    is_named(buf, &req->fields[i], "Accept-Encoding")))
			continue;
		if (req->fields[i].id == HH_CONTENT_LENGTH)
			put_length(&w, buf, &req->fields[i],
			    req->content_length, &cl);
		else if (req->fields[i].id == HH_MAX_FORWARDS && mf > 0)
			put_length(&w, buf, &req->fields[i],
			    (uint64_t)mf - 1, &mfseen);
		else
			put_field(&w, buf, &req->fields[i]);
	}
	put_via(&w, buf, req, req->version, fwd->via);
	put_xff(&w, buf, req, fwd->client_ip);
	if (fwd->proto != NULL) {
		PUT_LIT(&w, "X-Forwarded-Proto: ");
		put_str(&w, fwd->proto);
		put(&w, "\r\n", 2);
	}
	put_forwarded(&w, buf, req, fwd);
	put_own(&w, fwd->subject_field, fwd->subject);
	put_own(&w, fwd->id_field, fwd->id);
	put_own(&w, "Accept-Encoding", fwd->accept_encoding);
	if (req->framing == HF_CHUNKED)
		PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
	if (fwd->upgrade)
		put_upgrade(&w, buf, req);
	else if (fwd->close)
		PUT_LIT(&w, "Connection: close\r\n");
	put(&w, "\r\n", 2);
	return (wbuf_done(&w));
}

size_t
http_msg_response_size(const struct http_msg *resp, const struct http_out *o)
{
	return (HM_SLACK + fields_size(resp) + resp->reason.len +
	    strlen(http_reason(resp->status)) + str_size(o->via) +
	    str_size(o->date) + str_size(o->extra) + str_size(o->lextra) +
	    (o->upgrade ? 32 : 0));
}

static void
put_status_line(struct wbuf *w, const char *buf, const struct http_msg *resp)
{
	char	 code[4];
	int	 st = resp->status % 1000;

	code[0] = (char)('0' + st / 100);
	code[1] = (char)('0' + st / 10 % 10);
	code[2] = (char)('0' + st % 10);
	code[3] = ' ';
	PUT_LIT(w, "HTTP/1.1 ");
	put(w, code, 4);
	if (resp->reason.len > 0)
		put_span(w, buf, resp->reason);
	else
		put_str(w, http_reason(resp->status));
	put(w, "\r\n", 2);
}

ssize_t
http_msg_response(char *out, size_t outlen, const char *buf,
    const struct http_msg *resp, const struct http_out *o)
{
	struct wbuf		 w = { out, 0, outlen, 0 };
	const struct http_field	*f;
	uint32_t		 i;
	int			 cl = 0;

	put_status_line(&w, buf, resp);
	for (i = 0; i < resp->nfields; i++) {
		f = &resp->fields[i];
		/* A chunked body carries no Content-Length (RFC 9112 §6.2). */
		if (f->hop || (f->id == HH_VIA && !o->keep_via) ||
		    (o->chunk && f->id == HH_CONTENT_LENGTH) ||
		    (o->skip != NULL && o->skip[i]))
			continue;
		if (f->id == HH_CONTENT_LENGTH)
			put_length(&w, buf, f, resp->content_length, &cl);
		else
			put_field(&w, buf, f);
	}
	if (o->chunk || (resp->framing == HF_CHUNKED && !o->strip_te))
		PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
	if (!o->keep_via)
		put_via(&w, buf, resp, resp->version, o->via);
	/* RFC 9110 §6.6.1: a recipient with a clock adds a missing Date. */
	if (o->date != NULL && !has_values(resp, HH_DATE)) {
		PUT_LIT(&w, "Date: ");
		put_str(&w, o->date);
		put(&w, "\r\n", 2);
	}
	if (o->extra != NULL)
		put_str(&w, o->extra);
	if (o->lextra != NULL)
		put_str(&w, o->lextra);
	if (o->upgrade)
		put_upgrade(&w, buf, resp);
	else if (!o->keepalive)
		PUT_LIT(&w, "Connection: close\r\n");
	else if (o->client_version == 10)
		PUT_LIT(&w, "Connection: keep-alive\r\n");
	put(&w, "\r\n", 2);
	return (wbuf_done(&w));
}

size_t
http_msg_error_body(int status)
{
	/* "NNN Reason\n" */
	return (strlen(http_reason(status)) + 5);
}

ssize_t
http_msg_error(char *out, size_t outlen, int status, const char *date,
    int close, int head_only, const char *extra)
{
	struct wbuf	 w = { out, 0, outlen, 0 };
	const char	*reason = http_reason(status);
	char		 line[64];
	int		 blen = (int)http_msg_error_body(status);

	status %= 1000;
	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status);
	put_str(&w, line);
	put_str(&w, reason);
	put(&w, "\r\n", 2);
	if (date != NULL) {
		PUT_LIT(&w, "Date: ");
		put_str(&w, date);
		put(&w, "\r\n", 2);
	}
	PUT_LIT(&w, "Server: vane\r\nContent-Type: text/plain\r\n");
	/* A HEAD response says how long the GET body would be (RFC 9110 §8.6). */
	snprintf(line, sizeof(line), "Content-Length: %d\r\n", blen);
	put_str(&w, line);
	if (extra != NULL)
		put_str(&w, extra);
	if (close)
		PUT_LIT(&w, "Connection: close\r\n");
	put(&w, "\r\n", 2);
	if (!head_only) {
		snprintf(line, sizeof(line), "%03d ", status);
		put_str(&w, line);
		put_str(&w, reason);
		put(&w, "\n", 1);
	}
	return (wbuf_done(&w));
}

long
http_msg_max_forwards(const char *buf, const struct http_msg *req)
{
	const struct http_field	*f;
	uint32_t		 i, j;
	long			 v;

	if (req->method != HM_TRACE && req->method != HM_OPTIONS)
		return (-1);
	for (i = 0; i < req->nfields; i++) {
		f = &req->fields[i];
		if (f->id != HH_MAX_FORWARDS)
			continue;
		if (f->value.len == 0 || f->value.len > 9)
			return (-1);
		for (j = 0, v = 0; j < f->value.len; j++) {
			if ((http_chars[(unsigned char)buf[f->value.off + j]] &
			    HCL_DIGIT) == 0)
				return (-1);
			v = v * 10 + (buf[f->value.off + j] - '0');
		}
		return (v);
	}
	return (-1);
}

/* Fields a TRACE reflection leaves out: they carry credentials. */
static int
trace_hides(const struct http_field *f)
{
	return (f->id == HH_AUTHORIZATION || f->id == HH_COOKIE ||
	    f->id == HH_PROXY_AUTHORIZATION);
}

size_t
http_msg_final_size(const struct http_msg *req, const char *extra)
{
	return (HM_SLACK + req->head_len + 64 +
	    (extra != NULL ? strlen(extra) : 0));
}

ssize_t
http_msg_final(char *out, size_t outlen, const char *buf,
    const struct http_msg *req, const char *date, int close,
    const char *extra)
{
	struct wbuf	 w = { out, 0, outlen, 0 };
	char		 num[24], *d;
	size_t		 blen;
	uint32_t	 i;

	PUT_LIT(&w, "HTTP/1.1 200 OK\r\nServer: vane\r\n");
	if (date != NULL) {
		PUT_LIT(&w, "Date: ");
		put_str(&w, date);
		PUT_LIT(&w, "\r\n");
	}
	if (close)
		PUT_LIT(&w, "Connection: close\r\n");
	if (extra != NULL)
		put_str(&w, extra);
	if (req->method == HM_OPTIONS) {
		PUT_LIT(&w, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, "
		    "PATCH\r\nContent-Length: 0\r\n\r\n");
		return (wbuf_done(&w));
	}
	/* The reflected head: request line, the fields but credentials. */
	blen = req->method_s.len + 1 + req->target.len + 11 + 2;
	for (i = 0; i < req->nfields; i++)
		if (!trace_hides(&req->fields[i]))
			blen += req->fields[i].name.len +
			    req->fields[i].value.len + 4;
	d = fmt_u64(num + sizeof(num), blen);
	PUT_LIT(&w, "Content-Type: message/http\r\nContent-Length: ");
	put(&w, d, (size_t)(num + sizeof(num) - d));
	PUT_LIT(&w, "\r\n\r\n");
	put_span(&w, buf, req->method_s);
	put(&w, " ", 1);
	put_span(&w, buf, req->target);
	put(&w, req->version >= 11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	for (i = 0; i < req->nfields; i++)
		if (!trace_hides(&req->fields[i]))
			put_field(&w, buf, &req->fields[i]);
	put(&w, "\r\n", 2);
	return (wbuf_done(&w));
}

const char *
http_reason(int status)
{
	static const struct {
		int		 code;
		const char	*text;
	} reasons[] = {		/* RFC 9110 §15, RFC 6585, RFC 7725, RFC 8470 */
		{ 100, "Continue" }, { 101, "Switching Protocols" },
		{ 103, "Early Hints" },
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 203, "Non-Authoritative Information" },
		{ 204, "No Content" }, { 205, "Reset Content" },
		{ 206, "Partial Content" },
		{ 300, "Multiple Choices" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 305, "Use Proxy" },
		{ 306, "Unused" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 402, "Payment Required" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 410, "Gone" }, { 411, "Length Required" },
		{ 412, "Precondition Failed" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
		{ 416, "Range Not Satisfiable" },
		{ 417, "Expectation Failed" },
		{ 421, "Misdirected Request" },
		{ 422, "Unprocessable Content" }, { 425, "Too Early" },
		{ 426, "Upgrade Required" }, { 428, "Precondition Required" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 451, "Unavailable For Legal Reasons" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return (reasons[i].text);
	return ("Unknown");
}

int
http_method_idempotent(enum http_method m)
{
	switch (m) {
	case HM_GET:
	case HM_HEAD:
	case HM_OPTIONS:
	case HM_TRACE:
	case HM_PUT:
	case HM_DELETE:
		return (1);
	default:
		return (0);
	}
}
