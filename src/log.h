/*
 * log.h: the error log and the access log (L0). Thread-safe: every error
 * log line is one write(2); access log lines are gathered per thread and
 * written whole lines at a time (log_access_flush), so a busy worker pays
 * one write per 64K of lines, not one per request. Files are reopened by
 * log_reopen() (SIGUSR1).
 */
#ifndef VANE_LOG_H
#define VANE_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERR };

/* error_path NULL or "" logs to stderr; access_path NULL, "" or "off"
 * writes no access log. Returns 0 or -1 (errno set). */
int	log_open(const char *error_path, const char *access_path, int level);
int	log_reopen(void);
/* A reload's settings: files opened anew where the paths changed (or
 * were set or unset), the level. 0, or -1 (errno) if a file did not
 * open; the old one is kept then. */
int	log_reconfigure(const char *error_path, const char *access_path,
	    int level);
void	log_close(void);
int	log_level(void);
int	log_access_enabled(void);

void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_debug(...)	do { if (log_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)

/*
 * Room for one access-log line of at most max bytes (with its newline)
 * in the calling thread's buffer, which is written when it fills or at
 * the next log_access_flush() of this thread: the line is formatted in
 * place, then log_access_commit(its length). NULL when the access log is
 * off (or out of memory): no line.
 */
char	*log_access_reserve(size_t max);
void	 log_access_commit(size_t len);
/* Write this thread's buffered access-log lines (a worker does it every
 * 200 ms and when it stops). */
void	log_access_flush(void);
/* Flush and free this thread's buffer (a thread that logs, at its end). */
void	log_access_thread_end(void);

/* Print "vane: msg" to stderr and exit(1). Start-up only. */
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	*xmalloc(size_t n);
void	*xcalloc(size_t n, size_t sz);
char	*xstrdup(const char *s);

#endif
