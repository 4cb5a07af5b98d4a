/* relay_sockmap: the engine whose response bodies never reach user space.
 * Each worker loads src/bpf/relay_sockmap.bpf.c into a sockmap of its own;
 * every client socket enters it right after accept and every backend socket
 * right after connect, before a byte is read from either, and both stay in
 * until they are closed. User space reads what the verdict program passes to
 * it (heads, chunked bodies) with read(2) as usual: the kernel serves those
 * reads from the socket's psock queue.
 *
 * One Content-Length body run is one arming: when user space has written
 * everything that precedes the run to the client (head, body bytes that came
 * with it) and has read every byte the program passed to it (so the run
 * starts exactly at the program's stream offset), it writes the range and a
 * new generation into the backend's slot. The program redirects the run's
 * skbs to the client's egress, then passes everything after it to user space
 * again. Redirected skbs reach the client socket later, from the psock
 * backlog worker, so the engine counts the arming complete (hand-back) only
 * when the client socket's written-byte count (TCP_INFO bytes_acked plus
 * SIOCOUTQ) has grown by the armed length since the arming: before that the
 * session writes nothing to the client and reuses nothing. The whole
 * argument, and the kernel behaviour it rests on: doc/internals/sockmap.md.
 *
 * The relay_ops contract: fill arms (or reports bytes redirected since the
 * last call), flush writes what catching up copied; the engine owns the
 * hand-off: which bodies and heads it takes (frame, offer, head), where its
 * chunk framing ended (resume), and the hold on a client socket until its
 * queue has every redirected byte (clear, progress). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conn.h"
#include "ev.h"
#include "h1.h"
#include "log.h"
#include "relay.h"
#include "relay_sockmap_abi.h"
#include "relay_sockmap.skel.h"

#define RELAY_SM_QUARANTINE_MS 1000
#define RELAY_SM_BUF (1 << 20)          /* catching up: one read of what the origin sent ahead */
#define RELAY_SM_RCVBUF (256 << 10)     /* a backend's receive buffer (the kernel doubles it) */

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

struct relay_sm {
	struct relay_sockmap_bpf *skel;
	int socks_fd, slot_of_fd;
	struct relay_sm_slot *slots;    /* the program's .bss, mapped */
	struct ring_buffer *rb;
	/* unused map indexes, oldest first: an index is handed out again only
	 * RELAY_SM_QUARANTINE_MS after it was freed, far longer than any
	 * verdict run that had started for its last socket */
	struct { int idx; uint64_t t; } *free;
	int fhead, nfree;
	uint8_t backend[RELAY_SM_SLOTS];
	struct conn *ctx[RELAY_SM_SLOTS];       /* the backend socket of each slot */
	struct relay_sm_stats st;
};

/* One ring event: the program ended an arming of the slot it names. */
static int sm_ring_cb(void *ctx, void *data, size_t len)
{
	struct relay_sm *sm = ctx;
	uint32_t idx;

	if (len < sizeof(idx))
		return 0;
	memcpy(&idx, data, sizeof(idx));
	/* the owner of the backend socket runs: no events, the engine's news */
	if (idx < RELAY_SM_SLOTS && sm->ctx[idx] && sm->ctx[idx]->cb)
		sm->ctx[idx]->cb(sm->ctx[idx], 0);
	return 0;
}

int relay_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char line[512];

	if (lvl == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (*line)
		log_debug("libbpf: %s", line);
	return 0;
}

static void relay_sm_close(struct relay_sm *sm);

static struct relay_sm *relay_sm_open(void)
{
	struct relay_sm *sm = calloc(1, sizeof(*sm));
	int e, prog;

	if (!sm)
		return NULL;
	libbpf_set_print(relay_libbpf_print);
	sm->free = calloc(RELAY_SM_SLOTS, sizeof(*sm->free));
	sm->skel = relay_sockmap_bpf__open_and_load();
	if (!sm->free || !sm->skel) {
		e = errno ? errno : ENOMEM;
		goto fail;
	}
	sm->socks_fd = bpf_map__fd(sm->skel->maps.relay_socks);
	sm->slot_of_fd = bpf_map__fd(sm->skel->maps.relay_slot_of);
	sm->slots = sm->skel->bss->relay_slots;
	prog = bpf_program__fd(sm->skel->progs.relay_sm_verdict);
	if (bpf_prog_attach(prog, sm->socks_fd, BPF_SK_SKB_VERDICT, 0)) {
		e = errno;
		goto fail;
	}
	sm->rb = ring_buffer__new(bpf_map__fd(sm->skel->maps.relay_sm_events), sm_ring_cb, sm, NULL);
	if (!sm->rb) {
		e = errno;
		goto fail;
	}
	for (int i = 0; i < RELAY_SM_SLOTS; i++)
		sm->free[sm->nfree++].idx = i;
	return sm;
fail:
	relay_sm_close(sm);
	errno = e;
	return NULL;
}

