/* dash: the live dashboard of one daemon's admin address. A gatherer
 * thread scrapes /metrics of every daemon the cluster file names once a
 * second (src/core/clu.c, as tandem ctl status does), keeps the last
 * DASH_HIST seconds of per-node rates, and renders them with the current
 * status into one JSON text that GET /cluster.json hands out as it is.
 * It gathers only while someone looks: from the first GET /cluster.json
 * until DASH_IDLE_MS after the last one (then its history starts again),
 * so an unwatched cluster does not scrape itself N x N times a second.
 *
 * How it stays off the admin servers' loops: the admin server (tandem l4's
 * main loop, tandem l7's admin thread) only reads the request and calls
 * dash_serve, which starts a detached thread for the reply (at most
 * DASH_MAX_SERVING at once, else 503 at once). No admin server ever waits
 * for a scrape: each reply is the last snapshot, and a round of scrapes
 * takes at most nd x (DASH_CONNECT_MS + DASH_REPLY_MS) on the gatherer's
 * own thread; a daemon that does not answer costs that round its share
 * and is shown as not answering. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clu.h"
#include "dash.h"
#include "log.h"

#define DASH_HIST        300            /* samples, one a round: the last 5 minutes */
#define DASH_ROUND_MS    1000
#define DASH_IDLE_MS     300000         /* gathering stops this long after the last look */
#define DASH_CONNECT_MS  250            /* per daemon and round: loopback or a LAN */
#define DASH_REPLY_MS    750
#define DASH_FIRST_MS    3000           /* a reply waits this long for a first round */
#define DASH_MAX_SERVING 8
#define DASH_ENGINES     4
#define DASH_CLASSES     CFG_MAX_CLASSES

/* dash_assets.c */
extern const char dash_html[], dash_html_end[], dash_js[], dash_js_end[];

/* One round: rates over the round before it. NAN: no daemon said. */
struct dash_sample {
	double t;                       /* wall clock, seconds */
	float conn[CFG_MAX_NODES];      /* connections/s the node's switch accepted (from the L4 level) */
	float in[CFG_MAX_NODES];        /* req/s the node's switch forwarded */
	float served[CFG_MAX_NODES];    /* req/s every switch sent to the node's web server */
	float bytes[DASH_ENGINES];      /* relay body bytes/s by engine, all switches */
	float queue[DASH_CLASSES];      /* Web-QoS requests waiting, by class, all switches */
};

struct dash {
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* CLOCK_MONOTONIC */
	pthread_t thread;
	int stop, serving;
	char self[48];
	struct clu *next;               /* dash_config's, for the gatherer's next round */
	uint64_t want_until;            /* gather until then (monotonic ms) */
	char *snap;                     /* the last /cluster.json; NULL: none yet */
	size_t snap_len;
	unsigned rounds;
	/* the gatherer's own */
	struct clu *u;
	struct dash_sample *hist;       /* a ring of DASH_HIST */
	int nhist, head;
	uint64_t last_round;            /* its start, monotonic ms; 0: none */
	char engines[DASH_ENGINES][16];
	int nengines;
	char classes[DASH_CLASSES][CFG_NAME_MAX];
	int nclasses;
};

/* Adds the values of LABEL in the samples of metric NAME in TEXT to
 * OUT (N names of LEN bytes, at most MAX), once each. */
static void dash_labels(const char *text, const char *name, const char *label, char *out, size_t len,
			int *n, int max)
{
	char pre[96];
	size_t pl = snprintf(pre, sizeof(pre), "%s{%s=\"", name, label);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *v = l + pl, *e;
		int k;

		if (strncmp(l, pre, pl) || !(e = strchr(v, '"')) || (size_t)(e - v) >= len)
			continue;
		for (k = 0; k < *n; k++)
			if (!strncmp(out + k * len, v, e - v) && !out[k * len + (e - v)])
				break;
		if (k == *n && *n < max) {
			memcpy(out + k * len, v, e - v);
			out[k * len + (e - v)] = 0;
			(*n)++;
		}
	}
}

/* The rate of NAME{LABEL} summed over the daemons of node N (-1: every
 * switch) that answered both rounds; NAN when none did. GAUGE: the last
 * value, summed, instead of a rate. */
static float dash_rate(const struct clu *u, int n, const char *name, const char *label, double dt, int gauge)
{
	double sum = 0, v, v0;
	int seen = 0;

	for (int i = 0; i < u->nd; i++) {
		const struct clu_daemon *d = &u->d[i];

		if (d->node < 0 || (n >= 0 && d->node != n) || !d->m[1] ||
		    !clu_metric(d->m[1], name, label, &v))
			continue;
		if (gauge) {
			sum += v;
			seen = 1;
		} else if (d->m[0] && dt > 0 && clu_metric(d->m[0], name, label, &v0) && v >= v0) {
			sum += (v - v0) / dt;
			seen = 1;
		}
	}
	return seen ? (float)sum : NAN;
}

