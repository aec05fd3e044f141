/*
 * http_parse.c: the strict incremental HTTP/1.1 parser (RFC 9112), L1.
 *
 * A head is scanned once, byte by byte, looking for line ends; each complete
 * line is then parsed as a whole. Every decision depends only on the bytes
 * before the current position, never on how many bytes the caller had, so
 * any split of the input gives the same result as feeding it at once.
 *
 * Rules (each closes a door through which vane and a backend could disagree
 * about a message, RFC 9112 §11.2):
 * - lines end in CRLF only; a bare LF, a lone CR, NUL or any other CTL but
 *   HTAB in the head is an error (§2.2);
 * - up to HP_MAX_EMPTY empty lines before a request-line are skipped (§2.2);
 * - request-line: method SP request-target SP HTTP-version, one SP each
 *   (§3); HTTP/1.0 and HTTP/1.1 only, other HTTP/D.D is 505 (§2.3);
 * - no whitespace before ':' (§5.1), no obs-fold (§5.2);
 * - Host exactly once in HTTP/1.1, at most once in HTTP/1.0, valid
 *   uri-host[:port] (§3.2);
 * - Content-Length: identical values only (RFC 9110 §8.6), < 2^63;
 * - Transfer-Encoding: chunked exactly once and last; together with
 *   Content-Length it is an error; in HTTP/1.0 an error (§6.1, §6.3).
 * The list is in the functions below, each citing its section.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http_parse.h"

#define HP_DEFAULT_HEAD	16384	/* when the caller passes no limits */
#define HP_MAX_EMPTY	8	/* empty lines skipped before a request */
#define HP_LENGTH_MAX	((uint64_t)INT64_MAX)	/* fits the caller's off_t */
#define HP_CHUNK_LINE_MAX 4096	/* chunk-size line with extensions */
#define HP_TRAILER_MAX	16384	/* whole trailer section */

/* m->state; a negative state is the final error. */
enum { ST_LINE0 = 0, ST_FIELDS, ST_DONE };

#define cls	http_chars

/* Character classes (the HC_* bits of http_parse.h), generated from the
 * RFC 9110 §5.6.2 tchar, §5.5 field-vchar and RFC 3986 reg-name sets. */
const unsigned char http_chars[256] = {
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x40, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x40, 0x0b, 0x02, 0x03, 0x0b, 0x03, 0x0b, 0x0b, 0x0a, 0x0a, 0x0b, 0x0b, 0x02, 0x0b, 0x0b, 0x02,
	0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x02, 0x0a, 0x02, 0x0a, 0x02, 0x02,
	0x02, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x02, 0x02, 0x02, 0x03, 0x0b,
	0x03, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x02, 0x03, 0x02, 0x0b, 0x04,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
};

static const struct {
	const char	*name;
	uint8_t		 len;
	enum http_method m;
} methods[] = {
	{ "GET", 3, HM_GET }, { "HEAD", 4, HM_HEAD }, { "POST", 4, HM_POST },
	{ "PUT", 3, HM_PUT }, { "DELETE", 6, HM_DELETE },
	{ "OPTIONS", 7, HM_OPTIONS }, { "TRACE", 5, HM_TRACE },
	{ "CONNECT", 7, HM_CONNECT }, { "PATCH", 5, HM_PATCH },
};

static const struct {
	const char	*name;
	uint8_t		 len;
	enum http_hdr	id;
	int		hop;	/* RFC 9110 §7.6.1, RFC 9112 §6.1 */
} hdrs[] = {
	{ "host", 4, HH_HOST, 0 },
	{ "content-length", 14, HH_CONTENT_LENGTH, 0 },
	{ "transfer-encoding", 17, HH_TRANSFER_ENCODING, 1 },
	{ "connection", 10, HH_CONNECTION, 1 },
	{ "keep-alive", 10, HH_KEEP_ALIVE, 1 },
	{ "proxy-connection", 16, HH_PROXY_CONNECTION, 1 },
	{ "te", 2, HH_TE, 1 },
	{ "trailer", 7, HH_TRAILER, 1 },
	{ "upgrade", 7, HH_UPGRADE, 1 },
	{ "expect", 6, HH_EXPECT, 0 },
	{ "via", 3, HH_VIA, 0 },
	{ "x-forwarded-for", 15, HH_X_FORWARDED_FOR, 0 },
	{ "x-forwarded-proto", 17, HH_X_FORWARDED_PROTO, 0 },
	{ "forwarded", 9, HH_FORWARDED, 0 },
	{ "date", 4, HH_DATE, 0 },
	{ "proxy-authorization", 19, HH_PROXY_AUTHORIZATION, 0 },
	{ "max-forwards", 12, HH_MAX_FORWARDS, 0 },
	{ "cookie", 6, HH_COOKIE, 0 },
	{ "authorization", 13, HH_AUTHORIZATION, 0 },
};
#define HDRS_N	(sizeof(hdrs) / sizeof(hdrs[0]))

/*
 * The hdrs[] index of a field name, or HDRS_N. Candidates are picked by
 * length and first letter, so a field vane does not act on costs a few
 * compares instead of a walk over the table. The name was checked to be
 * tchars, and hdrs[] names are lower-case letters and '-': for those,
 * OR-ing 0x20 lower-cases exactly (no other tchar maps onto them).
 */
