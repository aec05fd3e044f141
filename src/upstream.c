/*
 * upstream.c: the backend side of a client's transaction (L3): choosing a
 * server, taking a pooled connection or opening one, sending the request
 * head, reading the response head and streaming the response body back
 * with backpressure. A request whose pooled connection turns out dead
 * before any response byte is sent once more on a fresh connection when
 * that is safe (idempotent and without a body: RFC 9110 §9.2.2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "balance.h"
#include "client.h"
#include "config.h"
#include "http_msg.h"
#include "log.h"
#include "tunnel.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

static void	up_on_io(void *);
static void	up_on_timer(void *);
static void	upstream_send(struct client *);

/*
 * The queue is one line over all workers, each holding its part: every
 * queued request has a ticket (vane.qticket) and each worker publishes
 * the ticket of its oldest in w->qhead. A freed slot goes to the worker
 * with the oldest request, so a worker whose clients keep its own queue
 * busy cannot starve the requests waiting in another.
 */
static void
queue_publish(struct worker *w)
{
	struct client *c = TAILQ_FIRST(&w->queue);

	atomic_store(&w->qhead, c != NULL ? c->qticket : UINT64_MAX);
}

/* The worker holding the oldest queued request, or NULL. */
/* The line is per generation: its workers share its servers' slots. */
static struct worker *
queue_oldest(const struct worker *w)
{
	const struct gen *g = w->gen;
	struct worker *o = NULL;
	uint64_t t, best = UINT64_MAX;
	int i;

	for (i = 0; i < g->nworkers; i++) {
		t = atomic_load(&g->workers[i].qhead);
		if (t < best) {
			best = t;
			o = &g->workers[i];
		}
	}
	return (o);
}

/* A slot may be free: the worker with the oldest queued request looks
 * at its queue (this one after the current callback). */
static void
queue_kick(struct worker *w)
{
	struct worker *o;

	atomic_thread_fence(memory_order_seq_cst);
	if ((o = queue_oldest(w)) == NULL)
		return;
	if (o == w)
		event_active(w->queue_ev, EV_TIMEOUT, 0);
	else
		worker_kick_queue(o);
}

static void
queue_remove(struct client *c)
{
	struct worker *w = c->w;

	TAILQ_REMOVE(&w->queue, c, qentry);
	atomic_fetch_sub_explicit(&w->nqueued, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&vane.queued, 1, memory_order_relaxed);
	c->queued = 0;
	queue_publish(w);
}

/* Let go of c's backend connection: back to the pool if reuse allows. */
static void
upstream_drop_conn(struct client *c, int reuse)
{
	struct uconn *uc = c->uc;

	if (uc == NULL)
		return;
	c->uc = NULL;
	if (reuse && uc->io.connected && uc->io.err == 0 && !uc->io.eof &&
	    evbuffer_get_length(uc->io.in) == 0 &&
	    evbuffer_get_length(uc->io.out) == 0)
		upool_put(uc);
	else
		uconn_free(uc);
}

void
upstream_release(struct client *c, int reuse)
{
	if (c->queued)
		queue_remove(c);
	upstream_drop_conn(c, reuse);
	if (c->holds_slot) {
		c->holds_slot = 0;
		backend_release(c->srv);
		queue_kick(c->w);
	}
}

void
upstream_flush(struct client *c)
{
	struct uconn *uc = c->uc;

	if (uc == NULL || !uc->io.connected || io_pending(&uc->io) == 0)
		return;
	if (io_flush(&uc->io) == -1)
		up_on_io(c);	/* reports the error */
}

/* Seconds a client should wait before asking again when no server is up:
 * the soonest a server can come back. */
static int
retry_after(const struct config *cfg)
{
	uint64_t ms;

	if (cfg->backends_health_path != NULL)
		ms = cfg->backends_health_interval *
		    (uint64_t)cfg->backends_health_rise;
	else
		ms = cfg->backends_fail_timeout;
	return (ms < 1000 ? 1 : (int)((ms + 999) / 1000));
}

/*
 * The server failed this request before any response byte reached the
 * client. Try another server when backends.retries allows and it is safe:
 * nothing was sent yet, or the request is idempotent and has no body
 * (RFC 9110 §9.2.2). Otherwise answer status.
 */
