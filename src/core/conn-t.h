/* conn-t.h: types of the connection layer: one object per socket, with its
 * readiness, its end-of-stream and error state, the owner's callback and a
 * transport behind an ops table. Types only, so owners can embed one. */
#ifndef TANDEM_CONN_T_H
#define TANDEM_CONN_T_H

#include <stdint.h>
#include <sys/types.h>

#include "ev.h"

struct conn;

/* A transport: how bytes go in and out of the socket. recv and send have
 * read(2)/send(2)'s contract (-1 with errno set); plain TCP is the only
 * one so far (TLS plugs in here). `plain` says the kernel may move bytes
 * of this socket itself (splice, sockmap): the stream is the payload. */
struct conn_xprt {
	const char *name;
	int plain;
	ssize_t (*recv)(struct conn *c, void *p, size_t n);
	ssize_t (*send)(struct conn *c, const void *p, size_t n);
	void (*shutw)(struct conn *c);
	void (*close)(struct conn *c);
};

/* The owner's callback: EVENTS are epoll's; the readiness flags below are
 * updated before it runs. */
typedef void (conn_cb)(struct conn *c, uint32_t events);

/* Readiness: edge-triggered, so a flag remembers an edge until a syscall
 * says EAGAIN. rd: 0 drained, 1 bytes may be there, 2 the peer also hung
 * up (sticky: a short read then does not mean drained, the end of stream is
 * still to be read and no further edge will announce it). */
struct conn {
	struct ev_io io;                /* the fd; io.cb is the layer's */
	const struct conn_xprt *xp;
	conn_cb *cb;                    /* the owner's handler */
	void *owner;
	uint8_t rd, wr;
	uint8_t eof;                    /* a read returned the end of stream */
	uint8_t dead;                   /* closed; its memory goes after the event batch */
	int err;                        /* the last hard error, -errno; 0: none */
	uint64_t rx;                    /* bytes taken out of the socket, by anyone */
};

#endif
