/* sock: listeners and outgoing connections, all non-blocking. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

int sock_listen(const struct cfg_addr *a, int reuseport, int backlog)
{
	int fd, one = 1, r;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		log_warn("setsockopt(SO_REUSEADDR) failed: %s, ignored", strerror(errno));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		r = -errno;
		log_err("setsockopt(SO_REUSEPORT) on %s failed: %s", a->text, strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len)) {
		r = -errno;
		log_err("bind(%s) failed: %s", a->text, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog)) {
		r = -errno;
		log_err("listen(%s, %d) failed: %s", a->text, backlog, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

int sock_connect(const struct cfg_addr *a, int mss)
{
	int fd, r;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->ss.ss_family != AF_UNIX) {       /* TCP's options */
		sock_tune(fd);
		if (mss > 0 && setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss))) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

void sock_tune(int fd)
{
	int one = 1, lowat = SOCK_NOTSENT_LOWAT;

	/* heads and small bodies go out in one write each: Nagle would only
	 * hold the last segment of a response back for the client's ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a large body is written only as fast as it goes out: bytes queued
	 * but not yet sent are sent by the peer's ACKs, in whichever context
	 * takes them (on loopback, the client's own CPU) */
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

void sock_addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	const void *src = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (!inet_ntop(ss->ss_family, src, out, cap))
		snprintf(out, cap, "unknown");
}
