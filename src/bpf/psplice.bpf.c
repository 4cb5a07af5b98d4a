/* psplice: the data path of packet-level TCP splicing (the paper's module,
 * section 3.3), four tc programs (clsact, cls_bpf direct action) over two
 * maps of connections (psplice_abi.h explains the sequence spaces):
 *  - psp_srv_in, ingress from the web server: a data segment inside the
 *    armed range of U is rewritten into C (addresses, ports, seq, ack and
 *    window of sock C, TSval/TSecr) and redirected to the client; every
 *    other segment of U is shifted into sock U's space and passed;
 *  - psp_cli_in, ingress from the client: a pure ACK for spliced bytes is
 *    rewritten into U (ack, SACK edges, TSval/TSecr, window rescaled from
 *    the client's scale to sock U's) and redirected to the server; every
 *    other segment of C is shifted into sock C's space and passed;
 *  - psp_cli_out, egress of sock C: seq and TSval shifted so the socket's
 *    bytes and the spliced ones form one stream for the client;
 *  - psp_srv_out, egress of sock U: ack shifted and held at what the client
 *    acknowledged, TSval shifted, SACK edges shifted.
 * What psp_srv_in and psp_cli_in redirect passes the target's egress
 * programs again (a redirect to egress goes through dev_queue_xmit): it is
 * marked PSP_MARK_OUT and let be there.
 * The entries live for the connections' whole lives (seqadj style: one
 * correction position, an offset before and one after). Whatever the
 * program cannot translate exactly is refused and counted (psp_stats).
 * Packet bytes are read and written with the skb helpers only: the
 * checksum helpers invalidate packet pointers, and the helpers also work on
 * skbs whose headers are not linear. IPv4 only; see doc/internals/packet.md. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "psplice_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSP_CONNS);
	__type(key, struct psp_key);
	__type(value, struct psp_client);
} psp_clients SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSP_CONNS);
	__type(key, struct psp_key);
	__type(value, struct psp_uplink);
} psp_uplinks SEC(".maps");

/* armings the engine asks for, keyed by U (psp_arm) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSP_CONNS);
	__type(key, struct psp_key);
	__type(value, struct psp_arm);
} psp_arms SEC(".maps");

/* one ring per worker: the engine hears of the ranges it armed */
struct psp_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PSP_RING_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, PSP_RINGS);
	__type(key, __u32);
	__array(values, struct psp_ring);
} psp_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PSP_C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} psp_stats SEC(".maps");

/* Fixed offsets: Ethernet, then an IPv4 header without options. */
#define OFF_IP          ETH_HLEN
#define OFF_IPSUM       (OFF_IP + 10)
#define OFF_SADDR       (OFF_IP + 12)
#define OFF_DADDR       (OFF_IP + 16)
#define OFF_TCP         (OFF_IP + 20)
#define OFF_SPORT       (OFF_TCP + 0)
#define OFF_DPORT       (OFF_TCP + 2)
#define OFF_SEQ         (OFF_TCP + 4)
#define OFF_ACK         (OFF_TCP + 8)
#define OFF_WIN         (OFF_TCP + 14)
#define OFF_TCPSUM      (OFF_TCP + 16)
#define OFF_OPT         (OFF_TCP + 20)
#define OPT_MAX         40
#define OPT_BUF         72              /* indexes are masked with 63, then read 4 bytes */

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

#define NEXT (-1)
#define LOOPBACK_IFINDEX 1      /* lo, in every namespace: no neighbours to resolve */

/* One TCP segment as read from the skb; numbers in host order. */
struct seg {
	__u32 saddr, daddr;             /* network order */
	__u16 sport, dport;             /* network order */
	__u32 seq, ack;
	__u16 win;
	__u8 flags;
	__u8 refuse;                    /* PSP_C_DROP_* found while parsing, checked once tracked */
	__u32 olen;                     /* option bytes, multiple of 4 */
	__u32 plen;                     /* payload bytes */
	int ts_at, sack_at, sack_n;     /* option offsets (-1: none) and SACK block count */
	__u32 tsval, tsecr;
	__u8 opt[OPT_BUF];              /* the options as they came */
	__u8 nopt[OPT_BUF];             /* as they will leave */
};

static __always_inline int count(__u32 idx, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&psp_stats, &idx);

	if (c)
		*c += 1;
	return verdict;
}

static __always_inline void count_n(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&psp_stats, &idx);

	if (c)
		*c += n;
}

static __always_inline void emit(__u32 wid, __u64 cookie, __u32 type, __u32 arg)
{
	struct psp_event ev = { cookie, type, arg };
	void *rb = bpf_map_lookup_elem(&psp_rings, &wid);

	if (rb)
		bpf_ringbuf_output(rb, &ev, sizeof(ev), 0);
}

/* The window sock U's empty receive buffer surely takes, in bytes. */
static __always_inline __u32 u_win(const struct psp_uplink *up)
{
	return up->u_win ? up->u_win : PSP_U_WIN;
}

/* RFC 1982 serial arithmetic on 32-bit sequence numbers and timestamps. */
static __always_inline int before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static __always_inline __u32 ser_max(__u32 a, __u32 b)
{
	return before(a, b) ? b : a;
}

static __always_inline __u32 ser_min(__u32 a, __u32 b)
{
	return before(a, b) ? a : b;
}

static __always_inline __u32 ser_clamp(__u32 v, __u32 lo, __u32 hi)
{
	if (before(v, lo))
		return lo;
	if (before(hi, v))
		return hi;
	return v;
}

static __always_inline __u32 get32(const __u8 *b, int at)
{
	__u32 v;

	__builtin_memcpy(&v, b + (at & 63), 4);
	return bpf_ntohl(v);
}

static __always_inline void set32(__u8 *b, int at, __u32 host)
{
	__u32 v = bpf_htonl(host);

	__builtin_memcpy(b + (at & 63), &v, 4);
}

/* The options: one timestamp option (kind 8, length 10), one SACK option
 * (kind 5, 2 + 8n bytes, n <= 4) found; anything malformed or a second
 * timestamp sets S->refuse. RFC 9293 3.2: kinds 0 and 1 are one byte,
 * every other option has a length byte of at least 2. One option per
 * bpf_loop step: the callback is verified once, where an unrolled walk
 * over 40 bytes would multiply the verifier's states. */
struct opt_walk {
	struct seg *s;
	__u32 i;
};

static long opt_step(__u64 n, void *ctx)
{
	struct opt_walk *w = ctx;
	struct seg *s = w->s;
	__u32 i = w->i;
	__u8 kind, len;

	if (i >= s->olen || i >= OPT_MAX)
		return 1;
	kind = s->opt[i & 63];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->i = i + 1;
		return 0;
	}
	if (i + 1 >= s->olen)
		goto bad;
	len = s->opt[(i + 1) & 63];
	if (len < 2 || i + len > s->olen)
		goto bad;
	if (kind == 8) {
		if (len != 10)
			goto bad;
		if (s->ts_at >= 0) {
			s->refuse = PSP_C_DROP_TS_DUP;
			return 1;
		}
		s->ts_at = i;
		s->tsval = get32(s->opt, i + 2);
		s->tsecr = get32(s->opt, i + 6);
	} else if (kind == 5) {
		if (len < 10 || (len - 2) % 8 || s->sack_at >= 0)
			goto bad;
		s->sack_at = i;
		s->sack_n = (len - 2) / 8;
	}
	w->i = i + len;
	return 0;