static void relay_sm_close(struct relay_sm *sm)
{
	if (!sm)
		return;
	ring_buffer__free(sm->rb);
	/* the map goes with the skeleton; sockets still in it leave it */
	relay_sockmap_bpf__destroy(sm->skel);
	free(sm->free);
	free(sm);
}

const struct relay_sm_stats *relay_env_sm_stats(const struct relay_env *e)
{
	return e->sm ? &e->sm->st : NULL;
}

static int sm_event_fd(const struct relay_env *e)
{
	return bpf_map__fd(e->sm->skel->maps.relay_sm_events);
}

static void sm_events(struct relay_env *e)
{
	ring_buffer__consume(e->sm->rb);
}

static int sm_env_open(struct relay_env *e)
{
	e->sm = relay_sm_open();
	return e->sm ? 0 : -(errno ? errno : ENOMEM);
}

static void sm_env_close(struct relay_env *e)
{
	relay_sm_close(e->sm);
	e->sm = NULL;
}

static void sm_free_idx(struct relay_sm *sm, int idx)
{
	int tail = (sm->fhead + sm->nfree) % RELAY_SM_SLOTS;

	sm->free[tail].idx = idx;
	sm->free[tail].t = ev_clock_ms();
	sm->nfree++;
}

static int relay_sm_add(struct relay_sm *sm, int fd, int backend)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	uint64_t v = fd;
	uint32_t key;
	int idx;

	if (!sm->nfree || (sm->free[sm->fhead].t &&
			   ev_clock_ms() - sm->free[sm->fhead].t < RELAY_SM_QUARANTINE_MS))
		return -ENOSPC;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return -errno;
	idx = sm->free[sm->fhead].idx;
	sm->fhead = (sm->fhead + 1) % RELAY_SM_SLOTS;
	sm->nfree--;
	key = idx;
	if (backend) {
		struct relay_sm_slot *s = &sm->slots[idx];

		/* no program runs for this slot now: its last socket left the
		 * map (close or delete) before the index was freed */
		memset(s, 0, sizeof(*s));
		s->cookie = cookie;
		if (bpf_map_update_elem(sm->slot_of_fd, &cookie, &key, BPF_ANY))
			goto fail;
	}
	if (bpf_map_update_elem(sm->socks_fd, &key, &v, BPF_ANY)) {
		if (backend)
			bpf_map_delete_elem(sm->slot_of_fd, &cookie);
		goto fail;
	}
	sm->backend[idx] = !!backend;
	if (backend) {
		/* a bounded window: catching up (see sm_fill) stops the
		 * origin after this much, not after an autotuned few MiB */
		int rb = RELAY_SM_RCVBUF;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	}
	return idx;
fail:
	idx = -errno;
	sm_free_idx(sm, key);
	return idx;
}

static void relay_sm_del(struct relay_sm *sm, int idx)
{
	uint32_t key = idx;

	if (idx < 0 || idx >= RELAY_SM_SLOTS)
		return;
	/* deleting takes the socket's psock down under its lock: no verdict
	 * runs for it afterwards, so the slot can be handed out again */
	bpf_map_delete_elem(sm->socks_fd, &key);
	sm->ctx[idx] = NULL;
	if (sm->backend[idx])
		bpf_map_delete_elem(sm->slot_of_fd, &sm->slots[idx].cookie);
	sm->backend[idx] = 0;
	sm_free_idx(sm, idx);
}

static int sm_sock_add(struct relay_env *e, struct relay_end *x, struct conn *c, int backend)
{
	int i = relay_sm_add(e->sm, c->io.fd, backend);

	x->idx = i < 0 ? -1 : i;
	if (i >= 0 && backend)
		e->sm->ctx[i] = c;      /* its ring events wake c's owner */
	return i < 0 ? i : 0;
}

