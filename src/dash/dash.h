/* dash: the live dashboard that every admin address serves (GET /, its
 * script, Debian's Chart.js, and GET /cluster.json: the whole cluster as
 * this daemon's gatherer thread last saw it, with the last minutes of
 * history). The admin servers hand it their dashboard requests and never
 * wait on it: the gathering and the replies run on threads of its own. */
#ifndef TANDEM_DASH_H
#define TANDEM_DASH_H

#include "adm.h"
#include "cfg.h"

/* Where Debian's libjs-chart.js puts the UMD build that GET /chart.js serves. */
#define DASH_CHART_JS "/usr/share/javascript/chart.js/chart.min.js"

struct dash;

/* dash_new: a dashboard for the daemon named SELF ("l4", "l7 be1"), its
 * gatherer thread started and idle until the first GET /cluster.json.
 * NULL when out of memory or threads. */
struct dash *dash_new(const char *self);

/* dash_config: the daemons to gather from, those C names (a copy is
 * taken; call again after every reload that was taken). */
void dash_config(struct dash *d, const struct cfg *c);

/* dash_serve: answers R on FD when it asks for a dashboard path (GET /,
 * /index.html, /dash.js, /chart.js, /cluster.json): returns 1 and owns FD
 * from then on (a thread of its own writes the reply and closes it).
 * Returns 0, FD untouched, for any other request. D NULL: always 0. */
int dash_serve(struct dash *d, int fd, const struct adm_req *r);

/* dash_free: stops the gatherer and frees D once no reply is being
 * written (after 3 s, D is left allocated rather than freed under one). */
void dash_free(struct dash *d);

#endif
