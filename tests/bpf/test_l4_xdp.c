/* test_l4_xdp: the level-1 data path (src/bpf/l4_fwd.bpf.c), both of its
 * programs (l4_xdp and l4_tc, one forwarding logic) and both address
 * families, driven with crafted frames through the kernel's test-run hook
 * (bpf_prog_test_run_opts): the action and the bytes that come out are
 * compared with what DR and NAT must produce, every checksum is recomputed
 * here from scratch (not incrementally, as the program does), and every
 * outcome's per-CPU counter is checked. Covered per hook and family: DR and
 * NAT forward, the NAT reverse path (FIB hit, and at tc the neighbour-less
 * route that goes by bpf_redirect_neigh), flow table hits across table
 * changes, ICMP "fragmentation needed" and ICMPv6 "packet too big" routed
 * to the flow's back end (NAT: rewritten), neighbour discovery passed, and
 * refusals (truncated, fragments, IPv4 options, IPv6 extension headers);
 * then several VIPs with per-VIP statistics.
 *
 * Checksums at tc: test-run hands the program a CHECKSUM_NONE skb, so the
 * helpers update full checksums, which is what is verified here. Frames a
 * veth delivers as CHECKSUM_PARTIAL (the pseudo-header sum only, updated
 * by BPF_F_PSEUDO_HDR) are checked end to end by tests/sys/l4_veth.t, where
 * the switch completes them in software before the receiver verifies.
 *
 * Runs in a fresh network namespace with a veth, a route and neighbours of
 * its own, so FIB lookups never see the host's. Needs CAP_BPF, CAP_NET_ADMIN
 * and CAP_SYS_ADMIN (root); says SKIP only without them: with them, a
 * program that does not load is a failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_priv.h"
#include "csum_ref.h"
#include "l4_abi.h"
#include "l4_fwd.skel.h"
#include "tap.h"

#define RING 251

static const uint8_t MAC_FE[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const uint8_t MAC_CL[6] = { 0x02, 0, 0, 0, 0, 0xc1 };
static const uint8_t MAC_RT[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t MAC_BE[2][6] = { { 0x02, 0, 0, 0, 0, 0xb1 }, { 0x02, 0, 0, 0, 0, 0xb2 } };

/* Addresses of one family, 4 or 16 bytes each. */
struct net {
	int fam;                        /* 4 or 6 */
	int alen;
	uint8_t vip[16], vip2[16], client[16], client_nn[16], other[16], router[16], be[2][16];
};
static struct net N4, N6;

/* The hook under test: its program and its names for the verdicts. */
static int HOOK;                        /* 0 xdp, 1 tc */
static int A_PASS, A_DROP, A_TX, A_REDIR;
static int IFINDEX;                     /* v0, the veth the frames "arrive" on */
static char PFX[32];

struct pkt {
	/* the kernel's NET_IP_ALIGN: 2 bytes before the 14-byte Ethernet
	 * header put the IP header on a 4-byte boundary, as UBSan wants for
	 * struct iphdr accesses (the struct itself is 4-aligned by len) */
	uint8_t ip_align[2];
	uint8_t b[256];
	uint32_t len;
};

static void prefix(int fam)
{
	snprintf(PFX, sizeof(PFX), "%s v%d", HOOK ? "tc" : "xdp", fam);
}

/* ---- checksums, from scratch ------------------------------------------- */

/* The pseudo header's sum: addresses of ALEN bytes, protocol, length. */
static uint32_t pseudo(const void *s, const void *d, int alen, uint8_t proto, uint32_t len)
{
	uint32_t x = sum16(s, alen, 0);

	x = sum16(d, alen, x);
	return x + proto + (len >> 16) + (len & 0xffff);
}

static struct iphdr *ip4(struct pkt *p) { return (void *)(p->b + ETH_HLEN); }
static struct ipv6hdr *ip6(struct pkt *p) { return (void *)(p->b + ETH_HLEN); }
static int fam_of(const struct pkt *p)
{
	return p->b[12] == 0x86 && p->b[13] == 0xdd ? 6 : 4;
}
static uint8_t *l4(struct pkt *p) { return p->b + ETH_HLEN + (fam_of(p) == 6 ? 40 : 20); }
static struct tcphdr *tcp(struct pkt *p) { return (void *)l4(p); }
static const uint8_t *dst_addr(struct pkt *p)
{
	return fam_of(p) == 6 ? (uint8_t *)&ip6(p)->daddr : (uint8_t *)&ip4(p)->daddr;
}
static const uint8_t *src_addr(struct pkt *p)
{
	return fam_of(p) == 6 ? (uint8_t *)&ip6(p)->saddr : (uint8_t *)&ip4(p)->saddr;
}

/* 1 when every checksum of frame P verifies: the IPv4 header's, and the
 * TCP or ICMP(v6) one over the whole segment (with the pseudo header). For
 * an ICMP error, also the quoted IPv4 header's. */
static int sums_ok(struct pkt *p)
{
	int six = fam_of(p) == 6;
	uint32_t l4len, s;
	uint8_t proto;

	if (six) {
		l4len = ntohs(ip6(p)->payload_len);
		proto = ip6(p)->nexthdr;
		s = pseudo(&ip6(p)->saddr, &ip6(p)->daddr, 16, proto, l4len);
	} else {
		struct iphdr *ip = ip4(p);

		if (fold(sum16(ip, ip->ihl * 4, 0)) != 0xffff)
			return 0;
		l4len = ntohs(ip->tot_len) - ip->ihl * 4;
		proto = ip->protocol;
		s = proto == IPPROTO_ICMP ? 0 : pseudo(&ip->saddr, &ip->daddr, 4, proto, l4len);
		if (proto == IPPROTO_ICMP && fold(sum16(l4(p) + 8, 20, 0)) != 0xffff)
			return 0;       /* the quoted header */
	}
	return fold(sum16(l4(p), l4len, s)) == 0xffff;
}

