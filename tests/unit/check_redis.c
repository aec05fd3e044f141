/*
 * check_redis.c: the per-worker Redis connection (src/redis.c) against a
 * real redis-server that each test starts on a free loopback port (or a
 * Unix socket) and stops by its PID: round trips with binary values, AUTH
 * with a password and with an ACL user, a wrong password, SELECT,
 * connection refused then Redis started, SIGSTOP (timeout reported once,
 * the late reply swallowed; and a stall long enough to drop and
 * reconnect), SIGKILL with commands pending, cancel, close, the connect
 * timeout, error replies, and the log lines of state changes. Every wait
 * is bounded. Without redis-server only the tests that need none run.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "redis_server.h"
#include "redis.h"
#include "stats.h"

#define SLACK_MS	150	/* scheduling, sanitizers, two shared cores */

struct res {
	int			calls;
	enum redis_status	status;
	int			type;
	char			str[512];
	size_t			len;
	uint64_t		at_ms;
};

static struct event_base	*base;
static struct stats		 st;
static char			 tmpdir[64];
static char			 logpath[128];

/* --------------------------------------------------------- event loop */

/* Run the loop in 5 ms slices until *flag is non-zero or ms_max passed. */
static int
run_until(const int *flag, int ms_max)
{
	struct timeval	 tv = { 0, 5000 };
	uint64_t	 end = ms_now() + (uint64_t)ms_max;

	while (*flag == 0) {
		if (ms_now() >= end)
			return (0);
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return (1);
}

static void
run_for(int ms_max)
{
	int never = 0;

	run_until(&never, ms_max);
}

struct ready_probe {
	struct redis_conn	*rc;
	int			 ready;
};

static void
probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ready_probe *p = arg;

	p->ready = redis_ready(p->rc);
}

/* Run until rc is ready, at most ms_max. */
static int
wait_ready(struct redis_conn *rc, int ms_max)
{
	struct ready_probe	 p = { rc, 0 };
	struct event		*ev;
	struct timeval		 tv = { 0, 2000 };
	int			 ok;

	if (redis_ready(rc))
		return (1);
	ev = event_new(base, -1, EV_PERSIST, probe_cb, &p);
	event_add(ev, &tv);
	ok = run_until(&p.ready, ms_max);
	event_free(ev);
	return (ok);
}

/* Run until rc is not ready, at most ms_max. */
static int
wait_down(struct redis_conn *rc, int ms_max)
{
	uint64_t end = ms_now() + (uint64_t)ms_max;

	while (redis_ready(rc) && ms_now() < end)
		run_for(5);
	return (!redis_ready(rc));
}

/* ----------------------------------------------------------- commands */

static void
res_cb(void *arg, enum redis_status status, const struct redisReply *r)
{
	struct res *x = arg;

	x->calls++;
	x->status = status;
	x->at_ms = ms_now();
	x->type = r != NULL ? r->type : -1;
	x->len = 0;
	x->str[0] = '\0';
	if (r != NULL && r->str != NULL && r->len < sizeof(x->str)) {
		memcpy(x->str, r->str, r->len);
		x->len = r->len;
	}
}

/* A command of C strings, NULL-terminated. */
static struct redis_req *
cmd(struct redis_conn *rc, struct res *x, ...)
{
	const char	*argv[8];
	size_t		 len[8];
	va_list		 ap;
	int		 n = 0;

	memset(x, 0, sizeof(*x));
	va_start(ap, x);
	while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 7) {
		len[n] = strlen(argv[n]);
		n++;
	}
	va_end(ap);
	return (redis_command(rc, res_cb, x, n, argv, len));
}

/* Send and wait for the one callback; returns its status. */
static enum redis_status
cmd_wait(struct redis_conn *rc, struct res *x, ...)
{
	const char	*argv[8];
	size_t		 len[8];
	va_list		 ap;
	int		 n = 0;

	memset(x, 0, sizeof(*x));
	va_start(ap, x);
	while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 7) {
		len[n] = strlen(argv[n]);
		n++;
	}
	va_end(ap);
	(void)redis_command(rc, res_cb, x, n, argv, len);
	ck_assert_msg(run_until(&x->calls, 3000), "no callback within 3s");
	ck_assert_int_eq(x->calls, 1);
	return (x->status);
}

