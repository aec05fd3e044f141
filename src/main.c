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
#include "daemon.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
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
	    "usage: vane [-c file] [-f] [-t | -T] [-s command] [-V] "
	    "[-x man|sample] [-h]\n"
	    "  -c file   configuration file (default %s)\n"
	    "  -f        stay in the foreground whatever daemon says\n"
	    "  -t        test the configuration and exit\n"
	    "  -T        test it, then print the effective configuration\n"
	    "  -s cmd    tell the running instance: reload, stop or reopen\n"
	    "            (the logs) by a signal; stats, drain:SERVER,\n"
	    "            enable:SERVER, purge:URL or purge-tag:TAG\n"
	    "            (admin.address)\n"
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

/* The TLS context when a listener asks for TLS: certificates read and
 * checked, or exit 1 with FILE:LINE and the reason. */
static struct tls_ctx *
tls_or_die(const struct config *cfg)
{
	struct tls_ctx *ctx;
	char err[1024];

	if (!config_has_tls_listener(cfg))
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

/*
 * After vane -s reload's SIGHUP: 0 once the instance's generation moved
 * past gen0, 1 with the reason when its failed reloads moved past fail0
 * (a new address in use, a thread that did not start: what only the
 * instance can find), or 1 when it said neither within 10 s.
 */
static int
reload_outcome(const struct config *cfg, unsigned gen0, unsigned fail0)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	uint64_t deadline = now_mono_ms() + 10000;
	unsigned gen, fail;
	char err[1024];

	while (now_mono_ms() < deadline) {
		nanosleep(&ts, NULL);
		if (admin_reload_state(cfg, &gen, &fail, err,
		    sizeof(err)) == -1)
			continue;
		if (gen != gen0)
			return (0);
		if (fail != fail0) {
			fprintf(stderr, "vane: reload failed: %s; the running "
			    "configuration stays\n", err);
			return (1);
		}
	}
	fprintf(stderr, "vane: the instance did not tell the outcome of the "
	    "reload within 10 s: see its error log\n");
	return (1);
}

/* -s reload|stop|reopen: signal the instance named by the pidfile; other
 * commands go to its admin listener. */
static int
send_signal(const char *path, const char *what)
{
	struct config *cfg = load_or_die(path);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint64_t deadline;
	unsigned gen0 = 0, fail0 = 0;
	char err[1024];
	pid_t pid;
	int sig, rc = 0, watch = 0;

	if (strcmp(what, "reload") == 0) {
		/* What the instance will check, checked here too, so that
		 * the operator sees FILE:LINE and exit status 1 (an address
		 * in use is known only to the instance: see its log). */
		struct server *srv;
		int n;

		tls_ctx_free(tls_or_die(cfg));
		n = backends_or_die(cfg, &srv);
		backend_free(srv, n);
		sig = SIGHUP;
		/* With an admin listener, the outcome is known: read where
		 * reloads stand before the signal, wait for it to move. */
		watch = admin_reload_state(cfg, &gen0, &fail0, err,
		    sizeof(err)) == 0;
	} else if (strcmp(what, "stop") == 0)
		sig = SIGTERM;
	else if (strcmp(what, "reopen") == 0)
		sig = SIGUSR1;
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
	if ((pid = daemon_pidfile_read(cfg->pidfile)) == -1 ||
	    kill(pid, sig) == -1) {
		fprintf(stderr, "vane: no running instance (pidfile %s)\n",
		    cfg->pidfile);
		config_free(cfg);
		return (1);
	}
	if (sig == SIGHUP && watch)
		rc = reload_outcome(cfg, gen0, fail0);
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
drop_privileges(const struct config *cfg)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid;

	if (cfg->user == NULL && cfg->group == NULL)
		return;
	if (geteuid() != 0) {
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
	/* Real, effective and saved IDs alike: none left to return to. */
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1)
		fatal("cannot change group: %s", strerror(errno));
	if (pw != NULL && setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot change user: %s", strerror(errno));
	if (pw != NULL && pw->pw_uid != 0 && setuid(0) != -1)
		fatal("user '%s': root could be regained", cfg->user);
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

/* The retired generations are looked at every 100 ms while any is left. */
static struct event	*reap_ev;

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 100 * 1000 };

	if (gens_reap() > 0)
		evtimer_add(reap_ev, &tv);
}

/*
 * SIGHUP: the configuration read again and, if it is valid, a new
 * generation built from it (worker.h): new listeners bound, removed ones
 * closed, the backends, TLS certificates, cache and log settings as
 * written. Anything that fails (a syntax error, a certificate that does
 * not load, an address in use) keeps the running generation, with the
 * reason in the log. Options that need a restart keep their running
 * value and are named in the log.
 */
/* A reload that keeps the running generation: logged, and kept for GET
 * /reload. */
static void
reload_failed(const char *why)
{
	log_err("reload: %s; keeping the running configuration", why);
	vane.reload_failures++;
	snprintf(vane.reload_error, sizeof(vane.reload_error), "%s", why);
}

