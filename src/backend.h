/*
 * backend.h: the backend servers vane forwards to (L2). The array is built
 * at start-up from backends.servers and shared by all threads. Each piece
 * of a server's state has one writer:
 *
 *   up, up_since, check_*	the health checker (health.c, main thread)
 *   drain			the admin listener (admin.c, main thread)
 *   fails, fail_start,		any worker, through backend_failed() and
 *   down_until			backend_succeeded() (passive checks)
 *   inflight			any worker, through backend_acquire() and
 *				backend_release() (max_conns, least_conn)
 *   requests, failures		any worker (relaxed atomic adds)
 *
 * Readers use relaxed atomic loads: a balancer that sees a state change
 * one request late is harmless.
 */
#ifndef VANE_BACKEND_H
#define VANE_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct tls_client;

struct server {
	int			idx;
	char			name[64];	/* "127.0.0.1:8001", for logs */
	struct sockaddr_storage	ss;
	socklen_t		sslen;
	int			weight;
	int			max_conns;	/* 0: no limit */
	struct tls_client	*tls;		/* tls = true; else NULL */
	uint64_t		slow_start;	/* ms, backends.slow_start */
	uint64_t		fail_timeout;	/* ms, backends.fail_timeout */
	int			max_fails;	/* 0: never left out */

	atomic_int		up;		/* active checks say so */
	_Atomic uint64_t	up_since;	/* ms it last came up; 0: at start */
	atomic_int		drain;		/* no new requests */
	atomic_int		fails;		/* passive: failures in the window */
	_Atomic uint64_t	fail_start;	/* ms the window began */
	_Atomic uint64_t	down_until;	/* passive: left out until, ms */
	atomic_int		inflight;	/* requests at it now, all workers */

	_Atomic uint64_t	requests;	/* sent to it (counting retries) */
	_Atomic uint64_t	failures;	/* connect/reset/timeout/invalid */
	_Atomic uint64_t	checks;		/* health checks run */
	_Atomic uint64_t	checks_failed;
	_Atomic uint64_t	check_ms;	/* duration of the last check */
	char			check_reason[64];	/* of the last failed check;
							 * main thread only */
};

/*
 * Build the server array from the configuration; returns the count, or
 * -1 with "FILE:LINE: message" in err when a server's TLS client cannot
 * be set up (its tls_ca unreadable). Called by "vane -t" as well.
 */
int		backend_init(const struct config *cfg, struct server **out,
		    char *err, size_t errlen);
void		backend_free(struct server *s, int n);

/*
 * Servers that may be given a request at now, as bit masks:
 * *alive	up, not draining, not left out by passive checks;
 * *free	alive and below max_conns.
 */
void		backend_masks(const struct server *s, int n, uint64_t now,
		    uint64_t *alive, uint64_t *free);
/* Effective weights for the balancer (slow start applied), into ew[n]. */
void		backend_weights(const struct server *s, int n, uint64_t now,
		    int *ew);
/* Requests in flight per server, into load[n] (least_conn). */
void		backend_loads(const struct server *s, int n, int *load);

/* Take a request slot below max_conns; 0, or -1 when the server is full. */
int		backend_acquire(struct server *s);
/* Give the slot back. */
void		backend_release(struct server *s);

/* Passive checks: a request failed on s (why: for the log), or succeeded. */
void		backend_failed(struct server *s, uint64_t now, const char *why);
void		backend_succeeded(struct server *s);

/* "up", "down", "drain" or "failed" (left out by passive checks). */
const char	*backend_state(const struct server *s, uint64_t now);
/*
 * A reload built s: each server that old (the running generation's) has
 * too, by name, goes on where it was: up or down, draining, left out by
 * passive checks, and its counters (they only grow, across reloads too).
 */
void		backend_carry(struct server *s, int n, const struct server *old,
		    int nold);
/* Index of the server named name ("127.0.0.1:8001"), or -1. */
int		backend_find(const struct server *s, int n, const char *name);

#endif
