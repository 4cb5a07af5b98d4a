/* lb_wlc: weighted least connections over the requests this worker has in
 * flight at each node: the node with the smallest (in-flight + 1) / weight,
 * so a slow node, whose requests last longer, gets fewer new ones. */
#include "l7.h"
#include "lb.h"

static int wlc_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1;
	long bload = 0, bw = 1;

	for (int i = 0; i < lg->g->nnodes; i++) {
		int n = lg->g->nodes[i];
		long wt = w->cfg->nodes[n].weight, load = w->inflight[n] + 1;

		if (n == exclude || !lb_usable(w, n))
			continue;
		/* load/wt < bload/bw, without division; ties: start at a
		 * rotating position so equal nodes share the work */
		if (best < 0 || load * bw < bload * wt ||
		    (load * bw == bload * wt && ((key + i) & 1))) {
			best = n;
			bload = load;
			bw = wt;
		}
	}
	return best;
}

const struct lb_ops lb_wlc_ops = { .name = "wlc", .pick = wlc_pick };
