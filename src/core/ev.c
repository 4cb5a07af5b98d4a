/* ev: edge-triggered epoll. Each fd is registered once for everything its
 * owner may ever want (in, out, hang-up) and never modified afterwards: that
 * saves an epoll_ctl per request, the owner keeps "ready" flags instead. */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"

#define EV_BATCH 256

uint64_t ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ev_init(struct ev_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->now_ms = ev_clock_ms();
	l->batch = 1;
	l->stop = 0;
	return 0;
}

void ev_close(struct ev_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int ev_add(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct epoll_event e = { .events = events | EPOLLET, .data.ptr = io };

	io->batch = 0;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &e) ? -errno : 0;
}

void ev_del(struct ev_loop *l, struct ev_io *io)
{
	/* closing the fd would remove it too, but only once every dup of the
	 * file is closed; deleting explicitly keeps stale events away */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

static int ev_dispatch(struct ev_loop *l, struct epoll_event *evs, int n)
{
	l->now_ms = ev_clock_ms();
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/* mark first, so that a callback can tell an edge still to come in
	 * this batch (ev_pending); every io stays allocated for the batch */
	if (!++l->batch)
		l->batch = 1;
	for (int i = 0; i < n; i++)
		((struct ev_io *)evs[i].data.ptr)->batch = l->batch;
	for (int i = 0; i < n; i++) {
		struct ev_io *io = evs[i].data.ptr;

		io->batch = 0;
		io->cb(l, io, evs[i].events);
	}
	return n;
}

int ev_run_once_us(struct ev_loop *l, long timeout_us)
{
	struct epoll_event evs[EV_BATCH];
	struct timespec ts = { timeout_us / 1000000, (timeout_us % 1000000) * 1000 };
	int n;

	n = epoll_pwait2(l->epfd, evs, EV_BATCH, &ts, NULL);
	if (n < 0 && errno == ENOSYS)   /* before Linux 5.11: a millisecond */
		n = epoll_wait(l->epfd, evs, EV_BATCH, timeout_us ? 1 : 0);
	return ev_dispatch(l, evs, n);
}

int ev_run_once(struct ev_loop *l, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];

	return ev_dispatch(l, evs, epoll_wait(l->epfd, evs, EV_BATCH, timeout_ms));
}
