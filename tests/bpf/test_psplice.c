/* test_psplice: the packet-level splicing data path (src/bpf/psplice.bpf.c),
 * its four tc programs driven with crafted IPv4 TCP frames through the
 * kernel's test-run hook. A response is walked through as the engine would
 * run it: the client's request, sock U's request, the server's head to
 * sock U, sock C's head to the client, then the body spliced from the
 * server to the client, the client's ACKs back to the server, sock U's ACK
 * held at what the client acknowledged, and the next request and response
 * through the sockets with the offsets kept. Every field that leaves is
 * compared with the value the translation rules give (doc/internals/packet.md),
 * round trips give back the server's own numbers, and the same walk runs
 * with every sequence number and timestamp a few hundred below 2^32 so each
 * range and offset wraps. Every refusal is checked with its counter.
 *
 * Checksums: every frame that comes out is verified here from scratch (the
 * IPv4 header sum, the TCP sum with its pseudo header), never with the
 * program's incremental arithmetic. Each translating run is done twice:
 *  - CHECKSUM_NONE, what test-run hands a program by default: the helpers
 *    must leave a full, correct TCP checksum;
 *  - CHECKSUM_COMPLETE (BPF_F_TEST_SKB_CHECKSUM_COMPLETE, Linux 6.11): the
 *    kernel sets skb->csum over the frame before the run and fails the run
 *    with EBADMSG when skb->csum no longer matches the bytes after it.
 * CHECKSUM_PARTIAL cannot be had here: bpf_prog_test_run_skb builds the skb
 * itself and its context (struct __sk_buff) has no field for ip_summed or
 * csum_start, so no test-run skb is ever partial. What PARTIAL needs is
 * that only the pseudo-header fields (the addresses) are given with
 * BPF_F_PSEUDO_HDR: for a partial skb inet_proto_csum_replace4 updates the
 * field (which then holds the pseudo-header sum alone) for those and
 * leaves it for every other field. That rule is in put32/put16 of the
 * program; the end-to-end check, over a veth (whose skbs from local sockets
 * stay partial) into a device without TX checksum offload, belongs to the
 * system test of the engine, which is not written yet.
 *
 * Runs in a fresh network namespace with a veth of its own (the redirect
 * targets and the clone's way back in). Needs CAP_BPF, CAP_NET_ADMIN and
 * CAP_SYS_ADMIN (root); says SKIP only without them. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_priv.h"
#include "csum_ref.h"
#include "psplice_abi.h"
#include "psplice.skel.h"
#include "tap.h"

#ifndef BPF_F_TEST_SKB_CHECKSUM_COMPLETE
#define BPF_F_TEST_SKB_CHECKSUM_COMPLETE (1U << 2)
#endif

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static struct psplice_bpf *S;
static int IFINDEX, PKTSOCK = -1;
static char PFX[48];

/* The four ends, in host order: client, the L7's address toward it, the
 * L7's address toward the server, the server. */
static uint32_t A_CLI, A_L7C, A_L7U, A_SRV;
#define P_CLI 40000
#define P_L7C 80
#define P_L7U 50000
#define P_SRV 8080

struct pkt {
	uint8_t align[2];               /* NET_IP_ALIGN, as in test_l4_xdp */
	uint8_t b[1600];
	uint32_t len;
};

/* One segment as built or as read back; host order. */
struct tcpf {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int ts;                         /* 1: a timestamp option */
	uint32_t tsval, tsecr;
	int nsack;
	uint32_t sack[4][2];
	uint32_t plen;
	/* raw option bytes instead of ts/sack when olen > 0 */
	uint8_t opt[40];
	int olen;
	int ihl;                        /* 0: 5 */
	uint16_t frag;                  /* frag_off field */
};

/* ---- checksums, from scratch ------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* 1 when the IPv4 header sum and the TCP sum of P both verify. */
static int sums_ok(const struct pkt *p)
{
	const uint8_t *ip = p->b + ETH_HLEN;
	uint32_t ihl = (ip[0] & 15) * 4, tot = ip[2] << 8 | ip[3], s;

	if (fold(sum16(ip, ihl, 0)) != 0xffff)
		return 0;
	s = sum16(ip + 12, 8, 0) + IPPROTO_TCP + (tot - ihl);
	return fold(sum16(ip + ihl, tot - ihl, s)) == 0xffff;
}

/* ---- frames ----------------------------------------------------------- */

static struct pkt build(const struct tcpf *f)
{
	struct pkt p;
	uint8_t *ip = p.b + ETH_HLEN, *t, *o;
	int ihl = f->ihl ? f->ihl * 4 : 20, olen = 0, tot;
	uint16_t c;

	memset(&p, 0, sizeof(p));
	memcpy(p.b, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00", 14);
	t = ip + ihl;
	o = t + 20;
	if (f->olen) {
		memcpy(o, f->opt, f->olen);
		olen = f->olen;
	} else {
		if (f->ts) {
			memcpy(o, "\x01\x01\x08\x0a", 4);
			wr32(o + 4, f->tsval);
			wr32(o + 8, f->tsecr);
			olen = 12;
		}
		if (f->nsack) {
			memcpy(o + olen, "\x01\x01\x05", 3);
			o[olen + 3] = 2 + 8 * f->nsack;
			for (int i = 0; i < f->nsack; i++) {
				wr32(o + olen + 4 + 8 * i, f->sack[i][0]);
				wr32(o + olen + 8 + 8 * i, f->sack[i][1]);
			}
			olen += 4 + 8 * f->nsack;
		}
	}
	tot = ihl + 20 + olen + f->plen;
	ip[0] = 0x40 | (ihl / 4);
	wr16(ip + 2, tot);
	wr16(ip + 4, 0x1234);
	wr16(ip + 6, f->frag ? f->frag : 0x4000);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	wr32(ip + 12, f->saddr);
	wr32(ip + 16, f->daddr);
	for (int i = 20; i < ihl; i++)
		ip[i] = 1;              /* NOP options */
	wr16(ip + 10, ~fold(sum16(ip, ihl, 0)));
	wr16(t, f->sport);
	wr16(t + 2, f->dport);
	wr32(t + 4, f->seq);
	wr32(t + 8, f->ack);
	t[12] = ((20 + olen) / 4) << 4;
	t[13] = f->flags;
	wr16(t + 14, f->win);
	for (uint32_t i = 0; i < f->plen; i++)
		t[20 + olen + i] = (uint8_t)(i * 7 + 3);
	c = ~fold(sum16(t, tot - ihl, sum16(ip + 12, 8, 0) + IPPROTO_TCP + (tot - ihl)));
	wr16(t + 16, c);
	p.len = ETH_HLEN + tot;
	return p;
}

/* Reads P back into F (timestamps and SACK blocks from the options);
 * returns 0, or -1 when the options do not parse. */
static int readback(const struct pkt *p, struct tcpf *f)
{
	const uint8_t *ip = p->b + ETH_HLEN, *t;
	int ihl = (ip[0] & 15) * 4, doff, i;

	memset(f, 0, sizeof(*f));
	t = ip + ihl;
	f->saddr = rd32(ip + 12);
	f->daddr = rd32(ip + 16);
	f->sport = t[0] << 8 | t[1];
	f->dport = t[2] << 8 | t[3];
	f->seq = rd32(t + 4);
	f->ack = rd32(t + 8);
	f->flags = t[13];
	f->win = t[14] << 8 | t[15];
	doff = (t[12] >> 4) * 4;
	f->plen = (ip[2] << 8 | ip[3]) - ihl - doff;
	f->olen = doff - 20;
	memcpy(f->opt, t + 20, f->olen);
	for (i = 0; i < f->olen;) {
		uint8_t k = f->opt[i], l;

		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		l = f->opt[i + 1];
		if (l < 2 || i + l > f->olen)
			return -1;
		if (k == 8) {
			f->ts++;
			f->tsval = rd32(f->opt + i + 2);
			f->tsecr = rd32(f->opt + i + 6);
		}
		if (k == 5) {
			f->nsack = (l - 2) / 8;
			for (int j = 0; j < f->nsack; j++) {
				f->sack[j][0] = rd32(f->opt + i + 2 + 8 * j);
				f->sack[j][1] = rd32(f->opt + i + 6 + 8 * j);
			}
		}
		i += l;
	}
	return 0;
}

/* ---- running ---------------------------------------------------------- */

enum { H_SRV_IN, H_CLI_IN, H_CLI_OUT, H_SRV_OUT };
static const char *HNAME[] = { "srv_in", "cli_in", "cli_out", "srv_out" };

static int prog_fd(int h)
{
	struct bpf_program *p[] = { S->progs.psp_srv_in, S->progs.psp_cli_in,
				    S->progs.psp_cli_out, S->progs.psp_srv_out };

	return bpf_program__fd(p[h]);
}

static uint32_t LAST_MARK;              /* skb->mark after the last run */

static int run1(int h, const struct pkt *in, struct pkt *out, uint32_t flags, uint32_t mark)
{
	struct __sk_buff ctx = { .ingress_ifindex = IFINDEX, .ifindex = IFINDEX, .mark = mark };
	struct __sk_buff cout = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &cout,
		    .ctx_size_out = sizeof(cout), .flags = flags);
	int err = bpf_prog_test_run_opts(prog_fd(h), &o);

