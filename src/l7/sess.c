/* sess: one client connection of the level-2 switch, from accept to close.
 * Every request of a persistent connection is parsed and routed on its own:
 * the head is re-serialised (never the client's raw bytes, sess_msg.c) onto
 * a pooled connection to the chosen node's web server (sess_up.c), the
 * request body and then the response are moved by their framing through
 * the relay engine (sess_pump.c), and the next request of the connection
 * starts only once this response is complete, so pipelined requests are
 * answered in order. A client sees a complete response of its own, or a
 * closed connection: nothing that broke mid-way is passed off as whole.
 *
 * Every socket is a struct conn (edge-triggered: its readiness flags
 * remember an edge until a syscall says EAGAIN); this file owns the
 * client's, the pool lends the upstream's. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "h1.h"
#include "l7.h"
#include "lb.h"
#include "log.h"
#include "qos.h"
#include "relay.h"
#include "sess.h"
#include "sock.h"
#include "tls.h"
#include "upool.h"

#define SWEEP_MS 100
#define ACCEPT_PAUSE_MS 100
#define LINGER_IDLE_MS 2000             /* a closing client silent this long is closed */
#define LINGER_MAX_MS 30000             /* ... and one still sending, after this long */

/* ---- local responses -------------------------------------------------- */

/* The switch answers by itself (bad request, no node, timeout) and closes
 * the connection after the answer: whatever the client sent after this
 * request can no longer be framed reliably. BODY is one line, its newline
 * added (sess_local: the status text). */
static void sess_local_body(struct sess *s, int code, const char *extra, const char *body)
{
	struct l7_worker *w = s->w;
	const char *text = sess_status_text(code);
	char head[512];
	int n;

	if (s->resp_started || l7_buf_get(w, &s->resp.out)) {
		/* part of a response already went out: closing is the only
		 * honest way left to end it */
		w->st.aborted++;
		sess_close(s);
		return;
	}
	if (s->up) {
		upconn_close(w, s->up);
		s->up = NULL;
	}
	if (s->st == SS_QUEUED)
		qos_cancel(&w->qos, &s->qw);
	sess_unflight(s);
	relay_release(&s->resp.rl);
	relay_release(&s->req.rl);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nServer: tandem\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n",
		     code, text, strlen(body) + 1, extra ? extra : "", body);
	sess_log_local(s, code, strlen(body) + 1);
	s->resp.out.pos = s->resp.out.len = 0;
	buf_put(&s->resp.out, head, n);
	if (code < 600)
		w->st.local[code]++;
	s->resp_started = 1;
	s->keepalive = 0;
	s->lingering = 0;
	s->st = SS_CLOSING;
	s->deadline = w->loop.now_ms + 5000;
}

void sess_local(struct sess *s, int code, const char *extra)
{
	sess_local_body(s, code, extra, sess_status_text(code));
}

void sess_abort(struct sess *s, const char *why)
{
	log_debug("exchange aborted: %s", why);
	s->w->st.aborted++;
	sess_close(s);
}

/* ---- a request begins --------------------------------------------------- */

/* Checks the chunk framing of the body bytes that came with the head, so
 * that a request whose framing is already visibly broken is refused before
 * anything is sent upstream. Returns 0, or -1 with the reason in *err. */
static int sess_chunks_ok(const char *p, size_t n, enum h1_err *err)
{
	struct h1_chunk c;

	h1_chunk_init(&c);
	while (n && !h1_chunk_done(&c)) {
		ssize_t r;

		if (c.state == H1_CH_DATA) {
			uint64_t k = c.remaining < n ? c.remaining : n;
			h1_chunk_data(&c, k);
			p += k;
			n -= k;
			continue;
		}
		r = h1_chunk_parse(&c, p, n);
		if (r < 0) {
			*err = c.err;
			return -1;
		}
		p += r;
		n -= r;
	}
	return 0;
}

void sess_requeue(struct sess *s)
{
	struct l7_worker *w = s->w;

	/* after a reload: class indexes of the old file mean nothing now,
	 * so the request goes on without a class */
	s->qw.cls = -1;
	s->cls = -1;
	if (s->group >= w->nlb)
		s->group = w->default_lb;
	qos_admit(&w->qos, -1, NULL, w->loop.now_ms);
	s->admitted = 1;
	s->qgen = w->gen;
	sess_log_queued(s, 0);
	sess_dispatch(s);
	sess_run(s);
}

