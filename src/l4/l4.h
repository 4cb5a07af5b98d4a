/* l4.h: the front end's internal interfaces: map access (l4_maps.c), health
 * checks and neighbour resolution (l4_check.c), the user-space fallback
 * (l4_user.c). l4_main.c ties them together. */
#ifndef TANDEM_L4_H
#define TANDEM_L4_H

#include <poll.h>
#include "l4-t.h"

#define L4_CHECK_INTERVAL_MS 500
#define L4_CHECK_TIMEOUT_MS  1000
#define L4_CHECK_RISE        2
#define L4_CHECK_FALL        2

/* l4_now_ms: CLOCK_MONOTONIC in milliseconds. */
uint64_t l4_now_ms(void);

/* l4_probe: checks the kernel for what the data path needs (XDP and tc
 * programs, LRU hash, per-CPU arrays, bpf_fib_lookup for NAT) and logs
 * every missing piece. Returns 0 when all is there, -EOPNOTSUPP otherwise. */
int l4_probe(int nat);

/* l4_maps_open: opens the skeleton, sets the knobs and the ring size, loads
 * it, pins the maps under /sys/fs/bpf/tandem/IFACE (stale pins removed
 * first; unpinned with a warning when bpffs is not available), removes what
 * a killed earlier run left on the interface (our tc filter, an XDP program
 * of ours attached by netlink), and attaches as [l4] hook says: xdp (native,
 * else generic with a warning), tc (clsact ingress, cls_bpf direct action;
 * the qdisc created if missing), or auto (native XDP where it forwards
 * correctly, tc on a veth and where native XDP is not available; the choice
 * and its reason logged as a warning). Returns 0 or -errno (reason logged). */
int l4_maps_open(struct l4 *l);

/* l4_maps_close: detaches (XDP link, or tc filter and the clsact qdisc if
 * tandem created it) and frees; removes the pins. */
void l4_maps_close(struct l4 *l);

/* l4_maps_set_vips: the service and address entries of every VIP of the
 * cluster file. 0 or -errno. */
int l4_maps_set_vips(struct l4 *l);

/* l4_maps_vip_stats: sums of VIP number IDX's per-CPU traffic. 0 or -errno. */
int l4_maps_vip_stats(struct l4 *l, uint32_t idx, struct l4_vip_stats *out);

/* l4_node_addr_of: node N's address of FAMILY (AF_INET: 4 bytes, AF_INET6:
 * 16, network order) into OUT. 0, or -ENOENT when it has none. */
int l4_node_addr_of(const struct cfg_node *n, int family, void *out);

/* l4_neigh_get: the MAC of ADDR (FAMILY: AF_INET or AF_INET6, network
 * order) on interface IFINDEX from the kernel's neighbour table (rtnetlink;
 * valid entries only). 0, -ENOENT, or -errno of the netlink socket. */
int l4_neigh_get(int ifindex, int family, const void *addr, uint8_t mac[6]);

/* l4_addr6_preferred: 1 (and its interface in *IFINDEX) when the IPv6
 * address ADDR is an address of this host that the kernel may choose as a
 * source (not deprecated, not tentative), 0 when not, -errno on failure. */
int l4_addr6_preferred(const void *addr, int *ifindex);

/* l4_maps_set_backend: writes slot IDX (address, port, MAC, alive flag).
 * 0 or -errno. */
int l4_maps_set_backend(struct l4 *l, uint32_t idx);

/* l4_maps_write_ring: writes the slots where NEW differs from OLD (all when
 * OLD is NULL). Returns how many were written, or -errno. */
long l4_maps_write_ring(struct l4 *l, const uint32_t *old, const uint32_t *new_);

/* l4_maps_counters: sums of the per-CPU counters. 0 or -errno. */
int l4_maps_counters(struct l4 *l, uint64_t out[L4_CTR_MAX]);

/* l4_maps_be_stats: sums of slot IDX's per-CPU traffic. 0 or -errno. */
int l4_maps_be_stats(struct l4 *l, uint32_t idx, struct l4_be_stats *out);

/* l4_check_poll: adds the fds of checks in flight to PFD (at most CAP), and
 * lowers *timeout_ms to the next deadline. Returns how many were added. */
int l4_check_poll(struct l4 *l, struct pollfd *pfd, int cap, int *timeout_ms);

/* l4_check_run: starts due checks, advances those with events, times out
 * the late ones, applies rise/fall. Returns 1 when some node's health (or
 * MAC) changed and the table must be rebuilt, else 0. */
int l4_check_run(struct l4 *l);

/* l4_check_stop: closes every check in flight. */
void l4_check_stop(struct l4 *l);

/* l4_neigh_lookup: the MAC of ADDR (IPv4, network order) on IFACE from the
 * kernel's neighbour table, complete entries only. 0 or -ENOENT. */
int l4_neigh_lookup(const char *iface, uint32_t addr, uint8_t mac[6]);

/* l4_user_start: listens on the VIP and forwards each connection to the
 * node the Maglev table gives for its 4-tuple, with splice(2). 0 or -errno. */
int l4_user_start(struct l4 *l);

/* l4_user_stop: stops accepting; waits up to a second for connections. */
void l4_user_stop(struct l4 *l);

/* l4_node_port: the port nodes serve the VIP on (network order). */
uint16_t l4_vip_port(const struct l4 *l);

/* l4_vip_addr: the VIP's IPv4 address (network order), 0 if not IPv4. */
uint32_t l4_vip_addr(const struct l4 *l);

/* l4_node_addr: node IDX's IPv4 address (network order), 0 if not IPv4. */
uint32_t l4_node_addr(const struct l4 *l, uint32_t idx);

#endif
