/*
 * health.c: active health checks (L2). See health.h.
 *
 * One struct hcheck per server, all on the main thread's event_base. A
 * check is a small state machine on one non-blocking socket: connect,
 * the TLS handshake for a server with tls = true (its certificate is
 * verified as for requests, its session resumed), send the request,
 * read until the response head parses (the body is ignored), close. One timer per server serves twice: while no check runs
 * it is the time of the next one, while a check runs it is its deadline
 * (backends.health.timeout, for connect and response together).
 *
 * The result feeds rise/fall counting; only a change of state is logged
 * (at notice, with the reason), published with a relaxed atomic store
 * (the balancer reads it in every worker) and followed by
 * workers_kick_queues(), so requests queued for a slot look again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend.h"
#include "config.h"
#include "health.h"
#include "http_parse.h"
#include "log.h"
#include "tls.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#define LOAD(x)		atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v)	atomic_store_explicit(&(x), (v), memory_order_relaxed)
#define ADD(x, v)	atomic_fetch_add_explicit(&(x), (v), memory_order_relaxed)

#define HCHECK_MAGIC	0x6863686bu
/* A health endpoint's response head is small; past this it is invalid. */
#define HC_HEAD_MAX	16384
/* The first checks of all servers are spread over this much time. */
#define HC_SPREAD_MS	1000

enum hc_state { HC_IDLE = 0, HC_CONNECTING, HC_HANDSHAKE, HC_SENDING,
	HC_READING };

struct hcheck {
	uint32_t		 magic;
	struct server		*srv;
	struct event		*timer;	/* next check, or this one's deadline */
	struct event		*ev;	/* the socket while a check runs */
	int			 fd;
	struct tls_conn		*tls;	/* a TLS server's check; else NULL */
	enum hc_state		 state;
	uint64_t		 start;	/* ms the check began */
	char			*req;	/* the request, built once */
	size_t			 reqlen;
	size_t			 sent;
	char			*buf;	/* response head received so far */
	size_t			 len;
	struct http_msg		 msg;
	struct http_field	*fields;
	int			 oks;	/* consecutive successes while down */
	int			 fails;	/* consecutive failures while up */
};

static struct {
	struct event_base	*base;
	struct hcheck		*hc;
	int			 n;
	struct status_set	 ok;
	struct http_limits	 lim;
} H;

static void	hc_on_timer(evutil_socket_t, short, void *);
static void	hc_on_io(evutil_socket_t, short, void *);

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
hc_schedule(struct hcheck *hc, uint64_t ms)
{
	struct timeval tv;

	ms_to_tv(ms, &tv);
	evtimer_add(hc->timer, &tv);
}

/* The short reason of a socket error, as logs and /stats show it. */
static const char *
hc_errno_reason(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return ("connect refused");
	case ECONNRESET:
	case EPIPE:
		return ("connection reset");
	case ETIMEDOUT:
		return ("timeout");
	default:
		return (strerror(e));
	}
}

/* Apply one check's result to the server: counters, rise and fall. */
static void
hc_result(struct hcheck *hc, int ok, const char *reason, uint64_t now)
{
	const struct config *cfg = vane.cfg;
	struct server *s = hc->srv;

	ADD(s->checks, 1);
	STORE(s->check_ms, now - hc->start);
	log_debug("health check of backend %s: %s (%llu ms)", s->name,
	    ok ? "passed" : reason, (unsigned long long)(now - hc->start));
	if (ok) {
		s->check_reason[0] = '\0';
		hc->fails = 0;
		if (LOAD(s->up) || ++hc->oks < cfg->backends_health_rise)
			return;
		hc->oks = 0;
		/* up_since first: a worker that sees up sees the ramp start. */
		STORE(s->up_since, now);
		STORE(s->up, 1);
		log_notice("backend %s is up again (%d checks passed)", s->name,
		    (int)cfg->backends_health_rise);
	} else {
		ADD(s->checks_failed, 1);
		snprintf(s->check_reason, sizeof(s->check_reason), "%s",
		    reason);
		hc->oks = 0;
		if (!LOAD(s->up) || ++hc->fails < cfg->backends_health_fall)
			return;
		hc->fails = 0;
		STORE(s->up, 0);
		log_notice("backend %s is down: %s (%d failed checks)", s->name,
		    reason, (int)cfg->backends_health_fall);
	}
	workers_kick_queues();
}