bad:
	s->refuse = PSP_C_DROP_BADOPT;
	return 1;
}

static __always_inline void parse_opts(struct seg *s)
{
	struct opt_walk w = { .s = s, .i = 0 };

	s->ts_at = s->sack_at = -1;
	s->sack_n = 0;
	bpf_loop(OPT_MAX, opt_step, &w, 0);
}

/* Reads the segment's headers into S, not its options (opts, once the
 * tuple is known to be tracked: an interface carries the other program's
 * connections and untracked ones too). Returns NEXT for an IPv4 TCP
 * segment whose tuple may be looked up (S->refuse may name a refusal, for
 * a tracked connection only), or a counted TC_ACT_OK / TC_ACT_SHOT. */
__noinline int parse(struct __sk_buff *skb, struct seg *s)
{
	__u8 h[20];
	__u16 proto, frag, tot;
	__u32 ihl, doff, tlen;

	if (!skb || !s)
		return TC_ACT_SHOT;

	if (bpf_skb_load_bytes(skb, 12, &proto, 2) || proto != bpf_htons(ETH_P_IP))
		return count(PSP_C_PASS_NOT_TCP, TC_ACT_UNSPEC);
	if (bpf_skb_load_bytes(skb, OFF_IP, h, 20))
		return count(PSP_C_DROP_TRUNC, TC_ACT_SHOT);
	if ((h[0] >> 4) != 4 || h[9] != IPPROTO_TCP)
		return count(PSP_C_PASS_NOT_TCP, TC_ACT_UNSPEC);
	ihl = (h[0] & 15) * 4;
	__builtin_memcpy(&frag, h + 6, 2);
	__builtin_memcpy(&tot, h + 2, 2);
	__builtin_memcpy(&s->saddr, h + 12, 4);
	__builtin_memcpy(&s->daddr, h + 16, 4);
	frag = bpf_ntohs(frag);
	tot = bpf_ntohs(tot);
	tlen = tot;
	if (frag & 0x1fff)
		return count(PSP_C_PASS_LATER_FRAG, TC_ACT_UNSPEC);
	if (ihl < 20 || ihl > 60)
		return count(PSP_C_DROP_TRUNC, TC_ACT_SHOT);
	if (ihl != 20 || (frag & 0x2000)) {
		/* only the ports are read, to tell whether the refusal is ours */
		if (bpf_skb_load_bytes(skb, OFF_IP + (ihl & 60), &s->sport, 2) ||
		    bpf_skb_load_bytes(skb, OFF_IP + (ihl & 60) + 2, &s->dport, 2))
			return count(PSP_C_DROP_TRUNC, TC_ACT_SHOT);
		s->refuse = ihl != 20 ? PSP_C_DROP_IPOPT : PSP_C_DROP_FRAG;
		return NEXT;
	}
	if (bpf_skb_load_bytes(skb, OFF_TCP, h, 20))
		return count(PSP_C_DROP_TRUNC, TC_ACT_SHOT);
	__builtin_memcpy(&s->sport, h, 2);
	__builtin_memcpy(&s->dport, h + 2, 2);
	s->seq = get32(h, 4);
	s->ack = get32(h, 8);
	doff = (h[12] >> 4) * 4;
	s->flags = h[13];
	s->win = ((__u16)h[14] << 8) | h[15];
	/* BIG TCP (a GSO skb over 64 KiB, on lo say) leaves tot_len 0: the
	 * length is the skb's, as the kernel's iph_totlen reads it */
	if (!tot && skb->gso_size && skb->len > OFF_IP + 0xffff)
		tlen = skb->len - OFF_IP;
	if (doff < 20 || tlen < 20 + doff || skb->len < OFF_IP + tlen) {
		s->refuse = PSP_C_DROP_TRUNC;
		return NEXT;
	}
	s->olen = (doff - 20) & 0x3c;
	s->plen = tlen - 20 - doff;
	return NEXT;
}

/* Reads and walks the options of a segment parse() read whole. */
static __always_inline void opts(struct __sk_buff *skb, struct seg *s)
{
	if (s->olen && (s->olen > OPT_MAX || bpf_skb_load_bytes(skb, OFF_OPT, s->opt, s->olen))) {
		s->refuse = PSP_C_DROP_TRUNC;
		return;
	}
	parse_opts(s);
	__builtin_memcpy(s->nopt, s->opt, OPT_BUF);
}

/* The refusals of a tracked connection's segment, in the order they are
 * counted; TS: the pair uses timestamps. Returns NEXT or a verdict. */
static __always_inline int refusals(struct seg *s, int ts)
{
	if (s->refuse)
		return count(s->refuse, TC_ACT_SHOT);
	if (s->flags & F_SYN)
		return count(PSP_C_PASS_SYN, TC_ACT_OK);
	/* RFC 7323 3.2: once negotiated, every segment but a RST carries it */
	if (ts && s->ts_at < 0 && !(s->flags & F_RST))
		return count(PSP_C_DROP_TS_MISSING, TC_ACT_SHOT);
	if (!ts && s->ts_at >= 0)
		return count(PSP_C_DROP_TS_UNEXPECTED, TC_ACT_SHOT);
	return NEXT;
}

/* A 32-bit field at OFF changes from OLD to NEW (network order); PSEUDO:
 * an address, in the pseudo header and the IP header. bpf_l4_csum_replace
 * updates a full checksum (CHECKSUM_NONE, and COMPLETE with skb->csum
 * following for pseudo-header fields), and for CHECKSUM_PARTIAL only the
 * pseudo-header fields (the field then holds that sum alone:
 * inet_proto_csum_replace4). Returns 0 or -1. */
static __always_inline int put32(struct __sk_buff *skb, __u32 off, __u32 old, __u32 new, int pseudo)
{
	if (old == new)
		return 0;
	if (bpf_l4_csum_replace(skb, OFF_TCPSUM, old, new, 4 | (pseudo ? BPF_F_PSEUDO_HDR : 0)))
		return -1;
	if (pseudo && bpf_l3_csum_replace(skb, OFF_IPSUM, old, new, 4))
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, 4, 0) ? -1 : 0;
}

static __always_inline int put16(struct __sk_buff *skb, __u32 off, __u16 old, __u16 new)
{
	if (old == new)
		return 0;
	if (bpf_l4_csum_replace(skb, OFF_TCPSUM, old, new, 2))
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, 2, 0) ? -1 : 0;
}

static __always_inline int put_seq(struct __sk_buff *skb, __u32 off, __u32 old, __u32 new)
{
	return put32(skb, off, bpf_htonl(old), bpf_htonl(new), 0);
}

/* Writes S->nopt over the options when they changed: one diff over the
 * whole area (a multiple of 4 bytes, 4-aligned in the segment). */
static __always_inline int put_opts(struct __sk_buff *skb, struct seg *s)
{
	__u32 olen = s->olen & 0x3c;
	__s64 diff;

	__u32 i, d = 0;

	for (i = 0; i < OPT_MAX; i += 4)
		d |= get32(s->opt, i) ^ get32(s->nopt, i);
	if (!olen || olen > OPT_MAX || !d)
		return 0;
	diff = bpf_csum_diff((__be32 *)s->opt, olen, (__be32 *)s->nopt, olen, 0);
	if (diff < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, OFF_TCPSUM, 0, (__u32)diff, 0))
		return -1;
	return bpf_skb_store_bytes(skb, OFF_OPT, s->nopt, olen, 0) ? -1 : 0;
}

