/* relay: body relay engines behind one ops table (copy, splice, sockmap). */
#ifndef TANDEM_RELAY_H
#define TANDEM_RELAY_H

#include <errno.h>
#include <string.h>

#include "relay-t.h"

#define RELAY_COPY_BUF (64 * 1024)

extern const struct relay_ops relay_copy_ops;
extern const struct relay_ops relay_splice_ops;
extern const struct relay_ops relay_sockmap_ops;

/* relay_init: an idle state using OPS (splice needs the worker's PIPES). */
static inline void relay_init(struct relay *r, const struct relay_ops *ops,
			      struct relay_pipes *pipes)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->pipes = pipes;
	r->pfd[0] = r->pfd[1] = -1;
	r->slot = r->peer = r->cfd = -1;
}

/* relay_took: accounts N, what a read(2) or splice(2) into R's staging
 * returned: bytes staged (returned), the end of stream (eof set, 0), EAGAIN
 * (0), or -errno. */
static inline ssize_t relay_took(struct relay *r, ssize_t n)
{
	if (n > 0) {
		r->staged += n;
		return n;
	}
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	return errno == EAGAIN ? 0 : -errno;
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

/* ---- sockmap (relay_sockmap.c) ---- */

/* Counters of one worker's sockmap, read racily by the metrics thread. */
struct relay_sm_stats {
	uint64_t bytes;         /* bytes redirected client-ward in the kernel */
	uint64_t heads;         /* responses whose head the program checked and sent */
	uint64_t handbacks;     /* client sockets seen with every redirected byte in their queue */
	uint64_t fallbacks;     /* armings that could not redirect (bytes reached user space first) */
	uint64_t errors;        /* origin sent past the framing, or the client vanished */
};

/* relay_probe_sockmap: loads the program, attaches it, and moves bytes from
 * one loopback TCP connection to another through an armed redirect. Returns
 * 0 when all of it works, else -errno with a reason in WHY (WHYLEN bytes). */
int relay_probe_sockmap(char *why, size_t whylen);

/* relay_sm_open: one worker's map and program. Returns NULL (errno set). */
struct relay_sm *relay_sm_open(void);
void relay_sm_close(struct relay_sm *sm);
const struct relay_sm_stats *relay_sm_stats(const struct relay_sm *sm);
/* relay_sm_event_fd: a descriptor that polls readable when an arming ends;
 * relay_sm_events_drain empties it (call on every event: edge-triggered),
 * calling WAKE(ctx, ARG) for each ended arming with the ctx its backend
 * slot was given (relay_sm_set_ctx; slots without one are skipped). */
int relay_sm_event_fd(const struct relay_sm *sm);
void relay_sm_events_drain(struct relay_sm *sm, void (*wake)(void *ctx, void *arg), void *arg);
void relay_sm_set_ctx(struct relay_sm *sm, int idx, void *ctx);

/* relay_sm_add: puts socket FD into the map, before any byte is read from
 * it (a backend: before the first request is written; a client: right
 * after accept). BACKEND gives it a slot the program arms. Returns the map
 * index, or -errno (-ENOSPC: map full): the socket then stays out and its
 * bodies are copied. */
int relay_sm_add(struct relay_sm *sm, int fd, int backend);
/* relay_sm_del: takes index IDX out of the map; call before closing its fd. */
void relay_sm_del(struct relay_sm *sm, int idx);
/* relay_sm_clean: 1 when user space has read every byte the program passed
 * to it on backend IDX (GOT bytes read), so nothing unexpected is pending. */
int relay_sm_clean(const struct relay_sm *sm, int idx, uint64_t got);

/* relay_sm_prearm: arms R (bound, nothing pending from the backend) in head
 * mode before the request is written: the program then takes the whole
 * response into the kernel if its head passes its checks and its
 * Content-Length body has at least MIN_BODY bytes, else passes the head to
 * user space. Returns 1 when armed. relay_sm_disarm drops an arming that
 * user space no longer wants (it read the head itself). */
int relay_sm_prearm(struct relay *r, uint64_t min_body);
void relay_sm_disarm(struct relay *r);
/* relay_sm_delivered: 1 when client socket FD's written-byte count reached
 * TARGET (an arming's ktarget): every byte redirected to it is in its send
 * queue, behind what was written before, and user space may write again
 * (the hand-back, counted). Else 0. */
int relay_sm_delivered(struct relay_sm *sm, int fd, uint64_t target);
/* relay_sm_chunk_state: where the program's chunk framing of R's response
 * stands (RELAY_SM_CH_* and its numbers), for user space to parse on from
 * when the arming stopped early (kstop). */
void relay_sm_chunk_state(const struct relay *r, uint32_t *st, uint32_t *ndig, uint64_t *size,
			  uint64_t *rem);
/* relay_sm_written: a lower bound of the bytes ever queued on socket FD
 * (what relay_sm_delivered compares). 0 or -errno. */
int relay_sm_written(int fd, uint64_t *out);

/* relay_sm_bind: readies R (initialised with relay_sockmap_ops) to redirect
 * from backend slot SLOT to client index PEER (socket CFD); *GOT counts the
 * bytes user space reads from the backend socket. */
void relay_sm_bind(struct relay *r, struct relay_sm *sm, int slot, int peer, int cfd,
		   uint64_t *got);

#endif
