/* conn: the connection layer. Every socket a worker reads or writes is a
 * struct conn; its owner (a session, the pool) sets the callback that gets
 * its events (conn_own), reads into a struct buf with conn_read and writes
 * with conn_send, so there is one read loop and one send loop for every
 * socket, whatever the transport. */
#ifndef TANDEM_CONN_H
#define TANDEM_CONN_H

#include "buf.h"
#include "conn-t.h"

extern const struct conn_xprt conn_tcp;

/* conn_init: C over socket FD with transport XP, ready to read and write
 * (an accepted socket often has its request already; a connecting one is
 * marked not writable by its owner). Not yet watched. */
void conn_init(struct conn *c, int fd, const struct conn_xprt *xp);

/* conn_add: watches C on loop L for input, output and hang-up. 0 or -errno. */
int conn_add(struct ev_loop *l, struct conn *c);

/* conn_close: stops watching and closes the socket (through its transport);
 * C is marked dead: events already fetched for it are dropped. */
void conn_close(struct ev_loop *l, struct conn *c);

/* conn_own: CB(C, events) gets C's events from now on, with OWNER in c->owner. */
static inline void conn_own(struct conn *c, conn_cb *cb, void *owner)
{
	c->cb = cb;
	c->owner = owner;
}

/* conn_read: reads what the socket has into the free end of B (compacted
 * first). Returns >0 bytes read; 0 when nothing can be read now (EAGAIN, or
 * not readable), or at the end of stream (c->eof set); -ENOBUFS when B has
 * no room (nothing is read: a zero-length read would look like a close);
 * -errno on an error (c->err set). A short read of a plain socket clears
 * c->rd: epoll reports every later arrival, so the read that would say
 * EAGAIN is saved (not for TLS: a read returns one record, and the rest may
 * be in the socket or in OpenSSL's buffer already, where no edge tells). */
ssize_t conn_read(struct conn *c, struct buf *b);

/* conn_send: writes up to N bytes of P. Returns the bytes written (0..N;
 * fewer when the socket is full: c->wr cleared), or -errno on an error
 * (c->err set). */
ssize_t conn_send(struct conn *c, const void *p, size_t n);

/* conn_send_buf: conn_send of B's bytes; what went out is consumed. */
ssize_t conn_send_buf(struct conn *c, struct buf *b);

/* conn_pending: 1 when bytes or the end of stream wait in the socket (a
 * peek), 0 when nothing does. A connection given back to a pool must say
 * 0: anything else is bytes nobody asked for, or a close under way. */
int conn_pending(struct conn *c);

/* conn_shutw: shuts the write side (the end of our stream). */
static inline void conn_shutw(struct conn *c)
{
	c->xp->shutw(c);
}

#endif