void sess_qos_dispatch(struct l7_worker *w)
{
	struct qos_waiter *qw;

	/* qos_next counts the request in flight before it is resumed */
	while ((qw = qos_next(&w->qos, w->loop.now_ms))) {
		struct sess *s = sess_of_waiter(qw);

		s->admitted = 1;
		s->qgen = w->gen;
		sess_log_queued(s, 0);
		sess_dispatch(s);
		sess_run(s);
	}
}

/* qos_expire's callback: a request waited past its class's queue_timeout */
static void sess_refuse(struct qos_waiter *qw, void *arg)
{
	struct sess *s = sess_of_waiter(qw);
	char extra[64];

	(void)arg;
	sess_log_queued(s, 0);
	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", qos_retry_after(&s->w->qos, s->cls));
	sess_local(s, 503, extra);
	sess_run(s);
}

/* What the request head M says of the exchange: versions, keep-alive,
 * tunnels, whether it may be replayed. */
static void sess_note_request(struct sess *s, const struct h1_msg *m)
{
	s->client_minor = m->minor;
	s->head_req = !!(m->flags & H1_F_HEAD);
	if (m->minor == 0)
		s->keepalive = !!(m->flags & H1_F_CONN_KEEPALIVE) && !(m->flags & H1_F_CONN_CLOSE);
	else
		s->keepalive = !(m->flags & H1_F_CONN_CLOSE);
	if (s->w->proc->draining)
		s->keepalive = 0;
	s->connect_req = !!(m->flags & H1_F_CONNECT);
	s->upgrade = (m->flags & H1_F_UPGRADE) && (m->flags & H1_F_CONN_UPGRADE) && m->minor == 1;
	s->retry_ok = h1_method_idempotent(m->method) && m->body == H1_BODY_NONE && !s->upgrade &&
		      !(m->flags & H1_F_CONNECT);
	s->retried = 0;
	s->resp_started = 0;
	s->resp_head_done = 0;
	s->up_close = 0;
}

/* The head M (HLEN bytes of cin) parsed: checks its body, writes the
 * upstream head, routes it and starts the exchange (or queues it). */
static void sess_begin(struct sess *s, struct h1_msg *m, int hlen)
{
	struct l7_worker *w = s->w;
	struct cfg *c = w->cfg;
	int rule;

	sess_log_head(s, m);
	sess_note_request(s, m);
	if (c->l7.client_max_body && m->body == H1_BODY_LENGTH &&
	    m->content_length > (uint64_t)c->l7.client_max_body) {
		sess_local(s, 413, NULL);
		return;
	}
	if (m->body == H1_BODY_CHUNKED) {
		enum h1_err e;

		if (sess_chunks_ok(s->cin.data + s->cin.pos + hlen, buf_avail(&s->cin) - hlen, &e)) {
			w->st.parse_err[e]++;
			sess_local(s, 400, NULL);
			return;
		}
	}
	if (l7_buf_get(w, &s->req.out) || l7_buf_get(w, &s->resp.out) || l7_buf_get(w, &s->uin)) {
		sess_local(s, 503, NULL);
		return;
	}
	sess_pump_reset(&s->req);
	sess_pump_reset(&s->resp);
	s->req.out.pos = s->req.out.len = 0;
	if (sess_write_request(s, m, &s->req.out)) {
		sess_local(s, 431, NULL);
		return;
	}
	/* a request without a body is all in req.out, and nothing else is
	 * ever written there: sent bytes stay in place for a replay */
	s->replay_len = s->retry_ok ? s->req.out.len : 0;
	/* CONNECT and upgrades: the bytes after the head belong to the tunnel
	 * once the server agrees; until then nothing more is forwarded */
	sess_pump_frame(&s->req, (m->flags & H1_F_CONNECT) ? H1_BODY_NONE : m->body, m->content_length);
	s->req.limit = c->l7.client_max_body;
	s->cin.pos += hlen;
	if (s->cin.pos == s->cin.len)
		s->cin.pos = s->cin.len = 0;
	rule = lb_route(w, m, &s->group, &s->cls);
	w->st.rule_hits[rule < 0 ? CFG_MAX_RULES : rule]++;
	w->st.group_req[s->group]++;
	sess_log_route(s, rule);
	s->key = lb_key_msg(m);
	s->qgen = w->gen;
	if (qos_admit(&w->qos, s->cls, &s->qw, w->loop.now_ms)) {
		/* over a limit: wait in the class queue; qos_expire answers
		 * 503 at its deadline, the sweep leaves it alone */
		s->st = SS_QUEUED;
		s->deadline = 0;
		sess_log_queued(s, 1);
		return;
	}
	s->admitted = 1;
	sess_dispatch(s);
}

