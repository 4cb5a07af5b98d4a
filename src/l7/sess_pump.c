/* sess_pump: one direction of an exchange, request body up or response
 * down: its framing (Content-Length, chunked, until close, a tunnel) and the
 * relay engine that moves its raw runs. Bytes already read into the
 * session's buffer go out first, in the same write as what is queued
 * before them; a long raw run is the engine's (fill, flush); a run the
 * kernel owns reports its progress through the engine. The engine never
 * shows through: a kernel engine's hand-off (the client held until its
 * queue has every redirected byte) is asked of relay_sock_clear. */
#include <errno.h>

#include "conn.h"
#include "h1.h"
#include "l7-t.h"
#include "relay.h"
#include "sess.h"

void sess_pump_reset(struct pump *p)
{
	p->limit = 0;
	p->kind = H1_BODY_NONE;
	p->remaining = 0;
	p->active = 0;
	p->done = 0;
	p->tunnel = 0;
	p->moved = 0;
}

void sess_pump_frame(struct pump *p, enum h1_body kind, uint64_t len)
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

void sess_pump_kernel(struct pump *p, ssize_t n)
{
	int framed = relay_framed(&p->rl);

	if (framed)
		p->moved += n;  /* framing and data alike: the engine frames */
	else
		pump_advance(p, n);
	if (!relay_ended(&p->rl))
		return;
	/* the run ended; a framed body ended in the kernel, or the engine
	 * stopped before framing it does not follow: the decoder goes on
	 * from there */
	relay_resume(&p->rl, &p->ch);
	if (framed)
		p->done = h1_chunk_done(&p->ch);
}

/* A run the kernel owns: collects its progress. Returns 1 to go on (the
 * run ended), PUMP_WAIT, or PUMP_E_*. */
static int pump_owned(struct pump *p)
{
	ssize_t n = relay_fill(&p->rl, 0);

	if (n < 0)
		return n == -EPIPE ? PUMP_E_SRC_EOF : n == -EPROTO ? PUMP_E_EXTRA : PUMP_E_SRC;
	sess_pump_kernel(p, n);
	return relay_owned(&p->rl) ? PUMP_WAIT : 1;
}

/* One fill of at most MAX raw bytes by the engine; the framing moves on by
 * what it took unless the kernel owns the run now. Returns the bytes taken
 * (0: none now), or PUMP_E_*. */
static ssize_t pump_fill(struct pump *p, uint64_t max)
{
	ssize_t n = relay_fill(&p->rl, max > (1u << 30) ? (1u << 30) : max);

	if (n < 0)
		return n == -EPIPE ? PUMP_E_SRC_EOF : PUMP_E_SRC;
	if (n > 0 && !relay_owned(&p->rl)) {
		pump_advance(p, n);
		if (p->limit && p->moved > p->limit)
			return PUMP_E_TOO_BIG;
	}
	return n;
}

/* A raw run of RAW bytes the engine takes. Returns 1 to go on, PUMP_WAIT,
 * or PUMP_E_*. */
static int pump_engine(struct pump *p, uint64_t raw)
{
	ssize_t n = pump_fill(p, raw);

	if (n < 0)
		return n;
	if (n > 0 || relay_owned(&p->rl))
		return 1;
	if (!p->rl.eof)
		return PUMP_WAIT;
	if (p->kind != H1_BODY_CLOSE)
		return PUMP_E_SRC_EOF;
	p->done = 1;
	return 1;
}

/* Reads framing (or a short run) from SRC into IN. Returns 1 to go on,
 * PUMP_WAIT, or PUMP_E_*. */
static int pump_read(struct pump *p, struct conn *src, struct buf *in)
{
	ssize_t n = conn_read(src, in);

	if (n == -ENOBUFS)
		return PUMP_E_FRAMING;  /* a chunk line longer than a buffer */
	if (n < 0)
		return PUMP_E_SRC;
	if (n > 0)
		return 1;
	if (!src->eof)
		return PUMP_WAIT;
	if (p->kind != H1_BODY_CLOSE)
		return PUMP_E_SRC_EOF;
	p->done = 1;
	return 1;
}

