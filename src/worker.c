/*
 * worker.c: the worker threads. See worker.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "backend.h"
#include "cache.h"
#include "client.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "store.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#define MAX_SPARE_FIELDS	64

static struct lsock	*lsocks;
static int		 nlsocks;

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

const char *
worker_date(struct worker *w)
{
	int64_t now = now_wall();

	if (now != w->date_sec) {
		w->date_sec = now;
		format_http_date(now, w->date, sizeof(w->date));
	}
	return (w->date);
}

struct http_field *
worker_fields_get(struct worker *w)
{
	struct field_block *b;
	size_t sz;

	if ((b = w->spare_fields) != NULL) {
		w->spare_fields = b->next;
		w->nspare_fields--;
		return ((struct http_field *)b);
	}
	sz = (size_t)vane.cfg->limits_header_count * sizeof(struct http_field);
	if (sz < sizeof(struct field_block))
		sz = sizeof(struct field_block);
	return (malloc(sz));
}

void
worker_fields_put(struct worker *w, struct http_field *f)
{
	struct field_block *b = (struct field_block *)f;

	if (f == NULL)
		return;
	if (w->nspare_fields >= MAX_SPARE_FIELDS) {
		free(f);
		return;
	}
	b->next = w->spare_fields;
	w->spare_fields = b;
	w->nspare_fields++;
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->nls && w->ls[i] != l; i++)
		;
	if (i == w->nls) {
		close(fd);	/* not one of ours: cannot happen */
		return;
	}
	client_accept(w, fd, sa, salen, &lsocks[i]);
}

#define LOG_FLUSH_MS	200
static const struct timeval log_flush_tv = { 0, LOG_FLUSH_MS * 1000 };

static void
log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_access_flush();
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/* accept(2) failed, typically EMFILE: pause this listener for a second
 * rather than spin on a socket that stays readable. */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	if (err == EINTR || err == EAGAIN || err == ECONNABORTED)
		return;
	log_err("accept: %s; pausing the listener for 1s", strerror(err));
	evconnlistener_disable(l);
	event_base_once(w->base, -1, EV_TIMEOUT, accept_resume, l, &tv);
}

static void
listeners_release(struct worker *w)
{
	int i;

	for (i = 0; i < w->nls; i++)
		evconnlistener_free(w->ls[i]);
	free(w->ls);
	w->ls = NULL;
	w->nls = 0;
}

static void
stop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct client *c;

	log_notice("worker %d: shutdown timeout, closing %d connection(s)",
	    w->id, w->nclients);
	while ((c = TAILQ_FIRST(&w->clients)) != NULL)
		client_close(c, "shutdown timeout");
	event_base_loopexit(w->base, NULL);
}

static void
worker_begin_stop(struct worker *w)
{
	struct client *c, *next;
	struct timeval tv;
	int i;

	if (w->stopping)
		return;
	w->stopping = 1;
	listeners_release(w);
	for (i = 0; i < vane.nservers; i++)
		upool_clear(&w->pools[i]);
	for (c = TAILQ_FIRST(&w->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_shutdown(c);
	}
	if (w->nclients == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	ms_to_tv(vane.cfg->timeouts_shutdown, &tv);
	w->stop_timer = evtimer_new(w->base, stop_timeout_cb, w);
	if (w->stop_timer != NULL)
		evtimer_add(w->stop_timer, &tv);
}

static void
accept_set(struct worker *w, int on)
{
	int i;

	for (i = 0; i < w->nls; i++)
		if (on)
			evconnlistener_enable(w->ls[i]);
		else
			evconnlistener_disable(w->ls[i]);
	w->accept_paused = !on;
}

static int
below_limit(void)
{
	return (atomic_load(&vane.nconns) < vane.cfg->limits_connections);
}

/* The limit is global: a worker whose own clients stay also looks again
 * every 100 ms, as another worker's closes may have made room. */
static void
accept_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 0, 100 * 1000 };

	if (!w->accept_paused || w->stopping)
		return;
	if (below_limit())
		accept_set(w, 1);
	else
		evtimer_add(w->accept_timer, &tv);
}

