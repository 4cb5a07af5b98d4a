/* l4_xdp: the level-1 switch's data path, an XDP program on the front end's
 * interface. It owns the per-packet decision: parse Ethernet/IPv4/TCP, match
 * the destination against the services (l4_vips), find the connection in the
 * LRU flow table or else pick a back end from the Maglev table and remember
 * it, then forward by direct routing (destination MAC rewritten) or by NAT
 * (destination address and port rewritten, replies rewritten back to the
 * VIP). Anything that is not for a service goes to the kernel untouched.
 * Every decision is counted in l4_counters; the names are in l4_abi.h.
 *
 * The maps are filled by src/l4/l4_maps.c; the knobs below are set there
 * before load. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "l4_abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Knobs, fixed at load time. */
const volatile __u32 l4_ring_size = L4_RING_DEFAULT;
const volatile __u32 l4_mode = L4_MODE_DR;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4_VIPS_MAX * 2);
	__type(key, struct l4_vip_key);
	__type(value, struct l4_vip);
} l4_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct l4_backend);
} l4_backends SEC(".maps");

/* Slot -> back end index; resized to l4_ring_size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4_RING_DEFAULT);
	__type(key, __u32);
	__type(value, __u32);
} l4_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4_FLOWS_MAX);
	__type(key, struct l4_flow_key);
	__type(value, struct l4_flow);
} l4_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4_FLOWS_MAX);
	__type(key, struct l4_nat_key);
	__type(value, struct l4_nat);
} l4_nat_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} l4_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct l4_be_stats);
} l4_be_stats SEC(".maps");

static __always_inline int count(__u32 id, int action)
{
	__u64 *v = bpf_map_lookup_elem(&l4_counters, &id);

	if (v)
		*v += 1;
	return action;
}

/* Incremental checksum update (RFC 1624, HC' = ~(~HC + ~m + m')), on 16-bit
 * words taken as they sit in memory: a one's complement sum does not care
 * about byte order as long as every word is read the same way. */
static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline void csum_replace16(__u16 *sum, __u16 from, __u16 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~from;
	s += to;
	*sum = ~csum_fold32(s);
}

