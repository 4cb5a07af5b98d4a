/* l4_check: health of the back ends as the front end sees them, and their
 * MAC addresses. Every [l4] check_interval each node gets a non-blocking
 * TCP connect and "GET check_path"; a status in check_status passes, and
 * anything else, or no status line within check_timeout, fails.
 * check_fall failures in a row take a node out, check_rise passes put it
 * back.
 *
 * What the check connects to is what a client's packets reach through the
 * data path. NAT (and user mode): the node's address on the VIP port, the
 * destination the program rewrites to (l4_maps_set_backend). DR: the VIP
 * itself, delivered to the node's MAC, so a node that answers on its own
 * address but lacks the VIP on lo fails; l4_route.c gives each check socket
 * a fwmark whose routing table sends the VIP via the node. The answers come
 * from the VIP to this host's own address: not a VIP, so the XDP program
 * passes them to the stack (l4_vips misses; only replies of NAT flows in
 * l4_nat_rev are touched). The connect also makes the kernel resolve the
 * node's MAC, which is then read from the neighbour table
 * (/proc/net/arp) unless the cluster file gave one. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "l4.h"
#include "log.h"

uint64_t l4_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint16_t l4_vip_port(const struct l4 *l)
{
	return ((const struct sockaddr_in *)&l->cfg.vip.ss)->sin_port;
}

uint32_t l4_vip_addr(const struct l4 *l)
{
	if (l->cfg.vip.ss.ss_family != AF_INET)
		return 0;
	return ((const struct sockaddr_in *)&l->cfg.vip.ss)->sin_addr.s_addr;
}

uint32_t l4_node_addr(const struct l4 *l, uint32_t idx)
{
	const struct cfg_addr *a = &l->slots[idx].node.address;

	if (a->ss.ss_family != AF_INET)
		return 0;
	return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
}

/* /proc/net/arp: "IP HWtype Flags HWaddr Mask Device", flags 0x2 complete.
 * Good enough for IPv4 and needs no netlink; read only when a MAC is wanted. */
int l4_neigh_lookup(const char *iface, uint32_t addr, uint8_t mac[6])
{
	char line[256], ip[64], hw[64], dev[64], mask[32];
	unsigned int type, flags, b[6];
	struct in_addr a = { .s_addr = addr };
	int ret = -ENOENT;
	FILE *f = fopen("/proc/net/arp", "r");

	if (!f)
		return -errno;
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (!fgets(line, sizeof(line), f))     /* header */
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char lip[64];

		if (sscanf(line, "%63s %x %x %63s %31s %63s", lip, &type, &flags, hw, mask,
			   dev) != 6)
			continue;
		if (strcmp(lip, ip) || strcmp(dev, iface) || !(flags & 0x2))
			continue;
		if (sscanf(hw, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
			   &b[5]) != 6)
			continue;
		for (int i = 0; i < 6; i++)
			mac[i] = b[i];
		ret = 0;
		break;
	}
out:
	fclose(f);
	return ret;
}

static int chk_dr(const struct l4 *l)
{
	return l->cfg.l4.mode == CFG_L4_DR;
}

static void chk_close(struct l4_check *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = L4_CHK_IDLE;
	c->len = 0;
}

/* Records why check C failed, as RESULT. Returns -1, what chk_step returns
 * for a failure. */
