/* sess_log: the access log's view of a request, from its head's first byte
 * to the end of its response: exactly one line per request, however it
 * ends (a response of the node, one of the switch's own, or a cut), with
 * who served it and why, the relay engine, the Web-QoS class and its wait,
 * and the timings. Formatted here, in combined or JSON form, and handed to
 * the worker's ring (l7_alog.c), which never blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h1.h"
#include "l7_alog.h"
#include "relay.h"
#include "sess.h"

static uint64_t log_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The session's log state, allocated once logging is on. */
static struct sess_log *log_of(struct sess *s)
{
	if (!s->w->cfg->l7.access_log[0])
		return s->log;          /* off: an old request may still finish */
	if (!s->log)
		s->log = calloc(1, sizeof(*s->log));
	return s->log;
}

static void log_copy(char *dst, size_t cap, const char *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = 0;
}

static void log_copy_hdr(char *dst, size_t cap, const struct h1_msg *m, const char *name)
{
	int i = h1_hdr_find(m, name, 0);

	if (i < 0)
		snprintf(dst, cap, "-");
	else
		log_copy(dst, cap, m->hdrs[i].value.p, m->hdrs[i].value.len);
}

void sess_log_start(struct sess *s)
{
	struct sess_log *l = log_of(s);

	if (l && !l->active)
		l->t0 = log_now_us();
}

/* A request begins: its head M, or none (a head the switch refused). */
static void log_begin(struct sess *s, struct sess_log *l, const struct h1_msg *m)
{
	uint64_t t0 = l->t0;

	memset(l, 0, sizeof(*l));
	l->t_head = log_now_us();
	l->t0 = t0 && t0 <= l->t_head ? t0 : l->t_head;
	l->wall = time(NULL);
	l->rule = -1;
	l->node = -1;
	l->bytes = -1;
	l->active = 1;
	l->policy = "-";
	snprintf(l->rule_name, sizeof(l->rule_name), "-");
	snprintf(l->group_name, sizeof(l->group_name), "-");
	snprintf(l->class_name, sizeof(l->class_name), "-");
	if (!m) {
		snprintf(l->method, sizeof(l->method), "-");
		snprintf(l->target, sizeof(l->target), "-");
		snprintf(l->referer, sizeof(l->referer), "-");
		snprintf(l->agent, sizeof(l->agent), "-");
		l->minor = 1;
		return;
	}
	l->minor = m->minor;
	log_copy(l->method, sizeof(l->method), m->method.p, m->method.len);
	log_copy(l->target, sizeof(l->target), m->target.p, m->target.len);
	log_copy_hdr(l->referer, sizeof(l->referer), m, "referer");
	log_copy_hdr(l->agent, sizeof(l->agent), m, "user-agent");
}

void sess_log_head(struct sess *s, const struct h1_msg *m)
{
	struct sess_log *l = log_of(s);

	if (l)
		log_begin(s, l, m);
}

void sess_log_route(struct sess *s, int rule)
{
	struct sess_log *l = s->log;
	struct l7_worker *w = s->w;

	if (!l || !l->active)
		return;
	l->rule = rule;
	if (rule >= 0 && rule < w->cfg->nrules)
		snprintf(l->rule_name, sizeof(l->rule_name), "%s", w->cfg->rules[rule].name);
	if (s->group >= 0 && s->group < w->nlb) {
		snprintf(l->group_name, sizeof(l->group_name), "%s", w->lb[s->group].g->name);
		l->policy = w->lb[s->group].ops->name;
	}
	if (s->cls >= 0 && s->cls < w->cfg->nclasses)
		snprintf(l->class_name, sizeof(l->class_name), "%s", w->cfg->classes[s->cls].name);
}

void sess_log_picked(struct sess *s, int node)
{
	if (s->log && s->log->active) {
		s->log->route = s->w->pick_route;
		s->log->node = node;
	}
}

void sess_log_queued(struct sess *s, int in)
{
	struct sess_log *l = s->log;

	if (!l || !l->active)
		return;
	if (in)
		l->t_queued = log_now_us();
	else if (l->t_queued)
		l->queue_us += log_now_us() - l->t_queued;
}

void sess_log_connected(struct sess *s)
{
	if (s->log && s->log->active && !s->log->t_conn)
		s->log->t_conn = log_now_us();
}

void sess_log_status(struct sess *s, int status)
{
	if (s->log && s->log->active) {
		s->log->status = status;
		if (!s->log->t_first)
			s->log->t_first = log_now_us();
	}
}

/* ---- the line ------------------------------------------------------------ */

/* S escaped into OUT: JSON (\" \\ \u00XX) or combined (\" \\ \xHH, as
 * nginx writes bytes that are not printable). */
static void log_esc(char *out, size_t cap, const char *s, int json)
{
	size_t o = 0;

	for (; *s && o + 7 < cap; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += snprintf(out + o, cap - o, json ? "\\u%04x" : "\\x%02X", c);
		} else {
			out[o++] = c;
		}
	}
	out[o] = 0;
}

static void log_ms(char *out, size_t cap, uint64_t from, uint64_t to)
{
	if (!from || !to || to < from)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.3f", (to - from) / 1000.0);
}