static size_t
hdr_lookup(const unsigned char *name, uint32_t len)
{
	/* Chains of hdrs[] indexes + 1 by name length: first[len], then
	 * next[k - 1]; 0 ends a chain. Generated from hdrs[]; a unit test
	 * checks every name is found. */
	static const uint8_t first[20] = { 0, 0, 7, 11, 1, 0, 10, 8, 0, 14, 4, 0, 17, 19, 2, 12, 6, 3, 0, 16 };
	static const uint8_t next[HDRS_N] = { 15, 0, 13, 5, 0, 0, 0, 9, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	unsigned char	 c = name[0] | 0x20;
	size_t		 k;
	uint32_t	 i;

	if (len < 2 || len > 19)
		return (HDRS_N);
	for (k = first[len]; k != 0; k = next[k - 1]) {
		if ((unsigned char)hdrs[k - 1].name[0] != c)
			continue;
		for (i = 1; i < len; i++)
			if ((name[i] | 0x20) != (unsigned char)hdrs[k - 1].name[i])
				break;
		if (i == len)
			return (k - 1);
	}
	return (HDRS_N);
}

static int
is_digit(unsigned char c)
{
	return ((cls[c] & HCL_DIGIT) != 0);
}

static int
hexval(unsigned char c)
{
	if (is_digit(c))
		return (c - '0');
	if ((cls[c] & HCL_HEX) != 0)
		return ((c | 0x20) - 'a' + 10);
	return (-1);
}

/* tchar, RFC 9110 §5.6.2 */
static int
is_tchar(unsigned char c)
{
	return ((cls[c] & HCL_TCHAR) != 0);
}

static int
is_ows(unsigned char c)
{
	return ((cls[c] & HCL_OWS) != 0);
}

/* field-vchar: VCHAR / obs-text, RFC 9110 §5.5 */
static int
is_fvchar(unsigned char c)
{
	return ((cls[c] & HCL_FVCHAR) != 0);
}

/*
 * reg-name characters (RFC 3986 §3.2.2) except '%' (checked with its two
 * hex digits by the caller) and ',': a comma-separated Host would name two
 * hosts to a backend that splits lists, so it is refused.
 */
static int
is_regname(unsigned char c)
{
	return ((cls[c] & HCL_REGNAME) != 0);
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

static int
mem_ieq(const unsigned char *a, const char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (lower(a[i]) != lower((unsigned char)b[i]))
			return (0);
	return (1);
}

int
http_span_eq(const char *buf, struct http_span s, const char *tok)
{
	if (strlen(tok) != s.len)
		return (0);
	return (mem_ieq((const unsigned char *)buf + s.off, tok, s.len));
}

static int
spans_ieq(const unsigned char *p, struct http_span a, struct http_span b)
{
	uint32_t	 i;

	if (a.len != b.len)
		return (0);
	for (i = 0; i < a.len; i++)
		if (lower(p[a.off + i]) != lower(p[b.off + i]))
			return (0);
	return (1);
}

static struct http_span
span(uint32_t off, uint32_t len)
{
	struct http_span	 s;

	s.off = off;
	s.len = len;
	return (s);
}

void
http_msg_init(struct http_msg *m, struct http_field *fields,
    uint32_t maxfields)
{
	memset(m, 0, sizeof(*m));
	m->fields = fields;
	m->maxfields = maxfields;
	m->host = -1;
	m->state = ST_LINE0;
}

/*
 * Next element of a comma-separated list (RFC 9110 §5.6.1) in [*i, e),
 * OWS trimmed, possibly empty. *i starts at the value's offset; returns 0
 * once the list is exhausted.
 */
static int
list_next(const unsigned char *p, uint32_t *i, uint32_t e,
    struct http_span *el)
{
	uint32_t	 s, t;

	if (*i > e)
		return (0);
	s = *i;
	t = s;
	while (t < e && p[t] != ',')
		t++;
	*i = t + 1;
	while (s < t && is_ows(p[s]))
		s++;
	while (t > s && is_ows(p[t - 1]))
		t--;
	*el = span(s, t - s);
	return (1);
}

static int
span_is_token(const unsigned char *p, struct http_span s)
{
	uint32_t	 i;

	if (s.len == 0)
		return (0);
	for (i = 0; i < s.len; i++)
		if (!is_tchar(p[s.off + i]))
			return (0);
	return (1);
}

/*
 * The weight of a list element's parameters p[s, e) (after the coding):
 * 1000 for none, 0-1000 for ";q=" with a valid qvalue (§12.4.2), -1 if
 * malformed.
 */
static int
ae_weight(const unsigned char *p, uint32_t s, uint32_t e)
{
	uint32_t	 i, nd;
	int		 w;

	while (s < e && is_ows(p[s]))
		s++;
	if (s == e)
		return (1000);
	if (p[s++] != ';')
		return (-1);
	while (s < e && is_ows(p[s]))
		s++;
	if (e - s < 3 || lower(p[s]) != 'q' || p[s + 1] != '=' ||
	    (p[s + 2] != '0' && p[s + 2] != '1'))
		return (-1);
	w = (p[s + 2] - '0') * 1000;
	i = s + 3;
	if (i < e && p[i] == '.') {
		for (i++, nd = 0; i < e && nd < 3 && is_digit(p[i]); i++, nd++)
			w += (p[i] - '0') * (nd == 0 ? 100 : nd == 1 ? 10 : 1);
	}
	return (i == e && w <= 1000 ? w : -1);
}

enum http_ae
http_accept_gzip(const char *buf, const struct http_msg *m)
{
	const unsigned char	*p = (const unsigned char *)buf;
	const struct http_field	*f;
	struct http_span	 el, c;
	uint32_t		 i, k;
	int			 found = 0, gzip = -1, star = -1, w;

	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->name.len != 15 ||
		    !mem_ieq(p + f->name.off, "Accept-Encoding", 15))
			continue;
		found = 1;
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &el)) {
			for (c = el, c.len = 0; c.len < el.len &&
			    p[c.off + c.len] != ';' && !is_ows(p[c.off + c.len]);
			    c.len++)
				;
			if (c.len == 0 || !span_is_token(p, c) ||
			    (w = ae_weight(p, c.off + c.len,
			    el.off + el.len)) < 0)
				continue;
			/* The most specific element decides (§12.5.3). */
			if (http_span_eq(buf, c, "gzip") ||
			    http_span_eq(buf, c, "x-gzip"))
				gzip = gzip > w ? gzip : w;
			else if (c.len == 1 && p[c.off] == '*')
				star = star > w ? star : w;
		}
	}
	if (!found)
		return (HAE_NONE);
	if (gzip >= 0)
		return (gzip > 0 ? HAE_GZIP : HAE_IDENTITY);
	return (star > 0 ? HAE_GZIP : HAE_IDENTITY);
}

