/* l4_fwd.h: the level-1 switch's forwarding logic, written once for both
 * hooks (see l4_ctx.h for what differs). Per packet, after l4_parse:
 *  - TCP to a service (l4_vips): the flow table (LRU, client 4-tuple -> back
 *    end slot) or else the Maglev table names the node; the flow is
 *    remembered; then direct routing (destination MAC rewritten: the node
 *    owns the VIP on lo and replies straight to the client) or NAT
 *    (destination address and port rewritten, the reverse entry recorded);
 *  - TCP from a back end in NAT mode (l4_nat_rev): source back to the VIP,
 *    the kernel's FIB says where the client is;
 *  - ICMP "fragmentation needed" and ICMPv6 "packet too big" to a VIP: the
 *    quoted packet is one the node sent to a client, so the flow is looked
 *    up the other way round and the error goes to that node (NAT: with the
 *    outer destination and the quoted source rewritten to the node's);
 *  - ICMPv6 neighbour and router discovery, and everything else: the stack.
 * Every outcome is counted (l4_abi.h names them). IPv4 and IPv6 share the
 * tables: keys carry the family. */
#ifndef TANDEM_BPF_L4_FWD_H
#define TANDEM_BPF_L4_FWD_H

#include <linux/icmpv6.h>

#include "lib/l4_parse.h"

/* linux/icmp.h pulls in libc headers (linux/if.h): the few ICMP names
 * needed here instead */
#define L4_ICMP_DEST_UNREACH 3
#define L4_ICMP_FRAG_NEEDED  4

struct l4_icmphdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u32 rest;                     /* unused; next-hop MTU for type 3 code 4 */
};

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Rewrites the frame's Ethernet addresses: destination DST, source SRC, or
 * when SRC is NULL the frame's old destination (it was sent to us, so it
 * is our MAC). 0 or -1. */
static __always_inline int l4_set_macs(void *ctx, const int hook, const __u8 *dst, const __u8 *src)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return -1;
	if (src)
		__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	else
		__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
	return 0;
}

/* Rewrites the TCP packet P describes: its destination (DST) or source
 * address to ADDR and that side's port to PORT, with the IPv4 header
 * checksum and the TCP checksum (pseudo header and port). 0 or -1. */
static __always_inline int l4_rewrite_tcp(void *ctx, const int hook, const struct l4_pkt *p,
					  const int dst, const union l4_addr *addr, __u16 port)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);
	const union l4_addr *old = dst ? &p->daddr : &p->saddr;
	__u32 da, dp = l4_diff16(dst ? p->dport : p->sport, port);

	if (p->family == L4_AF_INET6) {
		struct ipv6hdr *ip6 = data + L4_L3;
		struct tcphdr *tcp = data + L4_L4_V6;

		if ((void *)(tcp + 1) > end)
			return -1;
		da = l4_diff_addr(old->v6, addr->v6, 1);
		if (dst) {
			__builtin_memcpy(&ip6->daddr, addr->b, 16);
			tcp->dest = port;
		} else {
			__builtin_memcpy(&ip6->saddr, addr->b, 16);
			tcp->source = port;
		}
		return l4_sum_fix(ctx, hook, L4_L4_V6 + 16, da, dp, L4_SUM_PSEUDO);
	} else {
		struct iphdr *ip = data + L4_L3;
		struct tcphdr *tcp = data + L4_L4_V4;

		if ((void *)(tcp + 1) > end)
			return -1;
		da = l4_diff32(old->v4, addr->v4);
		/* the IPv4 header checksum is never left to offload: rewrite it */
		ip->check = l4_sum_apply(ip->check, da);
		if (dst) {
			ip->daddr = addr->v4;
			tcp->dest = port;
		} else {
			ip->saddr = addr->v4;
			tcp->source = port;
		}
		return l4_sum_fix(ctx, hook, L4_L4_V4 + 16, da, dp, L4_SUM_PSEUDO);
	}
}

/* Decrements the TTL (IPv4, with its checksum) or the hop limit, as the
 * stack would have done when forwarding. 0 or -1. */
static __always_inline int l4_dec_ttl(void *ctx, const int hook, const struct l4_pkt *p)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);

	if (p->family == L4_AF_INET6) {
		struct ipv6hdr *ip6 = data + L4_L3;

		if ((void *)(ip6 + 1) > end)
			return -1;
		ip6->hop_limit--;
	} else {
		struct iphdr *ip = data + L4_L3;

		if ((void *)(ip + 1) > end)
			return -1;
		ip->check = l4_sum_apply(ip->check, l4_diff16(bpf_htons((__u16)ip->ttl << 8),
							      bpf_htons((__u16)(ip->ttl - 1) << 8)));
		ip->ttl--;
	}
	return 0;
}

