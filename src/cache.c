/*
 * cache.c: the response cache on the request path. See cache.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cache.h"
#include "client.h"
#include "config.h"
#include "http_msg.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "vane.h"
#include "worker.h"

#define CACHE_VARY_MAX	4096	/* secondary key bytes */

/* Cache-Status detail of a store that failed (compared as a pointer). */
static const char	store_unavailable[] = "store-unavailable";

/* What the cache takes from one generation's configuration. */
struct cache_conf {
	const struct config	*cfg;
	struct cache_opts	 opts;
	struct cache_key_opts	 key;
	char			**tag_fields;
	size_t			*tag_lens;
	size_t			 ntag_fields;
};

/*
 * The settings of the generation the running thread serves: a worker's
 * never changes (worker_main sets it), the main thread's follows the
 * generation in force (cache_conf_use). A thread-local keeps every cache
 * function free of a settings argument while no two generations mix.
 */
static __thread const struct cache_conf	*cc;
#define copts	(cc->opts)
#define kopts	(cc->key)

static void	release_validated(struct client *);
static int	coalesce_join(struct client *);
static void	coalesce_end(struct client *);
static void	coalesce_leave(struct client *);
static void	refresh_start(struct client *, const char *);
static void	refresh_end(struct refresh *);
static void	lookup_async(struct client *, struct store_hit *);
static void	lookup_entry_cb(void *, struct store_hit *);
static int	lookup_finish(struct client *, const char *, int);
static void	lookup_go_on(struct client *, int);
static int	lock_start(struct client *);
static void	lock_release(struct client *);
static void	resume_lookup(struct client *);

/* What cache_lookup's callback found. */
struct lookup_ctx {
	struct client	*c;
	const char	*buf;
	int		 answer;	/* CACHE_ANSWER_* */
};

static const char *const fwd_names[] = {
	[CFWD_NONE] = "", [CFWD_HIT] = "", [CFWD_URI_MISS] = "uri-miss",
	[CFWD_VARY_MISS] = "vary-miss", [CFWD_STALE] = "stale",
	[CFWD_REQUEST] = "request", [CFWD_METHOD] = "method",
	[CFWD_BYPASS] = "bypass",
};

/* "a, b c" into a NULL-terminated array of names; NULL for none. */
static char **
split_names(const char *s, size_t *n)
{
	char **v, *copy, *p, *save = NULL;
	size_t k = 0;

	*n = 0;
	if (s == NULL || (copy = strdup(s)) == NULL)
		return (NULL);
	v = xcalloc(strlen(s) / 2 + 2, sizeof(*v));
	for (p = strtok_r(copy, ", ", &save); p != NULL;
	    p = strtok_r(NULL, ", ", &save))
		v[k++] = xstrdup(p);
	free(copy);
	*n = k;
	return (v);
}

static void
free_names(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

struct cache_conf *
cache_conf_new(const struct config *cfg)
{
	struct cache_conf *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->cfg = cfg;
	cache_opts_default(&c->opts);
	c->opts.vane_cc_name = cfg->cache_control_field;
	c->opts.honour_cdn_cc = cfg->cache_cdn_cache_control;
	c->opts.heuristic_cap = (int64_t)(cfg->cache_heuristic_max / 1000);
	c->key.drop_params = (const char *const *)split_names(
	    cfg->cache_key_ignore_params, &c->key.ndrop);
	c->key.add_headers = (const char *const *)split_names(
	    cfg->cache_key_fields, &c->key.nadd);
	c->tag_fields = split_names(cfg->cache_tag_fields, &c->ntag_fields);
	c->tag_lens = xcalloc(c->ntag_fields + 1, sizeof(*c->tag_lens));
	for (i = 0; i < c->ntag_fields; i++)
		c->tag_lens[i] = strlen(c->tag_fields[i]);
	return (c);
}

void
cache_conf_free(struct cache_conf *c)
{
	if (c == NULL)
		return;
	if (cc == c)
		cc = NULL;
	free_names((char **)c->key.drop_params);
	free_names((char **)c->key.add_headers);
	free_names(c->tag_fields);
	free(c->tag_lens);
	free(c);
}

void
cache_conf_use(const struct cache_conf *c)
{
	cc = c;
}

const struct cache_key_opts *
cache_key_options(void)
{
	return (&kopts);
}

/* Inserts and removals need no answer: the next lookup tells. */
static void
done_cb(void *arg, int status, uint64_t count)
{
	(void)arg;
	(void)status;
	(void)count;
}

static int
is_tag_field(const char *buf, const struct http_field *f)
{
	size_t i;

	for (i = 0; i < cc->ntag_fields; i++)
		if (f->name.len == cc->tag_lens[i] &&
		    http_span_eq(buf, f->name, cc->tag_fields[i]))
			return (1);
	return (0);
}

/* Grow *p to at least need bytes; 0, or -1 (out of memory). */
static int
reserve(char **p, size_t *cap, size_t need)
{
	char *n;

	if (*cap >= need)
		return (0);
	if ((n = realloc(*p, need)) == NULL)
		return (-1);
	*p = n;
	*cap = need;
	return (0);
}

static uint8_t *
skip_array(struct cache_tx *t)
{
	size_t n = (size_t)cc->cfg->limits_header_count;

	if (t->skip == NULL)
		t->skip = xcalloc(n, 1);
	else
		memset(t->skip, 0, n);
	return (t->skip);
}

/* Append s to the NUL-terminated t->extra if it fits. */
static void
extra_add(struct cache_tx *t, const char *s)
{
	size_t len = strlen(t->extra), n = strlen(s);

	if (len + n < sizeof(t->extra))
		memcpy(t->extra + len, s, n + 1);
}

/* t->extra starts again with the Age line of a response from the store. */
static void
set_age(struct cache_tx *t, int64_t age)
{
	char digits[24], *p = t->extra;
	int n = 0;

	/* By hand: snprintf was a tenth of a hit's instructions. */
	if (age < 0)
		age = 0;
	do
		digits[n++] = (char)('0' + age % 10);
	while ((age /= 10) > 0);
	memcpy(p, "Age: ", 5);
	p += 5;
	while (n > 0)
		*p++ = digits[--n];
	memcpy(p, "\r\n", 3);
}

const char *
cache_log_status(const struct client *c)
{
	const struct cache_tx *t = &c->cache;

	if (vane.store == NULL || t->fwd == CFWD_NONE)
		return ("-");
	if (t->fwd == CFWD_HIT)
		return (t->stale ? "stale-hit" : "hit");
	return (fwd_names[t->fwd]);
}

/* Cache-Status (RFC 9211) into t->extra, after any Age line already there. */
static void
set_status(struct cache_tx *t, int stored)
{
	char num[24];

	if (!cc->cfg->cache_status)
		return;
	if (t->fwd == CFWD_HIT) {
		/* A stale hit under stale-while-revalidate is still a hit:
		 * this request did not go forward (RFC 9211 §2.1); detail
		 * (§2.8) says why stale was fine. */
		extra_add(t, "Cache-Status: vane; hit");
		if (t->detail != NULL) {
			extra_add(t, "; detail=");
			extra_add(t, t->detail);
		}
		extra_add(t, "\r\n");
		return;
	}
	extra_add(t, "Cache-Status: vane; fwd=");
	extra_add(t, fwd_names[t->fwd]);
	if (t->fwd_status != 0) {
		snprintf(num, sizeof(num), "; fwd-status=%d", t->fwd_status);
		extra_add(t, num);
	}
	if (stored)
		extra_add(t, "; stored");
	if (t->collapsed)
		extra_add(t, "; collapsed");
	if (t->detail != NULL) {
		extra_add(t, "; detail=");
		extra_add(t, t->detail);
	}
	extra_add(t, "\r\n");
}

/* "HTTP/1.1 NNN reason" and its CRLF into h. */
static void
add_status_line(struct evbuffer *h, int status, const char *reason,
    size_t len)
{
	char line[16];

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status % 1000);
	evbuffer_add(h, line, strlen(line));
	evbuffer_add(h, reason, len);
	evbuffer_add(h, "\r\n", 2);
}

/* Field f of buf as a field line into h. */
static void
add_field(struct evbuffer *h, const char *buf, const struct http_field *f)
{
	evbuffer_add(h, buf + f->name.off, f->name.len);
	evbuffer_add(h, ": ", 2);
	evbuffer_add(h, buf + f->value.off, f->value.len);
	evbuffer_add(h, "\r\n", 2);
}

static void
keep_request(struct cache_tx *t, const char *buf, size_t len)
{
	if (buf == t->reqhead) {	/* looked up again after a wait */
		t->keep_req = 1;
		return;
	}
	if (reserve(&t->reqhead, &t->reqcap, len) == -1)
		return;
	memcpy(t->reqhead, buf, len);
	t->reqlen = len;
	t->keep_req = 1;
}

void
cache_keep_parsed(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (!t->keep_req || t->rfields != NULL || c->fields == NULL)
		return;
	/* The copy in reqhead starts where the parsed buffer did, so the
	 * offsets of the parse hold for it. */
	t->rmsg = c->req;
	t->rfields = c->fields;
	c->fields = NULL;
}

/* The kept request head, parsed, in m (fields from the worker, or the
 * ones cache_keep_parsed() took over: then give them back with
 * put_kept()). */
static int
parse_kept(struct client *c, struct http_msg *m)
{
	struct cache_tx *t = &c->cache;
	struct http_field *f;

	if (!t->keep_req)
		return (-1);
	if (t->rfields != NULL) {
		*m = t->rmsg;
		t->rfields = NULL;
		return (0);
	}
	if ((f = worker_fields_get(c->w)) == NULL)
		return (-1);
	http_msg_init(m, f, (uint32_t)cc->cfg->limits_header_count);
	if (http_parse_request(m, t->reqhead, t->reqlen,
	    &c->w->req_limits) != HP_OK) {
		worker_fields_put(c->w, f);
		return (-1);
	}
	return (0);
}

/* 1 if the field name s of buf is one of names[0..n). */
static int
name_in(const char *buf, struct http_span s, const char *const *names,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_span_eq(buf, s, names[i]))
			return (1);
	return (0);
}

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Does the client's request carry preconditions of its own? */
static int
has_conditionals(const char *buf, const struct http_msg *m)
{
	static const char *const names[] = {
		"if-none-match", "if-modified-since", "if-match",
		"if-unmodified-since", "if-range",
	};
	uint32_t i;

	for (i = 0; i < m->nfields; i++)
		if (name_in(buf, m->fields[i].name, names, NELEM(names)))
			return (1);
	return (0);
}

/* A hit for this request can be sent as laid out: no preconditions to
 * evaluate and no Range to answer, so the stored head needs no parse. */
