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
#include "tls.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#define MAX_SPARE_FIELDS	64

/* The generations retired but not freed yet (main thread), newest first,
 * and the counters of the freed ones. */
static struct gen	*retired;
static struct stats	 freed_stats;
static unsigned		 gen_ids;

/* Makes "which generation is in force" and "give it this connection"
 * one step for the workers, against gen_install. */
static pthread_mutex_t	 gen_lock = PTHREAD_MUTEX_INITIALIZER;

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
	sz = (size_t)w->cfg->limits_header_count * sizeof(struct http_field);
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
	client_accept(w, fd, sa, salen, &w->gen->lsocks[i]);
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
	struct worker *w = arg;
	int i;

	/* The listeners may be gone (a reload retired this worker) or
	 * paused for the connection limit, which resumes them itself. */
	if (w->stopping || w->retiring || w->accept_paused)
		return;
	for (i = 0; i < w->nls; i++)
		evconnlistener_enable(w->ls[i]);
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
	event_base_once(w->base, -1, EV_TIMEOUT, accept_resume, w, &tv);
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
	for (i = 0; i < w->nservers; i++)
		upool_clear(&w->pools[i]);
	for (c = TAILQ_FIRST(&w->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_shutdown(c);
	}
	if (w->nclients == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	if (w->stop_timer != NULL)
		return;		/* retiring already: its bound holds */
	ms_to_tv(w->cfg->timeouts_shutdown, &tv);
	w->stop_timer = evtimer_new(w->base, stop_timeout_cb, w);
	if (w->stop_timer != NULL)
		evtimer_add(w->stop_timer, &tv);
}

/*
 * A newer generation serves: stop accepting (its workers accept on the
 * same sockets), give the idle connections to it, let the others finish
 * their request and go over then (client_finish), within
 * timeouts.shutdown, and exit once no connection is left.
 */
static void
worker_begin_retire(struct worker *w)
{
	struct client *c, *next;
	struct timeval tv;
	int i;

	if (w->stopping || w->retiring)
		return;
	w->retiring = 1;
	listeners_release(w);
	for (i = 0; i < w->nservers; i++)
		upool_clear(&w->pools[i]);
	for (c = TAILQ_FIRST(&w->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_retire(c);
	}
	if (w->nclients == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	ms_to_tv(w->cfg->timeouts_shutdown, &tv);
	w->stop_timer = evtimer_new(w->base, stop_timeout_cb, w);
	if (w->stop_timer != NULL)
		evtimer_add(w->stop_timer, &tv);
}

int
worker_handover(struct worker *w, struct client *c)
{
	struct worker *to;

	pthread_mutex_lock(&gen_lock);
	if (vane.gen == w->gen || w->id >= vane.gen->nworkers) {
		pthread_mutex_unlock(&gen_lock);
		return (-1);
	}
	to = &vane.gen->workers[w->id];
	/* The new generation's listener on the same address, if any. */
	if (c->ls != NULL)
		c->ls = listeners_find(vane.gen->lsocks, vane.gen->nlsocks,
		    &c->ls->ss, c->ls->sslen);
	pthread_mutex_lock(&to->handover_lock);
	TAILQ_INSERT_TAIL(&to->handover, c, entry);
	pthread_mutex_unlock(&to->handover_lock);
	/* Written under gen_lock: the retiring of 'to' ('R', written after
	 * gen_install switched under the same lock) comes after this. */
	(void)write(to->notify_fd[1], "H", 1);
	pthread_mutex_unlock(&gen_lock);
	return (0);
}

static void
handover_run(struct worker *w)
{
	struct client_list l;
	struct client *c;

	TAILQ_INIT(&l);
	pthread_mutex_lock(&w->handover_lock);
	TAILQ_CONCAT(&l, &w->handover, entry);
	pthread_mutex_unlock(&w->handover_lock);
	while ((c = TAILQ_FIRST(&l)) != NULL) {
		TAILQ_REMOVE(&l, c, entry);
		client_adopt(w, c);
	}
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
below_limit(const struct worker *w)
{
	return (atomic_load(&vane.nconns) < w->cfg->limits_connections);
}

/* The limit is global: a worker whose own clients stay also looks again
 * every 100 ms, as another worker's closes may have made room. */
static void
accept_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 0, 100 * 1000 };

	if (!w->accept_paused || w->stopping || w->retiring)
		return;
	if (below_limit(w))
		accept_set(w, 1);
	else
		evtimer_add(w->accept_timer, &tv);
}

void
worker_accept_pause(struct worker *w)
{
	struct timeval tv = { 0, 100 * 1000 };

	uint64_t now = now_mono_ms();

	if (w->accept_paused || w->stopping || w->retiring)
		return;
	/* At most one line in 10 s: a server at its limit pauses often. */
	if (w->accept_warned == 0 || now - w->accept_warned >= 10000) {
		w->accept_warned = now;
		log_warn("worker %d: limits.connections (%ld) reached: not "
		    "accepting until connections close", w->id,
		    w->cfg->limits_connections);
	}
	accept_set(w, 0);
	evtimer_add(w->accept_timer, &tv);
}

void
worker_client_gone(struct worker *w)
{
	if ((w->stopping || w->retiring) && w->nclients == 0)
		event_base_loopexit(w->base, NULL);
	else if (w->accept_paused && !w->stopping && !w->retiring &&
	    below_limit(w))
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

	for (i = 0; w->nservers > 1 && i < id % w->nservers; i++)
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
		else if (cmd[i] == 'R')
			worker_begin_retire(w);
		else if (cmd[i] == 'H')
			handover_run(w);
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
worker_setup(struct worker *w, struct gen *g, int id)
{
	struct event_config *ecfg;
	const struct config *cfg = g->cfg;
	int i;

	w->id = id;
	w->gen = g;
	w->cfg = g->cfg;
	w->servers = g->servers;
	w->nservers = g->nservers;
	TAILQ_INIT(&w->clients);
	TAILQ_INIT(&w->queue);
	TAILQ_INIT(&w->wake);
	TAILQ_INIT(&w->handover);
	pthread_mutex_init(&w->wake_lock, NULL);
	pthread_mutex_init(&w->handover_lock, NULL);
	w->locks = 1;
	atomic_store(&w->qhead, UINT64_MAX);
	w->notify_fd[0] = w->notify_fd[1] = -1;
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
	w->pools = xcalloc((size_t)(w->nservers > 0 ? w->nservers : 1),
	    sizeof(*w->pools));
	for (i = 0; i < w->nservers; i++)
		upool_init(&w->pools[i]);
	/* The effective weights while no server is in slow start. */
	w->weights = xcalloc((size_t)(w->nservers > 0 ? w->nservers : 1),
	    sizeof(*w->weights));
	for (i = 0; i < w->nservers; i++)
		w->weights[i] = w->servers[i].weight * BALANCE_SCALE;
	balance_init(&w->bal, w->nservers, cfg->backends_balance ==
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
	/* The sockets stay the generation's (lsock fds): a reload hands
	 * them to the next one while this listener is being freed. */
	w->ls = xcalloc((size_t)(g->nlsocks > 0 ? g->nlsocks : 1),
	    sizeof(*w->ls));
	for (i = 0; i < g->nlsocks; i++) {
		w->ls[i] = evconnlistener_new(w->base, accept_cb, w, 0, -1,
		    g->lsocks[i].fds[id]);
		if (w->ls[i] == NULL)
			return (-1);
		evconnlistener_set_error_cb(w->ls[i], accept_error_cb);
		w->nls++;
	}
	return (0);
}

static void
worker_free(struct worker *w)
{
	struct field_block *b;
	int j;

	/* Connections handed over after the loop ended, then what the last
	 * iteration scheduled (deferred client frees): nothing is left. */
	if (!w->locks)
		return;		/* set-up never began */
	if (w->base != NULL) {
		handover_run(w);
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	}
	listeners_release(w);
	for (j = 0; w->pools != NULL && j < w->nservers; j++)
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
	if (w->locks) {
		pthread_mutex_destroy(&w->wake_lock);
		pthread_mutex_destroy(&w->handover_lock);
	}
	if (w->notify_ev != NULL)
		event_free(w->notify_ev);
	if (w->notify_fd[0] != -1) {
		close(w->notify_fd[0]);
		close(w->notify_fd[1]);
	}
	if (w->base != NULL)
		event_base_free(w->base);
}

static void
gen_free(struct gen *g)
{
	int i;

	for (i = 0; g->workers != NULL && i < g->nworkers; i++)
		worker_free(&g->workers[i]);
	free(g->workers);
	listeners_free(g->lsocks, g->nlsocks, g->nworkers);
	backend_free(g->servers, g->nservers);
	tls_ctx_free(g->tls);
	cache_conf_free(g->cc);
	config_free(g->cfg);
	free(g);
}

static void	gen_discard(struct gen *, struct gen *);
static void	gen_stop(struct gen *);
static void	gen_join(struct gen *);

struct gen *
gen_new(struct config *cfg, int n, struct gen *old, char *err, size_t errlen)
{
	struct gen *g = xcalloc(1, sizeof(*g));
	int i;

	g->cfg = cfg;
	g->nworkers = n;
	if (config_has_tls_listener(cfg) &&
	    (g->tls = tls_ctx_new(cfg, err, errlen)) == NULL)
		goto fail;
	if ((g->nservers = backend_init(cfg, &g->servers, err,
	    errlen)) == -1) {
		g->nservers = 0;
		goto fail;
	}
	g->cc = cache_conf_new(cfg);
	if (listeners_open(cfg, n, old != NULL ? old->lsocks : NULL,
	    old != NULL ? old->nlsocks : 0, &g->lsocks, &g->nlsocks, err,
	    errlen) == -1)
		goto fail;
	g->workers = xcalloc((size_t)n, sizeof(*g->workers));
	for (i = 0; i < n; i++)
		if (worker_setup(&g->workers[i], g, i) == -1) {
			snprintf(err, errlen, "worker %d: set-up failed: %s",
			    i, strerror(errno));
			goto fail;
		}
	g->id = ++gen_ids;
	return (g);
fail:
	g->cfg = NULL;		/* still the caller's */
	gen_discard(g, old);
	return (NULL);
}

/* Undo gen_new: g's listeners let go of the sockets, those taken from old
 * go back to it, the rest is freed. */
static void
gen_discard(struct gen *g, struct gen *old)
{
	int i;

	for (i = 0; g->workers != NULL && i < g->nworkers; i++)
		listeners_release(&g->workers[i]);
	if (old != NULL)
		listeners_return(g->lsocks, g->nlsocks, old->lsocks,
		    old->nlsocks, g->nworkers);
	gen_free(g);
}

void
gen_abort(struct gen *g, struct gen *old)
{
	gen_stop(g);
	gen_join(g);
	gen_discard(g, old);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	cache_conf_use(w->gen->cc);
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	log_access_thread_end();
	atomic_fetch_sub(&w->gen->running, 1);
	return (NULL);
}

int
gen_start(struct gen *g)
{
	sigset_t all, old;
	int i, rc = 0;

	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < g->nworkers; i++) {
		atomic_fetch_add(&g->running, 1);
		if (pthread_create(&g->workers[i].thread, NULL, worker_main,
		    &g->workers[i]) != 0) {
			atomic_fetch_sub(&g->running, 1);
			rc = -1;
			break;
		}
		g->workers[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	g->started = 1;
	return (rc);
}

void
gen_install(struct gen *g)
{
	struct gen *old = vane.gen;
	int i;

	pthread_mutex_lock(&gen_lock);
	vane.gen = g;
	pthread_mutex_unlock(&gen_lock);
	vane.cfg = g->cfg;
	vane.servers = g->servers;
	vane.nservers = g->nservers;
	vane.workers = g->workers;
	vane.nworkers = g->nworkers;
	cache_conf_use(g->cc);
	if (old == NULL)
		return;
	old->retired = 1;
	old->next = retired;
	retired = old;
	for (i = 0; i < old->nworkers; i++)
		(void)write(old->workers[i].notify_fd[1], "R", 1);
}

static void
gen_join(struct gen *g)
{
	int i;

	for (i = 0; i < g->nworkers; i++)
		if (g->workers[i].started) {
			pthread_join(g->workers[i].thread, NULL);
			g->workers[i].started = 0;
		}
}

/* Counters only: a gauge of a generation that is gone is 0. */
static void
gen_fold_stats(struct gen *g)
{
	int i;

	for (i = 0; i < g->nworkers; i++)
		stats_add_counters(&freed_stats, &g->workers[i].st);
	/* What a worker opened it also closed: its gauges end at 0. A
	 * connection that moved is counted by the worker it went to. */
}

int
gens_reap(void)
{
	struct gen **gp, *g;
	int left = 0;

	for (gp = &retired; (g = *gp) != NULL; ) {
		if (atomic_load(&g->running) > 0) {
			left++;
			gp = &g->next;
			continue;
		}
		*gp = g->next;
		gen_join(g);
		gen_fold_stats(g);
		log_info("generation %u: all connections gone, freed", g->id);
		gen_free(g);
	}
	return (left);
}

/* Another thread's counters, each read with a relaxed load: a sum that
 * is a moment old is fine, a torn read is not. */
static void
stats_add_relaxed(struct stats *dst, const struct stats *src)
{
#define STAT(name, kind, help) \
	dst->name += __atomic_load_n(&src->name, __ATOMIC_RELAXED);
#include "stats.def"
#undef STAT
}

void
workers_stats(struct stats *out)
{
	struct gen *g;
	int i;

	memset(out, 0, sizeof(*out));
	stats_add(out, &freed_stats);
	for (i = 0; vane.gen != NULL && i < vane.gen->nworkers; i++)
		stats_add_relaxed(out, &vane.gen->workers[i].st);
	for (g = retired; g != NULL; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			stats_add_relaxed(out, &g->workers[i].st);
}

static void
gen_stop(struct gen *g)
{
	int i;

	for (i = 0; i < g->nworkers; i++)
		(void)write(g->workers[i].notify_fd[1], "S", 1);
}

void
workers_stop(void)
{
	struct gen *g;

	if (vane.gen != NULL)
		gen_stop(vane.gen);
	for (g = retired; g != NULL; g = g->next)
		gen_stop(g);
}

void
workers_join(void)
{
	struct gen *g;

	for (g = retired; g != NULL; g = g->next)
		gen_join(g);
	if (vane.gen != NULL)
		gen_join(vane.gen);
}

void
workers_free(void)
{
	struct gen *g;

	(void)gens_reap();
	/* Retired generations go first: a connection they handed over
	 * late is then closed by the one in force. */
	while ((g = retired) != NULL) {
		retired = g->next;
		gen_join(g);
		gen_free(g);
	}
	if ((g = vane.gen) != NULL) {
		gen_join(g);
		gen_free(g);
	}
	vane.gen = NULL;
	vane.cfg = NULL;
	vane.servers = NULL;
	vane.nservers = 0;
	vane.workers = NULL;
	vane.nworkers = 0;
}
