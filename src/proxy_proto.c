/*
 * proxy_proto.c: parse a PROXY protocol header (see proxy_proto.h).
 * Strict: whatever the specification does not allow is refused, as a
 * header that vane misreads would put a wrong client address in every
 * X-Forwarded-For and log line behind it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proxy_proto.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 address block's length for its family byte; -1: not known. */
static int
v2_addr_len(unsigned char fam)
{
	switch (fam) {
	case 0x00:		/* UNSPEC */
		return (0);
	case 0x11:		/* TCP over IPv4 */
	case 0x12:		/* UDP over IPv4 */
		return (12);
	case 0x21:		/* TCP over IPv6 */
	case 0x22:		/* UDP over IPv6 */
		return (36);
	case 0x31:		/* UNIX stream */
	case 0x32:		/* UNIX datagram */
		return (216);
	default:
		return (-1);
	}
}

static void
set_in4(struct sockaddr_storage *ss, const unsigned char *a,
    const unsigned char *port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, a, 4);
	memcpy(&sin->sin_port, port, 2);	/* both in network order */
}

static void
set_in6(struct sockaddr_storage *ss, const unsigned char *a,
    const unsigned char *port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, a, 16);
	memcpy(&sin6->sin6_port, port, 2);
}

static int
parse_v2(const unsigned char *p, size_t len, struct pp_result *r)
{
	size_t		 n, total, off;
	int		 alen;
	unsigned char	 cmd, fam;

	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(p, v2_sig, n) != 0)
		return (-1);
	if (len < 13)
		return (0);
	if ((p[12] >> 4) != 2)
		return (-1);
	cmd = p[12] & 0x0f;
	if (cmd > 1)		/* LOCAL or PROXY */
		return (-1);
	if (len < 16)
		return (0);
	fam = p[13];
	total = 16 + (((size_t)p[14] << 8) | p[15]);
	if (total > PP_MAX || (alen = v2_addr_len(fam)) < 0)
		return (-1);
	if (len < total)
		return (0);
	if (16 + (size_t)alen > total)
		return (-1);
	/* Type-length-value records fill the rest exactly. */
	for (off = 16 + (size_t)alen; off < total;
	    off += 3 + (((size_t)p[off + 1] << 8) | p[off + 2]))
		if (total - off < 3 ||
		    total - off - 3 < (((size_t)p[off + 1] << 8) | p[off + 2]))
			return (-1);
	memset(r, 0, sizeof(*r));
	r->version = 2;
	/* LOCAL (the balancer's own connection, a health check), UDP, UNIX
	 * and UNSPEC name no TCP client: the real peer stands. */
	if (cmd == 1 && fam == 0x11) {
		set_in4(&r->src, p + 16, p + 24);
		set_in4(&r->dst, p + 20, p + 26);
		r->has_addr = 1;
	} else if (cmd == 1 && fam == 0x21) {
		set_in6(&r->src, p + 16, p + 48);
		set_in6(&r->dst, p + 32, p + 50);
		r->has_addr = 1;
	}
	return ((int)total);
}

/* A v1 port: 0-65535 in decimal, no leading zero, no sign. */
static int
v1_port(const char *s, size_t n, unsigned char out[2])
{
	unsigned long	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	out[0] = (unsigned char)(v >> 8);
	out[1] = (unsigned char)v;
	return (0);
}

/* The next word of line[*pos..end) up to a single SP or the end. */
static int
v1_word(const char *line, size_t *pos, size_t end, const char **w, size_t *n)
{
	size_t i = *pos;

	while (i < end && line[i] != ' ')
		i++;
	if (i == *pos)
		return (-1);	/* empty: two spaces, or nothing left */
	*w = line + *pos;
	*n = i - *pos;
	*pos = i < end ? i + 1 : i;
	return (i < end ? 1 : 0);	/* 1: a space follows */
}

static int
v1_addr(int af, const char *w, size_t n, unsigned char *out)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n >= sizeof(tmp))
		return (-1);
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	return (inet_pton(af, tmp, out) == 1 ? 0 : -1);
}

static int
parse_v1(const unsigned char *p, size_t len, struct pp_result *r)
{
	static const char prefix[] = "PROXY ";
	const char	*line = (const char *)p, *w[5];
	size_t		 n = len < 6 ? len : 6, i, end, pos, wl[5];
	unsigned char	 a[2][16], port[2][2];
	int		 af, k, more;

	if (memcmp(p, prefix, n) != 0)
		return (-1);
	for (i = 0; i < len && i < PP_V1_MAX; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			continue;
		if (p[i] != '\r')
			return (-1);	/* LF without CR, NUL, another CTL */
		if (i + 1 == len)
			return (0);
		if (p[i + 1] != '\n')
			return (-1);
		break;
	}
	if (i == len)
		return (len >= PP_V1_MAX ? -1 : 0);
	if (i == PP_V1_MAX || i + 2 > PP_V1_MAX)
		return (-1);
	end = i;
	memset(r, 0, sizeof(*r));
	r->version = 1;
	pos = 6;
	if ((more = v1_word(line, &pos, end, &w[0], &wl[0])) == -1)
		return (-1);
	if (wl[0] == 7 && memcmp(w[0], "UNKNOWN", 7) == 0)
		return ((int)end + 2);	/* the rest is to be ignored */
	if (wl[0] == 4 && memcmp(w[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (wl[0] == 4 && memcmp(w[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return (-1);
	for (k = 1; k < 5; k++) {
		if (more != 1)
			return (-1);
		if ((more = v1_word(line, &pos, end, &w[k], &wl[k])) == -1)
			return (-1);
	}
	if (more != 0 ||
	    v1_addr(af, w[1], wl[1], a[0]) == -1 ||
	    v1_addr(af, w[2], wl[2], a[1]) == -1 ||
	    v1_port(w[3], wl[3], port[0]) == -1 ||
	    v1_port(w[4], wl[4], port[1]) == -1)
		return (-1);
	if (af == AF_INET) {
		set_in4(&r->src, a[0], port[0]);
		set_in4(&r->dst, a[1], port[1]);
	} else {
		set_in6(&r->src, a[0], port[0]);
		set_in6(&r->dst, a[1], port[1]);
	}
	r->has_addr = 1;
	return ((int)end + 2);
}

int
pp_parse(const unsigned char *p, size_t len, struct pp_result *r)
{
	if (len == 0)
		return (0);
	if (p[0] == 'P')
		return (parse_v1(p, len, r));
	if (p[0] == v2_sig[0])
		return (parse_v2(p, len, r));
	return (-1);
}
