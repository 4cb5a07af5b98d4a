/* test_l4_xdp: the level-1 XDP program, driven with crafted frames through
 * the kernel's test-run hook (bpf_prog_test_run_opts): the action and the
 * bytes that come out are compared with what DR and NAT must produce, and
 * every outcome's per-CPU counter is checked. Runs in a fresh network
 * namespace, so the NAT reply's FIB lookup never sees the host's routes.
 * Needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (root); says SKIP only
 * without them: with them, a program that does not load is a failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_priv.h"
#include "l4_abi.h"
#include "l4_xdp.skel.h"
#include "tap.h"

#define RING 251

static const uint8_t MAC_FE[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const uint8_t MAC_CL[6] = { 0x02, 0, 0, 0, 0, 0xc1 };
static const uint8_t MAC_BE[2][6] = { { 0x02, 0, 0, 0, 0, 0xb1 }, { 0x02, 0, 0, 0, 0, 0xb2 } };

static uint32_t VIP, CLIENT, OTHER, BE[2];

struct pkt {
	/* the kernel's NET_IP_ALIGN: 2 bytes before the 14-byte Ethernet
	 * header put the IP header on a 4-byte boundary, as UBSan wants for
	 * struct iphdr accesses (the struct itself is 4-aligned by len) */
	uint8_t ip_align[2];
	uint8_t b[256];
	uint32_t len;
};

static uint16_t csum(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t pseudo(const struct iphdr *ip, uint16_t l4len)
{
	uint32_t s = 0;

	s += ntohl(ip->saddr) >> 16;
	s += ntohl(ip->saddr) & 0xffff;
	s += ntohl(ip->daddr) >> 16;
	s += ntohl(ip->daddr) & 0xffff;
	s += ip->protocol + l4len;
	return s;
}

/* 1 when both the IPv4 and TCP checksums of frame P verify. */
static int sums_ok(const struct pkt *p)
{
	const struct iphdr *ip = (const void *)(p->b + ETH_HLEN);
	uint16_t l4len = ntohs(ip->tot_len) - ip->ihl * 4;

	return csum(ip, ip->ihl * 4, 0) == 0xffff &&
	       csum((const uint8_t *)ip + ip->ihl * 4, l4len, pseudo(ip, l4len)) == 0xffff;
}

/* An Ethernet/IPv4/TCP frame with correct checksums and 10 payload bytes. */
static struct pkt tcp_pkt(uint32_t s, uint16_t sp, uint32_t d, uint16_t dp, int syn, int ack)
{
	struct pkt p = { .len = ETH_HLEN + 20 + 20 + 10 };
	struct ethhdr *eth = (void *)p.b;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	memcpy(eth->h_dest, MAC_FE, 6);
	memcpy(eth->h_source, MAC_CL, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(20 + 20 + 10);
	ip->id = htons(0x1234);
	ip->saddr = s;
	ip->daddr = d;
	tcp->source = htons(sp);
	tcp->dest = htons(dp);
	tcp->seq = htonl(1000);
	tcp->ack_seq = htonl(ack ? 5000 : 0);
	tcp->doff = 5;
	tcp->syn = syn;
	tcp->ack = ack;
	tcp->window = htons(65535);
	memcpy(tcp + 1, "0123456789", 10);
	ip->check = htons(~csum(ip, 20, 0));
	tcp->check = htons(~csum(tcp, 30, pseudo(ip, 30)));
	return p;
}

static int run(int fd, struct pkt *in, struct pkt *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		return -1000 + err;
	out->len = o.data_size_out;
	return (int)o.retval;
}

static uint64_t ctr(struct l4_xdp_bpf *s, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu], sum = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.l4_counters), &id, v))
		return ~0ull;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

static uint64_t be_pkts(struct l4_xdp_bpf *s, uint32_t id)
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

static void fill_ring(struct l4_xdp_bpf *s, uint32_t who)
{
	for (uint32_t i = 0; i < RING; i++)
		bpf_map_update_elem(bpf_map__fd(s->maps.l4_ring), &i, &who, BPF_ANY);
}

static void set_alive(struct l4_xdp_bpf *s, uint32_t i, int alive)
{
	struct l4_backend b = { .addr = BE[i], .port = htons(8080), .flags = alive ? L4_BE_F_ALIVE : 0 };

	memcpy(b.mac, MAC_BE[i], 6);
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_backends), &i, &b, BPF_ANY);
}

static struct l4_xdp_bpf *setup(uint32_t mode)
{
	struct l4_xdp_bpf *s = l4_xdp_bpf__open();
	struct l4_vip_key k = { .addr = VIP, .port = htons(80), .proto = IPPROTO_TCP };
	struct l4_vip v = { 0 };

