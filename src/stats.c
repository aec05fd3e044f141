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
stats_print(FILE *fp, const struct stats *s)
{
#define STAT(name, kind, help) \
	fprintf(fp, "%s %" PRIu64 "\n", #name, s->name);
#include "stats.def"
#undef STAT
}
