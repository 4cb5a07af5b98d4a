/* lb: group -> policy -> node. Every worker keeps its own state per group
 * (no locks on the request path); what must agree across workers and across
 * L7 switches (the chash table) is built from the cluster file only. The
 * rules are matched in router.c and node health is kept in check.c; the
 * lb_route and lb_report entry points the session calls wrap them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "check.h"
#include "l7.h"
#include "lb.h"
#include "router.h"

static const struct lb_ops *lb_policies[] = {
	[CFG_LB_RR] = &lb_rr_ops,
	[CFG_LB_WLC] = &lb_wlc_ops,
	[CFG_LB_CHASH] = &lb_chash_ops,
	[CFG_LB_LARD] = &lb_lard_ops,
};

uint64_t lb_key(const char *p, size_t n)
{
	/* FNV-1a, then a final mix: stable across processes and versions */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

uint64_t lb_key_msg(const struct h1_msg *m)
{
	const char *end = m->target.p + m->target.len, *p;
	size_t len;

	/* the origin-form part, query included: "http://h/a?b" and "/a?b"
	 * are one URL to chash and lard */
	p = router_path(m, &len);
	if (p == end)
		return lb_key("/", 1);
	return lb_key(p, end - p);
}

int lb_usable(struct l7_worker *w, int n)
{
	return lb_weight(w, n) > 0 && check_up(w->proc, n);
}

int lb_build(struct l7_worker *w)
{
	struct cfg *c = w->cfg;

	/* what the chash tables below are built from */
	w->wt_gen = __atomic_load_n(&w->proc->wt_gen, __ATOMIC_ACQUIRE);
	w->nlb = 0;
	for (int i = 0; i < c->ngroups; i++) {
		w->lb[w->nlb].g = &c->groups[i];
		w->lb[w->nlb].ops = lb_policies[c->groups[i].policy];
		w->nlb++;
	}
	if (c->default_group >= 0) {
		w->default_lb = c->default_group;
	} else {
		memset(&w->all, 0, sizeof(w->all));
		snprintf(w->all.name, sizeof(w->all.name), "all");
		snprintf(w->all.health_path, sizeof(w->all.health_path), "/");
		w->all.policy = CFG_LB_RR;
		for (int n = 0; n < c->nnodes; n++)
			if (cfg_node_used(&c->nodes[n]) && c->nodes[n].web.len)
				w->all.nodes[w->all.nnodes++] = n;
		w->lb[w->nlb].g = &w->all;
		w->lb[w->nlb].ops = &lb_rr_ops;
		w->default_lb = w->nlb++;
	}
	for (int i = 0; i < w->nlb; i++) {
		w->lb[i].c = c;
		w->lb[i].wt_ovr = w->proc->wt_ovr;
		memset(w->lb[i].cw, 0, sizeof(w->lb[i].cw));
		w->lb[i].rot = 0;
		w->lb[i].table = NULL;
		w->lb[i].lard = NULL;
		if (w->lb[i].ops->init && w->lb[i].ops->init(&w->lb[i]))
			return -ENOMEM;
	}
	return 0;
}

void lb_free(struct l7_worker *w)
{
	for (int i = 0; i < w->nlb; i++)
		if (w->lb[i].ops->fini)
			w->lb[i].ops->fini(&w->lb[i]);
	w->nlb = 0;
}

int lb_rebuild(struct l7_worker *w, const struct cfg *old)
{
	struct lb_group prev[CFG_MAX_GROUPS + 1];
	int nprev = w->nlb, r;

	/* the old states' groups are in OLD, still alive; only the implicit
	 * "all" (rr, nothing to carry) is rewritten by lb_build */
	memcpy(prev, w->lb, nprev * sizeof(prev[0]));
	w->nlb = 0;
	r = lb_build(w);
	for (int i = 0; !r && i < w->nlb; i++) {
		struct lb_group *lg = &w->lb[i];

		if (!lg->ops->carry)
			continue;
		for (int k = 0; k < nprev; k++)
			if (prev[k].ops == lg->ops && !strcmp(prev[k].g->name, lg->g->name)) {
				lg->ops->carry(lg, &prev[k], old);
				break;
			}
	}
	for (int k = 0; k < nprev; k++)
		if (prev[k].ops->fini)
			prev[k].ops->fini(&prev[k]);
	return r;
}

int lb_route(struct l7_worker *w, const struct h1_msg *m, int *group, int *cls)
{
	int r = router_match(w->cfg, m);

	if (r < 0) {
		*group = w->default_lb;
		*cls = -1;
	} else {
		/* -1: a rule that only sets the class */
		*group = w->cfg->rules[r].group < 0 ? w->default_lb : w->cfg->rules[r].group;
		*cls = w->cfg->rules[r].cls;
	}
	return r;
}

long lb_inflight_all(const struct l7_proc *p, int n)
{
	long sum = 0;

	for (int i = 0; i < p->nworkers; i++)
		sum += __atomic_load_n(&p->workers[i]->inflight[n], __ATOMIC_RELAXED);
	return sum;
}

static int lb_member(const struct cfg_group *g, int n)
{
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i] == n)
			return 1;
	return 0;
}

/* prefer_local: this node's own web server while it is usable and has
 * fewer than spill requests of ours in flight; past that, the policy among
 * the other members (the local node again if none of them is usable). */
static int lb_pick_local(struct l7_worker *w, int group, uint64_t key)
{
	struct lb_group *lg = &w->lb[group];
	int self = w->proc->self_idx, n;

	if (!lb_member(lg->g, self) || !lb_usable(w, self))
		return lg->ops->pick(lg, w, key, -1);
	if (lb_inflight_all(w->proc, self) < lg->g->spill) {
		w->st.group_local[group]++;
		w->pick_route = L7_ROUTE_LOCAL;
		return self;
	}
	n = lg->ops->pick(lg, w, key, self);
	if (n < 0) {
		w->st.group_local[group]++;
		w->pick_route = L7_ROUTE_LOCAL;
		return self;
	}
	w->st.group_spill[group]++;
	w->pick_route = L7_ROUTE_SPILL;
	return n;
}

int lb_pick(struct l7_worker *w, int group, uint64_t key, int exclude)
{
	struct lb_group *lg = &w->lb[group];
	int n;

	w->pick_route = L7_ROUTE_POLICY;
	if (lg->g->prefer_local && exclude < 0)
		return lb_pick_local(w, group, key);
	n = lg->ops->pick(lg, w, key, exclude);

	if (n >= 0 || exclude < 0)
		return n;
	/* a retry: any usable member but the one that failed */
	for (int i = 0; i < lg->g->nnodes; i++) {
		int k = lg->g->nodes[(key + i) % lg->g->nnodes];
		if (k != exclude && lb_usable(w, k))
			return k;
	}
	return -1;
}

void lb_report(struct l7_worker *w, int n, int ok)
{
	if (ok)
		check_report_success(w->proc, n);
	else
		check_report_failure(w->proc, w->cfg, n);
}

int lb_health_start(struct l7_proc *p)
{
	return check_start(p);
}
