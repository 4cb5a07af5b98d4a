/* upool: per worker and per node, the keep-alive connections to the nodes'
 * web servers. A connection goes back to its idle list only when the session
 * saw a complete response with clean framing (the caller decides); an idle
 * connection that becomes readable was closed (or spoken to out of turn) by
 * the server and is dropped at once, and none is kept past the pool's idle
 * timeout, which is shorter than the web server's own keep-alive timeout, so
 * a request is never written into a connection the server is closing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l7.h"
#include "log.h"
#include "relay.h"
#include "sock.h"

void sess_upstream_event(struct upconn *u, uint32_t events);

static void upconn_event(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct upconn *u = (struct upconn *)io;

	if (u->dead)
		return;         /* closed earlier in this batch of events */
	if (u->owner) {
		sess_upstream_event(u, events);
		return;
	}
	/* idle: the server closed it, or sent bytes nobody asked for */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		upconn_close(u->w, u);
}

static void upool_unlink(struct upool *p, struct upconn *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else
		p->head = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->next = u->prev = NULL;
	p->nidle--;
}

struct upconn *upool_get(struct l7_worker *w, int node, struct sess *s, int fresh, int *err)
{
	struct upool *p = &w->pool[node];
	struct cfg *c = w->cfg;
	struct upconn *u;
	int fd, r;

	while (!fresh && p->head) {
		u = p->head;
		if (w->loop.now_ms - u->idle_since >= (uint64_t)c->l7.pool_idle_timeout ||
		    u->gen != w->gen) {
			/* still linked and ownerless: upconn_close unlinks it
			 * (unlinked here first, the second unlink would set
			 * head to NULL and lose the rest of the idle list) */
			upconn_close(w, u);
			continue;
		}
		upool_unlink(p, u);
		u->owner = s;
		w->st.pool_reused[node]++;
		return u;
	}
	if (c->l7.pool_max_per_node && p->nopen >= c->l7.pool_max_per_node) {
		*err = -EBUSY;
		return NULL;
	}
	/* the node's own web server: over loopback when the file says how
	 * (node key "local"), no trip through the network */
	fd = sock_connect(node == w->proc->self_idx && c->nodes[node].local.len
			  ? &c->nodes[node].local : &c->nodes[node].web);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	u->io.fd = fd;
	u->io.cb = upconn_event;
	u->w = w;
	u->gen = w->gen;
	u->node = node;
	u->owner = s;
	u->connecting = 1;
	u->sm_idx = -1;
	r = ev_add(&w->loop, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	if (r) {
		close(fd);
		free(u);
		*err = r;
		return NULL;
	}
	p->nopen++;
	w->st.upstreams++;
	w->st.pool_opened[node]++;
	return u;
}

void upool_put(struct l7_worker *w, struct upconn *u)
{
	struct upool *p = &w->pool[u->node];

	if (u->gen != w->gen) {
		/* opened under an older configuration: its node index may
		 * name another node now */
		upconn_close(w, u);
		return;
	}

	u->owner = NULL;
	u->idle_since = w->loop.now_ms;
	u->prev = NULL;
	u->next = p->head;
	if (p->head)
		p->head->prev = u;
	p->head = u;
	p->nidle++;
	/* readiness seen while busy says nothing about the next request */
	u->rd = 0;
}

void upconn_close(struct l7_worker *w, struct upconn *u)
{
	struct upool *p = &w->pool[u->node];

	if (!u->owner)
		upool_unlink(p, u);
	if (u->sm_idx >= 0)
		relay_sm_del(w->sm, u->sm_idx);
	ev_del(&w->loop, &u->io);
	close(u->io.fd);
	p->nopen--;
	w->st.upstreams--;
	/* an event for it may still wait in this batch: free it after */
	u->dead = 1;
	u->owner = NULL;
	u->next = w->dead_up;
	w->dead_up = u;
}

void upool_sweep(struct l7_worker *w)
{
	uint64_t limit = w->cfg->l7.pool_idle_timeout;

	for (int n = 0; n < CFG_MAX_NODES; n++) {
		struct upconn *u = w->pool[n].head, *next;

		for (; u; u = next) {
			next = u->next;
			if (w->loop.now_ms - u->idle_since >= limit || u->gen != w->gen)
				upconn_close(w, u);
		}
	}
}