static int
plain_hit(const char *buf, const struct http_msg *m)
{
	static const char *const names[] = { "range" };
	uint32_t i;

	if (has_conditionals(buf, m))
		return (0);
	for (i = 0; i < m->nfields; i++)
		if (name_in(buf, m->fields[i].name, names, NELEM(names)))
			return (0);
	return (1);
}

/* How variants are told apart: as the request went to the backend. */
static int
vary_flags(const struct client *c)
{
	return (c->w->cfg->cache_normalize_accept_encoding ? CACHE_VARY_AE :
	    0);
}

static void
lookup_cb(void *arg, struct store_hit *hit)
{
	struct lookup_ctx *lc = arg;
	struct client *c = lc->c;
	struct cache_tx *t = &c->cache;
	struct http_msg *m = &c->req;
	struct store_obj *o, *chosen = NULL;
	struct cache_decision d;
	struct cc_directives rcc;
	struct http_field *f;
	int64_t now = t->req_time;
	int i, seen = 0, serve;

	if (hit->status == STORE_OK && hit->hfm)
		t->no_coalesce = 1;
	for (i = 0; hit->status == STORE_OK && i < hit->n; i++) {
		o = hit->v[i];
		if (o->flags & STORE_OBJ_HFM)
			continue;
		seen = 1;
		if (cache_vary_match((const char *)o->vary, o->vary_len,
		    lc->buf, m, vary_flags(c))) {
			chosen = o;
			break;
		}
	}
	if (chosen == NULL) {
		t->fwd = seen ? CFWD_VARY_MISS : CFWD_URI_MISS;
		cache_request_cc(&rcc, lc->buf, m);
		if (rcc.flags & CC_ONLY_IF_CACHED) {
			t->detail = "only-if-cached";
			lc->answer = CACHE_ANSWER_504;
		}
		return;
	}
	cache_decide(&d, &chosen->meta, lc->buf, m, now);
	/* The background refresh itself validates what a stale hit left it
	 * (RFC 5861 §3) rather than being served it. */
	if (c->bg && d.what == CACHE_SERVE_STALE_REVALIDATE)
		d.what = CACHE_SERVE_VALIDATE;
	serve = d.what == CACHE_SERVE_FRESH || d.what == CACHE_SERVE_STALE ||
	    d.what == CACHE_SERVE_STALE_REVALIDATE;
	if (serve) {
		t->fwd = CFWD_HIT;
		t->stale = d.what != CACHE_SERVE_FRESH;
		if (d.what == CACHE_SERVE_STALE_REVALIDATE) {
			/* Served now; cache_lookup starts the refresh. */
			t->swr = 1;
			t->detail = "stale-while-revalidate";
		}
		t->obj = store_obj_ref(chosen);
		t->age = d.age;
		lc->answer = CACHE_ANSWER_HIT;
		/* The common hit: sent as laid out, nothing to parse. */
		if (chosen->wire_len > 0 && plain_hit(lc->buf, m))
			return;
	}
	if ((f = worker_fields_get(c->w)) != NULL)
		http_msg_init(&t->smsg, f,
		    (uint32_t)cc->cfg->limits_header_count);
	if (f == NULL || http_parse_response(&t->smsg,
	    (const char *)chosen->head, chosen->head_len,
	    &c->w->resp_limits) != HP_OK) {
		if (f != NULL)
			worker_fields_put(c->w, f);
		t->smsg.fields = NULL;
		if (serve) {
			store_obj_unref(t->obj);
			t->obj = NULL;
			t->swr = t->stale = 0;
			t->detail = NULL;
			lc->answer = CACHE_ANSWER_FORWARD;
		}
		t->fwd = CFWD_URI_MISS;
		return;
	}
	switch (d.what) {
	case CACHE_SERVE_FRESH:
	case CACHE_SERVE_STALE:
	case CACHE_SERVE_STALE_REVALIDATE:
		/* A hit whose stored head must be read: a conditional
		 * request, or a Range. */
		t->not_modified = cache_not_modified(lc->buf, m,
		    (const char *)chosen->head, &t->smsg);
		t->range = !t->not_modified && cache_range(lc->buf, m,
		    t->smsg.status, chosen->body_len, &t->range_first,
		    &t->range_last);
		lc->answer = CACHE_ANSWER_HIT;
		return;		/* t->smsg keeps its fields until served */
	case CACHE_SERVE_GATEWAY_TIMEOUT:
		t->fwd = CFWD_URI_MISS;
		t->detail = "only-if-cached";
		lc->answer = CACHE_ANSWER_504;
		break;
	default:
		/* Stale, or the request asked for a fresh copy of something
		 * still fresh: ask the backend whether it changed (§4.3.1),
		 * unless the client's own conditionals are in the way; a
		 * response that changed replaces the stored one. */
		t->fwd = cache_is_fresh(&chosen->meta, now) ? CFWD_REQUEST :
		    CFWD_STALE;
		/* A background request has no client to give a stale
		 * response to. */
		t->sie = d.stale_if_error != 0 && !c->bg;
		if (!has_conditionals(lc->buf, m) && cache_conditional(t->cond,
		    sizeof(t->cond), (const char *)chosen->head,
		    &t->smsg) > 0)
			t->validating = 1;
		if (t->validating || t->sie) {
			t->obj = store_obj_ref(chosen);
			return;		/* t->smsg kept for a 304 or a 5xx */
		}
		break;
	}
	worker_fields_put(c->w, f);
	t->smsg.fields = NULL;
}

int
cache_lookup(struct client *c, const char *buf)
{
	struct cache_tx *t = &c->cache;
	struct http_msg *m = &c->req;
	struct store_query q;
	struct store_req *req;
	struct lookup_ctx lc;
	size_t cap;
	int n;

	if (vane.store == NULL)
		return (CACHE_ANSWER_FORWARD);
	if (m->method != HM_GET && m->method != HM_HEAD) {
		t->fwd = CFWD_METHOD;
		if (m->method != HM_OPTIONS && m->method != HM_TRACE)
			keep_request(t, buf, m->head_len);	/* §4.4 */
		return (CACHE_ANSWER_FORWARD);
	}
	if (m->framing != HF_NONE) {
		t->fwd = CFWD_BYPASS;
		t->detail = "request-body";
		return (CACHE_ANSWER_FORWARD);
	}
	if (c->upgrade) {
		/* A protocol switch: nothing to store, nor to wait for. */
		t->fwd = CFWD_BYPASS;
		t->detail = "upgrade";
		return (CACHE_ANSWER_FORWARD);
	}
	cap = m->head_len + 64;
	if (reserve(&t->key, &t->keycap, cap) == -1 ||
	    (n = cache_key(t->key, t->keycap, c->tls ? "https" : "http", buf,
	    m, &kopts)) < 0) {
		t->fwd = CFWD_BYPASS;
		t->detail = "key";
		return (CACHE_ANSWER_FORWARD);
	}
	t->keylen = (size_t)n;
	t->lookup = 1;
	t->req_time = now_wall();
	memset(&q, 0, sizeof(q));
	q.key = t->key;
	q.key_len = t->keylen;
	q.now = t->req_time;
	lc.c = c;
	lc.buf = buf;
	lc.answer = CACHE_ANSWER_FORWARD;
	t->fwd = CFWD_URI_MISS;
	/* No one waits for a background request's fetch, and it waits for
	 * no one's (it would be a second fetch of the URL anyway). */
	if (c->bg)
		t->no_coalesce = 1;
	t->lctx = &lc;
	req = store_lookup(c->w->sc, &q, lookup_entry_cb, c);
	t->lctx = NULL;
	if (req != NULL) {
		/* The store answers later (Redis): keep the head, since buf
		 * is consumed on return; lookup_async() goes on. */
		keep_request(t, buf, m->head_len);
		if (!t->keep_req) {
			store_cancel(c->w->sc, req);
			t->detail = store_unavailable;
			return (lookup_finish(c, buf, CACHE_ANSWER_FORWARD));
		}
		t->sreq = req;
		return (CACHE_ANSWER_PENDING);
	}
	return (lookup_finish(c, buf, lc.answer));
}

/* What follows a lookup's answer, whenever it came. */
static int
lookup_finish(struct client *c, const char *buf, int answer)
{
	struct cache_tx *t = &c->cache;
	struct http_msg *m = &c->req;

	if (answer == CACHE_ANSWER_FORWARD)
		keep_request(t, buf, m->head_len);
	if (answer != CACHE_ANSWER_HIT && !c->bg)
		c->w->st.cache_misses++;
	if (t->swr)
		refresh_start(c, buf);
	if (answer == CACHE_ANSWER_FORWARD && m->method == HM_GET &&
	    !t->no_coalesce && !t->validating && t->keep_req &&
	    (t->fwd == CFWD_URI_MISS || t->fwd == CFWD_VARY_MISS)) {
		switch (coalesce_join(c)) {
		case 0:
			c->w->st.cache_coalesced++;
			return (CACHE_ANSWER_WAIT);
		case 1:
			if (lock_start(c) == 0)
				return (CACHE_ANSWER_PENDING);
			break;
		}
	}
	return (answer);
}

/*
 * The store's answer: at once (t->lctx is the caller's context, on its
 * stack) or later (lookup_async). A store that failed (Redis down or
 * slow) is a miss that says so in Cache-Status.
 */
static void
lookup_entry_cb(void *arg, struct store_hit *hit)
{
	struct client *c = arg;
	struct cache_tx *t = &c->cache;

	if (hit->status == STORE_ERROR)
		t->detail = store_unavailable;
	if (t->lctx != NULL) {
		lookup_cb(t->lctx, hit);
		return;
	}
	lookup_async(c, hit);
}

/* A pending lookup answered, on c's worker: as resume_lookup does after
 * a coalescing wait, with the kept head parsed again. */
static void
lookup_async(struct client *c, struct store_hit *hit)
{
	struct cache_tx *t = &c->cache;
	struct lookup_ctx lc;
	int answer;

	t->sreq = NULL;
	if ((c->fields = worker_fields_get(c->w)) == NULL) {
		client_close(c, "out of memory");
		return;
	}
	http_msg_init(&c->req, c->fields,
	    (uint32_t)cc->cfg->limits_header_count);
	if (http_parse_request(&c->req, t->reqhead, t->reqlen,
	    &c->w->req_limits) != HP_OK) {
		client_close(c, "kept request head does not parse");
		return;
	}
	lc.c = c;
	lc.buf = t->reqhead;
	lc.answer = CACHE_ANSWER_FORWARD;
	lookup_cb(&lc, hit);
	answer = lookup_finish(c, t->reqhead, lc.answer);
	lookup_go_on(c, answer);
	if (!c->closed)
		(void)client_flush(c);
}

/* Serve, refuse or forward what a lookup that did not answer at once
 * said (c->req parsed from t->reqhead). */
