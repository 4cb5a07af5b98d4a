/* ev: a minimal edge-triggered epoll loop, one per worker thread. A watched
 * fd carries a struct ev_io whose callback gets the ready events; readiness
 * is remembered by the owner (edge-triggered: nothing is re-announced). */
#ifndef TANDEM_EV_H
#define TANDEM_EV_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_io;

typedef void (ev_io_cb)(struct ev_loop *l, struct ev_io *io, uint32_t events);

struct ev_io {
	int fd;
	ev_io_cb *cb;
	uint32_t batch;         /* the loop's batch holding an event of it not
				 * yet dispatched (ev_pending); 0: none */
};

struct ev_loop {
	int epfd;
	uint64_t now_ms;        /* monotonic, refreshed after every wait */
	uint32_t batch;         /* the batch of events being dispatched (never 0) */
	volatile int stop;
};

/* ev_init: creates the epoll instance. Returns 0 or -errno. */
int ev_init(struct ev_loop *l);
void ev_close(struct ev_loop *l);

/* ev_add: watches io->fd for EVENTS (EPOLLET is added). Returns 0 or -errno. */
int ev_add(struct ev_loop *l, struct ev_io *io, uint32_t events);
/* ev_del: stops watching; safe before close(). */
void ev_del(struct ev_loop *l, struct ev_io *io);

/* ev_run_once: waits up to TIMEOUT_MS and dispatches ready events.
 * Returns the number dispatched, or -errno (EINTR is not an error: 0). */
int ev_run_once(struct ev_loop *l, int timeout_ms);

/* ev_run_once_us: the same with a timeout in microseconds (epoll_pwait2). */
int ev_run_once_us(struct ev_loop *l, long timeout_us);

/* ev_pending: 1 when IO has an event in the batch being dispatched that its
 * callback has not had yet (an edge the owner cannot know of yet). */
static inline int ev_pending(const struct ev_loop *l, const struct ev_io *io)
{
	return io->batch == l->batch;      /* l->batch is never 0 */
}

/* ev_clock_ms: the monotonic clock in milliseconds. */
uint64_t ev_clock_ms(void);

#endif
