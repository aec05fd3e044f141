/*
 * cache.h: the response cache on the request path (L4, beside client.c).
 * cache_policy.c says what RFC 9111 allows; the store (store.h) keeps the
 * bytes; this file puts them together for one client transaction:
 *
 *   client_request --cache_lookup--> hit: cache_serve (stored head with
 *       Age and Cache-Status, body by reference, or a 304 for the
 *       client's own conditional), or a 504 for only-if-cached;
 *     miss/stale: forwarded; at the response head cache_response_head
 *       decides whether to store it (Cache-Status says so) and tees the
 *       body; cache_response_done stores it when it arrived whole.
 *   Unsafe methods invalidate the target (and same-origin Location,
 *   Content-Location) when the answer is a 2xx or 3xx (§4.4).
 *
 * Stale entries with a validator are revalidated (a 304 updates them);
 * stale-if-error answers a failed backend with the stale entry (RFC 5861
 * §4); stale-while-revalidate answers from the stale entry at once and
 * refreshes it once in the background (RFC 5861 §3: a background client,
 * see client_background).
 *
 *   Coalescing: concurrent GET misses for one key wait for the one
 *     fetch in flight (cache_lookup answers CACHE_ANSWER_WAIT). Once its
 *     head is storable they are served from it while it still streams:
 *     the stored head with Age and "Cache-Status: vane; fwd=uri-miss;
 *     collapsed", then the body from a shared buffer the fetcher's tee
 *     fills (cache_response_body), on their own worker
 *     (cache_wake_run, cache_stream_pump). A fetch that fails mid-body
 *     closes their connections short of the framing. When the head is
 *     not storable they go to the backend themselves and the key is
 *     marked hit-for-miss. See the "Coalescing" comment in cache.c.
 *
 * Lookups complete at once (the memory store) or later (Redis): then
 * cache_lookup answers CACHE_ANSWER_PENDING, the request head is kept
 * (reqhead) and the store's callback, on the client's own worker, goes
 * on as a coalescing wait's end does (serve or forward). A client that
 * goes while its lookup is pending cancels it (cache_tx_reset).
 *
 * Across instances (a store with a fetch lock: Redis), the request that
 * would fetch for its own process first takes the key's lock in the
 * store; when another instance holds it, it waits (bounded by
 * cache.redis.lock_timeout, polling the lock) and looks up again once the
 * lock is gone, with its process's waiters still behind it. See
 * "Cross-instance coalescing" in cache.c.
 */
#ifndef VANE_CACHE_H
#define VANE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "cache_policy.h"
#include "http_parse.h"

struct busy;
struct client;
struct config;
struct refresh;
struct cstream;
struct event;
struct evbuffer;
struct worker;
struct store_obj;
struct store_req;

/* Why the backend was asked (RFC 9211 fwd=). */
enum cache_fwd {
	CFWD_NONE = 0,		/* not through the cache (cache off) */
	CFWD_HIT,		/* answered from the cache */
	CFWD_URI_MISS,
	CFWD_VARY_MISS,
	CFWD_STALE,
	CFWD_REQUEST,		/* fresh, but the request said no-cache */
	CFWD_METHOD,
	CFWD_BYPASS,		/* not cacheable as a request (a body, no Host) */
};

/* What cache_lookup() says to do with a request. */
#define CACHE_ANSWER_FORWARD	0	/* ask the backend */
#define CACHE_ANSWER_HIT	1	/* cache_serve() */
#define CACHE_ANSWER_504	2	/* only-if-cached and nothing usable */
#define CACHE_ANSWER_WAIT	3	/* another request is fetching it: the
					 * client waits (cache_wake_run) */
#define CACHE_ANSWER_PENDING	4	/* the store answers later (Redis):
					 * the client waits as for WAIT, and
					 * the store's callback goes on */

