/* relay_copy: the paper's plain proxy: read(2) into a user buffer, send(2)
 * out, through the connections' transports. The baseline every other
 * engine is measured against. */
#include <errno.h>

#include "conn.h"
#include "relay.h"

static int copy_takes(const struct relay *r, uint64_t raw)
{
	return raw >= r->env->splice_min;
}

static ssize_t copy_fill(struct relay *r, size_t max)
{
	struct conn *src = r->src;
	ssize_t n;

	if (!r->buf) {
		r->buf = relay_buf_get(r->env);
		if (!r->buf)
			return -ENOMEM;
	}
	if (r->pos == r->len)
		r->pos = r->len = 0;
	if (max > RELAY_COPY_BUF - r->len)
		max = RELAY_COPY_BUF - r->len;
	if (!max || !src->rd)
		return 0;
	n = relay_took(r, src->xp->recv(src, r->buf + r->len, max));
	if (n > 0) {
		if ((size_t)n < max && src->rd == 1 && src->xp->plain)
			src->rd = 0;    /* drained: see conn_read */
		r->len += n;
		src->rx += n;
	}
	return n;
}

static ssize_t copy_flush(struct relay *r)
{
	ssize_t n;

	if (r->pos == r->len)
		return 0;
	n = conn_send(r->dst, r->buf + r->pos, r->len - r->pos);
	if (n > 0) {
		r->pos += n;
		r->staged -= n;
	}
	return n;
}

static void copy_release(struct relay *r)
{
	relay_buf_put(r->env, r->buf);
	r->buf = NULL;
	r->pos = r->len = 0;
	r->staged = 0;
}

const struct relay_ops relay_copy_ops = {
	.name = "copy",
	.id = RELAY_COPY,
	.takes = copy_takes,
	.fill = copy_fill,
	.flush = copy_flush,
	.release = copy_release,
};