	if (!s)
		return NULL;
	s->rodata->l4_mode = mode;
	s->rodata->l4_ring_size = RING;
	bpf_map__set_max_entries(s->maps.l4_ring, RING);
	if (l4_xdp_bpf__load(s)) {
		l4_xdp_bpf__destroy(s);
		return NULL;
	}
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_vips), &k, &v, BPF_ANY);
	k = (struct l4_vip_key){ .addr = VIP };
	v.flags = L4_VIP_F_ADDR_ONLY;
	bpf_map_update_elem(bpf_map__fd(s->maps.l4_vips), &k, &v, BPF_ANY);
	set_alive(s, 0, 1);
	set_alive(s, 1, 1);
	fill_ring(s, 0);
	return s;
}

static void test_dr(void)
{
	struct l4_xdp_bpf *s = setup(L4_MODE_DR);
	int fd;
	struct pkt in, out;
	struct ethhdr *eo = (void *)out.b;

	ok(s != NULL, "DR: program loads and passes the verifier");
	if (!s)
		return;
	fd = bpf_program__fd(s->progs.l4_xdp);

	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	is_int(run(fd, &in, &out), XDP_TX, "DR: SYN to the VIP is sent back out (XDP_TX)");
	ok(!memcmp(eo->h_dest, MAC_BE[0], 6), "DR: destination MAC is the back end's");
	ok(!memcmp(eo->h_source, MAC_FE, 6), "DR: source MAC is the front end's");
	ok(out.len == in.len && !memcmp(out.b + 12, in.b + 12, in.len - 12),
	   "DR: nothing after the MACs changed");
	is_int(ctr(s, L4_CTR_FLOW_NEW), 1, "DR: flow_new counted");
	is_int(ctr(s, L4_CTR_TX_DR), 1, "DR: tx_dr counted");

	/* the table changes: the established flow stays on its node */
	fill_ring(s, 1);
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 0, 1);
	is_int(run(fd, &in, &out), XDP_TX, "DR: established packet sent");
	ok(!memcmp(eo->h_dest, MAC_BE[0], 6), "DR: established flow keeps its node after a table change");
	is_int(ctr(s, L4_CTR_FLOW_HIT), 1, "DR: flow_hit counted");

	/* a new connection follows the new table */
	in = tcp_pkt(CLIENT, 40001, VIP, 80, 1, 0);
	run(fd, &in, &out);
	ok(!memcmp(eo->h_dest, MAC_BE[1], 6), "DR: new flow follows the new table");

	/* a new SYN on an old 4-tuple (port reuse) follows the table, not the
	 * old entry, and the entry is replaced */
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	run(fd, &in, &out);
	ok(!memcmp(eo->h_dest, MAC_BE[1], 6), "DR: a SYN reusing an old 4-tuple follows the table");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 0, 1);
	run(fd, &in, &out);
	ok(!memcmp(eo->h_dest, MAC_BE[1], 6), "DR: ... and its connection stays there");
	fill_ring(s, 0);
	run(fd, &in, &out);
	ok(!memcmp(eo->h_dest, MAC_BE[1], 6), "DR: ... also after the next table change");
	fill_ring(s, 1);

	/* a packet without SYN and without a flow entry still goes by Maglev */
	in = tcp_pkt(CLIENT, 40002, VIP, 80, 0, 1);
	is_int(run(fd, &in, &out), XDP_TX, "DR: mid-connection packet with no flow entry is sent");
	is_int(ctr(s, L4_CTR_FLOW_NEW_NOSYN), 1, "DR: flow_new_nosyn counted");

	/* node 0 fails: its flows are picked again */
	in = tcp_pkt(CLIENT, 40005, VIP, 80, 1, 0);
	fill_ring(s, 0);
	run(fd, &in, &out);
	fill_ring(s, 1);
	set_alive(s, 0, 0);
	in = tcp_pkt(CLIENT, 40005, VIP, 80, 0, 1);
	run(fd, &in, &out);
	ok(!memcmp(eo->h_dest, MAC_BE[1], 6), "DR: a dead node's flow moves to a live one");
	is_int(ctr(s, L4_CTR_FLOW_REPICK), 1, "DR: flow_repick counted");
	is_int(be_pkts(s, 0), 3, "DR: back end 0 forwarded 3 packets");
	is_int(be_pkts(s, 1), 6, "DR: back end 1 forwarded 6 packets");

	/* no node at all */
	fill_ring(s, L4_NO_BACKEND);
	in = tcp_pkt(CLIENT, 40003, VIP, 80, 1, 0);
	is_int(run(fd, &in, &out), XDP_PASS, "DR: no live node: pass");
	is_int(ctr(s, L4_CTR_PASS_NO_BACKEND), 1, "DR: pass_no_backend counted");
	fill_ring(s, 1);

	/* not for a service */
	in = tcp_pkt(CLIENT, 40000, OTHER, 80, 1, 0);
	is_int(run(fd, &in, &out), XDP_PASS, "non-VIP address passes");
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "non-VIP frame untouched");
	in = tcp_pkt(CLIENT, 40000, VIP, 22, 1, 0);
	is_int(run(fd, &in, &out), XDP_PASS, "VIP address, other port passes");
	is_int(ctr(s, L4_CTR_PASS_NOT_VIP), 2, "pass_not_vip counted twice");

	/* ARP */
	in = tcp_pkt(CLIENT, 1, VIP, 80, 1, 0);
	((struct ethhdr *)in.b)->h_proto = htons(ETH_P_ARP);
	is_int(run(fd, &in, &out), XDP_PASS, "ARP passes");
	is_int(ctr(s, L4_CTR_PASS_NOT_IP), 1, "pass_not_ip counted");

	/* UDP to the VIP address */
	in = tcp_pkt(CLIENT, 1, VIP, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->protocol = IPPROTO_UDP;
	is_int(run(fd, &in, &out), XDP_PASS, "UDP to the VIP passes");
	is_int(ctr(s, L4_CTR_PASS_NOT_TCP), 1, "pass_not_tcp counted");

	/* truncated and malformed */
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	/* the test-run hook refuses frames shorter than an Ethernet header
	 * (-EINVAL), so drop_trunc_eth is only reachable from a real NIC */
	in.len = 10;
	ok(run(fd, &in, &out) < 0, "10-byte frame refused by the test-run hook");
	in.len = ETH_HLEN;
	is_int(run(fd, &in, &out), XDP_DROP, "Ethernet header alone (IPv4 type) dropped");
	in.len = ETH_HLEN + 12;
	is_int(run(fd, &in, &out), XDP_DROP, "IPv4 header cut short dropped");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->ihl = 4;
	is_int(run(fd, &in, &out), XDP_DROP, "IHL 4 dropped");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->version = 6;
	is_int(run(fd, &in, &out), XDP_DROP, "version 6 in an IPv4 ethertype dropped");
	is_int(ctr(s, L4_CTR_DROP_TRUNC_IP), 4, "drop_trunc_ip counted 4 times");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	in.len = ETH_HLEN + 20 + 12;
	is_int(run(fd, &in, &out), XDP_DROP, "TCP header cut short dropped");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct tcphdr *)(in.b + ETH_HLEN + 20))->doff = 3;
	is_int(run(fd, &in, &out), XDP_DROP, "TCP data offset 3 dropped");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct tcphdr *)(in.b + ETH_HLEN + 20))->doff = 15;
	is_int(run(fd, &in, &out), XDP_DROP, "TCP data offset past the IP length dropped");
	is_int(ctr(s, L4_CTR_DROP_TRUNC_TCP), 3, "drop_trunc_tcp counted 3 times");

	/* fragments and options */
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->frag_off = htons(0x2000);    /* MF */
	is_int(run(fd, &in, &out), XDP_DROP, "first fragment to the VIP dropped");
	((struct iphdr *)(in.b + ETH_HLEN))->frag_off = htons(0x0010);    /* offset */
	is_int(run(fd, &in, &out), XDP_DROP, "later fragment to the VIP dropped");
	is_int(ctr(s, L4_CTR_DROP_FRAG), 2, "drop_frag counted");
	in = tcp_pkt(CLIENT, 40000, OTHER, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->frag_off = htons(0x2000);
	is_int(run(fd, &in, &out), XDP_PASS, "fragment elsewhere passes");
	is_int(ctr(s, L4_CTR_PASS_FRAG), 1, "pass_frag counted");
	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->ihl = 6;
	is_int(run(fd, &in, &out), XDP_DROP, "IP options to the VIP dropped");
	is_int(ctr(s, L4_CTR_DROP_IPOPT), 1, "drop_ipopt counted");
	in = tcp_pkt(CLIENT, 40000, OTHER, 80, 1, 0);
	((struct iphdr *)(in.b + ETH_HLEN))->ihl = 6;
	is_int(run(fd, &in, &out), XDP_PASS, "IP options elsewhere pass");
	is_int(ctr(s, L4_CTR_PASS_IPOPT), 1, "pass_ipopt counted");
	l4_xdp_bpf__destroy(s);
}

