/* l4_csum.h: one's complement arithmetic for the level-1 data path's
 * rewrites (RFC 1071, RFC 1624). A change is carried as a 32-bit "diff": the
 * sum of the complements of the old 16-bit words and the new ones, the form
 * bpf_csum_diff() returns and bpf_l4_csum_replace() takes with size 0, so
 * both hooks compute the same diff and differ only in how it is applied
 * (l4_ctx.h). Words are taken as they sit in memory: a one's complement sum
 * does not care about byte order as long as every word is read the same
 * way, and a 32-bit word is its two 16-bit halves. */
#ifndef TANDEM_BPF_L4_CSUM_H
#define TANDEM_BPF_L4_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 l4_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* The diff of one 32-bit word changing from FROM to TO. */
static __always_inline __u32 l4_diff32(__u32 from, __u32 to)
{
	__u32 f = ~from;

	return (f & 0xffff) + (f >> 16) + (to & 0xffff) + (to >> 16);
}

/* The diff of one 16-bit word. */
static __always_inline __u32 l4_diff16(__u16 from, __u16 to)
{
	return (__u16)~from + (__u32)to;
}

/* The diff of an address of the family (L4_AF_*): 1 or 4 words. */
static __always_inline __u32 l4_diff_addr(const __u32 *from, const __u32 *to, int v6)
{
	__u32 s = l4_diff32(from[0], to[0]);

	if (v6) {
		s += l4_diff32(from[1], to[1]);
		s += l4_diff32(from[2], to[2]);
		s += l4_diff32(from[3], to[3]);
	}
	return s;
}

/* A checksum field (as it sits in memory) after a change of DIFF. At most a
 * few dozen words are ever summed, so the 32-bit sum cannot overflow. */
static __always_inline __u16 l4_sum_apply(__u16 sum, __u32 diff)
{
	return (__u16)~l4_fold(diff + (__u16)~sum);
}

#endif