static void sm_sock_del(struct relay_env *e, struct relay_end *x)
{
	relay_sm_del(e->sm, x->idx);
}

/* 1 when user space has read every byte the program passed to it on the
 * backend (C's rx), so nothing unexpected is pending. */
static int sm_sock_clean(const struct relay_env *e, const struct relay_end *x, const struct conn *c)
{
	return __atomic_load_n(&e->sm->slots[x->idx].seen, __ATOMIC_ACQUIRE) == c->rx;
}

/* Bytes ever queued on socket FD, up to a constant of the connection:
 * snd_una (as TCP_INFO's bytes_acked) plus SIOCOUTQ (write_seq - snd_una).
 * The two are read apart, and acks only raise snd_una, so the sum can only
 * come out low; EXACT reads bytes_acked again around SIOCOUTQ and returns
 * -EAGAIN when an ack came in between. */
static int sm_written(int fd, uint64_t *out, int exact)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t a1;
	int q;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return -EOPNOTSUPP;
	a1 = ti.tcpi_bytes_acked;
	if (ioctl(fd, SIOCOUTQ, &q))
		return -errno;
	if (exact) {
		len = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			return -errno;
		if (ti.tcpi_bytes_acked != a1)
			return -EAGAIN;
	}
	*out = a1 + (uint64_t)q;
	return 0;
}

/* Arms the slot: MODE RELAY_SM_RANGE redirects the ARG bytes that follow
 * the program's stream offset; RELAY_SM_HEAD a whole response from there
 * whose body has at least ARG bytes. Only if user space has everything
 * before them: what it read (got) plus PEND bytes it peeked and wrote to the
 * client but has not taken out of the socket yet. Returns 1 when armed. */
static int sm_arm(struct relay *r, uint32_t mode, uint64_t arg, uint64_t pend)
{
	struct relay_sm *sm = r->env->sm;
	struct relay_sm_slot *s = &sm->slots[r->se->idx];
	uint64_t seen = __atomic_load_n(&s->seen, __ATOMIC_ACQUIRE), base;
	uint32_t gen;
	int e = -EAGAIN;

	if (seen != r->src->rx + pend)
		return 0;       /* more bytes wait in the socket for user space */
	for (int i = 0; i < 8 && e == -EAGAIN; i++)
		e = sm_written(r->dst->io.fd, &base, 1);
	if (e) {
		/* acks kept arriving, or no TCP_INFO: this run is copied */
		sm->st.fallbacks++;
		return 0;
	}
	gen = s->gen + 1;
	if (!gen)
		gen = 1;
	s->peer = r->de->idx;
	s->mode = mode;
	s->arm_start = seen;
	s->arm_end = mode == RELAY_SM_RANGE ? seen + arg : 0;
	s->min_body = mode == RELAY_SM_HEAD ? arg : 0;
	/* the range before the generation: the program reads gen first */
	__atomic_store_n(&s->gen, gen, __ATOMIC_SEQ_CST);
	r->gen = gen;
	r->armed = 1;
	r->khead = mode == RELAY_SM_HEAD;
	r->kended = 0;
	r->base = base;
	r->arm_start = seen;
	r->arm_len = mode == RELAY_SM_RANGE ? arg : 0;
	r->fwd_seen = 0;
	return 1;
}

static void sm_decline(struct relay *r)
{
	struct relay_sm_slot *s;

	if (!r->armed)
		return;
	s = &r->env->sm->slots[r->se->idx];
	/* an offset no skb starts at: whatever the program sees next is
	 * not contiguous with the arming, so it passes it (MISSED) */
	__atomic_store_n(&s->arm_start, UINT64_MAX, __ATOMIC_SEQ_CST);
	r->armed = r->khead = 0;
}

/* The body ended in the kernel, or the program stopped before framing it
 * does not follow: the session's chunk decoder CH goes on from there. */
