/*
 * tunnel.c: a client connection switched to another protocol (L4).
 *
 * A GET that asks to upgrade (RFC 9110 §7.8; WebSocket's opening
 * handshake, RFC 6455 §4) goes to the backend with its Upgrade field and
 * "Connection: upgrade" (http_upgrade_ok, client.c), bypassing the cache.
 * When the backend answers 101, upstream.c passes the 101 on and hands the
 * two connections to tunnel_start: from then on bytes go both ways as they
 * come, unread, until both sides are done.
 *
 * - A side's FIN becomes a shutdown of the other side's write once what
 *   it sent is written (half-close); an error on either side closes both.
 *   A TLS side is not read after its close_notify is sent (io.c), so there
 *   the first close ends the tunnel: WebSocket's closing handshake is over
 *   by then anyway.
 * - Backpressure as for bodies: a side is not read while the other has
 *   OUT_HIGH bytes queued, and is read again below a quarter of that.
 * - timeouts.tunnel bounds the time without a byte either way, and
 *   timeouts.client_idle when shorter once one side has closed (as
 *   HAProxy's client-fin: a peer that never answers a close does not keep
 *   the tunnel for an hour); the client's send timeout still drops a
 *   client that reads nothing.
 * - The backend connection never goes back to the pool, and the request
 *   keeps its server slot (max_conns) to the end. The access log line is
 *   written at the end (client_close), with the bytes relayed each way.
 *
 * The relays are the body relays in RELAY_CLOSE mode: bytes move between
 * the evbuffers without a copy, and their counts are the log's.
 */
#include <event2/buffer.h>

#include "client.h"
#include "config.h"
#include "relay.h"
#include "tunnel.h"
#include "upool.h"
#include "util.h"
#include "worker.h"

/* Stop reading src while dst's output is full; read again once it has
 * drained to a quarter. */
static void
backpressure(struct io *src, const struct io *dst)
{
	size_t queued = io_pending(dst);

	if (queued >= OUT_HIGH)
		io_pause(src);
	else if (src->paused && queued < OUT_HIGH / 4)
		io_resume(src);
}

/* from's peer closed: once what it sent is written, close to's write side
 * too. Returns 1 when that is done. */
static int
pass_fin(struct io *from, struct io *to, unsigned *done)
{
	if (*done)
		return (1);
	if (!from->eof || evbuffer_get_length(from->in) > 0 ||
	    io_pending(to) > 0)
		return (0);
	io_shutdown_write(to);
	*done = 1;
	return (1);
}

/* How long the tunnel may go without a byte either way, now. */
static uint64_t
tunnel_idle(const struct client *c)
{
	const struct config *cfg = c->w->cfg;

	if ((c->tun_up_fin || c->tun_client_fin) &&
	    cfg->timeouts_client_idle < cfg->timeouts_tunnel)
		return (cfg->timeouts_client_idle);
	return (cfg->timeouts_tunnel);
}

void
tunnel_pump(struct client *c)
{
	struct uconn *uc = c->uc;
	uint64_t before;
	unsigned up_fin, client_fin;
	int progress;

	if (c->closed || c->state != CS_TUNNEL)
		return;
	if (c->io.err != 0) {
		client_close(c, io_error(&c->io));
		return;
	}
	if (uc->io.err != 0) {
		client_close(c, io_error(&uc->io));
		return;
	}
	before = c->req_body.moved + c->resp_body.moved;
	(void)relay_move(&c->req_body, c->io.in, uc->io.out);
	(void)relay_move(&c->resp_body, uc->io.in, c->io.out);
	progress = c->req_body.moved + c->resp_body.moved != before;
	/* Written at once where the sockets take it; what stays queued
	 * decides the backpressure (an edge comes when it drains). */
	upstream_flush(c);
	if (c->closed)
		return;
	if (io_pending(&c->io) > 0 && io_flush(&c->io) == -1) {
		client_close(c, io_error(&c->io));
		return;
	}
	backpressure(&c->io, &uc->io);
	backpressure(&uc->io, &c->io);
	up_fin = c->tun_up_fin;
	client_fin = c->tun_client_fin;
	if (pass_fin(&c->io, &uc->io, &up_fin) &
	    pass_fin(&uc->io, &c->io, &client_fin)) {
		client_close(c, "tunnel closed");
		return;
	}
	if (up_fin != c->tun_up_fin || client_fin != c->tun_client_fin)
		progress = 1;
	c->tun_up_fin = up_fin;
	c->tun_client_fin = client_fin;
	if (progress)
		c->phase_deadline = now_mono_ms() + tunnel_idle(c);
	client_arm(c);
	io_kick(&c->io);
	io_kick(&uc->io);
}

void
tunnel_start(struct client *c)
{
	struct worker *w = c->w;

	c->state = CS_TUNNEL;
	c->keepalive = 0;
	c->up_reusable = 0;
	relay_init(&c->req_body, RELAY_CLOSE, 0, 0);
	relay_init(&c->resp_body, RELAY_CLOSE, 0, 0);
	w->st.tunnels++;
	w->st.tunnels_active++;
	c->phase_deadline = now_mono_ms() + tunnel_idle(c);
	tunnel_pump(c);
}