static void
lookup_go_on(struct client *c, int answer)
{
	if (answer == CACHE_ANSWER_HIT) {
		cache_serve(c);
		return;
	}
	if (answer == CACHE_ANSWER_504) {
		client_error(c, 504, "only-if-cached: nothing usable stored");
		return;
	}
	cache_keep_parsed(c);
	if (c->fields != NULL)
		worker_fields_put(c->w, c->fields);
	c->fields = NULL;
	if (answer == CACHE_ANSWER_WAIT || answer == CACHE_ANSWER_PENDING)
		return;		/* cache_wake_run() or the store goes on */
	cache_amend_request(c, c->uhead);
	upstream_start(c);
}

/*
 * Cross-instance coalescing. Several instances sharing a store (Redis)
 * each collapse their own misses into one fetch (below); with a fetch
 * lock in the store, their fetchers also take turns: the fetcher takes
 * the key's lock (SET NX PX, cache.redis.lock_timeout) before asking
 * its backend, and releases it once the response is stored (the unlock
 * is sent after the insert on the same connection, so whoever sees the
 * lock gone sees the object), or the fetch ended without storing
 * (coalesce_end, cache_tx_reset). A fetcher that finds the lock held
 * waits: it polls the lock after 5, 10, 20... ms (at most 100 ms apart);
 * once it is gone, or lock_timeout has passed since the wait began, it
 * looks up again, without coalescing: a hit when the holder stored the
 * response, a hit-for-miss marker or a miss when it could not, and then
 * the request goes to the backend itself. Its own process's waiters
 * stay parked behind it throughout, so an instance sends at most one
 * request per lock turn. A store error at any point means: fetch.
 */
#define LOCK_POLL_FIRST	5	/* ms */
#define LOCK_POLL_MAX	100

static void
lock_forward(struct client *c)
{
	cache_amend_request(c, c->uhead);
	upstream_start(c);
	if (!c->closed)
		(void)client_flush(c);
}

static void
lock_resume(struct client *c)
{
	resume_lookup(c);
	if (!c->closed)
		(void)client_flush(c);
}

static void	lock_poll(evutil_socket_t, short, void *);

/* Poll again after the next delay, never past lock_until. */
static void
lock_arm(struct client *c)
{
	struct cache_tx *t = &c->cache;
	uint64_t now = now_mono_ms(), d = t->lock_delay;
	struct timeval tv;

	if (t->lock_ev == NULL && (t->lock_ev = evtimer_new(c->w->base,
	    lock_poll, c)) == NULL) {
		lock_resume(c);
		return;
	}
	if (now + d > t->lock_until)
		d = t->lock_until > now ? t->lock_until - now : 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(t->lock_ev, &tv);
	t->lock_delay = d * 2 > LOCK_POLL_MAX ? LOCK_POLL_MAX : d * 2;
}

static void
locked_cb(void *arg, int status, uint64_t held)
{
	struct client *c = arg;
	struct cache_tx *t = &c->cache;

	t->sreq = NULL;
	if (status == STORE_OK && held && now_mono_ms() < t->lock_until)
		lock_arm(c);
	else if (status == STORE_OK)
		lock_resume(c);
	else {
		/* The store failed meanwhile: a lookup would wait for it
		 * again. */
		t->detail = store_unavailable;
		lock_forward(c);
	}
}

static void
lock_poll(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct cache_tx *t = &c->cache;
	struct store_req *req;

	(void)fd;
	(void)what;
	req = store_locked(c->w->sc, t->key, t->keylen, locked_cb, c);
	if (req != NULL)
		t->sreq = req;
}

static void
lock_cb(void *arg, int status, uint64_t id)
{
	struct client *c = arg;
	struct cache_tx *t = &c->cache;

	if (t->sreq == (struct store_req *)&t->sreq)
		return;		/* answered at once, in lock_start: a failure */
	t->sreq = NULL;
	if (status == STORE_OK && id == 0) {
		c->w->st.cache_lock_waits++;
		t->lock_until = now_mono_ms() +
		    cc->cfg->cache_redis_lock_timeout;
		t->lock_delay = LOCK_POLL_FIRST;
		lock_arm(c);
		return;
	}
	if (status == STORE_OK) {
		c->w->st.cache_locks++;
		t->lock_id = id;
	}
	lock_forward(c);
}

/* c leads its process's fetch of t->key: take the store's lock first.
 * 0: pending (lock_cb goes on); -1: fetch now, without it. */
static int
lock_start(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct store_req *req;

	/* After a failed lookup, do not wait on the store a second time. */
	if (!store_has_lock(c->w->sc) || t->detail == store_unavailable ||
	    cc->cfg->cache_redis_lock_timeout == 0)
		return (-1);
	/* A placeholder, so lock_cb tells an answer at once from a later
	 * one; never passed to the store. */
	t->sreq = (struct store_req *)&t->sreq;
	req = store_lock(c->w->sc, t->key, t->keylen,
	    cc->cfg->cache_redis_lock_timeout, lock_cb, c);
	if (req == NULL) {
		t->sreq = NULL;
		return (-1);
	}
	t->sreq = req;
	return (0);
}

/* The fetch is over (stored or not), or c goes: let others have it. */
static void
lock_release(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (t->lock_id == 0)
		return;
	(void)store_unlock(c->w->sc, t->key, t->keylen, t->lock_id, NULL,
	    NULL);
	t->lock_id = 0;
}

/*
 * Coalescing (request collapsing). The first GET that misses on a key
 * becomes the fetcher: a struct busy in a process-wide table says its
 * fetch is in flight. Later misses for that key, on any worker, wait on
 * it instead of asking the backend.
 *
 * When the fetcher's response head is storable (cache_response_tee), it
 * opens a struct cstream: the head to store, its Content-Length if the
 * backend gave one, its freshness and secondary key, and the body as it
 * arrives, shared and reference-counted. Every waiter is handed back to
 * its own worker (its wake list and notify pipe) with a reference; there
 * it checks the stream answers its request (Vary, freshness for its
 * Cache-Control; a conditional that matches gets its 304 at once),
 * writes the stored head with Age and "Cache-Status: vane;
 * fwd=uri-miss; collapsed" (RFC 9211 §2.6) and becomes a reader. Misses
 * that come later join the stream directly. The fetcher appends what
 * the relay's tee copied after every read (cache_response_body): one
 * evbuffer_add_buffer, no copy, under the stream's lock. A reader copies
 * from its offset, at most what fits under OUT_HIGH in its output, so a
 * slow reader holds nothing of its own beyond the usual write buffer;
 * the body is held once, in the stream.
 *
 * Notification is batched: a reader has a notified flag (under the
 * stream's lock). The fetcher queues a reader on its worker's wake list
 * only when the flag is clear, and writes to a worker's pipe only when
 * wake_pending is clear; the reader clears its flag when it next looks
 * at the stream. So a fast backend costs one wake per reader per loop
 * iteration of the reader's worker, not one per chunk.
 *
 * Framing to readers: Content-Length when the backend gave one;
 * otherwise chunked to HTTP/1.1 clients, close-delimited to HTTP/1.0
 * (which close after). The end: complete, the stream is marked done and
 * readers finish the body; cut or failed (the fetcher's backend or its
 * own client went away), it is marked failed and every reader's
 * connection is closed short of its framing (no last chunk, fewer bytes
 * than Content-Length; a close-delimited one is reset), never passed
 * off as complete.
 *
 * Over cache.max_object_size (possible only without Content-Length; a
 * larger Content-Length is not storable at the head): the response will
 * not be stored and no new reader joins, but readers already streaming
 * it keep getting every byte. The stream then becomes a window: bytes
 * every reader has sent are dropped (s->base), and while the slowest
 * reader lags more than max_object_size behind, the fetcher stops
 * reading its backend (cache_response_body returns 1; s->held); a
 * reader that brings the lag under half of that, or leaves, wakes the
 * fetcher through its worker's wake list (s->fetcher, cache_wake_run),
 * whose client_flush reads on. So the body is held once and bounded in
 * every case, and the fetch goes at the slowest reader's pace. Once no
 * reader is left the stream is dropped.
 *
 * Not storable at the head (or no body): no stream. When the fetch ends,
 * waiters still parked are woken and look the key up again: a hit when
 * it was stored, otherwise the request goes to the backend itself, and a
 * hit-for-miss marker (cache.hit_for_miss) lets later requests for the
 * key skip the wait (Varnish's hit-for-miss). A waiter the stream cannot
 * answer (another Vary variant, a request that wants revalidation, the
 * stream failed or grew too large before it started) does the same.
 *
 * Locks, in this order: busy_lock, a stream's lock, a worker's
 * wake_lock. A waiting client is in at most one of b->waiters (CW_BUSY)
 * and its worker's wake list (CW_WAKE); c->cache.waiting changes under
 * that worker's wake_lock (and busy_lock for CW_BUSY). A reader is also
 * in its stream's readers list (subscribed) from the first send to the
 * end of its transaction. coalesce_leave takes all three to take a
 * client out of everything. A fetcher is on its own worker's wake list
 * only to be told readers caught up (t->fetcher); s->fetcher is cleared
 * under the stream's lock before the fetcher's transaction ends.
 */
#define CW_NONE		0
#define CW_BUSY		1
#define CW_WAKE		2
#define BUSY_BUCKETS	256

#define CSTREAM_MAGIC	0x63737472u
#define CSS_OPEN	0	/* body still arriving */
#define CSS_DONE	1	/* all of it arrived, as framed */
#define CSS_FAILED	2	/* cut short: readers close */

struct cstream {
	uint32_t		 magic;
	atomic_uint		 refs;
	pthread_mutex_t		 lock;
	/* Under lock. */
	struct evbuffer		*body;		/* data bytes from offset base */
	size_t			 base;		/* dropped: read by every reader */
	size_t			 len;		/* appended so far */
	int			 state;		/* CSS_* */
	int			 over;		/* past max_object_size */
	struct client_list	 readers;	/* by cache.sentry */
	struct client		*fetcher;	/* while it feeds the stream */
	atomic_int		 held;		/* the fetcher stopped reading
						 * its backend for the readers */
	/* Written before the stream is published, read-only after. */
	int64_t			 clen;		/* Content-Length, or -1 */
	struct cache_meta	 meta;
	const char		*vary;		/* secondary key, after head */
	size_t			 head_len, vary_len;
	char			 head[];	/* stored head, CL, CRLF */
};

struct busy {
	struct busy		*next;
	uint64_t		 hash;
	struct client_list	 waiters;
	struct cstream		*stream;	/* once the head was storable */
	size_t			 keylen;
	char			 key[];
};

static pthread_mutex_t	 busy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct busy	*busy_table[BUSY_BUCKETS];

static int	write_head(struct client *, const char *, struct http_msg *,
		    int, int, uint64_t);

static struct cstream *
cstream_ref(struct cstream *s)
{
	CHECK_OBJ(s, CSTREAM_MAGIC);
	atomic_fetch_add(&s->refs, 1);
	return (s);
}

