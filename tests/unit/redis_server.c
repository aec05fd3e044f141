/*
 * redis_server.c: a real redis-server for unit tests. See redis_server.h.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"

uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/* A blocking probe (test code, not an event loop): is it accepting? */
static int
srv_accepts(const struct srv *s)
{
	struct sockaddr_in	sin;
	struct sockaddr_un	sun;
	int			fd, ok;

	if (s->sock[0] != '\0') {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
		ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	} else {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)s->port);
		ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	}
	close(fd);
	return (ok);
}

void
srv_start(struct srv *s, const char *dir, int port, int unix_sock, ...)
{
	const char	*argv[40];
	char		 pbuf[16];
	const char	*a;
	va_list		 ap;
	int		 n = 0, fd;
	uint64_t	 end;

	memset(s, 0, sizeof(*s));
	s->port = port;
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = pbuf;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = dir;
	if (unix_sock) {
		snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", dir);
		argv[n++] = "--unixsocket";
		argv[n++] = s->sock;
	}
	va_start(ap, unix_sock);
	while ((a = va_arg(ap, const char *)) != NULL && n < 38)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	s->pid = fork();
	ck_assert_int_ne(s->pid, -1);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp("redis-server", (char *const *)argv);
		_exit(127);
	}
	for (end = ms_now() + 5000; !srv_accepts(s); usleep(10000))
		ck_assert_msg(ms_now() < end, "redis-server did not start");
}

void
srv_signal(struct srv *s, int sig)
{
	ck_assert_int_eq(kill(s->pid, sig), 0);
	if (sig == SIGSTOP)
		s->stopped = 1;
	else if (sig == SIGCONT)
		s->stopped = 0;
}

void
srv_kill(struct srv *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);	/* no SIGCONT first: a stopped server must
				 * die without answering what is pending */
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}