static __always_inline void csum_replace32(__u16 *sum, __u32 from, __u32 to)
{
	csum_replace16(sum, (__u16)from, (__u16)to);
	csum_replace16(sum, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* Sends the frame back out: the ingress interface (XDP_TX) or another one. */
static __always_inline int send(struct xdp_md *ctx, __u32 ifindex)
{
	if (!ifindex || ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	count(L4_CTR_REDIRECT, 0);
	return bpf_redirect(ifindex, 0);
}

/* A reply from a back end in NAT mode: source back to the VIP, then the
 * kernel's FIB says where the client is. Without a usable route or
 * neighbour the rewritten packet goes to the stack, which forwards it. */
static __always_inline int nat_reply(struct xdp_md *ctx, struct ethhdr *eth,
				     struct iphdr *ip, struct tcphdr *tcp)
{
	struct l4_nat_key nk = {
		.baddr = ip->saddr, .caddr = ip->daddr,
		.bport = tcp->source, .cport = tcp->dest,
		.proto = IPPROTO_TCP,
	};
	struct bpf_fib_lookup fib = {};
	struct l4_nat *n;
	long rc;

	n = bpf_map_lookup_elem(&l4_nat_rev, &nk);
	if (!n)
		return count(L4_CTR_PASS_NOT_VIP, XDP_PASS);
	csum_replace32(&ip->check, ip->saddr, n->vaddr);
	csum_replace32(&tcp->check, ip->saddr, n->vaddr);
	csum_replace16(&tcp->check, tcp->source, n->vport);
	ip->saddr = n->vaddr;
	tcp->source = n->vport;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = IPPROTO_TCP;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return count(L4_CTR_PASS_NAT_NOFIB, XDP_PASS);
	/* the stack would have decremented it; so do we (checksum too) */
	if (ip->ttl <= 1)
		return count(L4_CTR_PASS_NAT_NOFIB, XDP_PASS);
	csum_replace16(&ip->check, bpf_htons((__u16)ip->ttl << 8),
		       bpf_htons((__u16)(ip->ttl - 1) << 8));
	ip->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	count(L4_CTR_TX_NAT_REPLY, 0);
	return send(ctx, fib.ifindex);
}

SEC("xdp")
int l4_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct l4_vip_key vk = {};
	struct l4_flow_key fk = {};
	struct l4_flow fl = {}, *flp;
	struct l4_backend *be;
	struct l4_be_stats *bs;
	struct l4_vip *vip;
	__u32 slot, idx, *ring, ihl;
	int repick = 0;

	count(L4_CTR_RX, 0);
	if ((void *)(eth + 1) > end)
		return count(L4_CTR_DROP_TRUNC_ETH, XDP_DROP);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(L4_CTR_PASS_NOT_IP, XDP_PASS);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return count(L4_CTR_DROP_TRUNC_IP, XDP_DROP);
	ihl = ip->ihl;
	if (ip->version != 4 || ihl < 5)
		return count(L4_CTR_DROP_TRUNC_IP, XDP_DROP);

	/* Fragments and options: only the address can be matched. Those for a
	 * VIP are dropped (a non-first fragment has no port to hash; options
	 * would move the TCP header off the fast path), the rest pass. */
	if ((ip->frag_off & bpf_htons(0x3fff)) || ihl != 5) {
		int frag = ip->frag_off & bpf_htons(0x3fff);

		vk.addr = ip->daddr;
		if (bpf_map_lookup_elem(&l4_vips, &vk))
			return count(frag ? L4_CTR_DROP_FRAG : L4_CTR_DROP_IPOPT, XDP_DROP);
		return count(frag ? L4_CTR_PASS_FRAG : L4_CTR_PASS_IPOPT, XDP_PASS);
	}
	if (ip->protocol != IPPROTO_TCP) {
		vk.addr = ip->daddr;
		if (bpf_map_lookup_elem(&l4_vips, &vk))
			return count(L4_CTR_PASS_NOT_TCP, XDP_PASS);
		return count(L4_CTR_PASS_NOT_VIP, XDP_PASS);
	}
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return count(L4_CTR_DROP_TRUNC_TCP, XDP_DROP);
	if (tcp->doff < 5 || bpf_ntohs(ip->tot_len) < sizeof(*ip) + tcp->doff * 4)
		return count(L4_CTR_DROP_TRUNC_TCP, XDP_DROP);

	vk.addr = ip->daddr;
	vk.port = tcp->dest;
	vk.proto = IPPROTO_TCP;
	vip = bpf_map_lookup_elem(&l4_vips, &vk);
	if (!vip || (vip->flags & L4_VIP_F_ADDR_ONLY)) {
		if (l4_mode == L4_MODE_NAT)
			return nat_reply(ctx, eth, ip, tcp);
		return count(L4_CTR_PASS_NOT_VIP, XDP_PASS);
	}

	fk.saddr = ip->saddr;
	fk.daddr = ip->daddr;
	fk.sport = tcp->source;
	fk.dport = tcp->dest;
	fk.proto = IPPROTO_TCP;
	/* A SYN opens a new connection: an entry for the same 4-tuple is from
	 * an earlier one whose port the client now reuses, and must not keep
	 * it on a node that has since been drained. */
	flp = tcp->syn && !tcp->ack ? NULL : bpf_map_lookup_elem(&l4_flows, &fk);
	if (flp) {
		idx = flp->backend;
		be = bpf_map_lookup_elem(&l4_backends, &idx);
		if (be && (be->flags & L4_BE_F_ALIVE)) {
			count(L4_CTR_FLOW_HIT, 0);
			goto forward;
		}
		/* its node failed: the connection is lost anyway, so a fresh
		 * pick lets the client's retry (or RST) reach a live node */
		repick = 1;
	}
	slot = l4_flow_hash(fk.saddr, fk.daddr, fk.sport, fk.dport) % l4_ring_size;
	ring = bpf_map_lookup_elem(&l4_ring, &slot);
	if (!ring || *ring == L4_NO_BACKEND)
		return count(L4_CTR_PASS_NO_BACKEND, XDP_PASS);
	idx = *ring;
	be = bpf_map_lookup_elem(&l4_backends, &idx);
	if (!be)
		return count(L4_CTR_DROP_BAD_BACKEND, XDP_DROP);
	fl.backend = idx;
	fl.created_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&l4_flows, &fk, &fl, BPF_ANY))
		count(L4_CTR_FLOW_FULL, 0);
	else if (repick)
		count(L4_CTR_FLOW_REPICK, 0);
	else if (tcp->syn && !tcp->ack)
		count(L4_CTR_FLOW_NEW, 0);
	else
		count(L4_CTR_FLOW_NEW_NOSYN, 0);

forward:
	bs = bpf_map_lookup_elem(&l4_be_stats, &idx);
	if (bs) {
		bs->packets++;
		bs->bytes += (__u64)(end - data);
	}
	if (l4_mode == L4_MODE_NAT) {
		struct l4_nat_key nk = {
			.baddr = be->addr, .caddr = ip->saddr,
			.bport = be->port, .cport = tcp->source,
			.proto = IPPROTO_TCP,
		};
		struct l4_nat n = { .vaddr = ip->daddr, .vport = tcp->dest };
		struct l4_nat *old = bpf_map_lookup_elem(&l4_nat_rev, &nk);

		if (!old || old->vaddr != n.vaddr || old->vport != n.vport)
			if (bpf_map_update_elem(&l4_nat_rev, &nk, &n, BPF_ANY))
				count(L4_CTR_FLOW_FULL, 0);
		csum_replace32(&ip->check, ip->daddr, be->addr);
		csum_replace32(&tcp->check, ip->daddr, be->addr);
		csum_replace16(&tcp->check, tcp->dest, be->port);
		ip->daddr = be->addr;
		tcp->dest = be->port;
		count(L4_CTR_TX_NAT, 0);
	} else {
		count(L4_CTR_TX_DR, 0);
	}
	/* the frame was sent to us, so its destination MAC is ours */
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	return send(ctx, be->ifindex);
}

char LICENSE[] SEC("license") = "GPL";
