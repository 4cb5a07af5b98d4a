/* l7_buf: each worker's free list of session buffers. One size per worker,
 * from the configuration's max_head (a head must fit one buffer); a reload
 * that raises max_head raises it, and buffers of the old size still in use
 * grow when a head fills one (sess_read_head), so a head between the old
 * and the new limit is served, never cut off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "l7.h"

static uint32_t l7_buf_size(const struct cfg *c)
{
	uint32_t n = c->l7.max_head + 4096;

	return n < 16384 ? 16384 : n;
}

int l7_buf_get(struct l7_worker *w, struct buf *b)
{
	if (b->data)
		return 0;
	if (w->nfreebufs)
		b->data = w->freebufs[--w->nfreebufs];
	else
		b->data = malloc(w->bufsz);
	if (!b->data)
		return -ENOMEM;
	b->cap = w->bufsz;
	b->pos = b->len = 0;
	return 0;
}

void l7_buf_put(struct l7_worker *w, struct buf *b)
{
	if (!b->data)
		return;
	if (b->cap == w->bufsz && w->nfreebufs < w->maxfreebufs)
		w->freebufs[w->nfreebufs++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->cap = b->pos = b->len = 0;
}

int l7_buf_grow(struct l7_worker *w, struct buf *b)
{
	char *p;

	if (b->cap >= w->bufsz)
		return -ENOSPC;
	p = realloc(b->data, w->bufsz);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = w->bufsz;
	return 0;
}

void l7_buf_resize(struct l7_worker *w)
{
	uint32_t n = l7_buf_size(w->cfg);

	if (n == w->bufsz)
		return;
	while (w->nfreebufs)
		free(w->freebufs[--w->nfreebufs]);
	w->bufsz = n;
}
