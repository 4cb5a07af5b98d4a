/* l4_abi.h: everything the level-1 data path (src/bpf/l4_fwd.bpf.c and the
 * helpers in src/bpf/lib/) and its control plane (src/l4/) both see: map keys
 * and values, the counter names, the map sizes and the flow hash. It is the
 * only header shared by kernel and user code, so a field added here is added
 * on both sides at once. Fixed-width types only, every struct padded by hand
 * to a multiple of 8 bytes so that clang -target bpf and the host compiler
 * lay it out the same way, and so that hash keys have no hole the compiler
 * could leave uninitialised.
 *
 * Byte order: addresses and ports are kept in network order everywhere (as
 * they sit in the packet); everything else is host order.
 *
 * Families: keys hold either family in a union l4_addr (an IPv4 address in
 * its first word, the other three zero) with a family field, so one flow
 * table, one NAT table and one Maglev table serve IPv4 and IPv6 alike. */
#ifndef TANDEM_L4_ABI_H
#define TANDEM_L4_ABI_H

#ifdef __BPF__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stdint.h>
#endif

#define L4_RING_DEFAULT  65537u         /* Maglev table size: prime, > 100 * nodes */
#define L4_RING_MAX      1048573u       /* largest prime we accept */
#define L4_BACKENDS_MAX  64             /* = CFG_MAX_NODES */
#define L4_VIPS_MAX      16             /* = CFG_MAX_VIPS */
#define L4_FLOWS_MAX     262144         /* LRU: old flows are evicted first */
#define L4_NO_BACKEND    0xffffffffu    /* a Maglev slot with nobody in it */

/* Forwarding modes, the value of the l4_mode knob. */
#define L4_MODE_DR   0                  /* rewrite the destination MAC only */
#define L4_MODE_NAT  1                  /* rewrite destination address and port */

/* The family field of every key: the IP version. */
#define L4_AF_INET   4
#define L4_AF_INET6  6

/* An address of either family, network order. The 16-byte member comes
 * first: `= {}` initialises a union's first member only, and a key must
 * have no byte left to chance. */
union l4_addr {
	__u32 v6[4];
	__u32 v4;                       /* IPv4: this word; the other three are 0 */
	__u8 b[16];
};

/* A service: VIP, port and protocol. A second entry with port 0 and proto 0
 * marks the address itself, so fragments (which carry no port), packets
 * with IPv4 options or IPv6 extension headers, and ICMP errors to a VIP are
 * recognised and counted. */
struct l4_vip_key {
	union l4_addr addr;
	__u16 port;                     /* network order; 0: the address marker */
	__u8 proto;                     /* IPPROTO_TCP; 0: the address marker */
	__u8 family;                    /* L4_AF_* */
	__u32 pad;
};

struct l4_vip {
	__u32 flags;                    /* L4_VIP_F_* */
	__u32 id;                       /* index into l4_vip_stats, < L4_VIPS_MAX */
};
#define L4_VIP_F_ADDR_ONLY 1u           /* the address marker entry */

/* A back end, indexed by node position in the cluster file. */
struct l4_backend {
	__u32 addr;                     /* IPv4, network order: NAT destination; 0: none */
	__u32 addr6[4];                 /* IPv6 NAT destination; all 0: none */
	__u16 port;                     /* network order: NAT destination port; 0: the VIP's */
	__u8 mac[6];                    /* its MAC on the front end's link */
	__u32 flags;                    /* L4_BE_F_* */
	__u32 ifindex;                  /* 0: send back out of the ingress interface */
	__u32 pad;
};
#define L4_BE_F_ALIVE 1u                /* passes health checks: its flows stay */

/* The flow table key: one direction of a TCP connection, client to VIP. */
struct l4_flow_key {
	union l4_addr saddr, daddr;
	__u16 sport, dport;             /* network order */
	__u8 proto;
	__u8 family;                    /* L4_AF_* */
	__u8 pad[2];
};

struct l4_flow {
	__u32 backend;                  /* index into l4_backends */
	__u32 pad;
	__u64 created_ns;               /* bpf_ktime_get_ns() at creation */
};

/* NAT reverse path, keyed by the reply as the back end sends it: back end
 * address and port to client address and port. */
struct l4_nat_key {
	union l4_addr baddr, caddr;     /* back end, client */
	__u16 bport, cport;
	__u8 proto;
	__u8 family;                    /* L4_AF_* */
	__u8 pad[2];
};

struct l4_nat {
	union l4_addr vaddr;            /* the VIP the client spoke to */
	__u16 vport;
	__u16 pad;
	__u32 pad2;
};

/* Per-back-end traffic, a per-CPU array indexed like l4_backends. */
struct l4_be_stats {
	__u64 packets;
	__u64 bytes;
};

/* Per-service traffic, a per-CPU array indexed by l4_vip.id: packets and
 * bytes forwarded to a back end, and connections (SYNs that opened a flow;
 * a retransmitted SYN counts again, as in flow_new). */
struct l4_vip_stats {
	__u64 packets;
	__u64 bytes;
	__u64 conns;
};

/* Every outcome of the program, one per-CPU counter each. The names are what
 * /metrics prints (tandem_l4_packets_total{outcome="NAME"}). */
