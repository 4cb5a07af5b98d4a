/* l7_main: the level-2 switch process of one node: reads the cluster file,
 * starts one worker thread per core (each its own epoll loop, its own
 * SO_REUSEPORT listener, its own connection pools: nothing is shared on the
 * request path), serves /metrics from a thread of its own. SIGTERM drains
 * (no new connections, in-flight requests finish, idle connections close,
 * at most drain_timeout); SIGINT and SIGQUIT stop at once. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "dash.h"
#include "ctl.h"
#include "l7.h"
#include "l7_alog.h"
#include "lb.h"
#include "share.h"
#include "log.h"
#include "qos.h"
#include "relay.h"
#include "sess.h"
#include "sock.h"
#include "svc.h"
#include "tls.h"
#include "upool.h"

static void l7_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem l7 -c FILE --node NAME [--takeover] [-v]\n"
		"Runs the level-2 (L7) switch of node NAME of the cluster FILE: listens on\n"
		"the node's l7 address, routes every request of each connection to a node's\n"
		"web server over pooled connections, serves /metrics on its admin address.\n"
		"  -c, --config FILE   the cluster file (the same for every process)\n"
		"  -n, --node NAME     which node this process is\n"
		"  -T, --takeover      binary upgrade: take the listening sockets of the\n"
		"                      running process of this node, which then drains\n"
		"  -v, --verbose       debug messages\n"
		"Signals: TERM drains and exits, HUP reloads FILE, INT/QUIT stop at once.\n");
}

/* Takes the newest configuration: group states and the Web-QoS state are
 * rebuilt. Requests waiting in class queues of the old file start now,
 * without a class (their class may no longer exist); requests admitted
 * under the old file finish uncounted by the new one. Class counters carry
 * over by class name, so /metrics stays monotonic. Per-node state is by
 * index, which cfg_align keeps for every node that stays (requests in
 * flight keep theirs too): it stays as it is, lard's entries carry over
 * (lb_rebuild), and only an index a new node took gets its counters reset
 * (in-flight counts are not: requests to the node that held it finish
 * and take theirs back). */
static void l7_switch_cfg(struct l7_worker *w)
{
	const struct cfg *old = w->cfg;
	struct cfg *c;
	struct qos prev = w->qos;

	/* the generation first: the cfg loaded after it is at least as new,
	 * so cfg_ack never claims a newer cfg than the one in use */
	w->gen = __atomic_load_n(&w->proc->gen, __ATOMIC_SEQ_CST);
	w->cfg = c = __atomic_load_n(&w->proc->cfg, __ATOMIC_SEQ_CST);
	w->last_sweep = 0;
	for (int n = 0; n < c->nnodes; n++) {
		if (!cfg_node_used(&c->nodes[n]) || c->nodes[n].since <= old->epoch)
			continue;
		memset(w->st.requests[n], 0, sizeof(w->st.requests[n]));
		w->st.pool_reused[n] = w->st.pool_opened[n] = w->st.upstream_fail[n] = 0;
	}
	/* the scrape counts this worker for the nodes new to their index
	 * from here on */
	__atomic_store_n(&w->epoch, c->epoch, __ATOMIC_RELEASE);
	if (lb_rebuild(w, old))
		log_err("reload: out of memory building the groups' state");
	l7_buf_resize(w);
	w->rl.splice_min = c->l7.splice_min;
	w->rl.kernel_min = c->l7.kernel_min;
	qos_init(&w->qos, c);   /* cfg_load refused more than CFG_MAX_CLASSES */
	for (int k = 0; k < c->nclasses; k++)
		for (int j = 0; j < prev.nclasses; j++) {
			struct qos_class *to = &w->qos.cls[k];
			const struct qos_class *from = &prev.cls[j];

			if (strcmp(c->classes[k].name, old->classes[j].name))
				continue;
			to->requests = from->requests;
			to->queued = from->queued;
			to->refused = from->refused;
			to->cancelled = from->cancelled;
			to->wait_ms = from->wait_ms;
		}
	/* the old queues' links live in the sessions: walk them as they were */
	for (int k = 0; k < prev.nclasses; k++) {
		struct qos_waiter *qw = prev.cls[k].head, *next;

		for (; qw; qw = next) {
			next = qw->next;
			sess_requeue(sess_of_waiter(qw));
		}
	}
	/* nothing of the old configuration is read from here on */
	__atomic_store_n(&w->cfg_ack, w->gen, __ATOMIC_SEQ_CST);
}

/* Frees the sessions and connections closed during the last batch of
 * events, which no event can reach any more. */
static void l7_reap(struct l7_worker *w)
{
	sess_reap(w);
	upool_reap(w);
}

