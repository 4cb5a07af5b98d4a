/* l4_fwd: the level-1 switch's data path, two entry points over one
 * forwarding logic (lib/l4_fwd.h) and one set of maps (lib/l4_maps.h):
 *  - l4_xdp, attached at XDP on a NIC with a native driver: the frame is
 *    handled before the kernel allocates anything for it;
 *  - l4_tc, attached at tc (clsact ingress, cls_bpf direct action) where
 *    XDP would not forward correctly: on a veth (container and namespace
 *    networks), whose XDP_TX drops frames unless the peer has an XDP
 *    program too and loses the "checksum partial" mark of frames sent from
 *    the same host; and on drivers with generic XDP only.
 * The control plane (src/l4/l4_maps.c) loads this one object, attaches the
 * program of the hook it chose, and fills the maps; both programs see the
 * same maps, so tests drive either with the same setup. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/l4_fwd.h"

SEC("xdp")
int l4_xdp(struct xdp_md *ctx)
{
	return l4_xdp_run(ctx);
}

SEC("tc")
int l4_tc(struct __sk_buff *skb)
{
	return l4_tc_run(skb);
}

char LICENSE[] SEC("license") = "GPL";