/* ---- frames ------------------------------------------------------------- */

static void eth(struct pkt *p, int fam, const uint8_t *src_mac)
{
	memcpy(p->b, MAC_FE, 6);
	memcpy(p->b + 6, src_mac, 6);
	p->b[12] = fam == 6 ? 0x86 : 0x08;
	p->b[13] = fam == 6 ? 0xdd : 0x00;
}

/* An IP header of family FAM at OFF: S -> D, PROTO, L4LEN bytes after it.
 * Returns its length. */
static int iph(uint8_t *at, int fam, const void *s, const void *d, uint8_t proto, int l4len)
{
	if (fam == 6) {
		struct ipv6hdr *h = (void *)at;

		memset(h, 0, 40);
		h->version = 6;
		h->payload_len = htons(l4len);
		h->nexthdr = proto;
		h->hop_limit = 64;
		memcpy(&h->saddr, s, 16);
		memcpy(&h->daddr, d, 16);
		return 40;
	} else {
		struct iphdr *h = (void *)at;

		memset(h, 0, 20);
		h->version = 4;
		h->ihl = 5;
		h->ttl = 64;
		h->protocol = proto;
		h->tot_len = htons(20 + l4len);
		h->id = htons(0x1234);
		memcpy(&h->saddr, s, 4);
		memcpy(&h->daddr, d, 4);
		h->check = htons(~fold(sum16(h, 20, 0)));
		return 20;
	}
}

/* Ethernet/IP/TCP with correct checksums and 10 payload bytes. */
static struct pkt tcp_pkt(const struct net *n, const void *s, uint16_t sp, const void *d,
			  uint16_t dp, int syn, int ack)
{
	struct pkt p = { 0 };
	struct tcphdr *t;
	int hl;

	eth(&p, n->fam, MAC_CL);
	hl = iph(p.b + ETH_HLEN, n->fam, s, d, IPPROTO_TCP, 30);
	t = (void *)(p.b + ETH_HLEN + hl);
	t->source = htons(sp);
	t->dest = htons(dp);
	t->seq = htonl(1000);
	t->ack_seq = htonl(ack ? 5000 : 0);
	t->doff = 5;
	t->syn = syn;
	t->ack = ack;
	t->window = htons(65535);
	memcpy(t + 1, "0123456789", 10);
	t->check = htons(~fold(sum16(t, 30, pseudo(s, d, n->alen, IPPROTO_TCP, 30))));
	p.len = ETH_HLEN + hl + 30;
	return p;
}

/* A router's "packet too big" (ICMPv6 type 2; ICMP 3/4) to the VIP,
 * quoting the packet VIP:VPORT -> CLIENT:CPORT a node sent: its IP header
 * and the first 8 bytes of TCP (ports, sequence number). */
static struct pkt ptb_pkt(const struct net *n, const void *vip, uint16_t vport, uint16_t cport)
{
	struct pkt p = { 0 };
	int six = n->fam == 6, qhl = six ? 40 : 20, l4len = 8 + qhl + 8, hl;
	uint8_t *ic, *q;
	uint32_t s;

	eth(&p, n->fam, MAC_RT);
	hl = iph(p.b + ETH_HLEN, n->fam, n->router, vip, six ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
		 l4len);
	ic = p.b + ETH_HLEN + hl;
	ic[0] = six ? 2 : 3;
	ic[1] = six ? 0 : 4;
	ic[6] = 0x05;                   /* MTU 1400 (IPv4: next-hop MTU) */
	ic[7] = 0x78;
	if (six) {
		ic[4] = ic[5] = 0;
	}
	q = ic + 8;
	iph(q, n->fam, vip, n->client, IPPROTO_TCP, 1400 - qhl);
	q[qhl + 0] = vport >> 8;
	q[qhl + 1] = vport & 0xff;
	q[qhl + 2] = cport >> 8;
	q[qhl + 3] = cport & 0xff;
	q[qhl + 7] = 7;                 /* sequence number */
	s = six ? pseudo(n->router, vip, 16, IPPROTO_ICMPV6, l4len) : 0;
	ic[2] = ic[3] = 0;
	{
		uint16_t c = htons(~fold(sum16(ic, l4len, s)));

		memcpy(ic + 2, &c, 2);
	}
	p.len = ETH_HLEN + hl + l4len;
	return p;
}

/* An ICMPv6 message TYPE from the client to D, 8 bytes + 16 of payload. */
static struct pkt icmp6_pkt(const struct net *n, const void *d, uint8_t type)
{
	struct pkt p = { 0 };
	uint8_t *ic;
	uint16_t c;

	eth(&p, 6, MAC_CL);
	iph(p.b + ETH_HLEN, 6, n->client, d, IPPROTO_ICMPV6, 24);
	ic = p.b + ETH_HLEN + 40;
	ic[0] = type;
	memcpy(ic + 8, d, 16);
	c = htons(~fold(sum16(ic, 24, pseudo(n->client, d, 16, IPPROTO_ICMPV6, 24))));
	memcpy(ic + 2, &c, 2);
	p.len = ETH_HLEN + 40 + 24;
	return p;
}

/* ---- running ------------------------------------------------------------- */

