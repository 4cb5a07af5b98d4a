/* relay-t.h: types of the relay engines, the ways body bytes cross from one
 * socket to the other: a worker's engines (struct relay_env), the engine
 * state of one socket (struct relay_end) and of one direction of an exchange
 * (struct relay). Types only, so sessions and the pool can embed them; what
 * is inside belongs to src/relay/. */
#ifndef TANDEM_RELAY_T_H
#define TANDEM_RELAY_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "h1-t.h"

struct relay;
struct relay_env;
struct relay_end;
struct conn;

enum { RELAY_COPY, RELAY_SPLICE, RELAY_SOCKMAP, RELAY_PACKET, RELAY_NENGINES };

/* What a kernel engine that checked a response head itself found. */
struct relay_head {
	int status;
	enum h1_body kind;      /* H1_BODY_LENGTH (len: head and body) or H1_BODY_CHUNKED */
	uint64_t len;
	ssize_t n;              /* bytes already moved for it */
};

/* One engine. A direction's bytes go src -> staging -> dst: `fill` takes at
 * most MAX bytes from src into the engine's staging (a pipe for splice, a
 * buffer for copy) or arms the kernel to move them (sockmap), `flush`
 * delivers staged bytes to dst. Both return >0 bytes moved, 0 when a socket
 * would block (its readiness flag cleared) or the engine waits, or -errno
 * (-EPIPE: src ended inside an armed run); the end of stream on src sets
 * r->eof and returns 0. `release` gives the staging back (a pipe that still
 * holds bytes is closed, never reused). `takes` says whether the engine
 * wants a raw run of RAW bytes, or leaves it to the session's buffer.
 *
 * The rest is a kernel engine's hand-off, all optional: a worker's map and
 * event source (env_open, env_close, events), its sockets (sock_add before
 * any byte is read, sock_del before close, sock_clean: nothing the kernel
 * passed on is unread), the bodies it takes (frame: a framed body of known
 * kind; offer/head/decline: a whole response whose head the kernel checks;
 * resume: where its chunk framing ended), and the hand-back of a client
 * socket the kernel wrote to (clear, progress). */
struct relay_ops {
	const char *name;
	int id;                 /* RELAY_*: its byte counter */
	int kernel;             /* bytes move without the process */
	int (*takes)(const struct relay *r, uint64_t raw);
	ssize_t (*fill)(struct relay *r, size_t max);
	ssize_t (*flush)(struct relay *r);
	void (*release)(struct relay *r);

