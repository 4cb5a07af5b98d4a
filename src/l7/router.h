/* router: content rules -> group and Web-QoS class. The rules are the
 * cluster file's [rule NAME] sections, compiled by cfg_load (regexes
 * included), tried in file order; the first whose matchers all hold wins.
 *
 * What the L7 session calls, and when (doc/internals/routing.md gives the
 * reasons; sess.c and l7_main.c do this):
 *
 *   start of a worker / reload:  lb_build(w)  ... lb_free(w)
 *                                qos_init(&q, cfg) (per worker)
 *   start of the process:        check_start(p) (lb_health_start wraps it);
 *                                set p->stop and join p->health_thread at exit
 *   request head parsed:
 *     rule = lb_route(w, msg, &group, &cls)  router_match + default group;
 *                                            count rule_hits[rule] (-1: none)
 *     key  = lb_key(target)                  what chash and lard hash
 *     cls >= 0 and qos_admit(&q, cls, &s->qw, now) == 1:
 *                                            queued; stop here, no node yet
 *     n = lb_pick(w, group, key, -1)         -1: 503 + Retry-After, and
 *                                            qos_release(&q, cls)
 *     w->inflight[n]++                       while the request is at n:
 *                                            wlc, chash and lard read it
 *   upstream connect refused, or a fresh connection failed before any
 *   response byte:   lb_report(w, n, 0)  (= check_report_failure)
 *     idempotent, no body, not retried yet:
 *       w->inflight[n]--; m = lb_pick(w, group, key, n); m >= 0: retry on m
 *   response head received from n:   lb_report(w, n, 1)
 *                                    (= check_report_success)
 *   response delivered, or the exchange aborted:
 *     w->inflight[n]--; qos_release(&q, cls) if it was admitted
 *   client gone while queued:        qos_cancel(&q, &s->qw)
 *   after every event batch:         while ((qw = qos_next(&q, now)))
 *                                        lb_pick + connect for its session
 *   each sweep (every SWEEP_MS):
 *     qos_expire(&q, now, fn, arg)   fn answers 503 with
 *                                    "Retry-After: qos_retry_after(&q, cls)"
 *   reload: requests still queued start without a class; requests
 *   admitted under the old file are not released into the new struct qos
 *   (sess->qgen); class counters carry over by class name.
 */
#ifndef TANDEM_ROUTER_H
#define TANDEM_ROUTER_H

#include <stddef.h>

#include "cfg-t.h"
#include "h1-t.h"

/* router_match: index in c->rules of the first rule whose every matcher
 * holds for request M, or -1 when none does (then the default group and no
 * class). Path matchers see the path of the target: without the query, and
 * for an absolute-form target ("http://h/p?q") only "/p". Host compares the
 * Host header (the target's authority for absolute-form) without its port,
 * ASCII case ignored. Method is compared exactly (methods are case-sensitive).
 * Header tries every header of that name and matches when one value matches.
 * Cost with no rule: one comparison; with rules, a prefix test costs a
 * memcmp, a regex a copy of the path (at most 4 KiB, longer never match). */
int router_match(const struct cfg *c, const struct h1_msg *m);

/* router_path: the path of M's target (see router_match); *len set. */
const char *router_path(const struct h1_msg *m, size_t *len);

/* router_host: the host M is for, port removed; NULL when there is none. */
const char *router_host(const struct h1_msg *m, size_t *len);

#endif
