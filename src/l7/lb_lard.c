/* lb_lard: locality-aware request distribution (Pai et al., ASPLOS 1998).
 * A target stays on the node that served it, so that node's cache keeps it,
 * until that node is overloaded: it moves to the least loaded node when its
 * node's load is over T_high while some node is under T_low, or when its
 * node's load reaches 2 T_high. Load is the number of requests this worker
 * has in flight at each node.
 * Distributed semantics: in the two-level scheme every back end's L7 switch
 * (and every worker of it) runs LARD on its own view: a new target goes to
 * the node its hash names from every switch while that node is under T_low,
 * but each switch moves targets from the load it sees. There is no shared
 * table; locality is per switch, which is what the paper's back-end
 * forwarding needs (each node's cache serves the targets the switches send
 * it). */
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

/* Load as LARD's choice of a node sees it: a node under T_low counts as
 * idle. T_low is the load under which a node has resources to spare, so
 * which of those takes a target does not matter to load; it matters to
 * locality. Every switch (and worker) sees its own in-flight counts, which
 * differ from switch to switch at any load above none: comparing them
 * strictly sent a new target to a different node from each switch, so the
 * cluster cached most targets several times over (bench/locality, 4
 * switches: 1.68 copies of each cached object, hit ratio 0.79; with this
 * rule 1.00 and 1.00). */
static int lard_load(const struct lb_group *lg, const struct l7_worker *w, int n)
{
	return w->inflight[n] < lg->g->lard_low ? 0 : w->inflight[n];
}

/* The least loaded usable member (lard_load). Ties go to the first found
 * scanning from position KEY mod size: while nodes are under T_low a
 * target lands where its hash says, the same node from every switch, and
 * targets spread over the members instead of all landing on the first
 * listed (which would keep them while under T_high). */
static int lard_least(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1, nn = lg->g->nnodes;

	for (int j = 0; j < nn; j++) {
		int n = lg->g->nodes[(key + j) % nn];
		if (n != exclude && lb_usable(w, n) &&
		    (best < 0 || lard_load(lg, w, n) < lard_load(lg, w, best)))
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

/* A reload: the targets stay where they were (their node's cache has
 * them), but for nodes that left the group and indexes another node took;
 * the new table (still empty) goes to FROM, to be freed with it. */
static void lard_carry(struct lb_group *lg, struct lb_group *from, const struct cfg *old)
{
	struct lb_lard_ent *t = lg->lard;
	uint8_t keep[CFG_MAX_NODES] = { 0 };

	if (!from->lard)
		return;
	for (int i = 0; i < lg->g->nnodes; i++) {
		int n = lg->g->nodes[i];

		keep[n] = lg->c->nodes[n].since <= old->epoch;
	}
	for (int i = 0; i < LB_LARD_SIZE; i++)
		if (from->lard[i].node >= 0 && !keep[from->lard[i].node])
			from->lard[i].node = -1;
	lg->lard = from->lard;
	from->lard = t;
}

const struct lb_ops lb_lard_ops = {
	.name = "lard", .init = lard_init, .fini = lard_fini, .pick = lard_pick,
	.carry = lard_carry,
};
