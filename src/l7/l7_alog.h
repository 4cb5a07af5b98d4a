/* l7_alog: the access log's plumbing: per-worker rings the workers put
 * whole lines into without ever blocking, and one writer thread that moves
 * them to the file (or stderr), reopens it on SIGUSR1 (logrotate) and on a
 * reload that names another file, and counts what it could not write. The
 * lines themselves are the session's (sess_log.c). */
#ifndef TANDEM_L7_ALOG_H
#define TANDEM_L7_ALOG_H

#include <stddef.h>

#include "l7-t.h"

#define L7_ALOG_RING (256 << 10)        /* per worker: about 1,000 lines */
#define L7_ALOG_LINE 2048               /* the longest line */

/* l7_alog_ring_init: an empty ring for worker W. 0 or -ENOMEM. */
int l7_alog_ring_init(struct l7_alog_ring *r);
void l7_alog_ring_free(struct l7_alog_ring *r);

/* l7_alog_put: LINE (N bytes, newline included) into the worker's ring, or
 * counted as dropped when the ring has no room for it. */
void l7_alog_put(struct l7_worker *w, const char *line, size_t n);

/* l7_alog_start: opens the configuration's access log (if any) and starts
 * the writer thread. 0, or -errno when the file cannot be opened (the
 * start stops with that reason). */
int l7_alog_start(struct l7_proc *p);

/* l7_alog_reopen: the writer opens PATH (a reload's, or the same after
 * logrotate moved it) at its next round. */
void l7_alog_reopen(struct l7_proc *p, const char *path);

/* l7_alog_stop: the writer writes what the rings hold, closes the file and
 * ends (after the workers have stopped). */
void l7_alog_stop(struct l7_proc *p);

#endif
