/* sess.h: the client session of the level-2 switch. The first part is what
 * the worker calls; the second what the session's own files share:
 *   sess.c       the state machine from accept to close, the client side
 *   sess_up.c    the upstream side: connect, retry, response head, the
 *                clean-to-pool check
 *   sess_pump.c  the body pumps: framing and the relay engine, one direction
 *   sess_msg.c   the heads the switch writes */
#ifndef TANDEM_SESS_H
#define TANDEM_SESS_H

#include <stddef.h>

#include "l7-t.h"
#include "sess-t.h"

/* sess_accept: takes every pending connection of the worker's listener. On
 * EMFILE/ENFILE the listener pauses (sess_sweep resumes it). */
void sess_accept(struct ev_loop *l, struct ev_io *io, uint32_t events);
/* sess_accept_tls: the same for the HTTPS listener (w->tlsn). */
void sess_accept_tls(struct ev_loop *l, struct ev_io *io, uint32_t events);

/* sess_sweep: closes or answers sessions past their deadline, idle pooled
 * connections past the pool's idle timeout, and resumes a paused listener. */
void sess_sweep(struct l7_worker *w);

/* sess_reap: frees sessions closed during the last batch of events. */
void sess_reap(struct l7_worker *w);

/* sess_drain: graceful stop of a worker: closes idle client connections
 * and makes busy ones close after their current response. Returns the
 * number of sessions still open. */
int sess_drain(struct l7_worker *w);

/* sess_close_all: ends every session of the worker (shutdown). */
void sess_close_all(struct l7_worker *w);

/* sess_run_yielded: runs the sessions that gave up their turn with work
 * left (sess_yield) since the last call; w->yq non-empty means there are
 * some, and the worker should not sleep in epoll_wait. */
void sess_run_yielded(struct l7_worker *w);

/* sess_qos_dispatch: starts queued requests that their class's and the
 * worker's limits now admit, most urgent class first. */
void sess_qos_dispatch(struct l7_worker *w);

/* sess_requeue: starts a request that waited in a class queue of a
 * configuration that was just replaced. */
void sess_requeue(struct sess *s);

/* sess_of_waiter: the session whose struct qos_waiter QW is. */
static inline struct sess *sess_of_waiter(struct qos_waiter *qw)
{
	return (struct sess *)((char *)qw - offsetof(struct sess, qw));
}

/* ---- between the session's files ---------------------------------------- */

/* sess_run: runs S as far as its sockets allow. */
void sess_run(struct sess *s);
/* sess_yield: S stops with its sockets still ready (no edge will come for
 * them): it runs again after this batch of events (sess_run_yielded). */
void sess_yield(struct sess *s);
/* sess_local: the switch answers CODE by itself (EXTRA: more header lines)
 * and closes after it; a response already started is cut (closed) instead. */
void sess_local(struct sess *s, int code, const char *extra);
/* sess_close: closes S's sockets; its memory goes after the event batch. */
void sess_close(struct sess *s);
/* sess_abort: an exchange cut short (WHY for the debug log): closed. */
void sess_abort(struct sess *s, const char *why);
/* sess_track: keeps S's watch on the engine's list exactly while a body of
 * it runs in the kernel, polled while the engine waits for what no event
 * announces. */
void sess_track(struct sess *s);

/* sess_up.c */
int sess_connect(struct sess *s, int n, int fresh);
void sess_dispatch(struct sess *s);
void sess_connected(struct sess *s);
void sess_exchange(struct sess *s);
void sess_unflight(struct sess *s);
void sess_release_up(struct sess *s, int reuse);

/* sess_pump.c */
enum { PUMP_WAIT = 0, PUMP_DONE = 1 };
/* The bytes one direction writes in one turn before the session yields to
 * the others (sess_yield). Without a bound, a client that reads as fast as
 * the switch writes (loopback, another CPU) keeps its dst from ever
 * blocking, and a whole large body goes in one turn while every other
 * session waits: at 4 MiB over 32 connections, p99 2.6x the median. One
 * TCP_NOTSENT_LOWAT's worth: a socket that took more in one turn had its
 * peer reading while the switch wrote. */
#define SESS_TURN       (256u << 10)
#define PUMP_E_SRC_EOF  (-10000)        /* src closed before the body ended */
#define PUMP_E_FRAMING  (-10001)        /* bad chunked framing from src */
#define PUMP_E_SRC      (-10002)        /* read error on src (errno lost) */
#define PUMP_E_TOO_BIG  (-10003)        /* more body than the pump's limit */
#define PUMP_E_EXTRA    (-10004)        /* src sent bytes past the body the engine could not part */
void sess_pump_reset(struct pump *p);
void sess_pump_frame(struct pump *p, enum h1_body kind, uint64_t len);
void sess_pump_kernel(struct pump *p, ssize_t n);
/* sess_pump_run: runs direction P from SRC (bytes already read from it in IN)
 * to DST as far as it can go. Returns PUMP_DONE when every byte of the
 * body was delivered to dst, PUMP_WAIT when a socket would block or the
 * turn's SESS_TURN bytes went out and more than a turn may be left (the
 * session yielded: sess_yield), or
 * <0: PUMP_E_* for src-side failures, -errno for dst write errors. */
int sess_pump_run(struct sess *s, struct pump *p, struct conn *src, struct conn *dst, struct buf *in);

/* sess_log.c: the access log's view of the current request (no-ops while
 * [l7] access_log is off) */
void sess_log_start(struct sess *s);
void sess_log_head(struct sess *s, const struct h1_msg *m);
void sess_log_route(struct sess *s, int rule);
void sess_log_picked(struct sess *s, int node);
void sess_log_queued(struct sess *s, int in);
void sess_log_connected(struct sess *s);
void sess_log_status(struct sess *s, int status);
void sess_log_local(struct sess *s, int code, size_t body);
void sess_log_end(struct sess *s, int aborted);
void sess_log_free(struct sess *s);

/* sess_msg.c */
const char *sess_status_text(int code);
int sess_write_request(struct sess *s, const struct h1_msg *m, struct buf *out);
int sess_write_response(struct sess *s, const struct h1_msg *m, struct buf *out);

#endif
