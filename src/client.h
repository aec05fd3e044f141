/*
 * client.h: one client connection and the request it is working on (L4).
 *
 * The state machine (client.c owns the client side, upstream.c the backend
 * side of the same transaction):
 *
 *   IDLE --first byte--> HEAD --head parsed--> FORWARD --response done-->
 *     IDLE (keep-alive; a pipelined request already buffered is parsed at
 *     once) or CLOSING (flush, then LINGER: write side shut, input
 *     discarded for a while so the client reads the answer before the
 *     close; RFC 9112 §9.6).
 *   FORWARD --101 to an upgrade--> TUNNEL (bytes both ways until both
 *     sides closed, tunnel.c) --> closed.
 *
 * Every failure ends in client_close(c, reason): the one teardown, which
 * logs the reason. The struct is freed after the current callback
 * returns, so code that called client_close may still look at c->closed.
 *
 * A background client (c->bg, client_background) is a request vane sends
 * on its own, a stale-while-revalidate refresh: no connection (io.fd -1),
 * the same path through the cache and upstream.c, its answer dropped
 * instead of sent, and it closes itself when the answer is in, on any
 * error or timeout, and when the worker stops. It is in w->clients (a
 * graceful stop sees it) but is not a connection: not in nconns,
 * connections_active, requests or the access log.
 */
#ifndef VANE_CLIENT_H
#define VANE_CLIENT_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/queue.h>

#include "cache.h"
#include "http_parse.h"
#include "io.h"
#include "log_format.h"
#include "relay.h"

struct evbuffer;
struct lsock;
struct worker;
struct server;
struct uconn;

/*
 * Backpressure: above this much output queued for one side, stop reading
 * the side that feeds it; read again once it drained to a quarter.
 */
#define OUT_HIGH	(256 * 1024)

enum client_state {
	CS_IDLE = 0,	/* waiting for the first byte of a request */
	CS_PROXY,	/* waiting for the PROXY protocol header */
	CS_HEAD,	/* reading a request head */
	CS_FORWARD,	/* request being forwarded, response not complete */
	CS_CLOSING,	/* flushing the last bytes before closing */
	CS_LINGER,	/* write side shut, discarding input until EOF */
	CS_TUNNEL,	/* switched protocols (101): relaying both ways */
};

struct client {
	uint32_t		 magic;
	enum client_state	 state;
	struct worker		*w;
	struct io		 io;
	TAILQ_ENTRY(client)	 entry;
	struct ltimer		 timer;
	uint64_t		 phase_deadline;	/* header/body/idle/linger; 0: none */
	char			 ip[INET6_ADDRSTRLEN];
	uint16_t		 port;		/* the client's (PROXY header's) */
	unsigned		 closed:1;
	unsigned		 keepalive:1;	/* connection persists after this response */
	unsigned		 bg:1;		/* a background request: no connection */
	unsigned		 tls:1;		/* accepted on a TLS listener */
	const char		*lfields;	/* the listener's field lines for
						 * every response (HSTS), or "" */
	const struct lsock	*ls;		/* accepted on it; NULL: bg */
	unsigned		 detached:1;	/* bg: a fetch whose client left while
						 * others streamed from it */
	uint32_t		 nreq;		/* requests on this connection */

	/* The request in progress. */
	struct http_msg		 req;
	struct http_field	*fields;	/* while parsing a head */
	enum http_method	 method;
	int			 version;
	unsigned		 req_done:1;	/* request body fully forwarded */
	unsigned		 expect_continue:1;
	unsigned		 resp_started:1;	/* a response byte went to the client */
	unsigned		 retried:1;	/* sent again after a dead pooled connection */
	unsigned		 can_retry:1;	/* idempotent and bodiless: may be sent twice */
	unsigned		 upgrade:1;	/* asks to switch protocols: passed on */
	unsigned		 buffering:1;	/* reading the body whole before a
						 * backend is chosen (request_buffer) */
	unsigned		 tun_up_fin:1;	/* tunnel: backend's write side shut */
	unsigned		 tun_client_fin:1;	/* tunnel: client's write side shut */
	struct relay		 req_body;
	struct evbuffer		*uhead;		/* head for the backend, kept until sent for good */
	uint64_t		 t_start;	/* ms, head complete */
	uint64_t		 t_upstream;	/* ms, request sent to backend */
	/* "METHOD target HTTP/1.x" for the logs, at most LF_REQUEST_MAX
	 * bytes; LF_PAD more for the access log's copies (put_pad). */
	char			 logline[LF_REQUEST_MAX + LF_PAD];
	uint16_t		 logline_len;
	uint16_t		 logm_len;	/* the method in logline */
	uint16_t		 logu_end;	/* where the target ends in logline */
	/* The request fields the access log's format names, escaped, copied
	 * while the head is at hand; for the format of serial logh_serial
	 * (0: none copied, every field is "-"). */
	uint32_t		 logh_serial;
	uint16_t		 logh_off[LF_MAX_FIELDS];
	uint16_t		 logh_len[LF_MAX_FIELDS];
	char			 logh[2 * LF_FIELD_MAX + 2 + LF_PAD];
	uint64_t		 logconn;	/* $connection; 0: not numbered yet */
	/* backends.request_id of this request, NUL-ended ("": none). */
	char			 reqid[LF_ID_MAX + LF_PAD];