const char *
http_ae_value(enum http_ae ae)
{
	switch (ae) {
	case HAE_GZIP:
		return ("gzip");
	case HAE_IDENTITY:
		return ("identity");
	default:
		return (NULL);
	}
}

int
http_upgrade_ok(const char *buf, const struct http_msg *m)
{
	const unsigned char	*p = (const unsigned char *)buf;
	const struct http_field	*f;
	struct http_span	 el, name;
	uint32_t		 i, k, slash;
	int			 n = 0;

	if ((m->conn & HC_UPGRADE) == 0 || m->version < 11)
		return (0);
	if (m->status == 0 && (m->method != HM_GET || m->framing != HF_NONE))
		return (0);
	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->id != HH_UPGRADE)
			continue;
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &el)) {
			if (el.len == 0)
				continue;	/* empty elements are allowed */
			for (slash = 0; slash < el.len &&
			    p[el.off + slash] != '/'; slash++)
				;
			name = span(el.off, slash);
			if (!span_is_token(p, name) || (slash < el.len &&
			    !span_is_token(p, span(el.off + slash + 1,
			    el.len - slash - 1))))
				return (0);
			if (http_span_eq(buf, name, "h2c"))
				return (0);
			n++;
		}
	}
	return (n > 0);
}

/*
 * uri-host [ ":" port ] (RFC 3986 §3.2.2, RFC 9110 §4.2.3): a reg-name or
 * IPv4address, or an IP-literal in brackets; port 1..5 digits <= 65535.
 * An empty port ("host:") is refused so that one host has one spelling
 * in cache keys.
 */
