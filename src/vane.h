/*
 * vane.h: the process-wide runtime (L5 owns it, lower layers read it):
 * the generation in force, the store and the process-wide counts. The
 * generation pointers are written by the main thread only (start-up and
 * reload); the atomics by any thread.
 */
#ifndef VANE_VANE_H
#define VANE_VANE_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

struct gen;
struct server;
struct store;
struct worker;

struct vane {
	/* The generation in force (worker.h) and, for the main thread
	 * (admin, health checks, signals), its parts; a worker reads its
	 * own generation (w->cfg, w->servers), never these. */
	struct gen	*gen;
	struct config	*cfg;
	struct server	*servers;
	int		 nservers;
	struct worker	*workers;
	int		 nworkers;
	struct store	*store;		/* the response cache; NULL: cache.store "off" */
	/* Reloads that kept the running generation, and why the last one
	 * did ("" once one succeeded since): main thread only, for the
	 * admin listener's GET /reload (vane -s reload waits on it). */
	unsigned	 reload_failures;
	char		 reload_error[1024];
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
