/*
 * redis.c: one asynchronous connection to Redis per worker (L2): the
 * connection state machine, the per-command timeout and the counters.
 * The only includer of hiredis besides main.c's version banner and the
 * Redis store (check-layers.sh).
 *
 * States:
 *	CONNECTING	redisAsyncConnect*() (non-blocking), waiting for the
 *			connect callback.
 *	HANDSHAKE	connected; AUTH, SELECT and PING pipelined, waiting
 *			for their replies. connect_timeout bounds both states.
 *	READY		commands are sent.
 *	DOWN		no context; retry_ev fires after the backoff.
 * Commands are only sent when READY; otherwise they fail at once with
 * REDIS_DOWN (a miss), so no request waits on a connection that is not
 * there.
 *
 * Timeouts: hiredis 0.14 has no per-command timeout, and it answers in
 * order, so the commands sent form a FIFO (fifo) and one timer (cmd_ev)
 * watches its oldest unreported entry. The timeout is the same for all,
 * so deadlines grow along the FIFO. The timer is armed lazily: a reply
 * does not re-arm it; when it fires it reports every command past its
 * deadline as REDIS_TIMEOUT, then arms itself for the next deadline.
 * A reported command stays in the FIFO, marked done, because hiredis
 * still holds it as privdata and will deliver its reply (swallowed then)
 * or NULL when the context is freed. Cancelled commands are handled the
 * same way. The FIFO's head has been waiting longest: when it has waited
 * connect_timeout without a reply, Redis is stuck and the connection is
 * dropped (its pending commands get REDIS_LOST, or nothing if already
 * reported), so the FIFO cannot grow without bound.
 *
 * Freeing a hiredis context: never from inside a hiredis callback (0.14
 * frees synchronously from the connect callback, and its caller then
 * uses the freed context). A failure seen in a callback (an AUTH error)
 * arms conn_ev with no delay instead, and the context is freed from
 * there. When hiredis drops a context itself (I/O error, EOF, connect
 * failure), it calls every pending callback with a NULL reply and then
 * the disconnect callback; the first of those forgets the context
 * (rc->ac = NULL): hiredis frees it on return.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "redis.h"
#include "stats.h"
#include "util.h"

#define REDIS_REQ_MAGIC		0x72726571u
#define DEF_TIMEOUT_MS		50
#define DEF_CONNECT_MS		1000
#define DEF_BACKOFF_MIN_MS	100
#define DEF_BACKOFF_MAX_MS	3000
#define HS_MAX			3	/* AUTH, SELECT, PING */

enum conn_state { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_READY };
enum conn_logged { LOGGED_NONE, LOGGED_UP, LOGGED_DOWN };

struct redis_req {
	unsigned		 magic;
	struct redis_conn	*rc;
	redis_cb		*cb;
	void			*arg;
	int			 done;	/* reported or cancelled */
	uint64_t		 sent;	/* monotonic microseconds */
	TAILQ_ENTRY(redis_req)	 link;
};
TAILQ_HEAD(req_fifo, redis_req);

struct redis_conn {
	struct event_base	*base;
	redisAsyncContext	*ac;	/* NULL when DOWN */
	enum conn_state		 state;
	enum conn_logged	 logged;
	struct redis_log	*log;	/* shared, or NULL */
	char			*name;	/* the address as configured */
	char			*host;	/* numeric; NULL for a Unix socket */
	int			 port;
	char			*path;	/* Unix socket */
	char			*username, *password;
	long			 db;
	uint64_t		 timeout_us, connect_ms;
	uint64_t		 backoff_min, backoff_max, backoff;
	uint64_t		 attempts;
	uint64_t		 rng;
	struct stats		*st;
	struct stats		 own_st;	/* when opts->st is NULL */
	void			(*on_ready)(void *);
	void			*ready_arg;
	struct event		*conn_ev;	/* connect timeout; deferred kill */
	struct event		*retry_ev;	/* reconnect after backoff */
	struct event		*cmd_ev;	/* command timeouts, stall */
	struct req_fifo		 fifo;
	int			 hs_pending, hs_done;
	const char		*hs_names[HS_MAX];
	int			 kill;	/* conn_ev drops the context: why */
	int			 in_cb;	/* inside a redis_cb: no redis_close */
	char			 why[256];
};