static void *l7_worker_main(void *arg)
{
	struct l7_worker *w = arg;

	uint64_t drain_end = 0;

	while (!w->proc->stop) {
		if (w->gen != w->proc->gen) {
			/* a reload: requests from now on use the new file;
			 * idle pooled connections of the old one are closed
			 * by the next sweep, busy ones after their response */
			l7_switch_cfg(w);
		} else if (w->wt_gen != __atomic_load_n(&w->proc->wt_gen, __ATOMIC_ACQUIRE) &&
			   lb_rebuild(w, w->cfg)) {
			/* tandem ctl changed a weight: chash tables count
			 * weights, rebuild them (rr and wlc read them live) */
			log_err("runtime weight: out of memory rebuilding the groups' state");
		}
		/* the ring says when the program has redirected a body's last
		 * byte; nothing says when the psock backlog has written it to
		 * the client, or when an origin stopped sending: sessions that
		 * wait for either are polled every 100 us; sessions that
		 * yielded their turn run again at once */
		if ((w->yq ? ev_run_once(&w->loop, 0) :
		     w->rl.nticks ? ev_run_once_us(&w->loop, 100) : ev_run_once(&w->loop, 100)) < 0)
			log_err("epoll_wait() failed: %s", strerror(errno));
		if (w->rl.nticks)
			relay_env_poll(&w->rl);
		sess_run_yielded(w);
		sess_qos_dispatch(w);
		l7_reap(w);
		sess_sweep(w);
		l7_reap(w);
		if (!w->proc->draining)
			continue;
		if (!w->drained) {
			/* no new connections: the listener goes, and what the
			 * kernel had queued on it is refused, not dropped later */
			ev_del(&w->loop, &w->lsn);
			close(w->lsn.fd);
			if (w->tlsn.fd >= 0) {
				ev_del(&w->loop, &w->tlsn);
				close(w->tlsn.fd);
			}
			w->drained = 1;
			drain_end = w->loop.now_ms + w->proc->drain_timeout;
		}
		if (!sess_drain(w) || w->loop.now_ms >= drain_end)
			break;
	}
	sess_close_all(w);
	l7_reap(w);
	return NULL;
}

/* The control socket of a node's L7 process: an abstract unix socket (per
 * network namespace, nothing on disk), named after the node. */
static socklen_t l7_ctl_addr(const char *node, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "tandem-l7-%s", node);
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sun->sun_path + 1);
}

/* Old side of a binary upgrade: a new process connects, gets our listening
 * sockets (SCM_RIGHTS), starts its workers on them and says READY; then we
 * drain. The sockets are the same kernel objects, so a connection queued
 * between our last accept and the new process's first is never dropped, as
 * it would be with a fresh SO_REUSEPORT socket and a close of ours. */
static void *l7_control_main(void *arg)
{
	struct l7_proc *p = arg;
	char cmsgbuf[CMSG_SPACE(sizeof(int) * 256)], buf[64], hello[32];
	struct iovec iov = { .iov_base = hello };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int fd, n = p->nworkers > 256 ? 256 : p->nworkers;
	int tls = p->workers[0]->tlsn.fd >= 0;    /* every worker has one, or none does */
	struct sockaddr_un sun;
	socklen_t len = l7_ctl_addr(p->self->name, &sun);
	ssize_t got;

	/* the plain listeners, then as many TLS ones; the count of plain
	 * ones says where the TLS ones begin ("LISTENERS\n" alone: all plain) */
	if (tls && n > 128)
		n = 128;
	iov.iov_len = snprintf(hello, sizeof(hello), "LISTENERS %d\n", n);
	/* after a takeover the old process may hold the name a moment more */
	for (int i = 0; i < 100; i++) {
		if (!bind(p->ctl_fd, (struct sockaddr *)&sun, len) && !listen(p->ctl_fd, 4))
			break;
		if (errno != EADDRINUSE || i == 99) {
			log_warn("control socket @%s: %s; binary upgrade (--takeover) unavailable",
				 sun.sun_path + 1, strerror(errno));
			return NULL;
		}
		usleep(50000);
	}
	while (!p->stop && !p->draining) {
		struct pollfd pfd[3] = { { .fd = p->ctl_fd, .events = POLLIN },
					 { .fd = p->stop_efd, .events = POLLIN },
					 { .fd = p->drain_efd, .events = POLLIN } };

		/* a stop or a drain makes an eventfd readable (l7_halt); without
		 * them, a timeout lets the flags be seen */
		if (poll(pfd, 3, p->stop_efd >= 0 && p->drain_efd >= 0 ? -1 : 200) <= 0 ||
		    !(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(p->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		got = read(fd, buf, sizeof(buf) - 1);
		if (got < 8 || strncmp(buf, "TAKEOVER", 8)) {
			close(fd);
			continue;
		}
		memset(cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n * (1 + tls));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n * (1 + tls));
		for (int i = 0; i < n; i++) {
			((int *)CMSG_DATA(cm))[i] = p->workers[i]->lsn.fd;
			if (tls)
				((int *)CMSG_DATA(cm))[n + i] = p->workers[i]->tlsn.fd;
		}
		if (sendmsg(fd, &mh, 0) < 0) {
			log_warn("takeover: sendmsg(SCM_RIGHTS) failed: %s", strerror(errno));
			close(fd);
			continue;
		}
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got >= 5 && !strncmp(buf, "READY", 5)) {
			log_info("takeover: a new process serves our %d listener(s); draining", n);
			p->handed_over = 1;
			l7_halt(p, 0);
			close(p->ctl_fd);       /* the name is the new process's now */
			kill(getpid(), SIGUSR1);        /* wake the main thread */
			break;
		}
		log_warn("takeover: the new process did not start; we keep serving");
	}
	return NULL;
}

static int l7_control_start(struct l7_proc *p)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->ctl_fd = fd;
	if (pthread_create(&p->ctl_thread, NULL, l7_control_main, p))
		return -EAGAIN;
	p->has_ctl_thread = 1;
	return 0;
}

