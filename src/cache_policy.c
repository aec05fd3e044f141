/*
 * cache_policy.c: RFC 9111 as a shared cache, plus RFC 5861 and RFC 9213,
 * over messages from the strict parser. Layer L1: libc only, no I/O, no
 * clock, no allocation. See cache_policy.h for the API and the decisions.
 */
#include <stdint.h>
#include <string.h>

#include "cache_policy.h"

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static int
is_ows(int c)
{
	return (c == ' ' || c == '\t');
}

static int
is_digit(int c)
{
	return (c >= '0' && c <= '9');
}

static int
is_tchar(int c)
{
	return ((http_chars[(unsigned char)c] & HCL_TCHAR) != 0);
}

/* Case-insensitive s[0..n) == tok. */
static int
ieq(const char *s, size_t n, const char *tok)
{
	size_t	 i;

	if (strlen(tok) != n)
		return (0);
	for (i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)tok[i]))
			return (0);
	return (1);
}

static int
ieqn(const char *a, size_t an, const char *b, size_t bn)
{
	size_t	 i;

	if (an != bn)
		return (0);
	for (i = 0; i < an; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return (0);
	return (1);
}

/* Index of the first field named name at or after index from, or -1. */
static int
field_find(const char *buf, const struct http_msg *m, const char *name,
    uint32_t from)
{
	size_t		 n = strlen(name);
	uint32_t	 i;

	/* Lengths first: most fields are ruled out without a compare. */
	for (i = from; i < m->nfields; i++)
		if (m->fields[i].name.len == n &&
		    http_span_eq(buf, m->fields[i].name, name))
			return ((int)i);
	return (-1);
}

static const char *
fval(const char *buf, const struct http_msg *m, int i, size_t *len)
{
	*len = m->fields[i].value.len;
	return (buf + m->fields[i].value.off);
}

/*
 * List iteration (RFC 9110 §5.6.1): the next member of s[*pos..len),
 * trimmed, quoted strings kept whole. Returns 1 with *mem and *mlen set (empty
 * members are skipped), 0 at the end.
 */
static int
list_next(const char *s, size_t len, size_t *pos, const char **mem,
    size_t *mlen)
{
	size_t	 i = *pos, start, end;
	int	 q;

	for (;;) {
		while (i < len && (is_ows(s[i]) || s[i] == ','))
			i++;
		if (i >= len) {
			*pos = i;
			return (0);
		}
		start = i;
		q = 0;
		while (i < len && (q || s[i] != ',')) {
			if (q && s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				q = !q;
			i++;
		}
		end = i;
		while (end > start && is_ows(s[end - 1]))
			end--;
		*pos = i;
		if (end > start) {
			*mem = s + start;
			*mlen = end - start;
			return (1);
		}
	}
}

/* delta-seconds (RFC 9111 §1.2.2): 1*DIGIT saturating at 2^31; -1 if not. */
static int64_t
parse_delta(const char *s, size_t n)
{
	int64_t	 v = 0;
	size_t	 i;

	if (n == 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return (-1);
		if (v < CACHE_DELTA_MAX)
			v = v * 10 + (s[i] - '0');
	}
	return (v > CACHE_DELTA_MAX ? CACHE_DELTA_MAX : v);
}

void
cache_opts_default(struct cache_opts *o)
{
	o->vane_cc_name = "Vane-Cache-Control";
	o->honour_cdn_cc = 1;
	o->heuristic_cap = 86400;
}

void
cc_init(struct cc_directives *d)
{
	memset(d, 0, sizeof(*d));
	d->max_stale = -1;
	d->swr = -1;
	d->sie = -1;
}

/* A directive's argument, classic or Structured Fields. */
enum { V_NONE, V_FALSE, V_INT, V_STR, V_OTHER };
struct dval {
	int		 type;
	int64_t		 num;
	const char	*str;
	size_t		 slen;
};

enum { DK_FLAG, DK_NUM, DK_LIST, DK_STALE };	/* argument kinds */

struct ddef {
	const char	*name;
	size_t		 len;	/* strlen(name): most names miss on it */
	uint32_t	 flag;
	int		 kind;	/* DK_LIST: flag or field-name list */
};

static const struct ddef ddefs[] = {
	{ "max-age", 7, CC_MAX_AGE, DK_NUM },
	{ "s-maxage", 8, CC_S_MAXAGE, DK_NUM },
	{ "no-cache", 8, CC_NO_CACHE, DK_LIST },
	{ "no-store", 8, CC_NO_STORE, DK_FLAG },
	{ "private", 7, CC_PRIVATE, DK_LIST },
	{ "public", 6, CC_PUBLIC, DK_FLAG },
	{ "must-revalidate", 15, CC_MUST_REVALIDATE, DK_FLAG },
	{ "proxy-revalidate", 16, CC_PROXY_REVALIDATE, DK_FLAG },
	{ "must-understand", 15, CC_MUST_UNDERSTAND, DK_FLAG },
	{ "no-transform", 12, CC_NO_TRANSFORM, DK_FLAG },
	{ "immutable", 9, CC_IMMUTABLE, DK_FLAG },
	{ "stale-while-revalidate", 22, CC_SWR, DK_NUM },
	{ "stale-if-error", 14, CC_SIE, DK_NUM },
	{ "only-if-cached", 14, CC_ONLY_IF_CACHED, DK_FLAG },
	{ "max-stale", 9, CC_MAX_STALE, DK_STALE },
	{ "min-fresh", 9, CC_MIN_FRESH, DK_NUM },
};

static int64_t *
numslot(struct cc_directives *d, uint32_t flag)
{
	switch (flag) {
	case CC_MAX_AGE:	return (&d->max_age);
	case CC_S_MAXAGE:	return (&d->s_maxage);
	case CC_SWR:		return (&d->swr);
	case CC_SIE:		return (&d->sie);
	case CC_MIN_FRESH:	return (&d->min_fresh);
	default:		return (&d->max_stale);
	}
}

/* no-cache or private: unqualified, or with a field-name list. */
static void
cc_apply_list(struct cc_directives *d, uint32_t flag, const struct dval *v,
    int last)
{
	uint32_t	 qf;

	qf = flag == CC_NO_CACHE ? CC_NO_CACHE_FIELDS : CC_PRIVATE_FIELDS;
	if (v->type == V_STR || (!last && v->type == V_INT)) {
		if (d->flags & qf)
			return;
		d->flags |= qf;
		if (qf == CC_NO_CACHE_FIELDS) {
			d->no_cache_fields = v->str;
			d->no_cache_fields_len = v->slen;
		} else {
			d->private_fields = v->str;
			d->private_fields_len = v->slen;
		}
	} else if (v->type == V_NONE || (!last && v->type == V_OTHER))
		/* A malformed qualifier: the unqualified form, the more
		 * restrictive (§4.2.1). */
		d->flags |= flag;
}

/*
 * Apply one directive. Classic syntax keeps the first occurrence
 * (RFC 9111 §4.2.1); a Structured Fields dictionary keeps the last
 * (RFC 8941 §4.2.2), so `last` clears what an earlier one set.
 */
static void
cc_apply(struct cc_directives *d, const char *name, size_t nlen,
    const struct dval *v, int last)
{
	const struct ddef	*dd = NULL;
	size_t			 i;

	for (i = 0; i < sizeof(ddefs) / sizeof(ddefs[0]); i++)
		if (ddefs[i].len == nlen && ieqn(name, nlen, ddefs[i].name,
		    ddefs[i].len)) {
			dd = &ddefs[i];
			break;
		}
	if (dd == NULL)
		return;		/* unknown: ignored (§5.2.3) */
	if (last) {
		d->flags &= ~dd->flag;
		if (dd->flag == CC_NO_CACHE)
			d->flags &= ~CC_NO_CACHE_FIELDS;
		if (dd->flag == CC_PRIVATE)
			d->flags &= ~CC_PRIVATE_FIELDS;
	}
	switch (dd->kind) {
	case DK_FLAG:
		/* Classic: an argument where none is defined is ignored,
		 * the directive counts. Targeted: only Boolean true. */
		if (!last || v->type == V_NONE)
			d->flags |= dd->flag;
		break;
	case DK_LIST:
		cc_apply_list(d, dd->flag, v, last);
		break;
	case DK_STALE:
		if (d->flags & CC_MAX_STALE)
			break;
		if (v->type == V_NONE) {
			d->flags |= CC_MAX_STALE;
			d->max_stale = -1;
		} else if (v->type == V_INT) {
			d->flags |= CC_MAX_STALE;
			d->max_stale = v->num;
		}
		break;
	default:
		if (d->flags & dd->flag)
			break;
		if (v->type == V_INT) {
			d->flags |= dd->flag;
			*numslot(d, dd->flag) = v->num;
		} else if (!last &&
		    (dd->flag == CC_MAX_AGE || dd->flag == CC_S_MAXAGE))
			/* §4.2.1: invalid freshness information: stale. */
			d->flags |= CC_INVALID_FRESHNESS;
		break;
	}
}

/*
 * Classic syntax (RFC 9111 §5.2): token [ "=" ( token / quoted-string ) ].
 * A quoted-string is not unescaped (the input is const): its inside is
 * kept raw, which is exact for numbers and field names, the only values
 * the directives vane knows take.
 */
void
cc_parse_value(struct cc_directives *d, const char *s, size_t len)
{
	size_t		 pos = 0, mlen, i, nlen;
	const char	*mem;
	struct dval	 v;

	while (list_next(s, len, &pos, &mem, &mlen)) {
		for (nlen = 0; nlen < mlen && is_tchar(mem[nlen]); nlen++)
			;
		if (nlen == 0)
			continue;
		memset(&v, 0, sizeof(v));
		i = nlen;
		if (i == mlen)
			v.type = V_NONE;
		else if (mem[i] != '=')
			continue;	/* malformed member: ignored */
		else {
			const char *a = mem + i + 1;
			size_t alen = mlen - i - 1;

			if (alen >= 2 && a[0] == '"' && a[alen - 1] == '"') {
				a++;
				alen -= 2;
			} else {
				size_t k;

				for (k = 0; k < alen && is_tchar(a[k]); k++)
					;
				if (k != alen || alen == 0) {
					/* not a token: an invalid value */
					v.type = V_OTHER;
					cc_apply(d, mem, nlen, &v, 0);
					continue;
				}
			}
			v.str = a;
			v.slen = alen;
			v.num = parse_delta(a, alen);
			v.type = v.num >= 0 ? V_INT : V_STR;
		}
		cc_apply(d, mem, nlen, &v, 0);
	}
}

/*
 * Structured Fields (RFC 8941) just enough for a Dictionary: keys, bare
 * items, inner lists and parameters, all validated; values kept as dval.
 */
static int
sf_key(const char *s, size_t len, size_t *i)
{
	size_t	 k = *i;

	if (k >= len || !((s[k] >= 'a' && s[k] <= 'z') || s[k] == '*'))
		return (-1);
	for (k++; k < len; k++) {
		char c = s[k];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_' ||
		    c == '-' || c == '.' || c == '*'))
			break;
	}
	*i = k;
	return (0);
}

