/* conn: one object per socket (conn.h): readiness kept from epoll's edges,
 * one read-into-buffer and one send loop, and the plain TCP transport. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static ssize_t tcp_recv(struct conn *c, void *p, size_t n)
{
	return read(c->io.fd, p, n);
}

static ssize_t tcp_send(struct conn *c, const void *p, size_t n)
{
	/* a peer that went away gives EPIPE, never SIGPIPE */
	return send(c->io.fd, p, n, MSG_NOSIGNAL);
}

static void tcp_shutw(struct conn *c)
{
	shutdown(c->io.fd, SHUT_WR);
}

static void tcp_close(struct conn *c)
{
	close(c->io.fd);
}

const struct conn_xprt conn_tcp = {
	.name = "tcp",
	.plain = 1,
	.recv = tcp_recv,
	.send = tcp_send,
	.shutw = tcp_shutw,
	.close = tcp_close,
};

static void conn_event(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct conn *c = (struct conn *)io;

	if (c->dead)
		return;         /* closed earlier in this batch of events */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rd = 2;
	else if ((events & EPOLLIN) && !c->rd)
		c->rd = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->wr = 1;
	if ((c->want & CONN_W_RD_WR) && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (!c->rd)
			c->rd = 1;
		c->want &= ~CONN_W_RD_WR;
	}
	if ((c->want & CONN_W_WR_RD) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		c->wr = 1;
		c->want &= ~CONN_W_WR_RD;
	}
	if (c->cb)
		c->cb(c, events);
}

void conn_init(struct conn *c, int fd, const struct conn_xprt *xp)
{
	c->io.fd = fd;
	c->io.cb = conn_event;
	c->xp = xp;
	c->cb = NULL;
	c->owner = NULL;
	c->rd = c->wr = 1;
	c->eof = c->dead = 0;
	c->err = 0;
	c->rx = 0;
	c->ssl = NULL;
	c->want = c->fatal = c->why = c->sniffed = c->unix_sk = 0;
}

int conn_add(struct ev_loop *l, struct conn *c)
{
	return ev_add(l, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
}

void conn_close(struct ev_loop *l, struct conn *c)
{
	if (c->dead)
		return;
	ev_del(l, &c->io);
	c->xp->close(c);
	c->dead = 1;
	c->cb = NULL;
}

ssize_t conn_read(struct conn *c, struct buf *b)
{
	size_t room;
	ssize_t n;

	buf_compact(b);
	room = b->cap - b->len;
	if (!room)
		return -ENOBUFS;
	if (!c->rd || c->eof)
		return 0;
	n = c->xp->recv(c, b->data + b->len, room);
	if (n > 0) {
		if ((size_t)n < room && c->rd == 1 && c->xp->plain)
			c->rd = 0;
		b->len += n;
		c->rx += n;
		return n;
	}
	if (n == 0) {
		c->eof = 1;
		c->rd = 0;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		if (errno == EAGAIN)
			c->rd = 0;
		return 0;
	}
	c->err = -errno;
	return c->err;
}

ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n && c->wr) {
		ssize_t k = c->xp->send(c, (const char *)p + done, n - done);

		if (k > 0) {
			done += k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			c->wr = 0;
			break;
		}
		c->err = k < 0 ? -errno : -EPIPE;
		return c->err;
	}
	return done;
}

ssize_t conn_send_buf(struct conn *c, struct buf *b)
{
	ssize_t n = conn_send(c, b->data + b->pos, buf_avail(b));

	if (n > 0) {
		b->pos += n;
		if (b->pos == b->len)
			b->pos = b->len = 0;
	}
	return n;
}

int conn_pending(struct conn *c)
{
	char ch;
	ssize_t n = recv(c->io.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);

	/* bytes (n 1), the end of stream (0) or an error: not clean */
	return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}
