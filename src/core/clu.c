/* clu: what tandem ctl status and the dashboard gather: every daemon a
 * cluster file names ([l4] admin, each node's admin), their /metrics
 * scraped with bounded waits, and per node what the answering daemons say
 * about it. A daemon that does not answer is kept, with the reason, never
 * left out. No state of its own: the caller owns the struct clu. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clu.h"

uint64_t clu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clu_init(struct clu *u, const struct cfg *c)
{
	int idx[CFG_MAX_NODES];

	memset(u, 0, sizeof(*u));
	snprintf(u->file, sizeof(u->file), "%s", c->file);
	for (int i = 0; i < c->nnodes; i++) {
		idx[i] = -1;
		if (!cfg_node_used(&c->nodes[i]))
			continue;       /* a removed node's tombstone */
		idx[i] = u->nnodes;
		snprintf(u->nodes[u->nnodes++], CFG_NAME_MAX, "%s", c->nodes[i].name);
	}
	if (c->l4.admin.len) {
		snprintf(u->d[u->nd].name, sizeof(u->d[0].name), "l4");
		u->d[u->nd].node = -1;
		u->d[u->nd++].admin = c->l4.admin;
	}
	for (int i = 0; i < c->nnodes; i++)
		if (idx[i] >= 0 && c->nodes[i].admin.len) {
			snprintf(u->d[u->nd].name, sizeof(u->d[0].name), "l7 %s", c->nodes[i].name);
			u->d[u->nd].node = idx[i];
			u->d[u->nd++].admin = c->nodes[i].admin;
		}
}

void clu_clear(struct clu *u)
{
	for (int i = 0; i < u->nd; i++) {
		free(u->d[i].m[0]);
		free(u->d[i].m[1]);
		u->d[i].m[0] = u->d[i].m[1] = NULL;
	}
}

int clu_http(const struct cfg_addr *a, const char *method, const char *path, const char *token,
	     int connect_ms, int reply_ms, char **body, char *err, size_t errlen)
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
	if (poll(&pfd, 1, connect_ms) != 1) {
		snprintf(err, errlen, "not answering (connect: timed out after %d ms)", connect_ms);
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
	end = clu_now_ms() + reply_ms;
	for (;;) {
		uint64_t now = clu_now_ms();
		ssize_t r;

		if (now >= end) {
			snprintf(err, errlen, "no reply within %d ms", reply_ms);
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

int clu_scrape(struct clu *u, int connect_ms, int reply_ms, int skip_gone)
{
	int answering = 0;

	for (int i = 0; i < u->nd; i++) {
		struct clu_daemon *d = &u->d[i];
		char *body;
		int st;

		free(d->m[0]);
		d->m[0] = d->m[1];
		d->m[1] = NULL;
		if (skip_gone && !d->m[0])
			continue;       /* gone in the round before: not waited on twice */
		st = clu_http(&d->admin, "GET", "/metrics", NULL, connect_ms, reply_ms, &body, d->err,
			      sizeof(d->err));
		if (st == 200) {
			d->m[1] = body;
			answering++;
			continue;
		}
		if (st > 0)
			snprintf(d->err, sizeof(d->err), "GET /metrics: HTTP %d", st);
		free(body);
	}
	return answering;
}

int clu_metric(const char *text, const char *name, const char *label, double *v)
{
	size_t nl = strlen(name);
	int found = 0;

	*v = 0;
	if (!text)
		return 0;
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
			lab = label ? strstr(val, label) : NULL;
			if (label && (!lab || lab > close))
				continue;
			val = close + 1;
		} else if (label) {
			continue;
		}
		*v += strtod(val, NULL);
		found++;
	}
	return found;
}

int clu_node_metric(const char *text, const char *name, const char *node, double *v)
{
	char want[CFG_NAME_MAX + 16];

	if (!node)
		return clu_metric(text, name, NULL, v);
	snprintf(want, sizeof(want), "node=\"%s\"", node);
	return clu_metric(text, name, want, v);
}

void clu_add_word(char *list, size_t cap, const char *w)
{
	size_t wl = strlen(w);

	for (const char *p = list; (p = strstr(p, w)); p += wl)
		if ((p == list || p[-1] == ',') && (p[wl] == ',' || !p[wl]))
			return;
	snprintf(list + strlen(list), cap - strlen(list), "%s%s", *list ? "," : "", w);
}

void clu_row(const struct clu *u, int n, double dt, struct clu_row *r)
{
	const char *name = u->nodes[n];
	double v, v0;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < u->nd; i++) {
		const struct clu_daemon *d = &u->d[i];
		char w[16];

		if (!d->m[1])
			continue;
		if (d->node < 0) {
			if (clu_node_metric(d->m[1], "tandem_l4_backend_up", name, &v)) {
				r->l4 = 1;
				r->l4_up = (int)v;
				clu_node_metric(d->m[1], "tandem_l4_backend_weight", name, &v);
				r->l4_weight = (int)v;
				clu_node_metric(d->m[1], "tandem_l4_backend_slots", name, &v);
				r->l4_slots = (int)v;
			}
			continue;
		}
		if (d->node == n && clu_node_metric(d->m[1], "tandem_client_connections", NULL, &v)) {
			r->clients = v;
			r->has_clients = 1;
		}
		if (!clu_node_metric(d->m[1], "tandem_node_up", name, &v))
			continue;       /* this switch's file has no such node */
		r->nsw++;
		{
			double wt = 1;
			int up = v > 0;

			clu_node_metric(d->m[1], "tandem_node_weight", name, &wt);
			clu_add_word(r->state, sizeof(r->state), wt == 0 ? "drain" : up ? "up" : "down");
			snprintf(w, sizeof(w), "%d", (int)wt);
			clu_add_word(r->weight, sizeof(r->weight), w);
		}
		if (clu_node_metric(d->m[1], "tandem_requests_total", name, &v)) {
			r->requests += v;
			if (d->m[0] && dt > 0 && clu_node_metric(d->m[0], "tandem_requests_total", name, &v0) &&
			    v >= v0)
				r->rate += (v - v0) / dt;
		}
		clu_node_metric(d->m[1], "tandem_node_inflight", name, &v);
		r->inflight += v;
		clu_node_metric(d->m[1], "tandem_pool_idle", name, &v);
		r->idle += v;
		clu_node_metric(d->m[1], "tandem_pool_open", name, &v);
		r->open += v;
	}
	if (!r->nsw) {
		snprintf(r->state, sizeof(r->state), "?");
		snprintf(r->weight, sizeof(r->weight), "?");
	}
}