/* The check is over: close its socket, count it, plan the next one. */
static void
hc_finish(struct hcheck *hc, int ok, const char *reason)
{
	uint64_t now = now_mono_ms(), elapsed, interval;

	event_del(hc->ev);
	tls_conn_free(hc->tls, ok);
	hc->tls = NULL;
	if (hc->fd != -1) {
		close(hc->fd);
		hc->fd = -1;
	}
	hc->state = HC_IDLE;
	hc_result(hc, ok, reason, now);
	/* Checks start interval apart, one after another. */
	interval = vane.cfg->backends_health_interval;
	elapsed = now - hc->start;
	hc_schedule(hc, elapsed < interval ? interval - elapsed : 0);
}

/* Watch the socket for what the next state waits for. */
static int
hc_watch(struct hcheck *hc, short what)
{
	event_del(hc->ev);
	if (event_assign(hc->ev, H.base, hc->fd, what | EV_PERSIST, hc_on_io,
	    hc) == -1 || event_add(hc->ev, NULL) == -1)
		return (-1);
	return (0);
}

static void
hc_begin(struct hcheck *hc)
{
	struct server *s = hc->srv;
	struct timeval tv;

	hc->start = now_mono_ms();
	hc->sent = 0;
	hc->len = 0;
	http_msg_init(&hc->msg, hc->fields, H.lim.max_fields);
	/* The deadline covers the connect and the response. */
	ms_to_tv(vane.cfg->backends_health_timeout, &tv);
	evtimer_add(hc->timer, &tv);
	hc->fd = socket(s->ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (hc->fd == -1) {
		hc_finish(hc, 0, strerror(errno));
		return;
	}
	if (connect(hc->fd, (struct sockaddr *)&s->ss, s->sslen) == -1 &&
	    errno != EINPROGRESS) {
		hc_finish(hc, 0, hc_errno_reason(errno));
		return;
	}
	hc->state = HC_CONNECTING;
	if (hc_watch(hc, EV_WRITE) == -1)
		hc_finish(hc, 0, strerror(ENOMEM));
}

static void
hc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hcheck *hc = arg;

	(void)fd;
	(void)what;
	CHECK_OBJ(hc, HCHECK_MAGIC);
	if (hc->state == HC_IDLE)
		hc_begin(hc);
	else
		hc_finish(hc, 0, "timeout");
}

/* Connected (or not): 0 to go on sending, 1 to go on with the TLS
 * handshake, -1 when the check is over. */
static int
hc_connected(struct hcheck *hc)
{
	socklen_t len = sizeof(int);
	int e = 0;

	if (getsockopt(hc->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0) {
		hc_finish(hc, 0, hc_errno_reason(e));
		return (-1);
	}
	if (hc->srv->tls == NULL) {
		hc->state = HC_SENDING;
		return (0);
	}
	/* A TLS server is checked over TLS, as requests reach it: a
	 * certificate it fails to present is a failed check. */
	if ((hc->tls = tls_conn_client(hc->srv->tls, hc->fd, NULL)) == NULL) {
		hc_finish(hc, 0, strerror(ENOMEM));
		return (-1);
	}
	hc->state = HC_HANDSHAKE;
	return (1);
}

/* Wait for what a TLS step wants: 0, or -1 when the check is over. */
static int
hc_tls_wait(struct hcheck *hc, enum tls_status st)
{
	char why[192];

	switch (st) {
	case TLS_WANT_READ:
		if (hc_watch(hc, EV_READ) == -1)
			break;
		return (0);
	case TLS_WANT_WRITE:
		if (hc_watch(hc, EV_WRITE) == -1)
			break;
		return (0);
	case TLS_EOF:
		hc_finish(hc, 0, "connection closed");
		return (-1);
	default:
		snprintf(why, sizeof(why), "TLS: %s", tls_conn_error(hc->tls));
		hc_finish(hc, 0, why);
		return (-1);
	}
	hc_finish(hc, 0, strerror(ENOMEM));
	return (-1);
}

/* One step of the TLS handshake: 0 once done, -1 not yet or over. */
static int
hc_handshake(struct hcheck *hc)
{
	enum tls_status st;

	if ((st = tls_handshake(hc->tls)) != TLS_OK) {
		(void)hc_tls_wait(hc, st);
		return (-1);
	}
	hc->state = HC_SENDING;
	if (hc_watch(hc, EV_WRITE) == -1) {
		hc_finish(hc, 0, strerror(ENOMEM));
		return (-1);
	}
	return (0);
}

/* send(2), or the same through TLS: bytes, or -1 with errno (EAGAIN to
 * wait, after hc_tls_wait; EPROTO when the check is over). */
static ssize_t
hc_send_some(struct hcheck *hc)
{
	enum tls_status st;
	size_t n;

	if (hc->tls == NULL)
		return (send(hc->fd, hc->req + hc->sent, hc->reqlen - hc->sent,
		    MSG_NOSIGNAL));
	if ((st = tls_write(hc->tls, hc->req + hc->sent, hc->reqlen -
	    hc->sent, &n)) == TLS_OK)
		return ((ssize_t)n);
	errno = hc_tls_wait(hc, st) == 0 ? EAGAIN : EPROTO;
	return (-1);
}

static void
hc_send(struct hcheck *hc)
{
	ssize_t n;

	while (hc->sent < hc->reqlen) {
		n = hc_send_some(hc);
		if (hc->state == HC_IDLE)
			return;		/* a TLS failure ended the check */
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			hc_finish(hc, 0, hc_errno_reason(errno));
			return;
		}
		hc->sent += (size_t)n;
	}
	hc->state = HC_READING;
	if (hc_watch(hc, EV_READ) == -1)
		hc_finish(hc, 0, strerror(ENOMEM));
}