/* The timestamp option becomes ten NOPs (kind 1), which any parser skips. */
static __always_inline void clear_ts(struct seg *s)
{
	for (int i = 0; i < 10; i++)
		s->nopt[(s->ts_at + i) & 63] = 1;
}

static __always_inline void set_ts(struct seg *s, __u32 tsval, __u32 tsecr)
{
	if (s->ts_at < 0)
		return;
	set32(s->nopt, s->ts_at + 2, tsval);
	set32(s->nopt, s->ts_at + 6, tsecr);
}

/* SACK edges to the other space (RFC 2018: a block is [left, right)). MAP
 * says for one edge where it goes: 1 translated into *OUT, 0 the block is
 * not the receiver's (the other connection's bytes): it is cut. Kept blocks
 * move to the front, the option shrinks to them, NOPs fill the rest; no
 * block left: the whole option becomes NOPs. KIND selects the map. */
#define SK_CLI_TO_SRV   0               /* client ACK -> server (H2) */
#define SK_CLI_TO_SOCK  1               /* client -> sock C (H2) */
#define SK_SOCK_TO_SRV  2               /* sock U -> server (H4) */
#define SK_SRV_TO_CLI   3               /* server -> client (H1): none is the client's */

struct sack_map {
	__u32 a, b;                     /* range bounds (wire) */
	__u32 o1, o2;                   /* offsets */
	int armed;
};

static __always_inline int sack_edge(int kind, const struct sack_map *m, __u32 e, __u32 *out)
{
	switch (kind) {
	case SK_CLI_TO_SRV:             /* [c_start, c_end] -> server space */
		if (before(e, m->a) || before(m->b, e))
			return 0;
		*out = e - m->a + m->o1;
		return 1;
	case SK_CLI_TO_SOCK:            /* <= c_start: - off_b; >= c_end: - off_a */
		if (!m->armed || !before(m->a, e)) {
			*out = e - m->o1;
			return 1;
		}
		if (before(e, m->b))
			return 0;
		*out = e - m->o2;
		return 1;
	case SK_SOCK_TO_SRV:            /* sock U space: below pos + off_b, else + off_a */
		*out = e + (before(e, m->a) ? m->o1 : m->o2);
		return 1;
	}
	return 0;
}

/* A global function: the verifier checks it once, not at every call site
 * with every state the caller had (its loops would multiply them). */
__noinline int map_sack(struct seg *s, int kind, const struct sack_map *m)
{
	__u32 l, r, nl, nr;
	int i, kept = 0, at;

	if (!s || !m)
		return 0;
	at = s->sack_at;
	if (at < 0 || at > OPT_MAX)
		return 0;
	for (i = 0; i < 4; i++) {
		if (i >= s->sack_n)
			break;
		l = get32(s->opt, at + 2 + 8 * i);
		r = get32(s->opt, at + 6 + 8 * i);
		if (kind == SK_SRV_TO_CLI || !sack_edge(kind, m, l, &nl) || !sack_edge(kind, m, r, &nr))
			continue;
		set32(s->nopt, at + 2 + 8 * kept, nl);
		set32(s->nopt, at + 6 + 8 * kept, nr);
		kept++;
	}
	if (kept == s->sack_n)
		return 0;
	count_n(PSP_C_SACK_CUT, s->sack_n - kept);
	if (kept) {
		s->nopt[(at + 1) & 63] = 2 + 8 * kept;
		at += 2 + 8 * kept;
		for (i = 0; i < 32; i++)
			if (i < 8 * (s->sack_n - kept))
				s->nopt[(at + i) & 63] = 1;
	} else {
		for (i = 0; i < 34; i++)
			if (i < 2 + 8 * s->sack_n)
				s->nopt[(at + i) & 63] = 1;
	}
	return 0;
}

/* 1: translated TSvals are also kept at or above the L7 socket's own clock
 * now (see ts_fwd); 0: the high-water mark alone (tests that need exact
 * numbers whatever the time) */
const volatile __u32 psp_ts_clock = 1;

/* Linux's TCP timestamp clock without the socket's offset: TSval =
 * CLOCK_MONOTONIC in ms + tp->tsoffset (tcp_clock_ms, usec timestamps
 * off), and bpf_ktime_get_ns is CLOCK_MONOTONIC. */
static __always_inline __u32 now_ms(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000000);
}

/* The socket's clock learned from its own TSval: the skb's stamp was
 * taken just before, so raw - now is at most its offset; the largest
 * sample is kept. */
static __always_inline void clk_learn(__u32 raw, __u32 now, __u32 *clk, __u8 *valid)
{
	__u32 d = raw - now;

	if (!psp_ts_clock)
		return;
	*clk = *valid ? ser_max(*clk, d) : d;
	*valid = 1;
}

/* A TSval toward a peer whose highest received TSval is *HI: shifted by
 * *OFF, and *OFF raised when that would go below *HI (PAWS, RFC 7323 5.3:
 * a TSval below the peer's ts_recent is dropped). For a translated TSval
 * (CLK_VALID), also never below the L7 socket's own clock now (CLK: its
 * offset from CLOCK_MONOTONIC ms, as the peer sees it): an offset
 * anchored to the socket's last TSval alone lags by the time since it, and
 * the socket's next segment would then jump ahead of every translated one
 * that follows it (the receiver drops those under PAWS). NOW: now_ms(),
 * read before the caller took the lock (no helper call under it). Returns
 * the TSval. */
static __always_inline __u32 ts_fwd(__u32 tsval, __u32 *off, __u32 *hi, __u8 *hi_valid,
				    __u32 clk, int clk_valid, __u32 now)
{
	__u32 v = tsval + *off, lo = v;

	if (*hi_valid && before(lo, *hi))
		lo = *hi;
	if (clk_valid && psp_ts_clock && before(lo, now + clk))
		lo = now + clk;
	if (before(v, lo)) {
		*off += lo - v;
		v = lo;
	}
	*hi = *hi_valid ? ser_max(*hi, v) : v;
	*hi_valid = 1;
	return v;
}

/* K is the tuple S arrived with (as the maps key a connection). */
static __always_inline int came_as(const struct psp_key *k, const struct seg *s)
{
	return k->saddr == s->saddr && k->daddr == s->daddr && k->sport == s->sport &&
	       k->dport == s->dport;
}

/* Address, port, seq, ack, window and option rewrites in one place. */
struct out {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u32 seq, ack;
	__u16 win;
	__u8 flags;
};

__noinline int rewrite(struct __sk_buff *skb, struct seg *s, const struct out *o)
{
	if (!skb || !s || !o)
		return -1;
	if (put32(skb, OFF_SADDR, s->saddr, o->saddr, 1) ||
	    put32(skb, OFF_DADDR, s->daddr, o->daddr, 1) ||
	    put16(skb, OFF_SPORT, s->sport, o->sport) ||
	    put16(skb, OFF_DPORT, s->dport, o->dport) ||
	    put_seq(skb, OFF_SEQ, s->seq, o->seq) ||
	    put_seq(skb, OFF_ACK, s->ack, o->ack) ||
	    put16(skb, OFF_WIN, bpf_htons(s->win), bpf_htons(o->win)) ||
	    put_opts(skb, s))
		return -1;
	if (o->flags != s->flags) {
		/* the 16-bit word of data offset and flags */
		__u8 w[2];

		if (bpf_skb_load_bytes(skb, OFF_TCP + 12, w, 2))
			return -1;
		__u16 old = ((__u16)w[0] << 8) | w[1], new = (old & 0xff00) | o->flags;

		if (put16(skb, OFF_TCP + 12, bpf_htons(old), bpf_htons(new)))
			return -1;
	}
	return 0;
}