const char *clu_switch_of(const struct clu *u, int n)
{
	for (int i = 0; i < u->nd; i++)
		if (u->d[i].node == n)
			return u->d[i].m[1] ? "ok" : "not answering";
	return "none";
}

void clu_json_str(FILE *f, const char *s)
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

void clu_json(const struct clu *u, double dt, FILE *f)
{
	int first = 1;

	fprintf(f, "{\"file\":");
	clu_json_str(f, u->file);
	fprintf(f, ",\"interval_s\":%.3f,\"daemons\":[", dt);
	for (int i = 0; i < u->nd; i++) {
		const struct clu_daemon *d = &u->d[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		clu_json_str(f, d->name);
		fprintf(f, ",\"role\":\"%s\",\"admin\":", d->node < 0 ? "l4" : "l7");
		clu_json_str(f, d->admin.text);
		fprintf(f, ",\"answering\":%s", d->m[1] ? "true" : "false");
		if (!d->m[1]) {
			fprintf(f, ",\"error\":");
			clu_json_str(f, d->err);
		}
		fprintf(f, "}");
	}
	fprintf(f, "],\"nodes\":[");
	for (int n = 0; n < u->nnodes; n++) {
		struct clu_row r;

		clu_row(u, n, dt, &r);
		fprintf(f, "%s{\"name\":", n ? "," : "");
		clu_json_str(f, u->nodes[n]);
		fprintf(f, ",\"state\":");
		clu_json_str(f, r.state);
		fprintf(f, ",\"weight\":");
		clu_json_str(f, r.weight);
		fprintf(f, ",\"switches_answering\":%d,\"l7_switch\":", r.nsw);
		clu_json_str(f, clu_switch_of(u, n));
		if (r.has_clients)
			fprintf(f, ",\"clients\":%.0f", r.clients);
		else
			fprintf(f, ",\"clients\":null");
		fprintf(f, ",\"requests\":%.0f,\"req_per_s\":%.2f,\"inflight\":%.0f,\"pool_idle\":%.0f,"
			"\"pool_open\":%.0f", r.requests, r.rate, r.inflight, r.idle, r.open);
		if (r.l4)
			fprintf(f, ",\"l4\":{\"up\":%s,\"weight\":%d,\"slots\":%d}", r.l4_up ? "true" : "false",
				r.l4_weight, r.l4_slots);
		else
			fprintf(f, ",\"l4\":null");
		fprintf(f, "}");
	}
	fprintf(f, "],\"routed\":[");
	for (int i = 0; i < u->nd; i++) {
		const struct clu_daemon *d = &u->d[i];

		if (d->node < 0 || !d->m[1])
			continue;
		for (int n = 0; n < u->nnodes; n++) {
			double v, v0 = 0;

			if (!clu_node_metric(d->m[1], "tandem_requests_total", u->nodes[n], &v))
				continue;
			if (!d->m[0] || !clu_node_metric(d->m[0], "tandem_requests_total", u->nodes[n], &v0))
				v0 = v;
			fprintf(f, "%s{\"from\":", first ? "" : ",");
			first = 0;
			clu_json_str(f, u->nodes[d->node]);
			fprintf(f, ",\"to\":");
			clu_json_str(f, u->nodes[n]);
			fprintf(f, ",\"requests\":%.0f,\"req_per_s\":%.2f}", v, dt > 0 ? (v - v0) / dt : 0);
		}
	}
	fprintf(f, "]}");
}