/*
 * sf-integer (at most 15 digits) or sf-decimal (at most 12 digits, a dot,
 * 1 to 3 digits), RFC 8941 §4.2.4. Only a non-negative integer is a
 * delta-seconds (V_INT, saturated at 2^31); the rest are V_OTHER.
 */
static int
sf_number(const char *s, size_t len, size_t *i, struct dval *v)
{
	size_t	 k = *i, ni = 0, nf = 0;
	int	 neg = 0, dot = 0;

	if (s[k] == '-') {
		neg = 1;
		k++;
	}
	v->num = 0;
	for (; k < len; k++) {
		if (s[k] == '.' && !dot) {
			if (ni == 0 || ni > 12)
				return (-1);
			dot = 1;
		} else if (!is_digit(s[k]))
			break;
		else if (dot)
			nf++;
		else {
			if (v->num < CACHE_DELTA_MAX)
				v->num = v->num * 10 + (s[k] - '0');
			ni++;
		}
	}
	if (ni == 0 || ni > 15 || (dot && (nf == 0 || nf > 3)))
		return (-1);
	if (v->num > CACHE_DELTA_MAX)
		v->num = CACHE_DELTA_MAX;
	v->type = (neg || dot) ? V_OTHER : V_INT;
	*i = k;
	return (0);
}

static int
sf_bare(const char *s, size_t len, size_t *i, struct dval *v)
{
	size_t	 k = *i, st;

	if (k >= len)
		return (-1);
	if (s[k] == '-' || is_digit(s[k])) {
		if (sf_number(s, len, &k, v) == -1)
			return (-1);
	} else if (s[k] == '"') {
		st = ++k;
		for (; k < len && s[k] != '"'; k++) {
			if (s[k] == '\\') {
				if (k + 1 >= len || (s[k + 1] != '"' &&
				    s[k + 1] != '\\'))
					return (-1);
				k++;
			} else if ((unsigned char)s[k] < 0x20 ||
			    (unsigned char)s[k] >= 0x7f)
				return (-1);
		}
		if (k >= len)
			return (-1);
		v->type = V_STR;
		v->str = s + st;
		v->slen = k - st;
		k++;
	} else if (s[k] == '*' || (lower(s[k]) >= 'a' && lower(s[k]) <= 'z')) {
		for (k++; k < len && (is_tchar(s[k]) || s[k] == ':' ||
		    s[k] == '/'); k++)
			;
		v->type = V_OTHER;
	} else if (s[k] == ':') {
		for (k++; k < len && s[k] != ':'; k++)
			if (!((lower(s[k]) >= 'a' && lower(s[k]) <= 'z') ||
			    is_digit(s[k]) || s[k] == '+' || s[k] == '/' ||
			    s[k] == '='))
				return (-1);
		if (k >= len)
			return (-1);
		k++;
		v->type = V_OTHER;
	} else if (s[k] == '?') {
		if (k + 1 >= len || (s[k + 1] != '0' && s[k + 1] != '1'))
			return (-1);
		v->type = s[k + 1] == '1' ? V_NONE : V_FALSE;
		k += 2;
	} else
		return (-1);
	*i = k;
	return (0);
}

static int
sf_params(const char *s, size_t len, size_t *i)
{
	struct dval	 pv;

	while (*i < len && s[*i] == ';') {
		(*i)++;
		while (*i < len && s[*i] == ' ')
			(*i)++;
		if (sf_key(s, len, i) == -1)
			return (-1);
		if (*i < len && s[*i] == '=') {
			(*i)++;
			if (sf_bare(s, len, i, &pv) == -1)
				return (-1);
		}
	}
	return (0);
}

/* Item or inner list; an inner list becomes V_STR over its raw text. */
static int
sf_member(const char *s, size_t len, size_t *i, struct dval *v)
{
	struct dval	 iv;
	size_t		 st;

	if (*i < len && s[*i] == '(') {
		st = ++(*i);
		for (;;) {
			while (*i < len && s[*i] == ' ')
				(*i)++;
			if (*i >= len)
				return (-1);
			if (s[*i] == ')')
				break;
			if (sf_bare(s, len, i, &iv) == -1 ||
			    sf_params(s, len, i) == -1)
				return (-1);
			if (*i < len && s[*i] != ' ' && s[*i] != ')')
				return (-1);
		}
		v->type = V_STR;
		v->str = s + st;
		v->slen = *i - st;
		(*i)++;
	} else if (sf_bare(s, len, i, v) == -1)
		return (-1);
	return (sf_params(s, len, i));
}

/* One field line's members added to d (last wins); -1 if invalid. */
static int
sf_dict(struct cc_directives *d, const char *s, size_t len)
{
	size_t		 i = 0, ks, kend;
	struct dval	 v;

	while (i < len && s[i] == ' ')
		i++;
	while (len > i && is_ows(s[len - 1]))
		len--;
	if (i >= len)
		return (-1);	/* empty: ignored (RFC 9213 §2.1) */
	for (;;) {
		ks = i;
		if (sf_key(s, len, &i) == -1)
			return (-1);
		kend = i;
		memset(&v, 0, sizeof(v));
		if (i < len && s[i] == '=') {
			i++;
			if (sf_member(s, len, &i, &v) == -1)
				return (-1);
		} else {
			v.type = V_NONE;
			if (sf_params(s, len, &i) == -1)
				return (-1);
		}
		cc_apply(d, s + ks, kend - ks, &v, 1);
		while (i < len && is_ows(s[i]))
			i++;
		if (i >= len)
			return (0);
		if (s[i] != ',')
			return (-1);
		i++;
		while (i < len && is_ows(s[i]))
			i++;
		if (i >= len)
			return (-1);	/* trailing comma */
	}
}

int
cc_parse_targeted(struct cc_directives *d, const char *s, size_t len)
{
	cc_init(d);
	return (sf_dict(d, s, len));
}

static void
cc_combine(struct cc_directives *d, const char *buf, const struct http_msg *m,
    const char *name)
{
	const char	*v;
	size_t		 vl;
	int		 i;

	for (i = field_find(buf, m, name, 0); i != -1;
	    i = field_find(buf, m, name, (uint32_t)i + 1)) {
		v = fval(buf, m, i, &vl);
		cc_parse_value(d, v, vl);
	}
}

/*
 * RFC 9213 §2.1: a targeted field's lines combined, parsed as one
 * dictionary (RFC 8941 §4.2: lines join with ","). Parsing line after line
 * into the same dictionary is the same thing: a member never spans lines,
 * and an empty line would make an empty member, an error either way.
 */
