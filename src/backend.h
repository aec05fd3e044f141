/*
 * backend.h: the backend servers vane forwards to (L2). The array is built
 * at start-up from backends.servers and shared read-only by all workers;
 * `up` is written by the health checker only (issue 2) and read with
 * atomic loads by the balancer.
 */
#ifndef VANE_BACKEND_H
#define VANE_BACKEND_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;

struct server {
	int			idx;
	char			name[64];	/* "127.0.0.1:8001", for logs */
	struct sockaddr_storage	ss;
	socklen_t		sslen;
	atomic_int		up;
};

/* Build the server array from the configuration; returns the count. */
int		backend_init(const struct config *cfg, struct server **out);
void		backend_free(struct server *s, int n);
/* Bit i set when server i is up. */
uint64_t	backend_up_mask(const struct server *s, int n);

#endif