struct log_fields {
	char time[40], method[64], target[1100], referer[520], agent[520];
	char head[24], conn[24], first[24], total[24], queue[24];
	const char *node, *route, *engine;
};

static void log_fields(struct sess *s, struct sess_log *l, struct log_fields *f, int json)
{
	static const char *routes[] = { "policy", "local", "spilled" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct l7_worker *w = s->w;
	uint64_t now = log_now_us();
	time_t t = l->wall;
	struct tm tm;

	gmtime_r(&t, &tm);
	if (json)
		strftime(f->time, sizeof(f->time), "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(f->time, sizeof(f->time), "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
			 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	log_esc(f->method, sizeof(f->method), l->method, json);
	log_esc(f->target, sizeof(f->target), l->target, json);
	log_esc(f->referer, sizeof(f->referer), l->referer, json);
	log_esc(f->agent, sizeof(f->agent), l->agent, json);
	log_ms(f->head, sizeof(f->head), l->t0, l->t_head);
	log_ms(f->conn, sizeof(f->conn), l->t_head, l->t_conn);
	log_ms(f->first, sizeof(f->first), l->t_head, l->t_first);
	log_ms(f->total, sizeof(f->total), l->t0, now);
	snprintf(f->queue, sizeof(f->queue), "%.3f", l->queue_us / 1000.0);
	f->node = l->node >= 0 && l->node < w->cfg->nnodes && w->cfg->nodes[l->node].name[0]
		  ? w->cfg->nodes[l->node].name : "-";
	f->route = l->node >= 0 ? routes[l->route < 3 ? l->route : 0] : "-";
	f->engine = s->resp.rl.ops && s->resp_head_done ? relay_name(&s->resp.rl) : "-";
}

/* The request's line; it ends the request for the log. ABORTED: cut short
 * (the client gone, the server gone mid-response, a timeout). */
void sess_log_end(struct sess *s, int aborted)
{
	struct sess_log *l = s->log;
	struct log_fields f;
	char line[L7_ALOG_LINE];
	unsigned long long bytes;
	int n, json;

	if (!l || !l->active)
		return;
	bytes = l->bytes >= 0 ? (unsigned long long)l->bytes : (unsigned long long)s->resp.moved;
	l->active = 0;
	json = s->w->cfg->l7.access_log_format == CFG_LOG_JSON;
	log_fields(s, l, &f, json);
	l->t0 = 0;              /* a pipelined next head has none of its own */
	if (json)
		n = snprintf(line, sizeof(line),
			     "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"target\":\"%s\","
			     "\"protocol\":\"HTTP/1.%d\",\"status\":%d,\"bytes\":%llu,\"referer\":\"%s\","
			     "\"user_agent\":\"%s\",\"node\":\"%s\",\"rule\":\"%s\",\"group\":\"%s\","
			     "\"policy\":\"%s\",\"route\":\"%s\",\"retried\":%s,\"engine\":\"%s\","
			     "\"class\":\"%s\",\"queue_ms\":%s,\"head_ms\":%s,\"connect_ms\":%s,"
			     "\"first_byte_ms\":%s,\"total_ms\":%s,\"aborted\":%s}\n",
			     f.time, s->peer, f.method, f.target, l->minor, l->status, bytes, f.referer, f.agent, f.node, l->rule_name,
			     l->group_name, l->policy, f.route, s->retried ? "true" : "false", f.engine,
			     l->class_name, f.queue, f.head[0] == '-' ? "null" : f.head,
			     f.conn[0] == '-' ? "null" : f.conn, f.first[0] == '-' ? "null" : f.first,
			     f.total[0] == '-' ? "null" : f.total, aborted ? "true" : "false");
	else
		n = snprintf(line, sizeof(line),
			     "%s - - [%s] \"%s %s HTTP/1.%d\" %d %llu \"%s\" \"%s\" node=%s rule=%s "
			     "group=%s policy=%s route=%s retried=%d engine=%s class=%s queue_ms=%s "
			     "head_ms=%s connect_ms=%s first_byte_ms=%s total_ms=%s aborted=%d\n",
			     s->peer, f.time, f.method, f.target, l->minor, l->status, bytes, f.referer, f.agent, f.node, l->rule_name,
			     l->group_name, l->policy, f.route, s->retried, f.engine, l->class_name,
			     f.queue, f.head, f.conn, f.first, f.total, aborted);
	if (n >= (int)sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (n > 0)
		l7_alog_put(s->w, line, n);
}

void sess_log_local(struct sess *s, int code, size_t body)
{
	struct sess_log *l = log_of(s);

	if (!l)
		return;
	if (!l->active) {
		/* a head the switch refused before it parsed (400, 431, 408):
		 * a request all the same, with what is known of it */
		if (s->st != SS_IDLE)
			return;
		log_begin(s, l, NULL);
	}
	l->status = code;
	l->bytes = body;
	if (!l->t_first)
		l->t_first = log_now_us();
	sess_log_end(s, 0);
}

void sess_log_free(struct sess *s)
{
	free(s->log);
	s->log = NULL;
}
