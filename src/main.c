/*
 * main.c: the command line, start-up, signals and shutdown (L5).
 *
 * vane [-c file] [-t] [-s reload|stop|stats|drain:SERVER|enable:SERVER] [-V]
 *      [-x man|sample] [-h]
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <libconfig.h>

#include "admin.h"
#include "backend.h"
#include "cache.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "tls.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF	SYSCONFDIR "/vane/vane.conf"

struct vane vane;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vane [-c file] [-t | -T] [-s command] [-V] [-x man|sample] "
	    "[-h]\n"
	    "  -c file   configuration file (default %s)\n"
	    "  -t        test the configuration and exit\n"
	    "  -T        test it, then print the effective configuration\n"
	    "  -s cmd    tell the running instance: reload or stop (signal),\n"
	    "            stats, drain:SERVER, enable:SERVER, purge:URL or\n"
	    "            purge-tag:TAG (admin.address)\n"
	    "  -V        print the version of vane and its libraries\n"
	    "  -x what   print the generated options section of vane.conf(5)\n"
	    "            (man) or the sample configuration (sample)\n"
	    "  -h        this help\n", DEFAULT_CONF);
}

static void
version(void)
{
	printf("vane %s\n", PACKAGE_VERSION);
	printf("libevent %s, %s, hiredis %d.%d.%d, libconfig %d.%d.%d\n",
	    event_get_version(), tls_library_version(),
	    HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH,
	    LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
}

static struct config *
load_or_die(const char *path)
{
	char err[1024];
	struct config *cfg;

	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return (cfg);
}

/* 1 if a listener of cfg speaks TLS. */
static int
has_tls_listener(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls)
			return (1);
	return (0);
}

/* The TLS context when a listener asks for TLS: certificates read and
 * checked, or exit 1 with FILE:LINE and the reason. */
static struct tls_ctx *
tls_or_die(const struct config *cfg)
{
	struct tls_ctx *ctx;
	char err[1024];

	if (!has_tls_listener(cfg))
		return (NULL);
	if ((ctx = tls_ctx_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return (ctx);
}

/* The backend servers, each TLS one with its client context; or exit 1
 * with FILE:LINE and the reason (an unreadable tls_ca). */
static int
backends_or_die(const struct config *cfg, struct server **out)
{
	char err[1024];
	int n;

	if ((n = backend_init(cfg, out, err, sizeof(err))) == -1) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return (n);
}

static pid_t
read_pidfile(const char *path)
{
	FILE *fp;
	long pid = 0;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	return (pid > 0 ? (pid_t)pid : -1);
}

/* -s reload|stop: signal the instance named by the pidfile; other
 * commands go to its admin listener. */
static int
send_signal(const char *path, const char *what)
{
	struct config *cfg = load_or_die(path);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint64_t deadline;
	pid_t pid;
	int sig, rc = 0;

	if (strcmp(what, "reload") == 0)
		sig = SIGHUP;
	else if (strcmp(what, "stop") == 0)
		sig = SIGTERM;
	else {
		rc = admin_command(cfg, what);
		config_free(cfg);
		return (rc);
	}
	if (cfg->pidfile == NULL) {
		fprintf(stderr, "vane: %s sets no pidfile: cannot find the "
		    "running instance\n", path);
		config_free(cfg);
		return (1);
	}
	if ((pid = read_pidfile(cfg->pidfile)) == -1 || kill(pid, sig) == -1) {
		fprintf(stderr, "vane: no running instance (pidfile %s)\n",
		    cfg->pidfile);
		config_free(cfg);
		return (1);
	}
	if (sig == SIGTERM) {
		deadline = now_mono_ms() + cfg->timeouts_shutdown + 5000;
		while (kill(pid, 0) == 0 && now_mono_ms() < deadline)
			nanosleep(&ts, NULL);
		if (kill(pid, 0) == 0) {
			fprintf(stderr, "vane: pid %ld still running\n",
			    (long)pid);
			rc = 1;
		}
	}
	config_free(cfg);
	return (rc);
}

static void
write_pidfile(const char *path)
{
	pid_t old;
	FILE *fp;

	if (path == NULL)
		return;
	if ((old = read_pidfile(path)) != -1 && old != getpid() &&
	    kill(old, 0) == 0)
		fatal("another vane (pid %ld) holds the pidfile %s",
		    (long)old, path);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("cannot write pidfile %s: %s", path, strerror(errno));
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

static void
drop_privileges(const struct config *cfg)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid;

	if (cfg->user == NULL && cfg->group == NULL)
		return;
	if (getuid() != 0) {
		log_warn("not root: user/group ignored");
		return;
	}
	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL)
		fatal("unknown user '%s'", cfg->user);
	if (cfg->group != NULL) {
		if ((gr = getgrnam(cfg->group)) == NULL)
			fatal("unknown group '%s'", cfg->group);
		gid = gr->gr_gid;
	} else
		gid = pw->pw_gid;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1)
		fatal("cannot change group: %s", strerror(errno));
	if (pw != NULL && setuid(pw->pw_uid) == -1)
		fatal("cannot change user: %s", strerror(errno));
}

