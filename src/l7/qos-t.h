/* qos-t.h: Web-QoS state of one L7 worker, types only, so a session can
 * embed its waiter and a worker its struct qos. */
#ifndef TANDEM_QOS_T_H
#define TANDEM_QOS_T_H

#include <stdint.h>
#include "cfg-t.h"

/* Intrusive: the session embeds one and gets back to itself with
 * container_of. Owned by struct qos while queued (cls >= 0). */
struct qos_waiter {
	struct qos_waiter *next, *prev;
	uint64_t queued_at;             /* ms */
	uint64_t deadline;              /* ms: refused with 503 from then on */
	uint64_t seq;                   /* arrival order, across classes */
	int cls;                        /* class it waits in; -1: not queued */
};

/* One class in one worker. Counters are monotonic except the gauges. */
struct qos_class {
	int priority;                   /* lower is served first */
	int max_inflight;               /* 0: no limit of its own */
	int queue_timeout;              /* ms */
	int inflight;                   /* gauge: admitted, not yet released */
	int qlen;                       /* gauge: waiting */
	struct qos_waiter *head, *tail;
	uint64_t requests;              /* qos_admit calls */
	uint64_t queued;                /* of which had to wait */
	uint64_t refused;               /* waited past queue_timeout: 503 */
	uint64_t cancelled;             /* client went away while waiting */
	uint64_t wait_ms;               /* total wait of those admitted after waiting */
};

struct qos {
	int nclasses;
	int max_inflight;               /* all classes together; 0: no limit */
	int inflight;                   /* gauge: admitted requests, class-less included */
	int wake;                       /* a slot was freed since the last qos_next() == NULL */
	uint64_t seq;
	struct qos_class cls[CFG_MAX_CLASSES];
};

#endif