/* ---------------------------------------------------------- fixtures */

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_redis.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(logpath, sizeof(logpath), "%s/error.log", tmpdir);
	ck_assert_int_eq(log_open(logpath, NULL, LOG_INFO), 0);
	memset(&st, 0, sizeof(st));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void
teardown(void)
{
	char cmdline[128];

	if (base != NULL)
		event_base_free(base);
	base = NULL;
	snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmpdir);
	if (system(cmdline) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static struct redis_opts
opts(const char *address)
{
	struct redis_opts o;

	memset(&o, 0, sizeof(o));
	o.address = address;
	o.timeout_ms = 100;
	o.connect_timeout_ms = 500;
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 200;
	o.st = &st;
	return (o);
}

static struct redis_conn *
open_tcp(struct redis_opts *o, int port, char *addr, size_t len)
{
	struct redis_conn	*rc;
	char			 err[256];

	snprintf(addr, len, "127.0.0.1:%d", port);
	o->address = addr;
	rc = redis_open(base, o, err, sizeof(err));
	ck_assert_msg(rc != NULL, "redis_open: %s", err);
	return (rc);
}

/* Lines of the error log that contain needle. */
static int
log_count(const char *needle)
{
	char	 line[2048];
	FILE	*fp;
	int	 n = 0;

	if ((fp = fopen(logpath, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return (n);
}

/* -------------------------------------------------------------- tests */

START_TEST(roundtrip_binary)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64], key[] = "k\0ey", val[300];
	const char		*argv[3];
	size_t			 len[3], i;

	for (i = 0; i < sizeof(val); i++)
		val[i] = (char)(i % 7 == 0 ? 0 : i);
	srv_start(&s, tmpdir, free_port(), 0, NULL);
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	ck_assert_uint_eq(st.redis_connected, 1);

	argv[0] = "SET"; len[0] = 3;
	argv[1] = key; len[1] = sizeof(key) - 1;
	argv[2] = val; len[2] = sizeof(val);
	memset(&x, 0, sizeof(x));
	ck_assert_ptr_nonnull(redis_command(rc, res_cb, &x, 3, argv, len));
	ck_assert_int_eq(x.calls, 0);	/* never synchronous when ready */
	ck_assert(run_until(&x.calls, 3000));
	ck_assert_int_eq(x.status, REDIS_REPLIED);
	ck_assert_int_eq(x.type, REDIS_REPLY_STATUS);

	argv[0] = "GET";
	memset(&x, 0, sizeof(x));
	ck_assert_ptr_nonnull(redis_command(rc, res_cb, &x, 2, argv, len));
	ck_assert(run_until(&x.calls, 3000));
	run_for(20);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.status, REDIS_REPLIED);
	ck_assert_int_eq(x.type, REDIS_REPLY_STRING);
	ck_assert_uint_eq(x.len, sizeof(val));
	ck_assert(memcmp(x.str, val, sizeof(val)) == 0);

	ck_assert_uint_eq(st.redis_commands, 2);
	ck_assert_uint_eq(st.redis_replies, 2);
	ck_assert_uint_gt(st.redis_rtt_us, 0);
	ck_assert_uint_eq(st.redis_errors, 0);
	ck_assert_uint_eq(st.redis_timeouts, 0);
	ck_assert_uint_eq(st.redis_reconnects, 0);
	ck_assert_int_eq(log_count("redis 127.0.0.1:"), 1);
	ck_assert_int_eq(log_count(": connected"), 1);
	redis_close(rc);
	ck_assert_uint_eq(st.redis_connected, 0);
	srv_kill(&s);
}
END_TEST

START_TEST(unix_socket)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[160], err[256];
	int			 form;

	srv_start(&s, tmpdir, free_port(), 1, NULL);
	for (form = 0; form < 2; form++) {
		snprintf(addr, sizeof(addr), "%s%s", form == 0 ? "unix:" : "",
		    s.sock);
		o.address = addr;
		rc = redis_open(base, &o, err, sizeof(err));
		ck_assert_msg(rc != NULL, "%s", err);
		ck_assert(wait_ready(rc, 3000));
		ck_assert_int_eq(cmd_wait(rc, &x, "PING", NULL),
		    REDIS_REPLIED);
		ck_assert_str_eq(x.str, "PONG");
		redis_close(rc);
	}
	srv_kill(&s);
}
END_TEST

