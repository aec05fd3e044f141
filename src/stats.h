/*
 * stats.h: the counters of stats.def as a struct (L0). One struct per
 * worker, written only by that worker's thread.
 */
#ifndef VANE_STATS_H
#define VANE_STATS_H

#include <stdint.h>
#include <stdio.h>

struct stats {
#define STAT(name, kind, help)	uint64_t name;
#include "stats.def"
#undef STAT
};

/* Add every counter of src into dst. */
void	stats_add(struct stats *dst, const struct stats *src);
/* The same for the COUNTER kind only (gauges are left alone). */
void	stats_add_counters(struct stats *dst, const struct stats *src);
/* One "name value" line per counter, for logs and tests. */
void	stats_print(FILE *fp, const struct stats *s);

#endif
