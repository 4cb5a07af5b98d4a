/* ctl_cmd: `tandem ctl`, the operator's view of and hand on a running
 * cluster. It reads the cluster file for every daemon's admin address (the
 * L4 front end's [l4] admin, each node's admin for its L7 switch), scrapes
 * their /metrics twice a second apart for `status`, and sends the control
 * verbs (POST /node/NAME/..., POST /reload) to each, saying which took
 * them. A daemon that does not answer is reported as such, never left out. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "adm.h"
#include "cfg.h"
#include "ctl.h"

#define CTL_CONNECT_MS 1000
#define CTL_REPLY_MS   6000     /* a reload waits up to 2 s for old readers */
#define CTL_MAX_DAEMONS (CFG_MAX_NODES + 1)

struct ctl_daemon {
	char name[48];                  /* "l4", "l7 NAME" */
	int node;                       /* its node's index; -1: the front end */
	const struct cfg_addr *admin;
	char *m[2];                     /* the two scrapes' bodies; NULL: no answer */
	char err[160];                  /* why not, from the last request */
};

static uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request to A, the whole reply read. Returns the HTTP status, with the
 * body in *body (malloc'd, NUL-terminated), or -1 with the reason in ERR. */
static int ctl_http(const struct cfg_addr *a, const char *method, const char *path, const char *token,
		    char **body, char *err, size_t errlen)
{
	char req[512], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	uint64_t end;
	int fd, n, status = -1, e;
	socklen_t el = sizeof(e);
	struct pollfd pfd;

	*body = NULL;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) && errno != EINPROGRESS) {
		snprintf(err, errlen, "not answering (connect: %s)", strerror(errno));
		goto out;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, CTL_CONNECT_MS) != 1) {
		snprintf(err, errlen, "not answering (connect: timed out after %d ms)", CTL_CONNECT_MS);
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
		snprintf(err, errlen, "not answering (connect: %s)", strerror(e));
		goto out;
	}
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-ctl\r\n"
		     "%s%s%sContent-Length: 0\r\nConnection: close\r\n\r\n", method, path, a->text,
		     token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
	/* a few hundred bytes into an empty socket buffer: one write */
	if (write(fd, req, n) != n) {
		snprintf(err, errlen, "not answering (write: %s)", strerror(errno));
		goto out;
	}
	end = ctl_now_ms() + CTL_REPLY_MS;
	for (;;) {
		uint64_t now = ctl_now_ms();
		ssize_t r;

		if (now >= end) {
			snprintf(err, errlen, "no reply within %d ms", CTL_REPLY_MS);
			goto out;
		}
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(end - now)) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		len += r;
	}
	if (!buf) {
		snprintf(err, errlen, "closed without a reply");
		goto out;
	}
	buf[len] = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(err, errlen, "not an HTTP reply");
		status = -1;
		goto out;
	}
	p = strstr(buf, "\r\n\r\n");
	*body = strdup(p ? p + 4 : "");
	if (!*body) {
		snprintf(err, errlen, "out of memory");
		status = -1;
	}
out:
	free(buf);
	close(fd);
	return status;
}

/* The sum of the samples of metric NAME in TEXT (Prometheus text format)
 * with node="NODE" among their labels (NODE NULL: any). Returns the count
 * of samples (0: absent), the sum in *v. */
static int ctl_metric(const char *text, const char *name, const char *node, double *v)
{
	size_t nl = strlen(name);
	char want[CFG_NAME_MAX + 16];
	int found = 0;

	*v = 0;
	if (!text)
		return 0;
	if (node)
		snprintf(want, sizeof(want), "node=\"%s\"", node);
	for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		const char *val, *close;

		if (*l == '#' || strncmp(l, name, nl) || (l[nl] != '{' && l[nl] != ' '))
			continue;
		val = l + nl;
		if (*val == '{') {
			const char *lab;

			close = strchr(val, '}');
			if (!close)
				continue;
			lab = node ? strstr(val, want) : NULL;
			if (node && (!lab || lab > close))
				continue;
			val = close + 1;
		} else if (node) {
			continue;
		}
		*v += strtod(val, NULL);
		found++;
	}
	return found;
}