static int run(struct l4_fwd_bpf *s, struct pkt *in, struct pkt *out)
{
	struct xdp_md xctx = { .data_end = in->len, .ingress_ifindex = IFINDEX };
	struct __sk_buff sctx = { .ingress_ifindex = IFINDEX, .ifindex = IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);
	int fd = HOOK ? bpf_program__fd(s->progs.l4_tc) : bpf_program__fd(s->progs.l4_xdp);
	int err;

	if (HOOK) {
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	} else {
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	}
	err = bpf_prog_test_run_opts(fd, &o);
	if (err)
		return -1000 + err;
	out->len = o.data_size_out;
	return (int)o.retval;
}

static uint64_t ctr(struct l4_fwd_bpf *s, uint32_t id)
{
	return priv_percpu_sum(bpf_map__fd(s->maps.l4_counters), id);
}

static uint64_t be_pkts(struct l4_fwd_bpf *s, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct l4_be_stats v[ncpu];
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.l4_be_stats), &id, v))
		return ~0ull;
	for (int i = 0; i < ncpu; i++)
		sum += v[i].packets;
	return sum;
}

static struct l4_vip_stats vip_stats(struct l4_fwd_bpf *s, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct l4_vip_stats v[ncpu], sum = { 0 };

	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.l4_vip_stats), &id, v))
		return sum;
	for (int i = 0; i < ncpu; i++) {
		sum.packets += v[i].packets;
		sum.bytes += v[i].bytes;
		sum.conns += v[i].conns;
	}
	return sum;
}

static void fill_ring(struct l4_fwd_bpf *s, uint32_t who)
{
	for (uint32_t i = 0; i < RING; i++)
		bpf_map_update_elem(bpf_map__fd(s->maps.l4_ring), &i, &who, BPF_ANY);
}

/* Back end I with both addresses; NAT port 8080 (0 would keep the VIP's). */
static void set_backend(struct l4_fwd_bpf *s, uint32_t i, int alive, uint16_t port)
{
	struct l4_backend b = { .port = htons(port), .flags = alive ? L4_BE_F_ALIVE : 0 };

	memcpy(&b.addr, N4.be[i], 4);
	memcpy(b.addr6, N6.be[i], 16);
	memcpy(b.mac, MAC_BE[i], 6);
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_backends), &i, &b, BPF_ANY);
}

static void add_vip(struct l4_fwd_bpf *s, const struct net *n, const void *addr, uint16_t port,
		    uint32_t id)
{
	struct l4_vip_key k = { .port = htons(port), .proto = IPPROTO_TCP,
				.family = n->fam == 6 ? L4_AF_INET6 : L4_AF_INET };
	struct l4_vip v = { .id = id };

	memcpy(k.addr.b, addr, n->alen);
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_vips), &k, &v, BPF_ANY);
	k.port = 0;
	k.proto = 0;
	v.flags = L4_VIP_F_ADDR_ONLY;
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_vips), &k, &v, BPF_NOEXIST);
}

/* A fresh object: both programs, maps empty but for the VIP of both
 * families, two live back ends and a table naming back end 0. */
static struct l4_fwd_bpf *setup(uint32_t mode)
{
	struct l4_fwd_bpf *s = l4_fwd_bpf__open();

	if (!s)
		return NULL;
	s->rodata->l4_mode = mode;
	s->rodata->l4_ring_size = RING;
	bpf_map__set_max_entries(s->maps.l4_ring, RING);
	if (l4_fwd_bpf__load(s)) {
		l4_fwd_bpf__destroy(s);
		return NULL;
	}
	add_vip(s, &N4, N4.vip, 80, 0);
	add_vip(s, &N6, N6.vip, 80, 1);
	set_backend(s, 0, 1, 8080);
	set_backend(s, 1, 1, 8080);
	fill_ring(s, 0);
	return s;
}

static int is_mac(struct pkt *p, const uint8_t *dst, const uint8_t *src)
{
	return !memcmp(p->b, dst, 6) && !memcmp(p->b + 6, src, 6);
}

static int addr_is(const uint8_t *got, const uint8_t *want, int alen)
{
	return !memcmp(got, want, alen);
}

/* ---- DR --------------------------------------------------------------------- */

