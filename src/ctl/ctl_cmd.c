/* ctl_cmd: `tandem ctl`, the operator's view of and hand on a running
 * cluster. It reads the cluster file for every daemon's admin address (the
 * L4 front end's [l4] admin, each node's admin for its L7 switch), scrapes
 * their /metrics twice a second apart for `status` (src/core/clu.c, which
 * the dashboard shares), and sends the control
 * verbs (POST /node/NAME/..., POST /reload) to each, saying which took
 * them. A daemon that does not answer is reported as such, never left out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adm.h"
#include "cfg.h"
#include "clu.h"
#include "ctl.h"

#define CTL_CONNECT_MS 1000
#define CTL_REPLY_MS   6000     /* a reload waits up to 2 s for old readers */

static void ctl_status_text(const struct clu *u, double dt)
{
	const struct clu_daemon *d = u->d;
	int answering = 0, l4 = -1, nd = u->nd;

	for (int i = 0; i < nd; i++) {
		answering += d[i].m[1] != NULL;
		if (d[i].node < 0)
			l4 = i;
	}
	printf("cluster %s: %d daemon%s, %d answering; req/s over %.1f s\n\n", u->file, nd,
	       nd == 1 ? "" : "s", answering, dt);
	printf("%-14s %-10s %-6s %7s %9s %8s %11s  %-14s%s\n", "NODE", "STATE", "WEIGHT", "CLIENTS",
	       "REQ/S", "INFLIGHT", "POOL I/O", "L7 SWITCH", l4 >= 0 ? "  L4 (up weight slots)" : "");
	for (int n = 0; n < u->nnodes; n++) {
		struct clu_row r;
		char cl[16] = "-", pool[32];

		clu_row(u, n, dt, &r);
		if (r.has_clients)
			snprintf(cl, sizeof(cl), "%.0f", r.clients);
		snprintf(pool, sizeof(pool), "%.0f/%.0f", r.idle, r.open);
		printf("%-14s %-10s %-6s %7s %9.1f %8.0f %11s  %-14s", u->nodes[n], r.state, r.weight,
		       cl, r.rate, r.inflight, r.nsw ? pool : "-", clu_switch_of(u, n));
		if (l4 >= 0 && !d[l4].m[1])
			printf("  not answering");
		else if (l4 >= 0 && r.l4)
			printf("  %s %d %d", r.l4_up ? "up" : "down", r.l4_weight, r.l4_slots);
		else if (l4 >= 0)
			printf("  -");
		printf("\n");
	}
	/* what each switch sent where: requests since it started, and per second */
	printf("\nROUTED (requests, req/s) by L7 switch (rows) to node (columns)\n%-14s", "");
	for (int n = 0; n < u->nnodes; n++)
		printf(" %18s", u->nodes[n]);
	printf("\n");
	for (int i = 0; i < nd; i++) {
		if (d[i].node < 0)
			continue;
		printf("%-14s", u->nodes[d[i].node]);
		for (int n = 0; n < u->nnodes; n++) {
			double v, v0;
			char cell[48];

			if (!d[i].m[1] || !clu_node_metric(d[i].m[1], "tandem_requests_total", u->nodes[n], &v))
				snprintf(cell, sizeof(cell), "-");
			else if (d[i].m[0] && clu_node_metric(d[i].m[0], "tandem_requests_total", u->nodes[n], &v0))
				snprintf(cell, sizeof(cell), "%.0f (%.1f)", v, dt > 0 ? (v - v0) / dt : 0);
			else
				snprintf(cell, sizeof(cell), "%.0f", v);
			printf(" %18s", cell);
		}
		printf("\n");
	}
	printf("\nDAEMONS\n");
	for (int i = 0; i < nd; i++)
		printf("%-14s %-22s %s\n", d[i].name, d[i].admin.text, d[i].m[1] ? "ok" : d[i].err);
}

static int ctl_status(const struct cfg *c, int json)
{
	struct clu *u = malloc(sizeof(*u));
	uint64_t t[2];
	int answering = 0, nd;

	if (!u)
		return 1;
	clu_init(u, c);
	nd = u->nd;
	for (int k = 0; k < 2; k++) {
		if (k) {
			uint64_t now = clu_now_ms();

			if (now < t[0] + 1000)
				usleep((t[0] + 1000 - now) * 1000);
		}
		t[k] = clu_now_ms();
		answering = clu_scrape(u, CTL_CONNECT_MS, CTL_REPLY_MS, k);
	}
	if (json) {
		clu_json(u, (t[1] - t[0]) / 1000.0, stdout);
		printf("\n");
	} else {
		ctl_status_text(u, (t[1] - t[0]) / 1000.0);
	}
	clu_clear(u);
	free(u);
	/* 0: every daemon answered; 1: some did not (they are in the table) */
	return answering == nd ? 0 : 1;
}

/* Sends METHOD PATH to every daemon; prints one line per daemon (and the
 * reply's further lines, indented). Returns 0 when every one took it, 1. */
