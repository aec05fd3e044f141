/*
 * balance.c: which backend server takes the next request. Plain
 * round-robin over the servers that are up and not yet tried for this
 * request (h2o's tried set: a retry never lands on the same server twice).
 */
#include "balance.h"

void
balance_init(struct balance *b, int n)
{
	b->n = n;
	b->next = 0;
}

int
balance_pick(struct balance *b, uint64_t up_mask, uint64_t tried_mask)
{
	int i, idx;

	for (i = 0; i < b->n; i++) {
		idx = (b->next + i) % b->n;
		if ((up_mask & (1ULL << idx)) != 0 &&
		    (tried_mask & (1ULL << idx)) == 0) {
			b->next = (idx + 1) % b->n;
			return (idx);
		}
	}
	return (-1);
}