static __always_inline void same(struct out *o, const struct seg *s)
{
	o->saddr = s->saddr;
	o->daddr = s->daddr;
	o->sport = s->sport;
	o->dport = s->dport;
	o->seq = s->seq;
	o->ack = s->ack;
	o->win = s->win;
	o->flags = s->flags;
}

static __always_inline int done(struct __sk_buff *skb, struct seg *s, const struct out *o,
				__u32 ctr, int verdict)
{
	if (rewrite(skb, s, o))
		return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
	return count(ctr, verdict);
}

/* The start every hook shares: the segment parsed into S, its
 * connection's entry looked up in MAP (EGRESS: the L7 socket's own
 * segment, whose tuple is the key reversed) and the refusals checked.
 * Returns the entry, or NULL with *V the (counted) verdict. */
static __always_inline void *enter(struct __sk_buff *skb, struct seg *s, void *map, int egress,
				   int *v)
{
	struct psp_key k;
	void *e;

	*v = parse(skb, s);
	if (*v != NEXT)
		return NULL;
	if (egress)
		k = (struct psp_key){ s->daddr, s->saddr, s->dport, s->sport };
	else
		k = (struct psp_key){ s->saddr, s->daddr, s->sport, s->dport };
	e = bpf_map_lookup_elem(map, &k);
	if (!e) {
		*v = count(PSP_C_PASS_UNTRACKED, TC_ACT_UNSPEC);
		return NULL;
	}
	if (!s->refuse)
		opts(skb, s);
	if ((s->flags & (F_SYN | F_ACK)) == F_SYN && !s->refuse) {
		/* a new connection on a tracked tuple (the client's SYN at H2,
		 * sock U's at H4): the closed one's entry goes, so its offsets
		 * never touch the new one */
		bpf_map_delete_elem(map, &k);
		*v = count(PSP_C_PASS_SYN, TC_ACT_OK);
		return NULL;
	}
	/* flags sits at the same offset in both entries (psplice_abi.h) */
	*v = refusals(s, ((struct psp_client *)e)->flags & PSP_F_TS);
	return *v == NEXT ? e : NULL;
}

/* Sends the rewritten frame out of IFINDEX; NEIGH: through the neighbour
 * table. Toward lo the frame keeps the Ethernet header it came in with,
 * whose destination is the interface it arrived on (a veth's address):
 * loopback_xmit's eth_type_trans would take it for another host's
 * (PACKET_OTHERHOST) and ip_rcv_core drop it, so both addresses become
 * lo's own (zero). Found with a web server on the node itself: every
 * translated client ACK to it was dropped so, and the range stalled. */
static __always_inline int out_to(struct __sk_buff *skb, __u32 ifindex, int neigh)
{
	__u8 zero[12] = {};

	if (ifindex == LOOPBACK_IFINDEX) {
		if (bpf_skb_store_bytes(skb, 0, zero, sizeof(zero), 0))
			return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
		return bpf_redirect(ifindex, 0);
	}
	if (neigh)
		return bpf_redirect_neigh(ifindex, NULL, 0, 0);
	return bpf_redirect(ifindex, 0);
}

/* ---- H1: from the server ---------------------------------------------- */

