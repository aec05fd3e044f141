/*
 * client.c: the client side of a connection (L4): reading request heads,
 * forwarding request bodies, keep-alive and pipelining, vane's own error
 * responses, timeouts and the one teardown. The backend side of the same
 * transaction is upstream.c; bodies move through relay.c; sockets are
 * io.c's. See client.h for the state machine.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "client.h"
#include "config.h"
#include "http_msg.h"
#include "listener.h"
#include "log.h"
#include "proxy_proto.h"
#include "tls.h"
#include "tunnel.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

/* How long a closing connection waits for the client's FIN. */
#define LINGER_MS	2000

static void	client_on_io(void *);
static void	client_on_timer(void *);
static void	client_read_head(struct client *);
static void	client_finish(struct client *);
static void	client_log(struct client *);
static void	client_buffered(struct client *);
static int	client_move(struct client *);

/*
 * The connection's one deadline: the phase's (header, body, idle, linger)
 * or, while output waits for a client that does not read, the send
 * timeout counted from the last write progress, whichever comes first.
 */
void
client_arm(struct client *c)
{
	uint64_t d = c->phase_deadline, s;

	if (c->queued && (d == 0 || c->queue_deadline < d))
		d = c->queue_deadline;

	if (io_pending(&c->io) > 0) {
		s = c->io.last_write + c->w->cfg->timeouts_client_send;
		if (d == 0 || s < d)
			d = s;
	}
	ltimer_set(&c->timer, d);
}

/* Input read ahead of what is consumed: a whole head, or a head and a
 * body that backends.request_buffer keeps whole, or OUT_HIGH. */
static size_t
client_in_high(const struct config *cfg)
{
	size_t n = (size_t)cfg->limits_header_size + 1 +
	    (size_t)cfg->backends_request_buffer;

	return (n > OUT_HIGH ? n : OUT_HIGH);
}

static void
client_phase(struct client *c, uint64_t ms)
{
	c->phase_deadline = ms != 0 ? now_mono_ms() + ms : 0;
	client_arm(c);
}

void
client_accept(struct worker *w, int fd, struct sockaddr *sa, int salen,
    const struct lsock *ls)
{
	int tls = ls->tls && !ls->proxy_protocol;
	struct tls_conn *tc = NULL;
	struct client *c;
	int one = 1;

	if (atomic_fetch_add(&vane.nconns, 1) >= w->cfg->limits_connections) {
		/* Over the limit already (several workers raced): this one
		 * is closed, and the listeners wait until there is room. */
		atomic_fetch_sub(&vane.nconns, 1);
		w->st.connections_refused++;
		close(fd);
		worker_accept_pause(w);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->magic = CLIENT_MAGIC;
	c->w = w;
	format_host(sa, c->ip, sizeof(c->ip));
	c->port = (uint16_t)sockaddr_port(sa);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->uhead = evbuffer_new()) == NULL)
		goto fail;
	if (ltimer_init(&c->timer, w->base, client_on_timer, c) == -1) {
		evbuffer_free(c->uhead);
		goto fail;
	}
	if ((tls && (tc = tls_conn_new(w->gen->tls, fd, &w->st,
	    ls->index)) == NULL) ||
	    io_init(&c->io, w->base, fd, client_on_io, c) == -1) {
		tls_conn_free(tc, 0);
		ltimer_free(&c->timer);
		evbuffer_free(c->uhead);
		goto fail;
	}
	if (tc != NULL) {
		io_start_tls(&c->io, tc);
		c->tls = 1;
	}
	c->ls = ls;
	c->lfields = ls->fields;
	c->io.in_high = client_in_high(c->w->cfg);
	/* The first request's head must arrive within client_header of
	 * the accept, not of its first byte (nginx does the same); so must
	 * a PROXY header, which vane reads from the socket itself, before
	 * any TLS (client_proxy_header). */
	c->state = CS_IDLE;
	if (ls->proxy_protocol) {
		c->state = CS_PROXY;
		io_pause(&c->io);
	}
	client_phase(c, c->w->cfg->timeouts_client_header);
	TAILQ_INSERT_TAIL(&w->clients, c, entry);
	w->nclients++;
	w->st.connections_accepted++;
	w->st.connections_active++;
	atomic_fetch_add_explicit(&ls->st->accepted, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ls->st->active, 1, memory_order_relaxed);
	if (atomic_load(&vane.nconns) >= w->cfg->limits_connections)
		worker_accept_pause(w);
	/* Data may have come with the connection (TCP fast open, or just
	 * quick clients): no edge will announce it. */
	io_kick(&c->io);
	return;
fail:
	free(c);
	atomic_fetch_sub(&vane.nconns, 1);
	close(fd);
	log_warn("out of memory accepting a connection");
}

struct client *
client_background(struct worker *w, const char *ip, const char *head,
    size_t len)
{
	struct client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->magic = CLIENT_MAGIC;
	c->w = w;
	c->bg = 1;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	if ((c->uhead = evbuffer_new()) == NULL ||
	    ltimer_init(&c->timer, w->base, client_on_timer, c) == -1 ||
	    io_init_buffers(&c->io) == -1 ||
	    evbuffer_add(c->io.in, head, len) == -1)
		goto fail;
	/* All of it is there: a head that does not parse whole is an error,
	 * not a wait for more. */
	c->io.eof = 1;
	c->state = CS_IDLE;
	TAILQ_INSERT_TAIL(&w->clients, c, entry);
	w->nclients++;
	/* Read it from the loop (client_on_timer), not from the callback
	 * that asked for it: that one answers its own client first, and
	 * nothing of this request runs inside it. */
	ltimer_set(&c->timer, now_mono_ms());
	return (c);
fail:
	io_close(&c->io);
	ltimer_free(&c->timer);
	if (c->uhead != NULL)
		evbuffer_free(c->uhead);
	free(c);
	return (NULL);
}

static void
client_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	evbuffer_free(c->uhead);
	c->magic = 0;
	free(c);
}

static void
fields_release(struct client *c)
{
	if (c->fields != NULL)
		worker_fields_put(c->w, c->fields);
	if (c->rfields != NULL)
		worker_fields_put(c->w, c->rfields);
	c->fields = c->rfields = NULL;
}

/* The connection no longer counts as open on its listener (none: a
 * background request, or one whose listener a reload removed). */
static void
listener_gone(struct client *c)
{
	if (c->ls != NULL)
		atomic_fetch_sub_explicit(&c->ls->st->active, 1,
		    memory_order_relaxed);
}

