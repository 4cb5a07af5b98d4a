/* l7_alog: see l7_alog.h. The rings are single-producer single-consumer:
 * the worker writes bytes, then publishes head (release); the writer reads
 * head (acquire), writes the bytes out, then publishes tail. A full disk, a
 * read-only file system or a slow one stalls only the writer thread; its
 * failed writes are counted and their lines are lost, never retried into a
 * growing backlog. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l7.h"
#include "l7_alog.h"
#include "log.h"

#define L7_ALOG_ROUND_MS 50

int l7_alog_ring_init(struct l7_alog_ring *r)
{
	memset(r, 0, sizeof(*r));
	r->buf = malloc(L7_ALOG_RING);
	if (!r->buf)
		return -ENOMEM;
	r->cap = L7_ALOG_RING;
	return 0;
}

void l7_alog_ring_free(struct l7_alog_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

void l7_alog_put(struct l7_worker *w, const char *line, size_t n)
{
	struct l7_alog_ring *r = &w->alog;
	uint64_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	uint32_t at, first;

	if (!r->buf || n > r->cap - (head - tail)) {
		__atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
		return;
	}
	at = head & (r->cap - 1);
	first = r->cap - at < n ? r->cap - at : n;
	memcpy(r->buf + at, line, first);
	memcpy(r->buf, line + first, n - first);
	__atomic_store_n(&r->head, head + n, __ATOMIC_RELEASE);
	__atomic_store_n(&r->lines, r->lines + 1, __ATOMIC_RELAXED);
}

static int alog_open(const char *path)
{
	int fd;

	if (!path[0])
		return -1;
	if (!strcmp(path, "stderr"))
		return dup(2);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		log_err("access log: open(%s) failed: %s; lines are dropped until SIGUSR1 or a reload",
			path, strerror(errno));
	return fd;
}

/* Writes N bytes of P to the log, whole or not at all as far as the caller
 * is concerned: an error (full disk, read-only, EIO) drops them, counted. */
static void alog_write(struct l7_alog *a, const char *p, size_t n)
{
	if (a->fd < 0 && a->on) {
		/* the file could not be opened: these lines are lost too */
		__atomic_add_fetch(&a->errors, 1, __ATOMIC_RELAXED);
		return;
	}
	while (n && a->fd >= 0) {
		ssize_t k = write(a->fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			uint64_t e = __atomic_add_fetch(&a->errors, 1, __ATOMIC_RELAXED);

			if (e == 1 || !(e % 1000))
				log_warn("access log: write failed: %s; %llu writes lost so far",
					 k < 0 ? strerror(errno) : "nothing written", (unsigned long long)e);
			return;
		}
		__atomic_add_fetch(&a->written, k, __ATOMIC_RELAXED);
		p += k;
		n -= k;
	}
}

/* Moves what ring R holds to the file. */
static void alog_drain(struct l7_alog *a, struct l7_alog_ring *r)
{
	uint64_t tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	while (head != tail) {
		uint32_t at = tail & (r->cap - 1);
		size_t n = head - tail;

		if (n > r->cap - at)
			n = r->cap - at;
		alog_write(a, r->buf + at, n);
		tail += n;
	}
	__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
}

static void alog_round(struct l7_proc *p)
{
	struct l7_alog *a = &p->alog;

	pthread_mutex_lock(&a->lock);
	if (a->reopen) {
		/* the new file first: lines keep going to the old one until
		 * the new one is there */
		int fd = alog_open(a->path);

		if (a->fd >= 0)
			close(a->fd);
		a->fd = fd;
		a->on = a->path[0] != 0;
		a->reopen = 0;
	}
	pthread_mutex_unlock(&a->lock);
	for (int i = 0; i < p->nworkers; i++)
		if (p->workers[i])
			alog_drain(a, &p->workers[i]->alog);
}

static void *alog_main(void *arg)
{
	struct l7_proc *p = arg;

	while (!p->alog_stop) {
		unsigned gen = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST);

		alog_round(p);
		/* no access log: nothing to do until a reload names one (a
		 * reload bumps the generation, l7_nap wakes at once) */
		l7_nap(p, p->alog.on ? L7_ALOG_ROUND_MS : L7_NAP_IDLE, &p->alog_stop, gen);
	}
	alog_round(p);          /* what the workers put before they stopped */
	return NULL;
}

int l7_alog_start(struct l7_proc *p)
{
	struct l7_alog *a = &p->alog;

	pthread_mutex_init(&a->lock, NULL);
	snprintf(a->path, sizeof(a->path), "%s", p->cfg->l7.access_log);
	a->fd = -1;
	a->on = a->path[0] != 0;
	if (a->path[0]) {
		a->fd = alog_open(a->path);
		if (a->fd < 0)
			return strcmp(a->path, "stderr") ? -errno : -EBADF;
	}
	if (pthread_create(&a->thread, NULL, alog_main, p))
		return -EAGAIN;
	a->has_thread = 1;
	return 0;
}

void l7_alog_reopen(struct l7_proc *p, const char *path)
{
	struct l7_alog *a = &p->alog;

	pthread_mutex_lock(&a->lock);
	if (path)
		snprintf(a->path, sizeof(a->path), "%s", path);
	a->reopen = 1;
	pthread_mutex_unlock(&a->lock);
}

void l7_alog_stop(struct l7_proc *p)
{
	struct l7_alog *a = &p->alog;

	if (!a->has_thread)
		return;
	p->alog_stop = 1;
	l7_wake(p);
	pthread_join(a->thread, NULL);
	a->has_thread = 0;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	pthread_mutex_destroy(&a->lock);
}
