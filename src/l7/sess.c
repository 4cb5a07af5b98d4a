/* sess: one client connection of the level-2 switch, from accept to close.
 * Every request of a persistent connection is parsed and routed on its own:
 * the head is re-serialised (never the client's raw bytes) onto a pooled
 * connection to the chosen node's web server, the request body and then the
 * response are moved by their framing (Content-Length, chunked, until close)
 * through the relay engine, and the next request of the connection starts
 * only once this response is complete, so pipelined requests are answered in
 * order. A client sees a complete response of its own, or a closed
 * connection: nothing that broke mid-way is passed off as whole.
 *
 * All sockets are edge-triggered: readiness flags (crd/cwr, u->rd/u->wr)
 * remember an edge until a syscall returns EAGAIN. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h1.h"
#include "l7.h"
#include "lb.h"
#include "log.h"
#include "qos.h"
#include "relay.h"
#include "relay_sockmap_abi.h"
#include "sock.h"

#define SWEEP_MS 100

void sess_upstream_event(struct upconn *u, uint32_t events);
static void sess_run(struct sess *s);
static void sess_dispatch(struct sess *s);
static void sess_unflight(struct sess *s);
static void sess_upstream_failed(struct sess *s, const char *why);
static void sess_close(struct sess *s);
static void sess_sm_track(struct sess *s);
static void sess_abort(struct sess *s, const char *why);
static void sess_kbig_note(struct sess *s, int big);

static const char *status_text(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Error";
	}
}

/* ---- buffers ---------------------------------------------------------- */

int l7_buf_get(struct l7_worker *w, struct buf *b)
{
	if (b->data)
		return 0;
	if (w->nfreebufs)
		b->data = w->freebufs[--w->nfreebufs];
	else
		b->data = malloc(w->bufsz);
	if (!b->data)
		return -ENOMEM;
	b->cap = w->bufsz;
	b->pos = b->len = 0;
	return 0;
}

void l7_buf_put(struct l7_worker *w, struct buf *b)
{
	if (!b->data)
		return;
	if (w->nfreebufs < w->maxfreebufs)
		w->freebufs[w->nfreebufs++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->cap = b->pos = b->len = 0;
}

static inline uint32_t buf_avail(const struct buf *b) { return b->len - b->pos; }

/* Makes room at the end by moving unread bytes to the front. */
static void buf_compact(struct buf *b)
{
	if (b->pos == b->len) {
		b->pos = b->len = 0;
	} else if (b->pos) {
		memmove(b->data, b->data + b->pos, b->len - b->pos);
		b->len -= b->pos;
		b->pos = 0;
	}
}

static int buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		buf_compact(b);
		if (b->cap - b->len < n)
			return -ENOSPC;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_puts(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

static int buf_putstr(struct buf *b, struct h1_str s)
{
	return buf_put(b, s.p, s.len);
}

/* ---- local responses -------------------------------------------------- */

/* The switch answers by itself (bad request, no node, timeout) and closes
 * the connection after the answer: whatever the client sent after this
 * request can no longer be framed reliably. */
static void sess_local(struct sess *s, int code, const char *extra)
{
	struct l7_worker *w = s->w;
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
	if (s->resp.rl.ops)
		s->resp.rl.ops->release(&s->resp.rl);
	if (s->req.rl.ops)
		s->req.rl.ops->release(&s->req.rl);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nServer: tandem\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n",
		     code, status_text(code), strlen(status_text(code)) + 1,
		     extra ? extra : "", status_text(code));
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

/* ---- head serialisation ----------------------------------------------- */

/* Headers the switch owns hop by hop (RFC 9110 section 7.6.1): never copied
 * from one side to the other, re-emitted as this hop needs them. */
static int hop_by_hop(struct h1_str name)
{
	switch (name.len) {
	case 2:  return h1_str_ieq(name, "te");
	case 7:  return h1_str_ieq(name, "upgrade");
	case 10: return h1_str_ieq(name, "connection") || h1_str_ieq(name, "keep-alive");
	case 16: return h1_str_ieq(name, "proxy-connection");
	case 17: return h1_str_ieq(name, "transfer-encoding");
	default: return 0;
	}
}

/* Names listed in Connection (other than close/keep-alive/upgrade) are
 * hop-by-hop too. Collects at most 8 of them from M into NOM. */
static int nominated(const struct h1_msg *m, struct h1_str *nom, int max)
{
	int n = 0;

	for (int i = h1_hdr_find(m, "connection", 0); i >= 0; i = h1_hdr_find(m, "connection", i + 1)) {
		const char *p = m->hdrs[i].value.p, *end = p + m->hdrs[i].value.len;

		while (p < end && n < max) {
			const char *t;
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			t = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if (p > t) {
				struct h1_str tok = { t, (uint32_t)(p - t) };
				if (!h1_str_ieq(tok, "close") && !h1_str_ieq(tok, "keep-alive") &&
				    !h1_str_ieq(tok, "upgrade"))
					nom[n++] = tok;
			}
		}
	}
	return n;
}

static int is_nominated(struct h1_str name, const struct h1_str *nom, int n)
{
	for (int i = 0; i < n; i++)
		if (nom[i].len == name.len && !strncasecmp(nom[i].p, name.p, name.len))
			return 1;
	return 0;
}

/* Writes the canonical request head for the upstream into OUT. */
static int sess_write_request(struct sess *s, const struct h1_msg *m, struct buf *out)
{
	struct h1_str nom[8];
	int nnom = nominated(m, nom, 8), xff = 0, e = 0;
	char line[64];

	e |= buf_putstr(out, m->method);
	e |= buf_put(out, " ", 1);
	e |= buf_putstr(out, m->target);
	/* an HTTP/1.0 client's request goes up as 1.0 too, so the server never
	 * answers it with a chunked body the client could not read */
	e |= buf_puts(out, s->client_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (hop_by_hop(h->name) || is_nominated(h->name, nom, nnom))
			continue;
		if (h->name.len == 14 && h1_str_ieq(h->name, "content-length"))
			continue;
		if (h->name.len == 15 && h1_str_ieq(h->name, "x-forwarded-for")) {
			e |= buf_puts(out, xff++ ? ", " : "X-Forwarded-For: ");
			e |= buf_putstr(out, h->value);
			continue;
		}
		e |= buf_putstr(out, h->name);
		e |= buf_put(out, ": ", 2);
		e |= buf_putstr(out, h->value);
		e |= buf_put(out, "\r\n", 2);
	}
	/* the X-Forwarded-For values of the client stay together, ours last */
	e |= buf_puts(out, xff ? ", " : "X-Forwarded-For: ");
	e |= buf_puts(out, s->peer);
	e |= buf_put(out, "\r\n", 2);
	if (m->body == H1_BODY_CHUNKED) {
		e |= buf_puts(out, "Transfer-Encoding: chunked\r\n");
	} else if (m->body == H1_BODY_LENGTH) {
		snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
			 (unsigned long long)m->content_length);
		e |= buf_puts(out, line);
	}
	if (s->upgrade) {
		int u = h1_hdr_find(m, "upgrade", 0);
		e |= buf_puts(out, "Connection: upgrade\r\nUpgrade: ");
		e |= buf_putstr(out, m->hdrs[u].value);
		e |= buf_put(out, "\r\n", 2);
	} else if (!s->client_minor) {
		e |= buf_puts(out, "Connection: keep-alive\r\n");
	}
	e |= buf_put(out, "\r\n", 2);
	return e ? -ENOSPC : 0;
}

/* Writes the response head for the client into OUT. */
static int sess_write_response(struct sess *s, const struct h1_msg *m, struct buf *out)
{
	struct h1_str nom[8];
	int nnom = nominated(m, nom, 8), e = 0;
	char line[32];

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", m->status);
	e |= buf_puts(out, line);
	e |= buf_putstr(out, m->reason);
	e |= buf_put(out, "\r\n", 2);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		/* Transfer-Encoding is kept: the body is relayed as framed */
		if ((hop_by_hop(h->name) && !(h->name.len == 17)) ||
		    is_nominated(h->name, nom, nnom))
			continue;
		e |= buf_putstr(out, h->name);
		e |= buf_put(out, ": ", 2);
		e |= buf_putstr(out, h->value);
		e |= buf_put(out, "\r\n", 2);
	}
	if (m->status == 101) {
		int u = h1_hdr_find(m, "upgrade", 0);
		e |= buf_puts(out, "Connection: upgrade\r\n");
		if (u >= 0) {
			e |= buf_puts(out, "Upgrade: ");
			e |= buf_putstr(out, m->hdrs[u].value);
			e |= buf_put(out, "\r\n", 2);
		}
	} else if (m->status >= 200) {
		if (!s->keepalive)
			e |= buf_puts(out, "Connection: close\r\n");
		else if (!s->client_minor)
			e |= buf_puts(out, "Connection: keep-alive\r\n");
	}
	e |= buf_put(out, "\r\n", 2);
	return e ? -ENOSPC : 0;
}