void
client_close(struct client *c, const char *reason)
{
	struct worker *w = c->w;

	CHECK_OBJ(c, CLIENT_MAGIC);
	if (c->closed)
		return;
	c->closed = 1;
	if (c->state == CS_TUNNEL) {
		/* Its request's line, now that the bytes relayed are known. */
		w->st.tunnels_active--;
		c->bytes_out += c->resp_body.moved;
		client_log(c);
	}
	if (c->io.handshaking && c->io.err != 0)
		log_info("client %s: TLS handshake failed: %s", c->ip,
		    io_error(&c->io));
	else
		log_debug("client %s: close: %s", c->ip, reason);
	upstream_release(c, 0);
	fields_release(c);
	cache_tx_free(c);
	io_close(&c->io);
	ltimer_free(&c->timer);
	TAILQ_REMOVE(&w->clients, c, entry);
	w->nclients--;
	if (!c->bg) {
		w->st.connections_active--;
		atomic_fetch_sub(&vane.nconns, 1);
		listener_gone(c);
	}
	/* Freed once the current callback has returned. */
	if (event_base_once(w->base, -1, EV_TIMEOUT, client_free_cb, c,
	    NULL) == -1)
		log_err("cannot schedule a client free: leaking %p", (void *)c);
	worker_client_gone(w);
}

/*
 * The client of a fetch that requests collapsed on it are served from
 * while it streams (coalescing) is gone: rather than cutting every one of
 * them off, the fetch goes on without it as a background request, and the
 * response is stored (Varnish's fetch outlives its client too). Returns 1
 * when c was detached, 0 when it is to be closed.
 */
static int
client_detach(struct client *c, const char *reason)
{
	struct worker *w = c->w;

	if (c->bg || c->closed || c->state != CS_FORWARD || c->uc == NULL ||
	    !c->req_done || !cache_fetch_shared(c))
		return (0);
	w->st.responses_aborted++;
	log_info("client %s: \"%s\": %s; the fetch goes on for the "
	    "requests served from it", c->ip, c->logline, reason);
	io_drop_fd(&c->io);
	evbuffer_drain(c->io.out, io_pending(&c->io));
	c->bg = c->detached = 1;
	c->keepalive = 0;
	w->st.connections_active--;
	atomic_fetch_sub(&vane.nconns, 1);
	listener_gone(c);
	worker_client_gone(w);
	return (1);
}

void
client_shutdown(struct client *c)
{
	if (c->detached && cache_fetch_shared(c)) {
		/* Others are being served from it. */
		c->keepalive = 0;
		return;
	}
	if (c->bg) {
		/* Nobody waits for it: abandoned, the stale response stays. */
		client_close(c, "shutting down: background request abandoned");
		return;
	}
	if ((c->state == CS_IDLE && evbuffer_get_length(c->io.in) == 0) ||
	    c->state == CS_PROXY)
		client_close(c, "shutting down");
	else
		c->keepalive = 0;
}

/*
 * Reload: an idle keep-alive connection of a retiring worker goes to the
 * worker of the generation in force (worker_handover), which goes on
 * reading it; the client sees nothing. Only between requests, with
 * nothing left to write and the handshake done: the socket, its TLS state
 * and the input buffer are all there is. Input may be there already: the
 * next request, read in the same callback that found the last response
 * done (a quick client), or pipelined; nothing of it was parsed (CS_IDLE),
 * and the new worker parses it as it would its own (client_adopt resumes
 * reading, which runs client_on_io). Returns 1 when c moved (it is no
 * longer this worker's).
 */
static int
client_move(struct client *c)
{
	struct worker *w = c->w;

	if (c->bg || c->closed || c->state != CS_IDLE || c->io.handshaking ||
	    c->io.eof || c->io.err != 0 || io_pending(&c->io) > 0)
		return (0);
	fields_release(c);
	ltimer_free(&c->timer);
	io_detach(&c->io);
	TAILQ_REMOVE(&w->clients, c, entry);
	w->nclients--;
	w->st.connections_active--;
	if (worker_handover(w, c) == -1) {
		/* No newer generation to go to (cannot happen while
		 * retiring): it stays, and closes as at a stop. */
		TAILQ_INSERT_TAIL(&w->clients, c, entry);
		w->nclients++;
		w->st.connections_active++;
		if (ltimer_init(&c->timer, w->base, client_on_timer, c) == -1 ||
		    io_attach(&c->io, w->base) == -1)
			abort();	/* out of memory for two events */
		client_close(c, "shutting down");
		return (1);
	}
	worker_client_gone(w);
	return (1);
}

void
client_retire(struct client *c)
{
	/* The others move when their response is done (client_finish) or
	 * has drained (client_on_io); background requests just finish. */
	(void)client_move(c);
}

void
client_adopt(struct worker *w, struct client *c)
{
	c->w = w;
	if (ltimer_init(&c->timer, w->base, client_on_timer, c) == -1 ||
	    io_attach(&c->io, w->base) == -1) {
		/* Out of memory: the connection cannot be watched. */
		ltimer_free(&c->timer);
		if (c->io.tls != NULL)
			tls_conn_free(c->io.tls, 0);
		c->io.tls = NULL;
		close(c->io.fd);
		c->io.fd = -1;
		io_close(&c->io);
		evbuffer_free(c->uhead);
		free(c);
		atomic_fetch_sub(&vane.nconns, 1);
		return;
	}
	if (c->io.tls != NULL)
		tls_conn_set_stats(c->io.tls, &w->st);
	TAILQ_INSERT_TAIL(&w->clients, c, entry);
	w->nclients++;
	w->st.connections_active++;
	if (c->ls == NULL) {
		client_close(c, "its listener was removed by a reload");
		return;
	}
	if (c->ls->tls != (int)c->tls) {
		client_close(c, "its listener changed to or from TLS");
		return;
	}
	c->lfields = c->ls->fields;
	c->io.in_high = client_in_high(w->cfg);
	c->state = CS_IDLE;
	client_phase(c, c->nreq == 0 ? w->cfg->timeouts_client_header :
	    w->cfg->timeouts_client_idle);
	if (w->stopping) {
		client_shutdown(c);
		return;
	}
	if (w->retiring && client_move(c))
		return;
	c->io.paused = 1;
	io_resume(&c->io);
}

/*
 * Write what is queued on both sides, then lift the backpressure that is
 * no longer needed: a side paused because the other side's output was
 * full reads again once that output has drained to a quarter.
 */
int
client_flush(struct client *c)
{
	if (c->closed)
		return (-1);
	upstream_flush(c);
	if (c->closed)
		return (-1);
	if (c->detached && c->state == CS_FORWARD && !cache_fetch_shared(c)) {
		/* Its stream was dropped (too large, nobody reading): the
		 * rest of the body is wanted by no one. */
		client_close(c, "detached fetch no longer wanted");
		return (-1);
	}
	if (c->bg) {
		/* Nobody reads a background request's answer: what would go
		 * to a client is dropped here (the cache's tee has its own
		 * copy), which also lifts the backpressure on the backend. */
		evbuffer_drain(c->io.out, io_pending(&c->io));
	} else if (io_pending(&c->io) > 0) {
		if (io_flush(&c->io) == -1) {
			if (client_detach(c, io_error(&c->io)))
				return (client_flush(c));
			if (c->state == CS_FORWARD)
				c->w->st.responses_aborted++;
			client_close(c, io_error(&c->io));
			return (-1);
		}
		client_arm(c);
	}
	if (c->state == CS_FORWARD && c->uc != NULL) {
		if (io_pending(&c->io) < OUT_HIGH / 4)
			upstream_resume_read(c);
		if (!c->req_done && c->io.paused &&
		    io_pending(&c->uc->io) < OUT_HIGH / 4)
			io_resume(&c->io);
	}
	/* Reading stops at in_high; as the input drains, go on. */
	if (!c->bg)
		io_kick(&c->io);
	if (c->uc != NULL)
		io_kick(&c->uc->io);
	return (0);
}

