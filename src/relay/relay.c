/* relay: the engine table and the one interface sessions use (relay.h).
 * Which engine moves a run, and whether a kernel engine takes a body or a
 * whole response, is decided here and in the engines, never in a session:
 * adding an engine is a file in src/relay/ and a line of relay_engines. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "relay.h"

static const struct relay_ops *const relay_engines[RELAY_NENGINES] = {
	[RELAY_COPY] = &relay_copy_ops,
	[RELAY_SPLICE] = &relay_splice_ops,
	[RELAY_SOCKMAP] = &relay_sockmap_ops,
	[RELAY_PACKET] = &relay_packet_ops,
};

int relay_env_open(struct relay_env *e, int engine)
{
	const struct relay_ops *ops = engine >= 0 && engine < RELAY_NENGINES ? relay_engines[engine]
									      : &relay_copy_ops;
	int r;

	memset(e, 0, sizeof(*e));
	r = relay_pipes_init(&e->pipes, 256, 4096, 1 << 20);
	if (r)
		return r;
	e->base = ops;
	if (ops->kernel) {
		/* a sockmap's sockets cannot be spliced from: what stays in
		 * user space is copied; packet splicing leaves its sockets
		 * plain, and splice(2) moves what it does not take */
		e->base = ops == &relay_packet_ops ? &relay_splice_ops : &relay_copy_ops;
		e->kern = ops;
		r = ops->env_open(e);
		if (r) {
			relay_pipes_free(&e->pipes);
			return r;
		}
	}
	return 0;
}

void relay_env_close(struct relay_env *e)
{
	if (e->kern)
		e->kern->env_close(e);
	e->kern = NULL;
	relay_pipes_free(&e->pipes);
	while (e->ncbufs)
		free(e->cbufs[--e->ncbufs]);
}

void *relay_buf_get(struct relay_env *e)
{
	return e->ncbufs ? e->cbufs[--e->ncbufs] : malloc(RELAY_COPY_BUF);
}

void relay_buf_put(struct relay_env *e, void *p)
{
	if (!p)
		return;
	if (e->ncbufs < RELAY_CBUFS)
		e->cbufs[e->ncbufs++] = p;
	else
		free(p);
}

int relay_env_fd(const struct relay_env *e)
{
	return e->kern && e->kern->event_fd ? e->kern->event_fd(e) : -1;
}

void relay_env_events(struct relay_env *e)
{
	if (e->kern && e->kern->events)
		e->kern->events(e);
}

void relay_env_poll(struct relay_env *e)
{
	struct relay_watch *w, *next;

	for (w = e->watching; w; w = next) {
		next = w->next;
		if (w->tick)
			w->wake(w);
	}
}

void relay_env_note(struct relay_env *e, uint64_t key, uint64_t bytes)
{
	uint64_t *k = &e->kbig[key % RELAY_KBIG];

	if (!e->kern)
		return;
	if (bytes >= e->kernel_min)
		*k = key;
	else if (*k == key)
		*k = 0;
}

void relay_watch_set(struct relay_env *e, struct relay_watch *w, int listed, int tick)
{
	tick = tick && listed;
	if (tick != w->tick) {
		e->nticks += tick ? 1 : -1;
		w->tick = tick;
	}
	if (listed == w->listed)
		return;
	if (listed) {
		w->prev = NULL;
		w->next = e->watching;
		if (e->watching)
			e->watching->prev = w;
		e->watching = w;
	} else {
		if (w->prev)
			w->prev->next = w->next;
		else
			e->watching = w->next;
		if (w->next)
			w->next->prev = w->prev;
		w->next = w->prev = NULL;
	}
	w->listed = listed;
}

void relay_sock_add(struct relay_env *e, struct relay_end *x, struct conn *c, int backend)
{
	memset(x, 0, sizeof(*x));
	x->idx = -1;
	if (!e->kern || !c->xp->plain)
		return;
	if (c->unix_sk)
		e->user_unix++;         /* sockmap and packet splicing are TCP's */
	else
		e->kern->sock_add(e, x, c, backend);
}

void relay_sock_del(struct relay_env *e, struct relay_end *x)
{
	if (e->kern && x->idx >= 0)
		e->kern->sock_del(e, x);
	x->idx = -1;
	x->pend = x->wait = 0;
}

