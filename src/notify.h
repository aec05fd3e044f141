/*
 * notify.h: the systemd readiness protocol (L5), without libsystemd: each
 * state is one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (sd_notify(3)). Without that variable every call does nothing, so the
 * callers need not know whether systemd started vane.
 *
 * Main thread only (start-up, the signal callbacks, shutdown).
 */
#ifndef VANE_NOTIFY_H
#define VANE_NOTIFY_H

/*
 * Send one state string ("READY=1", "STATUS=..."; several separated by
 * newlines). Returns 0 sent, 1 no $NOTIFY_SOCKET (nothing to do), -1 on
 * error (errno set; an unusable address is EINVAL).
 */
int	notify_send(const char *state);

/* Listeners bound, workers running: the unit is up (Type=notify). Also
 * after a reload, once the new configuration serves. */
void	notify_ready(void);
/* A reload starts; notify_ready() when it is over, whatever the outcome
 * (systemd keeps the unit "reloading" until then). */
void	notify_reloading(void);
/* A graceful stop starts; systemd then waits TimeoutStopSec, not less. */
void	notify_stopping(void);

#endif