static int chk_fail(struct l4_check *c, enum l4_check_result result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int chk_fail(struct l4_check *c, enum l4_check_result result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	c->last_error[strcspn(c->last_error, "\r\n")] = 0;
	c->result = result;
	return -1;
}

/* A check that could not even start: counted as a failure at once. */
static void chk_fail_now(struct l4_check *c)
{
	chk_close(c);
	c->deadline_ms = 0;
}

static void chk_start(struct l4 *l, uint32_t idx, uint64_t now)
{
	const struct cfg_l4_check *ck = &l->cfg.l4.check;
	struct l4_slot *s = &l->slots[idx];
	struct l4_check *c = &s->chk;
	struct sockaddr_storage ss;
	socklen_t len;
	char why[160];
	int fd;

	c->next_ms = now + ck->interval;
	c->deadline_ms = now + ck->timeout;
	c->len = 0;
	c->last_status = 0;
	if (chk_dr(l)) {
		/* VIP:port, routed to the node by the socket's mark */
		ss = l->cfg.vip.ss;
		len = l->cfg.vip.len;
		if (l4_route_set(l, idx, why, sizeof(why))) {
			chk_fail(c, L4_CHK_R_ERROR, "%s", why);
			chk_fail_now(c);
			return;
		}
	} else {
		/* where l4_maps_set_backend sends NAT flows: node address, VIP port */
		ss = s->node.address.ss;
		len = s->node.address.len;
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = l4_vip_port(l);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = l4_vip_port(l);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		chk_fail(c, L4_CHK_R_ERROR, "socket: %s", strerror(errno));
		chk_fail_now(c);
		return;
	}
	c->fd = fd;
	c->state = L4_CHK_CONNECTING;
	if (chk_dr(l)) {
		uint32_t mark = l4_route_mark(idx);

		/* needs CAP_NET_ADMIN, which the XDP attach needed already;
		 * without the mark the VIP would be routed by the main table */
		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
			chk_fail(c, L4_CHK_R_ERROR, "setsockopt(SO_MARK, %#x): %s", mark,
				 strerror(errno));
			chk_fail_now(c);
			return;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		chk_fail(c, L4_CHK_R_CONNECT, "connect: %s", strerror(errno));
		chk_fail_now(c);
	}
}

static int chk_status_ok(const struct cfg_l4_check *ck, int status)
{
	return status >= 100 && status <= 599 && (ck->status[status / 8] & (1u << (status % 8)));
}

/* Advances check C. Returns 1 passed, -1 failed (c->result says how), 0
 * still going. */
static int chk_step(struct l4 *l, struct l4_check *c)
{
	const struct cfg_l4_check *ck = &l->cfg.l4.check;
	char req[320];
	int err = 0, n;
	socklen_t el = sizeof(err);

	if (c->state == L4_CHK_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			if (!err)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return 0;
			return chk_fail(c, L4_CHK_R_CONNECT, "connect: %s", strerror(err));
		}
		n = snprintf(req, sizeof(req),
			     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: tandem-l4-check\r\n\r\n",
			     ck->path, l->cfg.vip.text);
		/* a fresh socket's send buffer always has room for one small request */
		if (send(c->fd, req, n, MSG_NOSIGNAL) != n) {
			if (errno == EAGAIN || errno == ENOTCONN)
				return 0;       /* not connected yet after all */
			return chk_fail(c, L4_CHK_R_ERROR, "send: %s", strerror(errno));
		}
		c->state = L4_CHK_SENT;
		return 0;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return chk_fail(c, errno == ECONNRESET ? L4_CHK_R_CONNECT : L4_CHK_R_ERROR,
				"recv: %s", strerror(errno));
	}
	c->len += n;
	c->buf[c->len] = 0;
	if (c->len >= 12 || (n == 0 && c->len)) {
		int status = 0;

		if (sscanf(c->buf, "HTTP/1.%*1d %3d", &status) != 1 || status < 100 || status > 599)
			return chk_fail(c, L4_CHK_R_STATUS, "bad status line '%.40s'", c->buf);
		c->last_status = status;
		if (!chk_status_ok(ck, status))
			return chk_fail(c, L4_CHK_R_STATUS, "GET %.40s: status %d, expected %s",
					ck->path, status, ck->status_text);
		c->result = L4_CHK_R_PASS;
		return 1;
	}
	if (n == 0)
		return chk_fail(c, L4_CHK_R_ERROR, "closed without a response");
	return 0;
}

int l4_check_poll(struct l4 *l, struct pollfd *pfd, int cap, int *timeout_ms)
{
	uint64_t now = l4_now_ms();
	int n = 0;

	for (int i = 0; i < L4_BACKENDS_MAX; i++) {
		struct l4_check *c = &l->slots[i].chk;
		uint64_t t;

		if (!l->slots[i].used)
			continue;
		t = c->state == L4_CHK_IDLE ? c->next_ms : c->deadline_ms;
		if (t <= now)
			*timeout_ms = 0;
		else if (t - now < (uint64_t)*timeout_ms)
			*timeout_ms = (int)(t - now);
		if (c->state != L4_CHK_IDLE && n < cap) {
			pfd[n].fd = c->fd;
			pfd[n].events = c->state == L4_CHK_CONNECTING ? POLLOUT : POLLIN;
			pfd[n].revents = 0;
			n++;
		}
	}
	return n;
}

