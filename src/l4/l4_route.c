/* l4_route: the policy routes that make a DR health check prove what a
 * client needs: that the node takes packets addressed to the VIP. Each slot
 * gets a routing table and a firewall mark of its own (L4_CHECK_MARK_BASE +
 * slot), holding one route, "VIP via NODE-ADDRESS", and a rule "fwmark M
 * lookup table M" at preference L4_CHECK_RULE_PREF. A check socket carries
 * its slot's mark (SO_MARK), so a plain TCP connect to VIP:port leaves with
 * the VIP as destination and the node's MAC (the neighbour of the gateway),
 * which is how the XDP program forwards a client's packets; a node without
 * the VIP on lo drops it, and only a node with it answers, from the VIP.
 *
 * Where the front end owns the VIP itself (on its interface, so it answers
 * ARP for it), the kernel's "lookup local" rule at preference 0 would
 * deliver the check to this host: that rule is moved behind ours (to
 * L4_LOCAL_RULE_PREF; unmarked traffic sees the same tables in the same
 * order) and put back at exit, and accept_local is turned on on the
 * interface the answers come in on, since their source, the VIP, is then a
 * local address and would be dropped as martian. Everything is done with
 * rtnetlink: no iproute2 at run time, and every kernel error comes back to
 * the call that caused it. Rules and routes a killed front end left in its
 * tables are removed at open. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "l4.h"
#include "log.h"

struct nl_req {
	struct nlmsghdr h;
	union {
		struct rtmsg r;
		struct fib_rule_hdr f;
	};
	char attrs[192];
};

/* What a route lookup answered: type, gateway, device, source. */
struct nl_route {
	int type;
	int oif;
	uint8_t gw[16], src[16];
	int has_gw, has_src;
};

uint32_t l4_route_mark(uint32_t idx)
{
	return L4_CHECK_MARK_BASE + idx;
}

static int fam_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static const void *vip_bytes(const struct l4 *l)
{
	const struct sockaddr_storage *ss = &l->cfg.vip.ss;

	if (ss->ss_family == AF_INET6)
		return &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return &((const struct sockaddr_in *)ss)->sin_addr;
}

static const void *node_bytes(const struct l4 *l, uint32_t idx)
{
	const struct sockaddr_storage *ss = &l->slots[idx].node.address.ss;

	if (ss->ss_family == AF_INET6)
		return &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return &((const struct sockaddr_in *)ss)->sin_addr;
}

/* Appends an attribute to request Q; a request never outgrows its
 * buffer (the largest carries four attributes), the check only guards. */
