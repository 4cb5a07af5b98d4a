/* l4_admin: the control verbs of the front end's admin address, for tandem
 * ctl: POST /node/NAME/drain | enable | weight?value=N set a node's weight
 * at run time and rebuild the Maglev table as a SIGHUP that changed only
 * that node's weight would; POST /reload is SIGHUP, with the reasons of a
 * refusal in the reply. A runtime weight is kept here by node name with
 * the file's weight it was set against: a reload reapplies it to the
 * node's slot (l4_admin_reapply) unless the new file changed that weight
 * or removed the node. Only loopback or unix peers, or a request with the
 * [cluster] admin_token_file token, may use them (adm_allowed); the
 * others get 403, counted in tandem_l4_admin_refused_total. Runs on the
 * main loop, like the rest of the admin socket. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adm.h"
#include "cfg.h"
#include "l4.h"
#include "log.h"
#include "svc.h"

static struct {
	char name[CFG_NAME_MAX];        /* "": free */
	int file_weight;                /* the file's weight when it was set */
	int weight;
} l4_ovr[L4_BACKENDS_MAX];
static uint64_t l4_admin_refused;

static struct l4_slot *l4_admin_slot(struct l4 *l, const char *name)
{
	for (int s = 0; s < L4_BACKENDS_MAX; s++)
		if (l->slots[s].used && !strcmp(l->slots[s].node.name, name))
			return &l->slots[s];
	return NULL;
}

void l4_admin_reapply(struct l4 *l)
{
	pthread_rwlock_wrlock(&l->lock);
	for (int i = 0; i < L4_BACKENDS_MAX; i++) {
		struct cfg_node *n;
		struct l4_slot *sl;

		if (!l4_ovr[i].name[0])
			continue;
		n = cfg_node_find(&l->cfg, l4_ovr[i].name);
		sl = l4_admin_slot(l, l4_ovr[i].name);
		if (!n || !sl || n->weight != l4_ovr[i].file_weight) {
			if (n)
				log_info("node %s: runtime weight %d dropped: the file's weight changed (%d -> %d)",
					 n->name, l4_ovr[i].weight, l4_ovr[i].file_weight, n->weight);
			l4_ovr[i].name[0] = 0;
			continue;
		}
		sl->node.weight = l4_ovr[i].weight;
		log_info("node %s: runtime weight %d kept (the file's is still %d)", n->name,
			 l4_ovr[i].weight, n->weight);
	}
	pthread_rwlock_unlock(&l->lock);
}

void l4_admin_metrics(struct l4 *l, FILE *f)
{
	(void)l;
	fprintf(f, "# HELP tandem_l4_backend_weight_runtime 1 when tandem ctl set the node's weight.\n"
		"# TYPE tandem_l4_backend_weight_runtime gauge\n");
	for (int i = 0; i < L4_BACKENDS_MAX; i++)
		if (l4_ovr[i].name[0])
			fprintf(f, "tandem_l4_backend_weight_runtime{node=\"%s\"} 1\n", l4_ovr[i].name);
	fprintf(f, "# HELP tandem_l4_admin_refused_total Control requests refused (403): not from loopback, no or a wrong token.\n"
		"# TYPE tandem_l4_admin_refused_total counter\ntandem_l4_admin_refused_total %llu\n",
		(unsigned long long)l4_admin_refused);
}

