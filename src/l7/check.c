/* check: node health for one L7 process. The up/down flags and failure
 * counts are atomics in struct l7_proc: workers write them with relaxed
 * atomics on their request path (no lock, no syscall), the probe thread
 * reads and clears them. A down node gets no new request from any policy;
 * the probe thread, the only code here that blocks, puts it back. Both are
 * by index in cfg.nodes, which a reload keeps for every node (cfg_align),
 * so a node's mark stays with its name. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfg.h"
#include "check.h"
#include "l7.h"
#include "log.h"

int check_up(const struct l7_proc *p, int n)
{
	return !__atomic_load_n(&p->node_down[n], __ATOMIC_RELAXED);
}

void check_report_failure(struct l7_proc *p, const struct cfg *c, int n)
{
	/* a request to a node the last reload removed: nothing to mark (the
	 * index may go to a new node) */
	if (!cfg_node_used(&c->nodes[n]))
		return;
	if (__atomic_add_fetch(&p->node_fails[n], 1, __ATOMIC_RELAXED) >= c->l7.fail_down &&
	    !__atomic_exchange_n(&p->node_down[n], 1, __ATOMIC_RELAXED))
		log_warn("node %s marked down after %d consecutive failures; probing it every %d ms",
			 c->nodes[n].name, c->l7.fail_down, c->l7.check_interval);
}

void check_report_success(struct l7_proc *p, int n)
{
	/* load first: a store on every response would bounce the cache line
	 * between workers */
	if (__atomic_load_n(&p->node_fails[n], __ATOMIC_RELAXED))
		__atomic_store_n(&p->node_fails[n], 0, __ATOMIC_RELAXED);
}

const char *check_health_path(const struct cfg *c, int n)
{
	for (int g = 0; g < c->ngroups; g++)
		for (int i = 0; i < c->groups[g].nnodes; i++)
			if (c->groups[g].nodes[i] == n)
				return c->groups[g].health_path;
	return "/";
}

int check_probe(const struct cfg_addr *a, const char *path, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	char req[256], buf[64];
	int fd, ok = 0, len;
	size_t got = 0;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	/* on Linux SO_SNDTIMEO also bounds a blocking connect() (EINPROGRESS
	 * after the timeout), so no non-blocking dance is needed here */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len))
		goto out;
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: tandem-health-check\r\n"
		       "Connection: close\r\n\r\n", path);
	if (len < 0 || len >= (int)sizeof(req) || write(fd, req, len) != len)
		goto out;
	/* the status line may come in pieces: read up to its 12th byte */
	while (got < 12) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			break;
		got += r;
	}
	if (got >= 12)
		ok = !memcmp(buf, "HTTP/1.", 7) && buf[8] == ' ' && buf[9] >= '1' && buf[9] <= '4';
out:
	close(fd);
	return ok;
}

static void *check_main(void *arg)
{
	struct l7_proc *p = arg;

	while (!p->stop) {
		/* a reload swaps p->cfg: take the newest at each round */
		struct cfg *c = l7_cfg_enter(p, &p->probe_gen);
		int interval = c->l7.check_interval;
		unsigned gen = p->probe_gen;

		for (int n = 0; n < c->nnodes && !p->stop; n++) {
			/* a removed node's tombstone has no web server either */
			if (check_up(p, n) || !c->nodes[n].web.len)
				continue;
			/* where the requests go: this node's own over `local` */
			if (check_probe(l7_web_addr(c, p->self_idx, n), check_health_path(c, n), 1000)) {
				__atomic_store_n(&p->node_fails[n], 0, __ATOMIC_RELAXED);
				__atomic_store_n(&p->node_down[n], 0, __ATOMIC_RELAXED);
				log_info("node %s answers its health check again: marked up", c->nodes[n].name);
			}
		}
		l7_cfg_leave(&p->probe_gen);
		l7_nap(p, interval, &p->stop, gen);
	}
	return NULL;
}

int check_start(struct l7_proc *p)
{
	int r = pthread_create(&p->health_thread, NULL, check_main, p);

	if (r)
		return -r;
	p->has_health_thread = 1;
	return 0;
}
