/*
 * daemon.c: the background start-up handshake and the pidfile.
 *
 * The process that was started stays until the detached one is ready, so
 * "vane -c file && curl ..." works and a start-up failure gives exit 1
 * with its message on the terminal, as in the foreground. A pipe carries
 * the news: one byte means ready, end of file without it means the
 * detached process died.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int	 ready_fd = -1;		/* write end, in the detached process */
static char	*pid_path;		/* the pidfile we wrote */

/* Wait for the detached process's word; exit with what it says. */
static void __attribute__((noreturn))
wait_ready(int fd, pid_t child, const char *errlog)
{
	ssize_t n;
	char c;

	(void)waitpid(child, NULL, 0);
	do
		n = read(fd, &c, 1);
	while (n == -1 && errno == EINTR);
	if (n == 1)
		_exit(0);
	if (errlog != NULL)
		fprintf(stderr, "vane: start-up failed; the reason is in %s\n",
		    errlog);
	_exit(1);
}

void
daemon_detach(const char *errlog)
{
	pid_t pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		wait_ready(p[0], pid, errlog);
	}
	close(p[0]);
	/* A new session without a controlling terminal, and a second fork
	 * so the daemon, not being a session leader, never gets one. */
	if (setsid() == -1)
		fatal("setsid: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	ready_fd = p[1];
}

void
daemon_ready(int keep_stderr)
{
	int fd;

	if (ready_fd == -1)
		return;
	/* Let go of the terminal (or the caller's pipes) before the
	 * waiting process exits: a caller reading our output sees its end
	 * then. Without an error log, stderr stays: it is the log. */
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		if (!keep_stderr)
			(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (write(ready_fd, "", 1) != 1)
		log_warn("start-up: the starting process went away: %s",
		    strerror(errno));
	close(ready_fd);
	ready_fd = -1;
}

pid_t
daemon_pidfile_read(const char *path)
{
	FILE *fp;
	long pid = 0;

	if ((fp = fopen(path, "re")) == NULL)
		return (-1);
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	return (pid > 0 && pid <= INT_MAX ? (pid_t)pid : -1);
}

/* The first line of a small file, without its newline; -1 if unread. */
static int
read_line(const char *path, char *buf, size_t len)
{
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return (-1);
	if (fgets(buf, (int)len, fp) == NULL) {
		fclose(fp);
		return (-1);
	}
	fclose(fp);
	buf[strcspn(buf, "\n")] = '\0';
	return (0);
}

/* 1 if pid is a live process running the same program as we do. */
static int
pid_is_vane(pid_t pid)
{
	char path[64], self[64], other[64];

	/* EPERM: alive, only not ours to signal. */
	if (kill(pid, 0) == -1 && errno != EPERM)
		return (0);
	/* After a crash the pid may now belong to another program, which
	 * must not keep vane from starting. Where /proc cannot tell,
	 * assume the worst: two instances would share the ports. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if (read_line("/proc/self/comm", self, sizeof(self)) == -1 ||
	    read_line(path, other, sizeof(other)) == -1)
		return (1);
	return (strcmp(self, other) == 0);
}

int
daemon_pidfile_check(const char *path, char *err, size_t errlen)
{
	pid_t pid;

	if (path == NULL || (pid = daemon_pidfile_read(path)) == -1 ||
	    pid == getpid() || !pid_is_vane(pid))
		return (0);
	snprintf(err, errlen, "the pidfile %s names pid %ld, a running vane: "
	    "stop it first (vane -s stop), or remove the file if that "
	    "process is not vane", path, (long)pid);
	return (-1);
}

int
daemon_pidfile_write(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX], buf[32];
	int fd = -1, n, e;

	tmp[0] = '\0';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		tmp[0] = '\0';
		errno = ENAMETOOLONG;
		goto fail;
	}
	/* Readers (vane -s, scripts) never see a half-written pid. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		tmp[0] = '\0';
		goto fail;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	errno = EIO;	/* for a short write */
	if (fchmod(fd, 0644) == -1 || write(fd, buf, (size_t)n) != n)
		goto fail;
	e = close(fd);
	fd = -1;
	if (e == -1 || rename(tmp, path) == -1)
		goto fail;
	if (pid_path == NULL) {
		/* Also on a fatal() later in start-up. */
		pid_path = xstrdup(path);
		atexit(daemon_pidfile_remove);
	}
	return (0);
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	snprintf(err, errlen, "cannot write the pidfile %s: %s", path,
	    strerror(e));
	return (-1);
}

void
daemon_pidfile_remove(void)
{
	if (pid_path == NULL)
		return;
	/* A newer instance may have taken the file over: leave it. */
	if (daemon_pidfile_read(pid_path) == getpid() &&
	    unlink(pid_path) == -1)
		log_warn("cannot remove the pidfile %s: %s", pid_path,
		    strerror(errno));
	free(pid_path);
	pid_path = NULL;
}