/* New side: asks the running process of NODE for its listening sockets.
 * Returns how many were received into FDS, the first *NPLAIN of them plain
 * listeners, the others TLS ones (the control connection stays open in
 * *CTL until l7_takeover_done), or -errno. */
static int l7_takeover(const char *node, int *fds, int max, int *ctl, int *nplain)
{
	char cmsgbuf[CMSG_SPACE(sizeof(int) * 256)], buf[16] = "";
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cmsgbuf, .msg_controllen = sizeof(cmsgbuf) };
	struct sockaddr_un sun;
	socklen_t len = l7_ctl_addr(node, &sun);
	struct cmsghdr *cm;
	int fd, n = 0, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, len) || write(fd, "TAKEOVER\n", 9) != 9) {
		r = -errno;
		goto fail;
	}
	if (recvmsg(fd, &mh, MSG_CMSG_CLOEXEC) <= 0) {
		r = -EPROTO;
		goto fail;
	}
	buf[sizeof(buf) - 1] = 0;
	if (sscanf(buf, "LISTENERS %d", nplain) != 1)
		*nplain = -1;   /* an older process: all of them plain */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < k; i++) {
			int f = ((int *)CMSG_DATA(cm))[i];
			if (n < max)
				fds[n++] = f;
			else
				close(f);
		}
	}
	*ctl = fd;
	if (*nplain < 0 || *nplain > n)
		*nplain = n;
	return n;
fail:
	close(fd);
	return r;
}

/* The kernel engine has news (a body's last byte redirected, bytes it
 * could not take): the sessions concerned run. */
static void l7_relay_event(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct l7_worker *w = (struct l7_worker *)((char *)io - offsetof(struct l7_worker, rlio));

	relay_env_events(&w->rl);
}

/* A worker's haltio events: nothing to do, the loop looks at the flags. */
static void l7_halt_event(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	(void)l;
	(void)io;
	(void)events;
}