static void	conn_connect(struct redis_conn *);

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

static struct timeval
tv_us(uint64_t us)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	return (tv);
}

const char *
redis_status_str(enum redis_status s)
{
	static const char *const names[] = {
		"replied", "rejected", "down", "timeout", "lost"
	};

	return ((unsigned)s < sizeof(names) / sizeof(names[0]) ?
	    names[s] : "?");
}

void
redis_set_stats(struct redis_conn *rc, struct stats *st)
{
	if (st == NULL)
		st = &rc->own_st;
	if (rc->state == ST_READY) {	/* the gauge moves with it */
		if (rc->st->redis_connected > 0)
			rc->st->redis_connected--;
		st->redis_connected++;
	}
	rc->st = st;
}

int
redis_ready(const struct redis_conn *rc)
{
	return (rc->state == ST_READY);
}

/* xorshift64: jitter only, no need for more. */
static uint64_t
conn_rand(struct redis_conn *rc)
{
	rc->rng ^= rc->rng << 13;
	rc->rng ^= rc->rng >> 7;
	rc->rng ^= rc->rng << 17;
	return (rc->rng);
}

/*
 * The connection is gone (or never came): forget the context (the caller
 * frees it, or hiredis does), log if that is news, retry after the
 * backoff: a delay in [d/2, d], d doubling up to backoff_max.
 */
static void
conn_down(struct redis_conn *rc, const char *why)
{
	uint64_t	 d;
	struct timeval	 tv;

	if (rc->state == ST_READY && rc->st->redis_connected > 0)
		rc->st->redis_connected--;
	rc->ac = NULL;
	rc->state = ST_DOWN;
	rc->kill = 0;
	evtimer_del(rc->conn_ev);
	if (rc->logged != LOGGED_DOWN) {
		if (rc->log == NULL || atomic_fetch_add(&rc->log->down, 1) == 0)
			log_warn("redis %s: down: %s; retrying", rc->name, why);
		else
			log_info("redis %s: down: %s; retrying", rc->name,
			    why);
		rc->logged = LOGGED_DOWN;
	} else
		log_debug("redis %s: still down: %s", rc->name, why);
	d = rc->backoff;
	rc->backoff = rc->backoff * 2 > rc->backoff_max ? rc->backoff_max :
	    rc->backoff * 2;
	d = d / 2 + conn_rand(rc) % (d / 2 + 1);
	tv = tv_us(d * 1000);
	evtimer_add(rc->retry_ev, &tv);
}

/* hiredis is tearing ac down by itself (we are inside one of its calls). */
static void
conn_lost(struct redis_conn *rc, const redisAsyncContext *ac)
{
	char why[256];

	if (rc->ac != ac)
		return;		/* already forgotten */
	snprintf(why, sizeof(why), "%s", ac->c.err != 0 ? ac->c.errstr :
	    "connection closed");
	conn_down(rc, why);
}

/* Drop the current context ourselves (never from a hiredis callback). */
static void
conn_drop(struct redis_conn *rc, const char *why)
{
	redisAsyncContext *ac = rc->ac;

	conn_down(rc, why);
	if (ac != NULL)
		redisAsyncFree(ac);	/* pending commands: REDIS_LOST */
}

static void
conn_ready(struct redis_conn *rc)
{
	rc->state = ST_READY;
	rc->st->redis_connected++;
	rc->backoff = rc->backoff_min;
	evtimer_del(rc->conn_ev);
	if (rc->logged != LOGGED_UP) {
		if (rc->log == NULL || (rc->logged == LOGGED_DOWN ?
		    atomic_fetch_sub(&rc->log->down, 1) == 1 :
		    atomic_exchange(&rc->log->announced, 1) == 0))
			log_notice("redis %s: connected", rc->name);
		else
			log_info("redis %s: connected", rc->name);
		rc->logged = LOGGED_UP;
	}
	if (rc->on_ready != NULL) {
		rc->in_cb++;
		rc->on_ready(rc->ready_arg);
		rc->in_cb--;
	}
}