/* One result for slot IDX: rise/fall, and the MAC once it passes. */
static int chk_result(struct l4 *l, uint32_t idx, int pass, uint64_t now)
{
	const struct cfg_l4_check *ck = &l->cfg.l4.check;
	struct l4_slot *s = &l->slots[idx];
	int changed = 0;

	s->chk.results[pass ? L4_CHK_R_PASS : s->chk.result]++;
	if (pass) {
		s->fail_streak = 0;
		s->ok_streak++;
		if (!s->node.has_mac) {
			uint8_t mac[6];

			if (!l4_neigh_lookup(l->cfg.l4.iface, l4_node_addr(l, idx), mac) &&
			    (!s->has_mac || memcmp(mac, s->mac, 6))) {
				memcpy(s->mac, mac, 6);
				s->has_mac = 1;
				changed = 1;
				log_info("node %s: MAC %02x:%02x:%02x:%02x:%02x:%02x (neighbour table)",
					 s->node.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
			}
		}
		if (!s->up && s->ok_streak >= ck->rise) {
			s->up = 1;
			s->changed_ms = now;
			changed = 1;
			log_info("node %s is up (%d checks passed)", s->node.name, s->ok_streak);
		}
	} else {
		s->ok_streak = 0;
		s->fail_streak++;
		if (s->up && s->fail_streak >= ck->fall) {
			s->up = 0;
			s->changed_ms = now;
			changed = 1;
			log_warn("node %s is down: %s (%d checks failed)", s->node.name,
				 s->chk.last_error, s->fail_streak);
		} else if (!s->up && s->fail_streak == ck->fall) {
			/* never up since start (or since its last single pass):
			 * say so once, it takes no connection */
			log_warn("node %s is down: %s (%d checks failed%s)", s->node.name,
				 s->chk.last_error, s->fail_streak,
				 s->changed_ms ? "" : ", not up since start");
		} else if (s->fail_streak == 1) {
			log_debug("node %s: check failed: %s", s->node.name, s->chk.last_error);
		}
	}
	return changed;
}

int l4_check_run(struct l4 *l)
{
	uint64_t now = l4_now_ms();
	int changed = 0;

	for (uint32_t i = 0; i < L4_BACKENDS_MAX; i++) {
		struct l4_slot *s = &l->slots[i];
		struct l4_check *c = &s->chk;
		int r = 0;

		if (!s->used)
			continue;
		if (c->state == L4_CHK_IDLE) {
			if (c->next_ms > now)
				continue;
			chk_start(l, i, now);
			if (c->state == L4_CHK_IDLE) {
				changed |= chk_result(l, i, 0, now);
				continue;
			}
		}
		r = chk_step(l, c);
		if (!r && now >= c->deadline_ms)
			r = chk_fail(c, L4_CHK_R_TIMEOUT, "no answer in %d ms (%s)",
				     l->cfg.l4.check.timeout, c->state == L4_CHK_CONNECTING ?
				     "connecting" : "waiting for the status line");
		if (r) {
			chk_close(c);
			changed |= chk_result(l, i, r > 0, now);
		}
	}
	return changed;
}

int l4_check_open(struct l4 *l)
{
	const struct cfg_l4_check *ck = &l->cfg.l4.check;

	l->route.fd = -1;
	log_info("checks: GET %s every %d ms, %d ms to answer, status %s; %d passes in, "
		 "%d failures out; to %s", ck->path, ck->interval, ck->timeout, ck->status_text,
		 ck->rise, ck->fall, chk_dr(l) ? "the VIP through each node (DR)" :
		 "each node's address on the VIP port");
	if (!chk_dr(l))
		return 0;
	return l4_route_open(l);
}

void l4_check_forget(struct l4 *l, uint32_t idx)
{
	chk_close(&l->slots[idx].chk);
	l4_route_clear(l, idx);
}

void l4_check_stop(struct l4 *l)
{
	for (int i = 0; i < L4_BACKENDS_MAX; i++)
		if (l->slots[i].chk.state != L4_CHK_IDLE)
			chk_close(&l->slots[i].chk);
	l4_route_close(l);
}

void l4_check_metrics(struct l4 *l, FILE *f)
{
	static const char *names[] = {
#define L4_CHK_R_NAME(id, name) name,
		L4_CHECK_RESULTS(L4_CHK_R_NAME)
#undef L4_CHK_R_NAME
	};

	fprintf(f, "# HELP tandem_l4_check_via_vip 1: DR checks go to the VIP through each node's "
		"MAC; 0: to the node's address\n# TYPE tandem_l4_check_via_vip gauge\n"
		"tandem_l4_check_via_vip %d\n", chk_dr(l));
	fprintf(f, "# HELP tandem_l4_check_total health checks of a node, per result\n"
		"# TYPE tandem_l4_check_total counter\n");
	for (uint32_t s = 0; s < L4_BACKENDS_MAX; s++)
		for (int r = 0; r < L4_CHK_R_MAX && l->slots[s].used; r++)
			fprintf(f, "tandem_l4_check_total{node=\"%s\",result=\"%s\"} %llu\n",
				l->slots[s].node.name, names[r],
				(unsigned long long)l->slots[s].chk.results[r]);
	fprintf(f, "# HELP tandem_l4_check_status HTTP status of the last answer to a check "
		"(0: none)\n# TYPE tandem_l4_check_status gauge\n");
	for (uint32_t s = 0; s < L4_BACKENDS_MAX; s++)
		if (l->slots[s].used)
			fprintf(f, "tandem_l4_check_status{node=\"%s\"} %d\n", l->slots[s].node.name,
				l->slots[s].chk.last_status);
}