void
worker_accept_pause(struct worker *w)
{
	struct timeval tv = { 0, 100 * 1000 };

	uint64_t now = now_mono_ms();

	if (w->accept_paused || w->stopping)
		return;
	/* At most one line in 10 s: a server at its limit pauses often. */
	if (w->accept_warned == 0 || now - w->accept_warned >= 10000) {
		w->accept_warned = now;
		log_warn("worker %d: limits.connections (%ld) reached: not "
		    "accepting until connections close", w->id,
		    vane.cfg->limits_connections);
	}
	accept_set(w, 0);
	evtimer_add(w->accept_timer, &tv);
}

void
worker_client_gone(struct worker *w)
{
	if (w->stopping && w->nclients == 0)
		event_base_loopexit(w->base, NULL);
	else if (w->accept_paused && !w->stopping && below_limit())
		accept_set(w, 1);
}

/*
 * Workers start at different places of the round-robin cycle, so that a
 * light load spread over several workers still reaches every server.
 */
static void
worker_stagger(struct worker *w, int id)
{
	int i;

	for (i = 0; vane.nservers > 1 && i < id % vane.nservers; i++)
		(void)balance_pick(&w->bal, ~0ULL, w->weights, NULL);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char cmd[16];
	ssize_t n, i;

	n = read(fd, cmd, sizeof(cmd));
	for (i = 0; i < n; i++) {
		if (cmd[i] == 'S')
			worker_begin_stop(w);
		else if (cmd[i] == 'W') {
			atomic_store(&w->wake_pending, 0);
			cache_wake_run(w);
		} else if (cmd[i] == 'Q') {
			atomic_store(&w->kicked, 0);
			upstream_queue_run(w);
		}
	}
}

static void
queue_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upstream_queue_run(arg);
}

void
worker_kick_queue(struct worker *w)
{
	if (atomic_load_explicit(&w->nqueued, memory_order_relaxed) > 0 &&
	    atomic_exchange(&w->kicked, 1) == 0)
		(void)write(w->notify_fd[1], "Q", 1);
}

void
workers_kick_queues(void)
{
	int i;

	for (i = 0; i < vane.nworkers; i++)
		worker_kick_queue(&vane.workers[i]);
}

static int
worker_setup(struct worker *w, int id)
{
	struct event_config *ecfg;
	const struct config *cfg = vane.cfg;
	int i;

	w->id = id;
	TAILQ_INIT(&w->clients);
	TAILQ_INIT(&w->queue);
	TAILQ_INIT(&w->wake);
	pthread_mutex_init(&w->wake_lock, NULL);
	atomic_store(&w->qhead, UINT64_MAX);
	if ((ecfg = event_config_new()) == NULL)
		return (-1);
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (w->base == NULL)
		return (-1);
	if (pipe2(w->notify_fd, O_NONBLOCK | O_CLOEXEC) == -1)
		return (-1);
	w->notify_ev = event_new(w->base, w->notify_fd[0],
	    EV_READ | EV_PERSIST, notify_cb, w);
	if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) == -1)
		return (-1);
	if (vane.store != NULL && (w->sc = store_open(vane.store, w->base)) ==
	    NULL)
		return (-1);
	if (w->sc != NULL && cfg->cache_store == CFG_CACHE_REDIS)
		store_redis_set_stats(w->sc, &w->st);
	w->pools = xcalloc((size_t)vane.nservers, sizeof(*w->pools));
	for (i = 0; i < vane.nservers; i++)
		upool_init(&w->pools[i]);
	/* The effective weights while no server is in slow start. */
	w->weights = xcalloc((size_t)vane.nservers, sizeof(*w->weights));
	for (i = 0; i < vane.nservers; i++)
		w->weights[i] = vane.servers[i].weight * BALANCE_SCALE;
	balance_init(&w->bal, vane.nservers, cfg->backends_balance ==
	    CFG_BALANCE_LEAST_CONN ? BALANCE_LEAST_CONN : BALANCE_RR);
	worker_stagger(w, id);
	w->req_limits.max_head = (uint32_t)cfg->limits_header_size;
	w->req_limits.max_fields = (uint32_t)cfg->limits_header_count;
	/* Backends may send larger heads (cookies): allow at least 64K. */
	w->resp_limits.max_head = cfg->limits_header_size > 65536 ?
	    (uint32_t)cfg->limits_header_size : 65536;
	w->resp_limits.max_fields = (uint32_t)cfg->limits_header_count;
	ms_to_tv(cfg->timeouts_client_header, &w->tv_client_header);
	ms_to_tv(cfg->timeouts_client_body, &w->tv_client_body);
	ms_to_tv(cfg->timeouts_client_idle, &w->tv_client_idle);
	ms_to_tv(cfg->timeouts_client_send, &w->tv_client_send);
	ms_to_tv(cfg->timeouts_backend_connect, &w->tv_backend_connect);
	ms_to_tv(cfg->timeouts_backend_response, &w->tv_backend_response);
	ms_to_tv(cfg->backends_keepalive_timeout, &w->tv_keepalive);
	if ((w->accept_timer = evtimer_new(w->base, accept_check_cb, w)) == NULL)
		return (-1);
	if ((w->queue_ev = event_new(w->base, -1, 0, queue_cb, w)) == NULL)
		return (-1);
	/* Access-log lines are buffered per worker: written at least every
	 * LOG_FLUSH_MS, so a tail -f lags that much at most. */
	if ((w->log_ev = event_new(w->base, -1, EV_PERSIST, log_flush_cb,
	    w)) == NULL || evtimer_add(w->log_ev, &log_flush_tv) == -1)
		return (-1);
	w->ls = xcalloc((size_t)(nlsocks > 0 ? nlsocks : 1), sizeof(*w->ls));
	for (i = 0; i < nlsocks; i++) {
		w->ls[i] = evconnlistener_new(w->base, accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE, -1, lsocks[i].fds[id]);
		if (w->ls[i] == NULL)
			return (-1);
		lsocks[i].fds[id] = -1;	/* the listener owns it now */
		evconnlistener_set_error_cb(w->ls[i], accept_error_cb);
		w->nls++;
	}
	return (0);
}

