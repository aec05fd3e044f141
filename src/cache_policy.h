/*
 * cache_policy.h: what RFC 9111 (HTTP Caching, as a shared cache), the
 * cache parts of RFC 9110, RFC 5861 (stale-while-revalidate,
 * stale-if-error) and RFC 9213 (targeted cache control) say about one
 * request and one response. Layer L1.
 *
 * Pure code: libc only, no I/O, no clock (every time is `now`, int64_t
 * seconds since the epoch, passed in), no allocation. Messages are the
 * strict parser's (http_parse.h): a head buffer plus a struct http_msg whose
 * fields are offset spans into it. Every function takes (buf, msg) pairs.
 *
 * How the runtime uses it (client.c / upstream.c / the store):
 *
 *   lookup:   cache_key() -> primary key bytes (scheme://host/target).
 *             For each stored variant under that key:
 *             cache_vary_match(stored vary key, request) picks the variant.
 *             cache_decide(&d, &obj->meta, req) says FRESH / STALE /
 *             STALE_REVALIDATE / VALIDATE / GATEWAY_TIMEOUT, plus d.age
 *             (send "Age: d.age" on every answer from the cache).
 *             On a hit, cache_not_modified(req, stored head) says whether
 *             the client's own conditional gets a 304 instead, and
 *             cache_range() whether a Range gets a 206 of the stored body.
 *   validate: cache_conditional() writes the If-None-Match or
 *             If-Modified-Since line to add to the forwarded request.
 *             On 304: cache_304_selects() checks it matches the object
 *             (cache_304_selects_own() when vane built the conditional);
 *             the new head is the stored fields, each replaced by the
 *             304's fields of the same name when cache_304_field_updates()
 *             says so (RFC 9111 §3.2); then cache_meta_fill() again with
 *             the new request/response times. On 5xx or no backend, serve
 *             the stale object when d.stale_if_error. A 200 to a HEAD
 *             vane forwarded freshens or stales stored GET responses
 *             (cache_head_updates, §4.3.5).
 *   store:    cache_storable() == CACHE_OK (else cache_reason_str() is the
 *             Cache-Status detail=), cache_meta_fill() -> struct cache_meta
 *             kept with the object, cache_vary_key() -> the request's
 *             values for the Vary fields, kept as bytes with the object.
 *             Store only the fields for which cache_store_field() says 1.
 *   forward:  before any response goes to the client, drop the fields for
 *             which cache_strip_field() says 1 (the vane-only targeted
 *             field; CDN-Cache-Control is forwarded, RFC 9213 §2.2).
 *   unsafe:   cache_invalidations() lists the keys to drop after a
 *             non-error response to POST/PUT/DELETE/... (RFC 9111 §4.4).
 *
 * Decisions (documented here once):
 *  - Only responses to GET are stored. A response to HEAD is never stored
 *    (it has no body, and a later GET could not be answered from it); a
 *    HEAD request is answered from a stored GET response (RFC 9110 §9.3.2).
 *  - A response with Set-Cookie is not stored (reason "set-cookie"): a
 *    shared cache must not hand one user's cookie to another, and storing
 *    the response without it would change what the origin meant.
 *  - 206 is not stored (no range assembly, RFC 9111 §3.3/§3.4): "status".
 *    A hit on a stored 200 answers a single byte range with a 206 cut from
 *    the stored body (RFC 9110 §14.2, §15.3.7); other Range requests get
 *    the whole 200.
 *  - A storable response that can never be reused (freshness lifetime 0,
 *    no validator, no stale-if-error) is not stored: "no-freshness".
 *  - Invalid max-age / s-maxage values (max-age="abc", max-age=-1) make the
 *    response stale: RFC 9111 §4.2.1 encourages treating invalid freshness
 *    information as stale (CC_INVALID_FRESHNESS, lifetime 0, Expires not
 *    consulted). Invalid values of request directives and of stale-* make
 *    the directive ignored. Duplicated directives: the first occurrence
 *    counts (§4.2.1); in a targeted field the last, as Structured Fields
 *    dictionaries say (RFC 8941 §4.2.2). Quoted values (max-age="60") are
 *    accepted like tokens in Cache-Control, not in targeted fields (a
 *    String is not an Integer, RFC 9213 §2.1).
 *  - A targeted field that does not parse as a dictionary is ignored as a
 *    whole (RFC 9213 §2.1); one that parses makes vane ignore
 *    Cache-Control and Expires (§2.2). The vane-only field stays in the
 *    stored head (the policy re-reads it) and is dropped on every send.
 *  - Qualified no-cache="f" and private="f": the response is stored
 *    without the listed fields (cache_store_field), so a hit never sends
 *    them (§5.2.2.4 allows sending them only after revalidation, §5.2.2.7
 *    forbids storing them).
 *  - must-understand: vane understands every status of RFC 9110 §15, so
 *    for those it ignores no-store (§5.2.2.3); for others it refuses.
 *  - Validation sends If-None-Match when the stored response has an ETag,
 *    else If-Modified-Since with its Last-Modified (RFC 9111 §4.3.1).
 *  - must-revalidate, proxy-revalidate and s-maxage (§5.2.2.10) forbid
 *    serving stale in every form, stale-if-error and
 *    stale-while-revalidate included (RFC 9111 §4.2.4 is more restrictive
 *    than RFC 5861's extensions).
 */
