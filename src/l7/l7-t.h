/* l7-t.h: the level-2 switch's types: worker, process, pooled upstream
 * connection, counters. Types only (the session's are in sess-t.h). */
#ifndef TANDEM_L7_T_H
#define TANDEM_L7_T_H

#include <pthread.h>
#include <stdint.h>
#include <netinet/in.h>

#include "buf.h"
#include "cfg-t.h"
#include "conn-t.h"
#include "ev.h"
#include "h1-t.h"
#include "lb-t.h"
#include "qos-t.h"
#include "relay-t.h"

struct sess;
struct l7_worker;

/* A connection to one node's web server. While idle it sits in its node's
 * pool list, owned by the pool; while a session uses it, the session owns
 * its conn (callback and owner pointer). */
struct upconn {
	struct conn c;
	struct relay_end re;            /* its engine state (a kernel engine's map) */
	struct l7_worker *w;
	struct upconn *next, *prev;     /* idle list of its node */
	int node;
	uint32_t requests;              /* served on this connection */
	unsigned gen;                   /* configuration generation it was opened under */
	uint64_t idle_since;
	uint8_t connecting;
	uint8_t busy;                   /* out of the idle list, with a session */
	uint8_t peek;                   /* pooled without proof it was drained: peek
					 * it before it is handed out (upool_get) */
};

/* Per-node pool of idle connections, per worker (no locks). */
struct upool {
	struct upconn *head;            /* most recently used first */
	int nidle;
	int nopen;                      /* idle + in use */
};

/* Why a connection was not given back to its pool (tandem_pool_refused_total). */
enum {
	L7_POOL_CLOSE,                  /* the server said close, or its body ends with the connection */
	L7_POOL_UNFINISHED,             /* the exchange did not end exactly (request body, tunnel) */
	L7_POOL_EXTRA,                  /* bytes past the end of the response */
	L7_POOL_HANGUP,                 /* the server hung up */
	L7_POOL_IDLE,                   /* bytes or a close while idle in the pool */
	L7_POOL_NREASONS
};

enum { L7_CODE_1XX, L7_CODE_2XX, L7_CODE_3XX, L7_CODE_4XX, L7_CODE_5XX, L7_NCODES };

/* One worker's access log lines on their way to the file: a ring with one
 * writer (the worker) and one reader (the writer thread). A line that does
 * not fit is dropped and counted: the worker never waits for the disk. */
struct l7_alog_ring {
	char *buf;
	uint32_t cap;                   /* a power of two */
	uint64_t head;                  /* atomic: bytes ever put (the worker) */
	uint64_t tail;                  /* atomic: bytes ever taken (the writer thread) */
	uint64_t lines, dropped;        /* atomic: read by /metrics */
};

/* The process's access log: one file (or stderr), written by one thread. */
struct l7_alog {
	pthread_mutex_t lock;           /* path and reopen, between the signal and writer threads */
	char path[256];                 /* "" off, "stderr", or a file */
	int fd;                         /* -1: none open */
	int on;                         /* a path is set (the writer's copy: path changes under lock) */
	int reopen;                     /* SIGUSR1 or a reload asked for a new open */
	pthread_t thread;
	int has_thread;
	uint64_t written, errors;       /* bytes written; failed writes (their lines are lost) */
};

