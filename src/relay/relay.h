/* relay: body relay engines behind one ops table (copy, splice). */
#ifndef TANDEM_RELAY_H
#define TANDEM_RELAY_H

#include "relay-t.h"

#define RELAY_COPY_BUF (64 * 1024)

extern const struct relay_ops relay_copy_ops;
extern const struct relay_ops relay_splice_ops;

/* relay_init: an idle state using OPS (splice needs the worker's PIPES). */
static inline void relay_init(struct relay *r, const struct relay_ops *ops,
			      struct relay_pipes *pipes)
{
	r->ops = ops;
	r->pipes = pipes;
	r->pfd[0] = r->pfd[1] = -1;
	r->buf = NULL;
	r->pos = r->len = 0;
	r->staged = 0;
	r->eof = 0;
}

/* relay_pipes_init: an empty pool keeping at most CAP idle pipes of SIZE
 * bytes and handing out at most MAX_INUSE at once. Returns 0 or -ENOMEM. */
int relay_pipes_init(struct relay_pipes *p, int cap, int max_inuse, int size);
void relay_pipes_free(struct relay_pipes *p);

/* relay_pipe_get: an empty pipe into PFD. Returns 0, or -EMFILE/-ENFILE/
 * -EBUSY (pool exhausted) when none can be had: the caller then copies. */
int relay_pipe_get(struct relay_pipes *p, int pfd[2]);
/* relay_pipe_put: gives PFD back; EMPTY says it holds no bytes (else closed). */
void relay_pipe_put(struct relay_pipes *p, int pfd[2], int empty);

/* relay_probe_splice: 0 when splice(2) between a TCP socket and a pipe works
 * on this kernel, else -errno (the caller falls back to copy and says so). */
int relay_probe_splice(void);

#endif
