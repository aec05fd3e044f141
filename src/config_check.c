/*
 * config_check.c: what vane -t adds to config_load (L1). The files the
 * configuration names are there to be read or written, and a summary of
 * the configuration for people. See config.h.
 *
 * Only stat(2) and access(2): nothing is opened, created or changed, so
 * that testing a configuration never leaves an empty log or pidfile
 * behind. access(2) answers for the real user, who is the one that opens
 * these files at start: user and group apply after.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define SUMMARY_MAX	8	/* listeners or servers shown; more counted */

/* "FILE:LINE: message" into err; returns -1. */
static int __attribute__((format(printf, 5, 6)))
cfail(char *err, size_t errlen, const char *file, int line,
    const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", file, line, msg);
	else
		snprintf(err, errlen, "%s: %s", file, msg);
	return (-1);
}

/* 0 if path is a file that can be read, else the errno saying why. */
static int
readable(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		return (errno);
	if (S_ISDIR(st.st_mode))
		return (EISDIR);
	return (access(path, R_OK) == 0 ? 0 : errno);
}

/*
 * 0 if path can be written, or created in its directory; else the errno
 * saying why, with the directory in dir when that is what fails.
 */
static int
writable(const char *path, char *dir, size_t dirlen)
{
	struct stat	 st;
	const char	*slash;

	dir[0] = '\0';
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return (EISDIR);
		return (access(path, W_OK) == 0 ? 0 : errno);
	}
	if (errno != ENOENT)
		return (errno);
	if ((slash = strrchr(path, '/')) == NULL)
		snprintf(dir, dirlen, ".");
	else if (slash == path)
		snprintf(dir, dirlen, "/");
	else
		snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) == -1)
		return (errno);
	if (!S_ISDIR(st.st_mode))
		return (ENOTDIR);
	return (access(dir, W_OK | X_OK) == 0 ? 0 : errno);
}

/* A file an element of a list reads, at the line the element starts. */
static int
check_read(const struct config *cfg, int line, const char *opt,
    const char *what, const char *path, char *err, size_t errlen)
{
	int	 e;

	if (path == NULL || (e = readable(path)) == 0)
		return (0);
	return (cfail(err, errlen, cfg->path, line, "%s: cannot read %s %s: "
	    "%s", opt, what, path, strerror(e)));
}

/* A file the scalar option opt names, written by vane. */
static int
check_write(const struct config *cfg, const char *opt, const char *path,
    char *err, size_t errlen)
{
	char	 dir[1024];
	int	 e;

	if (path == NULL || (e = writable(path, dir, sizeof(dir))) == 0)
		return (0);
	if (dir[0] != '\0')
		return (cfail(err, errlen, config_where(cfg, opt), 0,
		    "%s: cannot create %s: directory %s: %s", opt, path, dir,
		    strerror(e)));
	return (cfail(err, errlen, config_where(cfg, opt), 0, "%s: cannot "
	    "write %s: %s", opt, path, strerror(e)));
}

int
config_check_files(const struct config *cfg, char *err, size_t errlen)
{
	const struct cfg_cert	*c;
	int			 i;

	for (i = 0; i < cfg->ntls_certificates; i++) {
		c = &cfg->tls_certificates[i];
		if (check_read(cfg, c->line, "tls.certificates[].cert",
		    "certificate", c->cert, err, errlen) == -1 ||
		    check_read(cfg, c->line, "tls.certificates[].key", "key",
		    c->key, err, errlen) == -1 ||
		    check_read(cfg, c->line, "tls.certificates[].ocsp",
		    "OCSP response", c->ocsp, err, errlen) == -1)
			return (-1);
	}
	for (i = 0; i < cfg->nlisten; i++)
		if (check_read(cfg, cfg->listen[i].line, "listen[].client_ca",
		    "CA file", cfg->listen[i].client_ca, err, errlen) == -1)
			return (-1);
	for (i = 0; i < cfg->nbackends_servers; i++)
		if (check_read(cfg, cfg->backends_servers[i].line,
		    "backends.servers[].tls_ca", "CA file",
		    cfg->backends_servers[i].tls_ca, err, errlen) == -1)
			return (-1);
	if (check_write(cfg, "log.error", cfg->log_error, err, errlen) == -1 ||
	    check_write(cfg, "log.access", cfg->log_access, err,
	    errlen) == -1 ||
	    check_write(cfg, "pidfile", cfg->pidfile, err, errlen) == -1)
		return (-1);
	return (0);
}