static int
targeted(struct cc_directives *d, const char *buf, const struct http_msg *m,
    const char *name)
{
	const char	*v;
	size_t		 vl;
	int		 i;

	cc_init(d);
	if ((i = field_find(buf, m, name, 0)) == -1)
		return (-1);
	for (; i != -1; i = field_find(buf, m, name, (uint32_t)i + 1)) {
		v = fval(buf, m, i, &vl);
		if (sf_dict(d, v, vl) == -1)
			return (-1);
	}
	return (0);
}

enum cache_cc_source
cache_response_cc(struct cc_directives *d, const char *buf,
    const struct http_msg *resp, const struct cache_opts *o)
{
	if (o != NULL && o->vane_cc_name != NULL &&
	    targeted(d, buf, resp, o->vane_cc_name) == 0)
		return (CACHE_CC_VANE);
	if ((o == NULL || o->honour_cdn_cc) &&
	    targeted(d, buf, resp, "CDN-Cache-Control") == 0)
		return (CACHE_CC_CDN);
	cc_init(d);
	if (field_find(buf, resp, "Cache-Control", 0) == -1)
		return (CACHE_CC_NONE);
	cc_combine(d, buf, resp, "Cache-Control");
	return (CACHE_CC_STANDARD);
}

void
cache_request_cc(struct cc_directives *d, const char *buf,
    const struct http_msg *req)
{
	const char	*v, *mem;
	size_t		 vl, pos, ml;
	int		 i;

	cc_init(d);
	if (field_find(buf, req, "Cache-Control", 0) != -1) {
		cc_combine(d, buf, req, "Cache-Control");
		return;
	}
	/* §5.4: Pragma: no-cache only when there is no Cache-Control. */
	for (i = field_find(buf, req, "Pragma", 0); i != -1;
	    i = field_find(buf, req, "Pragma", (uint32_t)i + 1)) {
		v = fval(buf, req, i, &vl);
		pos = 0;
		while (list_next(v, vl, &pos, &mem, &ml))
			if (ieq(mem, ml, "no-cache"))
				d->flags |= CC_NO_CACHE | CC_PRAGMA_NO_CACHE;
	}
}

int
cache_strip_field(const char *buf, const struct http_field *f,
    const struct cache_opts *o)
{
	return (o != NULL && o->vane_cc_name != NULL &&
	    f->name.len == strlen(o->vane_cc_name) &&
	    http_span_eq(buf, f->name, o->vane_cc_name));
}

/*
 * Dates.
 */
static const char *const wkday[] = { "Mon", "Tue", "Wed", "Thu", "Fri",
    "Sat", "Sun" };
static const char *const wkday_l[] = { "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

static int
mdays(int64_t y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (29);
	return (md[m - 1]);
}

/* The proleptic Gregorian year of t (H. Hinnant's civil_from_days). */
static int64_t
year_of(int64_t t)
{
	int64_t	 z = t / 86400 + 719468, era, doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return (yoe + era * 400 + (mp >= 10));
}

static int
num(const char *s, int n, int *out)
{
	int	 i, v = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

static int
month(const char *s)
{
	int	 i;

	for (i = 0; i < 12; i++)
		if (ieqn(s, 3, months[i], 3))
			return (i + 1);
	return (0);
}

/* "HH:MM:SS" */
static int
hms(const char *s, int *h, int *mi, int *se)
{
	if (s[2] != ':' || s[5] != ':' || num(s, 2, h) == -1 ||
	    num(s + 3, 2, mi) == -1 || num(s + 6, 2, se) == -1)
		return (-1);
	return (*h < 24 && *mi < 60 && *se <= 60 ? 0 : -1);
}

static int64_t
mktime_utc(int64_t y, int mo, int d, int h, int mi, int se)
{
	if (mo < 1 || d < 1 || d > mdays(y, mo) || y < 1970)
		return (-1);
	return (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se);
}

static int
wkday_is(const char *s, size_t n, int longform)
{
	int	 i;

	for (i = 0; i < 7; i++)
		if (longform ? ieq(s, n, wkday_l[i]) : ieq(s, n, wkday[i]))
			return (1);
	return (0);
}

/*
 * Day names, month names and "GMT" compare without case: "Although all
 * date formats are specified to be case-sensitive, a cache recipient
 * SHOULD match the field value case-insensitively" (RFC 9111 §4.2).
 */
int64_t
cache_parse_http_date(const char *s, size_t len, int64_t now)
{
	int		 y, mo, d, h, mi, se;
	const char	*c;
	size_t		 wl;

	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (len == 29 && s[3] == ',' && wkday_is(s, 3, 0)) {
		if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
		    s[16] != ' ' || !ieqn(s + 25, 4, " GMT", 4) ||
		    num(s + 5, 2, &d) == -1 || (mo = month(s + 8)) == 0 ||
		    num(s + 12, 4, &y) == -1 || hms(s + 17, &h, &mi, &se) == -1)
			return (-1);
		return (mktime_utc(y, mo, d, h, mi, se));
	}
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len == 24 && s[3] == ' ' && wkday_is(s, 3, 0)) {
		if ((mo = month(s + 4)) == 0 || s[7] != ' ' || s[10] != ' ' ||
		    s[19] != ' ' || num(s + 20, 4, &y) == -1 ||
		    hms(s + 11, &h, &mi, &se) == -1)
			return (-1);
		if (s[8] == ' ') {
			if (num(s + 9, 1, &d) == -1)
				return (-1);
		} else if (num(s + 8, 2, &d) == -1)
			return (-1);
		return (mktime_utc(y, mo, d, h, mi, se));
	}
	/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
	c = memchr(s, ',', len);
	if (c == NULL)
		return (-1);
	wl = (size_t)(c - s);
	if (!wkday_is(s, wl, 1) || len != wl + 24)
		return (-1);
	c++;
	if (c[0] != ' ' || c[3] != '-' || c[7] != '-' || c[10] != ' ' ||
	    !ieqn(c + 19, 4, " GMT", 4) || num(c + 1, 2, &d) == -1 ||
	    (mo = month(c + 4)) == 0 || num(c + 8, 2, &y) == -1 ||
	    hms(c + 11, &h, &mi, &se) == -1)
		return (-1);
	{
		/* §5.6.7: more than 50 years ahead means the past century. */
		int64_t nowy;

		if (now <= 0)
			now = 946684800;	/* no clock given: 2000 */
		nowy = year_of(now);
		int64_t full = nowy - nowy % 100 + y;

		if (full > nowy + 50)
			full -= 100;
		return (mktime_utc(full, mo, d, h, mi, se));
	}
}

void
cache_format_http_date(char *out, int64_t t)
{
	int64_t	 days = t / 86400, z, era, doe, yoe, doy, mp, y, sec;
	int	 m, d, wd;

	if (t < 0)
		days = 0, t = 0;
	sec = t % 86400;
	wd = (int)((days + 3) % 7);	/* 1970-01-01 was a Thursday */
	z = days + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	memcpy(out, wkday[wd], 3);
	out[3] = ',';
	out[4] = ' ';
	out[5] = (char)('0' + d / 10);
	out[6] = (char)('0' + d % 10);
	out[7] = ' ';
	memcpy(out + 8, months[m - 1], 3);
	out[11] = ' ';
	out[12] = (char)('0' + (y / 1000) % 10);
	out[13] = (char)('0' + (y / 100) % 10);
	out[14] = (char)('0' + (y / 10) % 10);
	out[15] = (char)('0' + y % 10);
	out[16] = ' ';
	out[17] = (char)('0' + (int)(sec / 36000));
	out[18] = (char)('0' + (int)(sec / 3600) % 10);
	out[19] = ':';
	out[20] = (char)('0' + (int)(sec % 3600 / 600));
	out[21] = (char)('0' + (int)(sec % 3600 / 60) % 10);
	out[22] = ':';
	out[23] = (char)('0' + (int)(sec % 60 / 10));
	out[24] = (char)('0' + (int)(sec % 10));
	memcpy(out + 25, " GMT", 5);
}

/* The first field named name parsed as an HTTP-date, -1 if none/invalid. */
static int64_t
date_field(const char *buf, const struct http_msg *m, const char *name,
    int64_t now, int *present)
{
	const char	*v;
	size_t		 vl;
	int		 i;

	i = field_find(buf, m, name, 0);
	if (present != NULL)
		*present = i != -1;
	if (i == -1)
		return (-1);
	v = fval(buf, m, i, &vl);
	return (cache_parse_http_date(v, vl, now));
}

int64_t
cache_age_value(const char *buf, const struct http_msg *m)
{
	const char	*v, *mem;
	size_t		 vl, pos = 0, ml;
	int		 i;

	i = field_find(buf, m, "Age", 0);
	if (i == -1)
		return (-1);
	v = fval(buf, m, i, &vl);
	if (!list_next(v, vl, &pos, &mem, &ml))
		return (-1);
	return (parse_delta(mem, ml));
}

