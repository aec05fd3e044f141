/*
 * util.h: small pure helpers used everywhere (L0): parsing of sizes,
 * durations and socket addresses as the configuration writes them, and the
 * clocks. No I/O beyond reading the clock.
 */
#ifndef VANE_UTIL_H
#define VANE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * "512", "16K", "256M", "1G" (powers of 1024, suffix case-insensitive,
 * optional trailing "B": "16KB"). Returns 0 and sets *out, or -1 on
 * syntax error or overflow.
 */
int	parse_size(const char *s, uint64_t *out);

/*
 * "500ms", "2s", "1m", "1h", "1d"; a bare number is seconds. Result in
 * milliseconds. Returns 0, or -1 on syntax error or overflow.
 */
int	parse_duration(const char *s, uint64_t *out_ms);

/*
 * "host:port", "1.2.3.4:80", "[::1]:8080", "*:80" (any IPv4). The host must
 * be a numeric address or "localhost" (resolved to 127.0.0.1): vane never
 * does DNS at config time. Port 1..65535. Returns 0 and fills ss/len,
 * or -1 with a short reason in *why (static string).
 */
int	parse_address(const char *s, struct sockaddr_storage *ss,
	    socklen_t *len, const char **why);

/*
 * A set of HTTP status codes 100..599, one bit each: what "200-399" or
 * "200,204,301-302" (codes and inclusive ranges, comma-separated, spaces
 * allowed around them) describes.
 */
struct status_set {
	uint64_t	bits[10];
};

/* Returns 0 and fills *set, or -1 with a short reason in *why. */
int	parse_status_set(const char *s, struct status_set *set,
	    const char **why);
static inline int
status_set_has(const struct status_set *set, int status)
{
	if (status < 0 || status >= 640)
		return (0);
	return ((set->bits[status / 64] >> (status % 64)) & 1);
}

/* "1.2.3.4:80" or "[::1]:80" into buf; returns buf. */
char	*format_address(const struct sockaddr *sa, char *buf, size_t len);
/* The port of an AF_INET or AF_INET6 address, host order; 0 otherwise. */
unsigned	 sockaddr_port(const struct sockaddr *sa);
/*
 * 1 if sa is a loopback address: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped
 * into IPv6 (::ffff:127.x.y.z); 0 for anything else, the wildcard too.
 */
int	sockaddr_is_loopback(const struct sockaddr *sa);
/* 1 if sa is the wildcard address of its family (0.0.0.0, ::). */
int	sockaddr_is_any(const struct sockaddr *sa);
/*
 * 1 if a socket bound to a and one bound to b would want the same port of
 * the same address: same family and port, and the same host or either one
 * the wildcard. (Linux would refuse the second bind, or with SO_REUSEPORT
 * share the port between them, neither of which is wanted.)
 */
int	sockaddr_overlap(const struct sockaddr *a, const struct sockaddr *b);
/* Only the host part, v6 without brackets ("::1"); returns buf. */
char	*format_host(const struct sockaddr *sa, char *buf, size_t len);
/* The host of an address as written ("localhost:80" -> "localhost",
 * "[::1]:80" -> "::1"), into buf; returns buf ("" when it does not fit
 * or there is no port). */
char	*address_host(const char *text, char *buf, size_t len);

/* Monotonic milliseconds, for timeouts and intervals. */
uint64_t	now_mono_ms(void);
/* Wall-clock seconds since the epoch. */
int64_t		now_wall(void);
/* IMF-fixdate (RFC 9110 §5.6.7) of t into buf (at least 30 bytes). */
size_t	format_http_date(int64_t t, char *buf, size_t len);

#endif
