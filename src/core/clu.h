/* clu: the cluster as its daemons' admin addresses show it, for tandem ctl
 * and the dashboard: the daemons a cluster file names, one HTTP request to
 * an admin address with bounded waits, the Prometheus text the daemons
 * answer read back, and per node what the daemons that answered say about
 * it (state, weight, rates between two scrapes), as a table row or JSON. */
#ifndef TANDEM_CLU_H
#define TANDEM_CLU_H

#include <stdint.h>
#include <stdio.h>

#include "cfg.h"

#define CLU_MAX_DAEMONS (CFG_MAX_NODES + 1)

struct clu_daemon {
	char name[48];                  /* "l4", "l7 NAME" */
	int node;                       /* its node's index in clu.nodes; -1: the front end */
	struct cfg_addr admin;
	char *m[2];                     /* the previous and the last scrape; NULL: no answer */
	char err[160];                  /* why not, from the last request */
};

/* The daemons and nodes of one cluster file, copied out of its struct
 * cfg so that the copy outlives a reload. */
struct clu {
	char file[256];
	int nnodes;
	char nodes[CFG_MAX_NODES][CFG_NAME_MAX];        /* the file's nodes, in order */
	int nd;
	struct clu_daemon d[CLU_MAX_DAEMONS];           /* the front end first, if any */
};

/* What one node looks like from the daemons that answered. */
struct clu_row {
	char state[32];                 /* "up", "down", "drain", or several: "up,drain" (switches disagree) */
	char weight[32];
	double clients, rate, inflight, idle, open;
	double requests;                /* forwarded to it, summed over the switches that answered */
	int has_clients, nsw;           /* nsw: switches that answered about it */
	int l4, l4_up, l4_weight, l4_slots;     /* l4: the front end answered about it */
};

uint64_t clu_now_ms(void);

/* clu_init: U from C: its used nodes, and a daemon for [l4] admin and for
 * each node's admin address. No scrape yet (every m[] NULL). */
void clu_init(struct clu *u, const struct cfg *c);

/* clu_clear: frees every scrape of U (m[] back to NULL). */
void clu_clear(struct clu *u);

/* clu_http: one request to A, the whole reply read, waiting at most
 * CONNECT_MS for the connection and REPLY_MS for the reply. Returns the
 * HTTP status, with the body in *body (malloc'd, NUL-terminated), or -1
 * with the reason in ERR. TOKEN: sent as a bearer token, NULL none. */
int clu_http(const struct cfg_addr *a, const char *method, const char *path, const char *token,
	     int connect_ms, int reply_ms, char **body, char *err, size_t errlen);

/* clu_scrape: GET /metrics of every daemon of U into m[1], the one before
 * moving to m[0] (SKIP_GONE: a daemon without m[0] is not asked again).
 * Returns the daemons that answered. At most nd * (CONNECT_MS + REPLY_MS). */
int clu_scrape(struct clu *u, int connect_ms, int reply_ms, int skip_gone);

/* clu_metric: the sum of the samples of metric NAME in TEXT (Prometheus
 * text format) with LABEL (e.g. node="be1") among their labels (NULL:
 * any). Returns the count of samples (0: absent), the sum in *v. */
int clu_metric(const char *text, const char *name, const char *label, double *v);

/* clu_node_metric: clu_metric with the label node="NODE" (NODE NULL: any). */
int clu_node_metric(const char *text, const char *name, const char *node, double *v);

/* clu_row: node N of U as the daemons' last scrapes say, rates over DT
 * seconds between the two scrapes. */
void clu_row(const struct clu *u, int n, double dt, struct clu_row *r);

/* clu_switch_of: "ok", "not answering" or "none": node N's own switch. */
const char *clu_switch_of(const struct clu *u, int n);

/* clu_add_word: W appended to the comma-separated LIST (CAP bytes) unless
 * it is there already. */
void clu_add_word(char *list, size_t cap, const char *w);

/* clu_json_str: S as a JSON string into F. */
void clu_json_str(FILE *f, const char *s);

/* clu_json: the status of U (daemons, nodes, what each switch routed
 * where) as one JSON object into F, the rates over DT seconds; the format
 * of `tandem ctl --json status` (doc/man/tandem.8.scd). */
void clu_json(const struct clu *u, double dt, FILE *f);

#endif