static void
upstream_retry(struct client *c, int sent, int status, const char *reason)
{
	struct worker *w = c->w;

	c->fail_status = status;
	c->fail_reason = reason;
	if (c->retries < c->w->cfg->backends_retries && (!sent || c->can_retry)) {
		c->retries++;
		w->st.backend_retries++;
		upstream_release(c, 0);
		upstream_start(c);
		return;
	}
	client_error(c, status, reason);
}

static void
upstream_connect_new(struct client *c)
{
	struct uconn *uc;

	uc = uconn_connect(c->w, c->srv, up_on_io, up_on_timer, c);
	if (uc == NULL) {
		c->w->st.backend_errors++;
		log_warn("backend %s: connect: %s", c->srv->name,
		    strerror(errno));
		backend_failed(c->srv, now_mono_ms(), strerror(errno));
		upstream_retry(c, 0, 502, "cannot connect to the backend");
		return;
	}
	c->uc = uc;
}

/* c goes to server idx, whose slot it holds. */
static void
upstream_use(struct client *c, int idx)
{
	struct worker *w = c->w;
	struct uconn *uc;

	c->srv = &c->w->servers[idx];
	c->tried |= 1ULL << idx;
	c->holds_slot = 1;
	if ((uc = upool_get(w, c->srv)) != NULL) {
		w->st.backend_reused++;
		uconn_attach(uc, up_on_io, up_on_timer, c);
		c->uc = uc;
		upstream_send(c);
		return;
	}
	upstream_connect_new(c);
}

/* No server that is up is left for c. */
static void
upstream_none(struct client *c)
{
	if (c->tried != 0) {
		/* A retry found no other server: the failure stands. */
		client_error(c, c->fail_status != 0 ? c->fail_status : 502,
		    c->fail_reason != NULL ? c->fail_reason :
		    "no other backend server is up");
		return;
	}
	c->w->st.backend_unavailable++;
	c->retry_after = retry_after(c->w->cfg);
	client_error(c, 503, "no backend server is up");
}

/*
 * Give c a server: 0 when it has one (or was answered with an error), -1
 * when every server that could take it is at its max_conns.
 */
static int
upstream_try(struct client *c)
{
	struct worker *w = c->w;
	int ewbuf[BALANCE_MAX_SERVERS], load[BALANCE_MAX_SERVERS];
	uint64_t now = now_mono_ms(), alive, free, cand;
	const int *ew = w->weights;
	int idx;

	backend_masks(c->w->servers, c->w->nservers, now, &alive, &free);
	if ((alive & ~c->tried) == 0) {
		upstream_none(c);
		return (0);
	}
	if (c->w->cfg->backends_slow_start != 0) {
		backend_weights(c->w->servers, c->w->nservers, now, ewbuf);
		ew = ewbuf;
	}
	if (w->bal.algo == BALANCE_LEAST_CONN)
		backend_loads(c->w->servers, c->w->nservers, load);
	while ((cand = free & ~c->tried) != 0) {
		idx = balance_pick(&w->bal, cand, ew, load);
		if (idx == -1)
			break;
		if (backend_acquire(&c->w->servers[idx]) == 0) {
			upstream_use(c, idx);
			return (0);
		}
		/* Another worker took its last slot meanwhile. */
		free &= ~(1ULL << idx);
	}
	return (-1);
}

void
upstream_start(struct client *c)
{
	struct worker *w = c->w;

	if (upstream_try(c) == 0)
		return;
	if (c->bg) {
		/* A background refresh does not queue: it would go before
		 * the clients that come after it, which must never wait for
		 * one. The stale response stays; a later hit tries again. */
		client_error(c, 503, "every backend server is at max_conns");
		return;
	}
	/* Every server that could take it is busy: wait, first in first
	 * out, bounded in number and time. */
	if (atomic_fetch_add_explicit(&vane.queued, 1, memory_order_relaxed) >=
	    c->w->cfg->backends_queue_size) {
		atomic_fetch_sub_explicit(&vane.queued, 1, memory_order_relaxed);
		w->st.backend_queue_full++;
		c->retry_after = 1;
		client_error(c, 503, "every backend server is at max_conns "
		    "and the queue is full");
		return;
	}
	atomic_fetch_add_explicit(&w->nqueued, 1, memory_order_relaxed);
	c->qticket = atomic_fetch_add(&vane.qticket, 1);
	TAILQ_INSERT_TAIL(&w->queue, c, qentry);
	c->queued = 1;
	c->queue_deadline = now_mono_ms() + c->w->cfg->backends_queue_timeout;
	w->st.backend_queued++;
	if (TAILQ_FIRST(&w->queue) == c) {
		queue_publish(w);
		/* A slot another worker freed since upstream_try found no
		 * one waiting: look once more. The fence pairs with the
		 * one in queue_kick: either the releasing worker sees our
		 * head or our next try sees its free slot. */
		atomic_thread_fence(memory_order_seq_cst);
		if (queue_oldest(w) == w)
			event_active(w->queue_ev, EV_TIMEOUT, 0);
	}
	client_arm(c);
}

