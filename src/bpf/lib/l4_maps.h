/* l4_maps.h: the level-1 data path's maps and load-time knobs, defined once
 * for the one object that holds both entry points (src/bpf/l4_fwd.bpf.c):
 * the XDP and the tc program share them, and the control plane
 * (src/l4/l4_maps.c) fills them the same way whichever hook is attached.
 * Keys and values are in shared/l4_abi.h. */
#ifndef TANDEM_BPF_L4_MAPS_H
#define TANDEM_BPF_L4_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "l4_abi.h"

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

/* Slot -> back end index; resized to l4_ring_size before load. One table
 * for every service and both families: the hash covers the VIP and port. */
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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4_VIPS_MAX);
	__type(key, __u32);
	__type(value, struct l4_vip_stats);
} l4_vip_stats SEC(".maps");

/* Counts outcome ID and returns V, so a decision reads `return
 * l4_count(ID, verdict)`. */
static __always_inline int l4_count(__u32 id, int v)
{
	__u64 *c = bpf_map_lookup_elem(&l4_counters, &id);

	if (c)
		*c += 1;
	return v;
}

#endif