/* ---- bodies in the kernel ---------------------------------------------- */

void sess_track(struct sess *s)
{
	int live = s->st != SS_DEAD;
	int tick = live && (relay_polled(&s->resp.rl) || relay_sock_waits(&s->ce));

	relay_watch_set(&s->w->rl, &s->watch, tick || (live && relay_owned(&s->resp.rl)), tick);
}

/* The engine polls S: a body in the kernel whose progress nothing announces. */
static void sess_watch_wake(struct relay_watch *wt)
{
	sess_run((struct sess *)((char *)wt - offsetof(struct sess, watch)));
}

void sess_yield(struct sess *s)
{
	struct l7_worker *w = s->w;

	if (s->yq_pprev)
		return;
	s->yq_next = w->yq;
	if (w->yq)
		w->yq->yq_pprev = &s->yq_next;
	w->yq = s;
	s->yq_pprev = &w->yq;
}

/* off whichever list holds it (w->yq or w->yq_run) */
static void sess_unyield(struct sess *s)
{
	if (!s->yq_pprev)
		return;
	*s->yq_pprev = s->yq_next;
	if (s->yq_next)
		s->yq_next->yq_pprev = s->yq_pprev;
	s->yq_pprev = NULL;
	s->yq_next = NULL;
}

void sess_run_yielded(struct l7_worker *w)
{
	struct sess *s;

	/* those that yield again go on w->yq: their next turn comes after
	 * the next batch of events, not in this loop */
	w->yq_run = w->yq;
	if (w->yq_run)
		w->yq_run->yq_pprev = &w->yq_run;
	w->yq = NULL;
	while ((s = w->yq_run))
		sess_run(s);    /* unlinks it first */
}

/* ---- the client side ---------------------------------------------------- */

/* Closes the session's sockets and gives back what it holds. Its memory is
 * freed after the current batch of events (sess_reap), which may still hold
 * an event for it. */
void sess_close(struct sess *s)
{
	struct l7_worker *w = s->w;

	if (s->st == SS_DEAD)
		return;
	if (s->st == SS_QUEUED)
		qos_cancel(&w->qos, &s->qw);
	sess_unyield(s);
	sess_log_end(s, 1);     /* a request under way is cut short */
	sess_log_free(s);
	sess_unflight(s);
	if (s->up) {
		upconn_close(w, s->up);
		s->up = NULL;
	}
	relay_release(&s->req.rl);
	relay_release(&s->resp.rl);
	relay_sock_del(&w->rl, &s->ce);
	s->st = SS_DEAD;
	sess_track(s);
	l7_buf_put(w, &s->cin);
	l7_buf_put(w, &s->uin);
	l7_buf_put(w, &s->req.out);
	l7_buf_put(w, &s->resp.out);
	conn_close(&w->loop, &s->c);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->st.clients--;
	__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
	s->next = w->dead_sess;
	w->dead_sess = s;
}

void sess_reap(struct l7_worker *w)
{
	while (w->dead_sess) {
		struct sess *s = w->dead_sess;
		w->dead_sess = s->next;
		free(s);
	}
}

/* The parser's verdict on cin: 1 a head was parsed and started, 0 more
 * bytes are needed, -1 the session was answered. */
