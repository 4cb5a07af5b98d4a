/* l4-t.h: the front end's state, as types only. One struct l4 per process;
 * back ends live in fixed slots (the index the XDP program and the flow table
 * use), matched by node name across reloads so a SIGHUP never renumbers a
 * node that established flows point at. */
#ifndef TANDEM_L4_T_H
#define TANDEM_L4_T_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg-t.h"
#include "l4_abi.h"

struct l4_fwd_bpf;

/* Health check of one node: a TCP connect and an HTTP GET, non-blocking. */
enum l4_check_state { L4_CHK_IDLE, L4_CHK_CONNECTING, L4_CHK_SENT };

/* How a check ended: the result label of tandem_l4_check_total. */
#define L4_CHECK_RESULTS(X)                                               \
	X(PASS,    "pass")      /* the expected status */                 \
	X(CONNECT, "connect")   /* refused, unreachable, reset */          \
	X(TIMEOUT, "timeout")   /* no status line within check_timeout */  \
	X(STATUS,  "status")    /* an answer, not an expected status */    \
	X(ERROR,   "error")     /* socket, route, send, closed early */

#define L4_CHK_R_ENUM(id, name) L4_CHK_R_##id,
enum l4_check_result { L4_CHECK_RESULTS(L4_CHK_R_ENUM) L4_CHK_R_MAX };
#undef L4_CHK_R_ENUM

struct l4_check {
	enum l4_check_state state;
	int fd;
	uint64_t deadline_ms;
	uint64_t next_ms;               /* when the next check starts */
	char buf[128];
	size_t len;
	char last_error[96];            /* why the last check failed */
	enum l4_check_result result;    /* of the last check */
	int last_status;                /* HTTP status of the last answer; 0: none */
	uint64_t results[L4_CHK_R_MAX]; /* checks so far, per result */
	char route_gw[64];              /* DR: the node address its route names; "": none */
};

/* DR checks through the VIP (l4_route.c): rtnetlink and what was changed. */
struct l4_route {
	int fd;                         /* rtnetlink; -1: not in use (NAT, user mode) */
	uint32_t seq;
	int vip_local;                  /* the VIP is an address of this host */
	int local_moved;                /* the "lookup local" rule was moved behind ours */
	uint32_t local_pref;            /* ... from this preference, where it goes back */
	int nacc;
	struct { char dev[16]; int old; } acc[4];       /* accept_local turned on */
};

/* The VIP's announcement over BGP by a BIRD that tandem l4 configures and
 * runs (l4_bgp.c). Paths are under [l4] bgp_dir. */
struct l4_bgp {
	int on;                         /* [l4] bgp_peer is set */
	char dir[96], conf[128], sock[108], pidfile[128];
	char router_id[16];
	pid_t pid;                      /* BIRD, our child; 0: not running */
	uint64_t started_ms;            /* when it last started */
	uint64_t restart_ms;            /* when to start it again; 0: not due */
	int backoff_ms;                 /* before the next restart */
	int settled;                    /* every node had its first verdict */
	uint64_t settle_by_ms;          /* ... or this much time passed */
	int stopping;                   /* SIGTERM: never announce again */
	int announced;                  /* BIRD said tandem_vip is enabled */
	uint64_t retry_ms;              /* next try of a failed command */
	int failing;                    /* commands fail: said once */
	uint64_t announces, withdrawals, bird_starts;
};

struct l4_slot {
	int used;                       /* a node of the current cluster file */
	struct cfg_node node;           /* as configured */
	int up;                         /* health: after rise/fall */
	int ok_streak, fail_streak;
	uint8_t mac[6];
	int has_mac;                    /* from the file or the neighbour table */
	int in_table;                   /* weight it has in the Maglev table now */
	uint32_t slots;                 /* Maglev slots it owns now */
	uint64_t changed_ms;            /* when up last changed */
	struct l4_check chk;
	/* user-space fallback statistics */
	uint64_t user_conns, user_bytes;
};

struct l4 {
	struct cfg cfg;
	struct dash *dash;              /* GET / and /cluster.json on [l4] admin; NULL: none */
	const char *file;
	int ifindex;
	uint32_t ring_size;
	uint32_t *table;                /* what the data path has now */
	struct l4_slot slots[L4_BACKENDS_MAX];
	pthread_rwlock_t lock;          /* table and slots, for l4_user threads */

	/* the data path: one object, its XDP or its tc program attached */
	struct l4_fwd_bpf *skel;
	enum cfg_l4_hook hook;          /* CFG_L4_HOOK_XDP or _TC once attached */
	char hook_why[256];             /* why this hook (auto), for the log */
	int link_fd;                    /* XDP bpf_link; -1 when attached by netlink */
	uint32_t xdp_flags;             /* XDP_FLAGS_DRV_MODE or _SKB_MODE */
	int tc_attached;                /* our cls_bpf filter is on clsact ingress */
	int tc_own_qdisc;               /* tandem created that clsact qdisc */
	char pin_dir[128];              /* "" when maps are not pinned */

	/* statistics of the control plane */
	uint64_t table_builds, slots_written;

	/* DR health checks through the VIP */
	struct l4_route route;

	/* the VIP's BGP announcement */
	struct l4_bgp bgp;

	/* user-space fallback */
	int user_fd;
	pthread_t user_thread;
	volatile int user_stop;
	int user_active;                /* connections now */
	uint64_t user_refused;
};

#endif