static int ctl_daemons(const struct cfg *c, struct ctl_daemon *d)
{
	int n = 0;

	if (c->l4.admin.len) {
		snprintf(d[n].name, sizeof(d[n].name), "l4");
		d[n].node = -1;
		d[n++].admin = &c->l4.admin;
	}
	for (int i = 0; i < c->nnodes; i++)
		if (cfg_node_used(&c->nodes[i]) && c->nodes[i].admin.len) {
			snprintf(d[n].name, sizeof(d[n].name), "l7 %s", c->nodes[i].name);
			d[n].node = i;
			d[n++].admin = &c->nodes[i].admin;
		}
	return n;
}

static void ctl_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* What one node looks like from the daemons that answered. */
struct ctl_row {
	char state[32];                 /* "up", "down", "drain", or several: "up,drain" (switches disagree) */
	char weight[32];
	double clients, rate, inflight, idle, open;
	int has_clients, nsw;           /* nsw: switches that answered about it */
	int l4, l4_up, l4_weight, l4_slots;     /* l4: the front end answered about it */
};

static void ctl_add_word(char *list, size_t cap, const char *w)
{
	size_t wl = strlen(w);

	for (const char *p = list; (p = strstr(p, w)); p += wl)
		if ((p == list || p[-1] == ',') && (p[wl] == ',' || !p[wl]))
			return;
	snprintf(list + strlen(list), cap - strlen(list), "%s%s", *list ? "," : "", w);
}

static void ctl_row(const struct cfg *c, int n, struct ctl_daemon *d, int nd, double dt, struct ctl_row *r)
{
	const char *name = c->nodes[n].name;
	double v, v0;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < nd; i++) {
		char w[16];

		if (!d[i].m[1])
			continue;
		if (d[i].node < 0) {
			if (ctl_metric(d[i].m[1], "tandem_l4_backend_up", name, &v)) {
				r->l4 = 1;
				r->l4_up = (int)v;
				ctl_metric(d[i].m[1], "tandem_l4_backend_weight", name, &v);
				r->l4_weight = (int)v;
				ctl_metric(d[i].m[1], "tandem_l4_backend_slots", name, &v);
				r->l4_slots = (int)v;
			}
			continue;
		}
		if (d[i].node == n && ctl_metric(d[i].m[1], "tandem_client_connections", NULL, &v)) {
			r->clients = v;
			r->has_clients = 1;
		}
		if (!ctl_metric(d[i].m[1], "tandem_node_up", name, &v))
			continue;       /* this switch's file has no such node */
		r->nsw++;
		{
			double wt = 1;
			int up = v > 0;

			ctl_metric(d[i].m[1], "tandem_node_weight", name, &wt);
			ctl_add_word(r->state, sizeof(r->state), wt == 0 ? "drain" : up ? "up" : "down");
			snprintf(w, sizeof(w), "%d", (int)wt);
			ctl_add_word(r->weight, sizeof(r->weight), w);
		}
		if (d[i].m[0] && dt > 0 && ctl_metric(d[i].m[0], "tandem_requests_total", name, &v0) &&
		    ctl_metric(d[i].m[1], "tandem_requests_total", name, &v) && v >= v0)
			r->rate += (v - v0) / dt;
		ctl_metric(d[i].m[1], "tandem_node_inflight", name, &v);
		r->inflight += v;
		ctl_metric(d[i].m[1], "tandem_pool_idle", name, &v);
		r->idle += v;
		ctl_metric(d[i].m[1], "tandem_pool_open", name, &v);
		r->open += v;
	}
	if (!r->nsw) {
		snprintf(r->state, sizeof(r->state), "?");
		snprintf(r->weight, sizeof(r->weight), "?");
	}
}

static const char *ctl_switch_of(int n, struct ctl_daemon *d, int nd)
{
	for (int i = 0; i < nd; i++)
		if (d[i].node == n)
			return d[i].m[1] ? "ok" : "not answering";
	return "none";
}