#ifndef VANE_CACHE_POLICY_H
#define VANE_CACHE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

/* RFC 9111 §1.2.2: delta-seconds saturate at 2^31. */
#define CACHE_DELTA_MAX		2147483648LL

/* Options (from the cache section of the config). */
struct cache_opts {
	const char	*vane_cc_name;	/* vane-only targeted field; NULL: none */
	int		 honour_cdn_cc;	/* obey CDN-Cache-Control (RFC 9213) */
	int64_t		 heuristic_cap;	/* max heuristic lifetime, seconds */
};

/* "Vane-Cache-Control", honour CDN-Cache-Control, cap 1 day. */
void	cache_opts_default(struct cache_opts *o);

/*
 * Cache-Control directives (RFC 9111 §5.2), request or response.
 */
#define CC_MAX_AGE		0x00001
#define CC_S_MAXAGE		0x00002
#define CC_NO_CACHE		0x00004	/* unqualified */
#define CC_NO_STORE		0x00008
#define CC_PRIVATE		0x00010	/* unqualified */
#define CC_PUBLIC		0x00020
#define CC_MUST_REVALIDATE	0x00040
#define CC_PROXY_REVALIDATE	0x00080
#define CC_MUST_UNDERSTAND	0x00100
#define CC_NO_TRANSFORM		0x00200
#define CC_IMMUTABLE		0x00400	/* RFC 8246 */
#define CC_SWR			0x00800	/* stale-while-revalidate, RFC 5861 */
#define CC_SIE			0x01000	/* stale-if-error, RFC 5861 */
#define CC_ONLY_IF_CACHED	0x02000
#define CC_MAX_STALE		0x04000	/* max_stale -1: any staleness */
#define CC_MIN_FRESH		0x08000
#define CC_NO_CACHE_FIELDS	0x10000	/* no-cache="a, b" */
#define CC_PRIVATE_FIELDS	0x20000	/* private="a, b" */
#define CC_PRAGMA_NO_CACHE	0x40000	/* request: Pragma: no-cache, no CC */
#define CC_INVALID_FRESHNESS	0x80000	/* max-age/s-maxage had a bad value */

