/* l4.h: the front end's internal interfaces: map access (l4_maps.c), health
 * checks and neighbour resolution (l4_check.c), the user-space fallback
 * (l4_user.c). l4_main.c ties them together. */
#ifndef TANDEM_L4_H
#define TANDEM_L4_H

#include <poll.h>
#include <stdio.h>
#include "l4-t.h"

/* DR checks through the VIP: slot I's socket mark and routing table are
 * L4_CHECK_MARK_BASE + I ("td", 0xc000); its rule sits at pref
 * L4_CHECK_RULE_PREF, and "lookup local" moves to L4_LOCAL_RULE_PREF,
 * tagged with L4_RULE_PROTO, where the VIP is a local address. */
#define L4_CHECK_MARK_BASE  0x7464c000u
#define L4_CHECK_RULE_PREF  0
#define L4_LOCAL_RULE_PREF  1
#define L4_RULE_PROTO       0x74

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

/* l4_nl_call: sends the rtnetlink request H on R's socket and reads the
 * answers until its ACK or error (NLMSG_DONE for a dump: a GET with
 * NLM_F_DUMP), handing every other message of ours to CB (may be NULL).
 * Returns 0 or the kernel's -errno (or a socket call's; -ETIMEDOUT when
 * the socket's receive timeout passes). */
struct nlmsghdr;
typedef int (*l4_nl_cb)(struct nlmsghdr *h, void *arg);
int l4_nl_call(struct l4_route *r, struct nlmsghdr *h, l4_nl_cb cb, void *arg);

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

/* l4_check_open: what the checks need before the first one: in DR mode the
 * policy routes (l4_route_open). 0, or -errno with the reason logged. */
int l4_check_open(struct l4 *l);

/* l4_check_forget: slot IDX leaves the cluster: its check is closed and
 * its route removed; the slot may then be cleared. */
void l4_check_forget(struct l4 *l, uint32_t idx);

/* l4_check_stop: closes every check in flight and removes what
 * l4_check_open set up. */
void l4_check_stop(struct l4 *l);

/* l4_check_metrics: per node, tandem_l4_check_total{node,result} and
 * tandem_l4_check_status{node}; tandem_l4_check_via_vip. Caller holds
 * l->lock for reading. */
void l4_check_metrics(struct l4 *l, FILE *f);

/* l4_route_open: DR checks through the VIP: rtnetlink socket, stale rules
 * and routes of an earlier run removed, "lookup local" moved behind the
 * checks' rules where the VIP is local. 0 or -errno (the reason logged). */
int l4_route_open(struct l4 *l);

/* l4_route_set: rule "fwmark M lookup M" and route "VIP via NODE table M"
 * for slot IDX's address, then asks the kernel where a marked packet to
 * the VIP goes: it must be via the node, from a source that is not the
 * VIP. Nothing to do when already set for this address. 0, or -errno with
 * the reason in WHY (nothing left installed). */
int l4_route_set(struct l4 *l, uint32_t idx, char *why, size_t len);

/* l4_route_clear: removes slot IDX's rule and route, if set. */
void l4_route_clear(struct l4 *l, uint32_t idx);

/* l4_route_close: removes every slot's rule and route, puts "lookup local"
 * and accept_local back as they were, closes the socket. */
void l4_route_close(struct l4 *l);

/* l4_route_mark: slot IDX's SO_MARK and routing table. */
uint32_t l4_route_mark(uint32_t idx);

/* l4_neigh_lookup: the MAC of ADDR (IPv4, network order) on IFACE from the
 * kernel's neighbour table, complete entries only. 0 or -ENOENT. */
int l4_neigh_lookup(const char *iface, uint32_t addr, uint8_t mac[6]);

/* l4_bgp_open: with [l4] bgp_peer set, writes the BIRD configuration
 * (bgp_dir/bird.conf: VIP route in protocol tandem_vip, disabled; one BGP
 * session per peer exporting only it), has BIRD parse it, and starts BIRD
 * as a child that dies with this process. Refuses when a BIRD already
 * answers on the control socket. 0 (also without BGP), or -errno with the
 * reason logged. */
int l4_bgp_open(struct l4 *l);

/* l4_bgp_run: restarts BIRD if it died, and announces the VIP (enables
 * tandem_vip over the control socket) once every node has had its first
 * verdict and while the Maglev table has a back end; withdraws it
 * otherwise. Lowers *timeout_ms to when it needs to run again. */
void l4_bgp_run(struct l4 *l, int *timeout_ms);

/* l4_bgp_withdraw: SIGTERM: the VIP is withdrawn now and never announced
 * again. Returns the milliseconds to keep forwarding (bgp_withdraw_wait)
 * when it was announced, so the router moves its flows to the other front
 * ends first; 0 when there is nothing to wait for. */
int l4_bgp_withdraw(struct l4 *l);

/* l4_bgp_close: stops BIRD (SIGTERM: its sessions close with a Cease, the
 * peers drop the route; SIGKILL after 3 s) and removes its socket, pid
 * file, configuration and (if then empty) bgp_dir. */
void l4_bgp_close(struct l4 *l);

/* l4_bgp_metrics: tandem_l4_bgp_* (announced, BIRD running, each session
 * established, counters), asking BIRD for its sessions. Nothing without BGP. */
void l4_bgp_metrics(struct l4 *l, FILE *f);

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

/* l4_admin.c: tandem ctl's control verbs on the admin address.
 * l4_admin_control: REQ (a request head, NUL-terminated) when it is not a
 * GET: the node verbs (a runtime weight, then APPLY rebuilds the table) and
 * POST /reload (RELOAD with a stream for its reasons, 0 when taken); the
 * whole reply is written to FD. Returns 1 when it answered, 0 for a GET.
 * l4_admin_reapply: after a reload replaced the slots' nodes, puts the
 * runtime weights back on theirs, dropping those whose node left or whose
 * file weight changed. l4_admin_metrics: its series. */
int l4_admin_control(struct l4 *l, int fd, const char *req, long (*apply)(struct l4 *),
		     int (*reload)(struct l4 *, FILE *));
void l4_admin_reapply(struct l4 *l);
void l4_admin_metrics(struct l4 *l, FILE *f);

#endif