static void ctl_status_text(const struct cfg *c, struct ctl_daemon *d, int nd, double dt)
{
	int answering = 0, l4 = -1;

	for (int i = 0; i < nd; i++) {
		answering += d[i].m[1] != NULL;
		if (d[i].node < 0)
			l4 = i;
	}
	printf("cluster %s: %d daemon%s, %d answering; req/s over %.1f s\n\n", c->file, nd,
	       nd == 1 ? "" : "s", answering, dt);
	printf("%-14s %-10s %-6s %7s %9s %8s %11s  %-14s%s\n", "NODE", "STATE", "WEIGHT", "CLIENTS",
	       "REQ/S", "INFLIGHT", "POOL I/O", "L7 SWITCH", l4 >= 0 ? "  L4 (up weight slots)" : "");
	for (int n = 0; n < c->nnodes; n++) {
		struct ctl_row r;
		char cl[16] = "-", pool[32];

		if (!cfg_node_used(&c->nodes[n]))
			continue;
		ctl_row(c, n, d, nd, dt, &r);
		if (r.has_clients)
			snprintf(cl, sizeof(cl), "%.0f", r.clients);
		snprintf(pool, sizeof(pool), "%.0f/%.0f", r.idle, r.open);
		printf("%-14s %-10s %-6s %7s %9.1f %8.0f %11s  %-14s", c->nodes[n].name, r.state, r.weight,
		       cl, r.rate, r.inflight, r.nsw ? pool : "-", ctl_switch_of(n, d, nd));
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
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			printf(" %18s", c->nodes[n].name);
	printf("\n");
	for (int i = 0; i < nd; i++) {
		if (d[i].node < 0)
			continue;
		printf("%-14s", c->nodes[d[i].node].name);
		for (int n = 0; n < c->nnodes; n++) {
			double v, v0;
			char cell[48];

			if (!cfg_node_used(&c->nodes[n]))
				continue;
			if (!d[i].m[1] || !ctl_metric(d[i].m[1], "tandem_requests_total", c->nodes[n].name, &v))
				snprintf(cell, sizeof(cell), "-");
			else if (d[i].m[0] && ctl_metric(d[i].m[0], "tandem_requests_total", c->nodes[n].name, &v0))
				snprintf(cell, sizeof(cell), "%.0f (%.1f)", v, dt > 0 ? (v - v0) / dt : 0);
			else
				snprintf(cell, sizeof(cell), "%.0f", v);
			printf(" %18s", cell);
		}
		printf("\n");
	}
	printf("\nDAEMONS\n");
	for (int i = 0; i < nd; i++)
		printf("%-14s %-22s %s\n", d[i].name, d[i].admin->text, d[i].m[1] ? "ok" : d[i].err);
}

static void ctl_status_json(const struct cfg *c, struct ctl_daemon *d, int nd, double dt)
{
	int first = 1;

	printf("{\"file\":");
	ctl_json_str(stdout, c->file);
	printf(",\"interval_s\":%.3f,\"daemons\":[", dt);
	for (int i = 0; i < nd; i++) {
		printf("%s{\"name\":", i ? "," : "");
		ctl_json_str(stdout, d[i].name);
		printf(",\"role\":\"%s\",\"admin\":", d[i].node < 0 ? "l4" : "l7");
		ctl_json_str(stdout, d[i].admin->text);
		printf(",\"answering\":%s", d[i].m[1] ? "true" : "false");
		if (!d[i].m[1]) {
			printf(",\"error\":");
			ctl_json_str(stdout, d[i].err);
		}
		printf("}");
	}
	printf("],\"nodes\":[");
	for (int n = 0; n < c->nnodes; n++) {
		struct ctl_row r;

		if (!cfg_node_used(&c->nodes[n]))
			continue;
		ctl_row(c, n, d, nd, dt, &r);
		printf("%s{\"name\":", first ? "" : ",");
		first = 0;
		ctl_json_str(stdout, c->nodes[n].name);
		printf(",\"state\":");
		ctl_json_str(stdout, r.state);
		printf(",\"weight\":");
		ctl_json_str(stdout, r.weight);
		printf(",\"switches_answering\":%d,\"l7_switch\":", r.nsw);
		ctl_json_str(stdout, ctl_switch_of(n, d, nd));
		if (r.has_clients)
			printf(",\"clients\":%.0f", r.clients);
		else
			printf(",\"clients\":null");
		printf(",\"req_per_s\":%.2f,\"inflight\":%.0f,\"pool_idle\":%.0f,\"pool_open\":%.0f",
		       r.rate, r.inflight, r.idle, r.open);
		if (r.l4)
			printf(",\"l4\":{\"up\":%s,\"weight\":%d,\"slots\":%d}", r.l4_up ? "true" : "false",
			       r.l4_weight, r.l4_slots);
		else
			printf(",\"l4\":null");
		printf("}");
	}
	printf("],\"routed\":[");
	first = 1;
	for (int i = 0; i < nd; i++) {
		if (d[i].node < 0 || !d[i].m[1])
			continue;
		for (int n = 0; n < c->nnodes; n++) {
			double v, v0 = 0;

			if (!cfg_node_used(&c->nodes[n]) ||
			    !ctl_metric(d[i].m[1], "tandem_requests_total", c->nodes[n].name, &v))
				continue;
			if (!d[i].m[0] || !ctl_metric(d[i].m[0], "tandem_requests_total", c->nodes[n].name, &v0))
				v0 = v;
			printf("%s{\"from\":", first ? "" : ",");
			first = 0;
			ctl_json_str(stdout, c->nodes[d[i].node].name);
			printf(",\"to\":");
			ctl_json_str(stdout, c->nodes[n].name);
			printf(",\"requests\":%.0f,\"req_per_s\":%.2f}", v, dt > 0 ? (v - v0) / dt : 0);
		}
	}
	printf("]}\n");
}

static int ctl_status(const struct cfg *c, const char *token, int json)
{
	struct ctl_daemon d[CTL_MAX_DAEMONS] = { 0 };
	int nd = ctl_daemons(c, d), answering = 0;
	uint64_t t[2];

	(void)token;    /* /metrics is open: no token sent where none is needed */
	for (int k = 0; k < 2; k++) {
		if (k) {
			uint64_t now = ctl_now_ms();

			if (now < t[0] + 1000)
				usleep((t[0] + 1000 - now) * 1000);
		}
		t[k] = ctl_now_ms();
		for (int i = 0; i < nd; i++) {
			char *body;
			int st;

			if (k && !d[i].m[0])
				continue;       /* gone in the first round: not waited on twice */
			st = ctl_http(d[i].admin, "GET", "/metrics", NULL, &body, d[i].err, sizeof(d[i].err));
			if (st == 200) {
				d[i].m[k] = body;
			} else {
				if (st > 0)
					snprintf(d[i].err, sizeof(d[i].err), "GET /metrics: HTTP %d", st);
				free(body);
			}
		}
	}
	for (int i = 0; i < nd; i++)
		answering += d[i].m[1] != NULL;
	if (json)
		ctl_status_json(c, d, nd, (t[1] - t[0]) / 1000.0);
	else
		ctl_status_text(c, d, nd, (t[1] - t[0]) / 1000.0);
	for (int i = 0; i < nd; i++) {
		free(d[i].m[0]);
		free(d[i].m[1]);
	}
	/* 0: every daemon answered; 1: some did not (they are in the table) */
	return answering == nd ? 0 : 1;
}

/* Sends METHOD PATH to every daemon; prints one line per daemon (and the
 * reply's further lines, indented). Returns 0 when every one took it, 1. */
static int ctl_each(const struct cfg *c, const char *token, const char *path, const char *what)
{
	struct ctl_daemon d[CTL_MAX_DAEMONS] = { 0 };
	int nd = ctl_daemons(c, d), took = 0;
	char refused[512] = "";

	if (!nd) {
		fprintf(stderr, "tandem ctl: %s names no admin address ([l4] admin, [node] admin)\n", c->file);
		return 1;
	}
	for (int i = 0; i < nd; i++) {
		char *body = NULL, *nl;
		int st = ctl_http(d[i].admin, "POST", path, token, &body, d[i].err, sizeof(d[i].err));

		if (st == 200)
			took++;
		else
			ctl_add_word(refused, sizeof(refused), d[i].name);
		printf("%-14s %-22s ", d[i].name, d[i].admin->text);
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
		r = ctl_status(c, token, json);
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