SEC("tc")
int psp_srv_in(struct __sk_buff *skb)
{
	struct seg s = {};
	__u32 now;
	struct psp_uplink *up;
	struct psp_client *cl, *acl = NULL;
	struct psp_arm *a = NULL, arm = {};
	struct sack_map m;
	struct out o;
	__u32 end, c_start, c2s, ifindex, flags, tsval, tsecr = 0;
	__u32 u_start, u_end, off_b, off_a, off = 0, sseq = 0;
	__u8 c2s_valid, armed;
	int v, in, retrans, short_fin, raced = 0, claimed = 0, late, moved, probe;
	__u32 cw_lim = 0;

	up = enter(skb, &s, &psp_uplinks, 0, &v);
	if (!up)
		return v;
	same(&o, &s);
	end = s.seq + s.plen;
	/* what a claim of the engine's arming needs, looked up first: no
	 * helper may run under the lock */
	if (s.plen && !(s.flags & (F_FIN | F_SYN | F_RST))) {
		struct psp_key k = { s.saddr, s.daddr, s.sport, s.dport };

		a = bpf_map_lookup_elem(&psp_arms, &k);
		if (a) {
			arm = *a;
			acl = bpf_map_lookup_elem(&psp_clients, &arm.cl);
		}
		if (acl) {
			/* the client's right edge in sock C's space (less the
			 * offset its next range starts from) and less sock U's
			 * window (u_win): a range must not start past it
			 * (below); no ack from the client yet: the body's end */
			bpf_spin_lock(&acl->lock);
			cw_lim = acl->cli_ack_valid
				? acl->cli_ack + ((__u32)acl->cli_win << (acl->snd_wscale & 15)) -
				  (acl->armed ? acl->off_a : acl->off_b) - u_win(up)
				: arm.cpos0 + (arm.body_end - arm.body0);
			bpf_spin_unlock(&acl->lock);
		}
	}

	/* One decision per segment under the entry's lock, so that segments
	 * handled on other CPUs at the same time see either the range or
	 * none: the range (in), the start of one (the engine's arming: the
	 * segment continues exactly what sock U received and lies in the
	 * body), or sock U's (its end recorded, so no later segment can start
	 * a range before it). While a claim completes, the range's other
	 * segments are dropped (the server sends them again). */
	bpf_spin_lock(&up->lock);
	armed = up->armed;
	u_start = up->u_start;
	u_end = up->u_end;
	off_b = up->off_b;
	off_a = up->off_a;
	in = armed && s.plen && !(s.flags & F_RST) && !before(s.seq, u_start) && !before(u_end, end);
	/* a range the client has whole: a late retransmission (the server
	 * missed the client's last ACKs). The client may have gone on to
	 * another range, whose c_start this segment must never be put on;
	 * it goes to sock U below its rcv_nxt, as old bytes, which sock U
	 * answers with an ACK (of u_end and on, no longer held: H4) */
	late = in && up->cli_done;
	if (late)
		in = 0;
	/* a window probe or keepalive of the server (no data, seq snd_una -
	 * 1, RFC 9293 3.8.6.1) while the client, not sock U, gave it its
	 * window: for the client, which answers the old seq with an ACK of
	 * its window. At sock U's rcv_nxt it would be a pure ACK, answered by
	 * nothing, and a client window update lost on the way would leave the
	 * server probing into sock U until server_timeout. */
	probe = armed && !s.plen && !(s.flags & (F_SYN | F_FIN | F_RST)) && up->acked_valid &&
		!up->cli_done && s.seq == up->cli_acked - 1 && !before(up->cli_acked, u_start) &&
		before(up->cli_acked, u_end);
	if (probe)
		in = 1;
	if (up->claiming && s.plen) {
		raced = 1;
	} else if (!in && !late && acl && up->rcv_valid && s.seq == up->rcv_end) {
		off = armed && !before(s.seq, u_end) ? off_a : off_b;
		sseq = s.seq - off;
		if (!before(sseq, arm.body0) && before(sseq, arm.body_end) &&
		    !before(arm.body_end, sseq + s.plen)) {
			/* the range's first bytes go to the client at once,
			 * while the bytes before them are still on their way
			 * through sock U and the pipe; the server may send up
			 * to sock U's window (u_win) past this segment. If
			 * that lies beyond the client's right edge, the client
			 * drops it, and nothing tells the server (the client
			 * acks only sock C's bytes): it waits for its RTO.
			 * Such a segment goes to sock U, and a later one starts
			 * the range once the client has caught up */
			if (before(cw_lim, arm.cpos0 + (sseq - arm.body0))) {
				claimed = -1;
			} else {
				claimed = 1;
				up->claiming = 1;
			}
		}
	}
	if (!in && !raced && claimed <= 0) {
		/* to sock U: the server's echo of sock U's shifted TSval is
		 * shifted back, and never above the socket's own clock (a
		 * translated client TSval echoed) */
		tsecr = s.tsecr - up->tsoff;
		if (up->sock_valid)
			tsecr = ser_min(tsecr, up->sock_ts);
		if (!up->srv_valid || before(up->srv_ts, s.tsval))
			up->srv_ts = s.tsval;
		up->srv_valid = 1;
		if (!(s.flags & F_RST) && !late) {
			up->rcv_end = up->rcv_valid ? ser_max(up->rcv_end, end) : end;
			up->rcv_valid = 1;
		}
	}
	bpf_spin_unlock(&up->lock);
	if (raced)
		return count(PSP_C_DROP_NO_STATE, TC_ACT_SHOT);
	if (claimed < 0)
		count(PSP_C_CLAIM_WAIT, 0);

	if (claimed > 0) {
		/* the range is the rest of the body, from this segment on; the
		 * client's entry first, then the uplink's (which lets the
		 * range's segments through) */
		struct psp_key k = { s.saddr, s.daddr, s.sport, s.dport };
		__u32 len = arm.body_end - sseq, pos = arm.cpos0 + (sseq - arm.body0);

		bpf_map_delete_elem(&psp_arms, &k);     /* one taker */
		bpf_spin_lock(&acl->lock);
		acl->off_b = acl->armed ? acl->off_a : acl->off_b;
		acl->off_a = acl->off_b + len;
		acl->pos = pos;
		acl->c_start = pos + acl->off_b;
		acl->c_end = acl->c_start + len;
		acl->up_start = s.seq;
		acl->s2c_valid = 0;
		acl->up = k;
		acl->cookie = arm.cookie;
		acl->wid = arm.wid;
		acl->done = 0;
		acl->armed = 1;
		bpf_spin_unlock(&acl->lock);
		bpf_spin_lock(&up->lock);
		up->off_b = off;
		up->off_a = off + len;
		up->u_start = s.seq;
		up->u_end = s.seq + len;
		up->cl = arm.cl;
		up->fwd_valid = up->acked_valid = up->lo_valid = up->c2s_valid = 0;
		up->cli_done = up->cli_win_valid = 0;
		up->armed = 1;
		up->claiming = 0;
		bpf_spin_unlock(&up->lock);
		emit(arm.wid, arm.cookie, PSP_EV_CLAIM, sseq - arm.body0);
		count(PSP_C_CLAIMED, 0);
		in = 1;
		armed = 1;
		u_start = s.seq;
		u_end = s.seq + len;
		off_b = off;
		off_a = off + len;
	}
	if (armed && !(s.flags & F_RST) && !in && !late) {
		/* data over an edge of the range cannot be split here; over
		 * its end it is more than the body (bytes glued on): the body
		 * cannot be finished, the engine is told (it cuts the client) */
		if (s.plen && before(s.seq, u_end) && before(u_start, end)) {
			if (!before(s.seq, u_start) && before(u_end, end)) {
				cl = bpf_map_lookup_elem(&psp_clients, &up->cl);
				if (cl)
					emit(cl->wid, cl->cookie, PSP_EV_SHORT, 1);
			}
			return count(PSP_C_DROP_RANGE, TC_ACT_SHOT);
		}
	}
	short_fin = 0;
	if (in && (s.flags & F_FIN)) {
		/* the range's segments go to the client without their FIN:
		 * the client's stream goes on with sock C. At the range's end
		 * the server sends its FIN again, alone, and sock U takes it;
		 * before the end the server's stream ended short: the engine
		 * is told (it cuts the client's connection) */
		o.flags &= ~F_FIN;
		short_fin = before(end, u_end);
		count(short_fin ? PSP_C_FIN_SHORT : PSP_C_FIN_CLEARED, 0);
	}
	if (armed && !s.plen && (s.flags & F_FIN) && !before(s.seq, u_start) && before(s.seq, u_end)) {
		/* a FIN alone inside the range: the server's stream ended short;
		 * sock U takes it at its rcv_nxt (below), so the engine sees the
		 * end; the ack it sends stays held at the client's (H4) */
		count(PSP_C_FIN_SHORT, 0);
	}

	if (!in) {
		/* to sock U: its space lacks the range */
		if (!armed || before(s.seq, u_start))
			o.seq = s.seq - off_b;
		else if (late)
			o.seq = s.seq - off_a;  /* [pos - len, pos): sock U has it all */
		else if (before(s.seq, u_end))
			o.seq = u_start - off_b;
		else
			o.seq = s.seq - off_a;
		/* srv_ts is at least this segment's TSval now; a higher one
		 * (read without the lock: one aligned word) is a segment the
		 * server sent after this one: reordered, or the original its
		 * retransmission overtook. Sock U may hold that TSval as
		 * ts_recent and drop this one for PAWS (RFC 7323 5.3, as a
		 * direct connection would): an old duplicate (a range the
		 * client acked, bytes before one) then goes unanswered by the
		 * dupack and D-SACK the server learns from, and a segment with
		 * new bytes is lost. It goes without its timestamp (NOPs, the
		 * length kept): Linux skips PAWS for it, and acks it as it acks
		 * any segment (tcp_validate_incoming, tcp_data_queue) */
		if (s.ts_at >= 0 && before(s.tsval, *(volatile __u32 *)&up->srv_ts)) {
			clear_ts(&s);
			count(PSP_C_TS_CLEARED, 0);
		} else {
			set_ts(&s, s.tsval, tsecr);
		}
		return done(skb, &s, &o, late ? PSP_C_LATE : (s.flags & F_RST) ? PSP_C_PASS_RST_SRV
			    : PSP_C_TO_SOCK, TC_ACT_OK);
	}

	cl = bpf_map_lookup_elem(&psp_clients, &up->cl);
	if (!cl)
		return count(PSP_C_DROP_NO_PEER, TC_ACT_SHOT);
	/* the spliced segment carries sock C's ack and window */
	if (!cl->ack_valid)
		return count(PSP_C_DROP_NO_STATE, TC_ACT_SHOT);
	bpf_spin_lock(&up->lock);
	if (!up->srv_valid || before(up->srv_ts, s.tsval))
		up->srv_ts = s.tsval;
	up->srv_valid = 1;
	if (!up->lo_valid) {
		up->srv_ts_lo = s.tsval;
		up->lo_valid = 1;
	}
	retrans = up->fwd_valid && before(s.seq, up->fwd_hi);
	up->fwd_hi = up->fwd_valid ? ser_max(up->fwd_hi, end) : end;
	up->fwd_valid = 1;
	c2s = up->c2s;
	c2s_valid = up->c2s_valid;
	bpf_spin_unlock(&up->lock);

	now = now_ms();
	bpf_spin_lock(&cl->lock);
	c_start = cl->c_start;
	/* the client's range must be this one: its entry moves to another
	 * range only once it has this one whole (cli_done, above), but the
	 * two are read under different locks */
	moved = !cl->armed || cl->up_start != u_start || !came_as(&cl->up, &s);
	if (moved) {
		bpf_spin_unlock(&cl->lock);
		return count(PSP_C_DROP_MOVED, TC_ACT_SHOT);
	}
	if (!cl->s2c_valid) {
		cl->s2c = cl->hc_valid ? cl->hc - s.tsval : 0;
		cl->s2c_valid = 1;
		cl->cli_ts_lo = cl->cli_ts;
	}
	/* sock C's clock as the client sees it: its own plus its offset */
	tsval = ts_fwd(s.tsval, &cl->s2c, &cl->hc, &cl->hc_valid, cl->clk + cl->tsoff,
		       cl->clk_valid, now);
	/* the server echoes a translated client TSval (c2s) or sock U's; the
	 * client gets one it sent since the splice began */
	tsecr = c2s_valid ? ser_clamp(s.tsecr - c2s, cl->cli_ts_lo, cl->cli_ts) : cl->cli_ts;
	o.ack = cl->ack;
	o.win = cl->win;
	bpf_spin_unlock(&cl->lock);
	ifindex = cl->ifindex;
	flags = cl->flags;

	o.saddr = up->cl.daddr;
	o.daddr = up->cl.saddr;
	o.sport = up->cl.dport;
	o.dport = up->cl.sport;
	o.seq = s.seq - u_start + c_start;
	set_ts(&s, tsval, tsecr);
	m = (struct sack_map){};
	map_sack(&s, SK_SRV_TO_CLI, &m);
	if (rewrite(skb, &s, &o))
		return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
	if (short_fin)
		emit(cl->wid, cl->cookie, PSP_EV_SHORT, 0);
	if (probe) {
		count(PSP_C_PROBE_CLI, 0);
	} else {
		if (retrans)
			count(PSP_C_RETRANS, 0);
		count_n(PSP_C_SPLICED_BYTES, s.plen);
		count(PSP_C_SPLICED, 0);
	}
	skb->mark = PSP_MARK_OUT;
	if (!ifindex)
		return count(PSP_C_DROP_NO_STATE, TC_ACT_SHOT);
	return out_to(skb, ifindex, flags & PSP_F_NEIGH);
}

