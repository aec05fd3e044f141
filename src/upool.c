/*
 * upool.c: upstream connections and their idle pool. See upool.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "tls.h"
#include "upool.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

void
upool_init(struct upool *p)
{
	TAILQ_INIT(&p->idle);
	p->nidle = 0;
}

static void
upool_unlink(struct uconn *uc)
{
	struct upool *p = &uc->w->pools[uc->srv->idx];

	TAILQ_REMOVE(&p->idle, uc, entry);
	p->nidle--;
}

void
upool_clear(struct upool *p)
{
	struct uconn *uc;

	while ((uc = TAILQ_FIRST(&p->idle)) != NULL) {
		upool_unlink(uc);
		uconn_free(uc);
	}
}

void
uconn_free(struct uconn *uc)
{
	if (uc == NULL)
		return;
	CHECK_OBJ(uc, UCONN_MAGIC);
	uc->magic = 0;
	ltimer_free(&uc->timer);
	io_close(&uc->io);
	free(uc);
}

void
uconn_attach(struct uconn *uc, void (*on_io)(void *),
    void (*on_timeout)(void *), struct client *c)
{
	io_set_owner(&uc->io, on_io, c);
	uc->timer.fire = on_timeout;
	uc->timer.arg = c;
	ltimer_set(&uc->timer, 0);
}

struct uconn *
uconn_connect(struct worker *w, struct server *srv, void (*on_io)(void *),
    void (*on_timeout)(void *), struct client *c)
{
	struct uconn *uc;
	struct tls_conn *tc;
	int one = 1, e;

	if ((uc = calloc(1, sizeof(*uc))) == NULL)
		return (NULL);
	uc->magic = UCONN_MAGIC;
	uc->w = w;
	uc->srv = srv;
	if (io_connect(&uc->io, w->base, (struct sockaddr *)&srv->ss,
	    srv->sslen, on_io, c) == -1) {
		e = errno;
		free(uc);
		errno = e;
		return (NULL);
	}
	if (ltimer_init(&uc->timer, w->base, on_timeout, c) == -1) {
		io_close(&uc->io);
		free(uc);
		errno = ENOMEM;
		return (NULL);
	}
	(void)setsockopt(uc->io.fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	if (srv->tls != NULL) {
		/* The handshake follows the connect inside io; the
		 * connect deadline covers both. */
		if ((tc = tls_conn_client(srv->tls, uc->io.fd, &w->st)) ==
		    NULL) {
			ltimer_free(&uc->timer);
			io_close(&uc->io);
			free(uc);
			errno = ENOMEM;
			return (NULL);
		}
		io_start_tls(&uc->io, tc);
	}
	ltimer_set(&uc->timer, now_mono_ms() + w->cfg->timeouts_backend_connect);
	w->st.backend_connects++;
	return (uc);
}

/* Anything from an idle connection (data, close, error): discard it. A
 * write-ready edge alone is not news. */
static void
idle_on_io(void *arg)
{
	struct uconn *uc = arg;

	if (!uc->io.eof && uc->io.err == 0 &&
	    evbuffer_get_length(uc->io.in) == 0)
		return;
	upool_unlink(uc);
	log_debug("backend %s: idle connection %s, discarded", uc->srv->name,
	    evbuffer_get_length(uc->io.in) > 0 ? "sent data" : "closed");
	uconn_free(uc);
}

static void
idle_timeout(void *arg)
{
	struct uconn *uc = arg;

	upool_unlink(uc);
	uconn_free(uc);
}

void
upool_put(struct uconn *uc)
{
	struct upool *p;
	struct worker *w = uc->w;

	CHECK_OBJ(uc, UCONN_MAGIC);
	p = &w->pools[uc->srv->idx];
	if (w->stopping || w->retiring || p->nidle >= w->cfg->backends_keepalive) {
		uconn_free(uc);
		return;
	}
	io_set_owner(&uc->io, idle_on_io, uc);
	uc->io.paused = 0;
	uc->timer.fire = idle_timeout;
	uc->timer.arg = uc;
	ltimer_set(&uc->timer,
	    now_mono_ms() + w->cfg->backends_keepalive_timeout);
	TAILQ_INSERT_HEAD(&p->idle, uc, entry);
	p->nidle++;
	/* Bytes or a close may already sit in the kernel unseen. */
	io_kick(&uc->io);
}

struct uconn *
upool_get(struct worker *w, struct server *srv)
{
	struct upool *p = &w->pools[srv->idx];
	struct uconn *uc;

	if ((uc = TAILQ_FIRST(&p->idle)) == NULL)
		return (NULL);
	upool_unlink(uc);
	return (uc);
}