static void sm_resume(struct relay *r, struct h1_chunk *ch)
{
	static const enum h1_chunk_state map[] = {
		[RELAY_SM_CH_SIZE] = H1_CH_SIZE, [RELAY_SM_CH_SIZE_LF] = H1_CH_SIZE_LF,
		[RELAY_SM_CH_DATA] = H1_CH_DATA, [RELAY_SM_CH_DATA_CR] = H1_CH_DATA_CR,
		[RELAY_SM_CH_DATA_LF] = H1_CH_DATA_LF, [RELAY_SM_CH_FINAL_CR] = H1_CH_TRAILER,
		[RELAY_SM_CH_FINAL_LF] = H1_CH_FINAL_LF, [RELAY_SM_CH_DONE] = H1_CH_DONE,
	};
	uint32_t st = RELAY_SM_CH_DONE, ndig = 0;
	uint64_t size = 0, rem = 0;

	if (!r->kchunked) {
		r->kstop = 0;   /* a Content-Length run: the pump goes on by its count */
		return;
	}
	if (r->kstop) {
		const struct relay_sm_slot *s = &r->env->sm->slots[r->se->idx];

		st = __atomic_load_n(&s->cst, __ATOMIC_ACQUIRE);
		ndig = __atomic_load_n(&s->cndig, __ATOMIC_ACQUIRE);
		size = __atomic_load_n(&s->csize, __ATOMIC_ACQUIRE);
		rem = __atomic_load_n(&s->crem, __ATOMIC_ACQUIRE);
	}
	h1_chunk_resume(ch, map[st <= RELAY_SM_CH_DONE ? st : RELAY_SM_CH_DONE], size, ndig, rem);
	r->kchunked = r->kstop = 0;
}

static int relay_sm_delivered(struct relay_sm *sm, int fd, uint64_t target)
{
	uint64_t w;

	if (sm_written(fd, &w, 0))
		return 0;       /* the client's errors show on its own socket */
	if (w < target)
		return 0;
	sm->st.handbacks++;
	return 1;
}

/* Takes the R->pend peeked bytes, all written to the client now, out of the
 * socket. They are its next bytes: the program hands user space bytes in
 * stream order and only this engine reads the socket while a run is
 * pending (an arming that missed leaves its bytes behind these). Returns 0
 * or -EIO. */
static int sm_consume(struct relay *r)
{
	uint64_t left = r->pend;

	while (left) {
		ssize_t k = read(r->src->io.fd, r->buf, left);

		if (k <= 0)
			return -EIO;
		left -= k;
	}
	r->src->rx += r->pend;
	r->pend = 0;
	r->pos = r->len = 0;
	return 0;
}

/* Not armed: arm, or catch up with what the program gave user space. */
static ssize_t sm_catch_up(struct relay *r, size_t max)
{
	struct relay_sm *sm = r->env->sm;
	int src = r->src->io.fd;
	uint64_t seen, pend;
	int armed;
	ssize_t k;

	r->waiting = 0;
	if (!max || r->pos < r->len)
		return 0;       /* peeked bytes still to write */
	/* peeked bytes are in the client socket: arm right behind them, and
	 * only then take them out, which reopens the origin's window */
	pend = r->pend;
	armed = sm_arm(r, RELAY_SM_RANGE, max, pend);
	if (pend && sm_consume(r))
		return -EIO;
	if (armed)
		return 0;
	/* the origin is still sending: let it fill its window first (the
	 * worker polls us), so that it waits while we catch up */
	seen = __atomic_load_n(&sm->slots[r->se->idx].seen, __ATOMIC_ACQUIRE);
	if (seen != r->last_seen && seen - r->src->rx < max) {
		r->last_seen = seen;
		r->waiting = 1;
		return 0;
	}
	if (!r->buf) {
		r->buf = malloc(RELAY_SM_BUF);
		if (!r->buf)
			return -ENOMEM;
	}
	r->pos = r->len = 0;
	if (seen - r->src->rx >= max) {
		/* the rest of the body is here: no arming will follow, read it */
		k = read(src, r->buf, max < RELAY_SM_BUF ? max : RELAY_SM_BUF);
		if (k > 0)
			r->src->rx += k;
	} else {
		/* peeked, not read: the bytes stay charged to the socket, so
		 * its receive window stays shut while flush writes them */
		k = recv(src, r->buf, max < RELAY_SM_BUF ? max : RELAY_SM_BUF, MSG_PEEK);
		if (k > 0)
			r->pend = k;
	}
	k = relay_took(r, k);
	if (k > 0) {
		r->len = k;
		r->env->bytes[RELAY_COPY] += k;
	}
	return k;
}

