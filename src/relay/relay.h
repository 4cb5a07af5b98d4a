/* relay: body relay engines behind one ops table (copy, splice, sockmap),
 * and the one interface a session sees, whatever the engine: start a
 * direction, say how its body is framed, move raw runs of it, and ask
 * whether the kernel still owns bytes toward a socket (the hand-back). */
#ifndef TANDEM_RELAY_H
#define TANDEM_RELAY_H

#include <errno.h>
#include <string.h>

#include "conn-t.h"
#include "relay-t.h"

#define RELAY_COPY_BUF (64 * 1024)

extern const struct relay_ops relay_copy_ops;
extern const struct relay_ops relay_splice_ops;
extern const struct relay_ops relay_sockmap_ops;
extern const struct relay_ops relay_packet_ops;

/* ---- a worker's engines -------------------------------------------------- */

/* relay_env_open: the engines for `relay = ENGINE` (RELAY_COPY, RELAY_SPLICE
 * or RELAY_SOCKMAP): the pipe pool, and a kernel engine's map. Returns 0 or
 * -errno (the kernel engine could not be loaded). */
int relay_env_open(struct relay_env *e, int engine);
void relay_env_close(struct relay_env *e);

/* relay_buf_get: a RELAY_COPY_BUF buffer (an idle one of E's, or a new
 * one), NULL without memory. relay_buf_put: gives P (NULL: none) back. */
void *relay_buf_get(struct relay_env *e);
void relay_buf_put(struct relay_env *e, void *p);

/* relay_env_fd: a descriptor that polls readable when the kernel engine
 * has news (an arming ended), -1 when there is none. relay_env_events
 * handles it (call on every event: edge-triggered): each backend socket
 * concerned gets its owner's callback with no events. */
int relay_env_fd(const struct relay_env *e);
void relay_env_events(struct relay_env *e);

/* relay_env_poll: wakes every watch that asked to be polled (e->nticks of
 * them): bytes in the kernel whose progress no event announces. */
void relay_env_poll(struct relay_env *e);

/* relay_env_note: the response for target KEY had a body of BYTES: whether
 * the next one is offered whole to the kernel (relay_offer). */
void relay_env_note(struct relay_env *e, uint64_t key, uint64_t bytes);

/* relay_watch_set: W on E's list while LISTED (a body in the kernel), and
 * polled while TICK. */
void relay_watch_set(struct relay_env *e, struct relay_watch *w, int listed, int tick);

/* ---- sockets ---------------------------------------------------------------- */

/* relay_sock_add: socket C enters the kernel engine (a client right after
 * accept, a backend right after connect, before a byte is read from it);
 * X is its engine state. Without a kernel engine, or when its map is full,
 * the socket stays out (x->idx -1) and its bodies are moved in user space. */
void relay_sock_add(struct relay_env *e, struct relay_end *x, struct conn *c, int backend);
/* relay_sock_del: out of the engine; call before closing the socket. */
void relay_sock_del(struct relay_env *e, struct relay_end *x);
/* relay_sock_clean: 1 when the engine knows of no byte of backend C that
 * user space has not read (what conn_pending cannot see: bytes still on
 * their way through a kernel program). */
int relay_sock_clean(const struct relay_env *e, const struct relay_end *x, const struct conn *c);

/* relay_sock_clear: 1 when no byte the kernel sent to client C is still on
 * its way to C's send queue, so user space may write to it or close it;
 * else 0, and the owner's watch is polled until then (relay_sock_waits). */
int relay_sock_clear(struct relay_env *e, struct relay_end *x, struct conn *c);
static inline int relay_sock_held(const struct relay_end *x) { return x->pend; }
static inline int relay_sock_waits(const struct relay_end *x) { return x->wait; }
/* relay_sock_progress: where client C is with the kernel's bytes: 2 it has
 * all of them (the hold ends), 1 it took more since the last look, 0 not. */
int relay_sock_progress(struct relay_env *e, struct relay_end *x, struct conn *c);

/* ---- one direction ------------------------------------------------------- */

/* relay_start: R moves bytes from SRC (engine state SE) to DST (DE) with
 * the worker's user-space engine; with copy when either end is not plain
 * (TLS: counted in e->user_tls where the engine would have been another;
 * such a socket is never in a kernel engine either, see relay_sock_add). */
void relay_start(struct relay *r, struct relay_env *e, struct conn *src, struct relay_end *se,
		 struct conn *dst, struct relay_end *de);

/* relay_frame: the body's framing is known (KIND; LEN its Content-Length,
 * for H1_BODY_LENGTH): a kernel engine that can follow it takes the
 * direction over. */
void relay_frame(struct relay *r, enum h1_body kind, uint64_t len);

