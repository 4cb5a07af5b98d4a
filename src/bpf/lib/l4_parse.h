/* l4_parse.h: Ethernet -> IPv4 | IPv6 -> TCP | ICMP | ICMPv6, bounds-checked
 * at every step, into a struct l4_pkt the rest of the logic reads instead of
 * the frame. It decides what is refused before any lookup of a flow: frames
 * cut short, IPv4 options and IPv6 extension headers and fragments to a VIP
 * address (dropped: a later fragment has no port to hash, options move the
 * transport header off the fast path), and everything that is not IP
 * (passed). Each of those decisions is counted here. */
#ifndef TANDEM_BPF_L4_PARSE_H
#define TANDEM_BPF_L4_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

#include "lib/l4_ctx.h"
#include "lib/l4_maps.h"

/* Fixed offsets: no VLAN tag (a tagged frame is not IP to us), no IPv4
 * options, no IPv6 extension header, so every header sits at a constant. */
#define L4_L3      ETH_HLEN
#define L4_L4_V4   (ETH_HLEN + 20)
#define L4_L4_V6   (ETH_HLEN + 40)

/* One frame as the logic sees it; addresses and ports in network order. */
struct l4_pkt {
	union l4_addr saddr, daddr;
	__u16 sport, dport;             /* TCP only */
	__u16 ip_len;                   /* the IP packet's length, host order */
	__u8 family;                    /* L4_AF_* */
	__u8 proto;                     /* IPPROTO_TCP, _ICMP, _ICMPV6 */
	__u8 syn, ack;
	__u8 ttl;                       /* TTL or hop limit */
	__u8 tos;                       /* IPv4 TOS (FIB lookup) */
	__u32 ifindex;                  /* out: where L4_V_SEND goes, 0: ingress */
};

/* 1 when the packet's destination address is a VIP's (its marker entry). */
static __always_inline int l4_to_vip_addr(const struct l4_pkt *p)
{
	struct l4_vip_key k = { .addr = p->daddr, .family = p->family };

	return bpf_map_lookup_elem(&l4_vips, &k) != NULL;
}

/* The transport header at L4OFF, PAYLOAD bytes of IP payload. */
static __always_inline int l4_parse_l4(struct l4_pkt *p, void *data, void *end, __u32 l4off,
				       __u32 payload)
{
	struct tcphdr *tcp = data + l4off;

	if (p->proto == IPPROTO_TCP) {
		if ((void *)(tcp + 1) > end)
			return l4_count(L4_CTR_DROP_TRUNC_TCP, L4_V_DROP);
		if (tcp->doff < 5 || payload < tcp->doff * 4u)
			return l4_count(L4_CTR_DROP_TRUNC_TCP, L4_V_DROP);
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->syn = tcp->syn;
		p->ack = tcp->ack;
		return L4_NEXT;
	}
	if (p->proto == (p->family == L4_AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
		return L4_NEXT;         /* l4_icmp looks further */
	if (l4_to_vip_addr(p))
		return l4_count(L4_CTR_PASS_NOT_TCP, L4_V_PASS);
	return l4_count(L4_CTR_PASS_NOT_VIP, L4_V_PASS);
}

static __always_inline int l4_parse4(struct l4_pkt *p, void *data, void *end)
{
	struct iphdr *ip = data + L4_L3;
	__u32 len;

	if ((void *)(ip + 1) > end)
		return l4_count(L4_CTR_DROP_TRUNC_IP, L4_V_DROP);
	if (ip->version != 4 || ip->ihl < 5)
		return l4_count(L4_CTR_DROP_TRUNC_IP, L4_V_DROP);
	p->family = L4_AF_INET;
	p->saddr.v4 = ip->saddr;
	p->daddr.v4 = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->tos = ip->tos;
	len = bpf_ntohs(ip->tot_len);
	p->ip_len = len;

	/* Fragments and options: only the address can be matched. */
	if ((ip->frag_off & bpf_htons(0x3fff)) || ip->ihl != 5) {
		int frag = ip->frag_off & bpf_htons(0x3fff);

		if (l4_to_vip_addr(p))
			return l4_count(frag ? L4_CTR_DROP_FRAG : L4_CTR_DROP_IPOPT, L4_V_DROP);
		return l4_count(frag ? L4_CTR_PASS_FRAG : L4_CTR_PASS_IPOPT, L4_V_PASS);
	}
	return l4_parse_l4(p, data, end, L4_L4_V4, len > 20 ? len - 20 : 0);
}

/* Next-header values that are IPv6 extension headers (RFC 8200 4, and the
 * IANA list): hop-by-hop, routing, fragment, AH, destination options,
 * mobility, HIP, shim6, the two experimental ones. ESP (50) and "no next
 * header" (59) end the chain: not TCP. */
static __always_inline int l4_ip6_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60 || nh == 135 ||
	       nh == 139 || nh == 140 || nh == 253 || nh == 254;
}

static __always_inline int l4_parse6(struct l4_pkt *p, void *data, void *end)
{
	struct ipv6hdr *ip6 = data + L4_L3;
	__u32 payload;

	if ((void *)(ip6 + 1) > end)
		return l4_count(L4_CTR_DROP_TRUNC_IP, L4_V_DROP);
	if (ip6->version != 6)
		return l4_count(L4_CTR_DROP_TRUNC_IP, L4_V_DROP);
	p->family = L4_AF_INET6;
	__builtin_memcpy(p->saddr.b, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr.b, &ip6->daddr, 16);
	p->proto = ip6->nexthdr;
	p->ttl = ip6->hop_limit;
	payload = bpf_ntohs(ip6->payload_len);
	p->ip_len = payload + 40;

	if (l4_ip6_ext(p->proto)) {
		int frag = p->proto == 44;

		if (l4_to_vip_addr(p))
			return l4_count(frag ? L4_CTR_DROP_FRAG : L4_CTR_DROP_IP6EXT, L4_V_DROP);
		return l4_count(frag ? L4_CTR_PASS_FRAG : L4_CTR_PASS_IP6EXT, L4_V_PASS);
	}
	return l4_parse_l4(p, data, end, L4_L4_V6, payload);
}

/* Parses the frame into P (zeroed by the caller). Returns L4_NEXT for TCP
 * and ICMP(v6) packets the logic goes on with, or a counted verdict. */
static __always_inline int l4_parse(void *ctx, const int hook, struct l4_pkt *p)
{
	void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return l4_count(L4_CTR_DROP_TRUNC_ETH, L4_V_DROP);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return l4_parse4(p, data, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return l4_parse6(p, data, end);
	return l4_count(L4_CTR_PASS_NOT_IP, L4_V_PASS);
}

#endif