/* fill: unarmed, arms (returns 0); armed, returns the bytes redirected since
 * the last call, 0, or -EPROTO when the program dropped bytes past the
 * framing (or had no client to send to), -EPIPE when the origin hung up
 * inside the run. An arming that could not redirect anything (its first
 * bytes were passed to user space) is dropped, armed goes back to 0, and
 * the caller reads the body itself. In head mode, arm_len becomes known
 * (and khead 0) once the program took the head. When the last byte has
 * been redirected, armed goes to 0 and kended to 1: the backend's bytes are
 * all accounted for, and the client's engine state holds the written-byte
 * count at which they are all in its queue (the hand-back, sm_clear); until
 * then nothing else may be written to it. */
/* How the arming R ended before it redirected anything (FWD is 0), as the
 * slot S says: 1 it will redirect nothing (armed goes to 0: user space reads
 * the body, or in head mode the head), -EPROTO the program dropped bytes
 * (or had no client), 0 it goes on. */
static int sm_ended_early(struct relay *r, struct relay_sm_slot *s, uint32_t res_gen, uint64_t fwd)
{
	struct relay_sm *sm = r->env->sm;

	if (res_gen == r->gen) {
		uint32_t res = __atomic_load_n(&s->res, __ATOMIC_ACQUIRE);

		if (res == RELAY_SM_ERR) {
			sm->st.errors++;
			r->armed = r->khead = 0;
			return -EPROTO;
		}
		if (res != RELAY_SM_MISSED || fwd)
			return 0;
		/* head mode: a head for user space, not a miss */
	} else if (fwd || __atomic_load_n(&s->self_end, __ATOMIC_ACQUIRE) <= r->arm_start) {
		return 0;
	}
	/* (or the program took the run's first skb before it saw the arming
	 * and passed it to user space: it will redirect none of this arming,
	 * whatever comes next) */
	if (!r->khead)
		sm->st.fallbacks++;
	r->armed = r->khead = 0;
	return 1;
}

/* Head mode, once the program redirected the first bytes: what it found
 * in the head (written before fwd moved). */
static void sm_took_head(struct relay *r, struct relay_sm_slot *s)
{
	uint64_t kend = __atomic_load_n(&s->kend, __ATOMIC_ACQUIRE);

	r->kchunked = __atomic_load_n(&s->kchunked, __ATOMIC_ACQUIRE);
	r->arm_len = kend == RELAY_SM_OPEN ? RELAY_SM_OPEN : kend - r->arm_start;
	r->kstatus = __atomic_load_n(&s->kstatus, __ATOMIC_ACQUIRE);
	r->khead = 0;
	r->env->sm->st.heads++;
}