/* ---- pumps -------------------------------------------------------------- */

static void pump_reset(struct pump *p)
{
	p->limit = 0;
	p->kind = H1_BODY_NONE;
	p->remaining = 0;
	p->active = 0;
	p->done = 0;
	p->tunnel = 0;
	p->moved = 0;
}

/* Sets up the body framing of one direction. */
static void pump_frame(struct pump *p, enum h1_body kind, uint64_t len)
{
	p->kind = kind;
	p->remaining = len;
	p->active = 1;
	p->done = kind == H1_BODY_NONE || (kind == H1_BODY_LENGTH && len == 0);
	if (kind == H1_BODY_CHUNKED)
		h1_chunk_init(&p->ch);
}

/* Moves body bytes already in IN to OUT, as far as framing and room allow.
 * Returns bytes consumed, or -1 on a framing error. */
static ssize_t pump_take(struct pump *p, struct buf *in)
{
	struct buf *out = &p->out;
	size_t took = 0;

	buf_compact(out);
	while (!p->done && buf_avail(in) && out->len < out->cap) {
		size_t room = out->cap - out->len, n = buf_avail(in);
		const char *src = in->data + in->pos;

		if (n > room)
			n = room;
		if (p->kind == H1_BODY_LENGTH) {
			if (n > p->remaining)
				n = p->remaining;
			p->remaining -= n;
			p->done = !p->remaining;
		} else if (p->kind == H1_BODY_CHUNKED) {
			if (p->ch.state == H1_CH_DATA) {
				if (n > p->ch.remaining)
					n = p->ch.remaining;
				h1_chunk_data(&p->ch, n);
			} else {
				ssize_t r = h1_chunk_parse(&p->ch, src, n);
				if (r < 0)
					return -1;
				n = r;
				p->done = h1_chunk_done(&p->ch);
				if (!n && !p->done)
					break;
			}
		}
		/* H1_BODY_CLOSE and tunnels take everything */
		memcpy(out->data + out->len, src, n);
		out->len += n;
		in->pos += n;
		p->moved += n;
		took += n;
	}
	if (in->pos == in->len)
		in->pos = in->len = 0;
	return took;
}

/* Bytes the engine may take straight from the socket now: a run of raw body
 * bytes of known length, or everything for close-delimited bodies and
 * tunnels (UINT64_MAX). 0: the next bytes are framing, read them. */
static uint64_t pump_raw(const struct pump *p)
{
	switch (p->kind) {
	case H1_BODY_LENGTH:  return p->remaining;
	case H1_BODY_CHUNKED: return p->ch.state == H1_CH_DATA ? p->ch.remaining : 0;
	case H1_BODY_CLOSE:   return UINT64_MAX;
	default:              return 0;
	}
}

enum { PUMP_WAIT = 0, PUMP_DONE = 1 };
#define PUMP_E_SRC_EOF  (-10000)        /* src closed before the body ended */
#define PUMP_E_FRAMING  (-10001)        /* bad chunked framing from src */
#define PUMP_E_SRC      (-10002)        /* read error on src (errno lost) */
#define PUMP_E_TOO_BIG  (-10003)        /* more body than the pump's limit */

/* N raw body bytes of P went to dst, or are on their way there, outside
 * pump_take: the framing moves on. */