static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (vane.cfg->log_error != NULL)
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void
raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max && (rlim_t)want > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * SIGHUP: the certificates and keys of tls.certificates read again (the
 * listeners themselves change only on restart). A certificate that does
 * not load keeps the running ones, with the reason in the log.
 */
static void
reload_tls(const struct config *cfg)
{
	struct tls_ctx *ctx;
	char err[1024];

	if (!has_tls_listener(vane.cfg))
		return;
	if ((ctx = tls_ctx_new(cfg, err, sizeof(err))) == NULL) {
		log_err("reload: %s; keeping the running certificates", err);
		return;
	}
	tls_install(ctx);
	log_notice("reload: certificates loaded again; new handshakes use "
	    "them");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;
	char err[1024];
	struct config *cfg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_notice("signal %d: stopping gracefully (up to %llums)",
		    (int)sig, (unsigned long long)vane.cfg->timeouts_shutdown);
		workers_stop();
		event_base_loopexit(base, NULL);
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_err("reopening the logs: %s", strerror(errno));
		else
			log_notice("logs reopened");
		break;
	case SIGHUP:
		if ((cfg = config_load(vane.cfg->path, err, sizeof(err))) == NULL) {
			log_err("reload: %s; keeping the running configuration",
			    err);
			break;
		}
		reload_tls(cfg);
		config_free(cfg);
		log_warn("reload: %s is valid; this version applies only the "
		    "certificates at once, other changes on restart; logs "
		    "reopened", vane.cfg->path);
		(void)log_reopen();
		break;
	}
}

/* The Redis store, from cache.redis.* (each worker connects on its own
 * loop; a Redis that is down is a miss, not a start-up error). */
static struct store *
redis_store(const struct config *cfg)
{
	struct redis_opts ro;
	struct store *st;

	memset(&ro, 0, sizeof(ro));
	ro.address = cfg->cache_redis_address;
	ro.username = cfg->cache_redis_username;
	ro.password = cfg->cache_redis_password;
	ro.db = cfg->cache_redis_db;
	ro.timeout_ms = cfg->cache_redis_timeout;
	ro.connect_timeout_ms = cfg->cache_redis_connect_timeout;
	if ((st = store_redis_new(&ro, cfg->cache_redis_prefix != NULL ?
	    cfg->cache_redis_prefix : "", cfg->cache_max_object_size)) == NULL)
		fatal("cannot create the cache: out of memory");
	return (st);
}