void
upstream_queue_run(struct worker *w)
{
	struct client *c;
	struct worker *o;

	while ((c = TAILQ_FIRST(&w->queue)) != NULL) {
		/* An older request waiting in another worker goes first. */
		if ((o = queue_oldest(w)) != NULL && o != w &&
		    atomic_load(&o->qhead) < c->qticket) {
			worker_kick_queue(o);
			return;
		}
		queue_remove(c);
		if (upstream_try(c) == -1) {
			/* Still no free slot: back to the head of the line. */
			atomic_fetch_add_explicit(&vane.queued, 1,
			    memory_order_relaxed);
			atomic_fetch_add_explicit(&w->nqueued, 1,
			    memory_order_relaxed);
			TAILQ_INSERT_HEAD(&w->queue, c, qentry);
			c->queued = 1;
			queue_publish(w);
			return;
		}
		(void)client_flush(c);
	}
	/* None left here: the slot may serve another worker's. */
	if ((o = queue_oldest(w)) != NULL && o != w)
		worker_kick_queue(o);
}

void
upstream_queue_timeout(struct client *c)
{
	c->w->st.backend_queue_timeouts++;
	c->retry_after = 1;
	client_error(c, 503, "no backend server freed a slot within "
	    "backends.queue.timeout");
}

/* Wait for the backend: no byte for backend_response is a timeout. */
static uint64_t
upstream_deadline(const struct uconn *uc)
{
	uint64_t base = uc->last_read;

	/* Sending a long body is progress too. */
	if (uc->io.last_write > base)
		base = uc->io.last_write;
	return (base + uc->w->cfg->timeouts_backend_response);
}

static void
upstream_arm(struct client *c)
{
	ltimer_set(&c->uc->timer, upstream_deadline(c->uc));
}

static void
upstream_send(struct client *c)
{
	struct uconn *uc = c->uc;
	struct worker *w = c->w;
	size_t len = evbuffer_get_length(c->uhead);

	/* Keep a copy of the head only while a retry is still possible:
	 * on a fresh connection after this pooled one dies, or on another
	 * server; or while the cache may send it again without its
	 * conditional (CACHE_HEAD_RESEND). */
	if ((c->can_retry && ((!c->retried && uc->nreq > 0) ||
	    c->retries < c->w->cfg->backends_retries)) || c->cache.validating)
		evbuffer_add(uc->io.out, evbuffer_pullup(c->uhead, -1), len);
	else
		evbuffer_add_buffer(uc->io.out, c->uhead);
	uc->nreq++;
	c->t_upstream = uc->last_read = now_mono_ms();
	if (c->rfields == NULL && (c->rfields = worker_fields_get(w)) == NULL) {
		client_close(c, "out of memory");
		return;
	}
	http_msg_init(&c->resp, c->rfields,
	    (uint32_t)c->w->cfg->limits_header_count);
	upstream_arm(c);
	client_send_continue(c);
	client_pump_request(c);
}

/* How the response body leaves vane, given how it arrives. */
static int
response_mode(struct client *c, enum http_framing f, struct http_out *o)
{
	switch (f) {
	case HF_NONE:
		return (RELAY_NONE);
	case HF_LENGTH:
		return (RELAY_LENGTH);
	case HF_CHUNKED:
		if (c->version >= 11)
			return (RELAY_CHUNKED);
		/* HTTP/1.0 knows no chunked: send the data, close after. */
		o->strip_te = 1;
		c->keepalive = 0;
		return (RELAY_DECHUNK);
	default:
		if (c->version >= 11 && c->method != HM_HEAD) {
			/* Re-frame as chunked so the client connection can
			 * stay open. */
			o->chunk = 1;
			return (RELAY_CLOSE_CHUNK);
		}
		c->keepalive = 0;
		return (RELAY_CLOSE);
	}
}

