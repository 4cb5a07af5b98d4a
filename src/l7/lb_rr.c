/* lb_rr: smooth weighted round-robin (each pick adds every usable node's
 * weight to its current weight, takes the largest, and subtracts the total
 * from it): weights 1:3 give b a b b, not a b b b, so a burst never lands
 * on one node. */
#include "l7.h"
#include "lb.h"

static int rr_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1, total = 0;

	for (int i = 0; i < lg->g->nnodes; i++) {
		int n = lg->g->nodes[i], wt = lb_weight(w, n);

		if (n == exclude || !lb_usable(w, n))
			continue;
		lg->cw[i] += wt;
		total += wt;
		if (best < 0 || lg->cw[i] > lg->cw[best])
			best = i;
	}
	if (best < 0)
		return -1;
	lg->cw[best] -= total;
	return lg->g->nodes[best];
}

const struct lb_ops lb_rr_ops = { .name = "rr", .pick = rr_pick };
