/*
 * notify.c: sd_notify(3) in a few lines, so that vane runs under
 * Type=notify without linking libsystemd. The protocol is one datagram
 * per message to $NOTIFY_SOCKET: a filesystem path, or an abstract name
 * written with a leading '@' that stands for the NUL byte.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

int
notify_send(const char *state)
{
	struct sockaddr_un sun;
	const char *path;
	socklen_t len;
	size_t n;
	ssize_t r;
	int fd, e;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || path[0] == '\0')
		return (1);
	n = strlen(path);
	/* Only '/' and '@' are addresses we know (not vsock:, say), and
	 * sun_path need not be NUL-terminated for an abstract name. */
	if ((path[0] != '/' && path[0] != '@') || n > sizeof(sun.sun_path) ||
	    (path[0] == '/' && n == sizeof(sun.sun_path))) {
		errno = EINVAL;
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	/* Never block the main loop on a manager that does not read. */
	r = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	e = errno;
	close(fd);
	errno = e;
	return (r == -1 ? -1 : 0);
}

static void
notify_or_log(const char *state)
{
	if (notify_send(state) == -1)
		log_warn("NOTIFY_SOCKET: cannot send %s: %s", state,
		    strerror(errno));
}

void
notify_ready(void)
{
	notify_or_log("READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char buf[64];

	/* systemd 253 and later (Type=notify-reload) want the time the
	 * reload started; older ones ignore the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_or_log(buf);
}

void
notify_stopping(void)
{
	notify_or_log("STOPPING=1");
}