static void
reload(struct event_base *base)
{
	struct timeval tv = { 0, 100 * 1000 };
	struct config *cfg;
	struct gen *g, *old = vane.gen;
	char err[1024], changed[512];
	int i;

	log_notice("reload: reading %s", vane.cfg->path);
	if ((cfg = config_load(vane.cfg->path, err, sizeof(err))) == NULL) {
		reload_failed(err);
		return;
	}
	if (config_keep_restart(cfg, vane.cfg, changed, sizeof(changed)) > 0)
		log_warn("reload: %s changed: that needs a restart; keeping "
		    "the running value", changed);
	if ((g = gen_new(cfg, old->nworkers, old, err, sizeof(err))) == NULL) {
		reload_failed(err);
		config_free(cfg);
		return;
	}
	backend_carry(g->servers, g->nservers, old->servers, old->nservers);
	if (gen_start(g) == -1) {
		snprintf(err, sizeof(err), "cannot start the worker threads: "
		    "%s", strerror(errno));
		reload_failed(err);
		gen_abort(g, old);
		return;
	}
	if (cfg->cache_store == CFG_CACHE_MEMORY &&
	    cfg->cache_size != old->cfg->cache_size)
		store_mem_set_budget(vane.store, cfg->cache_size);
	if (cfg->cache_store == CFG_CACHE_REDIS)
		store_redis_set_max_object_size(vane.store,
		    cfg->cache_max_object_size);
	health_stop();
	gen_install(g);
	vane.reload_error[0] = '\0';
	if (health_start(base) == -1)
		log_err("reload: cannot restart the health checks: out of "
		    "memory");
	if (log_reconfigure(cfg->log_error, cfg->log_access,
	    cfg->log_level) == -1)
		log_err("reload: cannot open a log file: %s; keeping the "
		    "old one", strerror(errno));
	for (i = 0; i < cfg->nwarnings; i++)
		log_warn("%s", cfg->warnings[i]);
	workers_kick_queues();
	evtimer_add(reap_ev, &tv);
	log_notice("reload: generation %u serves %s: %d listener(s), %d "
	    "backend server(s); generation %u finishes its requests", g->id,
	    cfg->path, g->nlsocks, g->nservers, old->id);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

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
		/* systemd (Type=notify) waits for READY=1 again. */
		notify_reloading();
		reload(base);
		notify_ready();
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
run(const char *path, int foreground)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *sev[4];
	struct event_base *base;
	struct config *cfg;
	struct gen *g;
	char err[1024];
	long n;
	int i;

	cfg = load_or_die(path);
	/* Before any port is bound: a second start is told about the
	 * first instance, not about an address in use. */
	if (daemon_pidfile_check(cfg->pidfile, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (log_open(cfg->log_error, cfg->log_access, cfg->log_level) == -1)
		fatal("cannot open log file: %s", strerror(errno));
	for (i = 0; i < cfg->nwarnings; i++)
		log_warn("%s", cfg->warnings[i]);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg->limits_connections * 2 + 64);
	n = cfg->workers;
	if (n == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	if (cfg->cache_store == CFG_CACHE_REDIS)
		vane.store = redis_store(cfg);
	else if (cfg->cache_store != CFG_CACHE_OFF &&
	    (vane.store = store_mem_new(cfg->cache_size, 0)) == NULL)
		fatal("cannot create the cache: out of memory");
	/* From here on, in the process that will serve: the one started
	 * waits for daemon_ready() and exits 0, or 1 if we die first; our
	 * errors still go to its terminal. */
	if (cfg->daemon && !foreground)
		daemon_detach(cfg->log_error);
	/* Bound before privileges go (ports below 1024, keys readable by
	 * root only): a port in use or a certificate that does not load is
	 * a start-up error on the terminal. */
	/* The admin listener first: once a client can connect to a
	 * listener, it can connect to the admin one too. */
	vane.cfg = cfg;
	if (admin_init() == -1) {
		config_free(cfg);
		vane.cfg = NULL;
		store_destroy(vane.store);
		vane.store = NULL;
		log_close();
		return (1);
	}
	if ((g = gen_new(cfg, (int)n, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		if (cfg->log_error != NULL)
			log_err("%s", err);
		admin_stop();
		config_free(cfg);
		vane.cfg = NULL;
		store_destroy(vane.store);
		vane.store = NULL;
		log_close();
		return (1);
	}
	gen_install(g);
	for (i = 0; i < g->nlsocks; i++)
		log_notice("listening on %s", g->lsocks[i].name);
	/* Restart-only: the one written is the one removed at exit. */
	if (cfg->pidfile != NULL && daemon_pidfile_write(cfg->pidfile, err,
	    sizeof(err)) == -1)
		fatal("%s", err);
	drop_privileges(vane.cfg);
	if ((base = event_base_new()) == NULL)
		fatal("cannot create the main event loop");
	for (i = 0; i < 4; i++) {
		sev[i] = evsignal_new(base, sigs[i], on_signal, base);
		if (sev[i] == NULL || event_add(sev[i], NULL) == -1)
			fatal("cannot install signal handlers");
	}
	if ((reap_ev = evtimer_new(base, reap_cb, NULL)) == NULL)
		fatal("cannot create the main event loop");
	if (admin_start(base) == -1)
		fatal("cannot start the admin listener");
	if (gen_start(g) == -1)
		fatal("cannot start the worker threads: %s", strerror(errno));
	if (health_start(base) == -1)
		fatal("cannot start the health checks: out of memory");
	log_notice("vane %s started: %ld worker(s), %d backend server(s)",
	    PACKAGE_VERSION, n, vane.nservers);
	daemon_ready(vane.cfg->log_error == NULL);
	notify_ready();
	event_base_dispatch(base);
	/* The loop ends when a stop begins; the workers finish up to
	 * timeouts.shutdown from now. */
	notify_stopping();
	/* Nothing serves it while the workers finish: close it now. */
	admin_stop();
	workers_join();
	health_stop();
	for (i = 0; i < 4; i++)
		event_free(sev[i]);
	event_free(reap_ev);
	event_base_free(base);
	workers_free();
	daemon_pidfile_remove();
	log_notice("stopped");
	store_destroy(vane.store);
	vane.store = NULL;
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
	int ch, test = 0, foreground = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		version();
		return (0);
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return (0);
	}
	while ((ch = getopt(argc, argv, "c:ftTs:Vx:h")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
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
	return (run(path, foreground));
}