/*
 * Storability (RFC 9111 §3).
 */
static const char *const reason_str[] = {
	"", "method", "status", "no-store", "private", "authorization",
	"set-cookie", "vary-star", "incomplete", "no-freshness",
	"must-understand"
};

const char *
cache_reason_str(enum cache_reason r)
{
	if ((unsigned)r >= sizeof(reason_str) / sizeof(reason_str[0]))
		return ("unknown");
	return (reason_str[r]);
}

int
cache_status_heuristic(int status)
{
	switch (status) {
	case 200: case 203: case 204: case 206: case 300: case 301:
	case 308: case 404: case 405: case 410: case 414: case 501:
		return (1);
	default:
		return (0);
	}
}

/* Statuses whose caching rules vane implements (RFC 9110 §15). */
static int
status_understood(int s)
{
	return ((s >= 200 && s <= 206) || (s >= 300 && s <= 305) ||
	    s == 307 || s == 308 || (s >= 400 && s <= 417) || s == 421 ||
	    s == 422 || s == 426 || (s >= 500 && s <= 505));
}

static int
has_field_id(const struct http_msg *m, int id)
{
	uint32_t	 i;

	for (i = 0; i < m->nfields; i++)
		if (m->fields[i].id == id)
			return (1);
	return (0);
}

enum cache_reason
cache_storable(const char *reqbuf, const struct http_msg *req,
    const char *respbuf, const struct http_msg *resp, int complete,
    int64_t now, const struct cache_opts *o)
{
	struct cc_directives	 rq, rs;
	struct cache_meta	 cm;
	enum cache_cc_source	 src;
	int			 explicit;

	if (req->method != HM_GET)
		return (CACHE_R_METHOD);	/* HEAD: see cache_policy.h */
	if (resp->status < 200 || resp->status == 206 || resp->status == 304)
		return (CACHE_R_STATUS);
	cache_request_cc(&rq, reqbuf, req);
	if (rq.flags & CC_NO_STORE)
		return (CACHE_R_NO_STORE);	/* §5.2.1.5 */
	src = cache_response_cc(&rs, respbuf, resp, o);
	if (rs.flags & CC_MUST_UNDERSTAND) {
		/* §5.2.2.3: understood status: no-store is ignored. */
		if (!status_understood(resp->status))
			return (CACHE_R_MUST_UNDERSTAND);
	} else if (rs.flags & CC_NO_STORE)
		return (CACHE_R_NO_STORE);
	if (rs.flags & CC_PRIVATE)
		return (CACHE_R_PRIVATE);	/* §5.2.2.7, shared cache */
	if (has_field_id(req, HH_AUTHORIZATION) && !(rs.flags & (CC_PUBLIC |
	    CC_S_MAXAGE | CC_MUST_REVALIDATE)))
		return (CACHE_R_AUTHORIZATION);	/* §3.5 */
	explicit = (rs.flags & (CC_MAX_AGE | CC_S_MAXAGE | CC_PUBLIC)) ||
	    ((src == CACHE_CC_STANDARD || src == CACHE_CC_NONE) &&
	    field_find(respbuf, resp, "Expires", 0) != -1);
	if (!cache_status_heuristic(resp->status) && !explicit)
		return (CACHE_R_STATUS);	/* §3 */
	if (field_find(respbuf, resp, "Set-Cookie", 0) != -1)
		return (CACHE_R_SET_COOKIE);
	if (cache_vary_star(respbuf, resp))
		return (CACHE_R_VARY_STAR);	/* §4.1: never reusable */
	if (!complete)
		return (CACHE_R_INCOMPLETE);	/* §3.3 */
	cache_meta_fill(&cm, respbuf, resp, now, now, o);
	if (cm.freshness_lifetime == 0 && cm.sie < 0 &&
	    !(cm.flags & (CM_HAS_ETAG | CM_HAS_LAST_MODIFIED)))
		return (CACHE_R_NO_FRESHNESS);
	return (CACHE_OK);
}

/* Is name[0..n) in a field-name list (commas, spaces, quotes, parens)? */
static int
in_name_list(const char *list, size_t len, const char *name, size_t n)
{
	size_t	 i = 0, st;

	while (i < len) {
		while (i < len && (list[i] == ',' || is_ows(list[i]) ||
		    list[i] == '"' || list[i] == '(' || list[i] == ')'))
			i++;
		st = i;
		while (i < len && is_tchar(list[i]) && list[i] != '"')
			i++;
		if (i == st) {
			i++;
			continue;
		}
		if (ieqn(list + st, i - st, name, n))
			return (1);
	}
	return (0);
}

static int
proxy_auth_field(const char *buf, const struct http_field *f)
{
	return (http_span_eq(buf, f->name, "Proxy-Authenticate") ||
	    http_span_eq(buf, f->name, "Proxy-Authentication-Info") ||
	    http_span_eq(buf, f->name, "Proxy-Authorization"));
}

int
cache_store_field(const char *buf, const struct http_field *f,
    const struct cc_directives *d)
{
	const char	*n = buf + f->name.off;

	if (f->hop || proxy_auth_field(buf, f))
		return (0);	/* §3.1 */
	if ((d->flags & CC_PRIVATE_FIELDS) && in_name_list(d->private_fields,
	    d->private_fields_len, n, f->name.len))
		return (0);	/* §5.2.2.7 */
	if ((d->flags & CC_NO_CACHE_FIELDS) && in_name_list(d->no_cache_fields,
	    d->no_cache_fields_len, n, f->name.len))
		return (0);	/* §5.2.2.4: never sent unvalidated */
	return (1);
}

/*
 * Freshness (§4.2).
 */
static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t	 r = a + b;

	return (r > CACHE_DELTA_MAX ? CACHE_DELTA_MAX : r);
}

static int64_t
lifetime(const struct cc_directives *d, enum cache_cc_source src,
    const char *buf, const struct http_msg *resp, int64_t date, int64_t lm,
    const struct cache_opts *o, uint32_t *flags)
{
	int64_t	 exp, h, cap;
	int	 present;

	/* §4.2.1: s-maxage, then max-age, then Expires - Date. */
	if (d->flags & CC_S_MAXAGE)
		return (d->s_maxage);
	if (d->flags & CC_INVALID_FRESHNESS)
		return (0);
	if (d->flags & CC_MAX_AGE)
		return (d->max_age);
	if (src == CACHE_CC_STANDARD || src == CACHE_CC_NONE) {
		exp = date_field(buf, resp, "Expires", date, &present);
		if (present) {
			/* §5.3: an invalid Expires ("0") is in the past. */
			if (exp == -1 || exp <= date)
				return (0);
			return (exp - date > CACHE_DELTA_MAX ?
			    CACHE_DELTA_MAX : exp - date);
		}
	}
	/* §4.2.2: heuristic, only without explicit expiration. */
	if (lm == -1 || !(cache_status_heuristic(resp->status) ||
	    (d->flags & CC_PUBLIC)))
		return (0);
	*flags |= CM_HEURISTIC;
	cap = o != NULL ? o->heuristic_cap : 86400;
	h = lm < date ? (date - lm) / 10 : 0;
	return (h > cap ? cap : h);
}

void
cache_meta_fill(struct cache_meta *cm, const char *respbuf,
    const struct http_msg *resp, int64_t request_time,
    int64_t response_time, const struct cache_opts *o)
{
	struct cc_directives	 d;
	int64_t			 apparent, delay, corrected;

	memset(cm, 0, sizeof(*cm));
	cm->cc_source = cache_response_cc(&d, respbuf, resp, o);
	cm->status = resp->status;
	cm->request_time = request_time;
	cm->response_time = response_time;
	cm->date_value = date_field(respbuf, resp, "Date", response_time, NULL);
	if (cm->date_value == -1)
		cm->date_value = response_time;	/* RFC 9110 §6.6.1 */
	cm->age_value = cache_age_value(respbuf, resp);
	if (cm->age_value == -1)
		cm->age_value = 0;
	cm->last_modified = date_field(respbuf, resp, "Last-Modified",
	    response_time, NULL);
	/* §4.2.3 */
	apparent = response_time - cm->date_value;
	if (apparent < 0)
		apparent = 0;
	delay = response_time - request_time;
	if (delay < 0)
		delay = 0;
	corrected = sat_add(cm->age_value, delay);
	cm->corrected_initial_age = apparent > corrected ? apparent : corrected;
	cm->freshness_lifetime = lifetime(&d, cm->cc_source, respbuf, resp,
	    cm->date_value, cm->last_modified, o, &cm->flags);
	cm->swr = (d.flags & CC_SWR) ? d.swr : -1;
	cm->sie = (d.flags & CC_SIE) ? d.sie : -1;
	if (d.flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE | CC_S_MAXAGE))
		cm->flags |= CM_MUST_REVALIDATE;	/* §5.2.2.2, .8, .10 */
	if (d.flags & CC_NO_CACHE)
		cm->flags |= CM_NO_CACHE;
	if (d.flags & CC_IMMUTABLE)
		cm->flags |= CM_IMMUTABLE;
	if (field_find(respbuf, resp, "ETag", 0) != -1)
		cm->flags |= CM_HAS_ETAG;
	if (cm->last_modified != -1)
		cm->flags |= CM_HAS_LAST_MODIFIED;
}