/* relay_offer: before the request goes out: offers the whole response to
 * a kernel engine that checks response heads itself (KEY: the target, see
 * relay_env_note). Returns 1 when it watches for the head: relay_head then
 * says what it did. */
int relay_offer(struct relay *r, uint64_t key);
static inline int relay_offered(const struct relay *r) { return r->khead; }
/* relay_head: after relay_offer: 1 the engine took the response (H says
 * its status and framing), 0 user space reads the head (none is there yet,
 * or the engine passed it on: R is then a plain direction again), -errno
 * when the engine failed (the exchange is lost). */
int relay_head(struct relay *r, struct relay_head *h);
/* relay_decline: user space read bytes of an offered response: the offer
 * is over, R is a plain direction again. */
void relay_decline(struct relay *r);

/* relay_takes: 1 when the engine moves a raw run of RAW body bytes itself
 * (fill), 0 when the session reads them into its buffer. */
static inline int relay_takes(const struct relay *r, uint64_t raw)
{
	return raw && r->ops->takes(r, raw);
}
ssize_t relay_fill(struct relay *r, size_t max);
ssize_t relay_flush(struct relay *r);
/* relay_owned: the kernel owns a run now (fill reports its progress). */
static inline int relay_owned(const struct relay *r) { return r->armed; }
/* relay_framed: the engine frames the body itself (its byte counts include
 * chunk framing); when its run ends, relay_resume says where it stopped. */
static inline int relay_framed(const struct relay *r) { return r->kchunked; }
/* relay_ended: the run the kernel owned just ended (reset by relay_resume
 * or the next fill). */
static inline int relay_ended(const struct relay *r) { return r->kended; }
void relay_resume(struct relay *r, struct h1_chunk *ch);
/* relay_polled: the engine waits for what no event announces. */
static inline int relay_polled(const struct relay *r) { return r->waiting; }
static inline size_t relay_staged(const struct relay *r) { return r->staged; }
void relay_release(struct relay *r);
/* relay_progress_ms: when the body last moved, as far as the engine knows
 * (NOW when it reports progress as it sees it). */
static inline uint64_t relay_progress_ms(const struct relay *r, uint64_t now)
{
	return r->kprog_ms && r->kprog_ms < now ? r->kprog_ms : now;
}

/* relay_name: the engine that moved the body (a packet run's body that
 * went through splice(2) instead is splice's). */
static inline const char *relay_name(const struct relay *r)
{
	return r->ops->id == RELAY_PACKET && !r->kused ? "splice" : r->ops->name;
}

/* relay_count: N bytes user space moved itself (counted as copy). */
static inline void relay_count(struct relay_env *e, size_t n) { e->bytes[RELAY_COPY] += n; }

/* ---- for the engines ----------------------------------------------------- */

/* relay_reset: an idle state with OPS, keeping R's sockets. */
void relay_reset(struct relay *r, const struct relay_ops *ops);

/* relay_took: accounts N, what a read(2) or splice(2) from R's src into its
 * staging returned: bytes staged (returned), the end of stream (eof set,
 * 0), EAGAIN (src drained, 0), or -errno. */
ssize_t relay_took(struct relay *r, ssize_t n);

/* relay_pipes_init: an empty pool keeping at most CAP idle pipes of SIZE
 * bytes and handing out at most MAX_INUSE at once. Returns 0 or -ENOMEM. */
int relay_pipes_init(struct relay_pipes *p, int cap, int max_inuse, int size);
void relay_pipes_free(struct relay_pipes *p);

/* relay_pipe_get: an empty pipe into PFD. Returns 0, or -EMFILE/-ENFILE/
 * -EBUSY (pool exhausted) when none can be had: the caller then copies. */
int relay_pipe_get(struct relay_pipes *p, int pfd[2]);
/* relay_pipe_put: gives PFD back; EMPTY says it holds no bytes (else closed). */
void relay_pipe_put(struct relay_pipes *p, int pfd[2], int empty);

/* relay_probe_splice: 0 when splice(2) between a TCP socket and a pipe works
 * on this kernel, else -errno (the caller falls back to copy and says so). */
int relay_probe_splice(void);

/* ---- sockmap (relay_sockmap.c) ---- */

/* ---- packet splicing (relay_packet.c) ---- */

