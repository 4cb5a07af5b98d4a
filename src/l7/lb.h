/* lb: content-aware distribution: rules choose a group (and a Web-QoS
 * class), the group's policy chooses a node. */
#ifndef TANDEM_LB_H
#define TANDEM_LB_H

#include "h1-t.h"
#include "lb-t.h"

extern const struct lb_ops lb_rr_ops, lb_wlc_ops, lb_chash_ops, lb_lard_ops;

/* lb_build: the worker's group states for its configuration (every group,
 * plus an implicit group of all nodes when there is no [group default]).
 * Returns 0 or -ENOMEM. */
int lb_build(struct l7_worker *w);

/* lb_free: releases what lb_build allocated (chash and lard tables); the
 * worker may lb_build again (a reload). */
void lb_free(struct l7_worker *w);

/* lb_rebuild: a reload: lb_build for the worker's new configuration
 * (already in w->cfg, aligned to OLD by cfg_align), then what a group's
 * policy learnt under OLD carries over to the group of the same name and
 * policy (lard's target -> node entries, for nodes that kept their index
 * and are still members), and the old state is freed. Returns 0 or
 * -ENOMEM (as lb_build). */
int lb_rebuild(struct l7_worker *w, const struct cfg *old);

/* lb_route: router_match() for worker W. Returns the index of the first
 * rule matching request M, or -1; sets *group (index in w->lb: the rule's
 * group, or w->default_lb when no rule matched) and *cls (the rule's class
 * index, or -1 for none). */
int lb_route(struct l7_worker *w, const struct h1_msg *m, int *group, int *cls);

/* lb_pick: a node of group GROUP for a request whose target hashes to KEY
 * (a prefer_local group: this node while it is usable and below spill),
 * other than EXCLUDE (-1: none). Returns its index, or -1 when no member
 * is usable (all down or drained). */
int lb_pick(struct l7_worker *w, int group, uint64_t key, int exclude);

/* lb_usable: node N takes new requests (lb_weight > 0, not marked down). */
int lb_usable(struct l7_worker *w, int n);

/* lb_weight_of: node N's weight: the runtime one in OVR (tandem ctl) when
 * set, else C's. Every policy reads weights through it (or lb_weight). */
static inline int lb_weight_of(const int *ovr, const struct cfg *c, int n)
{
	int o = ovr ? __atomic_load_n(&ovr[n], __ATOMIC_RELAXED) : 0;

	return o ? o - 1 : c->nodes[n].weight;
}

/* lb_weight: lb_weight_of for worker W's configuration. */
#define lb_weight(w, n) lb_weight_of((w)->proc->wt_ovr, (w)->cfg, (n))

/* lb_key: the hash of a request target that chash and lard use. */
uint64_t lb_key(const char *p, size_t n);
/* lb_key_msg: lb_key of M's target in origin-form (path and query; an
 * absolute-form target hashes like its origin-form, "" like "/"). The host
 * is not part of it: a rule per host gives hosts their own groups. */
struct h1_msg;
uint64_t lb_key_msg(const struct h1_msg *m);

struct l7_proc;
/* lb_inflight_all: requests process P has in flight at node N: every
 * worker's count (each written by its worker only, read without a lock: a
 * load estimate, never an exact figure). */
long lb_inflight_all(const struct l7_proc *p, int n);

/* lb_report: the outcome of a connection to node N: OK 1 is
 * check_report_success(), OK 0 check_report_failure(). */
void lb_report(struct l7_worker *w, int n, int ok);

/* lb_health_start: check_start(): the thread that probes nodes marked down
 * with a GET of their group's health_path, and marks them up when they
 * answer. Returns 0 or -errno. */
int lb_health_start(struct l7_proc *p);

#endif