static int l7_worker_init(struct l7_proc *p, struct l7_worker *w, int id)
{
	struct cfg *c = p->cfg;
	int r;

	w->proc = p;
	w->cfg = p->cfg;
	w->gen = p->gen;
	w->cfg_ack = p->gen;
	w->epoch = c->epoch;
	w->id = id;
	if (lb_build(w) || qos_init(&w->qos, c))
		return -ENOMEM;
	r = relay_env_open(&w->rl, c->relay == CFG_RELAY_COPY ? RELAY_COPY
			   : c->relay == CFG_RELAY_SOCKMAP ? RELAY_SOCKMAP
			   : c->relay == CFG_RELAY_PACKET ? RELAY_PACKET : RELAY_SPLICE);
	if (r) {
		log_err("worker %d: starting the %s relay failed: %s", id, cfg_relay_name(c->relay),
			strerror(-r));
		return r;
	}
	w->rl.splice_min = c->l7.splice_min;
	w->rl.kernel_min = c->l7.kernel_min;
	l7_buf_resize(w);
	r = l7_alog_ring_init(&w->alog);
	if (r)
		return r;
	w->maxfreebufs = 1024;
	w->freebufs = calloc(w->maxfreebufs, sizeof(char *));
	if (!w->freebufs)
		return -ENOMEM;
	r = ev_init(&w->loop);
	if (r)
		return r;
	w->last_sweep = w->loop.now_ms;
	if (id < p->ninherited) {
		r = p->inherited[id];
		fcntl(r, F_SETFL, fcntl(r, F_GETFL) | O_NONBLOCK);
	} else {
		r = sock_listen(&p->self->l7, 1, 4096);
	}
	if (r < 0)
		return r;
	w->lsn.fd = r;
	w->lsn.cb = sess_accept;
	w->tlsn.fd = -1;
	if (p->self->tls.len) {
		if (id < p->ninherited_tls) {
			r = p->inherited_tls[id];
			fcntl(r, F_SETFL, fcntl(r, F_GETFL) | O_NONBLOCK);
		} else {
			r = sock_listen(&p->self->tls, 1, 4096);
		}
		if (r < 0)
			return r;
		w->tlsn.fd = r;
		w->tlsn.cb = sess_accept_tls;
		r = ev_add(&w->loop, &w->tlsn, EPOLLIN);
		if (r)
			return r;
	}
	for (int i = 0; i < 2; i++) {
		w->haltio[i].fd = i ? p->drain_efd : p->stop_efd;
		w->haltio[i].cb = l7_halt_event;
		if (w->haltio[i].fd >= 0 && (r = ev_add(&w->loop, &w->haltio[i], EPOLLIN)))
			return r;
	}
	if (relay_env_fd(&w->rl) >= 0) {
		w->rlio.fd = relay_env_fd(&w->rl);
		w->rlio.cb = l7_relay_event;
		r = ev_add(&w->loop, &w->rlio, EPOLLIN);
		if (r)
			return r;
	}
	return ev_add(&w->loop, &w->lsn, EPOLLIN);
}

/* The oldest generation a thread may still read. */
static unsigned l7_cfg_oldest(struct l7_proc *p)
{
	unsigned g = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST), x;

	for (int i = 0; i < p->nworkers; i++)
		if ((x = __atomic_load_n(&p->workers[i]->cfg_ack, __ATOMIC_SEQ_CST)) < g)
			g = x;
	if ((x = __atomic_load_n(&p->probe_gen, __ATOMIC_SEQ_CST)) < g)
		g = x;
	if ((x = __atomic_load_n(&p->admin_gen, __ATOMIC_SEQ_CST)) < g)
		g = x;
	if ((x = __atomic_load_n(&p->share_gen, __ATOMIC_SEQ_CST)) < g)
		g = x;
	return g;
}

/* Frees the replaced configurations no thread reads any more, waiting up to
 * WAIT_MS for the workers to take the newest (each takes it at its next
 * loop turn, within 100 ms) and for a probe round or a scrape to end. What
 * is still read then stays for the next reload or the exit. */
static void l7_cfg_retire(struct l7_proc *p, int wait_ms)
{
	for (int t = 0;; t += 5) {
		unsigned oldest = l7_cfg_oldest(p);
		int k = 0;

		for (int i = 0; i < p->nretired; i++) {
			if (p->retired[i].gen < oldest)
				cfg_free(p->retired[i].cfg);
			else
				p->retired[k++] = p->retired[i];
		}
		p->nretired = k;
		if (!k || t >= wait_ms)
			return;
		usleep(5000);
	}
}

void l7_nap_init(struct l7_proc *p)
{
	pthread_condattr_t at;

	pthread_mutex_init(&p->nap_lock, NULL);
	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(&p->nap_cond, &at);
	pthread_condattr_destroy(&at);
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->drain_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void l7_nap(struct l7_proc *p, int ms, const volatile int *stop, unsigned gen)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	/* the waker sets the flag or the generation before it takes the
	 * lock: looked at under the lock, neither can be missed */
	pthread_mutex_lock(&p->nap_lock);
	while (!*stop && __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST) == gen)
		if (pthread_cond_timedwait(&p->nap_cond, &p->nap_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->nap_lock);
}

void l7_wake(struct l7_proc *p)
{
	pthread_mutex_lock(&p->nap_lock);
	pthread_cond_broadcast(&p->nap_cond);
	pthread_mutex_unlock(&p->nap_lock);
}

void l7_halt(struct l7_proc *p, int stop)
{
	uint64_t one = 1;
	int fd = stop ? p->stop_efd : p->drain_efd;

	if (stop)
		p->stop = 1;
	else
		p->draining = 1;
	/* readable from now on: a poll sees it at once, an epoll (edge
	 * triggered) gets one event per write */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		log_debug("halt: eventfd write: %s", strerror(errno));
	l7_wake(p);
}

