/* test_qos: Web-QoS admission (src/l7/qos.c) without a session: class
 * limits and the worker-wide limit, priority order of dispatch, FIFO within
 * a class, a class blocked by its own limit not holding back others, queue
 * timeouts, cancellation, class-less requests, metrics text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qos.h"
#include "tap.h"

#define HI 0
#define LO 1
#define MID 2

static struct cfg *mkcfg(int total, int hi_max, int lo_max)
{
	struct cfg *c = calloc(1, sizeof(*c));

	c->l7.max_inflight = total;
	c->nclasses = 3;
	strcpy(c->classes[HI].name, "interactive");
	c->classes[HI].priority = 0;
	c->classes[HI].max_inflight = hi_max;
	c->classes[HI].queue_timeout = 1000;
	strcpy(c->classes[LO].name, "bulk");
	c->classes[LO].priority = 2;
	c->classes[LO].max_inflight = lo_max;
	c->classes[LO].queue_timeout = 2000;
	strcpy(c->classes[MID].name, "normal");
	c->classes[MID].priority = 1;
	c->classes[MID].queue_timeout = 1500;
	return c;
}

static void test_priority(void)
{
	struct cfg *c = mkcfg(1, 0, 0);
	struct qos q;
	struct qos_waiter w[8];
	char order[8];
	int cur = LO;

	is_int(qos_init(&q, c), 0, "init");
	is_int(qos_admit(&q, LO, &w[0], 0), 0, "first request admitted under the total of 1");
	is_int(qos_admit(&q, LO, &w[1], 1), 1, "bulk queued: total full");
	is_int(qos_admit(&q, HI, &w[2], 2), 1, "interactive queued: total full");
	is_int(qos_admit(&q, MID, &w[3], 3), 1, "normal queued");
	is_int(qos_admit(&q, HI, &w[4], 4), 1, "second interactive queued");
	is_int(q.cls[HI].qlen + q.cls[LO].qlen + q.cls[MID].qlen, 4, "4 waiting");
	ok(qos_next(&q, 5) == NULL, "nothing starts while the slot is held");
	/* one slot at a time: most urgent first, FIFO within a class */
	for (int i = 0; i < 4; i++) {
		struct qos_waiter *n;

		qos_release(&q, cur);
		n = qos_next(&q, 10 + i);
		order[i] = n ? '0' + (int)(n - w) : '-';
		cur = n ? (n == &w[1] ? LO : n == &w[3] ? MID : HI) : -1;
		ok(n && n->cls == -1, "started waiter is unlinked (%d)", i);
		ok(qos_next(&q, 10 + i) == NULL, "one slot freed, one request started (%d)", i);
	}
	order[4] = 0;
	is_str(order, "2431", "dispatch order: interactive 2 then 4, normal 3, bulk 1");
	is_int(q.inflight, 1, "one in flight");
	is_int(q.cls[HI].wait_ms, (10 - 2) + (11 - 4), "interactive wait counted");
	is_int(q.cls[LO].queued, 1, "bulk: one queued");
	is_int(q.cls[LO].requests, 2, "bulk: two requests");
	qos_release(&q, cur);
	is_int(q.inflight, 0, "all released");
	ok(qos_next(&q, 20) == NULL, "nobody left");
	free(c);
}

static void test_class_limit(void)
{
	struct cfg *c = mkcfg(0, 0, 2);
	struct qos q;
	struct qos_waiter w[8], *n;

	qos_init(&q, c);
	is_int(qos_admit(&q, LO, &w[0], 0), 0, "bulk 1 of max 2 admitted");
	is_int(qos_admit(&q, LO, &w[1], 0), 0, "bulk 2 of max 2 admitted");
	is_int(qos_admit(&q, LO, &w[2], 0), 1, "bulk 3 queued over max_inflight");
	is_int(qos_admit(&q, LO, &w[3], 0), 1, "bulk 4 queued");
	is_int(q.cls[LO].inflight, 2, "bulk in flight 2");
	is_int(q.cls[LO].qlen, 2, "bulk queue length 2");
	/* bulk blocked by its own limit does not hold back more urgent or
	 * less urgent classes: there is room in the worker */
	is_int(qos_admit(&q, HI, &w[4], 0), 0, "interactive admitted beside a full bulk class");
	is_int(qos_admit(&q, MID, &w[5], 0), 0, "normal admitted beside a full bulk class");
	ok(qos_next(&q, 1) == NULL, "bulk still full: nobody starts");
	qos_release(&q, HI);
	ok(qos_next(&q, 1) == NULL, "an interactive release does not open bulk");
	qos_release(&q, LO);
	n = qos_next(&q, 7);
	ok(n == &w[2], "a bulk release starts the first bulk waiter");
	ok(qos_next(&q, 7) == NULL, "and only one");
	is_int(q.cls[LO].inflight, 2, "bulk back at its limit");
	is_int(q.cls[LO].wait_ms, 7, "its wait counted");
	free(c);

	/* a class with a limit of its own that is queued for its limit must
	 * not stop a less urgent class when the worker has room */
	c = mkcfg(10, 1, 0);
	qos_init(&q, c);
	is_int(qos_admit(&q, HI, &w[0], 0), 0, "interactive 1 of max 1");
	is_int(qos_admit(&q, HI, &w[1], 0), 1, "interactive 2 queued on its class limit");
	is_int(qos_admit(&q, LO, &w[2], 0), 0, "bulk not blocked by a waiter that could not start anyway");
	free(c);
}