/* Write the client's response head; returns 0, -1 (out of memory), -2
 * (c was closed) or 1 (nothing written: send the request again,
 * CACHE_HEAD_RESEND). */
static int
upstream_emit_head(struct client *c, const char *buf)
{
	struct http_msg *r = &c->resp;
	struct evbuffer *out = c->io.out;
	struct evbuffer_iovec v;
	struct http_out o;
	enum http_framing f;
	ssize_t n;
	int mode;

	memset(&o, 0, sizeof(o));
	f = http_response_framing(r, c->method);
	mode = response_mode(c, f, &o);
	c->up_reusable = f != HF_CLOSE && !(r->conn & HC_CLOSE) &&
	    (r->version >= 11 || (r->conn & HC_KEEPALIVE));
	if (!c->req_done) {
		/* The backend answered before the whole body was sent: the
		 * rest of it is unread on both connections. */
		c->up_reusable = 0;
		c->keepalive = 0;
	}
	if (c->w->stopping)
		c->keepalive = 0;
	/* A 101: the connection is the tunnel's from now (tunnel_start). */
	o.upgrade = r->status == 101;
	switch (cache_response_head(c, buf)) {
	case CACHE_HEAD_STALE:
		/* The stale stored response went out instead of this 5xx,
		 * whose body is left unread: the connection is not reused. */
		c->up_reusable = c->up_reusable && f == HF_NONE;
		/* FALLTHROUGH */
	case CACHE_HEAD_REPLACED:
		/* cache.c sent the stored response (after a 304, which has no
		 * body to relay, or instead of the 5xx). */
		c->resp_started = 1;
		c->resp_head_done = 1;
		relay_init(&c->resp_body, RELAY_NONE, 0, 0);
		return (0);
	case CACHE_HEAD_CLOSED:
		return (-2);
	case CACHE_HEAD_RESEND:
		return (1);
	}
	o.keepalive = c->keepalive;
	o.client_version = c->version;
	o.via = "vane";
	o.date = worker_date(c->w);
	o.lextra = c->lfields;
	if (c->cache.fwd != CFWD_NONE) {
		o.extra = c->cache.extra;
		o.skip = c->cache.skip;
	}
	if (evbuffer_reserve_space(out,
	    (ev_ssize_t)http_msg_response_size(r, &o), &v, 1) < 1)
		return (-1);
	if ((n = http_msg_response(v.iov_base, v.iov_len, buf, r, &o)) < 0)
		return (-1);
	v.iov_len = (size_t)n;
	if (evbuffer_commit_space(out, &v, 1) == -1)
		return (-1);
	client_sent_head(c, (size_t)n);
	c->status = r->status;
	c->resp_started = 1;
	c->resp_head_done = 1;
	relay_init(&c->resp_body, mode, r->content_length, 0);
	cache_response_tee(c);
	return (0);
}

/*
 * The cache dropped the response to a revalidation, a 304 that selects
 * nothing (RFC 9111 §4.3.4), and took its conditional out of c->uhead:
 * send that once more to the same server. A 304 has no body, so the
 * connection serves again unless it is closing; the slot is kept. Not a
 * retry (backends.retries): the server did not fail, and the request is
 * no longer conditional, so it cannot end here a second time.
 */
static void
upstream_resend(struct client *c)
{
	struct uconn *uc = c->uc;

	evbuffer_drain(uc->io.in, c->resp.head_len);
	atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
	if (c->up_reusable && uc->io.err == 0 && !uc->io.eof &&
	    evbuffer_get_length(uc->io.in) == 0) {
		upstream_send(c);
		return;
	}
	upstream_drop_conn(c, 0);
	upstream_connect_new(c);
}