static void test_dr(const struct net *n)
{
	struct l4_fwd_bpf *s = setup(L4_MODE_DR);
	struct pkt in, out;
	int rc;

	prefix(n->fam);
	ok(s != NULL, "%s DR: program loads and passes the verifier", PFX);
	if (!s)
		return;

	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	ok(sums_ok(&in), "%s: crafted frames carry correct checksums", PFX);
	is_int(run(s, &in, &out), A_TX, "%s DR: SYN to the VIP is sent back out", PFX);
	ok(is_mac(&out, MAC_BE[0], MAC_FE), "%s DR: MACs: back end's <- front end's", PFX);
	ok(out.len == in.len && !memcmp(out.b + 12, in.b + 12, in.len - 12),
	   "%s DR: nothing after the MACs changed (checksums still verify: %d)", PFX,
	   sums_ok(&out));
	is_int(ctr(s, L4_CTR_FLOW_NEW), 1, "%s DR: flow_new counted", PFX);
	is_int(ctr(s, L4_CTR_TX_DR), 1, "%s DR: tx_dr counted", PFX);

	/* the table changes: the established flow stays on its node */
	fill_ring(s, 1);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 0, 1);
	is_int(run(s, &in, &out), A_TX, "%s DR: established packet sent", PFX);
	ok(is_mac(&out, MAC_BE[0], MAC_FE), "%s DR: established flow keeps its node after a "
	   "table change", PFX);
	is_int(ctr(s, L4_CTR_FLOW_HIT), 1, "%s DR: flow_hit counted", PFX);

	/* a new connection follows the new table */
	in = tcp_pkt(n, n->client, 40001, n->vip, 80, 1, 0);
	run(s, &in, &out);
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s DR: new flow follows the new table", PFX);

	/* a new SYN on an old 4-tuple (port reuse) follows the table */
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	run(s, &in, &out);
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s DR: a SYN reusing an old 4-tuple follows the table",
	   PFX);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 0, 1);
	run(s, &in, &out);
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s DR: ... and its connection stays there", PFX);
	fill_ring(s, 0);
	run(s, &in, &out);
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s DR: ... also after the next table change", PFX);
	fill_ring(s, 1);

	/* a packet without SYN and without a flow entry still goes by Maglev */
	in = tcp_pkt(n, n->client, 40002, n->vip, 80, 0, 1);
	is_int(run(s, &in, &out), A_TX, "%s DR: mid-connection packet with no flow entry is sent",
	       PFX);
	is_int(ctr(s, L4_CTR_FLOW_NEW_NOSYN), 1, "%s DR: flow_new_nosyn counted", PFX);

	/* node 0 fails: its flows are picked again */
	in = tcp_pkt(n, n->client, 40005, n->vip, 80, 1, 0);
	fill_ring(s, 0);
	run(s, &in, &out);
	fill_ring(s, 1);
	set_backend(s, 0, 0, 8080);
	in = tcp_pkt(n, n->client, 40005, n->vip, 80, 0, 1);
	run(s, &in, &out);
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s DR: a dead node's flow moves to a live one", PFX);
	is_int(ctr(s, L4_CTR_FLOW_REPICK), 1, "%s DR: flow_repick counted", PFX);
	is_int(be_pkts(s, 0), 3, "%s DR: back end 0 forwarded 3 packets", PFX);
	is_int(be_pkts(s, 1), 6, "%s DR: back end 1 forwarded 6 packets", PFX);
	is_int(vip_stats(s, n->fam == 6).packets, 9, "%s DR: the VIP's packets counted", PFX);
	is_int(vip_stats(s, n->fam == 6).conns, 4, "%s DR: the VIP's connections: 4 SYNs", PFX);
	is_int(vip_stats(s, n->fam == 4).packets, 0, "%s DR: the other family's VIP saw none", PFX);

	/* no node at all */
	fill_ring(s, L4_NO_BACKEND);
	in = tcp_pkt(n, n->client, 40003, n->vip, 80, 1, 0);
	is_int(run(s, &in, &out), A_PASS, "%s DR: no live node: pass", PFX);
	is_int(ctr(s, L4_CTR_PASS_NO_BACKEND), 1, "%s DR: pass_no_backend counted", PFX);
	fill_ring(s, 1);

	/* not for a service */
	in = tcp_pkt(n, n->client, 40000, n->other, 80, 1, 0);
	is_int(run(s, &in, &out), A_PASS, "%s: non-VIP address passes", PFX);
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "%s: non-VIP frame untouched", PFX);
	in = tcp_pkt(n, n->client, 40000, n->vip, 22, 1, 0);
	is_int(run(s, &in, &out), A_PASS, "%s: VIP address, other port passes", PFX);
	is_int(ctr(s, L4_CTR_PASS_NOT_VIP), 2, "%s: pass_not_vip counted twice", PFX);

	/* ARP, UDP */
	in = tcp_pkt(n, n->client, 1, n->vip, 80, 1, 0);
	in.b[12] = 0x08;
	in.b[13] = 0x06;
	is_int(run(s, &in, &out), A_PASS, "%s: ARP passes", PFX);
	is_int(ctr(s, L4_CTR_PASS_NOT_IP), 1, "%s: pass_not_ip counted", PFX);
	in = tcp_pkt(n, n->client, 1, n->vip, 80, 1, 0);
	if (n->fam == 6)
		ip6(&in)->nexthdr = IPPROTO_UDP;
	else
		ip4(&in)->protocol = IPPROTO_UDP;
	is_int(run(s, &in, &out), A_PASS, "%s: UDP to the VIP passes", PFX);
	is_int(ctr(s, L4_CTR_PASS_NOT_TCP), 1, "%s: pass_not_tcp counted", PFX);

	/* truncated and malformed */
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	/* the test-run hook refuses frames shorter than an Ethernet header
	 * (-EINVAL), so drop_trunc_eth is only reachable from a real NIC */
	in.len = 10;
	ok(run(s, &in, &out) < 0, "%s: 10-byte frame refused by the test-run hook", PFX);
	/* an skb's test run refuses a frame whose IP header is cut short
	 * (-EINVAL), so at tc that is only reachable from a real interface */
	in.len = ETH_HLEN;
	rc = run(s, &in, &out);
	ok(HOOK ? rc < 0 : rc == A_DROP, "%s: Ethernet header alone %s (%d)", PFX,
	   HOOK ? "refused by the test-run hook" : "dropped", rc);
	in.len = ETH_HLEN + 12;
	rc = run(s, &in, &out);
	ok(HOOK ? rc < 0 : rc == A_DROP, "%s: IP header cut short %s (%d)", PFX,
	   HOOK ? "refused by the test-run hook" : "dropped", rc);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	in.b[ETH_HLEN] = n->fam == 6 ? 0x40 : 0x65;     /* wrong version */
	is_int(run(s, &in, &out), A_DROP, "%s: wrong IP version dropped", PFX);
	if (n->fam == 4) {
		in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
		ip4(&in)->ihl = 4;
		is_int(run(s, &in, &out), A_DROP, "%s: IHL 4 dropped", PFX);
	}
	is_int(ctr(s, L4_CTR_DROP_TRUNC_IP), (HOOK ? 1 : 3) + (n->fam == 4),
	       "%s: drop_trunc_ip counted", PFX);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	in.len = l4(&in) - in.b + 12;
	is_int(run(s, &in, &out), A_DROP, "%s: TCP header cut short dropped", PFX);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	tcp(&in)->doff = 3;
	is_int(run(s, &in, &out), A_DROP, "%s: TCP data offset 3 dropped", PFX);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	tcp(&in)->doff = 15;
	is_int(run(s, &in, &out), A_DROP, "%s: TCP data offset past the IP length dropped", PFX);
	is_int(ctr(s, L4_CTR_DROP_TRUNC_TCP), 3, "%s: drop_trunc_tcp counted 3 times", PFX);

	if (n->fam == 4) {
		in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
		ip4(&in)->frag_off = htons(0x2000);      /* MF */
		is_int(run(s, &in, &out), A_DROP, "%s: first fragment to the VIP dropped", PFX);
		ip4(&in)->frag_off = htons(0x0010);      /* offset */
		is_int(run(s, &in, &out), A_DROP, "%s: later fragment to the VIP dropped", PFX);
		is_int(ctr(s, L4_CTR_DROP_FRAG), 2, "%s: drop_frag counted", PFX);
		in = tcp_pkt(n, n->client, 40000, n->other, 80, 1, 0);
		ip4(&in)->frag_off = htons(0x2000);
		is_int(run(s, &in, &out), A_PASS, "%s: fragment elsewhere passes", PFX);
		is_int(ctr(s, L4_CTR_PASS_FRAG), 1, "%s: pass_frag counted", PFX);
		in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
		ip4(&in)->ihl = 6;
		is_int(run(s, &in, &out), A_DROP, "%s: IP options to the VIP dropped", PFX);
		is_int(ctr(s, L4_CTR_DROP_IPOPT), 1, "%s: drop_ipopt counted", PFX);
		in = tcp_pkt(n, n->client, 40000, n->other, 80, 1, 0);
		ip4(&in)->ihl = 6;
		is_int(run(s, &in, &out), A_PASS, "%s: IP options elsewhere pass", PFX);
		is_int(ctr(s, L4_CTR_PASS_IPOPT), 1, "%s: pass_ipopt counted", PFX);
	} else {
		static const uint8_t ext[] = { 0, 43, 60, 51 };

		in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
		ip6(&in)->nexthdr = 44;                  /* a fragment header */
		is_int(run(s, &in, &out), A_DROP, "%s: fragment to the VIP dropped", PFX);
		is_int(ctr(s, L4_CTR_DROP_FRAG), 1, "%s: drop_frag counted", PFX);
		in = tcp_pkt(n, n->client, 40000, n->other, 80, 1, 0);
		ip6(&in)->nexthdr = 44;
		is_int(run(s, &in, &out), A_PASS, "%s: fragment elsewhere passes", PFX);
		is_int(ctr(s, L4_CTR_PASS_FRAG), 1, "%s: pass_frag counted", PFX);
		for (size_t i = 0; i < sizeof(ext); i++) {
			in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
			ip6(&in)->nexthdr = ext[i];
			is_int(run(s, &in, &out), A_DROP, "%s: extension header %u to the VIP dropped",
			       PFX, ext[i]);
		}
		is_int(ctr(s, L4_CTR_DROP_IP6EXT), 4, "%s: drop_ip6ext counted 4 times", PFX);
		in = tcp_pkt(n, n->client, 40000, n->other, 80, 1, 0);
		ip6(&in)->nexthdr = 0;
		is_int(run(s, &in, &out), A_PASS, "%s: hop-by-hop header elsewhere passes", PFX);
		is_int(ctr(s, L4_CTR_PASS_IP6EXT), 1, "%s: pass_ip6ext counted", PFX);

		/* neighbour discovery must keep working: NS, NA, RS, RA pass
		 * untouched, to the VIP or not */
		static const uint8_t nd[] = { 135, 136, 133, 134 };
		int untouched = 1;

		for (size_t i = 0; i < sizeof(nd); i++) {
			in = icmp6_pkt(n, i % 2 ? n->vip : n->other, nd[i]);
			is_int(run(s, &in, &out), A_PASS, "%s: ICMPv6 type %u passes", PFX, nd[i]);
			untouched &= out.len == in.len && !memcmp(out.b, in.b, in.len);
		}
		ok(untouched, "%s: ... untouched", PFX);
		is_int(ctr(s, L4_CTR_PASS_ND), 4, "%s: pass_nd counted 4 times", PFX);
		in = icmp6_pkt(n, n->vip, 128);          /* echo request */
		is_int(run(s, &in, &out), A_PASS, "%s: ping to the VIP passes (the stack answers)",
		       PFX);
		is_int(ctr(s, L4_CTR_PASS_ICMP), 1, "%s: pass_icmp counted", PFX);
	}
	l4_fwd_bpf__destroy(s);
}

