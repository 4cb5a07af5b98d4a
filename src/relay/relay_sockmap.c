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
 * last call), flush reports bytes that reached the client's send queue. */
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

#include "ev.h"
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
	void *ctx[RELAY_SM_SLOTS];      /* the caller's object of each backend slot */
	void (*wake)(void *ctx, void *arg);     /* while relay_sm_events_drain runs */
	void *wake_arg;
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
	if (idx < RELAY_SM_SLOTS && sm->ctx[idx] && sm->wake)
		sm->wake(sm->ctx[idx], sm->wake_arg);
	return 0;
}

static int sm_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char line[512];

	if (lvl == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (*line)
		log_debug("%s", line);
	return 0;
}

struct relay_sm *relay_sm_open(void)
{
	struct relay_sm *sm = calloc(1, sizeof(*sm));
	int e, prog;

	if (!sm)
		return NULL;
	libbpf_set_print(sm_libbpf_print);
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

void relay_sm_close(struct relay_sm *sm)
{
	if (!sm)
		return;
	ring_buffer__free(sm->rb);
	/* the map goes with the skeleton; sockets still in it leave it */
	relay_sockmap_bpf__destroy(sm->skel);
	free(sm->free);
	free(sm);
}

const struct relay_sm_stats *relay_sm_stats(const struct relay_sm *sm)
{
	return &sm->st;
}

int relay_sm_event_fd(const struct relay_sm *sm)
{
	return bpf_map__fd(sm->skel->maps.relay_sm_events);
}

void relay_sm_events_drain(struct relay_sm *sm, void (*wake)(void *ctx, void *arg), void *arg)
{
	sm->wake = wake;
	sm->wake_arg = arg;
	ring_buffer__consume(sm->rb);
	sm->wake = NULL;
}

void relay_sm_set_ctx(struct relay_sm *sm, int idx, void *ctx)
{
	if (idx >= 0 && idx < RELAY_SM_SLOTS)
		sm->ctx[idx] = ctx;
}

static void sm_free_idx(struct relay_sm *sm, int idx)
{
	int tail = (sm->fhead + sm->nfree) % RELAY_SM_SLOTS;

	sm->free[tail].idx = idx;
	sm->free[tail].t = ev_clock_ms();
	sm->nfree++;
}

int relay_sm_add(struct relay_sm *sm, int fd, int backend)
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

void relay_sm_del(struct relay_sm *sm, int idx)
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

int relay_sm_clean(const struct relay_sm *sm, int idx, uint64_t got)
{
	if (idx < 0 || idx >= RELAY_SM_SLOTS)
		return 1;
	return __atomic_load_n(&sm->slots[idx].seen, __ATOMIC_ACQUIRE) == got;
}

void relay_sm_bind(struct relay *r, struct relay_sm *sm, int slot, int peer, int cfd,
		   uint64_t *got)
{
	r->sm = sm;
	r->slot = slot;
	r->peer = peer;
	r->cfd = cfd;
	r->got = got;
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
	struct relay_sm *sm = r->sm;
	struct relay_sm_slot *s = &sm->slots[r->slot];
	uint64_t seen = __atomic_load_n(&s->seen, __ATOMIC_ACQUIRE), base;
	uint32_t gen;
	int e = -EAGAIN;

	if (seen != *r->got + pend)
		return 0;       /* more bytes wait in the socket for user space */
	for (int i = 0; i < 8 && e == -EAGAIN; i++)
		e = sm_written(r->cfd, &base, 1);
	if (e) {
		/* acks kept arriving, or no TCP_INFO: this run is copied */
		sm->st.fallbacks++;
		return 0;
	}
	gen = s->gen + 1;
	if (!gen)
		gen = 1;
	s->peer = r->peer;
	s->mode = mode;
	s->arm_start = seen;
	s->arm_end = mode == RELAY_SM_RANGE ? seen + arg : 0;
	s->min_body = mode == RELAY_SM_HEAD ? arg : 0;
	/* the range before the generation: the program reads gen first */
	__atomic_store_n(&s->gen, gen, __ATOMIC_SEQ_CST);
	r->gen = gen;
	r->armed = 1;
	r->khead = mode == RELAY_SM_HEAD;
	r->kdone = 0;
	r->base = base;
	r->arm_start = seen;
	r->arm_len = mode == RELAY_SM_RANGE ? arg : 0;
	r->fwd_seen = 0;
	return 1;
}

int relay_sm_prearm(struct relay *r, uint64_t min_body)
{
	return sm_arm(r, RELAY_SM_HEAD, min_body, 0);
}

void relay_sm_disarm(struct relay *r)
{
	struct relay_sm_slot *s;

	if (!r->armed)
		return;
	s = &r->sm->slots[r->slot];
	/* an offset no skb starts at: whatever the program sees next is
	 * not contiguous with the arming, so it passes it (MISSED) */
	__atomic_store_n(&s->arm_start, UINT64_MAX, __ATOMIC_SEQ_CST);
	r->armed = r->khead = 0;
}

void relay_sm_chunk_state(const struct relay *r, uint32_t *st, uint32_t *ndig, uint64_t *size,
			  uint64_t *rem)
{
	const struct relay_sm_slot *s = &r->sm->slots[r->slot];

	*st = __atomic_load_n(&s->cst, __ATOMIC_ACQUIRE);
	*ndig = __atomic_load_n(&s->cndig, __ATOMIC_ACQUIRE);
	*size = __atomic_load_n(&s->csize, __ATOMIC_ACQUIRE);
	*rem = __atomic_load_n(&s->crem, __ATOMIC_ACQUIRE);
}

int relay_sm_written(int fd, uint64_t *out)
{
	return sm_written(fd, out, 0);
}

int relay_sm_delivered(struct relay_sm *sm, int fd, uint64_t target)
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
		ssize_t k = read(r->sfd, r->buf, left);

