/*
 * stats.c: operations over struct stats, generated from stats.def so that
 * a new counter needs one line there and nothing here.
 */
#include <inttypes.h>

#include "stats.h"

void
stats_add(struct stats *dst, const struct stats *src)
{
#define STAT(name, kind, help)	dst->name += src->name;
#include "stats.def"
#undef STAT
}

void
stats_add_counters(struct stats *dst, const struct stats *src)
{
#define STAT(name, kind, help)	if (STAT_##kind) dst->name += src->name;
#define STAT_COUNTER	1
#define STAT_GAUGE	0
#include "stats.def"
#undef STAT_GAUGE
#undef STAT_COUNTER
#undef STAT
}

void
stats_print(FILE *fp, const struct stats *s)
{
#define STAT(name, kind, help) \
	fprintf(fp, "%s %" PRIu64 "\n", #name, s->name);
#include "stats.def"
#undef STAT
}
