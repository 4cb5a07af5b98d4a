/* relay_splice: bytes go socket -> pipe -> socket with splice(2), so the
 * kernel moves page references and user space never touches the payload.
 * The session asks for exact byte counts (a Content-Length run, one chunk's
 * data) so a byte of the next message is never pulled into the pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

static ssize_t splice_fill(struct relay *r, int src, size_t max)
{
	if (r->pfd[0] < 0) {
		int e = relay_pipe_get(r->pipes, r->pfd);
		if (e)
			return e;
	}
	if (max > (size_t)r->pipes->size - r->staged)
		max = r->pipes->size - r->staged;
	if (!max)
		return 0;
	/* EAGAIN here means either "socket empty" or "pipe full" (the kernel
	 * does not say which); we never ask for more than the pipe's free
	 * space, so it means the socket is empty */
	return relay_took(r, splice(src, NULL, r->pfd[1], NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
}

static ssize_t splice_flush(struct relay *r, int dst)
{
	ssize_t n;

	if (!r->staged)
		return 0;
	n = splice(r->pfd[0], NULL, dst, NULL, r->staged,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		r->staged -= n;
		return n;
	}
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

static void splice_release(struct relay *r)
{
	if (r->pfd[0] >= 0)
		relay_pipe_put(r->pipes, r->pfd, r->staged == 0);
	r->pfd[0] = r->pfd[1] = -1;
	r->staged = 0;
}

const struct relay_ops relay_splice_ops = {
	.name = "splice",
	.fill = splice_fill,
	.flush = splice_flush,
	.release = splice_release,
};
