/* sess-t.h: the types of one client session of the level-2 switch: its
 * state, the two directions of an exchange (pumps) and the session itself.
 * Types only, so the session's files can share them. */
#ifndef TANDEM_SESS_T_H
#define TANDEM_SESS_T_H

#include <stdint.h>

#include "buf.h"
#include "conn-t.h"
#include "h1-t.h"
#include "qos-t.h"
#include "relay-t.h"

struct l7_worker;
struct upconn;

/* What the access log says of the current request (sess_log.c): kept only
 * while [l7] access_log is on. Times are CLOCK_MONOTONIC microseconds. */
struct sess_log {
	uint64_t t0;                    /* the head's first byte read */
	uint64_t t_head;                /* the head parsed */
	uint64_t t_conn;                /* the upstream connected or taken from the pool */
	uint64_t t_first;               /* the response head (its first byte to the client) */
	uint64_t t_queued;              /* entered its class queue; 0: not queued */
	uint64_t queue_us;
	int64_t wall;                   /* CLOCK_REALTIME seconds at the head */
	int rule;                       /* cfg.rules index, -1: none */
	int node;                       /* the node picked, -1: none */
	int status;
	int64_t bytes;                  /* a response of the switch's own: its body; -1: the pump's count */
	uint8_t active;                 /* a request is under way: exactly one line will say how it ended */
	uint8_t route;                  /* L7_ROUTE_* */
	uint8_t minor;
	char method[16];
	char target[256];
	char referer[128];
	char agent[128];
	char rule_name[32], group_name[32], class_name[32];    /* copied: a reload may free the file */
	const char *policy;             /* the policy's static name */
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
	SS_HANDSHAKE,                   /* a TLS client's handshake, before its first request */
	SS_QUEUED,                      /* request parsed, waiting in its Web-QoS class queue */
	SS_CONNECT,                     /* request parsed, upstream connecting */
	SS_EXCHANGE,                    /* request going up, response coming down */
	SS_CLOSING,                     /* flushing a last response, then close */
	SS_DEAD,                        /* closed; memory freed after the event batch */
};

struct sess {
	struct conn c;                  /* the client socket */
	struct relay_end ce;            /* its engine state */
	struct relay_watch watch;       /* polled by the engine while a body runs in the kernel */
	struct l7_worker *w;
	struct sess *next, *prev;       /* the worker's list, for timeouts */
	struct sess *yq_next, **yq_pprev; /* on w->yq (yielded, runs again after
					 * the batch): NULL pprev when not */
	enum sess_state st;
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
	uint8_t offered;                /* the current upstream's response was offered to the kernel */
	int group;                      /* w->lb index of the current request */
	int cls;                        /* Web-QoS class, -1: none */
	int inflight_node;              /* node whose in-flight count holds this request, -1 */
	uint64_t key;                   /* hash of the target (chash, lard) */
	struct qos_waiter qw;           /* its place in a Web-QoS class queue (SS_QUEUED) */
	unsigned qgen;                  /* generation of the struct qos that admitted it */
	int node;                       /* chosen node of the current request */
	uint64_t deadline;              /* ms; 0: none */
	uint64_t linger_end;            /* ms; SS_CLOSING: the drain ends by then */
	uint32_t nreq;                  /* requests on this connection */
	struct buf cin;                 /* bytes from the client */
	struct buf uin;                 /* bytes from the upstream */
	struct upconn *up;
	struct pump req;                /* client -> upstream */
	struct pump resp;               /* upstream -> client */
	uint32_t replay_len;            /* head bytes at the start of req.out to replay; 0: none */
	char peer[64];                  /* client IP text, for X-Forwarded-For */
	struct sess_log *log;           /* the access log's view of the request; NULL: off */
};

#endif