static void nl_attr(struct nl_req *q, int type, const void *data, int len)
{
	char *base = (char *)q;
	struct rtattr *a;

	if (NLMSG_ALIGN(q->h.nlmsg_len) + RTA_SPACE(len) > sizeof(*q))
		return;
	a = (struct rtattr *)(base + NLMSG_ALIGN(q->h.nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void nl_attr32(struct nl_req *q, int type, uint32_t v)
{
	nl_attr(q, type, &v, sizeof(v));
}

int l4_nl_call(struct l4_route *r, struct nlmsghdr *h, l4_nl_cb cb, void *arg)
{
	static char buf[32768];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	/* NLM_F_DUMP shares its bits with NLM_F_REPLACE and NLM_F_EXCL: only
	 * a GET is a dump (rtnetlink's GET types are 2 modulo 4) */
	int dump = h->nlmsg_type >= RTM_BASE && (h->nlmsg_type & 3) == 2 &&
		   (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;

	h->nlmsg_seq = ++r->seq;
	h->nlmsg_flags |= NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK);
	if (sendto(r->fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t got = recv(r->fd, buf, sizeof(buf), 0);
		struct nlmsghdr *m;
		int n = (int)got;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		for (m = (struct nlmsghdr *)buf; NLMSG_OK(m, n); m = NLMSG_NEXT(m, n)) {
			if (m->nlmsg_seq != h->nlmsg_seq)
				continue;       /* an answer to an earlier call we gave up on */
			if (m->nlmsg_type == NLMSG_DONE)
				return 0;
			if (m->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(m);

				return e->error;
			}
			if (cb)
				cb(m, arg);
		}
	}
}

/* "ip rule add|del pref PREF [fwmark MARK] lookup TABLE [proto PROTO]" */
static int nl_rule(struct l4_route *r, int type, int flags, int family, uint32_t table,
		   uint32_t pref, uint32_t mark, uint8_t proto)
{
	struct nl_req q = { 0 };

	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.f));
	q.h.nlmsg_type = type;
	q.h.nlmsg_flags = flags;
	q.f.family = family;
	q.f.action = FR_ACT_TO_TBL;
	q.f.table = table < 256 ? table : RT_TABLE_UNSPEC;
	nl_attr32(&q, FRA_TABLE, table);
	nl_attr32(&q, FRA_PRIORITY, pref);
	if (mark) {
		nl_attr32(&q, FRA_FWMARK, mark);
		nl_attr32(&q, FRA_FWMASK, 0xffffffffu);
	}
	if (proto)
		nl_attr(&q, FRA_PROTOCOL, &proto, 1);
	return l4_nl_call(r, &q.h, NULL, NULL);
}

/* "VIP via GW table TABLE": RTM_NEWROUTE (replace) or RTM_DELROUTE. */
/* The source a check leaves from: an address of [l4] iface in FAMILY that
 * is no VIP (nor IPv6 link-local) into OUT. 1 when there is one. Without
 * it IPv6 would take the VIP itself (RFC 6724 rule 1, "prefer the same
 * address", comes before "avoid deprecated"), and the node's answer would
 * stay on the node. */
static int route_src(const struct l4 *l, int family, unsigned char out[16])
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i && !found; i = i->ifa_next) {
		const unsigned char *p;
		int vip = 0;

		if (!i->ifa_addr || i->ifa_addr->sa_family != family || strcmp(i->ifa_name, l->cfg.l4.iface))
			continue;
		p = family == AF_INET6 ? (const unsigned char *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr
				       : (const unsigned char *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		if (family == AF_INET6 && p[0] == 0xfe && (p[1] & 0xc0) == 0x80)
			continue;
		for (int v = 0; v < l->cfg.nvips; v++) {
			const struct sockaddr_storage *ss = &l->cfg.vips[v].ss;

			if (ss->ss_family == family &&
			    !memcmp(p, family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
							  : (const void *)&((const struct sockaddr_in *)ss)->sin_addr,
				    fam_len(family)))
				vip = 1;
		}
		if (!vip) {
			memcpy(out, p, fam_len(family));
			found = 1;
		}
	}
	freeifaddrs(ifa);
	return found;
}

static int nl_route(struct l4 *l, int type, uint32_t table, const void *gw)
{
	struct nl_req q = { 0 };
	int family = l->cfg.vip.ss.ss_family, alen = fam_len(family);
	unsigned char src[16];

	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.r));
	q.h.nlmsg_type = type;
	q.h.nlmsg_flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0;
	q.r.rtm_family = family;
	q.r.rtm_dst_len = alen * 8;
	q.r.rtm_table = RT_TABLE_UNSPEC;
	q.r.rtm_protocol = RTPROT_STATIC;
	q.r.rtm_scope = type == RTM_NEWROUTE ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
	q.r.rtm_type = RTN_UNICAST;
	nl_attr32(&q, RTA_TABLE, table);
	nl_attr(&q, RTA_DST, vip_bytes(l), alen);
	if (gw)
		nl_attr(&q, RTA_GATEWAY, gw, alen);
	if (type == RTM_NEWROUTE && route_src(l, family, src))
		nl_attr(&q, RTA_PREFSRC, src, alen);
	return l4_nl_call(&l->route, &q.h, NULL, NULL);
}

static int route_got(struct nlmsghdr *m, void *arg)
{
	struct nl_route *o = arg;
	struct rtmsg *rt = NLMSG_DATA(m);
	int len = RTM_PAYLOAD(m);

	if (m->nlmsg_type != RTM_NEWROUTE)
		return 0;
	o->type = rt->rtm_type;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		int n = RTA_PAYLOAD(a) < 16 ? RTA_PAYLOAD(a) : 16;

		if (a->rta_type == RTA_GATEWAY) {
			memcpy(o->gw, RTA_DATA(a), n);
			o->has_gw = 1;
		} else if (a->rta_type == RTA_PREFSRC) {
			memcpy(o->src, RTA_DATA(a), n);
			o->has_src = 1;
		} else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= 4) {
			memcpy(&o->oif, RTA_DATA(a), 4);
		}
	}
	return 0;
}