static void
cstream_unref(struct cstream *s)
{
	if (s == NULL)
		return;
	CHECK_OBJ(s, CSTREAM_MAGIC);
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	evbuffer_free(s->body);
	pthread_mutex_destroy(&s->lock);
	s->magic = 0;
	free(s);
}

/* Queue c on its worker's wake list (once) and poke the worker (once
 * until it runs the list). Any thread; takes the worker's wake_lock. */
static void
wake_push(struct client *c)
{
	struct worker *w = c->w;
	int kick = 0;

	pthread_mutex_lock(&w->wake_lock);
	if (c->cache.waiting != CW_WAKE) {
		TAILQ_INSERT_TAIL(&w->wake, c, centry);
		c->cache.waiting = CW_WAKE;
		kick = 1;
	}
	pthread_mutex_unlock(&w->wake_lock);
	if (kick && atomic_exchange(&w->wake_pending, 1) == 0)
		(void)write(w->notify_fd[1], "W", 1);
}

/* The stream has news (bytes, or its end): wake its readers that do not
 * know yet. Under s->lock. */
static void
cstream_notify(struct cstream *s)
{
	struct client *r;

	TAILQ_FOREACH(r, &s->readers, cache.sentry)
		if (!r->cache.notified) {
			r->cache.notified = 1;
			wake_push(r);
		}
}

/* The lowest offset a reader still needs (s->len when none). Under
 * s->lock. */
static size_t
stream_low(struct cstream *s)
{
	struct client *r;
	size_t lo = s->len;

	TAILQ_FOREACH(r, &s->readers, cache.sentry)
		if (r->cache.soff < lo)
			lo = r->cache.soff;
	return (lo);
}

/* Readers moved on (or left): if the fetcher holds its backend for
 * them and the slowest is within half the window, wake it to read on.
 * Under s->lock. */
static void
stream_unhold(struct cstream *s)
{
	if (!atomic_load(&s->held) || s->fetcher == NULL ||
	    s->len - stream_low(s) > cc->cfg->cache_max_object_size / 2)
		return;
	atomic_store(&s->held, 0);
	wake_push(s->fetcher);
}

/* c joins a fetch whose stream is open: it is woken on its own thread
 * to start reading. Under busy_lock. 0, or -1 when the stream cannot
 * take new readers. */
static int
stream_join(struct client *c, struct cstream *s)
{
	int ok;

	pthread_mutex_lock(&s->lock);
	ok = !s->over && s->state != CSS_FAILED;
	pthread_mutex_unlock(&s->lock);
	if (!ok)
		return (-1);
	c->cache.stream = cstream_ref(s);
	c->cache.busy = NULL;
	wake_push(c);
	return (0);
}

/* 1: c fetches t->key for others; 0: c waits; -1: neither (no memory,
 * or the fetch in flight cannot answer it). */
static int
coalesce_join(struct client *c)
{
	struct cache_tx *t = &c->cache;
	uint64_t h = store_hash(t->key, t->keylen, 0);
	struct busy *b, **bp = &busy_table[h % BUSY_BUCKETS];
	int rc;

	pthread_mutex_lock(&busy_lock);
	for (b = *bp; b != NULL; b = b->next)
		if (b->hash == h && b->keylen == t->keylen &&
		    memcmp(b->key, t->key, t->keylen) == 0)
			break;
	if (b != NULL && b->stream != NULL) {
		rc = stream_join(c, b->stream);
		pthread_mutex_unlock(&busy_lock);
		return (rc);
	}
	if (b != NULL) {
		TAILQ_INSERT_TAIL(&b->waiters, c, centry);
		t->busy = b;
		t->waiting = CW_BUSY;
		pthread_mutex_unlock(&busy_lock);
		return (0);
	}
	if ((b = malloc(sizeof(*b) + t->keylen)) == NULL) {
		pthread_mutex_unlock(&busy_lock);
		return (-1);
	}
	b->hash = h;
	b->keylen = t->keylen;
	memcpy(b->key, t->key, t->keylen);
	TAILQ_INIT(&b->waiters);
	b->stream = NULL;
	b->next = *bp;
	*bp = b;
	t->busy = b;
	t->fetcher = 1;
	pthread_mutex_unlock(&busy_lock);
	return (1);
}

/* The fetcher's stream is open: hand it to every waiter, and to later
 * misses through b->stream. */
static void
coalesce_publish(struct client *c, struct cstream *s)
{
	struct busy *b = c->cache.busy;
	struct client *wc;

	pthread_mutex_lock(&busy_lock);
	b->stream = cstream_ref(s);
	while ((wc = TAILQ_FIRST(&b->waiters)) != NULL) {
		TAILQ_REMOVE(&b->waiters, wc, centry);
		wc->cache.busy = NULL;
		wc->cache.stream = cstream_ref(s);
		wake_push(wc);
	}
	pthread_mutex_unlock(&busy_lock);
}

/* The fetch c led is over (stored or not): wake whoever still waits for
 * its end (no stream was opened) and forget the key. */
static void
coalesce_end(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct busy *b = t->busy, **bp;
	struct client *wc;

	lock_release(c);
	if (!t->fetcher)
		return;
	t->fetcher = 0;
	t->busy = NULL;
	pthread_mutex_lock(&busy_lock);
	for (bp = &busy_table[b->hash % BUSY_BUCKETS]; *bp != b;
	    bp = &(*bp)->next)
		;
	*bp = b->next;
	while ((wc = TAILQ_FIRST(&b->waiters)) != NULL) {
		TAILQ_REMOVE(&b->waiters, wc, centry);
		wc->cache.busy = NULL;
		wake_push(wc);
	}
	pthread_mutex_unlock(&busy_lock);
	cstream_unref(b->stream);
	free(b);
}

/* A waiting or streaming client goes away (closed, or finished). */
static void
coalesce_leave(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s;

	pthread_mutex_lock(&busy_lock);
	if ((s = t->stream) != NULL)
		pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&c->w->wake_lock);
	if (t->waiting == CW_BUSY)
		TAILQ_REMOVE(&t->busy->waiters, c, centry);
	else if (t->waiting == CW_WAKE)
		TAILQ_REMOVE(&c->w->wake, c, centry);
	t->waiting = CW_NONE;
	pthread_mutex_unlock(&c->w->wake_lock);
	if (s != NULL) {
		if (t->subscribed)
			TAILQ_REMOVE(&s->readers, c, cache.sentry);
		t->subscribed = 0;
		t->notified = 0;
		stream_unhold(s);
		pthread_mutex_unlock(&s->lock);
	}
	t->busy = NULL;
	t->stream = NULL;
	pthread_mutex_unlock(&busy_lock);
	cstream_unref(s);
}

/*
 * Fetcher: the response head is storable and the relay tees its body
 * into t->body: open the stream the waiters read. Without a stream
 * (no memory, no body) waiters are woken at the end as before.
 */
static void
stream_open(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s;
	size_t hl = evbuffer_get_length(t->shead);
	int64_t clen = -1;
	char line[48];
	int n = 0;

	if (!t->fetcher || t->busy == NULL || c->resp_body.done ||
	    c->resp_body.mode == RELAY_NONE)
		return;
	if (c->resp_body.mode == RELAY_LENGTH) {
		clen = (int64_t)c->resp_body.remaining;
		n = snprintf(line, sizeof(line), "Content-Length: %lld\r\n",
		    (long long)clen);
	}
	if ((s = malloc(sizeof(*s) + hl + (size_t)n + 2 +
	    (size_t)t->varylen)) == NULL)
		return;
	if ((s->body = evbuffer_new()) == NULL) {
		free(s);
		return;
	}
	s->magic = CSTREAM_MAGIC;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->lock, NULL);
	s->base = s->len = 0;
	s->state = CSS_OPEN;
	s->over = 0;
	s->fetcher = c;
	atomic_init(&s->held, 0);
	TAILQ_INIT(&s->readers);
	s->clen = clen;
	s->meta = t->meta;
	(void)evbuffer_copyout(t->shead, s->head, hl);
	memcpy(s->head + hl, line, (size_t)n);
	memcpy(s->head + hl + n, "\r\n", 2);
	s->head_len = hl + (size_t)n + 2;
	memcpy(s->head + s->head_len, t->vary, (size_t)t->varylen);
	s->vary = s->head + s->head_len;
	s->vary_len = (size_t)t->varylen;
	t->fstream = s;
	/* The stream counts the size from now on (the tee is drained into
	 * it after every read), see cache_response_body(). */
	c->resp_body.tee_max = UINT64_MAX;
	coalesce_publish(c, s);
}

/* Fetcher: the body ends here for the stream (complete or not). */
static void
stream_end(struct client *c, int complete)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s = t->fstream;

	if (s == NULL)
		return;
	t->fstream = NULL;
	pthread_mutex_lock(&s->lock);
	s->state = complete ? CSS_DONE : CSS_FAILED;
	s->fetcher = NULL;
	atomic_store(&s->held, 0);
	cstream_notify(s);
	pthread_mutex_unlock(&s->lock);
	cstream_unref(s);
}

/* Past max_object_size the stream is not stored: drop what every reader
 * has sent, and hold the backend while the slowest lags a whole
 * max_object_size behind. 1 when the backend should be held. Under
 * s->lock. */
static int
stream_trim(struct cstream *s)
{
	size_t lo = stream_low(s);

	if (lo > s->base) {
		evbuffer_drain(s->body, lo - s->base);
		s->base = lo;
	}
	if (s->len - lo <= cc->cfg->cache_max_object_size)
		return (0);
	atomic_store(&s->held, 1);
	return (1);
}

int
cache_response_body(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s = t->fstream;
	size_t n;
	int drop = 0, hold = 0;

	if (s == NULL)
		return (0);
	n = evbuffer_get_length(t->body);
	if (n == 0 && !c->resp_body.tee_over)
		return (0);
	pthread_mutex_lock(&s->lock);
	if (c->resp_body.tee_over || evbuffer_add_buffer(s->body,
	    t->body) == -1) {
		/* Bytes lost (out of memory): the stream cannot be whole. */
		s->state = CSS_FAILED;
		drop = 1;
	} else
		s->len += n;
	if (s->len > cc->cfg->cache_max_object_size)
		s->over = 1;
	if (s->over && TAILQ_EMPTY(&s->readers))
		drop = 1;
	if (drop) {
		if (s->state == CSS_OPEN)
			s->state = CSS_FAILED;
		s->fetcher = NULL;
		atomic_store(&s->held, 0);
		evbuffer_drain(s->body, evbuffer_get_length(s->body));
	} else if (s->over)
		hold = stream_trim(s);
	cstream_notify(s);
	pthread_mutex_unlock(&s->lock);
	if (!drop)
		return (hold);
	/* Nobody reads it and it will not be stored: stop teeing. */
	c->resp_body.tee = NULL;
	evbuffer_drain(t->body, evbuffer_get_length(t->body));
	t->fstream = NULL;
	cstream_unref(s);
	t->store = 0;
	c->w->st.cache_not_stored++;
	return (0);
}

