/* relay_splice: bytes go socket -> pipe -> socket with splice(2), so the
 * kernel moves page references and user space never touches the payload.
 * The session asks for exact byte counts (a Content-Length run, one chunk's
 * data) so a byte of the next message is never pulled into the pipe. When
 * no pipe can be had (the pool's limit, or no fds), the direction is copied
 * instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "conn.h"
#include "relay.h"

static int splice_takes(const struct relay *r, uint64_t raw)
{
	return raw >= r->env->splice_min;
}

static ssize_t splice_fill(struct relay *r, size_t max)
{
	struct conn *src = r->src;
	ssize_t n;

	if (r->pfd[0] < 0) {
		int e = relay_pipe_get(&r->env->pipes, r->pfd);

		if (e == -EBUSY || e == -EMFILE || e == -ENFILE) {
			/* nothing staged yet: this body is copied instead */
			r->ops = &relay_copy_ops;
			return relay_copy_ops.fill(r, max);
		}
		if (e)
			return e;
	}
	if (max > (size_t)r->env->pipes.size - r->staged)
		max = r->env->pipes.size - r->staged;
	if (!max || !src->rd)
		return 0;
	/* EAGAIN here means either "socket empty" or "pipe full" (the kernel
	 * does not say which). Into an empty pipe it means the socket is
	 * empty. Into one that holds bytes it may mean the pipe's slots ran
	 * out before its bytes did (a slot per skb fragment, not per page):
	 * then the socket is not marked empty, and the next fill, into an
	 * emptier pipe, tells */
	n = splice(src->io.fd, NULL, r->pfd[1], NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0 && errno == EAGAIN && r->staged)
		return 0;
	n = relay_took(r, n);
	if (n > 0)
		src->rx += n;
	return n;
}

static ssize_t splice_flush(struct relay *r)
{
	ssize_t n;

	if (!r->staged || !r->dst->wr)
		return 0;
	n = splice(r->pfd[0], NULL, r->dst->io.fd, NULL, r->staged,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		r->staged -= n;
		return n;
	}
	if (n < 0 && errno == EAGAIN) {
		r->dst->wr = 0;
		return 0;
	}
	return n < 0 ? -errno : 0;
}

static void splice_release(struct relay *r)
{
	if (r->pfd[0] >= 0)
		relay_pipe_put(&r->env->pipes, r->pfd, r->staged == 0);
	r->pfd[0] = r->pfd[1] = -1;
	r->staged = 0;
}

const struct relay_ops relay_splice_ops = {
	.name = "splice",
	.id = RELAY_SPLICE,
	.takes = splice_takes,
	.fill = splice_fill,
	.flush = splice_flush,
	.release = splice_release,
};