int64_t
cache_current_age(const struct cache_meta *cm, int64_t now)
{
	int64_t	 resident = now - cm->response_time;

	if (resident < 0)
		resident = 0;
	return (sat_add(cm->corrected_initial_age, resident));
}

int
cache_is_fresh(const struct cache_meta *cm, int64_t now)
{
	return (cm->freshness_lifetime > cache_current_age(cm, now));
}

int64_t
cache_ttl(const struct cache_meta *cm, int64_t now)
{
	int64_t	 left, extra = 0;

	left = cm->freshness_lifetime - cache_current_age(cm, now);
	if (!(cm->flags & (CM_MUST_REVALIDATE | CM_NO_CACHE))) {
		if (cm->swr > extra)
			extra = cm->swr;
		if (cm->sie > extra)
			extra = cm->sie;
	}
	left += extra;
	return (left > 0 ? left : 0);
}

int64_t
cache_keep_for(const struct cache_meta *cm, int64_t now)
{
	int64_t	 ttl = cache_ttl(cm, now);

	if (cm->flags & (CM_HAS_ETAG | CM_HAS_LAST_MODIFIED))
		ttl += CACHE_KEEP_VALIDATABLE;
	return (ttl);
}

/*
 * Serving (§4.2.4, §5.2.1, RFC 5861).
 */
void
cache_decide(struct cache_decision *d, const struct cache_meta *cm,
    const char *reqbuf, const struct http_msg *req, int64_t now)
{
	struct cc_directives	 rq;
	int64_t			 age, life = cm->freshness_lifetime, sie;
	int			 fresh, validate = 0, stale_ok;

	cache_request_cc(&rq, reqbuf, req);
	age = cache_current_age(cm, now);
	fresh = life > age;
	memset(d, 0, sizeof(*d));
	d->age = age;
	d->staleness = fresh ? 0 : age - life;
	if ((rq.flags & CC_NO_CACHE) || (cm->flags & CM_NO_CACHE))
		validate = 1;		/* §5.2.1.4, §5.2.2.4, §5.4 */
	if ((rq.flags & CC_MAX_AGE) && age > rq.max_age)
		validate = 1;		/* §5.2.1.1 */
	if (fresh && (rq.flags & CC_MIN_FRESH) && life - age < rq.min_fresh)
		validate = 1;		/* §5.2.1.3 */
	stale_ok = !(cm->flags & (CM_MUST_REVALIDATE | CM_NO_CACHE));
	if (!validate && fresh)
		d->what = CACHE_SERVE_FRESH;
	else if (!validate && stale_ok && (rq.flags & CC_MAX_STALE) &&
	    (rq.max_stale == -1 || d->staleness <= rq.max_stale))
		d->what = CACHE_SERVE_STALE;	/* §5.2.1.2 */
	else if (!validate && stale_ok && cm->swr >= 0 &&
	    d->staleness <= cm->swr)
		d->what = CACHE_SERVE_STALE_REVALIDATE;	/* RFC 5861 §3 */
	else
		d->what = CACHE_SERVE_VALIDATE;
	if (d->what == CACHE_SERVE_VALIDATE) {
		/* RFC 5861 §4, in the response or the request. */
		sie = cm->sie;
		if ((rq.flags & CC_SIE) && rq.sie > sie)
			sie = rq.sie;
		d->stale_if_error = stale_ok && sie >= 0 &&
		    d->staleness <= sie;
		if (rq.flags & CC_ONLY_IF_CACHED)
			d->what = CACHE_SERVE_GATEWAY_TIMEOUT;	/* §5.2.1.7 */
	}
}

/*
 * Validation (§4.3) and conditionals (RFC 9110 §13).
 */

/* An entity-tag: [W/] DQUOTE *etagc DQUOTE. Returns the opaque part. */
static int
etag_parse(const char *s, size_t n, int *weak, const char **op, size_t *ol)
{
	size_t	 i;

	*weak = 0;
	if (n >= 2 && s[0] == 'W' && s[1] == '/') {
		*weak = 1;
		s += 2;
		n -= 2;
	}
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return (-1);
	for (i = 1; i + 1 < n; i++)
		if (s[i] == '"' || (unsigned char)s[i] < 0x21 || s[i] == 0x7f)
			return (-1);
	*op = s + 1;
	*ol = n - 2;
	return (0);
}

/* RFC 9110 §8.8.3.2: the opaque tags match; strong: neither is weak. */
static int
etag_eq(const char *a, size_t alen, const char *b, size_t blen, int strong)
{
	const char	*ao, *bo;
	size_t		 al, bl;
	int		 aw, bw;

	if (etag_parse(a, alen, &aw, &ao, &al) == -1 ||
	    etag_parse(b, blen, &bw, &bo, &bl) == -1)
		return (0);
	if (strong && (aw || bw))
		return (0);
	return (al == bl && memcmp(ao, bo, al) == 0);
}

int
cache_etag_weak_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return (etag_eq(a, alen, b, blen, 0));
}

int
cache_etag_strong_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return (etag_eq(a, alen, b, blen, 1));
}

static int
put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (n > cap - *pos)
		return (-1);
	memcpy(out + *pos, s, n);
	*pos += n;
	return (0);
}

int
cache_conditional(char *out, size_t cap, const char *storedbuf,
    const struct http_msg *stored)
{
	const char	*v, *hdr;
	size_t		 vl, pos = 0;
	int		 i;

	if ((i = field_find(storedbuf, stored, "ETag", 0)) != -1)
		hdr = "If-None-Match: ";
	else if ((i = field_find(storedbuf, stored, "Last-Modified", 0)) != -1)
		hdr = "If-Modified-Since: ";
	else
		return (0);
	v = fval(storedbuf, stored, i, &vl);
	if (put(out, cap, &pos, hdr, strlen(hdr)) == -1 ||
	    put(out, cap, &pos, v, vl) == -1 ||
	    put(out, cap, &pos, "\r\n", 2) == -1 || pos > INT32_MAX)
		return (-1);
	return ((int)pos);
}

int
cache_refresh_request(char *out, size_t cap, const char *reqbuf,
    const struct http_msg *req)
{
	static const char *const drop[] = {
		"if-none-match", "if-modified-since", "if-match",
		"if-unmodified-since", "if-range", "range", "expect",
	};
	const struct http_field	*f;
	size_t			 pos = 0, k;
	uint32_t		 i;

	if (put(out, cap, &pos, "GET ", 4) == -1 ||
	    put(out, cap, &pos, reqbuf + req->target.off,
	    req->target.len) == -1 ||
	    put(out, cap, &pos, req->version >= 11 ? " HTTP/1.1\r\n" :
	    " HTTP/1.0\r\n", 11) == -1)
		return (-1);
	for (i = 0; i < req->nfields; i++) {
		f = &req->fields[i];
		for (k = 0; k < sizeof(drop) / sizeof(drop[0]); k++)
			if (ieq(reqbuf + f->name.off, f->name.len, drop[k]))
				break;
		if (k < sizeof(drop) / sizeof(drop[0]))
			continue;
		if (put(out, cap, &pos, reqbuf + f->name.off,
		    f->name.len) == -1 ||
		    put(out, cap, &pos, ": ", 2) == -1 ||
		    put(out, cap, &pos, reqbuf + f->value.off,
		    f->value.len) == -1 ||
		    put(out, cap, &pos, "\r\n", 2) == -1)
			return (-1);
	}
	if (put(out, cap, &pos, "\r\n", 2) == -1 || pos > INT32_MAX)
		return (-1);
	return ((int)pos);
}

/* The first ETag of m, parsed; 0 if there is none or it is invalid. */
static int
etag_of(const char *buf, const struct http_msg *m, const char **tag,
    size_t *tl, int *weak)
{
	const char	*o;
	size_t		 ol;
	int		 i;

	if ((i = field_find(buf, m, "ETag", 0)) == -1)
		return (0);
	*tag = fval(buf, m, i, tl);
	return (etag_parse(*tag, *tl, weak, &o, &ol) == 0);
}