int
cache_fetch_shared(const struct client *c)
{
	return (c->cache.fstream != NULL);
}

int
cache_response_held(struct client *c)
{
	struct cstream *s = c->cache.fstream;

	return (s != NULL && atomic_load(&s->held));
}

/*
 * Waiter: send what the stream holds beyond t->soff, as much as fits
 * under OUT_HIGH in the output; finish or close at its end.
 */
static void
stream_pump(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s = t->stream;
	struct evbuffer_iovec v;
	struct evbuffer_ptr p;
	struct linger lg = { 1, 0 };
	size_t pending = io_pending(&c->io), n = 0, len, hl = 0, tl;
	char hdr[24];
	int state, err = 0;

	pthread_mutex_lock(&s->lock);
	t->notified = 0;
	state = s->state;
	len = s->len;
	if (state != CSS_FAILED && pending < OUT_HIGH) {
		n = len - t->soff;
		if (n > OUT_HIGH - pending)
			n = OUT_HIGH - pending;
	}
	if (n > 0) {
		if (t->schunk)
			hl = (size_t)snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
		tl = t->schunk ? 2 : 0;
		if (evbuffer_ptr_set(s->body, &p, t->soff - s->base,
		    EVBUFFER_PTR_SET) == -1 ||
		    evbuffer_reserve_space(c->io.out, (ev_ssize_t)(hl + n + tl),
		    &v, 1) < 1 ||
		    evbuffer_copyout_from(s->body, &p, (char *)v.iov_base + hl,
		    n) != (ev_ssize_t)n)
			err = 1;
		else {
			memcpy(v.iov_base, hdr, hl);
			memcpy((char *)v.iov_base + hl + n, "\r\n", tl);
			v.iov_len = hl + n + tl;
			if (evbuffer_commit_space(c->io.out, &v, 1) == -1)
				err = 1;
		}
	}
	if (!err) {
		t->soff += n;
		stream_unhold(s);
	}
	pthread_mutex_unlock(&s->lock);
	if (err) {
		client_close(c, "out of memory streaming a coalesced response");
		return;
	}
	c->bytes_out += n;
	if (state == CSS_FAILED) {
		c->w->st.responses_aborted++;
		log_info("client %s: \"%s\": response aborted: the coalesced "
		    "fetch failed mid-body", c->ip, c->logline);
		/* Close-delimited: only a reset tells the client the body
		 * is not whole. */
		if (s->clen < 0 && !t->schunk)
			(void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
		client_close(c, "the coalesced fetch failed mid-body");
		return;
	}
	if (state == CSS_DONE && t->soff == len) {
		if (t->schunk)
			evbuffer_add(c->io.out, "0\r\n\r\n", 5);
		client_answered(c, c->status);
		return;
	}
	if (n == 0)
		return;
	if (io_flush(&c->io) == -1) {
		c->w->st.responses_aborted++;
		client_close(c, strerror(c->io.err));
		return;
	}
	/* The socket took it all: no edge will say so. Go on from the
	 * loop, after the other connections' events. */
	if (t->soff < len && c->io.writable && io_pending(&c->io) < OUT_HIGH / 4)
		event_active(c->io.ev, EV_WRITE, 0);
}

/* Waiter: may the stream answer c's request? Fills d (its age). */
static int
stream_fits(struct client *c, struct cstream *s, struct http_msg *rq,
    struct cache_decision *d)
{
	struct cache_tx *t = &c->cache;

	if (!cache_vary_match(s->vary, s->vary_len, t->reqhead, rq,
	    vary_flags(c)))
		return (0);
	cache_decide(d, &s->meta, t->reqhead, rq, now_wall());
	return (d->what == CACHE_SERVE_FRESH);
}


/*
 * Waiter, woken with the fetcher's stream: answer from it (its head,
 * then its body as it arrives), or, when it does not fit the request,
 * look the key up again as after the end of a fetch.
 */
static void
stream_start(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct cstream *s = t->stream;
	struct cache_decision d;
	struct http_msg rq;
	struct http_field *f = NULL;
	int ok, nm = 0, status;

	if (parse_kept(c, &rq) == -1)
		goto other;
	ok = stream_fits(c, s, &rq, &d);
	if (ok && (f = worker_fields_get(c->w)) != NULL) {
		http_msg_init(&t->smsg, f,
		    (uint32_t)cc->cfg->limits_header_count);
		ok = http_parse_response(&t->smsg, s->head, s->head_len,
		    &c->w->resp_limits) == HP_OK;
		nm = ok && cache_not_modified(t->reqhead, &rq, s->head,
		    &t->smsg);
	} else
		ok = 0;
	worker_fields_put(c->w, rq.fields);
	if (ok && !nm) {
		pthread_mutex_lock(&s->lock);
		ok = !s->over && s->state != CSS_FAILED;
		if (ok) {
			TAILQ_INSERT_TAIL(&s->readers, c, cache.sentry);
			t->subscribed = 1;
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (!ok) {
		worker_fields_put(c->w, f);
		t->smsg.fields = NULL;
		goto other;
	}
	t->collapsed = 1;
	t->not_modified = nm;
	t->schunk = s->clen < 0 && c->version >= 11;
	if (s->clen < 0 && !t->schunk)
		c->keepalive = 0;	/* HTTP/1.0: the close ends the body */
	set_age(t, d.age);
	set_status(t, 0);
	client_sent_reset(c);
	status = write_head(c, s->head, &t->smsg, t->schunk, 0, 0);
	worker_fields_put(c->w, t->smsg.fields);
	t->smsg.fields = NULL;
	if (status == -1)
		return;
	c->status = status;
	c->resp_started = 1;
	if (nm) {
		client_answered(c, status);
		return;
	}
	stream_pump(c);
	return;
other:
	coalesce_leave(c);
	resume_lookup(c);
}

void
cache_stream_pump(struct client *c)
{
	if (c->cache.stream != NULL && c->cache.subscribed)
		stream_pump(c);
}

/* The fetch c waited for is over: look again, then serve or forward. */
static void
resume_lookup(struct client *c)
{
	struct cache_tx *t = &c->cache;
	int answer;

	if ((c->fields = worker_fields_get(c->w)) == NULL) {
		client_close(c, "out of memory");
		return;
	}
	http_msg_init(&c->req, c->fields,
	    (uint32_t)cc->cfg->limits_header_count);
	if (http_parse_request(&c->req, t->reqhead, t->reqlen,
	    &c->w->req_limits) != HP_OK) {
		client_close(c, "kept request head does not parse");
		return;
	}
	t->no_coalesce = 1;
	answer = cache_lookup(c, t->reqhead);
	lookup_go_on(c, answer);
}

static void
resume(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (t->fetcher)
		;	/* readers caught up: client_flush reads the backend */
	else if (t->stream == NULL)
		resume_lookup(c);
	else if (t->subscribed)
		stream_pump(c);
	else
		stream_start(c);
	(void)client_flush(c);
}

void
cache_wake_run(struct worker *w)
{
	struct client *c;
	int n = 0;

	/* Only those queued by now: a reader the fetcher queues again
	 * while this runs (its notified flag is clear once pumped) waits
	 * for the next 'W', so a fast fetch cannot keep this worker from
	 * its other events, its readers' sockets included. */
	pthread_mutex_lock(&w->wake_lock);
	TAILQ_FOREACH(c, &w->wake, centry)
		n++;
	pthread_mutex_unlock(&w->wake_lock);
	while (n-- > 0) {
		pthread_mutex_lock(&w->wake_lock);
		if ((c = TAILQ_FIRST(&w->wake)) != NULL) {
			TAILQ_REMOVE(&w->wake, c, centry);
			c->cache.waiting = CW_NONE;
		}
		pthread_mutex_unlock(&w->wake_lock);
		if (c == NULL)
			return;
		if (!c->closed)
			resume(c);
	}
}

/*
 * Background refresh (stale-while-revalidate, RFC 5861 §3). A hit on a
 * stale entry within its window is answered from the store at once
 * (cache_serve), and a background client (client_background) asks the
 * backend for a new copy through the usual path: the cache's own
 * request (cache_refresh_request), conditional when the entry has a
 * validator (lookup_cb treats it as VALIDATE). A 304 updates the stored
 * head (revalidated), a storable answer replaces the entry, anything
 * else leaves it for stale-if-error or the next refresh.
 *
 * One refresh per stored variant at a time, over all workers: a record
 * in refresh_table (primary key and secondary key) while one runs; a
 * stale hit that finds the record starts none. A table of its own rather
 * than
 * - a flag in the stored object: the Redis store gives every lookup its
 *   own copy of the object, so no other lookup would see the flag;
 * - the coalescing busy table: misses wait there for the fetch in
 *   flight, and no request may wait for a background refresh (a miss on
 *   another variant of the URL would); its entries are per URL too, and
 *   a refresh is per variant.
 * The record is the background client's (t->refresh) and ends with its
 * transaction (cache_tx_reset), however that ends: answer, error,
 * timeout or worker stop.
 */
struct refresh {
	struct refresh		*next;
	uint64_t		 hash;
	size_t			 keylen, varylen;
	char			 key[];		/* key, then secondary key */
};

static pthread_mutex_t	 refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct refresh	*refresh_table[BUSY_BUCKETS];

/* The record for a new refresh of (key, vary), or NULL when one runs
 * already (or out of memory). */
static struct refresh *
refresh_join(const char *key, size_t keylen, const void *vary,
    size_t varylen)
{
	uint64_t h = store_hash(key, keylen, 0);
	struct refresh *r, **rp;

	/* No Vary: the secondary key is empty, maybe NULL (mem* with a
	 * NULL pointer is undefined even for 0 bytes). */
	if (varylen > 0)
		h = store_hash(vary, varylen, h);
	rp = &refresh_table[h % BUSY_BUCKETS];
	pthread_mutex_lock(&refresh_lock);
	for (r = *rp; r != NULL; r = r->next)
		if (r->hash == h && r->keylen == keylen &&
		    r->varylen == varylen &&
		    memcmp(r->key, key, keylen) == 0 &&
		    (varylen == 0 || memcmp(r->key + keylen, vary,
		    varylen) == 0))
			break;
	if (r != NULL || (r = malloc(sizeof(*r) + keylen + varylen)) == NULL) {
		pthread_mutex_unlock(&refresh_lock);
		return (NULL);
	}
	r->hash = h;
	r->keylen = keylen;
	r->varylen = varylen;
	memcpy(r->key, key, keylen);
	if (varylen > 0)
		memcpy(r->key + keylen, vary, varylen);
	r->next = *rp;
	*rp = r;
	pthread_mutex_unlock(&refresh_lock);
	return (r);
}

static void
refresh_end(struct refresh *r)
{
	struct refresh **rp;

	pthread_mutex_lock(&refresh_lock);
	for (rp = &refresh_table[r->hash % BUSY_BUCKETS]; *rp != r;
	    rp = &(*rp)->next)
		;
	*rp = r->next;
	pthread_mutex_unlock(&refresh_lock);
	free(r);
}

/* c got a stale hit under stale-while-revalidate (t->obj, request in
 * buf): refresh the entry in the background unless a refresh runs. */
static void
refresh_start(struct client *c, const char *buf)
{
	struct cache_tx *t = &c->cache;
	struct http_msg *m = &c->req;
	struct cc_directives rcc;
	struct refresh *r;
	struct client *bg = NULL;
	char *head;
	size_t cap;
	int n;

	/* A refresh started now would hold up the stop. */
	if (c->w->stopping)
		return;
	/* only-if-cached: the client asked that the origin not be
	 * contacted for it (RFC 9111 §5.2.1.7). */
	cache_request_cc(&rcc, buf, m);
	if (rcc.flags & CC_ONLY_IF_CACHED)
		return;
	if ((r = refresh_join(t->key, t->keylen, t->obj->vary,
	    t->obj->vary_len)) == NULL)
		return;
	cap = (size_t)m->head_len + m->nfields + 16;
	if ((head = malloc(cap)) != NULL &&
	    (n = cache_refresh_request(head, cap, buf, m)) > 0)
		bg = client_background(c->w, c->ip, head, (size_t)n);
	free(head);
	if (bg == NULL) {
		refresh_end(r);
		return;
	}
	bg->cache.refresh = r;
	bg->tls = c->tls;	/* the same scheme: the same key */
	c->w->st.cache_bg_refreshes++;
	log_debug("client %s: \"%s\": stale-while-revalidate: refreshing "
	    "in the background", c->ip, c->logline);
}

/* RFC 9110 §15.4.5: what a 304 carries of the stored response. */
static int
in_304(const char *buf, const struct http_field *f)
{
	static const char *const names[] = {
		"cache-control", "content-location", "date", "etag",
		"expires", "vary",
		"via",		/* ours is in the stored head: keep_via */
	};

	return (name_in(buf, f->name, names, NELEM(names)));
}

/*
 * The head of obj as a hit sends it: the laid-out head (layout_head), then
 * t->extra (Age, Cache-Status), the connection's own field and the empty
 * line, in one copy. Returns its length, or -1 (out of memory).
 */
static ssize_t
write_wire(struct client *c, struct store_obj *obj)
{
	static const char close_line[] = "Connection: close\r\n";
	static const char ka_line[] = "Connection: keep-alive\r\n";
	struct cache_tx *t = &c->cache;
	struct evbuffer_iovec v;
	size_t extra = strlen(t->extra), n = obj->wire_len;
	size_t lx = c->lfields != NULL ? strlen(c->lfields) : 0;
	char *p;

	if (evbuffer_reserve_space(c->io.out, (ev_ssize_t)(n + extra + lx +
	    sizeof(ka_line) + 2), &v, 1) < 1)
		return (-1);
	p = v.iov_base;
	memcpy(p, obj->head, n);
	p += n;
	memcpy(p, t->extra, extra);
	p += extra;
	if (lx > 0) {
		memcpy(p, c->lfields, lx);
		p += lx;
	}
	if (!c->keepalive) {
		memcpy(p, close_line, sizeof(close_line) - 1);
		p += sizeof(close_line) - 1;
	} else if (c->version == 10) {
		memcpy(p, ka_line, sizeof(ka_line) - 1);
		p += sizeof(ka_line) - 1;
	}
	memcpy(p, "\r\n", 2);
	p += 2;
	v.iov_len = (size_t)(p - (char *)v.iov_base);
	evbuffer_commit_space(c->io.out, &v, 1);
	return ((ssize_t)v.iov_len);
}

/*
 * Write a stored head (parsed in sm over head) to the client with
 * t->extra (Age, Cache-Status); a 304 instead when t->not_modified; a 206
 * for the byte range of t->range over a body of total bytes; the body
 * framed chunked when chunk. laid: the head was laid out (layout_head)
 * and has our Via and a Date already. Returns the status sent, or -1
 * when c was closed.
 */
static int
write_head(struct client *c, const char *head, struct http_msg *sm,
    int chunk, int laid, uint64_t total)
{
	struct cache_tx *t = &c->cache;
	struct evbuffer_iovec v;
	struct http_out o;
	char extra[sizeof(t->extra) + 80];
	uint8_t *skip;
	uint32_t i;
	ssize_t n;
	int status = sm->status;

	skip = skip_array(t);
	for (i = 0; i < sm->nfields; i++)
		if (cache_strip_field(head, &sm->fields[i], &copts) ||
		    http_span_eq(head, sm->fields[i].name, "age") ||
		    (t->not_modified && !in_304(head, &sm->fields[i])))
			skip[i] = 1;
	memset(&o, 0, sizeof(o));
	o.keepalive = c->keepalive;
	o.client_version = c->version;
	o.chunk = chunk && !t->not_modified;
	o.via = "vane";
	o.keep_via = laid;
	o.date = laid ? NULL : worker_date(c->w);
	o.extra = t->extra;
	o.lextra = c->lfields;
	o.skip = skip;
	if (t->not_modified) {
		/* The stored head minus its content fields, as a 304. */
		sm->status = 304;
		sm->reason.len = 0;
		status = 304;
	} else if (t->range) {
		/* RFC 9110 §15.3.7: the stored 200's fields, Content-Range
		 * and the length of the one range sent. */
		snprintf(extra, sizeof(extra),
		    "%sContent-Range: bytes %llu-%llu/%llu\r\n", t->extra,
		    (unsigned long long)t->range_first,
		    (unsigned long long)t->range_last,
		    (unsigned long long)total);
		o.extra = extra;
		sm->content_length = t->range_last - t->range_first + 1;
		sm->status = 206;
		sm->reason.len = 0;
		status = 206;
	}
	if (evbuffer_reserve_space(c->io.out,
	    (ev_ssize_t)http_msg_response_size(sm, &o), &v, 1) < 1 ||
	    (n = http_msg_response(v.iov_base, v.iov_len, head, sm, &o)) < 0) {
		client_close(c, "out of memory writing a cached response");
		return (-1);
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(c->io.out, &v, 1);
	client_sent_head(c, (size_t)n);
	return (status);
}

/*
 * Write the stored response obj to the client: its head with t->extra
 * (Age, Cache-Status) and, for a GET, its body by reference. A whole 200
 * of a laid-out object needs no parse (sm may be NULL); a 304 for
 * t->not_modified and a 206 for t->range are built from sm, its parsed
 * head. Returns the status sent, or -1 when c was closed.
 */
static int
write_obj(struct client *c, struct store_obj *obj, struct http_msg *sm)
{
	struct cache_tx *t = &c->cache;
	uint64_t off = 0, len = obj->body_len;
	ssize_t n;
	int status;

	if (!t->not_modified && !t->range && obj->wire_len > 0) {
		if ((n = write_wire(c, obj)) < 0) {
			client_close(c, "out of memory writing a cached "
			    "response");
			return (-1);
		}
		client_sent_head(c, (size_t)n);
		status = obj->meta.status;
	} else if ((status = write_head(c, (const char *)obj->head, sm, 0,
	    obj->wire_len > 0, obj->body_len)) == -1)
		return (-1);
	if (t->range) {
		off = t->range_first;
		len = t->range_last - t->range_first + 1;
	}
	if (!t->not_modified && c->method == HM_GET && len > 0) {
		if (store_obj_add_body_range_to(c->io.out, obj, off, len) ==
		    -1) {
			client_close(c, "out of memory sending a cached body");
			return (-1);
		}
		c->bytes_out += len;
	}
	return (status);
}

void
cache_serve(struct client *c)
{
	struct cache_tx *t = &c->cache;
	int status;

	set_age(t, t->age);
	set_status(t, 0);
	client_sent_reset(c);
	if ((status = write_obj(c, t->obj, &t->smsg)) == -1)
		return;
	/* A background request that finds the entry fresh already (another
	 * request refreshed it) has nothing to do and served no one. */
	if (!c->bg) {
		c->w->st.cache_hits++;
		if (t->stale)
			c->w->st.cache_stale++;
	}
	if (t->smsg.fields != NULL)
		worker_fields_put(c->w, t->smsg.fields);
	t->smsg.fields = NULL;
	store_obj_unref(t->obj);
	t->obj = NULL;
	client_answered(c, status);
}

void
cache_amend_request(struct client *c, struct evbuffer *uhead)
{
	struct cache_tx *t = &c->cache;
	size_t len = evbuffer_get_length(uhead);
	struct evbuffer_ptr p;
	char end[2];

	if (!t->validating)
		return;
	/* The head ends with the empty line: put the field before it. */
	if (len < 4 || evbuffer_ptr_set(uhead, &p, len - 2,
	    EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(uhead, &p, end, 2) != 2 ||
	    memcmp(end, "\r\n", 2) != 0) {
		t->validating = 0;
		return;
	}
	/* evbuffers cannot shrink at the tail: rebuild it. */
	{
		struct evbuffer *tmp = evbuffer_new();

		if (tmp == NULL) {
			t->validating = 0;
			return;
		}
		evbuffer_remove_buffer(uhead, tmp, len - 2);
		evbuffer_drain(uhead, 2);
		evbuffer_add(tmp, t->cond, strlen(t->cond));
		evbuffer_add(tmp, "\r\n", 2);
		evbuffer_add_buffer(uhead, tmp);
		evbuffer_free(tmp);
	}
}

/* Take the conditional cache_amend_request() added out of uhead again:
 * 0, or -1 (not there, or out of memory). */
static int
drop_conditional(struct evbuffer *uhead, const struct cache_tx *t)
{
	const char *cond = t->cond;
	size_t len = evbuffer_get_length(uhead), k = strlen(cond);
	char tail[sizeof(t->cond) + 2];
	struct evbuffer_ptr p;
	struct evbuffer *tmp;

	/* It went in right before the empty line that ends the head. */
	if (k == 0 || len < k + 4 || evbuffer_ptr_set(uhead, &p, len - k - 2,
	    EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(uhead, &p, tail, k + 2) != (ev_ssize_t)(k + 2) ||
	    memcmp(tail, cond, k) != 0 || memcmp(tail + k, "\r\n", 2) != 0)
		return (-1);
	if ((tmp = evbuffer_new()) == NULL)
		return (-1);
	if (evbuffer_remove_buffer(uhead, tmp, len - k - 2) !=
	    (int)(len - k - 2) || evbuffer_add(tmp, "\r\n", 2) == -1) {
		evbuffer_free(tmp);
		return (-1);
	}
	evbuffer_drain(uhead, k + 2);
	evbuffer_add_buffer(uhead, tmp);
	evbuffer_free(tmp);
	return (0);
}

/*
 * Lay a head to store out as hits send it, so that a hit copies it instead
 * of parsing and rebuilding it (store_obj.wire_len): the status line, the
 * fields with our Via entry (unless keep_via: the head has it already) and
 * a Date when it had none (RFC 9110 §6.6.1: a recipient with a clock
 * records one for a response it caches); after them the fields a hit never
 * sends (the vane-only Cache-Control field), kept for revalidation; then
 * the empty line. src[0..len) is a complete head. Returns a malloc'd copy
 * (*outlen, *wire_len), or NULL: out of memory, or it does not parse.
 */
static char *
layout_head(struct client *c, const char *src, size_t len, int keep_via,
    size_t *outlen, size_t *wire_len)
{
	struct http_field *f;
	struct http_msg m;
	struct http_out o;
	uint8_t *skip;
	size_t size, k;
	ssize_t n;
	uint32_t i;
	char *out = NULL, *p;

	if ((f = worker_fields_get(c->w)) == NULL)
		return (NULL);
	http_msg_init(&m, f, (uint32_t)cc->cfg->limits_header_count);
	if (http_parse_response(&m, src, len, &c->w->resp_limits) != HP_OK)
		goto done;
	skip = skip_array(&c->cache);
	for (i = 0; i < m.nfields; i++)
		skip[i] = (uint8_t)cache_strip_field(src, &m.fields[i], &copts);
	memset(&o, 0, sizeof(o));
	o.keepalive = 1;
	o.client_version = 11;
	o.via = "vane";
	o.keep_via = keep_via;
	o.date = worker_date(c->w);
	o.skip = skip;
	size = http_msg_response_size(&m, &o) + len;
	if ((out = malloc(size)) == NULL)
		goto done;
	if ((n = http_msg_response(out, size, src, &m, &o)) < 2) {
		free(out);
		out = NULL;
		goto done;
	}
	/* Without its empty line: a hit adds its own fields there. */
	p = out + n - 2;
	*wire_len = (size_t)(p - out);
	for (i = 0; i < m.nfields; i++) {
		if (!skip[i])
			continue;
		k = m.fields[i].name.len;
		memcpy(p, src + m.fields[i].name.off, k);
		p += k;
		memcpy(p, ": ", 2);
		p += 2;
		k = m.fields[i].value.len;
		memcpy(p, src + m.fields[i].value.off, k);
		p += k;
		memcpy(p, "\r\n", 2);
		p += 2;
	}
	memcpy(p, "\r\n", 2);
	p += 2;
	*outlen = (size_t)(p - out);
done:
	worker_fields_put(c->w, f);
	return (out);
}

/*
 * A 304 answered the conditional for t->obj (RFC 9111 §4.3.3, §4.3.4):
 * store its head updated with the 304's fields over the same body, and
 * send that to the client.
 */
static int
revalidated(struct client *c, const char *buf)
{
	struct cache_tx *t = &c->cache;
	struct store_obj *old = t->obj, *obj;
	struct http_msg *r = &c->resp, *sm = &t->smsg, nm;
	struct store_str tags[STORE_MAX_TAGS];
	struct store_obj_init in;
	struct http_field *nf;
	struct evbuffer *h = t->shead;
	const char *oh = (const char *)old->head;
	unsigned char *hp;
	char *lay;
	int64_t now = now_wall(), ttl;
	uint32_t i, j;
	int replaced, status, keep_via;

	if (h == NULL && (h = t->shead = evbuffer_new()) == NULL)
		return (-1);
	evbuffer_drain(h, evbuffer_get_length(h));
	add_status_line(h, sm->status, oh + sm->reason.off, sm->reason.len);
	for (i = 0; i < sm->nfields; i++) {
		for (j = 0, replaced = 0; j < r->nfields && !replaced; j++)
			replaced = cache_304_field_updates(buf, &r->fields[j]) &&
			    r->fields[j].name.len == sm->fields[i].name.len &&
			    strncasecmp(buf + r->fields[j].name.off,
			    oh + sm->fields[i].name.off,
			    r->fields[j].name.len) == 0;
		if (!replaced)
			add_field(h, oh, &sm->fields[i]);
	}
	for (j = 0, keep_via = old->wire_len > 0; j < r->nfields; j++) {
		if (!cache_304_field_updates(buf, &r->fields[j]) ||
		    is_tag_field(buf, &r->fields[j]))
			continue;
		add_field(h, buf, &r->fields[j]);
		/* The 304's Via replaces the stored one, our entry with it. */
		if (r->fields[j].id == HH_VIA)
			keep_via = 0;
	}
	evbuffer_add(h, "\r\n", 2);
	memset(&in, 0, sizeof(in));
	if ((hp = evbuffer_pullup(h, -1)) == NULL ||
	    (lay = layout_head(c, (const char *)hp, evbuffer_get_length(h),
	    keep_via, &in.head_len, &in.wire_len)) == NULL)
		return (-1);
	in.head = lay;
	if ((nf = worker_fields_get(c->w)) == NULL) {
		free(lay);
		return (-1);
	}
	http_msg_init(&nm, nf, (uint32_t)cc->cfg->limits_header_count);
	if (http_parse_response(&nm, lay, in.head_len,
	    &c->w->resp_limits) != HP_OK) {
		worker_fields_put(c->w, nf);
		free(lay);
		return (-1);
	}
	cache_meta_fill(&t->meta, lay, &nm, t->req_time, now, &copts);
	worker_fields_put(c->w, nf);
	for (i = 0; i < old->ntags && i < STORE_MAX_TAGS; i++)
		tags[i] = old->tags[i];
	in.key = old->key;
	in.key_len = old->key_len;
	in.body_from = old;
	in.vary = old->vary;
	in.vary_len = old->vary_len;
	in.tags = tags;
	in.ntags = old->ntags;
	in.meta = &t->meta;
	ttl = cache_keep_for(&t->meta, now);
	in.drop_after = now + (ttl > 0 ? ttl : 1);
	obj = store_obj_new(&in);
	free(lay);
	if (obj == NULL)
		return (-1);
	if (c->bg) {
		/* A background refresh: no client to send it to. */
		c->status = 304;
		goto insert;
	}
	/* Laid out: sent without a parse. */
	t->not_modified = 0;
	set_age(t, cache_current_age(&t->meta, now));
	t->fwd_status = 304;
	set_status(t, 1);
	status = write_obj(c, obj, NULL);
	if (status == -1) {
		store_obj_unref(obj);
		return (-2);
	}
	c->status = status;
insert:
	(void)store_insert(c->w->sc, &obj, now, done_cb, NULL);
	c->w->st.cache_revalidated++;
	return (0);
}

/* Tags of a response to store: the values of the tag fields, split on
 * commas and spaces, into t->tags (NUL-separated). */
static void
collect_tags(struct cache_tx *t, const char *buf, const struct http_msg *r)
{
	const struct http_field *f;
	const char *p, *end, *s;
	size_t need = 0;
	uint32_t i;

	t->ntags = 0;
	t->tagslen = 0;
	for (i = 0; i < r->nfields; i++)
		if (is_tag_field(buf, &r->fields[i]))
			need += r->fields[i].value.len + 1;
	if (need == 0 || (t->tags = realloc(t->tags, need)) == NULL)
		return;
	for (i = 0; i < r->nfields; i++) {
		f = &r->fields[i];
		if (!is_tag_field(buf, f))
			continue;
		p = buf + f->value.off;
		end = p + f->value.len;
		while (p < end && t->ntags < STORE_MAX_TAGS) {
			while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
				p++;
			for (s = p; p < end && *p != ',' && *p != ' ' &&
			    *p != '\t'; p++)
				;
			if (p > s) {
				memcpy(t->tags + t->tagslen, s, (size_t)(p - s));
				t->tagslen += (size_t)(p - s);
				t->tags[t->tagslen++] = '\0';
				t->ntags++;
			}
		}
	}
}

/* The head to store: the fields cache_store_field() allows, without the
 * framing, Age and tag fields; Content-Length comes when the body ends. */
static int
build_stored_head(struct cache_tx *t, const char *buf,
    const struct http_msg *r, const struct cc_directives *d)
{
	const struct http_field *f;
	uint32_t i;

	if (t->shead == NULL && (t->shead = evbuffer_new()) == NULL)
		return (-1);
	evbuffer_drain(t->shead, evbuffer_get_length(t->shead));
	add_status_line(t->shead, r->status, buf + r->reason.off,
	    r->reason.len);
	for (i = 0; i < r->nfields; i++) {
		f = &r->fields[i];
		if (f->id == HH_CONTENT_LENGTH || f->id == HH_TRANSFER_ENCODING ||
		    http_span_eq(buf, f->name, "age") || is_tag_field(buf, f) ||
		    !cache_store_field(buf, f, d))
			continue;
		add_field(t->shead, buf, f);
	}
	return (0);
}

/* Drop what an unsafe request's answer invalidates (RFC 9111 §4.4). */
static void
invalidate(struct client *c, struct http_msg *rq, const char *buf)
{
	struct cache_tx *t = &c->cache;
	struct cache_inval iv;
	char out[8192];
	int i;

	if (c->resp.status < 200 || c->resp.status >= 400)
		return;
	if (cache_invalidations(out, sizeof(out), &iv, c->tls ? "https" :
	    "http", t->reqhead, rq,
	    buf, &c->resp) <= 0)
		return;
	for (i = 0; i < iv.n; i++)
		(void)store_remove(c->w->sc, out + iv.uri[i].off,
		    iv.uri[i].len, done_cb, NULL);
}

/* The revalidation is over: drop the stored object and its head. */
static void
release_validated(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (t->smsg.fields != NULL)
		worker_fields_put(c->w, t->smsg.fields);
	t->smsg.fields = NULL;
	store_obj_unref(t->obj);
	t->obj = NULL;
}

/* The stale stored response answers a backend failure (RFC 5861 §4). */
static int
serve_stale(struct client *c, int failed)
{
	struct cache_tx *t = &c->cache;
	int64_t now = now_wall();
	int status;

	t->not_modified = 0;
	set_age(t, cache_current_age(&t->obj->meta, now));
	t->fwd_status = failed;
	t->detail = "stale-if-error";
	set_status(t, 0);
	if ((status = write_obj(c, t->obj, &t->smsg)) == -1)
		return (-1);
	c->status = status;
	c->w->st.cache_stale++;
	return (0);
}

int
cache_stale_on_error(struct client *c, int status)
{
	struct cache_tx *t = &c->cache;

	if (t->obj == NULL || !t->sie || status < 500 || c->resp_started)
		return (0);
	client_sent_reset(c);
	if (serve_stale(c, status) == -1)
		return (1);	/* closed */
	release_validated(c);
	client_answered(c, c->status);
	return (1);
}

/* Hit-for-miss: for cache.hit_for_miss, requests for the key do not wait
 * behind each other's fetch. */
static void
mark_uncacheable(struct client *c)
{
	struct cache_tx *t = &c->cache;
	struct store_obj *m;
	int64_t now = now_wall();

	if (cc->cfg->cache_hit_for_miss < 1000 || t->keylen == 0)
		return;
	m = store_obj_new_hfm(t->key, t->keylen, now +
	    (int64_t)(cc->cfg->cache_hit_for_miss / 1000));
	if (m != NULL)
		(void)store_insert(c->w->sc, &m, now, done_cb, NULL);
}

int
cache_response_head(struct client *c, const char *buf)
{
	struct cache_tx *t = &c->cache;
	struct http_msg *r = &c->resp, rq;
	struct cc_directives d;
	enum cache_reason why = CACHE_OK;
	int64_t now;
	uint8_t *skip;
	uint32_t i;
	int parsed, n, rc;

	t->extra[0] = '\0';
	if (vane.store == NULL || t->fwd == CFWD_NONE)
		return (CACHE_HEAD_PASS);
	if (t->validating) {
		/* vane built the conditional: a 304 answers its validators. */
		t->validating = 0;
		if (r->status == 304 && cache_304_selects_own(
		    (const char *)t->obj->head, &t->smsg, buf, r)) {
			rc = revalidated(c, buf);
			release_validated(c);
			if (rc == 0)
				return (CACHE_HEAD_REPLACED);
			if (rc == -2)
				return (CACHE_HEAD_CLOSED);
			/* Out of memory: pass the 304 on as it is. */
			return (CACHE_HEAD_PASS);
		}
		if (r->status == 304 && drop_conditional(c->uhead, t) ==
		    0) {
			/* It names another representation: it selects
			 * nothing, which must not be updated (§4.3.4), and
			 * the client asked nothing conditional. Ask again
			 * without vane's conditional; stale-if-error still
			 * covers that answer. */
			if (!t->sie)
				release_validated(c);
			c->w->st.cache_resent++;
			return (CACHE_HEAD_RESEND);
		}
	}
	if (t->obj != NULL && t->sie && (r->status == 500 ||
	    (r->status >= 502 && r->status <= 504))) {
		rc = serve_stale(c, r->status);
		release_validated(c);
		return (rc == 0 ? CACHE_HEAD_STALE : CACHE_HEAD_CLOSED);
	}
	if (t->obj != NULL)
		release_validated(c);
	skip = skip_array(t);
	for (i = 0; i < r->nfields; i++)
		if (cache_strip_field(buf, &r->fields[i], &copts) ||
		    is_tag_field(buf, &r->fields[i]))
			skip[i] = 1;
	parsed = parse_kept(c, &rq) == 0;
	if (t->fwd == CFWD_METHOD) {
		if (parsed)
			invalidate(c, &rq, buf);
		goto done;
	}
	if (!t->lookup)
		goto done;
	now = now_wall();
	if (c->method != HM_GET)
		why = CACHE_R_METHOD;
	else if (!parsed)
		why = CACHE_R_INCOMPLETE;
	else
		why = cache_storable(t->reqhead, &rq, buf, r, 1, now, &copts);
	if (why != CACHE_OK) {
		t->detail = cache_reason_str(why);
		goto done;
	}
	if (r->framing == HF_LENGTH &&
	    r->content_length > cc->cfg->cache_max_object_size) {
		t->detail = "too-large";
		c->w->st.cache_not_stored++;
		goto done;
	}
	if (t->vary == NULL && (t->vary = malloc(CACHE_VARY_MAX)) == NULL)
		goto done;
	if ((n = cache_vary_key(t->vary, CACHE_VARY_MAX, buf, r, t->reqhead,
	    &rq, vary_flags(c))) < 0) {
		t->detail = n == -2 ? "vary-star" : "vary-too-long";
		goto done;
	}
	t->varylen = n;
	(void)cache_response_cc(&d, buf, r, &copts);
	if (build_stored_head(t, buf, r, &d) == -1)
		goto done;
	cache_meta_fill(&t->meta, buf, r, t->req_time, now, &copts);
	collect_tags(t, buf, r);
	t->store = 1;
done:
	if (parsed)
		worker_fields_put(c->w, rq.fields);
	set_status(t, t->store);
	/* A marker still present (the lookup saw it) is left to expire:
	 * renewing it on every answer would cost a store write per request
	 * on uncacheable traffic. */
	if (!t->store && t->lookup && c->method == HM_GET && !t->no_coalesce)
		mark_uncacheable(c);
	if (!t->store)
		coalesce_end(c);	/* waiters go to the backend now */
	return (CACHE_HEAD_PASS);
}

void
cache_response_tee(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (!t->store)
		return;
	if (t->body == NULL && (t->body = evbuffer_new()) == NULL) {
		t->store = 0;
		return;
	}
	evbuffer_drain(t->body, evbuffer_get_length(t->body));
	relay_tee(&c->resp_body, t->body, cc->cfg->cache_max_object_size);
	stream_open(c);
}

void
cache_response_done(struct client *c, int complete)
{
	struct cache_tx *t = &c->cache;
	struct store_str tags[STORE_MAX_TAGS];
	struct store_obj_init in;
	struct store_obj *obj;
	struct evbuffer *body;
	struct cstream *s;
	unsigned char *hp;
	char line[48], *lay;
	int64_t now, ttl;
	size_t len, off;
	unsigned i;
	int copied;

	(void)cache_response_body(c);	/* the last bytes, to the stream */
	if (!t->store) {
		stream_end(c, complete);
		coalesce_end(c);
		return;
	}
	t->store = 0;
	c->resp_body.tee = NULL;
	now = now_wall();
	ttl = cache_keep_for(&t->meta, now);
	s = t->fstream;
	body = s != NULL ? s->body : t->body;
	if (!complete || c->resp_body.tee_over || ttl <= 0 ||
	    (s != NULL && s->over)) {
		c->w->st.cache_not_stored++;
		stream_end(c, complete);
		coalesce_end(c);
		return;
	}
	/* Readers copy out of s->body too, under its lock; only this
	 * thread appends, and it is done appending. */
	len = evbuffer_get_length(body);
	snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", len);
	evbuffer_add(t->shead, line, strlen(line));
	for (i = 0, off = 0; i < t->ntags; i++) {
		tags[i].p = t->tags + off;
		tags[i].len = strlen(t->tags + off);
		off += tags[i].len + 1;
	}
	memset(&in, 0, sizeof(in));
	if ((hp = evbuffer_pullup(t->shead, -1)) == NULL || (lay = layout_head(c,
	    (const char *)hp, evbuffer_get_length(t->shead), 0, &in.head_len,
	    &in.wire_len)) == NULL) {
		c->w->st.cache_not_stored++;
		stream_end(c, complete);
		coalesce_end(c);
		return;
	}
	in.key = t->key;
	in.key_len = t->keylen;
	in.head = lay;
	in.body_len = len;
	in.vary = t->vary;
	in.vary_len = (size_t)t->varylen;
	in.tags = tags;
	in.ntags = t->ntags;
	in.meta = &t->meta;
	in.drop_after = now + ttl;
	obj = store_obj_new(&in);
	free(lay);
	if (obj == NULL) {
		c->w->st.cache_not_stored++;
		stream_end(c, complete);
		coalesce_end(c);
		return;
	}
	if (s != NULL)
		pthread_mutex_lock(&s->lock);
	copied = len == 0 || evbuffer_copyout(body, obj->body, len) ==
	    (ev_ssize_t)len;
	if (s != NULL)
		pthread_mutex_unlock(&s->lock);
	stream_end(c, complete);
	if (!copied) {
		store_obj_unref(obj);
		c->w->st.cache_not_stored++;
		coalesce_end(c);
		return;
	}
	(void)store_insert(c->w->sc, &obj, now, done_cb, NULL);
	c->w->st.cache_stored++;
	coalesce_end(c);
}

void
cache_error_status(struct client *c, char *extra, size_t len)
{
	struct cache_tx *t = &c->cache;
	size_t used = strlen(extra);

	if (t->fwd == CFWD_HIT || vane.store == NULL)
		return;
	t->extra[0] = '\0';
	if (t->fwd == CFWD_NONE) {
		/* Refused before the cache saw it: neither hit nor fwd
		 * (RFC 9211 §2), so that every response says it. */
		if (cc->cfg->cache_status)
			extra_add(t, "Cache-Status: vane; detail=rejected\r\n");
	} else
		set_status(t, 0);
	if (used + strlen(t->extra) < len)
		memcpy(extra + used, t->extra, strlen(t->extra) + 1);
}

void
cache_tx_reset(struct client *c)
{
	struct cache_tx *t = &c->cache;

	if (t->smsg.fields != NULL) {
		worker_fields_put(c->w, t->smsg.fields);
		t->smsg.fields = NULL;
	}
	if (t->rfields != NULL) {
		worker_fields_put(c->w, t->rfields);
		t->rfields = NULL;
	}
	if (t->sreq != NULL) {
		/* Gone while its lookup is pending: no late callback. */
		store_cancel(c->w->sc, t->sreq);
		t->sreq = NULL;
	}
	if (t->lock_ev != NULL)
		evtimer_del(t->lock_ev);
	stream_end(c, 0);	/* still open: the fetch failed */
	coalesce_end(c);
	if (t->waiting != CW_NONE || t->stream != NULL)
		coalesce_leave(c);
	if (t->refresh != NULL) {
		refresh_end(t->refresh);
		t->refresh = NULL;
	}
	t->no_coalesce = t->swr = 0;
	t->collapsed = t->schunk = 0;
	t->soff = 0;
	t->fwd = CFWD_NONE;
	t->lookup = t->keep_req = t->store = t->not_modified = t->range = 0;
	t->validating = t->sie = t->stale = 0;
	t->fwd_status = 0;
	t->detail = NULL;
	t->extra[0] = '\0';
	if (t->obj != NULL) {
		store_obj_unref(t->obj);
		t->obj = NULL;
	}
	if (t->body != NULL && evbuffer_get_length(t->body) > 0)
		evbuffer_drain(t->body, evbuffer_get_length(t->body));
}

void
cache_tx_free(struct client *c)
{
	struct cache_tx *t = &c->cache;

	cache_tx_reset(c);
	free(t->key);
	free(t->reqhead);
	free(t->vary);
	free(t->tags);
	free(t->skip);
	if (t->shead != NULL)
		evbuffer_free(t->shead);
	if (t->body != NULL)
		evbuffer_free(t->body);
	if (t->lock_ev != NULL)
		event_free(t->lock_ev);
	memset(t, 0, sizeof(*t));
}