static void
count_status(struct worker *w, int status)
{
	if (status >= 500)
		w->st.responses_5xx++;
	else if (status >= 400)
		w->st.responses_4xx++;
	else if (status >= 300)
		w->st.responses_3xx++;
	else if (status >= 200)
		w->st.responses_2xx++;
}

/*
 * Access-log pieces. A line has a dozen pieces of a few bytes each: byte
 * loops, then calls to memcpy were most of the cost of a logged hit. So
 * the format is compiled with the longest line it can make (f->maxlen),
 * the line is reserved that long, and pieces are copied without a bounds
 * check; sources known to have LF_PAD readable bytes are copied by
 * LF_PAD / 2 or LF_PAD bytes (a load and a store or two), the
 * destination having LF_PAD bytes of slack.
 */
static inline char *
put_pad(char *p, const char *s, size_t n)
{
	if (n <= LF_PAD / 2)
		memcpy(p, s, LF_PAD / 2);
	else if (n <= LF_PAD)
		memcpy(p, s, LF_PAD);
	else
		memcpy(p, s, n);
	return (p + n);
}

static const char	lf_dash[LF_PAD] = "-";
/* c->logh_len of a field the request does not have: "-". */
#define LOGH_NONE	0xffff
/* "00" to "99": two digits with one load, no division. */
static const char	lf_d2[200] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";
static const char	lf_http[LF_PAD] = "http";
static const char	lf_https[LF_PAD] = "https";

/* v in decimal: at most 20 digits. */
static inline char *
put_u(char *p, uint64_t v)
{
	char d[24 + LF_PAD];
	int n = 24;

	do
		d[--n] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	return (put_pad(p, d + n, (size_t)(24 - n)));
}

/* Milliseconds as seconds with three decimals: "1.234". */
static inline char *
put_ms(char *p, uint64_t ms)
{
	unsigned frac = (unsigned)(ms % 1000);

	if (ms < 10000)		/* the usual case: no digit loop */
		*p++ = (char)('0' + ms / 1000);
	else
		p = put_u(p, ms / 1000);
	p[0] = '.';
	p[1] = (char)('0' + frac / 100);
	memcpy(p + 2, lf_d2 + 2 * (frac % 100), 2);
	return (p + 4);
}

/* The part of logline from off to end, "-" when empty (no request). */
static inline char *
put_part(char *p, const struct client *c, size_t off, size_t end)
{
	if (end <= off)
		return (put_pad(p, lf_dash, 1));
	return (put_pad(p, c->logline + off, end - off));
}

/* At most max bytes of s, a string with no padding known. */
static inline char *
put_s(char *p, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		n = max;
	memcpy(p, s, n);
	return (p + n);
}

static char *
put_port(char *p, const struct client *c)
{
	if (c->bg)
		return (put_pad(p, lf_dash, 1));
	return (put_u(p, c->port));
}

/*
 * The time variables, formatted once a second per worker: strftime was
 * most of an access-logged hit's instructions. Both forms are UTC.
 */
struct log_time {
	time_t	sec;
	char	local[32];	/* 26/Nov/2026:17:40:26 +0000 */
	char	iso[32];	/* 2026-11-26T17:40:26+00:00 */
	size_t	local_len, iso_len;
};

static const struct log_time *
log_time(time_t now)
{
	static __thread struct log_time	 t;
	struct tm			 tm;

	if (now != t.sec) {
		gmtime_r(&now, &tm);
		t.local_len = strftime(t.local, sizeof(t.local),
		    "%d/%b/%Y:%H:%M:%S +0000", &tm);
		t.iso_len = strftime(t.iso, sizeof(t.iso),
		    "%Y-%m-%dT%H:%M:%S+00:00", &tm);
		t.sec = now;
	}
	return (&t);
}

static char *
put_msec(char *p, const struct timespec *ts)
{
	long ms = ts->tv_nsec / 1000000;

	p = put_u(p, (uint64_t)ts->tv_sec);
	p[0] = '.';
	p[1] = (char)('0' + ms / 100);
	p[2] = (char)('0' + ms / 10 % 10);
	p[3] = (char)('0' + ms % 10);
	return (p + 4);
}

/* $connection: numbered when first logged, over all workers, so only
 * formats that name it pay the atomic, once per connection. */
static char *
put_connection(char *p, struct client *c)
{
	static _Atomic uint64_t serial;

	if (c->logconn == 0)
		c->logconn = atomic_fetch_add(&serial, 1) + 1;
	return (put_u(p, c->logconn));
}

/* One variable of the access log's format; log_format_var_max() bounds
 * what each one writes. */
static inline char *
put_var(char *p, struct client *c, const struct log_format *f,
    const struct lf_op *op, uint64_t end, const struct timespec *now)
{
	const struct log_time *t;

	switch (op->var) {
	case LV_REMOTE_ADDR:
		return (put_pad(p, c->ip, strlen(c->ip)));
	case LV_REMOTE_PORT:
		return (put_port(p, c));
	case LV_TIME_LOCAL:
		t = log_time(now->tv_sec);
		return (put_pad(p, t->local, t->local_len));
	case LV_TIME_ISO8601:
		t = log_time(now->tv_sec);
		return (put_pad(p, t->iso, t->iso_len));
	case LV_MSEC:
		return (put_msec(p, now));
	case LV_REQUEST:
		return (put_pad(p, c->logline, c->logline_len));
	case LV_REQUEST_METHOD:
		return (put_part(p, c, 0, c->logm_len));
	case LV_REQUEST_URI:
		return (put_part(p, c, c->logm_len + 1u, c->logu_end));
	case LV_SERVER_PROTOCOL:
		return (put_part(p, c, c->logu_end + 1u, c->logline_len));
	case LV_SCHEME:
		return (c->tls ? put_pad(p, lf_https, 5) :
		    put_pad(p, lf_http, 4));
	case LV_STATUS:
		if (c->status < 100 || c->status > 999)
			return (put_u(p, (uint64_t)c->status));
		p[0] = (char)('0' + c->status / 100);
		memcpy(p + 1, lf_d2 + 2 * (c->status % 100), 2);
		return (p + 3);
	case LV_BYTES_SENT:
		return (put_u(p, c->bytes_out));
	case LV_BODY_BYTES_SENT:
		return (put_u(p, c->bytes_out - c->head_out));
	case LV_REQUEST_LENGTH:
		return (put_u(p, c->req.head_len + c->req_body.moved));
	case LV_UPSTREAM_ADDR:
		if (c->srv == NULL)
			return (put_pad(p, lf_dash, 1));
		return (put_s(p, c->srv->name, LF_NAME_MAX));
	case LV_UPSTREAM_RESPONSE_TIME:
		return (put_ms(p, c->t_upstream != 0 ?
		    end - c->t_upstream : 0));
	case LV_REQUEST_TIME:
		return (put_ms(p, end - c->t_start));
	case LV_CACHE_STATUS:
		return (put_s(p, cache_log_status(c), LF_VALUE_MAX));
	case LV_CONNECTION_REQUESTS:
		return (put_u(p, c->nreq));
	case LV_CONNECTION:
		return (put_connection(p, c));
	case LV_REQUEST_ID:
		if (c->reqid[0] == '\0')
			return (put_pad(p, lf_dash, 1));
		return (put_s(p, c->reqid, LF_ID_MAX));
	case LV_HTTP:
		if (c->logh_serial != f->serial ||
		    c->logh_len[op->slot] == LOGH_NONE)
			return (put_pad(p, lf_dash, 1));
		return (put_pad(p, c->logh + c->logh_off[op->slot],
		    c->logh_len[op->slot]));
	case LV_LITERAL:
	default:
		break;
	}
	return (p);
}