/* local = unix:PATH: said at start and at each reload, with what is wrong
 * with the path now (its web server may come up later: not an error). */
static void l7_local_note(const struct l7_proc *p)
{
	const struct cfg_addr *a = &p->self->local;
	const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;
	const char *why = NULL;
	struct stat st;

	if (!a->len || a->ss.ss_family != AF_UNIX)
		return;
	if (stat(path, &st))
		why = strerror(errno);
	else if (!S_ISSOCK(st.st_mode))
		why = "not a socket";
	if (why)
		log_warn("node %s: local = %s: %s: its own web server's requests fail (502, or "
			 "another node of the group) until a web server listens there",
			 p->self->name, a->text, why);
	else
		log_info("node %s: its own web server over %s%s", p->self->name, a->text,
			 p->cfg->relay == CFG_RELAY_SOCKMAP || p->cfg->relay == CFG_RELAY_PACKET
			 ? " (the kernel engine takes only TCP: those bodies stay in user space)" : "");
}

/* A reason the reload was refused: logged, and written to ERRS too when
 * that is not stderr (the log's stream), for the admin endpoint's reply. */
#define l7_reload_refuse(errs, fmt, ...) do { \
	log_err("reload: " fmt ", keeping the running configuration", ##__VA_ARGS__); \
	if ((errs) != stderr) \
		fprintf((errs), fmt "\n", ##__VA_ARGS__); \
} while (0)

/* tandem ctl's runtime weights against the new file C: one whose node
 * left its index (removed, or the index given to another node), or whose
 * weight the file changed since it was set, is dropped; the others stay.
 * Caller holds ctl_lock. */
static void l7_reload_overrides(struct l7_proc *p, const struct cfg *c)
{
	const struct cfg *old = p->cfg;
	int dropped = 0;

	for (int n = 0; n < CFG_MAX_NODES; n++) {
		int o = __atomic_load_n(&p->wt_ovr[n], __ATOMIC_RELAXED);

		if (!o)
			continue;
		if (n < c->nnodes && cfg_node_used(&c->nodes[n]) && c->nodes[n].since <= old->epoch &&
		    c->nodes[n].weight == p->wt_file[n])
			continue;
		if (n < c->nnodes && cfg_node_used(&c->nodes[n]) && c->nodes[n].since <= old->epoch)
			log_info("node %s: runtime weight %d dropped: the file's weight changed (%d -> %d)",
				 c->nodes[n].name, o - 1, p->wt_file[n], c->nodes[n].weight);
		__atomic_store_n(&p->wt_ovr[n], 0, __ATOMIC_RELAXED);
		dropped++;
	}
	if (dropped)
		__atomic_add_fetch(&p->wt_gen, 1, __ATOMIC_RELEASE);
}

int l7_reload(struct l7_proc *p, const char *file, FILE *errs)
{
	struct cfg *c = calloc(1, sizeof(*c));
	struct cfg_node *self;
	int nerr = 0, nodes = 0, moved, r;

	if (!c) {
		l7_reload_refuse(errs, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->ctl_lock);
	r = cfg_load(c, file, errs, &nerr);
	if (r) {
		if (errs != stderr)
			fprintf(stderr, "reload: %s: %d error(s), see the admin reply\n", file, nerr);
		l7_reload_refuse(errs, "%s has %d error(s)", file, nerr);
		goto fail;
	}
	/* every node keeps its index, so what is kept by index (down marks,
	 * failure counts, in-flight counts, pools, counters, requests in
	 * flight, runtime weights) stays with its node by name */
	r = cfg_align(c, p->cfg);
	if (r == -ENOSPC) {
		l7_reload_refuse(errs, "%s needs more than %d node indexes (a removed node's index is "
				 "free from the next reload on)", file, CFG_MAX_NODES);
		goto fail;
	} else if (r) {
		l7_reload_refuse(errs, "cfg_align: %s", strerror(-r));
		goto fail;
	}
	self = cfg_node_find(c, p->self->name);
	if (!self) {
		l7_reload_refuse(errs, "node %s is no longer in %s", p->self->name, file);
		r = -EINVAL;
		goto fail;
	}
	/* certificates, keys and ticket keys: a file that names a bad one
	 * changes nothing, the running ones stay */
	moved = strcmp(self->l7.text, p->self->l7.text) || strcmp(self->tls.text, p->self->tls.text);
	self->tls = p->self->tls;
	r = tls_load(c, self, errs, &nerr);
	if (r) {
		if (errs != stderr)
			fprintf(stderr, "reload: %s: %d TLS error(s), see the admin reply\n", file, nerr);
		l7_reload_refuse(errs, "%s has %d TLS error(s)", file, nerr);
		goto fail;
	}
	if (moved || c->relay != p->cfg->relay || c->l7.workers != p->cfg->l7.workers)
		log_warn("reload: listening addresses, relay and workers take a restart to change");
	c->relay = p->cfg->relay;
	self->l7 = p->self->l7;
	if (p->nretired == (int)(sizeof(p->retired) / sizeof(p->retired[0]))) {
		l7_reload_refuse(errs, "%d earlier configurations are still in use, try again later",
				 p->nretired);
		r = -EBUSY;
		goto fail;
	}
	/* a new node on an index another one held: not that node's marks
	 * (the probe thread and the workers see the new node from the
	 * store below on) */
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]) && c->nodes[n].since > p->cfg->epoch) {
			__atomic_store_n(&p->node_down[n], 0, __ATOMIC_RELAXED);
			__atomic_store_n(&p->node_fails[n], 0, __ATOMIC_RELAXED);
		}
	l7_reload_overrides(p, c);
	if (strcmp(c->l7.access_log, p->cfg->l7.access_log))
		l7_alog_reopen(p, c->l7.access_log);    /* another file, or on, or off */
	p->retired[p->nretired].cfg = p->cfg;
	p->retired[p->nretired++].gen = p->gen;
	__atomic_store_n(&p->cfg, c, __ATOMIC_SEQ_CST);
	p->self = self;
	p->self_idx = self - c->nodes;
	__atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST);
	l7_wake(p);             /* the helper threads take it now */
	l7_cfg_retire(p, 2000);
	for (int n = 0; n < c->nnodes; n++)
		nodes += cfg_node_used(&c->nodes[n]);
	log_info("reload: %s, %d node(s), generation %u", file, nodes, p->gen);
	l7_local_note(p);
	dash_config(p->dash, c);        /* the dashboard gathers from the new file's daemons */
	pthread_mutex_unlock(&p->ctl_lock);
	return 0;