/* "[::1]:port": the host goes to hiredis numeric, v6 included. */
START_TEST(ipv6_loopback)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	struct sockaddr_in6	 sin6;
	char			 addr[64], err[256];
	int			 fd, v6;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	v6 = fd != -1 && bind(fd, (struct sockaddr *)&sin6,
	    sizeof(sin6)) == 0;
	if (fd != -1)
		close(fd);
	if (!v6)
		return;		/* no IPv6 loopback here: nothing to test */
	srv_start(&s, tmpdir, free_port(), 0, "--bind", "127.0.0.1", "::1", NULL);
	snprintf(addr, sizeof(addr), "[::1]:%d", s.port);
	o.address = addr;
	rc = redis_open(base, &o, err, sizeof(err));
	ck_assert_msg(rc != NULL, "%s", err);
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &x, "PING", NULL), REDIS_REPLIED);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

START_TEST(auth_password)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, "--requirepass", "s3cret", NULL);
	o.password = "s3cret";
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &x, "SET", "a", "1", NULL),
	    REDIS_REPLIED);
	ck_assert_int_eq(cmd_wait(rc, &x, "GET", "a", NULL), REDIS_REPLIED);
	ck_assert_str_eq(x.str, "1");
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

START_TEST(auth_acl_user)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, "--user", "vane", "on", ">pw1", "~*",
	    "&*", "+@all", NULL);
	o.username = "vane";
	o.password = "pw1";
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &x, "ACL", "WHOAMI", NULL),
	    REDIS_REPLIED);
	ck_assert_str_eq(x.str, "vane");
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* Down, logged once however often it retries; commands fail at once. */
START_TEST(auth_wrong_password)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64];
	uint64_t		 t0;

	srv_start(&s, tmpdir, free_port(), 0, "--requirepass", "s3cret", NULL);
	o.password = "wrong";
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	run_for(700);	/* several attempts at 50..200 ms */
	ck_assert(!redis_ready(rc));
	ck_assert_uint_ge(st.redis_reconnects, 2);
	ck_assert_int_eq(log_count(": down: AUTH failed: "), 1);
	ck_assert_int_eq(log_count(": down: "), 1);
	ck_assert_int_eq(log_count(": connected"), 0);

	t0 = ms_now();
	ck_assert_ptr_null(cmd(rc, &x, "GET", "a", NULL));
	ck_assert_int_eq(x.calls, 1);	/* at once, before returning */
	ck_assert_int_eq(x.status, REDIS_DOWN);
	ck_assert_uint_lt(ms_now() - t0, 20);
	run_for(50);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_uint_eq(st.redis_errors, 1);
	ck_assert_uint_eq(st.redis_connected, 0);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

START_TEST(no_password_noauth)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, "--requirepass", "s3cret", NULL);
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	run_for(300);
	ck_assert(!redis_ready(rc));
	ck_assert_int_eq(log_count(": down: PING failed: NOAUTH"), 1);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