static void
client_log(struct client *c)
{
	const struct log_format *f = c->w->cfg->log_access_fmt;
	const struct lf_op *op, *opend;
	struct timespec now = { 0, 0 };
	char *line, *p;
	uint64_t end;

	if (c->bg) {
		/* Not a response to a client: neither counted as one nor in
		 * the access log, whose lines are client requests. */
		log_debug("background \"%s\" for %s: %d from %s", c->logline,
		    c->ip, c->status, c->srv != NULL ? c->srv->name : "-");
		return;
	}
	count_status(c->w, c->status);
	if (f == NULL ||
	    (line = log_access_reserve(f->maxlen + LF_PAD)) == NULL)
		return;
	/* In place in the worker's buffer; see put_pad() for the bounds. */
	end = 0;
	if (f->uses & (1u << LV_REQUEST_TIME | 1u << LV_UPSTREAM_RESPONSE_TIME))
		end = now_mono_ms();
	/* One reading for all the time variables of a line, so that they
	 * never straddle a second. */
	if (f->uses & (1u << LV_TIME_LOCAL | 1u << LV_TIME_ISO8601 |
	    1u << LV_MSEC))
		clock_gettime(CLOCK_REALTIME, &now);
	p = line;
	opend = f->ops + f->nops;
	for (op = f->ops; op < opend; op++) {
		p = put_pad(p, op->s, op->len);
		p = put_var(p, c, f, op, end, &now);
	}
	*p++ = '\n';
	log_access_commit((size_t)(p - line));
}

/* The write side is done: shut it and wait (bounded) for the client's FIN,
 * so that unread input does not turn our close into a reset that destroys
 * the response in flight (RFC 9112 §9.6). */
static void
client_linger(struct client *c)
{
	if (c->io.eof || c->io.err != 0) {
		client_close(c, "done");
		return;
	}
	io_shutdown_write(&c->io);
	c->state = CS_LINGER;
	evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
	client_phase(c, LINGER_MS);
	io_kick(&c->io);
}

static void
client_closing(struct client *c)
{
	c->state = CS_CLOSING;
	c->phase_deadline = 0;
	if (io_pending(&c->io) == 0) {
		client_linger(c);
		return;
	}
	client_arm(c);
}

/* http_msg_error's n bytes were queued: its head, and its body but for a
 * HEAD. */
static void
sent_error(struct client *c, int status, size_t n)
{
	size_t body = c->method == HM_HEAD ? 0 : http_msg_error_body(status);

	client_sent_head(c, n - body);
	c->bytes_out += body;
}

void
client_error(struct client *c, int status, const char *reason)
{
	char buf[1024], extra[640];
	ssize_t n;

	if (c->closed)
		return;
	if (c->bg) {
		/* Nothing to answer; upstream.c logged a backend failure. */
		log_debug("background \"%s\" for %s: %d: %s", c->logline,
		    c->ip, status, reason);
		client_close(c, reason);
		return;
	}
	if (c->resp_started) {
		c->w->st.responses_aborted++;
		log_info("client %s: \"%s\": response aborted: %s", c->ip,
		    c->logline, reason);
		client_close(c, reason);
		return;
	}
	upstream_release(c, 0);
	/* Unread request bytes leave the framing in doubt: close. */
	if (c->state != CS_FORWARD || !c->req_done)
		c->keepalive = 0;
	if (cache_stale_on_error(c, status))
		return;
	if (status >= 500)
		log_info("client %s: \"%s\": %d: %s", c->ip, c->logline,
		    status, reason);
	else
		log_info("client %s: %d: %s", c->ip, status, reason);
	extra[0] = '\0';
	if (c->retry_after > 0)
		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
		    c->retry_after);
	cache_error_status(c, extra, sizeof(extra));
	if (c->lfields != NULL && strlen(extra) + strlen(c->lfields) <
	    sizeof(extra))
		strcat(extra, c->lfields);
	n = http_msg_error(buf, sizeof(buf), status, worker_date(c->w),
	    !c->keepalive, c->method == HM_HEAD,
	    extra[0] != '\0' ? extra : NULL);
	if (n > 0) {
		evbuffer_add(c->io.out, buf, (size_t)n);
		sent_error(c, status, (size_t)n);
	}
	c->status = status;
	c->resp_started = 1;
	client_log(c);
	client_finish(c);
}

void
client_answered(struct client *c, int status)
{
	c->status = status;
	c->resp_started = 1;
	client_log(c);
	client_finish(c);
}

void
client_response_done(struct client *c)
{
	cache_response_done(c, 1);
	upstream_release(c, c->up_reusable && c->req_done);
	c->bytes_out += c->resp_body.moved;
	client_log(c);
	client_finish(c);
}

/* The transaction is over: reset for the next request or close. */
static void
client_finish(struct client *c)
{
	if (c->bg) {
		client_close(c, "background request done");
		return;
	}
	fields_release(c);
	cache_tx_reset(c);
	c->logh_serial = 0;
	evbuffer_drain(c->uhead, evbuffer_get_length(c->uhead));
	c->srv = NULL;
	c->tried = 0;
	c->req_done = c->resp_started = c->resp_head_done = 0;
	c->buffering = 0;
	c->reqid[0] = '\0';
	c->retried = c->can_retry = c->expect_continue = 0;
	c->retries = c->retry_after = 0;
	c->up_reusable = 0;
	c->status = 0;
	c->method = HM_OTHER;	/* an error before the next head has a body */
	client_sent_reset(c);
	c->t_upstream = 0;
	if (io_flush(&c->io) == -1) {
		client_close(c, io_error(&c->io));
		return;
	}
	if (!c->keepalive || c->w->stopping ||
	    (c->io.eof && evbuffer_get_length(c->io.in) == 0)) {
		client_closing(c);
		return;
	}
	c->state = CS_IDLE;
	client_phase(c, c->w->cfg->timeouts_client_idle);
	io_resume(&c->io);
	if (evbuffer_get_length(c->io.in) > 0 || c->w->retiring)
		/* A pipelined request is waiting. Parse it from the event
		 * loop, not from here, so a long pipeline never recurses;
		 * a retiring worker's connection moves from there too
		 * (client_on_io), as callers up the stack still use c. */
		event_active(c->io.ev, EV_READ, 0);
	else
		io_kick(&c->io);
}

