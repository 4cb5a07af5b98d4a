/* l7_admin: the control verbs of the L7 switch's admin address, for
 * tandem ctl: POST /node/NAME/drain | enable | weight?value=N set a runtime
 * weight (struct l7_proc wt_ovr, read by every policy through lb_weight),
 * POST /reload reads the cluster file again and says whether it was taken
 * and, if not, why (FILE:LINE: reason). They change state, so only a
 * loopback or unix peer, or one with [cluster] admin_token_file's token,
 * may use them (adm_allowed); the others get 403, counted in
 * tandem_admin_refused_total. Runs on the admin thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adm.h"
#include "cfg.h"
#include "l7.h"
#include "log.h"
#include "svc.h"

static void l7_admin_reload(struct l7_proc *p, int fd)
{
	char *text = NULL, head[512];
	size_t tlen = 0;
	FILE *errs = open_memstream(&text, &tlen);
	int r, hl;

	if (!errs) {
		adm_reply(fd, 500, NULL, "out of memory\n", 14);
		return;
	}
	svc_reloading();
	r = l7_reload(p, p->file, errs);
	svc_ready(NULL);        /* a refused file keeps the old one: ready too */
	fclose(errs);
	if (!r)
		hl = snprintf(head, sizeof(head), "taken: %s, generation %u\n", p->file,
			      __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST));
	else
		hl = snprintf(head, sizeof(head), "refused: %s: %s, the running configuration is kept\n",
			      p->file, r == -EINVAL ? "errors" : strerror(-r));
	{
		size_t blen = hl + tlen;
		char *body = malloc(blen + 1);

		if (body) {
			memcpy(body, head, hl);
			memcpy(body + hl, text, tlen);
			adm_reply(fd, r ? 409 : 200, NULL, body, blen);
			free(body);
		} else {
			adm_reply(fd, 500, NULL, "out of memory\n", 14);
		}
	}
	free(text);
}

static void l7_admin_node(struct l7_proc *p, int fd, const struct adm_req *r)
{
	char name[CFG_NAME_MAX], out[256];
	struct cfg_node *node;
	struct cfg *c;
	int verb, wt = 0, n, fw, ovr, len, st = 200;

	verb = adm_node_request(fd, r, name, sizeof(name), &wt);
	if (verb < 0)
		return;
	pthread_mutex_lock(&p->ctl_lock);
	c = l7_cfg_enter(p, &p->admin_gen);
	node = cfg_node_find(c, name);
	if (!node) {
		l7_cfg_leave(&p->admin_gen);
		pthread_mutex_unlock(&p->ctl_lock);
		len = snprintf(out, sizeof(out), "no node %s in %s\n", name, c->file);
		adm_reply(fd, 404, NULL, out, len);
		return;
	}
	n = node - c->nodes;
	fw = node->weight;
	switch (verb) {
	case ADM_NODE_DRAIN:  ovr = 0; break;
	/* back to the file's weight; a node the file drains gets 1 */
	case ADM_NODE_ENABLE: ovr = fw > 0 ? -1 : 1; break;
	default:              ovr = wt == fw ? -1 : wt; break;
	}
	p->wt_file[n] = fw;
	__atomic_store_n(&p->wt_ovr[n], ovr + 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->wt_gen, 1, __ATOMIC_RELEASE);
	wt = ovr >= 0 ? ovr : fw;
	len = snprintf(out, sizeof(out), "node %s: weight %d (file %d)%s%s\n", name, wt, fw,
		       wt ? "" : ", draining",
		       __atomic_load_n(&p->node_down[n], __ATOMIC_RELAXED) ? ", marked down by failures" : "");
	log_info("admin: node %s: weight %d (file %d)%s", name, wt, fw, ovr < 0 ? "" : ", runtime");
	l7_cfg_leave(&p->admin_gen);
	pthread_mutex_unlock(&p->ctl_lock);
	adm_reply(fd, st, NULL, out, len);
}

void l7_admin_control(struct l7_proc *p, int fd, const struct adm_req *r)
{
	char tokfile[sizeof(p->cfg->admin_token_file)], out[256];
	const char *why = "";
	struct cfg *c;
	int len;

	if (strcmp(r->method, "POST")) {
		len = snprintf(out, sizeof(out), "%s %s: not found (GET /metrics; control verbs take POST)\n",
			       r->method, r->path);
		adm_reply(fd, strncmp(r->path, "/node/", 6) && strcmp(r->path, "/reload") ? 404 : 405,
			  NULL, out, len);
		return;
	}
	c = l7_cfg_enter(p, &p->admin_gen);
	memcpy(tokfile, c->admin_token_file, sizeof(tokfile));
	l7_cfg_leave(&p->admin_gen);
	if (!adm_allowed(fd, r, tokfile, &why)) {
		__atomic_add_fetch(&p->admin_refused, 1, __ATOMIC_RELAXED);
		log_warn("admin: POST %s refused: %s", r->path, why);
		len = snprintf(out, sizeof(out), "forbidden: %s\n", why);
		adm_reply(fd, 403, NULL, out, len);
		return;
	}
	if (!strcmp(r->path, "/reload"))
		l7_admin_reload(p, fd);
	else
		l7_admin_node(p, fd, r);
}