static void test_nat(void)
{
	struct l4_xdp_bpf *s = setup(L4_MODE_NAT);
	struct pkt in, out;
	struct ethhdr *eo = (void *)out.b;
	struct iphdr *io = (void *)(out.b + ETH_HLEN);
	struct tcphdr *to = (void *)(io + 1);
	int fd;

	ok(s != NULL, "NAT: program loads and passes the verifier");
	if (!s)
		return;
	fd = bpf_program__fd(s->progs.l4_xdp);

	in = tcp_pkt(CLIENT, 40000, VIP, 80, 1, 0);
	ok(sums_ok(&in), "crafted frames carry correct checksums");
	is_int(run(fd, &in, &out), XDP_TX, "NAT: SYN to the VIP sent (XDP_TX)");
	ok(io->daddr == BE[0] && to->dest == htons(8080), "NAT: destination is the back end's address and port");
	ok(io->saddr == CLIENT && to->source == htons(40000), "NAT: source untouched");
	ok(sums_ok(&out), "NAT: IPv4 and TCP checksums verify after the rewrite");
	ok(!memcmp(eo->h_dest, MAC_BE[0], 6), "NAT: destination MAC is the back end's");
	is_int(ctr(s, L4_CTR_TX_NAT), 1, "NAT: tx_nat counted");

	in = tcp_pkt(CLIENT, 40000, VIP, 80, 0, 1);
	run(fd, &in, &out);
	ok(io->daddr == BE[0] && sums_ok(&out), "NAT: established packet rewritten, checksums verify");

	/* the reply, as the back end sends it */
	in = tcp_pkt(BE[0], 8080, CLIENT, 40000, 1, 1);
	int rc = run(fd, &in, &out);
	ok(rc == XDP_PASS || rc == XDP_TX || rc == XDP_REDIRECT, "NAT: reply handled (%d)", rc);
	ok(io->saddr == VIP && to->source == htons(80), "NAT: reply source is the VIP again");
	ok(io->daddr == CLIENT && to->dest == htons(40000), "NAT: reply destination untouched");
	ok(sums_ok(&out), "NAT: reply checksums verify after the rewrite");
	is_int(ctr(s, L4_CTR_PASS_NAT_NOFIB) + ctr(s, L4_CTR_TX_NAT_REPLY), 1,
	       "NAT: reply counted (no route in this namespace: pass_nat_nofib)");

	/* from the back end, but not a NAT flow */
	in = tcp_pkt(BE[0], 8080, CLIENT, 40999, 0, 1);
	is_int(run(fd, &in, &out), XDP_PASS, "NAT: unrelated back end traffic passes");
	ok(out.len == in.len && !memcmp(out.b, in.b, in.len), "NAT: ... untouched");

	/* many flows spread over two nodes by the Maglev table */
	for (uint32_t i = 0; i < RING; i++) {
		uint32_t who = i % 2;
		bpf_map_update_elem(bpf_map__fd(s->maps.l4_ring), &i, &who, BPF_ANY);
	}
	int n0 = 0, n1 = 0, wrong = 0;
	for (int i = 0; i < 1000; i++) {
		uint16_t sp = 20000 + i;
		in = tcp_pkt(CLIENT, sp, VIP, 80, 1, 0);
		run(fd, &in, &out);
		uint32_t want = l4_flow_hash(CLIENT, VIP, htons(sp), htons(80)) % RING % 2;
		if (io->daddr == BE[0])
			n0++;
		else
			n1++;
		wrong += io->daddr != BE[want] || !sums_ok(&out);
	}
	printf("# 1000 flows: %d to back end 0, %d to back end 1\n", n0, n1);
	is_int(wrong, 0, "NAT: every flow goes where l4_flow_hash and the table say, checksums ok");
	ok(n0 > 400 && n1 > 400, "NAT: flows spread over both nodes");
	l4_xdp_bpf__destroy(s);
}