/* A failure seen inside a hiredis callback: drop the context from conn_ev. */
static void
conn_kill_soon(struct redis_conn *rc)
{
	struct timeval tv = { 0, 0 };

	rc->kill = 1;
	evtimer_add(rc->conn_ev, &tv);
}

/* conn_ev: the connect timeout, or a kill asked for by conn_kill_soon. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn	*rc = arg;
	char			 why[256];

	if (rc->ac == NULL)
		return;
	if (rc->kill)
		snprintf(why, sizeof(why), "%s", rc->why);
	else
		snprintf(why, sizeof(why), "no answer within %" PRIu64 "ms "
		    "(cache.redis.connect_timeout)", rc->connect_ms);
	conn_drop(rc, why);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_connect(arg);
}

/* The reply to AUTH, SELECT or PING, in that order. */
static void
hs_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn	*rc = priv;
	redisReply		*reply = r;

	if (rc->ac != ac || rc->state != ST_HANDSHAKE || rc->kill ||
	    reply == NULL)
		return;		/* a NULL reply: the disconnect callback follows */
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(rc->why, sizeof(rc->why), "%s failed: %s",
		    rc->hs_names[rc->hs_done], reply->str);
		conn_kill_soon(rc);
		return;
	}
	rc->hs_done++;
	if (--rc->hs_pending == 0)
		conn_ready(rc);
}

static int
hs_send(struct redis_conn *rc, const char *name, int argc, const char **argv)
{
	size_t	 len[3];
	int	 i;

	for (i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(rc->ac, hs_reply_cb, rc, argc, argv, len) !=
	    REDIS_OK)
		return (-1);
	rc->hs_names[rc->hs_pending++] = name;
	return (0);
}

