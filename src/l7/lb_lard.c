/* lb_lard: locality-aware request distribution (Pai et al., ASPLOS 1998).
 * A target stays on the node that served it, so that node's cache keeps it,
 * until that node is overloaded: it moves to the least loaded node when its
 * node's load is over T_high while some node is under T_low, or when its
 * node's load reaches 2 T_high.
 * Distributed semantics: in the two-level scheme every back end's L7 switch
 * (and every worker of it) runs LARD with a table of its own; there is no
 * dispatcher. What makes the switches agree on where a target lives:
 * - the load LARD compares is the cluster's ([l7] load_share, the default):
 *   this process's requests in flight at the node plus what the other
 *   switches report (share.c), so every switch judges T_low and T_high on
 *   the same figures, a poll interval apart; with load_share off, each
 *   worker's own count (the paper's single dispatcher, if there is one
 *   switch);
 * - a target new to a switch goes to its home, the first usable member
 *   from its hash, unless the move rule would take it off at once: every
 *   switch that meets the target while its home is not overloaded puts it
 *   in the same place, whatever it saw before (the paper's rule, least
 *   loaded, placed a new target wherever the load was lowest at that
 *   moment, which differs from switch to switch and from one moment to
 *   the next; with load_share off it is kept, members under T_low
 *   counting as idle);
 * - a move goes to the first member under T_low from the target's hash, the
 *   same one from every switch that sees the same loads. */
#include <stdlib.h>

#include "l7.h"
#include "lb.h"
#include "share.h"

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
static long lard_inflight(struct l7_worker *w, int n)
{
	if (!w->cfg->l7.load_share)
		return w->inflight[n];
	return lb_inflight_all(w->proc, n) + share_peers(w->proc, n);
}

static long lard_load(const struct lb_group *lg, struct l7_worker *w, int n)
{
	long v = lard_inflight(w, n);

	return v < lg->g->lard_low ? 0 : v;
}

/* The least loaded usable member (lard_load). Ties go to the first found
 * scanning from position KEY mod size: while nodes are under T_low a
 * target lands where its hash says, the same node from every switch, and
 * targets spread over the members instead of all landing on the first
 * listed (which would keep them while under T_high). */
static int lard_least(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int best = -1, nn = lg->g->nnodes;
	long bl = 0;

	for (int j = 0; j < nn; j++) {
		int n = lg->g->nodes[(key + j) % nn];
		long l;

		if (n == exclude || !lb_usable(w, n))
			continue;
		l = lard_load(lg, w, n);
		if (best < 0 || l < bl) {
			best = n;
			bl = l;
		}
	}
	return best;
}

/* A target's home: the first usable member from its hash. */
static int lard_home(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	int nn = lg->g->nnodes;

	for (int j = 0; j < nn; j++) {
		int n = lg->g->nodes[(key + j) % nn];

		if (n != exclude && lb_usable(w, n))
			return n;
	}
	return -1;
}

static int lard_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	struct lb_lard_ent *e = &lg->lard[key % LB_LARD_SIZE];
	int lo = lg->g->lard_low, hi = lg->g->lard_high, n;
	int fresh = e->node < 0 || e->key != key || e->node == exclude || !lb_usable(w, e->node);

	if (fresh && !w->cfg->l7.load_share) {
		n = lard_least(lg, w, key, exclude);
	} else {
		n = fresh ? lard_home(lg, w, key, exclude) : e->node;
		int least = n >= 0 ? lard_least(lg, w, key, exclude) : -1;
		if (least >= 0 && least != n) {
			long ln = lard_inflight(w, n), ll = lard_inflight(w, least);

			if ((ln > hi && ll < lo) || ln >= 2 * hi)
				n = least;
		}
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
