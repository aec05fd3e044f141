/*
 * vane.h: the process-wide runtime (L5 owns it, lower layers read it):
 * the configuration in force, the backend servers and the workers.
 * Everything here is written before the workers start and only read
 * afterwards, except the atomics.
 */
#ifndef VANE_VANE_H
#define VANE_VANE_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

struct server;
struct store;
struct worker;

struct vane {
	struct config	*cfg;
	struct server	*servers;
	int		 nservers;
	struct store	*store;		/* the response cache; NULL: cache.store "off" */
	struct worker	*workers;
	int		 nworkers;
	atomic_int	 nconns;	/* client connections open, all workers */
	atomic_int	 queued;	/* requests waiting for a backend slot */
	_Atomic uint64_t qticket;	/* next place in the line, all workers */
};

extern struct vane vane;

/* Magic numbers for CHECK_OBJ-style asserts (Varnish). */
#define CLIENT_MAGIC	0x636c6e74u
#define UCONN_MAGIC	0x75636f6eu
#define CHECK_OBJ(p, m)	do { if ((p) == NULL || (p)->magic != (m)) abort(); } while (0)

#endif