/* Connected: pipeline AUTH, SELECT and a PING whose answer means ready. */
static void
connect_cb(const redisAsyncContext *ac, int status)
{
	struct redis_conn	*rc = ac->data;
	const char		*argv[3];
	char			 db[32];
	int			 n;

	if (rc->ac != ac)
		return;
	if (status != REDIS_OK) {
		conn_lost(rc, ac);	/* hiredis frees ac on return */
		return;
	}
	rc->state = ST_HANDSHAKE;
	rc->hs_pending = rc->hs_done = 0;
	if (rc->password != NULL) {
		n = 0;
		argv[n++] = "AUTH";
		if (rc->username != NULL)
			argv[n++] = rc->username;
		argv[n++] = rc->password;
		if (hs_send(rc, "AUTH", n, argv) == -1)
			goto fail;
	}
	if (rc->db != 0) {
		snprintf(db, sizeof(db), "%ld", rc->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if (hs_send(rc, "SELECT", 2, argv) == -1)
			goto fail;
	}
	argv[0] = "PING";
	if (hs_send(rc, "PING", 1, argv) == -1)
		goto fail;
	return;
fail:
	snprintf(rc->why, sizeof(rc->why), "cannot queue the handshake");
	conn_kill_soon(rc);
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	conn_lost(ac->data, ac);
}

/* DOWN -> CONNECTING, or DOWN again with the next retry scheduled. */
static void
conn_connect(struct redis_conn *rc)
{
	redisAsyncContext	*ac;
	struct timeval		 tv;
	char			 why[256];

	if (rc->attempts++ > 0)
		rc->st->redis_reconnects++;
	if (rc->path != NULL)
		ac = redisAsyncConnectUnix(rc->path);
	else
		ac = redisAsyncConnect(rc->host, rc->port);
	if (ac == NULL) {
		conn_down(rc, "out of memory");
		return;
	}
	if (ac->err != 0) {
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		conn_down(rc, why);
		return;
	}
	ac->data = rc;
	if (redisLibeventAttach(ac, rc->base) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_down(rc, "cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	rc->ac = ac;
	rc->state = ST_CONNECTING;
	rc->kill = 0;
	tv = tv_us(rc->connect_ms * 1000);
	evtimer_add(rc->conn_ev, &tv);
}

/* ------------------------------------------------------------ commands */

static void
req_report(struct redis_req *req, enum redis_status status,
    const redisReply *reply)
{
	struct stats *st = req->rc->st;

	req->done = 1;
	if (status == REDIS_TIMEOUT)
		st->redis_timeouts++;
	else if (status != REDIS_REPLIED)
		st->redis_errors++;
	req->rc->in_cb++;
	req->cb(req->arg, status, reply);
	req->rc->in_cb--;
}

/* hiredis's callback for a command: the reply, or NULL when ac goes. */
static void
req_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_req	*req = priv;
	struct redis_conn	*rc = req->rc;
	redisReply		*reply = r;

	TAILQ_REMOVE(&rc->fifo, req, link);
	if (reply != NULL) {
		rc->st->redis_replies++;
		rc->st->redis_rtt_us += mono_us() - req->sent;
	} else
		conn_lost(rc, ac);	/* commands fail fast from now on */
	if (!req->done)
		req_report(req, reply == NULL ? REDIS_LOST :
		    reply->type == REDIS_REPLY_ERROR ? REDIS_REJECTED :
		    REDIS_REPLIED, reply);
	req->magic = 0;
	free(req);
}

/* The next time cmd_ev must look: a deadline, or the stall limit. */
static void
cmd_timer_arm(struct redis_conn *rc, uint64_t now)
{
	struct redis_req	*head, *r;
	uint64_t		 at;
	struct timeval		 tv;

	if ((head = TAILQ_FIRST(&rc->fifo)) == NULL) {
		evtimer_del(rc->cmd_ev);
		return;
	}
	at = head->sent + rc->connect_ms * 1000;
	TAILQ_FOREACH(r, &rc->fifo, link)
		if (!r->done) {
			if (r->sent + rc->timeout_us < at)
				at = r->sent + rc->timeout_us;
			break;
		}
	tv = tv_us(at > now ? at - now : 0);
	evtimer_add(rc->cmd_ev, &tv);
}

static void
cmd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_conn	*rc = arg;
	struct redis_req	*r, *head;
	uint64_t		 now = mono_us();
	char			 why[128];

	/* Callbacks may add commands (at the tail, later deadlines) and
	 * cancel others; r stays linked until hiredis answers it. */
	for (r = TAILQ_FIRST(&rc->fifo); r != NULL; r = TAILQ_NEXT(r, link)) {
		if (r->done)
			continue;
		if (r->sent + rc->timeout_us > now)
			break;
		req_report(r, REDIS_TIMEOUT, NULL);
	}
	head = TAILQ_FIRST(&rc->fifo);
	if (head != NULL && rc->ac != NULL &&
	    now - head->sent >= rc->connect_ms * 1000) {
		snprintf(why, sizeof(why), "no reply for %" PRIu64 "ms",
		    (now - head->sent) / 1000);
		conn_drop(rc, why);
		return;
	}
	cmd_timer_arm(rc, now);
}

static struct redis_req *
cmd_fail(struct redis_conn *rc, redis_cb *cb, void *arg)
{
	rc->st->redis_errors++;
	cb(arg, REDIS_DOWN, NULL);
	return (NULL);
}

struct redis_req *
redis_command(struct redis_conn *rc, redis_cb *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct redis_req *req;

	rc->st->redis_commands++;
	if (rc->state != ST_READY || (req = calloc(1, sizeof(*req))) == NULL)
		return (cmd_fail(rc, cb, arg));
	req->magic = REDIS_REQ_MAGIC;
	req->rc = rc;
	req->cb = cb;
	req->arg = arg;
	req->sent = mono_us();
	if (redisAsyncCommandArgv(rc->ac, req_reply_cb, req, argc, argv,
	    argvlen) != REDIS_OK) {
		free(req);
		return (cmd_fail(rc, cb, arg));
	}
	TAILQ_INSERT_TAIL(&rc->fifo, req, link);
	if (!evtimer_pending(rc->cmd_ev, NULL))
		cmd_timer_arm(rc, req->sent);
	return (req);
}

void
redis_cancel(struct redis_req *req)
{
	if (req == NULL || req->magic != REDIS_REQ_MAGIC || req->done)
		abort();	/* freed, foreign, or its callback already ran */
	req->done = 1;
}

/* ---------------------------------------------------------- open/close */

/* "unix:/path", "/path", or host:port resolved without DNS. */
static int
conn_address(struct redis_conn *rc, const char *a, char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*why;
	char			 host[64];

	if (strncmp(a, "unix:", 5) == 0)
		a += 5;
	if (a[0] == '/') {
		if ((rc->path = strdup(a)) == NULL)
			goto oom;
		return (0);
	}
	if (parse_address(a, &ss, &len, &why) == -1) {
		snprintf(err, errlen, "redis address \"%s\": %s", rc->name,
		    why);
		return (-1);
	}
	format_host((struct sockaddr *)&ss, host, sizeof(host));
	rc->port = ss.ss_family == AF_INET6 ?
	    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
	    ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if ((rc->host = strdup(host)) == NULL)
		goto oom;
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

static char *
dup_opt(const char *s, int *oom)
{
	char *p;

	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL)
		*oom = 1;
	return (p);
}

static void
conn_free(struct redis_conn *rc)
{
	if (rc->conn_ev != NULL)
		event_free(rc->conn_ev);
	if (rc->retry_ev != NULL)
		event_free(rc->retry_ev);
	if (rc->cmd_ev != NULL)
		event_free(rc->cmd_ev);
	free(rc->name);
	free(rc->host);
	free(rc->path);
	free(rc->username);
	free(rc->password);
	free(rc);
}

struct redis_conn *
redis_open(struct event_base *base, const struct redis_opts *o, char *err,
    size_t errlen)
{
	struct redis_conn	*rc;
	int			 oom = 0;

	if ((rc = calloc(1, sizeof(*rc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	rc->base = base;
	TAILQ_INIT(&rc->fifo);
	rc->st = o->st != NULL ? o->st : &rc->own_st;
	rc->db = o->db;
	rc->on_ready = o->on_ready;
	rc->ready_arg = o->ready_arg;
	rc->log = o->log;
	rc->timeout_us = (o->timeout_ms ? o->timeout_ms : DEF_TIMEOUT_MS) *
	    1000;
	rc->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms :
	    DEF_CONNECT_MS;
	/* The stall limit must leave room for the command timeout. */
	if (rc->connect_ms * 1000 < rc->timeout_us)
		rc->connect_ms = rc->timeout_us / 1000;
	rc->backoff_min = o->backoff_min_ms ? o->backoff_min_ms :
	    DEF_BACKOFF_MIN_MS;
	rc->backoff_max = o->backoff_max_ms ? o->backoff_max_ms :
	    DEF_BACKOFF_MAX_MS;
	if (rc->backoff_max < rc->backoff_min)
		rc->backoff_max = rc->backoff_min;
	rc->backoff = rc->backoff_min;
	rc->rng = mono_us() ^ (uint64_t)(uintptr_t)rc ^ 0x9e3779b97f4a7c15ull;
	rc->name = dup_opt(o->address != NULL ? o->address : "", &oom);
	rc->username = dup_opt(o->username, &oom);
	rc->password = dup_opt(o->password, &oom);
	rc->conn_ev = evtimer_new(base, conn_timer_cb, rc);
	rc->retry_ev = evtimer_new(base, retry_cb, rc);
	rc->cmd_ev = evtimer_new(base, cmd_timer_cb, rc);
	if (oom || rc->conn_ev == NULL || rc->retry_ev == NULL ||
	    rc->cmd_ev == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (conn_address(rc, rc->name, err, errlen) == -1)
		goto fail;
	conn_connect(rc);
	return (rc);
fail:
	conn_free(rc);
	return (NULL);
}

void
redis_close(struct redis_conn *rc)
{
	redisAsyncContext *ac = rc->ac;

	if (rc->in_cb)
		abort();	/* hiredis would use the context after */
	if (rc->state == ST_READY && rc->st->redis_connected > 0)
		rc->st->redis_connected--;
	rc->state = ST_DOWN;	/* callbacks below cannot send any more */
	rc->ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);	/* each pending command: REDIS_LOST */
	if (!TAILQ_EMPTY(&rc->fifo))
		abort();	/* hiredis answers every command it took */
	if (rc->log != NULL && rc->logged == LOGGED_DOWN)
		atomic_fetch_sub(&rc->log->down, 1);
	conn_free(rc);
}
