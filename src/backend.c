/*
 * backend.c: the backend server table. See backend.h.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "util.h"

int
backend_init(const struct config *cfg, struct server **out)
{
	struct server *s;
	int i, n = cfg->nbackends_servers;

	s = xcalloc((size_t)n, sizeof(*s));
	for (i = 0; i < n; i++) {
		s[i].idx = i;
		memcpy(&s[i].ss, &cfg->backends_servers[i].address.ss,
		    sizeof(s[i].ss));
		s[i].sslen = cfg->backends_servers[i].address.len;
		format_address((struct sockaddr *)&s[i].ss, s[i].name,
		    sizeof(s[i].name));
		atomic_store(&s[i].up, 1);
	}
	*out = s;
	return (n);
}

void
backend_free(struct server *s, int n)
{
	(void)n;
	free(s);
}

uint64_t
backend_up_mask(const struct server *s, int n)
{
	uint64_t m = 0;
	int i;

	for (i = 0; i < n; i++)
		if (atomic_load_explicit(&s[i].up, memory_order_relaxed))
			m |= 1ULL << i;
	return (m);
}
