/* lb_lard: locality-aware request distribution (Pai et al., ASPLOS 1998).
 * A target stays on the node that served it, so that node's cache keeps it,
 * until that node is overloaded: it moves to the least loaded node when its
 * node's load is over T_high while some node is under T_low, or when its
 * node's load reaches 2 T_high. Load is the number of requests this worker
 * has in flight at each node.
 * Distributed semantics: in the two-level scheme every back end's L7 switch
 * (and every worker of it) runs LARD on its own view: assignments start the
 * same way for the same load, but each switch learns and moves targets from
 * the load it sees. There is no shared table; locality is per switch, which
 * is what the paper's back-end forwarding needs (each node's cache serves
 * the targets the switches send it). */
#include <stdlib.h>

#include "l7.h"
#include "lb.h"

static int lard_init(struct lb_group *lg)
{
	lg->lard = malloc(sizeof(*lg->lard) * LB_LARD_SIZE);
	if (!lg->lard)
		return -1;
	for (int i = 0; i < LB_LARD_SIZE; i++)
		lg->lard[i].node = -1;
	return 0;
}

static void lard_fini(struct lb_group *lg)
{
	free(lg->lard);
	lg->lard = NULL;
}

/* The least loaded usable member. Ties go to the first found scanning from
 * position KEY mod size: at equal load a target lands where its hash says,
 * so under light load targets spread over the members (instead of all
 * landing on the first listed, which keeps them while under T_high) and
 * every switch makes the same first choice for a target. */
static int lard_least(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1, nn = lg->g->nnodes;

	for (int j = 0; j < nn; j++) {
		int n = lg->g->nodes[(key + j) % nn];
		if (n != exclude && lb_usable(w, n) && (best < 0 || w->inflight[n] < w->inflight[best]))
			best = n;
	}
	return best;
}

static int lard_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	struct lb_lard_ent *e = &lg->lard[key % LB_LARD_SIZE];
	int lo = lg->g->lard_low, hi = lg->g->lard_high, n;

	if (e->node < 0 || e->key != key || e->node == exclude || !lb_usable(w, e->node)) {
		n = lard_least(lg, w, key, exclude);
	} else {
		n = e->node;
		int least = lard_least(lg, w, key, exclude);
		if (least >= 0 && ((w->inflight[n] > hi && w->inflight[least] < lo) ||
				   w->inflight[n] >= 2 * hi))
			n = least;
	}
	if (n >= 0) {
		e->key = key;
		e->node = n;
	}
	return n;
}

const struct lb_ops lb_lard_ops = {
	.name = "lard", .init = lard_init, .fini = lard_fini, .pick = lard_pick,
};