	if (err)
		return -1000 + err;
	LAST_MARK = cout.mark;
	out->len = o.data_size_out;
	return (int)o.retval;
}

static uint64_t ctr(uint32_t id)
{
	return priv_percpu_sum(bpf_map__fd(S->maps.psp_stats), id);
}

static uint64_t CTR0[PSP_C_COUNT];

static void ctr_mark(void)
{
	for (int i = 0; i < PSP_C_COUNT; i++)
		CTR0[i] = ctr(i);
}

/* the counter's growth since ctr_mark */
static long long dctr(uint32_t id)
{
	return (long long)(ctr(id) - CTR0[id]);
}

/* Keys as the program builds them (network order). */
static struct psp_key ckey(void)
{
	return (struct psp_key){ htonl(A_CLI), htonl(A_L7C), htons(P_CLI), htons(P_L7C) };
}

static struct psp_key ukey(void)
{
	return (struct psp_key){ htonl(A_SRV), htonl(A_L7U), htons(P_SRV), htons(P_L7U) };
}

static struct psp_client get_cl(void)
{
	struct psp_client v = { 0 };
	struct psp_key k = ckey();

	bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_clients), &k, &v);
	return v;
}

static struct psp_uplink get_up(void)
{
	struct psp_uplink v = { 0 };
	struct psp_key k = ukey();

	bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_uplinks), &k, &v);
	return v;
}

static void put_cl(const struct psp_client *v)
{
	struct psp_key k = ckey();

	bpf_map_update_elem(bpf_map__fd(S->maps.psp_clients), &k, v, BPF_ANY);
}

static void put_up(const struct psp_uplink *v)
{
	struct psp_key k = ukey();

	bpf_map_update_elem(bpf_map__fd(S->maps.psp_uplinks), &k, v, BPF_ANY);
}

static void del_all(void)
{
	struct psp_key k = ckey();

	bpf_map_delete_elem(bpf_map__fd(S->maps.psp_clients), &k);
	k = ukey();
	bpf_map_delete_elem(bpf_map__fd(S->maps.psp_uplinks), &k);
}

/* Runs frame F through hook H with both checksum kinds; the COMPLETE run
 * must give the same action and bytes, and not fail with EBADMSG. Returns
 * the action; *OUT the frame, read back into *G. The state change is the
 * NONE run's: the COMPLETE run goes first on a copy of both entries and
 * U's arming, which are then put back. */
static int run(int h, const struct tcpf *f, struct tcpf *g, struct pkt *out, uint32_t mark,
	       const char *what)
{
	struct pkt in = build(f), out2;
	struct psp_client c0 = get_cl();
	struct psp_uplink u0 = get_up();
	struct psp_arm a0;
	uint64_t before[PSP_C_COUNT];
	int rc2, rc, had_c, had_u, had_a, arms = bpf_map__fd(S->maps.psp_arms);
	struct psp_key k;

	k = ckey();
	had_c = !bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_clients), &k, &c0);
	k = ukey();
	had_u = !bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_uplinks), &k, &u0);
	had_a = !bpf_map_lookup_elem(arms, &k, &a0);
	for (int i = 0; i < PSP_C_COUNT; i++)
		before[i] = ctr(i);
	rc2 = run1(h, &in, &out2, BPF_F_TEST_SKB_CHECKSUM_COMPLETE, mark);
	/* undo: the entries as they were, the counters' growth subtracted
	 * from the mark so dctr counts one run */
	if (had_c)
		put_cl(&c0);
	if (had_u)
		put_up(&u0);
	if (had_a)
		bpf_map_update_elem(arms, &k, &a0, BPF_ANY);
	for (int i = 0; i < PSP_C_COUNT; i++)
		CTR0[i] += ctr(i) - before[i];
	rc = run1(h, &in, out, 0, mark);
	ok(rc2 == rc && out2.len == out->len && !memcmp(out2.b, out->b, out->len),
	   "%s %s %s: CHECKSUM_COMPLETE run: same action (%d, %d) and bytes, skb->csum kept",
	   PFX, HNAME[h], what, rc2, rc);
	ok(sums_ok(out), "%s %s %s: IPv4 and TCP checksums verify from scratch", PFX, HNAME[h], what);
	if (readback(out, g))
		ok(0, "%s %s %s: options parse", PFX, HNAME[h], what);
	return rc;
}

/* the clone psp_cli_in sends back into v0, as a packet socket sees it */
static int clone_seen(struct tcpf *g)
{
	struct pkt p;
	ssize_t n;

	for (int tries = 0; tries < 64; tries++) {
		n = recv(PKTSOCK, p.b, sizeof(p.b), MSG_DONTWAIT);
		if (n < 0)
			return 0;
		p.len = n;
		if (n < 54 || p.b[12] != 8 || p.b[13] != 0 || p.b[23] != IPPROTO_TCP)
			continue;
		if (readback(&p, g) == 0)
			return 1;
	}
	return 0;
}