/* Parse the response head; returns 1 when the body may be pumped. */
static int
upstream_read_head(struct client *c)
{
	struct evbuffer *in = c->uc->io.in;
	struct worker *w = c->w;
	const char *buf;
	char why[32];
	size_t len;
	int rc;

	for (;;) {
		if ((len = evbuffer_get_length(in)) == 0)
			return (0);
		if (len > (size_t)w->resp_limits.max_head + 1)
			len = (size_t)w->resp_limits.max_head + 1;
		if ((buf = (const char *)evbuffer_pullup(in,
		    (ev_ssize_t)len)) == NULL) {
			client_close(c, "out of memory");
			return (0);
		}
		rc = http_parse_response(&c->resp, buf, len, &w->resp_limits);
		if (rc == HP_AGAIN)
			return (0);
		if (rc < 0 || (c->resp.status == 101 && (!c->upgrade ||
		    !http_upgrade_ok(buf, &c->resp)))) {
			w->st.backend_errors++;
			log_warn("backend %s: invalid response: %s",
			    c->srv->name, rc < 0 ? http_strerror(rc) :
			    !c->upgrade ? "101 Switching Protocols to a "
			    "request that asked for no upgrade" :
			    "101 Switching Protocols without Upgrade");
			backend_failed(c->srv, now_mono_ms(),
			    "invalid response");
			client_error(c, 502, "invalid response from the backend");
			return (0);
		}
		if (c->resp.status >= 200 || c->resp.status == 101)
			break;
		/* 1xx: vane already answered Expect itself; drop them. */
		evbuffer_drain(in, c->resp.head_len);
		http_msg_init(&c->resp, c->rfields,
		    (uint32_t)c->w->cfg->limits_header_count);
	}
	if (c->w->cfg->backends_fail_on_5xx && (c->resp.status == 500 ||
	    (c->resp.status >= 502 && c->resp.status <= 504))) {
		snprintf(why, sizeof(why), "status %d", c->resp.status);
		backend_failed(c->srv, now_mono_ms(), why);
	} else
		backend_succeeded(c->srv);
	switch (upstream_emit_head(c, buf)) {
	case -1:
		client_close(c, "out of memory writing a response head");
		return (0);
	case -2:
		return (0);	/* closed */
	case 1:
		upstream_resend(c);
		return (0);
	}
	evbuffer_drain(in, c->resp.head_len);
	worker_fields_put(w, c->rfields);
	c->rfields = NULL;
	if (c->resp.status == 101) {
		tunnel_start(c);
		return (0);
	}
	return (1);
}

/* Returns 1 when the response is complete (c may be reset or closed). */
static int
upstream_pump_response(struct client *c)
{
	struct evbuffer *in = c->uc->io.in;
	struct evbuffer *out = c->io.out;

	switch (relay_move(&c->resp_body, in, out)) {
	case RELAY_DONE:
		if (evbuffer_get_length(in) > 0)
			c->up_reusable = 0;	/* bytes past the end */
		client_response_done(c);
		return (1);
	case RELAY_MORE:
		if (cache_response_body(c))	/* to coalesced waiters */
			io_pause(&c->uc->io);	/* the slowest lags */
		break;
	default:
		c->w->st.backend_errors++;
		log_warn("backend %s: malformed chunked response body",
		    c->srv->name);
		client_error(c, 502, "malformed chunked body from the backend");
		return (1);
	}
	if (evbuffer_get_length(out) >= OUT_HIGH)
		io_pause(&c->uc->io);
	return (0);
}

void
upstream_resume_read(struct client *c)
{
	if (c->uc != NULL && c->resp_head_done && c->uc->io.paused &&
	    !cache_response_held(c)) {
		c->uc->last_read = now_mono_ms();
		upstream_arm(c);
		io_resume(&c->uc->io);
	}
}