static int
keepalive_wanted(const struct http_msg *m)
{
	if (m->conn & HC_CLOSE)
		return (0);
	if (m->version >= 11)
		return (1);
	return ((m->conn & HC_KEEPALIVE) != 0);
}

#define B8(c)	(0x0101010101010101ULL * (c))

/*
 * Whether one of the 8 bytes in x must be escaped: below 0x20, 0x7f and
 * up, '"' or '\\'. Word-at-a-time tests ("Bit Twiddling Hacks"), each
 * setting a byte's high bit; a borrow or carry can only set bits above
 * a byte that matched already, so the answer is exact.
 */
static inline int
escape8(uint64_t x)
{
	uint64_t q = x ^ B8('"'), b = x ^ B8('\\');

	return ((((x - B8(0x20)) & ~x) | x | (x + B8(1)) |
	    ((q - B8(1)) & ~q) | ((b - B8(1)) & ~b)) & B8(0x80)) != 0;
}

/* The same for 16 bytes, with GCC's (and Clang's) vector extension: SSE2
 * compares 16 bytes an instruction. */
typedef unsigned char	v16u __attribute__((vector_size(16)));

static inline int
escape16(const char *s)
{
	v16u v, bad;
	uint64_t w[2];

	memcpy(&v, s, 16);
	bad = (v < 0x20) | (v >= 0x7f) | (v == '"') | (v == '\\');
	memcpy(w, &bad, 16);
	return ((w[0] | w[1]) != 0);
}

/*
 * Copy *n bytes for a quoted log field, escaped so that a request cannot
 * forge the rest of an access-log line: '"', '\\' and bytes outside
 * printable ASCII become \xHH, or with json (log.access_escape) \" and
 * \\ and \u00HH, what a JSON string may hold. Stops before overrunning
 * end, leaving in *n the bytes taken (fewer than asked: cut); returns the
 * end of the output. Eight or sixteen plain bytes are copied at a time:
 * byte by byte, this was most of the cost of logging a User-Agent.
 */
static char *
log_escape(char *p, const char *end, const char *s, size_t *np, int json)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ch;
	uint64_t x;
	size_t i = 0, stop, k, n = *np;

	while (i < n) {
		stop = n;
		if (n - i >= 16 && end - p >= 16 && !escape16(s + i)) {
			memcpy(p, s + i, 16);
			p += 16;
			i += 16;
			continue;
		}
		if (n - i >= 8 && end - p >= 8) {
			memcpy(&x, s + i, 8);
			if (!escape8(x)) {
				memcpy(p, &x, 8);
				p += 8;
				i += 8;
				continue;
			}
			stop = i + 8;
		} else if (i >= 8 && end - p >= 8 &&
		    !escape8((memcpy(&x, s + n - 8, 8), x))) {
			/* The tail: the last 8 bytes, plain, of which
			 * those before i went out as they are, just
			 * before p. */
			k = n - i;
			memcpy(p - (8 - k), &x, 8);
			return (p + k);
		}
		for (; i < stop; i++) {
			ch = (unsigned char)s[i];
			if (ch >= 0x20 && ch < 0x7f && ch != '"' &&
			    ch != '\\') {
				if (end - p < 1)
					goto cut;
				*p++ = (char)ch;
			} else if (json && (ch == '"' || ch == '\\')) {
				if (end - p < 2)
					goto cut;
				*p++ = '\\';
				*p++ = (char)ch;
			} else if (json) {
				if (end - p < 6)
					goto cut;
				memcpy(p, "\\u00", 4);
				p[4] = hex[ch >> 4];
				p[5] = hex[ch & 15];
				p += 6;
			} else {
				if (end - p < 4)
					goto cut;
				*p++ = '\\';
				*p++ = 'x';
				*p++ = hex[ch >> 4];
				*p++ = hex[ch & 15];
			}
		}
	}
	return (p);
cut:
	*np = i;
	return (p);
}

/* Value v escaped into c->logh at *used, cut at 156 bytes (then "...")
 * or at what is left of logh (a field that finds no room is empty); slot
 * k points at it. */
static void
log_field_copy(struct client *c, int k, size_t *used, const char *v,
    size_t n)
{
	char *out = c->logh + *used, *p;
	size_t cap = sizeof(c->logh) - LF_PAD - *used, taken;

	/* Room for what fits and "...": LF_FIELD_MAX at most. */
	if (cap > LF_FIELD_MAX + 1)
		cap = LF_FIELD_MAX + 1;
	if (cap < 4)
		return;		/* no room: LOGH_NONE, "-" */
	taken = n;
	p = log_escape(out, out + cap - 4, v, &taken,
	    c->w->cfg->log_access_escape == LOG_ESC_JSON);
	if (taken < n) {
		memcpy(p, "...", 3);
		p += 3;
	}
	c->logh_off[k] = (uint16_t)*used;
	c->logh_len[k] = (uint16_t)(p - out);
	*used += (size_t)(p - out);
}

/* The request fields format f names, each the first value of its name,
 * escaped; "-" when the request has none. */
static void
log_fields(struct client *c, const char *buf, const struct log_format *f)
{
	const struct http_msg *m = &c->req;
	const struct http_field *fl;
	unsigned found = 0;
	size_t used = 0;
	uint32_t i;
	int k;

	memset(c->logh_len, 0xff, sizeof(c->logh_len));	/* LOGH_NONE */
	for (i = 0; i < m->nfields; i++) {
		fl = &m->fields[i];
		for (k = 0; k < f->nhdr; k++) {
			if ((found & 1u << k) || fl->name.len != f->hdrlen[k] ||
			    strncasecmp(buf + fl->name.off, f->hdr[k],
			    fl->name.len) != 0)
				continue;
			found |= 1u << k;
			log_field_copy(c, k, &used, buf + fl->value.off,
			    fl->value.len);
		}
	}
	c->logh_serial = f->serial;
}

/* No request line to log (a head that did not parse or arrive): "-". */
static void
client_logline_none(struct client *c)
{
	memcpy(c->logline, "-", 2);
	c->logline_len = 1;
	c->logm_len = c->logu_end = 0;
}