struct cc_directives {
	uint32_t	 flags;		/* CC_* */
	int64_t		 max_age;	/* valid when the flag is set */
	int64_t		 s_maxage;
	int64_t		 max_stale;	/* -1: max-stale without a value */
	int64_t		 min_fresh;
	int64_t		 swr;
	int64_t		 sie;
	/* Field-name lists of the qualified forms, pointing into the parsed
	 * value (no escapes processed); the first occurrence. */
	const char	*no_cache_fields;
	size_t		 no_cache_fields_len;
	const char	*private_fields;
	size_t		 private_fields_len;
};

void	cc_init(struct cc_directives *d);

/*
 * Add the directives of one Cache-Control field value s[0..len) to d
 * (classic syntax: token[=token|quoted-string], comma-separated, names
 * case-insensitive). Unknown directives are ignored. Never fails.
 */
void	cc_parse_value(struct cc_directives *d, const char *s, size_t len);

/*
 * Parse a targeted field value (RFC 9213 §2.1: a Structured Fields
 * Dictionary, RFC 8941 §3.2) into d. Returns 0, or -1 if the value is
 * empty or not a valid dictionary: the caller then ignores the field
 * entirely (d is left in an unspecified state).
 */
int	cc_parse_targeted(struct cc_directives *d, const char *s, size_t len);

/* Which field gave a response's directives (RFC 9213 §2.2). */
enum cache_cc_source {
	CACHE_CC_NONE = 0,	/* no Cache-Control at all */
	CACHE_CC_STANDARD,	/* Cache-Control (Expires honoured) */
	CACHE_CC_CDN,		/* CDN-Cache-Control (Cache-Control, Expires ignored) */
	CACHE_CC_VANE		/* the vane-only field (same) */
};

/*
 * The directives vane obeys for a response: the vane-only field if present
 * and valid, else CDN-Cache-Control (if honoured, present and valid), else
 * every Cache-Control field combined. Returns the source.
 */
enum cache_cc_source	cache_response_cc(struct cc_directives *d,
	    const char *buf, const struct http_msg *resp,
	    const struct cache_opts *o);

/*
 * The request's directives: every Cache-Control field combined; without
 * any Cache-Control, "Pragma: no-cache" sets CC_NO_CACHE and
 * CC_PRAGMA_NO_CACHE (RFC 9111 §5.4).
 */
void	cache_request_cc(struct cc_directives *d, const char *buf,
	    const struct http_msg *req);

/*
 * 1 if a field of a response must not reach the client (the vane-only
 * targeted field, RFC 9213 §2.2), else 0. Applies to fresh responses and to
 * hits alike, since the store keeps the field.
 */
int	cache_strip_field(const char *buf, const struct http_field *f,
	    const struct cache_opts *o);

/*
 * Dates and numbers (RFC 9110 §5.6.7, RFC 9111 §5.1).
 */

/*
 * An HTTP-date in any of the three formats (IMF-fixdate, RFC 850,
 * asctime) to seconds since the epoch; -1 if invalid. RFC 850 two-digit
 * years more than 50 years ahead of `now` are taken in the past century
 * (RFC 9110 §5.6.7); now <= 0 stands for the year 2000. Years before
 * 1970 are invalid. Names ("Thu", "Aug", "GMT") match in any case, as
 * RFC 9111 §4.2 asks of a cache recipient.
 */
int64_t	cache_parse_http_date(const char *s, size_t len, int64_t now);

/* Write t as an IMF-fixdate (29 bytes + NUL) into out[30]. */
void	cache_format_http_date(char *out, int64_t t);

/*
 * The Age of a message: the first member of the first Age field (a
 * list-valued Age is read as its first member, RFC 9111 §5.1), saturated
 * at 2^31; -1 if absent or not a non-negative integer (then ignored).
 */
int64_t	cache_age_value(const char *buf, const struct http_msg *m);

/*
 * Storability (RFC 9111 §3).
 */
