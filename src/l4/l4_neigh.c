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
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "l4.h"

int l4_neigh_get(int ifindex, int family, const void *addr, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNEIGH,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.nd = { .ndm_family = (uint8_t)family },
	};
	size_t alen = family == AF_INET6 ? 16 : 4;
	char buf[16384];
	int fd, ret = -ENOENT, done = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req)) {
		ret = -errno;
		goto out;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0) {
			ret = n < 0 ? -errno : ret;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct ndmsg *nd = NLMSG_DATA(h);
			struct rtattr *a;
			const void *dst = NULL, *ll = NULL;
			int len, lllen = 0;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_type != RTM_NEWNEIGH || nd->ndm_ifindex != ifindex ||
			    nd->ndm_family != family ||
			    !(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
					       NUD_PERMANENT | NUD_NOARP)))
				continue;
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
			for (a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
				if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen)
					dst = RTA_DATA(a);
				if (a->rta_type == NDA_LLADDR) {
					ll = RTA_DATA(a);
					lllen = RTA_PAYLOAD(a);
				}
			}
			if (dst && ll && lllen == 6 && !memcmp(dst, addr, alen) && ret) {
				memcpy(mac, ll, 6);
				ret = 0;        /* read on to the end of the dump */
			}
		}
	}
out:
	close(fd);
	return ret;
}

int l4_addr6_preferred(const void *addr, int *ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifa = { .ifa_family = AF_INET6 },
	};
	char buf[16384];
	int fd, ret = 0, done = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) != sizeof(req)) {
		ret = -errno;
		goto out;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0) {
			ret = n < 0 ? -errno : ret;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			uint32_t flags = ifa->ifa_flags;
			const void *a = NULL;
			struct rtattr *rta;
			int len;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET6)
				continue;
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa));
			for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
				if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == 16)
					a = RTA_DATA(rta);
				if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) == 4)
					memcpy(&flags, RTA_DATA(rta), 4);
			}
			if (a && !memcmp(a, addr, 16) && !ret &&
			    !(flags & (IFA_F_DEPRECATED | IFA_F_TENTATIVE))) {
				*ifindex = (int)ifa->ifa_index;
				ret = 1;        /* read on to the end of the dump */
			}
		}
	}
out:
	close(fd);
	return ret;
}