/* One client transaction's cache state (struct client.cache). */
struct cache_tx {
	enum cache_fwd		 fwd;
	unsigned		 lookup:1;	/* a GET/HEAD the cache looked up */
	unsigned		 keep_req:1;	/* reqhead holds the request head */
	unsigned		 store:1;	/* teeing the response to store it */
	unsigned		 not_modified:1;	/* hit answered with 304 */
	unsigned		 range:1;	/* hit answered with a 206 of
						 * range_first..range_last */
	unsigned		 validating:1;	/* conditional sent for obj */
	unsigned		 fetcher:1;	/* others wait for this fetch */
	unsigned		 sie:1;		/* obj may answer a backend failure
						 * (stale-if-error, RFC 5861) */
	unsigned		 stale:1;	/* the hit is stale (max-stale) */
	unsigned		 no_coalesce:1;	/* hit-for-miss: never wait */
	unsigned		 swr:1;		/* the stale hit is served under
						 * stale-while-revalidate */
	unsigned		 collapsed:1;	/* served from another's fetch */
	unsigned		 subscribed:1;	/* in stream->readers */
	unsigned		 schunk:1;	/* stream sent chunked */
	int			 waiting;	/* CW_*: parked behind a fetcher
						 * (not a bit field: another
						 * worker writes it) */
	struct busy		*busy;		/* the fetch it leads or waits for */
	struct store_req	*sreq;		/* its lookup (or lock op), while
						 * pending */
	uint64_t		 lock_id;	/* holds the store's fetch lock
						 * (Redis), this id; 0: not */
	struct event		*lock_ev;	/* polls a lock another holds */
	uint64_t		 lock_until;	/* ms: waits no longer */
	uint64_t		 lock_delay;	/* ms, to the next poll */
	void			*lctx;		/* the lookup being answered at once
						 * (cache.c's struct lookup_ctx) */
	struct refresh		*refresh;	/* a background client: the
						 * refresh it runs (cache.c) */
	struct cstream		*fstream;	/* fetcher: the body it shares */
	struct cstream		*stream;	/* waiter: the body it is sent */
	size_t			 soff;		/* stream bytes sent so far */
	int			 notified;	/* stream has news for it (under
						 * the stream's lock) */
	TAILQ_ENTRY(client)	 sentry;	/* stream->readers */
	const char		*detail;	/* why not stored, or NULL */
	int			 fwd_status;	/* backend status a stored response
						 * answered for (fwd-status=), 0 */
	struct store_obj	*obj;		/* the hit being served */
	struct http_msg		 smsg;		/* its head, parsed */
	int64_t			 age;		/* of the hit */
	uint64_t		 range_first, range_last;
	int64_t			 req_time;	/* s, request sent */
	char			*key;		/* primary key */
	size_t			 keylen, keycap;
	char			*reqhead;	/* copy of the request head */
	size_t			 reqlen, reqcap;
	struct http_msg		 rmsg;		/* its parse, offsets into reqhead */
	struct http_field	*rfields;	/* rmsg's fields, or NULL */
	struct evbuffer		*shead;		/* head to store, without Content-Length */
	struct evbuffer		*body;		/* the tee */
	char			*vary;		/* secondary key */
	int			 varylen;
	char			*tags;		/* NUL-separated */
	size_t			 tagslen;
	unsigned		 ntags;
	struct cache_meta	 meta;
	uint8_t			*skip;		/* fields not to send, per index */
	char			 extra[160];	/* Age, Cache-Status field lines */
	char			 cond[320];	/* If-None-Match or If-Modified-Since line */
};

/* The cache's word on c's transaction for the access log: "hit",
 * "stale-hit", the Cache-Status fwd reason ("uri-miss", "stale" ...), or
 * "-" when the cache had no part in it. */
const char	*cache_log_status(const struct client *c);

/* The cache's settings from one generation's configuration (cfg must
 * outlive them). */
struct cache_conf	*cache_conf_new(const struct config *cfg);
void			 cache_conf_free(struct cache_conf *c);
/* The settings the calling thread's cache calls use from now on: a
 * worker's generation's, once at its start; the main thread's follow
 * the generation in force. */