/* ------------------------------------------------------------- summary */

static void
summary_more(FILE *fp, int n)
{
	if (n > SUMMARY_MAX)
		fprintf(fp, "  (and %d more)\n", n - SUMMARY_MAX);
}

static void
summary_listen(FILE *fp, const struct config *cfg)
{
	const struct cfg_listen	*ln;
	char			 b[64];
	int			 i, tls = 0;

	fprintf(fp, "listen:\n");
	for (i = 0; i < cfg->nlisten; i++) {
		ln = &cfg->listen[i];
		tls |= ln->tls;
		if (i >= SUMMARY_MAX)
			continue;
		fprintf(fp, "  %-24s %s%s%s%s%s\n", ln->address.text,
		    ln->tls ? "tls" : "plain",
		    ln->proxy_protocol ? ", PROXY protocol" : "",
		    ln->redirect_https ? ", redirects to https" : "",
		    ln->hsts != NULL ? ", hsts" : "",
		    ln->client_ca != NULL ? ", client certificates" : "");
	}
	summary_more(fp, cfg->nlisten);
	if (tls)
		fprintf(fp, "tls: %d certificate%s, %s\n",
		    cfg->ntls_certificates,
		    cfg->ntls_certificates == 1 ? "" : "s",
		    config_value(cfg, "tls.protocols", b, sizeof(b)));
}

static void
summary_backends(FILE *fp, const struct config *cfg)
{
	const struct cfg_server	*s;
	char			 b1[64], b2[64];
	int			 i;

	fprintf(fp, "backends: %s, %ld retr%s, ",
	    config_value(cfg, "backends.balance", b1, sizeof(b1)),
	    cfg->backends_retries, cfg->backends_retries == 1 ? "y" : "ies");
	if (cfg->backends_health_path != NULL)
		fprintf(fp, "health GET %s every %s\n",
		    cfg->backends_health_path,
		    config_value(cfg, "backends.health.interval", b2,
		    sizeof(b2)));
	else
		fprintf(fp, "no active health checks\n");
	for (i = 0; i < cfg->nbackends_servers && i < SUMMARY_MAX; i++) {
		s = &cfg->backends_servers[i];
		fprintf(fp, "  %-24s weight %ld", s->address.text, s->weight);
		if (s->max_conns > 0)
			fprintf(fp, ", max_conns %ld", s->max_conns);
		fprintf(fp, "%s\n", s->tls ? ", tls" : "");
	}
	summary_more(fp, cfg->nbackends_servers);
}

void
config_summary(FILE *fp, const struct config *cfg)
{
	char	 b1[64], b2[64];

	summary_listen(fp, cfg);
	summary_backends(fp, cfg);
	switch (cfg->cache_store) {
	case CFG_CACHE_MEMORY:
		fprintf(fp, "cache: memory, %s, objects up to %s\n",
		    config_value(cfg, "cache.size", b1, sizeof(b1)),
		    config_value(cfg, "cache.max_object_size", b2,
		    sizeof(b2)));
		break;
	case CFG_CACHE_REDIS:
		fprintf(fp, "cache: redis at %s, db %ld, objects up to %s\n",
		    cfg->cache_redis_address, cfg->cache_redis_db,
		    config_value(cfg, "cache.max_object_size", b2,
		    sizeof(b2)));
		break;
	default:
		fprintf(fp, "cache: off\n");
		break;
	}
	if (cfg->admin_address.set)
		fprintf(fp, "admin: %s, %s\n", cfg->admin_address.text,
		    cfg->admin_secret != NULL ? "token required" : "no token");
	else
		fprintf(fp, "admin: none\n");
	if (cfg->workers == 0)
		fprintf(fp, "workers: one per CPU\n");
	else
		fprintf(fp, "workers: %ld\n", cfg->workers);
	fprintf(fp, "log: error to %s, access %s%s, level %s\n",
	    cfg->log_error != NULL ? cfg->log_error : "standard error",
	    cfg->log_access != NULL ? "to " : "off",
	    cfg->log_access != NULL ? cfg->log_access : "",
	    config_value(cfg, "log.level", b1, sizeof(b1)));
	fprintf(fp, "process: %s, %s%s, user %s\n",
	    cfg->daemon ? "daemon" : "foreground",
	    cfg->pidfile != NULL ? "pidfile " : "no pidfile",
	    cfg->pidfile != NULL ? cfg->pidfile : "",
	    cfg->user != NULL ? cfg->user : "unchanged");
}