static int
host_valid(const unsigned char *q, uint32_t n, int need_port)
{
	uint32_t	 i, d, port;

	if (n == 0)
		return (0);
	if (q[0] == '[') {
		for (i = 1, d = 0; i < n && q[i] != ']'; i++) {
			if (q[i] == ':')
				d++;
			else if (hexval(q[i]) < 0 && q[i] != '.')
				return (0);
		}
		if (i == n || d < 2)
			return (0);
		i++;
	} else {
		for (i = 0; i < n && q[i] != ':'; i++) {
			if (q[i] == '%') {
				if (i + 2 >= n || hexval(q[i + 1]) < 0 ||
				    hexval(q[i + 2]) < 0)
					return (0);
				i += 2;
			} else if (!is_regname(q[i]))
				return (0);
		}
		if (i == 0)
			return (0);
	}
	if (i == n)
		return (!need_port);
	if (q[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
		return (0);
	for (i++, port = 0; i < n; i++) {
		if (!is_digit(q[i]))
			return (0);
		port = port * 10 + (q[i] - '0');
	}
	return (port <= 65535);
}

/*
 * Request-target forms, RFC 9112 §3.2: origin-form for everything but
 * OPTIONS * (asterisk-form, §3.2.4) and CONNECT (authority-form only,
 * §3.2.3); absolute-form for http and https (§3.2.2), whose authority must
 * not carry userinfo (RFC 9110 §4.2.4).
 */
static int
target_form(struct http_msg *m, const unsigned char *p)
{
	uint32_t	 s = m->target.off, e = s + m->target.len, a, i;

	if (p[s] == '/') {
		m->form = HT_ORIGIN;
		return (m->method == HM_CONNECT ? HP_E_TARGET : HP_OK);
	}
	if (m->target.len == 1 && p[s] == '*') {
		m->form = HT_ASTERISK;
		return (m->method == HM_OPTIONS ? HP_OK : HP_E_TARGET);
	}
	if (m->method == HM_CONNECT) {
		if (!host_valid(p + s, m->target.len, 1))
			return (HP_E_TARGET);
		m->form = HT_AUTHORITY;
		return (HP_OK);
	}
	if (m->target.len >= 7 && mem_ieq(p + s, "http://", 7))
		a = s + 7;
	else if (m->target.len >= 8 && mem_ieq(p + s, "https://", 8))
		a = s + 8;
	else
		return (HP_E_TARGET);
	for (i = a; i < e && p[i] != '/' && p[i] != '?'; i++)
		if (p[i] == '@')
			return (HP_E_TARGET);
	if (!host_valid(p + a, i - a, 0))
		return (HP_E_TARGET);
	m->form = HT_ABSOLUTE;
	m->authority = span(a, i - a);
	m->path = span(i, e - i);
	return (HP_OK);
}

/* HTTP-version, RFC 9112 §2.3: returns 10, 11 or an error. */
static int
parse_version(const unsigned char *q, uint32_t n, int bad)
{
	if (n != 8 || memcmp(q, "HTTP/", 5) != 0 || !is_digit(q[5]) ||
	    q[6] != '.' || !is_digit(q[7]))
		return (bad);
	if (q[5] == '1' && q[7] == '1')
		return (11);
	if (q[5] == '1' && q[7] == '0')
		return (10);
	return (bad == HP_E_STATUS ? HP_E_STATUS : HP_E_VERSION);
}

/* request-line = method SP request-target SP HTTP-version, RFC 9112 §3 */
static int
request_line(struct http_msg *m, const unsigned char *p, uint32_t s,
    uint32_t e)
{
	uint32_t	 i, t;
	size_t		 k;
	int		 v;

	for (i = s; i < e && is_tchar(p[i]); i++)
		;
	if (i == e)
		return (HP_E_SYNTAX);
	if (i == s || p[i] != ' ')
		return (HP_E_METHOD);
	m->method_s = span(s, i - s);
	m->method = HM_OTHER;
	/* Methods are case-sensitive, RFC 9110 §9.1. */
	for (k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (methods[k].len == i - s &&
		    memcmp(p + s, methods[k].name, i - s) == 0) {
			m->method = methods[k].m;
			break;
		}
	for (t = ++i; i < e && p[i] != ' '; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '#')
			return (HP_E_TARGET);
	if (i == t || i == e)
		return (HP_E_SYNTAX);
	m->target = span(t, i - t);
	i++;
	if ((v = parse_version(p + i, e - i, HP_E_SYNTAX)) < 0)
		return (v);
	m->version = v;
	return (target_form(m, p));
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ],
 * RFC 9112 §4; a missing SP before an empty reason is tolerated as the
 * RFC asks of clients.
 */
static int
status_line(struct http_msg *m, const unsigned char *p, uint32_t s,
    uint32_t e)
{
	uint32_t	 i;
	int		 v;

	if (e - s < 12 || p[s + 8] != ' ')
		return (HP_E_STATUS);
	if ((v = parse_version(p + s, 8, HP_E_STATUS)) < 0)
		return (v);
	m->version = v;
	i = s + 9;
	if (!is_digit(p[i]) || !is_digit(p[i + 1]) || !is_digit(p[i + 2]))
		return (HP_E_STATUS);
	m->status = (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + p[i + 2] - '0';
	if (m->status < 100 || m->status > 599)
		return (HP_E_STATUS);
	i += 3;
	if (i < e && p[i] != ' ')
		return (HP_E_STATUS);
	if (i < e)
		i++;
	m->reason = span(i, e - i);
	for (; i < e; i++)
		if (!is_fvchar(p[i]) && !is_ows(p[i]))
			return (HP_E_STATUS);
	return (HP_OK);
}

/*
 * field-line = field-name ":" OWS field-value OWS, RFC 9112 §5: no
 * whitespace before the colon (§5.1), no obs-fold (§5.2).
 */
static int
field_line(struct http_msg *m, const unsigned char *p, uint32_t s,
    uint32_t e, uint32_t maxf)
{
	struct http_field	*f;
	uint32_t		 i, v, ve;
	size_t			 k;

	for (i = s; i < e && is_tchar(p[i]); i++)
		;
	if (i == s || i == e || p[i] != ':')
		return (HP_E_FIELD);
	for (v = i + 1; v < e && is_ows(p[v]); v++)
		;
	/* The value needs no check here: head_parse's scan stopped at every
	 * byte that is not field-vchar or OWS (a CTL or DEL) on the way. */
	ve = e;
	while (ve > v && is_ows(p[ve - 1]))
		ve--;
	if (m->nfields >= maxf)
		return (HP_E_HEAD_TOO_LARGE);
	f = &m->fields[m->nfields++];
	f->name = span(s, i - s);
	f->value = span(v, ve - v);
	f->id = HH_OTHER;
	f->hop = 0;
	if ((k = hdr_lookup(p + s, f->name.len)) < HDRS_N) {
		f->id = hdrs[k].id;
		f->hop = hdrs[k].hop;
		m->seen |= 1u << f->id;
	}
	return (HP_OK);
}

/*
 * Connection options (RFC 9110 §7.6.1): flags, and every field it names
 * becomes hop-by-hop. Host and Content-Length are never dropped that way:
 * "Connection: Content-Length" would strip the framing of a request vane
 * forwards and desynchronise the backend. Proxy-Connection is only removed.
 */
static void
connection_options(struct http_msg *m, const unsigned char *p)
{
	struct http_field	*f;
	struct http_span	 t;
	uint32_t		 i, j, k;

	if ((m->seen & (1u << HH_CONNECTION)) == 0)
		return;
	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].id != HH_CONNECTION)
			continue;
		f = &m->fields[i];
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &t)) {
			if (!span_is_token(p, t))
				continue;
			if (http_span_eq((const char *)p, t, "close"))
				m->conn |= HC_CLOSE;
			else if (http_span_eq((const char *)p, t, "keep-alive")) {
				/* Keep-Alive fields are hop-by-hop already. */
				m->conn |= HC_KEEPALIVE;
				continue;
			} else if (http_span_eq((const char *)p, t, "upgrade")) {
				m->conn |= HC_UPGRADE;	/* so is Upgrade */
				continue;
			}
			for (j = 0; j < m->nfields; j++)
				if (m->fields[j].id != HH_HOST &&
				    m->fields[j].id != HH_CONTENT_LENGTH &&
				    spans_ieq(p, m->fields[j].name, t))
					m->fields[j].hop = 1;
		}
	}
}