static void drain_pktsock(void)
{
	uint8_t b[2048];

	while (recv(PKTSOCK, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/* ---- the walk through one spliced response ----------------------------- */

struct base {
	const char *name;
	uint32_t cseq;                  /* the client's next sequence number */
	uint32_t pos;                   /* sock C's sequence number just after the head */
	uint32_t coff;                  /* C's offset from splices before (off_b) */
	uint32_t useq;                  /* sock U's next sequence number */
	uint32_t u_start;               /* the server's first body byte */
	uint32_t uoff;                  /* U's offset from splices before */
	uint32_t len;                   /* the body */
	uint32_t tsc, tss, tsC, tsU;    /* clocks: client, server, sock C, sock U */
};

static struct tcpf T(uint32_t sa, uint16_t sp, uint32_t da, uint16_t dp, uint32_t seq, uint32_t ack,
		     uint8_t flags, uint16_t win, uint32_t tsval, uint32_t tsecr, uint32_t plen)
{
	struct tcpf f = { .saddr = sa, .daddr = da, .sport = sp, .dport = dp, .seq = seq,
			  .ack = ack, .flags = flags, .win = win, .ts = 1, .tsval = tsval,
			  .tsecr = tsecr, .plen = plen };

	return f;
}

#define CLI2L7 A_CLI, P_CLI, A_L7C, P_L7C
#define L72CLI A_L7C, P_L7C, A_CLI, P_CLI
#define SRV2L7 A_SRV, P_SRV, A_L7U, P_L7U
#define L72SRV A_L7U, P_L7U, A_SRV, P_SRV

/* Both entries as user space arms them before the request goes up:
 * [u_start, u_start + len) of the server's bytes become
 * [pos + coff, pos + coff + len) of the client's. */
static void arm(const struct base *b, uint8_t snd_wscale, uint8_t rcv_wscale)
{
	struct psp_client c = { .flags = PSP_F_TS, .up = ukey(), .ifindex = IFINDEX,
				.snd_wscale = snd_wscale, .armed = 1, .pos = b->pos,
				.off_b = b->coff, .off_a = b->coff + b->len,
				.c_start = b->pos + b->coff, .c_end = b->pos + b->coff + b->len,
				.up_start = b->u_start };
	struct psp_uplink u = { .flags = PSP_F_TS, .cl = ckey(), .ifindex = IFINDEX,
				.rcv_wscale = rcv_wscale, .armed = 1, .u_start = b->u_start,
				.u_end = b->u_start + b->len, .off_b = b->uoff,
				.off_a = b->uoff + b->len };

	put_cl(&c);
	put_up(&u);
}

static int payload_same(const struct pkt *out, uint32_t plen)
{
	const uint8_t *ip = out->b + ETH_HLEN, *t = ip + 20;
	const uint8_t *d = t + (t[12] >> 4) * 4;

	for (uint32_t i = 0; i < plen; i++)
		if (d[i] != (uint8_t)(i * 7 + 3))
			return 0;
	return 1;
}

static void walk(const struct base *b)
{
	const uint32_t c_start = b->pos + b->coff, c_end = c_start + b->len;
	const uint32_t u_end = b->u_start + b->len, psock = b->u_start - b->uoff;
	struct tcpf f, g, cg;
	struct psp_client snap_c;
	struct pkt out;
	int rc;

	snprintf(PFX, sizeof(PFX), "%s:", b->name);
	del_all();
	arm(b, 7, 9);
	ctr_mark();

	/* 0: the client's request to sock C, acking the bytes before the head */
	f = T(CLI2L7, b->cseq, b->pos - 200 + b->coff, F_ACK | F_PSH, 300, b->tsc, b->tsC - 5, 100);
	rc = run(H_CLI_IN, &f, &g, &out, 0, "request");
	is_int(rc, TC_ACT_OK, "%s request passes to sock C", PFX);
	is_int(g.ack, b->pos - 200, "%s request: ack into sock C's space (ack - off_b)", PFX);
	ok(g.seq == f.seq && g.saddr == A_CLI && g.dport == P_L7C && g.plen == 100,
	   "%s request: seq, addresses, ports, payload length untouched", PFX);
	ok(g.tsval == b->tsc && g.tsecr == b->tsC - 5, "%s request: TSval, TSecr (offset 0) kept", PFX);

	/* 1: sock U sends the request up */
	f = T(L72SRV, b->useq, b->u_start - 200 - b->uoff, F_ACK | F_PSH, 400, b->tsU, b->tss - 10, 100);
	rc = run(H_SRV_OUT, &f, &g, &out, 0, "request up");
	is_int(rc, TC_ACT_OK, "%s sock U's request leaves", PFX);
	is_int(g.ack, b->u_start - 200, "%s sock U's ack: + off_b into the server's space", PFX);
	ok(g.seq == b->useq && g.tsval == b->tsU && g.tsecr == b->tss - 10,
	   "%s sock U's seq, TSval (first: offset 0), TSecr kept", PFX);

	/* 2: the server's head goes to sock U */
	f = T(SRV2L7, b->u_start - 200, b->useq + 100, F_ACK, 500, b->tss, b->tsU, 200);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "head");
	is_int(rc, TC_ACT_OK, "%s the response head passes to sock U", PFX);
	is_int(g.seq, b->u_start - 200 - b->uoff, "%s head: seq into sock U's space (- off_b)", PFX);
	ok(g.ack == b->useq + 100 && g.tsval == b->tss && g.tsecr == b->tsU,
	   "%s head: ack, TSval and TSecr (sock U's own) kept", PFX);
	is_int(get_up().rcv_end, b->u_start, "%s head: its end recorded (where the body starts)", PFX);

	/* 3: sock C writes the head to the client */
	f = T(L72CLI, b->pos - 200, b->cseq + 100, F_ACK | F_PSH, 502, b->tsC, b->tsc, 200);
	rc = run(H_CLI_OUT, &f, &g, &out, 0, "head down");
	is_int(rc, TC_ACT_OK, "%s sock C's head leaves", PFX);
	is_int(g.seq, b->pos - 200 + b->coff, "%s sock C's head: seq + off_b", PFX);
	ok(g.ack == b->cseq + 100 && g.win == 502 && g.tsval == b->tsC,
	   "%s sock C's head: ack, window, TSval kept (recorded for the splice)", PFX);
	is_int(get_cl().snd_nxt, b->pos, "%s sock C's head: its end recorded (pos, sock space)", PFX);

	/* 4, 5: the body, spliced */
	f = T(SRV2L7, b->u_start, b->useq + 100, F_ACK, 1234, b->tss + 1, b->tsU, 100);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "body 1");
	is_int(rc, TC_ACT_REDIRECT, "%s body segment 1 is redirected to the client", PFX);
	ok(g.saddr == A_L7C && g.daddr == A_CLI && g.sport == P_L7C && g.dport == P_CLI,
	   "%s body 1: addresses and ports of the client connection", PFX);
	is_int(g.seq, c_start, "%s body 1: seq = c_start + (seq - u_start)", PFX);
	is_int(g.ack, b->cseq + 100, "%s body 1: ack = sock C's last ack", PFX);
	is_int(g.win, 502, "%s body 1: window = sock C's last window (its scale)", PFX);
	is_int(g.tsval, b->tsC, "%s body 1: TSval starts at the client's high-water mark", PFX);
	is_int(g.tsecr, b->tsc, "%s body 1: TSecr = the client's latest TSval", PFX);
	ok(g.plen == 100 && payload_same(&out, 100), "%s body 1: the payload, byte for byte", PFX);
	is_int(LAST_MARK, PSP_MARK_OUT, "%s body 1: marked, so the egress program lets it be", PFX);
	f = T(SRV2L7, b->u_start + 100, b->useq + 100, F_ACK, 1234, b->tss + 3, b->tsU, 100);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "body 2");
	is_int(rc, TC_ACT_REDIRECT, "%s body segment 2 is redirected", PFX);
	ok(g.seq == c_start + 100 && g.tsval == b->tsC + 2,
	   "%s body 2: seq c_start + 100, TSval advances with the server's clock", PFX);
	f = T(SRV2L7, b->u_start, b->useq + 100, F_ACK, 1234, b->tss + 5, b->tsU, 100);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "retransmit");
	is_int(rc, TC_ACT_REDIRECT, "%s a retransmitted body segment is redirected too", PFX);
	ok(g.seq == c_start && g.tsval == b->tsC + 4, "%s retransmit: seq c_start, TSval its own", PFX);
	is_int(dctr(PSP_C_RETRANS), 1, "%s retransmit counted", PFX);
	/* sock C acks something while the body is on its way (its effect on
	 * the timestamp offsets undone after: the walk goes on without it) */
	snap_c = get_cl();
	f = T(L72CLI, b->pos, b->cseq + 100, F_ACK, 502, b->tsC, b->tsc, 0);
	rc = run(H_CLI_OUT, &f, &g, &out, 0, "ACK mid-body");
	put_cl(&snap_c);
	is_int(rc, TC_ACT_OK, "%s a pure ACK from sock C mid-body leaves", PFX);
	is_int(g.seq, c_start + 200, "%s mid-body ACK: seq just past the highest spliced byte, not c_end", PFX);
	is_int(g.tsval, b->tsC + 4, "%s mid-body ACK: TSval raised to the spliced ones' high-water mark", PFX);
	is_int(dctr(PSP_C_SPLICED), 3, "%s 3 segments spliced", PFX);
	is_int(dctr(PSP_C_SPLICED_BYTES), 300, "%s 300 bytes spliced", PFX);

	/* a server pure ACK (a window update) with a seq inside the range */
	f = T(SRV2L7, b->u_start + 50, b->useq + 100, F_ACK, 2000, b->tss + 5, b->tsU, 0);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "window update");
	is_int(rc, TC_ACT_OK, "%s a server pure ACK inside the range goes to sock U", PFX);
	is_int(g.seq, psock, "%s window update: seq = sock U's rcv_nxt (the range is nothing there)", PFX);

	/* 6: the client acks the head and body 1 in one ACK */
	drain_pktsock();
	f = T(CLI2L7, b->cseq + 100, c_start + 100, F_ACK, 1000, b->tsc + 7, b->tsC, 0);
	rc = run(H_CLI_IN, &f, &g, &out, 0, "ACK");
	is_int(rc, TC_ACT_REDIRECT, "%s the client's ACK of spliced bytes is redirected to the server", PFX);
	ok(g.saddr == A_L7U && g.daddr == A_SRV && g.sport == P_L7U && g.dport == P_SRV,
	   "%s ACK: addresses and ports of the upstream connection", PFX);
	is_int(g.seq, b->useq + 100, "%s ACK: seq = sock U's next sequence number", PFX);
	is_int(g.ack, b->u_start + 100, "%s round trip: ack = the server's seq + length of body 1", PFX);
	is_int(g.tsecr, b->tss + 1, "%s round trip: TSecr = the server's own TSval of body 1", PFX);
	is_int(g.tsval, b->tsU, "%s ACK: TSval starts at the server's high-water mark", PFX);
	is_int(g.win, 1000 << 7 >> 9, "%s ACK: window rescaled (<< client's 7, >> sock U's 9)", PFX);
	is_int(dctr(PSP_C_ACK_TO_SRV), 1, "%s translated ACK counted", PFX);
	is_int(LAST_MARK, PSP_MARK_OUT, "%s ACK: marked for the egress program", PFX);
	is_int(dctr(PSP_C_ACK_CLONE), 1, "%s it also acked sock C's head: one clone for sock C", PFX);
	ok(clone_seen(&cg) && cg.ack == c_start + 100 && cg.dport == P_L7C,
	   "%s the clone came back in on v0 as the client sent it", PFX);
	/* the clone, re-entering with its mark */
	rc = run(H_CLI_IN, &f, &g, &out, PSP_MARK_SOCK, "clone");
	is_int(rc, TC_ACT_OK, "%s the clone passes to sock C", PFX);
	is_int(g.ack, b->pos, "%s clone: ack = pos (the range collapses onto it)", PFX);
	is_int(LAST_MARK, 0, "%s clone: its mark cleared before the stack sees it", PFX);
	ok(g.daddr == A_L7C && g.dport == P_L7C && g.tsecr == b->tsC,
	   "%s clone: addresses kept, TSecr back to sock C's clock", PFX);

	/* 7: the server's window probe (no data, snd_una - 1): the client's
	 * window stopped it, so it goes to the client */
	ctr_mark();
	f = T(SRV2L7, b->u_start + 99, b->useq + 100, F_ACK, 1234, b->tss + 6, b->tsU, 0);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "window probe");
	is_int(rc, TC_ACT_REDIRECT, "%s a server window probe (snd_una - 1) goes to the client", PFX);
	ok(g.seq == c_start + 99 && g.daddr == A_CLI && g.dport == P_CLI && g.plen == 0,
	   "%s window probe: at the client's ack - 1, in C's tuple", PFX);
	is_int(dctr(PSP_C_PROBE_CLI), 1, "%s window probe counted", PFX);
	is_int(dctr(PSP_C_SPLICED), 0, "%s window probe: not counted as spliced data", PFX);
	f.seq = b->u_start + 100;
	rc = run(H_SRV_IN, &f, &g, &out, 0, "pure ACK at snd_una");
	is_int(rc, TC_ACT_OK, "%s a server pure ACK at the client's ack goes to sock U", PFX);

	/* 8: SACK: one block of spliced bytes, one of sock C's */
	f = T(CLI2L7, b->cseq + 100, c_start + 100, F_ACK, 1000, b->tsc + 8, b->tsC + 2, 0);
	f.nsack = 2;
	f.sack[0][0] = c_start + 200;
	f.sack[0][1] = c_start + 300;
	f.sack[1][0] = b->pos - 300 + b->coff;
	f.sack[1][1] = b->pos - 250 + b->coff;
	ctr_mark();
	rc = run(H_CLI_IN, &f, &g, &out, 0, "SACK");
	is_int(rc, TC_ACT_REDIRECT, "%s ACK with SACK redirected", PFX);
	ok(g.nsack == 1 && g.sack[0][0] == b->u_start + 200 && g.sack[0][1] == b->u_start + 300,
	   "%s SACK: the spliced block's edges into the server's space", PFX);
	ok(g.olen == 32 && g.opt[14] == 5 && g.opt[15] == 10 &&
	   !memcmp(g.opt + 24, "\x01\x01\x01\x01\x01\x01\x01\x01", 8),
	   "%s SACK: sock C's block cut, the option shrunk to one block, NOPs after", PFX);
	is_int(dctr(PSP_C_SACK_CUT), 1, "%s the cut block counted", PFX);
	is_int(g.tsecr, b->tss + 3, "%s SACK ACK: TSecr = the server's TSval of body 2", PFX);

	/* 9: sock U acks the head: held at what the client acked */
	f = T(L72SRV, b->useq + 100, psock, F_ACK, 400, b->tsU - 3, b->tss, 0);
	rc = run(H_SRV_OUT, &f, &g, &out, 0, "held ACK");
	is_int(rc, TC_ACT_OK, "%s sock U's ACK leaves", PFX);
	is_int(g.ack, b->u_start + 100, "%s sock U's ack held at the client's (never acks for it)", PFX);
	is_int(g.win, 1000 << 7 >> 9, "%s sock U's window cut to the client's (it would overrun it)", PFX);
	/* the SACK ACK's TSval (client clock + 1) was the last the server got */
	is_int(g.tsval, b->tsU + 1, "%s sock U's older TSval raised to the server's high-water mark", PFX);

	/* 9b: client data acking spliced bytes the server was not told of */
	ctr_mark();
	f = T(CLI2L7, b->cseq + 100, c_start + 150, F_ACK | F_PSH, 1000, b->tsc + 8, b->tsC + 2, 10);
	rc = run(H_CLI_IN, &f, &g, &out, 0, "data+ack");
	is_int(rc, TC_ACT_OK, "%s client data acking spliced bytes goes to sock C", PFX);
	is_int(g.ack, b->pos, "%s data+ack: ack = pos for sock C", PFX);
	is_int(dctr(PSP_C_ACK_UNFWD), 1, "%s the server's missed ack counted", PFX);

	/* 10: the whole body acked */
	ctr_mark();
	f = T(CLI2L7, b->cseq + 110, c_end, F_ACK, 1000, b->tsc + 9, b->tsC + 2, 0);
	rc = run(H_CLI_IN, &f, &g, &out, 0, "last ACK");
	is_int(rc, TC_ACT_REDIRECT, "%s the ACK of the whole body goes to the server", PFX);
	is_int(g.ack, u_end, "%s last ACK: ack = u_end", PFX);
	is_int(dctr(PSP_C_ACK_CLONE), 0, "%s no clone: sock C heard of its head already", PFX);
	f = T(L72SRV, b->useq + 100, psock, F_ACK, 400, b->tsU + 1, b->tss, 0);
	rc = run(H_SRV_OUT, &f, &g, &out, 0, "ACK after");
	is_int(g.ack, u_end, "%s sock U's ack = u_end once the client acked it all (+ off_a)", PFX);
	is_int(g.win, 400, "%s sock U's own window again once the client has the range", PFX);
	is_int(g.tsval, b->tsU + 5, "%s sock U's TSval keeps the raised offset (+4)", PFX);

	/* 10b: a late retransmission of the range (the server missed the
	 * client's last ACKs): the client has it whole, and may already be
	 * on another range, so it goes to sock U as old bytes (below pos,
	 * which sock U has), and sock U's ACK tells the server */
	ctr_mark();
	uint32_t rcv_end = get_up().rcv_end;

	f = T(SRV2L7, b->u_start + 100, b->useq + 100, F_ACK, 1234, b->tss + 6, b->tsU, 100);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "late retransmit");
	is_int(rc, TC_ACT_OK, "%s a late retransmission of the range goes to sock U, not to the client", PFX);
	is_int(g.seq, psock + 100 - b->len, "%s late retransmission: seq - off_a, bytes sock U has", PFX);
	ok(g.saddr == A_SRV && g.dport == P_L7U && g.plen == 100,
	   "%s late retransmission: addresses, ports and payload length kept", PFX);
	is_int(dctr(PSP_C_LATE), 1, "%s late retransmission counted", PFX);
	is_int(dctr(PSP_C_SPLICED), 0, "%s late retransmission: nothing spliced", PFX);
	is_int(get_up().rcv_end, rcv_end, "%s late retransmission: not taken for sock U's new bytes", PFX);
	ok(g.ts == 1 && g.tsval == b->tss + 6, "%s late retransmission: its (newest) TSval kept", PFX);
	/* 10c: the original that retransmission overtook (a TSval older than
	 * the server's newest): to sock U as well, without its timestamp, so
	 * that PAWS does not drop it unanswered */
	ctr_mark();
	f = T(SRV2L7, b->u_start + 100, b->useq + 100, F_ACK, 1234, b->tss + 2, b->tsU, 100);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "overtaken");
	is_int(rc, TC_ACT_OK, "%s the overtaken original goes to sock U too", PFX);
	is_int(g.seq, psock + 100 - b->len, "%s overtaken original: seq - off_a, bytes sock U has", PFX);
	ok(!g.ts && g.olen == 12 && g.plen == 100,
	   "%s overtaken original: no timestamp left, option length and payload kept", PFX);
	is_int(dctr(PSP_C_TS_CLEARED), 1, "%s ... counted (ts_cleared)", PFX);
	is_int(dctr(PSP_C_LATE), 1, "%s ... and as late", PFX);
	is_int(get_up().srv_ts, b->tss + 6, "%s the server's newest TSval stays its highest", PFX);
	{
		/* the client's entry on another range, this one not known
		 * done here: its data must not land on the other's c_start */
		struct psp_uplink su = get_up(), u2 = su;
		struct psp_client sc = get_cl(), c2 = sc;

		u2.cli_done = 0;
		put_up(&u2);
		c2.up_start = b->u_start + 77777;
		put_cl(&c2);
		ctr_mark();
		f = T(SRV2L7, b->u_start + 100, b->useq + 100, F_ACK, 1234, b->tss + 6, b->tsU, 100);
		rc = run(H_SRV_IN, &f, &g, &out, 0, "moved");
		is_int(rc, TC_ACT_SHOT, "%s range data whose client is on another range: dropped", PFX);
		is_int(dctr(PSP_C_DROP_MOVED), 1, "%s ... counted (client_moved)", PFX);
		put_cl(&sc);
		/* the uplink on another client's range: this client's duplicate
		 * ACK of its range's end is sock C's */
		u2 = su;
		u2.cl.saddr ^= htonl(1);
		put_up(&u2);
		ctr_mark();
		f = T(CLI2L7, b->cseq + 110, c_end, F_ACK, 1000, b->tsc + 9, b->tsC + 2, 0);
		rc = run(H_CLI_IN, &f, &g, &out, 0, "dup ACK, U moved");
		is_int(rc, TC_ACT_OK, "%s a duplicate ACK after its uplink went on to another client: to sock C", PFX);
		is_int(g.ack, b->pos, "%s ... with ack pos (c_end - off_a)", PFX);
		is_int(dctr(PSP_C_ACK_TO_SRV), 0, "%s ... nothing to the server", PFX);
		put_up(&su);
	}
	/* sock U's SACK blocks (of the server's bytes, sock space) */
	f = T(L72SRV, b->useq + 100, psock, F_ACK, 400, b->tsU + 1, b->tss, 0);
	f.nsack = 2;
	f.sack[0][0] = psock + 10;
	f.sack[0][1] = psock + 20;
	f.sack[1][0] = psock - 100;
	f.sack[1][1] = psock - 50;
	rc = run(H_SRV_OUT, &f, &g, &out, 0, "sock U SACK");
	ok(g.nsack == 2 && g.sack[0][0] == u_end + 10 && g.sack[0][1] == u_end + 20,
	   "%s sock U's SACK block after pos: + off_a (after the range)", PFX);
	ok(g.sack[1][0] == b->u_start - 100 && g.sack[1][1] == b->u_start - 50,
	   "%s sock U's SACK block before pos: + off_b", PFX);

	/* 12: the next request, the next head, the next response: offsets kept */
	ctr_mark();
	f = T(CLI2L7, b->cseq + 110, c_end, F_ACK | F_PSH, 1000, b->tsc + 10, b->tsC + 2, 80);
	f.nsack = 3;                    /* as if sock C had sent past c_end already */
	f.sack[0][0] = c_end + 10;
	f.sack[0][1] = c_end + 20;
	f.sack[1][0] = c_start + 5;
	f.sack[1][1] = c_start + 9;
	f.sack[2][0] = c_start - 50;
	f.sack[2][1] = c_start - 40;
	rc = run(H_CLI_IN, &f, &g, &out, 0, "next request");
	is_int(rc, TC_ACT_OK, "%s the next request passes to sock C", PFX);
	is_int(g.ack, b->pos, "%s next request: ack c_end = pos in sock C's space (- off_a)", PFX);
	is_int(g.tsecr, b->tsC, "%s next request: a spliced TSval echoed is held to sock C's clock", PFX);
	is_int(dctr(PSP_C_ACK_UNFWD), 0, "%s nothing missed by the server", PFX);
	ok(g.nsack == 2 && g.sack[0][0] == b->pos + 10 && g.sack[0][1] == b->pos + 20 &&
	   g.sack[1][0] == b->pos - 50 && g.sack[1][1] == b->pos - 40,
	   "%s next request: SACK edges into sock C's space (- off_a after, - off_b before)", PFX);
	is_int(dctr(PSP_C_SACK_CUT), 1, "%s next request: the block of spliced bytes cut", PFX);
	ok(g.plen == 80 && payload_same(&out, 80), "%s next request: its payload intact", PFX);
	f = T(L72CLI, b->pos, b->cseq + 190, F_ACK | F_PSH, 502, b->tsC - 1, b->tsc + 10, 50);
	rc = run(H_CLI_OUT, &f, &g, &out, 0, "next head");
	is_int(g.seq, c_end, "%s sock C's next head: seq + off_a, right after the spliced body", PFX);
	is_int(g.tsval, b->tsC + 5, "%s sock C's older TSval raised to the client's high-water mark (the probe's)", PFX);
	f = T(SRV2L7, u_end, b->useq + 180, F_ACK, 500, b->tss + 20, b->tsU + 5, 50);
	rc = run(H_SRV_IN, &f, &g, &out, 0, "next response");
	is_int(rc, TC_ACT_OK, "%s the next response passes to sock U", PFX);
	is_int(g.seq, psock, "%s next response: seq - off_a = where sock U's stream stopped", PFX);
	is_int(g.tsecr, b->tsU + 1, "%s next response: TSecr back by sock U's offset", PFX);
	is_int(dctr(PSP_C_DROP_HELPER), 0, "%s no helper failed", PFX);
}