/* ---- H2: from the client ---------------------------------------------- */

/* The client entry's range, read under its lock: a claim on another CPU
 * changes all of it at once. */
struct cview {
	__u8 armed;
	__u32 c_start, c_end, off_b, off_a, up_start;
};

static __always_inline struct cview cview(struct psp_client *cl)
{
	struct cview v;

	bpf_spin_lock(&cl->lock);
	v.armed = cl->armed;
	v.c_start = cl->c_start;
	v.c_end = cl->c_end;
	v.off_b = cl->off_b;
	v.off_a = cl->off_a;
	v.up_start = cl->up_start;
	bpf_spin_unlock(&cl->lock);
	return v;
}

/* Sock C reset while the client still missed spliced bytes, so the RST
 * may have come before the client's next expected byte, which RFC 5961
 * 3.2 answers with a challenge ACK instead of a reset. Whatever the client
 * sends now (that ACK) names that byte: it goes back as a RST from sock
 * C's tuple at exactly that sequence number. */
static __always_inline int reflect_rst(struct __sk_buff *skb, struct seg *s)
{
	struct out o;
	int ifindex = skb->ifindex;

	o.saddr = s->daddr;
	o.daddr = s->saddr;
	o.sport = s->dport;
	o.dport = s->sport;
	o.seq = s->ack;
	o.ack = s->seq + s->plen;
	o.win = 0;
	o.flags = F_RST | F_ACK;
	if (rewrite(skb, s, &o))
		return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
	count(PSP_C_RST_REFLECT, 0);
	skb->mark = PSP_MARK_OUT;
	return out_to(skb, ifindex, 1);
}

/* Under CL's lock: the client's ack in S is recorded (sock C's RSTs go
 * there, see H3); returns 1 the first time it covers the armed range. */
static __always_inline int cli_acks(struct psp_client *cl, const struct seg *s, __u32 now)
{
	if (!(s->flags & F_ACK))
		return 0;
	if (!cl->cli_ack_valid || before(cl->cli_ack, s->ack))
		cl->ack_ms = now;       /* the engine's progress: when, not only how far */
	cl->cli_ack = cl->cli_ack_valid ? ser_max(cl->cli_ack, s->ack) : s->ack;
	cl->cli_ack_valid = 1;
	cl->cli_win = s->win;
	if (!cl->armed || cl->done || before(s->ack, cl->c_end))
		return 0;
	cl->done = 1;
	return 1;
}

/* The client has every byte of the range: sock U may now acknowledge all
 * of it to the server (H4), and the engine hears of it. */
static __always_inline void range_done(struct psp_client *cl, struct psp_uplink *up)
{
	if (up)
		up->cli_done = 1;
	emit(cl->wid, cl->cookie, PSP_EV_DONE, 0);
	count(PSP_C_DONE, 0);
}

/* ICMP errors about a client connection. An error (destination
 * unreachable, fragmentation needed among them, time exceeded, parameter
 * problem) quotes the IP header and the first 8 bytes of the segment it is
 * about (RFC 792), here a segment toward the client, so in C's wire
 * numbers. The stack matches the quote with sock C's tuple and takes it
 * only when its seq lies within sock C's [snd_una, snd_nxt] (tcp_v4_err),
 * so the quoted seq goes into sock C's space, by the inverse of H3's rule;
 * a quoted spliced segment (the server's) becomes pos. sock C then learns
 * the path's MTU (RFC 1191), and the engine stops arming the pair once the
 * server's segments no longer fit it (tcpi_pmtu). The ICMP checksum covers
 * the quote (no pseudo header): one 4-byte change. Returns NEXT when the
 * packet is not an ICMP error about TCP. */
static __always_inline int icmp_in(struct __sk_buff *skb)
{
	__u8 h[20], q[28];
	__u16 proto, frag;
	__u32 w, sock;
	struct psp_key k;
	struct psp_client *cl;
	struct cview cv;
	int range = 0;

	if (bpf_skb_load_bytes(skb, 12, &proto, 2) || proto != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, OFF_IP, h, 20) || (h[0] >> 4) != 4 || h[9] != IPPROTO_ICMP)
		return NEXT;
	__builtin_memcpy(&frag, h + 6, 2);
	if ((h[0] & 15) != 5 || (bpf_ntohs(frag) & 0x3fff) ||
	    bpf_skb_load_bytes(skb, OFF_IP + 20, h, 8) || (h[0] != 3 && h[0] != 11 && h[0] != 12) ||
	    bpf_skb_load_bytes(skb, OFF_IP + 28, q, 28) || (q[0] >> 4) != 4 || (q[0] & 15) != 5 ||
	    q[9] != IPPROTO_TCP)
		return count(PSP_C_PASS_NOT_TCP, TC_ACT_UNSPEC);
	/* the quote is sock C's segment: from the L7 (saddr) to the client */
	__builtin_memcpy(&k.saddr, q + 16, 4);
	__builtin_memcpy(&k.daddr, q + 12, 4);
	__builtin_memcpy(&k.sport, q + 22, 2);
	__builtin_memcpy(&k.dport, q + 20, 2);
	cl = bpf_map_lookup_elem(&psp_clients, &k);
	if (!cl)
		return count(PSP_C_PASS_UNTRACKED, TC_ACT_UNSPEC);
	cv = cview(cl);
	w = get32(q, 24);
	if (!cv.armed || before(w, cv.c_start)) {
		sock = w - cv.off_b;
	} else if (before(w, cv.c_end)) {
		sock = cv.c_start - cv.off_b;
		range = 1;
	} else {
		sock = w - cv.off_a;
	}
	w = bpf_htonl(w);
	sock = bpf_htonl(sock);
	if (w != sock && (bpf_l4_csum_replace(skb, OFF_IP + 20 + 2, w, sock, 4) ||
			  bpf_skb_store_bytes(skb, OFF_IP + 28 + 24, &sock, 4, 0)))
		return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
	if (range)
		count(PSP_C_ICMP_RANGE, 0);
	return count(PSP_C_ICMP_TO_SOCK, TC_ACT_OK);
}