static int sess_parse_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct cfg *c = w->cfg;
	struct h1_msg *m = &w->msg;
	int r;

	m->max_hdrs = c->l7.max_headers < H1_MAX_HDRS ? c->l7.max_headers : H1_MAX_HDRS;
	r = h1_parse_request(m, s->cin.data + s->cin.pos, buf_avail(&s->cin));
	if (r > c->l7.max_head) {
		/* the whole head came in one read: still too big */
		sess_local(s, 431, NULL);
		return -1;
	}
	if (r > 0) {
		sess_begin(s, m, r);
		return s->st == SS_CLOSING ? -1 : 1;
	}
	if (r == -1) {
		w->st.parse_err[m->err]++;
		sess_local(s, m->err == H1_E_TOO_MANY_HDRS ? 431 : 400, NULL);
		return -1;
	}
	if (buf_avail(&s->cin) >= (uint32_t)c->l7.max_head) {
		sess_local(s, 431, NULL);
		return -1;
	}
	return 0;
}

/* Reads a request head. Returns 1 when one was parsed and started, 0 to
 * wait, -1 when the session was answered or closed. */
static int sess_read_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	ssize_t n;
	int r;

	for (;;) {
		if (buf_avail(&s->cin) && (r = sess_parse_head(s)) != 0)
			return r;
		if (!s->c.rd)
			return 0;
		if (l7_buf_get(w, &s->cin)) {
			sess_close(s);
			return -1;
		}
		n = conn_read(&s->c, &s->cin);
		if (n == -ENOBUFS) {
			/* a buffer of an older configuration, whose max_head
			 * was smaller than this one's */
			if (!l7_buf_grow(w, &s->cin))
				continue;
			sess_local(s, 431, NULL);
			return -1;
		}
		if (n > 0) {
			if (buf_avail(&s->cin) == (uint32_t)n) {
				sess_log_start(s);
				s->req_hdr_seen = 1;
				s->deadline = w->loop.now_ms + w->cfg->l7.client_header_timeout;
			}
			continue;
		}
		if (n == 0 && !s->c.eof) {
			if (!buf_avail(&s->cin))
				l7_buf_put(w, &s->cin);
			return 0;
		}
		/* closed, or reset, between requests or inside a head */
		sess_close(s);
		return -1;
	}
}

/* Flushes the last response, shuts the write side, then drains what the
 * client still sends for a moment before closing: closing with unread
 * input makes the kernel send a reset that can destroy the response in
 * flight (the "lingering close" problem). A client that goes on sending
 * (a refused body) is drained while it does, for at most LINGER_MAX_MS. */
static void sess_closing(struct sess *s)
{
	struct l7_worker *w = s->w;
	ssize_t n;
	int clear;

	/* closing or shutting down would cut off the kernel's bytes */
	clear = relay_sock_clear(&w->rl, &s->ce, &s->c);
	sess_track(s);
	if (!clear)
		return;
	if (buf_avail(&s->resp.out)) {
		n = conn_send_buf(&s->c, &s->resp.out);
		if (n < 0) {
			sess_close(s);
			return;
		}
		if (buf_avail(&s->resp.out))
			return;
	}
	if (!s->lingering) {
		conn_shutw(&s->c);
		s->lingering = 1;
		s->linger_end = w->loop.now_ms + LINGER_MAX_MS;
		s->deadline = w->loop.now_ms + LINGER_IDLE_MS;
	}
	/* the sink: the input buffer, whatever it held is refused already.
	 * A client still sending gets turns of 16 reads (sess_yield), each
	 * holding the deadline off (not while the process drains): closing
	 * with its bytes unread would reset the connection before it read its
	 * answer. */
	if (!l7_buf_get(w, &s->cin)) {
		for (int i = 0; i < 16; i++) {
			s->cin.pos = s->cin.len = 0;
			n = conn_read(&s->c, &s->cin);
			if (n > 0 && w->loop.now_ms + LINGER_IDLE_MS < s->linger_end &&
			    !w->proc->draining)
				s->deadline = w->loop.now_ms + LINGER_IDLE_MS;
			if (n == 0 && !s->c.eof)
				return;
			if (n <= 0)
				break;
		}
		if (n > 0) {
			sess_yield(s);
			return;
		}
	}
	sess_close(s);
}

/* One turn of an exchange. Returns 1 when the session moved on (another
 * state, request or upstream), 0 when it waits. */