START_TEST(select_db)
{
	struct srv		 s;
	struct redis_opts	 o5 = opts(NULL), o0 = opts(NULL);
	struct redis_conn	*rc5, *rc0;
	struct res		 x;
	char			 a5[64], a0[64];

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o5.db = 5;
	rc5 = open_tcp(&o5, s.port, a5, sizeof(a5));
	rc0 = open_tcp(&o0, s.port, a0, sizeof(a0));
	ck_assert(wait_ready(rc5, 3000));
	ck_assert(wait_ready(rc0, 3000));
	ck_assert_int_eq(cmd_wait(rc5, &x, "SET", "only5", "v", NULL),
	    REDIS_REPLIED);
	ck_assert_int_eq(cmd_wait(rc0, &x, "GET", "only5", NULL),
	    REDIS_REPLIED);
	ck_assert_int_eq(x.type, REDIS_REPLY_NIL);
	ck_assert_int_eq(cmd_wait(rc5, &x, "GET", "only5", NULL),
	    REDIS_REPLIED);
	ck_assert_str_eq(x.str, "v");
	ck_assert_uint_eq(st.redis_connected, 2);
	redis_close(rc5);
	redis_close(rc0);
	srv_kill(&s);
}
END_TEST

START_TEST(select_bad_db)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, "--databases", "4", NULL);
	o.db = 9;
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	run_for(300);
	ck_assert(!redis_ready(rc));
	ck_assert_int_eq(log_count(": down: SELECT failed: "), 1);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* Refused: REDIS_DOWN at once; Redis started: back within the backoff. */
START_TEST(refused_then_started)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64];
	int			 port = free_port();
	uint64_t		 t0;

	rc = open_tcp(&o, port, addr, sizeof(addr));
	run_for(100);
	ck_assert(!redis_ready(rc));
	t0 = ms_now();
	ck_assert_ptr_null(cmd(rc, &x, "GET", "a", NULL));
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.status, REDIS_DOWN);
	ck_assert_uint_lt(ms_now() - t0, 20);
	ck_assert_int_eq(log_count(": down: Connection refused; retrying"),
	    1);

	srv_start(&s, tmpdir, port, 0, NULL);
	t0 = ms_now();
	/* backoff_max (200 ms) plus the connect, with slack. */
	ck_assert(wait_ready(rc, 200 + 2 * SLACK_MS + 500));
	ck_assert_uint_lt(ms_now() - t0, 200 + 2 * SLACK_MS + 500);
	ck_assert_uint_ge(st.redis_reconnects, 1);
	ck_assert_int_eq(cmd_wait(rc, &x, "PING", NULL), REDIS_REPLIED);
	ck_assert_int_eq(log_count(": connected"), 1);
	ck_assert_int_eq(log_count(": down: "), 1);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* SIGSTOP: the command times out once, in time; after SIGCONT its late
 * reply is swallowed and the same connection carries on. */
START_TEST(sigstop_timeout_once)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x, y;
	char			 addr[64];
	uint64_t		 t0, replies;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.connect_timeout_ms = 3000;	/* no stall drop in this test */
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	srv_signal(&s, SIGSTOP);
	t0 = ms_now();
	ck_assert_ptr_nonnull(cmd(rc, &x, "PING", NULL));
	ck_assert(run_until(&x.calls, 1000));
	ck_assert_int_eq(x.status, REDIS_TIMEOUT);
	ck_assert_uint_ge(x.at_ms - t0, 100 - 5);
	ck_assert_uint_le(x.at_ms - t0, 100 + SLACK_MS);
	ck_assert_uint_eq(st.redis_timeouts, 1);
	replies = st.redis_replies;

	srv_signal(&s, SIGCONT);
	run_for(300);
	ck_assert_int_eq(x.calls, 1);		/* no late duplicate */
	ck_assert_uint_eq(st.redis_replies, replies + 1);	/* swallowed */
	ck_assert(redis_ready(rc));
	ck_assert_int_eq(cmd_wait(rc, &y, "PING", NULL), REDIS_REPLIED);
	ck_assert_str_eq(y.str, "PONG");
	ck_assert_uint_eq(st.redis_reconnects, 0);
	ck_assert_uint_eq(st.redis_timeouts, 1);
	ck_assert_int_eq(x.calls, 1);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* A stall past connect_timeout drops the connection; SIGCONT: back. */
