/* lb_chash: consistent hashing of the request target with a Maglev lookup
 * table (Eisenbud et al., NSDI 2016) built from node names only, so every L7
 * switch of the cluster maps a URL to the same node without talking to the
 * others, and removing a node moves only the URLs that were on it. Bounded
 * load (Mirrokni et al.): a node over load_factor times its fair share of
 * this worker's in-flight requests of the group is passed over for the
 * next slot's node, so a hot URL cannot bury one node. */
#include <stdlib.h>
#include <string.h>

#include "l7.h"
#include "lb.h"

static int chash_init(struct lb_group *lg)
{
	const struct cfg_group *g = lg->g;
	uint32_t M = LB_CHASH_SIZE, filled = 0, next[CFG_MAX_NODES], off[CFG_MAX_NODES], skip[CFG_MAX_NODES];
	int ord[CFG_MAX_NODES];

	lg->table = malloc(M);
	if (!lg->table)
		return -1;
	memset(lg->table, 0xff, M);
	if (!g->nnodes)
		return 0;
	for (int i = 0; i < g->nnodes; i++) {
		const char *name = lg->c->nodes[g->nodes[i]].name;
		uint64_t h = lb_key(name, strlen(name));

		off[i] = h % M;
		skip[i] = (h >> 32) % (M - 1) + 1;
		next[i] = 0;
	}
	/* members take turns in name order, not in the order the group lists
	 * them: two files listing the same nodes differently (or one edited
	 * by hand on one switch) still give the same table */
	for (int i = 0; i < g->nnodes; i++)
		ord[i] = i;
	for (int i = 1; i < g->nnodes; i++)
		for (int j = i; j > 0 && strcmp(lg->c->nodes[g->nodes[ord[j - 1]]].name,
						lg->c->nodes[g->nodes[ord[j]]].name) > 0; j--) {
			int t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	/* each member in turn takes its next preferred free slot, weight
	 * times per round; weight 0 (drained) counts as 1, so draining a node
	 * of weight 1 leaves the table, and the other members' URLs, as they
	 * were (the pick passes over it) */
	while (filled < M) {
		for (int o = 0; o < g->nnodes && filled < M; o++) {
			int i = ord[o], turns = lb_weight_of(lg->wt_ovr, lg->c, g->nodes[i]);

			for (int t = 0; t < (turns ? turns : 1) && filled < M; t++) {
				uint32_t c;
				do {
					c = (off[i] + (uint64_t)next[i] * skip[i]) % M;
					next[i]++;
				} while (lg->table[c] != 0xff);
				lg->table[c] = i;
				filled++;
			}
		}
	}
	return 0;
}

static void chash_fini(struct lb_group *lg)
{
	free(lg->table);
	lg->table = NULL;
}

static int chash_pick(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude)
{
	const struct cfg_group *g = lg->g;
	int usable = 0, total = 0;
	long bound;

	for (int i = 0; i < g->nnodes; i++)
		if (lb_usable(w, g->nodes[i])) {
			usable++;
			total += w->inflight[g->nodes[i]];
		}
	if (!usable)
		return -1;
	/* ceil(c * (total + 1) / usable): this request included */
	bound = (long)(g->load_factor * (total + 1) / usable + 0.999999);
	for (uint32_t k = 0; k < LB_CHASH_SIZE; k++) {
		int n = g->nodes[lg->table[(key + k) % LB_CHASH_SIZE]];

		if (n != exclude && lb_usable(w, n) && w->inflight[n] + 1 <= bound)
			return n;
	}
	return -1;
}

const struct lb_ops lb_chash_ops = {
	.name = "chash", .init = chash_init, .fini = chash_fini, .pick = chash_pick,
};