/* "METHOD target HTTP/1.x" for logs, the target cut at 256 bytes. */
static void
client_logline(struct client *c, const char *buf)
{
	const struct http_msg *m = &c->req;
	const struct log_format *f = c->w->cfg->log_access_fmt;
	size_t tl = m->target.len > 256 ? 256 : m->target.len;
	char *p = c->logline;
	/* Room for the "..." and " HTTP/1.x" with its NUL, in the
	 * LF_REQUEST_MAX bytes $request may have. */
	char *end = c->logline + LF_REQUEST_MAX - 14;
	int json = c->w->cfg->log_access_escape == LOG_ESC_JSON;
	size_t n = m->method_s.len > 32 ? 32 : m->method_s.len;

	p = log_escape(p, end, buf + m->method_s.off, &n, json);
	c->logm_len = (uint16_t)(p - c->logline);
	*p++ = ' ';
	n = tl;
	p = log_escape(p, end, buf + m->target.off, &n, json);
	if (tl < m->target.len || n < tl) {
		memcpy(p, "...", 3);
		p += 3;
	}
	c->logu_end = (uint16_t)(p - c->logline);
	memcpy(p, m->version >= 11 ? " HTTP/1.1" : " HTTP/1.0", 10);
	c->logline_len = (uint16_t)(c->logu_end + 9);
	if (f != NULL && f->nhdr > 0 && log_access_enabled())
		log_fields(c, buf, f);
}

/* Write the head vane sends to the backend into c->uhead. */
static int
client_build_uhead(struct client *c, const char *buf)
{
	struct http_fwd fwd;
	struct evbuffer_iovec v;
	struct sockaddr_storage ss;
	socklen_t slen;
	char host[INET6_ADDRSTRLEN + 8];
	size_t size;
	ssize_t n;

	fwd.client_ip = c->ip;
	fwd.proto = c->tls ? "https" : "http";
	fwd.subject_field = c->w->cfg->tls_client_subject_field;
	fwd.subject = c->io.tls != NULL ? tls_conn_subject(c->io.tls) : NULL;
	fwd.via = "vane";
	fwd.close = c->w->cfg->backends_keepalive == 0;
	fwd.upgrade = c->upgrade;
	fwd.id_field = c->w->cfg->backends_request_id;
	fwd.id = c->reqid;
	fwd.accept_encoding = NULL;
	if (vane.store != NULL && c->w->cfg->cache_normalize_accept_encoding)
		fwd.accept_encoding = http_ae_value(http_accept_gzip(buf,
		    &c->req));
	fwd.host = NULL;
	if (c->req.host < 0 && c->req.form != HT_ABSOLUTE) {
		/* HTTP/1.0 without Host: name the address the client
		 * connected to, as nginx's $host falls back to the server. */
		slen = sizeof(ss);
		if (getsockname(c->io.fd, (struct sockaddr *)&ss, &slen) == 0)
			fwd.host = format_address((struct sockaddr *)&ss, host,
			    sizeof(host));
	}
	size = http_msg_request_size(&c->req, &fwd);
	if (evbuffer_reserve_space(c->uhead, (ev_ssize_t)size, &v, 1) < 1)
		return (-1);
	n = http_msg_request(v.iov_base, v.iov_len, buf, &c->req, &fwd);
	if (n < 0)
		return (-1);
	v.iov_len = (size_t)n;
	return (evbuffer_commit_space(c->uhead, &v, 1));
}

/* 1 to LF_ID_MAX of the characters RFC 6750 allows in a token (and so
 * safe in a log line and a field value), and nothing else. */
static int
request_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LF_ID_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("-._~+/=", s[i]) != NULL))
			return (0);
	return (1);
}

/*
 * The request's ID (backends.request_id): the client's, when it sent one
 * well-formed field of that name, else 128 random bits in hex. The bits
 * come from a xorshift128+ per thread seeded by getrandom(): IDs need to
 * be unique, not secret, and a system call per request would cost more
 * than the rest of this.
 */
static void
request_id(struct client *c, const char *buf, const char *name)
{
	static __thread uint64_t s[2];
	static const char hex[] = "0123456789abcdef";
	const struct http_field *f, *mine = NULL;
	uint64_t x, y, r;
	uint32_t i;
	int k, nfound = 0;

	for (i = 0; i < c->req.nfields; i++) {
		f = &c->req.fields[i];
		if (http_span_eq(buf, f->name, name)) {
			mine = f;
			nfound++;
		}
	}
	if (nfound == 1 && request_id_ok(buf + mine->value.off,
	    mine->value.len)) {
		memcpy(c->reqid, buf + mine->value.off, mine->value.len);
		c->reqid[mine->value.len] = '\0';
		return;
	}
	if (s[0] == 0 && s[1] == 0 &&
	    (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s) ||
	    (s[0] | s[1]) == 0)) {
		s[0] = now_mono_ms() ^ (uint64_t)(uintptr_t)&s;
		s[1] = 0x9e3779b97f4a7c15ULL;
	}
	for (k = 0; k < 2; k++) {
		x = s[0];
		y = s[1];
		s[0] = y;
		x ^= x << 23;
		s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
		r = s[1] + y;
		for (i = 0; i < 16; i++)
			c->reqid[k * 16 + i] = hex[(r >> (60 - 4 * i)) & 15];
	}
	c->reqid[32] = '\0';
}

/*
 * TRACE or OPTIONS with Max-Forwards: 0: vane is the final recipient and
 * must not forward it (RFC 9110 §7.6.2).
 */
