/* relay_sockmap: the sk_skb verdict program of the sockmap relay engine. Every
 * socket of a worker's relay (clients and backends) sits in one sockmap with
 * this program, attached as BPF_SK_SKB_VERDICT (no stream parser: the kernel
 * gives it whole skbs, in stream order, one socket at a time under the socket
 * lock). For a backend socket it keeps the stream offset of the bytes it has
 * seen and redirects an skb to the client's egress only when user space armed
 * exactly the range it starts: [arm_start, arm_end), contiguous with what was
 * redirected before. Everything else passes to the socket's own receive queue
 * (psock ingress), where user space reads it: response heads, chunked bodies,
 * bytes that arrived before the arming. An skb that would cross arm_end
 * carries bytes beyond the response's framing: an origin error, dropped, and
 * user space closes both sides.
 *
 * Head mode (RELAY_SM_HEAD), armed before the request goes out: the program
 * checks the response head in the first skb itself (see head_check). A head
 * that passes (a final status with a body, one Content-Length of at least
 * min_body or "Transfer-Encoding: chunked", no hop-by-hop field but
 * "Connection: keep-alive", every byte what tandem's own parser accepts) is
 * redirected with its body: the whole response stays in the kernel, and the
 * arming becomes the range [arm_start, kend). A chunked body is framed here
 * skb by skb (chunk_scan); at framing it does not follow the arming stops
 * before that skb and user space parses on. Any other head is passed to
 * user space (MISSED), which reads it as usual. See doc/internals/sockmap.md. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "relay_sockmap_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, RELAY_SM_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} relay_socks SEC(".maps");

/* socket cookie of a backend socket -> its slot (= its sockmap index) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RELAY_SM_SLOTS);
	__type(key, __u64);
	__type(value, __u32);
} relay_slot_of SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RELAY_SM_C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} relay_sm_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} relay_sm_events SEC(".maps");

struct relay_sm_slot relay_slots[RELAY_SM_SLOTS];

/* head mode's scratch: one CPU's copy of the head being checked (a verdict
 * runs with migration disabled, start to end on one CPU) */
#define HEAD_CPUS 64
static __u8 relay_head_buf[HEAD_CPUS][RELAY_SM_HEAD_MAX];

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&relay_sm_stats, &idx);

	if (c)
		*c += n;
}

/* An arming ended: record how, and tell the worker (its epoll watches the
 * ring, and the event names the slot) unless QUIET: a head passed to user
 * space wakes it by itself, as readable bytes on the backend socket. */
static __always_inline void finish(struct relay_sm_slot *s, __u32 idx, __u32 gen, __u32 res, __u32 c,
				   int quiet)
{
	__u32 ev = idx;

	WRITE_ONCE(s->res, res);
	WRITE_ONCE(s->res_gen, gen);
	count(c, 1);
	if (!quiet)
		bpf_ringbuf_output(&relay_sm_events, &ev, sizeof(ev), 0);
}

/* ---- head mode: checking a response head ------------------------------- */

enum { H_REASON, H_EOL, H_LINE, H_END, H_NAME, H_OWS, H_VALUE };

/* the header names a fast-path head may not carry (hop-by-hop, framing),
 * and the two it acts on; bit k of hc.cand: names[k] still matches */
#define N_CL   0
#define N_CONN 1
#define N_TE   2
#define N_NAMES 7
static const char names[N_NAMES + 1][32] = {
	"content-length", "connection", "transfer-encoding", "te", "upgrade",
	"keep-alive", "proxy-connection",
	"chunked",      /* not a name: the one Transfer-Encoding value taken */
};
static const __u8 name_len[N_NAMES] = { 14, 10, 17, 2, 7, 10, 16 };

struct hc {
	__u32 len;              /* bytes of the head buffer to scan */
	__u32 st;
	__u32 nlen;             /* length of the name so far */
	__u32 cand;             /* names[] the name may still be */
	__u32 kind;             /* N_CL, N_CONN or N_NAMES (another field) */
	__u32 vi;               /* value bytes so far */
	__u32 lines;
	__u32 ncl;
	__u32 nte;              /* Transfer-Encoding lines, each exactly "chunked" */
	__u32 conn_ok;
	__u32 cl_trail;         /* blanks after the Content-Length digits */
	__u32 end;              /* head length, 0 until the empty line */
	__u32 bad;
	__u64 cl;
};