/* The node's address of the packet's family, for NAT: 0 or -1 (none). */
static __always_inline int l4_be_addr(const struct l4_backend *be, __u8 family, union l4_addr *a)
{
	if (family == L4_AF_INET6) {
		if (!(be->addr6[0] | be->addr6[1] | be->addr6[2] | be->addr6[3]))
			return -1;
		__builtin_memcpy(a->v6, be->addr6, 16);
		return 0;
	}
	if (!be->addr)
		return -1;
	a->v4 = be->addr;
	return 0;
}

/* The back end of a flow key: the flow table if it knows a live one, else
 * the Maglev table; nothing is remembered (ICMP errors). Returns the index
 * or L4_NO_BACKEND. */
static __always_inline __u32 l4_lookup_backend(const struct l4_flow_key *fk)
{
	struct l4_flow *fl = bpf_map_lookup_elem(&l4_flows, fk);
	__u32 slot, *ring;

	if (fl) {
		__u32 idx = fl->backend;
		struct l4_backend *be = bpf_map_lookup_elem(&l4_backends, &idx);

		if (be && (be->flags & L4_BE_F_ALIVE))
			return idx;
	}
	slot = l4_flow_hash_key(fk) % l4_ring_size;
	ring = bpf_map_lookup_elem(&l4_ring, &slot);
	return ring ? *ring : L4_NO_BACKEND;
}

static __always_inline void l4_stats(__u32 idx, __u32 vip, __u64 len, int conn)
{
	struct l4_be_stats *bs = bpf_map_lookup_elem(&l4_be_stats, &idx);
	struct l4_vip_stats *vs = bpf_map_lookup_elem(&l4_vip_stats, &vip);

	if (bs) {
		bs->packets++;
		bs->bytes += len;
	}
	if (vs) {
		vs->packets++;
		vs->bytes += len;
		vs->conns += conn;
	}
}

/* A reply from a back end in NAT mode: source back to the VIP, then the
 * kernel's FIB says where the client is. Without a usable route the
 * rewritten packet goes to the stack, which forwards it; at tc, a route
 * without a neighbour entry yet goes by bpf_redirect_neigh. */