static void
client_answer_final(struct client *c, const char *buf)
{
	struct evbuffer_iovec v;
	ssize_t n;

	if (c->req.framing != HF_NONE)
		c->keepalive = 0;	/* the body stays unread */
	if (evbuffer_reserve_space(c->io.out,
	    (ev_ssize_t)http_msg_final_size(&c->req, c->lfields), &v,
	    1) < 1 ||
	    (n = http_msg_final(v.iov_base, v.iov_len, buf, &c->req,
	    worker_date(c->w), !c->keepalive, c->lfields)) < 0) {
		client_close(c, "out of memory");
		return;
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(c->io.out, &v, 1);
	client_sent_head(c, (size_t)n);
	c->status = 200;
	c->resp_started = 1;
	evbuffer_drain(c->io.in, c->req.head_len);
	fields_release(c);
	client_log(c);
	client_finish(c);
}

/*
 * listen.redirect_https: the same URL over https, on the TLS listener's
 * port; 301 for GET and HEAD, 308 for the rest (RFC 9110 §15.4.9: the
 * method and body are kept). Without a Host there is no URL to give.
 */
static void
client_redirect(struct client *c, const char *buf)
{
	struct http_msg *m = &c->req;
	struct http_span h, t;
	const char *hp;
	size_t hlen, cap;
	char *loc, *out, port[16];
	int status = m->method == HM_GET || m->method == HM_HEAD ? 301 : 308;
	ssize_t n;

	if (m->host < 0) {
		c->w->st.requests_bad++;
		client_error(c, 400, "no Host to redirect to");
		return;
	}
	h = m->fields[m->host].value;
	hp = buf + h.off;
	/* The host without its port: "[v6]" keeps its brackets. */
	for (hlen = h.len; hlen > 0 && hp[hlen - 1] >= '0' &&
	    hp[hlen - 1] <= '9'; hlen--)
		;
	if (hlen == 0 || hp[hlen - 1] != ':' || (hlen >= 2 &&
	    hp[hlen - 2] != ']' && memchr(hp, ':', hlen - 1) != NULL))
		hlen = h.len;
	else
		hlen--;
	t = m->form == HT_ABSOLUTE ? m->path : m->target;
	if (m->form == HT_ASTERISK || m->form == HT_AUTHORITY)
		t.len = 0;
	port[0] = '\0';
	if (c->ls->https_port != 443)
		snprintf(port, sizeof(port), ":%d", c->ls->https_port);
	if (m->framing != HF_NONE)
		c->keepalive = 0;	/* the body stays unread */
	cap = 64 + hlen + t.len;
	loc = xmalloc(cap);
	out = xmalloc(cap + 512);
	snprintf(loc, cap, "Location: https://%.*s%s%.*s\r\n", (int)hlen, hp,
	    port, t.len > 0 ? (int)t.len : 1, t.len > 0 ? buf + t.off : "/");
	n = http_msg_error(out, cap + 512, status, worker_date(c->w),
	    !c->keepalive, m->method == HM_HEAD, loc);
	if (n > 0) {
		evbuffer_add(c->io.out, out, (size_t)n);
		sent_error(c, status, (size_t)n);
	}
	free(loc);
	free(out);
	c->status = status;
	c->resp_started = 1;
	evbuffer_drain(c->io.in, m->head_len);
	fields_release(c);
	client_log(c);
	client_finish(c);
}

/* A complete request head is at the start of the input buffer. */
static void
client_request(struct client *c, const char *buf)
{
	struct http_msg *m = &c->req;
	struct worker *w = c->w;
	uint64_t limit = c->w->cfg->limits_body_size;
	int mode, answer;

	c->nreq++;
	if (c->ls != NULL)
		atomic_fetch_add_explicit(&c->ls->st->requests, 1,
		    memory_order_relaxed);
	if (!c->bg)
		w->st.requests++;
	c->method = m->method;
	c->version = m->version;
	c->t_start = now_mono_ms();
	c->keepalive = keepalive_wanted(m) && !w->stopping && !c->bg;
	c->upgrade = !c->bg && http_upgrade_ok(buf, m);
	client_logline(c, buf);
	if (w->cfg->backends_request_id != NULL)
		request_id(c, buf, w->cfg->backends_request_id);
	c->state = CS_FORWARD;
	c->phase_deadline = 0;

	if (m->expect_other) {
		w->st.requests_bad++;
		client_error(c, 417, "unsupported expectation");
		return;
	}
	if (m->method == HM_CONNECT) {
		w->st.requests_bad++;
		client_error(c, 501, "CONNECT is not supported");
		return;
	}
	if (c->ls != NULL && c->ls->redirect_https) {
		client_redirect(c, buf);
		return;
	}
	if (http_msg_max_forwards(buf, m) == 0) {
		client_answer_final(c, buf);
		return;
	}
	if (m->framing == HF_LENGTH && limit != 0 && m->content_length > limit) {
		w->st.requests_bad++;
		client_error(c, 413, "request body over limits.body_size");
		return;
	}
	answer = cache_lookup(c, buf);
	if (answer == CACHE_ANSWER_FORWARD || answer == CACHE_ANSWER_WAIT ||
	    answer == CACHE_ANSWER_PENDING) {
		if (client_build_uhead(c, buf) == -1) {
			client_close(c, "out of memory building the backend "
			    "request");
			return;
		}
		cache_amend_request(c, c->uhead);
	}
	mode = m->framing == HF_CHUNKED ? RELAY_CHUNKED :
	    m->framing == HF_LENGTH ? RELAY_LENGTH : RELAY_NONE;
	relay_init(&c->req_body, mode, m->content_length, limit);
	c->req_done = c->req_body.done;
	c->expect_continue = m->expect_continue && m->version >= 11 &&
	    !c->req_done;
	c->can_retry = http_method_idempotent(m->method) && c->req_done;
	evbuffer_drain(c->io.in, m->head_len);
	if (answer == CACHE_ANSWER_FORWARD || answer == CACHE_ANSWER_WAIT ||
	    answer == CACHE_ANSWER_PENDING)
		cache_keep_parsed(c);
	fields_release(c);
	if (answer == CACHE_ANSWER_HIT) {
		cache_serve(c);
		return;
	}
	if (answer == CACHE_ANSWER_504) {
		client_error(c, 504, "only-if-cached: nothing usable stored");
		return;
	}
	if (answer == CACHE_ANSWER_WAIT || answer == CACHE_ANSWER_PENDING)
		return;		/* cache_wake_run() or the store goes on */
	if (!c->req_done)
		client_phase(c, c->w->cfg->timeouts_client_body);
	if (!c->req_done && m->framing == HF_LENGTH &&
	    m->content_length <= c->w->cfg->backends_request_buffer) {
		/* The whole body first, so a slow client holds no backend
		 * worker; it is waiting for our 100 if it asked. */
		c->buffering = 1;
		client_send_continue(c);
		client_buffered(c);
		return;
	}
	upstream_start(c);
}

/* A body being read whole (c->buffering): once it is all here, or the
 * client is gone, go on. */
static void
client_buffered(struct client *c)
{
	if (evbuffer_get_length(c->io.in) >= c->req.content_length) {
		c->buffering = 0;
		upstream_start(c);
		return;
	}
	if (c->io.eof || c->io.err != 0) {
		c->w->st.requests_bad++;
		client_error(c, 400, "client closed in the middle of the body");
	}
}

static void
client_read_head(struct client *c)
{
	struct evbuffer *in = c->io.in;
	struct worker *w = c->w;
	size_t len, max;
	const char *buf;
	int rc;

	if ((len = evbuffer_get_length(in)) == 0)
		return;
	if (c->state == CS_IDLE) {
		if ((c->fields = worker_fields_get(w)) == NULL) {
			client_close(c, "out of memory");
			return;
		}
		http_msg_init(&c->req, c->fields,
		    (uint32_t)c->w->cfg->limits_header_count);
		c->state = CS_HEAD;
	}
	max = (size_t)w->req_limits.max_head + 1;
	if (len > max)
		len = max;
	if ((buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
		client_close(c, "out of memory");
		return;
	}
	rc = http_parse_request(&c->req, buf, len, &w->req_limits);
	if (rc == HP_AGAIN) {
		if (c->io.eof) {
			client_close(c, "client closed in the middle of a head");
			return;
		}
		/* The head spans reads: from now on it must be complete
		 * within client_header (the first request's deadline runs
		 * from the accept already). */
		if (c->nreq > 0 && c->phase_deadline != 0 &&
		    c->phase_deadline > now_mono_ms() +
		    c->w->cfg->timeouts_client_header)
			client_phase(c, c->w->cfg->timeouts_client_header);
		return;
	}
	if (rc < 0) {
		w->st.requests_bad++;
		c->method = c->req.method;
		c->keepalive = 0;
		client_logline_none(c);
		c->t_start = now_mono_ms();
		client_error(c, http_err_status(rc), http_strerror(rc));
		return;
	}
	client_request(c, buf);
}

void
client_send_continue(struct client *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (!c->expect_continue)
		return;
	c->expect_continue = 0;
	/* Nothing of the body yet: the client is waiting for us. */
	if (evbuffer_get_length(c->io.in) == 0)
		evbuffer_add(c->io.out, cont, sizeof(cont) - 1);
}

/* Move request body bytes from the client to the backend. */
void
client_pump_request(struct client *c)
{
	struct evbuffer *out;
	int rc;

	if (c->req_done || c->uc == NULL || !c->uc->io.connected)
		return;
	out = c->uc->io.out;
	rc = relay_move(&c->req_body, c->io.in, out);
	switch (rc) {
	case RELAY_EFRAME:
		c->w->st.requests_bad++;
		client_error(c, 400, "malformed chunked request body");
		return;
	case RELAY_ELIMIT:
		c->w->st.requests_bad++;
		client_error(c, 413, "request body over limits.body_size");
		return;
	case RELAY_DONE:
		c->req_done = 1;
		c->phase_deadline = 0;
		client_arm(c);
		c->can_retry = 0;
		return;
	}
	if (c->io.eof || c->io.err != 0) {
		client_error(c, 400, "client closed in the middle of the body");
		return;
	}
	if (evbuffer_get_length(out) >= OUT_HIGH)
		io_pause(&c->io);
}

/*
 * listen.proxy_protocol: the header the balancer sends first. It is
 * peeked at, and only its own bytes are taken from the socket: what
 * follows may be a TLS ClientHello, which OpenSSL must read itself.
 * The io stays paused (reads nothing) until the header is done.
 */
static void
client_proxy_header(struct client *c)
{
	unsigned char buf[PP_MAX];
	struct pp_result r;
	ssize_t n;
	int len;

	do
		n = recv(c->io.fd, buf, sizeof(buf), MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n == -1) {
		client_close(c, strerror(errno));
		return;
	}
	len = pp_parse(buf, (size_t)n, &r);
	if (len == 0 && n > 0 && !c->io.rdhup)
		return;		/* the rest comes with the next edge */
	if (len <= 0) {
		if (n > 0) {
			c->w->st.connections_proxy_bad++;
			log_info("client %s: %s PROXY protocol header", c->ip,
			    len == 0 ? "closed in the middle of its" :
			    "not a valid");
		}
		client_close(c, "no valid PROXY header");
		return;
	}
	if (recv(c->io.fd, buf, (size_t)len, 0) != len) {
		client_close(c, "could not take the PROXY header");
		return;
	}
	if (r.has_addr) {
		format_host((struct sockaddr *)&r.src, c->ip, sizeof(c->ip));
		c->port = (uint16_t)sockaddr_port((struct sockaddr *)&r.src);
	}
	c->state = CS_IDLE;
	if (c->ls->tls) {
		struct tls_conn *tc = tls_conn_new(c->w->gen->tls, c->io.fd,
		    &c->w->st, c->ls->index);

		if (tc == NULL) {
			client_close(c, "out of memory starting TLS");
			return;
		}
		io_start_tls(&c->io, tc);
		c->tls = 1;
	}
	io_resume(&c->io);
}

static void
client_on_io(void *arg)
{
	struct client *c = arg;

	if (c->io.err != 0 && c->state != CS_FORWARD) {
		client_close(c, io_error(&c->io));
		return;
	}
	/* Its last response has drained: it may go to the generation in
	 * force now. */
	if (c->w->retiring && c->state == CS_IDLE && client_move(c))
		return;
	switch (c->state) {
	case CS_PROXY:
		client_proxy_header(c);
		break;
	case CS_IDLE:
	case CS_HEAD:
		if (evbuffer_get_length(c->io.in) > 0)
			client_read_head(c);
		else if (c->io.eof)
			client_close(c, c->state == CS_IDLE ? "client closed" :
			    "client closed in the middle of a head");
		break;
	case CS_FORWARD:
		if (c->io.err != 0) {
			if (client_detach(c, io_error(&c->io)))
				break;
			c->w->st.responses_aborted++;
			client_close(c, io_error(&c->io));
			return;
		}
		if (c->queued && c->io.eof) {
			/* Gone before a backend slot freed: the slot goes to
			 * someone still waiting, not to a request nobody will
			 * read the answer of (HAProxy's abortonclose). */
			c->w->st.backend_queue_abandoned++;
			client_close(c, "client closed while queued");
			return;
		}
		if (c->buffering) {
			client_buffered(c);
			if (c->closed)
				return;
			break;
		}
		/* Pipelined bytes after the body wait in the buffer
		 * (bounded by in_high) until this response is done. A
		 * complete request from a half-closed client is answered;
		 * the connection closes after. */
		client_pump_request(c);
		/* Output room for a response streamed from another
		 * client's fetch (coalescing). */
		cache_stream_pump(c);
		if (c->closed)
			return;
		break;
	case CS_CLOSING:
		evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
		if (io_pending(&c->io) == 0)
			client_linger(c);
		return;
	case CS_LINGER:
		evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
		if (c->io.eof)
			client_close(c, "done");
		return;
	case CS_TUNNEL:
		tunnel_pump(c);
		return;
	}
	(void)client_flush(c);
}

static void
client_on_timer(void *arg)
{
	struct client *c = arg;
	uint64_t now = now_mono_ms();

	if (c->bg) {
		/* Its timer only starts it (client_background): the backend
		 * side has its own timeouts, and it never queues. */
		if (c->state == CS_IDLE) {
			client_read_head(c);
			(void)client_flush(c);
		}
		return;
	}
	if (io_pending(&c->io) > 0 &&
	    now >= c->io.last_write + c->w->cfg->timeouts_client_send) {
		if (client_detach(c, "send timeout: the client reads nothing")) {
			(void)client_flush(c);
			return;
		}
		if (c->state == CS_FORWARD)
			c->w->st.responses_aborted++;
		client_close(c, "send timeout: the client reads nothing");
		return;
	}
	if (c->queued && now >= c->queue_deadline) {
		upstream_queue_timeout(c);
		(void)client_flush(c);
		return;
	}
	if (c->phase_deadline == 0 || now < c->phase_deadline) {
		client_arm(c);
		return;
	}
	c->phase_deadline = 0;
	switch (c->state) {
	case CS_PROXY:
		c->w->st.connections_proxy_bad++;
		log_info("client %s: no PROXY protocol header in time", c->ip);
		client_close(c, "PROXY header timeout");
		return;
	case CS_IDLE:
		if (c->io.handshaking) {
			c->w->st.tls_fail_timeout++;
			log_info("client %s: TLS handshake not done in time",
			    c->ip);
			client_close(c, "TLS handshake timeout");
			return;
		}
		client_close(c, "idle timeout");
		return;
	case CS_HEAD:
		c->w->st.requests_bad++;
		c->keepalive = 0;
		client_logline_none(c);
		c->t_start = now;
		client_error(c, 408, "request head not received in time");
		break;
	case CS_FORWARD:
		c->w->st.requests_bad++;
		client_error(c, 408, "request body not received in time");
		break;
	case CS_CLOSING:
	case CS_LINGER:
		client_close(c, "done");
		return;
	case CS_TUNNEL:
		client_close(c, "tunnel idle for timeouts.tunnel");
		return;
	}
	(void)client_flush(c);
}
