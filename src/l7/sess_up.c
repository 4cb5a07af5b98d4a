/* sess_up: the upstream side of a session: the node's connection from the
 * pool, the replay of a request whose pooled connection the server had
 * closed, the response head (interim heads, tunnels, the offer of a whole
 * response to a kernel engine), and the end of an exchange, where the
 * session says whether the connection ended exactly (its framing) and the
 * pool checks the socket (upool_put) before anyone else may use it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "h1.h"
#include "l7.h"
#include "lb.h"
#include "log.h"
#include "qos.h"
#include "relay.h"
#include "sess.h"
#include "upool.h"

static void sess_upstream_failed(struct sess *s, const char *why);

static int code_class(int status)
{
	int k = status / 100 - 1;
	return k < 0 ? 0 : k > 4 ? 4 : k;
}

/* The upstream connection's events: its session runs. No events: the relay
 * engine has news for it (an arming ended). */
static void sess_upstream_event(struct conn *c, uint32_t events)
{
	struct sess *s = c->owner;

	if (!events && s->st != SS_EXCHANGE)
		return;
	sess_run(s);
}

void sess_release_up(struct sess *s, int reuse)
{
	if (!s->up)
		return;
	if (reuse)
		upool_put(s->w, s->up);
	else
		upconn_close(s->w, s->up);
	s->up = NULL;
}

/* In-flight accounting of the current request: per node (wlc, chash,
 * lard) and per Web-QoS class. Freeing a class slot lets queued requests
 * go, on the worker's next turn (sess_qos_dispatch), never from inside
 * another session's code. */
void sess_unflight(struct sess *s)
{
	struct l7_worker *w = s->w;

	if (s->inflight_node >= 0) {
		l7_inflight_add(w, s->inflight_node, -1);
		s->inflight_node = -1;
	}
	if (s->admitted) {
		/* a request admitted before a reload counts in the old
		 * struct qos, which is gone */
		if (s->qgen == w->gen)
			qos_release(&w->qos, s->cls);
		s->admitted = 0;
	}
}

int sess_connect(struct sess *s, int n, int fresh)
{
	struct l7_worker *w = s->w;
	int err = 0;

	s->node = n;
	sess_log_picked(s, n);
	s->offered = 0;         /* a new upstream: its response may be offered */
	if (s->inflight_node >= 0)
		l7_inflight_add(w, s->inflight_node, -1);
	l7_inflight_add(w, n, 1);
	s->inflight_node = n;
	s->up = upool_get(w, n, fresh, &err);
	if (!s->up) {
		log_debug("no connection to node %s: %s", w->cfg->nodes[n].name, strerror(-err));
		if (err == -EBUSY) {
			w->st.upstream_fail[n]++;
			sess_local(s, 503, NULL);
			return -1;
		}
		/* refused at once (it happens on loopback): like a refused
		 * connect that completes later, another node may take it */
		s->fresh_up = 1;
		sess_upstream_failed(s, strerror(-err));
		return -1;
	}
	conn_own(&s->up->c, sess_upstream_event, s);
	if (!s->up->connecting)
		sess_log_connected(s);
	relay_release(&s->req.rl);
	relay_release(&s->resp.rl);
	relay_start(&s->req.rl, &w->rl, &s->c, NULL, &s->up->c, NULL);
	relay_start(&s->resp.rl, &w->rl, &s->up->c, &s->up->re, &s->c, &s->ce);
	s->fresh_up = s->up->connecting;
	s->st = s->up->connecting ? SS_CONNECT : SS_EXCHANGE;
	s->deadline = w->loop.now_ms + (s->up->connecting ? w->cfg->l7.connect_timeout
						       : w->cfg->l7.server_timeout);
	return 0;
}

/* A request failed on its upstream before any byte of a response came back.
 * Replays it once when that is safe, else answers 502. */