/* ---- NAT --------------------------------------------------------------------- */

static void test_nat(const struct net *n)
{
	struct l4_fwd_bpf *s = setup(L4_MODE_NAT);
	struct pkt in, out;
	int rc;

	prefix(n->fam);
	ok(s != NULL, "%s NAT: program loads and passes the verifier", PFX);
	if (!s)
		return;

	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	is_int(run(s, &in, &out), A_TX, "%s NAT: SYN to the VIP sent", PFX);
	ok(addr_is(dst_addr(&out), n->be[0], n->alen) && tcp(&out)->dest == htons(8080),
	   "%s NAT: destination is the back end's address and port", PFX);
	ok(addr_is(src_addr(&out), n->client, n->alen) && tcp(&out)->source == htons(40000),
	   "%s NAT: source untouched", PFX);
	ok(sums_ok(&out), "%s NAT: checksums verify after the rewrite", PFX);
	ok(is_mac(&out, MAC_BE[0], MAC_FE), "%s NAT: MACs: back end's <- front end's", PFX);
	ok(!memcmp(l4(&out) + 20, "0123456789", 10), "%s NAT: payload untouched", PFX);
	is_int(ctr(s, L4_CTR_TX_NAT), 1, "%s NAT: tx_nat counted", PFX);

	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 0, 1);
	run(s, &in, &out);
	ok(addr_is(dst_addr(&out), n->be[0], n->alen) && sums_ok(&out),
	   "%s NAT: established packet rewritten, checksums verify", PFX);

	/* the reply, as the back end sends it; a route and a neighbour for
	 * the client exist on v0: rewritten and sent with the FIB's MACs */
	in = tcp_pkt(n, n->be[0], 8080, n->client, 40000, 1, 1);
	rc = run(s, &in, &out);
	is_int(rc, A_TX, "%s NAT: reply sent back out of v0", PFX);
	ok(addr_is(src_addr(&out), n->vip, n->alen) && tcp(&out)->source == htons(80),
	   "%s NAT: reply source is the VIP again", PFX);
	ok(addr_is(dst_addr(&out), n->client, n->alen) && tcp(&out)->dest == htons(40000),
	   "%s NAT: reply destination untouched", PFX);
	ok(sums_ok(&out), "%s NAT: reply checksums verify after the rewrite", PFX);
	ok(!memcmp(out.b, MAC_CL, 6), "%s NAT: reply to the client's MAC (neighbour table)", PFX);
	is_int(n->fam == 6 ? ip6(&out)->hop_limit : ip4(&out)->ttl, 63,
	       "%s NAT: TTL / hop limit decremented", PFX);
	is_int(ctr(s, L4_CTR_TX_NAT_REPLY), 1, "%s NAT: tx_nat_reply counted", PFX);

	/* a client on v0's subnet without a neighbour entry: XDP leaves it to
	 * the stack, tc hands it to bpf_redirect_neigh */
	in = tcp_pkt(n, n->client_nn, 40000, n->vip, 80, 1, 0);
	run(s, &in, &out);
	in = tcp_pkt(n, n->be[0], 8080, n->client_nn, 40000, 1, 1);
	rc = run(s, &in, &out);
	if (HOOK) {
		is_int(rc, TC_ACT_REDIRECT, "%s NAT: reply to a client with no neighbour entry: "
		       "redirect", PFX);
		is_int(ctr(s, L4_CTR_REDIRECT_NEIGH), 1, "%s NAT: redirect_neigh counted", PFX);
	} else {
		is_int(rc, XDP_PASS, "%s NAT: reply to a client with no neighbour entry: pass", PFX);
		is_int(ctr(s, L4_CTR_PASS_NAT_NOFIB), 1, "%s NAT: pass_nat_nofib counted", PFX);
	}
	ok(addr_is(src_addr(&out), n->vip, n->alen) && sums_ok(&out),
	   "%s NAT: ... rewritten to the VIP, checksums verify", PFX);

	/* from the back end, but not a NAT flow */
	in = tcp_pkt(n, n->be[0], 8080, n->client, 40999, 0, 1);
	is_int(run(s, &in, &out), A_PASS, "%s NAT: unrelated back end traffic passes", PFX);
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "%s NAT: ... untouched", PFX);

	/* a node without an address of the family */
	{
		struct l4_backend b = { .flags = L4_BE_F_ALIVE };

		memcpy(b.mac, MAC_BE[1], 6);
		if (n->fam == 4)
			memcpy(b.addr6, N6.be[1], 16);
		else
			memcpy(&b.addr, N4.be[1], 4);
		uint32_t i = 1;
		bpf_map_update_elem(bpf_map__fd(s->maps.l4_backends), &i, &b, BPF_ANY);
		fill_ring(s, 1);
		in = tcp_pkt(n, n->client, 41000, n->vip, 80, 1, 0);
		is_int(run(s, &in, &out), A_DROP, "%s NAT: node without an address of the family: "
		       "drop", PFX);
		is_int(ctr(s, L4_CTR_DROP_NO_ADDR), 1, "%s NAT: drop_no_addr counted", PFX);
		set_backend(s, 1, 1, 8080);
	}

	/* port 0 in the back end: the VIP's port is kept */
	set_backend(s, 1, 1, 0);
	in = tcp_pkt(n, n->client, 41001, n->vip, 80, 1, 0);
	run(s, &in, &out);
	ok(addr_is(dst_addr(&out), n->be[1], n->alen) && tcp(&out)->dest == htons(80) &&
	   sums_ok(&out), "%s NAT: back end port 0 keeps the VIP's port", PFX);
	set_backend(s, 1, 1, 8080);

	/* many flows spread over two nodes by the Maglev table */
	for (uint32_t i = 0; i < RING; i++) {
		uint32_t who = i % 2;
		bpf_map_update_elem(bpf_map__fd(s->maps.l4_ring), &i, &who, BPF_ANY);
	}
	int n0 = 0, n1 = 0, wrong = 0;
	for (int i = 0; i < 1000; i++) {
		uint16_t sp = 20000 + i;
		struct l4_flow_key k = { .sport = htons(sp), .dport = htons(80), .proto = IPPROTO_TCP,
					 .family = n->fam == 6 ? L4_AF_INET6 : L4_AF_INET };
		uint32_t want;

		memcpy(k.saddr.b, n->client, n->alen);
		memcpy(k.daddr.b, n->vip, n->alen);
		in = tcp_pkt(n, n->client, sp, n->vip, 80, 1, 0);
		run(s, &in, &out);
		want = l4_flow_hash_key(&k) % RING % 2;
		if (addr_is(dst_addr(&out), n->be[0], n->alen))
			n0++;
		else
			n1++;
		wrong += !addr_is(dst_addr(&out), n->be[want], n->alen) || !sums_ok(&out);
	}
	printf("# %s: 1000 flows: %d to back end 0, %d to back end 1\n", PFX, n0, n1);
	is_int(wrong, 0, "%s NAT: every flow goes where l4_flow_hash and the table say, "
	       "checksums ok", PFX);
	ok(n0 > 400 && n1 > 400, "%s NAT: flows spread over both nodes", PFX);
	l4_fwd_bpf__destroy(s);
}