static void dash_sample(struct dash *d, double dt)
{
	struct clu *u = d->u;
	struct dash_sample *s;
	struct timespec ts;
	char lab[96];

	for (int i = 0; i < u->nd; i++)
		if (u->d[i].node >= 0 && u->d[i].m[1]) {
			dash_labels(u->d[i].m[1], "tandem_relay_bytes_total", "engine", d->engines[0],
				    sizeof(d->engines[0]), &d->nengines, DASH_ENGINES);
			dash_labels(u->d[i].m[1], "tandem_class_queue_length", "class", d->classes[0],
				    sizeof(d->classes[0]), &d->nclasses, DASH_CLASSES);
		}
	d->head = (d->head + 1) % DASH_HIST;
	if (d->nhist < DASH_HIST)
		d->nhist++;
	s = &d->hist[d->head];
	clock_gettime(CLOCK_REALTIME, &ts);
	s->t = ts.tv_sec + ts.tv_nsec / 1e9;
	for (int n = 0; n < u->nnodes; n++) {
		snprintf(lab, sizeof(lab), "node=\"%s\"", u->nodes[n]);
		s->conn[n] = dash_rate(u, n, "tandem_accepted_total", NULL, dt, 0);
		s->in[n] = dash_rate(u, n, "tandem_requests_total", NULL, dt, 0);
		s->served[n] = dash_rate(u, -1, "tandem_requests_total", lab, dt, 0);
	}
	for (int e = 0; e < d->nengines; e++) {
		snprintf(lab, sizeof(lab), "engine=\"%s\"", d->engines[e]);
		s->bytes[e] = dash_rate(u, -1, "tandem_relay_bytes_total", lab, dt, 0);
	}
	for (int k = 0; k < d->nclasses; k++) {
		snprintf(lab, sizeof(lab), "class=\"%s\"", d->classes[k]);
		s->queue[k] = dash_rate(u, -1, "tandem_class_queue_length", lab, dt, 1);
	}
}

static void dash_num(FILE *f, float v)
{
	if (isnan(v))
		fputs("null", f);
	else
		fprintf(f, "%.4g", v);
}

/* One series of the history: the field at byte OFF (+ IDX floats) of every
 * sample, oldest first. */
static void dash_series(FILE *f, const struct dash *d, size_t off, int idx)
{
	fputc('[', f);
	for (int i = 0; i < d->nhist; i++) {
		const struct dash_sample *s = &d->hist[(d->head - d->nhist + 1 + i + DASH_HIST) % DASH_HIST];

		if (i)
			fputc(',', f);
		dash_num(f, ((const float *)((const char *)s + off))[idx]);
	}
	fputc(']', f);
}

static void dash_series_set(FILE *f, const struct dash *d, const char *key, size_t off, int n)
{
	fprintf(f, ",\"%s\":[", key);
	for (int k = 0; k < n; k++) {
		if (k)
			fputc(',', f);
		dash_series(f, d, off, k);
	}
	fputc(']', f);
}

static void dash_names(FILE *f, const char *key, const char *names, size_t len, int n)
{
	fprintf(f, ",\"%s\":[", key);
	for (int k = 0; k < n; k++) {
		if (k)
			fputc(',', f);
		clu_json_str(f, names + k * len);
	}
	fputc(']', f);
}