static void sess_upstream_failed(struct sess *s, const char *why)
{
	struct l7_worker *w = s->w;
	int node = s->node, fresh = s->fresh_up;

	w->st.upstream_fail[node]++;
	sess_release_up(s, 0);
	if (fresh)
		lb_report(w, node, 0);
	if (s->retry_ok && !s->retried && s->replay_len && !s->resp_started) {
		/* a reused connection the server had closed: same node, new
		 * connection; a refused connect: another node of the group */
		int n = fresh ? lb_pick(w, s->group < w->nlb ? s->group : w->default_lb, s->key, node)
			      : node;

		log_debug("request to %s failed (%s), retried on %s", w->cfg->nodes[node].name,
			  why, n >= 0 ? w->cfg->nodes[n].name : "-");
		if (n >= 0) {
			s->retried = 1;
			w->st.retries++;
			s->req.out.pos = 0;
			s->req.out.len = s->replay_len;
			s->req.done = 1;
			s->uin.pos = s->uin.len = 0;
			sess_connect(s, n, 1);
			return;
		}
	}
	log_debug("request to %s failed: %s", w->cfg->nodes[node].name, why);
	sess_local(s, 502, NULL);
}

void sess_dispatch(struct sess *s)
{
	struct l7_worker *w = s->w;
	int n = lb_pick(w, s->group, s->key, -1);

	if (n < 0) {
		w->st.group_503[s->group]++;
		sess_local(s, 503, "Retry-After: 1\r\n");
		return;
	}
	sess_connect(s, n, 0);
}

void sess_connected(struct sess *s)
{
	struct upconn *u = s->up;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(u->c.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		sess_upstream_failed(s, strerror(err ? err : errno));
		return;
	}
	u->connecting = 0;
	u->c.wr = 1;
	sess_log_connected(s);
	/* into a kernel engine before the request goes out, so that it sees
	 * every byte of every response from the first */
	relay_sock_add(&s->w->rl, &u->re, &u->c, 1);
	s->st = SS_EXCHANGE;
	s->deadline = s->w->loop.now_ms + s->w->cfg->l7.server_timeout;
}

/* Before the request goes out on the upstream: offers its response whole
 * to a kernel engine when all of it may run there: a GET-like request of a
 * keep-alive HTTP/1.1 client, with nothing of an earlier response still on
 * its way to the client (the engine itself decides by the target whether
 * the offer is worth its syscalls). */
static void sess_offer(struct sess *s)
{
	s->offered = 1;
	if (s->req.kind != H1_BODY_NONE || s->head_req || s->connect_req || s->upgrade ||
	    !s->keepalive || s->client_minor != 1 || buf_avail(&s->resp.out))
		return;
	relay_offer(&s->resp.rl, s->key);
}

/* The offered response: has the engine taken it? Returns 1 when it did
 * (the whole response runs in the kernel), 0 when user space is to read
 * the head (or wait for it), -1 when the session was closed. */
static int sess_kernel_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct relay_head h;
	int k = relay_head(&s->resp.rl, &h);

	if (k < 0) {
		sess_abort(s, "the kernel could not send the response to the client");
		return -1;
	}
	if (!k)
		return 0;
	s->resp_started = 1;
	s->resp_head_done = 1;
	lb_report(w, s->node, 1);
	s->up_close = 0;        /* the engine takes only keep-alive responses */
	sess_log_status(s, h.status);
	w->st.requests[s->node][code_class(h.status)]++;
	sess_pump_frame(&s->resp, h.kind, h.len);
	sess_pump_kernel(&s->resp, h.n);
	return 1;
}

/* Reads the response head into uin until it parses. Returns its length,
 * 0 to wait, -1 when the session was answered or closed. */
static int sess_read_resp_head(struct sess *s, struct h1_msg *m)
{
	struct l7_worker *w = s->w;
	struct upconn *u = s->up;
	ssize_t n;
	int r;

	for (;;) {
		if (buf_avail(&s->uin)) {
			m->max_hdrs = 0;
			r = h1_parse_response(m, s->uin.data + s->uin.pos, buf_avail(&s->uin), s->head_req);
			if (r > 0)
				return r;
			if (r == -1) {
				log_warn("bad response from %s: %s at byte %u",
					 w->cfg->nodes[s->node].name, h1_err_name(m->err), m->err_off);
				w->st.upstream_fail[s->node]++;
				sess_local(s, 502, NULL);
				return -1;
			}
			if (s->uin.pos == 0 && s->uin.len == s->uin.cap) {
				log_warn("response head from %s larger than %u bytes",
					 w->cfg->nodes[s->node].name, s->uin.cap);
				sess_local(s, 502, NULL);
				return -1;
			}
		}
		n = conn_read(&u->c, &s->uin);
		if ((n > 0 || u->c.eof) && relay_offered(&s->resp.rl)) {
			/* the engine passed the head (or the end of stream) to
			 * user space: the offer is over, read it here */
			relay_decline(&s->resp.rl);
		}
		if (n > 0)
			continue;
		if (n == 0 && !u->c.eof)
			return 0;
		if (buf_avail(&s->uin) || s->resp_started) {
			/* closed inside a head, or after an interim response */
			w->st.upstream_fail[s->node]++;
			sess_local(s, 502, NULL);
			return -1;
		}
		sess_upstream_failed(s, n ? strerror(-n) : "closed before responding");
		return -1;
	}
}

