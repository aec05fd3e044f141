/*
 * tls_name.h: matching a requested server name (SNI) against the names a
 * certificate holds (L1, pure).
 */
#ifndef VANE_TLS_NAME_H
#define VANE_TLS_NAME_H

#include <stddef.h>

#define TLS_NAME_NONE		0
#define TLS_NAME_WILDCARD	1	/* matched through a "*." label */
#define TLS_NAME_EXACT		2

/*
 * How the certificate name pattern[0..plen) (a subjectAltName dNSName)
 * matches host[0..hlen), RFC 6125 §6.4: compared without regard to ASCII
 * case; a trailing dot on either is ignored. A wildcard is honoured only
 * as the whole left-most label ("*.example.com"), stands for exactly one
 * non-empty label ("a.example.com", not "example.com" nor
 * "a.b.example.com"), and only when at least two labels follow it (never
 * "*.com"); a partial wildcard ("w*.example.com") or one further right
 * matches nothing. A name with an empty label, or a byte outside
 * letters, digits, '-' and '.', matches nothing either.
 */
int	tls_name_match(const char *pattern, size_t plen, const char *host,
	    size_t hlen);

#endif