enum cache_reason {
	CACHE_OK = 0,
	CACHE_R_METHOD,		/* not a GET */
	CACHE_R_STATUS,		/* not final, 206, 304, or not cacheable without explicit freshness */
	CACHE_R_NO_STORE,	/* no-store in the request or the response */
	CACHE_R_PRIVATE,	/* unqualified private: shared cache */
	CACHE_R_AUTHORIZATION,	/* §3.5 */
	CACHE_R_SET_COOKIE,	/* see the decision above */
	CACHE_R_VARY_STAR,	/* Vary: * can never be reused */
	CACHE_R_INCOMPLETE,	/* §3.3 */
	CACHE_R_NO_FRESHNESS,	/* never reusable: no lifetime, no validator */
	CACHE_R_MUST_UNDERSTAND	/* must-understand with a status we do not know */
};

/* Short stable string for Cache-Status detail= ("no-store"), "" for OK. */
const char	*cache_reason_str(enum cache_reason r);

/*
 * May vane store resp (the answer to req)? `complete` is 1 when the whole
 * body arrived as framed (Content-Length reached, last chunk seen, or the
 * close of a close-delimited body), 0 otherwise; now is the response time
 * (it stands for a missing Date). Returns CACHE_OK or the first reason
 * found, checked in the enum's order (method, status, no-store, ...).
 * The caller may call it on the head alone with complete = 1 to decide
 * whether to tee the body, then again when the body ends.
 */
enum cache_reason	cache_storable(const char *reqbuf,
	    const struct http_msg *req, const char *respbuf,
	    const struct http_msg *resp, int complete, int64_t now,
	    const struct cache_opts *o);

/*
 * 1 if field f of a response to be stored may be stored, 0 if not:
 * hop-by-hop fields (and those named in Connection), Proxy-Authenticate /
 * Proxy-Authentication-Info (RFC 9111 §3.1), and the fields named by a
 * qualified private= or no-cache= directive of d (from cache_response_cc).
 */
int	cache_store_field(const char *buf, const struct http_field *f,
	    const struct cc_directives *d);

/* 1 if the status is heuristically cacheable (RFC 9110 §15.1). */
int	cache_status_heuristic(int status);

/*
 * What the store keeps per object (all times in seconds since the epoch,
 * -1 where absent), filled once at store time (and again after a 304).
 */
#define CM_MUST_REVALIDATE	0x01	/* must-/proxy-revalidate or s-maxage: never stale */
#define CM_NO_CACHE		0x02	/* unqualified no-cache: validate every time */
#define CM_HEURISTIC		0x04	/* lifetime from Last-Modified */
#define CM_IMMUTABLE		0x08
#define CM_HAS_ETAG		0x10
#define CM_HAS_LAST_MODIFIED	0x20

struct cache_meta {
	int64_t		 request_time;	/* when vane sent the request */
	int64_t		 response_time;	/* when the response head arrived */
	int64_t		 date_value;	/* Date, or response_time without one */
	int64_t		 age_value;	/* Age, 0 without a valid one */
	int64_t		 corrected_initial_age;	/* §4.2.3 */
	int64_t		 freshness_lifetime;	/* §4.2.1 / §4.2.2 */
	int64_t		 last_modified;	/* -1: none */
	int64_t		 swr;		/* stale-while-revalidate, -1: none */
	int64_t		 sie;		/* stale-if-error, -1: none */
	uint32_t	 flags;		/* CM_* */
	int		 status;
	enum cache_cc_source	cc_source;
};

/* Fill cm from a response to store, with the times around its fetch. */
void	cache_meta_fill(struct cache_meta *cm, const char *respbuf,
	    const struct http_msg *resp, int64_t request_time,
	    int64_t response_time, const struct cache_opts *o);

/* §4.2.3 current_age at now (never negative, saturated). */
int64_t	cache_current_age(const struct cache_meta *cm, int64_t now);

/* 1 while fresh (§4.2: freshness_lifetime > current_age). */
int	cache_is_fresh(const struct cache_meta *cm, int64_t now);