static __always_inline int l4_nat_reply(void *ctx, const int hook, struct l4_pkt *p)
{
	struct l4_nat_key nk = {
		.baddr = p->saddr, .caddr = p->daddr,
		.bport = p->sport, .cport = p->dport,
		.proto = IPPROTO_TCP, .family = p->family,
	};
	struct bpf_fib_lookup fib = {};
	union l4_addr vaddr;
	struct l4_nat *n;
	__u16 vport;
	long rc;

	n = bpf_map_lookup_elem(&l4_nat_rev, &nk);
	if (!n)
		return l4_count(L4_CTR_PASS_NOT_VIP, L4_V_PASS);
	/* the stack answers an expiring packet (ICMP time exceeded) */
	if (p->ttl <= 1)
		return l4_count(L4_CTR_PASS_NAT_NOFIB, L4_V_PASS);
	vaddr = n->vaddr;
	vport = n->vport;
	if (l4_rewrite_tcp(ctx, hook, p, 0, &vaddr, vport))
		return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);

	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = vport;
	fib.dport = p->dport;
	/* at tc, tot_len 0 makes the kernel check the MTU against the skb
	 * itself, which is right for a GRO'd skb that is resegmented later */
	fib.tot_len = hook == L4_HOOK_XDP ? p->ip_len : 0;
	fib.ifindex = l4_ingress_ifindex(ctx, hook);
	if (p->family == L4_AF_INET6) {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, vaddr.v6, 16);
		__builtin_memcpy(fib.ipv6_dst, p->daddr.v6, 16);
	} else {
		fib.family = AF_INET;
		fib.tos = p->tos;
		fib.ipv4_src = vaddr.v4;
		fib.ipv4_dst = p->daddr.v4;
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (hook == L4_HOOK_TC && rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (l4_dec_ttl(ctx, hook, p))
			return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
		p->ifindex = fib.ifindex;
		l4_count(L4_CTR_REDIRECT_NEIGH, 0);
		return l4_count(L4_CTR_TX_NAT_REPLY, L4_V_SEND_NEIGH);
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return l4_count(L4_CTR_PASS_NAT_NOFIB, L4_V_PASS);
	if (l4_dec_ttl(ctx, hook, p) || l4_set_macs(ctx, hook, fib.dmac, fib.smac))
		return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
	p->ifindex = fib.ifindex;
	return l4_count(L4_CTR_TX_NAT_REPLY, L4_V_SEND);
}

/* NAT of an ICMP error quoting a packet the node sent from the VIP QSRC:
 * the outer destination and the quoted source become the node's address
 * TO, the quoted source port the node's PORT, so the node's stack finds
 * its socket. The quoted TCP checksum is left alone (often not even
 * quoted; nobody checks it). 0 or -1. */
static __always_inline int l4_rewrite_icmp(void *ctx, const int hook, const struct l4_pkt *p,
					   const union l4_addr *qsrc, const union l4_addr *to,
					   __u16 port)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);

	if (p->family == L4_AF_INET6) {
		struct ipv6hdr *ip6 = data + L4_L3;
		struct ipv6hdr *in = data + L4_L4_V6 + 8;
		struct tcphdr *tcp = (void *)(in + 1);
		__u32 douter, dinner, dport;

		if ((void *)tcp + 4 > end)
			return -1;
		/* outer destination: in the ICMPv6 pseudo header; the quoted
		 * source and port: plain ICMPv6 payload */
		douter = l4_diff_addr(p->daddr.v6, to->v6, 1);
		dinner = l4_diff_addr(qsrc->v6, to->v6, 1);
		dport = l4_diff16(tcp->source, port);
		__builtin_memcpy(&ip6->daddr, to->b, 16);
		__builtin_memcpy(&in->saddr, to->b, 16);
		tcp->source = port;
		return l4_sum_fix(ctx, hook, L4_L4_V6 + 2, douter, dinner + dport, L4_SUM_PSEUDO);
	} else {
		struct iphdr *ip = data + L4_L3;
		struct iphdr *in = data + L4_L4_V4 + 8;
		struct tcphdr *tcp = (void *)(in + 1);
		__u32 dinner, dport, dcheck;
		__u16 check;

		if ((void *)tcp + 4 > end)
			return -1;
		ip->check = l4_sum_apply(ip->check, l4_diff32(ip->daddr, to->v4));
		ip->daddr = to->v4;
		dinner = l4_diff32(in->saddr, to->v4);
		check = l4_sum_apply(in->check, dinner);
		dcheck = l4_diff16(in->check, check);
		dport = l4_diff16(tcp->source, port);
		in->saddr = to->v4;
		in->check = check;
		tcp->source = port;
		/* ICMPv4 has no pseudo header: everything changed is payload */
		return l4_sum_fix(ctx, hook, L4_L4_V4 + 2, dinner + dcheck + dport, 0, 0);
	}
}

/* ICMP and ICMPv6. Neighbour discovery passes first, whatever its address;
 * then only errors to a VIP address are ours. A "packet too big" (ICMPv6
 * type 2; ICMP type 3 code 4) quotes a packet a node sent from the VIP to a
 * client: its flow is client -> VIP, the quote read the other way round. */
