/* router: content rules -> group and Web-QoS class. The rules are the
 * cluster file's [rule NAME] sections, compiled by cfg_load (regexes
 * included), tried in file order; the first whose matchers all hold wins.
 *
 * How the L7 session uses the routing, balancing, QoS and health parts
 * (doc/internals/routing.md has the same with the reasons):
 *
 *   request head parsed:
 *     rule = router_match(cfg, msg)            -1: no rule, default group
 *     (today through lb_route(w, msg, &group, &cls), which wraps it)
 *     key  = lb_key(target)                    chash and lard hash this
 *     cls >= 0: qos_admit(&q, cls, &waiter, now)
 *              1: queued, wait for the wake callback or the deadline
 *              0: go on
 *     n = lb_pick(w, group, key, -1)           -1: answer 503 + Retry-After
 *     w->inflight[n]++ while the request is at n (wlc, chash, lard read it)
 *   upstream connect refused or failed before any response byte:
 *     lb_report(w, n, 0)  == check_report_failure(p, c, n)
 *     idempotent request: n = lb_pick(w, group, key, n) and retry once
 *   upstream connected / answered:
 *     lb_report(w, n, 1)  == check_report_success(p, n)
 *   response complete, or the exchange aborted:
 *     w->inflight[n]--, then qos_release(&q, cls, wake) if it was admitted
 *   client gone while queued:  qos_cancel(&q, &waiter)
 *   every timer tick:          qos_expire(&q, now, timeout_cb) -> 503 + Retry-After
 *   process start/stop:        check_start(p) / join p->health_thread
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