int main(void)
{
	struct l4_xdp_bpf *probe;
	const char *missing = priv_missing_bpf();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!missing && !priv_has(PRIV_SYS_ADMIN))
		missing = "CAP_SYS_ADMIN (a network namespace of its own)";
	if (missing) {
		printf("1..0 # SKIP needs %s for BPF (root)\n", missing);
		return 0;
	}
	/* from here on every capability the kernel asks for is held: whatever
	 * does not work is a failure, never a skip */
	if (unshare(CLONE_NEWNET)) {
		ok(0, "unshare(CLONE_NEWNET) with CAP_SYS_ADMIN: %s", strerror(errno));
		return done_testing();
	}
	libbpf_set_print(priv_libbpf_print);
	probe = l4_xdp_bpf__open_and_load();
	if (!ok(probe != NULL, "the XDP program loads and passes the verifier (%s)",
		probe ? "loaded" : strerror(errno)))
		return done_testing();
	l4_xdp_bpf__destroy(probe);
	inet_pton(AF_INET, "198.18.0.100", &VIP);
	inet_pton(AF_INET, "198.18.0.2", &CLIENT);
	inet_pton(AF_INET, "198.18.0.200", &OTHER);
	inet_pton(AF_INET, "198.18.0.11", &BE[0]);
	inet_pton(AF_INET, "198.18.0.12", &BE[1]);
	test_dr();
	test_nat();
	return done_testing();
}
