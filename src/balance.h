/*
 * balance.h: picking a backend server (L1, pure). Smooth weighted
 * round-robin (nginx's variant: weights 5,1,1 give a a b a c a a, never
 * five in a row) or least connections, over the servers the caller says
 * are eligible, which excludes the ones already tried for this request.
 * The caller passes effective weights, so slow start is a weight ramp
 * computed by balance_weight() from `now`; nothing here reads a clock.
 */
#ifndef VANE_BALANCE_H
#define VANE_BALANCE_H

#include <stdint.h>

#define BALANCE_MAX_SERVERS	64	/* server sets are one uint64_t */
/* Effective weights are weight * BALANCE_SCALE, so that slow start can
 * ramp a weight-1 server in small steps. */
#define BALANCE_SCALE		100

enum balance_algo { BALANCE_RR, BALANCE_LEAST_CONN };

struct balance {
	int		n;	/* number of servers */
	int		algo;
	int64_t		cw[BALANCE_MAX_SERVERS];	/* current weights */
};

void	balance_init(struct balance *b, int n, int algo);
/*
 * The server for the next request among those whose bit is set in
 * eligible, or -1 when there is none. ew[i] is server i's effective
 * weight (balance_weight); load[i] its requests in flight, read only for
 * least_conn (NULL allowed for round-robin).
 */
int	balance_pick(struct balance *b, uint64_t eligible, const int *ew,
	    const int *load);
/*
 * Effective weight of a server of the given weight that came up at
 * since_ms (0: it was up from the start), with slow_start_ms of ramp:
 * from 1 right after since to weight * BALANCE_SCALE at the end.
 */
int	balance_weight(int weight, uint64_t since_ms, uint64_t now_ms,
	    uint64_t slow_start_ms);

#endif