/* The whole /cluster.json of this round; NULL when out of memory. */
static char *dash_render(struct dash *d, double dt, unsigned round, size_t *len)
{
	struct clu *u = d->u;
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	double total = 0, rate = 0;

	if (!f)
		return NULL;
	fprintf(f, "{\"by\":");
	clu_json_str(f, d->self);
	fprintf(f, ",\"round\":%u,\"time\":%.3f,\"status\":", round, d->hist[d->head].t);
	clu_json(u, dt, f);
	for (int n = 0; n < u->nnodes; n++) {
		struct clu_row r;

		clu_row(u, n, dt, &r);
		total += r.requests;
		rate += r.rate;
	}
	fprintf(f, ",\"totals\":{\"requests\":%.0f,\"req_per_s\":%.2f}", total, rate);
	fprintf(f, ",\"history\":{\"interval_ms\":%d,\"t\":[", DASH_ROUND_MS);
	for (int i = 0; i < d->nhist; i++)
		fprintf(f, "%s%.3f", i ? "," : "", d->hist[(d->head - d->nhist + 1 + i + DASH_HIST) % DASH_HIST].t);
	fputc(']', f);
	dash_names(f, "nodes", u->nodes[0], sizeof(u->nodes[0]), u->nnodes);
	dash_series_set(f, d, "conn_per_s", offsetof(struct dash_sample, conn), u->nnodes);
	dash_series_set(f, d, "in_per_s", offsetof(struct dash_sample, in), u->nnodes);
	dash_series_set(f, d, "served_per_s", offsetof(struct dash_sample, served), u->nnodes);
	dash_names(f, "engines", d->engines[0], sizeof(d->engines[0]), d->nengines);
	dash_series_set(f, d, "bytes_per_s", offsetof(struct dash_sample, bytes), d->nengines);
	dash_names(f, "classes", d->classes[0], sizeof(d->classes[0]), d->nclasses);
	dash_series_set(f, d, "queue", offsetof(struct dash_sample, queue), d->nclasses);
	fprintf(f, "}}\n");
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

static void dash_reset(struct dash *d)
{
	d->nhist = 0;
	d->head = 0;
	d->last_round = 0;
	d->nengines = d->nclasses = 0;
	memset(d->hist, 0, DASH_HIST * sizeof(*d->hist));
	if (d->u)
		clu_clear(d->u);
}

static void dash_wait_until(struct dash *d, uint64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	pthread_cond_timedwait(&d->cond, &d->lock, &ts);
}

static void *dash_main(void *arg)
{
	struct dash *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		uint64_t now = clu_now_ms(), t0;
		unsigned round;
		double dt;
		size_t len = 0;
		char *snap;

		if (d->next) {
			/* a new file: its nodes may differ, the history starts again */
			if (d->u)
				clu_clear(d->u);
			free(d->u);
			d->u = d->next;
			d->next = NULL;
			dash_reset(d);
		}
		if (!d->u || now >= d->want_until) {
			if (d->last_round) {
				/* nobody looked for DASH_IDLE_MS: the next look
				 * waits for a fresh round, not this old one */
				dash_reset(d);
				free(d->snap);
				d->snap = NULL;
			}
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		t0 = clu_now_ms();
		clu_scrape(d->u, DASH_CONNECT_MS, DASH_REPLY_MS, 0);
		dt = d->last_round ? (t0 - d->last_round) / 1000.0 : 0;
		d->last_round = t0;
		dash_sample(d, dt);
		pthread_mutex_lock(&d->lock);
		round = d->rounds + 1;
		pthread_mutex_unlock(&d->lock);
		snap = dash_render(d, dt, round, &len);
		pthread_mutex_lock(&d->lock);
		if (snap) {
			free(d->snap);
			d->snap = snap;
			d->snap_len = len;
		}
		d->rounds = round;
		pthread_cond_broadcast(&d->cond);
		while (!d->stop && !d->next && clu_now_ms() < t0 + DASH_ROUND_MS)
			dash_wait_until(d, t0 + DASH_ROUND_MS);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct dash *dash_new(const char *self)
{
	struct dash *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (!d)
		return NULL;
	d->hist = calloc(DASH_HIST, sizeof(*d->hist));
	if (!d->hist)
		goto fail;
	snprintf(d->self, sizeof(d->self), "%s", self);
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, dash_main, d)) {
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		goto fail;
	}
	return d;
fail:
	free(d->hist);
	free(d);
	return NULL;
}

void dash_config(struct dash *d, const struct cfg *c)
{
	struct clu *u;

	if (!d || !(u = malloc(sizeof(*u))))
		return;
	clu_init(u, c);
	pthread_mutex_lock(&d->lock);
	free(d->next);
	d->next = u;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

enum { DASH_PAGE, DASH_SCRIPT, DASH_CHART, DASH_JSON };

struct dash_req {
	struct dash *d;
	int fd, what;
};

static void dash_reply_chart(int fd)
{
	char msg[256];
	struct stat st;
	char *buf = NULL;
	int cfd = open(DASH_CHART_JS, O_RDONLY | O_CLOEXEC), n;
	ssize_t got = 0;

	if (cfd < 0) {
		n = snprintf(msg, sizeof(msg), "Chart.js is missing: %s: %s (Debian: apt-get install "
			     "libjs-chart.js)\n", DASH_CHART_JS, strerror(errno));
		adm_reply(fd, errno == ENOENT ? 404 : 500, NULL, msg, n);
		return;
	}
	if (fstat(cfd, &st) || !(buf = malloc(st.st_size + 1)))
		goto fail;
	while (got < st.st_size) {
		ssize_t r = read(cfd, buf + got, st.st_size - got);

		if (r <= 0)
			goto fail;
		got += r;
	}
	close(cfd);
	adm_reply(fd, 200, "application/javascript", buf, got);
	free(buf);
	return;
fail:
	n = snprintf(msg, sizeof(msg), "Chart.js: reading %s failed: %s\n", DASH_CHART_JS,
		     strerror(errno ? errno : EIO));
	adm_reply(fd, 500, NULL, msg, n);
	free(buf);
	close(cfd);
}

static void dash_reply_json(struct dash *d, int fd)
{
	char *copy = NULL;
	size_t len = 0;
	uint64_t end = clu_now_ms() + DASH_FIRST_MS;

	pthread_mutex_lock(&d->lock);
	if (clu_now_ms() >= d->want_until)
		pthread_cond_broadcast(&d->cond);       /* wake the gatherer */
	d->want_until = clu_now_ms() + DASH_IDLE_MS;
	while (!d->snap && !d->stop && clu_now_ms() < end)
		dash_wait_until(d, end);
	if (d->snap && (copy = malloc(d->snap_len)))
		memcpy(copy, d->snap, len = d->snap_len);
	pthread_mutex_unlock(&d->lock);
	if (copy)
		adm_reply(fd, 200, "application/json", copy, len);
	else
		adm_reply(fd, 503, NULL, "no data gathered yet, try again\n", 32);
	free(copy);
}

static void *dash_reply(void *arg)
{
	struct dash_req *q = arg;
	struct dash *d = q->d;
	struct timeval tv = { .tv_sec = 2 };
	char rest[4096];

	/* a client that stops reading holds this thread, not an admin loop */
	setsockopt(q->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* the admin server read only the start of a browser's long request
	 * head: what is left unread when we close would make the kernel send
	 * a reset, which can cut the reply short at the client */
	for (int i = 0; i < 16 && recv(q->fd, rest, sizeof(rest), MSG_DONTWAIT) > 0; i++)
		;
	switch (q->what) {
	case DASH_PAGE:
		adm_reply(q->fd, 200, "text/html; charset=utf-8", dash_html, dash_html_end - dash_html);
		break;
	case DASH_SCRIPT:
		adm_reply(q->fd, 200, "application/javascript", dash_js, dash_js_end - dash_js);
		break;
	case DASH_CHART:
		dash_reply_chart(q->fd);
		break;
	default:
		dash_reply_json(d, q->fd);
		break;
	}
	close(q->fd);
	free(q);
	pthread_mutex_lock(&d->lock);
	d->serving--;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int dash_serve(struct dash *d, int fd, const struct adm_req *r)
{
	static const struct { const char *path; int what; } paths[] = {
		{ "/", DASH_PAGE }, { "/index.html", DASH_PAGE }, { "/dash.js", DASH_SCRIPT },
		{ "/chart.js", DASH_CHART }, { "/cluster.json", DASH_JSON },
	};
	struct dash_req *q;
	pthread_attr_t at;
	pthread_t t;
	int what = -1, busy;

	if (!d || strcmp(r->method, "GET"))
		return 0;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!strcmp(r->path, paths[i].path))
			what = paths[i].what;
	if (what < 0)
		return 0;
	pthread_mutex_lock(&d->lock);
	busy = d->serving >= DASH_MAX_SERVING;
	if (!busy)
		d->serving++;
	pthread_mutex_unlock(&d->lock);
	q = busy ? NULL : malloc(sizeof(*q));
	if (q) {
		*q = (struct dash_req){ d, fd, what };
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (!pthread_create(&t, &at, dash_reply, q)) {
			pthread_attr_destroy(&at);
			return 1;
		}
		pthread_attr_destroy(&at);
		free(q);
	}
	if (!busy) {
		pthread_mutex_lock(&d->lock);
		d->serving--;
		pthread_mutex_unlock(&d->lock);
	}
	adm_reply(fd, 503, NULL, "dashboard busy, try again\n", 26);
	close(fd);
	return 1;
}

void dash_free(struct dash *d)
{
	uint64_t end = clu_now_ms() + 3000;
	int left;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_mutex_lock(&d->lock);
	while (d->serving && clu_now_ms() < end)
		dash_wait_until(d, end);
	left = d->serving;
	pthread_mutex_unlock(&d->lock);
	if (left) {
		log_warn("dashboard: %d replies still being written at exit, left to the exit", left);
		return;
	}
	if (d->u)
		clu_clear(d->u);
	free(d->u);
	free(d->next);
	free(d->snap);
	free(d->hist);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
