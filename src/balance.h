/*
 * balance.h: picking a backend server (L1, pure). Round-robin over the
 * servers that are up, skipping the ones already tried for this request.
 * Issue 2 extends it to smooth weighted round-robin and slow start; the
 * interface already takes the tried set and the up flags for that.
 */
#ifndef VANE_BALANCE_H
#define VANE_BALANCE_H

#include <stdint.h>

#define BALANCE_MAX_SERVERS	64	/* tried sets are one uint64_t */

struct balance {
	int		n;	/* number of servers */
	int		next;	/* round-robin cursor */
};

void	balance_init(struct balance *b, int n);
/*
 * Next server index: the first one after the cursor whose bit is set in
 * up_mask and not in tried_mask. Returns -1 if none qualifies.
 */
int	balance_pick(struct balance *b, uint64_t up_mask, uint64_t tried_mask);

#endif