static int sess_run_exchange(struct sess *s)
{
	uint32_t nreq = s->nreq;
	struct upconn *u = s->up;
	uint8_t polled = s->watch.listed;
	uint64_t moved = s->resp.moved + s->req.moved;

	sess_exchange(s);
	if (s->st == SS_EXCHANGE && s->nreq == nreq && s->up == u) {
		/* a body in the kernel is looked at without an event of its
		 * own: only progress holds its deadline off (a stuck client or
		 * origin) */
		if (!polled || !s->watch.listed)
			s->deadline = s->w->loop.now_ms + s->w->cfg->l7.server_timeout;
		else if (moved != s->resp.moved + s->req.moved)
			s->deadline = relay_progress_ms(&s->resp.rl, s->w->loop.now_ms) +
				      s->w->cfg->l7.server_timeout;
		sess_track(s);
		return 0;
	}
	sess_track(s);
	return 1;
}

/* A TLS client's handshake: once done, the connection is a client like
 * any other (its first request gets client_header_timeout). Returns 1 when
 * the session moved on, 0 when it waits. */
static int sess_handshake(struct sess *s)
{
	struct l7_worker *w = s->w;
	int why = TLS_F_OTHER, r = conn_handshake(&s->c, &why);

	if (!r)
		return 0;
	if (r < 0) {
		w->st.tls_fail[why]++;
		log_debug("TLS handshake from %s failed: %s", s->peer, tls_fail_name(why));
		if (why == TLS_F_HTTP)  /* a plain connection now: told in clear */
			sess_local_body(s, 400, NULL, "This port speaks HTTPS: use https://");
		else
			sess_close(s);
		return 1;
	}
	if (conn_tls_resumed(&s->c))
		w->st.tls_resumed++;
	else
		w->st.tls_full++;
	s->st = SS_IDLE;
	s->deadline = w->loop.now_ms + w->cfg->l7.client_header_timeout;
	if (w->proc->draining)
		s->drain_seen = 0;      /* sess_drain gives it its grace from here */
	return 1;
}

void sess_run(struct sess *s)
{
	int clear;

	/* any run is the turn a yield asked for */
	sess_unyield(s);
	for (int guard = 0; guard < 1000; guard++) {
		switch (s->st) {
		case SS_HANDSHAKE:
			if (!sess_handshake(s))
				return;
			break;
		case SS_IDLE:
			/* a next request (or the end) waits until the last
			 * response's kernel bytes are in the client's queue */
			clear = !relay_sock_held(&s->ce) || (!s->c.rd && !buf_avail(&s->cin)) ||
				relay_sock_clear(&s->w->rl, &s->ce, &s->c);
			sess_track(s);
			if (!clear)
				return;
			/* -1: answered (now CLOSING) or closed (DEAD): go on */
			if (sess_read_head(s) == 0)
				return;
			break;
		case SS_CONNECT:
			if (!s->up->c.wr && !s->up->c.rd)
				return;
			sess_connected(s);
			break;
		case SS_EXCHANGE:
			if (!sess_run_exchange(s))
				return;
			break;
		case SS_CLOSING:
			sess_closing(s);
			return;
		case SS_QUEUED:
		case SS_DEAD:
			return;
		}
	}
}

static void sess_event(struct conn *c, uint32_t events)
{
	struct sess *s = c->owner;

	if (s->st == SS_QUEUED && (events & (EPOLLHUP | EPOLLERR))) {
		/* reset while its request waits: nobody is left to answer
		 * (a half-close, EPOLLRDHUP alone, still wants the response) */
		sess_close(s);
		return;
	}
	if ((events & (EPOLLHUP | EPOLLERR)) &&
	    (relay_owned(&s->resp.rl) || relay_sock_held(&s->ce))) {
		/* the kernel would drop the rest: no write would tell us */
		sess_abort(s, "client gone while its body ran in the kernel");
		return;
	}
	sess_run(s);
}

/* The listener is out of fds (EMFILE, ENFILE) or memory: it pauses for a
 * moment instead of spinning on an error that accepting again cannot fix;
 * the queued connections wait in the kernel, none is dropped. */