/* The window in both directions of scale. */
static void windows(const struct base *b)
{
	struct tcpf f, g;
	struct pkt out;
	const uint32_t c_start = b->pos + b->coff;

	snprintf(PFX, sizeof(PFX), "window:");
	struct { uint8_t snd, rcv; uint16_t win, want; } w[] = {
		{ 7, 0, 65535, 65535 },         /* clamped at the field's 16 bits */
		{ 0, 2, 1000, 250 },
		{ 14, 14, 3, 3 },
		{ 2, 7, 31, 0 },                /* under one unit of sock U's scale */
		{ 0, 0, 4321, 4321 },
	};
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		del_all();
		arm(b, w[i].snd, w[i].rcv);
		f = T(L72SRV, b->useq, b->u_start - b->uoff, F_ACK, 400, b->tsU, b->tss, 0);
		run(H_SRV_OUT, &f, &g, &out, 0, "sock U");
		f = T(CLI2L7, b->cseq, c_start + 10, F_ACK, w[i].win, b->tsc, b->tsC, 0);
		is_int(run(H_CLI_IN, &f, &g, &out, 0, "scale"), TC_ACT_REDIRECT, "window: ACK redirected");
		is_int(g.win, w[i].want, "window %u << %u >> %u", w[i].win, w[i].snd, w[i].rcv);
	}

	/* the ack of the range's last byte carries sock U's own window: the
	 * server's next bytes go to sock U, and a window shrinks only on an
	 * ack of new data (RFC 9293 3.10.7.4) */
	del_all();
	arm(b, 7, 7);
	f = T(L72SRV, b->useq, b->u_start - b->uoff, F_ACK, 400, b->tsU, b->tss, 0);
	run(H_SRV_OUT, &f, &g, &out, 0, "sock U");
	f = T(CLI2L7, b->cseq, c_start + b->len - 10, F_ACK, 6000, b->tsc, b->tsC, 0);
	run(H_CLI_IN, &f, &g, &out, 0, "inside");
	is_int(g.win, 6000, "window: an ack inside the range: the client's window");
	ctr_mark();
	f = T(CLI2L7, b->cseq, c_start + b->len, F_ACK, 6000, b->tsc + 1, b->tsC, 0);
	is_int(run(H_CLI_IN, &f, &g, &out, 0, "end"), TC_ACT_REDIRECT, "window: the ack of the range's end goes to the server");
	is_int(g.win, PSP_U_WIN >> 7, "window: ... with what sock U's empty buffer takes (PSP_U_WIN >> 7), not the client's (6000)");
	is_int(dctr(PSP_C_WIN_BACK), 1, "window: counted (WIN_BACK)");
	f = T(CLI2L7, b->cseq, c_start + b->len, F_ACK, 300, b->tsc + 2, b->tsC, 0);
	run(H_CLI_IN, &f, &g, &out, 0, "end, small");
	is_int(g.win, 300, "window: ... never more than the client's, when that is smaller");

	/* a pooled socket with the smaller buffer (u_win, the engine's
	 * between hosts): that is what the end gives back */
	del_all();
	arm(b, 7, 7);
	struct psp_uplink u = get_up();

	u.u_win = 16 << 10;
	put_up(&u);
	f = T(L72SRV, b->useq, b->u_start - b->uoff, F_ACK, 400, b->tsU, b->tss, 0);
	run(H_SRV_OUT, &f, &g, &out, 0, "sock U");
	f = T(CLI2L7, b->cseq, c_start + b->len, F_ACK, 6000, b->tsc, b->tsC, 0);
	run(H_CLI_IN, &f, &g, &out, 0, "end, u_win");
	is_int(g.win, (16 << 10) >> 7, "window: the range's end gives back the uplink's u_win (16 KiB >> 7)");
}