/*
 * Content-Length = 1*DIGIT (RFC 9110 §8.6). Repeated fields or a list are
 * accepted only when every value is the same, as §8.6 allows; anything else
 * is where request smuggling starts.
 */
static int
content_length(struct http_msg *m, const unsigned char *p)
{
	struct http_field	*f;
	struct http_span	 el;
	uint64_t		 v, d;
	uint32_t		 i, j, k;

	if ((m->seen & (1u << HH_CONTENT_LENGTH)) == 0)
		return (HP_OK);
	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].id != HH_CONTENT_LENGTH)
			continue;
		f = &m->fields[i];
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &el)) {
			if (el.len == 0)
				return (HP_E_LENGTH);
			for (j = 0, v = 0; j < el.len; j++) {
				d = p[el.off + j] - '0';
				if (!is_digit(p[el.off + j]) ||
				    v > (HP_LENGTH_MAX - d) / 10)
					return (HP_E_LENGTH);
				v = v * 10 + d;
			}
			if (m->has_length && v != m->content_length)
				return (HP_E_LENGTH);
			m->has_length = 1;
			m->content_length = v;
		}
	}
	return (HP_OK);
}

/*
 * The transfer codings of all Transfer-Encoding fields in order
 * (RFC 9112 §6.1). Empty list elements are skipped (RFC 9110 §5.6.1); a
 * coding with parameters or any non-token is refused. Returns HP_OK or
 * HP_E_TE, with the count of chunked, of other codings, and whether the
 * last one was chunked.
 */
static int
te_codings(struct http_msg *m, const unsigned char *p, int *nchunked,
    int *nother, int *last)
{
	struct http_field	*f;
	struct http_span	 el;
	uint32_t		 i, k;

	*nchunked = *nother = *last = 0;
	if ((m->seen & (1u << HH_TRANSFER_ENCODING)) == 0)
		return (HP_OK);
	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].id != HH_TRANSFER_ENCODING)
			continue;
		m->has_te = 1;
		f = &m->fields[i];
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &el)) {
			if (el.len == 0)
				continue;
			if (!span_is_token(p, el))
				return (HP_E_TE);
			*last = http_span_eq((const char *)p, el, "chunked");
			if (*last)
				(*nchunked)++;
			else
				(*nother)++;
		}
	}
	return (HP_OK);
}

/*
 * Request framing, RFC 9112 §6.3. Transfer-Encoding with Content-Length is
 * refused outright (§6.3 item 3 lets a server treat it as an error, which
 * is the only safe choice in front of backends that might pick the other
 * header). chunked must be last and once (item 4: 400); vane decodes no
 * other coding, so any other is 501 (§6.1). HTTP/1.0 has no
 * Transfer-Encoding (§6.1: the framing is faulty).
 */
static int
request_framing(struct http_msg *m, const unsigned char *p)
{
	int	 rv, nchunked, nother, last;

	if ((rv = content_length(m, p)) != HP_OK)
		return (rv);
	if ((rv = te_codings(m, p, &nchunked, &nother, &last)) != HP_OK)
		return (rv);
	if (m->has_te) {
		if (m->version == 10)
			return (HP_E_TE);
		if (m->has_length)
			return (HP_E_TE_CL);
		if (nchunked != 1 || !last)
			return (HP_E_TE);
		if (nother > 0)
			return (HP_E_CODING);
		m->framing = HF_CHUNKED;
	} else if (m->has_length && m->content_length > 0)
		m->framing = HF_LENGTH;
	else
		m->framing = HF_NONE;
	return (HP_OK);
}

/*
 * Host, RFC 9112 §3.2: exactly one in HTTP/1.1, at most one in HTTP/1.0,
 * and a valid uri-host[:port]; empty only in HTTP/1.0. Also checked for an
 * absolute-form target, whose authority replaces it (§3.2.2).
 */
static int
request_host(struct http_msg *m, const unsigned char *p)
{
	struct http_field	*f;
	uint32_t		 i, n;

	for (i = 0, n = 0; i < m->nfields; i++)
		if (m->fields[i].id == HH_HOST) {
			m->host = (int)i;
			n++;
		}
	if (n > 1 || (n == 0 && m->version == 11))
		return (HP_E_HOST);
	if (n == 0)
		return (HP_OK);
	f = &m->fields[m->host];
	if (f->value.len == 0)
		return (m->version == 10 ? HP_OK : HP_E_HOST);
	if (!host_valid(p + f->value.off, f->value.len, 0))
		return (HP_E_HOST);
	return (HP_OK);
}

/*
 * Expect, RFC 9110 §10.1.1: only 100-continue is known; an HTTP/1.0
 * 100-continue is ignored as the RFC requires.
 */
static void
request_expect(struct http_msg *m, const unsigned char *p)
{
	struct http_field	*f;
	struct http_span	 el;
	uint32_t		 i, k;

	if ((m->seen & (1u << HH_EXPECT)) == 0)
		return;
	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].id != HH_EXPECT)
			continue;
		f = &m->fields[i];
		k = f->value.off;
		while (list_next(p, &k, f->value.off + f->value.len, &el)) {
			if (el.len == 0)
				continue;
			if (!http_span_eq((const char *)p, el, "100-continue"))
				m->expect_other = 1;
			else if (m->version == 11)
				m->expect_continue = 1;
		}
	}
}