/*
 * How long the store should keep the object: lifetime plus the longest
 * stale allowance (stale-while-revalidate, stale-if-error), measured from
 * now; the store may keep it longer if it has a validator.
 */
int64_t	cache_ttl(const struct cache_meta *cm, int64_t now);

/*
 * A stale response with a validator is kept this long past its usable
 * time, so that it can be revalidated with a 304 instead of fetched
 * again (RFC 9111 §4.3); the store's LRU (or Redis's maxmemory policy)
 * frees it sooner under pressure.
 */
#define CACHE_KEEP_VALIDATABLE	86400

/*
 * How long from now a store keeps an object described by cm: cache_ttl()
 * plus CACHE_KEEP_VALIDATABLE when it has a validator (ETag or
 * Last-Modified). 0: nothing worth keeping. One formula for every store:
 * the memory store's drop_after and the Redis TTL (store_codec_ttl) both
 * come from it. cache.c's keep_for() is the same formula, written before
 * this existed; it should call this one.
 */
int64_t	cache_keep_for(const struct cache_meta *cm, int64_t now);

/*
 * Serving decision for a GET or HEAD request against a stored object
 * (RFC 9111 §4.2, §4.2.4, §5.2.1; RFC 5861).
 */
enum cache_serve {
	CACHE_SERVE_FRESH = 0,	/* answer from the store */
	CACHE_SERVE_STALE,	/* stale, allowed by the request's max-stale */
	CACHE_SERVE_STALE_REVALIDATE,	/* stale within stale-while-revalidate:
					 * answer now, revalidate in background */
	CACHE_SERVE_VALIDATE,	/* forward a conditional request first */
	CACHE_SERVE_GATEWAY_TIMEOUT	/* only-if-cached and not servable: 504 */
};

struct cache_decision {
	enum cache_serve	 what;
	int64_t			 age;		/* the Age field to send */
	int64_t			 staleness;	/* age - lifetime, 0 if fresh */
	int			 stale_if_error;	/* on VALIDATE: the stale object
						 * may answer a 5xx or an
						 * unreachable backend */
};

/*
 * Only for GET and HEAD requests whose key and Vary matched the object.
 * FRESH, STALE and STALE_REVALIDATE answer from the store (then check
 * cache_not_modified for the client's own conditional); VALIDATE forwards
 * with cache_conditional(); GATEWAY_TIMEOUT answers 504 (§5.2.1.7).
 */
void	cache_decide(struct cache_decision *d, const struct cache_meta *cm,
	    const char *reqbuf, const struct http_msg *req, int64_t now);

/*
 * Validation (RFC 9111 §4.3).
 */

/*
 * Write the conditional header line ("If-None-Match: <etag>\r\n" or
 * "If-Modified-Since: <date>\r\n") for revalidating a stored response into
 * out[0..cap). Returns its length, 0 if the stored response has no
 * validator (the request goes unconditional), -1 if it does not fit.
 */
int	cache_conditional(char *out, size_t cap, const char *storedbuf,
	    const struct http_msg *stored);

/*
 * The request head a cache sends on its own to refresh a stored response
 * in the background (stale-while-revalidate, RFC 5861 §3), made from the
 * request that found it stale: "GET target" and its version (a HEAD asks
 * for the whole response, which is what gets stored; an HTTP/1.0 request
 * may have no Host, which 1.1 requires) and that request's fields
 * but for the ones that make it the client's own question rather than the
 * cache's: its preconditions (If-*: the cache adds its own validator with
 * cache_conditional(), §4.3.1; a 304 to the client's would update
 * nothing), Range (the whole representation is refreshed, §3.3) and
 * Expect (no body follows). Writes the complete head, final CRLF
 * included, to out[0..cap); req->head_len + req->nfields + 16 bytes
 * always suffice (a field line gets the one SP after its colon).
 * Returns its length, or -1 if it does not fit.
 */