/* A claim: the server segment that continues what sock U has, inside an
 * arming's body, starts the range only when the client's right edge lies
 * sock U's window (the uplink's u_win; 0: PSP_U_WIN) past where it goes in
 * sock C; otherwise it goes to sock U (PSP_C_CLAIM_WAIT) and a later one
 * starts it. */
static void claims(const struct base *b)
{
	static const struct {
		uint32_t u_win;
		uint16_t win;           /* the client's, scale 1 */
		int claimed;
		const char *why;
	} t[] = {
		{ 16 << 10, 10000, 1, "u_win 16 KiB, client window 20000: claimed" },
		{ 16 << 10, 5000, 0, "u_win 16 KiB, client window 10000: waits" },
		{ 0, 10000, 0, "u_win 0 (PSP_U_WIN, 64 KiB), client window 20000: waits" },
		{ 0, 40000, 1, "u_win 0 (PSP_U_WIN, 64 KiB), client window 80000: claimed" },
	};
	const uint32_t seq = b->u_start, cpos = b->pos;
	struct tcpf f, g;
	struct pkt out;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		/* sock C has sent the head (its ack, window and TSval known) */
		struct psp_client c = { .flags = PSP_F_TS, .up = ukey(), .ifindex = IFINDEX,
					.snd_wscale = 1, .ack_valid = 1, .ack = b->cseq, .win = 300,
					.hc_valid = 1, .hc = b->tsC, .sock_valid = 1, .sock_ts = b->tsC,
					.cli_valid = 1, .cli_ts = b->tsc, .cli_ack_valid = 1,
					.cli_ack = cpos, .cli_win = t[i].win };
		struct psp_uplink u = { .flags = PSP_F_TS, .ifindex = IFINDEX, .rcv_valid = 1,
					.rcv_end = seq, .u_win = t[i].u_win };
		struct psp_arm a = { .cookie = 7, .body0 = seq, .body_end = seq + 100000, .cpos0 = cpos,
				     .cl = ckey() };
		struct psp_key k = ukey();
		int rc;

		snprintf(PFX, sizeof(PFX), "claim %zu:", i);
		del_all();
		put_cl(&c);
		put_up(&u);
		bpf_map_update_elem(bpf_map__fd(S->maps.psp_arms), &k, &a, BPF_ANY);
		ctr_mark();
		f = T(SRV2L7, seq, b->useq, F_ACK, 500, b->tss, b->tsU, 1000);
		rc = run(H_SRV_IN, &f, &g, &out, 0, "first segment");
		u = get_up();
		is_int(u.armed, t[i].claimed, "%s %s", PFX, t[i].why);
		is_int(rc, t[i].claimed ? TC_ACT_REDIRECT : TC_ACT_OK, "%s the segment %s", PFX,
		       t[i].claimed ? "goes to the client" : "passes to sock U");
		if (t[i].claimed)
			ok(g.seq == cpos && g.daddr == A_CLI && g.dport == P_CLI && g.plen == 1000,
			   "%s the segment: at sock C's body position %u, to the client (seq %u)", PFX,
			   cpos, g.seq);
		is_int(dctr(PSP_C_CLAIM_WAIT), !t[i].claimed, "%s CLAIM_WAIT counted %s", PFX,
		       t[i].claimed ? "never" : "once");
		is_int(bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_arms), &k, &a) ? 0 : 1, !t[i].claimed,
		       "%s the arming %s", PFX, t[i].claimed ? "is taken" : "stays");
	}
}