static int
request_finish(struct http_msg *m, const unsigned char *p)
{
	int	 rv;

	connection_options(m, p);
	if ((rv = request_framing(m, p)) != HP_OK)
		return (rv);
	if ((rv = request_host(m, p)) != HP_OK)
		return (rv);
	request_expect(m, p);
	return (HP_OK);
}

/*
 * Response framing before the request method and status are known (see
 * http_response_framing): RFC 9112 §6.3 items 3-7. Codings other than
 * chunked cannot be passed on honestly once vane rewrites
 * Transfer-Encoding, so "gzip, chunked" is refused; chunked not last means
 * read until close (item 4), as does any Transfer-Encoding in HTTP/1.0.
 */
static int
response_finish(struct http_msg *m, const unsigned char *p)
{
	int	 rv, nchunked, nother, last;

	connection_options(m, p);
	if ((rv = content_length(m, p)) != HP_OK)
		return (rv);
	if ((rv = te_codings(m, p, &nchunked, &nother, &last)) != HP_OK)
		return (rv);
	if (m->has_te) {
		if (m->has_length)
			return (HP_E_TE_CL);
		if (nchunked > 1)
			return (HP_E_TE);
		if (m->version == 10 || !last)
			m->framing = HF_CLOSE;
		else if (nother > 0)
			return (HP_E_CODING);
		else
			m->framing = HF_CHUNKED;
	} else if (m->has_length)
		m->framing = HF_LENGTH;
	else
		m->framing = HF_CLOSE;
	return (HP_OK);
}

static int
fail(struct http_msg *m, int err)
{
	m->state = err;
	return (err);
}

/* The error for a malformed line end or byte in the current line. */
static int
line_error(const struct http_msg *m, int req)
{
	if (m->state == ST_LINE0)
		return (req ? HP_E_SYNTAX : HP_E_STATUS);
	return (HP_E_FIELD);
}

/* A complete line [m->line_start, m->pos - 2) followed by CRLF. */
static int
line_done(struct http_msg *m, const unsigned char *p, uint32_t maxf, int req)
{
	uint32_t	 s = m->line_start, e = m->pos - 2;
	int		 rv;

	if (m->state == ST_LINE0) {
		if (s == e) {
			/* RFC 9112 §2.2: skip empty lines before a request. */
			if (!req || s / 2 >= HP_MAX_EMPTY)
				return (fail(m, line_error(m, req)));
			return (HP_AGAIN);
		}
		rv = req ? request_line(m, p, s, e) : status_line(m, p, s, e);
		if (rv != HP_OK)
			return (fail(m, rv));
		m->state = ST_FIELDS;
		return (HP_AGAIN);
	}
	if (s == e) {
		m->head_len = m->pos;
		rv = req ? request_finish(m, p) : response_finish(m, p);
		if (rv != HP_OK)
			return (fail(m, rv));
		m->state = ST_DONE;
		return (HP_OK);
	}
	/* RFC 9112 §5.2 obs-fold, §2.2 whitespace after the start-line. */
	if (is_ows(p[s]))
		return (fail(m, HP_E_FIELD));
	if ((rv = field_line(m, p, s, e, maxf)) != HP_OK)
		return (fail(m, rv));
	return (HP_AGAIN);
}

/*
 * Index of the first byte in p[i, end) that ends a fast scan (CR, LF,
 * another CTL but HTAB, DEL), or end. Eight bytes at a time while no byte
 * is below 0x20 or equal to 0x7f (a HTAB drops to the byte loop for that
 * word): the classic "has a byte less than n" word tricks.
 */
static uint32_t
scan_plain(const unsigned char *p, uint32_t i, uint32_t end)
{
	const uint64_t	 ones = 0x0101010101010101ULL;
	const uint64_t	 high = 0x8080808080808080ULL;
	uint64_t	 x, y;

	while (end - i >= 8) {
		memcpy(&x, p + i, 8);
		y = x ^ (0x7f * ones);
		if ((((x - 0x20 * ones) & ~x) | ((y - ones) & ~y)) & high)
			break;
		i += 8;
	}
	while (i < end && (cls[p[i]] & HCL_STOP) == 0)
		i++;
	return (i);
}

static int
head_parse(struct http_msg *m, const char *buf, size_t len,
    const struct http_limits *lim, int req)
{
	const unsigned char	*p = (const unsigned char *)buf;
	uint32_t		 max, maxf, scan, i;
	int			 rv;

	if (m->state < 0 || m->state == ST_DONE)
		return (m->state < 0 ? m->state : HP_OK);
	max = lim != NULL ? lim->max_head : HP_DEFAULT_HEAD;
	maxf = m->maxfields;
	if (lim != NULL && lim->max_fields < maxf)
		maxf = lim->max_fields;
	scan = len < max ? (uint32_t)len : max;
	while (m->pos < len) {
		/* Fast scan: one table lookup per byte up to the next CR, LF
		 * or byte that is never valid in a head. */
		i = scan_plain(p, m->pos, scan);
		m->pos = i;
		if (i == scan) {
			if (scan < len)
				return (fail(m, req && m->state == ST_LINE0 ?
				    HP_E_URI_TOO_LONG : HP_E_HEAD_TOO_LARGE));
			return (HP_AGAIN);
		}
		/* CRLF only: a bare LF, a lone CR, NUL or another CTL is an
		 * error (RFC 9112 §2.2, RFC 9110 §5.5). */
		if (p[i] != '\r')
			return (fail(m, line_error(m, req)));
		if (i + 1 >= len)
			return (HP_AGAIN);
		if (i + 1 >= max)
			return (fail(m, req && m->state == ST_LINE0 ?
			    HP_E_URI_TOO_LONG : HP_E_HEAD_TOO_LARGE));
		if (p[i + 1] != '\n')
			return (fail(m, line_error(m, req)));
		m->pos = i + 2;
		if ((rv = line_done(m, p, maxf, req)) != HP_AGAIN)
			return (rv);
		m->line_start = m->pos;
	}
	return (HP_AGAIN);
}