static int
run(const char *path)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *sev[4];
	struct event_base *base;
	long n;
	int i;

	vane.cfg = load_or_die(path);
	if (log_open(vane.cfg->log_error, vane.cfg->log_access,
	    vane.cfg->log_level) == -1)
		fatal("cannot open log file: %s", strerror(errno));
	for (i = 0; i < vane.cfg->nwarnings; i++)
		log_warn("%s", vane.cfg->warnings[i]);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(vane.cfg->limits_connections * 2 + 64);
	n = vane.cfg->workers;
	if (n == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	tls_install(tls_or_die(vane.cfg));
	vane.nservers = backends_or_die(vane.cfg, &vane.servers);
	if (vane.cfg->cache_store == CFG_CACHE_REDIS)
		vane.store = redis_store(vane.cfg);
	else if (vane.cfg->cache_store != CFG_CACHE_OFF &&
	    (vane.store = store_mem_new(vane.cfg->cache_size, 0)) == NULL)
		fatal("cannot create the cache: out of memory");
	if (cache_init() == -1)
		fatal("cannot set up the cache: out of memory");
	/* Bound before privileges go and before the fork: a port in use
	 * is a start-up error on the terminal. */
	if (admin_init() == -1 || workers_init((int)n) == -1)
		return (1);
	if (vane.cfg->daemon)
		daemonize();
	write_pidfile(vane.cfg->pidfile);
	drop_privileges(vane.cfg);
	if ((base = event_base_new()) == NULL)
		fatal("cannot create the main event loop");
	for (i = 0; i < 4; i++) {
		sev[i] = evsignal_new(base, sigs[i], on_signal, base);
		if (sev[i] == NULL || event_add(sev[i], NULL) == -1)
			fatal("cannot install signal handlers");
	}
	if (admin_start(base) == -1)
		fatal("cannot start the admin listener");
	if (workers_start() == -1)
		fatal("cannot start the worker threads: %s", strerror(errno));
	if (health_start(base) == -1)
		fatal("cannot start the health checks: out of memory");
	log_notice("vane %s started: %ld worker(s), %d backend server(s)",
	    PACKAGE_VERSION, n, vane.nservers);
	event_base_dispatch(base);
	/* Nothing serves it while the workers finish: close it now. */
	admin_stop();
	workers_join();
	health_stop();
	for (i = 0; i < 4; i++)
		event_free(sev[i]);
	event_base_free(base);
	workers_free();
	tls_install(NULL);
	if (vane.cfg->pidfile != NULL)
		unlink(vane.cfg->pidfile);
	log_notice("stopped");
	backend_free(vane.servers, vane.nservers);
	store_destroy(vane.store);
	vane.store = NULL;
	cache_shutdown();
	config_free(vane.cfg);
	log_close();
	return (0);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF, *sig = NULL, *gen = NULL;
	char err[1024];
	struct config *cfg;
	struct server *srv;
	int ch, test = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		version();
		return (0);
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return (0);
	}
	while ((ch = getopt(argc, argv, "c:tTs:Vx:h")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			test = 2;
			break;
		case 's':
			sig = optarg;
			break;
		case 'V':
			version();
			return (0);
		case 'x':
			gen = optarg;
			break;
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (2);
	}
	if (gen != NULL) {
		if (strcmp(gen, "man") == 0)
			config_print_man(stdout);
		else if (strcmp(gen, "sample") == 0)
			config_print_sample(stdout);
		else {
			fprintf(stderr, "vane: -x takes man or sample\n");
			return (2);
		}
		return (0);
	}
	if (sig != NULL)
		return (send_signal(path, sig));
	if (test) {
		cfg = load_or_die(path);
		tls_ctx_free(tls_or_die(cfg));
		ch = backends_or_die(cfg, &srv);
		backend_free(srv, ch);
		/* After TLS and the backends, whose loaders say more about
		 * a bad certificate than "cannot read". */
		if (config_check_files(cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			config_free(cfg);
			return (1);
		}
		for (ch = 0; ch < cfg->nwarnings; ch++)
			fprintf(stderr, "%s\n", cfg->warnings[ch]);
		printf("configuration file %s test is successful\n", path);
		/* -T: every option with its value in effect, defaults
		 * included, in vane.conf syntax (nginx -T), which a summary
		 * would break; -t: the summary, for people. */
		if (test == 2)
			config_dump(stdout, cfg);
		else
			config_summary(stdout, cfg);
		config_free(cfg);
		return (0);
	}
	return (run(path));
}