/* ---- ICMP packet too big ------------------------------------------------------ */

static void test_ptb(const struct net *n, uint32_t mode)
{
	struct l4_fwd_bpf *s = setup(mode);
	const char *m = mode == L4_MODE_NAT ? "NAT" : "DR";
	int six = n->fam == 6, qoff = (six ? 40 : 20) + 8;
	struct pkt in, out;
	uint8_t *q;

	prefix(n->fam);
	ok(s != NULL, "%s %s PTB: program loads", PFX, m);
	if (!s)
		return;
	/* the flow client:40000 -> VIP:80 lives on back end 1; the table
	 * then names back end 0 */
	fill_ring(s, 1);
	in = tcp_pkt(n, n->client, 40000, n->vip, 80, 1, 0);
	run(s, &in, &out);
	fill_ring(s, 0);

	in = ptb_pkt(n, n->vip, 80, 40000);
	ok(sums_ok(&in), "%s %s PTB: crafted error carries correct checksums", PFX, m);
	is_int(run(s, &in, &out), A_TX, "%s %s PTB: %s to the VIP is sent on", PFX, m,
	       six ? "ICMPv6 packet too big" : "ICMP fragmentation needed");
	ok(is_mac(&out, MAC_BE[1], MAC_FE), "%s %s PTB: ... to the flow's back end, not the "
	   "table's", PFX, m);
	q = l4(&out) + 8;
	if (mode == L4_MODE_DR) {
		ok(out.len == in.len && !memcmp(out.b + 12, in.b + 12, in.len - 12),
		   "%s DR PTB: nothing after the MACs changed", PFX);
	} else {
		ok(addr_is(dst_addr(&out), n->be[1], n->alen),
		   "%s NAT PTB: outer destination is the back end", PFX);
		ok(addr_is(q + (six ? 8 : 12), n->be[1], n->alen) && q[qoff - 8 + 0] == 8080 >> 8 &&
		   q[qoff - 8 + 1] == (8080 & 0xff),
		   "%s NAT PTB: quoted source is the back end's address and port", PFX);
		ok(addr_is(q + (six ? 24 : 16), n->client, n->alen),
		   "%s NAT PTB: quoted destination is the client still", PFX);
	}
	ok(sums_ok(&out), "%s %s PTB: checksums verify (ICMP%s%s)", PFX, m, six ? "v6" : "",
	   six ? "" : ", quoted IPv4 header");
	is_int(ctr(s, L4_CTR_TX_ICMP_PTB), 1, "%s %s PTB: tx_icmp_ptb counted", PFX, m);

	/* a flow the table has no entry for: where Maglev sends it */
	in = ptb_pkt(n, n->vip, 80, 45000);
	is_int(run(s, &in, &out), A_TX, "%s %s PTB: error of an unknown flow sent on", PFX, m);
	ok(is_mac(&out, MAC_BE[0], MAC_FE), "%s %s PTB: ... where the table says", PFX, m);

	/* quoting another port of the VIP (no service): the stack's */
	in = ptb_pkt(n, n->vip, 22, 40000);
	is_int(run(s, &in, &out), A_PASS, "%s %s PTB: error quoting no service passes", PFX, m);
	is_int(ctr(s, L4_CTR_PASS_ICMP), 1, "%s %s PTB: pass_icmp counted", PFX, m);
	/* to another address: not ours */
	in = ptb_pkt(n, n->other, 80, 40000);
	is_int(run(s, &in, &out), A_PASS, "%s %s PTB: error to another address passes", PFX, m);
	/* cut short inside the quote */
	in = ptb_pkt(n, n->vip, 80, 40000);
	in.len = l4(&in) - in.b + 8 + (six ? 40 : 20) + 2;
	is_int(run(s, &in, &out), A_PASS, "%s %s PTB: truncated quote passes", PFX, m);
	is_int(ctr(s, L4_CTR_PASS_ICMP), 2, "%s %s PTB: pass_icmp counted again", PFX, m);
	l4_fwd_bpf__destroy(s);
}