int
cache_304_selects(const char *storedbuf, const struct http_msg *stored,
    const char *buf304, const struct http_msg *m304)
{
	const char	*a, *b;
	size_t		 al, bl;
	int		 aw, bw, has_lm, s_etag, s_lm;
	int64_t		 t1, t2;

	s_etag = field_find(storedbuf, stored, "ETag", 0) != -1;
	t2 = date_field(storedbuf, stored, "Last-Modified", 0, &s_lm);
	t1 = date_field(buf304, m304, "Last-Modified", 0, &has_lm);
	if (etag_of(buf304, m304, &a, &al, &aw)) {
		if (!etag_of(storedbuf, stored, &b, &bl, &bw))
			return (0);
		if (!aw)	/* a strong validator: strong match only */
			return (cache_etag_strong_eq(a, al, b, bl));
		if (!cache_etag_weak_eq(a, al, b, bl))
			return (0);
	} else if (field_find(buf304, m304, "ETag", 0) != -1)
		return (0);	/* an invalid tag identifies nothing */
	if (has_lm)		/* a weak validator too (RFC 9110 §8.8.2.2) */
		return (t1 != -1 && t1 == t2);
	if (field_find(buf304, m304, "ETag", 0) != -1)
		return (1);
	/* No validator at all: only a stored response without one. */
	return (!s_etag && !s_lm);
}

int
cache_304_selects_own(const char *storedbuf, const struct http_msg *stored,
    const char *buf304, const struct http_msg *m304)
{
	if (cache_304_selects(storedbuf, stored, buf304, m304))
		return (1);
	/* No validator at all: it can only answer the ones vane sent. */
	return (field_find(buf304, m304, "ETag", 0) == -1 &&
	    field_find(buf304, m304, "Last-Modified", 0) == -1);
}

/*
 * RFC 9111 §4.3.5: a 200 to a HEAD updates the stored GET response when
 * every validator it carries matches and its Content-Length, if any,
 * equals the stored body's length; otherwise the stored one is stale.
 */
int
cache_head_updates(const char *storedbuf, const struct http_msg *stored,
    uint64_t stored_len, const char *headbuf, const struct http_msg *head)
{
	const char	*a, *b;
	size_t		 al, bl;
	int		 aw, bw, has;

	if (head->status != 200)
		return (-1);
	if (field_find(headbuf, head, "ETag", 0) != -1) {
		if (!etag_of(headbuf, head, &a, &al, &aw) ||
		    !etag_of(storedbuf, stored, &b, &bl, &bw) || aw != bw ||
		    !cache_etag_weak_eq(a, al, b, bl))
			return (0);
	}
	if (date_field(headbuf, head, "Last-Modified", 0, &has) !=
	    date_field(storedbuf, stored, "Last-Modified", 0, NULL) && has)
		return (0);
	if (head->has_length && head->content_length != stored_len)
		return (0);
	return (1);
}

int
cache_304_field_updates(const char *buf, const struct http_field *f)
{
	if (f->id == HH_CONTENT_LENGTH || f->hop || proxy_auth_field(buf, f))
		return (0);	/* §3.2 */
	return (1);
}

int
cache_not_modified(const char *reqbuf, const struct http_msg *req,
    const char *storedbuf, const struct http_msg *stored)
{
	const char	*v, *mem, *tag = NULL;
	size_t		 vl, pos, ml, tl = 0;
	int		 i, j;
	int64_t		 ims, lm;

	if (req->method != HM_GET && req->method != HM_HEAD)
		return (0);
	/* RFC 9110 §13.2.1: preconditions only where the answer is 2xx. */
	if (stored->status < 200 || stored->status > 299)
		return (0);
	if ((j = field_find(storedbuf, stored, "ETag", 0)) != -1)
		tag = fval(storedbuf, stored, j, &tl);
	i = field_find(reqbuf, req, "If-None-Match", 0);
	if (i != -1) {
		/* RFC 9110 §13.1.2: weak comparison; "*" matches. */
		for (; i != -1; i = field_find(reqbuf, req, "If-None-Match",
		    (uint32_t)i + 1)) {
			v = fval(reqbuf, req, i, &vl);
			pos = 0;
			while (list_next(v, vl, &pos, &mem, &ml)) {
				if (ml == 1 && mem[0] == '*')
					return (1);
				if (tag != NULL &&
				    cache_etag_weak_eq(mem, ml, tag, tl))
					return (1);
			}
		}
		return (0);
	}
	/* §13.1.3: only without If-None-Match; invalid dates ignored. */
	ims = date_field(reqbuf, req, "If-Modified-Since", 0, NULL);
	if (ims == -1)
		return (0);
	lm = date_field(storedbuf, stored, "Last-Modified", 0, NULL);
	if (lm == -1)
		lm = date_field(storedbuf, stored, "Date", 0, NULL);
	return (lm != -1 && lm <= ims);
}

/* Decimal digits s[0..n), n >= 1, without overflow; -1 otherwise. */
static int
u64_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (n == 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]) || v > (UINT64_MAX - 9) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return (0);
}

int
cache_range(const char *reqbuf, const struct http_msg *req, int status,
    uint64_t len, uint64_t *first, uint64_t *last)
{
	const char	*v, *dash;
	size_t		 vl;
	uint64_t	 a, b;
	int		 i;

	/* §14.2: Range is defined for GET only; vane slices stored 200s. */
	if (req->method != HM_GET || status != 200 || len == 0)
		return (0);
	if ((i = field_find(reqbuf, req, "Range", 0)) == -1 ||
	    field_find(reqbuf, req, "Range", (uint32_t)i + 1) != -1 ||
	    field_find(reqbuf, req, "If-Range", 0) != -1)
		return (0);
	v = fval(reqbuf, req, i, &vl);
	/* §14.1: range units compare without case. */
	if (vl < 6 || !ieqn(v, 6, "bytes=", 6))
		return (0);
	v += 6;
	vl -= 6;
	while (vl > 0 && is_ows(v[0])) {
		v++;
		vl--;
	}
	while (vl > 0 && is_ows(v[vl - 1]))
		vl--;
	if ((dash = memchr(v, '-', vl)) == NULL ||
	    memchr(v, ',', vl) != NULL)
		return (0);	/* not one range-spec: send it all */
	if (dash == v) {	/* suffix-range: the last b bytes */
		if (u64_digits(v + 1, vl - 1, &b) == -1 || b == 0)
			return (0);
		*first = b >= len ? 0 : len - b;
		*last = len - 1;
		return (1);
	}
	if (u64_digits(v, (size_t)(dash - v), &a) == -1)
		return (0);
	if ((size_t)(dash - v) + 1 == vl)
		b = len - 1;	/* "first-": to the end */
	else if (u64_digits(dash + 1, vl - (size_t)(dash - v) - 1, &b) == -1 ||
	    b < a)
		return (0);
	if (a >= len)
		return (0);	/* unsatisfiable: the whole 200 instead */
	*first = a;
	*last = b >= len ? len - 1 : b;
	return (1);
}

/*
 * Vary (§4.1).
 */
int
cache_vary_star(const char *respbuf, const struct http_msg *resp)
{
	const char	*v, *mem;
	size_t		 vl, pos, ml;
	int		 i;

	for (i = field_find(respbuf, resp, "Vary", 0); i != -1;
	    i = field_find(respbuf, resp, "Vary", (uint32_t)i + 1)) {
		v = fval(respbuf, resp, i, &vl);
		pos = 0;
		while (list_next(v, vl, &pos, &mem, &ml))
			if (ml == 1 && mem[0] == '*')
				return (1);
	}
	return (0);
}

/*
 * Fields whose whole value is case-insensitive by its grammar: codings
 * (RFC 9110 §8.4.1), charsets (§8.3.2), language ranges (RFC 4647 §2) and
 * the "q" of their weights (§12.4.2). Order is kept: with equal weights,
 * servers break the tie by it.
 */
static int
vary_folds(const char *name, size_t n)
{
	return (ieqn(name, n, "Accept-Encoding", 15) ||
	    ieqn(name, n, "Accept-Language", 15) ||
	    ieqn(name, n, "Accept-Charset", 14));
}

/*
 * The request's normalised value of field name[0..n): every line's value
 * in order, joined with ","; OWS next to a comma dropped, other OWS runs
 * made one SP; lowercased where vary_folds says case means nothing.
 * Returns the length, -1 if it does not fit, -2 if absent.
 */
static int
vary_value(char *out, size_t cap, const char *buf, const struct http_msg *m,
    const char *name, size_t n, int flags)
{
	const char	*v;
	size_t		 vl, pos = 0, k;
	uint32_t	 i;
	int		 found = 0, sp, fold = vary_folds(name, n);
	char		 c;

	if ((flags & CACHE_VARY_AE) && ieqn(name, n, "Accept-Encoding", 15)) {
		if ((v = http_ae_value(http_accept_gzip(buf, m))) == NULL)
			return (-2);
		return (put(out, cap, &pos, v, strlen(v)) == -1 ? -1 :
		    (int)pos);
	}

	for (i = 0; i < m->nfields; i++) {
		if (!ieqn(buf + m->fields[i].name.off, m->fields[i].name.len,
		    name, n))
			continue;
		v = fval(buf, m, (int)i, &vl);
		if (found && put(out, cap, &pos, ",", 1) == -1)
			return (-1);
		found = 1;
		sp = 0;
		for (k = 0; k < vl; k++) {
			if (is_ows(v[k])) {
				sp = 1;
				continue;
			}
			if (v[k] != ',' && sp && pos > 0 && out[pos - 1] != ',' &&
			    put(out, cap, &pos, " ", 1) == -1)
				return (-1);
			sp = 0;
			c = fold ? (char)lower((unsigned char)v[k]) : v[k];
			if (put(out, cap, &pos, &c, 1) == -1)
				return (-1);
		}
	}
	if (!found)
		return (-2);
	return (pos > INT32_MAX ? -1 : (int)pos);
}

