/*
 * util.c: sizes, durations and socket addresses as the configuration writes
 * them, and the clocks (L0). Everything here is reentrant and allocates
 * nothing, so the request path may call it from any worker thread.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/*
 * Parse an unsigned decimal number at the start of s. Returns the number of
 * digits consumed (0 if none) and sets *out, or -1 on overflow.
 */
static int
parse_digits(const char *s, uint64_t *out)
{
	uint64_t	 v = 0;
	int		 n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (v > (UINT64_MAX - (uint64_t)(s[n] - '0')) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(s[n] - '0');
		n++;
	}
	*out = v;
	return (n);
}

static int
mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
	if (b != 0 && a > UINT64_MAX / b)
		return (1);
	*out = a * b;
	return (0);
}

int
parse_size(const char *s, uint64_t *out)
{
	uint64_t	 v, mult = 1;
	const char	*p;
	int		 n;

	if (s == NULL || (n = parse_digits(s, &v)) <= 0)
		return (-1);
	p = s + n;
	switch (*p) {
	case 'k': case 'K':
		mult = 1ULL << 10;
		p++;
		break;
	case 'm': case 'M':
		mult = 1ULL << 20;
		p++;
		break;
	case 'g': case 'G':
		mult = 1ULL << 30;
		p++;
		break;
	case 't': case 'T':
		mult = 1ULL << 40;
		p++;
		break;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		return (-1);
	if (mul_overflows(v, mult, out))
		return (-1);
	return (0);
}

/* A three-digit status at *sp, advancing it; -1 if there is none. */
static int
status_code(const char **sp)
{
	const char *s = *sp;
	int v;

	while (*s == ' ')
		s++;
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (s[3] >= '0' && s[3] <= '9'))
		return (-1);
	v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	s += 3;
	while (*s == ' ')
		s++;
	*sp = s;
	return (v);
}

int
parse_status_set(const char *s, struct status_set *set, const char **why)
{
	int lo, hi, v;

	memset(set, 0, sizeof(*set));
	for (;;) {
		if ((lo = status_code(&s)) == -1) {
			*why = "expected a status code from 100 to 599";
			return (-1);
		}
		hi = lo;
		if (*s == '-') {
			s++;
			if ((hi = status_code(&s)) == -1) {
				*why = "expected a status code from 100 to 599";
				return (-1);
			}
			if (hi < lo) {
				*why = "range ends below its start";
				return (-1);
			}
		}
		for (v = lo; v <= hi; v++)
			set->bits[v / 64] |= 1ULL << (v % 64);
		if (*s == '\0')
			return (0);
		if (*s != ',') {
			*why = "codes and ranges must be separated by commas";
			return (-1);
		}
		s++;
	}
}

int
parse_duration(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 }, { "d", 24 * 60 * 60 * 1000 },
		{ "", 1000 },	/* a bare number is seconds */
	};
	uint64_t	 v;
	size_t		 i;
	int		 n;

	if (s == NULL || (n = parse_digits(s, &v)) <= 0)
		return (-1);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].unit) == 0)
			return (mul_overflows(v, units[i].ms, out_ms) ? -1 : 0);
	}
	return (-1);
}

/* "8080" into a port; 1..65535 only, digits only. */
static int
parse_port(const char *s, in_port_t *port, const char **why)
{
	uint64_t	 v;
	int		 n;

	if (*s == '\0') {
		*why = "missing port";
		return (-1);
	}
	n = parse_digits(s, &v);
	if (n <= 0 || s[n] != '\0') {
		*why = "port is not a number";
		return (-1);
	}
	if (v == 0 || v > 65535) {
		*why = "port must be between 1 and 65535";
		return (-1);
	}
	*port = htons((in_port_t)v);
	return (0);
}

static int
parse_v6(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[INET6_ADDRSTRLEN];
	const char		*end;
	size_t			 hl;

	end = strchr(s, ']');
	if (end == NULL) {
		*why = "missing ']' after IPv6 address";
		return (-1);
	}
	hl = (size_t)(end - (s + 1));
	if (hl == 0 || hl >= sizeof(host)) {
		*why = "invalid IPv6 address";
		return (-1);
	}
	memcpy(host, s + 1, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		*why = "invalid IPv6 address";
		return (-1);
	}
	if (end[1] != ':') {
		*why = "missing port";
		return (-1);
	}
	if (parse_port(end + 2, &sin6->sin6_port, why) == -1)
		return (-1);
	sin6->sin6_family = AF_INET6;
	*len = sizeof(*sin6);
	return (0);
}