SEC("tc")
int psp_cli_in(struct __sk_buff *skb)
{
	int iv = icmp_in(skb);

	if (iv != NEXT)
		return iv;
	struct cview cv;
	struct seg s = {};
	__u32 now;
	struct psp_client *cl;
	struct psp_uplink *up = NULL;
	struct sack_map m;
	struct out o;
	__u32 s2c, ack_srv, tsval, tsecr, ifindex, win, pos;
	__u8 s2c_valid;
	int v, in, pure, clone = 0, mark, fin, back;
	__u32 cap;

	cl = enter(skb, &s, &psp_clients, 0, &v);
	if (!cl)
		return v;
	cv = cview(cl);
	now = now_ms();
	if (cl->reset && (s.flags & F_ACK) && !(s.flags & (F_RST | F_SYN)))
		return reflect_rst(skb, &s);
	if (cv.armed) {
		up = bpf_map_lookup_elem(&psp_uplinks, &cl->up);
		if (!up)
			return count(PSP_C_DROP_NO_PEER, TC_ACT_SHOT);
	}
	same(&o, &s);
	mark = skb->mark == PSP_MARK_SOCK;
	pure = !s.plen && !(s.flags & (F_FIN | F_SYN | F_RST)) && (s.flags & F_ACK);
	/* the uplink's range must still be this client's: a pooled U goes on
	 * to another client's range once this one was acked whole, and a
	 * late duplicate ACK of it is then sock C's (pos) */
	if (up && !came_as(&up->cl, &s))
		up = NULL;
	in = cv.armed && (s.flags & F_ACK) && before(cv.c_start, s.ack) && !before(cv.c_end, s.ack);
	pos = cv.c_start - cv.off_b;

	if (!in || !pure || mark || !up) {
		/* to sock C: ack and SACK edges into its space (the range
		 * collapses onto pos), TSecr back by sock C's offset and never
		 * above its clock (the client echoed a spliced TSval) */
		__u32 a = s.ack;

		if (!cv.armed || !before(cv.c_start, a))
			o.ack = a - cv.off_b;
		else if (before(a, cv.c_end) || mark)
			o.ack = pos;
		else
			o.ack = a - cv.off_a;
		if (mark)
			o.ack = pos;
		if (up && !mark && !pure && before(cv.c_start, a)) {
			ack_srv = (before(cv.c_end, a) ? cv.c_end : a) - cv.c_start + cv.up_start;
			if (!up->acked_valid || before(up->cli_acked, ack_srv))
				count(PSP_C_ACK_UNFWD, 0);
		}
		m = (struct sack_map){ cv.c_start, cv.c_end, cv.off_b, cv.off_a, cv.armed };
		map_sack(&s, SK_CLI_TO_SOCK, &m);
		bpf_spin_lock(&cl->lock);
		tsecr = s.tsecr - cl->tsoff;
		if (cl->sock_valid)
			tsecr = ser_min(tsecr, cl->sock_ts);
		if (!mark) {
			cl->cli_ts = s.tsval;
			cl->cli_valid = 1;
		}
		if (s.flags & F_ACK) {
			cl->sock_acked = cl->sock_acked_valid ? ser_max(cl->sock_acked, o.ack) : o.ack;
			cl->sock_acked_valid = 1;
		}
		fin = !mark && cli_acks(cl, &s, now);
		bpf_spin_unlock(&cl->lock);
		if (fin)
			range_done(cl, up);
		set_ts(&s, s.tsval, tsecr);
		if (mark)
			skb->mark = 0;
		return done(skb, &s, &o, PSP_C_TO_SOCK, TC_ACT_OK);
	}

	/* a pure ACK of spliced bytes: to the server, with sock U's seq */
	if (!up->nxt_valid)
		return count(PSP_C_DROP_NO_STATE, TC_ACT_SHOT);
	bpf_spin_lock(&cl->lock);
	cl->cli_ts = s.tsval;
	cl->cli_valid = 1;
	fin = cli_acks(cl, &s, now);
	/* the ACK covers sock C's bytes before the range too (the head):
	 * sock C must hear of them, or it retransmits them */
	if (!cl->sock_acked_valid || before(cl->sock_acked, pos)) {
		clone = 1;
		cl->sock_acked = pos;
		cl->sock_acked_valid = 1;
	}
	s2c = cl->s2c;
	s2c_valid = cl->s2c_valid;
	bpf_spin_unlock(&cl->lock);
	if (fin)
		range_done(cl, up);
	if (clone) {
		__u32 old = skb->mark;

		skb->mark = PSP_MARK_SOCK;
		if (bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS))
			count(PSP_C_DROP_HELPER, 0);
		else
			count(PSP_C_ACK_CLONE, 0);
		skb->mark = old;
	}

	ack_srv = s.ack - cv.c_start + cv.up_start;
	now = now_ms();
	bpf_spin_lock(&up->lock);
	if (!up->c2s_valid) {
		up->c2s = up->hu_valid ? up->hu - s.tsval : 0;
		up->c2s_valid = 1;
	}
	tsval = ts_fwd(s.tsval, &up->c2s, &up->hu, &up->hu_valid, up->clk + up->tsoff,
		       up->clk_valid, now);
	/* the client echoes a spliced TSval (s2c) or sock C's: the server
	 * gets one it sent since the splice began */
	tsecr = s2c_valid ? ser_clamp(s.tsecr - s2c, up->srv_ts_lo, up->srv_ts) : up->srv_ts;
	up->cli_acked = up->acked_valid ? ser_max(up->cli_acked, ack_srv) : ack_srv;
	up->acked_valid = 1;
	o.seq = up->snd_nxt;
	/* RFC 7323 2.3: the window field is scaled by its sender's shift; the
	 * server reads it with sock U's, so rescale (down: never more than
	 * the client offered) */
	win = ((__u32)s.win << (cl->snd_wscale & 15)) >> (up->rcv_wscale & 15);
	win = win > 0xffff ? 0xffff : win;
	/* the ack of the range's last byte: what the server sends next goes
	 * to sock U, so the window it is told is sock U's again: RFC 9293
	 * 3.10.7.4 lets a window shrink only on a segment that acks new
	 * data, and this is the last such one before the next response;
	 * without it the server sends that one at the client's window and
	 * overruns sock U's. Not the last window sock U announced (taken
	 * before its queue was drained, it may be 0, and the server would
	 * wait on its probe timer), but what sock U's buffer, empty by then,
	 * surely takes (u_win) */
	cap = u_win(up) >> (up->rcv_wscale & 15);
	back = s.ack == cv.c_end && cap < win;
	if (back)
		win = cap;
	up->cli_win = win;
	up->cli_win_valid = 1;
	bpf_spin_unlock(&up->lock);
	if (back)
		count(PSP_C_WIN_BACK, 0);
	ifindex = up->ifindex;
	o.win = win;
	o.saddr = cl->up.daddr;
	o.daddr = cl->up.saddr;
	o.sport = cl->up.dport;
	o.dport = cl->up.sport;
	o.ack = ack_srv;
	m = (struct sack_map){ cv.c_start, cv.c_end, cv.up_start, 0, 1 };
	map_sack(&s, SK_CLI_TO_SRV, &m);
	set_ts(&s, tsval, tsecr);
	if (rewrite(skb, &s, &o))
		return count(PSP_C_DROP_HELPER, TC_ACT_SHOT);
	count(PSP_C_ACK_TO_SRV, 0);
	skb->mark = PSP_MARK_OUT;
	if (!ifindex)
		return count(PSP_C_DROP_NO_STATE, TC_ACT_SHOT);
	return out_to(skb, ifindex, up->flags & PSP_F_NEIGH);
}