fail:
	pthread_mutex_unlock(&p->ctl_lock);
	cfg_free(c);
	return r;
}

/* Loads FILE and finds NODE in it. 0, or -1 with the reason logged. */
static int l7_load(struct l7_proc *p, const char *file, const char *node)
{
	int nerr = 0;

	p->cfg = calloc(1, sizeof(*p->cfg));
	if (!p->cfg)
		return -1;
	if (cfg_load(p->cfg, file, stderr, &nerr)) {
		log_err("cannot start: %s has %d error(s)", file, nerr);
		return -1;
	}
	p->self = cfg_node_find(p->cfg, node);
	if (!p->self) {
		log_err("no [node %s] in %s", node, file);
		return -1;
	}
	if (!p->self->l7.len) {
		log_err("node %s has no l7 address in %s", node, file);
		return -1;
	}
	p->self_idx = p->self - p->cfg->nodes;
	if (tls_load(p->cfg, p->self, stderr, &nerr)) {
		log_err("cannot start: %s has %d TLS error(s)", file, nerr);
		return -1;
	}
	return 0;
}

/* The relay engine the file asks for, if it works on this kernel: each
 * kernel feature is probed, and a missing one is said once, with the
 * engine used instead. */
static void l7_probe_relay(struct l7_proc *p)
{
	struct cfg *c = p->cfg;
	int r;

	if (c->relay == CFG_RELAY_SOCKMAP || c->relay == CFG_RELAY_AUTO) {
		char why[256];

		r = relay_probe_sockmap(why, sizeof(why));
		if (r) {
			log_warn("relay %s: the sockmap engine does not work here (%s): using splice",
				 cfg_relay_name(c->relay), why);
			c->relay = CFG_RELAY_SPLICE;
			p->sm_fallback = 1;
		} else {
			c->relay = CFG_RELAY_SOCKMAP;
		}
	}
	if (c->relay == CFG_RELAY_PACKET) {
		char why[256] = "";

		r = relay_packet_start(c->l7.splice_ifaces, why, sizeof(why));
		if (r) {
			log_warn("relay packet: packet-level splicing does not work here (%s): using splice",
				 why);
			c->relay = CFG_RELAY_SPLICE;
			p->pk_fallback = 1;
		} else {
			char ifs[256];

			relay_packet_ifaces(ifs, sizeof(ifs));
			if (relay_packet_mss())
				log_info("relay packet: tc programs on %s; the pool's MSS clamped to %d",
					 ifs, relay_packet_mss());
			else
				log_info("relay packet: tc programs on %s", ifs);
		}
	}
	if (c->relay == CFG_RELAY_SPLICE || c->relay == CFG_RELAY_PACKET) {
		r = relay_probe_splice();
		if (r) {
			log_warn("splice(2) from a socket into a pipe does not work here (%s): "
				 "relay falls back to copy", strerror(-r));
			if (c->relay == CFG_RELAY_PACKET)
				relay_packet_stop();
			c->relay = CFG_RELAY_COPY;
		}
	}
}

