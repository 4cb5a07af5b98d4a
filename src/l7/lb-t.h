/* lb-t.h: types of the balancing policies (one file each behind one ops
 * table) and of a group's per-worker state. */
#ifndef TANDEM_LB_T_H
#define TANDEM_LB_T_H

#include <stdint.h>
#include "cfg-t.h"

struct l7_worker;
struct lb_group;

/* One policy. `pick` returns an index in cfg.nodes among the group's
 * usable members (lb_usable), never EXCLUDE, or -1 when none is usable.
 * KEY is a hash of the request target (chash, lard). `carry` (may be NULL),
 * at a reload, takes into the new state LG what the old state FROM of the
 * group of the same name and policy learnt about nodes that kept their
 * index (cfg_align) since OLD, the configuration FROM was built for. */
struct lb_ops {
	const char *name;
	int (*init)(struct lb_group *lg);
	void (*fini)(struct lb_group *lg);
	int (*pick)(struct lb_group *lg, struct l7_worker *w, uint64_t key, int exclude);
	void (*carry)(struct lb_group *lg, struct lb_group *from, const struct cfg *old);
};

#define LB_CHASH_SIZE 4093      /* prime; about 60x the largest group */
#define LB_LARD_SIZE  8192      /* target -> node entries, direct-mapped */

struct lb_lard_ent {
	uint64_t key;
	int16_t node;           /* -1: free */
};

/* A group's state in one worker. */
struct lb_group {
	const struct cfg *c;
	const struct cfg_group *g;
	const struct lb_ops *ops;
	const int *wt_ovr;              /* the process's runtime weights (lb_weight_of) */
	int cw[CFG_MAX_NODES];          /* rr: current weights (smooth weighted rr) */
	unsigned rot;                   /* wlc: the next scan starts here (after the last pick) */
	uint8_t *table;                 /* chash: slot -> member position */
	struct lb_lard_ent *lard;       /* lard: target -> node */
};

#endif
