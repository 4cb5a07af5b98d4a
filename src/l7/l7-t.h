/* l7-t.h: the level-2 switch's types: worker, client session, pooled
 * upstream connection, counters. Types only, so parts can embed each other. */
#ifndef TANDEM_L7_T_H
#define TANDEM_L7_T_H

#include <pthread.h>
#include <stdint.h>
#include <netinet/in.h>

#include "cfg-t.h"
#include "ev.h"
#include "h1-t.h"
#include "lb-t.h"
#include "qos-t.h"
#include "relay-t.h"

struct sess;
struct l7_worker;

/* A byte buffer: valid data is data[pos..len). */
struct buf {
	char *data;
	uint32_t cap, pos, len;
};

/* A connection to one node's web server. While idle it sits in its node's
 * pool list; while a session uses it, `owner` points to that session. */
struct upconn {
	struct ev_io io;
	struct l7_worker *w;
	struct sess *owner;
	struct upconn *next, *prev;     /* idle list of its node */
	int node;
	uint32_t requests;              /* served on this connection */
	unsigned gen;                   /* configuration generation it was opened under */
	uint64_t idle_since;
	uint8_t connecting;
	uint8_t dead;                   /* closed; freed after the event batch */
	uint8_t rd, wr;                 /* readiness seen and not yet used up */
	int sm_idx;                     /* index in the worker's sockmap, -1: not in it */
	uint64_t got;                   /* bytes read from the socket (sockmap: vs the program's offset) */
};

/* Per-node pool of idle connections, per worker (no locks). */
struct upool {
	struct upconn *head;            /* most recently used first */
	int nidle;
	int nopen;                      /* idle + in use */
};

/* One direction of a request or response: framing plus engine. */
struct pump {
	enum h1_body kind;              /* NONE when nothing to move */
	uint64_t remaining;             /* LENGTH: bytes left to take from src */
	struct h1_chunk ch;
	struct relay rl;                /* engine for long raw runs */
	struct buf out;                 /* bytes for dst before anything else */
	uint8_t active;                 /* this direction has work */
	uint8_t done;                   /* every byte taken from src (not necessarily delivered) */
	uint8_t tunnel;                 /* raw until EOF, both ways */
	uint64_t moved;                 /* body bytes taken from src */
	uint64_t limit;                 /* most body bytes allowed (client_max_body); 0: none */
};

enum sess_state {
	SS_IDLE,                        /* waiting for (the rest of) a request head */
	SS_QUEUED,                      /* request parsed, waiting in its Web-QoS class queue */
	SS_CONNECT,                     /* request parsed, upstream connecting */
	SS_EXCHANGE,                    /* request going up, response coming down */
	SS_CLOSING,                     /* flushing a last response, then close */
	SS_DEAD,                        /* closed; memory freed after the event batch */
};

struct sess {
	struct ev_io io;                /* the client socket */
	struct l7_worker *w;
	struct sess *next, *prev;       /* the worker's list, for timeouts */
	enum sess_state st;
	uint8_t crd, cwr;               /* client readiness flags */
	uint8_t keepalive;              /* client connection stays open after this response */
	uint8_t client_minor;           /* HTTP/1.x of the current request */
	uint8_t resp_started;           /* a byte of the response reached the client buffer */
	uint8_t head_req;               /* current request is HEAD */
	uint8_t retry_ok;               /* idempotent, no body: can be replayed */
	uint8_t retried;
	uint8_t upgrade;                /* request asks for a protocol switch */
	uint8_t resp_head_done;
	uint8_t req_hdr_seen;           /* some bytes of a head arrived */
	uint8_t up_close;               /* upstream said Connection: close */
	uint8_t lingering;              /* SS_CLOSING: write side shut, draining input */
	uint8_t fresh_up;               /* current upstream connection is new */
	uint8_t connect_req;            /* current request is CONNECT */
	uint8_t drain_seen;             /* the drain gave this idle session its grace */
	uint8_t admitted;               /* counted in flight by the worker's struct qos */
	int group;                      /* w->lb index of the current request */
	int cls;                        /* Web-QoS class, -1: none */
	int inflight_node;              /* node whose in-flight count holds this request, -1 */
	uint64_t key;                   /* hash of the target (chash, lard) */
	struct qos_waiter qw;           /* its place in a Web-QoS class queue (SS_QUEUED) */
	unsigned qgen;                  /* generation of the struct qos that admitted it */
	int node;                       /* chosen node of the current request */
	uint64_t deadline;              /* ms; 0: none */
	uint32_t nreq;                  /* requests on this connection */
	struct buf cin;                 /* bytes from the client */
	struct buf uin;                 /* bytes from the upstream */
	struct upconn *up;
	struct pump req;                /* client -> upstream */
	struct pump resp;               /* upstream -> client */
	uint32_t replay_len;            /* head bytes at the start of req.out to replay; 0: none */
	int sm_idx;                     /* client socket's index in the worker's sockmap, -1: none */
	struct sess *smnext, *smprev;   /* the worker's list of sessions with an armed redirect */
	uint8_t sm_listed;
	uint8_t sm_tick;                /* listed, and polled every 100 us (see sess_sm_track) */
	uint8_t kprearmed;              /* the current upstream's response was armed in head mode */
	uint8_t kpend;                  /* bytes redirected to the client may not all be in its queue */
	uint8_t kwait;                  /* ... and the session waits for them to be (polled) */
	uint64_t ktarget;               /* kpend: the client's written count once they are */
	uint64_t kseen;                 /* that count when last looked at (progress) */
	char peer[64];                  /* client IP text, for X-Forwarded-For */
};