int	cache_refresh_request(char *out, size_t cap, const char *reqbuf,
	    const struct http_msg *req);

/*
 * 1 if a 304 (buf304, m304) selects the stored response for update
 * (§4.3.4), 0 if it must not update it. Call it for each stored variant
 * that matched the request (key and Vary). A strong ETag in the 304
 * selects only a stored response with the same strong ETag; a weak ETag
 * and/or Last-Modified (weak validators) select a stored response whose
 * validators match (for weak ETags: the most recent such response, which
 * the caller picks); a 304 without any validator selects a stored response
 * without any, and §4.3.4 allows that only when it is the only candidate
 * (the caller checks).
 */
int	cache_304_selects(const char *storedbuf, const struct http_msg *stored,
	    const char *buf304, const struct http_msg *m304);

/*
 * cache_304_selects() for a 304 answering a conditional that vane itself
 * built from this one stored response's validators (the client's request
 * had none): a 304 that carries no validator at all selects it too. Its
 * condition can only be the one vane sent, and "a 304 (Not Modified)
 * response status code indicates that the stored response can be updated
 * and reused" (RFC 9111 §4.3.3); origins often leave ETag out of a 304
 * although RFC 9110 §15.4.5 asks for it. Not selecting it would cost a
 * second, unconditional request for every such revalidation. A 304 whose
 * validators name another representation still selects nothing: the
 * request goes again without the conditional (cache.c, §4.3.4).
 */
int	cache_304_selects_own(const char *storedbuf,
	    const struct http_msg *stored, const char *buf304,
	    const struct http_msg *m304);

/*
 * RFC 9111 §4.3.5, freshening with HEAD: after a 200 to a HEAD request
 * vane forwarded, 1 if the stored GET response (whose body is stored_len
 * bytes) is updated with the HEAD response's fields (as for a 304, with
 * cache_304_field_updates), 0 if it must be treated as stale instead (a
 * validator or the Content-Length differs), -1 if the HEAD response is
 * not a 200 (nothing to do).
 */
int	cache_head_updates(const char *storedbuf, const struct http_msg *stored,
	    uint64_t stored_len, const char *headbuf,
	    const struct http_msg *head);

/*
 * 1 if field f of a 304 replaces the stored fields of the same name
 * (RFC 9111 §3.2), 0 if it is left out: Content-Length, hop-by-hop fields
 * and those named in Connection, Proxy-Authenticate(-Info).
 */
int	cache_304_field_updates(const char *buf, const struct http_field *f);

/*
 * The client's own conditional against the stored response: 1 if the
 * answer is 304 Not Modified. If-None-Match (weak comparison, "*" matches,
 * RFC 9110 §13.1.2); If-Modified-Since only without If-None-Match and for
 * GET/HEAD, against Last-Modified (or Date) of the stored response
 * (RFC 9110 §13.1.3, RFC 9111 §4.3.2). An invalid date is ignored, and so
 * are all conditionals when the stored response is not a 2xx (§13.2.1).
 */
int	cache_not_modified(const char *reqbuf, const struct http_msg *req,
	    const char *storedbuf, const struct http_msg *stored);

/*
 * The one byte range a GET asks of a stored complete 200 response of len
 * body bytes (RFC 9110 §14.2): 1 with the range in [*first, *last] for a
 * single satisfiable "bytes=" range-spec (first-last, first-, -suffix;
 * a last beyond the end is cut to it). 0 when the whole 200 is sent
 * instead, which §14.2 allows for any Range ("A server MAY ignore the
 * Range header field"): no or several Range fields, another unit, several
 * ranges, an invalid or unsatisfiable one, another method or status, and
 * with If-Range (its answer is then the full 200 either way, §13.1.5).
 */
int	cache_range(const char *reqbuf, const struct http_msg *req,
	    int status, uint64_t len, uint64_t *first, uint64_t *last);