/* ---- H3: sock C toward the client ------------------------------------- */

SEC("tc")
int psp_cli_out(struct __sk_buff *skb)
{
	struct cview cv;
	struct seg s = {};
	__u32 now;
	struct psp_client *cl;
	struct out o;
	__u32 tsval, nxt;
	int v;

	if (skb->mark == PSP_MARK_OUT) {
		skb->mark = 0;
		return count(PSP_C_PASS_OURS, TC_ACT_OK);
	}
	cl = enter(skb, &s, &psp_clients, 1, &v);
	if (!cl)
		return v;
	cv = cview(cl);
	same(&o, &s);
	if (!cl->ifindex)
		cl->ifindex = skb->ifindex;     /* where sock C's segments leave */
	o.seq = s.seq + (before(s.seq, cv.c_start - cv.off_b) ? cv.off_b : cv.off_a);
	if ((s.flags & F_RST) && cv.armed && !cl->done && cl->cli_ack_valid) {
		/* sock C resets while the client still misses spliced bytes:
		 * at its own next seq the RST would lie past a hole, which the
		 * client answers with a challenge ACK (RFC 5961 3.2); at the
		 * client's next expected byte it is taken */
		o.seq = cl->cli_ack;
		cl->reset = 1;
		count(PSP_C_RST_CLI, 0);
	}
	if (cv.armed && !s.plen && !(s.flags & (F_FIN | F_SYN | F_RST)) &&
	    !before(s.seq, cv.c_start - cv.off_b)) {
		/* a pure ACK (say of a pipelined request) while the body is
		 * still on its way: c_end may lie beyond the client's window
		 * (RFC 9293 3.10.7.4: an unacceptable segment is dropped), so
		 * it carries the stream's real next seq, just past the highest
		 * spliced byte */
		struct psp_uplink *up = bpf_map_lookup_elem(&psp_uplinks, &cl->up);

		if (up) {
			__u32 sent = up->fwd_valid ? cv.c_start + (up->fwd_hi - cv.up_start)
						   : cv.c_start;

			if (before(sent, cv.c_end))
				o.seq = sent;
		}
	}
	now = now_ms();
	bpf_spin_lock(&cl->lock);
	if (s.flags & F_ACK) {
		cl->ack = s.ack;
		cl->win = s.win;
		cl->ack_valid = 1;
	}
	cl->sock_ts = s.tsval;
	cl->sock_valid = 1;
	nxt = s.seq + s.plen + !!(s.flags & F_FIN);
	cl->snd_nxt = cl->nxt_valid ? ser_max(cl->snd_nxt, nxt) : nxt;
	cl->nxt_valid = 1;
	clk_learn(s.tsval, now, &cl->clk, &cl->clk_valid);
	tsval = ts_fwd(s.tsval, &cl->tsoff, &cl->hc, &cl->hc_valid, 0, 0, now);
	bpf_spin_unlock(&cl->lock);
	set_ts(&s, tsval, s.tsecr);
	return done(skb, &s, &o, PSP_C_FROM_SOCK, TC_ACT_OK);
}

/* ---- H4: sock U toward the server ------------------------------------- */

SEC("tc")
int psp_srv_out(struct __sk_buff *skb)
{
	struct seg s = {};
	__u32 now;
	struct psp_uplink *up;
	struct sack_map m;
	struct out o;
	__u32 tsval, pos, limit;
	int v, probe, clamp;

	if (skb->mark == PSP_MARK_OUT) {
		skb->mark = 0;
		return count(PSP_C_PASS_OURS, TC_ACT_OK);
	}
	up = enter(skb, &s, &psp_uplinks, 1, &v);
	if (!up)
		return v;
	same(&o, &s);
	if (!up->ifindex)
		up->ifindex = skb->ifindex;
	pos = up->u_start - up->off_b;
	o.ack = s.ack + (before(s.ack, pos) ? up->off_b : up->off_a);
	/* a window probe (snd_una - 1, no data: what leaving TCP_REPAIR sends)
	 * would be dropped unread by the server (RFC 9293 3.10.7.4); at sock
	 * U's snd_nxt it is the ACK the engine asked for */
	probe = !s.plen && !(s.flags & (F_FIN | F_SYN | F_RST)) && up->nxt_valid &&
		s.seq == up->snd_nxt - 1 && up->armed && up->cli_done &&
		!(up->acked_valid && !before(up->cli_acked, up->u_end));
	if (probe) {
		o.seq = up->snd_nxt;
		count(PSP_C_PROBE_FIX, 0);
	}
	m = (struct sack_map){ pos, 0, up->off_b, up->off_a, up->armed };
	map_sack(&s, SK_SOCK_TO_SRV, &m);
	now = now_ms();
	bpf_spin_lock(&up->lock);
	/* never acknowledge spliced bytes the client has not: the ack stops
	 * at the client's until it covers the whole range */
	if (up->armed && (s.flags & F_ACK) && !before(s.ack, pos) && !up->cli_done &&
	    !(up->acked_valid && !before(up->cli_acked, up->u_end))) {
		limit = up->acked_valid ? ser_max(up->u_start, up->cli_acked) : up->u_start;
		if (before(limit, o.ack))
			o.ack = limit;
	}
	/* the server reads sock U's window as the one it may send into, and
	 * a larger one on an ACK at the same seq replaces the client's (Linux
	 * tcp_may_update_window): while the range is on its way, never more
	 * than the client's, or the server overruns it */
	clamp = up->armed && !up->cli_done && up->cli_win_valid && up->cli_win < o.win;
	if (clamp)
		o.win = up->cli_win;
	if (!probe) {
		up->snd_nxt = s.seq + s.plen + !!(s.flags & F_FIN);
		up->nxt_valid = 1;
	}
	if (up->armed && up->cli_done && (s.flags & F_ACK) && !before(o.ack, up->u_end)) {
		/* the server is told the client has it all: no more nudges */
		up->cli_acked = up->u_end;
		up->acked_valid = 1;
	}
	up->sock_ts = s.tsval;
	up->sock_valid = 1;
	clk_learn(s.tsval, now, &up->clk, &up->clk_valid);
	tsval = ts_fwd(s.tsval, &up->tsoff, &up->hu, &up->hu_valid, 0, 0, now);
	bpf_spin_unlock(&up->lock);
	if (clamp)
		count(PSP_C_WIN_CLAMP, 0);
	set_ts(&s, tsval, s.tsecr);
	return done(skb, &s, &o, PSP_C_FROM_SOCK, TC_ACT_OK);
}

char LICENSE[] SEC("license") = "GPL";