	int (*env_open)(struct relay_env *e);
	void (*env_close)(struct relay_env *e);
	int (*event_fd)(const struct relay_env *e);
	void (*events)(struct relay_env *e);
	int (*sock_add)(struct relay_env *e, struct relay_end *x, struct conn *c, int backend);
	void (*sock_del)(struct relay_env *e, struct relay_end *x);
	int (*sock_clean)(const struct relay_env *e, const struct relay_end *x, const struct conn *c);
	int (*frame)(struct relay *r, enum h1_body kind);
	int (*offer)(struct relay *r, uint64_t key);
	int (*head)(struct relay *r, struct relay_head *h);
	void (*decline)(struct relay *r);
	void (*resume)(struct relay *r, struct h1_chunk *ch);
	int (*clear)(struct relay_env *e, struct relay_end *x, struct conn *c);
	int (*progress)(struct relay_env *e, struct relay_end *x, struct conn *c);
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

/* The owner of something the engine polls: WAKE(self) runs it. */
struct relay_watch {
	struct relay_watch *next, *prev;
	void (*wake)(struct relay_watch *self);
	uint8_t listed;         /* on the env's list: a body in the kernel */
	uint8_t tick;           /* ... and polled every 100 us */
};

#define RELAY_KBIG 1024

struct relay_sm;                /* a worker's sockmap (relay_sockmap.c) */
struct relay_pk;                /* a worker's part of packet splicing (relay_packet.c) */

#define RELAY_CBUFS 64          /* idle copy buffers a worker keeps (4 MiB) */

/* A worker's engines: the one user-space runs use (copy or splice), and a
 * kernel engine when one runs (sockmap), with its map. */
struct relay_env {
	const struct relay_ops *base;
	const struct relay_ops *kern;   /* NULL: none */
	struct relay_pipes pipes;
	/* idle RELAY_COPY_BUF buffers of the copy engine, handed out again:
	 * malloc and free per body made glibc trim and regrow the worker's
	 * heap (madvise) as the number of bodies under way moved */
	void *cbufs[RELAY_CBUFS];
	int ncbufs;
	struct relay_sm *sm;
	struct relay_pk *pk;
	uint64_t splice_min;            /* runs shorter than this stay in the session's buffer */
	uint64_t kernel_min;            /* the smallest body a kernel engine takes whole */
	uint64_t bytes[RELAY_NENGINES]; /* body bytes moved, by engine */
	uint64_t user_tls;              /* directions copied in user space, not by the
					 * worker's engine: a TLS end (no kernel TLS) */
	uint64_t user_unix;             /* AF_UNIX web server connections kept out of
					 * the kernel engine (their bodies: base's) */
	struct relay_watch *watching;   /* owners with a body in the kernel */
	int nticks;                     /* of those, how many are polled */
	/* targets (lb key) whose last response had a body of kernel_min or
	 * more, direct-mapped: only their requests are offered whole */
	uint64_t kbig[RELAY_KBIG];
};

/* The engine state of one socket. A client socket the kernel wrote to is
 * held (pend) until every byte it was given is in its send queue: until
 * then user space writes nothing to it, and does not close it. */
struct relay_end {
	int idx;                /* index in the kernel engine's map; -1: not in it */
	uint8_t pend;           /* bytes the kernel sent it may not all be queued yet */
	uint8_t wait;           /* ... and its owner waits for them (polled) */
	uint64_t target;        /* pend: the socket's written count once they are */
	uint64_t seen;          /* that count when last looked at (progress) */
	/* packet: the connection's tuple as psplice keys it (an entry exists
	 * once idx is 1; a backend's is made at its first arming, when its
	 * options are known) */
	uint8_t pkey[12];
	uint8_t busy;           /* packet: a range on this backend is not acknowledged yet */
	uint8_t pkback;         /* packet: the entry is an uplink's */
	uint16_t pkmss;         /* packet: a client's MSS (what it announced, or PMTU's less) */
	uint16_t pkadv;         /* packet: a backend's advertised MSS (fixed at its handshake) */
	uint8_t pkbase_ok;      /* packet: pkbase is known */
	uint8_t pkchecks;       /* packet: armings since pkbase was last checked */
	uint32_t pkbase;        /* packet: a backend's receive sequence less its conn's rx */
};

/* One direction's engine state. */
struct relay {
	const struct relay_ops *ops;
	struct relay_env *env;
	struct conn *src, *dst;
	struct relay_end *se, *de;      /* the engine state of src and dst */
	int pfd[2];             /* splice: the pipe, -1 when none */
	char *buf;              /* copy: staging buffer, NULL when none */
	uint32_t pos, len;      /* copy: staged bytes are buf[pos..len) */
	size_t staged;          /* taken from src, not yet delivered to dst */
	int eof;                /* src reached end of stream */
	/* sockmap: the armed redirect of one response body */
	uint64_t pend;          /* bytes peeked (and written to dst), still in src */
	uint32_t gen;           /* arming generation in the slot */
	uint8_t armed;          /* a redirect is armed and not all of it redirected yet */
	uint8_t khead;          /* armed in head mode, the program has not taken the head (yet) */
	uint8_t kchunked;       /* head mode took a chunked response: the program frames it */
	uint8_t kstop;          /* the program stopped at framing user space parses on */
	uint8_t kended;         /* an arming just ended with every byte redirected */
	uint8_t waiting;        /* unarmed, letting the origin stop before catching up */
	uint64_t last_seen;     /* the program's offset when waiting began */
	uint64_t base;          /* dst's written-byte count when armed */
	uint64_t arm_start, arm_len;    /* arm_len 0: head mode, length not known yet */
	uint64_t clen;          /* the body's Content-Length (relay_frame), 0 when not framed so */
	uint64_t fwd_seen;      /* redirected bytes reported by fill */
	uint32_t kstatus;       /* head mode: the status the program saw */
	/* packet: one arming, from the body's first unread byte */
	uint32_t kslot;         /* its slot in the worker's table, + 1; 0: none */
	uint8_t kclaimed;       /* a server segment started the range: kpre is known */
	uint8_t kdone;          /* the client acknowledged the whole range */
	uint8_t kshort;         /* the server's stream ended inside the range */
	uint8_t kused;          /* this body's range was spliced at packet level */
	uint8_t ktries;         /* armings tried for this body (sock C still sending: again later) */
	uint8_t kpass;          /* the bytes queued at the arming still go by pk_pass */
	uint8_t ksrvack;        /* the server was seen to have the client's ack of the whole range */
	uint64_t kprog_ms;      /* when the client last acknowledged more of the range (ev_clock_ms) */
	uint64_t kpre;          /* body bytes that reached the backend socket before the range */
	uint64_t kcopied;       /* of those, taken from it (pk_pass, or spliced through a pipe) */
	uint64_t kdelivered;    /* ... and written to the client */
};

#endif
