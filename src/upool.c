/*
 * upool.c: upstream connections and their idle pool. See upool.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "upool.h"
#include "vane.h"
#include "worker.h"

void
upool_init(struct upool *p)
{
	TAILQ_INIT(&p->idle);
	p->nidle = 0;
}

void
upool_clear(struct upool *p)
{
	struct uconn *uc;

	while ((uc = TAILQ_FIRST(&p->idle)) != NULL) {
		TAILQ_REMOVE(&p->idle, uc, entry);
		p->nidle--;
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
	bufferevent_free(uc->bev);
	free(uc);
}

struct uconn *
uconn_connect(struct worker *w, struct server *srv)
{
	struct uconn *uc;

	if ((uc = calloc(1, sizeof(*uc))) == NULL)
		return (NULL);
	uc->magic = UCONN_MAGIC;
	uc->w = w;
	uc->srv = srv;
	uc->bev = bufferevent_socket_new(w->base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (uc->bev == NULL) {
		free(uc);
		return (NULL);
	}
	/* While connecting, libevent applies the write timeout. */
	bufferevent_set_timeouts(uc->bev, NULL, &w->tv_backend_connect);
	if (bufferevent_socket_connect(uc->bev, (struct sockaddr *)&srv->ss,
	    (int)srv->sslen) == -1) {
		uconn_free(uc);
		return (NULL);
	}
	w->st.backend_connects++;
	return (uc);
}

/* Anything from an idle connection (data, close, timeout): discard it. */
static void
idle_readcb(struct bufferevent *bev, void *arg)
{
	struct uconn *uc = arg;
	struct upool *p = &uc->w->pools[uc->srv->idx];

	TAILQ_REMOVE(&p->idle, uc, entry);
	p->nidle--;
	log_debug("backend %s: idle connection %s, discarded", uc->srv->name,
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0 ?
	    "sent data" : "closed or timed out");
	uconn_free(uc);
}

static void
idle_eventcb(struct bufferevent *bev, short what, void *arg)
{
	idle_readcb(bev, arg);
}

void
upool_put(struct uconn *uc)
{
	struct upool *p;
	struct worker *w = uc->w;

	CHECK_OBJ(uc, UCONN_MAGIC);
	p = &w->pools[uc->srv->idx];
	if (w->stopping || p->nidle >= vane.cfg->backends_keepalive) {
		uconn_free(uc);
		return;
	}
	bufferevent_setcb(uc->bev, idle_readcb, NULL, idle_eventcb, uc);
	bufferevent_setwatermark(uc->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(uc->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(uc->bev, &w->tv_keepalive, NULL);
	bufferevent_enable(uc->bev, EV_READ);
	TAILQ_INSERT_HEAD(&p->idle, uc, entry);
	p->nidle++;
}

struct uconn *
upool_get(struct worker *w, struct server *srv)
{
	struct upool *p = &w->pools[srv->idx];
	struct uconn *uc;

	if ((uc = TAILQ_FIRST(&p->idle)) == NULL)
		return (NULL);
	TAILQ_REMOVE(&p->idle, uc, entry);
	p->nidle--;
	bufferevent_disable(uc->bev, EV_READ);
	bufferevent_set_timeouts(uc->bev, NULL, NULL);
	return (uc);
}