/*
 * Parse what arrived. Interim 1xx responses (RFC 9110 §15.2: a client
 * must accept them even unasked) are skipped. Returns 1 when the check
 * is decided (and finished), 0 when more bytes are needed.
 */
static int
hc_parse(struct hcheck *hc)
{
	char reason[32];
	int rc, status;

	for (;;) {
		rc = http_parse_response(&hc->msg, hc->buf, hc->len, &H.lim);
		if (rc == HP_AGAIN && hc->len < H.lim.max_head)
			return (0);
		if (rc != HP_OK) {
			hc_finish(hc, 0, "invalid response");
			return (1);
		}
		status = hc->msg.status;
		if (status < 100 || status > 199 || status == 101)
			break;
		hc->len -= hc->msg.head_len;
		memmove(hc->buf, hc->buf + hc->msg.head_len, hc->len);
		http_msg_init(&hc->msg, hc->fields, H.lim.max_fields);
		if (hc->len == 0)
			return (0);
	}
	if (status_set_has(&H.ok, status)) {
		hc_finish(hc, 1, NULL);
		return (1);
	}
	snprintf(reason, sizeof(reason), "status %d", status);
	hc_finish(hc, 0, reason);
	return (1);
}

/* recv(2), or the same through TLS: bytes, 0 at the end, or -1 with
 * errno (EAGAIN to wait, after hc_tls_wait; EPROTO when the check is
 * over). */
static ssize_t
hc_recv_some(struct hcheck *hc)
{
	enum tls_status st;
	size_t got;
	int drained;

	if (hc->tls == NULL)
		return (recv(hc->fd, hc->buf + hc->len, H.lim.max_head -
		    hc->len, 0));
	st = tls_read(hc->tls, hc->buf + hc->len, H.lim.max_head - hc->len,
	    &got, &drained);
	if (st == TLS_OK)
		return ((ssize_t)got);
	if (st == TLS_EOF)
		return (0);
	errno = hc_tls_wait(hc, st) == 0 ? EAGAIN : EPROTO;
	return (-1);
}

static void
hc_read(struct hcheck *hc)
{
	ssize_t n;

	for (;;) {
		n = hc_recv_some(hc);
		if (hc->state == HC_IDLE)
			return;		/* a TLS failure ended the check */
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			hc_finish(hc, 0, hc_errno_reason(errno));
			return;
		}
		if (n == 0) {
			hc_finish(hc, 0, "connection closed");
			return;
		}
		hc->len += (size_t)n;
		if (hc_parse(hc))
			return;
	}
}