#define L7_KBIG 1024

enum { L7_CODE_1XX, L7_CODE_2XX, L7_CODE_3XX, L7_CODE_4XX, L7_CODE_5XX, L7_NCODES };

/* Counters of one worker; /metrics sums them over workers. Written only by
 * their worker, read racily by the admin thread (monotonic 64-bit words).
 * Per-node ones are by index in cfg.nodes, which cfg_align keeps for a
 * node across reloads; a node that takes a removed node's index starts
 * them at 0 (l7_switch_cfg). */
struct l7_stats {
	uint64_t requests[CFG_MAX_NODES][L7_NCODES];
	uint64_t pool_reused[CFG_MAX_NODES];
	uint64_t pool_opened[CFG_MAX_NODES];
	uint64_t upstream_fail[CFG_MAX_NODES];
	uint64_t local[600];            /* responses made by tandem, by status */
	uint64_t parse_err[H1_E_COUNT];
	uint64_t bytes_splice;
	uint64_t bytes_copy;
	uint64_t retries;
	uint64_t aborted;               /* exchanges cut short (client or server gone) */
	uint64_t accepted;
	uint64_t rule_hits[CFG_MAX_RULES + 1];  /* the last one: no rule matched */
	uint64_t group_req[CFG_MAX_GROUPS + 1];
	uint64_t group_503[CFG_MAX_GROUPS + 1];
	int64_t clients;                /* open client connections */
	int64_t upstreams;              /* open upstream connections */
};

struct l7_worker {
	struct ev_loop loop;
	struct l7_proc *proc;
	struct cfg *cfg;                /* the configuration this worker runs */
	unsigned gen;                   /* generation of cfg */
	unsigned cfg_ack;               /* atomic: gen, published once the worker no longer reads an older cfg */
	unsigned epoch;                 /* atomic: cfg->epoch, published once its counters are cfg's (see
					 * l7_switch_cfg: a node new to an index starts them at 0) */
	int id;
	struct ev_io lsn;
	struct sess *sessions;          /* every open session, for the timeout sweep */
	struct sess *dead_sess;         /* closed during this event batch */
	struct upconn *dead_up;
	struct upool pool[CFG_MAX_NODES];
	struct relay_pipes pipes;
	const struct relay_ops *engine;
	struct relay_sm *sm;            /* relay = sockmap: this worker's map and program */
	struct ev_io smio;              /* its event ring: an arming ended */
	struct sess *sm_armed;          /* sessions whose response body is in the kernel */
	int sm_nticks;                  /* of those, how many want polling every 100 us */
	/* targets (lb key) whose last response had a body of kernel_min or
	 * more, direct-mapped: only their requests are armed in head mode */
	uint64_t kbig[L7_KBIG];
	uint64_t rr;                    /* round-robin position */
	uint64_t last_sweep;
	int drained;                    /* listener closed, idle sessions closed */
	struct h1_msg msg;              /* scratch: the head being parsed */
	struct lb_group lb[CFG_MAX_GROUPS + 1]; /* per group; the last may be the implicit "all" */
	int nlb;
	int default_lb;                 /* lb index used when no rule matches */
	struct cfg_group all;           /* the implicit group of every node */
	int inflight[CFG_MAX_NODES];    /* requests this worker has at each node */
	struct qos qos;                 /* Web-QoS admission and class queues (qos.h) */
	struct l7_stats st;
	char **freebufs;                /* idle session buffers of bufsz bytes */
	int nfreebufs, maxfreebufs;
	uint32_t bufsz;
};

#define L7_GEN_NONE 0xffffffffu

/* The process: configuration, its node, workers. */
struct l7_proc {
	struct cfg *cfg;                /* the newest configuration */
	volatile unsigned gen;          /* bumped by each reload */
	/* Configurations replaced by reloads that a thread may still read,
	 * freed once no reader is on their generation (l7_cfg_retire). Every
	 * reader publishes the generation it reads: the workers in cfg_ack,
	 * the probe and the admin threads here (L7_GEN_NONE: reading none). */
	struct { struct cfg *cfg; unsigned gen; } retired[16];
	int nretired;
	unsigned probe_gen, admin_gen;
	struct cfg_node *self;
	int self_idx;
	int nworkers;
	struct l7_worker **workers;
	volatile int stop;              /* leave now */
	volatile int draining;          /* stop accepting, finish in-flight requests */
	int drain_timeout;              /* ms a drain may take before stop */
	volatile int clients;           /* across workers, for max_clients */
	int admin_fd;
	int ctl_fd;                     /* binary-upgrade control socket */
	volatile int handed_over;       /* a new process took our listeners */
	int inherited[256];             /* listeners taken over from the old process */
	int ninherited;
	pthread_t admin_thread, ctl_thread, health_thread;
	int has_admin_thread, has_ctl_thread, has_health_thread;
	int sm_fallback;                /* relay sockmap/auto asked, the probe failed: splice */
	/* by index in cfg.nodes (kept for a node across reloads: cfg_align) */
	int node_down[CFG_MAX_NODES];   /* atomic: marked down by failures */
	int node_fails[CFG_MAX_NODES];  /* atomic: consecutive failures */
};

#endif
