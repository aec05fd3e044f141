/*
 * tls_name.c: SNI name matching (RFC 6125). See tls_name.h.
 */
#include "tls_name.h"

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* 1 if s[0..n) is a host name we compare: LDH labels, none empty. */
static int
valid_name(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0)
		return (0);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return (0);
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return (0);
		label++;
	}
	return (label > 0);
}

static int
same(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return (0);
	return (1);
}

static size_t
count_dots(const char *s, size_t n)
{
	size_t i, d = 0;

	for (i = 0; i < n; i++)
		d += s[i] == '.';
	return (d);
}

int
tls_name_match(const char *pattern, size_t plen, const char *host,
    size_t hlen)
{
	const char *rest, *dot;
	size_t rlen, first;

	if (plen > 0 && pattern[plen - 1] == '.')
		plen--;
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (!valid_name(host, hlen))
		return (TLS_NAME_NONE);
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		rest = pattern + 2;
		rlen = plen - 2;
		/* At least two labels after the wildcard. */
		if (!valid_name(rest, rlen) || count_dots(rest, rlen) < 1)
			return (TLS_NAME_NONE);
		/* host = one label + "." + rest. */
		for (dot = host; dot < host + hlen && *dot != '.'; dot++)
			;
		first = (size_t)(dot - host);
		if (first == 0 || first == hlen || hlen - first - 1 != rlen ||
		    !same(dot + 1, rest, rlen))
			return (TLS_NAME_NONE);
		return (TLS_NAME_WILDCARD);
	}
	if (!valid_name(pattern, plen) || plen != hlen ||
	    !same(pattern, host, hlen))
		return (TLS_NAME_NONE);
	return (TLS_NAME_EXACT);
}
