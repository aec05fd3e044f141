/*
 * worker.h: one event-loop thread (L5). Each worker has its own
 * event_base (EVENT_BASE_FLAG_NOLOCK), its own accepting sockets
 * (SO_REUSEPORT), its own upstream pools and counters, so the request path
 * takes no lock. The main thread talks to a worker only through its notify
 * pipe.
 */
#ifndef VANE_WORKER_H
#define VANE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "balance.h"
#include "http_parse.h"
#include "stats.h"

struct event_base;
struct event;
struct evconnlistener;
struct upool;
struct store_conn;
struct client;
struct config;
struct server;
struct lsock;
struct tls_ctx;
struct cache_conf;

TAILQ_HEAD(client_list, client);

/*
 * A generation: one configuration and everything built from it (backend
 * servers, TLS context, cache settings, listening sockets) with the worker
 * threads that serve it. A reload builds a new generation beside the
 * running one, starts it, then retires the old: its workers stop
 * accepting (the new ones accept on the same sockets), hand their idle
 * keep-alive connections over to the new workers, finish the requests in
 * flight, and exit; the main thread then frees the generation. A worker
 * only ever reads its own generation, so no request sees two
 * configurations.
 */
struct gen {
	unsigned		 id;		/* 1 at start, +1 per reload */
	struct config		*cfg;
	struct server		*servers;
	int			 nservers;
	struct tls_ctx		*tls;		/* NULL: no TLS listener */
	struct cache_conf	*cc;		/* NULL: no cache */
	struct lsock		*lsocks;
	int			 nlsocks;
	struct worker		*workers;
	int			 nworkers;
	atomic_int		 running;	/* threads not returned yet */
	int			 started;
	int			 retired;
	struct gen		*next;		/* the retired ones */
};

struct field_block {
	struct field_block	*next;
};

struct worker {
	int			 id;
	pthread_t		 thread;
	struct gen		*gen;
	const struct config	*cfg;		/* gen's, for short */
	struct server		*servers;	/* gen's */
	int			 nservers;
	struct event_base	*base;
	int			 notify_fd[2];
	struct event		*notify_ev;
	struct evconnlistener	**ls;
	int			 nls;
	struct upool		*pools;		/* one per server */
	struct store_conn	*sc;		/* this worker's cache handle, or NULL */
	struct balance		 bal;
	int			*weights;	/* weight * BALANCE_SCALE per server */
	struct client_list	 clients;
	int			 nclients;
	int			 stopping;
	int			 retiring;	/* a newer generation serves */
	int			 started;	/* its thread runs or ran */
	int			 locks;		/* set-up began: mutexes live */
	struct event		*stop_timer;
	int			 accept_paused;	/* limits.connections reached */
	struct event		*accept_timer;
	uint64_t		 accept_warned;	/* ms of the last warning */
	struct stats		 st;

	/* Requests whose coalesced fetch ended (cache.c), filled by any
	 * worker under wake_lock; a 'W' in the notify pipe says so. */
	pthread_mutex_t		 wake_lock;
	struct client_list	 wake;
	atomic_int		 wake_pending;

	/* Requests waiting for a backend slot (max_conns), oldest first. */
	struct client_list	 queue;
	atomic_int		 nqueued;
	atomic_int		 kicked;	/* a 'Q' is in the notify pipe */
	_Atomic uint64_t	 qhead;		/* qticket of the oldest; UINT64_MAX: none */
	struct event		*queue_ev;
	struct event		*log_ev;	/* flushes the access log */

	/* Idle connections handed over by the retiring generation's
	 * worker of the same id, under handover_lock; an 'H' says so. */
	pthread_mutex_t		 handover_lock;
	struct client_list	 handover;

	/* Derived from the configuration once. */
	struct http_limits	 req_limits;
	struct http_limits	 resp_limits;
	struct timeval		 tv_client_header;
	struct timeval		 tv_client_body;
	struct timeval		 tv_client_idle;
	struct timeval		 tv_client_send;
	struct timeval		 tv_backend_connect;
	struct timeval		 tv_backend_response;
	struct timeval		 tv_keepalive;

	/* Spare header-field arrays (limits.header_count entries each). */
	struct field_block	*spare_fields;
	int			 nspare_fields;

	/* Date header value, refreshed once a second. */
	int64_t			 date_sec;
	char			 date[40];
};

/*
 * A generation for cfg (which it owns from now on) with n workers, not
 * started: its servers, TLS context, cache settings and listening sockets
 * (those old binds too are taken over). NULL with "FILE:LINE: message" in
 * err; cfg is then still the caller's.
 */
struct gen	*gen_new(struct config *cfg, int n, struct gen *old, char *err,
		    size_t errlen);
/* Start g's threads: 0, or -1 (errno) when one could not be created;
 * gen_abort then stops those that did and gives old its sockets back. */
int		 gen_start(struct gen *g);
void		 gen_abort(struct gen *g, struct gen *old);
/* Make g the generation in force (vane.gen and its aliases in vane),
 * retiring the one before, if any. Main thread. */
void		 gen_install(struct gen *g);
/* Free the retired generations whose workers are all gone; the number
 * still running. Main thread. */
int		 gens_reap(void);
/* Every counter summed over the workers of all generations, the freed
 * ones included (counters only grow, even across reloads). */
void		 workers_stats(struct stats *out);

/* Ask every worker to stop gracefully; workers_join waits for them. */
void	workers_stop(void);
void	workers_join(void);
void	workers_free(void);

/* A retiring worker's idle connection goes to the generation in force:
 * 0, or -1 when it cannot (the caller closes it). */
int	worker_handover(struct worker *w, struct client *c);

/* The current Date field value (IMF-fixdate). */
const char	*worker_date(struct worker *w);
/* A field array for the parser; NULL when out of memory. */
struct http_field	*worker_fields_get(struct worker *w);
void			 worker_fields_put(struct worker *w, struct http_field *f);

/* Slots freed or servers changed state: every worker with requests
 * queued looks at its queue again. Any thread. */
void	workers_kick_queues(void);
/* The same for one worker. Any thread. */
void	worker_kick_queue(struct worker *w);

/* Called by client.c when a client connection is gone. */
void	worker_client_gone(struct worker *w);
/* limits.connections reached: stop accepting (new connections wait in
 * the listen backlog) until connections close. */
void	worker_accept_pause(struct worker *w);

#endif