static ssize_t sm_fill(struct relay *r, size_t max)
{
	struct relay_sm *sm = r->env->sm;
	struct relay_sm_slot *s;
	uint64_t fwd, n;
	uint32_t res_gen;
	int e;

	if (!r->armed)
		return sm_catch_up(r, max);
	s = &sm->slots[r->se->idx];
	res_gen = __atomic_load_n(&s->res_gen, __ATOMIC_ACQUIRE);
	fwd = __atomic_load_n(&s->cur_gen, __ATOMIC_ACQUIRE) == r->gen
	      ? __atomic_load_n(&s->fwd, __ATOMIC_ACQUIRE) : 0;
	e = sm_ended_early(r, s, res_gen, fwd);
	if (e)
		return e < 0 ? e : 0;
	if (r->khead) {
		if (!fwd)
			return 0;
		sm_took_head(r, s);
	}
	if (res_gen == r->gen) {
		/* the arming ended: a chunked one's end is known now (DONE);
		 * or the program stopped early (MISSED after some bytes: at
		 * chunk framing it does not follow, or at bytes past a
		 * Content-Length end it could not trim off), and user space
		 * goes on from there */
		if (__atomic_load_n(&s->res, __ATOMIC_ACQUIRE) == RELAY_SM_MISSED) {
			r->arm_len = fwd;
			r->kstop = 1;
		} else if (r->arm_len == RELAY_SM_OPEN) {
			r->arm_len = __atomic_load_n(&s->kend, __ATOMIC_ACQUIRE) - r->arm_start;
		}
	}
	if (fwd > r->arm_len)
		fwd = r->arm_len;
	n = fwd - r->fwd_seen;
	r->fwd_seen = fwd;
	sm->st.bytes += n;
	r->env->bytes[RELAY_SOCKMAP] += n;
	if (fwd == r->arm_len) {
		/* the program's offset moved past the run, and so does what
		 * user space has accounted for; the client is held until
		 * every redirected byte is in its queue (the hand-back) */
		r->armed = 0;
		r->kended = 1;
		r->src->rx += r->arm_len;
		r->de->pend = 1;
		r->de->target = r->base + r->arm_len;
		r->de->seen = r->base;  /* progress is counted from the arming */
	} else if (r->src->rd == 2) {
		char c;

		/* the origin hung up inside the body: its FIN, passed to user
		 * space, reads as the end */
		if (recv(r->src->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			return -EPIPE;
	}
	return n;
}

/* flush: writes bytes copied while catching up (an armed run is written by
 * the kernel: see fill). */
static ssize_t sm_flush(struct relay *r)
{
	return r->armed ? 0 : relay_copy_ops.flush(r);
}

static void sm_release(struct relay *r)
{
	/* an arming still running belongs to a session that is closing both
	 * sockets: the backend's slot dies with it */
	r->armed = r->khead = r->kended = r->kchunked = r->kstop = 0;
	r->pend = 0;
	r->waiting = 0;
	free(r->buf);                   /* the catch-up buffer (RELAY_SM_BUF) */
	r->buf = NULL;
	relay_copy_ops.release(r);
}

/* A Content-Length run is the engine's (armed once everything before it is
 * in the client socket); bytes it peeked are taken out by it, never read
 * again by the session. */
static int sm_takes(const struct relay *r, uint64_t raw)
{
	return r->pend || raw >= r->env->splice_min;
}

/* Content-Length bodies run in the kernel; chunked and close-delimited ones
 * are read and written by the session (copy: a socket in the map cannot be
 * spliced from). Arming chunk by chunk gains nothing for nginx's 32 KiB
 * chunks: they have arrived whole by the time their size line is parsed. */
static int sm_frame(struct relay *r, enum h1_body kind)
{
	return kind == H1_BODY_LENGTH;
}

/* Head mode, before the request is written: the program takes the whole
 * response if its head passes its checks and its body has at least
 * kernel_min bytes, else passes the head to user space. */
static int sm_offer(struct relay *r, uint64_t key)
{
	return sm_arm(r, RELAY_SM_HEAD, r->env->kernel_min, 0);
}

/* Has the program taken the offered response? 1 it did (a body of head
 * plus Content-Length bytes, or a chunked one it frames), 0 user space is
 * to read the head (nothing came yet: khead still set), -EPROTO when the
 * program could not send it to the client. */
static int sm_head(struct relay *r, struct relay_head *h)
{
	ssize_t n = sm_fill(r, 0);

	if (n < 0)
		return n == -EPIPE ? -EPIPE : -EPROTO;
	if (r->khead || !r->arm_len)
		return 0;
	h->status = r->kstatus;
	h->kind = r->kchunked ? H1_BODY_CHUNKED : H1_BODY_LENGTH;
	/* the response's length, not the arming's (an arming that stopped
	 * early in this same look is shorter) */
	h->len = r->kchunked ? 0 : __atomic_load_n(&r->env->sm->slots[r->se->idx].kend,
						   __ATOMIC_ACQUIRE) - r->arm_start;
	h->n = n;
	return 1;
}

/* 1 when client C's written-byte count reached the hold's target: every
 * byte redirected to it is in its send queue, behind what was written
 * before, and user space may write again (the hand-back, counted). */
static int sm_clear(struct relay_env *e, struct relay_end *x, struct conn *c)
{
	if (!relay_sm_delivered(e->sm, c->io.fd, x->target)) {
		x->wait = 1;
		return 0;
	}
	x->pend = x->wait = 0;
	return 1;
}

static int sm_progress(struct relay_env *e, struct relay_end *x, struct conn *c)
{
	uint64_t seen = x->seen;

	if (sm_written(c->io.fd, &x->seen, 0))
		return 0;
	if (x->seen >= x->target) {
		x->pend = x->wait = 0;
		return 2;
	}
	return x->seen != seen;
}

const struct relay_ops relay_sockmap_ops = {
	.name = "sockmap",
	.id = RELAY_SOCKMAP,
	.kernel = 1,
	.takes = sm_takes,
	.fill = sm_fill,
	.flush = sm_flush,
	.release = sm_release,
	.env_open = sm_env_open,
	.env_close = sm_env_close,
	.event_fd = sm_event_fd,
	.events = sm_events,
	.sock_add = sm_sock_add,
	.sock_del = sm_sock_del,
	.sock_clean = sm_sock_clean,
	.frame = sm_frame,
	.offer = sm_offer,
	.head = sm_head,
	.decline = sm_decline,
	.resume = sm_resume,
	.clear = sm_clear,
	.progress = sm_progress,
};

/* ---- the start-up probe ------------------------------------------------- */

/* A connected pair of loopback TCP sockets: *A connects, *B is accepted. */
static int sm_pair(int lsn, int *a, int *b)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	*a = *b = -1;
	if (getsockname(lsn, (struct sockaddr *)&sin, &len))
		return -errno;
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, len))
		return -errno;
	*b = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	return *b < 0 ? -errno : 0;
}