/* Weak/strong entity-tag comparison (RFC 9110 §8.8.3.2), raw tags. */
int	cache_etag_weak_eq(const char *a, size_t alen, const char *b,
	    size_t blen);
int	cache_etag_strong_eq(const char *a, size_t alen, const char *b,
	    size_t blen);

/*
 * Vary (RFC 9111 §4.1).
 */

/* 1 if the response has Vary: * (in any Vary field). */
int	cache_vary_star(const char *respbuf, const struct http_msg *resp);

/*
 * The secondary key: for each field name listed by the response's Vary
 * fields (in order, first occurrence), "name" lowercased, then ":" and the
 * request's value (repeated fields combined with ", ", OWS around commas
 * removed, runs of OWS inside a value made one SP) if the request has the
 * field, and "\n". An absent field ("name\n") only matches an absent one.
 * Returns the length written to out[0..cap), -1 if it does not fit, -2 for
 * Vary: *. A response without Vary gives 0 (the empty key).
 */
int	cache_vary_key(char *out, size_t cap, const char *respbuf,
	    const struct http_msg *resp, const char *reqbuf,
	    const struct http_msg *req, int flags);
/* flags: Accept-Encoding is keyed as http_accept_gzip reduces it ("gzip",
 * "identity" or absent), for requests forwarded with it reduced so
 * (cache.normalize_accept_encoding). */
#define CACHE_VARY_AE	0x1

/*
 * 1 if a new request matches a stored variant whose secondary key (from
 * cache_vary_key at store time) is key[0..len). A request value longer
 * than 4 KiB after normalisation never matches (no allocation here).
 */
int	cache_vary_match(const char *key, size_t len, const char *reqbuf,
	    const struct http_msg *req, int flags);

/*
 * Invalidation (RFC 9111 §4.4).
 */
struct cache_inval {
	int		n;		/* 0..3 */
	struct {
		uint32_t	off;	/* into the caller's buffer */
		uint32_t	len;
	}		uri[3];		/* target, Location, Content-Location */
};

/*
 * After a response to an unsafe method (anything but GET, HEAD, OPTIONS,
 * TRACE) with a 2xx or 3xx status, write the URIs to invalidate into
 * out[0..cap) in the primary-key form "scheme://host/path?query" (what
 * cache_key() gives without key options): the target, then Location and
 * Content-Location when same-origin (same scheme and authority, default
 * ports equal to none), resolved against the target per RFC 3986 §5.2
 * (relative references merged, dot segments removed, fragment dropped;
 * percent-encoding left as sent). The target itself is taken as received,
 * like the key. Returns iv->n (0 when nothing is invalidated), -1 if out
 * is too small.
 */
int	cache_invalidations(char *out, size_t cap, struct cache_inval *iv,
	    const char *scheme, const char *reqbuf, const struct http_msg *req,
	    const char *respbuf, const struct http_msg *resp);

/*
 * Cache key.
 */
struct cache_key_opts {
	const char *const	*drop_params;	/* query parameter names to ignore */
	size_t			 ndrop;
	const char *const	*add_headers;	/* request fields whose values join the key */
	size_t			 nadd;
};

/*
 * Primary key of a request: scheme "://" host (lowercased, a default
 * port (80 for http, 443 for https) or an empty one dropped; from the
 * absolute-form target or Host) then the target (path and query as
 * received, in order; "/" for an empty absolute-form path), with the query
 * parameters named in ko->drop_params removed (exact, case-sensitive name
 * before '='), then for each ko->add_headers "\n" name ":" value (repeated
 * fields combined with ", "). ko may be NULL. Returns the length written
 * to out (not NUL-terminated), or -1 if it does not fit or the request
 * has no host.
 */
int	cache_key(char *out, size_t cap, const char *scheme,
	    const char *reqbuf, const struct http_msg *req,
	    const struct cache_key_opts *ko);

#endif
