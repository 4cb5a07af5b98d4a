/* buf: a byte buffer whose valid bytes are data[pos..len), with the few
 * operations the sessions need: room at the end, appends, compaction. The
 * memory is the owner's (the L7 worker keeps a free list of them). */
#ifndef TANDEM_BUF_H
#define TANDEM_BUF_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data;
	uint32_t cap, pos, len;
};

static inline uint32_t buf_avail(const struct buf *b) { return b->len - b->pos; }

/* buf_compact: makes room at the end by moving unread bytes to the front. */
static inline void buf_compact(struct buf *b)
{
	if (b->pos == b->len) {
		b->pos = b->len = 0;
	} else if (b->pos) {
		memmove(b->data, b->data + b->pos, b->len - b->pos);
		b->len -= b->pos;
		b->pos = 0;
	}
}

/* buf_put: appends N bytes of P. Returns 0, or -ENOSPC (nothing appended). */
static inline int buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		buf_compact(b);
		if (b->cap - b->len < n)
			return -ENOSPC;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static inline int buf_puts(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

#endif