static void
hc_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct hcheck *hc = arg;

	(void)fd;
	(void)what;
	CHECK_OBJ(hc, HCHECK_MAGIC);
	switch (hc->state) {
	case HC_CONNECTING:
		switch (hc_connected(hc)) {
		case -1:
			return;
		case 1:
			if (hc_handshake(hc) == -1)
				return;
			break;
		}
		hc_send(hc);
		break;
	case HC_HANDSHAKE:
		if (hc_handshake(hc) == -1)
			return;
		/* FALLTHROUGH */
	case HC_SENDING:
		hc_send(hc);
		break;
	case HC_READING:
		hc_read(hc);
		break;
	case HC_IDLE:
		break;
	}
}

/* The check's request: RFC 9112 §3.2, Host is the configured name or
 * the server's address. */
static int
hc_build_request(struct hcheck *hc)
{
	const struct config *cfg = vane.cfg;
	const char *host = cfg->backends_health_host != NULL ?
	    cfg->backends_health_host : hc->srv->name;
	int n;

	n = asprintf(&hc->req, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: vane-health/%s\r\nConnection: close\r\n"
	    "Accept: */*\r\n\r\n", cfg->backends_health_path, host,
	    PACKAGE_VERSION);
	if (n == -1) {
		hc->req = NULL;
		return (-1);
	}
	hc->reqlen = (size_t)n;
	return (0);
}

static int
hc_init(struct hcheck *hc, struct server *s)
{
	hc->magic = HCHECK_MAGIC;
	hc->srv = s;
	hc->fd = -1;
	hc->state = HC_IDLE;
	hc->timer = evtimer_new(H.base, hc_on_timer, hc);
	hc->ev = event_new(H.base, -1, 0, hc_on_io, hc);
	hc->buf = malloc(H.lim.max_head);
	hc->fields = calloc(H.lim.max_fields, sizeof(*hc->fields));
	if (hc->timer == NULL || hc->ev == NULL || hc->buf == NULL ||
	    hc->fields == NULL || hc_build_request(hc) == -1)
		return (-1);
	return (0);
}

int
health_start(struct event_base *base)
{
	const struct config *cfg = vane.cfg;
	const char *why;
	uint64_t spread;
	int i;

	if (cfg->backends_health_path == NULL || vane.nservers == 0)
		return (0);
	if (parse_status_set(cfg->backends_health_status, &H.ok, &why) == -1) {
		/* config.c validated it already. */
		log_err("backends.health.status: %s", why);
		return (-1);
	}
	H.base = base;
	H.lim.max_head = cfg->limits_header_size < HC_HEAD_MAX ?
	    (uint32_t)cfg->limits_header_size : HC_HEAD_MAX;
	H.lim.max_fields = (uint32_t)cfg->limits_header_count;
	if ((H.hc = calloc((size_t)vane.nservers, sizeof(*H.hc))) == NULL)
		return (-1);
	H.n = vane.nservers;
	for (i = 0; i < H.n; i++)
		if (hc_init(&H.hc[i], &vane.servers[i]) == -1) {
			health_stop();
			return (-1);
		}
	/* First checks soon, but not all at once. */
	spread = cfg->backends_health_interval < HC_SPREAD_MS ?
	    cfg->backends_health_interval : HC_SPREAD_MS;
	for (i = 0; i < H.n; i++)
		hc_schedule(&H.hc[i], 10 + spread * (uint64_t)i / (uint64_t)H.n);
	log_info("health checks: GET %s on %d server(s) every %llu ms",
	    cfg->backends_health_path, H.n,
	    (unsigned long long)cfg->backends_health_interval);
	return (0);
}

void
health_stop(void)
{
	struct hcheck *hc;
	int i;

	for (i = 0; i < H.n; i++) {
		hc = &H.hc[i];
		if (hc->magic != HCHECK_MAGIC)
			continue;	/* health_start failed before it */
		tls_conn_free(hc->tls, 0);
		if (hc->fd != -1)
			close(hc->fd);
		if (hc->timer != NULL)
			event_free(hc->timer);
		if (hc->ev != NULL)
			event_free(hc->ev);
		free(hc->req);
		free(hc->buf);
		free(hc->fields);
		hc->magic = 0;
	}
	free(H.hc);
	memset(&H, 0, sizeof(H));
}