/* What the kernel does with a packet to the VIP carrying MARK ("ip route
 * get VIP mark MARK"). 0 or -errno. */
static int nl_route_get(struct l4 *l, uint32_t mark, struct nl_route *o)
{
	struct nl_req q = { 0 };
	int family = l->cfg.vip.ss.ss_family, alen = fam_len(family);

	memset(o, 0, sizeof(*o));
	o->type = -1;
	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.r));
	q.h.nlmsg_type = RTM_GETROUTE;
	q.r.rtm_family = family;
	q.r.rtm_dst_len = alen * 8;
	nl_attr(&q, RTA_DST, vip_bytes(l), alen);
	if (mark)
		nl_attr32(&q, RTA_MARK, mark);
	return l4_nl_call(&l->route, &q.h, route_got, o);
}

/* Rules of one family, as the dump gives them: what open needs to know. */
struct rule_scan {
	struct l4 *l;
	uint32_t local_min;             /* lowest preference of a "lookup local" rule */
	int nlocal;
	int local_ours;                 /* one of them is the one we moved (FRA_PROTOCOL) */
	char stale[L4_BACKENDS_MAX * 2][256];   /* our rules left by an earlier run */
	int nstale;
};

static int rule_seen(struct nlmsghdr *m, void *arg)
{
	struct rule_scan *s = arg;
	struct fib_rule_hdr *f = NLMSG_DATA(m);
	int len = m->nlmsg_len - NLMSG_LENGTH(sizeof(*f));
	uint32_t table = f->table, pref = 0;
	uint8_t proto = 0;

	if (m->nlmsg_type != RTM_NEWRULE || len < 0)
		return 0;
	for (struct rtattr *a = (struct rtattr *)((char *)f + NLMSG_ALIGN(sizeof(*f)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == FRA_TABLE && RTA_PAYLOAD(a) >= 4)
			memcpy(&table, RTA_DATA(a), 4);
		else if (a->rta_type == FRA_PRIORITY && RTA_PAYLOAD(a) >= 4)
			memcpy(&pref, RTA_DATA(a), 4);
		else if (a->rta_type == FRA_PROTOCOL && RTA_PAYLOAD(a) >= 1)
			proto = *(uint8_t *)RTA_DATA(a);
	}
	if (f->action == FR_ACT_TO_TBL && table == RT_TABLE_LOCAL) {
		if (!s->nlocal || pref < s->local_min)
			s->local_min = pref;
		s->nlocal++;
		s->local_ours |= proto == L4_RULE_PROTO;
	}
	if (table >= L4_CHECK_MARK_BASE && table < L4_CHECK_MARK_BASE + L4_BACKENDS_MAX &&
	    s->nstale < (int)(sizeof(s->stale) / sizeof(s->stale[0])) &&
	    m->nlmsg_len <= sizeof(s->stale[0]))
		memcpy(s->stale[s->nstale++], m, m->nlmsg_len);
	return 0;
}

/* Routes of one of our tables, to be flushed. */
struct route_scan {
	uint32_t table;
	char msgs[8][256];
	int n;
};

static int route_seen(struct nlmsghdr *m, void *arg)
{
	struct route_scan *s = arg;
	struct rtmsg *rt = NLMSG_DATA(m);
	int len = RTM_PAYLOAD(m);
	uint32_t table = rt->rtm_table;

	if (m->nlmsg_type != RTM_NEWROUTE)
		return 0;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= 4)
			memcpy(&table, RTA_DATA(a), 4);
	if (table == s->table && s->n < 8 && m->nlmsg_len <= sizeof(s->msgs[0]))
		memcpy(s->msgs[s->n++], m, m->nlmsg_len);
	return 0;
}

/* Sends a dumped message back as the matching delete. */
static int nl_resend(struct l4_route *r, void *msg, int type)
{
	struct nlmsghdr *h = msg;

	h->nlmsg_type = type;
	h->nlmsg_flags = 0;
	return l4_nl_call(r, h, NULL, NULL);
}