static int
parse_v4(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	char			 host[64];
	const char		*colon;
	size_t			 hl;

	colon = strrchr(s, ':');
	if (colon == NULL) {
		*why = "missing port";
		return (-1);
	}
	if (strchr(s, ':') != colon) {
		*why = "IPv6 addresses must be written in brackets, "
		    "e.g. [::1]:8080";
		return (-1);
	}
	hl = (size_t)(colon - s);
	if (hl == 0) {
		*why = "missing host";
		return (-1);
	}
	if (hl >= sizeof(host)) {
		*why = "host too long";
		return (-1);
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	/* vane never resolves names at config time: see util.h. */
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcasecmp(host, "localhost") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*why = strspn(host, "0123456789.") == hl ?
		    "invalid IPv4 address" :
		    "host must be a numeric address, '*' or localhost";
		return (-1);
	}
	if (parse_port(colon + 1, &sin->sin_port, why) == -1)
		return (-1);
	sin->sin_family = AF_INET;
	*len = sizeof(*sin);
	return (0);
}

int
parse_address(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	const char	*dummy;

	if (why == NULL)
		why = &dummy;
	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (s == NULL || *s == '\0') {
		*why = "empty address";
		return (-1);
	}
	if (s[0] == '[')
		return (parse_v6(s, ss, len, why));
	return (parse_v4(s, ss, len, why));
}

char *
format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*addr;

	if (len == 0)
		return (buf);
	switch (sa->sa_family) {
	case AF_INET:
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
		break;
	case AF_INET6:
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		break;
	default:
		snprintf(buf, len, "?");
		return (buf);
	}
	if (inet_ntop(sa->sa_family, addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return (buf);
}

char *
address_host(const char *text, char *buf, size_t len)
{
	const char	*colon = strrchr(text, ':');
	size_t		 hl;

	if (len == 0)
		return (buf);
	buf[0] = '\0';
	if (colon == NULL)
		return (buf);
	if (text[0] == '[') {
		text++;
		if (colon == text || colon[-1] != ']')
			return (buf);
		colon--;
	}
	hl = (size_t)(colon - text);
	if (hl < len) {
		memcpy(buf, text, hl);
		buf[hl] = '\0';
	}
	return (buf);
}

unsigned
sockaddr_port(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return (ntohs(((const struct sockaddr_in *)sa)->sin_port));
	case AF_INET6:
		return (ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	default:
		return (0);
	}
}

int
sockaddr_is_loopback(const struct sockaddr *sa)
{
	const struct in6_addr	*a6;
	const uint8_t		*b;

	switch (sa->sa_family) {
	case AF_INET:
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return (b[0] == 127);
	case AF_INET6:
		a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a6))
			return (1);
		return (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	default:
		return (0);
	}
}

int
sockaddr_is_any(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return (((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY));
	case AF_INET6:
		return (IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr));
	default:
		return (0);
	}
}

int
sockaddr_overlap(const struct sockaddr *a, const struct sockaddr *b)
{
	const void	*ha, *hb;
	size_t		 n;

	if (a->sa_family != b->sa_family ||
	    sockaddr_port(a) != sockaddr_port(b) || sockaddr_port(a) == 0)
		return (0);
	if (sockaddr_is_any(a) || sockaddr_is_any(b))
		return (1);
	if (a->sa_family == AF_INET) {
		ha = &((const struct sockaddr_in *)a)->sin_addr;
		hb = &((const struct sockaddr_in *)b)->sin_addr;
		n = sizeof(struct in_addr);
	} else {
		ha = &((const struct sockaddr_in6 *)a)->sin6_addr;
		hb = &((const struct sockaddr_in6 *)b)->sin6_addr;
		n = sizeof(struct in6_addr);
	}
	return (memcmp(ha, hb, n) == 0);
}

char *
format_address(const struct sockaddr *sa, char *buf, size_t len)
{
	char		 host[INET6_ADDRSTRLEN];

	if (len == 0)
		return (buf);
	format_host(sa, host, sizeof(host));
	switch (sa->sa_family) {
	case AF_INET:
		snprintf(buf, len, "%s:%u", host, sockaddr_port(sa));
		break;
	case AF_INET6:
		snprintf(buf, len, "[%s]:%u", host, sockaddr_port(sa));
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
	return (buf);
}

uint64_t
now_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

int64_t
now_wall(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec);
}

/*
 * Day and month names by hand: strftime's %a and %b follow the locale, and
 * RFC 9110 §5.6.7 wants the English ones whatever the locale.
 */
size_t
format_http_date(int64_t t, char *buf, size_t len)
{
	static const char	 days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char	 months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	int		 n;

	if (buf == NULL || len == 0)
		return (0);
	buf[0] = '\0';
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999)
		return (0);
	n = snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return (0);
	}
	return ((size_t)n);
}
