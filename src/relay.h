/*
 * relay.h: moving a message body from one evbuffer to another (L3), in
 * whatever framing it arrives and leaves with. Used for request bodies
 * (client -> backend) and response bodies (backend -> client). Bytes are
 * moved, not copied, wherever the framing allows (evbuffer chains change
 * owner), and the chunked framing is validated on the way so that vane and
 * the receiver always agree on where the body ends.
 */
#ifndef VANE_RELAY_H
#define VANE_RELAY_H

#include <stdint.h>
#include <event2/buffer.h>

#include "http_parse.h"

enum relay_mode {
	RELAY_NONE = 0,		/* no body */
	RELAY_LENGTH,		/* Content-Length: pass exactly that many bytes */
	RELAY_CHUNKED,		/* chunked in, chunked out (validated) */
	RELAY_DECHUNK,		/* chunked in, data only out (HTTP/1.0 client) */
	RELAY_CLOSE,		/* until the source closes, passed as is */
	RELAY_CLOSE_CHUNK,	/* until the source closes, sent chunked */
};

struct relay {
	int			mode;
	/* Optional copy of the body's data bytes (the cache's tee): up to
	 * tee_max bytes; one more and tee_over is set and copying stops. */
	struct evbuffer		*tee;
	uint64_t		tee_max;
	int			tee_over;
	uint64_t		remaining;	/* RELAY_LENGTH */
	uint64_t		limit;		/* body bytes allowed, 0 = no limit */
	uint64_t		moved;		/* body (data) bytes so far */
	struct http_chunked	ch;
	int			done;
	struct evbuffer		*dst;	/* of the move in progress (dechunking) */
};

/* Return codes of relay_move / relay_eof. */
#define RELAY_MORE	0
#define RELAY_DONE	1
#define RELAY_EFRAME	-1	/* malformed chunked framing */
#define RELAY_ELIMIT	-2	/* body over r->limit */
#define RELAY_ETRUNC	-3	/* source closed before the body ended */

void	relay_init(struct relay *r, int mode, uint64_t length, uint64_t limit);
/* Copy the data bytes moved from now on into tee (see struct relay). */
void	relay_tee(struct relay *r, struct evbuffer *tee, uint64_t max);
/* Move what src holds of the body to dst. */
int	relay_move(struct relay *r, struct evbuffer *src, struct evbuffer *dst);
/* The source reached EOF: RELAY_DONE for close-delimited bodies (writing
 * the last chunk when sending chunked), RELAY_ETRUNC otherwise. */
int	relay_eof(struct relay *r, struct evbuffer *dst);

#endif
