/*
 * backend.c: the backend server table and the state the workers share
 * about each server. See backend.h for who writes what.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "balance.h"
#include "config.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define LOAD(x)		atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v)	atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* The TLS client of server i: its name is tls_server_name, else the
 * host of its address as written. */
static int
backend_tls(const struct config *cfg, int i, struct server *s, char *err,
    size_t errlen)
{
	const struct cfg_server *cs = &cfg->backends_servers[i];
	const char *name = cs->tls_server_name;
	char host[256], why[512];

	if (!cs->tls) {
		if (cs->tls_ca != NULL || name != NULL || !cs->tls_verify)
			log_warn("%s:%d: backend server %s: tls_ca, "
			    "tls_server_name and tls_verify have no effect "
			    "without tls = true", cfg->path, cs->line,
			    cs->address.text);
		return (0);
	}
	if (name == NULL && *(name = address_host(cs->address.text, host,
	    sizeof(host))) == '\0')
		name = NULL;
	if ((s->tls = tls_client_new(cs->tls_ca, name, cs->tls_verify, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s:%d: backend server %s: %s", cfg->path,
		    cs->line, cs->address.text, why);
		return (-1);
	}
	return (0);
}

int
backend_init(const struct config *cfg, struct server **out, char *err,
    size_t errlen)
{
	struct server *s;
	int i, n = cfg->nbackends_servers;

	s = xcalloc((size_t)n, sizeof(*s));
	for (i = 0; i < n; i++) {
		if (backend_tls(cfg, i, &s[i], err, errlen) == -1) {
			backend_free(s, n);
			return (-1);
		}
		s[i].idx = i;
		memcpy(&s[i].ss, &cfg->backends_servers[i].address.ss,
		    sizeof(s[i].ss));
		s[i].sslen = cfg->backends_servers[i].address.len;
		s[i].weight = (int)cfg->backends_servers[i].weight;
		s[i].max_conns = (int)cfg->backends_servers[i].max_conns;
		format_address((struct sockaddr *)&s[i].ss, s[i].name,
		    sizeof(s[i].name));
		s[i].slow_start = cfg->backends_slow_start;
		s[i].fail_timeout = cfg->backends_fail_timeout;
		s[i].max_fails = n < 2 ? 0 : (int)cfg->backends_max_fails;
		atomic_store(&s[i].up, 1);
	}
	*out = s;
	return (n);
}

void
backend_free(struct server *s, int n)
{
	int i;

	for (i = 0; s != NULL && i < n; i++)
		tls_client_free(s[i].tls);
	free(s);
}

static int
is_alive(const struct server *s, uint64_t now)
{
	return (LOAD(s->up) && !LOAD(s->drain) && LOAD(s->down_until) <= now);
}

void
backend_masks(const struct server *s, int n, uint64_t now, uint64_t *alive,
    uint64_t *free)
{
	uint64_t a = 0, f = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!is_alive(&s[i], now))
			continue;
		a |= 1ULL << i;
		if (s[i].max_conns == 0 || LOAD(s[i].inflight) < s[i].max_conns)
			f |= 1ULL << i;
	}
	*alive = a;
	*free = f;
}

void
backend_weights(const struct server *s, int n, uint64_t now, int *ew)
{
	uint64_t since, until;
	int i;

	for (i = 0; i < n; i++) {
		/* Back from active checks or from passive ones: whichever
		 * happened last starts the ramp. */
		since = LOAD(s[i].up_since);
		until = LOAD(s[i].down_until);
		if (until > since)
			since = until;
		ew[i] = balance_weight(s[i].weight, since, now,
		    s[i].slow_start);
	}
}

void
backend_loads(const struct server *s, int n, int *load)
{
	int i;

	for (i = 0; i < n; i++)
		load[i] = LOAD(s[i].inflight);
}

int
backend_acquire(struct server *s)
{
	int v = LOAD(s->inflight);

	do {
		if (s->max_conns != 0 && v >= s->max_conns)
			return (-1);
	} while (!atomic_compare_exchange_weak_explicit(&s->inflight, &v,
	    v + 1, memory_order_relaxed, memory_order_relaxed));
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
	return (0);
}

void
backend_release(struct server *s)
{
	atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
}

void
backend_failed(struct server *s, uint64_t now, const char *why)
{
	uint64_t start, window = s->fail_timeout;
	int n;

	atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
	/* max_fails is 0 for a single server: it is never left out, there
	 * is nothing to send its requests to instead (nginx does the same). */
	if (s->max_fails == 0)
		return;
	if (LOAD(s->down_until) > now)
		return;		/* already out */
	start = LOAD(s->fail_start);
	if (LOAD(s->fails) == 0 || now >= start + window) {
		STORE(s->fail_start, now);
		STORE(s->fails, 0);
	}
	n = atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1;
	if (n < s->max_fails)
		return;
	STORE(s->fails, 0);
	STORE(s->down_until, now + window);
	log_notice("backend %s is left out for %llu ms after %d failure(s): "
	    "%s", s->name, (unsigned long long)window, n, why);
}

void
backend_succeeded(struct server *s)
{
	if (LOAD(s->fails) != 0)
		STORE(s->fails, 0);
}

const char *
backend_state(const struct server *s, uint64_t now)
{
	if (!LOAD(s->up))
		return ("down");
	if (LOAD(s->drain))
		return ("drain");
	if (LOAD(s->down_until) > now)
		return ("failed");
	return ("up");
}

void
backend_carry(struct server *s, int n, const struct server *old, int nold)
{
	const struct server *o;
	int i, j;

	for (i = 0; i < n; i++) {
		if ((j = backend_find(old, nold, s[i].name)) == -1)
			continue;
		o = &old[j];
		STORE(s[i].up, LOAD(o->up));
		STORE(s[i].up_since, LOAD(o->up_since));
		STORE(s[i].drain, LOAD(o->drain));
		STORE(s[i].down_until, LOAD(o->down_until));
		STORE(s[i].requests, LOAD(o->requests));
		STORE(s[i].failures, LOAD(o->failures));
		STORE(s[i].checks, LOAD(o->checks));
		STORE(s[i].checks_failed, LOAD(o->checks_failed));
		STORE(s[i].check_ms, LOAD(o->check_ms));
		memcpy(s[i].check_reason, o->check_reason,
		    sizeof(s[i].check_reason));
	}
}

int
backend_find(const struct server *s, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return (i);
	return (-1);
}