/* ICMP errors quoting a segment toward the client: the quoted seq goes
 * into sock C's space (spliced bytes: pos), the ICMP checksum follows. */
static struct pkt icmp_frame(uint8_t type, const struct tcpf *quoted)
{
	struct pkt q = build(quoted), p;
	uint8_t *ip = p.b + ETH_HLEN, *ic = ip + 20;

	memset(&p, 0, sizeof(p));
	memcpy(p.b, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00", 14);
	ip[0] = 0x45;
	wr16(ip + 2, 20 + 8 + 28);
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	wr32(ip + 12, ntohl(inet_addr("198.18.99.1")));        /* a router on the way */
	wr32(ip + 16, A_L7C);
	wr16(ip + 10, ~fold(sum16(ip, 20, 0)));
	ic[0] = type;
	ic[1] = type == 3 ? 4 : 0;                              /* fragmentation needed */
	wr16(ic + 6, 1400);                                     /* the next hop's MTU */
	memcpy(ic + 8, q.b + ETH_HLEN, 28);                     /* IP header + 8 bytes */
	wr16(ic + 2, ~fold(sum16(ic, 8 + 28, 0)));
	p.len = ETH_HLEN + 20 + 8 + 28;
	return p;
}

static void icmp(const struct base *b)
{
	const uint32_t c_start = b->pos + b->coff;
	struct tcpf f;
	struct pkt in, out;
	int rc;
	struct { const char *what; uint32_t wire, sock; uint8_t type; } c[] = {
		{ "a spliced segment", c_start + b->len / 2, b->pos, 3 },
		{ "sock C's head (before the range)", b->pos - 200 + b->coff, b->pos - 200, 3 },
		{ "sock C's bytes after the range", c_start + b->len + 10, b->pos + 10, 11 },
	};

	snprintf(PFX, sizeof(PFX), "icmp:");
	del_all();
	arm(b, 7, 7);
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		f = T(L72CLI, c[i].wire, b->cseq, F_ACK, 502, b->tsC, b->tsc, 1000);
		in = icmp_frame(c[i].type, &f);
		ctr_mark();
		rc = run1(H_CLI_IN, &in, &out, 0, 0);
		is_int(rc, TC_ACT_OK, "icmp type %u about %s: to the stack", c[i].type, c[i].what);
		is_int(rd32(out.b + ETH_HLEN + 28 + 24), c[i].sock, "icmp about %s: the quoted seq in sock C's numbers", c[i].what);
		is_int(fold(sum16(out.b + ETH_HLEN + 20, 8 + 28, 0)), 0xffff, "icmp about %s: the ICMP checksum verifies", c[i].what);
		ok(!memcmp(out.b, in.b, ETH_HLEN + 22) && out.len == in.len &&
		   !memcmp(out.b + ETH_HLEN + 24, in.b + ETH_HLEN + 24, 28 + 24 - 24),
		   "icmp about %s: nothing else changed", c[i].what);
		is_int(dctr(PSP_C_ICMP_TO_SOCK), 1, "icmp about %s: counted", c[i].what);
		is_int(dctr(PSP_C_ICMP_RANGE), i == 0, "icmp about %s: %s", c[i].what,
		       i == 0 ? "counted as about a spliced segment" : "not about a spliced segment");
	}
	/* a tuple nobody tracks, an ICMP that is no error: left to the next filter */
	f = T(A_L7C, P_L7C + 1, A_CLI, P_CLI, c_start, b->cseq, F_ACK, 502, b->tsC, b->tsc, 0);
	in = icmp_frame(3, &f);
	rc = run1(H_CLI_IN, &in, &out, 0, 0);
	ok(rc == TC_ACT_UNSPEC && !memcmp(out.b, in.b, in.len), "icmp about an untracked connection: passed on untouched");
	f = T(L72CLI, c_start, b->cseq, F_ACK, 502, b->tsC, b->tsc, 0);
	in = icmp_frame(8, &f);
	rc = run1(H_CLI_IN, &in, &out, 0, 0);
	ok(rc == TC_ACT_UNSPEC && !memcmp(out.b, in.b, in.len), "icmp echo request: passed on untouched");
}