void			 cache_conf_use(const struct cache_conf *c);
/* The key options in use on this thread (cache.key.*): the admin
 * listener's purges compute keys with them as lookups do. */
const struct cache_key_opts	*cache_key_options(void);

/*
 * A request head is complete (buf, c->req). Returns 1 when it is answered
 * from the cache: call cache_serve() once the head is consumed. Returns 0
 * to forward it (the transaction remembers what it needs for the answer).
 */
int	cache_lookup(struct client *c, const char *buf);
/* The request head is about to be consumed: keep its parse (c->req and
 * c->fields, which the cache takes over) for the answer, when needed. */
void	cache_keep_parsed(struct client *c);
/* Send the hit cache_lookup() chose, and finish the transaction. */
void	cache_serve(struct client *c);
/* A forwarded request's head is in uhead: add the conditional for the
 * stored response being revalidated, if any (RFC 9111 §4.3.1). While
 * c->cache.validating, uhead must outlive the send: a 304 that selects
 * nothing takes the conditional out of it again (CACHE_HEAD_RESEND). */
void	cache_amend_request(struct client *c, struct evbuffer *uhead);
/*
 * The backend's response head (buf, c->resp) before it goes to the
 * client: decide whether to store it and fill c->cache.extra and .skip
 * for the head writer. cache_response_tee() after the relay is set up.
 */
int	cache_response_head(struct client *c, const char *buf);
/* cache_response_head() answers: */
#define CACHE_HEAD_PASS		0	/* send the backend's head (and body) */
#define CACHE_HEAD_REPLACED	1	/* a 304 revalidated the stored response:
					 * cache.c wrote it to the client; the
					 * backend's answer has no body */
#define CACHE_HEAD_CLOSED	2	/* c was closed (out of memory) */
#define CACHE_HEAD_STALE	3	/* a 5xx: the stale stored response went
					 * to the client instead; drop the
					 * backend's answer */
#define CACHE_HEAD_RESEND	4	/* a 304 to vane's own conditional that
					 * selects no stored response (another
					 * validator, RFC 9111 §4.3.4): drop
					 * it (no body) and send c->uhead,
					 * now without the conditional, once
					 * more; not a retry */
void	cache_response_tee(struct client *c);
/* 1 while c fetches a response that requests collapsed on it are served
 * from as it streams (and that will be stored). */
int	cache_fetch_shared(const struct client *c);
/*
 * vane is about to answer status >= 500 for a backend failure: 1 when a
 * stale stored response allowed by stale-if-error went to the client
 * instead (the transaction is finished), else 0.
 */
int	cache_stale_on_error(struct client *c, int status);
/* Append the Cache-Status line of a response vane writes itself (an
 * error) to extra[0..len), when the request went through the cache. */
void	cache_error_status(struct client *c, char *extra, size_t len);
/* The response body ended; complete: it arrived whole as framed. */
void	cache_response_done(struct client *c, int complete);
/*
 * Fetcher: body bytes moved through the relay (and its tee) since the
 * last call; shares them with the coalesced waiters streaming it.
 * Returns 1 when the caller should stop reading the backend: past
 * cache.max_object_size the body is not stored, so it is not buffered
 * whole either, and the slowest reader lags that much behind.
 * cache_response_held() stays 1 until the readers catch up and wake
 * the fetcher (cache_wake_run), whose client_flush reads on.
 */
int	cache_response_body(struct client *c);
int	cache_response_held(struct client *c);
/* Requests woken because the fetch they waited for has a storable head,
 * has news for them, or ended: on their worker's thread, from its notify
 * pipe. */
void	cache_wake_run(struct worker *w);
/* A waiter streaming another's fetch has output room again: send more
 * (may finish the transaction or close c). No-op for other clients. */
void	cache_stream_pump(struct client *c);

/* Forget the transaction (response done, error or close). */
void	cache_tx_reset(struct client *c);
/* The connection is freed. */
void	cache_tx_free(struct client *c);

#endif