int
workers_init(int n)
{
	char err[512];
	int i;

	if (listeners_open(vane.cfg, n, &lsocks, &nlsocks, err,
	    sizeof(err)) == -1) {
		log_err("%s", err);
		return (-1);
	}
	vane.workers = xcalloc((size_t)n, sizeof(*vane.workers));
	vane.nworkers = n;
	for (i = 0; i < n; i++)
		if (worker_setup(&vane.workers[i], i) == -1) {
			log_err("worker %d: set-up failed: %s", i,
			    strerror(errno));
			return (-1);
		}
	for (i = 0; i < nlsocks; i++)
		log_notice("listening on %s", lsocks[i].name);
	return (0);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	log_access_thread_end();
	return (NULL);
}

int
workers_start(void)
{
	sigset_t all, old;
	int i, rc = 0;

	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < vane.nworkers; i++)
		if (pthread_create(&vane.workers[i].thread, NULL, worker_main,
		    &vane.workers[i]) != 0) {
			rc = -1;
			break;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (rc);
}

void
workers_stop(void)
{
	int i;

	for (i = 0; i < vane.nworkers; i++)
		(void)write(vane.workers[i].notify_fd[1], "S", 1);
}

void
workers_join(void)
{
	int i;

	for (i = 0; i < vane.nworkers; i++)
		pthread_join(vane.workers[i].thread, NULL);
}

void
workers_free(void)
{
	struct worker *w;
	struct field_block *b;
	int i, j;

	for (i = 0; i < vane.nworkers; i++) {
		w = &vane.workers[i];
		/* Run what the last iteration scheduled (deferred client
		 * frees) so nothing is left behind. */
		if (w->base != NULL)
			event_base_loop(w->base, EVLOOP_NONBLOCK);
		listeners_release(w);
		for (j = 0; w->pools != NULL && j < vane.nservers; j++)
			upool_clear(&w->pools[j]);
		free(w->pools);
		free(w->weights);
		if (w->sc != NULL)
			store_close(w->sc);
		while ((b = w->spare_fields) != NULL) {
			w->spare_fields = b->next;
			free(b);
		}
		if (w->stop_timer != NULL)
			event_free(w->stop_timer);
		if (w->accept_timer != NULL)
			event_free(w->accept_timer);
		if (w->queue_ev != NULL)
			event_free(w->queue_ev);
		if (w->log_ev != NULL)
			event_free(w->log_ev);
		if (w->base != NULL)
			pthread_mutex_destroy(&w->wake_lock);
		if (w->notify_ev != NULL)
			event_free(w->notify_ev);
		close(w->notify_fd[0]);
		close(w->notify_fd[1]);
		if (w->base != NULL)
			event_base_free(w->base);
	}
	free(vane.workers);
	vane.workers = NULL;
	listeners_free(lsocks, nlsocks, vane.nworkers);
	lsocks = NULL;
	nlsocks = 0;
}