/* Was name[0..n) listed before position (field fi, offset upto)? */
static int
vary_seen(const char *buf, const struct http_msg *m, int fi, size_t upto,
    const char *name, size_t n)
{
	const char	*v, *mem;
	size_t		 vl, pos, ml;
	int		 i;

	for (i = field_find(buf, m, "Vary", 0); i != -1 && i <= fi;
	    i = field_find(buf, m, "Vary", (uint32_t)i + 1)) {
		v = fval(buf, m, i, &vl);
		pos = 0;
		while (list_next(v, vl, &pos, &mem, &ml)) {
			if (i == fi && (size_t)(mem - v) >= upto)
				break;
			if (ieqn(mem, ml, name, n))
				return (1);
		}
	}
	return (0);
}

int
cache_vary_key(char *out, size_t cap, const char *respbuf,
    const struct http_msg *resp, const char *reqbuf,
    const struct http_msg *req, int flags)
{
	const char	*v, *mem;
	size_t		 vl, pos, ml, o = 0, k;
	int		 i, r;
	char		 c;

	if (cache_vary_star(respbuf, resp))
		return (-2);
	for (i = field_find(respbuf, resp, "Vary", 0); i != -1;
	    i = field_find(respbuf, resp, "Vary", (uint32_t)i + 1)) {
		v = fval(respbuf, resp, i, &vl);
		pos = 0;
		while (list_next(v, vl, &pos, &mem, &ml)) {
			if (vary_seen(respbuf, resp, i, (size_t)(mem - v),
			    mem, ml))
				continue;
			for (k = 0; k < ml; k++) {
				c = (char)lower((unsigned char)mem[k]);
				if (put(out, cap, &o, &c, 1) == -1)
					return (-1);
			}
			if (o < cap) {
				out[o] = ':';
				r = vary_value(out + o + 1, cap - o - 1,
				    reqbuf, req, mem, ml, flags);
				if (r == -1)
					return (-1);
				if (r >= 0)
					o += 1 + (size_t)r;
			}
			if (put(out, cap, &o, "\n", 1) == -1)
				return (-1);
		}
	}
	return (o > INT32_MAX ? -1 : (int)o);
}

int
cache_vary_match(const char *key, size_t len, const char *reqbuf,
    const struct http_msg *req, int flags)
{
	char		 tmp[4096];
	size_t		 i = 0, st, nl, vs;
	int		 r;

	while (i < len) {
		st = i;
		while (i < len && key[i] != ':' && key[i] != '\n')
			i++;
		nl = i - st;
		if (i >= len)
			return (0);	/* malformed key */
		r = vary_value(tmp, sizeof(tmp), reqbuf, req, key + st, nl,
		    flags);
		if (r == -1)
			return (0);	/* too long to compare: no match */
		if (key[i] == '\n') {
			if (r != -2)
				return (0);	/* stored absent, now present */
			i++;
			continue;
		}
		vs = ++i;
		while (i < len && key[i] != '\n')
			i++;
		if (i >= len || r < 0 || (size_t)r != i - vs ||
		    memcmp(tmp, key + vs, (size_t)r) != 0)
			return (0);
		i++;
	}
	return (1);
}

/*
 * Invalidation (§4.4).
 */
static int
default_port(const char *scheme, const char *p, size_t n)
{
	if (n == 0)
		return (1);
	if (ieq(scheme, strlen(scheme), "http"))
		return (n == 2 && memcmp(p, "80", 2) == 0);
	if (ieq(scheme, strlen(scheme), "https"))
		return (n == 3 && memcmp(p, "443", 3) == 0);
	return (0);
}

/* Same authority: host case-insensitive, a default port equals none. */
static int
auth_eq(const char *scheme, const char *a, size_t an, const char *b,
    size_t bn)
{
	const char	*ac, *bc;
	size_t		 ah, bh;

	ac = an > 0 && a[0] != '[' ? memchr(a, ':', an) : NULL;
	if (an > 0 && a[0] == '[' && (ac = memchr(a, ']', an)) != NULL)
		ac = (size_t)(ac - a) + 1 < an && ac[1] == ':' ? ac + 1 : NULL;
	bc = bn > 0 && b[0] != '[' ? memchr(b, ':', bn) : NULL;
	if (bn > 0 && b[0] == '[' && (bc = memchr(b, ']', bn)) != NULL)
		bc = (size_t)(bc - b) + 1 < bn && bc[1] == ':' ? bc + 1 : NULL;
	ah = ac != NULL ? (size_t)(ac - a) : an;
	bh = bc != NULL ? (size_t)(bc - b) : bn;
	if (!ieqn(a, ah, b, bh))
		return (0);
	if (ac == NULL || bc == NULL || an - ah != bn - bh ||
	    memcmp(ac, bc, an - ah) != 0) {
		/* ports differ in text: equal only if both default */
		return (default_port(scheme, ac ? ac + 1 : "",
		    ac ? an - ah - 1 : 0) && default_port(scheme,
		    bc ? bc + 1 : "", bc ? bn - bh - 1 : 0));
	}
	return (1);
}

/* The request's host (absolute-form authority, else Host), or NULL. */
static const char *
req_host(const char *buf, const struct http_msg *req, size_t *n)
{
	if (req->form == HT_ABSOLUTE && req->authority.len > 0) {
		*n = req->authority.len;
		return (buf + req->authority.off);
	}
	if (req->host < 0 || req->fields[req->host].value.len == 0)
		return (NULL);
	*n = req->fields[req->host].value.len;
	return (buf + req->fields[req->host].value.off);
}

/* The request's path and query ("/" for an empty absolute-form path). */
static const char *
req_path(const char *buf, const struct http_msg *req, size_t *n)
{
	if (req->form == HT_ABSOLUTE) {
		if (req->path.len == 0) {
			*n = 1;
			return ("/");
		}
		*n = req->path.len;
		return (buf + req->path.off);
	}
	*n = req->target.len;
	return (buf + req->target.off);
}

/*
 * scheme "://" host, lowercased, without a default or empty port
 * (RFC 3986 §6.2.3), so equivalent authorities give one key.
 */
static int
put_origin(char *out, size_t cap, size_t *pos, const char *scheme,
    const char *host, size_t hn)
{
	const char	*colon = NULL;
	size_t		 k;
	char		 c;

	for (k = hn; k > 0; k--) {
		if (host[k - 1] == ':') {
			colon = host + k - 1;
			break;
		}
		if (!is_digit(host[k - 1]))
			break;
	}
	if (colon != NULL && default_port(scheme, colon + 1,
	    hn - (size_t)(colon - host) - 1))
		hn = (size_t)(colon - host);
	if (put(out, cap, pos, scheme, strlen(scheme)) == -1 ||
	    put(out, cap, pos, "://", 3) == -1)
		return (-1);
	for (k = 0; k < hn; k++) {
		c = (char)lower((unsigned char)host[k]);
		if (put(out, cap, pos, &c, 1) == -1)
			return (-1);
	}
	return (0);
}

/*
 * RFC 3986 §5.2.4 remove_dot_segments over the path of in[0..n), then the
 * query unchanged, appended to out.
 */
static int
put_path(char *out, size_t cap, size_t *pos, const char *in, size_t n)
{
	const char	*p = in, *q = memchr(in, '?', n);
	size_t		 l = q != NULL ? (size_t)(q - in) : n, start = *pos, k;

	while (l > 0) {
		if (l >= 3 && memcmp(p, "../", 3) == 0) {
			p += 3;		/* A */
			l -= 3;
		} else if ((l >= 2 && memcmp(p, "./", 2) == 0) ||
		    (l >= 3 && memcmp(p, "/./", 3) == 0)) {
			p += 2;		/* A, B: "/./x" -> "/x" */
			l -= 2;
		} else if (l == 2 && memcmp(p, "/.", 2) == 0) {
			p = "/";	/* B */
			l = 1;
		} else if ((l >= 4 && memcmp(p, "/../", 4) == 0) ||
		    (l == 3 && memcmp(p, "/..", 3) == 0)) {
			if (l == 3) {	/* C */
				p = "/";
				l = 1;
			} else {
				p += 3;
				l -= 3;
			}
			while (*pos > start && out[*pos - 1] != '/')
				(*pos)--;
			if (*pos > start)
				(*pos)--;
		} else if ((l == 1 && p[0] == '.') ||
		    (l == 2 && memcmp(p, "..", 2) == 0))
			l = 0;		/* D */
		else {
			for (k = p[0] == '/' ? 1 : 0; k < l && p[k] != '/'; k++)
				;	/* E: one segment */
			if (put(out, cap, pos, p, k) == -1)
				return (-1);
			p += k;
			l -= k;
		}
	}
	if (q != NULL && put(out, cap, pos, q, n - (size_t)(q - in)) == -1)
		return (-1);
	return (0);
}