static void l4_admin_node(struct l4 *l, int fd, const struct adm_req *r, long (*apply)(struct l4 *))
{
	char name[CFG_NAME_MAX], out[256];
	struct cfg_node *n;
	struct l4_slot *sl;
	int verb, wt = 0, len, fw, k = -1;

	verb = adm_node_request(fd, r, name, sizeof(name), &wt);
	if (verb < 0)
		return;
	n = cfg_node_find(&l->cfg, name);
	sl = l4_admin_slot(l, name);
	if (!n || !sl) {
		len = snprintf(out, sizeof(out), "no node %s in %s\n", name, l->file);
		adm_reply(fd, 404, NULL, out, len);
		return;
	}
	fw = n->weight;
	if (verb == ADM_NODE_DRAIN)
		wt = 0;
	else if (verb == ADM_NODE_ENABLE)
		wt = fw > 0 ? fw : 1;   /* a node the file drains gets 1 */
	for (int i = 0; i < L4_BACKENDS_MAX && k < 0; i++)
		if (!strcmp(l4_ovr[i].name, name))
			k = i;
	for (int i = 0; i < L4_BACKENDS_MAX && k < 0; i++)
		if (!l4_ovr[i].name[0])
			k = i;
	if (wt == fw) {
		l4_ovr[k].name[0] = 0;  /* the file's weight: no override */
	} else {
		snprintf(l4_ovr[k].name, sizeof(l4_ovr[k].name), "%s", name);
		l4_ovr[k].file_weight = fw;
		l4_ovr[k].weight = wt;
	}
	pthread_rwlock_wrlock(&l->lock);
	sl->node.weight = wt;
	pthread_rwlock_unlock(&l->lock);
	log_info("admin: node %s: weight %d (file %d)%s", name, wt, fw, wt == fw ? "" : ", runtime");
	if (apply(l) < 0) {
		len = snprintf(out, sizeof(out), "node %s: weight %d set, but writing the Maglev table "
			       "failed (see the log)\n", name, wt);
		adm_reply(fd, 500, NULL, out, len);
		return;
	}
	len = snprintf(out, sizeof(out), "node %s: weight %d (file %d)%s%s, %u Maglev slots\n", name, wt,
		       fw, wt ? "" : ", draining", sl->up ? "" : ", down (health checks)", sl->slots);
	adm_reply(fd, 200, NULL, out, len);
}

static void l4_admin_reload(struct l4 *l, int fd, int (*reload)(struct l4 *, FILE *))
{
	char *text = NULL, head[384], *body;
	size_t tlen = 0;
	FILE *errs = open_memstream(&text, &tlen);
	int r, hl;

	if (!errs) {
		adm_reply(fd, 500, NULL, "out of memory\n", 14);
		return;
	}
	svc_reloading();
	r = reload(l, errs);
	svc_ready(NULL);
	fclose(errs);
	if (!r)
		hl = snprintf(head, sizeof(head), "taken: %s, %d nodes\n", l->file, l->cfg.nnodes);
	else
		hl = snprintf(head, sizeof(head), "refused: %s: errors, the running configuration is kept\n",
			      l->file);
	body = malloc(hl + tlen + 1);
	if (body) {
		memcpy(body, head, hl);
		memcpy(body + hl, text, tlen);
		adm_reply(fd, r ? 409 : 200, NULL, body, hl + tlen);
		free(body);
	} else {
		adm_reply(fd, 500, NULL, "out of memory\n", 14);
	}
	free(text);
}

int l4_admin_control(struct l4 *l, int fd, const char *req, long (*apply)(struct l4 *),
		     int (*reload)(struct l4 *, FILE *))
{
	struct adm_req r;
	const char *why = "";
	char out[256];
	int len;

	if (adm_parse(req, &r) || !strcmp(r.method, "GET") || !strcmp(r.method, "HEAD"))
		return 0;
	if (strcmp(r.method, "POST")) {
		len = snprintf(out, sizeof(out), "%s %s: control verbs take POST\n", r.method, r.path);
		adm_reply(fd, 405, NULL, out, len);
		return 1;
	}
	if (!adm_allowed(fd, &r, l->cfg.admin_token_file, &why)) {
		l4_admin_refused++;
		log_warn("admin: POST %s refused: %s", r.path, why);
		len = snprintf(out, sizeof(out), "forbidden: %s\n", why);
		adm_reply(fd, 403, NULL, out, len);
		return 1;
	}
	if (!strcmp(r.path, "/reload"))
		l4_admin_reload(l, fd, reload);
	else
		l4_admin_node(l, fd, &r, apply);
	return 1;
}