static void pump_advance(struct pump *p, uint64_t n)
{
	p->moved += n;
	if (p->kind == H1_BODY_LENGTH) {
		p->remaining -= n;
		p->done = !p->remaining;
	} else if (p->kind == H1_BODY_CHUNKED) {
		h1_chunk_data(&p->ch, n);
	}
}

/* Accounts N bytes the kernel moved for P. When the arming is over, the
 * client has bytes in flight that user space must not overtake: kpend. */
static void pump_kernel(struct sess *s, struct pump *p, ssize_t n)
{
	if (p->rl.kchunked)
		p->moved += n;  /* framing and data alike: the program frames */
	else
		pump_advance(p, n);
	if (!p->rl.kdone)
		return;
	s->kpend = 1;
	s->ktarget = p->rl.ktarget;
	s->kseen = p->rl.base;  /* progress is counted from the arming */
	p->rl.kdone = 0;
	if (p->rl.kchunked) {
		/* the body ended in the kernel, or the program stopped before
		 * framing it does not follow: the decoder goes on from there */
		static const enum h1_chunk_state map[] = {
			[RELAY_SM_CH_SIZE] = H1_CH_SIZE, [RELAY_SM_CH_SIZE_LF] = H1_CH_SIZE_LF,
			[RELAY_SM_CH_DATA] = H1_CH_DATA, [RELAY_SM_CH_DATA_CR] = H1_CH_DATA_CR,
			[RELAY_SM_CH_DATA_LF] = H1_CH_DATA_LF, [RELAY_SM_CH_FINAL_CR] = H1_CH_TRAILER,
			[RELAY_SM_CH_FINAL_LF] = H1_CH_FINAL_LF, [RELAY_SM_CH_DONE] = H1_CH_DONE,
		};
		uint32_t st = RELAY_SM_CH_DONE, ndig = 0;
		uint64_t size = 0, rem = 0;

		if (p->rl.kstop)
			relay_sm_chunk_state(&p->rl, &st, &ndig, &size, &rem);
		h1_chunk_resume(&p->ch, map[st <= RELAY_SM_CH_DONE ? st : RELAY_SM_CH_DONE], size, ndig, rem);
		p->done = h1_chunk_done(&p->ch);
		p->rl.kchunked = p->rl.kstop = 0;
	}
}

/* 1 when no byte the kernel redirected to the client is still on its way to
 * the client's send queue, so user space may write to it (or close it).
 * Else 0, and the session is polled until then (kwait). */
static int sess_kclear(struct sess *s)
{
	if (!s->kpend)
		return 1;
	if (!relay_sm_delivered(s->w->sm, s->io.fd, s->ktarget)) {
		s->kwait = 1;
		return 0;
	}
	s->kpend = s->kwait = 0;
	return 1;
}

/* Runs one direction as far as it can go. Returns PUMP_DONE when every byte
 * of the body was delivered to dst, PUMP_WAIT when a socket would block, or
 * <0: PUMP_E_* for src-side failures, -errno for dst write errors. */