	/* Backend side. */
	struct server		*srv;
	struct uconn		*uc;
	uint64_t		 tried;		/* servers tried, bit per index */
	unsigned		 holds_slot:1;	/* counted in srv->inflight */
	unsigned		 queued:1;	/* waiting in w->queue for a slot */
	TAILQ_ENTRY(client)	 qentry;
	TAILQ_ENTRY(client)	 centry;	/* coalescing: busy waiters or w->wake */
	uint64_t		 queue_deadline;	/* ms */
	uint64_t		 qticket;	/* place in the line over all workers */
	int			 retries;	/* other servers tried after failures */
	int			 fail_status;	/* of the first failure, if retries run out */
	const char		*fail_reason;
	int			 retry_after;	/* seconds, for a 503; 0: none */
	struct http_msg		 resp;
	struct http_field	*rfields;
	struct relay		 resp_body;
	unsigned		 resp_head_done:1;
	unsigned		 up_reusable:1;
	int			 status;	/* status sent to the client */
	uint64_t		 bytes_out;	/* head and body data to the client */
	uint64_t		 head_out;	/* of which the head */

	struct cache_tx		 cache;
};

/* n bytes of a response head were queued for the client. */
static inline void
client_sent_head(struct client *c, size_t n)
{
	c->head_out += n;
	c->bytes_out += n;
}

/* No response bytes yet: a new transaction, or a head about to be
 * written anew over one that was not sent. */
static inline void
client_sent_reset(struct client *c)
{
	c->head_out = c->bytes_out = 0;
}

/* A new connection accepted by a worker's listener. */
void	client_accept(struct worker *w, int fd, struct sockaddr *sa, int salen,
	    const struct lsock *ls);
/*
 * A background request on worker w: the request head head[0..len), as if
 * ip had sent it, read from the event loop once the current callback is
 * over. Returns the client (its cache transaction may be set up before
 * then), or NULL when out of memory.
 */
struct client	*client_background(struct worker *w, const char *ip,
		    const char *head, size_t len);
/* The one teardown. */
void	client_close(struct client *c, const char *reason);
/* Graceful stop: close if idle, else close after the current response. */
void	client_shutdown(struct client *c);
/* Reload: move to the generation in force if idle, else after the
 * current response (worker.h). */
void	client_retire(struct client *c);
/* A connection a retiring worker handed over (worker_handover), taken
 * up by w on its thread; c->ls is already the new generation's listener
 * on the same address, or NULL when there is none. */
void	client_adopt(struct worker *w, struct client *c);

/* Used by upstream.c. */
void	client_error(struct client *c, int status, const char *reason);
void	client_response_done(struct client *c);
void	client_pump_request(struct client *c);
void	client_send_continue(struct client *c);
/* A response vane wrote itself (cache.c) is queued: log, finish. */
void	client_answered(struct client *c, int status);
/* Set the connection's timer from its deadlines (after queueing it). */
void	client_arm(struct client *c);
/* Write what is queued on both sides; returns -1 if c was closed. */
int	client_flush(struct client *c);

/* upstream.c: the backend side of the transaction. */
void	upstream_start(struct client *c);
void	upstream_release(struct client *c, int reuse);
void	upstream_resume_read(struct client *c);
void	upstream_flush(struct client *c);
/* Give queued requests the slots that freed; on the worker's own thread. */
void	upstream_queue_run(struct worker *w);
/* c waited backends.queue.timeout for a slot: 503. */
void	upstream_queue_timeout(struct client *c);

#endif
