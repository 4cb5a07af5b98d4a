/* upool: per worker and per node, the keep-alive connections to the nodes'
 * web servers, owned through the connection layer: an idle connection's
 * callback is the pool's, a busy one's its session's, and the pool never
 * calls a session. A connection goes back to its idle list only when the
 * session saw a complete response with exact framing (the session's part of
 * the check) and nothing is pending on the socket (this file's part: no
 * hang-up seen, the relay engine's own count of what it passed on, and a
 * peek before the connection is handed out again), so bytes a server sent
 * past the end of a response are never read as the answer to another
 * client's request. An idle connection that becomes readable was closed
 * (or spoken to out of turn) by the server and is dropped at once; the
 * peek makes that certain even when its event is still unread in this
 * batch of events; none is kept past the pool's idle timeout,
 * which is shorter than the web server's own keep-alive timeout, so a
 * request is never written into a connection the server is closing. Bytes
 * that arrive only after the next request went out cannot be told from its
 * response: no proxy can, and HTTP/1.1 servers do not send them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "l7.h"
#include "log.h"
#include "relay.h"
#include "sock.h"
#include "upool.h"

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

/* An idle connection's events: the server closed it, or sent bytes nobody
 * asked for. No events: the relay engine's news, nothing for an idle one. */
static void upool_idle_event(struct conn *c, uint32_t events)
{
	struct upconn *u = c->owner;

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		upool_refuse(u->w, u, L7_POOL_IDLE);
}

static struct upconn *upool_open(struct l7_worker *w, int node, int *err)
{
	struct cfg *c = w->cfg;
	/* the node's own web server: over loopback or a unix socket when the
	 * file says how (node key "local"), no trip through the network */
	const struct cfg_addr *a = l7_web_addr(c, w->proc->self_idx, node);
	struct upconn *u;
	int fd;

	fd = sock_connect(a, c->relay == CFG_RELAY_PACKET ? relay_packet_mss() : 0);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		*err = -ENOMEM;
		goto fail;
	}
	conn_init(&u->c, fd, &conn_tcp);
	u->c.unix_sk = a->ss.ss_family == AF_UNIX;
	u->c.rd = u->c.wr = 0;  /* connecting: ready once connected (or refused) */
	u->re.idx = -1;
	u->w = w;
	u->gen = w->gen;
	u->node = node;
	u->connecting = 1;
	u->busy = 1;
	*err = conn_add(&w->loop, &u->c);
	if (*err)
		goto fail;
	return u;
fail:
	free(u);
	close(fd);
	return NULL;
}

/* Too old to hand out: past the pool's idle timeout (the server's own is
 * longer), or opened under an older configuration. */
static int upool_stale(const struct l7_worker *w, const struct upconn *u)
{
	return w->loop.now_ms - u->idle_since >= (uint64_t)w->cfg->l7.pool_idle_timeout ||
	       u->gen != w->gen;
}

struct upconn *upool_get(struct l7_worker *w, int node, int fresh, int *err)
{
	struct upool *p = &w->pool[node];
	struct cfg *c = w->cfg;
	struct upconn *u;

	while (!fresh && p->head) {
		u = p->head;
		if (upool_stale(w, u)) {
			/* still linked and idle: upconn_close unlinks it */
			upconn_close(w, u);
			continue;
		}
		/* a byte or a close that came while it was idle has run
		 * upool_idle_event already, unless its edge is still to come
		 * in this batch of events: only then, or when nothing proved
		 * it drained when it was pooled, is the socket looked at */
		if ((u->peek || ev_pending(&w->loop, &u->c.io)) && conn_pending(&u->c)) {
			upool_refuse(w, u, L7_POOL_IDLE);
			continue;
		}
		upool_unlink(p, u);
		u->busy = 1;
		conn_own(&u->c, NULL, NULL);
		w->st.pool_reused[node]++;
		return u;
	}
	if (c->l7.pool_max_per_node && p->nopen >= c->l7.pool_max_per_node) {
		*err = -EBUSY;
		return NULL;
	}
	u = upool_open(w, node, err);
	if (!u)
		return NULL;
	p->nopen++;
	w->st.upstreams++;
	w->st.pool_opened[node]++;
	return u;
}

int upool_put(struct l7_worker *w, struct upconn *u)
{
	struct upool *p = &w->pool[u->node];

	if (u->gen != w->gen) {
		/* opened under an older configuration: its node index may
		 * name another node now */
		upconn_close(w, u);
		return 0;
	}
	if (u->c.eof || u->c.rd == 2) {
		upool_refuse(w, u, L7_POOL_HANGUP);
		return 0;
	}
	/* rd 0: a read found the socket empty (EAGAIN, or a plain read
	 * shorter than asked for), so a byte after it makes an edge that
	 * upool_idle_event gets. Otherwise (a read of exactly what was left,
	 * a socket a kernel engine holds) the socket is peeked when the
	 * connection is handed out again: one look for bytes from before
	 * this put and after it. */
	u->peek = u->c.rd != 0 || u->re.idx >= 0 || !u->c.xp->plain;
	if (!relay_sock_clean(&w->rl, &u->re, &u->c)) {
		upool_refuse(w, u, L7_POOL_EXTRA);
		return 0;
	}
	u->requests++;
	u->busy = 0;
	conn_own(&u->c, upool_idle_event, u);
	u->idle_since = w->loop.now_ms;
	u->prev = NULL;
	u->next = p->head;
	if (p->head)
		p->head->prev = u;
	p->head = u;
	p->nidle++;
	/* readiness seen while busy says nothing about the next request */
	u->c.rd = 0;
	return 1;
}

void upool_refuse(struct l7_worker *w, struct upconn *u, int reason)
{
	w->st.pool_refused[reason]++;
	upconn_close(w, u);
}

void upconn_close(struct l7_worker *w, struct upconn *u)
{
	struct upool *p = &w->pool[u->node];

	if (u->c.dead)
		return;
	if (!u->busy)
		upool_unlink(p, u);
	relay_sock_del(&w->rl, &u->re);
	conn_close(&w->loop, &u->c);
	p->nopen--;
	w->st.upstreams--;
	/* an event for it may still wait in this batch: free it after */
	u->busy = 1;
	u->next = w->dead_up;
	w->dead_up = u;
}

void upool_sweep(struct l7_worker *w)
{
	for (int n = 0; n < CFG_MAX_NODES; n++) {
		struct upconn *u = w->pool[n].head, *next;

		for (; u; u = next) {
			next = u->next;
			if (upool_stale(w, u))
				upconn_close(w, u);
		}
	}
}

void upool_reap(struct l7_worker *w)
{
	while (w->dead_up) {
		struct upconn *u = w->dead_up;

		w->dead_up = u->next;
		free(u);
	}
}

void upool_close_all(struct l7_worker *w)
{
	for (int n = 0; n < CFG_MAX_NODES; n++)
		while (w->pool[n].head)
			upconn_close(w, w->pool[n].head);
}
