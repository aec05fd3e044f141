/*
 * redis.h: one asynchronous connection to Redis per worker (L2), the
 * transport of the Redis store. hiredis's async API on the worker's
 * event_base; nothing here ever blocks the event loop.
 *
 * A command gets exactly one callback: Redis's reply, or an error status
 * (the connection is not ready, no reply within the timeout, the
 * connection was lost, or an error reply). Never a second, late one:
 * a reply that comes after its command was reported as timed out, or
 * was cancelled, is swallowed. The store treats every error as a miss.
 *
 * The connection keeps itself up: connect (bounded by connect_timeout),
 * AUTH and SELECT when configured, and a PING, so "ready" means Redis
 * answered. On any failure it goes down and tries again after an
 * exponential backoff with jitter; while it is not ready, commands fail
 * at once with REDIS_DOWN instead of waiting. State changes are logged
 * once each (notice when connected, warn when down), not per command.
 *
 * Use a connection only on the thread that runs its event_base.
 */
#ifndef VANE_REDIS_H
#define VANE_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct stats;
struct redisReply;
struct redis_conn;
struct redis_req;

enum redis_status {
	REDIS_REPLIED,	/* reply is Redis's answer (not an error reply) */
	REDIS_REJECTED,	/* reply is an error reply; reply->str says why */
	REDIS_DOWN,	/* not sent: the connection is not ready */
	REDIS_TIMEOUT,	/* no reply within timeout_ms */
	REDIS_LOST	/* sent, but the connection went before the reply */
};

struct redis_opts {
	/* "host:port", "[v6]:port" (numeric, or "localhost": no DNS),
	 * "unix:/path" or "/path". */
	const char	*address;
	const char	*username;	/* ACL user for AUTH; NULL: default user */
	const char	*password;	/* NULL: no AUTH */
	long		 db;		/* SELECT db unless 0 */
	uint64_t	 timeout_ms;	/* per command; 0: 50 */
	/*
	 * Bound on connect + AUTH + SELECT + PING; 0: 1000. Also the stall
	 * limit: when the oldest command sent has waited this long without
	 * a reply (Redis stopped, a network black hole), the connection is
	 * closed and opened again, so pending commands do not pile up.
	 */
	uint64_t	 connect_timeout_ms;
	/* Reconnect delay: backoff_min_ms doubling up to backoff_max_ms,
	 * each delay drawn in [d/2, d]; 0: 100 and 3000. */
	uint64_t	 backoff_min_ms;
	uint64_t	 backoff_max_ms;
	struct stats	*st;		/* the worker's counters; NULL: none */
	/*
	 * Called each time the connection becomes ready (the first time and
	 * after every reconnect), before any other command is sent on it:
	 * the Redis store loads its scripts there (SCRIPT LOAD), since a
	 * restarted Redis has forgotten them. It may send commands; it must
	 * not call redis_close(). NULL: none.
	 */
	void		(*on_ready)(void *arg);
	void		*ready_arg;
	/* Connections that share one (all the workers' of one store) log a
	 * state change once between them, not once each; NULL: each logs
	 * its own. Outlives them; zeroed before the first redis_open. */
	struct redis_log	*log;
};

/*
 * The shared log state: "down" is logged when the first connection of
 * the group goes down, "connected" when the first comes up and again
 * when the last one that was down is back.
 */
struct redis_log {
	_Atomic int	 down;		/* connections down now, once up */
	_Atomic int	 announced;	/* "connected" logged once */
};

/*
 * Called exactly once per command, unless cancelled. reply is NULL unless
 * status is REDIS_REPLIED or REDIS_REJECTED, and is valid only during the
 * call (hiredis frees it after). The callback may issue commands and
 * cancel others; it must not call redis_close().
 */
typedef void	redis_cb(void *arg, enum redis_status status,
		    const struct redisReply *reply);

/*
 * A connection to opts->address on base; it starts connecting at once
 * (non-blocking) and reconnects by itself. The options are copied.
 * Returns NULL with a reason in err when the address is not valid or
 * memory is short.
 */
struct redis_conn	*redis_open(struct event_base *base,
			    const struct redis_opts *opts, char *err,
			    size_t errlen);
/*
 * Close the connection; each command still pending gets its callback
 * (REDIS_LOST) before this returns. Not from inside a redis_cb.
 */
void	redis_close(struct redis_conn *rc);

/*
 * Send one command, binary-safe: argc arguments, argv[i] of argvlen[i]
 * bytes. Returns a handle that redis_cancel() accepts until the callback
 * runs, or NULL when the callback has already run (REDIS_DOWN: the
 * connection is not ready, or memory is short).
 */
struct redis_req	*redis_command(struct redis_conn *rc, redis_cb *cb,
			    void *arg, int argc, const char **argv,
			    const size_t *argvlen);
/* The callback of req will not be called. Only before it ran. */
void	redis_cancel(struct redis_req *req);

/* Count into st from now on (the worker's counters, once it has them);
 * NULL: the connection's own. */
void	redis_set_stats(struct redis_conn *rc, struct stats *st);
/* 1 when commands are being sent (connected, authenticated, selected). */
int	redis_ready(const struct redis_conn *rc);
/* "replied", "rejected", "down", "timeout", "lost": for logs. */
const char	*redis_status_str(enum redis_status status);

#endif