int
http_parse_request(struct http_msg *m, const char *buf, size_t len,
    const struct http_limits *lim)
{
	return (head_parse(m, buf, len, lim, 1));
}

int
http_parse_response(struct http_msg *m, const char *buf, size_t len,
    const struct http_limits *lim)
{
	return (head_parse(m, buf, len, lim, 0));
}

/*
 * RFC 9112 §6.3: no body for HEAD, 1xx, 204, 304 and a 2xx to CONNECT
 * (the connection becomes a tunnel); Content-Length: 0 is no body either.
 */
enum http_framing
http_response_framing(const struct http_msg *resp,
    enum http_method req_method)
{
	if (req_method == HM_HEAD || resp->status < 200 ||
	    resp->status == 204 || resp->status == 304 ||
	    (req_method == HM_CONNECT && resp->status < 300))
		return (HF_NONE);
	if (resp->framing == HF_LENGTH && resp->content_length == 0)
		return (HF_NONE);
	return (resp->framing);
}

int
http_err_status(int err)
{
	switch (err) {
	case HP_E_VERSION:
		return (505);
	case HP_E_CODING:
		return (501);
	case HP_E_URI_TOO_LONG:
		return (414);
	case HP_E_HEAD_TOO_LARGE:
		return (431);
	case HP_E_STATUS:
		return (502);
	case HP_OK:
	case HP_AGAIN:
		return (0);
	default:
		return (400);
	}
}

const char *
http_strerror(int err)
{
	switch (err) {
	case HP_OK:		return ("ok");
	case HP_AGAIN:		return ("incomplete");
	case HP_E_SYNTAX:	return ("malformed message");
	case HP_E_METHOD:	return ("bad method");
	case HP_E_TARGET:	return ("bad request-target");
	case HP_E_VERSION:	return ("unsupported HTTP version");
	case HP_E_FIELD:	return ("bad field line");
	case HP_E_HOST:		return ("missing, repeated or bad Host");
	case HP_E_LENGTH:	return ("bad Content-Length");
	case HP_E_TE:		return ("bad Transfer-Encoding");
	case HP_E_TE_CL:
		return ("Transfer-Encoding with Content-Length");
	case HP_E_CODING:	return ("unsupported transfer coding");
	case HP_E_URI_TOO_LONG:	return ("request line too long");
	case HP_E_HEAD_TOO_LARGE: return ("head too large");
	case HP_E_CHUNK:	return ("bad chunked encoding");
	case HP_E_STATUS:	return ("bad status line");
	default:		return ("unknown error");
	}
}

/*
 * Chunked transfer coding, RFC 9112 §7.1:
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 * One state per grammar position, so a split anywhere resumes exactly.
 */
enum {
	CS_SIZE = 0,	/* hex digits */
	CS_SIZE_WS,	/* BWS after the size: ';' must follow */
	CS_EXT_NAME0,	/* after ';': BWS, then ext-name */
	CS_EXT_NAME,
	CS_EXT_NAME_WS,	/* BWS after the name: '=' or ';' */
	CS_EXT_VAL0,	/* after '=': BWS, then token or quoted-string */
	CS_EXT_TOKEN,
	CS_EXT_QUOTED,
	CS_EXT_QESC,	/* after a backslash in a quoted-string */
	CS_EXT_QEND,	/* after the closing quote */
	CS_EXT_VAL_WS,	/* BWS after a value: ';' must follow */
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TR_START,	/* start of a trailer line or of the final CRLF */
	CS_TR_NAME,
	CS_TR_VALUE,
	CS_TR_LF,
	CS_END_LF,
	CS_DONE,
	CS_ERROR
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CS_SIZE;
}

/* After an ext-name, a token value or a quoted value. */
static int
chunk_ext_after(unsigned char ch, int ws_state)
{
	if (is_ows(ch))
		return (ws_state);
	if (ch == ';')
		return (CS_EXT_NAME0);
	if (ch == '\r')
		return (CS_SIZE_LF);
	return (CS_ERROR);
}

/* quoted-string, RFC 9110 §5.6.4 */
static int
chunk_quoted(unsigned char ch, int state)
{
	if (state == CS_EXT_QESC)
		return (ch == '\t' || ch == ' ' || is_fvchar(ch) ?
		    CS_EXT_QUOTED : CS_ERROR);
	if (ch == '"')
		return (CS_EXT_QEND);
	if (ch == '\\')
		return (CS_EXT_QESC);
	return (ch == '\t' || ch == ' ' || is_fvchar(ch) ?
	    CS_EXT_QUOTED : CS_ERROR);
}