START_TEST(sigstop_stall_reconnects)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x[3], y;
	char			 addr[64];
	int			 i;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.connect_timeout_ms = 400;
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	srv_signal(&s, SIGSTOP);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(cmd(rc, &x[i], "GET", "k", NULL));
		run_for(30);
	}
	ck_assert(run_until(&x[2].calls, 1000));
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		ck_assert_int_eq(x[i].status, REDIS_TIMEOUT);
	}
	ck_assert(wait_down(rc, 400 + 2 * SLACK_MS));
	ck_assert_int_eq(log_count(": down: no reply for "), 1);
	ck_assert_ptr_null(cmd(rc, &y, "GET", "k", NULL));
	ck_assert_int_eq(y.status, REDIS_DOWN);
	run_for(300);	/* reconnect attempts stall in the handshake */
	ck_assert(!redis_ready(rc));

	srv_signal(&s, SIGCONT);
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &y, "PING", NULL), REDIS_REPLIED);
	run_for(100);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(x[i].calls, 1);
	ck_assert_uint_eq(st.redis_timeouts, 3);
	ck_assert_int_eq(log_count(": connected"), 2);
	ck_assert_int_eq(log_count(": down: "), 1);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* SIGKILL with commands pending: each gets exactly one error callback. */
START_TEST(sigkill_pending)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x[5], y;
	char			 addr[64];
	int			 i, all;
	uint64_t		 end;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.timeout_ms = 2000;
	o.connect_timeout_ms = 3000;
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	srv_signal(&s, SIGSTOP);
	for (i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(cmd(rc, &x[i], "GET", "k", NULL));
	run_for(50);	/* written, unanswered */
	srv_kill(&s);
	for (end = ms_now() + 2000;; run_for(10)) {
		for (all = 1, i = 0; i < 5; i++)
			all &= x[i].calls > 0;
		if (all || ms_now() > end)
			break;
	}
	ck_assert_msg(all, "not every pending command was reported");
	ck_assert_uint_eq(st.redis_timeouts, 0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		ck_assert_int_eq(x[i].status, REDIS_LOST);
	}
	ck_assert(!redis_ready(rc));
	ck_assert_ptr_null(cmd(rc, &y, "GET", "k", NULL));
	ck_assert_int_eq(y.status, REDIS_DOWN);
	run_for(300);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(x[i].calls, 1);
	ck_assert_int_eq(log_count(": down: "), 1);
	redis_close(rc);
}
END_TEST

START_TEST(cancel_no_callback)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x, y, z;
	struct redis_req	*req;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.connect_timeout_ms = 3000;
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));

	/* Cancelled before its reply: the next reply comes, it does not. */
	req = cmd(rc, &x, "PING", NULL);
	ck_assert_ptr_nonnull(req);
	redis_cancel(req);
	ck_assert_int_eq(cmd_wait(rc, &y, "PING", NULL), REDIS_REPLIED);
	run_for(50);
	ck_assert_int_eq(x.calls, 0);

	/* Cancelled while Redis is stopped: no timeout reported either. */
	srv_signal(&s, SIGSTOP);
	req = cmd(rc, &z, "PING", NULL);
	redis_cancel(req);
	run_for(300);
	ck_assert_int_eq(z.calls, 0);
	ck_assert_uint_eq(st.redis_timeouts, 0);
	srv_signal(&s, SIGCONT);
	run_for(100);
	ck_assert_int_eq(z.calls, 0);
	ck_assert_int_eq(x.calls, 0);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* redis_close with commands pending: each reported once, at close. */
START_TEST(close_pending)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x[3], c;
	char			 addr[64];
	int			 i;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.connect_timeout_ms = 3000;
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	srv_signal(&s, SIGSTOP);
	for (i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(cmd(rc, &x[i], "PING", NULL));
	redis_cancel(cmd(rc, &c, "PING", NULL));
	run_for(20);
	redis_close(rc);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		ck_assert_int_eq(x[i].status, REDIS_LOST);
	}
	ck_assert_int_eq(c.calls, 0);
	ck_assert_uint_eq(st.redis_connected, 0);
	run_for(150);
	srv_signal(&s, SIGCONT);
	srv_kill(&s);
}
END_TEST

