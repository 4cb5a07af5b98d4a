/* share: polls the other L7 switches' loads for lard (share.h).
 *
 * Each switch answers GET /load on its admin address with the requests it
 * has in flight at each node, its own only (a peer's figures are never
 * passed on, so nothing is counted twice). This thread asks every other
 * switch named in the cluster file (a node with both `l7` and `admin`) at
 * once, non-blocking, each round bounded by the interval itself (500 ms at
 * most): a switch that is slow or gone costs one round's wait, never a
 * worker's time. Its figures are summed per node into p->peer_sum, which
 * lard adds to this process's own count; a switch that did not answer
 * counts as no load until it answers again (said once each way). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "l7.h"
#include "lb.h"
#include "log.h"
#include "share.h"

#define SHARE_REPLY_MAX 8192

struct share_peer {
	int node;               /* index in cfg.nodes */
	int fd;                 /* -1: done */
	int sent;
	int len;
	char buf[SHARE_REPLY_MAX];
};

static uint64_t share_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int share_load_text(struct l7_proc *p, const struct cfg *c, char *out, int size)
{
	int len = 0;

	for (int n = 0; n < c->nnodes && len < size; n++)
		if (cfg_node_used(&c->nodes[n]))
			len += snprintf(out + len, size - len, "%s %ld\n", c->nodes[n].name,
					lb_inflight_all(p, n));
	return len < size ? len : size - 1;
}

static int share_wanted(const struct cfg *c)
{
	if (!c->l7.load_share)
		return 0;
	for (int g = 0; g < c->ngroups; g++)
		if (c->groups[g].policy == CFG_LB_LARD)
			return 1;
	return 0;
}

/* Q is one of the switches this one polls: another node with an L7
 * switch and an admin address. */
static int share_is_peer(const struct l7_proc *p, const struct cfg *c, int q)
{
	const struct cfg_node *nd = &c->nodes[q];

	return q != p->self_idx && cfg_node_used(nd) && nd->l7.len && nd->admin.len;
}

static void share_open(struct share_peer *sp, const struct cfg_addr *a)
{
	sp->sent = sp->len = 0;
	sp->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sp->fd < 0)
		return;
	if (connect(sp->fd, (const struct sockaddr *)&a->ss, a->len) && errno != EINPROGRESS) {
		close(sp->fd);
		sp->fd = -1;
	}
}

/* One step of a peer's exchange on a poll event: the request once the
 * connection is up, then the reply until the peer closes. */