static void sess_accept_pause(struct l7_worker *w, int err)
{
	uint64_t now = w->loop.now_ms;

	ev_del(&w->loop, &w->lsn);
	if (w->tlsn.fd >= 0)
		ev_del(&w->loop, &w->tlsn);
	w->accept_resume = now + ACCEPT_PAUSE_MS;
	w->st.accept_paused++;
	if (now - w->accept_warned >= 1000 || !w->accept_warned) {
		log_warn("accept4() failed: %s; the listener pauses for %d ms (%llu pauses so far)",
			 strerror(err), ACCEPT_PAUSE_MS, (unsigned long long)w->st.accept_paused);
		w->accept_warned = now;
	}
}

/* A new session on accepted socket FD from SS. Returns it, or NULL (FD
 * closed). */
static struct sess *sess_new(struct l7_worker *w, int fd, const struct sockaddr_storage *ss,
			     int tls)
{
	struct sess *s = calloc(1, sizeof(*s));

	if (!s) {
		close(fd);
		return NULL;
	}
	sock_tune(fd);
	conn_init(&s->c, fd, &conn_tcp);    /* the request often arrives with the handshake */
	if (tls && (!w->cfg->tls_set || conn_tls_start(&s->c, w->cfg->tls_set))) {
		close(fd);
		free(s);
		return NULL;
	}
	conn_own(&s->c, sess_event, s);
	/* into a kernel engine before anything is read from it */
	relay_sock_add(&w->rl, &s->ce, &s->c, 0);
	s->watch.wake = sess_watch_wake;
	s->w = w;
	s->st = SS_IDLE;
	s->node = -1;
	s->inflight_node = -1;
	s->cls = -1;
	s->qw.cls = -1;
	s->deadline = w->loop.now_ms + w->cfg->l7.client_header_timeout;
	if (tls) {
		s->st = SS_HANDSHAKE;
		s->deadline = w->loop.now_ms + w->cfg->tls.handshake_timeout;
	}
	sock_addr_text(ss, s->peer, sizeof(s->peer));
	if (conn_add(&w->loop, &s->c)) {
		relay_sock_del(&w->rl, &s->ce);
		s->c.xp->close(&s->c);
		free(s);
		return NULL;
	}
	return s;
}

/* Every pending connection of listener IO (TLS: its clients begin with a
 * handshake). */
static void sess_accept_on(struct l7_worker *w, struct ev_io *io, int tls)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct sess *s;
	int fd;

	/* until EAGAIN: the listener is edge-triggered, so connections left
	 * in its queue would wait for the next connection's edge */
	for (;;) {
		len = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;       /* that one is gone, the rest wait */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				sess_accept_pause(w, errno);
				return;
			}
			if (errno != EAGAIN)
				log_warn("accept4() failed: %s, retried on the next event", strerror(errno));
			return;
		}
		if (__atomic_add_fetch(&w->proc->clients, 1, __ATOMIC_RELAXED) > w->cfg->l7.max_clients) {
			__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
			w->st.local[503]++;
			close(fd);
			continue;
		}
		s = sess_new(w, fd, &ss, tls);
		if (!s) {
			__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
			continue;
		}
		s->next = w->sessions;
		if (w->sessions)
			w->sessions->prev = s;
		w->sessions = s;
		w->st.clients++;
		w->st.accepted++;
		sess_run(s);
	}
}

void sess_accept(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	sess_accept_on((struct l7_worker *)((char *)io - offsetof(struct l7_worker, lsn)), io, 0);
}

void sess_accept_tls(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	sess_accept_on((struct l7_worker *)((char *)io - offsetof(struct l7_worker, tlsn)), io, 1);
}

/* Resumes a listener paused for want of fds once its pause is over. */
static void sess_accept_resume(struct l7_worker *w)
{
	if (!w->accept_resume || w->loop.now_ms < w->accept_resume)
		return;
	w->accept_resume = 0;
	if (w->drained)
		return;
	if (ev_add(&w->loop, &w->lsn, EPOLLIN) ||
	    (w->tlsn.fd >= 0 && ev_add(&w->loop, &w->tlsn, EPOLLIN))) {
		ev_del(&w->loop, &w->lsn);
		w->accept_resume = w->loop.now_ms + ACCEPT_PAUSE_MS;
		return;
	}
	/* what queued meanwhile: no edge announces it */
	sess_accept(&w->loop, &w->lsn, EPOLLIN);
	if (w->tlsn.fd >= 0)
		sess_accept_tls(&w->loop, &w->tlsn, EPOLLIN);
}