#define L4_COUNTERS(X)                                                    \
	X(RX,             "rx")              /* every packet seen */         \
	X(PASS_NOT_IP,    "pass_not_ip")     /* ARP, VLAN, ...: not IPv4/IPv6 */ \
	X(PASS_NOT_VIP,   "pass_not_vip")    /* IP, not to a service */      \
	X(PASS_NOT_TCP,   "pass_not_tcp")    /* to a VIP address, not TCP nor ICMP */ \
	X(PASS_NO_BACKEND,"pass_no_backend") /* service with no live node */ \
	X(PASS_NAT_NOFIB, "pass_nat_nofib")  /* reply rewritten, stack routes it */ \
	X(DROP_TRUNC_ETH, "drop_trunc_eth")  /* shorter than an Ethernet header */ \
	X(DROP_TRUNC_IP,  "drop_trunc_ip")   /* IPv4/IPv6 header cut short or bad */ \
	X(DROP_TRUNC_TCP, "drop_trunc_tcp")  /* TCP header cut short or bad */ \
	X(DROP_FRAG,      "drop_frag")       /* fragment to a VIP address */ \
	X(DROP_IPOPT,     "drop_ipopt")      /* IPv4 options to a VIP address */ \
	X(PASS_FRAG,      "pass_frag")       /* fragment, not to a VIP */    \
	X(PASS_IPOPT,     "pass_ipopt")      /* IPv4 options, not to a VIP */ \
	X(DROP_BAD_BACKEND,"drop_bad_backend") /* slot names a missing node */ \
	X(FLOW_HIT,       "flow_hit")        /* flow table said where */     \
	X(FLOW_NEW,       "flow_new")        /* Maglev said where, remembered */ \
	X(FLOW_NEW_NOSYN, "flow_new_nosyn")  /* ... for a packet without SYN */ \
	X(FLOW_REPICK,    "flow_repick")     /* its node died: picked again */ \
	X(FLOW_FULL,      "flow_insert_fail") /* flow table update failed */  \
	X(TX_DR,          "tx_dr")           /* MAC rewritten, sent */       \
	X(TX_NAT,         "tx_nat")          /* client->VIP rewritten, sent */ \
	X(TX_NAT_REPLY,   "tx_nat_reply")    /* back end->client rewritten */ \
	X(REDIRECT,       "redirect")        /* sent out of another interface */ \
	X(DROP_IP6EXT,    "drop_ip6ext")     /* IPv6 extension header to a VIP */ \
	X(PASS_IP6EXT,    "pass_ip6ext")     /* IPv6 extension header, not to a VIP */ \
	X(PASS_ND,        "pass_nd")         /* ICMPv6 neighbour/router discovery */ \
	X(PASS_ICMP,      "pass_icmp")       /* ICMP to a VIP address, not a PTB of a flow */ \
	X(TX_ICMP_PTB,    "tx_icmp_ptb")     /* packet too big sent to its flow's node */ \
	X(DROP_NO_ADDR,   "drop_no_addr")    /* NAT: node has no address of the family */ \
	X(DROP_REWRITE,   "drop_rewrite")    /* tc: a rewrite helper failed */ \
	X(REDIRECT_NEIGH, "redirect_neigh")  /* tc: NAT reply, kernel resolves the MAC */

#define L4_CTR_ENUM(id, name) L4_CTR_##id,
enum l4_counter { L4_COUNTERS(L4_CTR_ENUM) L4_CTR_MAX };
#undef L4_CTR_ENUM

/* l4_flow_hash: the hash Maglev indexes with, over the client 4-tuple as it
 * sits in the packet (network order). The data path and the user-space
 * fallback both call it (l4_flow_hash_key), so both pick the same node for
 * the same connection. A murmur3-style mix: no tables, cheap for the
 * verifier. IPv6 mixes every word of both addresses. */
static inline __u32 l4_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline __u32 l4_flow_hash(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport)
{
	__u32 h = 0x9747b28cu;

	h = l4_mix32(h ^ saddr);
	h = l4_mix32(h ^ daddr);
	h = l4_mix32(h ^ (((__u32)sport << 16) | dport));
	return h;
}

static inline __u32 l4_flow_hash6(const __u32 saddr[4], const __u32 daddr[4], __u16 sport,
				  __u16 dport)
{
	__u32 h = 0x9747b28cu ^ 6;

	h = l4_mix32(h ^ saddr[0]);
	h = l4_mix32(h ^ saddr[1]);
	h = l4_mix32(h ^ saddr[2]);
	h = l4_mix32(h ^ saddr[3]);
	h = l4_mix32(h ^ daddr[0]);
	h = l4_mix32(h ^ daddr[1]);
	h = l4_mix32(h ^ daddr[2]);
	h = l4_mix32(h ^ daddr[3]);
	h = l4_mix32(h ^ (((__u32)sport << 16) | dport));
	return h;
}

/* The hash of a flow key, either family. */
static inline __u32 l4_flow_hash_key(const struct l4_flow_key *k)
{
	if (k->family == L4_AF_INET6)
		return l4_flow_hash6(k->saddr.v6, k->daddr.v6, k->sport, k->dport);
	return l4_flow_hash(k->saddr.v4, k->daddr.v4, k->sport, k->dport);
}

#endif
