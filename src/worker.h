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

TAILQ_HEAD(client_list, client);

struct field_block {
	struct field_block	*next;
};

struct worker {
	int			 id;
	pthread_t		 thread;
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

/* Start-up: create the workers and their listening sockets. */
int	workers_init(int n);
int	workers_start(void);
/* Ask every worker to stop gracefully; workers_join waits for them. */
void	workers_stop(void);
void	workers_join(void);
void	workers_free(void);

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