/* ---- refusals ----------------------------------------------------------- */

static void refuse(const struct base *b, int h, struct tcpf f, int want_rc, uint32_t c,
		   const char *what)
{
	struct pkt in = build(&f), out;
	int rc;

	ctr_mark();
	rc = run1(h, &in, &out, 0, 0);
	is_int(rc, want_rc, "refuse: %s: %s", HNAME[h], what);
	is_int(dctr(c), 1, "refuse: %s: %s: its counter", HNAME[h], what);
	if (want_rc == TC_ACT_OK || want_rc == TC_ACT_SHOT)
		ok(c == PSP_C_PASS_RST_SRV || (out.len == in.len && !memcmp(out.b, in.b, in.len)),
		   "refuse: %s: %s: the frame untouched", HNAME[h], what);
	(void)b;
}

static void refusals(const struct base *b)
{
	const uint32_t c_start = b->pos + b->coff;
	struct tcpf f, g;
	struct pkt in, out;
	int rc;

	del_all();
	arm(b, 7, 9);
	snprintf(PFX, sizeof(PFX), "refuse:");

	f = T(SRV2L7, b->u_start, 1, F_ACK, 1, b->tss, 1, 100);
	f.ihl = 6;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_IPOPT, "IPv4 options (ihl 6)");
	f.ihl = 0;
	f.frag = 0x2000;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_FRAG, "a first fragment (MF)");
	f.frag = 0x0010;
	refuse(b, H_SRV_IN, f, TC_ACT_UNSPEC, PSP_C_PASS_LATER_FRAG, "a later fragment (the next filter decides)");
	f.frag = 0;
	f.flags = F_SYN | F_ACK;
	refuse(b, H_SRV_IN, f, TC_ACT_OK, PSP_C_PASS_SYN, "SYN on a spliced flow");
	f.flags = F_ACK | F_FIN;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_FIN_SHORT,
	       "FIN inside the range: counted as a body cut short (then dropped: sock C sent no ack yet)");
	f.flags = F_ACK;
	f.seq = b->u_start - 50;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_RANGE, "data over the range's start");
	f.seq = b->u_start + b->len - 50;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_RANGE, "data over the range's end");
	f.seq = b->u_start;
	f.ts = 0;
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_TS_MISSING, "no timestamp, the pair uses them");
	f.ts = 1;
	f.olen = 24;
	memcpy(f.opt, "\x01\x01\x08\x0a\0\0\0\1\0\0\0\2\x01\x01\x08\x0a\0\0\0\3\0\0\0\4", 24);
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_TS_DUP, "two timestamp options");
	f.olen = 4;
	memcpy(f.opt, "\x01\x08\x0b\x00", 4);
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_BADOPT, "an option longer than the area");
	memcpy(f.opt, "\x01\x01\x05\x00", 4);
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_BADOPT, "an option of length 0");
	f.olen = 0;
	f.flags = F_ACK | F_RST;
	f.seq = b->u_start + 10;
	refuse(b, H_SRV_IN, f, TC_ACT_OK, PSP_C_PASS_RST_SRV, "a server RST inside the range");
	in = build(&f);
	run1(H_SRV_IN, &in, &out, 0, 0);
	readback(&out, &g);
	is_int(g.seq, b->u_start - b->uoff, "refuse: the RST goes to sock U at its own rcv_nxt");
	ok(sums_ok(&out), "refuse: the RST's checksums verify");

	/* client side */
	f = T(CLI2L7, b->cseq, c_start + 10, F_ACK, 100, b->tsc, b->tsC, 0);
	f.ihl = 7;
	refuse(b, H_CLI_IN, f, TC_ACT_SHOT, PSP_C_DROP_IPOPT, "IPv4 options (ihl 7)");
	f.ihl = 0;
	f.flags = F_SYN;
	refuse(b, H_CLI_IN, f, TC_ACT_OK, PSP_C_PASS_SYN, "a SYN on a spliced tuple");
	{
		struct psp_key k = ckey();
		struct psp_client ce;

		ok(bpf_map_lookup_elem(bpf_map__fd(S->maps.psp_clients), &k, &ce) && errno == ENOENT,
		   "refuse: a new connection's SYN removes the old one's entry");
	}
	arm(b, 7, 9);
	f.flags = F_ACK;
	f.ts = 0;
	refuse(b, H_CLI_IN, f, TC_ACT_SHOT, PSP_C_DROP_TS_MISSING, "an ACK without timestamp");
	f.ts = 1;
	/* a truncated segment: the data offset says more than the packet has */
	in = build(&f);
	in.b[ETH_HLEN + 32] = 0xf0;
	ctr_mark();
	is_int(run1(H_CLI_IN, &in, &out, 0, 0), TC_ACT_SHOT, "refuse: cli_in: data offset past the end");
	is_int(dctr(PSP_C_DROP_TRUNC), 1, "refuse: cli_in: data offset past the end: its counter");
	/* the uplink entry gone: no peer */
	{
		struct psp_key k = ukey();

		bpf_map_delete_elem(bpf_map__fd(S->maps.psp_uplinks), &k);
	}
	refuse(b, H_CLI_IN, f, TC_ACT_SHOT, PSP_C_DROP_NO_PEER, "the spliced uplink's entry missing");
	arm(b, 7, 9);
	{
		struct psp_key k = ckey();

		bpf_map_delete_elem(bpf_map__fd(S->maps.psp_clients), &k);
	}
	f = T(SRV2L7, b->u_start, 1, F_ACK, 1, b->tss, 1, 100);
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_NO_PEER, "the spliced client's entry missing");
	/* a pair without timestamps gets one */
	arm(b, 7, 9);
	{
		struct psp_uplink u = get_up();

		u.flags = 0;
		put_up(&u);
	}
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_TS_UNEXPECTED, "a timestamp the pair did not negotiate");
	/* the numbers a translation needs not seen yet */
	arm(b, 7, 9);
	f = T(SRV2L7, b->u_start, 1, F_ACK, 1, b->tss, 1, 100);
	refuse(b, H_SRV_IN, f, TC_ACT_SHOT, PSP_C_DROP_NO_STATE, "body before sock C sent an ack");
	f = T(CLI2L7, b->cseq, c_start + 10, F_ACK, 100, b->tsc, b->tsC, 0);
	refuse(b, H_CLI_IN, f, TC_ACT_SHOT, PSP_C_DROP_NO_STATE, "ACK before sock U sent a byte");
	/* a segment the programs redirected passes the target's egress again */
	arm(b, 7, 9);
	f = T(L72CLI, b->pos, b->cseq, F_ACK, 100, b->tsC, b->tsc, 10);
	in = build(&f);
	ctr_mark();
	is_int(run1(H_CLI_OUT, &in, &out, 0, PSP_MARK_OUT), TC_ACT_OK,
	       "refuse: cli_out: a spliced segment (marked) passes");
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "refuse: cli_out: ... untouched");
	is_int(dctr(PSP_C_PASS_OURS), 1, "refuse: cli_out: ... counted");
	f = T(L72SRV, b->useq, b->u_start, F_ACK, 100, b->tsU, b->tss, 0);
	in = build(&f);
	ctr_mark();
	is_int(run1(H_SRV_OUT, &in, &out, 0, PSP_MARK_OUT), TC_ACT_OK,
	       "refuse: srv_out: a translated client ACK (marked) passes");
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "refuse: srv_out: ... untouched");
	is_int(dctr(PSP_C_PASS_OURS), 1, "refuse: srv_out: ... counted");
	/* untracked and not TCP */
	f = T(A_CLI, 1234, A_L7C, P_L7C, 1, 1, F_ACK, 1, 1, 1, 10);
	refuse(b, H_CLI_IN, f, TC_ACT_UNSPEC, PSP_C_PASS_UNTRACKED, "an untracked connection (the next filter decides)");
	f.ihl = 6;
	refuse(b, H_CLI_IN, f, TC_ACT_UNSPEC, PSP_C_PASS_UNTRACKED, "options on an untracked connection");
	f.ihl = 0;
	in = build(&f);
	in.b[ETH_HLEN + 9] = IPPROTO_UDP;
	ctr_mark();
	is_int(run1(H_CLI_IN, &in, &out, 0, 0), TC_ACT_UNSPEC, "refuse: UDP passes (to the next filter)");
	is_int(dctr(PSP_C_PASS_NOT_TCP), 1, "refuse: UDP passes: its counter");
	in.b[12] = 0x86;
	in.b[13] = 0xdd;
	ctr_mark();
	is_int(run1(H_CLI_OUT, &in, &out, 0, 0), TC_ACT_UNSPEC, "refuse: IPv6 passes (IPv4 only)");
	is_int(dctr(PSP_C_PASS_NOT_TCP), 1, "refuse: IPv6 passes: its counter");
	rc = 0;
	(void)rc;
}

