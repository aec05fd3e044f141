/*
 * redis_server.h: a real redis-server for the unit tests that need one
 * (check_redis, check_store_redis), started on a loopback port and
 * stopped by its PID.
 */
#ifndef VANE_TEST_REDIS_SERVER_H
#define VANE_TEST_REDIS_SERVER_H

#include <stdint.h>
#include <sys/types.h>

struct srv {
	pid_t	pid;
	int	port;
	char	sock[108];	/* its Unix socket, or "" */
	int	stopped;	/* SIGSTOP sent, no SIGCONT since */
};

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t	ms_now(void);
/* A loopback TCP port free a moment ago. */
int		free_port(void);
/*
 * redis-server on 127.0.0.1:port, its files in dir (and a Unix socket
 * there when unix_sock is set), with extra arguments (NULL-terminated);
 * returns once it accepts. It dies with this process (PR_SET_PDEATHSIG),
 * so a test killed by Check's timeout leaves no server.
 */
void	srv_start(struct srv *s, const char *dir, int port, int unix_sock,
	    ...);
void	srv_signal(struct srv *s, int sig);
/* SIGKILL by PID (a stopped one too, without letting it run) and reap it. */
void	srv_kill(struct srv *s);

#endif