		if (k <= 0)
			return -EIO;
		left -= k;
	}
	*r->got += r->pend;
	r->pend = 0;
	r->pos = r->len = 0;
	return 0;
}

/* Not armed: arm, or catch up with what the program gave user space. */
static ssize_t sm_catch_up(struct relay *r, int src, size_t max)
{
	struct relay_sm *sm = r->sm;
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
	seen = __atomic_load_n(&sm->slots[r->slot].seen, __ATOMIC_ACQUIRE);
	if (seen != r->last_seen && seen - *r->got < max) {
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
	r->sfd = src;
	if (seen - *r->got >= max) {
		/* the rest of the body is here: no arming will follow, read it */
		k = read(src, r->buf, max < RELAY_SM_BUF ? max : RELAY_SM_BUF);
		if (k > 0)
			*r->got += k;
	} else {
		/* peeked, not read: the bytes stay charged to the socket, so
		 * its receive window stays shut while flush writes them */
		k = recv(src, r->buf, max < RELAY_SM_BUF ? max : RELAY_SM_BUF, MSG_PEEK);
		if (k > 0)
			r->pend = k;
	}
	k = relay_took(r, k);
	if (k > 0)
		r->len = k;
	return k;
}

/* fill: unarmed, arms (returns 0); armed, returns the bytes redirected since
 * the last call, 0, or -EPROTO when the program dropped bytes past the
 * framing (or had no client to send to). An arming that could not redirect
 * anything (its first bytes were passed to user space) is dropped, armed
 * goes back to 0, and the caller reads the body itself. In head mode,
 * arm_len becomes known (and khead 0) once the program took the head.
 * When the last byte has been redirected, armed goes to 0 and kdone to 1:
 * the backend's bytes are all accounted for, and ktarget is the client's
 * written-byte count at which they are all in its queue (the hand-back,
 * relay_sm_delivered); until then nothing else may be written to it. */
static ssize_t sm_fill(struct relay *r, int src, size_t max)
{
	struct relay_sm *sm = r->sm;
	struct relay_sm_slot *s;
	uint64_t fwd, n;
	uint32_t res_gen;

	if (!r->armed)
		return sm_catch_up(r, src, max);
	s = &sm->slots[r->slot];
	res_gen = __atomic_load_n(&s->res_gen, __ATOMIC_ACQUIRE);
	fwd = __atomic_load_n(&s->cur_gen, __ATOMIC_ACQUIRE) == r->gen
	      ? __atomic_load_n(&s->fwd, __ATOMIC_ACQUIRE) : 0;
	if (res_gen == r->gen) {
		uint32_t res = __atomic_load_n(&s->res, __ATOMIC_ACQUIRE);

		if (res == RELAY_SM_ERR) {
			sm->st.errors++;
			r->armed = r->khead = 0;
			return -EPROTO;
		}
		if (res == RELAY_SM_MISSED && !fwd) {
			/* head mode: a head for user space, not a miss */
			if (!r->khead)
				sm->st.fallbacks++;
			r->armed = r->khead = 0;
			return 0;
		}
	} else if (!fwd && __atomic_load_n(&s->self_end, __ATOMIC_ACQUIRE) > r->arm_start) {
		/* the program took the run's first skb before it saw the
		 * arming and passed it to user space: it will redirect none
		 * of this arming, whatever comes next */
		if (!r->khead)
			sm->st.fallbacks++;
		r->armed = r->khead = 0;
		return 0;
	}
	if (r->khead) {
		uint64_t kend;

		if (!fwd)
			return 0;
		/* written before fwd moved */
		kend = __atomic_load_n(&s->kend, __ATOMIC_ACQUIRE);
		r->kchunked = __atomic_load_n(&s->kchunked, __ATOMIC_ACQUIRE);
		r->arm_len = kend == RELAY_SM_OPEN ? RELAY_SM_OPEN : kend - r->arm_start;
		r->kstatus = __atomic_load_n(&s->kstatus, __ATOMIC_ACQUIRE);
		r->khead = 0;
		sm->st.heads++;
	}
	if (res_gen == r->gen) {
		/* a chunked arming: its end is known now (DONE), or the
		 * program stopped before framing it does not follow, and user
		 * space parses on from there (MISSED after some bytes) */
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
	if (fwd == r->arm_len) {
		/* the program's offset moved past the run, and so does what
		 * user space has accounted for */
		r->armed = 0;
		r->kdone = 1;
		r->ktarget = r->base + r->arm_len;
		*r->got += r->arm_len;
	}
	return n;
}

/* flush: writes bytes copied while catching up (an armed run is written by
 * the kernel: see fill). */
static ssize_t sm_flush(struct relay *r, int dst)
{
	return r->armed ? 0 : relay_copy_ops.flush(r, dst);
}

static void sm_release(struct relay *r)
{
	/* an arming still running belongs to a session that is closing both
	 * sockets: the backend's slot dies with it */
	r->armed = r->khead = r->kdone = r->kchunked = r->kstop = 0;
	r->pend = 0;
	relay_copy_ops.release(r);      /* the catch-up buffer */
}

const struct relay_ops relay_sockmap_ops = {
	.name = "sockmap",
	.kernel = 1,
	.fill = sm_fill,
	.flush = sm_flush,
	.release = sm_release,
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
	struct relay rl;
	struct relay_sm *sm;
	uint64_t nread = 0;
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
	relay_init(&rl, &relay_sockmap_ops, NULL);
	relay_sm_bind(&rl, sm, bi, ci, cl, &nread);
	sm_fill(&rl, be, sizeof(sent));
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
		sm_fill(&rl, be, 0);
		if (rl.armed)
			usleep(1000);
	}
	if (have != sizeof(sent) || memcmp(got, sent, have) || rl.armed ||
	    !relay_sm_delivered(sm, cl, rl.ktarget)) {
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
