/* l7.h: functions shared between the parts of the level-2 switch that are
 * neither the session's (sess.h) nor the pool's (upool.h). */
#ifndef TANDEM_L7_H
#define TANDEM_L7_H

#include <stddef.h>
#include <stdio.h>

#include "l7-t.h"

/* l7_buf_get: B gets a buffer of the worker's size (bufsz, from max_head)
 * from its free list, unless it has one. 0 or -ENOMEM. */
int l7_buf_get(struct l7_worker *w, struct buf *b);
/* l7_buf_put: B's buffer back to the free list (one of another size, from
 * before a reload, is freed). */
void l7_buf_put(struct l7_worker *w, struct buf *b);
/* l7_buf_grow: B, a buffer smaller than the worker's size now (a reload
 * raised max_head), grows to it, its bytes kept. 0, or -ENOSPC when it is
 * that size already, -ENOMEM. */
int l7_buf_grow(struct l7_worker *w, struct buf *b);
/* l7_buf_resize: the worker's buffer size for its configuration (after a
 * reload); free buffers of the old size are dropped. */
void l7_buf_resize(struct l7_worker *w);

/* l7_inflight_add: the worker's in-flight count at node N moves by D. Only
 * the worker writes it; other workers read it (prefer_local's load), so it
 * is stored whole (a relaxed atomic, no lock). */
static inline void l7_inflight_add(struct l7_worker *w, int n, int d)
{
	__atomic_store_n(&w->inflight[n], w->inflight[n] + d, __ATOMIC_RELAXED);
}

/* l7_metrics_write: the Prometheus text of the process into BUF (at most
 * CAP bytes). Returns the length written. */
size_t l7_metrics_write(struct l7_proc *p, char *buf, size_t cap);

/* l7_admin_start: serves /metrics on the node's admin address from a thread
 * of its own. Returns 0 or -errno. */
int l7_admin_start(struct l7_proc *p);

/* l7_reload: reads FILE again (SIGHUP, or POST /reload on the admin
 * address). A file with errors, or one that needs more node indexes than
 * there are (cfg_align), changes nothing: each reason goes to ERRS as
 * FILE:LINE: reason (cfg_load) or a sentence, and to the log. A good one is
 * taken by each worker at its next loop turn. Returns 0 when taken, or
 * -EINVAL (errors), -ENOSPC, -EBUSY, -ENOMEM, -errno (cannot read). */
int l7_reload(struct l7_proc *p, const char *file, FILE *errs);

/* l7_admin_control: a request of the admin address other than a read
 * (l7_admin.c): the node verbs and POST /reload, for loopback or the
 * bearer token only. Writes the whole reply to FD. */
struct adm_req;
void l7_admin_control(struct l7_proc *p, int fd, const struct adm_req *r);

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

/* l7_web_addr: where this switch (node SELF) reaches node N's web server:
 * its own over the file's `local` (loopback or a unix socket) when set,
 * every other one at its `web`. The pool connects there, and the health
 * check probes there. */
static inline const struct cfg_addr *l7_web_addr(const struct cfg *c, int self, int n)
{
	return n == self && c->nodes[n].local.len ? &c->nodes[n].local : &c->nodes[n].web;
}

/* L7_NAP_IDLE: a nap with nothing to do until a reload or a stop. */
#define L7_NAP_IDLE 3600000

/* l7_nap: a helper thread sleeps MS, or less: until *STOP is set or a
 * reload moves the generation past GEN (the one its round read), each told
 * by l7_wake. One wakeup per nap: a usleep(50 ms) loop that looked at a
 * flag woke 20 times a second for nothing, each wakeup 50-90 us of CPU
 * on a PVM guest, a few % of a small node's budget per thread.
 * l7_nap_init once before the threads start: it also makes the eventfds
 * l7_halt writes (stop_efd, drain_efd). */
void l7_nap_init(struct l7_proc *p);
void l7_nap(struct l7_proc *p, int ms, const volatile int *stop, unsigned gen);
/* l7_wake: after setting a stop flag or bumping the generation. */
void l7_wake(struct l7_proc *p);
/* l7_halt: sets stop (STOP 1) or draining (0), and wakes every thread that
 * waits on it: the workers, the admin and control threads (stop_efd,
 * drain_efd) and the napping ones (l7_wake). */
void l7_halt(struct l7_proc *p, int stop);

#endif
