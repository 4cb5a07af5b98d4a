/* l4_user: the level-1 switch for hosts without XDP ([l4] mode = user). It
 * listens on the VIP itself, picks each connection's node with the same
 * Maglev table and the same l4_flow_hash over the client 4-tuple as the
 * kernel data path, connects to the node on the VIP port and moves bytes both ways
 * with splice(2) through a pipe, so they never enter user space. One thread
 * per connection, at most L4_USER_MAX at once: simple and bounded; this is
 * the fallback, not the fast path. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l4.h"
#include "log.h"

#define L4_USER_MAX      4096
#define L4_USER_IDLE_MS  60000
#define L4_USER_CHUNK    65536

struct l4_conn {
	struct l4 *l;
	int cfd;
	uint32_t idx;
	struct sockaddr_storage to;
	socklen_t tolen;
};

/* Moves bytes both ways until both sides have finished or one fails. A
 * direction ends with read EOF: the other side gets shutdown(SHUT_WR) once
 * its pipe is drained. splice() returns EAGAIN for "socket empty" and for
 * "pipe full" alike, so each step is simply tried again after poll. */
static uint64_t l4_user_pump(int a, int b)
{
	int fds[2] = { a, b }, p[2][2] = { { -1, -1 }, { -1, -1 } };
	size_t pending[2] = { 0, 0 };
	int eof[2] = { 0, 0 }, shut[2] = { 0, 0 };
	uint64_t moved = 0;

	if (pipe2(p[0], O_NONBLOCK | O_CLOEXEC) || pipe2(p[1], O_NONBLOCK | O_CLOEXEC))
		goto out;
	for (;;) {
		struct pollfd pfd[2];
		int progress = 0;

		for (int d = 0; d < 2; d++) {
			int src = fds[d], dst = fds[1 - d];
			ssize_t n;

			if (!eof[d] && pending[d] < L4_USER_CHUNK) {
				n = splice(src, NULL, p[d][1], NULL, L4_USER_CHUNK,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n > 0) {
					pending[d] += n;
					progress = 1;
				} else if (n == 0) {
					eof[d] = 1;
					progress = 1;
				} else if (errno != EAGAIN) {
					goto out;
				}
			}
			if (pending[d]) {
				n = splice(p[d][0], NULL, dst, NULL, pending[d],
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n > 0) {
					pending[d] -= n;
					moved += n;
					progress = 1;
				} else if (n < 0 && errno != EAGAIN) {
					goto out;
				}
			}
			if (eof[d] && !pending[d] && !shut[d]) {
				shutdown(dst, SHUT_WR);
				shut[d] = 1;
			}
		}
		if (shut[0] && shut[1])
			break;
		if (progress)
			continue;
		for (int i = 0; i < 2; i++) {
			/* fds[i] is read for direction i, written for direction 1-i */
			pfd[i].fd = fds[i];
			pfd[i].events = (!eof[i] && pending[i] < L4_USER_CHUNK ? POLLIN : 0) |
					(pending[1 - i] ? POLLOUT : 0);
		}
		if (poll(pfd, 2, L4_USER_IDLE_MS) <= 0)
			break;
		for (int i = 0; i < 2; i++)
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				goto out;
	}
out:
	for (int d = 0; d < 2; d++)
		for (int e = 0; e < 2; e++)
			if (p[d][e] >= 0)
				close(p[d][e]);
	return moved;
}

