/* share: the other L7 switches' loads, so that lard on every switch
 * decides from the same figures (the cluster's in-flight requests at each
 * node) without a dispatcher. One thread polls each peer's admin address
 * for GET /load every [l7] load_share ms; the workers read the sums. */
#ifndef TANDEM_SHARE_H
#define TANDEM_SHARE_H

#include "l7-t.h"

/* share_start: starts the polling thread when the configuration has a lard
 * group and load_share is on (the thread follows reloads: it polls while
 * they hold). Returns 0 or -errno. */
int share_start(struct l7_proc *p);

/* share_peers: requests the other switches had in flight at node N at
 * their last answer (0 from a peer that did not answer its last poll). */
static inline long share_peers(const struct l7_proc *p, int n)
{
	return __atomic_load_n(&p->peer_sum[n], __ATOMIC_RELAXED);
}

/* share_load_text: this process's own in-flight requests per node, as
 * GET /load answers them ("NAME COUNT" lines), into OUT (SIZE bytes).
 * Returns the length written. */
int share_load_text(struct l7_proc *p, const struct cfg *c, char *out, int size);

#endif
