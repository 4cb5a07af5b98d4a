/* lb_wlc: weighted least connections over the requests this worker has in
 * flight at each node: the node with the smallest (in-flight + 1) / weight,
 * so a slow node, whose requests last longer, gets fewer new ones. */
#include "l7.h"
#include "lb.h"

static int wlc_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1, bpos = 0, nn = lg->g->nnodes;
	unsigned start = nn ? lg->rot % nn : 0;
	long bload = 0, bw = 1;

	/* the scan starts just after the last member picked and only a
	 * strictly lower load wins: equally loaded members (all idle, under
	 * light load) take turns instead of one taking everything */
	for (int j = 0; j < nn; j++) {
		int pos = (start + j) % nn, n = lg->g->nodes[pos];
		long wt = lb_weight(w, n), load = w->inflight[n] + 1;

		if (n == exclude || !lb_usable(w, n))
			continue;
		/* load/wt < bload/bw, without division */
		if (best < 0 || load * bw < bload * wt) {
			best = n;
			bpos = pos;
			bload = load;
			bw = wt;
		}
	}
	if (best >= 0)
		lg->rot = bpos + 1;
	return best;
}

const struct lb_ops lb_wlc_ops = { .name = "wlc", .pick = wlc_pick };
