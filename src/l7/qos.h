/* qos: Web-QoS admission for one L7 worker (no locks: one struct qos per
 * worker, used only by that worker's thread).
 *
 * A request of class K may start when K is under its max_inflight, the
 * worker is under [l7] max_inflight, and no request that could start in its
 * place waits in K or in a class at least as urgent. Otherwise it waits in
 * K's queue, FIFO; freed slots go to the most urgent class whose own limit
 * lets it start (ties between classes of one priority: the earliest
 * arrival), and a request still waiting after queue_timeout is refused
 * (503 with Retry-After). A class blocked by its own max_inflight does not
 * hold back other classes. Class-less requests (a rule without class, or no
 * rule) count in the worker's total but are never queued: they have no
 * queue_timeout to wait under.
 *
 * Sequence for the session (W is the worker's struct qos):
 *   head parsed, class K:   r = qos_admit(W, K, &s->qw, now)
 *                            0: admitted, pick a node; 1: queued, wait
 *   response done / abort:  qos_release(W, K) for an admitted request
 *   client gone while queued: qos_cancel(W, &s->qw)
 *   after each event batch: while ((qw = qos_next(W, now))) resume it
 *                            (it is admitted already: pick a node)
 *   timer, at qos_deadline(W) or every tick:
 *                            qos_expire(W, now, fn, arg): fn answers 503
 */
#ifndef TANDEM_QOS_H
#define TANDEM_QOS_H

#include <stddef.h>
#include "qos-t.h"

typedef void qos_fn(struct qos_waiter *qw, void *arg);

/* qos_init: Q set up for C's classes and [l7] max_inflight, empty.
 * Returns 0, or -EINVAL when C has more than CFG_MAX_CLASSES classes. */
int qos_init(struct qos *q, const struct cfg *c);

/* qos_admit: a request of class CLS (index in cfg.classes, or -1 for none)
 * arrives at NOW (ms). Returns 0 when it may start now (counted in flight:
 * qos_release it later), or 1 when it was queued in QW (QW->cls = CLS). QW
 * may be NULL for CLS -1, which is always admitted. */
int qos_admit(struct qos *q, int cls, struct qos_waiter *qw, uint64_t now);

/* qos_release: an admitted request of class CLS (-1: none) is over; its
 * slot may go to a waiter through qos_next(). */
void qos_release(struct qos *q, int cls);

/* qos_next: the waiter that may start now, unlinked and counted in flight
 * (the caller resumes it and later qos_releases its class), or NULL when
 * none may. Call it in a loop after releases; cheap when nothing waits.
 * Never calls back, so it is safe from anywhere in the loop. */
struct qos_waiter *qos_next(struct qos *q, uint64_t now);

/* qos_expire: unlinks every waiter whose deadline is at or before NOW,
 * counts it refused and calls FN(qw, ARG) for it (already unlinked: FN may
 * free it). Returns how many. */
int qos_expire(struct qos *q, uint64_t now, qos_fn *fn, void *arg);

/* qos_cancel: QW leaves its queue (its client went away). Nothing happens
 * when QW is not queued. */
void qos_cancel(struct qos *q, struct qos_waiter *qw);

/* qos_deadline: the earliest deadline of any waiter, or UINT64_MAX. */
uint64_t qos_deadline(const struct qos *q);

/* qos_retry_after: seconds for the Retry-After of a refused request of
 * class CLS: its queue_timeout rounded up, at least 1. */
int qos_retry_after(const struct qos *q, int cls);

/* qos_metrics_write: Prometheus text for the classes of C (the names
 * l7_stats.c uses today: tandem_class_requests_total, ..._queued_total,
 * ..._rejected_total, ..._cancelled_total, ..._queue_wait_ms_total,
 * tandem_class_inflight, tandem_class_queue_length), summed over the N
 * workers' QS, into BUF (at most CAP bytes, NUL-terminated when CAP > 0).
 * Returns the length the whole text needs (like snprintf): a result >= CAP
 * means it was cut. */
size_t qos_metrics_write(const struct qos *const *qs, int n, const struct cfg *c, char *buf, size_t cap);

#endif