static void test_total_fifo(void)
{
	struct cfg *c = mkcfg(2, 0, 0);
	struct qos q;
	struct qos_waiter w[8];

	qos_init(&q, c);
	is_int(qos_admit(&q, -1, NULL, 0), 0, "class-less request admitted");
	is_int(qos_admit(&q, -1, NULL, 0), 0, "class-less request admitted at the total");
	is_int(qos_admit(&q, -1, NULL, 0), 0, "class-less request never queued (no timeout to wait under)");
	is_int(q.inflight, 3, "class-less requests counted in the total");
	is_int(qos_admit(&q, MID, &w[0], 0), 1, "classified request queued: total full");
	qos_release(&q, -1);
	ok(qos_next(&q, 1) == NULL, "3 -> 2 in flight: still full");
	qos_release(&q, -1);
	/* a newcomer of the same class must not overtake the waiter */
	is_int(qos_admit(&q, MID, &w[1], 1), 1, "newcomer queued behind a waiter that may start");
	is_int(qos_admit(&q, LO, &w[2], 1), 1, "less urgent newcomer queued too");
	ok(qos_next(&q, 2) == &w[0], "the waiter starts first");
	ok(qos_next(&q, 2) == NULL, "total full again");
	free(c);
}

static int expired[8], nexpired;

static void on_expire(struct qos_waiter *w, void *arg)
{
	struct qos_waiter *base = arg;

	expired[nexpired++] = (int)(w - base);
}

static void test_timeout_cancel(void)
{
	struct cfg *c = mkcfg(1, 0, 0);
	struct qos q;
	struct qos_waiter w[8];

	qos_init(&q, c);
	qos_admit(&q, HI, &w[0], 0);
	qos_admit(&q, HI, &w[1], 100);         /* deadline 1100 */
	qos_admit(&q, LO, &w[2], 100);         /* deadline 2100 */
	qos_admit(&q, HI, &w[3], 200);         /* deadline 1200 */
	qos_admit(&q, LO, &w[4], 300);         /* deadline 2300 */
	is_int(qos_deadline(&q), 1100, "earliest deadline");
	is_int(qos_expire(&q, 1099, on_expire, w), 0, "nothing expires before its deadline");
	is_int(qos_expire(&q, 1100, on_expire, w), 1, "one expires at its deadline");
	is_int(expired[0], 1, "the oldest interactive");
	is_int(qos_deadline(&q), 1200, "next deadline");
	qos_cancel(&q, &w[3]);
	is_int(q.cls[HI].qlen, 0, "cancel unlinks");
	is_int(q.cls[HI].cancelled, 1, "cancel counted");
	qos_cancel(&q, &w[3]);
	is_int(q.cls[HI].cancelled, 1, "a second cancel does nothing");
	is_int(qos_expire(&q, 5000, on_expire, w), 2, "both bulk expire");
	is_int(expired[1] * 10 + expired[2], 24, "in queue order");
	is_int(q.cls[LO].refused, 2, "bulk refused counted");
	is_int(q.cls[HI].refused, 1, "interactive refused counted");
	ok(qos_deadline(&q) == UINT64_MAX, "no deadline when nothing waits");
	is_int(qos_retry_after(&q, LO), 2, "Retry-After: bulk's 2 s timeout");
	is_int(qos_retry_after(&q, -1), 1, "Retry-After at least 1");
	/* cancel from the middle keeps the rest in order */
	qos_admit(&q, MID, &w[5], 0);
	qos_admit(&q, MID, &w[6], 0);
	qos_admit(&q, MID, &w[7], 0);
	qos_cancel(&q, &w[6]);
	qos_release(&q, HI);
	ok(qos_next(&q, 1) == &w[5], "after a middle cancel: first");
	qos_release(&q, MID);
	ok(qos_next(&q, 1) == &w[7], "after a middle cancel: last");
	is_int(q.cls[MID].qlen, 0, "queue empty");
	ok(q.cls[MID].head == NULL && q.cls[MID].tail == NULL, "list empty");
	free(c);
}

static void test_metrics(void)
{
	struct cfg *c = mkcfg(1, 0, 0);
	struct qos q1, q2;
	const struct qos *qs[2] = { &q1, &q2 };
	struct qos_waiter w[4];
	char buf[4096], small[16];
	size_t n;

	qos_init(&q1, c);
	qos_init(&q2, c);
	qos_admit(&q1, LO, &w[0], 0);
	qos_admit(&q1, LO, &w[1], 0);
	qos_admit(&q2, LO, &w[2], 0);
	n = qos_metrics_write(qs, 2, c, buf, sizeof(buf));
	ok(n > 0 && n < sizeof(buf), "metrics fit (%zu bytes)", n);
	ok(strstr(buf, "tandem_class_requests_total{class=\"bulk\"} 3\n") != NULL, "requests summed over workers");
	ok(strstr(buf, "tandem_class_queue_length{class=\"bulk\"} 1\n") != NULL, "queue length gauge");
	ok(strstr(buf, "tandem_class_inflight{class=\"bulk\"} 2\n") != NULL, "in-flight gauge");
	ok(strstr(buf, "# TYPE tandem_class_rejected_total counter\n") != NULL, "typed");
	is_int(qos_metrics_write(qs, 2, c, small, sizeof(small)), n, "cut text: full length returned");
	is_int(strlen(small), sizeof(small) - 1, "cut text NUL-terminated");
	free(c);
}

int main(void)
{
	test_priority();
	test_class_limit();
	test_total_fifo();
	test_timeout_cancel();
	test_metrics();
	return done_testing();
}
