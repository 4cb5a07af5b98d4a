/* relay_copy: the paper's plain proxy: read(2) into a user buffer, send(2)
 * out. The baseline every other engine is measured against. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

static ssize_t copy_fill(struct relay *r, int src, size_t max)
{
	ssize_t n;

	if (!r->buf) {
		r->buf = malloc(RELAY_COPY_BUF);
		if (!r->buf)
			return -ENOMEM;
	}
	if (r->pos == r->len)
		r->pos = r->len = 0;
	if (max > RELAY_COPY_BUF - r->len)
		max = RELAY_COPY_BUF - r->len;
	if (!max)
		return 0;
	n = relay_took(r, read(src, r->buf + r->len, max));
	if (n > 0)
		r->len += n;
	return n;
}

static ssize_t copy_flush(struct relay *r, int dst)
{
	ssize_t n;

	if (r->pos == r->len)
		return 0;
	n = send(dst, r->buf + r->pos, r->len - r->pos, MSG_NOSIGNAL);
	if (n > 0) {
		r->pos += n;
		r->staged -= n;
		return n;
	}
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

static void copy_release(struct relay *r)
{
	free(r->buf);
	r->buf = NULL;
	r->pos = r->len = 0;
	r->staged = 0;
}

const struct relay_ops relay_copy_ops = {
	.name = "copy",
	.fill = copy_fill,
	.flush = copy_flush,
	.release = copy_release,
};