static __always_inline int tchar(__u8 c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

/* HTAB, SP, VCHAR, obs-text: the bytes of a field value or reason phrase */
static __always_inline int vchar(__u8 c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static __always_inline __u8 lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* the scanner's state, one per CPU: in a map value, not on the stack, so
 * that the verifier sees unknown scalars and checks head_step once,
 * instead of once per distinct constant state */
static struct hc relay_head_state[HEAD_CPUS];

/* One byte of the head, from just after "HTTP/1.1 NNN " (bpf_loop; CTX
 * points to the CPU number). */
static long head_step(__u64 k, void *ctx)
{
	__u32 cpu = *(__u32 *)ctx;
	__u64 i = k + 13;
	struct hc *h;
	__u8 c;

	if (cpu >= HEAD_CPUS)
		return 1;
	h = &relay_head_state[cpu];
	if (i >= h->len) {
		h->bad = 1;             /* the head does not end in the buffer */
		return 1;
	}
	c = relay_head_buf[cpu][i & (RELAY_SM_HEAD_MAX - 1)];
	switch (h->st) {
	case H_REASON:
		if (c == '\r')
			h->st = H_EOL;
		else if (!vchar(c))
			h->bad = 1;
		break;
	case H_EOL:
		if (c != '\n')
			h->bad = 1;
		h->st = H_LINE;
		break;
	case H_LINE:
		if (c == '\r') {
			h->st = H_END;
			break;
		}
		/* a blank here is obs-fold; an empty name or a bare LF is bad */
		if (!tchar(c) || ++h->lines > RELAY_SM_HEAD_LINES) {
			h->bad = 1;
			break;
		}
		h->st = H_NAME;
		h->nlen = 0;
		h->cand = (1u << N_NAMES) - 1;
		/* fall through */
	case H_NAME:
		if (c == ':') {
			__u32 k = N_NAMES;

			for (int j = 0; j < N_NAMES; j++)
				if ((h->cand & (1u << j)) && name_len[j] == h->nlen)
					k = j;
			if (k != N_NAMES && k != N_CL && k != N_CONN && k != N_TE)
				h->bad = 1;     /* hop by hop: user space */
			h->kind = k;
			h->vi = 0;
			if (k == N_CL) {
				h->cl = 0;
				h->cl_trail = 0;
			}
			h->st = H_OWS;
			break;
		}
		if (!tchar(c)) {
			h->bad = 1;     /* blanks before the colon, a bad name byte */
			break;
		}
		for (int j = 0; j < N_NAMES; j++) {
			__u32 n = h->nlen;

			if (n >= 18 || names[j][n & 31] != lower(c))
				h->cand &= ~(1u << j);
		}
		h->nlen++;
		break;
	case H_OWS:
		if (c == ' ' || c == '\t')
			break;
		h->st = H_VALUE;
		/* fall through */
	case H_VALUE:
		if (c == '\r') {
			if (h->kind == N_CL) {
				if (!h->vi)
					h->bad = 1;
				h->ncl++;
			} else if (h->kind == N_CONN) {
				if (h->vi != 10)
					h->bad = 1;
				h->conn_ok = 1;
			} else if (h->kind == N_TE) {
				if (h->vi != 7)
					h->bad = 1;
				h->nte++;
			}
			h->st = H_EOL;
			break;
		}
		if (!vchar(c)) {
			h->bad = 1;
			break;
		}
		if (h->kind == N_CL) {
			/* 1*DIGIT *( SP / HTAB ): lists and signs go to user space */
			if (c >= '0' && c <= '9' && !h->cl_trail) {
				h->cl = h->cl * 10 + (c - '0');
				if (h->cl >= (1ULL << 50))
					h->bad = 1;
				h->vi++;
			} else if (c == ' ' || c == '\t') {
				h->cl_trail = 1;
			} else {
				h->bad = 1;
			}
		} else if (h->kind == N_CONN) {
			/* exactly "keep-alive": any other token may name
			 * fields user space would have to strip */
			__u32 n = h->vi;

			if (n >= 10 || names[5][n & 31] != lower(c))
				h->bad = 1;
			h->vi++;
		} else if (h->kind == N_TE) {
			/* exactly "chunked", as tandem's parser wants it */
			__u32 n = h->vi;

			if (n >= 7 || names[N_NAMES][n & 31] != lower(c))
				h->bad = 1;
			h->vi++;
		}
		break;
	case H_END:
		if (c != '\n')
			h->bad = 1;
		else
			h->end = i + 1;
		return 1;
	}
	return h->bad ? 1 : 0;
}

/* Checks the response head at byte OFF of SKB (0: its start). Returns its
 * length and sets *STATUS, and *CL or *CHUNKED, when the whole response may
 * go through the kernel, else 0. */
static __always_inline __u32 head_check(struct __sk_buff *skb, __u32 off, __u32 *status, __u64 *cl,
					__u32 *chunked, __u64 min_body)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 n = skb->len;     /* 64 bits: no zero-extended copy gets the tests */
	struct hc *h;
	__u8 *b;

	if (cpu >= HEAD_CPUS)
		return 0;
	b = relay_head_buf[cpu];
	/* the verifier needs both bounds on n itself: keep clang from
	 * folding the two tests into one on n - 16 */
	if (n < off)
		return 0;
	n -= off;
	if (n > RELAY_SM_HEAD_MAX)
		n = RELAY_SM_HEAD_MAX;
	asm volatile("" : "+r"(n));
	if (n < 16)
		return 0;
	asm volatile("" : "+r"(n));
	if (bpf_skb_load_bytes(skb, off, b, n))
		return 0;
	/* "HTTP/1.1 " status-code SP: user space handles 1.0, an absent
	 * reason, interim answers and bodiless statuses */
	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' ||
	    b[5] != '1' || b[6] != '.' || b[7] != '1' || b[8] != ' ' || b[12] != ' ')
		return 0;
	if (b[9] < '2' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return 0;
	*status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (*status == 204 || *status == 304)
		return 0;
	h = &relay_head_state[cpu];
	__builtin_memset(h, 0, sizeof(*h));
	h->len = n;
	h->st = H_REASON;
	h->kind = N_NAMES;
	bpf_loop(RELAY_SM_HEAD_MAX - 13, head_step, &cpu, 0);
	if (h->bad || !h->end || h->ncl + h->nte != 1 || (h->ncl && h->cl < min_body))
		return 0;
	*cl = h->cl;
	*chunked = h->nte;
	return h->end;
}

/* ---- head mode: chunked bodies --------------------------------------- */

/* the scanner's state, one per CPU (a map value: see relay_head_state) */
struct cs {
	__u32 st, ndig;
	__u64 size, rem;
	__u32 off, len;         /* next byte of the skb, and its length */
	__u32 bad, done;
};
static struct cs relay_chunk_state[HEAD_CPUS];

struct cs_ctx {
	struct __sk_buff *skb;
	__u32 cpu;
};

static __always_inline int hexval(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One step of the chunk framing: a run of data bytes, or one framing byte. */
static long chunk_step(__u64 k, void *ctx)
{
	struct cs_ctx *x = ctx;
	__u32 cpu = x->cpu;
	struct cs *c;
	__u8 b;
	int d;

	if (cpu >= HEAD_CPUS)
		return 1;
	c = &relay_chunk_state[cpu];
	if (c->off >= c->len)
		return 1;
	if (c->st == RELAY_SM_CH_DATA) {
		__u64 take = c->len - c->off;

		if (take > c->rem)
			take = c->rem;
		c->off += take;
		c->rem -= take;
		if (!c->rem)
			c->st = RELAY_SM_CH_DATA_CR;
		return 0;
	}
	if (bpf_skb_load_bytes(x->skb, c->off, &b, 1)) {
		c->bad = 1;
		return 1;
	}
	c->off++;
	switch (c->st) {
	case RELAY_SM_CH_SIZE:
		d = hexval(b);
		if (d >= 0 && c->ndig < 15) {
			c->ndig++;
			c->size = c->size << 4 | d;
		} else if (b == '\r' && c->ndig) {
			c->st = RELAY_SM_CH_SIZE_LF;
		} else {
			c->bad = 1;     /* an extension, a blank, 16 digits: user space */
		}
		break;
	case RELAY_SM_CH_SIZE_LF:
		if (b != '\n') {
			c->bad = 1;
		} else if (c->size) {
			c->rem = c->size;
			c->st = RELAY_SM_CH_DATA;
		} else {
			c->st = RELAY_SM_CH_FINAL_CR;
		}
		c->size = 0;
		c->ndig = 0;
		break;
	case RELAY_SM_CH_DATA_CR:
	case RELAY_SM_CH_FINAL_CR:
		if (b != '\r')
			c->bad = 1;     /* after the last chunk: a trailer, user space's */
		else
			c->st++;        /* DATA_LF, FINAL_LF */
		break;
	case RELAY_SM_CH_DATA_LF:
		if (b != '\n')
			c->bad = 1;
		c->st = RELAY_SM_CH_SIZE;
		break;
	case RELAY_SM_CH_FINAL_LF:
		if (b != '\n') {
			c->bad = 1;
		} else {
			c->st = RELAY_SM_CH_DONE;
			c->done = 1;
		}
		return 1;
	default:
		c->bad = 1;
	}
	return c->bad ? 1 : 0;
}

/* Scans the chunk framing of SKB from byte OFF on, from the state in SLOT
 * (or from a size line when FRESH). Returns 0 when it holds anything the
 * plain grammar does not (or more framing than one pass checks), 1 when the
 * whole skb is inside the body, 2 when the body ends exactly at its end. On
 * 1 and 2 the state after the skb is in *OUT, else the slot is unchanged. */
static __always_inline int chunk_scan(struct __sk_buff *skb, __u32 off, const struct relay_sm_slot *slot,
				      int fresh, struct cs **out)
{
	struct cs_ctx x = { .skb = skb, .cpu = bpf_get_smp_processor_id() };
	struct cs *c;

	if (x.cpu >= HEAD_CPUS)
		return 0;
	c = &relay_chunk_state[x.cpu];
	__builtin_memset(c, 0, sizeof(*c));
	if (!fresh) {
		c->st = slot->cst;
		c->ndig = slot->cndig;
		c->size = slot->csize;
		c->rem = slot->crem;
	}
	c->off = off;
	c->len = skb->len;
	/* a step per framing byte or data run: 6 per chunk at worst */
	bpf_loop(1 << 17, chunk_step, &x, 0);
	*out = c;
	if (c->bad)
		return 0;
	if (c->done)
		return c->off == c->len ? 2 : 0;        /* bytes past the end: user space's */
	return c->off == c->len;
}

static __always_inline void chunk_commit(struct relay_sm_slot *s, const struct cs *c)
{
	WRITE_ONCE(s->cst, c->st);
	WRITE_ONCE(s->cndig, c->ndig);
	WRITE_ONCE(s->csize, c->size);
	WRITE_ONCE(s->crem, c->rem);
}

SEC("sk_skb")
int relay_sm_verdict(struct __sk_buff *skb)
{
	__u64 ck = bpf_get_socket_cookie(skb), a, start, end, fwd;
	__u32 len = skb->len, *ix, idx, gen, peer;
	struct relay_sm_slot *s;

	ix = bpf_map_lookup_elem(&relay_slot_of, &ck);
	if (!ix)
		return SK_PASS;         /* a client socket: its bytes are requests */
	idx = *ix;
	if (idx >= RELAY_SM_SLOTS)
		return SK_PASS;
	s = &relay_slots[idx];
	/* a zero-length skb (a bare FIN) must never be redirected: the psock
	 * backlog takes a send of 0 bytes for a broken pipe */
	if (!len || READ_ONCE(s->cookie) != ck) {
		count(RELAY_SM_C_PASS_BYTES, len);
		return SK_PASS;
	}
	a = s->seen;
	WRITE_ONCE(s->seen, a + len);
	/* gen first: user space writes the range before it, in program order
	 * (x86-64 keeps stores and loads in order) */
	gen = READ_ONCE(s->gen);
	if (!gen || READ_ONCE(s->res_gen) == gen)
		goto pass;
	start = READ_ONCE(s->arm_start);
	end = READ_ONCE(s->arm_end);
	peer = READ_ONCE(s->peer);
	if (s->cur_gen != gen) {
		s->cur_gen = gen;
		WRITE_ONCE(s->fwd, 0);
	}
	fwd = s->fwd;
	if (READ_ONCE(s->mode) == RELAY_SM_HEAD) {
		__u32 status = 0, hl, chunked = 0;
		struct cs *c = 0;
		__u64 cl = 0;
		int r;

		if (fwd) {
			end = s->kend;
			if (s->kchunked && end == RELAY_SM_OPEN && a == start + fwd) {
				/* the framing decides, skb by skb; one it
				 * cannot follow ends the arming before it, and
				 * user space parses on from the state saved */
				r = chunk_scan(skb, 0, s, 0, &c);
				if (!r || !c) {
					finish(s, idx, gen, RELAY_SM_MISSED, RELAY_SM_C_MISSED, 0);
					goto pass;
				}
				chunk_commit(s, c);
				if (r == 2) {
					end = a + len;
					WRITE_ONCE(s->kend, end);
				}
			}
		} else {
			/* the response's first skb: all of it kernel's, or
			 * all of it user space's */
			hl = a == start ? head_check(skb, 0, &status, &cl, &chunked, READ_ONCE(s->min_body)) : 0;
			if (hl && chunked) {
				r = chunk_scan(skb, hl, s, 1, &c);
				if (!r || !c)
					hl = 0;
				else
					end = r == 2 ? a + len : RELAY_SM_OPEN;
			} else {
				end = start + hl + cl;
			}
			if (!hl || a + len > end) {
				count(RELAY_SM_C_HEADS_PASSED, 1);
				finish(s, idx, gen, RELAY_SM_MISSED, RELAY_SM_C_MISSED, 1);
				goto pass;
			}
			if (c)
				chunk_commit(s, c);
			/* before fwd moves: user space reads them once it does */
			WRITE_ONCE(s->kstatus, status);
			WRITE_ONCE(s->kchunked, chunked);
			WRITE_ONCE(s->kend, end);
			count(RELAY_SM_C_HEADS, 1);
		}
	}
	if (a != start + fwd) {
		/* bytes between the arming's start and this skb went to user
		 * space: redirecting now would put these ahead of them */
		finish(s, idx, gen, RELAY_SM_MISSED, RELAY_SM_C_MISSED, 0);
		goto pass;
	}
	if (a + len > end) {
		/* the origin sent past the framing in the same skb: the
		 * response's last bytes go on, the rest is dropped (seen
		 * counts it, so the engine never pools the connection). The
		 * helper trims at most BPF_SKB_MAX_LEN (16 KiB) on sk_skb: a
		 * longer tail goes to user space, as an arming that stopped
		 * early, and user space sends the rest once the kernel's
		 * bytes are in the client's queue */
		if (bpf_skb_change_tail(skb, end - a, 0)) {
			finish(s, idx, gen, RELAY_SM_MISSED, RELAY_SM_C_MISSED, 0);
			goto pass;
		}
		count(RELAY_SM_C_TRIMMED, 1);
		len = end - a;
	}
	if (bpf_sk_redirect_map(skb, &relay_socks, peer, 0) != SK_PASS) {
		finish(s, idx, gen, RELAY_SM_ERR, RELAY_SM_C_ERR, 0);
		return SK_DROP;
	}
	WRITE_ONCE(s->fwd, fwd + len);
	count(RELAY_SM_C_REDIR_BYTES, len);
	if (a + len == end)
		finish(s, idx, gen, RELAY_SM_DONE, RELAY_SM_C_DONE, 0);
	return SK_PASS;
pass:
	/* user space reads these bytes; an arming whose start lies before
	 * self_end can no longer redirect anything (see the engine) */
	WRITE_ONCE(s->self_end, a + len);
	count(RELAY_SM_C_PASS_BYTES, len);
	return SK_PASS;
}

/* head_check alone, for BPF_PROG_TEST_RUN (which sk_skb programs lack, so
 * this one is a tc program and the head follows a 14-byte Ethernet header):
 * the start-up probe and the unit test (tests/unit/test_sm_head.c) run
 * heads through it and read the verdict here. Never attached. */
struct relay_head_result relay_head_out;

SEC("tc")
int relay_sm_head_probe(struct __sk_buff *skb)
{
	__u32 status = 0, chunked = 0;
	__u64 cl = 0;
	__u32 hl = head_check(skb, 14, &status, &cl, &chunked, 0);

	relay_head_out.head_len = hl;
	relay_head_out.status = hl ? status : 0;
	relay_head_out.content_length = hl ? cl : 0;
	relay_head_out.chunked = hl ? chunked : 0;
	return SK_PASS;
}

/* chunk_scan alone, the same way: from the state in relay_probe_in (or a
 * fresh size line when relay_probe_fresh), over the bytes after the
 * Ethernet header. */
struct relay_sm_slot relay_probe_in;
__u32 relay_probe_fresh;

SEC("tc")
int relay_sm_chunk_probe(struct __sk_buff *skb)
{
	struct cs *c = 0;
	int r = chunk_scan(skb, 14, &relay_probe_in, relay_probe_fresh, &c);

	relay_head_out.scan = r;
	if (c) {
		relay_head_out.scan_off = c->off - 14;
		relay_head_out.cst = c->st;
		relay_head_out.cndig = c->ndig;
		relay_head_out.csize = c->size;
		relay_head_out.crem = c->rem;
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
