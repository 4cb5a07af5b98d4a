/* lb: rules -> group -> policy -> node. Every worker keeps its own state per
 * group (no locks on the request path); what must agree across workers and
 * across L7 switches (the chash table) is built from the cluster file only.
 * Node health is process-wide: consecutive failures mark a node down, a
 * probe thread marks it up again when its health path answers. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "h1.h"
#include "l7.h"
#include "lb.h"
#include "log.h"

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

int lb_usable(struct l7_worker *w, int n)
{
	return w->cfg->nodes[n].weight > 0 &&
	       !__atomic_load_n(&w->proc->node_down[n], __ATOMIC_RELAXED);
}

int lb_build(struct l7_worker *w)
{
	struct cfg *c = w->cfg;

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
			if (c->nodes[n].web.len)
				w->all.nodes[w->all.nnodes++] = n;
		w->lb[w->nlb].g = &w->all;
		w->lb[w->nlb].ops = &lb_rr_ops;
		w->default_lb = w->nlb++;
	}
	for (int i = 0; i < w->nlb; i++) {
		w->lb[i].c = c;
		memset(w->lb[i].cw, 0, sizeof(w->lb[i].cw));
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

static const char *lb_path_end(const struct h1_str *t)
{
	const char *q = memchr(t->p, '?', t->len);
	return q ? q : t->p + t->len;
}

static int lb_match_one(const struct cfg_match *mt, const struct h1_msg *m)
{
	char tmp[4096];
	const char *pe;
	size_t n, k;
	int i;

	switch (mt->kind) {
	case CFG_M_PATH_PREFIX:
		n = strlen(mt->text);
		return m->target.len >= n && !memcmp(m->target.p, mt->text, n);
	case CFG_M_PATH_SUFFIX:
		pe = lb_path_end(&m->target);
		n = strlen(mt->text);
		return (size_t)(pe - m->target.p) >= n && !memcmp(pe - n, mt->text, n);
	case CFG_M_PATH_REGEX:
		n = lb_path_end(&m->target) - m->target.p;
		if (n >= sizeof(tmp))
			return 0;
		memcpy(tmp, m->target.p, n);
		tmp[n] = 0;
		return !regexec(&mt->re, tmp, 0, NULL, 0);
	case CFG_M_HOST:
		if (m->host < 0)
			return 0;
		n = m->hdrs[m->host].value.len;
		pe = memchr(m->hdrs[m->host].value.p, ':', n);
		if (pe)
			n = pe - m->hdrs[m->host].value.p;
		k = strlen(mt->text);
		return n == k && !strncasecmp(m->hdrs[m->host].value.p, mt->text, k);
	case CFG_M_METHOD:
		k = strlen(mt->text);
		return m->method.len == k && !memcmp(m->method.p, mt->text, k);
	case CFG_M_HEADER:
		for (i = h1_hdr_find(m, mt->text, 0); i >= 0; i = h1_hdr_find(m, mt->text, i + 1)) {
			n = m->hdrs[i].value.len;
			if (n >= sizeof(tmp))
				continue;
			memcpy(tmp, m->hdrs[i].value.p, n);
			tmp[n] = 0;
			if (!regexec(&mt->re, tmp, 0, NULL, 0))
				return 1;
		}
		return 0;
	}
	return 0;
}

int lb_route(struct l7_worker *w, const struct h1_msg *m, int *group, int *cls)
{
	struct cfg *c = w->cfg;

	for (int r = 0; r < c->nrules; r++) {
		const struct cfg_rule *rl = &c->rules[r];
		int k;

		for (k = 0; k < rl->nm; k++)
			if (!lb_match_one(&rl->m[k], m))
				break;
		if (k == rl->nm) {
			*group = rl->group;
			*cls = rl->cls;
			return r;
		}
	}
	*group = w->default_lb;
	*cls = -1;
	return -1;
}

int lb_pick(struct l7_worker *w, int group, uint64_t key, int exclude)
{
	struct lb_group *lg = &w->lb[group];
	int n = lg->ops->pick(lg, w, key, exclude);

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
	struct l7_proc *p = w->proc;

	if (ok) {
		if (__atomic_load_n(&p->node_fails[n], __ATOMIC_RELAXED))
			__atomic_store_n(&p->node_fails[n], 0, __ATOMIC_RELAXED);
		return;
	}
	if (__atomic_add_fetch(&p->node_fails[n], 1, __ATOMIC_RELAXED) >= w->cfg->l7.fail_down &&
	    !__atomic_exchange_n(&p->node_down[n], 1, __ATOMIC_RELAXED))
		log_warn("node %s marked down after %d consecutive failures; probing it every %d ms",
			 w->cfg->nodes[n].name, w->cfg->l7.fail_down, w->cfg->l7.check_interval);
}

/* ---- health probes ------------------------------------------------------- */

static const char *lb_health_path(const struct cfg *c, int n)
{
	for (int g = 0; g < c->ngroups; g++)
		for (int i = 0; i < c->groups[g].nnodes; i++)
			if (c->groups[g].nodes[i] == n)
				return c->groups[g].health_path;
	return "/";
}

/* One probe: connect, GET PATH, a status line under 500. Blocking with
 * short timeouts: this runs on its own thread, never on a worker. */
static int lb_probe(const struct cfg_addr *a, const char *path)
{
	struct timeval tv = { .tv_sec = 1 };
	char req[256], buf[64];
	int fd, ok = 0, len;
	ssize_t n;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len))
		goto out;
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: tandem-health-check\r\n"
		       "Connection: close\r\n\r\n", path);
	if (write(fd, req, len) != len)
		goto out;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n >= 12) {
		buf[n] = 0;
		/* any answer under 500 shows a web server that serves: a 404
		 * or 403 for "/" must not keep a live node out */
		ok = !strncmp(buf, "HTTP/1.", 7) && buf[9] >= '1' && buf[9] <= '4';
	}
out:
	close(fd);
	return ok;
}

static void *lb_health_main(void *arg)
{
	struct l7_proc *p = arg;

	while (!p->stop) {
		struct cfg *c = __atomic_load_n(&p->cfg, __ATOMIC_ACQUIRE);
		int interval = c->l7.check_interval;

		for (int n = 0; n < c->nnodes && !p->stop; n++) {
			if (!__atomic_load_n(&p->node_down[n], __ATOMIC_RELAXED) || !c->nodes[n].web.len)
				continue;
			if (lb_probe(&c->nodes[n].web, lb_health_path(c, n))) {
				__atomic_store_n(&p->node_fails[n], 0, __ATOMIC_RELAXED);
				__atomic_store_n(&p->node_down[n], 0, __ATOMIC_RELAXED);
				log_info("node %s answers its health check again: marked up", c->nodes[n].name);
			}
		}
		for (int t = 0; t < interval && !p->stop; t += 50)
			usleep(50000);
	}
	return NULL;
}

int lb_health_start(struct l7_proc *p)
{
	int r = pthread_create(&p->health_thread, NULL, lb_health_main, p);

	if (r)
		return -r;
	p->has_health_thread = 1;
	return 0;
}