enum { REF_NONE, REF_ABS, REF_REL };

/*
 * Classify a Location / Content-Location value (fragment dropped) against
 * the target's origin: REF_ABS (absolute URI or network-path reference
 * with the same scheme and authority, or a path-absolute reference) with
 * *ref its path and query; REF_REL (a relative-path reference, to merge
 * with the target's path, RFC 3986 §5.2.2); REF_NONE (another origin, or
 * not a reference at all).
 */
static int
loc_ref(const char *v, size_t vl, const char *scheme, const char *host,
    size_t hn, const char **ref, size_t *rn)
{
	const char	*h = memchr(v, '#', vl);
	size_t		 i, as;

	vl = h != NULL ? (size_t)(h - v) : vl;
	if (vl == 0)
		return (REF_NONE);	/* "#frag": the target itself */
	i = 0;
	if (lower((unsigned char)v[0]) >= 'a' &&
	    lower((unsigned char)v[0]) <= 'z')
		for (i = 1; i < vl && (is_digit(v[i]) || v[i] == '+' ||
		    v[i] == '-' || v[i] == '.' || (lower((unsigned char)v[i]) >=
		    'a' && lower((unsigned char)v[i]) <= 'z')); i++)
			;
	if (i > 0 && i < vl && v[i] == ':') {
		/* scheme ":" "//" authority: same scheme required */
		if (!ieq(v, i, scheme) || vl - i < 3 || v[i + 1] != '/' ||
		    v[i + 2] != '/')
			return (REF_NONE);
		i += 1;
	} else if (vl >= 2 && v[0] == '/' && v[1] == '/')
		i = 0;
	else {
		*ref = v;
		*rn = vl;
		return (v[0] == '/' ? REF_ABS : REF_REL);
	}
	i += 2;
	as = i;
	while (i < vl && v[i] != '/' && v[i] != '?')
		i++;
	if (!auth_eq(scheme, v + as, i - as, host, hn))
		return (REF_NONE);
	*ref = v + i;
	*rn = vl - i;
	return (REF_ABS);
}

/*
 * Append the path and query of a same-origin reference: dot segments
 * removed, a relative one merged with the target's directory first
 * (RFC 3986 §5.2.2, §5.2.3), an empty path made "/". Returns 0, -1 if out
 * is full, -2 if the merged path is too long to resolve (then skipped).
 */
static int
put_ref(char *out, size_t cap, size_t *pos, int kind, const char *ref,
    size_t rn, const char *base, size_t bn)
{
	char		 tmp[2048];
	const char	*q, *slash;
	size_t		 t = 0, dir;

	if (kind == REF_ABS) {
		if ((rn == 0 || ref[0] != '/') && put(out, cap, pos, "/", 1) == -1)
			return (-1);
		return (put_path(out, cap, pos, ref, rn));
	}
	q = memchr(base, '?', bn);
	bn = q != NULL ? (size_t)(q - base) : bn;
	if (ref[0] == '?')
		dir = bn;	/* "?q": the target's path, a new query */
	else {
		slash = memrchr(base, '/', bn);
		dir = slash != NULL ? (size_t)(slash - base) + 1 : 0;
	}
	if ((dir == 0 || base[0] != '/') && put(tmp, sizeof(tmp), &t, "/",
	    1) == -1)
		return (-2);
	if (put(tmp, sizeof(tmp), &t, base, dir) == -1 ||
	    put(tmp, sizeof(tmp), &t, ref, rn) == -1)
		return (-2);
	return (put_path(out, cap, pos, tmp, t));
}

int
cache_invalidations(char *out, size_t cap, struct cache_inval *iv,
    const char *scheme, const char *reqbuf, const struct http_msg *req,
    const char *respbuf, const struct http_msg *resp)
{
	static const char *const locs[] = { "Location", "Content-Location" };
	const char	*host, *path, *v, *ref;
	size_t		 hn, pn, vl, pos = 0, st, rn;
	int		 i, k, kind, r;

	iv->n = 0;
	switch (req->method) {
	case HM_GET: case HM_HEAD: case HM_OPTIONS: case HM_TRACE:
		return (0);	/* safe (RFC 9110 §9.2.1) */
	default:
		break;
	}
	if (resp->status < 200 || resp->status > 399)
		return (0);	/* §4.4: non-error status only */
	if ((host = req_host(reqbuf, req, &hn)) == NULL)
		return (0);
	path = req_path(reqbuf, req, &pn);
	if (put_origin(out, cap, &pos, scheme, host, hn) == -1 ||
	    put(out, cap, &pos, path, pn) == -1)
		return (-1);
	iv->uri[0].off = 0;
	iv->uri[0].len = (uint32_t)pos;
	iv->n = 1;
	for (k = 0; k < 2; k++) {
		if ((i = field_find(respbuf, resp, locs[k], 0)) == -1)
			continue;
		v = fval(respbuf, resp, i, &vl);
		kind = loc_ref(v, vl, scheme, host, hn, &ref, &rn);
		if (kind == REF_NONE)
			continue;
		st = pos;
		if (put_origin(out, cap, &pos, scheme, host, hn) == -1)
			return (-1);
		if ((r = put_ref(out, cap, &pos, kind, ref, rn, path, pn)) == -1)
			return (-1);
		if (r == -2) {
			pos = st;
			continue;
		}
		iv->uri[iv->n].off = (uint32_t)st;
		iv->uri[iv->n].len = (uint32_t)(pos - st);
		iv->n++;
	}
	return (iv->n);
}

/*
 * Cache key.
 */
static int
dropped(const struct cache_key_opts *ko, const char *p, size_t n)
{
	const char	*eq = memchr(p, '=', n);
	size_t		 nl = eq != NULL ? (size_t)(eq - p) : n, j;

	for (j = 0; j < ko->ndrop; j++)
		if (strlen(ko->drop_params[j]) == nl &&
		    memcmp(ko->drop_params[j], p, nl) == 0)
			return (1);
	return (0);
}

static int
key_target(char *out, size_t cap, size_t *pos, const char *t, size_t tn,
    const struct cache_key_opts *ko)
{
	const char	*q, *amp;
	size_t		 qs, pn;
	int		 first = 1;

	q = memchr(t, '?', tn);
	if (q == NULL || ko == NULL || ko->ndrop == 0)
		return (put(out, cap, pos, t, tn));
	if (put(out, cap, pos, t, (size_t)(q - t)) == -1)
		return (-1);
	qs = (size_t)(q - t) + 1;
	while (qs <= tn) {
		amp = memchr(t + qs, '&', tn - qs);
		pn = (amp != NULL ? (size_t)(amp - t) : tn) - qs;
		if (!dropped(ko, t + qs, pn)) {
			if (put(out, cap, pos, first ? "?" : "&", 1) == -1 ||
			    put(out, cap, pos, t + qs, pn) == -1)
				return (-1);
			first = 0;
		}
		qs += pn + 1;
	}
	return (0);
}

int
cache_key(char *out, size_t cap, const char *scheme, const char *reqbuf,
    const struct http_msg *req, const struct cache_key_opts *ko)
{
	const char	*host, *t, *v;
	size_t		 hn, tn, vl, pos = 0, j;
	int		 i, n;

	if ((host = req_host(reqbuf, req, &hn)) == NULL)
		return (-1);
	t = req_path(reqbuf, req, &tn);
	if (put_origin(out, cap, &pos, scheme, host, hn) == -1 ||
	    key_target(out, cap, &pos, t, tn, ko) == -1)
		return (-1);
	for (j = 0; ko != NULL && j < ko->nadd; j++) {
		if (put(out, cap, &pos, "\n", 1) == -1 ||
		    put(out, cap, &pos, ko->add_headers[j],
		    strlen(ko->add_headers[j])) == -1 ||
		    put(out, cap, &pos, ":", 1) == -1)
			return (-1);
		n = 0;
		for (i = field_find(reqbuf, req, ko->add_headers[j], 0);
		    i != -1; i = field_find(reqbuf, req, ko->add_headers[j],
		    (uint32_t)i + 1)) {
			v = fval(reqbuf, req, i, &vl);
			if ((n++ > 0 && put(out, cap, &pos, ", ", 2) == -1) ||
			    put(out, cap, &pos, v, vl) == -1)
				return (-1);
		}
	}
	return (pos > INT32_MAX ? -1 : (int)pos);
}