/* ---- several VIPs ---------------------------------------------------------- */

static void test_vips(void)
{
	struct l4_fwd_bpf *s = setup(L4_MODE_DR);
	struct pkt in, out;

	ok(s != NULL, "%s: several VIPs: program loads", HOOK ? "tc" : "xdp");
	if (!s)
		return;
	prefix(4);
	add_vip(s, &N4, N4.vip, 443, 2);
	add_vip(s, &N4, N4.vip2, 8080, 3);
	add_vip(s, &N6, N6.vip2, 443, 4);
	in = tcp_pkt(&N4, N4.client, 40000, N4.vip, 443, 1, 0);
	is_int(run(s, &in, &out), A_TX, "%s: second port of the first VIP address forwarded", PFX);
	in = tcp_pkt(&N4, N4.client, 40000, N4.vip2, 8080, 1, 0);
	is_int(run(s, &in, &out), A_TX, "%s: second VIP address (its own port) forwarded", PFX);
	in = tcp_pkt(&N4, N4.client, 40001, N4.vip2, 8080, 0, 1);
	run(s, &in, &out);
	in = tcp_pkt(&N4, N4.client, 40000, N4.vip2, 80, 1, 0);
	is_int(run(s, &in, &out), A_PASS, "%s: second VIP address, the first's port: pass", PFX);
	prefix(6);
	in = tcp_pkt(&N6, N6.client, 40000, N6.vip2, 443, 1, 0);
	is_int(run(s, &in, &out), A_TX, "%s: IPv6 VIP on its own port forwarded", PFX);
	in = tcp_pkt(&N6, N6.client, 40000, N6.vip, 80, 1, 0);
	is_int(run(s, &in, &out), A_TX, "%s: dual stack: the IPv6 VIP beside the IPv4 ones", PFX);
	is_int(vip_stats(s, 0).packets, 0, "per-VIP: VIP 0 (v4 :80) saw nothing");
	is_int(vip_stats(s, 1).packets, 1, "per-VIP: VIP 1 (v6 :80) 1 packet");
	is_int(vip_stats(s, 2).packets, 1, "per-VIP: VIP 2 (v4 :443) 1 packet");
	is_int(vip_stats(s, 3).packets, 2, "per-VIP: VIP 3 (second v4 address :8080) 2 packets");
	is_int(vip_stats(s, 3).conns, 1, "per-VIP: ... 1 connection");
	is_int(vip_stats(s, 3).bytes, 2 * (ETH_HLEN + 50), "per-VIP: ... and their bytes");
	is_int(vip_stats(s, 4).conns, 1, "per-VIP: VIP 4 (v6 :443) 1 connection");
	l4_fwd_bpf__destroy(s);
}