/* Whatever an earlier run left in our tables and rules. */
static void route_flush_stale(struct l4 *l, struct rule_scan *s)
{
	int family = l->cfg.vip.ss.ss_family, left = 0;

	for (int i = 0; i < s->nstale; i++)
		left += !!nl_resend(&l->route, s->stale[i], RTM_DELRULE);
	for (uint32_t t = L4_CHECK_MARK_BASE; t < L4_CHECK_MARK_BASE + L4_BACKENDS_MAX; t++) {
		struct route_scan rs = { .table = t };
		struct nl_req q = { 0 };

		q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.r));
		q.h.nlmsg_type = RTM_GETROUTE;
		q.h.nlmsg_flags = NLM_F_DUMP;
		q.r.rtm_family = family;
		/* honoured with NETLINK_GET_STRICT_CHK (4.20+); route_seen
		 * filters by table anyway */
		nl_attr32(&q, RTA_TABLE, t);
		if (l4_nl_call(&l->route, &q.h, route_seen, &rs))
			continue;
		for (int i = 0; i < rs.n; i++)
			left += !!nl_resend(&l->route, rs.msgs[i], RTM_DELROUTE);
		s->nstale += rs.n;
	}
	if (s->nstale)
		log_info("checks: removed %d rules and routes an earlier run left in tables "
			 "%#x..%#x%s", s->nstale - left, L4_CHECK_MARK_BASE,
			 L4_CHECK_MARK_BASE + L4_BACKENDS_MAX - 1, left ? " (some could not be)" : "");
}

static int sysctl_path(char *p, size_t n, const char *dev, const char *key)
{
	return snprintf(p, n, "/proc/sys/net/ipv4/conf/%s/%s", dev, key) < (int)n ? 0 : -1;
}

static int sysctl_get(const char *dev, const char *key)
{
	char p[128], v[16] = "";
	int fd, r = -1;

	if (sysctl_path(p, sizeof(p), dev, key))
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (read(fd, v, sizeof(v) - 1) > 0)
		r = atoi(v);
	close(fd);
	return r;
}

static int sysctl_set(const char *dev, const char *key, int val)
{
	char p[128], v[16];
	int fd, n = snprintf(v, sizeof(v), "%d\n", val), err = 0;

	if (sysctl_path(p, sizeof(p), dev, key))
		return -EINVAL;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, v, n) != n)
		err = -errno;
	close(fd);
	return err;
}

/* The VIP is local here: answers from it arrive on OIF and must not be
 * dropped as martians. Turns accept_local on once per interface. */
static void route_accept_local(struct l4 *l, int oif)
{
	struct l4_route *r = &l->route;
	char dev[IF_NAMESIZE];
	int old, rpf;

	if (l->cfg.vip.ss.ss_family != AF_INET || !if_indextoname(oif, dev))
		return;
	for (int i = 0; i < r->nacc; i++)
		if (!strcmp(r->acc[i].dev, dev))
			return;
	old = sysctl_get(dev, "accept_local");
	if (old < 0 || r->nacc == (int)(sizeof(r->acc) / sizeof(r->acc[0])))
		return;
	snprintf(r->acc[r->nacc].dev, sizeof(r->acc[0].dev), "%s", dev);
	r->acc[r->nacc++].old = old;
	if (old != 1) {
		int err = sysctl_set(dev, "accept_local", 1);

		if (err)
			log_warn("checks: net.ipv4.conf.%s.accept_local = 1 failed: %s; answers "
				 "from the VIP will be dropped as martians", dev, strerror(-err));
		else
			log_info("checks: net.ipv4.conf.%s.accept_local = 1 (answers come from the "
				 "VIP, an address of this host); put back to %d at exit", dev, old);
	}
	/* strict reverse-path filtering looks the VIP up as a source and finds
	 * it local, on the device that holds it: fine if that is DEV */
	rpf = sysctl_get("all", "rp_filter");
	if (sysctl_get(dev, "rp_filter") > rpf)
		rpf = sysctl_get(dev, "rp_filter");
	if (rpf == 1)
		log_warn("checks: rp_filter is strict (1) on %s: answers from the VIP are dropped "
			 "unless the VIP is an address of %s itself", dev, dev);
}