static void share_step(struct share_peer *sp, short rev)
{
	static const char req[] = "GET /load HTTP/1.0\r\nHost: tandem-load-share\r\n\r\n";
	ssize_t r;

	if (!sp->sent) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(sp->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err ||
		    write(sp->fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
			goto fail;
		sp->sent = 1;
		return;
	}
	if (!(rev & (POLLIN | POLLHUP | POLLERR)))
		return;
	r = read(sp->fd, sp->buf + sp->len, sizeof(sp->buf) - 1 - sp->len);
	if (r < 0 && errno == EAGAIN)
		return;
	if (r > 0) {
		sp->len += r;
		if (sp->len < (int)sizeof(sp->buf) - 1)
			return;
	}
	/* closed by the peer (the whole reply), an error, or a reply too big */
	sp->buf[sp->len] = 0;
	close(sp->fd);
	sp->fd = -1;
	sp->sent = r == 0 ? 2 : -1;
	return;
fail:
	close(sp->fd);
	sp->fd = -1;
	sp->sent = -1;
}

/* One "NAME COUNT" line [L, NL) into NAME (CFG_NAME_MAX bytes) and *V.
 * Returns 0, or -1 for a line that is not one (a name too long for a node
 * of any file is none). */
static int share_line(const char *l, const char *nl, char *name, long *v)
{
	const char *sp = memchr(l, ' ', nl - l);
	char *end;

	if (!sp || sp == l || sp - l >= CFG_NAME_MAX)
		return -1;
	memcpy(name, l, sp - l);
	name[sp - l] = 0;
	*v = strtol(sp + 1, &end, 10);
	return end > sp + 1 && end == nl && *v >= 0 ? 0 : -1;
}

/* A whole reply into ROW (by index in C's nodes). Returns 0, or -1 when it
 * is not a 200 with "NAME COUNT" lines. */
static int share_parse(const char *reply, struct cfg *c, int *row)
{
	const char *body = strstr(reply, "\r\n\r\n"), *l;

	if (strncmp(reply, "HTTP/1.", 7) || strncmp(reply + 8, " 200", 4) || !body)
		return -1;
	for (l = body + 4; *l; ) {
		const char *nl = strchr(l, '\n');
		char name[CFG_NAME_MAX];
		long v;

		if (!nl)
			return -1;
		if (!share_line(l, nl, name, &v)) {
			struct cfg_node *nd = cfg_node_find(c, name);

			/* a node this file does not know: the peer's file is
			 * newer or older; its other figures still count */
			if (nd)
				row[nd - c->nodes] = (int)(v < 1000000 ? v : 1000000);
		}
		l = nl + 1;
	}
	return 0;
}

/* One round: every peer at once, until all answered or DEADLINE. */
static void share_round(struct l7_proc *p, struct cfg *c, uint64_t deadline)
{
	static struct share_peer peers[CFG_MAX_NODES];
	struct pollfd pf[CFG_MAX_NODES];
	int np = 0;

	for (int n = 0; n < c->nnodes; n++) {
		if (!share_is_peer(p, c, n))
			continue;
		peers[np].node = n;
		share_open(&peers[np], &c->nodes[n].admin);
		if (peers[np].fd < 0)
			peers[np].sent = -1;
		np++;
	}
	for (;;) {
		int k = 0, left = (int)(deadline - share_now_ms());

		for (int i = 0; i < np; i++) {
			if (peers[i].fd < 0)
				continue;
			pf[k].fd = peers[i].fd;
			pf[k].events = peers[i].sent ? POLLIN : POLLOUT;
			pf[k].revents = 0;
			k++;
		}
		if (!k || deadline <= share_now_ms() || p->stop)
			break;
		if (poll(pf, k, left) <= 0)
			continue;
		for (int i = 0, j = 0; i < np; i++) {
			if (peers[i].fd < 0)
				continue;
			if (pf[j].revents)
				share_step(&peers[i], pf[j].revents);
			j++;
		}
	}
	for (int i = 0; i < np; i++) {
		struct share_peer *sp = &peers[i];
		int n = sp->node, row[CFG_MAX_NODES] = { 0 }, ok;

		if (sp->fd >= 0) {
			close(sp->fd);
			sp->fd = -1;
			sp->sent = -1;
		}
		ok = sp->sent == 2 && !share_parse(sp->buf, c, row);
		memcpy(p->peer_load[n], row, sizeof(row));
		__atomic_add_fetch(ok ? &p->share_ok[n] : &p->share_failed[n], 1, __ATOMIC_RELAXED);
		if (ok == p->peer_silent[n]) {
			p->peer_silent[n] = !ok;
			if (ok)
				log_info("load share: switch %s answers again", c->nodes[n].name);
			else
				log_warn("load share: switch %s did not answer GET /load on its admin "
					 "address within %d ms; its load counts as none until it does",
					 c->nodes[n].name, c->l7.load_share < 500 ? c->l7.load_share : 500);
		}
	}
}

static void share_sum(struct l7_proc *p, const struct cfg *c)
{
	for (int n = 0; n < CFG_MAX_NODES; n++) {
		long sum = 0;

		for (int q = 0; q < c->nnodes && n < c->nnodes; q++)
			if (share_is_peer(p, c, q))
				sum += p->peer_load[q][n];
		__atomic_store_n(&p->peer_sum[n], sum, __ATOMIC_RELAXED);
	}
}

static void *share_main(void *arg)
{
	struct l7_proc *p = arg;

	while (!p->stop) {
		struct cfg *c = l7_cfg_enter(p, &p->share_gen);
		uint64_t start = share_now_ms();
		unsigned gen = p->share_gen;
		/* not wanted: until a reload (l7_nap wakes at once) */
		int wanted = share_wanted(c), every = wanted ? c->l7.load_share : L7_NAP_IDLE;

		if (wanted) {
			share_round(p, c, start + (every < 500 ? every : 500));
		} else {
			memset(p->peer_load, 0, sizeof(p->peer_load));
			memset(p->peer_silent, 0, sizeof(p->peer_silent));
		}
		share_sum(p, c);
		l7_cfg_leave(&p->share_gen);
		uint64_t now = share_now_ms();

		if (now < start + every)
			l7_nap(p, start + every - now, &p->stop, gen);
	}
	return NULL;
}

int share_start(struct l7_proc *p)
{
	int r = pthread_create(&p->share_thread, NULL, share_main, p);

	if (r)
		return -r;
	p->has_share_thread = 1;
	return 0;
}
