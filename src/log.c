/*
 * log.c: the error log and the access log. Each line is formatted into a
 * stack buffer and written with one write(2), so lines from several worker
 * threads never interleave. Reopening (SIGUSR1) opens the file anew and
 * dup2()s it over the old descriptor: a thread writing at that moment uses
 * either the old or the new file, never a closed descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 err_fd = 2;
static int	 acc_fd = -1;
static int	 min_level = LOG_INFO;
static char	*err_path;
static char	*acc_path;

static const char *const level_names[] = {
	"debug", "info", "notice", "warn", "error"
};

/* An access log path that names a file: not unset, not empty, and not
 * "off" (nginx's access_log off: the same as no file). */
static int
names_file(const char *path)
{
	return (path != NULL && path[0] != '\0' && strcmp(path, "off") != 0);
}

static int
open_append(const char *path)
{
	return (open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
}

static int
reopen_one(const char *path, int fd)
{
	int nfd;

	if ((nfd = open_append(path)) == -1)
		return (-1);
	if (nfd != fd) {
		if (dup2(nfd, fd) == -1) {
			close(nfd);
			return (-1);
		}
		close(nfd);
	}
	return (0);
}

/* path opened and put over *fd (dup2: a thread writing at that moment
 * uses the old file or the new one), or made *fd when it was dflt. */
static int
replace_one(const char *path, int *fd, int dflt, char **saved)
{
	if (*fd == dflt) {
		if ((*fd = open_append(path)) == -1) {
			*fd = dflt;
			return (-1);
		}
	} else if (reopen_one(path, *fd) == -1)
		return (-1);
	free(*saved);
	*saved = xstrdup(path);
	return (0);
}

int
log_open(const char *error_path, const char *access_path, int level)
{
	min_level = level;
	if (error_path != NULL && error_path[0] != '\0' &&
	    replace_one(error_path, &err_fd, 2, &err_path) == -1)
		return (-1);
	if (names_file(access_path) &&
	    replace_one(access_path, &acc_fd, -1, &acc_path) == -1)
		return (-1);
	return (0);
}

int
log_reopen(void)
{
	int rc = 0;

	if (err_path != NULL && reopen_one(err_path, err_fd) == -1)
		rc = -1;
	if (acc_path != NULL && acc_fd != -1 &&
	    reopen_one(acc_path, acc_fd) == -1)
		rc = -1;
	return (rc);
}

void
log_close(void)
{
	if (acc_fd != -1)
		close(acc_fd);
	acc_fd = -1;
	free(err_path);
	free(acc_path);
	err_path = acc_path = NULL;
}

int
log_level(void)
{
	return (min_level);
}

int
log_access_enabled(void)
{
	return (acc_fd != -1);
}

static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* nowhere to report a failing log */
		buf += n;
		len -= (size_t)n;
	}
}

void
log_msg(int level, const char *fmt, ...)
{
	char buf[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(buf + n, sizeof(buf) - n, ".%03ldZ [%s] ",
	    ts.tv_nsec / 1000000, level_names[level]);
	n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;	/* truncated line */
	buf[n++] = '\n';
	write_all(err_fd, buf, n);
}

#define ACC_BUF		65536

struct acc_buf {
	size_t	n;
	char	b[ACC_BUF];
};

static __thread struct acc_buf	*acc_buf;

void
log_access_flush(void)
{
	if (acc_buf == NULL || acc_buf->n == 0)
		return;
	if (acc_fd != -1)
		write_all(acc_fd, acc_buf->b, acc_buf->n);
	acc_buf->n = 0;
}

void
log_access_thread_end(void)
{
	log_access_flush();
	free(acc_buf);
	acc_buf = NULL;
}

char *
log_access_reserve(size_t max)
{
	if (acc_fd == -1 || max > ACC_BUF)
		return (NULL);
	if (acc_buf == NULL && (acc_buf = malloc(sizeof(*acc_buf))) != NULL)
		acc_buf->n = 0;
	if (acc_buf == NULL)
		return (NULL);
	if (ACC_BUF - acc_buf->n < max)
		log_access_flush();
	return (acc_buf->b + acc_buf->n);
}

void
log_access_commit(size_t len)
{
	acc_buf->n += len;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("vane: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n)) == NULL)
		fatal("out of memory");
	return (p);
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p;

	if ((p = calloc(n, sz)) == NULL)
		fatal("out of memory");
	return (p);
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("out of memory");
	return (p);
}

int
log_reconfigure(const char *error_path, const char *access_path, int level)
{
	int rc = 0;

	min_level = level;
	if (error_path != NULL && error_path[0] != '\0') {
		if (replace_one(error_path, &err_fd, 2, &err_path) == -1)
			rc = -1;
	} else if (err_fd != 2) {
		/* Back to standard error; the descriptor stays open for a
		 * thread that may be writing to it. */
		(void)dup2(2, err_fd);
		free(err_path);
		err_path = NULL;
	}
	if (names_file(access_path)) {
		if (replace_one(access_path, &acc_fd, -1, &acc_path) == -1)
			rc = -1;
	} else if (acc_fd != -1) {
		/* Off: no new line is written; the descriptor is not closed
		 * under a worker that may be flushing to it. */
		acc_fd = -1;
		free(acc_path);
		acc_path = NULL;
	}
	return (rc);
}
