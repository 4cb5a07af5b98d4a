/* relay-t.h: types of the relay engines, the ways body bytes cross from one
 * socket to the other, so a session can embed one state per direction. */
#ifndef TANDEM_RELAY_T_H
#define TANDEM_RELAY_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct relay;

/* One engine. A direction's bytes go src -> staging -> dst: `fill` takes at
 * most MAX bytes from SRC into the engine's staging (a pipe for splice, a
 * buffer for copy), `flush` delivers staged bytes to DST. Both return >0 bytes
 * moved, 0 when the socket would block (EAGAIN), or -errno; end of stream on
 * SRC sets r->eof and returns 0. `release` gives the staging back (a pipe
 * that still holds bytes is closed, never reused).
 * A kernel-driven engine (sockmap, packet-level splicing) implements `fill`
 * as "arm the redirect for MAX bytes" and reports progress the same way. */
struct relay_ops {
	const char *name;
	int kernel;             /* bytes move without the process: see relay_sockmap.c */
	ssize_t (*fill)(struct relay *r, int src, size_t max);
	ssize_t (*flush)(struct relay *r, int dst);
	void (*release)(struct relay *r);
};

/* A worker's pool of pipes for splice(2). */
struct relay_pipes {
	int (*free)[2];         /* stack of idle, empty pipes */
	int nfree;
	int cap;                /* most idle pipes kept */
	int inuse;
	int max_inuse;          /* beyond this, splice falls back to copy */
	int size;               /* F_SETPIPE_SZ asked for each pipe */
};

struct relay_sm;                /* a worker's sockmap (relay_sockmap.c) */

/* One direction's engine state. */
struct relay {
	const struct relay_ops *ops;
	struct relay_pipes *pipes;
	int pfd[2];             /* splice: the pipe, -1 when none */
	char *buf;              /* copy: staging buffer, NULL when none */
	uint32_t pos, len;      /* copy: staged bytes are buf[pos..len) */
	size_t staged;          /* taken from src, not yet delivered to dst */
	int eof;                /* src reached end of stream */
	/* sockmap: the armed redirect of one response body */
	struct relay_sm *sm;
	uint64_t *got;          /* src bytes accounted for: read by user space, or redirected by a finished arming */
	int slot, peer;         /* map indexes of src (backend) and dst (client) */
	int cfd;                /* the client socket */
	int sfd;                /* the backend socket (peeked bytes to take out) */
	uint64_t pend;          /* bytes peeked (and written to dst), still in src */
	uint32_t gen;           /* arming generation in the slot */
	uint8_t armed;          /* a redirect is armed and not all of it redirected yet */
	uint8_t khead;          /* armed in head mode, the program has not taken the head (yet) */
	uint8_t kdone;          /* an arming just ended with every byte redirected: see ktarget */
	uint8_t kchunked;       /* head mode took a chunked response: the program frames it */
	uint8_t kstop;          /* kdone, but the program stopped at framing user space parses on */
	uint8_t waiting;        /* unarmed, letting the origin stop before catching up */
	uint64_t last_seen;     /* the program's offset when waiting began */
	uint64_t base;          /* cfd's written-byte count when armed */
	uint64_t ktarget;       /* kdone: cfd's count once every redirected byte is in its queue */
	uint64_t arm_start, arm_len;    /* arm_len 0: head mode, length not known yet */
	uint64_t fwd_seen;      /* redirected bytes reported by fill */
	uint32_t kstatus;       /* head mode: the status the program saw */
};

#endif
