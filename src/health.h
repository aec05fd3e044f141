/*
 * health.h: active health checks of the backend servers (L2). Every
 * backends.health.interval, each server gets an HTTP GET of
 * backends.health.path on a fresh connection of its own (never one of the
 * workers' pooled ones); fall consecutive failures take it down, rise
 * consecutive successes bring it back. The checks run on the main
 * thread's event_base, and this file is the only writer of a server's
 * up, up_since and check_* fields (see backend.h).
 */
#ifndef VANE_HEALTH_H
#define VANE_HEALTH_H

struct event_base;

/*
 * Start checking every server on base; a no-op when backends.health.path
 * is unset. Start-up only. Returns 0, or -1 when out of memory.
 */
int	health_start(struct event_base *base);
/* Stop every check and free what health_start allocated. */
void	health_stop(void);

#endif