static uint32_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint32_t)(t.tv_sec * 1000ull + t.tv_nsec / 1000000);
}

/* psp_ts_clock: a translated client TSval is never below sock U's clock
 * now. sock U sends at TSval X (its clock then), 30 ms pass, a client ACK
 * with an old TSval is translated: its TSval must be X plus the time gone
 * by, within what the clock reads around the two runs, not X (what the
 * high-water mark alone gives). */
static void clock_check(const struct base *b)
{
	const uint32_t c_start = b->pos + b->coff;
	struct tcpf f, g;
	struct pkt in, out;
	uint32_t t0, t1, t2, t3, x = 777777;

	del_all();
	arm(b, 7, 9);
	f = T(L72SRV, b->useq, b->u_start - b->uoff, F_ACK, 400, x, b->tss, 0);
	in = build(&f);
	t0 = mono_ms();
	run1(H_SRV_OUT, &in, &out, 0, 0);
	t1 = mono_ms();
	usleep(30000);
	f = T(CLI2L7, b->cseq, c_start + 10, F_ACK, 100, b->tsc, b->tsC, 0);
	in = build(&f);
	t2 = mono_ms();
	is_int(run1(H_CLI_IN, &in, &out, 0, 0), TC_ACT_REDIRECT, "clock: the ACK is translated");
	t3 = mono_ms();
	readback(&out, &g);
	ok(g.tsval - x >= t2 - t1 && g.tsval - x <= t3 - t0,
	   "clock: TSval %u = sock U's %u + %u ms, within [%u, %u]", g.tsval, x, g.tsval - x,
	   t2 - t1, t3 - t0);
}

int main(void)
{
	struct base n = { "plain", 5000, 1200, 0x1000, 3000, 7000000, 0x2000, 1000,
			  100000, 900000, 100, 300 };
	struct base w = { "wrap", 0xffffffc0, 0x10, 0xfffffe00, 0xffffff90, 0xffffff00, 0x100, 1000,
			  0xfffffff0, 0xfffffffe, 0xffffffff, 0xfffffffd };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int in = priv_netns_enter();

	if (in > 0)
		return 0;
	if (in < 0) {
		ok(0, "unshare(CLONE_NEWNET) with CAP_SYS_ADMIN: %s", strerror(errno));
		return done_testing();
	}
	if (system("ip link set lo up && ip link add v0 type veth peer name v1 &&"
		   " sysctl -qw net.ipv6.conf.v0.disable_ipv6=1 net.ipv6.conf.v1.disable_ipv6=1 &&"
		   " ip link set v1 up && ip link set v0 up")) {
		printf("Bail out! setting up veth v0 failed\n");
		return 1;
	}
	IFINDEX = if_nametoindex("v0");
	PKTSOCK = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	sll.sll_ifindex = IFINDEX;
	ok(PKTSOCK >= 0 && !bind(PKTSOCK, (struct sockaddr *)&sll, sizeof(sll)),
	   "a packet socket on v0 (to see the clone)");
	libbpf_set_print(priv_libbpf_print);
	/* exact numbers in the walk: translated TSvals follow the high-water
	 * marks only, not the time the test takes (clock() checks that part) */
	S = psplice_bpf__open();
	if (S) {
		S->rodata->psp_ts_clock = 0;
		if (psplice_bpf__load(S)) {
			psplice_bpf__destroy(S);
			S = NULL;
		}
	}
	ok(S != NULL, "psplice loads as root (all four programs pass the verifier): %s",
	   S ? "yes" : strerror(errno));
	if (!S)
		return done_testing();
	A_CLI = ntohl(inet_addr("198.18.0.2"));
	A_L7C = ntohl(inet_addr("198.18.0.1"));
	A_L7U = ntohl(inet_addr("198.18.1.1"));
	A_SRV = ntohl(inet_addr("198.18.1.2"));

	walk(&n);
	walk(&w);
	windows(&n);
	claims(&n);
	icmp(&n);
	refusals(&n);
	psplice_bpf__destroy(S);
	S = psplice_bpf__open_and_load();
	ok(S != NULL, "psplice loads with psp_ts_clock on (the default)");
	if (S) {
		clock_check(&n);
		psplice_bpf__destroy(S);
	}
	return done_testing();
}
