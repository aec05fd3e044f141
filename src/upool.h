/*
 * upool.h: upstream connections and the per-worker, per-server pool of idle
 * keep-alive ones (L2). An idle connection is watched for readability: any
 * byte or close from the backend while idle means discard, never reuse
 * (nginx). Most recently used first, so the rest age out.
 */
#ifndef VANE_UPOOL_H
#define VANE_UPOOL_H

#include <stdint.h>
#include <sys/queue.h>

struct bufferevent;
struct server;
struct worker;

struct uconn {
	uint32_t		 magic;
	struct bufferevent	*bev;
	struct server		*srv;
	struct worker		*w;
	TAILQ_ENTRY(uconn)	 entry;
	uint32_t		 nreq;		/* requests sent on it so far */
	int			 connected;
};

TAILQ_HEAD(uconn_list, uconn);

struct upool {
	struct uconn_list	idle;
	int			nidle;
};

void	upool_init(struct upool *p);
/* Close every idle connection. */
void	upool_clear(struct upool *p);
/* An idle connection to srv, or NULL. The caller sets the callbacks. */
struct uconn	*upool_get(struct worker *w, struct server *srv);
/* Keep uc for reuse, or close it if the pool is full. */
void		 upool_put(struct uconn *uc);
/* Start a non-blocking connect; NULL on immediate failure (errno set). */
struct uconn	*uconn_connect(struct worker *w, struct server *srv);
void		 uconn_free(struct uconn *uc);

#endif