/* TLS listeners: the kernel's TLS (the `tls` ULP) is probed and its
 * absence said once. Either way records are made in user space for now,
 * so TLS clients' bodies are copied, never spliced or redirected. */
static void l7_probe_tls(struct l7_proc *p)
{
	char why[160];

	if (!p->self->tls.len)
		return;
	if (tls_probe_ktls(why, sizeof(why))) {
		log_warn("kernel TLS is not available (%s): TLS records are encrypted in user space "
			 "and the bodies of TLS clients are copied, not moved by relay %s", why,
			 cfg_relay_name(p->cfg->relay));
		return;
	}
	p->ktls = 1;
	log_info("kernel TLS is available but not used yet: the bodies of TLS clients are copied");
}

/* Binary upgrade, new side: takes the listeners of NODE's running process
 * (the control connection stays in *CTL until READY). 0 or -1. */
static int l7_take_listeners(struct l7_proc *p, const char *node, int *ctl)
{
	int nplain, r = l7_takeover(node, p->inherited, 256, ctl, &nplain);

	if (r < 0) {
		log_err("--takeover: no running l7 process of node %s answered: %s",
			node, strerror(-r));
		return -1;
	}
	/* the TLS listeners: served if this node still has one (the same
	 * address: it takes a restart to change), else closed */
	for (int i = nplain; i < r; i++) {
		if (p->self->tls.len && p->ninherited_tls < nplain)
			p->inherited_tls[p->ninherited_tls++] = p->inherited[i];
		else
			close(p->inherited[i]);
	}
	r = nplain;
	p->ninherited = r;
	if (r > p->nworkers) {
		/* every inherited socket must be served: the kernel keeps
		 * hashing connections to each of them */
		log_info("--takeover: %d listeners inherited, running %d workers", r, r);
		p->nworkers = r;
	}
	return 0;
}

/* Starts the workers (their threads into THREADS) and the helper threads.
 * 0 or -1. */
static int l7_start(struct l7_proc *p, pthread_t *threads, int ctl)
{
	int r;

	for (int i = 0; i < p->nworkers; i++) {
		p->workers[i] = calloc(1, sizeof(struct l7_worker));
		if (!p->workers[i] || l7_worker_init(p, p->workers[i], i)) {
			log_err("cannot start worker %d on %s", i, p->self->l7.text);
			return -1;
		}
	}
	if (p->self->admin.len) {
		char self[48];

		snprintf(self, sizeof(self), "l7 %s", p->self->name);
		p->dash = dash_new(self);
		if (!p->dash)
			log_warn("dashboard: cannot start its thread, GET / answers 404");
		dash_config(p->dash, p->cfg);
		if (l7_admin_start(p))
			return -1;
	}
	r = l7_alog_start(p);
	if (r) {
		log_err("cannot start: access log %s: %s", p->cfg->l7.access_log, strerror(-r));
		return -1;
	}
	for (int i = 0; i < p->nworkers; i++)
		pthread_create(&threads[i], NULL, l7_worker_main, p->workers[i]);
	if (ctl >= 0) {
		if (write(ctl, "READY\n", 6) != 6)
			log_warn("--takeover: the old process is gone before READY");
		close(ctl);
	}
	l7_control_start(p);
	lb_health_start(p);
	if (share_start(p))
		log_warn("load share: cannot start its thread; lard decides from this switch's loads alone");
	log_info("listening on %s%s%s, %d worker(s), relay %s, %d node(s)%s%s", p->self->l7.text,
		 p->self->tls.len ? ", TLS on " : "", p->self->tls.len ? p->self->tls.text : "",
		 p->nworkers, cfg_relay_name(p->cfg->relay), p->cfg->nnodes,
		 p->self->admin.len ? ", metrics on " : "",
		 p->self->admin.len ? p->self->admin.text : "");
	l7_local_note(p);
	svc_ready("listening on %s, %d worker(s), relay %s", p->self->l7.text, p->nworkers,
		  cfg_relay_name(p->cfg->relay));
	return 0;
}

/* Serves until a signal in SET says to stop (HUP reloads FILE): a drain
 * (TERM, or a takeover) or a stop at once. */
