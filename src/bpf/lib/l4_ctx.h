/* l4_ctx.h: the small context abstraction under the level-1 forwarding
 * logic. The logic (l4_fwd.h) is written once against a `void *ctx` and a
 * hook that is a compile-time constant in each entry point (L4_HOOK_XDP,
 * L4_HOOK_TC), so after inlining each program keeps only its own branch.
 * What differs between the hooks lives here and nowhere else:
 *  - where the frame is (xdp_md or __sk_buff) and how long it is;
 *  - how a transport checksum is updated: in XDP the field is rewritten
 *    (the frame carries a full checksum); at tc bpf_l4_csum_replace() does
 *    it, because an skb may be CHECKSUM_PARTIAL (a veth hands the receiver
 *    the sender's unfinished checksum: the field holds only the pseudo
 *    header's sum, which BPF_F_PSEUDO_HDR updates the right way, and a port
 *    change must not touch it) or CHECKSUM_COMPLETE (skb->csum follows);
 *  - how a verdict becomes an action (XDP_TX / bpf_redirect, or a tc
 *    redirect to egress, or bpf_redirect_neigh for a NAT reply whose next
 *    hop has no neighbour entry yet).
 * Packet pointers are re-read from ctx by every function that writes: at tc
 * a checksum helper invalidates them. */
#ifndef TANDEM_BPF_L4_CTX_H
#define TANDEM_BPF_L4_CTX_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/l4_csum.h"

#define L4_HOOK_XDP 0
#define L4_HOOK_TC  1

/* What the logic decided; l4_xdp_action / l4_tc_action turn it into the
 * hook's return value. L4_NEXT: not decided yet (parsing goes on). */
#define L4_NEXT       (-1)
#define L4_V_PASS     0
#define L4_V_DROP     1
#define L4_V_SEND     2         /* out of l4_pkt.ifindex (0: the ingress one) */
#define L4_V_SEND_NEIGH 3       /* tc only: bpf_redirect_neigh to l4_pkt.ifindex */

/* Flags of l4_sum_fix. */
#define L4_SUM_PSEUDO 1         /* the changed field is in the pseudo header */

/* The frame's start and end. The empty asm pins each as a 64-bit value
 * right after its 32-bit load: otherwise clang may merge loads of several
 * paths as 32-bit values and zero-extend the merged one with shifts, which
 * the verifier refuses on a packet pointer. */
static __always_inline void *l4_data(void *ctx, const int hook)
{
	void *p;

	if (hook == L4_HOOK_XDP)
		p = (void *)(long)((struct xdp_md *)ctx)->data;
	else
		p = (void *)(long)((struct __sk_buff *)ctx)->data;
	asm volatile("" : "+r"(p));
	return p;
}

static __always_inline void *l4_data_end(void *ctx, const int hook)
{
	void *p;

	if (hook == L4_HOOK_XDP)
		p = (void *)(long)((struct xdp_md *)ctx)->data_end;
	else
		p = (void *)(long)((struct __sk_buff *)ctx)->data_end;
	asm volatile("" : "+r"(p));
	return p;
}

static __always_inline __u32 l4_ingress_ifindex(void *ctx, const int hook)
{
	if (hook == L4_HOOK_XDP)
		return ((struct xdp_md *)ctx)->ingress_ifindex;
	return ((struct __sk_buff *)ctx)->ingress_ifindex;
}

/* The whole frame's length (an skb's paged part included). In XDP a 64-bit
 * pointer difference: narrowing it lets clang shift pkt_end itself, which
 * the verifier refuses. */
static __always_inline __u64 l4_frame_len(void *ctx, const int hook)
{
	if (hook == L4_HOOK_XDP)
		return (__u64)(l4_data_end(ctx, hook) - l4_data(ctx, hook));
	return ((struct __sk_buff *)ctx)->len;
}

/* Applies DIFF to the transport checksum at OFF (even, from the frame's
 * start); PLAIN is a second diff for fields outside the pseudo header when
 * FLAGS has L4_SUM_PSEUDO (a NAT rewrite changes an address and a port).
 * Returns 0, or -1 when the field is out of the frame or the helper failed. */
static __always_inline int l4_sum_fix(void *ctx, const int hook, __u32 off, __u32 diff,
				      __u32 plain, __u32 flags)
{
	if (hook == L4_HOOK_TC) {
		/* BPF_F_IPV6 (Linux 6.16) would also keep skb->csum right for an
		 * IPv6 pseudo-header change on a CHECKSUM_COMPLETE skb; every
		 * rewritten skb here leaves by a redirect, whose transmit path
		 * ignores skb->csum, so the flag older kernels refuse is not used */
		if (bpf_l4_csum_replace(ctx, off, 0, diff,
					(flags & L4_SUM_PSEUDO) ? BPF_F_PSEUDO_HDR : 0))
			return -1;
		if (plain && bpf_l4_csum_replace(ctx, off, 0, plain, 0))
			return -1;
		return 0;
	}
	{
		void *data = l4_data(ctx, hook), *end = l4_data_end(ctx, hook);
		__u16 *sum = data + off;

		if ((void *)(sum + 1) > end)
			return -1;
		*sum = l4_sum_apply(*sum, diff + plain);
	}
	return 0;
}

#endif