/* A 101 to an upgrade, or a 2xx to CONNECT: both sides become raw streams
 * until either ends. Returns 1, or -1 when answered. */
static int sess_tunnel(struct sess *s, const struct h1_msg *m, int hlen)
{
	sess_pump_frame(&s->resp, H1_BODY_CLOSE, 0);
	s->resp.tunnel = 1;
	if (sess_write_response(s, m, &s->resp.out)) {
		sess_local(s, 502, NULL);
		return -1;
	}
	s->uin.pos += hlen;
	sess_pump_frame(&s->req, H1_BODY_CLOSE, 0);
	s->req.tunnel = 1;
	s->keepalive = 0;
	return 1;
}

/* Reads and parses the response head; forwards interim responses. Returns
 * 1 when the final head is queued for the client, 0 to wait, -1 when the
 * session was answered or closed. */
static int sess_response_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct h1_msg *m = &w->msg;
	int r;

	if (relay_offered(&s->resp.rl)) {
		r = sess_kernel_head(s);
		if (r)
			return r;
	}
	r = sess_read_resp_head(s, m);
	if (r <= 0)
		return r;
	if (m->status < 200 && m->status != 101) {
		/* 100 Continue and other interim answers go to 1.1 clients only */
		if (s->client_minor && sess_write_response(s, m, &s->resp.out) == 0)
			s->resp_started = 1;
		s->uin.pos += r;
		return sess_response_head(s);  /* at most a few interim heads */
	}
	s->resp_started = 1;
	s->resp_head_done = 1;
	lb_report(w, s->node, 1);
	s->up_close = !!(m->flags & H1_F_CONN_CLOSE) || (m->minor == 0 && !(m->flags & H1_F_CONN_KEEPALIVE));
	sess_log_status(s, m->status);
	w->st.requests[s->node][code_class(m->status)]++;
	if ((m->status == 101 && s->upgrade) ||
	    (s->connect_req && m->status >= 200 && m->status < 300))
		return sess_tunnel(s, m, r);
	if (m->body == H1_BODY_CLOSE)
		s->keepalive = 0;
	sess_pump_frame(&s->resp, m->body, m->content_length);
	relay_frame(&s->resp.rl, m->body, m->content_length);
	if (sess_write_response(s, m, &s->resp.out)) {
		sess_local(s, 502, NULL);
		return -1;
	}
	s->uin.pos += r;
	return 1;
}

/* Why the upstream cannot be pooled after this exchange, as far as the
 * session knows (L7_POOL_*), or -1: it ended exactly; the pool checks the
 * socket itself. */
static int sess_pool_refusal(const struct sess *s)
{
	if (s->up_close || s->resp.kind == H1_BODY_CLOSE)
		return L7_POOL_CLOSE;
	if (!s->req.done || s->req.tunnel || relay_staged(&s->req.rl) || relay_staged(&s->resp.rl))
		return L7_POOL_UNFINISHED;
	if (buf_avail(&s->uin))
		return L7_POOL_EXTRA;   /* bytes read past the end of the response */
	return -1;
}

/* Every byte of the response reached the client: account, give the
 * upstream back if it is clean, and go on with the next request. */