/* Why a body was not spliced at packet level (spliced by splice(2)). */
enum {
	RELAY_PK_FB_FRAMING,    /* not a Content-Length body (chunked, to close, none) */
	RELAY_PK_FB_SMALL,      /* under kernel_min (or 1 GiB and more) */
	RELAY_PK_FB_OPTIONS,    /* timestamps, SACK or window scaling missing on a side */
	RELAY_PK_FB_MSS,        /* the server's segments would not fit the client's MSS */
	RELAY_PK_FB_FAMILY,     /* not IPv4 */
	RELAY_PK_FB_STATE,      /* sock C had unsent bytes, or sock U's numbers moved while read */
	RELAY_PK_FB_BUSY,       /* no slot, no pipe, or a map full */
	RELAY_PK_FB_UNCLAIMED,  /* armed, but the whole body reached the socket first */
	RELAY_PK_FB_COUNT
};
const char *relay_pk_fb_name(int k);

/* Counters of one worker's packet runs, read racily by the metrics thread. */
struct relay_pk_stats {
	uint64_t armed;         /* armings */
	uint64_t claimed;       /* ... a server segment started */
	uint64_t spliced;       /* responses whose range the client acknowledged */
	uint64_t bytes;         /* body bytes spliced at packet level */
	uint64_t nudges;        /* ACKs sock U was made to send (the client's last ack went to sock C) */
	uint64_t errors;        /* runs cut: the server went inside the body, or sent past it */
	uint64_t rebased;       /* looks at sock U's numbers that found its rx count off */
	uint64_t fb[RELAY_PK_FB_COUNT];
};

/* relay_packet_start: loads the programs and attaches them to IFACES (NULL
 * or empty: every interface that is up), once per process; programs a
 * killed tandem left are removed first. 0, or -errno with WHY. */
int relay_packet_start(const char *ifaces, char *why, size_t whylen);
/* relay_packet_stop: detaches everything (at exit). */
void relay_packet_stop(void);
#ifdef __LIBBPF_LIBBPF_H
/* relay_libbpf_print: libbpf's messages, warnings and worse, to the debug
 * log a line each (for libbpf_set_print, by the kernel engines). */
int relay_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap);
#endif
/* relay_packet_ifaces: the interfaces in use, names into OUT; their count. */
int relay_packet_ifaces(char *out, size_t len);
/* relay_packet_mss: the MSS the pool's connections are clamped to (the
 * smallest MTU - 40 of the interfaces in use other than loopback), so a
 * web server's segments fit a client's path as they are; 0 when the
 * engine does not run or every interface is loopback. */
int relay_packet_mss(void);
/* What the tc programs counted (the process's, every interface), summed
 * over CPUs; drops by reason, named by relay_pk_drop_name. */
#define RELAY_PK_DROPS 13
struct relay_pk_prog {
	uint64_t segments;      /* server segments redirected to clients */
	uint64_t bytes;         /* ... their payload */
	uint64_t retransmits;   /* of those, at or below a byte spliced before */
	uint64_t client_acks;   /* client ACKs translated to the server */
	uint64_t sack_cut;      /* SACK blocks removed */
	uint64_t icmp;          /* ICMP errors about a client connection, put in sock C's numbers */
	uint64_t icmp_range;    /* ... of those, about a spliced segment */
	uint64_t late;          /* server segments of a range the client had whole, to sock U */
	uint64_t probes;        /* server window probes inside a range, to the client */
	uint64_t win_clamps;    /* sock U's windows cut to the client's during a range */
	uint64_t claim_waits;   /* range starts put off: the client's window could not take them */
	uint64_t ts_cleared;    /* server segments to sock U older than its newest TSval, sent without it */
	uint64_t drops[RELAY_PK_DROPS];
};
void relay_packet_counters(struct relay_pk_prog *out);
const char *relay_pk_drop_name(int k);
/* relay_env_pk_stats: E's packet counters, NULL when it runs none. */
const struct relay_pk_stats *relay_env_pk_stats(const struct relay_env *e);

/* Counters of one worker's sockmap, read racily by the metrics thread. */
struct relay_sm_stats {
	uint64_t bytes;         /* bytes redirected client-ward in the kernel */
	uint64_t heads;         /* responses whose head the program checked and sent */
	uint64_t handbacks;     /* client sockets seen with every redirected byte in their queue */
	uint64_t fallbacks;     /* armings that could not redirect (bytes reached user space first) */
	uint64_t errors;        /* origin sent past the framing, or the client vanished */
};

/* relay_probe_sockmap: loads the program, attaches it, and moves bytes from
 * one loopback TCP connection to another through an armed redirect. Returns
 * 0 when all of it works, else -errno with a reason in WHY (WHYLEN bytes). */
int relay_probe_sockmap(char *why, size_t whylen);

/* relay_engine_name: the name of engine ID (RELAY_*), as metrics show it. */
const char *relay_engine_name(int id);

/* relay_env_sm_stats: the sockmap counters of E, NULL when it runs none. */
const struct relay_sm_stats *relay_env_sm_stats(const struct relay_env *e);

#endif