static __always_inline int l4_icmp(void *ctx, const int hook, struct l4_pkt *p)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);
	struct l4_flow_key fk = { .proto = IPPROTO_TCP, .family = p->family };
	struct l4_vip_key vk = { .proto = IPPROTO_TCP, .family = p->family };
	struct l4_backend *be;
	struct l4_vip *vip;
	struct tcphdr *tcp;
	__u32 idx;

	if (p->family == L4_AF_INET6) {
		struct icmp6hdr *ic = data + L4_L4_V6;
		struct ipv6hdr *in = (void *)(ic + 1);

		if ((void *)(ic + 1) > end)
			return l4_count(L4_CTR_PASS_ICMP, L4_V_PASS);
		if (ic->icmp6_type >= 133 && ic->icmp6_type <= 137)
			return l4_count(L4_CTR_PASS_ND, L4_V_PASS);
		if (!l4_to_vip_addr(p))
			return l4_count(L4_CTR_PASS_NOT_VIP, L4_V_PASS);
		tcp = (void *)(in + 1);
		if (ic->icmp6_type != ICMPV6_PKT_TOOBIG || (void *)tcp + 4 > end ||
		    in->version != 6 || in->nexthdr != IPPROTO_TCP)
			return l4_count(L4_CTR_PASS_ICMP, L4_V_PASS);
		__builtin_memcpy(fk.saddr.b, &in->daddr, 16);
		__builtin_memcpy(fk.daddr.b, &in->saddr, 16);
	} else {
		struct l4_icmphdr *ic = data + L4_L4_V4;
		struct iphdr *in = (void *)(ic + 1);

		if (!l4_to_vip_addr(p))
			return l4_count(L4_CTR_PASS_NOT_VIP, L4_V_PASS);
		tcp = (void *)(in + 1);
		if ((void *)tcp + 4 > end || ic->type != L4_ICMP_DEST_UNREACH ||
		    ic->code != L4_ICMP_FRAG_NEEDED || in->version != 4 || in->ihl != 5 ||
		    in->protocol != IPPROTO_TCP)
			return l4_count(L4_CTR_PASS_ICMP, L4_V_PASS);
		fk.saddr.v4 = in->daddr;
		fk.daddr.v4 = in->saddr;
	}
	fk.sport = tcp->dest;
	fk.dport = tcp->source;
	vk.addr = fk.daddr;
	vk.port = fk.dport;
	vip = bpf_map_lookup_elem(&l4_vips, &vk);
	if (!vip || (vip->flags & L4_VIP_F_ADDR_ONLY))
		return l4_count(L4_CTR_PASS_ICMP, L4_V_PASS);
	idx = l4_lookup_backend(&fk);
	if (idx == L4_NO_BACKEND)
		return l4_count(L4_CTR_PASS_NO_BACKEND, L4_V_PASS);
	be = bpf_map_lookup_elem(&l4_backends, &idx);
	if (!be)
		return l4_count(L4_CTR_DROP_BAD_BACKEND, L4_V_DROP);
	l4_stats(idx, vip->id, l4_frame_len(ctx, hook), 0);
	if (l4_mode == L4_MODE_NAT) {
		union l4_addr to = {};

		if (l4_be_addr(be, p->family, &to))
			return l4_count(L4_CTR_DROP_NO_ADDR, L4_V_DROP);
		if (l4_rewrite_icmp(ctx, hook, p, &fk.daddr, &to, be->port ? be->port : fk.dport))
			return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
	}
	if (l4_set_macs(ctx, hook, be->mac, NULL))
		return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
	p->ifindex = be->ifindex;
	return l4_count(L4_CTR_TX_ICMP_PTB, L4_V_SEND);
}

/* The whole decision for one frame. Returns an L4_V_* verdict; P says
 * where an L4_V_SEND goes. */
static __always_inline int l4_forward(void *ctx, const int hook, struct l4_pkt *p)
{
	struct l4_vip_key vk = {};
	struct l4_flow_key fk = {};
	struct l4_flow fl = {}, *flp;
	struct l4_backend *be;
	struct l4_vip *vip;
	__u32 slot, idx, *ring;
	int v, repick = 0, conn = 0;

	l4_count(L4_CTR_RX, 0);
	v = l4_parse(ctx, hook, p);
	if (v != L4_NEXT)
		return v;
	if (p->proto != IPPROTO_TCP)
		return l4_icmp(ctx, hook, p);

	vk.addr = p->daddr;
	vk.port = p->dport;
	vk.proto = IPPROTO_TCP;
	vk.family = p->family;
	vip = bpf_map_lookup_elem(&l4_vips, &vk);
	if (!vip || (vip->flags & L4_VIP_F_ADDR_ONLY)) {
		if (l4_mode == L4_MODE_NAT)
			return l4_nat_reply(ctx, hook, p);
		return l4_count(L4_CTR_PASS_NOT_VIP, L4_V_PASS);
	}

	fk.saddr = p->saddr;
	fk.daddr = p->daddr;
	fk.sport = p->sport;
	fk.dport = p->dport;
	fk.proto = IPPROTO_TCP;
	fk.family = p->family;
	/* A SYN opens a new connection: an entry for the same 4-tuple is from
	 * an earlier one whose port the client now reuses, and must not keep
	 * it on a node that has since been drained. */
	flp = p->syn && !p->ack ? NULL : bpf_map_lookup_elem(&l4_flows, &fk);
	if (flp) {
		idx = flp->backend;
		be = bpf_map_lookup_elem(&l4_backends, &idx);
		if (be && (be->flags & L4_BE_F_ALIVE)) {
			l4_count(L4_CTR_FLOW_HIT, 0);
			goto forward;
		}
		/* its node failed: the connection is lost anyway, so a fresh
		 * pick lets the client's retry (or RST) reach a live node */
		repick = 1;
	}
	slot = l4_flow_hash_key(&fk) % l4_ring_size;
	ring = bpf_map_lookup_elem(&l4_ring, &slot);
	if (!ring || *ring == L4_NO_BACKEND)
		return l4_count(L4_CTR_PASS_NO_BACKEND, L4_V_PASS);
	idx = *ring;
	be = bpf_map_lookup_elem(&l4_backends, &idx);
	if (!be)
		return l4_count(L4_CTR_DROP_BAD_BACKEND, L4_V_DROP);
	fl.backend = idx;
	fl.created_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&l4_flows, &fk, &fl, BPF_ANY)) {
		l4_count(L4_CTR_FLOW_FULL, 0);
	} else if (repick) {
		l4_count(L4_CTR_FLOW_REPICK, 0);
	} else if (p->syn && !p->ack) {
		l4_count(L4_CTR_FLOW_NEW, 0);
		conn = 1;
	} else {
		l4_count(L4_CTR_FLOW_NEW_NOSYN, 0);
	}

