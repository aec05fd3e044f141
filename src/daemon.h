/*
 * daemon.h: running in the background and the pidfile (L5).
 *
 * Start-up in daemon mode: daemon_detach() forks and returns in the
 * detached process only; the process that was started waits until that
 * one calls daemon_ready() (exit 0) or exits during start-up (exit 1), so
 * whoever ran vane learns from the exit status whether it serves, and the
 * start-up errors still reach the terminal.
 */
#ifndef VANE_DAEMON_H
#define VANE_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Fork, start a new session, fork again. Returns in the grandchild; the
 * original process never returns. errlog: the error log, named by the
 * waiting process if start-up fails (NULL: it went to stderr). Calls
 * fatal() when it cannot fork.
 */
void	daemon_detach(const char *errlog);
/*
 * Start-up is over: let the waiting process exit 0, and point stdin and
 * stdout at /dev/null, stderr too when keep_stderr is 0 (the log is a
 * file). Does nothing when daemon_detach() was not called.
 */
void	daemon_ready(int keep_stderr);

/*
 * 0 when no other live vane holds the pidfile path (missing, empty, a
 * dead pid, our own, or a process that is not vane); -1 with the pidfile
 * and the pid in err otherwise. Call before binding anything, so a second
 * start is told about the first instance, not about a busy port.
 */
int	daemon_pidfile_check(const char *path, char *err, size_t errlen);
/* The pid in the pidfile path, or -1 (missing, unreadable, not a pid). */
pid_t	daemon_pidfile_read(const char *path);
/*
 * Write our pid to path atomically (a temporary file in the same
 * directory, then rename), and remove it at exit (atexit). Returns 0 or
 * -1 with the reason in err.
 */
int	daemon_pidfile_write(const char *path, char *err, size_t errlen);
/*
 * Remove the pidfile written by daemon_pidfile_write() if it still holds
 * our pid (a newer instance may have replaced it). Safe to call twice.
 */
void	daemon_pidfile_remove(void);

#endif
