/* conn-t.h: types of the connection layer: one object per socket, with its
 * readiness, its end-of-stream and error state, the owner's callback and a
 * transport behind an ops table. Types only, so owners can embed one. */
#ifndef TANDEM_CONN_T_H
#define TANDEM_CONN_T_H

#include <stdint.h>
#include <sys/types.h>

#include "ev.h"

struct conn;
struct ssl_st;

/* A transport: how bytes go in and out of the socket. recv and send have
 * read(2)/send(2)'s contract (-1 with errno set): plain TCP (conn.c) and
 * TLS (tls.c). `plain` says the kernel may move bytes of this socket
 * itself (splice, sockmap): the stream is the payload; it also says that
 * a short read drained the socket (TLS returns one record per read). */
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
	struct ssl_st *ssl;             /* TLS: its OpenSSL object; NULL: none */
	uint8_t want;                   /* CONN_W_*: a read waits to write, or a write to read */
	uint8_t fatal;                  /* TLS: a fatal error, no close_notify may follow */
	uint8_t why;                    /* TLS: the handshake failure's TLS_F_* when known */
	uint8_t sniffed;                /* TLS: its first bytes were looked at (plain HTTP?) */
	uint8_t unix_sk;                /* AF_UNIX (a local web server's socket): no
					 * kernel engine takes it (splice(2) may) */
};

/* TLS reads may have to write (a handshake message) and writes to read:
 * the other direction's edge then makes this one ready again. */
#define CONN_W_RD_WR 1          /* a read waits for the socket to take bytes */
#define CONN_W_WR_RD 2          /* a write waits for bytes from the peer */

#endif