static void l7_serve(struct l7_proc *p, const char *file, sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig))
			continue;
		if (sig == SIGHUP) {
			svc_reloading();
			l7_reload(p, file, stderr);
			svc_ready(NULL);        /* a refused file keeps the old one: ready too */
			continue;
		}
		if (sig == SIGUSR1 && !p->handed_over) {
			/* logrotate moved the access log: a new file */
			l7_alog_reopen(p, NULL);
			continue;
		}
		break;
	}
	if (sig == SIGTERM || p->handed_over) {
		/* graceful: in-flight requests finish, idle connections close */
		log_info("%s: draining (at most %d ms)", p->handed_over ? "takeover" : "SIGTERM",
			 p->drain_timeout);
		l7_halt(p, 0);
		svc_stopping("draining (at most %d ms)", p->drain_timeout);
	} else {
		log_info("signal %d: stopping", sig);
		l7_halt(p, 1);
		svc_stopping("signal %d: stopping", sig);
	}
}

/* Joins the helper threads and frees every worker and configuration. */
static void l7_cleanup(struct l7_proc *p)
{
	/* the helper threads nap (l7_nap) or poll stop_efd, and see stop */
	l7_halt(p, 1);
	l7_alog_stop(p);        /* the workers are done: their last lines go out */
	if (p->has_admin_thread) {
		pthread_join(p->admin_thread, NULL);
		close(p->admin_fd);
	}
	dash_free(p->dash);
	p->dash = NULL;
	if (p->has_health_thread)
		pthread_join(p->health_thread, NULL);
	if (p->has_share_thread)
		pthread_join(p->share_thread, NULL);
	if (p->has_ctl_thread) {
		pthread_join(p->ctl_thread, NULL);
		if (!p->handed_over)
			close(p->ctl_fd);
	}
	for (int i = 0; p->workers && i < p->nworkers; i++) {
		struct l7_worker *w = p->workers[i];

		if (!w)
			continue;
		for (int b = 0; b < w->nfreebufs; b++)
			free(w->freebufs[b]);
		free(w->freebufs);
		relay_env_close(&w->rl);
		l7_alog_ring_free(&w->alog);
		lb_free(w);
		if (!w->drained && w->lsn.fd > 0)
			close(w->lsn.fd);
		if (!w->drained && w->tlsn.fd >= 0)
			close(w->tlsn.fd);
		if (w->loop.epfd > 0)
			ev_close(&w->loop);
		free(w);
	}
	free(p->workers);
	relay_packet_stop();    /* the programs off every interface */
	for (int i = 0; i < p->nretired; i++)
		cfg_free(p->retired[i].cfg);
	cfg_free(p->cfg);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	if (p->drain_efd >= 0)
		close(p->drain_efd);
}

int l7_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "takeover", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *file = NULL, *node = NULL;
	struct l7_proc proc = { .admin_fd = -1, .ctl_fd = -1, .drain_timeout = 10000,
				.probe_gen = L7_GEN_NONE, .admin_gen = L7_GEN_NONE,
				.share_gen = L7_GEN_NONE };
	pthread_t *threads = NULL;
	char role[64];
	sigset_t set;
	int o, rc = 1, takeover = 0, ctl = -1;

	while ((o = getopt_long(argc, argv, "c:n:vhT", opts, NULL)) != -1) {
		switch (o) {
		case 'c': file = optarg; break;
		case 'n': node = optarg; break;
		case 'v': log_verbosity = LOG_DEBUG; break;
		case 'T': takeover = 1; break;
		case 'h': l7_usage(stdout); return 0;
		default:  l7_usage(stderr); return 2;
		}
	}
	l7_nap_init(&proc);
	if (!file || !node) {
		l7_usage(stderr);
		return 2;
	}
	proc.file = file;
	pthread_mutex_init(&proc.ctl_lock, NULL);
	snprintf(role, sizeof(role), "l7[%s]", node);
	log_setrole(role);
	if (l7_load(&proc, file, node))
		goto out;
	l7_probe_relay(&proc);
	l7_probe_tls(&proc);
	proc.nworkers = proc.cfg->l7.workers ? proc.cfg->l7.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (proc.nworkers < 1)
		proc.nworkers = 1;
	/* a peer that goes away turns our writes into EPIPE, not a signal */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);     /* inherited by every thread */
	if (takeover && l7_take_listeners(&proc, node, &ctl))
		goto out;
	proc.workers = calloc(proc.nworkers, sizeof(*proc.workers));
	threads = calloc(proc.nworkers, sizeof(*threads));
	if (!proc.workers || !threads || l7_start(&proc, threads, ctl))
		goto out;
	l7_serve(&proc, file, &set);
	for (int i = 0; i < proc.nworkers; i++)
		pthread_join(threads[i], NULL);
	rc = 0;
out:
	l7_cleanup(&proc);
	free(threads);
	return rc;
}