forward:
	l4_stats(idx, vip->id, l4_frame_len(ctx, hook), conn);
	if (l4_mode == L4_MODE_NAT) {
		union l4_addr to = {};
		__u16 port = be->port ? be->port : p->dport;
		struct l4_nat_key nk = {
			.caddr = p->saddr, .bport = port, .cport = p->sport,
			.proto = IPPROTO_TCP, .family = p->family,
		};
		struct l4_nat n = { .vaddr = p->daddr, .vport = p->dport };
		struct l4_nat *old;

		if (l4_be_addr(be, p->family, &to))
			return l4_count(L4_CTR_DROP_NO_ADDR, L4_V_DROP);
		nk.baddr = to;
		old = bpf_map_lookup_elem(&l4_nat_rev, &nk);
		if (!old || old->vport != n.vport || old->vaddr.v6[0] != n.vaddr.v6[0] ||
		    old->vaddr.v6[1] != n.vaddr.v6[1] || old->vaddr.v6[2] != n.vaddr.v6[2] ||
		    old->vaddr.v6[3] != n.vaddr.v6[3])
			if (bpf_map_update_elem(&l4_nat_rev, &nk, &n, BPF_ANY))
				l4_count(L4_CTR_FLOW_FULL, 0);
		if (l4_rewrite_tcp(ctx, hook, p, 1, &to, port))
			return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
		l4_count(L4_CTR_TX_NAT, 0);
	} else {
		l4_count(L4_CTR_TX_DR, 0);
	}
	if (l4_set_macs(ctx, hook, be->mac, NULL))
		return l4_count(L4_CTR_DROP_REWRITE, L4_V_DROP);
	p->ifindex = be->ifindex;
	return L4_V_SEND;
}

/* XDP: back out of the ingress interface with XDP_TX, elsewhere with
 * bpf_redirect. */
static __always_inline int l4_xdp_run(struct xdp_md *ctx)
{
	struct l4_pkt p = {};
	int v = l4_forward(ctx, L4_HOOK_XDP, &p);

	if (v == L4_V_SEND) {
		if (!p.ifindex || p.ifindex == ctx->ingress_ifindex)
			return XDP_TX;
		l4_count(L4_CTR_REDIRECT, 0);
		return bpf_redirect(p.ifindex, 0);
	}
	return v == L4_V_DROP ? XDP_DROP : XDP_PASS;
}

/* tc (clsact ingress, direct action): the headers must be in the linear
 * part for direct access, so a frame whose head is shorter is pulled first
 * (at most what the deepest parse reads: an ICMPv6 error quoting IPv6 and
 * TCP ports); a send is a redirect to the egress of the interface. */
#define L4_PULL_LEN (L4_L4_V6 + 8 + 40 + 8)

static __always_inline int l4_tc_run(struct __sk_buff *skb)
{
	struct l4_pkt p = {};
	__u32 ifindex;
	int v;

	if ((void *)(long)skb->data + L4_PULL_LEN > (void *)(long)skb->data_end &&
	    skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < L4_PULL_LEN ? skb->len : L4_PULL_LEN);
	v = l4_forward(skb, L4_HOOK_TC, &p);
	if (v == L4_V_SEND) {
		ifindex = p.ifindex ? p.ifindex : skb->ingress_ifindex;
		if (ifindex != skb->ingress_ifindex)
			l4_count(L4_CTR_REDIRECT, 0);
		return bpf_redirect(ifindex, 0);
	}
	if (v == L4_V_SEND_NEIGH)
		return bpf_redirect_neigh(p.ifindex, NULL, 0, 0);
	return v == L4_V_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

#endif