int relay_sock_clean(const struct relay_env *e, const struct relay_end *x, const struct conn *c)
{
	return !e->kern || x->idx < 0 || e->kern->sock_clean(e, x, c);
}

int relay_sock_clear(struct relay_env *e, struct relay_end *x, struct conn *c)
{
	if (!x->pend)
		return 1;
	return e->kern->clear(e, x, c);
}

int relay_sock_progress(struct relay_env *e, struct relay_end *x, struct conn *c)
{
	if (!x->pend)
		return 2;
	return e->kern->progress(e, x, c);
}

void relay_reset(struct relay *r, const struct relay_ops *ops)
{
	struct relay_env *e = r->env;
	struct conn *src = r->src, *dst = r->dst;
	struct relay_end *se = r->se, *de = r->de;

	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->env = e;
	r->src = src;
	r->dst = dst;
	r->se = se;
	r->de = de;
	r->pfd[0] = r->pfd[1] = -1;
}

void relay_start(struct relay *r, struct relay_env *e, struct conn *src, struct relay_end *se,
		 struct conn *dst, struct relay_end *de)
{
	r->env = e;
	r->src = src;
	r->dst = dst;
	r->se = se;
	r->de = de;
	if (!src->xp->plain || !dst->xp->plain) {
		/* the kernel would move ciphertext or skip the encryption:
		 * records are made in user space, so bodies are copied */
		if (e->base != &relay_copy_ops || e->kern)
			e->user_tls++;
		relay_reset(r, &relay_copy_ops);
		return;
	}
	relay_reset(r, e->base);
}

void relay_frame(struct relay *r, enum h1_body kind, uint64_t len)
{
	struct relay_env *e = r->env;

	if (e->kern && e->kern->frame && r->se && r->de && r->se->idx >= 0 && r->de->idx >= 0 &&
	    r->ops != e->kern && !r->staged) {
		r->ops->release(r);
		relay_reset(r, e->kern);
		if (!e->kern->frame(r, kind))
			relay_reset(r, e->base);
	}
	r->clen = kind == H1_BODY_LENGTH ? len : 0;
}

int relay_offer(struct relay *r, uint64_t key)
{
	struct relay_env *e = r->env;

	if (!e->kern || !e->kern->offer || e->kbig[key % RELAY_KBIG] != key || !r->se || !r->de ||
	    r->se->idx < 0 || r->de->idx < 0 || r->de->pend)
		return 0;
	r->ops->release(r);
	relay_reset(r, e->kern);
	if (e->kern->offer(r, key))
		return 1;
	relay_reset(r, e->base);
	return 0;
}

int relay_head(struct relay *r, struct relay_head *h)
{
	int k = r->ops->head(r, h);

	if (k == 0 && !r->khead) {
		/* passed to user space: a plain direction again */
		r->ops->release(r);
		relay_reset(r, r->env->base);
	}
	return k;
}

void relay_decline(struct relay *r)
{
	if (!r->khead)
		return;
	r->ops->decline(r);
	r->ops->release(r);
	relay_reset(r, r->env->base);
}

ssize_t relay_fill(struct relay *r, size_t max)
{
	ssize_t n = r->ops->fill(r, max);

	/* a kernel engine counts its own (what it redirected, what it caught
	 * up with in user space); a splice that fell back to copy for want
	 * of a pipe is copy's now */
	if (n > 0 && !r->ops->kernel)
		r->env->bytes[r->ops->id] += n;
	return n;
}

ssize_t relay_flush(struct relay *r)
{
	return r->ops->flush(r);
}

void relay_resume(struct relay *r, struct h1_chunk *ch)
{
	if (r->ops->resume)
		r->ops->resume(r, ch);
	r->kended = 0;
}

void relay_release(struct relay *r)
{
	if (r->ops)
		r->ops->release(r);
}

ssize_t relay_took(struct relay *r, ssize_t n)
{
	if (n > 0) {
		r->staged += n;
		return n;
	}
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	if (errno == EAGAIN) {
		r->src->rd = 0;
		return 0;
	}
	return -errno;
}

const char *relay_engine_name(int id)
{
	return id >= 0 && id < RELAY_NENGINES ? relay_engines[id]->name : "?";
}
