/*
 * proxy_proto.h: the PROXY protocol header (versions 1 and 2, HAProxy's
 * "The PROXY protocol" specification) that a load balancer in front of
 * vane sends before the connection's first byte, naming the client it
 * accepted. Pure (L1): no I/O, no allocation.
 */
#ifndef VANE_PROXY_PROTO_H
#define VANE_PROXY_PROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* Version 1 is at most 107 bytes; version 2 is 16 plus its length, which
 * vane bounds here (addresses and the TLVs load balancers add fit well
 * within). */
#define PP_V1_MAX	107
#define PP_MAX		1024

struct pp_result {
	int			 version;	/* 1 or 2 */
	/* 1: src and dst hold the client's and the address it reached
	 * (AF_INET or AF_INET6, ports set). 0: the header names no client
	 * (v1 UNKNOWN, v2 LOCAL, or a family vane does not relay): the
	 * connection's own peer stands. */
	int			 has_addr;
	struct sockaddr_storage	 src;
	struct sockaddr_storage	 dst;
};

/*
 * The header at the start of p[0..len): its length (> 0) with r filled
 * in; 0 if len bytes are a proper prefix of one (read more); -1 if they
 * cannot start a valid header (wrong signature, bad address or port, a
 * v1 line without CRLF within 107 bytes, a v2 length over PP_MAX, TLVs
 * that do not fill it).
 */
int	pp_parse(const unsigned char *p, size_t len, struct pp_result *r);

#endif