static int pump_run(struct sess *s, struct pump *p, int src, int dst, struct buf *in,
		    uint8_t *src_rd, uint8_t *dst_wr)
{
	struct l7_worker *w = s->w;
	ssize_t n;

	for (;;) {
		if (p->rl.ops->kernel && p->rl.armed) {
			/* the body runs in the kernel: collect what it redirected */
			n = p->rl.ops->fill(&p->rl, src, 0);
			if (n < 0)
				return PUMP_E_SRC;      /* bytes past the framing, or no client */
			pump_kernel(s, p, n);
			if (p->rl.armed) {
				char c;

				/* the origin hung up inside the body: its FIN,
				 * passed to user space, reads as the end */
				if (*src_rd == 2 && recv(src, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
					return PUMP_E_SRC_EOF;
				return PUMP_WAIT;
			}
			continue;
		}
		/* nothing goes to dst before what the kernel sent it is in its
		 * send queue (the hand-back) */
		if (s->kpend && p == &s->resp && (buf_avail(&p->out) || p->rl.staged || !p->done) &&
		    !sess_kclear(s))
			return PUMP_WAIT;
		/* body bytes already read go out in the same write as what is
		 * queued before them (a small response: head and body at once);
		 * never while the pipe holds earlier bytes */
		if (!p->done && !p->rl.staged && buf_avail(in) && p->out.len < p->out.cap) {
			n = pump_take(p, in);
			if (n < 0)
				return PUMP_E_FRAMING;
			w->st.bytes_copy += n;
			/* checked before these bytes go out */
			if (p->limit && p->moved > p->limit)
				return PUMP_E_TOO_BIG;
		}
		if (buf_avail(&p->out)) {
			if (!*dst_wr)
				return PUMP_WAIT;
			n = send(dst, p->out.data + p->out.pos, buf_avail(&p->out), MSG_NOSIGNAL);
			if (n < 0) {
				if (errno != EAGAIN)
					return -errno;
				*dst_wr = 0;
				return PUMP_WAIT;
			}
			p->out.pos += n;
			if (p->out.pos == p->out.len)
				p->out.pos = p->out.len = 0;
			continue;
		}
		if (p->rl.staged) {
			if (!*dst_wr)
				return PUMP_WAIT;
			n = p->rl.ops->flush(&p->rl, dst);
			if (n < 0)
				return n;
			if (!n) {
				*dst_wr = 0;
				return PUMP_WAIT;
			}
			continue;
		}
		if (p->done)
			return PUMP_DONE;
		uint64_t raw = pump_raw(p);
		if (p->rl.ops->kernel && p->kind == H1_BODY_LENGTH && !buf_avail(in) &&
		    (raw >= (uint64_t)w->cfg->l7.splice_min || p->rl.pend)) {
			/* (bytes the engine peeked are taken out by it, never
			 * read again below) */
			/* everything before the run is in dst now: arm it. Not
			 * armed: user space was given bytes of it, which the
			 * engine reads (and flush writes) first */
			n = p->rl.ops->fill(&p->rl, src, raw > (1u << 30) ? (1u << 30) : raw);
			if (n < 0)
				return PUMP_E_SRC;
			if (p->rl.armed)
				continue;
			if (n > 0) {
				w->st.bytes_copy += n;
				pump_advance(p, n);
				continue;
			}
			if (p->rl.eof)
				return PUMP_E_SRC_EOF;
			if (p->rl.waiting) {
				*src_rd = 0;
				return PUMP_WAIT;
			}
		}
		if (!*src_rd)
			return PUMP_WAIT;
		if (p->limit && raw > p->limit - p->moved + 1)
			raw = p->limit - p->moved + 1;  /* one byte over is enough to know */
		if (raw && raw >= (uint64_t)w->cfg->l7.splice_min && !buf_avail(in) && !p->rl.ops->kernel) {
			n = p->rl.ops->fill(&p->rl, src, raw > (1u << 30) ? (1u << 30) : raw);
			if (n == -EBUSY || n == -EMFILE || n == -ENFILE) {
				/* no pipe to be had: this body is copied instead */
				p->rl.ops->release(&p->rl);
				p->rl.ops = &relay_copy_ops;
				continue;
			}
			if (n < 0)
				return PUMP_E_SRC;
			if (n == 0) {
				if (!p->rl.eof) {
					*src_rd = 0;
					return PUMP_WAIT;
				}
				if (p->kind != H1_BODY_CLOSE)
					return PUMP_E_SRC_EOF;
				p->done = 1;
				continue;
			}
			if (p->rl.ops == &relay_splice_ops)
				w->st.bytes_splice += n;
			else
				w->st.bytes_copy += n;
			if (p == &s->resp && s->up)
				s->up->got += n;
			pump_advance(p, n);
			if (p->limit && p->moved > p->limit)
				return PUMP_E_TOO_BIG;
			continue;
		}
		buf_compact(in);
		if (in->len == in->cap)
			return PUMP_E_FRAMING;  /* a chunk line longer than a buffer */
		n = read(src, in->data + in->len, in->cap - in->len);
		if (n < 0) {
			if (errno != EAGAIN)
				return PUMP_E_SRC;
			*src_rd = 0;
			return PUMP_WAIT;
		}
		/* a short read drained the socket: edge-triggered epoll reports
		 * every later arrival, so skip the read that would say EAGAIN */
		if ((uint32_t)n < in->cap - in->len && *src_rd == 1)
			*src_rd = 0;
		if (p == &s->resp && s->up)
			s->up->got += n;
		if (n == 0) {
			if (p->kind != H1_BODY_CLOSE)
				return PUMP_E_SRC_EOF;
			p->done = 1;
			continue;
		}
		in->len += n;
	}
}

/* ---- the exchange ------------------------------------------------------ */

static void sess_release_up(struct sess *s, int reuse)
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
 * go, on the worker's next turn (l7_qos_dispatch), never from inside
 * another session's code. */
static void sess_unflight(struct sess *s)
{
	struct l7_worker *w = s->w;

	if (s->inflight_node >= 0) {
		w->inflight[s->inflight_node]--;
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

/* Takes a connection to node N for the current request and queues the
 * request head on it. Returns 0, or answers the client and returns -1. */
static int sess_connect(struct sess *s, int n, int fresh)
{
	struct l7_worker *w = s->w;
	int err = 0;

	s->node = n;
	s->kprearmed = 0;       /* a new upstream: its response may be armed */
	if (s->inflight_node >= 0)
		w->inflight[s->inflight_node]--;
	w->inflight[n]++;
	s->inflight_node = n;
	s->up = upool_get(w, n, s, fresh, &err);
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

/* The group's policy picks the node; none usable: 503. */
static void sess_dispatch(struct sess *s)
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

void l7_requeue(struct sess *s)
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
	sess_dispatch(s);
	sess_run(s);
}

void l7_qos_dispatch(struct l7_worker *w)
{
	struct qos_waiter *qw;

	/* qos_next counts the request in flight before it is resumed */
	while ((qw = qos_next(&w->qos, w->loop.now_ms))) {
		struct sess *s = sess_of_waiter(qw);

		s->admitted = 1;
		s->qgen = w->gen;
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
	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", qos_retry_after(&s->w->qos, s->cls));
	sess_local(s, 503, extra);
	sess_run(s);
}

/* Parses the request head in cin and starts the exchange. */
static void sess_begin(struct sess *s, struct h1_msg *m, int hlen)
{
	struct l7_worker *w = s->w;
	struct cfg *c = w->cfg;
	int rule;

	s->client_minor = m->minor;
	s->head_req = !!(m->flags & H1_F_HEAD);
	if (m->minor == 0)
		s->keepalive = !!(m->flags & H1_F_CONN_KEEPALIVE) && !(m->flags & H1_F_CONN_CLOSE);
	else
		s->keepalive = !(m->flags & H1_F_CONN_CLOSE);
	if (w->proc->draining)
		s->keepalive = 0;
	s->connect_req = !!(m->flags & H1_F_CONNECT);
	s->upgrade = (m->flags & H1_F_UPGRADE) && (m->flags & H1_F_CONN_UPGRADE) && m->minor == 1;
	s->retry_ok = h1_method_idempotent(m->method) && m->body == H1_BODY_NONE && !s->upgrade &&
		      !(m->flags & H1_F_CONNECT);
	s->retried = 0;
	s->resp_started = 0;
	s->resp_head_done = 0;
	s->up_close = 0;
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
	pump_reset(&s->req);
	pump_reset(&s->resp);
	relay_init(&s->req.rl, w->engine, &w->pipes);
	relay_init(&s->resp.rl, w->engine, &w->pipes);
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
	pump_frame(&s->req, (m->flags & H1_F_CONNECT) ? H1_BODY_NONE : m->body, m->content_length);
	s->req.limit = c->l7.client_max_body;
	s->cin.pos += hlen;
	if (s->cin.pos == s->cin.len)
		s->cin.pos = s->cin.len = 0;
	rule = lb_route(w, m, &s->group, &s->cls);
	w->st.rule_hits[rule < 0 ? CFG_MAX_RULES : rule]++;
	w->st.group_req[s->group]++;
	s->key = lb_key_msg(m);
	s->qgen = w->gen;
	if (qos_admit(&w->qos, s->cls, &s->qw, w->loop.now_ms)) {
		/* over a limit: wait in the class queue; qos_expire answers
		 * 503 at its deadline, the sweep leaves it alone */
		s->st = SS_QUEUED;
		s->deadline = 0;
		return;
	}
	s->admitted = 1;
	sess_dispatch(s);
}

/* Every byte of the response reached the client: account, give the
 * upstream back if it is clean, and go on with the next request. */
static void sess_finish(struct sess *s)
{
	struct l7_worker *w = s->w;
	int reuse;

	reuse = s->up && !s->up_close && s->up->rd != 2 && s->req.done && !s->req.tunnel &&
		s->resp.kind != H1_BODY_CLOSE && !buf_avail(&s->uin) &&
		!s->req.rl.staged && !s->resp.rl.staged &&
		(!w->sm || relay_sm_clean(w->sm, s->up->sm_idx, s->up->got));
	if (s->up)
		s->up->requests++;
	if (w->sm && s->resp.kind == H1_BODY_CHUNKED)
		sess_kbig_note(s, s->resp.moved >= (uint64_t)w->cfg->l7.kernel_min);
	sess_release_up(s, reuse);
	sess_unflight(s);
	s->req.rl.ops->release(&s->req.rl);
	s->resp.rl.ops->release(&s->resp.rl);
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
	s->deadline = w->loop.now_ms + (s->kpend ? w->cfg->l7.server_timeout
						 : w->cfg->l7.keepalive_timeout);
}

static int code_class(int status)
{
	int k = status / 100 - 1;
	return k < 0 ? 0 : k > 4 ? 4 : k;
}

/* Remembers whether the current target's response was big (see kbig). */
static void sess_kbig_note(struct sess *s, int big)
{
	uint64_t *k = &s->w->kbig[s->key % L7_KBIG];

	if (big)
		*k = s->key;
	else if (*k == s->key)
		*k = 0;
}

/* Head mode (sess_prearm): has the program taken the response? Returns 1
 * when it did (the whole response runs in the kernel, as a body of head
 * plus Content-Length bytes), 0 when user space is to read the head (or
 * wait for it), -1 when the session was closed. */
static int sess_kernel_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct relay *rl = &s->resp.rl;
	ssize_t n = rl->ops->fill(rl, s->up->io.fd, 0);

	if (n < 0) {
		sess_abort(s, "the kernel could not send the response to the client");
		return -1;
	}
	if (rl->khead)
		return 0;       /* nothing yet: a read finds EAGAIN, or what was passed */
	if (!rl->arm_len) {
		/* the head failed a check and was passed to user space */
		rl->ops->release(rl);
		relay_init(rl, w->engine, &w->pipes);
		return 0;
	}
	s->resp_started = 1;
	s->resp_head_done = 1;
	lb_report(w, s->node, 1);
	s->up_close = 0;        /* the program took only "Connection: keep-alive" */
	w->st.requests[s->node][code_class(rl->kstatus)]++;
	if (rl->kchunked) {
		pump_frame(&s->resp, H1_BODY_CHUNKED, 0);
	} else {
		pump_frame(&s->resp, H1_BODY_LENGTH, rl->arm_len);
		sess_kbig_note(s, 1);
	}
	pump_kernel(s, &s->resp, n);
	return 1;
}

/* Before the request goes out on the upstream: arms its response in head
 * mode when the whole of it may run in the kernel (the program checks the
 * head): a GET-like request of a keep-alive HTTP/1.1 client, with nothing
 * of an earlier response still on its way to the client, for a target
 * whose last response was big enough (arming costs three syscalls, and a
 * small response gains nothing from the kernel: kbig). */
static void sess_prearm(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct upconn *u = s->up;
	struct relay *rl = &s->resp.rl;

	s->kprearmed = 1;
	if (!w->sm || w->kbig[s->key % L7_KBIG] != s->key ||
	    s->sm_idx < 0 || u->sm_idx < 0 || s->req.kind != H1_BODY_NONE ||
	    s->head_req || s->connect_req || s->upgrade || !s->keepalive || s->client_minor != 1 ||
	    s->kpend || buf_avail(&s->resp.out))
		return;
	rl->ops->release(rl);
	relay_init(rl, &relay_sockmap_ops, &w->pipes);
	relay_sm_bind(rl, w->sm, u->sm_idx, s->sm_idx, s->io.fd, &u->got);
	if (!relay_sm_prearm(rl, w->cfg->l7.kernel_min))
		relay_init(rl, w->engine, &w->pipes);
}

/* Reads and parses the response head; forwards interim responses. Returns
 * 1 when the final head is queued for the client, 0 to wait, -1 when the
 * session was answered or closed. */
static int sess_response_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct upconn *u = s->up;
	struct h1_msg *m = &w->msg;
	ssize_t n;
	int r;

	if (s->resp.rl.khead) {
		r = sess_kernel_head(s);
		if (r)
			return r;
	}
	for (;;) {
		if (buf_avail(&s->uin)) {
			m->max_hdrs = 0;
			r = h1_parse_response(m, s->uin.data + s->uin.pos, buf_avail(&s->uin), s->head_req);
			if (r > 0)
				break;
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
		if (!u->rd)
			return 0;
		buf_compact(&s->uin);
		n = read(u->io.fd, s->uin.data + s->uin.len, s->uin.cap - s->uin.len);
		if (n >= 0 && s->resp.rl.khead) {
			/* the program passed the head (or the end of stream) to
			 * user space: the arming is over, read it here */
			relay_sm_disarm(&s->resp.rl);
			s->resp.rl.ops->release(&s->resp.rl);
			relay_init(&s->resp.rl, w->engine, &w->pipes);
		}
		if (n > 0) {
			if ((uint32_t)n < s->uin.cap - s->uin.len && u->rd == 1)
				u->rd = 0;      /* drained: see pump_run */
			s->uin.len += n;
			u->got += n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			u->rd = 0;
			return 0;
		}
		if (buf_avail(&s->uin) || s->resp_started) {
			/* closed inside a head, or after an interim response */
			w->st.upstream_fail[s->node]++;
			sess_local(s, 502, NULL);
			return -1;
		}
		sess_upstream_failed(s, n ? strerror(errno) : "closed before responding");
		return -1;
	}
	/* r: head length */
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
	w->st.requests[s->node][code_class(m->status)]++;
	if ((m->status == 101 && s->upgrade) ||
	    (s->connect_req && m->status >= 200 && m->status < 300)) {
		pump_frame(&s->resp, H1_BODY_CLOSE, 0);
		s->resp.tunnel = 1;
		if (sess_write_response(s, m, &s->resp.out)) {
			sess_local(s, 502, NULL);
			return -1;
		}
		s->uin.pos += r;
		/* the client side becomes a raw stream too */
		pump_frame(&s->req, H1_BODY_CLOSE, 0);
		s->req.tunnel = 1;
		s->keepalive = 0;
		return 1;
	}
	if (m->body == H1_BODY_CLOSE)
		s->keepalive = 0;
	pump_frame(&s->resp, m->body, m->content_length);
	if (w->sm && m->body != H1_BODY_CHUNKED)    /* chunked: in sess_finish */
		sess_kbig_note(s, m->body == H1_BODY_LENGTH &&
			       m->content_length >= (uint64_t)w->cfg->l7.kernel_min && !s->head_req);
	if (w->sm && m->body == H1_BODY_LENGTH && s->sm_idx >= 0 && u->sm_idx >= 0) {
		/* a Content-Length body may run in the kernel; chunked and
		 * close-delimited ones are read and written here (copy: a
		 * socket in the map cannot be spliced from). Arming chunk by
		 * chunk gains nothing for nginx's 32 KiB chunks: they have
		 * arrived whole by the time their size line is parsed */
		s->resp.rl.ops->release(&s->resp.rl);
		relay_init(&s->resp.rl, &relay_sockmap_ops, &w->pipes);
		relay_sm_bind(&s->resp.rl, w->sm, u->sm_idx, s->sm_idx, s->io.fd, &u->got);
	}
	if (sess_write_response(s, m, &s->resp.out)) {
		sess_local(s, 502, NULL);
		return -1;
	}
	s->uin.pos += r;
	return 1;
}

/* The connection to the web server is ready, or failed. */
static void sess_connected(struct sess *s)
{
	struct upconn *u = s->up;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		sess_upstream_failed(s, strerror(err ? err : errno));
		return;
	}
	u->connecting = 0;
	if (s->w->sm && u->sm_idx < 0) {
		/* into the map before the request goes out, so that the
		 * program sees every byte of every response from the first */
		int i = relay_sm_add(s->w->sm, u->io.fd, 1);
		u->sm_idx = i < 0 ? -1 : i;
		relay_sm_set_ctx(s->w->sm, i, u);       /* its ring events wake u's session */
	}
	s->st = SS_EXCHANGE;
	s->deadline = s->w->loop.now_ms + s->w->cfg->l7.server_timeout;
}

static void sess_abort(struct sess *s, const char *why)
{
	log_debug("exchange aborted: %s", why);
	s->w->st.aborted++;
	sess_close(s);
}

/* Drives the request body up and the response down, as far as the sockets
 * allow. Leaves the session in SS_EXCHANGE when waiting, or moves it on
 * (next request, closing, retrying, dead). */
static void sess_exchange(struct sess *s)
{
	struct upconn *u = s->up;
	int r;

	if (!s->kprearmed)
		sess_prearm(s);
	if (s->req.active && !(s->req.done && !buf_avail(&s->req.out) && !s->req.rl.staged)) {
		r = pump_run(s, &s->req, s->io.fd, u->io.fd, &s->cin, &s->crd, &u->wr);
		if (r == PUMP_E_TOO_BIG) {
			/* a chunked body past client_max_body: the server gets a
			 * cut request (its connection is closed), never a whole
			 * one, and the client its 413 */
			sess_local(s, 413, NULL);
			return;
		}
		if (r == PUMP_E_FRAMING) {
			s->w->st.parse_err[s->req.ch.err]++;
			sess_local(s, 400, NULL);
			return;
		}
		if (r == PUMP_E_SRC_EOF || r == PUMP_E_SRC) {
			if (!s->req.tunnel) {
				sess_abort(s, "client closed inside its request body");
				return;
			}
			/* the client ended its side of a tunnel */
			shutdown(u->io.fd, SHUT_WR);
			s->req.active = 0;
		} else if (r < 0) {
			if (!s->resp_started && !s->req.moved) {
				sess_upstream_failed(s, strerror(-r));
				return;
			}
			/* the server stopped reading: its answer, if any, says why */
			s->req.active = 0;
		}
	}
	if (!s->resp_head_done) {
		r = sess_response_head(s);
		if (r < 0)
			return;
		if (r == 0) {
			/* interim responses (100 Continue) go out at once */
			if (buf_avail(&s->resp.out) && s->cwr) {
				ssize_t n = send(s->io.fd, s->resp.out.data + s->resp.out.pos,
						 buf_avail(&s->resp.out), MSG_NOSIGNAL);
				if (n > 0)
					s->resp.out.pos += n;
				else if (n < 0 && errno == EAGAIN)
					s->cwr = 0;
			}
			return;
		}
	}
	r = pump_run(s, &s->resp, u->io.fd, s->io.fd, &s->uin, &u->rd, &s->cwr);
	if (r == PUMP_WAIT)
		return;
	if (r < 0) {
		log_debug("response pump ended with %d", r);
		if (r == PUMP_E_SRC_EOF || r == PUMP_E_FRAMING || r == PUMP_E_SRC)
			s->w->st.upstream_fail[s->node]++;
		sess_abort(s, r == PUMP_E_SRC_EOF ? "server closed inside the response body"
			      : r == PUMP_E_FRAMING ? "bad chunked framing from the server"
			      : "client gone");
		return;
	}
	/* every byte of the response was delivered */
	if (s->resp.tunnel) {
		/* the server ended its side of the tunnel: end the client's */
		if (s->req.active && !s->req.done)
			shutdown(s->io.fd, SHUT_WR);
		s->req.done = 1;
		s->keepalive = 0;
	}
	if (!s->req.done || buf_avail(&s->req.out) || s->req.rl.staged) {
		/* answered before the request body was all sent: the upstream
		 * cannot be reused, and neither can the client connection */
		s->req.done = 0;
		s->keepalive = 0;
	}
	sess_finish(s);
}

/* ---- bodies in the kernel ---------------------------------------------- */

/* Keeps S on its worker's list of sessions with an armed redirect exactly
 * while it has one, or waits for the kernel. An armed session is woken by
 * the ring when the program ends its arming (l7_sm_wake) and by its
 * sockets; one that waits for what nothing announces (the client's queue to
 * take redirected bytes, an origin to stop sending) is polled every 100 us:
 * sm_tick (l7_sm_poll). */
static void sess_sm_track(struct sess *s)
{
	struct l7_worker *w = s->w;
	int live = s->st != SS_DEAD && s->resp.rl.ops;
	int tick = live && (s->resp.rl.waiting || s->kwait);
	int want = tick || (live && s->resp.rl.armed);

	if (tick != s->sm_tick) {
		w->sm_nticks += tick ? 1 : -1;
		s->sm_tick = tick;
	}
	if (want == s->sm_listed)
		return;
	if (want) {
		s->smprev = NULL;
		s->smnext = w->sm_armed;
		if (w->sm_armed)
			w->sm_armed->smprev = s;
		w->sm_armed = s;
	} else {
		if (s->smprev)
			s->smprev->smnext = s->smnext;
		else
			w->sm_armed = s->smnext;
		if (s->smnext)
			s->smnext->smprev = s->smprev;
		s->smnext = s->smprev = NULL;
	}
	s->sm_listed = want;
}

void l7_sm_poll(struct l7_worker *w)
{
	struct sess *s, *next;

	for (s = w->sm_armed; s; s = next) {
		next = s->smnext;
		if (s->sm_tick)
			sess_run(s);
	}
}

void l7_sm_wake(void *ctx, void *arg)
{
	struct upconn *u = ctx;

	if (u->owner && u->owner->st == SS_EXCHANGE && u->owner->up == u)
		sess_run(u->owner);
}

/* ---- the client side ---------------------------------------------------- */

/* Closes the session's sockets and gives back what it holds. Its memory is
 * freed after the current batch of events (l7_reap), which may still hold an
 * event for it. */
static void sess_close(struct sess *s)
{
	struct l7_worker *w = s->w;

	if (s->st == SS_DEAD)
		return;
	if (s->st == SS_QUEUED)
		qos_cancel(&w->qos, &s->qw);
	sess_unflight(s);

	if (s->up) {
		upconn_close(w, s->up);
		s->up = NULL;
	}
	if (s->req.rl.ops)
		s->req.rl.ops->release(&s->req.rl);
	if (s->resp.rl.ops)
		s->resp.rl.ops->release(&s->resp.rl);
	s->kpend = s->kwait = 0;
	sess_sm_track(s);
	if (s->sm_idx >= 0)
		relay_sm_del(w->sm, s->sm_idx);
	l7_buf_put(w, &s->cin);
	l7_buf_put(w, &s->uin);
	l7_buf_put(w, &s->req.out);
	l7_buf_put(w, &s->resp.out);
	ev_del(&w->loop, &s->io);
	close(s->io.fd);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->st.clients--;
	__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
	s->st = SS_DEAD;
	s->next = w->dead_sess;
	w->dead_sess = s;
}

void l7_reap(struct l7_worker *w)
{
	while (w->dead_sess) {
		struct sess *s = w->dead_sess;
		w->dead_sess = s->next;
		free(s);
	}
	while (w->dead_up) {
		struct upconn *u = w->dead_up;
		w->dead_up = u->next;
		free(u);
	}
}

/* Reads a request head. Returns 1 when one was parsed and started, 0 to
 * wait, -1 when the session was answered or closed. */
static int sess_read_head(struct sess *s)
{
	struct l7_worker *w = s->w;
	struct cfg *c = w->cfg;
	struct h1_msg *m = &w->msg;
	ssize_t n;
	int r;

	for (;;) {
		if (buf_avail(&s->cin)) {
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
		}
		if (!s->crd)
			return 0;
		if (l7_buf_get(w, &s->cin)) {
			sess_close(s);
			return -1;
		}
		buf_compact(&s->cin);
		n = read(s->io.fd, s->cin.data + s->cin.len, s->cin.cap - s->cin.len);
		if (n > 0) {
			if ((uint32_t)n < s->cin.cap - s->cin.len && s->crd == 1)
				s->crd = 0;     /* drained: see pump_run */
			if (!buf_avail(&s->cin)) {
				s->req_hdr_seen = 1;
				s->deadline = w->loop.now_ms + c->l7.client_header_timeout;
			}
			s->cin.len += n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			s->crd = 0;
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
 * flight (the "lingering close" problem). */
static void sess_closing(struct sess *s)
{
	char sink[4096];
	ssize_t n;

	/* closing or shutting down would cut off the kernel's bytes */
	if (!sess_kclear(s)) {
		sess_sm_track(s);
		return;
	}
	sess_sm_track(s);

	while (buf_avail(&s->resp.out)) {
		if (!s->cwr)
			return;
		n = send(s->io.fd, s->resp.out.data + s->resp.out.pos, buf_avail(&s->resp.out), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN) {
				s->cwr = 0;
				return;
			}
			sess_close(s);
			return;
		}
		s->resp.out.pos += n;
	}
	if (!s->lingering) {
		shutdown(s->io.fd, SHUT_WR);
		s->lingering = 1;
		s->deadline = s->w->loop.now_ms + 2000;
	}
	for (int i = 0; i < 16; i++) {
		n = read(s->io.fd, sink, sizeof(sink));
		if (n < 0 && errno == EAGAIN) {
			s->crd = 0;
			return;
		}
		if (n <= 0)
			break;
	}
	sess_close(s);
}

static void sess_run(struct sess *s)
{
	for (int guard = 0; guard < 1000; guard++) {
		switch (s->st) {
		case SS_IDLE:
			/* a next request (or the end) waits until the last
			 * response's kernel bytes are in the client's queue */
			if (s->kpend && (s->crd || buf_avail(&s->cin)) && !sess_kclear(s)) {
				sess_sm_track(s);
				return;
			}
			sess_sm_track(s);
			/* -1: answered (now CLOSING) or closed (DEAD): go on */
			if (sess_read_head(s) == 0)
				return;
			break;
		case SS_CONNECT:
			if (!s->up->wr && !s->up->rd)
				return;
			sess_connected(s);
			break;
		case SS_EXCHANGE: {
			uint32_t nreq = s->nreq;
			struct upconn *u = s->up;
			uint8_t polled = s->sm_listed;
			uint64_t moved = s->resp.moved + s->req.moved;

			sess_exchange(s);
			if (s->st == SS_EXCHANGE && s->nreq == nreq && s->up == u) {
				/* a body in the kernel is looked at without an
				 * event of its own: only progress holds its
				 * deadline off (a stuck client or origin) */
				if (!polled || !s->sm_listed || moved != s->resp.moved + s->req.moved)
					s->deadline = s->w->loop.now_ms + s->w->cfg->l7.server_timeout;
				sess_sm_track(s);
				return;
			}
			sess_sm_track(s);
			break;
		}
		case SS_CLOSING:
			sess_closing(s);
			return;
		case SS_QUEUED:
		case SS_DEAD:
			return;
		}
	}
}

/* Read readiness: 1 data may be there, 2 the peer also hung up (sticky:
 * a short read then does not mean drained, the end of stream is still to
 * be read and no further edge will announce it). */
static uint8_t rd_flag(uint8_t rd, uint32_t events)
{
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		return 2;
	if (events & EPOLLIN)
		return rd ? rd : 1;
	return rd;
}

static void sess_event(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct sess *s = (struct sess *)io;

	if (s->st == SS_DEAD)
		return;         /* closed earlier in this batch of events */
	if (s->st == SS_QUEUED && (events & (EPOLLHUP | EPOLLERR))) {
		/* reset while its request waits: nobody is left to answer
		 * (a half-close, EPOLLRDHUP alone, still wants the response) */
		sess_close(s);
		return;
	}
	s->crd = rd_flag(s->crd, events);
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->cwr = 1;
	if ((events & (EPOLLHUP | EPOLLERR)) && (s->resp.rl.armed || s->kpend)) {
		/* the kernel would drop the rest: no write would tell us */
		sess_abort(s, "client gone while its body ran in the kernel");
		return;
	}
	sess_run(s);
}

void sess_upstream_event(struct upconn *u, uint32_t events)
{
	u->rd = rd_flag(u->rd, events);
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		u->wr = 1;
	sess_run(u->owner);
}

void sess_accept(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct l7_worker *w = (struct l7_worker *)((char *)io - offsetof(struct l7_worker, lsn));
	struct cfg *c = w->cfg;
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
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept4() failed: %s, retried on the next event", strerror(errno));
			return;
		}
		if (__atomic_add_fetch(&w->proc->clients, 1, __ATOMIC_RELAXED) > c->l7.max_clients) {
			__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
			w->st.local[503]++;
			close(fd);
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
			close(fd);
			continue;
		}
		sock_tune(fd);
		s->sm_idx = -1;
		if (w->sm) {
			/* into the map before anything is read from it */
			int i = relay_sm_add(w->sm, fd, 0);
			s->sm_idx = i < 0 ? -1 : i;
		}
		s->io.fd = fd;
		s->io.cb = sess_event;
		s->w = w;
		s->st = SS_IDLE;
		s->crd = 1;     /* the request often arrives with the handshake */
		s->cwr = 1;
		s->node = -1;
		s->inflight_node = -1;
		s->cls = -1;
		s->qw.cls = -1;
		s->deadline = w->loop.now_ms + c->l7.client_header_timeout;
		sock_addr_text(&ss, s->peer, sizeof(s->peer));
		if (ev_add(&w->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
			__atomic_fetch_sub(&w->proc->clients, 1, __ATOMIC_RELAXED);
			close(fd);
			free(s);
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

/* Where the client is with the kernel's bytes: 2 it has all of them in its
 * queue (kpend ends), 1 it took more since the last look, 0 it did not. */
static int sess_kprogress(struct sess *s)
{
	uint64_t seen = s->kseen;

	if (relay_sm_written(s->io.fd, &s->kseen))
		return 0;
	if (s->kseen >= s->ktarget) {
		s->kpend = s->kwait = 0;
		sess_sm_track(s);
		return 2;
	}
	return s->kseen != seen;
}

void sess_sweep(struct l7_worker *w)
{
	uint64_t now = w->loop.now_ms;
	struct sess *s, *next;

	if (now - w->last_sweep < SWEEP_MS)
		return;
	w->last_sweep = now;
	qos_expire(&w->qos, now, sess_refuse, NULL);
	for (s = w->sessions; s; s = next) {
		next = s->next;
		if (s->kpend && (s->st == SS_IDLE || s->st == SS_CLOSING)) {
			/* the last response is still on its way to the client:
			 * server_timeout without progress cuts it off, as it
			 * would a body user space relays (the psock queue has
			 * no bound of its own), so progress is looked at on
			 * every sweep */
			int k = sess_kprogress(s);

			if (k == 1)
				s->deadline = now + w->cfg->l7.server_timeout;
			else if (k == 2)
				s->deadline = now + (s->st != SS_IDLE ? 5000 : s->drain_seen ? 1000
						     : w->cfg->l7.keepalive_timeout);
		}
		if (!s->deadline || now < s->deadline || s->st == SS_DEAD)
			continue;
		if (s->st == SS_EXCHANGE && s->resp.rl.armed) {
			/* nothing reports a body's progress in the kernel
			 * before its end: look now (progress moves the
			 * deadline) */
			sess_run(s);
			if (s->st == SS_DEAD || !s->deadline || now < s->deadline)
				continue;
		}
		switch (s->st) {
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
		case SS_QUEUED:         /* no deadline: qos_expire above */
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
	upool_sweep(w);
}

int sess_drain(struct l7_worker *w)
{
	struct sess *s, *next;
	int n = 0;

	for (s = w->sessions; s; s = next) {
		next = s->next;
		if (s->st == SS_IDLE && !buf_avail(&s->cin) && !s->drain_seen) {
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
		if (!s->resp_head_done && s->st != SS_IDLE)
			s->keepalive = 0;
		n++;
	}
	return n;
}

void sess_close_all(struct l7_worker *w)
{
	while (w->sessions)
		sess_close(w->sessions);
	for (int n = 0; n < CFG_MAX_NODES; n++)
		while (w->pool[n].head)
			upconn_close(w, w->pool[n].head);
}
