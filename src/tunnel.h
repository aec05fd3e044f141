/*
 * tunnel.h: a client connection switched to another protocol (L4); see
 * tunnel.c.
 */
#ifndef VANE_TUNNEL_H
#define VANE_TUNNEL_H

struct client;

/* The backend answered 101 and it went to the client: relay both ways
 * from now on (c->state CS_TUNNEL). c may be closed on return. */
void	tunnel_start(struct client *c);
/* Input, output room, EOF or an error on either side of the tunnel. */
void	tunnel_pump(struct client *c);

#endif
