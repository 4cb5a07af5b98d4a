/* qos: per-worker Web-QoS admission: class limits, a worker-wide limit,
 * one FIFO queue per class, dispatch by priority, queue timeouts. Pure
 * bookkeeping on intrusive lists: no allocation, no clock (the caller
 * passes now), no callback except from qos_expire. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qos.h"

int qos_init(struct qos *q, const struct cfg *c)
{
	memset(q, 0, sizeof(*q));
	if (c->nclasses > CFG_MAX_CLASSES)
		return -EINVAL;
	q->nclasses = c->nclasses;
	q->max_inflight = c->l7.max_inflight;
	for (int k = 0; k < c->nclasses; k++) {
		q->cls[k].priority = c->classes[k].priority;
		q->cls[k].max_inflight = c->classes[k].max_inflight;
		q->cls[k].queue_timeout = c->classes[k].queue_timeout;
	}
	return 0;
}

static int qos_class_room(const struct qos_class *k)
{
	return !k->max_inflight || k->inflight < k->max_inflight;
}

static int qos_total_room(const struct qos *q)
{
	return !q->max_inflight || q->inflight < q->max_inflight;
}

static void qos_unlink(struct qos *q, struct qos_waiter *qw)
{
	struct qos_class *k = &q->cls[qw->cls];

	if (qw->prev)
		qw->prev->next = qw->next;
	else
		k->head = qw->next;
	if (qw->next)
		qw->next->prev = qw->prev;
	else
		k->tail = qw->prev;
	k->qlen--;
	qw->next = qw->prev = NULL;
	qw->cls = -1;
}

int qos_admit(struct qos *q, int cls, struct qos_waiter *qw, uint64_t now)
{
	struct qos_class *k;

	if (cls < 0 || cls >= q->nclasses) {
		q->inflight++;
		return 0;
	}
	k = &q->cls[cls];
	k->requests++;
	if (qos_class_room(k) && qos_total_room(q)) {
		int blocked = 0;

		/* someone as urgent who could take this slot waits already */
		for (int j = 0; j < q->nclasses && !blocked; j++)
			blocked = q->cls[j].head && q->cls[j].priority <= k->priority &&
				  qos_class_room(&q->cls[j]);
		if (!blocked) {
			k->inflight++;
			q->inflight++;
			return 0;
		}
	}
	k->queued++;
	qw->cls = cls;
	qw->queued_at = now;
	qw->deadline = now + (uint64_t)k->queue_timeout;
	qw->seq = q->seq++;
	qw->next = NULL;
	qw->prev = k->tail;
	if (k->tail)
		k->tail->next = qw;
	else
		k->head = qw;
	k->tail = qw;
	k->qlen++;
	return 1;
}

void qos_release(struct qos *q, int cls)
{
	if (q->inflight > 0)
		q->inflight--;
	if (cls >= 0 && cls < q->nclasses && q->cls[cls].inflight > 0)
		q->cls[cls].inflight--;
	q->wake = 1;
}

struct qos_waiter *qos_next(struct qos *q, uint64_t now)
{
	struct qos_waiter *qw;
	int best = -1;

	if (!q->wake)
		return NULL;
	if (qos_total_room(q)) {
		for (int j = 0; j < q->nclasses; j++) {
			const struct qos_class *k = &q->cls[j];

			if (!k->head || !qos_class_room(k))
				continue;
			if (best < 0 || k->priority < q->cls[best].priority ||
			    (k->priority == q->cls[best].priority && k->head->seq < q->cls[best].head->seq))
				best = j;
		}
	}
	if (best < 0) {
		/* nothing can start until the next release */
		q->wake = 0;
		return NULL;
	}
	qw = q->cls[best].head;
	qos_unlink(q, qw);
	q->cls[best].inflight++;
	q->inflight++;
	q->cls[best].wait_ms += now > qw->queued_at ? now - qw->queued_at : 0;
	return qw;
}

int qos_expire(struct qos *q, uint64_t now, qos_fn *fn, void *arg)
{
	int n = 0;

	/* a class's queue is in arrival order under one timeout, so its
	 * deadlines never decrease: only heads need looking at */
	for (int j = 0; j < q->nclasses; j++) {
		struct qos_class *k = &q->cls[j];

		while (k->head && k->head->deadline <= now) {
			struct qos_waiter *qw = k->head;

			qos_unlink(q, qw);
			k->refused++;
			n++;
			if (fn)
				fn(qw, arg);
		}
	}
	if (n)
		q->wake = 1;   /* the head of a queue changed: others may pass now */
	return n;
}

void qos_cancel(struct qos *q, struct qos_waiter *qw)
{
	if (qw->cls < 0 || qw->cls >= q->nclasses)
		return;
	q->cls[qw->cls].cancelled++;
	qos_unlink(q, qw);
	q->wake = 1;
}

uint64_t qos_deadline(const struct qos *q)
{
	uint64_t d = UINT64_MAX;

	for (int j = 0; j < q->nclasses; j++)
		if (q->cls[j].head && q->cls[j].head->deadline < d)
			d = q->cls[j].head->deadline;
	return d;
}

int qos_retry_after(const struct qos *q, int cls)
{
	int ms = cls >= 0 && cls < q->nclasses ? q->cls[cls].queue_timeout : 1000;
	int s = (ms + 999) / 1000;

	return s < 1 ? 1 : s;
}

struct qos_out {
	char *buf;
	size_t cap, len;
};

static void qos_outf(struct qos_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void qos_outf(struct qos_out *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL, o->len < o->cap ? o->cap - o->len : 0,
		      fmt, ap);
	va_end(ap);
	if (r > 0)
		o->len += r;
}

size_t qos_metrics_write(const struct qos *const *qs, int n, const struct cfg *c, char *buf, size_t cap)
{
	static const struct { const char *name, *type, *help; size_t off; int gauge; } m[] = {
#define QOS_M(n, f, t, h, g) { "tandem_class_" n, t, h, offsetof(struct qos_class, f), g }
		QOS_M("requests_total", requests, "counter", "Web-QoS: requests classified in the class.", 0),
		QOS_M("queued_total", queued, "counter", "Web-QoS: requests that waited in the class queue.", 0),
		QOS_M("rejected_total", refused, "counter", "Web-QoS: requests refused (503) after queue_timeout.", 0),
		QOS_M("cancelled_total", cancelled, "counter", "Web-QoS: clients gone while waiting.", 0),
		QOS_M("queue_wait_ms_total", wait_ms, "counter",
		      "Web-QoS: milliseconds waited by requests started from the queue.", 0),
		QOS_M("inflight", inflight, "gauge", "Web-QoS: requests of the class in flight.", 1),
		QOS_M("queue_length", qlen, "gauge", "Web-QoS: requests waiting in the class queue.", 1),
#undef QOS_M
	};
	struct qos_out o = { buf, cap, 0 };

	if (cap)
		buf[0] = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		qos_outf(&o, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name, m[i].type);
		for (int k = 0; k < c->nclasses && k < CFG_MAX_CLASSES; k++) {
			long long sum = 0;

			for (int w = 0; w < n; w++) {
				const char *p = (const char *)&qs[w]->cls[k] + m[i].off;
				if (m[i].gauge) {
					int v;
					memcpy(&v, p, sizeof(v));
					sum += v;
				} else {
					uint64_t v;
					memcpy(&v, p, sizeof(v));
					sum += (long long)v;
				}
			}
			qos_outf(&o, "%s{class=\"%s\"} %lld\n", m[i].name, c->classes[k].name, sum);
		}
	}
	if (cap && o.len >= cap)
		buf[cap - 1] = 0;
	return o.len;
}
