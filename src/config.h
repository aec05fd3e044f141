/*
 * config.h: the configuration file (L1). struct config is generated from
 * options.def, so its field names are the option paths with '.' replaced by
 * '_': cache.redis.timeout is cfg->cache_redis_timeout. A list of groups is
 * an array and a count: cfg->listen[i], cfg->nlisten.
 *
 * Field types by option type: BOOL int (0/1), INT long, SIZE uint64_t bytes,
 * DURATION uint64_t milliseconds, STRING char * (NULL when unset), ENUM int
 * (index of the choice, see the enums below), ADDRESS struct cfg_addr.
 */
#ifndef VANE_CONFIG_H
#define VANE_CONFIG_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>

struct log_format;

struct cfg_addr {
	char			*text;	/* as written in the file */
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 set;	/* 0: option absent and no default */
};

#define CFG_CTYPE_BOOL		int
#define CFG_CTYPE_INT		long
#define CFG_CTYPE_SIZE		uint64_t
#define CFG_CTYPE_DURATION	uint64_t
#define CFG_CTYPE_STRING	char *
#define CFG_CTYPE_ENUM		int
#define CFG_CTYPE_ADDRESS	struct cfg_addr

/*
 * The element of each list: struct cfg_listen, struct cfg_cert,
 * struct cfg_server. line is where the element starts in the file.
 */
#define GROUP(...)
#define OPT(...)
#define LIST(id, path, elem, ...)	struct cfg_##elem {
#define ELEM(list, name, type, ...)	CFG_CTYPE_##type name;
#define END_LIST(list)			int line; };
#include "options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST

struct config {
	char	*path;		/* file it was read from */
#define GROUP(...)
#define OPT(id, path, type, ...)	CFG_CTYPE_##type id;
#define LIST(id, path, elem, ...)	struct cfg_##elem *id; int n##id;
#define ELEM(...)
#define END_LIST(list)
#include "options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST
	/* "FILE:LINE: option 'x' is not implemented yet and has no effect" */
	char	**warnings;
	int	  nwarnings;
	char	**where;	/* per option row: "FILE:LINE" it was set at */
	/* What admin requests must carry: admin.token, or the first line
	 * of admin.token_file; NULL: no token is asked for. */
	char	 *admin_secret;
	/* log.access_format compiled (log_format.h); NULL when unset. */
	struct log_format *log_access_fmt;
};

/* cfg->log_level: the same order as enum log_level in log.h. */
enum cfg_log_level {
	CFG_LOG_DEBUG, CFG_LOG_INFO, CFG_LOG_NOTICE, CFG_LOG_WARN, CFG_LOG_ERROR
};
/* cfg->cache_store */
enum cfg_cache_store {
	CFG_CACHE_MEMORY, CFG_CACHE_REDIS, CFG_CACHE_OFF
};

/* cfg->tls_protocols */
enum cfg_tls_protocols {
	CFG_TLS_12_PLUS, CFG_TLS_13, CFG_TLS_12
};

/* cfg->backends_balance */
enum cfg_balance {
	CFG_BALANCE_RR, CFG_BALANCE_LEAST_CONN
};

/*
 * Read and validate path. Returns a new config, or NULL with
 * "FILE:LINE: message" (or "FILE: message" when there is no line) in err.
 * Options not implemented yet are accepted; each one the file sets adds a
 * line to cfg->warnings for the caller to log.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);
void		 config_free(struct config *cfg);

/*
 * On reload: the path of the first option marked "restart" in options.def
 * whose value differs between old and new, or NULL. The caller keeps the
 * running value of such options and says so in the log.
 */
const char	*config_restart_needed(const struct config *old,
		    const struct config *new);
/*
 * On reload: every option marked "restart" that differs gets old's value
 * back in new, so what runs never half-changes; their paths, comma
 * separated, in changed. Returns how many there were.
 */
int		 config_keep_restart(struct config *new,
		    const struct config *old, char *changed, size_t len);
/* 1 if a listener of cfg speaks TLS. */
int		 config_has_tls_listener(const struct config *cfg);

/*
 * "FILE:LINE" where the option path ("tls.ciphers") was set, or the
 * file's path when it was left at its default: for errors found after
 * loading (OpenSSL refusing a cipher list).
 */
const char	*config_where(const struct config *cfg, const char *path);

/*
 * The value of the option path ("cache.size") as the file would write it,
 * unquoted ("256M", "memory"), or NULL when it is unset or path names no
 * scalar option. buf may or may not hold the result.
 */
const char	*config_value(const struct config *cfg, const char *path,
		    char *buf, size_t len);

/*
 * What vane -t checks beyond config_load (config_check.c): the files the
 * configuration reads exist and are readable (certificates, keys, OCSP
 * responses, CA files), and the files it writes (log.error, log.access,
 * pidfile) can be written or created. Returns 0, or -1 with "FILE:LINE:
 * option: reason" in err. Checked as the calling user, who is the one
 * that opens them at start (before user/group apply).
 */
int	config_check_files(const struct config *cfg, char *err, size_t errlen);
/* A one-screen summary of cfg for people (vane -t). */
void	config_summary(FILE *fp, const struct config *cfg);

/* The OPTIONS section of vane.conf(5), mdoc(7): what vane -x man prints. */
void	config_print_man(FILE *fp);
/* etc/vane.conf: every option with its doc, what vane -x sample prints. */
void	config_print_sample(FILE *fp);
/* The effective configuration in vane.conf syntax (for vane -T). */
void	config_dump(FILE *fp, const struct config *cfg);

#endif
