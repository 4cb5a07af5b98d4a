/* upool.h: the per-worker, per-node pools of keep-alive connections to the
 * nodes' web servers. The pool knows connections, never sessions: a taker
 * sets its own callback on the connection (conn_own) and gives it back with
 * upool_put, which checks it is clean first. */
#ifndef TANDEM_UPOOL_H
#define TANDEM_UPOOL_H

#include "l7-t.h"

/* upool_get: an idle connection to NODE (never one with bytes or a close
 * pending on it), or a new one being connected (u->connecting), unless
 * FRESH asks for a new one. Returns NULL with *err = -errno when none can
 * be had (-EBUSY: the node's connection limit is reached). The caller owns
 * it: conn_own before anything else. */
struct upconn *upool_get(struct l7_worker *w, int node, int fresh, int *err);

/* upool_put: gives U back to its node's idle list if it is clean: no
 * hang-up seen, nothing the relay engine saw unread (the socket is peeked
 * when upool_get hands it out again, unless a read found it empty and no
 * edge of it waits in the batch of events). Else it is closed and counted
 * under L7_POOL_HANGUP or L7_POOL_EXTRA. Returns 1 when pooled. */
int upool_put(struct l7_worker *w, struct upconn *u);

/* upool_refuse: closes U, which its session could not give back for
 * REASON (L7_POOL_*), and counts it. */
void upool_refuse(struct l7_worker *w, struct upconn *u, int reason);

/* upconn_close: closes an upstream connection for good. */
void upconn_close(struct l7_worker *w, struct upconn *u);

/* upool_sweep: closes idle connections older than the idle timeout. */
void upool_sweep(struct l7_worker *w);

/* upool_reap: frees connections closed during the last batch of events. */
void upool_reap(struct l7_worker *w);

/* upool_close_all: closes every idle connection of the worker. */
void upool_close_all(struct l7_worker *w);

#endif