/* A server that accepts (the kernel does) but never answers. */
START_TEST(connect_timeout)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	char			 addr[64];
	uint64_t		 t0;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	srv_signal(&s, SIGSTOP);
	o.connect_timeout_ms = 200;
	t0 = ms_now();
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	while (log_count(": down: ") == 0 && ms_now() - t0 < 2000)
		run_for(10);
	ck_assert_uint_ge(ms_now() - t0, 200 - 5);
	ck_assert_uint_le(ms_now() - t0, 200 + SLACK_MS);
	ck_assert_int_eq(log_count(": down: no answer within 200ms "
	    "(cache.redis.connect_timeout)"), 1);
	ck_assert(!redis_ready(rc));
	srv_signal(&s, SIGCONT);
	ck_assert(wait_ready(rc, 3000));
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

START_TEST(error_reply)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		 x;
	char			 addr[64];

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &x, "SET", "n", "x", NULL),
	    REDIS_REPLIED);
	ck_assert_int_eq(cmd_wait(rc, &x, "INCR", "n", NULL), REDIS_REJECTED);
	ck_assert_int_eq(x.type, REDIS_REPLY_ERROR);
	ck_assert_ptr_nonnull(strstr(x.str, "not an integer"));
	ck_assert_uint_eq(st.redis_errors, 1);
	ck_assert(redis_ready(rc));	/* an error reply is no failure */
	ck_assert_int_eq(cmd_wait(rc, &x, "PING", NULL), REDIS_REPLIED);
	redis_close(rc);
	srv_kill(&s);
}
END_TEST

/* Callbacks that send more: a chain of commands, each sent from the
 * previous one's callback; and, when Redis dies, the error callbacks
 * send again and get REDIS_DOWN at once, nested, exactly once each. */
struct chain {
	struct redis_conn	*rc;
	int			 left, replied, down, lost, other;
};

static void
chain_cb(void *arg, enum redis_status status, const struct redisReply *r)
{
	struct chain	*c = arg;
	const char	*argv[1] = { "PING" };
	size_t		 len[1] = { 4 };

	switch (status) {
	case REDIS_REPLIED:	c->replied++; break;
	case REDIS_DOWN:	c->down++; return;	/* no retry loop */
	case REDIS_LOST:	c->lost++; break;
	default:		c->other++; break;
	}
	if (c->left > 0) {
		c->left--;
		(void)redis_command(c->rc, chain_cb, c, 1, argv, len);
	}
}

START_TEST(reentrant_callbacks)
{
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct chain		 c;
	char			 addr[64];
	const char		*argv[1] = { "PING" };
	size_t			 len[1] = { 4 };
	uint64_t		 end;

	srv_start(&s, tmpdir, free_port(), 0, NULL);
	o.timeout_ms = 2000;
	o.connect_timeout_ms = 3000;
	memset(&c, 0, sizeof(c));
	c.rc = open_tcp(&o, s.port, addr, sizeof(addr));
	ck_assert(wait_ready(c.rc, 3000));
	c.left = 99;
	(void)redis_command(c.rc, chain_cb, &c, 1, argv, len);
	for (end = ms_now() + 3000; c.replied < 100 && ms_now() < end; )
		run_for(5);
	ck_assert_int_eq(c.replied, 100);

	/* 50 in flight, Redis stopped then killed: each lost callback sends
	 * one more, which fails at once while the connection is down. */
	memset(&c.left, 0, sizeof(c) - offsetof(struct chain, left));
	srv_signal(&s, SIGSTOP);
	for (c.left = 0; c.left < 50; c.left++)
		ck_assert_ptr_nonnull(redis_command(c.rc, chain_cb, &c, 1,
		    argv, len));
	run_for(30);
	srv_kill(&s);
	for (end = ms_now() + 3000; c.lost < 50 && ms_now() < end; )
		run_for(5);
	run_for(50);
	ck_assert_int_eq(c.lost, 50);
	ck_assert_int_eq(c.down, 50);
	ck_assert_int_eq(c.replied, 0);
	ck_assert_int_eq(c.other, 0);
	ck_assert_int_eq(c.left, 0);
	redis_close(c.rc);
}
END_TEST