static int ctl_each(const struct cfg *c, const char *token, const char *path, const char *what)
{
	struct clu *u = malloc(sizeof(*u));
	struct clu_daemon *d;
	int nd, took = 0;
	char refused[512] = "";

	if (!u)
		return 1;
	clu_init(u, c);
	d = u->d;
	nd = u->nd;
	if (!nd) {
		free(u);
		fprintf(stderr, "tandem ctl: %s names no admin address ([l4] admin, [node] admin)\n", c->file);
		return 1;
	}
	for (int i = 0; i < nd; i++) {
		char *body = NULL, *nl;
		int st = clu_http(&d[i].admin, "POST", path, token, CTL_CONNECT_MS, CTL_REPLY_MS, &body,
				  d[i].err, sizeof(d[i].err));

		if (st == 200)
			took++;
		else
			clu_add_word(refused, sizeof(refused), d[i].name);
		printf("%-14s %-22s ", d[i].name, d[i].admin.text);
		if (st < 0) {
			printf("%s\n", d[i].err);
			continue;
		}
		printf("%s", st == 200 ? "ok: " : st == 409 ? "" : "refused: ");
		if (st != 200 && st != 409)
			printf("HTTP %d: ", st);
		/* first line on the daemon's line, the rest (file:line errors) below */
		nl = strchr(body, '\n');
		if (nl)
			*nl = 0;
		printf("%s\n", body);
		for (char *l = nl ? nl + 1 : NULL; l && *l; l = nl + 1) {
			nl = strchr(l, '\n');
			if (nl)
				*nl = 0;
			printf("%-14s   %s\n", "", l);
			if (!nl)
				break;
		}
		free(body);
	}
	if (took == nd)
		printf("%s: taken by all %d daemon%s\n", what, nd, nd == 1 ? "" : "s");
	else
		printf("%s: taken by %d of %d daemons; not by: %s\n", what, took, nd, refused);
	free(u);
	return took == nd ? 0 : 1;
}

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: tandem ctl -c FILE [--json] status\n"
		   "       tandem ctl -c FILE node NAME drain | enable | weight N\n"
		   "       tandem ctl -c FILE reload\n"
		   "Talks to every daemon on the admin addresses FILE names ([l4] admin, each\n"
		   "[node] admin). status: one table for the cluster (--json for scripts);\n"
		   "node: a runtime weight on the front end and every L7 switch (drain: 0,\n"
		   "enable: the file's, weight: N in 0..%d), kept over reloads that leave\n"
		   "the node's weight alone; reload: each daemon reads FILE again and says\n"
		   "whether it took it. Exit status: 0 every daemon answered or took it,\n"
		   "1 some did not, 2 usage.\n", ADM_WEIGHT_MAX);
}

int ctl_main(int argc, char **argv)
{
	const char *file = NULL, *token = NULL;
	char tok[160], path[128], what[128];
	int json = 0, nerr = 0, i, r;
	struct cfg *c;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			ctl_usage(stdout);
			return 0;
		} else
			break;
	}
	if (!file || i >= argc) {
		ctl_usage(stderr);
		return 2;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return 1;
	/* a file with errors still names the admin addresses it parsed: a
	 * reload asks the daemons anyway, and each says what it makes of it */
	r = cfg_load(c, file, stderr, &nerr);
	if (r == -EINVAL)
		fprintf(stderr, "tandem ctl: %s has %d error(s); using the addresses it names\n", file, nerr);
	else if (r) {
		cfg_free(c);
		return 1;
	}
	if (c->admin_token_file[0]) {
		int e = adm_token_read(c->admin_token_file, tok, sizeof(tok));

		if (!e)
			token = tok;
		else
			fprintf(stderr, "tandem ctl: admin_token_file %s: %s; sending no token\n",
				c->admin_token_file, strerror(-e));
	}
	if (!strcmp(argv[i], "status") && i + 1 == argc) {
		r = ctl_status(c, json);    /* /metrics is open: no token */
	} else if (!strcmp(argv[i], "reload") && i + 1 == argc) {
		r = ctl_each(c, token, "/reload", "reload");
	} else if (!strcmp(argv[i], "node") && i + 2 < argc) {
		const char *name = argv[i + 1], *verb = argv[i + 2];
		char *end;
		long w = 0;

		if (!cfg_node_find(c, name)) {
			fprintf(stderr, "tandem ctl: no node %s in %s\n", name, file);
			r = 2;
		} else if ((!strcmp(verb, "drain") || !strcmp(verb, "enable")) && i + 3 == argc) {
			snprintf(path, sizeof(path), "/node/%s/%s", name, verb);
			snprintf(what, sizeof(what), "node %s %s", name, verb);
			r = ctl_each(c, token, path, what);
		} else if (!strcmp(verb, "weight") && i + 4 == argc &&
			   (w = strtol(argv[i + 3], &end, 10)) >= 0 && w <= ADM_WEIGHT_MAX && !*end &&
			   *argv[i + 3]) {
			snprintf(path, sizeof(path), "/node/%s/weight?value=%ld", name, w);
			snprintf(what, sizeof(what), "node %s weight %ld", name, w);
			r = ctl_each(c, token, path, what);
		} else {
			ctl_usage(stderr);
			r = 2;
		}
	} else {
		ctl_usage(stderr);
		r = 2;
	}
	cfg_free(c);
	return r;
}
