/* check: node health, process-wide. Workers report the outcome of their
 * connections to a node; after [l7] fail_down consecutive failures the node
 * is marked down (an atomic flag in struct l7_proc that every policy reads
 * through lb_usable) and a probe thread asks it GET <health_path> every
 * [l7] check_interval until it answers, then marks it up again. */
#ifndef TANDEM_CHECK_H
#define TANDEM_CHECK_H

#include "cfg-t.h"
#include "l7-t.h"

/* check_up: 1 when node N is not marked down (weight is not looked at). */
int check_up(const struct l7_proc *p, int n);

/* check_report_failure: a connection to node N was refused or failed before
 * any byte of a response. Marks N down when this makes C->l7.fail_down
 * consecutive failures (logged once); a tombstone (a request to a removed
 * node that was still in flight) is never marked. Any thread may call it. */
void check_report_failure(struct l7_proc *p, const struct cfg *c, int n);

/* check_report_success: node N accepted a connection or answered: its run of
 * failures starts again at 0. Any thread may call it; cheap when already 0. */
void check_report_success(struct l7_proc *p, int n);

/* check_health_path: the health_path of the first group listing node N,
 * or "/" when no group lists it. */
const char *check_health_path(const struct cfg *c, int n);

/* check_probe: one blocking probe of the web server at A: connect, send
 * "GET PATH HTTP/1.1" with Connection: close, read the status line. Each
 * step waits at most TIMEOUT_MS. Returns 1 for a status under 500 (a 404 for
 * "/" still shows a serving web server), else 0. Only the probe thread (and
 * tests) call it: it blocks. */
int check_probe(const struct cfg_addr *a, const char *path, int timeout_ms);

/* check_start: starts P's probe thread (P->health_thread, joined by the
 * caller after setting P->stop). Returns 0 or -errno from pthread_create. */
int check_start(struct l7_proc *p);

#endif
