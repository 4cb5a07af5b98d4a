/* l4_neigh: what the front end asks the kernel over rtnetlink. A node's MAC
 * from the neighbour table, for either family: l4_check.c reads IPv4
 * entries from /proc/net/arp; IPv6 has no such file, so a node known by an
 * IPv6 address only (its health check's connect is what makes the kernel
 * resolve it, by neighbour discovery) gets its MAC here; one dump per call,
 * read only while a node still lacks a MAC. And whether an IPv6 VIP is a
 * preferred address of this host (see l4_addr6_preferred). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "l4.h"

/* A dump of REQ on a socket of its own (these run rarely, outside the
 * front end's route socket), each message to CB. 0 or -errno. */
static int neigh_dump(struct nlmsghdr *req, l4_nl_cb cb, void *arg)
{
	struct timeval tv = { .tv_sec = 2 };
	struct l4_route r = { .fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) };
	int ret;

	if (r.fd < 0)
		return -errno;
	setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = l4_nl_call(&r, req, cb, arg);
	close(r.fd);
	return ret;
}

struct neigh_q {
	int ifindex, family;
	size_t alen;
	const void *addr;
	uint8_t *mac;
	int found;
};

static int neigh_seen(struct nlmsghdr *h, void *arg)
{
	struct neigh_q *q = arg;
	struct ndmsg *nd = NLMSG_DATA(h);
	const void *dst = NULL, *ll = NULL;
	struct rtattr *a;
	int len, lllen = 0;

	if (h->nlmsg_type != RTM_NEWNEIGH || nd->ndm_ifindex != q->ifindex ||
	    nd->ndm_family != q->family ||
	    !(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
			       NUD_PERMANENT | NUD_NOARP)))
		return 0;
	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
	for (a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == q->alen)
			dst = RTA_DATA(a);
		if (a->rta_type == NDA_LLADDR) {
			ll = RTA_DATA(a);
			lllen = RTA_PAYLOAD(a);
		}
	}
	if (dst && ll && lllen == 6 && !memcmp(dst, q->addr, q->alen) && !q->found) {
		memcpy(q->mac, ll, 6);
		q->found = 1;   /* the dump is read on to its end */
	}
	return 0;
}

int l4_neigh_get(int ifindex, int family, const void *addr, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNEIGH, .nlmsg_flags = NLM_F_DUMP },
		.nd = { .ndm_family = (uint8_t)family },
	};
	struct neigh_q q = { .ifindex = ifindex, .family = family, .addr = addr, .mac = mac,
			     .alen = family == AF_INET6 ? 16 : 4 };
	int err = neigh_dump(&req.nh, neigh_seen, &q);

	return err ? err : q.found ? 0 : -ENOENT;
}

struct addr6_q {
	const void *addr;
	int ifindex, found;
};

static int addr6_seen(struct nlmsghdr *h, void *arg)
{
	struct addr6_q *q = arg;
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	uint32_t flags = ifa->ifa_flags;
	const void *a = NULL;
	struct rtattr *rta;
	int len;

	if (h->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET6)
		return 0;
	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa));
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == 16)
			a = RTA_DATA(rta);
		if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) == 4)
			memcpy(&flags, RTA_DATA(rta), 4);
	}
	if (a && !memcmp(a, q->addr, 16) && !q->found &&
	    !(flags & (IFA_F_DEPRECATED | IFA_F_TENTATIVE))) {
		q->ifindex = (int)ifa->ifa_index;
		q->found = 1;   /* the dump is read on to its end */
	}
	return 0;
}

int l4_addr6_preferred(const void *addr, int *ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_DUMP },
		.ifa = { .ifa_family = AF_INET6 },
	};
	struct addr6_q q = { .addr = addr };
	int err = neigh_dump(&req.nh, addr6_seen, &q);

	if (err)
		return err;
	if (q.found)
		*ifindex = q.ifindex;
	return q.found;
}