int l4_route_open(struct l4 *l)
{
	struct l4_route *r = &l->route;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct rule_scan *s = NULL;
	struct nl_req q = { 0 };
	struct nl_route rt;
	int family = l->cfg.vip.ss.ss_family, one = 1, err;
	struct timeval tv = { 2, 0 };
	char vip[INET6_ADDRSTRLEN];

	r->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (r->fd < 0) {
		err = -errno;
		log_err("checks: socket(AF_NETLINK, NETLINK_ROUTE) failed: %s", strerror(errno));
		return err;
	}
	if (bind(r->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		log_err("checks: bind(netlink) failed: %s", strerror(errno));
		goto fail;
	}
	/* dump requests filtered by table; an old kernel refuses the option
	 * and sends everything, which the callbacks filter */
	setsockopt(r->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	/* the kernel answers at once; should it not, a check fails rather
	 * than the control loop stopping */
	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_ntop(family, vip_bytes(l), vip, sizeof(vip));

	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto fail;
	}
	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.f));
	q.h.nlmsg_type = RTM_GETRULE;
	q.h.nlmsg_flags = NLM_F_DUMP;
	q.f.family = family;
	err = l4_nl_call(r, &q.h, rule_seen, s);
	if (err) {
		log_err("checks: listing the routing rules (RTM_GETRULE) failed: %s; DR checks "
			"through the VIP need policy routing (CONFIG_IP_MULTIPLE_TABLES)",
			strerror(-err));
		goto fail;
	}
	route_flush_stale(l, s);

	err = nl_route_get(l, 0, &rt);
	r->vip_local = !err && rt.type == RTN_LOCAL;
	if (r->vip_local && s->nlocal && s->local_min <= L4_CHECK_RULE_PREF) {
		/* the new rule first, then the old one goes: local addresses
		 * never stop being local in between. Ours carries a protocol
		 * of its own, so a later run knows it for ours. */
		err = nl_rule(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, RT_TABLE_LOCAL,
			      L4_LOCAL_RULE_PREF, 0, L4_RULE_PROTO);
		if (err && err != -EEXIST) {
			log_err("checks: ip rule add pref %d lookup local failed: %s", L4_LOCAL_RULE_PREF,
				strerror(-err));
			goto fail;
		}
		err = nl_rule(r, RTM_DELRULE, 0, family, RT_TABLE_LOCAL, s->local_min, 0, 0);
		if (err) {
			log_err("checks: ip rule del pref %u lookup local failed: %s", s->local_min,
				strerror(-err));
			nl_rule(r, RTM_DELRULE, 0, family, RT_TABLE_LOCAL, L4_LOCAL_RULE_PREF, 0, 0);
			goto fail;
		}
		r->local_moved = 1;
		r->local_pref = s->local_min;
		log_info("checks: %s is an address of this host: rule 'lookup local' moved from "
			 "pref %u to %d, behind the checks' rules (pref %d); put back at exit",
			 vip, s->local_min, L4_LOCAL_RULE_PREF, L4_CHECK_RULE_PREF);
	} else if (s->local_ours) {
		/* the one we moved, left by a run that was killed: the kernel
		 * puts its own at pref 0, so that is where it goes back */
		r->local_moved = 1;
		r->local_pref = 0;
		log_info("checks: rule 'lookup local' at pref %d was moved by an earlier run; "
			 "put back at pref 0 at exit (accept_local values it changed are not "
			 "known: left on)", L4_LOCAL_RULE_PREF);
	}
	free(s);
	log_info("checks go through the VIP %s: fwmark and table %#x + slot, rules at pref %d",
		 vip, L4_CHECK_MARK_BASE, L4_CHECK_RULE_PREF);
	return 0;
fail:
	free(s);
	close(r->fd);
	r->fd = -1;
	return err;
}

