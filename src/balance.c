/*
 * balance.c: which backend server takes the next request. See balance.h.
 *
 * Smooth weighted round-robin: every pick adds each eligible server's
 * weight to its current weight, takes the largest, and subtracts the total
 * from the winner. Over a cycle each server wins exactly its weight's share
 * and the winners interleave. Equal weights reduce to plain round-robin in
 * index order. A server that is not eligible keeps its current weight.
 */
#include <stddef.h>

#include "balance.h"

void
balance_init(struct balance *b, int n, int algo)
{
	int i;

	b->n = n;
	b->algo = algo;
	for (i = 0; i < BALANCE_MAX_SERVERS; i++)
		b->cw[i] = 0;
}

/* Smooth WRR among the servers of set. */
static int
pick_swrr(struct balance *b, uint64_t set, const int *ew)
{
	int64_t total = 0;
	int i, best = -1;

	for (i = 0; i < b->n; i++) {
		if ((set & (1ULL << i)) == 0)
			continue;
		b->cw[i] += ew[i];
		total += ew[i];
		if (best == -1 || b->cw[i] > b->cw[best])
			best = i;
	}
	if (best != -1)
		b->cw[best] -= total;
	return (best);
}

/* The servers of set with the least load relative to weight. */
static uint64_t
least_loaded(const struct balance *b, uint64_t set, const int *ew,
    const int *load)
{
	uint64_t tied = 0;
	int i, best = -1;

	for (i = 0; i < b->n; i++) {
		if ((set & (1ULL << i)) == 0)
			continue;
		/* load[i] / ew[i] < load[best] / ew[best], without division. */
		if (best == -1 || (int64_t)load[i] * ew[best] <
		    (int64_t)load[best] * ew[i]) {
			best = i;
			tied = 1ULL << i;
		} else if ((int64_t)load[i] * ew[best] ==
		    (int64_t)load[best] * ew[i])
			tied |= 1ULL << i;
	}
	return (tied);
}

int
balance_pick(struct balance *b, uint64_t eligible, const int *ew,
    const int *load)
{
	uint64_t set = eligible;
	int i;

	if (b->n < BALANCE_MAX_SERVERS)
		set &= (1ULL << b->n) - 1;
	for (i = 0; i < b->n && set != 0; i++)
		if (ew[i] <= 0)
			set &= ~(1ULL << i);
	if (set == 0)
		return (-1);
	if (b->algo == BALANCE_LEAST_CONN && load != NULL)
		set = least_loaded(b, set, ew, load);
	return (pick_swrr(b, set, ew));
}

int
balance_weight(int weight, uint64_t since_ms, uint64_t now_ms,
    uint64_t slow_start_ms)
{
	uint64_t full = (uint64_t)weight * BALANCE_SCALE, w;

	if (slow_start_ms == 0 || since_ms == 0 || now_ms >= since_ms +
	    slow_start_ms)
		return ((int)full);
	if (now_ms <= since_ms)
		return (1);
	w = full * (now_ms - since_ms) / slow_start_ms;
	return (w < 1 ? 1 : (int)w);
}
