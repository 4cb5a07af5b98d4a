/* relay_pipe: each worker's pool of pipes for the splice engine. Creating a
 * pipe costs two fds and a syscall or two; a keep-alive workload would do it
 * for every response, so empty pipes are kept and handed out again. A pipe
 * given back with bytes in it is closed: those bytes belong to a response
 * that was cut short and must never leak into another. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"

int relay_pipes_init(struct relay_pipes *p, int cap, int max_inuse, int size)
{
	memset(p, 0, sizeof(*p));
	p->free = calloc(cap, sizeof(*p->free));
	if (!p->free)
		return -ENOMEM;
	p->cap = cap;
	p->max_inuse = max_inuse;
	p->size = size;
	return 0;
}

void relay_pipes_free(struct relay_pipes *p)
{
	for (int i = 0; i < p->nfree; i++) {
		close(p->free[i][0]);
		close(p->free[i][1]);
	}
	free(p->free);
	p->free = NULL;
	p->nfree = 0;
}

int relay_pipe_get(struct relay_pipes *p, int pfd[2])
{
	int sz;

	if (p->nfree) {
		p->nfree--;
		pfd[0] = p->free[p->nfree][0];
		pfd[1] = p->free[p->nfree][1];
		p->inuse++;
		return 0;
	}
	if (p->inuse >= p->max_inuse)
		return -EBUSY;
	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	/* a bigger pipe moves a large body in fewer splice calls; the kernel
	 * may refuse (pipe-max-size, per-user page limits): keep the default
	 * size then, and splice within whatever it is */
	sz = fcntl(pfd[1], F_SETPIPE_SZ, p->size);
	if (sz < 0) {
		sz = fcntl(pfd[1], F_GETPIPE_SZ);
		if (sz > 0 && sz < p->size)
			p->size = sz;
	}
	p->inuse++;
	return 0;
}

void relay_pipe_put(struct relay_pipes *p, int pfd[2], int empty)
{
	p->inuse--;
	if (empty && p->nfree < p->cap) {
		p->free[p->nfree][0] = pfd[0];
		p->free[p->nfree][1] = pfd[1];
		p->nfree++;
		return;
	}
	close(pfd[0]);
	close(pfd[1]);
}

int relay_probe_splice(void)
{
	int sv[2], pfd[2], r = 0;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		return -errno;
	if (pipe2(pfd, O_NONBLOCK)) {
		r = -errno;
		goto out_sv;
	}
	if (write(sv[0], "x", 1) != 1) {
		r = -EIO;
		goto out;
	}
	n = splice(sv[1], NULL, pfd[1], NULL, 1, SPLICE_F_NONBLOCK);
	if (n != 1)
		r = n < 0 ? -errno : -EIO;
out:
	close(pfd[0]);
	close(pfd[1]);
out_sv:
	close(sv[0]);
	close(sv[1]);
	return r;
}