int l4_route_set(struct l4 *l, uint32_t idx, char *why, size_t len)
{
	struct l4_route *r = &l->route;
	struct l4_check *c = &l->slots[idx].chk;
	const char *node = l->slots[idx].node.address.text;
	uint32_t m = l4_route_mark(idx);
	int family = l->cfg.vip.ss.ss_family, alen = fam_len(family), err;
	char gw[INET6_ADDRSTRLEN] = "-", src[INET6_ADDRSTRLEN] = "-", dev[IF_NAMESIZE] = "?";
	struct nl_route rt;

	if (r->fd < 0) {
		snprintf(why, len, "no netlink socket for the check's route");
		return -EBADF;
	}
	if (c->route_gw[0] && !strcmp(c->route_gw, node))
		return 0;
	err = nl_route(l, RTM_NEWROUTE, m, node_bytes(l, idx));
	if (err) {
		snprintf(why, len, "ip route replace VIP via %s table %#x: %s", node, m, strerror(-err));
		return err;
	}
	err = nl_rule(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, m, L4_CHECK_RULE_PREF, m, 0);
	if (err && err != -EEXIST) {
		snprintf(why, len, "ip rule add fwmark %#x table %#x: %s", m, m, strerror(-err));
		goto undo;
	}
	/* prove it: the kernel must send a marked packet for the VIP to the
	 * node, from an address that is not the VIP */
	err = nl_route_get(l, m, &rt);
	if (rt.has_gw)
		inet_ntop(family, rt.gw, gw, sizeof(gw));
	if (rt.has_src)
		inet_ntop(family, rt.src, src, sizeof(src));
	if (rt.oif)
		if_indextoname(rt.oif, dev);
	if (err || rt.type != RTN_UNICAST || !rt.has_gw || memcmp(rt.gw, node_bytes(l, idx), alen) ||
	    (rt.has_src && !memcmp(rt.src, vip_bytes(l), alen))) {
		snprintf(why, len, "a check to the VIP would not go via %s (%s: type %d via %s src %s)",
			 node, err ? strerror(-err) : "route", rt.type, gw, src);
		err = -EHOSTUNREACH;
		goto undo;
	}
	memcpy(c->route_gw, node, strlen(node) + 1);      /* both hold a cfg_addr text */
	if (r->vip_local)
		route_accept_local(l, rt.oif);
	log_info("node %s: checks to the VIP go via %s dev %s src %s (mark %#x)",
		 l->slots[idx].node.name, gw, dev, src, m);
	return 0;
undo:
	nl_rule(r, RTM_DELRULE, 0, family, m, L4_CHECK_RULE_PREF, m, 0);
	nl_route(l, RTM_DELROUTE, m, NULL);
	return err;
}

void l4_route_clear(struct l4 *l, uint32_t idx)
{
	struct l4_route *r = &l->route;
	struct l4_check *c = &l->slots[idx].chk;
	uint32_t m = l4_route_mark(idx);

	if (r->fd < 0 || !c->route_gw[0])
		return;
	nl_rule(r, RTM_DELRULE, 0, l->cfg.vip.ss.ss_family, m, L4_CHECK_RULE_PREF, m, 0);
	nl_route(l, RTM_DELROUTE, m, NULL);
	c->route_gw[0] = 0;
}

void l4_route_close(struct l4 *l)
{
	struct l4_route *r = &l->route;
	int family = l->cfg.vip.ss.ss_family, err;

	if (r->fd < 0)
		return;
	for (uint32_t i = 0; i < L4_BACKENDS_MAX; i++)
		l4_route_clear(l, i);
	if (r->local_moved) {
		/* as the kernel makes its own, proto kernel */
		err = nl_rule(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family, RT_TABLE_LOCAL,
			      r->local_pref, 0, RTPROT_KERNEL);
		if (!err || err == -EEXIST)
			err = nl_rule(r, RTM_DELRULE, 0, family, RT_TABLE_LOCAL, L4_LOCAL_RULE_PREF,
				      0, 0);
		if (err)
			log_warn("checks: putting 'lookup local' back at pref %u failed: %s; it stays "
				 "at %d", r->local_pref, strerror(-err), L4_LOCAL_RULE_PREF);
		r->local_moved = 0;
	}
	for (int i = 0; i < r->nacc; i++)
		if (r->acc[i].old != 1)
			sysctl_set(r->acc[i].dev, "accept_local", r->acc[i].old);
	r->nacc = 0;
	close(r->fd);
	r->fd = -1;
}