/* A session past its deadline, in state order. */
static void sess_expire(struct l7_worker *w, struct sess *s)
{
	switch (s->st) {
	case SS_HANDSHAKE:
		w->st.tls_timeout++;
		sess_close(s);
		break;
	case SS_IDLE:
		if (buf_avail(&s->cin)) {
			sess_local(s, 408, NULL);
			sess_run(s);
		} else {
			sess_close(s);
		}
		break;
	case SS_CONNECT:
		w->st.upstream_fail[s->node]++;
		sess_local(s, 504, NULL);
		sess_run(s);
		break;
	case SS_QUEUED:         /* no deadline: qos_expire */
		break;
	case SS_EXCHANGE:
		if (s->resp_started) {
			sess_abort(s, "no progress within server_timeout");
		} else {
			w->st.upstream_fail[s->node]++;
			sess_local(s, 504, NULL);
			sess_run(s);
		}
		break;
	case SS_CLOSING:
	case SS_DEAD:
		sess_close(s);
		break;
	}
}

void sess_sweep(struct l7_worker *w)
{
	uint64_t now = w->loop.now_ms;
	struct sess *s, *next;

	sess_accept_resume(w);
	if (now - w->last_sweep < SWEEP_MS)
		return;
	w->last_sweep = now;
	qos_expire(&w->qos, now, sess_refuse, NULL);
	for (s = w->sessions; s; s = next) {
		next = s->next;
		if (relay_sock_held(&s->ce) && (s->st == SS_IDLE || s->st == SS_CLOSING)) {
			/* the last response is still on its way to the client:
			 * server_timeout without progress cuts it off, as it
			 * would a body user space relays (a kernel engine's
			 * queue has no bound of its own), so progress is looked
			 * at on every sweep */
			int k = relay_sock_progress(&w->rl, &s->ce, &s->c);

			if (k == 1) {
				s->deadline = now + w->cfg->l7.server_timeout;
			} else if (k == 2) {
				sess_track(s);
				s->deadline = now + (s->st != SS_IDLE ? 5000 : s->drain_seen ? 1000
						     : w->cfg->l7.keepalive_timeout);
				/* the kernel is done with it, and the engine's watch
				 * that would have run the session went with its
				 * hold: what waited (a pipelined request already in
				 * cin, the close) goes on now, not at the deadline */
				sess_run(s);
			}
		}
		if (!s->deadline || now < s->deadline || s->st == SS_DEAD)
			continue;
		if (s->st == SS_EXCHANGE && relay_owned(&s->resp.rl)) {
			/* nothing reports a body's progress in the kernel
			 * before its end: look now (progress moves the
			 * deadline) */
			sess_run(s);
			if (s->st == SS_DEAD || !s->deadline || now < s->deadline)
				continue;
		}
		sess_expire(w, s);
	}
	upool_sweep(w);
}

int sess_drain(struct l7_worker *w)
{
	struct sess *s, *next;
	int n = 0;

	for (s = w->sessions; s; s = next) {
		next = s->next;
		if (((s->st == SS_IDLE && !buf_avail(&s->cin)) || s->st == SS_HANDSHAKE) &&
		    !s->drain_seen) {
			/* an idle keep-alive client may be sending its next
			 * request right now: closing under it would fail that
			 * request. It gets a moment to send one, answered with
			 * Connection: close; the sweep closes it after that */
			s->drain_seen = 1;
			if (s->deadline > w->loop.now_ms + 1000 || !s->deadline)
				s->deadline = w->loop.now_ms + 1000;
		}
		/* the response in flight goes out whole; if its head is not
		 * out yet it says "Connection: close" and the connection closes
		 * after it. A head already sent promised keep-alive: closing
		 * after it would race the client's next request, so that
		 * connection gets the idle grace above instead */
		if (!s->resp_head_done && s->st != SS_IDLE && s->st != SS_HANDSHAKE)
			s->keepalive = 0;
		n++;
	}
	return n;
}

void sess_close_all(struct l7_worker *w)
{
	while (w->sessions)
		sess_close(w->sessions);
	upool_close_all(w);
}