/* pump_raw, cut one byte past the body limit: enough to know. */
static uint64_t pump_raw_capped(const struct pump *p)
{
	uint64_t raw = pump_raw(p);

	if (p->limit && raw > p->limit - p->moved + 1)
		raw = p->limit - p->moved + 1;
	return raw;
}

/* While dst is full: one more fill of the raw run into the engine's free
 * space (a pipe, a copy buffer), in order behind what it holds. Never the
 * run's last byte, and an end of src is left for the next fill to see: the
 * run ends (p->done) only in the loop below, once nothing is staged, since
 * the session takes a done body for a delivered one. Returns 0 or
 * PUMP_E_*. */
static int pump_topup(struct pump *p)
{
	uint64_t raw = pump_raw_capped(p);
	ssize_t n;

	if (raw < 2 || !relay_takes(&p->rl, raw) || p->rl.ops->kernel)
		return 0;
	n = pump_fill(p, raw - 1);
	return n < 0 ? n : 0;
}

int sess_pump_run(struct sess *s, struct pump *p, struct conn *src, struct conn *dst, struct buf *in)
{
	struct l7_worker *w = s->w;
	size_t sent = 0;        /* written to dst in this turn */
	ssize_t n;
	int r;

	for (;;) {
		if (sent >= SESS_TURN && (p->kind != H1_BODY_LENGTH || p->remaining > SESS_TURN)) {
			/* dst and src may both still be ready, and no edge
			 * would say so again: the session runs again after
			 * the others of this batch. The last turn or less of
			 * a Content-Length body goes now (a 256 KiB body
			 * yields nothing); chunked and close-delimited bodies
			 * and tunnels do not say how much is left. */
			sess_yield(s);
			return PUMP_WAIT;
		}
		if (relay_owned(&p->rl)) {
			r = pump_owned(p);
			if (r <= 0)
				return r;
			continue;
		}
		/* nothing goes to dst before what the kernel sent it is in its
		 * send queue (the hand-back) */
		if (p == &s->resp && relay_sock_held(&s->ce) &&
		    (buf_avail(&p->out) || relay_staged(&p->rl) || !p->done) &&
		    !relay_sock_clear(&w->rl, &s->ce, dst))
			return PUMP_WAIT;
		/* body bytes already read go out in the same write as what is
		 * queued before them (a small response: head and body at once);
		 * never while the engine holds earlier bytes */
		if (!p->done && !relay_staged(&p->rl) && buf_avail(in) && p->out.len < p->out.cap) {
			n = pump_take(p, in);
			if (n < 0)
				return PUMP_E_FRAMING;
			relay_count(&w->rl, n);
			/* checked before these bytes go out */
			if (p->limit && p->moved > p->limit)
				return PUMP_E_TOO_BIG;
		}
		if (buf_avail(&p->out)) {
			n = conn_send_buf(dst, &p->out);
			if (n < 0)
				return n;
			sent += n;
			if (buf_avail(&p->out))
				return PUMP_WAIT;
			continue;
		}
		if (relay_staged(&p->rl)) {
			n = relay_flush(&p->rl);
			if (n < 0)
				return n;
			sent += n;
			if (n)
				continue;
			/* dst is full: the engine's free space takes more of src
			 * meanwhile, so the origin is not held to the client's
			 * pace one pipe at a time */
			r = p->done || buf_avail(in) ? 0 : pump_topup(p);
			return r < 0 ? r : PUMP_WAIT;
		}
		if (p->done)
			return PUMP_DONE;
		uint64_t raw = pump_raw_capped(p);

		if (!buf_avail(in) && relay_takes(&p->rl, raw))
			r = pump_engine(p, raw);
		else
			r = pump_read(p, src, in);
		if (r <= 0)
			return r;
	}
}
