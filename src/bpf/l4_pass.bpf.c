/* l4_pass: an XDP program that passes every frame. It exists for one kernel
 * quirk: a veth drops frames that its peer sends with XDP_TX or XDP_REDIRECT
 * unless this side has an XDP program too (that is what sets up its NAPI
 * receive queue). lab/lab.sh attaches it on the switch side of the front
 * end's veth; nothing else uses it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int l4_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