/* The backend connection failed before a response head was complete. */
static void
up_failed_early(struct client *c, int timeout)
{
	struct uconn *uc = c->uc;
	struct worker *w = c->w;
	int connected = uc->io.connected, tls;
	const char *why;

	if (!connected) {
		/* Over TLS the connect is done only with the handshake: a
		 * failed one (certificate, name, not TLS) fails the same. */
		tls = uc->io.tls != NULL && !uc->io.connecting &&
		    (timeout || uc->io.err == EPROTO);
		if (timeout)
			w->st.backend_timeouts++;
		else
			w->st.backend_errors++;
		why = timeout ? "timeout" : io_error(&uc->io);
		log_warn("backend %s: %s: %s", c->srv->name, tls ?
		    "TLS handshake" : "connect", why);
		backend_failed(c->srv, now_mono_ms(), !timeout ? why : tls ?
		    "TLS handshake timeout" : "connect timeout");
		/* Nothing was sent: any request may go to another server. */
		upstream_retry(c, 0, timeout ? 504 : 502, timeout ?
		    "backend connect timeout" : tls ? "TLS handshake with the "
		    "backend failed" : "cannot connect to the backend");
		return;
	}
	if (timeout) {
		w->st.backend_timeouts++;
		log_warn("backend %s: response timeout", c->srv->name);
		backend_failed(c->srv, now_mono_ms(), "response timeout");
		upstream_retry(c, 1, 504, "backend response timeout");
		return;
	}
	if (uc->nreq > 1 && c->can_retry && !c->retried &&
	    c->resp.pos == 0 && evbuffer_get_length(uc->io.in) == 0) {
		/* A pooled connection the backend closed as we reused it:
		 * not the server's fault; once more on a fresh one. */
		c->retried = 1;
		w->st.backend_retries++;
		upstream_drop_conn(c, 0);
		upstream_connect_new(c);
		return;
	}
	w->st.backend_errors++;
	why = uc->io.err != 0 ? io_error(&uc->io) : "connection closed";
	log_warn("backend %s: %s before a complete response head",
	    c->srv->name, why);
	backend_failed(c->srv, now_mono_ms(), why);
	upstream_retry(c, 1, 502, "backend failed");
}

/* The backend closed or failed while the body was streaming. */
static void
up_failed_body(struct client *c, int timeout)
{
	struct uconn *uc = c->uc;
	const char *why;

	if (!timeout && uc->io.err == 0 &&
	    relay_eof(&c->resp_body, c->io.out) == RELAY_DONE) {
		c->up_reusable = 0;
		client_response_done(c);
		return;
	}
	if (timeout)
		c->w->st.backend_timeouts++;
	else
		c->w->st.backend_errors++;
	why = timeout ? "timeout" : uc->io.err != 0 ? io_error(&uc->io) :
	    "connection closed";
	log_warn("backend %s: %s in the middle of a response body",
	    c->srv->name, why);
	backend_failed(c->srv, now_mono_ms(), why);
	client_error(c, 502, "backend failed mid-body");
}

static void
up_on_io(void *arg)
{
	struct client *c = arg;
	struct uconn *uc = c->uc;

	CHECK_OBJ(c, CLIENT_MAGIC);
	if (uc == NULL || c->closed)
		return;
	if (c->state == CS_TUNNEL) {
		tunnel_pump(c);
		return;
	}
	if (uc->io.connected && uc->nreq == 0) {
		upstream_send(c);	/* the connect completed */
		if (c->closed || c->uc == NULL)
			return;
	}
	if (evbuffer_get_length(uc->io.in) > 0) {
		uc->last_read = now_mono_ms();
		if (!c->resp_head_done && !upstream_read_head(c))
			goto check;
		if (c->closed || c->uc == NULL)
			return;
		if (upstream_pump_response(c))
			goto flush;
	}
check:
	if (c->closed || c->uc != uc || c->state == CS_TUNNEL)
		goto flush;	/* a 101 made it a tunnel: tunnel.c has it */
	if (uc->io.err != 0 || uc->io.eof) {
		if (!c->resp_head_done)
			up_failed_early(c, 0);
		else
			up_failed_body(c, 0);
		goto flush;
	}
	/* The backend took what we sent: move more of the request body
	 * (client_flush resumes reading the client). */
	client_pump_request(c);
flush:
	(void)client_flush(c);
}

static void
up_on_timer(void *arg)
{
	struct client *c = arg;
	struct uconn *uc = c->uc;

	if (uc == NULL || c->closed || c->state == CS_TUNNEL)
		return;		/* a tunnel's deadline is the client's */
	if (uc->io.paused || (uc->io.connected &&
	    upstream_deadline(uc) > now_mono_ms())) {
		/* Waiting for the client, not the backend; or the backend
		 * made progress since the deadline was set. */
		upstream_arm(c);
		return;
	}
	if (!c->resp_head_done)
		up_failed_early(c, 1);
	else
		up_failed_body(c, 1);
	(void)client_flush(c);
}