static void *l4_user_conn(void *arg)
{
	struct l4_conn *c = arg;
	struct l4 *l = c->l;
	struct pollfd pfd;
	int sfd, err = 0;
	socklen_t el = sizeof(err);
	uint64_t moved = 0;

	sfd = socket(c->to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		goto out;
	if (connect(sfd, (struct sockaddr *)&c->to, c->tolen) && errno != EINPROGRESS)
		goto out;
	pfd = (struct pollfd){ .fd = sfd, .events = POLLOUT };
	if (poll(&pfd, 1, 3000) != 1 || getsockopt(sfd, SOL_SOCKET, SO_ERROR, &err, &el) || err)
		goto out;       /* the client sees a close, never half a response */
	moved = l4_user_pump(c->cfd, sfd);
out:
	if (sfd >= 0)
		close(sfd);
	close(c->cfd);
	pthread_rwlock_wrlock(&l->lock);
	l->slots[c->idx].user_conns++;
	l->slots[c->idx].user_bytes += moved;
	l->user_active--;
	pthread_rwlock_unlock(&l->lock);
	free(c);
	return NULL;
}

/* The node for an accepted connection: the same hash as the kernel data
 * path, over the addresses as they sit in the packet. */
static int l4_user_pick(struct l4 *l, int cfd, uint32_t *idx)
{
	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);
	struct l4_flow_key k = { .proto = IPPROTO_TCP };
	uint32_t slot;

	if (getpeername(cfd, (struct sockaddr *)&peer, &pl) ||
	    getsockname(cfd, (struct sockaddr *)&self, &sl))
		return -errno;
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p = (void *)&peer, *s = (void *)&self;

		k.family = L4_AF_INET;
		k.saddr.v4 = p->sin_addr.s_addr;
		k.daddr.v4 = s->sin_addr.s_addr;
		k.sport = p->sin_port;
		k.dport = s->sin_port;
	} else if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (void *)&peer, *s = (void *)&self;

		k.family = L4_AF_INET6;
		memcpy(k.saddr.b, &p->sin6_addr, 16);
		memcpy(k.daddr.b, &s->sin6_addr, 16);
		k.sport = p->sin6_port;
		k.dport = s->sin6_port;
	} else {
		return -EAFNOSUPPORT;
	}
	slot = l4_flow_hash_key(&k) % l->ring_size;
	*idx = l->table[slot];
	return *idx == L4_NO_BACKEND ? -EHOSTUNREACH : 0;
}

static void *l4_user_accept(void *arg)
{
	struct l4 *l = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	while (!l->user_stop) {
		struct pollfd pfd = { .fd = l->user_fd, .events = POLLIN };
		struct l4_conn *c = NULL;
		pthread_t t;
		uint32_t idx = 0;
		int cfd, full;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		cfd = accept4(l->user_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		pthread_rwlock_wrlock(&l->lock);
		full = l->user_active >= L4_USER_MAX || l4_user_pick(l, cfd, &idx) ||
		       !(c = calloc(1, sizeof(*c)));
		if (full) {
			l->user_refused++;
		} else {
			l->user_active++;
			c->l = l;
			c->cfd = cfd;
			c->idx = idx;
			c->to = l->slots[idx].node.address.ss;
			c->tolen = l->slots[idx].node.address.len;
			((struct sockaddr_in *)&c->to)->sin_port = l4_vip_port(l);
		}
		pthread_rwlock_unlock(&l->lock);
		if (full) {
			close(cfd);
			continue;
		}
		if (pthread_create(&t, &attr, l4_user_conn, c)) {
			log_warn("no thread for a connection: %s, closed", strerror(errno));
			free(c);
			close(cfd);
			pthread_rwlock_wrlock(&l->lock);
			l->user_active--;
			pthread_rwlock_unlock(&l->lock);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int l4_user_start(struct l4 *l)
{
	const struct cfg_addr *a = &l->cfg.vip;
	int one = 1, fd, err;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) || listen(fd, 1024)) {
		err = -errno;
		log_err("listening on the VIP %s failed: %s (the front end must own the VIP)",
			a->text, strerror(errno));
		close(fd);
		return err;
	}
	l->user_fd = fd;
	l->user_stop = 0;
	err = pthread_create(&l->user_thread, NULL, l4_user_accept, l);
	if (err) {
		close(fd);
		l->user_fd = -1;
		return -err;
	}
	log_info("user-space fallback listening on %s (splice relay)", a->text);
	return 0;
}

void l4_user_stop(struct l4 *l)
{
	if (l->user_fd < 0)
		return;
	l->user_stop = 1;
	pthread_join(l->user_thread, NULL);
	close(l->user_fd);
	l->user_fd = -1;
	for (int i = 0; i < 100; i++) {
		int active;

		pthread_rwlock_rdlock(&l->lock);
		active = l->user_active;
		pthread_rwlock_unlock(&l->lock);
		if (!active)
			break;
		usleep(10000);
	}
}