/* How lb_pick chose (the access log's route field). */
enum { L7_ROUTE_POLICY, L7_ROUTE_LOCAL, L7_ROUTE_SPILL };

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
	uint64_t pool_refused[L7_POOL_NREASONS];
	uint64_t accept_paused;         /* times the listener was paused for want of fds */
	uint64_t retries;
	uint64_t aborted;               /* exchanges cut short (client or server gone) */
	uint64_t accepted;
	uint64_t rule_hits[CFG_MAX_RULES + 1];  /* the last one: no rule matched */
	uint64_t group_req[CFG_MAX_GROUPS + 1];
	uint64_t group_503[CFG_MAX_GROUPS + 1];
	uint64_t group_local[CFG_MAX_GROUPS + 1];       /* prefer_local: sent to this node's web server */
	uint64_t group_spill[CFG_MAX_GROUPS + 1];       /* ... and past spill, to another node */
	uint64_t tls_full;              /* TLS handshakes done, full */
	uint64_t tls_resumed;           /* ... resumed with a ticket */
	uint64_t tls_fail[8];           /* handshakes failed, by TLS_F_* */
	uint64_t tls_timeout;           /* handshakes cut at handshake_timeout */
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
	struct ev_io tlsn;              /* the HTTPS listener; fd -1: none */
	struct sess *sessions;          /* every open session, for the timeout sweep */
	struct sess *dead_sess;         /* closed during this event batch */
	struct sess *yq;                /* gave up their turn with work left
					 * (sess_yield): run after the batch */
	struct sess *yq_run;            /* the part of yq being run now */
	struct upconn *dead_up;
	struct upool pool[CFG_MAX_NODES];
	struct relay_env rl;            /* the relay engines (relay.h) */
	struct ev_io rlio;              /* a kernel engine's events, when it has them */
	struct ev_io haltio[2];         /* the process's stop_efd and drain_efd (l7_halt) */
	uint64_t rr;                    /* round-robin position */
	uint64_t last_sweep;
	int drained;                    /* listener closed, idle sessions closed */
	uint64_t accept_resume;         /* ms: the listener, paused for want of fds, resumes; 0: not paused */
	uint64_t accept_warned;         /* ms of the last "out of fds" warning */
	struct h1_msg msg;              /* scratch: the head being parsed */
	struct lb_group lb[CFG_MAX_GROUPS + 1]; /* per group; the last may be the implicit "all" */
	int nlb;
	int default_lb;                 /* lb index used when no rule matches */
	struct cfg_group all;           /* the implicit group of every node */
	int inflight[CFG_MAX_NODES];    /* requests this worker has at each node */
	unsigned wt_gen;                /* proc->wt_gen its groups' state was built for */
	struct qos qos;                 /* Web-QoS admission and class queues (qos.h) */
	struct l7_stats st;
	struct l7_alog_ring alog;       /* access log lines for the writer thread */
	int pick_route;                 /* L7_ROUTE_* of the last lb_pick (the access log's "why") */
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
	struct dash *dash;               /* GET / and /cluster.json on the admin address; NULL: none */
	int ctl_fd;                     /* binary-upgrade control socket */
	volatile int handed_over;       /* a new process took our listeners */
	int inherited[256];             /* listeners taken over from the old process */
	int ninherited;
	int inherited_tls[128];         /* ... its TLS listeners, one per plain one */
	int ninherited_tls;
	pthread_t admin_thread, ctl_thread, health_thread;
	int has_admin_thread, has_ctl_thread, has_health_thread;
	struct l7_alog alog;            /* the access log's file and writer thread */
	volatile int alog_stop;         /* the writer thread ends after a last round */
	/* the helper threads' sleep (l7_nap), cut short by l7_wake */
	pthread_mutex_t nap_lock;
	pthread_cond_t nap_cond;        /* CLOCK_MONOTONIC */
	/* eventfds written once when stop (stop_efd) or draining (drain_efd)
	 * is set (l7_halt): the workers' epoll and the admin and control
	 * threads' polls wake on them, so an exit waits for no timeout, and
	 * those threads need none when idle; -1 if none could be made */
	int stop_efd, drain_efd;
	int sm_fallback;                /* relay sockmap/auto asked, the probe failed: splice */
	int pk_fallback;                /* relay packet asked, its programs could not run: splice */
	int ktls;                       /* the kernel has the tls ULP (probed at start) */
	/* by index in cfg.nodes (kept for a node across reloads: cfg_align) */
	int node_down[CFG_MAX_NODES];   /* atomic: marked down by failures */
	int node_fails[CFG_MAX_NODES];  /* atomic: consecutive failures */
	/* tandem ctl's runtime weights (drain, enable, weight N), by index
	 * as above, so by node name: 0 none, else 1 + the weight lb_weight
	 * returns instead of the file's (zeroed memory: no overrides). wt_file is the file's weight it
	 * was set against: a reload that changes the node's weight, or
	 * gives its index to another node, drops the override. */
	int wt_ovr[CFG_MAX_NODES];      /* atomic */
	int wt_file[CFG_MAX_NODES];
	unsigned wt_gen;                /* atomic: bumped at each change; workers rebuild chash tables */
	pthread_mutex_t ctl_lock;       /* reloads (SIGHUP, admin) and override changes */
	const char *file;               /* the cluster file, for the admin reload */
	/* share.c: the other L7 switches' loads for lard, by index as above:
	 * peer_load[switch][node] is a switch's last answer (the share thread
	 * only), peer_sum[node] their sum, which workers read */
	pthread_t share_thread;
	int has_share_thread;
	unsigned share_gen;
	int peer_load[CFG_MAX_NODES][CFG_MAX_NODES];
	long peer_sum[CFG_MAX_NODES];   /* atomic */
	int peer_silent[CFG_MAX_NODES]; /* its last poll got no answer (said once) */
	uint64_t share_ok[CFG_MAX_NODES], share_failed[CFG_MAX_NODES];  /* atomic: polls */
	uint64_t admin_refused;         /* atomic: control verbs refused (403) */
};

#endif