static void sess_finish(struct sess *s)
{
	struct l7_worker *w = s->w;

	sess_log_end(s, 0);
	if (s->up) {
		int why = sess_pool_refusal(s);

		if (why < 0)
			upool_put(w, s->up);
		else
			upool_refuse(w, s->up, why);
		s->up = NULL;
	}
	relay_env_note(&w->rl, s->key, s->head_req ? 0 : s->resp.moved);
	sess_unflight(s);
	relay_release(&s->req.rl);
	relay_release(&s->resp.rl);
	l7_buf_put(w, &s->req.out);
	l7_buf_put(w, &s->resp.out);
	l7_buf_put(w, &s->uin);
	/* an idle keep-alive connection holds no buffer: a few hundred bytes
	 * of session, not a 20 KiB buffer's touched pages */
	if (!buf_avail(&s->cin))
		l7_buf_put(w, &s->cin);
	s->nreq++;
	/* a request whose body was not read to its end leaves the rest of the
	 * connection unframed: close it */
	if (!s->keepalive || !s->req.done) {
		s->st = SS_CLOSING;
		s->lingering = 0;
		s->deadline = w->loop.now_ms + 5000;
		return;
	}
	s->st = SS_IDLE;
	s->req_hdr_seen = 0;
	s->resp_started = 0;
	s->resp_head_done = 0;
	/* bytes of the response still on their way: the sweep looks at
	 * their progress, as server_timeout would inside the exchange */
	s->deadline = w->loop.now_ms + (relay_sock_held(&s->ce) ? w->cfg->l7.server_timeout
								 : w->cfg->l7.keepalive_timeout);
}

/* The request body (and a tunnel's client side) going up. Returns 0 to go
 * on, -1 when the session was answered or closed. */
static int sess_request_up(struct sess *s)
{
	struct upconn *u = s->up;
	int r;

	if (!s->req.active || (s->req.done && !buf_avail(&s->req.out) && !relay_staged(&s->req.rl)))
		return 0;
	r = sess_pump_run(s, &s->req, &s->c, &u->c, &s->cin);
	if (r == PUMP_E_TOO_BIG) {
		/* a chunked body past client_max_body: the server gets a cut
		 * request (its connection is closed), never a whole one, and
		 * the client its 413 */
		sess_local(s, 413, NULL);
		return -1;
	}
	if (r == PUMP_E_FRAMING) {
		s->w->st.parse_err[s->req.ch.err]++;
		sess_local(s, 400, NULL);
		return -1;
	}
	if (r == PUMP_E_SRC_EOF || r == PUMP_E_SRC) {
		if (!s->req.tunnel) {
			sess_abort(s, "client closed inside its request body");
			return -1;
		}
		/* the client ended its side of a tunnel */
		conn_shutw(&u->c);
		s->req.active = 0;
	} else if (r < 0) {
		if (!s->resp_started && !s->req.moved) {
			sess_upstream_failed(s, strerror(-r));
			return -1;
		}
		/* the server stopped reading: its answer, if any, says why */
		s->req.active = 0;
	}
	return 0;
}

void sess_exchange(struct sess *s)
{
	int r;

	if (!s->offered)
		sess_offer(s);
	if (sess_request_up(s))
		return;
	if (!s->resp_head_done) {
		r = sess_response_head(s);
		if (r < 0)
			return;
		if (r == 0) {
			/* interim responses (100 Continue) go out at once */
			if (buf_avail(&s->resp.out))
				conn_send_buf(&s->c, &s->resp.out);
			return;
		}
	}
	r = sess_pump_run(s, &s->resp, &s->up->c, &s->c, &s->uin);
	if (r == PUMP_WAIT)
		return;
	if (r < 0) {
		log_debug("response pump ended with %d", r);
		if (r == PUMP_E_SRC_EOF || r == PUMP_E_FRAMING || r == PUMP_E_SRC || r == PUMP_E_EXTRA)
			s->w->st.upstream_fail[s->node]++;
		if (r == PUMP_E_EXTRA && s->up) {
			/* bytes glued past the body: the pool's refusal */
			upool_refuse(s->w, s->up, L7_POOL_EXTRA);
			s->up = NULL;
		}
		sess_abort(s, r == PUMP_E_SRC_EOF ? "server closed inside the response body"
			      : r == PUMP_E_EXTRA ? "server sent bytes past the response body"
			      : r == PUMP_E_FRAMING ? "bad chunked framing from the server"
			      : "client gone");
		return;
	}
	/* every byte of the response was delivered */
	if (s->resp.tunnel) {
		/* the server ended its side of the tunnel: end the client's */
		if (s->req.active && !s->req.done)
			conn_shutw(&s->c);
		s->req.done = 1;
		s->keepalive = 0;
	}
	if (!s->req.done || buf_avail(&s->req.out) || relay_staged(&s->req.rl)) {
		/* answered before the request body was all sent: the upstream
		 * cannot be reused, and neither can the client connection */
		s->req.done = 0;
		s->keepalive = 0;
	}
	sess_finish(s);
}