int relay_probe_sockmap(char *why, size_t whylen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lsn = -1, up = -1, be = -1, cl = -1, fe = -1, bi, ci, r = 0;
	static char sent[200000], got[sizeof(sent)];
	struct relay_env env = { .base = &relay_copy_ops, .kern = &relay_sockmap_ops };
	struct relay_end xb = { .idx = -1 }, xc = { .idx = -1 };
	struct conn cb, cc;
	struct relay rl;
	struct relay_sm *sm;
	size_t have = 0;

	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, NULL) != 1 ||
	    libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKMAP, NULL) != 1 ||
	    libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		snprintf(why, whylen, "no sk_skb programs, sockmaps or ring buffers (Linux 5.8+, CAP_BPF)");
		return -EOPNOTSUPP;
	}
	sm = relay_sm_open();
	if (!sm) {
		r = -errno;
		snprintf(why, whylen, "loading and attaching the verdict program failed: %s", strerror(errno));
		return r;
	}
	lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sin, sizeof(sin)) || listen(lsn, 4) ||
	    (r = sm_pair(lsn, &up, &be)) || (r = sm_pair(lsn, &fe, &cl))) {
		r = r ? r : -errno;
		snprintf(why, whylen, "loopback TCP sockets: %s", strerror(-r));
		goto out;
	}
	/* be plays a backend socket (up, the origin), cl a client socket
	 * (fe, the client): up -> be -> (kernel) -> cl -> fe */
	bi = relay_sm_add(sm, be, 1);
	ci = relay_sm_add(sm, cl, 0);
	if (bi < 0 || ci < 0) {
		r = bi < 0 ? bi : ci;
		snprintf(why, whylen, "adding TCP sockets to the sockmap: %s", strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (char)(i * 7 + i / 251);
	env.sm = sm;
	conn_init(&cb, be, &conn_tcp);
	conn_init(&cc, cl, &conn_tcp);
	xb.idx = bi;
	xc.idx = ci;
	relay_start(&rl, &env, &cb, &xb, &cc, &xc);
	relay_reset(&rl, &relay_sockmap_ops);
	sm_fill(&rl, sizeof(sent));
	if (!rl.armed) {
		r = -EAGAIN;
		snprintf(why, whylen, "arming the redirect failed");
		goto out;
	}
	if (write(up, sent, sizeof(sent)) != (ssize_t)sizeof(sent)) {
		r = -EIO;
		snprintf(why, whylen, "write to the test connection failed");
		goto out;
	}
	while (have < sizeof(got)) {
		struct pollfd pfd = { .fd = fe, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 2000) != 1)
			break;
		n = read(fe, got + have, sizeof(got) - have);
		if (n <= 0)
			break;
		have += n;
	}
	for (int i = 0; i < 200 && rl.armed; i++) {
		sm_fill(&rl, 0);
		if (rl.armed)
			usleep(1000);
	}
	if (have != sizeof(sent) || memcmp(got, sent, have) || rl.armed ||
	    !relay_sm_delivered(sm, cl, xc.target)) {
		r = -EIO;
		snprintf(why, whylen, "a redirect between two loopback TCP sockets moved %zu of %zu bytes%s",
			 have, sizeof(sent), rl.armed ? " and never completed" : "");
	}
out:
	if (up >= 0) close(up);
	if (be >= 0) close(be);
	if (cl >= 0) close(cl);
	if (fe >= 0) close(fe);
	if (lsn >= 0) close(lsn);
	relay_sm_close(sm);
	return r;
}
