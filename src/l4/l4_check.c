/* l4_check: health of the back ends as the front end sees them, and their
 * MAC addresses. Every L4_CHECK_INTERVAL_MS each node gets a non-blocking
 * TCP connect to its address on the VIP port (in DR mode the node serves the
 * VIP itself, so this is the very service clients get) and an HTTP GET; a
 * status line below 500 is a pass. L4_CHECK_FALL failures in a row take a
 * node out, L4_CHECK_RISE passes put it back. The connect also makes the
 * kernel resolve the node's MAC, which is then read from the neighbour
 * table (/proc/net/arp) unless the cluster file gave one. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

static void chk_close(struct l4_check *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = L4_CHK_IDLE;
	c->len = 0;
}

static void chk_start(struct l4 *l, uint32_t idx, uint64_t now)
{
	struct l4_slot *s = &l->slots[idx];
	struct l4_check *c = &s->chk;
	struct sockaddr_storage ss = s->node.address.ss;
	socklen_t len = s->node.address.len;
	int fd;

	c->next_ms = now + L4_CHECK_INTERVAL_MS;
	c->deadline_ms = now + L4_CHECK_TIMEOUT_MS;
	c->len = 0;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = l4_vip_port(l);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = l4_vip_port(l);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(c->last_error, sizeof(c->last_error), "socket: %s", strerror(errno));
		c->state = L4_CHK_IDLE;
		c->fd = -1;
		c->deadline_ms = 0;     /* counted as a failure at once */
		return;
	}
	c->fd = fd;
	c->state = L4_CHK_CONNECTING;
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		snprintf(c->last_error, sizeof(c->last_error), "connect: %s", strerror(errno));
		chk_close(c);
		c->deadline_ms = 0;
	}
}

/* Advances check C. Returns 1 passed, -1 failed, 0 still going. */
static int chk_step(struct l4 *l, struct l4_check *c)
{
	char req[160];
	int err = 0, n;
	socklen_t el = sizeof(err);

	if (c->state == L4_CHK_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			if (!err)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return 0;
			snprintf(c->last_error, sizeof(c->last_error), "connect: %s", strerror(err));
			return -1;
		}
		n = snprintf(req, sizeof(req),
			     "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: tandem-l4-check\r\n\r\n",
			     l->cfg.vip.text);
		/* a fresh socket's send buffer always has room for one small request */
		if (send(c->fd, req, n, MSG_NOSIGNAL) != n) {
			if (errno == EAGAIN || errno == ENOTCONN)
				return 0;       /* not connected yet after all */
			snprintf(c->last_error, sizeof(c->last_error), "send: %s", strerror(errno));
			return -1;
		}
		c->state = L4_CHK_SENT;
		return 0;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n < 0)
		return errno == EAGAIN ? 0 : (snprintf(c->last_error, sizeof(c->last_error),
						       "recv: %s", strerror(errno)), -1);
	c->len += n;
	c->buf[c->len] = 0;
	if (c->len >= 12 || (n == 0 && c->len)) {
		int status = 0;

		if (sscanf(c->buf, "HTTP/1.%*1d %3d", &status) == 1 && status >= 100 && status < 500)
			return 1;
		snprintf(c->last_error, sizeof(c->last_error), "bad status line '%.40s'", c->buf);
		c->last_error[strcspn(c->last_error, "\r\n")] = 0;
		return -1;
	}
	if (n == 0) {
		snprintf(c->last_error, sizeof(c->last_error), "closed without a response");
		return -1;
	}
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
	struct l4_slot *s = &l->slots[idx];
	int changed = 0;

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
		if (!s->up && s->ok_streak >= L4_CHECK_RISE) {
			s->up = 1;
			s->changed_ms = now;
			changed = 1;
			log_info("node %s is up (%d checks passed)", s->node.name, s->ok_streak);
		}
	} else {
		s->ok_streak = 0;
		s->fail_streak++;
		if (s->up && s->fail_streak >= L4_CHECK_FALL) {
			s->up = 0;
			s->changed_ms = now;
			changed = 1;
			log_warn("node %s is down: %s (%d checks failed)", s->node.name,
				 s->chk.last_error, s->fail_streak);
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
		if (!r && now >= c->deadline_ms) {
			snprintf(c->last_error, sizeof(c->last_error), "no answer in %d ms",
				 L4_CHECK_TIMEOUT_MS);
			r = -1;
		}
		if (r) {
			chk_close(c);
			changed |= chk_result(l, i, r > 0, now);
		}
	}
	return changed;
}

void l4_check_stop(struct l4 *l)
{
	for (int i = 0; i < L4_BACKENDS_MAX; i++)
		if (l->slots[i].chk.state != L4_CHK_IDLE)
			chk_close(&l->slots[i].chk);
}