/* Many commands pipelined, Redis killed midway and restarted on the same
 * port: every command gets exactly one callback, and caching resumes. */
START_TEST(many_pending_restart)
{
	enum { N = 2000 };
	struct srv		 s;
	struct redis_opts	 o = opts(NULL);
	struct redis_conn	*rc;
	struct res		*x, y;
	char			 addr[64];
	int			 i, port = free_port(), ok = 0, bad = 0;
	uint64_t		 end;

	x = calloc(N, sizeof(*x));
	ck_assert_ptr_nonnull(x);
	srv_start(&s, tmpdir, port, 0, NULL);
	o.timeout_ms = 1000;
	o.connect_timeout_ms = 2000;
	rc = open_tcp(&o, port, addr, sizeof(addr));
	ck_assert(wait_ready(rc, 3000));
	for (i = 0; i < N; i++) {
		(void)cmd(rc, &x[i], "SET", "k", "v", NULL);
		if (i == N / 2)
			run_for(1);	/* some answered, some not */
	}
	srv_kill(&s);
	for (end = ms_now() + 5000; ms_now() < end; run_for(10)) {
		for (ok = 0, i = 0; i < N; i++)
			ok += x[i].calls > 0;
		if (ok == N)
			break;
	}
	for (ok = bad = 0, i = 0; i < N; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		if (x[i].status == REDIS_REPLIED)
			ok++;
		else
			bad++;
	}
	ck_assert_int_eq(ok + bad, N);
	ck_assert_uint_eq(st.redis_errors, (uint64_t)bad);
	srv_start(&s, tmpdir, port, 0, NULL);
	ck_assert(wait_ready(rc, 3000));
	ck_assert_int_eq(cmd_wait(rc, &y, "PING", NULL), REDIS_REPLIED);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(x[i].calls, 1);
	redis_close(rc);
	srv_kill(&s);
	free(x);
}
END_TEST

START_TEST(bad_address)
{
	static const char *const bad[] = {
		"redis.example:6379", "127.0.0.1", "unix:", "unix:rel/path",
		"127.0.0.1:0", ""
	};
	struct redis_opts	 o = opts(NULL);
	char			 err[256];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.address = bad[i];
		err[0] = '\0';
		ck_assert_msg(redis_open(base, &o, err, sizeof(err)) == NULL,
		    "accepted \"%s\"", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", bad[i]);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("redis");
	TCase	*tc = tcase_create("noserver");
	TCase	*ts = tcase_create("server");
	SRunner	*sr;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bad_address);
	suite_add_tcase(s, tc);
	if (system("command -v redis-server >/dev/null 2>&1") == 0) {
		tcase_add_checked_fixture(ts, setup, teardown);
		tcase_set_timeout(ts, 30);
		tcase_add_test(ts, roundtrip_binary);
		tcase_add_test(ts, unix_socket);
		tcase_add_test(ts, ipv6_loopback);
		tcase_add_test(ts, auth_password);
		tcase_add_test(ts, auth_acl_user);
		tcase_add_test(ts, auth_wrong_password);
		tcase_add_test(ts, no_password_noauth);
		tcase_add_test(ts, select_db);
		tcase_add_test(ts, select_bad_db);
		tcase_add_test(ts, refused_then_started);
		tcase_add_test(ts, sigstop_timeout_once);
		tcase_add_test(ts, sigstop_stall_reconnects);
		tcase_add_test(ts, sigkill_pending);
		tcase_add_test(ts, cancel_no_callback);
		tcase_add_test(ts, close_pending);
		tcase_add_test(ts, connect_timeout);
		tcase_add_test(ts, error_reply);
		tcase_add_test(ts, reentrant_callbacks);
		tcase_add_test(ts, many_pending_restart);
		suite_add_tcase(s, ts);
	} else
		fprintf(stderr, "redis-server not installed: only the tests "
		    "without a server run\n");
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