/* chunk-size: at most 16 significant hex digits, so no wrap (§7.1). */
static int
chunk_size_digit(struct http_chunked *c, unsigned char ch)
{
	int	 d = hexval(ch);

	if (d < 0) {
		if (c->line_len == 1)
			return (CS_ERROR);
		if (ch == ';')
			return (CS_EXT_NAME0);
		if (is_ows(ch))
			return (CS_SIZE_WS);
		return (ch == '\r' ? CS_SIZE_LF : CS_ERROR);
	}
	if (c->ndigits > 0 || d != 0) {
		if (++c->ndigits > 16)
			return (CS_ERROR);
		c->remaining = (c->remaining << 4) | (uint64_t)d;
	}
	return (CS_SIZE);
}

/* One byte of a chunk-size line, bounded to HP_CHUNK_LINE_MAX. */
static int
chunk_size_line(struct http_chunked *c, unsigned char ch)
{
	if (++c->line_len > HP_CHUNK_LINE_MAX)
		return (CS_ERROR);
	switch (c->state) {
	case CS_SIZE:
		return (chunk_size_digit(c, ch));
	case CS_SIZE_WS:
	case CS_EXT_VAL_WS:
		if (is_ows(ch))
			return (c->state);
		return (ch == ';' ? CS_EXT_NAME0 : CS_ERROR);
	case CS_EXT_NAME0:
		if (is_ows(ch))
			return (CS_EXT_NAME0);
		return (is_tchar(ch) ? CS_EXT_NAME : CS_ERROR);
	case CS_EXT_NAME:
		if (is_tchar(ch))
			return (CS_EXT_NAME);
		/* FALLTHROUGH */
	case CS_EXT_NAME_WS:
		if (ch == '=')
			return (CS_EXT_VAL0);
		if (c->state == CS_EXT_NAME_WS && !is_ows(ch) && ch != ';')
			return (CS_ERROR);
		return (chunk_ext_after(ch, CS_EXT_NAME_WS));
	case CS_EXT_VAL0:
		if (is_ows(ch))
			return (CS_EXT_VAL0);
		if (ch == '"')
			return (CS_EXT_QUOTED);
		return (is_tchar(ch) ? CS_EXT_TOKEN : CS_ERROR);
	case CS_EXT_TOKEN:
		if (is_tchar(ch))
			return (CS_EXT_TOKEN);
		/* FALLTHROUGH */
	case CS_EXT_QEND:
		return (chunk_ext_after(ch, CS_EXT_VAL_WS));
	case CS_EXT_QUOTED:
	case CS_EXT_QESC:
		return (chunk_quoted(ch, c->state));
	default:
		return (CS_ERROR);
	}
}

/* One byte of the trailer section (RFC 9112 §7.1.2), bounded. */
static int
chunk_trailer(struct http_chunked *c, unsigned char ch)
{
	if (++c->trailer_bytes > HP_TRAILER_MAX)
		return (CS_ERROR);
	switch (c->state) {
	case CS_TR_START:
		if (ch == '\r')
			return (CS_END_LF);
		/* No obs-fold, no empty name (RFC 9112 §5.2). */
		return (is_tchar(ch) ? CS_TR_NAME : CS_ERROR);
	case CS_TR_NAME:
		if (is_tchar(ch))
			return (CS_TR_NAME);
		return (ch == ':' ? CS_TR_VALUE : CS_ERROR);
	case CS_TR_VALUE:
		if (ch == '\r')
			return (CS_TR_LF);
		return (is_fvchar(ch) || is_ows(ch) ? CS_TR_VALUE : CS_ERROR);
	case CS_TR_LF:
		return (ch == '\n' ? CS_TR_START : CS_ERROR);
	case CS_END_LF:
		return (ch == '\n' ? CS_DONE : CS_ERROR);
	default:
		return (CS_ERROR);
	}
}

static int
chunk_byte(struct http_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CS_SIZE_LF:
		if (ch != '\n')
			return (CS_ERROR);
		c->line_len = 0;
		return (c->remaining == 0 ? CS_TR_START : CS_DATA);
	case CS_DATA_CR:
		return (ch == '\r' ? CS_DATA_LF : CS_ERROR);
	case CS_DATA_LF:
		if (ch != '\n')
			return (CS_ERROR);
		c->ndigits = 0;
		c->line_len = 0;
		return (CS_SIZE);
	case CS_TR_START:
	case CS_TR_NAME:
	case CS_TR_VALUE:
	case CS_TR_LF:
	case CS_END_LF:
		return (chunk_trailer(c, ch));
	default:
		return (chunk_size_line(c, ch));
	}
}

int
http_chunked_parse(struct http_chunked *c, const char *buf, size_t len,
    size_t *consumed, void (*on_data)(void *, const char *, size_t),
    void *arg)
{
	size_t	 i = 0, n;
	int	 st;

	*consumed = 0;
	if (c->state == CS_DONE)
		return (HP_OK);
	if (c->state == CS_ERROR)
		return (HP_E_CHUNK);
	while (i < len) {
		if (c->state == CS_DATA) {
			n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (on_data != NULL)
				on_data(arg, buf + i, n);
			c->remaining -= n;
			c->total += n;
			i += n;
			if (c->remaining == 0)
				c->state = CS_DATA_CR;
			continue;
		}
		st = chunk_byte(c, (unsigned char)buf[i]);
		c->state = st;
		if (st == CS_ERROR) {
			*consumed = i;
			return (HP_E_CHUNK);
		}
		i++;
		if (st == CS_DONE) {
			*consumed = i;
			return (HP_OK);
		}
	}
	*consumed = i;
	return (HP_AGAIN);
}
