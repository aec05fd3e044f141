/*
 * upool.h: upstream connections and the per-worker, per-server pool of idle
 * keep-alive ones (L2). An idle connection stays registered with the event
 * loop: any byte or close from the backend while idle means discard, never
 * reuse (nginx). Most recently used first, so the rest age out after
 * backends.keepalive_timeout.
 */
#ifndef VANE_UPOOL_H
#define VANE_UPOOL_H

#include <stdint.h>
#include <sys/queue.h>

#include "io.h"

struct server;
struct worker;
struct client;

struct uconn {
	uint32_t		 magic;
	struct io		 io;
	struct ltimer		 timer;		/* connect, response or idle deadline */
	struct server		*srv;
	struct worker		*w;
	TAILQ_ENTRY(uconn)	 entry;
	uint64_t		 last_read;	/* ms */
	uint32_t		 nreq;		/* requests sent on it so far */
};

TAILQ_HEAD(uconn_list, uconn);

struct upool {
	struct uconn_list	idle;
	int			nidle;
};

void	upool_init(struct upool *p);
/* Close every idle connection. */
void	upool_clear(struct upool *p);
/* An idle connection to srv, or NULL. */
struct uconn	*upool_get(struct worker *w, struct server *srv);
/* Keep uc for reuse, or close it if the pool is full. */
void		 upool_put(struct uconn *uc);
/* Start a non-blocking connect for c; NULL on immediate failure (errno). */
struct uconn	*uconn_connect(struct worker *w, struct server *srv,
		    void (*on_io)(void *), void (*on_timeout)(void *),
		    struct client *c);
void		 uconn_free(struct uconn *uc);
/* Hand uc to c: its I/O and deadline callbacks get c as argument. */
void		 uconn_attach(struct uconn *uc, void (*on_io)(void *),
		    void (*on_timeout)(void *), struct client *c);

#endif
