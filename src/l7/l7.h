/* l7.h: functions shared between the parts of the level-2 switch. */
#ifndef TANDEM_L7_H
#define TANDEM_L7_H

#include <stddef.h>

#include "l7-t.h"

/* sess_accept: takes every pending connection of the worker's listener. */
void sess_accept(struct ev_loop *l, struct ev_io *io, uint32_t events);

/* sess_sweep: closes or answers sessions past their deadline, and idle
 * pooled connections past the pool's idle timeout. */
void sess_sweep(struct l7_worker *w);

/* l7_reap: frees sessions and connections closed during the last batch of
 * events; called after each ev_run_once. */
void l7_reap(struct l7_worker *w);

/* sess_drain: graceful stop of a worker: closes idle client connections
 * and makes busy ones close after their current response. Returns the
 * number of sessions still open. */
int sess_drain(struct l7_worker *w);

/* l7_qos_dispatch: starts queued requests that their class's and the
 * worker's limits now admit, most urgent class first. */
void l7_qos_dispatch(struct l7_worker *w);

/* l7_requeue: starts a request that waited in a class queue of a
 * configuration that was just replaced. */
void l7_requeue(struct sess *s);

/* sess_of_waiter: the session whose struct qos_waiter QW is. */
static inline struct sess *sess_of_waiter(struct qos_waiter *qw)
{
	return (struct sess *)((char *)qw - offsetof(struct sess, qw));
}

/* l7_sm_poll: runs every session that waits for what no event announces
 * (the client taking redirected bytes in, an origin to stop sending): the
 * worker calls it every 100 us while there is one (sm_nticks). */
void l7_sm_poll(struct l7_worker *w);
/* l7_sm_wake: the program ended an arming on upstream connection CTX (a
 * struct upconn): runs the session that uses it. */
void l7_sm_wake(void *ctx, void *arg);

/* sess_close_all: ends every session of the worker (shutdown). */
void sess_close_all(struct l7_worker *w);

/* upool_get: an idle connection to NODE, or a new one being connected.
 * Returns NULL with *err = -errno when none can be had (-EBUSY: the node's
 * connection limit is reached). The connection's owner is set to S. */
struct upconn *upool_get(struct l7_worker *w, int node, struct sess *s, int fresh, int *err);

/* upool_put: gives an upstream connection back to its node's idle list. */
void upool_put(struct l7_worker *w, struct upconn *u);

/* upconn_close: closes an upstream connection for good. */
void upconn_close(struct l7_worker *w, struct upconn *u);

/* upool_sweep: closes idle connections older than the idle timeout. */
void upool_sweep(struct l7_worker *w);

/* l7_buf_get / l7_buf_put: the worker's free list of session buffers. */
int l7_buf_get(struct l7_worker *w, struct buf *b);
void l7_buf_put(struct l7_worker *w, struct buf *b);

/* l7_metrics_write: the Prometheus text of the process into BUF (at most
 * CAP bytes). Returns the length written. */
size_t l7_metrics_write(struct l7_proc *p, char *buf, size_t cap);

/* l7_admin_start: serves /metrics on the node's admin address from a thread
 * of its own. Returns 0 or -errno. */
int l7_admin_start(struct l7_proc *p);

/* l7_cfg_enter: for a thread other than a worker, the newest configuration,
 * after publishing in *SLOT the generation it reads; l7_cfg_leave when done
 * (the configuration may be freed from then on). */
static inline struct cfg *l7_cfg_enter(struct l7_proc *p, unsigned *slot)
{
	/* the generation is bumped after the new cfg is stored: the cfg
	 * loaded below is at least as new as the one published */
	__atomic_store_n(slot, __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
	return __atomic_load_n(&p->cfg, __ATOMIC_SEQ_CST);
}

static inline void l7_cfg_leave(unsigned *slot)
{
	__atomic_store_n(slot, L7_GEN_NONE, __ATOMIC_RELEASE);
}

#endif