/* ---- the namespace ------------------------------------------------------------- */

static void addr_of(struct net *n, uint8_t *out, const char *text)
{
	inet_pton(n->fam == 6 ? AF_INET6 : AF_INET, text, out);
}

int main(void)
{
	struct l4_fwd_bpf *probe;
	int in = priv_netns_enter();

	if (in > 0)
		return 0;
	if (in < 0) {
		ok(0, "unshare(CLONE_NEWNET) with CAP_SYS_ADMIN: %s", strerror(errno));
		return done_testing();
	}
	/* v0: where frames arrive; the client has a neighbour entry, client_nn
	 * is on the subnet without one */
	if (system("ip link set lo up && ip link add v0 type veth peer name v1 &&"
		   " ip link set v1 up && ip link set v0 up &&"
		   " ip addr add 198.18.0.1/24 dev v0 && ip -6 addr add 2001:2::1/64 dev v0 nodad &&"
		   " ip neigh replace 198.18.0.2 lladdr 02:00:00:00:00:c1 dev v0 nud permanent &&"
		   " ip -6 neigh replace 2001:2::2 lladdr 02:00:00:00:00:c1 dev v0 nud permanent &&"
		   " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")) {
		printf("Bail out! setting up veth v0, its routes and neighbours failed\n");
		return 1;
	}
	IFINDEX = if_nametoindex("v0");
	libbpf_set_print(priv_libbpf_print);
	probe = l4_fwd_bpf__open_and_load();
	ok(probe != NULL, "l4_fwd loads as root (both programs pass the verifier): %s",
	   probe ? "yes" : strerror(errno));
	if (!probe)
		return done_testing();
	l4_fwd_bpf__destroy(probe);

	N4.fam = 4;
	N4.alen = 4;
	addr_of(&N4, N4.vip, "198.18.0.100");
	addr_of(&N4, N4.vip2, "198.18.0.101");
	addr_of(&N4, N4.client, "198.18.0.2");
	addr_of(&N4, N4.client_nn, "198.18.0.3");
	addr_of(&N4, N4.other, "198.18.0.200");
	addr_of(&N4, N4.router, "198.18.0.254");
	addr_of(&N4, N4.be[0], "198.18.0.11");
	addr_of(&N4, N4.be[1], "198.18.0.12");
	N6.fam = 6;
	N6.alen = 16;
	addr_of(&N6, N6.vip, "2001:2::100");
	addr_of(&N6, N6.vip2, "2001:2::101");
	addr_of(&N6, N6.client, "2001:2::2");
	addr_of(&N6, N6.client_nn, "2001:2::3");
	addr_of(&N6, N6.other, "2001:2::200");
	addr_of(&N6, N6.router, "2001:2::fe");
	addr_of(&N6, N6.be[0], "2001:2::11");
	addr_of(&N6, N6.be[1], "2001:2::12");

	for (HOOK = 0; HOOK < 2; HOOK++) {
		A_PASS = HOOK ? TC_ACT_OK : XDP_PASS;
		A_DROP = HOOK ? TC_ACT_SHOT : XDP_DROP;
		A_TX = HOOK ? TC_ACT_REDIRECT : XDP_TX;
		A_REDIR = HOOK ? TC_ACT_REDIRECT : XDP_REDIRECT;
		test_dr(&N4);
		test_dr(&N6);
		test_nat(&N4);
		test_nat(&N6);
		test_ptb(&N4, L4_MODE_DR);
		test_ptb(&N6, L4_MODE_DR);
		test_ptb(&N4, L4_MODE_NAT);
		test_ptb(&N6, L4_MODE_NAT);
		test_vips();
	}
	(void)A_REDIR;
	return done_testing();
}
